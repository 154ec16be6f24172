// The parts of FFmpeg that Swift cannot express directly: loading FFmpeg's shared libraries on
// first use, an AVIOContext that reads from a memory buffer (C callbacks), FFmpeg's error macros,
// and a deadline checked by the demuxer's interrupt callback.
#ifndef SEER_CVIDEOIO_H
#define SEER_CVIDEOIO_H

#include <stddef.h>
#include <stdint.h>
#include "seer_ffmpeg.h"

#ifdef __cplusplus
extern "C" {
#endif

// Every function below needs seer_ffmpeg_load() to have succeeded first.

/// A demuxer reading `size` bytes at `data` (not copied: it must outlive the input).
/// Only formats in `format_whitelist` (comma-separated demuxer names) are probed.
/// The demuxer gives up (AVERROR_EXIT) once av_gettime_relative() passes `deadline_us`.
typedef struct seer_video_input seer_video_input;

/// Returns NULL when out of memory.
seer_video_input *seer_video_input_create(const uint8_t *data, size_t size, int64_t deadline_us);

/// Opens the container and reads its header (not avformat_find_stream_info, so a caller can
/// check the declared sizes before any frame is decoded). 0 on success, else an AVERROR code.
/// On success `*format` is owned by the input.
int seer_video_input_open(seer_video_input *input, const char *format_whitelist, int64_t probe_bytes,
                          struct AVFormatContext **format);

/// Frees the demuxer, its I/O buffer and the input.
void seer_video_input_destroy(seer_video_input *input);

/// Bytes the demuxer has read so far (the largest position reached).
size_t seer_video_input_bytes_read(const seer_video_input *input);

/// 1 when the deadline has passed.
int seer_video_input_expired(const seer_video_input *input);

/// Converts (and resizes) a decoded frame into one packed plane at `destination` with rows of
/// `stride` bytes: `pixel_format` is an AVPixelFormat (RGB24 or GRAY8). `*scaler` is a cached
/// swscale context, created or replaced as needed; free it with sws_freeContext.
/// 0 on success, else a negative AVERROR code.
int seer_scale_frame(struct SwsContext **scaler, const struct AVFrame *frame, int width, int height,
                     int pixel_format, int flags, uint8_t *destination, int stride);

int seer_averror_eof(void);
int seer_averror_eagain(void);
int seer_averror_exit(void);
int seer_averror_invaliddata(void);
int seer_averror_decoder_not_found(void);
int64_t seer_av_nopts_value(void);

/// FFmpeg's message for an error code, written into `buffer`.
void seer_error_string(int code, char *buffer, size_t size);

#ifdef __cplusplus
}
#endif

#endif
