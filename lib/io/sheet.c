/* A tiny bitmap font and contact sheets of frames with captions. See
 * include/avkit/io/png.h. */
#include "avkit/io/png.h"
#include "avkit/util/common.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* The 3x5 font: each glyph is five rows, top first, one octal digit a row
 * (4 = left column, 2 = middle, 1 = right). */
static const struct {
    char c;
    const char *rows;
} font[] = {
    {'A', "25755"}, {'B', "65656"}, {'C', "34443"}, {'D', "65556"}, {'E', "74647"},
    {'F', "74644"}, {'G', "34553"}, {'H', "55755"}, {'I', "72227"}, {'J', "11152"},
    {'K', "55655"}, {'L', "44447"}, {'M', "57755"}, {'N', "65555"}, {'O', "25552"},
    {'P', "65644"}, {'Q', "25563"}, {'R', "65655"}, {'S', "34216"}, {'T', "72222"},
    {'U', "55557"}, {'V', "55552"}, {'W', "55775"}, {'X', "55255"}, {'Y', "55222"},
    {'Z', "71247"}, {'0', "75557"}, {'1', "26227"}, {'2', "61247"}, {'3', "61216"},
    {'4', "55711"}, {'5', "74616"}, {'6', "34757"}, {'7', "71222"}, {'8', "75757"},
    {'9', "75716"}, {' ', "00000"}, {'.', "00002"}, {',', "00024"}, {'-', "00700"},
    {'\'', "22000"}, {':', "02020"}, {'!', "22202"}, {'?', "61202"}, {'/', "11244"},
    {'(', "12221"}, {')', "42224"}, {'+', "02720"}, {'=', "07070"}, {'_', "00007"},
};

/* The rows of a character's glyph ('?' for those the font lacks). */
static const char *glyph(int c)
{
    c = toupper(c);
    for (size_t i = 0; i < sizeof font / sizeof *font; i++)
        if (font[i].c == c)
            return font[i].rows;
    return "61202";
}

int avk_text_draw(uint8_t *rgb, int w, int h, int x, int y, int scale, const char *text,
                  const uint8_t color[3])
{
    for (const unsigned char *s = (const unsigned char *)text; *s; s++, x += 4 * scale) {
        const char *g = glyph(*s);
        for (int r = 0; r < 5; r++)
            for (int col = 0; col < 3; col++) {
                if (!((g[r] - '0') >> (2 - col) & 1))
                    continue;
                for (int dy = 0; dy < scale; dy++)
                    for (int dx = 0; dx < scale; dx++) {
                        int px = x + col * scale + dx, py = y + r * scale + dy;
                        if (px >= 0 && px < w && py >= 0 && py < h)
                            memcpy(rgb + ((size_t)py * w + px) * 3, color, 3);
                    }
            }
    }
    return x;
}

/* Layout: a margin of 4 pixels around and between frames; each row's
 * caption (font scale 2, 10 pixels high) sits above its frames, cut to the
 * sheet's width. Light gray background, black text. */
uint8_t *avk_sheet_render(const uint8_t *const *frames, int rows, int cols, int fw, int fh,
                          const char *const *captions, int *w, int *h)
{
    const int gap = 4, scale = 2, text_h = 5 * scale + gap;
    int W = gap + cols * (fw + gap);
    int minw = gap + 24 * 4 * scale;            /* room for at least 24 characters */
    if (W < minw)
        W = minw;
    int row_h = text_h + fh + gap, H = gap + rows * row_h;
    uint8_t *img = avk_xmalloc((size_t)W * H * 3);
    memset(img, 224, (size_t)W * H * 3);
    static const uint8_t ink[3] = {0, 0, 0};
    int maxc = (W - 2 * gap) / (4 * scale);
    char *line = avk_xmalloc((size_t)maxc + 1);
    for (int r = 0; r < rows; r++) {
        int y0 = gap + r * row_h;
        const char *cap = captions && captions[r] ? captions[r] : "";
        size_t n = strlen(cap);
        if (n > (size_t)maxc) {                 /* cut, and say so */
            memcpy(line, cap, (size_t)maxc);
            if (maxc >= 3)
                memcpy(line + maxc - 3, "...", 3);
            n = (size_t)maxc;
        } else {
            memcpy(line, cap, n);
        }
        line[n] = 0;
        avk_text_draw(img, W, H, gap, y0, scale, line, ink);
        for (int c = 0; c < cols; c++) {
            const uint8_t *f = frames[(size_t)r * cols + c];
            if (!f)
                continue;
            int x0 = gap + c * (fw + gap);
            for (int y = 0; y < fh; y++)
                memcpy(img + ((size_t)(y0 + text_h + y) * W + x0) * 3, f + (size_t)y * fw * 3,
                       (size_t)fw * 3);
        }
    }
    free(line);
    *w = W;
    *h = H;
    return img;
}
