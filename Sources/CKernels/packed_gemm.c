// Packed single-precision GEMM for convolutions and layers with constant weights.
//
// C = A·B where A (the weights) is packed once, at model load, into 6-row panels, and B (the
// activations) is packed per call into 16-column panels of one cache block. A 6×16 register-
// blocked AVX2/FMA micro-kernel (12 accumulators) does the arithmetic, and a 12×8 one (two panels) the
// last columns when no more than 8 remain (7x7 layers: 49 = 3·16 + 1); bias and a
// piecewise-linear activation (ReLU, LeakyReLU, Clip) are applied in its epilogue. Only the functions marked AVX2_FMA use those instructions: callers
// check seer_packed_gemm_supported() first and use BLAS otherwise.
#include "CKernels.h"
#include "vector_support.h"

#include <string.h>

enum {
    ROWS_PER_PANEL = 6,       // MR: rows of A (and C) one micro-kernel call computes
    COLUMNS_PER_PANEL = 16,   // NR: columns of B (and C) one micro-kernel call computes
    MAX_DEPTH_BLOCK = 384,    // KC: depth of one packed block of B (kept in L2)
    CHANNEL_DEPTH_BLOCK = 2304,  // depth of one block of seer_channel_conv (its input rows stay in L2)
    COLUMN_BLOCK = 192,       // NC: columns of one packed block of B
    WIDE_TILE_MIN_DEPTH = 16,    // depth from which seer_channel_conv runs panel pairs as 3×32 wide tiles
    WIDE_DEPTH_BLOCK = 128,      // depth steps of one pass over a strip of wide tiles (whole input channels)
    WIDE_STRIP_TILES = SEER_CHANNEL_CONV_STRIP / 3,   // wide tiles (3 pixels each) of one strip
};

static inline int min_int(int a, int b) { return a < b ? a : b; }

/// Floats of A (m×k) in panels of `panelRows` rows, m rounded up to whole panels.
static size_t panels_floats(int m, int k, int panelRows) {
    size_t panels = (size_t)((m + panelRows - 1) / panelRows);
    return panels * panelRows * (size_t)k;
}

/// Packs row-major A (m×k, row stride lda) into panels of `panelRows` rows, k-major inside a panel (the
/// panel's rows side by side for each depth step), the last panel zero-padded.
static void pack_panels(const float *a, int lda, int m, int k, int panelRows, float *packed) {
    for (int first = 0; first < m; first += panelRows) {
        int rows = min_int(panelRows, m - first);
        float *panel = packed + (size_t)first * k;
        for (int p = 0; p < k; p++) {
            for (int r = 0; r < panelRows; r++) {
                panel[(size_t)p * panelRows + r] = r < rows ? a[(size_t)(first + r) * lda + p] : 0.0f;
            }
        }
    }
}

size_t seer_packed_a_floats(int m, int k) { return panels_floats(m, k, ROWS_PER_PANEL); }

void seer_pack_a(const float *a, int lda, int m, int k, float *packed) { pack_panels(a, lda, m, k, ROWS_PER_PANEL, packed); }

size_t seer_column_panels_floats(int m, int k) { return panels_floats(m, k, COLUMNS_PER_PANEL); }

void seer_pack_column_panels(const float *a, int lda, int m, int k, float *packed) {
    pack_panels(a, lda, m, k, COLUMNS_PER_PANEL, packed);
}

size_t seer_packed_gemm_workspace_floats(void) {
    return (size_t)MAX_DEPTH_BLOCK * COLUMN_BLOCK + 8; // + 8: room to align to 32 bytes
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX2_FMA __attribute__((target("avx2,fma")))

int seer_packed_gemm_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/// Copies rows [0, depth) × columns [0, columns) of B into 16-column panels, zero-padding the last.
/// Reads B row by row (contiguous), writing one 16-float row into each panel.
AVX2_FMA static void pack_b_block(const float *b, int ldb, int depth, int columns, float *packed) {
    int full = columns / COLUMNS_PER_PANEL * COLUMNS_PER_PANEL;
    for (int p = 0; p < depth; p++) {
        const float *from = b + (size_t)p * ldb;
        float *to = packed + (size_t)p * COLUMNS_PER_PANEL;
        int j = 0;
        for (; j < full; j += COLUMNS_PER_PANEL) {
            float *panelRow = to + (size_t)j * depth;
            _mm256_store_ps(panelRow, _mm256_loadu_ps(from + j));
            _mm256_store_ps(panelRow + 8, _mm256_loadu_ps(from + j + 8));
        }
        if (j < columns) {
            float *panelRow = to + (size_t)j * depth;
            int r = 0;
            for (; r < columns - j; r++) panelRow[r] = from[j + r];
            for (; r < COLUMNS_PER_PANEL; r++) panelRow[r] = 0.0f;
        }
    }
}

/// Packs rows [depth0, depth0 + depth) × columns [pixel0, pixel0 + columns) of the image's unfolded
/// matrix (im2col) straight into 16-column panels, as pack_b_block does for a stored matrix: row
/// (channel·kH + kh)·kW + kw, column = output pixel oy·outW + ox, value the input under that tap or 0.
/// Runs of pixels in one output row read one input row, contiguous when strideX is 1.
AVX2_FMA static void pack_image_block(const seer_image_operand *im, int depth0, int depth, int pixel0, int columns,
                                      float *packed) {
    int rowBase[COLUMN_BLOCK], columnBase[COLUMN_BLOCK], runLength[COLUMN_BLOCK];
    for (int j = 0, oy = pixel0 / im->outW, ox = pixel0 % im->outW; j < columns; j++) {
        rowBase[j] = oy * im->strideY - im->padTop;
        columnBase[j] = ox * im->strideX - im->padLeft;
        runLength[j] = im->outW - ox;
        if (++ox == im->outW) { ox = 0; oy++; }
    }
    int panels = (columns + COLUMNS_PER_PANEL - 1) / COLUMNS_PER_PANEL;
    size_t planeSize = (size_t)im->inH * im->inW;
    for (int p = 0; p < depth; p++) {
        int q = depth0 + p;
        int kw = q % im->kW, kh = q / im->kW % im->kH, channel = q / (im->kW * im->kH);
        const float *plane = im->input + (size_t)channel * planeSize;
        int dy = kh * im->dilationY, dx = kw * im->dilationX;
        for (int panel = 0; panel < panels; panel++) {
            float *to = packed + (size_t)panel * COLUMNS_PER_PANEL * depth + (size_t)p * COLUMNS_PER_PANEL;
            int j0 = panel * COLUMNS_PER_PANEL, width = min_int(COLUMNS_PER_PANEL, columns - j0);
            int t = 0;
            while (t < width) {
                int j = j0 + t, run = min_int(width - t, runLength[j]);
                int iy = rowBase[j] + dy, ix = columnBase[j] + dx;
                if (iy < 0 || iy >= im->inH) {
                    for (int u = 0; u < run; u++) to[t + u] = 0.0f;
                } else if (im->strideX == 1 && ix >= 0 && ix + run <= im->inW) {
                    const float *from = plane + (size_t)iy * im->inW + ix;
                    if (run == COLUMNS_PER_PANEL) {
                        _mm256_store_ps(to, _mm256_loadu_ps(from));
                        _mm256_store_ps(to + 8, _mm256_loadu_ps(from + 8));
                    } else {
                        for (int u = 0; u < run; u++) to[t + u] = from[u];
                    }
                } else {
                    const float *row = plane + (size_t)iy * im->inW;
                    for (int u = 0, x = ix; u < run; u++, x += im->strideX) {
                        to[t + u] = x >= 0 && x < im->inW ? row[x] : 0.0f;
                    }
                }
                t += run;
            }
            for (; t < COLUMNS_PER_PANEL; t++) to[t] = 0.0f;
        }
    }
}

/// A 6×16 tile of C in registers: row r's columns 0-7 in v[r][0], 8-15 in v[r][1].
typedef struct {
    __m256 v[ROWS_PER_PANEL][2];
} tile_sums;

/// One depth step: row r += a[r] · (b0, b1).
AVX2_FMA static inline void multiply_add(tile_sums *t, const float *a, __m256 b0, __m256 b1) {
    for (int r = 0; r < ROWS_PER_PANEL; r++) {
        __m256 x = _mm256_broadcast_ss(a + r);
        t->v[r][0] = _mm256_fmadd_ps(x, b0, t->v[r][0]);
        t->v[r][1] = _mm256_fmadd_ps(x, b1, t->v[r][1]);
    }
}

/// Applies the epilogue: x < 0 ? slope·x : x (a NaN compares false and stays), then max(low, ·) and
/// min(high, ·), which return the value itself when it is NaN.
AVX2_FMA static inline __m256 apply_epilogue(__m256 v, const seer_epilogue *epilogue) {
    __m256 zero = _mm256_setzero_ps(), slope = _mm256_set1_ps(epilogue->negativeSlope);
    __m256 low = _mm256_set1_ps(epilogue->low), high = _mm256_set1_ps(epilogue->high);
    __m256 leaky = _mm256_blendv_ps(v, _mm256_mul_ps(v, slope), _mm256_cmp_ps(v, zero, _CMP_LT_OQ));
    return _mm256_min_ps(high, _mm256_max_ps(low, leaky));
}

AVX2_FMA static inline void finish_tile(tile_sums *t, const seer_epilogue *epilogue) {
    for (int r = 0; r < ROWS_PER_PANEL; r++) {
        for (int h = 0; h < 2; h++) t->v[r][h] = apply_epilogue(t->v[r][h], epilogue);
    }
}

AVX2_FMA static inline void store_tile(const tile_sums *t, float *c, int ldc) {
    for (int r = 0; r < ROWS_PER_PANEL; r++) {
        _mm256_storeu_ps(c + (size_t)r * ldc, t->v[r][0]);
        _mm256_storeu_ps(c + (size_t)r * ldc + 8, t->v[r][1]);
    }
}

/// bias[row0 ..< row0 + rows] zero-padded to `tileRows` floats in `tileBias`, or NULL without a bias.
static const float *panel_bias(const float *bias, int row0, int rows, int tileRows, float *tileBias) {
    if (!bias) return NULL;
    for (int r = 0; r < tileRows; r++) tileBias[r] = r < rows ? bias[row0 + r] : 0.0f;
    return tileBias;
}

/// Row r of the tile starts at bias[r] (bias non-NULL) or zero.
AVX2_FMA static inline void start_tile(tile_sums *t, const float *bias) {
    for (int r = 0; r < ROWS_PER_PANEL; r++) t->v[r][0] = t->v[r][1] = _mm256_set1_ps(bias ? bias[r] : 0.0f);
}

/// One 6×16 tile of C: starts from C (accumulate), from bias[row] (bias non-NULL) or zero,
/// adds depth steps of a (6 per step) times b (16 per step, 32-byte aligned), then applies the
/// epilogue if there is one.
AVX2_FMA static void kernel_6x16(int depth, const float *a, const float *b, float *c, int ldc,
                                 int accumulate, const float *bias, const seer_epilogue *epilogue) {
    tile_sums t;
    if (accumulate) {
        for (int r = 0; r < ROWS_PER_PANEL; r++) {
            t.v[r][0] = _mm256_loadu_ps(c + (size_t)r * ldc);
            t.v[r][1] = _mm256_loadu_ps(c + (size_t)r * ldc + 8);
        }
    } else {
        start_tile(&t, bias);
    }
    for (int p = 0; p < depth; p++) {
        multiply_add(&t, a, _mm256_load_ps(b), _mm256_load_ps(b + 8));
        a += ROWS_PER_PANEL;
        b += COLUMNS_PER_PANEL;
    }
    if (epilogue) finish_tile(&t, epilogue);
    store_tile(&t, c, ldc);
}

/// A tile at the bottom or right edge: computed in a full 6×16 buffer, the valid part copied.
AVX2_FMA static void edge_tile(int depth, const float *a, const float *b, float *c, int ldc, int rows, int columns,
                               int accumulate, const float *bias, const seer_epilogue *epilogue) {
    float tile[ROWS_PER_PANEL * COLUMNS_PER_PANEL];
    if (accumulate) {
        for (int r = 0; r < rows; r++) memcpy(tile + r * COLUMNS_PER_PANEL, c + (size_t)r * ldc, columns * sizeof(float));
    }
    kernel_6x16(depth, a, b, tile, COLUMNS_PER_PANEL, accumulate, bias, epilogue);
    for (int r = 0; r < rows; r++) memcpy(c + (size_t)r * ldc, tile + r * COLUMNS_PER_PANEL, columns * sizeof(float));
}

/// Up to 12 rows (`panels` 6-row panels of A, 1 or 2, `panelStride` floats apart) × up to 8 columns of C:
/// the last columns of a product when no more than 8 remain, where a 6×16 tile would spend at least half
/// its work on columns that do not exist. Two panels give twelve independent sums (one vector each), so
/// both FMA units stay busy. Starts from C (accumulate) or bias[row] (12 floats, or NULL for zero), adds
/// depth steps of b (a packed 16-column panel, of which the first 8 columns are read), applies the
/// epilogue if there is one, and stores the valid rows and columns.
AVX2_FMA static inline __attribute__((always_inline)) void narrow_tile(
        int panels, int depth, const float *a, size_t panelStride, const float *b, float *c, int ldc, int rows,
        int columns, int accumulate, const float *bias, const seer_epilogue *epilogue) {
    enum { MAX_ROWS = 2 * ROWS_PER_PANEL, WIDTH = 8 };
    float row[WIDTH];
    __m256 sum[MAX_ROWS];
    for (int r = 0; r < panels * ROWS_PER_PANEL; r++) {
        if (accumulate) {
            memset(row, 0, sizeof row);
            if (r < rows) memcpy(row, c + (size_t)r * ldc, (size_t)columns * sizeof(float));
            sum[r] = _mm256_loadu_ps(row);
        } else {
            sum[r] = _mm256_set1_ps(bias ? bias[r] : 0.0f);
        }
    }
    for (int p = 0; p < depth; p++) {
        __m256 columnsOfB = _mm256_load_ps(b);
        for (int r = 0; r < ROWS_PER_PANEL; r++) {
            sum[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + r), columnsOfB, sum[r]);
        }
        if (panels == 2) {
            for (int r = 0; r < ROWS_PER_PANEL; r++) {
                sum[ROWS_PER_PANEL + r] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + panelStride + r), columnsOfB,
                                                          sum[ROWS_PER_PANEL + r]);
            }
        }
        a += ROWS_PER_PANEL;
        b += COLUMNS_PER_PANEL;
    }
    for (int r = 0; r < rows; r++) {
        _mm256_storeu_ps(row, epilogue ? apply_epilogue(sum[r], epilogue) : sum[r]);
        memcpy(c + (size_t)r * ldc, row, (size_t)columns * sizeof(float));
    }
}

/// 6 rows × up to 16 columns of a stride-1 convolution's output, B read straight from the padded input:
/// depth step p reads 16 consecutive floats at base + offsets[p]. Full tiles are stored directly, edge
/// tiles (fewer rows or columns) through a buffer.
AVX2_FMA static void direct_tile(int depth, const float *a, const float *base, const int *offsets,
                                 float *c, int ldc, int rows, int columns, const float *bias,
                                 const seer_epilogue *epilogue) {
    tile_sums t;
    start_tile(&t, bias);
    for (int p = 0; p < depth; p++) {
        const float *b = base + offsets[p];
        multiply_add(&t, a, _mm256_loadu_ps(b), _mm256_loadu_ps(b + 8));
        a += ROWS_PER_PANEL;
    }
    if (epilogue) finish_tile(&t, epilogue);
    if (rows == ROWS_PER_PANEL && columns == COLUMNS_PER_PANEL) {
        store_tile(&t, c, ldc);
        return;
    }
    float tile[ROWS_PER_PANEL * COLUMNS_PER_PANEL];
    store_tile(&t, tile, COLUMNS_PER_PANEL);
    for (int r = 0; r < rows; r++) memcpy(c + (size_t)r * ldc, tile + r * COLUMNS_PER_PANEL, columns * sizeof(float));
}

/// The zero-padded copy seer_direct_conv and seer_channel_conv read: per channel `rows` × `width` floats.
static void direct_layout(const seer_image_operand *im, int outH, int *rows, int *width) {
    *rows = (outH - 1) * im->strideY + (im->kH - 1) * im->dilationY + 1;
    *width = (im->outW - 1) * im->strideX + (im->kW - 1) * im->dilationX + 1;
}

/// Where that scratch's depth-step offsets (one int per step) start: after the padded planes and a panel's
/// worth of slack (edge tiles read up to 15 floats past a row's end).
static size_t offsets_start(const seer_image_operand *im, int channels, int outH) {
    int rows, width;
    direct_layout(im, outH, &rows, &width);
    return (size_t)channels * rows * width + COLUMNS_PER_PANEL;
}

size_t seer_direct_conv_scratch_floats(const seer_image_operand *image, int channels, int outH) {
    return offsets_start(image, channels, outH) + (size_t)channels * image->kH * image->kW;
}

/// Fills one row of a padded plane: `first` zeros, `copied` floats of `source`, zeros up to `width`. Rows
/// are a few dozen floats, so plain loops beat three libc calls each (hence no_builtin: clang would turn
/// the loops back into those calls).
AVX2_FMA __attribute__((no_builtin("memset", "memcpy")))
static void pad_row(float *row, int width, const float *source, int first, int copied) {
    for (int x = 0; x < first; x++) row[x] = 0;
    int i = 0;
    for (; i + 8 <= copied; i += 8) _mm256_storeu_ps(row + first + i, _mm256_loadu_ps(source + i));
    for (; i < copied; i++) row[first + i] = source[i];
    int x = first + copied;
    for (; x + 8 <= width; x += 8) _mm256_storeu_ps(row + x, _mm256_setzero_ps());
    for (; x < width; x++) row[x] = 0;
}

void seer_direct_conv_prepare(const seer_image_operand *im, int channel0, int channel1, int channels, int outH,
                              float *scratch) {
    int rows, width;
    direct_layout(im, outH, &rows, &width);
    size_t planeSize = (size_t)rows * width, offsetsStart = offsets_start(im, channels, outH);
    int *offsets = (int *)(scratch + offsetsStart);
    if (channel0 == 0) memset(scratch + offsetsStart - COLUMNS_PER_PANEL, 0, COLUMNS_PER_PANEL * sizeof(float));
    int first = min_int(width, im->padLeft > 0 ? im->padLeft : 0);
    int skip = im->padLeft < 0 ? -im->padLeft : 0;     // input columns left of the padded row
    int copied = min_int(width - first, im->inW - skip);
    if (copied < 0) copied = 0;
    for (int channel = channel0; channel < channel1; channel++) {
        float *plane = scratch + (size_t)channel * planeSize;
        const float *source = im->input + (size_t)channel * im->inH * im->inW;
        for (int r = 0; r < rows; r++) {
            int iy = r - im->padTop;
            int inside = iy >= 0 && iy < im->inH;
            pad_row(plane + (size_t)r * width, width, inside ? source + (size_t)iy * im->inW + skip : source,
                    inside ? first : 0, inside ? copied : 0);
        }
        for (int kh = 0; kh < im->kH; kh++) {
            for (int kw = 0; kw < im->kW; kw++) {
                offsets[(channel * im->kH + kh) * im->kW + kw] =
                    (int)((size_t)channel * planeSize + (size_t)kh * im->dilationY * width + (size_t)kw * im->dilationX);
            }
        }
    }
}

void seer_direct_conv(int m, int k, const float *packed, const seer_image_operand *im, int channels, int outH,
                      int row0, int row1, float *c, int ldc, const float *bias, const seer_epilogue *epilogue,
                      const float *scratch) {
    int rows, width;
    direct_layout(im, outH, &rows, &width);
    const int *offsets = (const int *)(scratch + offsets_start(im, channels, outH));
    for (int oy = row0; oy < row1; oy++) {
        const float *base = scratch + (size_t)oy * im->strideY * width;
        for (int first = 0; first < m; first += ROWS_PER_PANEL) {
            int panelRows = min_int(ROWS_PER_PANEL, m - first);
            float panelBias[ROWS_PER_PANEL];
            const float *tileBias = panel_bias(bias, first, panelRows, ROWS_PER_PANEL, panelBias);
            const float *aPanel = packed + (size_t)first * k;
            float *out = c + (size_t)first * ldc + (size_t)oy * im->outW;
            for (int ox = 0; ox < im->outW; ox += COLUMNS_PER_PANEL) {
                direct_tile(k, aPanel, base + ox, offsets, out + ox, ldc, panelRows,
                            min_int(COLUMNS_PER_PANEL, im->outW - ox), tileBias, epilogue);
            }
        }
    }
}

/// Writes eight channels of a tile transposed: `column` holds one vector per pixel (lane j = channel j, at
/// most 8 pixels), and C row j gets `pixels` values, added to what C holds with `accumulate`, then the
/// epilogue (if any) applied. With `spare` the caller owns the floats after the tile up to 8 in every row
/// and will overwrite them later, so rows are written with plain 8-float stores (masked stores are slow
/// on AMD cores) that give those floats back unchanged when accumulating (they may hold a later group's
/// sums from an earlier depth block) and zero otherwise.
AVX2_FMA static inline void store_channel_block(__m256 column[8], float *c, int ldc, int channels, int pixels,
                                                int spare, int accumulate, const seer_epilogue *epilogue) {
    __m256i mask = lane_mask(pixels);
    transpose8(column);
    for (int j = 0; j < min_int(8, channels); j++) {
        float *row = c + (size_t)j * ldc;
        __m256 v = column[j];
        if (accumulate) v = _mm256_add_ps(v, spare ? _mm256_loadu_ps(row) : _mm256_maskload_ps(row, mask));
        if (epilogue) {
            __m256 finished = apply_epilogue(v, epilogue);
            v = spare ? _mm256_blendv_ps(v, finished, _mm256_castsi256_ps(mask)) : finished;
        }
        if (spare) {
            _mm256_storeu_ps(row, v);
        } else {
            _mm256_maskstore_ps(row, mask, v);
        }
    }
}

/// Writes a 6-pixel tile transposed (C row `channel` gets the tile's column `channel`), eight channels at a
/// time; see store_channel_block.
AVX2_FMA static inline void store_transposed(const tile_sums *t, float *c, int ldc, int channels, int pixels,
                                             int spare, int accumulate, const seer_epilogue *epilogue) {
    for (int h = 0; h < 2 && h * 8 < channels; h++) {
        __m256 column[8] = {t->v[0][h], t->v[1][h], t->v[2][h], t->v[3][h], t->v[4][h], t->v[5][h],
                            _mm256_setzero_ps(), _mm256_setzero_ps()};
        store_channel_block(column, c + (size_t)h * 8 * ldc, ldc, channels - h * 8, pixels, spare, accumulate,
                            epilogue);
    }
}

/// 6 output pixels × 16 output channels, the transpose of a direct tile: depth step p multiplies the input
/// at pixel[i] + offsets[p] (broadcast, one per pixel) by 16 consecutive weights. Rows of the register tile
/// are pixels, so C (channels × pixels) is written transposed (see store_transposed for `spare` and
/// `accumulate`); `bias` has 16 floats, or is NULL for none.
AVX2_FMA static void channel_tile(int depth, const float *weights, const float *const pixel[ROWS_PER_PANEL],
                                  const int *offsets, const float *bias, const seer_epilogue *epilogue,
                                  float *c, int ldc, int channels, int pixels, int spare, int accumulate) {
    tile_sums t;
    __m256 bias0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
    __m256 bias1 = bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
    for (int r = 0; r < ROWS_PER_PANEL; r++) {
        t.v[r][0] = bias0;
        t.v[r][1] = bias1;
    }
    for (int p = 0; p < depth; p++) {
        __m256 w0 = _mm256_loadu_ps(weights), w1 = _mm256_loadu_ps(weights + 8);
        int offset = offsets[p];
        for (int r = 0; r < ROWS_PER_PANEL; r++) {
            __m256 x = _mm256_broadcast_ss(pixel[r] + offset);
            t.v[r][0] = _mm256_fmadd_ps(x, w0, t.v[r][0]);
            t.v[r][1] = _mm256_fmadd_ps(x, w1, t.v[r][1]);
        }
        weights += COLUMNS_PER_PANEL;
    }
    store_transposed(&t, c, ldc, channels, pixels, spare, accumulate, epilogue);
}

/// A wide tile: 3 output pixels × 32 output channels (two 16-channel panels), the channel tile with half
/// the pixels and twice the channels. A depth step loads 3 inputs and 4 weight vectors for 12 multiply-adds
/// (the channel tile: 6 and 2), and a 3x3 window's three taps in a row share their inputs (5 loads instead
/// of 9). Loads, more than multiply-adds, are what a core runs short of while a neighbour on the same
/// physical core (another VM's vCPU) is busy: there the channel tile slows by 1.4-1.5x, this one by 1.15-1.2x.
typedef struct {
    __m256 v[3][4];
} wide_sums;

/// One depth step of a wide tile: pixel r's input x[r] times the 32 weights at w0 (channels 0-15) and w1 (16-31).
AVX2_FMA static inline __attribute__((always_inline)) void wide_step(wide_sums *t, __m256 x0, __m256 x1, __m256 x2,
                                                                     const float *w0, const float *w1) {
    const float *weights[4] = {w0, w0 + 8, w1, w1 + 8};
    for (int j = 0; j < 4; j++) {
        __m256 w = _mm256_loadu_ps(weights[j]);
        t->v[0][j] = _mm256_fmadd_ps(x0, w, t->v[0][j]);
        t->v[1][j] = _mm256_fmadd_ps(x1, w, t->v[1][j]);
        t->v[2][j] = _mm256_fmadd_ps(x2, w, t->v[2][j]);
    }
}

/// The three multiply-adds of weight vector J (at byte offset OFFSET from pointer operand W) with the
/// inputs X0, X1, X2 of pixels 0, 1, 2 (operand names of wide_rows_of_three's asm block).
#define WIDE_TAP_VECTOR(J, W, OFFSET, X0, X1, X2)                        \
    "vmovups " #OFFSET "(%[" #W "]), %[w]\n\t"                           \
    "vfmadd231ps %[w], %[" #X0 "], %[s0" #J "]\n\t"                      \
    "vfmadd231ps %[w], %[" #X1 "], %[s1" #J "]\n\t"                      \
    "vfmadd231ps %[w], %[" #X2 "], %[s2" #J "]\n\t"

/// One tap of a wide tile: the 32 weights at byte offset TAP·64 of both panels, pixels' inputs X0-X2.
#define WIDE_TAP(TAP, X0, X1, X2)                                         \
    WIDE_TAP_VECTOR(0, w0, TAP * 64, X0, X1, X2)                          \
    WIDE_TAP_VECTOR(1, w0, TAP * 64 + 32, X0, X1, X2)                     \
    WIDE_TAP_VECTOR(2, w1, TAP * 64, X0, X1, X2)                          \
    WIDE_TAP_VECTOR(3, w1, TAP * 64 + 32, X0, X1, X2)

/// The depth steps of a wide tile whose three pixels are neighbours in one row of a 3-wide window with
/// column stride and dilation 1, whole window rows at a time: the five inputs of a window row rotate
/// through three registers. Written in assembly because the twelve sums, three inputs and one weight
/// vector take all sixteen registers, and clang, given the same code as intrinsics, spills a sum to the
/// stack and runs at half speed.
AVX2_FMA static inline __attribute__((always_inline)) void wide_rows_of_three(wide_sums *t, int depth,
                                                                              const float *w0, const float *w1,
                                                                              const float *pixel, const int *offsets) {
    __m256 s00 = t->v[0][0], s01 = t->v[0][1], s02 = t->v[0][2], s03 = t->v[0][3];
    __m256 s10 = t->v[1][0], s11 = t->v[1][1], s12 = t->v[1][2], s13 = t->v[1][3];
    __m256 s20 = t->v[2][0], s21 = t->v[2][1], s22 = t->v[2][2], s23 = t->v[2][3];
    for (int p = 0; p < depth; p += 3) {
        const float *row = pixel + offsets[p];
        __m256 a, b, c, w;
        __asm__("vbroadcastss (%[row]), %[a]\n\t"
                "vbroadcastss 4(%[row]), %[b]\n\t"
                "vbroadcastss 8(%[row]), %[c]\n\t"
                WIDE_TAP(0, a, b, c)
                "vbroadcastss 12(%[row]), %[a]\n\t"
                WIDE_TAP(1, b, c, a)
                "vbroadcastss 16(%[row]), %[b]\n\t"
                WIDE_TAP(2, c, a, b)
                : [s00] "+x"(s00), [s01] "+x"(s01), [s02] "+x"(s02), [s03] "+x"(s03),
                  [s10] "+x"(s10), [s11] "+x"(s11), [s12] "+x"(s12), [s13] "+x"(s13),
                  [s20] "+x"(s20), [s21] "+x"(s21), [s22] "+x"(s22), [s23] "+x"(s23),
                  [a] "=&x"(a), [b] "=&x"(b), [c] "=&x"(c), [w] "=&x"(w)
                : [row] "r"(row), [w0] "r"(w0), [w1] "r"(w1)
                : "memory");
        w0 += 3 * COLUMNS_PER_PANEL;
        w1 += 3 * COLUMNS_PER_PANEL;
    }
    t->v[0][0] = s00, t->v[0][1] = s01, t->v[0][2] = s02, t->v[0][3] = s03;
    t->v[1][0] = s10, t->v[1][1] = s11, t->v[1][2] = s12, t->v[1][3] = s13;
    t->v[2][0] = s20, t->v[2][1] = s21, t->v[2][2] = s22, t->v[2][3] = s23;
}

/// One depth block of a wide tile: starts from *sums (accumulate) or from `bias` (32 floats, or NULL for
/// zero), adds depth steps of the panels' weights at w0 and w1 times the input at pixel[r] + offsets[p], and
/// leaves the sums in *sums. With `rowOfTaps` the depth steps go through wide_rows_of_three.
AVX2_FMA static void wide_block(wide_sums *sums, int accumulate, const float *bias, int depth, int rowOfTaps,
                                const float *w0, const float *w1, const float *const pixel[3], const int *offsets) {
    wide_sums t;
    if (accumulate) {
        t = *sums;
    } else {
        for (int j = 0; j < 4; j++) {
            __m256 start = bias ? _mm256_loadu_ps(bias + 8 * j) : _mm256_setzero_ps();
            for (int r = 0; r < 3; r++) t.v[r][j] = start;
        }
    }
    if (rowOfTaps) {
        wide_rows_of_three(&t, depth, w0, w1, pixel[0], offsets);
    } else {
        for (int p = 0; p < depth; p++) {
            int offset = offsets[p];
            wide_step(&t, _mm256_broadcast_ss(pixel[0] + offset), _mm256_broadcast_ss(pixel[1] + offset),
                      _mm256_broadcast_ss(pixel[2] + offset), w0, w1);
            w0 += COLUMNS_PER_PANEL;
            w1 += COLUMNS_PER_PANEL;
        }
    }
    *sums = t;
}

/// Stores a strip's sums (`pixels` pixels in tiles of 3, pixel-major) transposed into C (`channels` rows),
/// the epilogue applied: eight pixels of eight channels per transpose, so each row of C gets whole vectors
/// in order. `spareTo` is the pixel (relative to c) up to which the caller owns C's columns and will write
/// them later; see store_channel_block.
AVX2_FMA static void store_strip(const wide_sums *stage, int pixels, float *c, int ldc, int channels, int spareTo,
                                 const seer_epilogue *epilogue) {
    for (int q = 0; q < pixels; q += 8) {
        int count = min_int(8, pixels - q);
        for (int j = 0; j < 4 && j * 8 < channels; j++) {
            __m256 column[8];
            for (int i = 0; i < 8; i++) {
                int p = q + i;
                column[i] = p < pixels ? stage[p / 3].v[p % 3][j] : _mm256_setzero_ps();
            }
            store_channel_block(column, c + (size_t)j * 8 * ldc + q, ldc, channels - j * 8, count, q + 8 <= spareTo,
                                0, epilogue);
        }
    }
}

/// Output pixel q's window origin in the padded copy (q = oy·outW + ox).
static inline const float *window_origin(const seer_image_operand *im, const float *scratch, int width, int q) {
    int oy = q / im->outW, ox = q % im->outW;
    return scratch + (size_t)oy * im->strideY * width + (size_t)ox * im->strideX;
}

/// Panels [panel, panel + 2) as wide tiles over pixels [pixel0, pixel1), in strips of WIDE_STRIP_TILES
/// tiles: a strip's sums stay in a pixel-major stage (plain vector loads and stores, no transposes) while
/// depth blocks of WIDE_DEPTH_BLOCK steps pass over it, so the pair's weights for a block (16 KiB at most)
/// stay in L1 for the whole strip; the strip is transposed into C once, at the end.
static void wide_panels(int m, int k, const float *columnPanels, const seer_image_operand *im, int width,
                        int panel, int pixel0, int pixel1, float *c, int ldc, const float *bias,
                        const seer_epilogue *epilogue, const float *scratch, const int *offsets) {
    int first = panel * COLUMNS_PER_PANEL, pairChannels = min_int(2 * COLUMNS_PER_PANEL, m - first);
    float pairBiasValues[2 * COLUMNS_PER_PANEL];
    const float *pairBias = panel_bias(bias, first, pairChannels, 2 * COLUMNS_PER_PANEL, pairBiasValues);
    const float *w0 = columnPanels + (size_t)first * k, *w1 = w0 + (size_t)COLUMNS_PER_PANEL * k;
    int channelDepth = im->kH * im->kW;
    int blockDepth = channelDepth * (WIDE_DEPTH_BLOCK > channelDepth ? WIDE_DEPTH_BLOCK / channelDepth : 1);
    int rowsOfThree = im->kW == 3 && im->strideX == 1 && im->dilationX == 1;
    float *out = c + (size_t)first * ldc;
    for (int strip0 = pixel0; strip0 < pixel1; strip0 += 3 * WIDE_STRIP_TILES) {
        int strip1 = min_int(pixel1, strip0 + 3 * WIDE_STRIP_TILES), tiles = ceil_div(strip1 - strip0, 3);
        wide_sums stage[WIDE_STRIP_TILES];
        const float *pixel[WIDE_STRIP_TILES][3];
        int rowOfTaps[WIDE_STRIP_TILES];
        for (int t = 0; t < tiles; t++) {
            int q0 = strip0 + 3 * t, pixels = min_int(3, strip1 - q0);
            // Missing pixels of the last tile repeat its first.
            for (int r = 0; r < 3; r++) pixel[t][r] = window_origin(im, scratch, width, r < pixels ? q0 + r : q0);
            rowOfTaps[t] = rowsOfThree && pixels == 3 && q0 % im->outW + 2 < im->outW;
        }
        for (int depth0 = 0; depth0 < k; depth0 += blockDepth) {
            int depth = min_int(blockDepth, k - depth0);
            for (int t = 0; t < tiles; t++) {
                wide_block(&stage[t], depth0 > 0, pairBias, depth, rowOfTaps[t],
                           w0 + (size_t)depth0 * COLUMNS_PER_PANEL, w1 + (size_t)depth0 * COLUMNS_PER_PANEL,
                           pixel[t], offsets + depth0);
            }
        }
        // Strips run in order, so the next one rewrites the floats a plain store spills into.
        store_strip(stage, strip1 - strip0, out + strip0, ldc, pairChannels, pixel1 - strip0, epilogue);
    }
}

void seer_channel_conv(int m, int k, const float *columnPanels, const seer_image_operand *im, int channels, int outH,
                       int panel0, int panel1, int pixel0, int pixel1, float *c, int ldc, const float *bias,
                       const seer_epilogue *epilogue, const float *scratch) {
    int rows, width;
    direct_layout(im, outH, &rows, &width);
    const int *offsets = (const int *)(scratch + offsets_start(im, channels, outH));
    if (k >= WIDE_TILE_MIN_DEPTH) {
        for (; panel0 + 1 < panel1; panel0 += 2) {
            wide_panels(m, k, columnPanels, im, width, panel0, pixel0, pixel1, c, ldc, bias, epilogue, scratch, offsets);
        }
    }
    // Depth blocks of equal size, each at most CHANNEL_DEPTH_BLOCK, outermost: a block's input rows stay
    // in L2 for every panel, and C gathers the blocks' sums (bias with the first, epilogue with the last).
    int depthBlocks = (k + CHANNEL_DEPTH_BLOCK - 1) / CHANNEL_DEPTH_BLOCK;
    int depthStep = (k + depthBlocks - 1) / depthBlocks;
    for (int depth0 = 0; depth0 < k; depth0 += depthStep) {
        int depth = min_int(depthStep, k - depth0), firstBlock = depth0 == 0, lastBlock = depth0 + depth >= k;
        for (int panel = panel0; panel < panel1; panel++) {
            int first = panel * COLUMNS_PER_PANEL, panelChannels = min_int(COLUMNS_PER_PANEL, m - first);
            float panelBiasValues[COLUMNS_PER_PANEL];
            const float *panelBias = panel_bias(bias, first, panelChannels, COLUMNS_PER_PANEL, panelBiasValues);
            const float *weights = columnPanels + (size_t)first * k + (size_t)depth0 * COLUMNS_PER_PANEL;
            for (int q0 = pixel0; q0 < pixel1; q0 += ROWS_PER_PANEL) {
                // Each pixel's window origin in the padded copy; missing pixels of the last group repeat the first.
                const float *pixel[ROWS_PER_PANEL];
                for (int r = 0; r < ROWS_PER_PANEL; r++) {
                    pixel[r] = window_origin(im, scratch, width, q0 + r < pixel1 ? q0 + r : q0);
                }
                // Groups run in order, so the next one rewrites the two floats a plain store spills into.
                channel_tile(depth, weights, pixel, offsets + depth0, firstBlock ? panelBias : NULL,
                             lastBlock ? epilogue : NULL, c + (size_t)first * ldc + q0, ldc, panelChannels,
                             min_int(ROWS_PER_PANEL, pixel1 - q0), q0 + 8 <= pixel1, !firstBlock);
            }
        }
    }
}

/// The right operand of a product: a row-major matrix, or an image read through a convolution window.
typedef struct {
    const float *matrix;
    int ldb;
    const seer_image_operand *image;
    int firstPixel;
} operand_b;

AVX2_FMA static void packed_product(int m, int n, int k, const float *packed, const operand_b *b,
                                    float *c, int ldc, const float *bias, const seer_epilogue *epilogue,
                                    float *workspace) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (int i = 0; i < m; i++) {
            float value = bias ? bias[i] : 0.0f;
            if (epilogue) {
                if (value < 0) value *= epilogue->negativeSlope;
                value = value < epilogue->low ? epilogue->low : value > epilogue->high ? epilogue->high : value;
            }
            for (int j = 0; j < n; j++) c[(size_t)i * ldc + j] = value;
        }
        return;
    }
    // Depth blocks of equal size, each at most MAX_DEPTH_BLOCK.
    int depthBlocks = (k + MAX_DEPTH_BLOCK - 1) / MAX_DEPTH_BLOCK;
    int depthStep = (k + depthBlocks - 1) / depthBlocks;
    float *aligned = (float *)(((size_t)workspace + 31) & ~(size_t)31);
    for (int column0 = 0; column0 < n; column0 += COLUMN_BLOCK) {
        int columns = min_int(COLUMN_BLOCK, n - column0);
        for (int depth0 = 0; depth0 < k; depth0 += depthStep) {
            int depth = min_int(depthStep, k - depth0);
            int first = depth0 == 0, last = depth0 + depth >= k;
            if (b->image) {
                pack_image_block(b->image, depth0, depth, b->firstPixel + column0, columns, aligned);
            } else {
                pack_b_block(b->matrix + (size_t)depth0 * b->ldb + column0, b->ldb, depth, columns, aligned);
            }
            // Row panels go in pairs: each panel's 16-column tiles, then the last columns, if no more than
            // 8, as one narrow tile over both panels while they are still in cache.
            int narrowColumns = columns % COLUMNS_PER_PANEL <= 8 ? columns % COLUMNS_PER_PANEL : 0;
            int wideColumns = columns - narrowColumns;
            for (int pair0 = 0; pair0 < m; pair0 += 2 * ROWS_PER_PANEL) {
                for (int row0 = pair0; row0 < min_int(m, pair0 + 2 * ROWS_PER_PANEL); row0 += ROWS_PER_PANEL) {
                    int rows = min_int(ROWS_PER_PANEL, m - row0);
                    const float *aPanel = packed + (size_t)row0 * k + (size_t)depth0 * ROWS_PER_PANEL;
                    float panelBias[ROWS_PER_PANEL];
                    const float *tileBias = first ? panel_bias(bias, row0, rows, ROWS_PER_PANEL, panelBias) : NULL;
                    for (int j = 0; j < wideColumns; j += COLUMNS_PER_PANEL) {
                        int width = min_int(COLUMNS_PER_PANEL, columns - j);
                        float *tile = c + (size_t)row0 * ldc + column0 + j;
                        const float *bPanel = aligned + (size_t)j * depth;
                        if (rows == ROWS_PER_PANEL && width == COLUMNS_PER_PANEL) {
                            kernel_6x16(depth, aPanel, bPanel, tile, ldc, !first, tileBias, last ? epilogue : NULL);
                        } else {
                            edge_tile(depth, aPanel, bPanel, tile, ldc, rows, width, !first, tileBias,
                                      last ? epilogue : NULL);
                        }
                    }
                }
                if (narrowColumns == 0) continue;
                int rows = min_int(2 * ROWS_PER_PANEL, m - pair0);
                const float *aPanel = packed + (size_t)pair0 * k + (size_t)depth0 * ROWS_PER_PANEL;
                float pairBias[2 * ROWS_PER_PANEL];
                const float *tileBias = first ? panel_bias(bias, pair0, rows, 2 * ROWS_PER_PANEL, pairBias) : NULL;
                const float *bPanel = aligned + (size_t)wideColumns * depth;
                float *tile = c + (size_t)pair0 * ldc + column0 + wideColumns;
                size_t panelStride = (size_t)ROWS_PER_PANEL * k;
                if (rows > ROWS_PER_PANEL) {
                    narrow_tile(2, depth, aPanel, panelStride, bPanel, tile, ldc, rows, narrowColumns, !first,
                                tileBias, last ? epilogue : NULL);
                } else {
                    narrow_tile(1, depth, aPanel, panelStride, bPanel, tile, ldc, rows, narrowColumns, !first,
                                tileBias, last ? epilogue : NULL);
                }
            }
        }
    }
}

void seer_packed_gemm(int m, int n, int k, const float *packed, const float *b, int ldb,
                      float *c, int ldc, const float *bias, const seer_epilogue *epilogue, float *workspace) {
    operand_b operand = {b, ldb, NULL, 0};
    packed_product(m, n, k, packed, &operand, c, ldc, bias, epilogue, workspace);
}

void seer_packed_conv(int m, int n, int k, const float *packed, const seer_image_operand *image, int firstPixel,
                      float *c, int ldc, const float *bias, const seer_epilogue *epilogue, float *workspace) {
    operand_b operand = {NULL, 0, image, firstPixel};
    packed_product(m, n, k, packed, &operand, c, ldc, bias, epilogue, workspace);
}

#else

int seer_packed_gemm_supported(void) { return 0; }

void seer_packed_gemm(int m, int n, int k, const float *packed, const float *b, int ldb,
                      float *c, int ldc, const float *bias, const seer_epilogue *epilogue, float *workspace) {
    (void)m; (void)n; (void)k; (void)packed; (void)b; (void)ldb;
    (void)c; (void)ldc; (void)bias; (void)epilogue; (void)workspace;
}

void seer_packed_conv(int m, int n, int k, const float *packed, const seer_image_operand *image, int firstPixel,
                      float *c, int ldc, const float *bias, const seer_epilogue *epilogue, float *workspace) {
    (void)m; (void)n; (void)k; (void)packed; (void)image; (void)firstPixel;
    (void)c; (void)ldc; (void)bias; (void)epilogue; (void)workspace;
}

size_t seer_direct_conv_scratch_floats(const seer_image_operand *image, int channels, int outH) {
    (void)image; (void)channels; (void)outH;
    return 0;
}

void seer_direct_conv_prepare(const seer_image_operand *image, int channel0, int channel1, int channels, int outH,
                              float *scratch) {
    (void)image; (void)channel0; (void)channel1; (void)channels; (void)outH; (void)scratch;
}

void seer_direct_conv(int m, int k, const float *packed, const seer_image_operand *image, int channels, int outH,
                      int row0, int row1, float *c, int ldc, const float *bias, const seer_epilogue *epilogue,
                      const float *scratch) {
    (void)m; (void)k; (void)packed; (void)image; (void)channels; (void)outH; (void)row0; (void)row1;
    (void)c; (void)ldc; (void)bias; (void)epilogue; (void)scratch;
}

void seer_channel_conv(int m, int k, const float *columnPanels, const seer_image_operand *image, int channels, int outH,
                       int panel0, int panel1, int pixel0, int pixel1, float *c, int ldc, const float *bias,
                       const seer_epilogue *epilogue, const float *scratch) {
    (void)m; (void)k; (void)columnPanels; (void)image; (void)channels; (void)outH; (void)panel0; (void)panel1;
    (void)pixel0; (void)pixel1; (void)c; (void)ldc; (void)bias; (void)epilogue; (void)scratch;
}

#endif
