// The table of FFmpeg functions Seer calls, loaded with dlopen/dlsym on first use.
// (A header of its own: every pointer in it carries a nullability annotation.)
#ifndef SEER_FFMPEG_H
#define SEER_FFMPEG_H

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavformat/avio.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <libavutil/mem.h>
#include <libavutil/time.h>
#include <libswscale/swscale.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Every FFmpeg function Seer calls, with the library that defines it. Seer does not link FFmpeg:
/// these are resolved with dlsym when video is first decoded.
#define SEER_FFMPEG_FUNCTIONS(F) \
    F(SEER_AVUTIL, av_malloc) \
    F(SEER_AVUTIL, av_mallocz) \
    F(SEER_AVUTIL, av_free) \
    F(SEER_AVUTIL, av_freep) \
    F(SEER_AVUTIL, av_strdup) \
    F(SEER_AVUTIL, av_strerror) \
    F(SEER_AVUTIL, av_gettime_relative) \
    F(SEER_AVUTIL, av_log_set_level) \
    F(SEER_AVUTIL, av_frame_alloc) \
    F(SEER_AVUTIL, av_frame_free) \
    F(SEER_AVUTIL, av_frame_unref) \
    F(SEER_SWSCALE, sws_getCachedContext) \
    F(SEER_SWSCALE, sws_scale) \
    F(SEER_SWSCALE, sws_freeContext) \
    F(SEER_AVCODEC, avcodec_get_name) \
    F(SEER_AVCODEC, avcodec_alloc_context3) \
    F(SEER_AVCODEC, avcodec_parameters_to_context) \
    F(SEER_AVCODEC, avcodec_open2) \
    F(SEER_AVCODEC, avcodec_free_context) \
    F(SEER_AVCODEC, avcodec_send_packet) \
    F(SEER_AVCODEC, avcodec_receive_frame) \
    F(SEER_AVCODEC, av_packet_alloc) \
    F(SEER_AVCODEC, av_packet_free) \
    F(SEER_AVCODEC, av_packet_unref) \
    F(SEER_AVFORMAT, avio_alloc_context) \
    F(SEER_AVFORMAT, avio_context_free) \
    F(SEER_AVFORMAT, avformat_alloc_context) \
    F(SEER_AVFORMAT, avformat_open_input) \
    F(SEER_AVFORMAT, avformat_close_input) \
    F(SEER_AVFORMAT, avformat_find_stream_info) \
    F(SEER_AVFORMAT, av_find_best_stream) \
    F(SEER_AVFORMAT, av_read_frame)

/// FFmpeg's four libraries, in the order they are loaded (each after those it depends on).
enum seer_ffmpeg_library { SEER_AVUTIL, SEER_SWSCALE, SEER_AVCODEC, SEER_AVFORMAT, SEER_FFMPEG_LIBRARY_COUNT };

#define SEER_FFMPEG_FIELD(library, name) __typeof__(&name) _Nonnull name;
/// Pointers to FFmpeg's functions, each named and typed as the function (from the headers).
typedef struct seer_ffmpeg {
    SEER_FFMPEG_FUNCTIONS(SEER_FFMPEG_FIELD)
} seer_ffmpeg;
#undef SEER_FFMPEG_FIELD

/// Loads libavutil, libswscale, libavcodec and libavformat (the sonames their headers' major
/// versions give, e.g. libavcodec.so.59) and resolves every function, once per process (later calls
/// return the first result). Silences FFmpeg's logging (bad input is reported by return codes).
/// NULL when a library or function is missing: seer_ffmpeg_load_error() then says which.
const seer_ffmpeg *_Nullable seer_ffmpeg_load(void);

/// Why seer_ffmpeg_load() failed (names the library and gives dlerror's reason); "" if it did not.
const char *_Nonnull seer_ffmpeg_load_error(void);

#ifdef __cplusplus
}
#endif

#endif
