/* avk-plot: a line plot of a table, as a PNG, for the demo's accuracy
 * against training time (examples/README.md) without a plotting package.
 *
 *   avk-plot [-t TITLE] [-x LABEL] [--ymax Y] -o OUT.png TABLE.tsv
 *
 * TABLE.tsv: a header line of column names, then rows of numbers; the
 * first column is x, every other column a series drawn as a line with
 * dots at its points, named in the legend. The y axis runs from 0 to
 * --ymax (default: the largest value). Text uses the 3x5 font of the
 * contact sheets (capitals).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avkit/util/common.h"
#include "avkit/io/png.h"

#define MAXCOL 8
#define W 720
#define H 440
#define LEFT 70
#define RIGHT 200
#define TOP 40
#define BOTTOM 60

static const uint8_t palette[MAXCOL][3] = {
    {220, 50, 47}, {38, 139, 210}, {133, 153, 0}, {0, 0, 0},
    {211, 54, 130}, {181, 137, 0}, {42, 161, 152}, {108, 113, 196},
};

typedef struct table {
    int ncol, nrow;
    char *name[MAXCOL];
    double *v;                  /* [nrow][ncol] */
} table;

/* Read the table; dies with the file and line on anything else. */
static void read_table(const char *path, table *t)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!f)
        avk_die(1, "%s: %s", path, strerror(errno));
    char line[4096];
    int ln = 0, cap = 0;
    memset(t, 0, sizeof *t);
    while (fgets(line, sizeof line, f)) {
        ln++;
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0])
            continue;
        char *save = NULL, *tok;
        int c = 0;
        if (!t->ncol) {
            for (tok = strtok_r(line, "\t", &save); tok; tok = strtok_r(NULL, "\t", &save)) {
                if (c == MAXCOL)
                    avk_die(1, "%s: line %d: more than %d columns", path, ln, MAXCOL);
                t->name[c++] = avk_xstrdup(tok);
            }
            if (c < 2)
                avk_die(1, "%s: line %d: the header needs x and at least one series", path, ln);
            t->ncol = c;
            continue;
        }
        if (t->nrow == cap) {
            cap = cap ? 2 * cap : 16;
            t->v = avk_xrealloc(t->v, (size_t)cap * t->ncol * sizeof *t->v);
        }
        for (tok = strtok_r(line, "\t", &save); tok; tok = strtok_r(NULL, "\t", &save)) {
            char *e;
            double x = strtod(tok, &e);
            if (c == t->ncol || e == tok || *e || !isfinite(x))
                avk_die(1, "%s: line %d: column %d: not a number of a %d-column row", path, ln,
                        c + 1, t->ncol);
            t->v[t->nrow * t->ncol + c++] = x;
        }
        if (c != t->ncol)
            avk_die(1, "%s: line %d: %d columns, the header has %d", path, ln, c, t->ncol);
        t->nrow++;
    }
    if (f != stdin)
        fclose(f);
    if (!t->nrow)
        avk_die(1, "%s: no rows", path);
}

/* A filled square of side 2r + 1 at (x, y), clipped. */
static void dot(uint8_t *img, int x, int y, int r, const uint8_t c[3])
{
    for (int j = y - r; j <= y + r; j++)
        for (int i = x - r; i <= x + r; i++)
            if (i >= 0 && i < W && j >= 0 && j < H)
                memcpy(img + 3 * ((size_t)j * W + i), c, 3);
}

/* A line of thickness 2r + 1 from (x0, y0) to (x1, y1). */
static void line(uint8_t *img, double x0, double y0, double x1, double y1, int r,
                 const uint8_t c[3])
{
    int n = (int)fmax(fabs(x1 - x0), fabs(y1 - y0)) + 1;
    for (int k = 0; k <= n; k++) {
        double a = (double)k / n;
        dot(img, (int)lround(x0 + a * (x1 - x0)), (int)lround(y0 + a * (y1 - y0)), r, c);
    }
}

/* A tick label: up to 3 significant digits, no trailing zeros. */
static void fmt(char *buf, size_t n, double v)
{
    snprintf(buf, n, "%.3g", v);
}

int main(int argc, char **argv)
{
    avk_tool_init("avk-plot");
    const char *out = NULL, *title = "", *xlabel = "";
    double ymax = 0;
    static const struct option lo[] = {
        {"output", required_argument, 0, 'o'}, {"title", required_argument, 0, 't'},
        {"xlabel", required_argument, 0, 'x'}, {"ymax", required_argument, 0, 'Y'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "o:t:x:h", lo, NULL)) != -1) {
        switch (ch) {
        case 'o': out = optarg; break;
        case 't': title = optarg; break;
        case 'x': xlabel = optarg; break;
        case 'Y': ymax = avk_parse_double("--ymax", optarg, 1e-300, 1e300); break;
        case 'h':
            printf("Usage: avk-plot [-t TITLE] [-x LABEL] [--ymax Y] -o OUT.png TABLE.tsv\n"
                   "A line plot of TABLE.tsv (header, then numbers; column 1 is x, the others\n"
                   "series) as a PNG.\n");
            return 0;
        default: avk_usage_error("unknown option");
        }
    }
    if (!out || optind != argc - 1)
        avk_usage_error("give -o OUT.png and one TABLE.tsv");
    table t;
    read_table(argv[optind], &t);

    double xmin = t.v[0], xmax = t.v[0], ytop = ymax;
    for (int r = 0; r < t.nrow; r++) {
        xmin = fmin(xmin, t.v[r * t.ncol]);
        xmax = fmax(xmax, t.v[r * t.ncol]);
        for (int c = 1; c < t.ncol && ymax <= 0; c++)
            ytop = fmax(ytop, t.v[r * t.ncol + c]);
    }
    if (xmax <= xmin)
        xmax = xmin + 1;
    if (ytop <= 0)
        ytop = 1;
    uint8_t *img = avk_xmalloc((size_t)W * H * 3);
    memset(img, 255, (size_t)W * H * 3);
    const uint8_t black[3] = {0, 0, 0}, grey[3] = {215, 215, 215};
    int pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM;
#define PX(x) (LEFT + ((x) - xmin) / (xmax - xmin) * pw)
#define PY(y) (TOP + ph - (y) / ytop * ph)
    char buf[64];
    /* grid and ticks: 5 intervals on each axis */
    for (int k = 0; k <= 5; k++) {
        double y = ytop * k / 5, x = xmin + (xmax - xmin) * k / 5;
        line(img, LEFT, PY(y), LEFT + pw, PY(y), 0, grey);
        line(img, PX(x), TOP, PX(x), TOP + ph, 0, grey);
        fmt(buf, sizeof buf, y);
        avk_text_draw(img, W, H, LEFT - 8 - 8 * (int)strlen(buf), (int)PY(y) - 5, 2, buf, black);
        fmt(buf, sizeof buf, x);
        avk_text_draw(img, W, H, (int)PX(x) - 4 * (int)strlen(buf), TOP + ph + 8, 2, buf, black);
    }
    line(img, LEFT, TOP, LEFT, TOP + ph, 0, black);
    line(img, LEFT, TOP + ph, LEFT + pw, TOP + ph, 0, black);
    avk_text_draw(img, W, H, LEFT, 12, 2, title, black);
    avk_text_draw(img, W, H, LEFT + pw / 2 - 4 * (int)strlen(xlabel), H - 24, 2, xlabel, black);
    /* the series and the legend */
    for (int c = 1; c < t.ncol; c++) {
        const uint8_t *col = palette[(c - 1) % MAXCOL];
        for (int r = 0; r < t.nrow; r++) {
            double x = PX(t.v[r * t.ncol]), y = PY(fmin(t.v[r * t.ncol + c], ytop));
            dot(img, (int)lround(x), (int)lround(y), 3, col);
            if (r > 0)
                line(img, PX(t.v[(r - 1) * t.ncol]), PY(fmin(t.v[(r - 1) * t.ncol + c], ytop)),
                     x, y, 1, col);
        }
        int ly = TOP + 10 + 24 * (c - 1);
        line(img, W - RIGHT + 16, ly + 4, W - RIGHT + 40, ly + 4, 1, col);
        avk_text_draw(img, W, H, W - RIGHT + 48, ly, 2, t.name[c], black);
    }
    if (avk_png_write(out, img, W, H) < 0)
        avk_die_lib();
    free(img);
    free(t.v);
    for (int c = 0; c < t.ncol; c++)
        free(t.name[c]);
    return 0;
}
