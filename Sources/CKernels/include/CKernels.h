#ifndef SEER_CKERNELS_H
#define SEER_CKERNELS_H

#include <stddef.h>

/// 1 when this CPU runs the packed AVX2/FMA GEMM below, else 0 (callers then use BLAS).
int seer_packed_gemm_supported(void);

/// Floats needed to pack an m×k left operand (m rounded up to the 6-row panel).
size_t seer_packed_a_floats(int m, int k);

/// Packs row-major A (m×k, row stride lda) into 6-row panels, k-major inside a panel, zero-padded.
void seer_pack_a(const float *a, int lda, int m, int k, float *packed);

/// Floats of workspace one call of seer_packed_gemm needs (one packed block of B).
size_t seer_packed_gemm_workspace_floats(void);

/// A piecewise-linear activation applied to each result: x < 0 ? negativeSlope·x : x, then clamped
/// to [low, high], a NaN passing through. ReLU is (1, 0, +inf), LeakyReLU (alpha, -inf, +inf), Clip (1, min, max).
typedef struct {
    float negativeSlope, low, high;
} seer_epilogue;

/// C[m×n] = packedA · B[k×n] (+ bias[row]) then the epilogue if not NULL, row-major with strides ldb, ldc.
/// `packed` comes from seer_pack_a with the same m and k. `bias` may be NULL. Needs an AVX2/FMA CPU.
void seer_packed_gemm(int m, int n, int k, const float *packed, const float *b, int ldb,
                      float *c, int ldc, const float *bias, const seer_epilogue *epilogue, float *workspace);

/// 1 when seer_depthwise_plane runs here: an AVX2/FMA CPU, at most 64 taps (kH·kW), column stride at most 8.
int seer_depthwise_supported(int kH, int kW, int sW);

/// Floats of scratch one seer_depthwise_plane call needs (the zero-bordered copy of its input).
size_t seer_depthwise_scratch_floats(int outH, int outW, int kH, int kW, int sH, int sW, int dH, int dW);

/// One plane of a depthwise convolution:
/// out[oy][ox] = clamp(bias + Σ w[kh][kw] · in[oy·sH − padTop + kh·dH][ox·sW − padLeft + kw·dW], low, high),
/// inputs outside the plane read as 0; NaN passes the clamp. Needs seer_depthwise_supported(kH, kW).
/// `scratch` (seer_depthwise_scratch_floats) must be zeroed before the first plane of a geometry: a call
/// writes only where input values go, so the zero borders stay valid for the next plane of that geometry.
void seer_depthwise_plane(const float *input, int inH, int inW, const float *weights, int kH, int kW,
                          int sH, int sW, int dH, int dW, int padTop, int padLeft,
                          float bias, float low, float high,
                          float *output, int outH, int outW, float *scratch);

/// Floats of scratch one seer_depthwise_channels call over `stripRows` output rows needs.
size_t seer_depthwise_channels_scratch_floats(int stripRows, int outW, int kH, int kW, int sH, int sW,
                                              int dH, int dW);

/// Output rows firstRow..<endRow of eight consecutive planes of a depthwise convolution (input plane c
/// at input + c·inH·inW, its taps at weights + c·kH·kW, its bias at bias[c] or 0 when bias is NULL,
/// output plane c at output + c·outH·outW), with the sums and clamp of seer_depthwise_plane. Vectorised
/// across the eight channels, so it wastes no lanes on narrow or strided planes. Needs
/// seer_depthwise_supported(kH, kW, sW); `scratch` holds seer_depthwise_channels_scratch_floats for
/// endRow − firstRow rows and needs no zeroing.
void seer_depthwise_channels(const float *input, int inH, int inW, const float *weights,
                             const float *bias, int kH, int kW, int sH, int sW, int dH, int dW,
                             int padTop, int padLeft, float low, float high,
                             float *output, int outH, int outW, int firstRow, int endRow, float *scratch);

/// A 2-D convolution's input seen as the unfolded (im2col) matrix: row (channel·kH + kh)·kW + kw,
/// column oy·outW + ox, value input[channel][oy·strideY − padTop + kh·dilationY][ox·strideX − padLeft + kw·dilationX]
/// or 0 outside the plane.
typedef struct {
    const float *input;
    int inH, inW, outW;
    int kH, kW, strideY, strideX, dilationY, dilationX, padTop, padLeft;
} seer_image_operand;

/// seer_packed_gemm with B the unfolded image, columns [firstPixel, firstPixel + n): packs the windows
/// straight into the kernel's panels instead of writing and re-reading an im2col buffer.
void seer_packed_conv(int m, int n, int k, const float *packed, const seer_image_operand *image, int firstPixel,
                      float *c, int ldc, const float *bias, const seer_epilogue *epilogue, float *workspace);

/// Floats of scratch the direct and channel convolutions below need for `image` with `channels` input
/// channels and `outH` output rows: a zero-padded copy of the input and one offset per depth step.
size_t seer_direct_conv_scratch_floats(const seer_image_operand *image, int channels, int outH);

/// Fills channels [channel0, channel1) of that scratch (threads may fill disjoint ranges).
void seer_direct_conv_prepare(const seer_image_operand *image, int channel0, int channel1, int channels, int outH,
                              float *scratch);

/// Output rows [row0, row1) of C[m × outH·outW] = packedA · unfold(image) (+ bias, then the epilogue)
/// for a window with strideX 1: each depth step's 16 columns are read straight from the padded copy,
/// so B is never packed (for few output channels, packing B costs about as much as the arithmetic).
void seer_direct_conv(int m, int k, const float *packed, const seer_image_operand *image, int channels, int outH,
                      int row0, int row1, float *c, int ldc, const float *bias, const seer_epilogue *epilogue,
                      const float *scratch);

/// A team of `threads` threads (the caller plus threads − 1 helpers) for an executor's parallel loops.
/// Helpers spin for a few tens of microseconds after each job before they sleep. NULL when out of memory;
/// a team whose helpers could not all start runs with fewer (seer_team_threads).
typedef struct seer_team seer_team;
typedef void (*seer_team_task)(void *context, int task, int thread);
seer_team *seer_team_create(int threads);
int seer_team_threads(const seer_team *team);
/// Runs task(context, i, thread) once for every i in 0..<tasks on the calling thread and the helpers,
/// whichever claims i first (a thread that is slow to wake, or running on a busier core, leaves its
/// share to the others), and returns when all have returned. `thread` numbers the threads of this call:
/// 0 for the caller, below min(threads, tasks) for all, and no two running at once share a number.
/// One caller at a time; `task` must not call it again.
void seer_team_run(seer_team *team, int tasks, seer_team_task task, void *context);
/// Stops and joins the helpers.
void seer_team_destroy(seer_team *team);

/// Floats needed to pack an m×k left operand into 16-row column panels (m rounded up to 16).
size_t seer_column_panels_floats(int m, int k);
/// Packs row-major A (m×k, row stride lda) into panels of 16 rows stored depth-major (16 consecutive
/// floats per depth step, one per row, zero-padded): the vector operand of seer_channel_conv.
void seer_pack_column_panels(const float *a, int lda, int m, int k, float *packed);
/// Output channels [16·panel0, 16·panel1) × pixels [pixel0, pixel1) of C[m × outH·outW] = A · unfold(image)
/// (+ bias, then the epilogue) for any 2-D window, with A from seer_pack_column_panels and `scratch` filled
/// by seer_direct_conv_prepare: vectors run across 16 output channels and each output pixel's input is
/// broadcast, so small or narrow outputs waste no columns and the image is never packed. Pairs of panels
/// run in strips of SEER_CHANNEL_CONV_STRIP pixels from pixel0: ranges that start at multiples of it split
/// the work without splitting a strip.
#define SEER_CHANNEL_CONV_STRIP 48
void seer_channel_conv(int m, int k, const float *columnPanels, const seer_image_operand *image, int channels, int outH,
                       int panel0, int panel1, int pixel0, int pixel1, float *c, int ldc, const float *bias,
                       const seer_epilogue *epilogue, const float *scratch);

/// One plane's 2-D pooling window: input and output sizes, kernel, strides, dilations, leading pads.
typedef struct {
    int inH, inW, outH, outW;
    int kH, kW, strideY, strideX, dilationY, dilationX, padTop, padLeft;
} seer_pool_geometry;

/// 1 when seer_max_pool_plane and seer_average_pool_plane run vectorised here (an AVX2 CPU), else 0.
int seer_pool_plane_supported(void);

/// out[oy][ox] = max over kh, kw of in[oy·strideY − padTop + kh·dilationY][ox·strideX − padLeft + kw·dilationX],
/// positions outside the plane skipped, folded in (kh, kw) order as m = v > m ? v : m from m = −inf:
/// NaN inputs are skipped and a window with no other value gives −inf.
void seer_max_pool_plane(const float *input, float *output, const seer_pool_geometry *geometry);

/// out[oy][ox] = (sum over kh, kw of in[oy·strideY − padTop + kh·dilationY][ox·strideX − padLeft + kw·dilationX],
/// positions outside the plane skipped, added in (kh, kw) order from +0) / max(1, rowCounts[oy] · columnCounts[ox]):
/// the caller's counts say which positions a window's average is over (count_include_pad).
void seer_average_pool_plane(const float *input, float *output, const seer_pool_geometry *geometry,
                             const float *rowCounts, const float *columnCounts);

/// 1 when seer_sigmoid, seer_tanh and seer_elu run vectorised here (an AVX2/FMA CPU), else 0: callers
/// then keep their scalar loops.
int seer_vector_math_supported(void);

/// values[i] = 1 / (1 + exp(−values[i])) in place, within 3 ulp for every float: no overflow for any input,
/// exp(−|x|) taken as 0 beyond |x| = 87 (so sigmoid(x) is 0 below −87 and 1 above 87), NaN stays NaN.
void seer_sigmoid(float *values, int count);

/// values[i] = tanh(values[i]) in place, within 3 ulp for every float: odd, exactly x for tiny x, ±1 for
/// ±inf, NaN stays NaN.
void seer_tanh(float *values, int count);

/// values[i] = values[i] < 0 ? alpha · (exp(values[i]) − 1) : values[i] in place (exp(x) − 1 computed
/// without cancellation near 0), NaN and −0 passing through.
void seer_elu(float *values, int count, float alpha);

#endif
