// Depthwise 2-D convolution of one plane (one input and one output channel) with AVX2/FMA.
//
// The plane is first copied into a zero-bordered scratch copy, split by column phase (column
// c goes to phase c mod strideX, position c / strideX), so that every tap of every output row
// reads contiguous memory whatever the stride and dilation. Output rows are then computed
// eight columns per vector with no bounds checks: the borders are real zeros and each phase
// row has a vector's worth of zero slack at its end. The caller zeroes the scratch once per
// layer; each plane only overwrites the interior, so the borders stay zero for the next.
#include "CKernels.h"
#include "vector_support.h"


enum { MAX_TAPS = 64, MAX_STRIDE = 8, VECTOR = 8, SLACK = VECTOR };

static inline int ceil_div_signed(int a, int b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

/// Scratch geometry: padded rows, floats per phase row, and phases (= strideX).
static void padded_layout(int outH, int outW, int kH, int kW, int sH, int sW, int dH, int dW,
                          int *rows, int *phasePitch) {
    int paddedWidth = (outW - 1) * sW + (kW - 1) * dW + 1;
    *rows = (outH - 1) * sH + (kH - 1) * dH + 1;
    *phasePitch = ceil_div(paddedWidth, sW) + SLACK;
}

int seer_depthwise_supported(int kH, int kW, int sW) {
    return seer_packed_gemm_supported() && kH >= 1 && kW >= 1 && kH * kW <= MAX_TAPS && sW >= 1 && sW <= MAX_STRIDE;
}

size_t seer_depthwise_scratch_floats(int outH, int outW, int kH, int kW, int sH, int sW, int dH, int dW) {
    int rows, phasePitch;
    padded_layout(outH, outW, kH, kW, sH, sW, dH, dW, &rows, &phasePitch);
    return (size_t)rows * sW * phasePitch;
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX2_FMA __attribute__((target("avx2,fma")))

AVX2_FMA void seer_depthwise_plane(const float *input, int inH, int inW, const float *weights, int kH, int kW,
                                   int sH, int sW, int dH, int dW, int padTop, int padLeft,
                                   float bias, float low, float high,
                                   float *output, int outH, int outW, float *scratch) {
    int rows, phasePitch;
    padded_layout(outH, outW, kH, kW, sH, sW, dH, dW, &rows, &phasePitch);
    int rowPitch = sW * phasePitch;
    int paddedWidth = (outW - 1) * sW + (kW - 1) * dW + 1;

    // The input rows, columns split by phase; the borders and slack around them stay zero.
    // Per phase, the positions that hold input columns (the same in every row).
    int phaseFirst[MAX_STRIDE], phaseEnd[MAX_STRIDE];
    for (int p = 0; p < sW; p++) {
        // phase[j] is padded column j·sW + p, input column j·sW + p − padLeft.
        int width = clamp_int(ceil_div_signed(paddedWidth - p, sW), 0, phasePitch);
        phaseFirst[p] = clamp_int(ceil_div_signed(padLeft - p, sW), 0, width);
        phaseEnd[p] = clamp_int(ceil_div_signed(padLeft + inW - p, sW), phaseFirst[p], width);
    }
    int firstRow = clamp_int(padTop, 0, rows), endRow = clamp_int(padTop + inH, firstRow, rows);
    for (int r = firstRow; r < endRow; r++) {
        float *row = scratch + (size_t)r * rowPitch;
        for (int p = 0; p < sW; p++) {
            float *phase = row + (size_t)p * phasePitch;
            const float *source = input + (size_t)(r - padTop) * inW + p - padLeft;
            int j = phaseFirst[p], end = phaseEnd[p];
            if (sW == 1) {
                for (; j + VECTOR <= end; j += VECTOR) _mm256_storeu_ps(phase + j, _mm256_loadu_ps(source + j));
            } else if (sW == 2) {
                // Eight even (p = 0) or odd (p = 1) columns from sixteen, while all sixteen lie in the row.
                for (; j + 8 <= end && 2 * j + p - padLeft + 16 <= inW; j += 8) {
                    __m256 a = _mm256_loadu_ps(source + 2 * j), b = _mm256_loadu_ps(source + 2 * j + 8);
                    __m256 picked = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
                    _mm256_storeu_ps(phase + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(picked),
                                                                                       _MM_SHUFFLE(3, 1, 2, 0))));
                }
            }
            for (; j < end; j++) phase[j] = source[j * sW];
        }
    }

    // Each tap: its weight and where it reads, relative to the output row's first padded row.
    int taps = kH * kW;
    __m256 tapWeight[MAX_TAPS];
    int tapOffset[MAX_TAPS];
    for (int kh = 0; kh < kH; kh++) {
        for (int kw = 0; kw < kW; kw++) {
            int t = kh * kW + kw, column = kw * dW;
            tapWeight[t] = _mm256_set1_ps(weights[t]);
            tapOffset[t] = kh * dH * rowPitch + (column % sW) * phasePitch + column / sW;
        }
    }
    __m256 biasVector = _mm256_set1_ps(bias), lowVector = _mm256_set1_ps(low), highVector = _mm256_set1_ps(high);
    // max(low, x) and min(high, x) return x when x is NaN, so NaN propagates as in the Swift activations.
#define FINISH(v) _mm256_min_ps(highVector, _mm256_max_ps(lowVector, (v)))

    int tail = outW % VECTOR, wide = outW / (4 * VECTOR) * (4 * VECTOR);
    __m256i tailMask = lane_mask(tail);
    for (int oy = 0; oy < outH; oy++) {
        // Wide rows: four vectors of one row at a time.
        const float *base = scratch + (size_t)oy * sH * rowPitch;
        float *out = output + (size_t)oy * outW;
        for (int ox = 0; ox < wide; ox += 4 * VECTOR) {
            __m256 a0 = biasVector, a1 = biasVector, a2 = biasVector, a3 = biasVector;
            for (int t = 0; t < taps; t++) {
                const float *p = base + tapOffset[t] + ox;
                a0 = _mm256_fmadd_ps(tapWeight[t], _mm256_loadu_ps(p), a0);
                a1 = _mm256_fmadd_ps(tapWeight[t], _mm256_loadu_ps(p + VECTOR), a1);
                a2 = _mm256_fmadd_ps(tapWeight[t], _mm256_loadu_ps(p + 2 * VECTOR), a2);
                a3 = _mm256_fmadd_ps(tapWeight[t], _mm256_loadu_ps(p + 3 * VECTOR), a3);
            }
            _mm256_storeu_ps(out + ox, FINISH(a0));
            _mm256_storeu_ps(out + ox + VECTOR, FINISH(a1));
            _mm256_storeu_ps(out + ox + 2 * VECTOR, FINISH(a2));
            _mm256_storeu_ps(out + ox + 3 * VECTOR, FINISH(a3));
        }
    }
    // The remaining (or all, in narrow planes) columns: one vector of four rows at a time, so that
    // four independent sums hide the FMA latency. Rows past the end repeat the last row, unstored.
    for (int oy = 0; oy < outH; oy += 4) {
        const float *b0 = scratch + (size_t)oy * sH * rowPitch;
        const float *b1 = scratch + (size_t)(oy + 1 < outH ? oy + 1 : oy) * sH * rowPitch;
        const float *b2 = scratch + (size_t)(oy + 2 < outH ? oy + 2 : oy) * sH * rowPitch;
        const float *b3 = scratch + (size_t)(oy + 3 < outH ? oy + 3 : oy) * sH * rowPitch;
        int rowsHere = outH - oy < 4 ? outH - oy : 4;
        for (int ox = wide; ox < outW; ox += VECTOR) {
            __m256 a[4] = {biasVector, biasVector, biasVector, biasVector};
            for (int t = 0; t < taps; t++) {
                int offset = tapOffset[t] + ox;
                a[0] = _mm256_fmadd_ps(tapWeight[t], _mm256_loadu_ps(b0 + offset), a[0]);
                a[1] = _mm256_fmadd_ps(tapWeight[t], _mm256_loadu_ps(b1 + offset), a[1]);
                a[2] = _mm256_fmadd_ps(tapWeight[t], _mm256_loadu_ps(b2 + offset), a[2]);
                a[3] = _mm256_fmadd_ps(tapWeight[t], _mm256_loadu_ps(b3 + offset), a[3]);
            }
            for (int r = 0; r < rowsHere; r++) {
                float *out = output + (size_t)(oy + r) * outW + ox;
                if (ox + VECTOR <= outW) {
                    _mm256_storeu_ps(out, FINISH(a[r]));
                } else {
                    _mm256_maskstore_ps(out, tailMask, FINISH(a[r]));
                }
            }
        }
    }
#undef FINISH
}

#else

void seer_depthwise_plane(const float *input, int inH, int inW, const float *weights, int kH, int kW,
                          int sH, int sW, int dH, int dW, int padTop, int padLeft,
                          float bias, float low, float high,
                          float *output, int outH, int outW, float *scratch) {
    (void)input; (void)inH; (void)inW; (void)weights; (void)kH; (void)kW; (void)sH; (void)sW; (void)dH; (void)dW;
    (void)padTop; (void)padLeft; (void)bias; (void)low; (void)high; (void)output; (void)outH; (void)outW; (void)scratch;
}

#endif
