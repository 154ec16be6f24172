#include "CVideoIO.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SEER_IO_BUFFER = 32768 };

/// FFmpeg's functions. Callers load them first (seer_ffmpeg_load), so a failure here is a bug.
static const seer_ffmpeg *av(void) {
    const seer_ffmpeg *functions = seer_ffmpeg_load();
    if (!functions) {
        fprintf(stderr, "CVideoIO called before FFmpeg was loaded: %s\n", seer_ffmpeg_load_error());
        abort();
    }
    return functions;
}

struct seer_video_input {
    const uint8_t *data;
    size_t size;
    size_t position;
    size_t high_water;
    int64_t deadline_us;
    AVIOContext *io;
    AVFormatContext *format;
};

static int read_packet(void *opaque, uint8_t *buffer, int capacity) {
    seer_video_input *input = opaque;
    if (input->position >= input->size) return AVERROR_EOF;
    size_t remaining = input->size - input->position;
    size_t count = remaining < (size_t)capacity ? remaining : (size_t)capacity;
    memcpy(buffer, input->data + input->position, count);
    input->position += count;
    if (input->position > input->high_water) input->high_water = input->position;
    return (int)count;
}

static int64_t seek(void *opaque, int64_t offset, int whence) {
    seer_video_input *input = opaque;
    int64_t base;
    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE: return (int64_t)input->size;
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = (int64_t)input->position; break;
    case SEEK_END: base = (int64_t)input->size; break;
    default: return AVERROR(EINVAL);
    }
    int64_t target = base + offset;
    if (target < 0 || target > (int64_t)input->size) return AVERROR(EINVAL);
    input->position = (size_t)target;
    return target;
}

static int interrupted(void *opaque) {
    const seer_video_input *input = opaque;
    return av()->av_gettime_relative() > input->deadline_us;
}

seer_video_input *seer_video_input_create(const uint8_t *data, size_t size, int64_t deadline_us) {
    seer_video_input *input = av()->av_mallocz(sizeof(seer_video_input));
    if (!input) return NULL;
    input->data = data;
    input->size = size;
    input->deadline_us = deadline_us;
    uint8_t *buffer = av()->av_malloc(SEER_IO_BUFFER);
    if (!buffer) { av()->av_free(input); return NULL; }
    input->io = av()->avio_alloc_context(buffer, SEER_IO_BUFFER, 0, input, read_packet, NULL, seek);
    if (!input->io) { av()->av_free(buffer); av()->av_free(input); return NULL; }
    return input;
}

int seer_video_input_open(seer_video_input *input, const char *format_whitelist, int64_t probe_bytes,
                          AVFormatContext **format) {
    AVFormatContext *context = av()->avformat_alloc_context();
    if (!context) return AVERROR(ENOMEM);
    context->pb = input->io;
    context->flags |= AVFMT_FLAG_CUSTOM_IO;
    context->interrupt_callback.callback = interrupted;
    context->interrupt_callback.opaque = input;
    context->format_whitelist = av()->av_strdup(format_whitelist);
    context->probesize = probe_bytes;
    // avformat_open_input frees the context on failure.
    int status = av()->avformat_open_input(&context, NULL, NULL, NULL);
    if (status < 0) return status;
    input->format = context;
    *format = context;
    return 0;
}

void seer_video_input_destroy(seer_video_input *input) {
    if (!input) return;
    if (input->format) av()->avformat_close_input(&input->format);
    if (input->io) {
        av()->av_freep(&input->io->buffer);
        av()->avio_context_free(&input->io);
    }
    av()->av_free(input);
}

size_t seer_video_input_bytes_read(const seer_video_input *input) { return input->high_water; }
int seer_video_input_expired(const seer_video_input *input) { return av()->av_gettime_relative() > input->deadline_us; }

int seer_scale_frame(struct SwsContext **scaler, const AVFrame *frame, int width, int height,
                     int pixel_format, int flags, uint8_t *destination, int stride) {
    if (frame->width <= 0 || frame->height <= 0 || width <= 0 || height <= 0) return AVERROR(EINVAL);
    *scaler = av()->sws_getCachedContext(*scaler, frame->width, frame->height, (enum AVPixelFormat)frame->format,
                                   width, height, (enum AVPixelFormat)pixel_format, flags, NULL, NULL, NULL);
    if (!*scaler) return AVERROR(EINVAL);
    uint8_t *planes[4] = { destination, NULL, NULL, NULL };
    int strides[4] = { stride, 0, 0, 0 };
    int rows = av()->sws_scale(*scaler, (const uint8_t *const *)frame->data, frame->linesize, 0, frame->height, planes, strides);
    return rows == height ? 0 : AVERROR(EINVAL);
}

int seer_averror_eof(void) { return AVERROR_EOF; }
int seer_averror_eagain(void) { return AVERROR(EAGAIN); }
int seer_averror_exit(void) { return AVERROR_EXIT; }
int seer_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
int seer_averror_decoder_not_found(void) { return AVERROR_DECODER_NOT_FOUND; }
int64_t seer_av_nopts_value(void) { return AV_NOPTS_VALUE; }

void seer_error_string(int code, char *buffer, size_t size) {
    if (av()->av_strerror(code, buffer, size) < 0) snprintf(buffer, size, "FFmpeg error %d", code);
}
