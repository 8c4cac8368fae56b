/* PNG images out (8-bit RGB, one IDAT, zlib's deflate), and contact
 * sheets: rows of frames, each under a line of text in a small built-in
 * bitmap font. For showing sampled videos at a glance. */
#ifndef AVKIT_IO_PNG_H
#define AVKIT_IO_PNG_H

#include <stdint.h>

/* Write an RGB24 image (w x h, rows top to bottom) as a PNG, through a
 * temporary file renamed into place. 0 or -1 (error set). */
int avk_png_write(const char *path, const uint8_t *rgb, int w, int h);

/* Draw text into an RGB24 image at (x, y) in the built-in 3x5 font scaled
 * by `scale` (each glyph 4 * scale wide with its gap, 5 * scale high),
 * clipped to the image. Letters print in capitals; characters the font
 * lacks print as '?'. Returns the x after the last glyph. */
int avk_text_draw(uint8_t *rgb, int w, int h, int x, int y, int scale, const char *text,
                  const uint8_t color[3]);

/* A contact sheet: `rows` rows of `cols` frames of fw x fh (RGB24,
 * frames[r * cols + c]; NULL leaves a cell blank), each row under its
 * caption. Returns the malloc'ed image and its size in *w, *h. */
uint8_t *avk_sheet_render(const uint8_t *const *frames, int rows, int cols, int fw, int fh,
                          const char *const *captions, int *w, int *h);

#endif
