// One plane's float 2-D pooling, shared by max_pool.c (taps folded into a maximum) and average_pool.c
// (taps summed, then divided by the window's element count).
//
// Each output row is computed eight outputs per vector (the last vector of a row overlaps the one
// before it; a row narrower than eight is stored through a mask). Kernel rows outside the input are
// skipped for the whole output row. A vector whose windows all lie inside the input row loads its
// taps plainly; one at the left or right edge loads them through a mask of the columns inside the
// row, the fold's identity (-inf for a maximum, 0 for a sum) in the others. Strides 1 and 2 load
// contiguous floats (stride 2 keeps every other one with a shuffle); larger strides gather.
//
// Every output folds its window's taps in the generic kernel's order (window rows, then columns) from
// the identity, so an identity read for a column outside the row leaves the fold as skipping the
// column would (a sum from +0 never becomes -0, so adding +0 changes nothing).
#ifndef SEER_POOL_PLANE_H
#define SEER_POOL_PLANE_H

#include "CKernels.h"

#include <math.h>
#include <stddef.h>

static inline int min_int(int a, int b) { return a < b ? a : b; }
static inline int max_int(int a, int b) { return a > b ? a : b; }
static inline int ceil_div_signed(int a, int b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }
static inline int floor_div_signed(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/// How a window's taps become one output.
enum pool_fold {
    FOLD_MAX,   // m = v > m ? v : m from m = -inf (NaN skipped, the first of equal maxima kept)
    FOLD_SUM,   // s = s + v from s = +0, then s / max(1, rowCounts[oy] · columnCounts[ox])
};

/// FOLD_SUM's divisors per output row and column (unused by FOLD_MAX).
typedef struct {
    const float *rowCounts, *columnCounts;
} pool_divisors;

/// The kernel rows [*first, *end) of output row `oy` that fall inside the input.
static inline void valid_kernel_rows(const seer_pool_geometry *g, int oy, int *first, int *end) {
    int top = oy * g->strideY - g->padTop, dilation = g->dilationY;
    int below = dilation == 1 ? -top : ceil_div_signed(-top, dilation);
    int above = dilation == 1 ? g->inH - 1 - top : floor_div_signed(g->inH - 1 - top, dilation);
    *first = min_int(g->kH, max_int(0, below));
    *end = max_int(*first, min_int(g->kH, above + 1));
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))
#define AVX2_INLINE __attribute__((target("avx2"), always_inline)) static inline

enum { VECTOR = 8 };

/// The output columns [*first, *end) whose windows lie wholly inside the input row.
static inline void interior_columns(const seer_pool_geometry *g, int *first, int *end) {
    int extent = (g->kW - 1) * g->dilationX + 1;
    *first = min_int(g->outW, ceil_div_signed(g->padLeft, g->strideX));
    *end = max_int(*first, min_int(g->outW, floor_div_signed(g->inW + g->padLeft - extent, g->strideX) + 1));
}

/// How a vector of eight columns column, column + s, … is loaded.
enum column_step { STEP_ONE, STEP_TWO, STEP_ANY };

/// The columns a vector covers relative to its first, and the row it reads from.
typedef struct {
    const float *row;
    int width;          // inW: columns [0, width) are inside the row
    __m256i lanes;      // 0 … 7
    __m256i offsets;    // lane · stride
    __m256 outside;     // what a column outside the row reads as: the fold's identity
} row_reader;

/// All-ones in the lanes whose column `column + offsets[lane]` lies inside the row.
AVX2_INLINE __m256i inside_row(int column, __m256i offsets, int width) {
    __m256i columns = _mm256_add_epi32(_mm256_set1_epi32(column), offsets);
    __m256i beforeStart = _mm256_cmpgt_epi32(_mm256_setzero_si256(), columns);
    __m256i beforeEnd = _mm256_cmpgt_epi32(_mm256_set1_epi32(width), columns);
    return _mm256_andnot_si256(beforeStart, beforeEnd);
}

/// row[column … column + 7], r->outside where the column is outside the row (those lanes are not read).
AVX2_INLINE __m256 load_inside(const row_reader *r, int column) {
    __m256i mask = inside_row(column, r->lanes, r->width);
    return _mm256_blendv_ps(r->outside, _mm256_maskload_ps(r->row + column, mask), _mm256_castsi256_ps(mask));
}

/// row[column + s·lane] for the eight lanes; `edge`: some columns may be outside the row.
/// For STEP_TWO the lanes hold lanes 0 1 4 5 | 2 3 6 7 of that, which in_column_order puts right:
/// the fold is lane by lane, so the order can wait for the store.
AVX2_INLINE __m256 load_columns(const row_reader *r, int column, enum column_step step, int edge) {
    const float *p = r->row + column;
    switch (step) {
    case STEP_ONE:
        return edge ? load_inside(r, column) : _mm256_loadu_ps(p);
    case STEP_TWO: {
        // Columns 0…7 and 7…14: even positions of the first, odd of the second (reads end at 14).
        __m256 low = edge ? load_inside(r, column) : _mm256_loadu_ps(p);
        __m256 high = edge ? load_inside(r, column + 7) : _mm256_loadu_ps(p + 7);
        return _mm256_shuffle_ps(low, high, 0xD8);
    }
    case STEP_ANY:
    default:
        if (!edge) return _mm256_i32gather_ps(p, r->offsets, 4);
        return _mm256_mask_i32gather_ps(r->outside, p, r->offsets,
                                        _mm256_castsi256_ps(inside_row(column, r->offsets, r->width)), 4);
    }
}

AVX2_INLINE __m256 in_column_order(__m256 lanes, enum column_step step) {
    if (step != STEP_TWO) return lanes;
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(lanes), 0xD8));
}

/// The fold's next step. _mm256_max_ps(v, m) returns m when either is NaN or the two are equal, so it
/// is exactly m = v > m ? v : m.
AVX2_INLINE __m256 fold_tap(enum pool_fold fold, __m256 acc, __m256 v) {
    return fold == FOLD_MAX ? _mm256_max_ps(v, acc) : _mm256_add_ps(acc, v);
}

/// Output columns ox … ox + 7 folded over `rowCount` input rows `rowPitch` floats apart (not yet
/// divided); `kW` is g->kW, a constant where the caller knows it (the tap loop then unrolls).
AVX2_INLINE __m256 fold_windows(const float *firstRow, size_t rowPitch, int rowCount, int ox,
                                const seer_pool_geometry *g, row_reader *r, enum column_step step, int kW, int edge,
                                enum pool_fold fold) {
    int left = ox * g->strideX - g->padLeft;
    __m256 acc = r->outside;
    for (int kh = 0; kh < rowCount; kh++) {
        r->row = firstRow + kh * rowPitch;
        for (int kw = 0; kw < kW; kw++) {
            acc = fold_tap(fold, acc, load_columns(r, left + kw * g->dilationX, step, edge));
        }
    }
    return in_column_order(acc, step);
}

/// FOLD_SUM: sums / max(1, rowCount · columnCounts[lane]), the counts read through `columns` (lanes past
/// the row's end, not stored, divide by 1). FOLD_MAX: the maxima as they are.
AVX2_INLINE __m256 finish_windows(enum pool_fold fold, __m256 folded, float rowCount, const float *columnCounts,
                                  __m256i columns) {
    if (fold == FOLD_MAX) return folded;
    __m256 counts = _mm256_mul_ps(_mm256_set1_ps(rowCount), _mm256_maskload_ps(columnCounts, columns));
    return _mm256_div_ps(folded, _mm256_max_ps(counts, _mm256_set1_ps(1)));
}

AVX2_INLINE void pool_plane(const float *input, float *output, const seer_pool_geometry *g, enum column_step step,
                            int kW, enum pool_fold fold, const pool_divisors *divisors) {
    int first, end;
    interior_columns(g, &first, &end);
    __m256 identity = _mm256_set1_ps(fold == FOLD_MAX ? -INFINITY : 0.0f);
    row_reader reader = {input, g->inW, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_setzero_si256(), identity};
    reader.offsets = _mm256_mullo_epi32(reader.lanes, _mm256_set1_epi32(g->strideX));
    size_t rowPitch = (size_t)g->dilationY * g->inW;
    int narrow = g->outW < VECTOR, narrowInterior = first == 0 && end == g->outW;
    // How far past a vector's first window column its plain loads read (the last lane's last tap).
    size_t reach = (size_t)(g->kW - 1) * g->dilationX + (VECTOR - 1) * g->strideX;
    __m256i stored = _mm256_cmpgt_epi32(_mm256_set1_epi32(g->outW), reader.lanes);
    __m256i all = _mm256_set1_epi32(-1);
    for (int oy = 0; oy < g->outH; oy++) {
        float *out = output + (size_t)oy * g->outW;
        float rowCount = fold == FOLD_SUM ? divisors->rowCounts[oy] : 0;
        const float *columnCounts = fold == FOLD_SUM ? divisors->columnCounts : NULL;
        int row0, row1;
        valid_kernel_rows(g, oy, &row0, &row1);
        const float *firstRow = input + (size_t)(oy * g->strideY - g->padTop + row0 * g->dilationY) * g->inW;
        if (row0 == row1) firstRow = input;
        if (narrow) {
            // Lanes past outW are not stored, so where the stored windows are inside the row they may
            // read plainly on into the next rows, as long as no load leaves the plane.
            size_t lastRowStart = (size_t)(firstRow - input) + (size_t)max_int(0, row1 - row0 - 1) * rowPitch;
            int plain = narrowInterior && lastRowStart + reach < (size_t)g->inH * g->inW;
            __m256 folded = plain ? fold_windows(firstRow, rowPitch, row1 - row0, 0, g, &reader, step, kW, 0, fold)
                                  : fold_windows(firstRow, rowPitch, row1 - row0, 0, g, &reader, step, kW, 1, fold);
            _mm256_maskstore_ps(out, stored, finish_windows(fold, folded, rowCount, columnCounts, stored));
            continue;
        }
        for (int ox = 0; ox < g->outW; ox += VECTOR) {
            if (ox + VECTOR > g->outW) ox = g->outW - VECTOR;
            int edge = ox < first || ox + VECTOR > end;
            __m256 folded = edge ? fold_windows(firstRow, rowPitch, row1 - row0, ox, g, &reader, step, kW, 1, fold)
                                 : fold_windows(firstRow, rowPitch, row1 - row0, ox, g, &reader, step, kW, 0, fold);
            _mm256_storeu_ps(out + ox, finish_windows(fold, folded, rowCount, columnCounts ? columnCounts + ox : NULL, all));
        }
    }
}

// One function per column step and common kernel width (2 and 3 unrolled, others looped), and
// `name` choosing among them by g->strideX and g->kW.
#define POOL_PLANE_STEP(name, step, kW, fold)                                                                  \
    AVX2 static void name(const float *input, float *output, const seer_pool_geometry *g,                    \
                          const pool_divisors *divisors) {                                                    \
        pool_plane(input, output, g, step, kW, fold, divisors);                                               \
    }
#define POOL_PLANE_FUNCTIONS(name, fold)                                                                       \
    POOL_PLANE_STEP(name##_stride_one_width_two, STEP_ONE, 2, fold)                                           \
    POOL_PLANE_STEP(name##_stride_one_width_three, STEP_ONE, 3, fold)                                         \
    POOL_PLANE_STEP(name##_stride_one, STEP_ONE, g->kW, fold)                                                 \
    POOL_PLANE_STEP(name##_stride_two_width_two, STEP_TWO, 2, fold)                                           \
    POOL_PLANE_STEP(name##_stride_two_width_three, STEP_TWO, 3, fold)                                         \
    POOL_PLANE_STEP(name##_stride_two, STEP_TWO, g->kW, fold)                                                 \
    POOL_PLANE_STEP(name##_any_stride, STEP_ANY, g->kW, fold)                                                 \
    static void name(const float *input, float *output, const seer_pool_geometry *g,                         \
                     const pool_divisors *divisors) {                                                         \
        int kW = g->kW;                                                                                       \
        switch (g->strideX) {                                                                                 \
        case 1:                                                                                               \
            (kW == 2 ? name##_stride_one_width_two : kW == 3 ? name##_stride_one_width_three : name##_stride_one)( \
                input, output, g, divisors);                                                                  \
            break;                                                                                            \
        case 2:                                                                                               \
            (kW == 2 ? name##_stride_two_width_two : kW == 3 ? name##_stride_two_width_three : name##_stride_two)( \
                input, output, g, divisors);                                                                  \
            break;                                                                                            \
        default: name##_any_stride(input, output, g, divisors); break;                                        \
        }                                                                                                     \
    }

#else

/// Output (oy, ox) folded over kernel rows [row0, row1), taps outside the row skipped.
static inline float fold_window(const float *input, const seer_pool_geometry *g, int oy, int ox, int row0, int row1,
                                enum pool_fold fold) {
    int top = oy * g->strideY - g->padTop, left = ox * g->strideX - g->padLeft;
    float acc = fold == FOLD_MAX ? -INFINITY : 0.0f;
    for (int kh = row0; kh < row1; kh++) {
        const float *row = input + (size_t)(top + kh * g->dilationY) * g->inW;
        for (int kw = 0; kw < g->kW; kw++) {
            int ix = left + kw * g->dilationX;
            if (ix < 0 || ix >= g->inW) continue;
            float value = row[ix];
            acc = fold == FOLD_SUM ? acc + value : value > acc ? value : acc;
        }
    }
    return acc;
}

static inline void pool_plane_scalar(const float *input, float *output, const seer_pool_geometry *g,
                                     enum pool_fold fold, const pool_divisors *divisors) {
    for (int oy = 0; oy < g->outH; oy++) {
        int row0, row1;
        valid_kernel_rows(g, oy, &row0, &row1);
        for (int ox = 0; ox < g->outW; ox++) {
            float value = fold_window(input, g, oy, ox, row0, row1, fold);
            if (fold == FOLD_SUM) value /= fmaxf(1, divisors->rowCounts[oy] * divisors->columnCounts[ox]);
            output[(size_t)oy * g->outW + ox] = value;
        }
    }
}

#endif

#endif
