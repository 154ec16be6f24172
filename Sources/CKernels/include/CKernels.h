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

/// C[m×n] = packedA · B[k×n] (+ bias[row]) then max(·, 0) if relu, row-major with strides ldb, ldc.
/// `packed` comes from seer_pack_a with the same m and k. `bias` may be NULL. Needs an AVX2/FMA CPU.
void seer_packed_gemm(int m, int n, int k, const float *packed, const float *b, int ldb,
                      float *c, int ldc, const float *bias, int relu, float *workspace);

#endif
