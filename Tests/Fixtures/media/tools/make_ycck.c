/* Writes a YCCK JPEG (Adobe inverted CMYK convention) from raw CMYK bytes, for test fixtures.
   Usage: make_ycck WIDTH HEIGHT INPUT.cmyk OUTPUT.jpg   (build: cc make_ycck.c -ljpeg) */
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s WIDTH HEIGHT INPUT.cmyk OUTPUT.jpg\n", argv[0]);
        return 2;
    }
    int width = atoi(argv[1]), height = atoi(argv[2]);
    size_t size = (size_t)width * height * 4;
    unsigned char *pixels = malloc(size);
    FILE *input = fopen(argv[3], "rb");
    if (!pixels || !input || fread(pixels, 1, size, input) != size) {
        fprintf(stderr, "cannot read %zu bytes from %s\n", size, argv[3]);
        return 1;
    }
    fclose(input);
    for (size_t i = 0; i < size; i++) pixels[i] = 255 - pixels[i];  /* Adobe stores inverted CMYK */
    FILE *output = fopen(argv[4], "wb");
    if (!output) return 1;
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr jerr;
    cinfo.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, output);
    cinfo.image_width = width;
    cinfo.image_height = height;
    cinfo.input_components = 4;
    cinfo.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&cinfo);
    jpeg_set_colorspace(&cinfo, JCS_YCCK);  /* also writes the Adobe marker, transform 2 */
    jpeg_set_quality(&cinfo, 95, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = pixels + (size_t)cinfo.next_scanline * width * 4;
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    fclose(output);
    free(pixels);
    return 0;
}
