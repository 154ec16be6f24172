#include "CImageCodecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

struct seer_png_decoder {
    png_structp png;
    png_infop info;
    const uint8_t *data;
    size_t size;
    size_t offset;
    int header_read;
    png_bytepp rows;  // freed by destroy, also after a longjmp
    char message[256];
};

static void copy_message(char *destination, size_t capacity, const char *message) {
    if (capacity == 0) {
        return;
    }
    snprintf(destination, capacity, "%s", message != NULL ? message : "unknown libpng error");
}

// libpng's default error handler prints to stderr before jumping; this one only records.
static void on_decode_error(png_structp png, png_const_charp message) {
    seer_png_decoder *decoder = png_get_error_ptr(png);
    copy_message(decoder->message, sizeof decoder->message, message);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

static void read_from_memory(png_structp png, png_bytep output, size_t length) {
    seer_png_decoder *decoder = png_get_io_ptr(png);
    if (length > decoder->size - decoder->offset) {
        png_error(png, "premature end of PNG data");
    }
    memcpy(output, decoder->data + decoder->offset, length);
    decoder->offset += length;
}

// libpng allocates an ancillary chunk's declared length before reading it (its "chunk data is
// too large" check is only a benign warning), so a 1 KB file declaring a 2 GB zTXt made it
// allocate 2 GB. The data is all in memory: a chunk longer than what remains is refused here
// first. IDAT is streamed, not allocated; its truncation is left to libpng to report.
// Checks the chunks before the first IDAT when `before_idat`, else all of them up to IEND.
static int check_chunk_lengths(seer_png_decoder *decoder, int before_idat) {
    size_t offset = 8;
    while (decoder->size >= offset + 8) {
        const uint8_t *chunk = decoder->data + offset;
        size_t length = (size_t)chunk[0] << 24 | (size_t)chunk[1] << 16 | (size_t)chunk[2] << 8 | chunk[3];
        size_t remaining = decoder->size - offset - 8;  // after the length and type fields
        int is_idat = memcmp(chunk + 4, "IDAT", 4) == 0;
        if (memcmp(chunk + 4, "IEND", 4) == 0 || (is_idat && before_idat)) {
            return 0;
        }
        if (length + 4 > remaining) {  // data and CRC
            if (is_idat) {
                return 0;
            }
            snprintf(decoder->message, sizeof decoder->message,
                     "premature end of PNG data: the chunk at byte %zu declares %zu bytes, only %zu remain",
                     offset, length, remaining >= 4 ? remaining - 4 : 0);
            return 1;
        }
        offset += 12 + length;
    }
    return 0;
}

seer_png_decoder *seer_png_decoder_create(const uint8_t *data, size_t size) {
    seer_png_decoder *decoder = calloc(1, sizeof *decoder);
    if (decoder == NULL) {
        return NULL;
    }
    decoder->data = data;
    decoder->size = size;
    decoder->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, decoder, on_decode_error, on_warning);
    if (decoder->png == NULL) {
        free(decoder);
        return NULL;
    }
    decoder->info = png_create_info_struct(decoder->png);
    if (decoder->info == NULL) {
        png_destroy_read_struct(&decoder->png, NULL, NULL);
        free(decoder);
        return NULL;
    }
    png_set_read_fn(decoder->png, decoder, read_from_memory);
    // libpng refuses widths or heights over 1000000 by default, before the caller sees the header;
    // allow the format's maximum so that the caller's pixel limit decides (and names the size).
    png_set_user_limits(decoder->png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    return decoder;
}

int seer_png_read_header(seer_png_decoder *decoder, seer_png_header *header) {
    png_structp png = decoder->png;
    png_infop info = decoder->info;
    if (check_chunk_lengths(decoder, 1) != 0) {
        return 1;
    }
    if (setjmp(png_jmpbuf(png))) {
        return 1;
    }
    png_read_info(png, info);
    decoder->header_read = 1;
    int color_type = png_get_color_type(png, info);
    int has_alpha = (color_type & PNG_COLOR_MASK_ALPHA) != 0 || png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    header->width = png_get_image_width(png, info);
    header->height = png_get_image_height(png, info);
    header->bit_depth = png_get_bit_depth(png, info);
    header->color_type = color_type;
    header->interlaced = png_get_interlace_type(png, info) == PNG_INTERLACE_ADAM7 ? 1 : 0;
    header->has_alpha = has_alpha;
    header->channels = has_alpha ? 4 : 3;
    return 0;
}

int seer_png_decode(seer_png_decoder *decoder, uint8_t *pixels, size_t capacity) {
    png_structp png = decoder->png;
    png_infop info = decoder->info;
    if (!decoder->header_read) {
        copy_message(decoder->message, sizeof decoder->message, "PNG header was not read");
        return 1;
    }
    if (check_chunk_lengths(decoder, 0) != 0) {
        return 1;
    }
    if (setjmp(png_jmpbuf(png))) {
        return 1;
    }
    int color_type = png_get_color_type(png, info);
    int bit_depth = png_get_bit_depth(png, info);
    int has_alpha = (color_type & PNG_COLOR_MASK_ALPHA) != 0 || png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_set_palette_to_rgb(png);
    }
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) {
        png_set_expand_gray_1_2_4_to_8(png);
    }
    if (png_get_valid(png, info, PNG_INFO_tRNS)) {
        png_set_tRNS_to_alpha(png);
    }
    if (bit_depth == 16) {
        png_set_strip_16(png);
    }
    if ((color_type & PNG_COLOR_MASK_COLOR) == 0) {
        png_set_gray_to_rgb(png);
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    png_uint_32 width = png_get_image_width(png, info);
    png_uint_32 height = png_get_image_height(png, info);
    size_t channels = has_alpha ? 4 : 3;
    size_t row_bytes = (size_t)width * channels;
    if (png_get_rowbytes(png, info) != row_bytes || png_get_channels(png, info) != channels) {
        copy_message(decoder->message, sizeof decoder->message, "unexpected PNG row layout after expansion");
        return 1;
    }
    if ((size_t)height > capacity / (row_bytes > 0 ? row_bytes : 1)) {
        copy_message(decoder->message, sizeof decoder->message, "PNG output does not fit the buffer");
        return 1;
    }
    decoder->rows = malloc((size_t)height * sizeof(png_bytep));
    if (decoder->rows == NULL) {
        copy_message(decoder->message, sizeof decoder->message, "out of memory for PNG row pointers");
        return 1;
    }
    for (png_uint_32 y = 0; y < height; y++) {
        decoder->rows[y] = pixels + (size_t)y * row_bytes;
    }
    png_read_image(png, decoder->rows);
    png_read_end(png, NULL);
    return 0;
}

const char *seer_png_error_message(const seer_png_decoder *decoder) {
    return decoder->message;
}

void seer_png_decoder_destroy(seer_png_decoder *decoder) {
    if (decoder == NULL) {
        return;
    }
    png_destroy_read_struct(&decoder->png, &decoder->info, NULL);
    free(decoder->rows);
    free(decoder);
}

// MARK: Encoding

typedef struct encode_state {
    uint8_t *data;
    size_t size;
    size_t capacity;
    char message[256];
} encode_state;

static void on_encode_error(png_structp png, png_const_charp message) {
    encode_state *state = png_get_error_ptr(png);
    copy_message(state->message, sizeof state->message, message);
    png_longjmp(png, 1);
}

static void write_to_memory(png_structp png, png_bytep bytes, size_t length) {
    encode_state *state = png_get_io_ptr(png);
    if (length > state->capacity - state->size) {
        size_t needed = state->size + length;
        size_t grown = state->capacity > 0 ? state->capacity : 4096;
        while (grown < needed) {
            grown *= 2;
        }
        uint8_t *data = realloc(state->data, grown);
        if (data == NULL) {
            png_error(png, "out of memory while encoding PNG");
        }
        state->data = data;
        state->capacity = grown;
    }
    memcpy(state->data + state->size, bytes, length);
    state->size += length;
}

static void flush_memory(png_structp png) {
    (void)png;
}

int seer_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int32_t channels,
                    int32_t compression_level, uint8_t **output, size_t *output_size,
                    char *message, size_t message_capacity) {
    *output = NULL;
    *output_size = 0;
    int color_type;
    switch (channels) {
    case 1: color_type = PNG_COLOR_TYPE_GRAY; break;
    case 3: color_type = PNG_COLOR_TYPE_RGB; break;
    case 4: color_type = PNG_COLOR_TYPE_RGB_ALPHA; break;
    default:
        copy_message(message, message_capacity, "PNG encoding takes 1, 3 or 4 channels");
        return 1;
    }
    // Heap state: values changed between setjmp and longjmp must not live in non-volatile locals.
    encode_state *state = calloc(1, sizeof *state);
    if (state == NULL) {
        copy_message(message, message_capacity, "out of memory");
        return 1;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, state, on_encode_error, on_warning);
    png_infop info = png != NULL ? png_create_info_struct(png) : NULL;
    if (png == NULL || info == NULL) {
        png_destroy_write_struct(&png, &info);
        free(state);
        copy_message(message, message_capacity, "out of memory");
        return 1;
    }
    if (setjmp(png_jmpbuf(png))) {
        copy_message(message, message_capacity, state->message);
        png_destroy_write_struct(&png, &info);
        free(state->data);
        free(state);
        return 1;
    }
    png_set_write_fn(png, state, write_to_memory, flush_memory);
    png_set_compression_level(png, compression_level < 0 ? 0 : (compression_level > 9 ? 9 : compression_level));
    png_set_IHDR(png, info, width, height, 8, color_type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t row_bytes = (size_t)width * (size_t)channels;
    for (uint32_t y = 0; y < height; y++) {
        png_write_row(png, pixels + (size_t)y * row_bytes);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    *output = state->data;
    *output_size = state->size;
    free(state);
    return 0;
}

void seer_codec_free(void *pointer) {
    free(pointer);
}
