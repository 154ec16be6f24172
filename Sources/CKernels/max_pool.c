// Float 2-D max pooling of one plane with AVX2 (MaxPool without Indices), through pool_plane.h.
//
// Every output folds its window's taps in the generic kernel's order (window rows, then columns), each
// step m = v > m ? v : m from m = -inf: a NaN input is skipped, a window of only NaNs or padding gives
// -inf, and of equal maxima (-0 and +0) the first is kept. A -inf for a column outside the row leaves
// m as it is, as skipping the column would.
#include "pool_plane.h"

#if defined(__x86_64__) || defined(__i386__)

// The check for both plane kernels, this file's and average_pool.c's.
int seer_pool_plane_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}

POOL_PLANE_FUNCTIONS(max_pool_plane, FOLD_MAX)

void seer_max_pool_plane(const float *input, float *output, const seer_pool_geometry *g) {
    max_pool_plane(input, output, g, NULL);
}

#else

int seer_pool_plane_supported(void) { return 0; }

void seer_max_pool_plane(const float *input, float *output, const seer_pool_geometry *g) {
    pool_plane_scalar(input, output, g, FOLD_MAX, NULL);
}

#endif
