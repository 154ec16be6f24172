#include "CImageCodecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

struct seer_jpeg_decoder {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr error_manager;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    const uint8_t *data;
    size_t size;
    int32_t max_scans;
    int header_read;
    char message[JMSG_LENGTH_MAX + 64];
};

static seer_jpeg_decoder *decoder_of(j_common_ptr cinfo) {
    // cinfo is the first member of the decoder.
    return (seer_jpeg_decoder *)cinfo;
}

static void fail_with_library_message(j_common_ptr cinfo) {
    seer_jpeg_decoder *decoder = decoder_of(cinfo);
    (*cinfo->err->format_message)(cinfo, decoder->message);
    longjmp(decoder->jump, 1);
}

// libjpeg's default error_exit prints and calls exit(); this one returns to the setjmp point.
static void on_error_exit(j_common_ptr cinfo) {
    fail_with_library_message(cinfo);
}

// Warnings are ignored except running out of data: libjpeg would pad the rest of the image
// with grey and succeed; a truncated upload is an error here.
static void on_emit_message(j_common_ptr cinfo, int level) {
    if (level < 0) {
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
            fail_with_library_message(cinfo);
        }
        cinfo->err->num_warnings++;
    }
}

static void on_output_message(j_common_ptr cinfo) {
    (void)cinfo;
}

static void on_progress(j_common_ptr cinfo) {
    seer_jpeg_decoder *decoder = decoder_of(cinfo);
    if (decoder->cinfo.input_scan_number > decoder->max_scans) {
        snprintf(decoder->message, sizeof decoder->message,
                 "JPEG has more than %d scans", (int)decoder->max_scans);
        longjmp(decoder->jump, 1);
    }
}

seer_jpeg_decoder *seer_jpeg_decoder_create(const uint8_t *data, size_t size, int32_t max_scans) {
    seer_jpeg_decoder *decoder = calloc(1, sizeof *decoder);
    if (decoder == NULL) {
        return NULL;
    }
    decoder->data = data;
    decoder->size = size;
    decoder->max_scans = max_scans > 0 ? max_scans : 1;
    decoder->cinfo.err = jpeg_std_error(&decoder->error_manager);
    decoder->error_manager.error_exit = on_error_exit;
    decoder->error_manager.emit_message = on_emit_message;
    decoder->error_manager.output_message = on_output_message;
    if (setjmp(decoder->jump)) {
        // jpeg_create_decompress only fails when out of memory.
        free(decoder);
        return NULL;
    }
    jpeg_create_decompress(&decoder->cinfo);
    decoder->progress.progress_monitor = on_progress;
    decoder->cinfo.progress = &decoder->progress;
    return decoder;
}

int seer_jpeg_read_header(seer_jpeg_decoder *decoder, seer_jpeg_header *header) {
    if (decoder->size == 0) {
        snprintf(decoder->message, sizeof decoder->message, "empty JPEG data");
        return 1;
    }
    if (setjmp(decoder->jump)) {
        if (decoder->cinfo.err->msg_code == JERR_IMAGE_TOO_BIG) {
            // The frame header was read: report the size it claims, beyond JPEG_MAX_DIMENSION.
            header->width = decoder->cinfo.image_width;
            header->height = decoder->cinfo.image_height;
            return 2;
        }
        return 1;
    }
    jpeg_mem_src(&decoder->cinfo, decoder->data, (unsigned long)decoder->size);
    jpeg_read_header(&decoder->cinfo, TRUE);
    decoder->header_read = 1;
    header->width = decoder->cinfo.image_width;
    header->height = decoder->cinfo.image_height;
    header->components = decoder->cinfo.num_components;
    header->color_space = (int32_t)decoder->cinfo.jpeg_color_space;
    header->saw_adobe_marker = decoder->cinfo.saw_Adobe_marker ? 1 : 0;
    header->progressive = decoder->cinfo.progressive_mode ? 1 : 0;
    return 0;
}

// PIL's rounding of a * b / 255.
static uint8_t multiply_255(unsigned a, unsigned b) {
    unsigned product = a * b + 128;
    return (uint8_t)(((product >> 8) + product) >> 8);
}

static void cmyk_row_to_rgb(const JSAMPLE *cmyk, uint8_t *rgb, JDIMENSION width, int adobe_inverted) {
    for (JDIMENSION x = 0; x < width; x++, cmyk += 4, rgb += 3) {
        // Adobe stores 255 - value: the inverted samples are already "amounts of white".
        unsigned c = adobe_inverted ? cmyk[0] : 255u - cmyk[0];
        unsigned m = adobe_inverted ? cmyk[1] : 255u - cmyk[1];
        unsigned y = adobe_inverted ? cmyk[2] : 255u - cmyk[2];
        unsigned k = adobe_inverted ? cmyk[3] : 255u - cmyk[3];
        rgb[0] = multiply_255(c, k);
        rgb[1] = multiply_255(m, k);
        rgb[2] = multiply_255(y, k);
    }
}

int seer_jpeg_decode_rgb(seer_jpeg_decoder *decoder, uint8_t *rgb, size_t capacity) {
    struct jpeg_decompress_struct *cinfo = &decoder->cinfo;
    if (!decoder->header_read) {
        snprintf(decoder->message, sizeof decoder->message, "JPEG header was not read");
        return 1;
    }
    if (setjmp(decoder->jump)) {
        return 1;
    }
    int four_components = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
    cinfo->out_color_space = four_components ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(cinfo);

    JDIMENSION width = cinfo->output_width;
    size_t row_bytes = (size_t)width * 3;
    if ((size_t)cinfo->output_height * row_bytes > capacity || cinfo->output_components != (four_components ? 4 : 3)) {
        snprintf(decoder->message, sizeof decoder->message,
                 "JPEG output %ux%ux%d does not fit the buffer", (unsigned)width,
                 (unsigned)cinfo->output_height, cinfo->output_components);
        jpeg_abort_decompress(cinfo);
        return 1;
    }
    // Freed with the decompressor (pool JPOOL_IMAGE).
    JSAMPARRAY cmyk_row = four_components
        ? (*cinfo->mem->alloc_sarray)((j_common_ptr)cinfo, JPOOL_IMAGE, width * 4, 1)
        : NULL;
    int adobe_inverted = cinfo->saw_Adobe_marker ? 1 : 0;
    while (cinfo->output_scanline < cinfo->output_height) {
        uint8_t *destination = rgb + (size_t)cinfo->output_scanline * row_bytes;
        if (four_components) {
            if (jpeg_read_scanlines(cinfo, cmyk_row, 1) != 1) {
                break;
            }
            cmyk_row_to_rgb(cmyk_row[0], destination, width, adobe_inverted);
        } else {
            JSAMPROW row = destination;
            if (jpeg_read_scanlines(cinfo, &row, 1) != 1) {
                break;
            }
        }
    }
    if (cinfo->output_scanline < cinfo->output_height) {
        snprintf(decoder->message, sizeof decoder->message, "JPEG decoding stopped at row %u of %u",
                 (unsigned)cinfo->output_scanline, (unsigned)cinfo->output_height);
        jpeg_abort_decompress(cinfo);
        return 1;
    }
    jpeg_finish_decompress(cinfo);
    return 0;
}

const char *seer_jpeg_error_message(const seer_jpeg_decoder *decoder) {
    return decoder->message;
}

void seer_jpeg_decoder_destroy(seer_jpeg_decoder *decoder) {
    if (decoder == NULL) {
        return;
    }
    jpeg_destroy_decompress(&decoder->cinfo);
    free(decoder);
}
