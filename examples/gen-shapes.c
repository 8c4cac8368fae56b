/* gen-shapes: render a training corpus of short shots, each of ONE moving
 * object with known attributes, and the prompts held out of it.
 *
 * Every shot is its own small mp4: a plain background (black or dark gray:
 * dark, so that every color differs from it in brightness too, not only in
 * the chroma that H.264 halves) and one object of one of 8 colors and 3
 * shapes, moving in one of 8 directions or standing still, all the way
 * inside the frame. The
 * (color, shape, direction) combinations with (color + shape + direction)
 * % 9 == 0 (indices in the tables below) are held out: no training shot
 * shows them, and DIR/heldout.txt holds one prompt for each (24), so that a
 * model trained on the corpus can be asked for combinations it never saw.
 * Each color, each shape and each direction still appears in training, and
 * every (color, shape) pair with 8 of its 9 directions.
 *
 *   gen-shapes [-s SEED] [-n SHOTS] [--size WxH] [--frames N] -o DIR
 *   gen-shapes --held-out -o DIR   render the held-out combinations instead
 *
 * Writes DIR/shot-NNN.mp4, DIR/truth.tsv (one shot a line: video, start,
 * end (frames), color, shape, direction, background, caption),
 * DIR/captions.tsv (video, start, end in seconds, caption: the timeline
 * av-caption-feed -t reads), DIR/prompts.txt (the shots' captions in shot
 * order) and DIR/heldout.txt. The seed picks the order of the training
 * combinations, the backgrounds, sizes, positions and speeds.
 */
#include "avkit/util/common.h"
#include "avkit/io/video.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- the attributes (the evaluator, avk-eval.c, uses the same tables) -- */

typedef struct named_rgb { const char *name; double rgb[3]; } named_rgb;

static const named_rgb colors[] = {
    { "red",     { 220,  40,  40 } }, { "green",   {  50, 190,  70 } },
    { "blue",    {  50, 100, 235 } }, { "yellow",  { 240, 215,  40 } },
    { "cyan",    {  40, 205, 215 } }, { "magenta", { 220,  50, 200 } },
    { "white",   { 240, 240, 240 } }, { "orange",  { 245, 140,  30 } },
};
#define N_COLORS 8
#define ORANGE 7

static const named_rgb backgrounds[] = {
    { "black", { 16, 16, 16 } }, { "dark gray", { 56, 56, 56 } },
};
#define N_BACKGROUNDS 2

enum { CIRCLE, SQUARE, TRIANGLE, N_SHAPES };
static const char *const shapes[N_SHAPES] = { "circle", "square", "triangle" };

typedef struct direction { const char *name, *phrase; double dx, dy; } direction;
#define DG 0.70710678118654752
static const direction directions[] = {
    { "left", "moving left", -1, 0 },     { "right", "moving right", 1, 0 },
    { "up", "moving up", 0, -1 },         { "down", "moving down", 0, 1 },
    { "up-left", "moving up and to the left", -DG, -DG },
    { "up-right", "moving up and to the right", DG, -DG },
    { "down-left", "moving down and to the left", -DG, DG },
    { "down-right", "moving down and to the right", DG, DG },
    { "none", "standing still", 0, 0 },
};
#undef DG
#define N_DIRECTIONS 9
#define N_COMBOS (N_COLORS * N_SHAPES * N_DIRECTIONS)

/* The fixed rule of the held-out set. */
static int held_out(int c, int s, int d)
{
    return (c + s + d) % 9 == 0;
}

/* ---- random numbers (SplitMix64, as gen-footage) ------------------------ */

typedef struct rng { uint64_t s; } rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double rng_unit(rng *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static int rng_int(rng *r, int n)
{
    return (int)(rng_unit(r) * n);
}

static double rng_range(rng *r, double lo, double hi)
{
    return lo + (hi - lo) * rng_unit(r);
}

/* ---- one shot -------------------------------------------------------- */

typedef struct shot {
    int color, shape, dir, bg;
    double half;            /* half the object's size, pixels */
    double x0, y0, vx, vy;  /* center at frame 0 and its velocity a frame */
} shot;

/* The caption of a combination, as training captions and prompts read. */
static void caption(char *buf, size_t n, int c, int s, int d, int bg)
{
    snprintf(buf, n, "%s %s %s %s on a %s background", c == ORANGE ? "an" : "a",
             colors[c].name, shapes[s],
             directions[d].phrase, backgrounds[bg].name);
}

/* Place and time the object: its size, a speed that carries it 35-45% of
 * the frame's shorter side over the shot, and a start from which the
 * whole path stays inside the frame (with a margin of two pixels). */
static shot plan_shot(rng *r, int c, int s, int d, int w, int h, int frames)
{
    shot t = { .color = c, .shape = s, .dir = d, .bg = rng_int(r, N_BACKGROUNDS) };
    double side = w < h ? w : h;
    t.half = side * rng_range(r, 0.15, 0.2);
    double travel = d == N_DIRECTIONS - 1 ? 0 : side * rng_range(r, 0.35, 0.45);
    double steps = frames > 1 ? frames - 1 : 1;
    t.vx = directions[d].dx * travel / steps;
    t.vy = directions[d].dy * travel / steps;
    double ex = t.vx * steps, ey = t.vy * steps, m = t.half + 2;
    /* The start's range: x0 and x0 + ex both within [m, w - m]. */
    double xlo = m - (ex < 0 ? ex : 0), xhi = w - m - (ex > 0 ? ex : 0);
    double ylo = m - (ey < 0 ? ey : 0), yhi = h - m - (ey > 0 ? ey : 0);
    t.x0 = xhi > xlo ? rng_range(r, xlo, xhi) : w / 2.0;
    t.y0 = yhi > ylo ? rng_range(r, ylo, yhi) : h / 2.0;
    return t;
}

/* Whether point (x, y) lies in the object centered at (cx, cy). The
 * triangle points up, its base as wide as its height: it fills half its
 * bounding box, the circle pi/4 of it, the square all. */
static int inside(const shot *t, double x, double y, double cx, double cy)
{
    double dx = x - cx, dy = y - cy, r = t->half;
    switch (t->shape) {
    case CIRCLE: return dx * dx + dy * dy <= r * r;
    case SQUARE: return fabs(dx) <= r && fabs(dy) <= r;
    default:     return dy >= -r && dy <= r && fabs(dx) <= (dy + r) / 2;
    }
}

/* Frame k of the shot in RGB24, each pixel the mean of 4x4 subsamples so
 * the edges are smooth. */
static void render(const shot *t, int k, int w, int h, uint8_t *rgb)
{
    double cx = t->x0 + t->vx * k, cy = t->y0 + t->vy * k;
    const double *fg = colors[t->color].rgb, *bg = backgrounds[t->bg].rgb;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int hits = 0;
            if (fabs(x + 0.5 - cx) <= t->half + 1 && fabs(y + 0.5 - cy) <= t->half + 1)
                for (int j = 0; j < 4; j++)
                    for (int i = 0; i < 4; i++)
                        hits += inside(t, x + (i + 0.5) / 4, y + (j + 0.5) / 4, cx, cy);
            double a = hits / 16.0;
            uint8_t *p = rgb + 3 * ((size_t)y * w + x);
            for (int ch = 0; ch < 3; ch++)
                p[ch] = (uint8_t)floor(a * fg[ch] + (1 - a) * bg[ch] + 0.5);
        }
}

/* Encode one shot to PATH. 0 or -1 (error set). */
static int write_shot(const char *path, const shot *t, int w, int h, int frames, int fps)
{
    avk_encoder *e = avk_encoder_open(path, w, h, fps, 12);
    if (!e)
        return -1;
    uint8_t *rgb = avk_xmalloc((size_t)w * h * 3);
    for (int k = 0; k < frames; k++) {
        render(t, k, w, h, rgb);
        if (avk_encoder_write(e, rgb) < 0) {
            free(rgb);
            avk_encoder_abort(e);
            return -1;
        }
    }
    free(rgb);
    return avk_encoder_finish(e);
}

/* ---- the corpus ------------------------------------------------------ */

typedef struct options {
    const char *dir;
    uint64_t seed;
    int shots, width, height, frames, fps, held;
} options;

/* Open DIR/NAME for writing through a temporary name; dies on failure. */
static avk_out *open_meta(const options *o, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", o->dir, name);
    avk_out *f = avk_out_open(path, 0);
    if (!f)
        avk_die_lib();
    return f;
}

static void commit_meta(avk_out *f)
{
    if (avk_out_commit(f) < 0)
        avk_die_lib();
}

/* The combinations to render, in order: the held-out ones (--held-out), or
 * the training ones in an order shuffled by the seed, repeated to fill
 * o->shots. Returns their count; combos[i] = (c * N_SHAPES + s) * 9 + d. */
static int pick_combos(const options *o, int *combos)
{
    int pool[N_COMBOS], n = 0;
    for (int c = 0; c < N_COLORS; c++)
        for (int s = 0; s < N_SHAPES; s++)
            for (int d = 0; d < N_DIRECTIONS; d++)
                if (held_out(c, s, d) == o->held)
                    pool[n++] = (c * N_SHAPES + s) * N_DIRECTIONS + d;
    if (o->held) {
        memcpy(combos, pool, n * sizeof *pool);
        return n;
    }
    rng r = { o->seed * 0x100000001B3ULL + 17 };
    for (int i = 0; i < o->shots; i++) {
        if (i % n == 0)                     /* a fresh shuffle every pass */
            for (int k = n - 1; k > 0; k--) {
                int j = rng_int(&r, k + 1), x = pool[k];
                pool[k] = pool[j];
                pool[j] = x;
            }
        combos[i] = pool[i % n];
    }
    return o->shots;
}

static void usage(void)
{
    printf("Usage: gen-shapes [OPTION]... -o DIR\n"
           "Render short shots of one moving object each (8 colors, 3 shapes, 9\n"
           "directions including none) with captions, and the held-out prompts.\n\n"
           "  -o, --output=DIR     where to write (created if missing)\n"
           "  -s, --seed=N         seed of the order, backgrounds and paths (default 1)\n"
           "  -n, --shots=N        training shots (default 384)\n"
           "      --size=WxH       frame size (default 64x64)\n"
           "      --frames=N       frames a shot (default 24)\n"
           "      --fps=N          frame rate (default 25)\n"
           "      --held-out       render the 24 held-out combinations instead\n"
           "  -h, --help           this help\n"
           "      --version        version\n\n"
           "Writes DIR/shot-NNN.mp4, DIR/truth.tsv, DIR/captions.tsv, DIR/prompts.txt\n"
           "(the shots' captions in order) and DIR/heldout.txt (the held-out prompts:\n"
           "the combinations with color + shape + direction = 0 mod 9, in the order\n"
           "of the tables: colors red green blue yellow cyan magenta white orange,\n"
           "shapes circle square triangle, directions left right up down up-left\n"
           "up-right down-left down-right none).\n");
    exit(0);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'}, {"seed", required_argument, 0, 's'},
        {"shots", required_argument, 0, 'n'}, {"size", required_argument, 0, 'S'},
        {"frames", required_argument, 0, 'F'}, {"fps", required_argument, 0, 'R'},
        {"held-out", no_argument, 0, 'H'}, {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'}, {0, 0, 0, 0}};
    options o = { .seed = 1, .shots = 384, .width = 64, .height = 64, .frames = 24, .fps = 25 };
    int c;

    avk_tool_init(argv[0]);
    while ((c = getopt_long(argc, argv, "o:s:n:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': o.dir = optarg; break;
        case 's': o.seed = (uint64_t)avk_parse_long("--seed", optarg, 0, INT32_MAX); break;
        case 'n': o.shots = (int)avk_parse_long("--shots", optarg, 1, 100000); break;
        case 'S':
            if (sscanf(optarg, "%dx%d", &o.width, &o.height) != 2 || o.width < 16 ||
                o.height < 16 || o.width > 4096 || o.height > 4096)
                avk_usage_error("--size: expected WxH from 16x16 to 4096x4096, got '%s'", optarg);
            break;
        case 'F': o.frames = (int)avk_parse_long("--frames", optarg, 2, 10000); break;
        case 'R': o.fps = (int)avk_parse_long("--fps", optarg, 1, 240); break;
        case 'H': o.held = 1; break;
        case 'h': usage(); break;
        case 'V': avk_print_version(); break;
        default: avk_usage_try();
        }
    }
    if (!o.dir)
        avk_usage_error("-o DIR is required");
    if (optind != argc)
        avk_usage_error("unexpected argument '%s'", argv[optind]);
    if (mkdir(o.dir, 0777) < 0 && errno != EEXIST)
        avk_die(1, "%s: %s", o.dir, strerror(errno));

    int *combos = avk_xmalloc(sizeof(int) * (size_t)(o.shots > N_COMBOS ? o.shots : N_COMBOS));
    int n = pick_combos(&o, combos);
    avk_out *truth = open_meta(&o, "truth.tsv"), *caps = open_meta(&o, "captions.tsv");
    avk_out *prompts = open_meta(&o, "prompts.txt");
    fputs("video\tstart\tend\tcolor\tshape\tdirection\tbackground\tcaption\n", truth->fp);
    fputs("video\tstart\tend\tcaption\n", caps->fp);
    for (int i = 0; i < n; i++) {
        int k = combos[i], d = k % N_DIRECTIONS, s = k / N_DIRECTIONS % N_SHAPES;
        int col = k / N_DIRECTIONS / N_SHAPES;
        rng r = { o.seed * 0x9E3779B97F4A7C15ULL + (uint64_t)i * 104729u + (uint64_t)o.held };
        rng_next(&r);
        shot t = plan_shot(&r, col, s, d, o.width, o.height, o.frames);
        if (o.held)                 /* the background heldout.txt names */
            t.bg = (col + s) % N_BACKGROUNDS;
        char name[64], path[4096], cap[160];
        snprintf(name, sizeof name, "shot-%03d.mp4", i);
        snprintf(path, sizeof path, "%s/%s", o.dir, name);
        if (write_shot(path, &t, o.width, o.height, o.frames, o.fps) < 0)
            avk_die_lib();
        caption(cap, sizeof cap, col, s, d, t.bg);
        fprintf(truth->fp, "%s\t0\t%d\t%s\t%s\t%s\t%s\t%s\n", name, o.frames,
                colors[col].name, shapes[s], directions[d].name, backgrounds[t.bg].name, cap);
        fprintf(caps->fp, "%s\t0\t%.3f\t%s\n", name, (double)o.frames / o.fps, cap);
        fprintf(prompts->fp, "%s\n", cap);
    }
    avk_out *held = open_meta(&o, "heldout.txt");
    for (int col = 0; col < N_COLORS; col++)
        for (int s = 0; s < N_SHAPES; s++)
            for (int d = 0; d < N_DIRECTIONS; d++)
                if (held_out(col, s, d)) {
                    char cap[160];
                    caption(cap, sizeof cap, col, s, d, (col + s) % N_BACKGROUNDS);
                    fprintf(held->fp, "%s\n", cap);
                }
    commit_meta(held);
    commit_meta(prompts);
    commit_meta(caps);
    commit_meta(truth);     /* last: it stands for the whole set */
    free(combos);
    return 0;
}
