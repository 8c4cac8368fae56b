/* gen-footage: render avkit's bundled example footage, with its ground truth.
 *
 * Each video is a fixed script of shots (hard cuts, one fade through black,
 * one dissolve, one camera flash, static shots, a very short shot, burned-in
 * subtitles, a semi-transparent corner logo); the seed picks each shot's
 * shape, colors, direction, speed, texture, camera pan and exact length;
 * moving shots pan across a textured background, as real footage does.
 * Frames are rendered here in RGB24 and piped to the ffmpeg program, which
 * burns in the subtitles (drawtext) and encodes H.264. Alongside the videos
 * it writes truth.tsv (every shot and its properties), captions.tsv and
 * captions.jsonl (one caption per shot, by video and time interval).
 *
 * Rendering uses only +, -, *, /, sqrt and floor on doubles, so the raw
 * frames of a seed are the same bytes on every IEEE-754 machine (as long as
 * the compiler does not contract a*b+c into fused multiply-adds).
 */
#include "avkit/util/common.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

extern char **environ;

#define FONT_FILE "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
#define DEFAULT_SEED 1
#define DEFAULT_WIDTH 480
#define DEFAULT_HEIGHT 270
#define DEFAULT_FPS 25

/* ---- random numbers -------------------------------------------------- */

/* SplitMix64: a tiny generator with a 64-bit state, good enough to pick
 * colors and positions, and trivially reproducible from a seed. */
typedef struct rng { uint64_t s; } rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform double in [0, 1). */
static double rng_unit(rng *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform integer in [0, n). */
static int rng_int(rng *r, int n)
{
    return (int)(rng_unit(r) * n);
}

/* Uniform double in [lo, hi). */
static double rng_range(rng *r, double lo, double hi)
{
    return lo + (hi - lo) * rng_unit(r);
}

/* A generator for one named purpose of one shot, so that changing one
 * shot's draws never shifts another's. */
static rng rng_for(uint64_t seed, int video, int shot, int purpose)
{
    rng r = { seed * 0x100000001B3ULL + (uint64_t)video * 1000003u +
              (uint64_t)shot * 7919u + (uint64_t)purpose * 104729u };
    rng_next(&r);
    return r;
}

/* ---- vocabulary ------------------------------------------------------ */

typedef struct named_color { const char *name; double rgb[3]; } named_color;

static const named_color shape_colors[] = {
    { "red",    { 220,  40,  40 } }, { "green",  {  50, 190,  70 } },
    { "blue",   {  50, 100, 235 } }, { "yellow", { 240, 215,  40 } },
    { "orange", { 245, 140,  30 } }, { "purple", { 150,  70, 210 } },
    { "white",  { 240, 240, 240 } }, { "cyan",   {  40, 205, 215 } },
};
static const named_color bg_colors[] = {
    { "gray",       { 128, 128, 128 } }, { "dark blue",  {  45,  65, 150 } },
    { "dark green", {  40,  95,  50 } }, { "beige",      { 210, 195, 160 } },
    { "brown",      { 105,  70,  45 } },
};
#define N_SHAPE_COLORS ((int)(sizeof shape_colors / sizeof shape_colors[0]))
#define N_BG_COLORS ((int)(sizeof bg_colors / sizeof bg_colors[0]))

enum shape_kind { CIRCLE, SQUARE, TRIANGLE, N_SHAPES };
static const char *const shape_names[N_SHAPES] = { "circle", "square", "triangle" };

typedef struct direction { const char *name, *phrase; double dx, dy; } direction;
#define D 0.70710678118654752
static const direction directions[] = {
    { "left", "left", -1, 0 },            { "right", "right", 1, 0 },
    { "up", "up", 0, -1 },                { "down", "down", 0, 1 },
    { "up-left", "up and to the left", -D, -D },
    { "up-right", "up and to the right", D, -D },
    { "down-left", "down and to the left", -D, D },
    { "down-right", "down and to the right", D, D },
};
#undef D
#define N_DIRECTIONS ((int)(sizeof directions / sizeof directions[0]))

enum transition { TR_START, TR_CUT, TR_FADE, TR_DISSOLVE };
static const char *const transition_names[] = { "start", "cut", "fade", "dissolve" };

/* ---- the script ------------------------------------------------------ */

/* What the fixed script asks of one shot; the seed fills in the rest. */
typedef struct shot_spec {
    double seconds;     /* nominal length (jittered by the seed) */
    int frames;         /* fixed length in frames instead (very short shot) */
    int transition;     /* into this shot */
    int still, text, watermark, flash, textured;
    int slow;           /* a slow drift instead of a camera pan */
} shot_spec;

typedef struct video_spec {
    const char *name;
    int nshots;
    shot_spec shots[8];
} video_spec;

static const video_spec script[] = {
    { "video1.mp4", 7, {
        { 3.0, 0, TR_START, 0, 1, 0, 0, 1, 0 },
        { 3.0, 0, TR_CUT,   0, 0, 0, 0, 1, 0 },
        { 3.0, 0, TR_FADE,  0, 0, 0, 0, 1, 0 },
        { 2.4, 0, TR_CUT,   1, 0, 0, 0, 1, 0 },
        { 3.6, 0, TR_CUT,   0, 0, 0, 1, 1, 0 },
        { 0.0, 8, TR_CUT,   0, 0, 0, 0, 1, 0 },
        { 3.0, 0, TR_CUT,   0, 1, 0, 0, 1, 0 } } },
    { "video2.mp4", 5, {
        { 3.0, 0, TR_START,    0, 0, 0, 0, 1, 0 },
        { 3.2, 0, TR_DISSOLVE, 0, 1, 0, 0, 1, 0 },
        { 3.0, 0, TR_CUT,      0, 0, 1, 0, 1, 0 },
        { 2.4, 0, TR_CUT,      1, 0, 0, 0, 0, 0 },
        { 3.0, 0, TR_CUT,      0, 0, 0, 0, 1, 0 } } },
    /* Shot 2 is the one slow shot: the camera only drifts and the shape
     * moves slowly, the low-motion footage a curation filter should drop. */
    { "video3.mp4", 4, {
        { 2.4, 0, TR_START, 1, 1, 0, 0, 0, 0 },
        { 3.0, 0, TR_CUT,   0, 0, 0, 0, 1, 0 },
        { 3.4, 0, TR_CUT,   0, 0, 0, 0, 1, 1 },
        { 3.0, 0, TR_CUT,   0, 1, 0, 0, 1, 0 } } },
};
#define N_VIDEOS ((int)(sizeof script / sizeof script[0]))

#define FADE_SECONDS 0.96      /* whole fade through black (24 frames at 25 fps) */
#define DISSOLVE_SECONDS 0.8   /* whole cross-fade (20 frames at 25 fps) */
#define FLASH_FRAMES 3
/* Weight of the per-pixel grain in the texture: a little, so that the
 * texture is not perfectly smooth, but not so much that it reads as noise
 * (av-filter's aesthetic score penalizes sensor-like noise). */
#define TEXTURE_GRAIN 0.05
static const double flash_strength[FLASH_FRAMES] = { 0.9, 0.75, 0.4 };

/* One shot as it is rendered. Frames are absolute indices in the video. */
typedef struct shot {
    int start, end;                 /* the shot's own frames, [start, end) */
    int render_start, render_end;   /* frames where its content is drawn
                                       (wider than the shot in a dissolve) */
    int transition, trans_start, trans_end;
    int fade_in, fade_out;          /* frames of fade at each end */
    int still, text, watermark, textured, slow;
    int flash_start, flash_end;     /* -1 -1 when none */
    int shape, color, bg, dir;
    double speed, radius, x0, y0, vx, vy;
    double pan;                     /* camera pan speed, pixels a frame */
    double drift_x, drift_y;        /* texture offset per frame (-pan velocity) */
    uint8_t *texture;               /* textured background, tex_w x tex_h */
    int tex_w, tex_h;
    double tex_x0, tex_y0;          /* texture coordinate of pixel (0,0) at t=0 */
} shot;

typedef struct video {
    const char *name;
    int nframes, nshots;
    shot shots[8];
} video;

typedef struct options {
    const char *dir, *checksums;
    uint64_t seed;
    int width, height, fps;
    int raw, no_video, no_text, no_watermark;
} options;

/* Squared distance between two colors. */
static double color_dist2(const double *a, const double *b)
{
    double d0 = a[0] - b[0], d1 = a[1] - b[1], d2 = a[2] - b[2];
    return d0 * d0 + d1 * d1 + d2 * d2;
}

/* Pick the seeded content of a shot: shape, colors (distinct from the
 * previous shots' so that a cut is visible, and contrasting with the
 * background), size, direction and a speed that keeps the shape inside
 * the frame for the whole time it is drawn. */
static void plan_content(shot *shots, int si, const options *o, int vi)
{
    shot *s = &shots[si];
    const shot *prev = si > 0 ? &shots[si - 1] : NULL;
    rng r = rng_for(o->seed, vi, si, 1);
    int W = o->width, H = o->height;
    do
        s->bg = rng_int(&r, N_BG_COLORS);
    while (prev && s->bg == prev->bg);
    for (int tries = 0; ; tries++) {
        s->color = rng_int(&r, N_SHAPE_COLORS);
        if (color_dist2(shape_colors[s->color].rgb, bg_colors[s->bg].rgb) < 140.0 * 140.0)
            continue;
        int reused = 0;
        for (int j = si - 1; j >= 0 && j >= si - 3; j--)
            reused |= shots[j].color == s->color;
        if (!reused || tries > 100)
            break;
    }
    do
        s->shape = rng_int(&r, N_SHAPES);
    while (prev && s->shape == prev->shape);
    s->radius = H * rng_range(&r, 0.10, 0.16);
    double margin = s->radius * 1.15 + 2;   /* the triangle's apex reaches 1.15 r */
    double xmin = margin, xmax = W - margin, ymin = margin, ymax = H - margin;
    int span = s->render_end - s->render_start - 1;
    if (s->still) {
        s->dir = -1;
        s->speed = s->vx = s->vy = 0;
        s->x0 = rng_range(&r, xmin, xmax);
        s->y0 = rng_range(&r, ymin, ymax);
        s->drift_x = s->drift_y = 0;
        return;
    }
    s->dir = rng_int(&r, N_DIRECTIONS);
    const direction *d = &directions[s->dir];
    /* A shape in a slow shot or on a plain background moves 1-2 pixels a
     * frame, one in a panning shot 2.5-5; either is capped so that the
     * shape stays inside the frame. */
    int fast = s->textured && !s->slow;
    double speed = (fast ? rng_range(&r, 2.5, 5.0) : rng_range(&r, 1.0, 2.0)) * W / 480.0;
    if (d->dx != 0 && speed * fabs(d->dx) * span > xmax - xmin)
        speed = (xmax - xmin) / (fabs(d->dx) * span);
    if (d->dy != 0 && speed * fabs(d->dy) * span > ymax - ymin)
        speed = (ymax - ymin) / (fabs(d->dy) * span);
    s->speed = floor(speed * 100) / 100;   /* what truth.tsv says, exactly */
    s->vx = s->speed * d->dx;
    s->vy = s->speed * d->dy;
    double tx = s->vx * span, ty = s->vy * span;
    s->x0 = rng_range(&r, xmin - (tx < 0 ? tx : 0), xmax - (tx > 0 ? tx : 0));
    s->y0 = rng_range(&r, ymin - (ty < 0 ? ty : 0), ymax - (ty > 0 ? ty : 0));
    /* The camera pans across the textured background in a direction of its
     * own (the shape keeps its own motion in the frame): the background
     * moves `pan` pixels a frame, 3-3.8 at 480 wide, enough for av-filter's
     * motion rule (VBench's threshold is about 2.1 pixels a frame here), as
     * in the footage a curation pipeline keeps. Much faster pans (4 and up)
     * hide the fade and the dissolve from av-shotcut's gradual-transition
     * finder. A slow shot only drifts, 0.5-1 pixel a frame; a plain
     * background shows no pan. */
    s->pan = 0;
    s->drift_x = s->drift_y = 0;
    if (!s->textured)
        return;
    double pan = s->slow ? rng_range(&r, 0.5, 1.0) : rng_range(&r, 3.0, 3.8);
    s->pan = floor(pan * W / 480.0 * 100) / 100;
    const direction *bd = &directions[rng_int(&r, N_DIRECTIONS)];
    s->drift_x = -s->pan * bd->dx;
    s->drift_y = -s->pan * bd->dy;
}

/* Smooth value noise: random values on a lattice of `cell` pixels,
 * interpolated with a smoothstep; returns a w*h array in [0, 1]. */
static float *value_noise(rng *r, int w, int h, int cell)
{
    int gw = w / cell + 2, gh = h / cell + 2;
    float *grid = avk_xmalloc(sizeof *grid * gw * gh);
    for (int i = 0; i < gw * gh; i++)
        grid[i] = (float)rng_unit(r);
    float *out = avk_xmalloc(sizeof *out * w * h);
    for (int y = 0; y < h; y++) {
        int gy = y / cell;
        double fy = (double)(y % cell) / cell;
        fy = fy * fy * (3 - 2 * fy);
        for (int x = 0; x < w; x++) {
            int gx = x / cell;
            double fx = (double)(x % cell) / cell;
            fx = fx * fx * (3 - 2 * fx);
            const float *g = grid + gy * gw + gx;
            double top = g[0] + (g[1] - g[0]) * fx;
            double bot = g[gw] + (g[gw + 1] - g[gw]) * fx;
            out[y * w + x] = (float)(top + (bot - top) * fy);
        }
    }
    free(grid);
    return out;
}

/* Render a textured background tile big enough for the whole pan: three
 * octaves of value noise plus a faint grain, tinting the background color
 * with enough contrast and fine detail to look like a scene, not a haze. */
static void make_texture(shot *s, const options *o, int vi, int si)
{
    rng r = rng_for(o->seed, vi, si, 2);
    int span = s->render_end - s->render_start;
    int padx = (int)ceil(fabs(s->drift_x) * span) + 2;
    int pady = (int)ceil(fabs(s->drift_y) * span) + 2;
    s->tex_w = o->width + padx;
    s->tex_h = o->height + pady;
    s->tex_x0 = s->drift_x < 0 ? padx - 2 : 0;
    s->tex_y0 = s->drift_y < 0 ? pady - 2 : 0;
    int n = s->tex_w * s->tex_h;
    int coarse = o->height / 5 > 4 ? o->height / 5 : 4;
    int fine = o->height / 24 > 2 ? o->height / 24 : 2;
    int detail = o->height / 64 > 2 ? o->height / 64 : 2;
    float *a = value_noise(&r, s->tex_w, s->tex_h, coarse);
    float *b = value_noise(&r, s->tex_w, s->tex_h, fine);
    float *d = value_noise(&r, s->tex_w, s->tex_h, detail);
    const double *c = bg_colors[s->bg].rgb;
    s->texture = avk_xmalloc((size_t)n * 3);
    for (int i = 0; i < n; i++) {
        double v = 0.45 * a[i] + 0.30 * b[i] + 0.20 * d[i] + TEXTURE_GRAIN * rng_unit(&r);
        double k = 0.3 + 1.4 * v;
        for (int ch = 0; ch < 3; ch++) {
            double p = c[ch] * k + 48 * (v - 0.5);
            s->texture[i * 3 + ch] = (uint8_t)(p < 0 ? 0 : p > 255 ? 255 : p + 0.5);
        }
    }
    free(a);
    free(b);
    free(d);
}

/* Lay out a video's shots: lengths, transitions and their spans, render
 * spans, flash, then the seeded content. */
static void plan_video(video *v, const video_spec *vs, const options *o, int vi)
{
    int fade = (int)(FADE_SECONDS * o->fps + 0.5) & ~1;
    int dissolve = (int)(DISSOLVE_SECONDS * o->fps + 0.5) & ~1;
    if (fade < 2)
        fade = 2;
    if (dissolve < 2)
        dissolve = 2;
    v->name = vs->name;
    v->nshots = vs->nshots;
    int pos = 0;
    for (int i = 0; i < vs->nshots; i++) {
        const shot_spec *sp = &vs->shots[i];
        shot *s = &v->shots[i];
        rng r = rng_for(o->seed, vi, i, 0);
        memset(s, 0, sizeof *s);
        int len = sp->frames;
        if (!len)
            len = (int)((sp->seconds + rng_range(&r, -0.4, 0.4)) * o->fps + 0.5);
        s->start = pos;
        s->end = pos + len;
        pos = s->end;
        s->transition = sp->transition;
        s->still = sp->still;
        s->text = sp->text;
        s->watermark = sp->watermark;
        s->textured = sp->textured;
        s->slow = sp->slow;
        s->flash_start = s->flash_end = -1;
        if (sp->flash) {
            int mid = s->start + len / 2 + (int)(rng_range(&r, -0.3, 0.3) * o->fps);
            s->flash_start = mid - FLASH_FRAMES / 2;
            s->flash_end = s->flash_start + FLASH_FRAMES;
        }
    }
    v->nframes = pos;
    /* Transitions: the boundary is the first frame of the new shot, in the
     * middle of the transition's span. */
    for (int i = 0; i < v->nshots; i++) {
        shot *s = &v->shots[i];
        s->render_start = s->start;
        s->render_end = s->end;
        s->trans_start = s->trans_end = s->start;
        if (i == 0)
            continue;   /* the script starts every video with TR_START */
        if (s->transition == TR_FADE) {
            s->fade_in = fade / 2;
            v->shots[i - 1].fade_out = fade / 2;
            s->trans_start = s->start - fade / 2;
            s->trans_end = s->start + fade / 2;
        } else if (s->transition == TR_DISSOLVE) {
            s->render_start = s->start - dissolve / 2;
            v->shots[i - 1].render_end = s->start + dissolve / 2;
            s->trans_start = s->render_start;
            s->trans_end = s->start + dissolve / 2;
        }
    }
    for (int i = 0; i < v->nshots; i++) {
        shot *s = &v->shots[i];
        plan_content(v->shots, i, o, vi);
        /* Leaving an overlay out changes nothing else. */
        s->text &= !o->no_text;
        s->watermark &= !o->no_watermark;
        if (s->textured)
            make_texture(s, o, vi, i);
    }
}

/* ---- rendering ------------------------------------------------------- */

/* Signed distance (pixels, negative inside) from (px,py) to the shape. */
static double shape_distance(const shot *s, double px, double py, double cx, double cy)
{
    double x = px - cx, y = py - cy, r = s->radius;
    switch (s->shape) {
    case CIRCLE:
        return sqrt(x * x + y * y) - r;
    case SQUARE: {
        double h = r * 0.85;
        double dx = fabs(x) - h, dy = fabs(y) - h;
        if (dx > 0 && dy > 0)
            return sqrt(dx * dx + dy * dy);
        return dx > dy ? dx : dy;
    }
    default: {
        /* Equilateral triangle pointing up, circumradius 1.15 r: the
         * largest distance to its three edge lines (exact inside, a fair
         * approximation near the corners outside). */
        double R = r * 1.15;
        double d1 = y - R * 0.5;                           /* bottom edge */
        double d2 = 0.86602540378443865 * x - 0.5 * y - R * 0.5;   /* right */
        double d3 = -0.86602540378443865 * x - 0.5 * y - R * 0.5;  /* left */
        double d = d1 > d2 ? d1 : d2;
        return d > d3 ? d : d3;
    }
    }
}

/* Fill the frame with the shot's background at time t (frames since
 * render_start): a plain color, or the drifting texture sampled
 * bilinearly. */
static void draw_background(const shot *s, double t, uint8_t *rgb, int W, int H)
{
    if (!s->textured) {
        const double *c = bg_colors[s->bg].rgb;
        uint8_t p[3] = { (uint8_t)c[0], (uint8_t)c[1], (uint8_t)c[2] };
        for (int i = 0; i < W * H; i++)
            memcpy(rgb + i * 3, p, 3);
        return;
    }
    double ox = s->tex_x0 + s->drift_x * t, oy = s->tex_y0 + s->drift_y * t;
    int ix = (int)floor(ox), iy = (int)floor(oy);
    double fx = ox - ix, fy = oy - iy;
    double w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy);
    double w10 = (1 - fx) * fy, w11 = fx * fy;
    size_t stride = (size_t)s->tex_w * 3;
    for (int y = 0; y < H; y++) {
        const uint8_t *a = s->texture + (size_t)(y + iy) * stride + (size_t)ix * 3;
        const uint8_t *b = a + stride;
        uint8_t *out = rgb + (size_t)y * W * 3;
        for (int x = 0; x < W * 3; x++)
            out[x] = (uint8_t)(w00 * a[x] + w01 * a[x + 3] + w10 * b[x] + w11 * b[x + 3] + 0.5);
    }
}

/* Draw the shape, anti-aliased by coverage = clamp(0.5 - distance, 0, 1). */
static void draw_shape(const shot *s, double t, uint8_t *rgb, int W, int H)
{
    double cx = s->x0 + s->vx * t, cy = s->y0 + s->vy * t;
    double reach = s->radius * 1.2 + 2;
    int x0 = (int)floor(cx - reach), x1 = (int)ceil(cx + reach);
    int y0 = (int)floor(cy - reach), y1 = (int)ceil(cy + reach);
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > W - 1) x1 = W - 1;
    if (y1 > H - 1) y1 = H - 1;
    const double *c = shape_colors[s->color].rgb;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            double a = 0.5 - shape_distance(s, x + 0.5, y + 0.5, cx, cy);
            if (a <= 0)
                continue;
            if (a > 1)
                a = 1;
            uint8_t *p = rgb + ((size_t)y * W + x) * 3;
            for (int ch = 0; ch < 3; ch++)
                p[ch] = (uint8_t)(p[ch] + (c[ch] - p[ch]) * a + 0.5);
        }
}

/* The logo's glyphs, 5x7, one string a row ('#' set). */
static const char *const logo_glyphs[3][7] = {
    { ".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#" },  /* A */
    { "#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.." },  /* V */
    { "#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#" },  /* K */
};

/* Does the logo cover cell (gx, gy) of its 21 x 11 grid: a one-cell
 * frame, one cell of padding, and "AVK" (5x7 glyphs, one-cell gaps)? */
static int logo_cell(int gx, int gy)
{
    if (gx == 0 || gy == 0 || gx == 20 || gy == 10)
        return 1;
    int lx = gx - 2, ly = gy - 2;
    if (ly < 0 || ly >= 7 || lx < 0 || lx >= 17 || lx % 6 == 5)
        return 0;
    return logo_glyphs[lx / 6][ly][lx % 6] == '#';
}

/* Blend the fixed, semi-transparent watermark into the top-right corner:
 * white at 45% opacity over a frame with the letters "AVK". */
static void draw_watermark(uint8_t *rgb, int W, int H)
{
    int cell = H / 90 > 1 ? H / 90 : 1;
    int lw = 21 * cell, lh = 11 * cell;
    int left = W - lw - H / 30, top = H / 30;
    const double alpha = 0.45;
    for (int y = 0; y < lh; y++)
        for (int x = 0; x < lw; x++) {
            if (!logo_cell(x / cell, y / cell))
                continue;
            uint8_t *p = rgb + ((size_t)(top + y) * W + left + x) * 3;
            for (int ch = 0; ch < 3; ch++)
                p[ch] = (uint8_t)(p[ch] + (255 - p[ch]) * alpha + 0.5);
        }
}

/* Render shot s as it looks at absolute frame f (background, shape,
 * watermark, flash), without transitions. */
static void render_shot(const shot *s, int f, uint8_t *rgb, int W, int H)
{
    double t = s->still ? 0 : f - s->render_start;
    draw_background(s, t, rgb, W, H);
    draw_shape(s, t, rgb, W, H);
    if (s->watermark)
        draw_watermark(rgb, W, H);
    if (f >= s->flash_start && f < s->flash_end) {
        double k = flash_strength[f - s->flash_start];
        for (size_t i = 0; i < (size_t)W * H * 3; i++)
            rgb[i] = (uint8_t)(rgb[i] + (255 - rgb[i]) * k + 0.5);
    }
}

/* Compose absolute frame f of a video: the shot (or the two shots of a
 * dissolve), then the fade factor. `tmp` is a second frame buffer. */
static void render_frame(const video *v, int f, uint8_t *rgb, uint8_t *tmp, int W, int H)
{
    const shot *cur = NULL, *other = NULL;
    for (int i = 0; i < v->nshots; i++) {
        const shot *s = &v->shots[i];
        if (f >= s->start && f < s->end)
            cur = s;
        else if (f >= s->render_start && f < s->render_end)
            other = s;
    }
    render_shot(cur, f, rgb, W, H);
    size_t n = (size_t)W * H * 3;
    if (other) {
        /* Dissolve: weight of the later shot rises linearly over the span. */
        const shot *later = other > cur ? other : cur;
        render_shot(other, f, tmp, W, H);
        double a = (f - later->trans_start + 0.5) / (later->trans_end - later->trans_start);
        double wc = cur == later ? a : 1 - a;
        for (size_t i = 0; i < n; i++)
            rgb[i] = (uint8_t)(rgb[i] * wc + tmp[i] * (1 - wc) + 0.5);
    }
    double k = 1;
    if (cur->fade_in && f < cur->start + cur->fade_in)
        k = (double)(f - cur->start) / cur->fade_in;
    if (cur->fade_out && f >= cur->end - cur->fade_out)
        k = (double)(cur->end - 1 - f) / cur->fade_out;
    if (k < 1)
        for (size_t i = 0; i < n; i++)
            rgb[i] = (uint8_t)(rgb[i] * k + 0.5);
}

/* ---- descriptions ---------------------------------------------------- */

/* "a red circle moving left" or "a still red circle": the subtitle. */
static char *shot_subject(const shot *s)
{
    const char *color = shape_colors[s->color].name;
    if (s->still)
        return avk_xasprintf("a still %s %s", color, shape_names[s->shape]);
    return avk_xasprintf("%s %s %s moving %s", strchr("aeiou", color[0]) ? "an" : "a",
                         color, shape_names[s->shape], directions[s->dir].phrase);
}

/* The full caption: subject and background. */
static char *shot_caption(const shot *s)
{
    char *subj = shot_subject(s);
    char *cap = avk_xasprintf("%s on a %s%s background", subj,
                              s->textured ? "textured " : "", bg_colors[s->bg].name);
    free(subj);
    return cap;
}

/* ---- output: videos -------------------------------------------------- */

/* Where frames go: the ffmpeg program (mp4), a raw file, or nowhere.
 * Encoding lives in these few functions so that it can move to the
 * library's avk_encoder_* (the subtitles would then need a renderer of
 * their own). */
typedef struct frame_sink {
    char *path, *tmp;
    pid_t pid;          /* ffmpeg, or 0 */
    int fd;             /* its stdin */
    avk_out *raw;       /* --raw */
} frame_sink;

/* The drawtext filters that burn each text shot's subtitle into its own
 * frames, large, centered near the bottom; NULL when no shot has text. */
static char *subtitle_filters(const video *v, int H)
{
    avk_buf b = { 0 };
    for (int i = 0; i < v->nshots; i++) {
        const shot *s = &v->shots[i];
        if (!s->text)
            continue;
        char *subj = shot_subject(s);
        avk_buf_printf(&b, "%sdrawtext=fontfile=%s:text='%s':fontsize=%d:"
                       "fontcolor=white:borderw=%d:bordercolor=black:"
                       "x=(w-text_w)/2:y=h-text_h-%d:enable='between(n,%d,%d)'",
                       b.len ? "," : "", FONT_FILE, subj, H / 11,
                       H / 135 > 1 ? H / 135 : 1, H / 15, s->start, s->end - 1);
        free(subj);
    }
    if (!b.len)
        return NULL;
    avk_buf_append(&b, "", 1);
    return (char *)b.data;
}

/* Start ffmpeg reading RGB24 frames on a pipe and writing H.264 mp4 to a
 * temporary name next to `path`. NULL with the error set on failure. */
static frame_sink *sink_open_mp4(const char *path, const video *v, const options *o)
{
    frame_sink *k = avk_xcalloc(1, sizeof *k);
    k->path = avk_xstrdup(path);
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path) + 1 : 0;
    k->tmp = avk_xasprintf("%.*s.%s.tmp%d.mp4", dirlen, path,
                           slash ? slash + 1 : path, (int)getpid());
    char size[32], fps[16], gop[16];
    /* "file:" so that a directory name with a colon is never a protocol. */
    char *target = avk_xasprintf("file:%s", k->tmp);
    snprintf(size, sizeof size, "%dx%d", o->width, o->height);
    snprintf(fps, sizeof fps, "%d", o->fps);
    snprintf(gop, sizeof gop, "%d", 2 * o->fps);
    char *filters = subtitle_filters(v, o->height);
    if (filters && access(FONT_FILE, R_OK) != 0) {
        avk_error("%s: cannot read the subtitle font %s (install fonts-dejavu-core, "
                  "or leave subtitles out with --no-text)", path, FONT_FILE);
        free(target);
        goto fail;
    }
    const char *argv[48];
    int n = 0;
    const char *head[] = { "ffmpeg", "-hide_banner", "-nostats", "-loglevel", "error",
                           "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", size,
                           "-r", fps, "-i", "-" };
    for (size_t i = 0; i < sizeof head / sizeof head[0]; i++)
        argv[n++] = head[i];
    if (filters) {
        argv[n++] = "-vf";
        argv[n++] = filters;
    }
    const char *tail[] = { "-c:v", "libx264", "-preset", "medium", "-crf", "18",
                           "-pix_fmt", "yuv420p", "-threads", "1", "-g", gop,
                           "-map_metadata", "-1", "-fflags", "+bitexact",
                           "-flags:v", "+bitexact", "-f", "mp4", target, NULL };
    for (size_t i = 0; i < sizeof tail / sizeof tail[0]; i++)
        argv[n++] = tail[i];

    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        avk_error("%s: pipe: %s", path, strerror(errno));
        goto fail;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[0], 0);
    avk_tmp_register(k->tmp);
    int rc = posix_spawnp(&k->pid, "ffmpeg", &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[0]);
    if (rc != 0) {
        close(pfd[1]);
        avk_tmp_unregister(k->tmp);
        avk_error("%s: cannot run ffmpeg: %s", path, strerror(rc));
        goto fail;
    }
    k->fd = pfd[1];
    free(filters);
    free(target);
    return k;
fail:
    free(filters);
    free(target);
    free(k->tmp);
    free(k->path);
    free(k);
    return NULL;
}

/* Open the sink for one video as the options ask. */
static frame_sink *sink_open(const video *v, const options *o)
{
    if (o->no_video) {
        frame_sink *k = avk_xcalloc(1, sizeof *k);
        return k;
    }
    if (!o->raw) {
        char *path = avk_xasprintf("%s/%s", o->dir, v->name);
        frame_sink *k = sink_open_mp4(path, v, o);
        free(path);
        return k;
    }
    char *path = avk_xasprintf("%s/%.*s.rgb", o->dir,
                               (int)(strlen(v->name) - 4), v->name);
    frame_sink *k = avk_xcalloc(1, sizeof *k);
    k->raw = avk_out_open(path, 1);
    k->path = path;
    if (!k->raw) {
        free(path);
        free(k);
        return NULL;
    }
    return k;
}

/* Send one frame. 0 or -1 (error set). */
static int sink_write(frame_sink *k, const uint8_t *rgb, size_t n)
{
    if (k->raw)
        return avk_fwrite_all(k->raw->fp, rgb, n, k->path);
    if (!k->pid)
        return 0;
    while (n > 0) {
        ssize_t w = write(k->fd, rgb, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return avk_error("%s: ffmpeg stopped reading frames: %s", k->path,
                             strerror(errno));
        rgb += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Wait for ffmpeg; 0 when it exited with status 0. */
static int sink_wait(frame_sink *k)
{
    int status;
    while (waitpid(k->pid, &status, 0) < 0)
        if (errno != EINTR)
            return avk_error("%s: waitpid: %s", k->path, strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        return avk_error("%s: ffmpeg failed (exit status %d)", k->path, WEXITSTATUS(status));
    return avk_error("%s: ffmpeg killed by signal %d", k->path, WTERMSIG(status));
}

/* Finish the video and give it its real name (ok=1), or throw it away
 * (ok=0). Frees k. 0 or -1. */
static int sink_close(frame_sink *k, int ok)
{
    int rc = 0;
    if (k->raw) {
        if (ok)
            rc = avk_out_commit(k->raw);
        else
            avk_out_abort(k->raw);
    } else if (k->pid) {
        close(k->fd);
        if (!ok)
            kill(k->pid, SIGTERM);
        int w = sink_wait(k);
        if (ok && w != 0)
            rc = -1;
        if (ok && rc == 0 && rename(k->tmp, k->path) != 0)
            rc = avk_error("%s: cannot rename %s: %s", k->path, k->tmp, strerror(errno));
        if (!ok || rc != 0)
            unlink(k->tmp);
        avk_tmp_unregister(k->tmp);
    }
    free(k->tmp);
    free(k->path);
    free(k);
    return ok ? rc : -1;
}

/* ---- output: ground truth and captions ------------------------------- */

/* Write `text` as a JSON string (our captions are plain ASCII, but be
 * correct for anything). */
static void json_string(FILE *fp, const char *text)
{
    fputc('"', fp);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(fp, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(fp, "\\u%04x", *p);
        else
            fputc(*p, fp);
    }
    fputc('"', fp);
}

/* Write DIR/NAME through a temporary file with one of the writers below. */
static int write_meta(const options *o, const char *name, const video *vids,
                      void (*writer)(FILE *, const video *, const options *))
{
    char *path = avk_xasprintf("%s/%s", o->dir, name);
    avk_out *out = avk_out_open(path, 0);
    free(path);
    if (!out)
        return -1;
    writer(out->fp, vids, o);
    return avk_out_commit(out);
}

static void write_truth(FILE *fp, const video *vids, const options *o)
{
    fputs("video\tshot\tstart\tend\ttransition\ttrans_start\ttrans_end\tstatic\t"
          "text\twatermark\tflash_start\tflash_end\tshape\tcolor\tdirection\t"
          "speed\tbackground\ttexture\tpan\n", fp);
    for (int v = 0; v < N_VIDEOS; v++)
        for (int i = 0; i < vids[v].nshots; i++) {
            const shot *s = &vids[v].shots[i];
            fprintf(fp, "%s\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%.2f\t%s\t%s\t%.2f\n",
                    vids[v].name, i, s->start, s->end, transition_names[s->transition],
                    s->trans_start, s->trans_end, s->still, s->text, s->watermark,
                    s->flash_start, s->flash_end, shape_names[s->shape],
                    shape_colors[s->color].name, s->still ? "none" : directions[s->dir].name,
                    s->speed, bg_colors[s->bg].name, s->textured ? "textured" : "plain", s->pan);
        }
}

static void write_captions_tsv(FILE *fp, const video *vids, const options *o)
{
    fputs("video\tstart\tend\tcaption\n", fp);
    for (int v = 0; v < N_VIDEOS; v++)
        for (int i = 0; i < vids[v].nshots; i++) {
            const shot *s = &vids[v].shots[i];
            char *cap = shot_caption(s);
            fprintf(fp, "%s\t%.3f\t%.3f\t%s\n", vids[v].name, (double)s->start / o->fps,
                    (double)s->end / o->fps, cap);
            free(cap);
        }
}

static void write_captions_jsonl(FILE *fp, const video *vids, const options *o)
{
    for (int v = 0; v < N_VIDEOS; v++)
        for (int i = 0; i < vids[v].nshots; i++) {
            const shot *s = &vids[v].shots[i];
            char *cap = shot_caption(s);
            fputs("{\"video\":", fp);
            json_string(fp, vids[v].name);
            fprintf(fp, ",\"start\":%.3f,\"end\":%.3f,\"caption\":",
                    (double)s->start / o->fps, (double)s->end / o->fps);
            json_string(fp, cap);
            fputs("}\n", fp);
            free(cap);
        }
}

/* ---- main ------------------------------------------------------------ */

static void usage(void)
{
    printf(
"Usage: gen-footage [OPTION]... -o DIR\n"
"Render avkit's example footage: %d short videos of simple moving shapes,\n"
"joined by hard cuts, a fade through black, a dissolve and a camera flash,\n"
"with static shots, a very short shot, burned-in subtitles and a\n"
"semi-transparent corner logo, plus the ground truth and one caption per shot.\n"
"\n"
"  -o, --output DIR      write everything into DIR (created if missing)\n"
"      --seed N          seed of shapes, colors, motion, textures and shot\n"
"                        lengths (default %d); the same seed gives the same\n"
"                        frames\n"
"  -s, --size WxH        frame size, even numbers (default %dx%d)\n"
"  -r, --fps N           frames per second (default %d)\n"
"      --raw             write raw RGB24 frames (DIR/videoN.rgb) instead of\n"
"                        mp4; raw frames have no subtitles (ffmpeg burns those)\n"
"      --no-video        write only the ground truth and captions (and\n"
"                        --checksums)\n"
"      --no-text         leave the subtitles out (everything else unchanged)\n"
"      --no-watermark    leave the corner logo out (everything else unchanged)\n"
"      --checksums FILE  write the CRC-32 of every raw RGB24 frame to FILE\n"
"                        ('-' for stdout): header 'video frame crc32'\n"
"  -v, --verbose         say what is written\n"
"  -h, --help            show this help and exit\n"
"      --version         show the version and exit\n"
"\n"
"Videos (DIR/video1.mp4 ...): H.264 (libx264, crf 18, yuv420p) made by piping\n"
"frames into the ffmpeg program, which also draws the subtitles (drawtext).\n"
"Subtitles: white DejaVu Sans, H/11 pixels high, centered, inside the bottom\n"
"quarter of the frame. Logo: a frame around \"AVK\", white at 45%% opacity,\n"
"21c x 11c pixels (c = H/90) at H/30 pixels from the top and right edges.\n"
"With --raw, frame N of videoK.mp4 is at byte N*W*H*3 of videoK.rgb.\n"
"\n"
"DIR/truth.tsv, one shot a line after a header, frames 0-based, end exclusive;\n"
"each video's shots tile its frames exactly:\n"
"  video shot start end transition trans_start trans_end static text watermark\n"
"  flash_start flash_end shape color direction speed background texture pan\n"
"  transition is how the shot begins: start, cut, fade (through black) or\n"
"  dissolve; [trans_start, trans_end) is the transition's span (start = end\n"
"  for a cut); a fade or dissolve puts the boundary in the middle of its span.\n"
"  static, text (burned-in subtitle), watermark (corner logo) are 0 or 1;\n"
"  [flash_start, flash_end) are over-exposed frames (-1 -1: none); direction\n"
"  is left, right, up, down, up-left, up-right, down-left, down-right or none;\n"
"  speed is the shape's speed in the frame, pixels a frame; texture is plain\n"
"  or textured; pan is the speed of the camera pan, pixels a frame, by which\n"
"  a textured background moves (0 for a plain background or a static shot).\n"
"DIR/captions.tsv: header 'video start end caption', times in seconds, one\n"
"  shot a line: video1.mp4  0.000  3.120  a red circle moving left on a gray\n"
"  background\n"
"DIR/captions.jsonl: the same, one JSON object a line:\n"
"  {\"video\":\"video1.mp4\",\"start\":0.000,\"end\":3.120,\"caption\":\"...\"}\n"
"\n"
"Raw frames are identical for a seed, size and fps on any IEEE-754 machine;\n"
"the mp4 files are identical for a seed with the same FFmpeg and libx264.\n"
"Exit status: 0 success, 1 failure, 2 bad usage.\n",
        N_VIDEOS, DEFAULT_SEED, DEFAULT_WIDTH, DEFAULT_HEIGHT, DEFAULT_FPS);
}

/* Parse "WxH" with even sizes in a sane range. */
static void parse_size(const char *text, int *w, int *h)
{
    char *end;
    long a = strtol(text, &end, 10), b = 0;
    if (*end == 'x' || *end == 'X')
        b = strtol(end + 1, &end, 10);
    if (*end || a < 96 || b < 54 || a > 3840 || b > 2160 || a % 2 || b % 2)
        avk_usage_error("--size: '%s' is not WxH with even W in 96..3840 and "
                        "even H in 54..2160", text);
    *w = (int)a;
    *h = (int)b;
}

/* Create DIR and its parents. 0 or -1. */
static int make_dirs(const char *dir)
{
    char *p = avk_xstrdup(dir);
    for (char *q = p + 1; ; q++) {
        if (*q == '/' || *q == 0) {
            char c = *q;
            *q = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                avk_error("%s: cannot create directory: %s", p, strerror(errno));
                free(p);
                return -1;
            }
            *q = c;
            if (!c)
                break;
        }
    }
    free(p);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return avk_error("%s: not a directory", dir);
    return 0;
}

/* Render every frame of one video into its sink (and the checksum file). */
static int render_video(const video *v, const options *o, FILE *sums, avk_progress *pr,
                        int *done)
{
    size_t n = (size_t)o->width * o->height * 3;
    uint8_t *rgb = avk_xmalloc(n), *tmp = avk_xmalloc(n);
    frame_sink *k = sink_open(v, o);
    int rc = k ? 0 : -1;
    for (int f = 0; rc == 0 && f < v->nframes; f++) {
        render_frame(v, f, rgb, tmp, o->width, o->height);
        if (sums)
            fprintf(sums, "%s\t%d\t%08lx\n", v->name, f, crc32(0L, rgb, (uInt)n));
        rc = sink_write(k, rgb, n);
        avk_progress_update(pr, ++*done);
    }
    if (k && sink_close(k, rc == 0) != 0)
        rc = -1;
    free(rgb);
    free(tmp);
    if (rc == 0)
        avk_info(1, "%s: %d frames, %d shots", v->name, v->nframes, v->nshots);
    return rc;
}

int main(int argc, char **argv)
{
    avk_tool_init(argv[0]);
    options o = { .dir = NULL, .seed = DEFAULT_SEED, .width = DEFAULT_WIDTH,
                  .height = DEFAULT_HEIGHT, .fps = DEFAULT_FPS };
    enum { OPT_SEED = 256, OPT_RAW, OPT_NO_VIDEO, OPT_NO_TEXT, OPT_NO_WATERMARK,
           OPT_CHECKSUMS, OPT_VERSION };
    static const struct option longopts[] = {
        { "output", required_argument, NULL, 'o' },
        { "seed", required_argument, NULL, OPT_SEED },
        { "size", required_argument, NULL, 's' },
        { "fps", required_argument, NULL, 'r' },
        { "raw", no_argument, NULL, OPT_RAW },
        { "no-video", no_argument, NULL, OPT_NO_VIDEO },
        { "no-text", no_argument, NULL, OPT_NO_TEXT },
        { "no-watermark", no_argument, NULL, OPT_NO_WATERMARK },
        { "checksums", required_argument, NULL, OPT_CHECKSUMS },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, OPT_VERSION },
        { 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "o:s:r:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': o.dir = optarg; break;
        case OPT_SEED:
            o.seed = (uint64_t)avk_parse_long("--seed", optarg, 0, 0x7fffffffffffffffL);
            break;
        case 's': parse_size(optarg, &o.width, &o.height); break;
        case 'r': o.fps = (int)avk_parse_long("--fps", optarg, 5, 120); break;
        case OPT_RAW: o.raw = 1; break;
        case OPT_NO_VIDEO: o.no_video = 1; break;
        case OPT_NO_TEXT: o.no_text = 1; break;
        case OPT_NO_WATERMARK: o.no_watermark = 1; break;
        case OPT_CHECKSUMS: o.checksums = optarg; break;
        case 'v': avk_verbose++; break;
        case 'h': usage(); return AVK_EXIT_OK;
        case OPT_VERSION: avk_print_version();
        default: avk_usage_error("unknown option");
        }
    }
    if (optind < argc)
        avk_usage_error("unexpected argument '%s'", argv[optind]);
    if (!o.dir || !*o.dir)
        avk_usage_error("no output directory (give -o DIR)");
    if (make_dirs(o.dir) != 0)
        avk_die_lib();

    static video vids[N_VIDEOS];
    int total = 0;
    for (int v = 0; v < N_VIDEOS; v++) {
        plan_video(&vids[v], &script[v], &o, v);
        total += vids[v].nframes;
    }

    avk_out *sums = NULL;
    if (o.checksums) {
        if (!(sums = avk_out_open(o.checksums, 0)))
            avk_die_lib();
        fputs("video\tframe\tcrc32\n", sums->fp);
    }
    avk_progress pr;
    avk_progress_start(&pr, "gen-footage", total);
    int rc = 0, done = 0;
    for (int v = 0; rc == 0 && v < N_VIDEOS; v++)
        rc = render_video(&vids[v], &o, sums ? sums->fp : NULL, &pr, &done);
    avk_progress_end(&pr);
    /* The metadata comes last: truth.tsv present means the set is whole. */
    if (rc == 0)
        rc = write_meta(&o, "captions.tsv", vids, write_captions_tsv);
    if (rc == 0)
        rc = write_meta(&o, "captions.jsonl", vids, write_captions_jsonl);
    if (rc == 0)
        rc = write_meta(&o, "truth.tsv", vids, write_truth);
    if (sums) {
        if (rc == 0)
            rc = avk_out_commit(sums);
        else
            avk_out_abort(sums);
    }
    for (int v = 0; v < N_VIDEOS; v++)
        for (int i = 0; i < vids[v].nshots; i++)
            free(vids[v].shots[i].texture);
    if (rc != 0)
        avk_die_lib();
    return AVK_EXIT_OK;
}
