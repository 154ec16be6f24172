// Float 2-D max pooling of one plane with AVX2 (MaxPool without Indices), through pool_plane.h.
//
// Every output folds its window's taps in the generic kernel's order (window rows, then columns), each
// step m = v > m ? v : m from m = -inf: a NaN input is skipped, a window of only NaNs or padding gives
// -inf, and of equal maxima (-0 and +0) the first is kept. A -inf for a column outside the row leaves
// m as it is, as skipping the column would.
#include "pool_plane.h"

int seer_max_pool_supported(void) { return pool_plane_supported(); }

#if defined(__x86_64__) || defined(__i386__)

POOL_PLANE_FUNCTIONS(max_pool_plane, FOLD_MAX)

void seer_max_pool_plane(const float *input, float *output, const seer_pool_geometry *g) {
    max_pool_plane(input, output, g, NULL);
}

#else

void seer_max_pool_plane(const float *input, float *output, const seer_pool_geometry *g) {
    pool_plane_scalar(input, output, g, FOLD_MAX, NULL);
}

#endif
