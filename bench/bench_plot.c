/* A line plot of a CSV as a PNG, for loss curves (no gnuplot needed):
 * the first column is x, every further column a line in its own color,
 * with its header name in a legend; axes with tick labels in the built-in
 * bitmap font of avkit/io/png.h. Empty or non-numeric cells are skipped.
 *   bench_plot [-o OUT.png] [-t TITLE] FILE.csv
 * Exit 0, 1 on a read or write error, 2 on bad usage. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "avkit/io/png.h"

#define MAXCOL 8
#define MAXROW 100000
#define W 720
#define H 440
#define L 70    /* plot area: left, right, top, bottom margins */
#define R 20
#define T 40
#define BM 40

static char names[MAXCOL][64];
static double val[MAXROW][MAXCOL];
static int have[MAXROW][MAXCOL];

/* Read the CSV into names/val/have; the number of rows, -1 on error. */
static int read_csv(const char *path, int *ncol)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_plot: %s: cannot open\n", path);
        return -1;
    }
    char line[4096];
    int n = 0;
    *ncol = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *save = NULL, *tok;
        int c = 0;
        if (*ncol == 0) {
            for (tok = strtok_r(line, ",", &save); tok && c < MAXCOL; tok = strtok_r(NULL, ",", &save))
                snprintf(names[c++], sizeof names[0], "%s", tok);
            *ncol = c;
            continue;
        }
        if (n == MAXROW)
            break;
        char *p = line;
        for (c = 0; c < *ncol; c++) {
            char *end;
            double v = strtod(p, &end);
            have[n][c] = end != p && isfinite(v);
            val[n][c] = v;
            p = strchr(p, ',');
            if (!p)
                break;
            p++;
        }
        n++;
    }
    fclose(f);
    if (*ncol < 2 || n == 0) {
        fprintf(stderr, "bench_plot: %s: needs a header and rows of two columns or more\n", path);
        return -1;
    }
    return n;
}

/* A round tick step near range / 5. */
static double tick_step(double range)
{
    double s = pow(10, floor(log10(range / 5)));
    if (range / s > 25)
        s *= 5;
    else if (range / s > 10)
        s *= 2;
    return s;
}

static void put(uint8_t *img, int x, int y, const uint8_t c[3])
{
    if (x >= 0 && x < W && y >= 0 && y < H)
        memcpy(img + 3 * ((size_t)y * W + x), c, 3);
}

/* A line from (x0, y0) to (x1, y1), 2 pixels thick. */
static void line(uint8_t *img, double x0, double y0, double x1, double y1, const uint8_t c[3])
{
    int n = (int)(fabs(x1 - x0) + fabs(y1 - y0)) + 1;
    for (int i = 0; i <= n; i++) {
        double x = x0 + (x1 - x0) * i / n, y = y0 + (y1 - y0) * i / n;
        put(img, (int)x, (int)y, c);
        put(img, (int)x + 1, (int)y, c);
        put(img, (int)x, (int)y + 1, c);
    }
}

int main(int argc, char **argv)
{
    const char *out = "plot.png", *title = NULL;
    static const struct option lo[] = {{"output", required_argument, 0, 'o'},
                                       {"title", required_argument, 0, 't'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "o:t:h", lo, NULL)) != -1) {
        if (opt == 'o')
            out = optarg;
        else if (opt == 't')
            title = optarg;
        else {
            fprintf(opt == 'h' ? stdout : stderr, "usage: bench_plot [-o OUT.png] [-t TITLE] FILE.csv\n");
            return opt == 'h' ? 0 : 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "usage: bench_plot [-o OUT.png] [-t TITLE] FILE.csv\n");
        return 2;
    }
    int ncol, n = read_csv(argv[optind], &ncol);
    if (n < 0)
        return 1;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < n; i++)
        for (int c = 1; c < ncol; c++)
            if (have[i][0] && have[i][c]) {
                x0 = fmin(x0, val[i][0]), x1 = fmax(x1, val[i][0]);
                y0 = fmin(y0, val[i][c]), y1 = fmax(y1, val[i][c]);
            }
    if (!isfinite(x0)) {
        fprintf(stderr, "bench_plot: %s: no numeric rows\n", argv[optind]);
        return 1;
    }
    if (x1 == x0)
        x1 = x0 + 1;
    if (y1 == y0)
        y1 = y0 + 1;
    double ys = tick_step(y1 - y0), xs = tick_step(x1 - x0);
    y0 = floor(y0 / ys) * ys, y1 = ceil(y1 / ys) * ys;
    uint8_t *img = malloc((size_t)W * H * 3);
    memset(img, 255, (size_t)W * H * 3);
    static const uint8_t black[3] = {0, 0, 0}, grey[3] = {220, 220, 220};
    static const uint8_t colors[MAXCOL][3] = {{0, 0, 0},     {31, 119, 180}, {214, 39, 40},
                                              {44, 160, 44}, {255, 127, 14}, {148, 103, 189},
                                              {140, 86, 75}, {23, 190, 207}};
    int pw = W - L - R, ph = H - T - BM;
#define PX(x) (L + ((x) - x0) / (x1 - x0) * pw)
#define PY(y) (T + ph - ((y) - y0) / (y1 - y0) * ph)
    char buf[64];
    for (double y = y0; y <= y1 + ys / 2; y += ys) {
        line(img, L, PY(y), L + pw, PY(y), grey);
        snprintf(buf, sizeof buf, "%g", fabs(y) < ys / 2 ? 0.0 : y);
        avk_text_draw(img, W, H, L - 8 - 8 * (int)strlen(buf), (int)PY(y) - 5, 2, buf, black);
    }
    for (double x = ceil(x0 / xs) * xs; x <= x1 + xs / 2; x += xs) {
        line(img, PX(x), T, PX(x), T + ph, grey);
        snprintf(buf, sizeof buf, "%g", x);
        avk_text_draw(img, W, H, (int)PX(x) - 4 * (int)strlen(buf), T + ph + 8, 2, buf, black);
    }
    line(img, L, T, L, T + ph, black);
    line(img, L, T + ph, L + pw, T + ph, black);
    avk_text_draw(img, W, H, L + pw / 2 - 4 * (int)strlen(names[0]), H - 16, 2, names[0], black);
    if (title)
        avk_text_draw(img, W, H, L, 10, 2, title, black);
    int lx = L + pw - 200;
    for (int c = 1; c < ncol; c++) {
        int pi = -1;
        for (int i = 0; i < n; i++) {
            if (!have[i][0] || !have[i][c])
                continue;
            if (pi >= 0)
                line(img, PX(val[pi][0]), PY(val[pi][c]), PX(val[i][0]), PY(val[i][c]), colors[c]);
            for (int dy = -2; dy <= 2; dy++)
                for (int dx = -2; dx <= 2; dx++)
                    put(img, (int)PX(val[i][0]) + dx, (int)PY(val[i][c]) + dy, colors[c]);
            pi = i;
        }
        int ly = T + 10 + 16 * (c - 1);
        line(img, lx, ly + 4, lx + 24, ly + 4, colors[c]);
        avk_text_draw(img, W, H, lx + 32, ly, 2, names[c], colors[c]);
    }
    int rc = avk_png_write(out, img, W, H) < 0;
    if (rc)
        fprintf(stderr, "bench_plot: %s: cannot write\n", out);
    free(img);
    return rc;
}
