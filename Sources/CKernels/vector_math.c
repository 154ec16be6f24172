// Float Sigmoid, Tanh and Elu in place, eight values per AVX2/FMA vector; the last partial vector is
// loaded and stored through a mask, so every value goes through the same formula wherever it sits.
//
// exp(x) = 2^n · exp(r) with n = round(x / ln2) and r = x − n·ln2 (ln2 split Cody-Waite style into a
// short high part, whose product with n is exact, and the rest), |r| ≤ ln2/2; exp(r) − 1 = r + r²·P(r)
// with Cephes' degree-5 P, and 2^n is written straight into the exponent bits. Arguments are clamped so
// that n stays in [−126, 0]: 2^n is always a normal float, nothing overflows and no denormal is made.
//
// sigmoid(x): e = exp(−|x|), 1 / (1 + e) for x ≥ 0 and e / (1 + e) below (one rounded division), e taken as 0 beyond |x| = 87
// (as Activation.sigmoid does). tanh(x): for |x| < 0.625, x + x·z·Q(z) with z = x² (Cephes' tanhf
// polynomial: odd, and exactly x for tiny x); above, sign(x)·(1 − e) / (1 + e) with e = exp(−2|x|),
// |x| clamped to 20 (tanh is 1 in float well before). elu(x): x ≥ 0 gives x, below alpha·expm1(x) with
// expm1(x) = 2^n·(exp(r) − 1) + (2^n − 1), exact in its last step for small x. A NaN input gives that NaN.
#include "CKernels.h"
#include "vector_support.h"

#include <math.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) static inline
#define AVX2 __attribute__((target("avx2,fma")))

enum { VECTOR = 8 };

int seer_vector_math_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/// n = round(x / ln2) and r = x − n·ln2 for x in [−87.5, 0].
AVX2_INLINE __m256 reduce(__m256 x, __m256 *n) {
    *n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(*n, _mm256_set1_ps(0.693359375f), x);
    return _mm256_fnmadd_ps(*n, _mm256_set1_ps(-2.12194440e-4f), r);
}

/// exp(r) − 1 for |r| ≤ ln2/2.
AVX2_INLINE __m256 expm1_reduced(__m256 r) {
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    return _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
}

/// 2^n for integral n in [−126, 127].
AVX2_INLINE __m256 power_of_two(__m256 n) {
    __m256i biased = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(biased, 23));
}

/// exp(x) for x in [−87.5, 0].
AVX2_INLINE __m256 exp_nonpositive(__m256 x) {
    __m256 n, r = reduce(x, &n);
    __m256 scale = power_of_two(n);
    return _mm256_fmadd_ps(scale, expm1_reduced(r), scale);
}

/// exp(x) − 1 for x in [−87.5, 0].
AVX2_INLINE __m256 expm1_nonpositive(__m256 x) {
    __m256 n, r = reduce(x, &n);
    __m256 scale = power_of_two(n);
    return _mm256_fmadd_ps(scale, expm1_reduced(r), _mm256_sub_ps(scale, _mm256_set1_ps(1)));
}

AVX2_INLINE __m256 magnitude_of(__m256 x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }

/// `result` where x is a number, x itself where it is NaN.
AVX2_INLINE __m256 keep_nan(__m256 x, __m256 result) {
    return _mm256_blendv_ps(result, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

AVX2_INLINE __m256 sigmoid8(__m256 x) {
    __m256 magnitude = magnitude_of(x);
    // min_ps returns its second operand for a NaN magnitude, keeping the exp argument in range.
    __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_min_ps(magnitude, _mm256_set1_ps(87.5f))));
    e = _mm256_andnot_ps(_mm256_cmp_ps(magnitude, _mm256_set1_ps(87), _CMP_GT_OQ), e);
    __m256 numerator = _mm256_blendv_ps(e, _mm256_set1_ps(1), _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ));
    return keep_nan(x, _mm256_div_ps(numerator, _mm256_add_ps(_mm256_set1_ps(1), e)));
}

AVX2_INLINE __m256 tanh8(__m256 x) {
    __m256 magnitude = magnitude_of(x);
    __m256 z = _mm256_mul_ps(x, x);
    __m256 q = _mm256_set1_ps(-5.70498872745e-3f);
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(2.06390887954e-2f));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(-5.37397155531e-2f));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(1.33314422036e-1f));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(-3.33332819422e-1f));
    __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(x, z), q, x);

    __m256 twice = _mm256_mul_ps(_mm256_set1_ps(-2), _mm256_min_ps(magnitude, _mm256_set1_ps(20)));
    __m256 e = exp_nonpositive(twice);
    __m256 large = _mm256_div_ps(_mm256_sub_ps(_mm256_set1_ps(1), e), _mm256_add_ps(_mm256_set1_ps(1), e));

    __m256 result = _mm256_blendv_ps(small, large, _mm256_cmp_ps(magnitude, _mm256_set1_ps(0.625f), _CMP_GE_OQ));
    // x's sign: `large` is a magnitude, and `small` is +0 for x = −0 (−0 + (−0·z)·q with q < 0).
    return keep_nan(x, _mm256_or_ps(result, _mm256_and_ps(x, _mm256_set1_ps(-0.0f))));
}

AVX2_INLINE __m256 elu8(__m256 x, __m256 alpha) {
    __m256 clamped = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.5f)), _mm256_setzero_ps());
    __m256 negative = _mm256_mul_ps(alpha, expm1_nonpositive(clamped));
    // An ordered x < 0: x itself for x ≥ 0, −0 and NaN.
    return _mm256_blendv_ps(x, negative, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
}

/// values[i] = f(values[i], parameter) for i in [0, count), eight at a time, the last few through a mask.
/// Inlined with a constant `f`, so each kernel below compiles to its own loop.
AVX2_INLINE void map_in_place(float *values, int count, __m256 (*f)(__m256, __m256), __m256 parameter) {
    int i = 0;
    for (; i + VECTOR <= count; i += VECTOR) _mm256_storeu_ps(values + i, f(_mm256_loadu_ps(values + i), parameter));
    if (i < count) {
        __m256i mask = lane_mask(count - i);
        _mm256_maskstore_ps(values + i, mask, f(_mm256_maskload_ps(values + i, mask), parameter));
    }
}

AVX2_INLINE __m256 sigmoid_lanes(__m256 x, __m256 unused) { (void)unused; return sigmoid8(x); }
AVX2_INLINE __m256 tanh_lanes(__m256 x, __m256 unused) { (void)unused; return tanh8(x); }

void AVX2 seer_sigmoid(float *values, int count) { map_in_place(values, count, sigmoid_lanes, _mm256_setzero_ps()); }

void AVX2 seer_tanh(float *values, int count) { map_in_place(values, count, tanh_lanes, _mm256_setzero_ps()); }

void AVX2 seer_elu(float *values, int count, float alpha) {
    map_in_place(values, count, elu8, _mm256_set1_ps(alpha));
}

#else

// Never chosen (seer_vector_math_supported is 0): the caller's own scalar loops run instead.
int seer_vector_math_supported(void) { return 0; }

void seer_sigmoid(float *values, int count) {
    for (int i = 0; i < count; i++) {
        float magnitude = fabsf(values[i]), e = magnitude > 87 ? 0 : expf(-magnitude), positive = 1 / (1 + e);
        values[i] = values[i] >= 0 ? positive : e * positive;
    }
}

void seer_tanh(float *values, int count) {
    for (int i = 0; i < count; i++) values[i] = tanhf(values[i]);
}

void seer_elu(float *values, int count, float alpha) {
    for (int i = 0; i < count; i++) values[i] = values[i] < 0 ? alpha * (expf(values[i]) - 1) : values[i];
}

#endif
