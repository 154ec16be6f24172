// Thin C shims over libjpeg and libpng. Both libraries report fatal errors by longjmp, which
// Swift cannot catch; every function here sets its own setjmp point and returns a status
// instead (0 = success), with the library's message readable afterwards.
#ifndef SEER_CIMAGECODECS_H
#define SEER_CIMAGECODECS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// JPEG colour spaces as seen in the file (values of libjpeg's J_COLOR_SPACE).
typedef struct seer_jpeg_header {
    uint32_t width;
    uint32_t height;
    int32_t components;       // components in the file: 1, 3 or 4
    int32_t color_space;      // libjpeg J_COLOR_SPACE of the file
    int32_t saw_adobe_marker; // 1 when an Adobe APP14 marker is present
    int32_t progressive;      // 1 for progressive (multi-scan) files
} seer_jpeg_header;

typedef struct seer_jpeg_decoder seer_jpeg_decoder;

/// Creates a decoder over `data` (not copied: it must outlive the decoder).
/// `max_scans` bounds the number of scans of a progressive file (a known CPU-exhaustion vector).
/// Returns NULL only when out of memory.
seer_jpeg_decoder *seer_jpeg_decoder_create(const uint8_t *data, size_t size, int32_t max_scans);

/// Reads the markers up to the first scan. No pixel memory is allocated. Returns 0 on success,
/// 1 on failure (see the message), 2 when the frame claims a width or height over libjpeg's
/// 65500 (only `width` and `height` are set).
int seer_jpeg_read_header(seer_jpeg_decoder *decoder, seer_jpeg_header *header);

/// Decodes to 8-bit RGB, row-major interleaved, into `rgb` (capacity >= width * height * 3).
/// Grayscale is replicated, YCbCr converted by libjpeg; CMYK and YCCK are converted to RGB, with
/// Adobe's inverted convention when the Adobe marker is present. A premature end of data is an error.
int seer_jpeg_decode_rgb(seer_jpeg_decoder *decoder, uint8_t *rgb, size_t capacity);

/// The message of the last failure ("" when none).
const char *seer_jpeg_error_message(const seer_jpeg_decoder *decoder);

void seer_jpeg_decoder_destroy(seer_jpeg_decoder *decoder);

typedef struct seer_png_header {
    uint32_t width;
    uint32_t height;
    int32_t bit_depth;   // 1, 2, 4, 8 or 16
    int32_t color_type;  // PNG_COLOR_TYPE_*
    int32_t interlaced;  // 1 for Adam7
    int32_t has_alpha;   // alpha channel or tRNS chunk
    int32_t channels;    // channels seer_png_decode writes: 4 when has_alpha, else 3
} seer_png_header;

typedef struct seer_png_decoder seer_png_decoder;

/// Creates a decoder over `data` (not copied). Returns NULL only when out of memory.
seer_png_decoder *seer_png_decoder_create(const uint8_t *data, size_t size);

/// Reads the signature and the chunks before the image data. No pixel memory is allocated.
int seer_png_read_header(seer_png_decoder *decoder, seer_png_header *header);

/// Decodes to 8-bit RGB (or RGBA when header.has_alpha), row-major interleaved, into `pixels`
/// (capacity >= width * height * channels). Palettes and low bit depths are expanded, 16-bit
/// samples keep their high byte, gray is replicated. The gAMA chunk is ignored.
int seer_png_decode(seer_png_decoder *decoder, uint8_t *pixels, size_t capacity);

const char *seer_png_error_message(const seer_png_decoder *decoder);

void seer_png_decoder_destroy(seer_png_decoder *decoder);

/// Encodes 8-bit gray (channels 1), RGB (3) or RGBA (4) pixels as PNG. On success `*output`
/// holds `*output_size` bytes to release with seer_codec_free. On failure the message is copied
/// into `message` (NUL-terminated, truncated to `message_capacity`).
int seer_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int32_t channels,
                    int32_t compression_level, uint8_t **output, size_t *output_size,
                    char *message, size_t message_capacity);

void seer_codec_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif
