// Seer's two depthwise kernels on MobileNetV2's 3x3 depthwise layers, one thread: the plane kernel
// (seer_depthwise_plane, vectors along a row) against the channel kernel (seer_depthwise_channels,
// eight channels per vector), each over whole layers, fastest of 300 runs, with the largest difference
// between their outputs (both sum the taps in the same order, so it should be 0).
#include "CKernels.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *random_floats(size_t count, float offset) {
    float *values = aligned_alloc(64, (count * sizeof(float) + 63) / 64 * 64);
    for (size_t i = 0; i < count; i++) values[i] = rand() / (float)RAND_MAX + offset;
    return values;
}

int main(void) {
    // channels, input height = width, stride; 3x3 taps, pads 1, ReLU6 in the store (as in MobileNetV2).
    const int layers[][3] = {{32, 112, 1}, {96, 112, 2}, {144, 56, 1}, {144, 56, 2}, {192, 28, 1},
                             {192, 28, 2}, {384, 14, 1}, {576, 14, 1}, {576, 14, 2}, {960, 7, 1}};
    if (!seer_depthwise_supported(3, 3, 1)) {
        fprintf(stderr, "needs AVX2/FMA\n");
        return 1;
    }
    srand(1);
    printf("| layer | plane kernel ms | channel kernel ms | channel / plane | max difference |\n|---|---:|---:|---:|---:|\n");
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
        int channels = layers[l][0], size = layers[l][1], stride = layers[l][2];
        int out = (size + 2 - 3) / stride + 1;
        size_t inPlane = (size_t)size * size, outPlane = (size_t)out * out;
        float *input = random_floats(channels * inPlane, -0.5f), *weights = random_floats(9 * channels, -0.5f);
        float *bias = random_floats(channels, 0), *planeOut = random_floats(channels * outPlane, 0);
        float *channelOut = random_floats(channels * outPlane, 0);
        size_t planeScratch = seer_depthwise_scratch_floats(out, out, 3, 3, stride, stride, 1, 1);
        size_t channelScratch = seer_depthwise_channels_scratch_floats(out, out, 3, 3, stride, stride, 1, 1);
        float *scratch = random_floats(planeScratch > channelScratch ? planeScratch : channelScratch, 0);
        double plane = 1e9, channel = 1e9;
        for (int run = 0; run < 300; run++) {
            for (size_t i = 0; i < planeScratch; i++) scratch[i] = 0;
            double start = now();
            for (int c = 0; c < channels; c++) {
                seer_depthwise_plane(input + c * inPlane, size, size, weights + 9 * c, 3, 3, stride, stride, 1, 1,
                                     1, 1, bias[c], 0, 6, planeOut + c * outPlane, out, out, scratch);
            }
            double elapsed = now() - start;
            if (elapsed < plane) plane = elapsed;
            start = now();
            for (int c = 0; c < channels; c += 8) {
                seer_depthwise_channels(input + c * inPlane, size, size, weights + 9 * c, bias + c, 3, 3, stride,
                                        stride, 1, 1, 1, 1, 0, 6, channelOut + c * outPlane, out, out, 0, out, scratch);
            }
            elapsed = now() - start;
            if (elapsed < channel) channel = elapsed;
        }
        double difference = 0;
        for (size_t i = 0; i < channels * outPlane; i++) difference = fmax(difference, fabs(planeOut[i] - channelOut[i]));
        printf("| %d@%dx%d stride %d | %.4f | %.4f | %.2f | %.1g |\n", channels, size, size, stride, plane * 1e3,
               channel * 1e3, channel / plane, difference);
        free(input); free(weights); free(bias); free(planeOut); free(channelOut); free(scratch);
    }
    return 0;
}
