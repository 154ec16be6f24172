// Packed single-precision GEMM for convolutions and layers with constant weights.
//
// C = A·B where A (the weights) is packed once, at model load, into 6-row panels, and B (the
// activations) is packed per call into 16-column panels of one cache block. A 6×16 register-
// blocked AVX2/FMA micro-kernel (12 accumulators) does the arithmetic; bias and a
// piecewise-linear activation (ReLU, LeakyReLU, Clip) are applied in its epilogue. Only the functions marked AVX2_FMA use those instructions: callers
// check seer_packed_gemm_supported() first and use BLAS otherwise.
#include "CKernels.h"

#include <string.h>

enum {
    ROWS_PER_PANEL = 6,       // MR: rows of A (and C) one micro-kernel call computes
    COLUMNS_PER_PANEL = 16,   // NR: columns of B (and C) one micro-kernel call computes
    MAX_DEPTH_BLOCK = 384,    // KC: depth of one packed block of B (kept in L2)
    COLUMN_BLOCK = 192,       // NC: columns of one packed block of B
};

static inline int min_int(int a, int b) { return a < b ? a : b; }

size_t seer_packed_a_floats(int m, int k) {
    size_t panels = (size_t)((m + ROWS_PER_PANEL - 1) / ROWS_PER_PANEL);
    return panels * ROWS_PER_PANEL * (size_t)k;
}

void seer_pack_a(const float *a, int lda, int m, int k, float *packed) {
    for (int first = 0; first < m; first += ROWS_PER_PANEL) {
        int rows = min_int(ROWS_PER_PANEL, m - first);
        float *panel = packed + (size_t)first * k;
        for (int p = 0; p < k; p++) {
            for (int r = 0; r < ROWS_PER_PANEL; r++) {
                panel[(size_t)p * ROWS_PER_PANEL + r] = r < rows ? a[(size_t)(first + r) * lda + p] : 0.0f;
            }
        }
    }
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

/// One 6×16 tile of C: starts from C (accumulate), from bias[row] (bias non-NULL) or zero,
/// adds depth steps of a (6 per step) times b (16 per step, 32-byte aligned), then applies the
/// epilogue if there is one.
AVX2_FMA static void kernel_6x16(int depth, const float *a, const float *b, float *c, int ldc,
                                 int accumulate, const float *bias, const seer_epilogue *epilogue) {
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    if (accumulate) {
        c00 = _mm256_loadu_ps(c + 0 * ldc); c01 = _mm256_loadu_ps(c + 0 * ldc + 8);
        c10 = _mm256_loadu_ps(c + 1 * ldc); c11 = _mm256_loadu_ps(c + 1 * ldc + 8);
        c20 = _mm256_loadu_ps(c + 2 * ldc); c21 = _mm256_loadu_ps(c + 2 * ldc + 8);
        c30 = _mm256_loadu_ps(c + 3 * ldc); c31 = _mm256_loadu_ps(c + 3 * ldc + 8);
        c40 = _mm256_loadu_ps(c + 4 * ldc); c41 = _mm256_loadu_ps(c + 4 * ldc + 8);
        c50 = _mm256_loadu_ps(c + 5 * ldc); c51 = _mm256_loadu_ps(c + 5 * ldc + 8);
    } else if (bias) {
        c00 = c01 = _mm256_set1_ps(bias[0]);
        c10 = c11 = _mm256_set1_ps(bias[1]);
        c20 = c21 = _mm256_set1_ps(bias[2]);
        c30 = c31 = _mm256_set1_ps(bias[3]);
        c40 = c41 = _mm256_set1_ps(bias[4]);
        c50 = c51 = _mm256_set1_ps(bias[5]);
    } else {
        c00 = c01 = c10 = c11 = c20 = c21 = _mm256_setzero_ps();
        c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();
    }
    for (int p = 0; p < depth; p++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        __m256 x;
        x = _mm256_broadcast_ss(a + 0); c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
        x = _mm256_broadcast_ss(a + 1); c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
        x = _mm256_broadcast_ss(a + 2); c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
        x = _mm256_broadcast_ss(a + 3); c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
        x = _mm256_broadcast_ss(a + 4); c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);
        x = _mm256_broadcast_ss(a + 5); c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);
        a += ROWS_PER_PANEL;
        b += COLUMNS_PER_PANEL;
    }
    if (epilogue) {
        // x < 0 ? slope·x : x (a NaN compares false and stays), then max(low, ·) and min(high, ·),
        // which return their second operand, the value, when it is NaN.
        __m256 zero = _mm256_setzero_ps(), slope = _mm256_set1_ps(epilogue->negativeSlope);
        __m256 low = _mm256_set1_ps(epilogue->low), high = _mm256_set1_ps(epilogue->high);
#define FINISH(v) v = _mm256_min_ps(high, _mm256_max_ps(low, \
                      _mm256_blendv_ps(v, _mm256_mul_ps(v, slope), _mm256_cmp_ps(v, zero, _CMP_LT_OQ))))
        FINISH(c00); FINISH(c01); FINISH(c10); FINISH(c11); FINISH(c20); FINISH(c21);
        FINISH(c30); FINISH(c31); FINISH(c40); FINISH(c41); FINISH(c50); FINISH(c51);
#undef FINISH
    }
    _mm256_storeu_ps(c + 0 * ldc, c00); _mm256_storeu_ps(c + 0 * ldc + 8, c01);
    _mm256_storeu_ps(c + 1 * ldc, c10); _mm256_storeu_ps(c + 1 * ldc + 8, c11);
    _mm256_storeu_ps(c + 2 * ldc, c20); _mm256_storeu_ps(c + 2 * ldc + 8, c21);
    _mm256_storeu_ps(c + 3 * ldc, c30); _mm256_storeu_ps(c + 3 * ldc + 8, c31);
    _mm256_storeu_ps(c + 4 * ldc, c40); _mm256_storeu_ps(c + 4 * ldc + 8, c41);
    _mm256_storeu_ps(c + 5 * ldc, c50); _mm256_storeu_ps(c + 5 * ldc + 8, c51);
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

void seer_packed_gemm(int m, int n, int k, const float *packed, const float *b, int ldb,
                      float *c, int ldc, const float *bias, const seer_epilogue *epilogue, float *workspace) {
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
            pack_b_block(b + (size_t)depth0 * ldb + column0, ldb, depth, columns, aligned);
            for (int row0 = 0; row0 < m; row0 += ROWS_PER_PANEL) {
                int rows = min_int(ROWS_PER_PANEL, m - row0);
                const float *aPanel = packed + (size_t)row0 * k + (size_t)depth0 * ROWS_PER_PANEL;
                float panelBias[ROWS_PER_PANEL];
                const float *tileBias = NULL;
                if (first && bias) {
                    for (int r = 0; r < ROWS_PER_PANEL; r++) panelBias[r] = r < rows ? bias[row0 + r] : 0.0f;
                    tileBias = panelBias;
                }
                for (int j = 0; j < columns; j += COLUMNS_PER_PANEL) {
                    int width = min_int(COLUMNS_PER_PANEL, columns - j);
                    float *tile = c + (size_t)row0 * ldc + column0 + j;
                    const float *bPanel = aligned + (size_t)j * depth;
                    if (rows == ROWS_PER_PANEL && width == COLUMNS_PER_PANEL) {
                        kernel_6x16(depth, aPanel, bPanel, tile, ldc, !first, tileBias, last ? epilogue : NULL);
                    } else {
                        edge_tile(depth, aPanel, bPanel, tile, ldc, rows, width, !first, tileBias, last ? epilogue : NULL);
                    }
                }
            }
        }
    }
}

#else

int seer_packed_gemm_supported(void) { return 0; }

void seer_packed_gemm(int m, int n, int k, const float *packed, const float *b, int ldb,
                      float *c, int ldc, const float *bias, const seer_epilogue *epilogue, float *workspace) {
    (void)m; (void)n; (void)k; (void)packed; (void)b; (void)ldb;
    (void)c; (void)ldc; (void)bias; (void)epilogue; (void)workspace;
}

#endif
