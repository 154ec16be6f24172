// Depthwise 2-D convolution eight channels at a time with AVX2/FMA, for the planes where vectors along
// a row go to waste (small planes, strided windows).
//
// A strip of the eight input planes' rows is transposed into a zero-bordered scratch that holds the
// eight channels of each pixel side by side (pixel-major). One vector then holds one pixel of all
// eight channels and one tap of eight output pixels is eight full-width FMAs, whatever the stride or
// the plane's width. The 8x8 block of sums (pixels × channels) is transposed back as it is stored,
// so input and output stay in the runtime's NCHW layout.
#include "CKernels.h"
#include "vector_support.h"

enum { LANES = 8, MAX_TAPS = 64 };

/// The strip's scratch: padded rows, and pixels per row (output columns rounded up to whole vectors).
static void strip_extent(int stripRows, int outW, int kH, int kW, int sH, int sW, int dH, int dW,
                         int *rows, int *pixels) {
    *rows = (stripRows - 1) * sH + (kH - 1) * dH + 1;
    *pixels = (ceil_div(outW, LANES) * LANES - 1) * sW + (kW - 1) * dW + 1;
}

size_t seer_depthwise_channels_scratch_floats(int stripRows, int outW, int kH, int kW, int sH, int sW,
                                              int dH, int dW) {
    int rows, pixels;
    strip_extent(stripRows, outW, kH, kW, sH, sW, dH, dW, &rows, &pixels);
    return (size_t)rows * pixels * LANES;
}

#if defined(__x86_64__) || defined(__i386__)

#define AVX2_FMA __attribute__((target("avx2,fma")))

/// Scratch row `row` of the strip: input row `iy` of the eight planes, pixel-major, zero outside the plane.
AVX2_FMA static void fill_row(const float *input, int inH, int inW, int iy, int padLeft, int pixels, float *row) {
    __m256 zero = _mm256_setzero_ps();
    if (iy < 0 || iy >= inH) {
        for (int p = 0; p < pixels; p++) _mm256_storeu_ps(row + (size_t)p * LANES, zero);
        return;
    }
    int first = clamp_int(padLeft, 0, pixels), end = clamp_int(padLeft + inW, first, pixels);
    for (int p = 0; p < first; p++) _mm256_storeu_ps(row + (size_t)p * LANES, zero);
    for (int p = end; p < pixels; p++) _mm256_storeu_ps(row + (size_t)p * LANES, zero);
    size_t planeSize = (size_t)inH * inW;
    const float *source = input + (size_t)iy * inW + (first - padLeft);
    for (int p = first; p < end; p += LANES) {
        int count = end - p < LANES ? end - p : LANES;
        const float *column = source + (p - first);
        __m256 block[LANES];
        if (count == LANES) {
            for (int c = 0; c < LANES; c++) block[c] = _mm256_loadu_ps(column + c * planeSize);
        } else {
            __m256i mask = lane_mask(count);
            for (int c = 0; c < LANES; c++) block[c] = _mm256_maskload_ps(column + c * planeSize, mask);
        }
        transpose8(block);
        for (int j = 0; j < count; j++) _mm256_storeu_ps(row + (size_t)(p + j) * LANES, block[j]);
    }
}

AVX2_FMA void seer_depthwise_channels(const float *input, int inH, int inW, const float *weights,
                                      const float *bias, int kH, int kW, int sH, int sW, int dH, int dW,
                                      int padTop, int padLeft, float low, float high,
                                      float *output, int outH, int outW, int firstRow, int endRow,
                                      float *scratch) {
    if (firstRow >= endRow) return;
    int rows, pixels;
    strip_extent(endRow - firstRow, outW, kH, kW, sH, sW, dH, dW, &rows, &pixels);
    size_t rowFloats = (size_t)pixels * LANES;
    for (int r = 0; r < rows; r++) {
        fill_row(input, inH, inW, firstRow * sH - padTop + r, padLeft, pixels, scratch + r * rowFloats);
    }

    // Tap t of the eight channels: weights[c·taps + t] for c = 0...7.
    int taps = kH * kW;
    __m256 tapWeight[MAX_TAPS];
    for (int t = 0; t < taps; t += LANES) {
        int count = taps - t < LANES ? taps - t : LANES;
        __m256i mask = lane_mask(count);
        __m256 block[LANES];
        for (int c = 0; c < LANES; c++) block[c] = _mm256_maskload_ps(weights + c * taps + t, mask);
        transpose8(block);
        for (int j = 0; j < count; j++) tapWeight[t + j] = block[j];
    }
    __m256 start = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
    __m256 lowVector = _mm256_set1_ps(low), highVector = _mm256_set1_ps(high);

    size_t planeSize = (size_t)outH * outW;
    size_t pixelStep = (size_t)sW * LANES;
    for (int oy = firstRow; oy < endRow; oy++) {
        const float *top = scratch + (size_t)(oy - firstRow) * sH * rowFloats;
        for (int ox = 0; ox < outW; ox += LANES) {
            __m256 sum[LANES];
            for (int j = 0; j < LANES; j++) sum[j] = start;
            for (int kh = 0; kh < kH; kh++) {
                const float *row = top + (size_t)kh * dH * rowFloats + (size_t)ox * pixelStep;
                for (int kw = 0; kw < kW; kw++) {
                    __m256 weight = tapWeight[kh * kW + kw];
                    const float *pixel = row + (size_t)kw * dW * LANES;
                    for (int j = 0; j < LANES; j++) {
                        sum[j] = _mm256_fmadd_ps(weight, _mm256_loadu_ps(pixel + j * pixelStep), sum[j]);
                    }
                }
            }
            // max(low, x) and min(high, x) return x when x is NaN, so NaN propagates as in the Swift activations.
            for (int j = 0; j < LANES; j++) sum[j] = _mm256_min_ps(highVector, _mm256_max_ps(lowVector, sum[j]));
            transpose8(sum);
            float *out = output + (size_t)oy * outW + ox;
            if (oy * outW + ox + LANES <= endRow * outW) {
                // A row's last, partial vector may spill into the plane's next rows, which this call
                // computes (and so overwrites) afterwards; masked stores are slow on AMD.
                for (int c = 0; c < LANES; c++) _mm256_storeu_ps(out + c * planeSize, sum[c]);
            } else {
                float spill[LANES];
                for (int c = 0; c < LANES; c++) {
                    _mm256_storeu_ps(spill, sum[c]);
                    for (int j = 0; j < outW - ox; j++) out[c * planeSize + j] = spill[j];
                }
            }
        }
    }
}

#else

void seer_depthwise_channels(const float *input, int inH, int inW, const float *weights,
                             const float *bias, int kH, int kW, int sH, int sW, int dH, int dW,
                             int padTop, int padLeft, float low, float high,
                             float *output, int outH, int outW, int firstRow, int endRow, float *scratch) {
    (void)input; (void)inH; (void)inW; (void)weights; (void)bias; (void)kH; (void)kW; (void)sH; (void)sW;
    (void)dH; (void)dW; (void)padTop; (void)padLeft; (void)low; (void)high; (void)output; (void)outH;
    (void)outW; (void)firstRow; (void)endRow; (void)scratch;
}

#endif
