// Seer's convolution kernels against cblas_sgemm on the same GEMM shape, one thread.
// Built and run by scripts/bench-conv-kernels; see BENCHMARKS.md.
//
// For a convolution (M output channels, C input channels, H×W input, k×k kernel, stride, pad) the GEMM is
// M × N × K with N = output pixels and K = C·k·k. cblas_sgemm multiplies the weights by a ready im2col
// matrix (its unfolding is not timed); Seer's kernels read the image themselves (the channel kernel's
// padded copy and the packed kernel's unfolding are timed). Each figure is the fastest of several runs.
#include "CKernels.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *random_floats(size_t count) {
    float *values = aligned_alloc(64, (count * sizeof(float) + 63) / 64 * 64);
    for (size_t i = 0; i < count; i++) values[i] = (float)((double)rand() / RAND_MAX) - 0.5f;
    return values;
}

/// The unfolded input: row (c·k + kh)·k + kw, column oy·outW + ox.
static void im2col(const float *x, int channels, int h, int w, int k, int stride, int pad, int outH, int outW,
                   float *col) {
    for (int c = 0; c < channels; c++)
        for (int kh = 0; kh < k; kh++)
            for (int kw = 0; kw < k; kw++)
                for (int oy = 0; oy < outH; oy++)
                    for (int ox = 0; ox < outW; ox++) {
                        int iy = oy * stride - pad + kh, ix = ox * stride - pad + kw;
                        *col++ = iy >= 0 && iy < h && ix >= 0 && ix < w ? x[((size_t)c * h + iy) * w + ix] : 0.0f;
                    }
}

typedef struct {
    const char *layer;
    int m, channels, h, w, k, stride, pad;
} conv_shape;

int main(void) {
    if (!seer_packed_gemm_supported()) {
        fprintf(stderr, "this CPU has no AVX2/FMA: Seer's kernels do not run here\n");
        return 1;
    }
    const conv_shape shapes[] = {
        {"age 256->256 3x3 at 3x3", 256, 256, 3, 3, 3, 1, 1},
        {"age 128->128 3x3 at 7x7", 128, 128, 7, 7, 3, 1, 1},
        {"age 64->64 3x3 at 14x14", 64, 64, 14, 14, 3, 1, 1},
        {"gender 32->32 3x3 at 32x32", 32, 32, 32, 32, 3, 1, 1},
        {"yolov3-tiny 32->64 3x3 at 104x104", 64, 32, 104, 104, 3, 1, 1},
        {"yolov3-tiny 256->512 3x3 at 13x13", 512, 256, 13, 13, 3, 1, 1},
        {"yolov3-tiny 384->256 3x3 at 26x26", 256, 384, 26, 26, 3, 1, 1},
        {"UNet 16->16 3x3 at 256x256", 16, 16, 256, 256, 3, 1, 1},
        {"DBNet 96->24 3x3 at 92x92", 24, 96, 92, 92, 3, 1, 1},
        {"MobileNetV2 stem 3->32 3x3/2 at 224x224", 32, 3, 224, 224, 3, 2, 1},
        {"yolov3-tiny 3->16 3x3 at 416x416", 16, 3, 416, 416, 3, 1, 1},
        {"MobileNetV2 960->320 1x1 at 7x7", 320, 960, 7, 7, 1, 1, 0},
        {"MobileNetV2 320->1280 1x1 at 7x7", 1280, 320, 7, 7, 1, 1, 0},
    };
    printf("| layer | GEMM M×N×K | cblas_sgemm GFLOP/s | Seer kernel | Seer GFLOP/s | Seer / sgemm |\n");
    printf("|---|---|---:|---|---:|---:|\n");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        conv_shape c = shapes[s];
        int outH = (c.h + 2 * c.pad - c.k) / c.stride + 1, outW = (c.w + 2 * c.pad - c.k) / c.stride + 1;
        int n = outH * outW, depth = c.channels * c.k * c.k;
        float *x = random_floats((size_t)c.channels * c.h * c.w), *weights = random_floats((size_t)c.m * depth);
        float *col = random_floats((size_t)depth * n), *out = random_floats((size_t)c.m * n);
        im2col(x, c.channels, c.h, c.w, c.k, c.stride, c.pad, outH, outW, col);
        seer_image_operand image = {x, c.h, c.w, outW, c.k, c.k, c.stride, c.stride, 1, 1, c.pad, c.pad};
        // Seer's choice (BLAS.prefersChannelPanels): the channel kernel unless too few rows fill its 16-row
        // panels or the layer is a shallow stride-1 one; then the packed 6×16 kernel, which also takes
        // pointwise layers, with the input as the matrix B.
        int panelRows = (c.m + 15) / 16 * 16;
        int pointwise = c.k == 1 && c.stride == 1 && c.pad == 0;
        int channelKernel = !pointwise && c.m >= 16 && c.m * 4 >= panelRows * 3 && (depth >= 64 || c.stride > 1);
        float *packed = random_floats(channelKernel ? seer_column_panels_floats(c.m, depth)
                                                    : seer_packed_a_floats(c.m, depth));
        if (channelKernel) seer_pack_column_panels(weights, depth, c.m, depth, packed);
        else seer_pack_a(weights, depth, c.m, depth, packed);
        float *scratch = random_floats(seer_direct_conv_scratch_floats(&image, c.channels, outH));
        float *workspace = random_floats(seer_packed_gemm_workspace_floats());

        double flops = 2.0 * c.m * n * depth;
        int repeats = (int)(2e8 / flops) + 1;
        double sgemm = INFINITY, seer = INFINITY;
        for (int run = 0; run < 7; run++) {
            double start = now();
            for (int r = 0; r < repeats; r++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c.m, n, depth, 1, weights, depth, col, n, 0, out, n);
            sgemm = fmin(sgemm, (now() - start) / repeats);
            start = now();
            for (int r = 0; r < repeats; r++) {
                if (channelKernel) {
                    seer_direct_conv_prepare(&image, 0, c.channels, c.channels, outH, scratch);
                    seer_channel_conv(c.m, depth, packed, &image, c.channels, outH, 0, (c.m + 15) / 16, 0, n, out, n,
                                      NULL, NULL, scratch);
                } else if (pointwise) {
                    seer_packed_gemm(c.m, n, depth, packed, x, n, out, n, NULL, NULL, workspace);
                } else {
                    seer_packed_conv(c.m, n, depth, packed, &image, 0, out, n, NULL, NULL, workspace);
                }
            }
            seer = fmin(seer, (now() - start) / repeats);
        }
        printf("| %s | %d×%d×%d | %.1f | %s | %.1f | %.2f |\n", c.layer, c.m, n, depth, flops / sgemm * 1e-9,
               channelKernel ? "channel" : "packed 6×16", flops / seer * 1e-9, sgemm / seer);
        free(x); free(weights); free(col); free(out); free(packed); free(scratch); free(workspace);
    }
    return 0;
}
