/* avk-eval: read the color, shape and motion direction of the one moving
 * object off each video and score them against the prompts it was made
 * from, by classical image analysis.
 *
 *   avk-eval -P prompts.txt [-o results.tsv] VIDEO...
 *
 * VIDEO i goes with line i of the prompts file (as av-sample writes
 * DIR/sample-NNN.mp4 in prompt order). Each frame is read through the
 * avkit video reader in RGB. The background is the per-channel median of
 * the frame's border (two pixels wide); a pixel belongs to the object when
 * its distance from the background is more than half the largest distance
 * in the frame (and at least 40), and the object is the largest 4-connected
 * region of such pixels. Then:
 *   color      the mean of the region's interior pixels over all frames,
 *              nearest (in RGB) of the 8 named colors of gen-shapes;
 *   shape      a triangle (pointing up or down) when the median over frames
 *              of the skewness of the region's rows is beyond +-0.3 (a
 *              triangle's is about -0.57, a circle's and a square's 0);
 *              else by the median fill of the region's bounding box: below
 *              0.86 a circle (pi/4), else a square (1);
 *   direction  the least-squares slope of the region's centroid over the
 *              frames, times the frame span: a displacement below 8% of the
 *              frame's shorter side is none, else the nearest of the 8
 *              compass directions (image rows grow downwards).
 * The prompt's attributes are the first color word, the first shape word,
 * and the direction words in it ("still" is none; "up", "down", "left",
 * "right", alone or two together, as in "up and to the left").
 *
 * Prints a table: attribute, correct, total, accuracy, chance (1/8 color,
 * 1/3 shape, 1/9 direction, 1/216 joint). -o writes one line a video.
 */
#include "avkit/util/common.h"
#include "avkit/io/video.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const struct { const char *name; double rgb[3]; } colors[] = {
    { "red",     { 220,  40,  40 } }, { "green",   {  50, 190,  70 } },
    { "blue",    {  50, 100, 235 } }, { "yellow",  { 240, 215,  40 } },
    { "cyan",    {  40, 205, 215 } }, { "magenta", { 220,  50, 200 } },
    { "white",   { 240, 240, 240 } }, { "orange",  { 245, 140,  30 } },
};
#define N_COLORS 8
static const char *const shapes[] = { "circle", "square", "triangle" };
#define N_SHAPES 3
/* In the order of gen-shapes; index = 3 * (vertical + 1) + (horizontal + 1)
 * maps through dir_of_step below. */
static const char *const directions[] = {
    "left", "right", "up", "down", "up-left", "up-right", "down-left",
    "down-right", "none",
};
#define DIR_NONE 8

/* The direction index of a step (sx, sy), each -1, 0 or 1 (sy -1 is up). */
static int dir_of_step(int sx, int sy)
{
    static const int table[3][3] = {   /* [sy + 1][sx + 1] */
        { 4, 2, 5 }, { 0, DIR_NONE, 1 }, { 6, 3, 7 },
    };
    return table[sy + 1][sx + 1];
}

/* What was asked or seen: indices into the tables, -1 when unknown. */
typedef struct attrs { int color, shape, dir; } attrs;

/* Whether WORD occurs in TEXT as a whole word (letters around it end it). */
static int has_word(const char *text, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = text; (p = strstr(p, word)); p++) {
        int before = p == text || !isalpha((unsigned char)p[-1]);
        int after = !isalpha((unsigned char)p[n]);
        if (before && after)
            return 1;
    }
    return 0;
}

/* The first of NAMES (N of them) to occur as a word in TEXT, or -1. */
static int first_word(const char *text, const char *const *names, int n)
{
    const char *best = NULL;
    int which = -1;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        for (const char *p = text; (p = strstr(p, names[i])); p++)
            if ((p == text || !isalpha((unsigned char)p[-1])) &&
                !isalpha((unsigned char)p[len])) {
                if (!best || p < best)
                    best = p, which = i;
                break;
            }
    }
    return which;
}

/* The attributes a prompt asks for. */
static attrs parse_prompt(const char *prompt)
{
    const char *cn[N_COLORS];
    for (int i = 0; i < N_COLORS; i++)
        cn[i] = colors[i].name;
    attrs a = { first_word(prompt, cn, N_COLORS), first_word(prompt, shapes, N_SHAPES), -1 };
    int sx = has_word(prompt, "right") - has_word(prompt, "left");
    int sy = has_word(prompt, "down") - has_word(prompt, "up");
    if (has_word(prompt, "still") || has_word(prompt, "none"))
        a.dir = DIR_NONE;
    else if (sx || sy)
        a.dir = dir_of_step(sx, sy);
    return a;
}

/* ---- reading one video ----------------------------------------------- */

static int cmp_u8(const void *a, const void *b)
{
    return *(const uint8_t *)a - *(const uint8_t *)b;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* What one frame shows of the object. */
typedef struct frame_obs {
    int found;
    double cx, cy, fill;
    double skew;        /* of the rows' distribution (a triangle's is about -0.57) */
    double rgb[3];      /* sum over the interior pixels */
    long interior;
} frame_obs;

/* Find the object in one RGB frame. mask, label and stack are w*h scratch. */
static frame_obs observe(const uint8_t *rgb, int w, int h, uint8_t *mask, int *label, int *stack)
{
    frame_obs ob = {0};
    /* Background: the median of each channel over the two-pixel border. */
    int nb = 0;
    uint8_t *border = avk_xmalloc((size_t)(2 * w + 2 * h) * 2 * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (x < 2 || y < 2 || x >= w - 2 || y >= h - 2) {
                for (int c = 0; c < 3; c++)
                    border[c * (2 * w + 2 * h) * 2 + nb] = rgb[3 * ((size_t)y * w + x) + c];
                nb++;
            }
    double bg[3];
    for (int c = 0; c < 3; c++) {
        uint8_t *ch = border + c * (2 * w + 2 * h) * 2;
        qsort(ch, nb, 1, cmp_u8);
        bg[c] = ch[nb / 2];
    }
    free(border);
    /* The mask: far from the background, relative to the farthest pixel. */
    double far = 0;
    size_t npix = (size_t)w * h;
    for (size_t i = 0; i < npix; i++) {
        double d = 0;
        for (int c = 0; c < 3; c++)
            d += (rgb[3 * i + c] - bg[c]) * (rgb[3 * i + c] - bg[c]);
        if (d > far)
            far = d;
    }
    double thr = 0.25 * far > 1600 ? 0.25 * far : 1600;   /* squared: (far/2)^2, 40^2 */
    for (size_t i = 0; i < npix; i++) {
        double d = 0;
        for (int c = 0; c < 3; c++)
            d += (rgb[3 * i + c] - bg[c]) * (rgb[3 * i + c] - bg[c]);
        mask[i] = d > thr;
        label[i] = 0;
    }
    /* The largest 4-connected region, by flood fill. */
    int best = 0, nlabel = 0;
    long best_n = 0;
    for (size_t i = 0; i < npix; i++) {
        if (!mask[i] || label[i])
            continue;
        long n = 0, top = 0;
        label[i] = ++nlabel;
        stack[top++] = (int)i;
        while (top) {
            int p = stack[--top], x = p % w, y = p / w;
            n++;
            int nbr[4] = { x > 0 ? p - 1 : -1, x < w - 1 ? p + 1 : -1,
                           y > 0 ? p - w : -1, y < h - 1 ? p + w : -1 };
            for (int k = 0; k < 4; k++)
                if (nbr[k] >= 0 && mask[nbr[k]] && !label[nbr[k]]) {
                    label[nbr[k]] = nlabel;
                    stack[top++] = nbr[k];
                }
        }
        if (n > best_n)
            best_n = n, best = nlabel;
    }
    if (best_n < 4)
        return ob;
    int x0 = w, y0 = h, x1 = -1, y1 = -1;
    double sx = 0, sy = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            if (label[i] != best)
                continue;
            sx += x, sy += y;
            if (x < x0) x0 = x;
            if (x > x1) x1 = x;
            if (y < y0) y0 = y;
            if (y > y1) y1 = y;
            /* Interior: all four neighbours in the region (no edge blend). */
            if (x > 0 && x < w - 1 && y > 0 && y < h - 1 && label[i - 1] == best &&
                label[i + 1] == best && label[i - w] == best && label[i + w] == best) {
                for (int c = 0; c < 3; c++)
                    ob.rgb[c] += rgb[3 * i + c];
                ob.interior++;
            }
        }
    ob.found = 1;
    ob.cx = sx / best_n;
    ob.cy = sy / best_n;
    ob.fill = (double)best_n / ((double)(x1 - x0 + 1) * (y1 - y0 + 1));
    double m2 = 0, m3 = 0;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            if (label[(size_t)y * w + x] == best) {
                double e = y - ob.cy;
                m2 += e * e, m3 += e * e * e;
            }
    m2 /= best_n, m3 /= best_n;
    ob.skew = m2 > 0 ? m3 / (m2 * sqrt(m2)) : 0;
    return ob;
}

/* The attributes seen in the video at PATH; also the median fill and the
 * displacement, for the report. -1 with the error set when it cannot be
 * read. */
static int read_video(const char *path, attrs *seen, double *fill, double *skew, double *dx,
                      double *dy)
{
    avk_decode_opts o = {0};
    avk_video_info in;
    avk_video *v = avk_video_open(path, &o, &in);
    if (!v)
        return -1;
    int w, h;
    avk_video_out_size(v, &w, &h);
    size_t npix = (size_t)w * h;
    uint8_t *rgb = avk_xmalloc(npix * 3), *mask = avk_xmalloc(npix);
    int *label = avk_xmalloc(npix * sizeof(int)), *stack = avk_xmalloc(npix * sizeof(int));
    double *fills = NULL, *skews = NULL, *ts = NULL, *xs = NULL, *ys = NULL, sum[3] = {0};
    long interior = 0;
    int n = 0, cap = 0, rc = 0;
    for (int k = 0;; k++) {
        int64_t idx;
        int r = avk_video_read(v, rgb, &idx);
        if (r == 0)
            break;
        if (r < 0) {
            rc = -1;
            break;
        }
        frame_obs ob = observe(rgb, w, h, mask, label, stack);
        if (!ob.found)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            fills = avk_xrealloc(fills, cap * sizeof *fills);
            skews = avk_xrealloc(skews, cap * sizeof *skews);
            ts = avk_xrealloc(ts, cap * sizeof *ts);
            xs = avk_xrealloc(xs, cap * sizeof *xs);
            ys = avk_xrealloc(ys, cap * sizeof *ys);
        }
        fills[n] = ob.fill, skews[n] = ob.skew, ts[n] = k, xs[n] = ob.cx, ys[n] = ob.cy;
        n++;
        for (int c = 0; c < 3; c++)
            sum[c] += ob.rgb[c];
        interior += ob.interior;
    }
    avk_video_close(v);
    *seen = (attrs){ -1, -1, -1 };
    *fill = *skew = *dx = *dy = 0;
    if (rc == 0 && n > 0) {
        if (interior > 0) {
            double best = INFINITY;
            for (int i = 0; i < N_COLORS; i++) {
                double d = 0;
                for (int c = 0; c < 3; c++) {
                    double e = sum[c] / interior - colors[i].rgb[c];
                    d += e * e;
                }
                if (d < best)
                    best = d, seen->color = i;
            }
        }
        qsort(fills, n, sizeof *fills, cmp_double);
        qsort(skews, n, sizeof *skews, cmp_double);
        *fill = fills[n / 2];
        *skew = skews[n / 2];
        seen->shape = fabs(*skew) > 0.3 ? 2 : *fill < 0.86 ? 0 : 1;
        /* Least-squares slopes of x and y over the frame index. */
        double mt = 0, mx = 0, my = 0, stt = 0, stx = 0, sty = 0;
        for (int i = 0; i < n; i++)
            mt += ts[i], mx += xs[i], my += ys[i];
        mt /= n, mx /= n, my /= n;
        for (int i = 0; i < n; i++) {
            stt += (ts[i] - mt) * (ts[i] - mt);
            stx += (ts[i] - mt) * (xs[i] - mx);
            sty += (ts[i] - mt) * (ys[i] - my);
        }
        double span = ts[n - 1] - ts[0];
        if (stt > 0) {
            *dx = stx / stt * span;
            *dy = sty / stt * span;
        }
        double side = w < h ? w : h;
        if (hypot(*dx, *dy) < 0.08 * side)
            seen->dir = DIR_NONE;
        else {
            /* The nearest of the 8 compass directions: 45-degree sectors. */
            double a = atan2(*dy, *dx);
            int sector = (int)floor(a / (M_PI / 4) + 0.5);   /* -4..4, 0 = right */
            static const int sx[9] = { -1, -1, 0, 1, 1, 1, 0, -1, -1 };
            static const int sy[9] = { 0, -1, -1, -1, 0, 1, 1, 1, 0 };
            seen->dir = dir_of_step(sx[sector + 4], sy[sector + 4]);
        }
    }
    free(fills), free(skews), free(ts), free(xs), free(ys);
    free(rgb), free(mask), free(label), free(stack);
    return rc;
}

static const char *name_or_dash(const char *const *names, int i)
{
    return i < 0 ? "-" : names[i];
}

static void usage(void)
{
    printf("Usage: avk-eval -P PROMPTS [-o RESULTS] VIDEO...\n"
           "Read the color, shape and motion direction of the moving object off each\n"
           "VIDEO and score them against line i of PROMPTS for VIDEO i.\n\n"
           "  -P, --prompts=FILE   the prompts, one a line, in the videos' order\n"
           "  -o, --output=FILE    also write one line a video (TSV) here\n"
           "  -h, --help           this help\n"
           "      --version        version\n\n"
           "Prints: attribute, correct, total, accuracy, chance for color, shape,\n"
           "direction and all three jointly.\n");
    exit(0);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"prompts", required_argument, 0, 'P'}, {"output", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 'V'}, {0, 0, 0, 0}};
    const char *prompts_path = NULL, *out_path = NULL;
    int c;

    avk_tool_init(argv[0]);
    while ((c = getopt_long(argc, argv, "P:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'P': prompts_path = optarg; break;
        case 'o': out_path = optarg; break;
        case 'h': usage(); break;
        case 'V': avk_print_version(); break;
        default: avk_usage_try();
        }
    }
    if (!prompts_path)
        avk_usage_error("-P PROMPTS is required");
    int nvid = argc - optind;
    if (nvid < 1)
        avk_usage_error("expected at least one VIDEO");
    FILE *pf = fopen(prompts_path, "r");
    if (!pf)
        avk_die(1, "%s: %s", prompts_path, strerror(errno));
    char **prompts = avk_xmalloc(sizeof(char *) * nvid);
    int np = 0;
    char line[4096];
    while (np < nvid && fgets(line, sizeof line, pf)) {
        line[strcspn(line, "\r\n")] = 0;
        prompts[np] = avk_xstrdup(line);
        attrs a = parse_prompt(line);
        if (a.color < 0 || a.shape < 0 || a.dir < 0)
            avk_die(1, "%s: line %d: no color, shape or direction in '%s'", prompts_path,
                    np + 1, line);
        np++;
    }
    fclose(pf);
    if (np < nvid)
        avk_die(1, "%s: %d prompts for %d videos", prompts_path, np, nvid);

    avk_out *out = NULL;
    if (out_path) {
        if (!(out = avk_out_open(out_path, 0)))
            avk_die_lib();
        fputs("video\tprompt\tcolor\tshape\tdirection\tseen_color\tseen_shape\t"
              "seen_direction\tfill\tskew\tdx\tdy\n", out->fp);
    }
    int ok[4] = {0};
    for (int i = 0; i < nvid; i++) {
        const char *path = argv[optind + i];
        attrs want = parse_prompt(prompts[i]), seen;
        double fill, skew, dx, dy;
        if (read_video(path, &seen, &fill, &skew, &dx, &dy) < 0) {
            if (out)
                avk_out_abort(out);
            avk_die(1, "%s: %s", path, avk_errmsg());
        }
        int hit[3] = { seen.color == want.color, seen.shape == want.shape, seen.dir == want.dir };
        for (int k = 0; k < 3; k++)
            ok[k] += hit[k];
        ok[3] += hit[0] && hit[1] && hit[2];
        const char *cn[N_COLORS];
        for (int k = 0; k < N_COLORS; k++)
            cn[k] = colors[k].name;
        if (out)
            fprintf(out->fp, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.3f\t%.3f\t%.2f\t%.2f\n", path,
                    prompts[i], cn[want.color], shapes[want.shape], directions[want.dir],
                    name_or_dash(cn, seen.color), name_or_dash(shapes, seen.shape),
                    name_or_dash(directions, seen.dir), fill, skew, dx, dy);
    }
    if (out && avk_out_commit(out) < 0)
        avk_die_lib();
    static const char *const what[4] = { "color", "shape", "direction", "joint" };
    static const double chance[4] = { 1.0 / 8, 1.0 / 3, 1.0 / 9, 1.0 / 216 };
    printf("attribute\tcorrect\ttotal\taccuracy\tchance\n");
    for (int k = 0; k < 4; k++)
        printf("%s\t%d\t%d\t%.3f\t%.3f\n", what[k], ok[k], nvid, (double)ok[k] / nvid, chance[k]);
    for (int i = 0; i < np; i++)
        free(prompts[i]);
    free(prompts);
    return 0;
}
