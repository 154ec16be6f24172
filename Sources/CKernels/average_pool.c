// Float 2-D average pooling of one plane with AVX2 (AveragePool), through pool_plane.h.
//
// Every output sums its window's taps in the generic kernel's order (window rows, then columns) from
// +0, then divides by its count (the divisor the caller computed, never multiplied by a reciprocal), so
// the results are the generic loop's bit for bit, NaN payloads aside. A 0 for a column outside the
// row changes no sum, as skipping the column would not.
#include "pool_plane.h"

#if defined(__x86_64__) || defined(__i386__)

POOL_PLANE_FUNCTIONS(average_pool_plane, FOLD_SUM)

void seer_average_pool_plane(const float *input, float *output, const seer_pool_geometry *g, const float *rowCounts,
                             const float *columnCounts) {
    pool_divisors divisors = {rowCounts, columnCounts};
    average_pool_plane(input, output, g, &divisors);
}

#else

void seer_average_pool_plane(const float *input, float *output, const seer_pool_geometry *g, const float *rowCounts,
                             const float *columnCounts) {
    pool_divisors divisors = {rowCounts, columnCounts};
    pool_plane_scalar(input, output, g, FOLD_SUM, &divisors);
}

#endif
