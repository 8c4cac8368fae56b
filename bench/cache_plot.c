/* The diffusion cache's trade-off as a PNG, for bench/cache.sh: one point
 * per threshold, x = how many times fewer transformer evaluations than
 * uncached, y = mean PSNR (dB) of the decoded video against the uncached
 * one (inf drawn at the top), joined in threshold order; red lines mark
 * the targets (2.5x, 32 dB). Ticks every 0.5x and every 5 dB, labelled in
 * a small built-in digit font.
 *
 *   cache_plot CACHE.tsv OUT.png
 *
 * CACHE.tsv: bench/cache.sh's table (a header line, then thresh, evals,
 * fewer, cpu_speedup, wall_speedup, psnr_dB, ...). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "avkit/util/common.h"
#include "avkit/io/png.h"

enum { WD = 640, HT = 420, X0 = 60, Y0 = 30, X1 = 620, Y1 = 380, MAXP = 64 };

static uint8_t img[HT][WD][3];

static void px(int x, int y, const uint8_t c[3])
{
    if (x >= 0 && x < WD && y >= 0 && y < HT)
        memcpy(img[y][x], c, 3);
}

/* A line by Bresenham's steps, `dash` > 0 drawing dash pixels on, dash off. */
static void line(int xa, int ya, int xb, int yb, const uint8_t c[3], int dash)
{
    int dx = abs(xb - xa), dy = -abs(yb - ya), sx = xa < xb ? 1 : -1, sy = ya < yb ? 1 : -1;
    int err = dx + dy, k = 0;
    for (;;) {
        if (!dash || (k++ / dash) % 2 == 0)
            px(xa, ya, c);
        if (xa == xb && ya == yb)
            break;
        int e2 = 2 * err;
        if (e2 >= dy)
            err += dy, xa += sx;
        if (e2 <= dx)
            err += dx, ya += sy;
    }
}

/* 3x5 glyphs, rows top down, 3 bits each (4 = left column). */
static const char *const glyph_chars = "0123456789.xdB";
static const uint8_t glyphs[][5] = {
    {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
    {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7},
    {0, 0, 0, 0, 2}, {0, 5, 2, 5, 0}, {1, 1, 7, 5, 7}, {6, 5, 6, 5, 6},
};

/* Text at (x, y), the top left, each glyph pixel a 2x2 square. */
static void text(int x, int y, const char *s)
{
    static const uint8_t ink[3] = {0, 0, 0};
    for (; *s; s++, x += 8) {
        const char *at = strchr(glyph_chars, *s);
        if (!at)
            continue;
        const uint8_t *g = glyphs[at - glyph_chars];
        for (int r = 0; r < 5; r++)
            for (int c = 0; c < 3; c++)
                if (g[r] & (4 >> c))
                    for (int k = 0; k < 4; k++)
                        px(x + 2 * c + k % 2, y + 2 * r + k / 2, ink);
    }
}

int main(int argc, char **argv)
{
    avk_tool_init(argv[0]);
    if (argc != 3)
        avk_usage_error("usage: cache_plot CACHE.tsv OUT.png");
    FILE *f = fopen(argv[1], "r");
    if (!f)
        avk_die(1, "%s: %s", argv[1], strerror(errno));
    double xs[MAXP], ys[MAXP];
    int n = 0;
    char buf[512];
    if (!fgets(buf, sizeof buf, f))
        avk_die(1, "%s: empty", argv[1]);
    while (n < MAXP && fgets(buf, sizeof buf, f)) {
        char th[64], ps[64];
        long ev;
        double fewer, cpu, wall;
        if (sscanf(buf, "%63s %ld %lf %lf %lf %63s", th, &ev, &fewer, &cpu, &wall, ps) != 6)
            avk_die(1, "%s: line %d: expected thresh evals fewer cpu wall psnr", argv[1], n + 2);
        xs[n] = fewer;
        ys[n] = strcmp(ps, "inf") ? atof(ps) : INFINITY;
        n++;
    }
    fclose(f);
    double xmax = 3.0, ylo = 20, yhi = 50;
    for (int i = 0; i < n; i++) {
        if (xs[i] > xmax)
            xmax = ceil(xs[i] * 2) / 2;
        if (isfinite(ys[i]) && ys[i] + 5 > yhi)
            yhi = ceil((ys[i] + 5) / 5) * 5;
        if (isfinite(ys[i]) && ys[i] < ylo)
            ylo = floor(ys[i] / 5) * 5;
    }
    memset(img, 255, sizeof img);
    static const uint8_t grid[3] = {225, 225, 225}, axis[3] = {0, 0, 0}, red[3] = {200, 30, 30},
                         blue[3] = {30, 60, 200};
#define XP(v) (X0 + (int)lround(((v) - 1.0) / (xmax - 1.0) * (X1 - X0)))
#define YP(v) (Y1 - (int)lround(((v) - ylo) / (yhi - ylo) * (Y1 - Y0)))
    char lab[32];
    for (double v = 1.0; v <= xmax + 1e-9; v += 0.5) {
        line(XP(v), Y0, XP(v), Y1, grid, 0);
        snprintf(lab, sizeof lab, "%.1fx", v);
        text(XP(v) - 14, Y1 + 8, lab);
    }
    for (double v = ylo; v <= yhi + 1e-9; v += 5) {
        line(X0, YP(v), X1, YP(v), grid, 0);
        snprintf(lab, sizeof lab, "%.0fdB", v);
        text(8, YP(v) - 5, lab);
    }
    line(X0, Y0, X0, Y1, axis, 0);
    line(X0, Y1, X1, Y1, axis, 0);
    if (32 >= ylo && 32 <= yhi)
        line(X0, YP(32.0), X1, YP(32.0), red, 6);
    line(XP(2.5), Y0, XP(2.5), Y1, red, 6);
    int px0 = 0, py0 = 0;
    for (int i = 0; i < n; i++) {
        int x = XP(xs[i]), y = isfinite(ys[i]) ? YP(ys[i] > yhi ? yhi : ys[i]) : Y0;
        for (int d = -3; d <= 3; d++)
            line(x - 3, y + d, x + 3, y + d, blue, 0);
        if (i > 0)
            line(px0, py0, x, y, blue, 0);
        px0 = x, py0 = y;
    }
    if (avk_png_write(argv[2], &img[0][0][0], WD, HT) < 0)
        avk_die_lib();
    return 0;
}
