/* Unit tests of the shot detectors on synthetic frame sequences built in
 * memory: hard cuts, a flash, a dissolve, a fade through black, a wipe,
 * fast motion, short shots, and event stitching. */
#include "avkit/curate/shotdetect.h"
#include "avkit/util/common.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define W 256
#define H 144
#define FB (W * H * 3)

/* A textured scene `id` at time t: two colours mixed by oriented stripes,
 * a bright disc moving at speed `v` pixels a frame, a gradient. */
static void scene(int id, double t, double v, uint8_t *rgb)
{
    static const uint8_t pal[][6] = {
        {200, 40, 40, 30, 30, 160}, {40, 180, 60, 220, 200, 40}, {60, 60, 200, 240, 140, 20},
        {150, 150, 150, 20, 90, 90}, {230, 110, 180, 30, 60, 30}, {30, 30, 40, 60, 40, 30},
    };
    const uint8_t *c = pal[id % 6];
    double ang = 0.7 * id, ca = cos(ang), sa = sin(ang);
    double cx = fmod(60 + v * t, W + 80) - 40, cy = 72 + 30 * sin(0.05 * t + id);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double u = (x * ca + y * sa + v * t * 0.5) / (9.0 + 3 * id);
            double m = 0.5 + 0.5 * sin(u);
            double gr = 0.6 + 0.4 * x / W;
            double px[3];
            for (int k = 0; k < 3; k++)
                px[k] = gr * (m * c[k] + (1 - m) * c[3 + k]);
            if ((x - cx) * (x - cx) + (y - cy) * (y - cy) < 300)
                px[0] = px[1] = px[2] = 235;
            for (int k = 0; k < 3; k++) {
                double q = px[k] < 0 ? 0 : px[k] > 255 ? 255 : px[k];
                rgb[(size_t)(y * W + x) * 3 + k] = (uint8_t)q;
            }
        }
}

/* Run the analyzer over a sequence given by a callback; returns shots. */
typedef void (*framefn)(int64_t f, uint8_t *rgb, void *ctx);

static size_t run(const avk_shot_params *p, int64_t n, framefn fn, void *ctx, avk_shot **sh)
{
    avk_shot_analyzer *a = avk_shot_analyzer_new(W, H, p);
    uint8_t *rgb = malloc(FB);
    for (int64_t f = 0; f < n; f++) {
        fn(f, rgb, ctx);
        avk_shot_analyzer_add(a, rgb);
    }
    size_t ns = avk_shot_analyzer_finish(a, sh);
    avk_shot_analyzer_free(a);
    free(rgb);
    return ns;
}

static void show(const char *what, const avk_shot *sh, size_t ns)
{
    for (size_t i = 0; i < ns; i++)
        diag("%s: shot %zu [%lld,%lld) trans [%lld,%lld) event %d", what, i,
             (long long)sh[i].start, (long long)sh[i].end, (long long)sh[i].trans_start,
             (long long)sh[i].trans_end, sh[i].event);
}

/* Segments: scene id and length, hard cuts between them. */
typedef struct { int ids[8]; int len[8]; int nseg; double v; } segs;

static void seg_frame(int64_t f, uint8_t *rgb, void *ctx)
{
    segs *s = ctx;
    int64_t acc = 0;
    for (int i = 0; i < s->nseg; i++) {
        if (f < acc + s->len[i]) {
            scene(s->ids[i], (double)f, s->v, rgb);
            return;
        }
        acc += s->len[i];
    }
    scene(s->ids[s->nseg - 1], (double)f, s->v, rgb);
}

/* Flash: scene 0 with frames [40, 40+len) brightened towards white. */
static int flash_len = 2;
static void flash_frame(int64_t f, uint8_t *rgb, void *ctx)
{
    scene(0, (double)f, 2.0, rgb);
    if (f >= 40 && f < 40 + flash_len)
        for (size_t i = 0; i < FB; i++)
            rgb[i] = (uint8_t)(rgb[i] + (255 - rgb[i]) * 9 / 10);
}

/* Transition between scene 0 and 2 over frames [40, 40 + tl). kind 0:
 * dissolve, 1: fade through black, 2: wipe left to right. */
static int trans_kind, trans_len = 20;
static void trans_frame(int64_t f, uint8_t *rgb, void *ctx)
{
    static uint8_t a[FB], b[FB];
    scene(0, (double)f, 1.0, a);
    scene(2, (double)f, 1.0, b);
    double al = (double)(f - 39) / (trans_len + 1);
    if (f < 40) al = 0;
    if (f >= 40 + trans_len) al = 1;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int k = 0; k < 3; k++) {
                size_t i = (size_t)(y * W + x) * 3 + k;
                double v;
                if (trans_kind == 0)
                    v = (1 - al) * a[i] + al * b[i];
                else if (trans_kind == 1)
                    v = al < 0.5 ? a[i] * (1 - 2 * al) : b[i] * (2 * al - 1);
                else
                    v = x < al * W ? b[i] : a[i];
                rgb[i] = (uint8_t)lrint(v);
            }
}

static void test_hsv(void)
{
    int bad = 0;
    uint8_t rgb[3], h, s, v;
    for (int r = 0; r < 256; r += 7)
        for (int g = 0; g < 256; g += 11)
            for (int b = 0; b < 256; b += 13) {
                rgb[0] = (uint8_t)r; rgb[1] = (uint8_t)g; rgb[2] = (uint8_t)b;
                avk_rgb_to_hsv(rgb, 1, &h, &s, &v);
                int mx = r > g ? (r > b ? r : b) : (g > b ? g : b);
                int mn = r < g ? (r < b ? r : b) : (g < b ? g : b);
                double d = mx - mn, hd = 0;
                if (d > 0) {
                    if (mx == r) hd = 60.0 * (g - b) / d;
                    else if (mx == g) hd = 120.0 + 60.0 * (b - r) / d;
                    else hd = 240.0 + 60.0 * (r - g) / d;
                    if (hd < 0) hd += 360;
                }
                int he = (int)lrint(hd / 2) % 180;
                int se = mx ? (int)lrint(255.0 * d / mx) : 0;
                int dh = abs(h - he);
                if (dh > 90) dh = 180 - dh;
                if (v != mx || abs(s - se) > 1 || dh > 1) {
                    if (bad++ < 3)
                        diag("rgb %d %d %d: hsv %d %d %d, expected %d %d %d", r, g, b, h, s, v, he, se, mx);
                }
            }
    ok(bad == 0, "RGB to HSV matches the OpenCV 8-bit definition within 1");
    rgb[0] = 255; rgb[1] = 0; rgb[2] = 0;
    avk_rgb_to_hsv(rgb, 1, &h, &s, &v);
    ok(h == 0 && s == 255 && v == 255, "pure red is H 0 S 255 V 255");
    rgb[0] = 0; rgb[1] = 0; rgb[2] = 255;
    avk_rgb_to_hsv(rgb, 1, &h, &s, &v);
    ok(h == 120 && s == 255, "pure blue is H 120 (240 degrees halved)");
}

static void test_rules(void)
{
    float score[12] = {0, 1, 1, 1, 1, 30, 1, 1, 1, 1, 0, 0};
    float ratio[12];
    avk_adaptive_ratios(score, 12, 2, 21.0, ratio);
    ok(fabsf(ratio[5] - 30.0f) < 1e-4f, "adaptive ratio is score over neighbour mean (%.3f)", ratio[5]);
    ok(ratio[0] == 0 && ratio[1] == 0 && ratio[11] == 0, "no ratio where the window does not fit");
    float z[7] = {0, 0, 0, 25, 0, 0, 0};
    avk_adaptive_ratios(z, 7, 2, 21.0, ratio);
    ok(ratio[3] == 255.0f, "zero neighbour mean with score >= min-content gives 255");

    float mean[20];
    for (int i = 0; i < 20; i++) mean[i] = (i >= 6 && i < 11) ? 3.0f : 100.0f;
    int64_t c[4], ds[4], de[4];
    size_t nc = avk_fade_cuts(mean, 20, 12.0, c, ds, de, 4);
    ok(nc == 1 && c[0] == 8 && ds[0] == 6 && de[0] == 11,
       "fade cut at floor((out + in) / 2) = 8 (got %zu cuts, %lld)", nc, nc ? (long long)c[0] : -1LL);

    int64_t cuts[5] = {10, 20, 30, 50, 52};
    size_t k = avk_enforce_min_shot(cuts, NULL, NULL, 5, 15);
    ok(k == 2 && cuts[0] == 20 && cuts[1] == 50, "min-shot keeps cuts 15 frames apart (%zu)", k);
}

static void test_hard_cuts(void)
{
    avk_shot_params p;
    avk_shot_params_default(&p);
    segs s = {{0, 1, 2, 3}, {40, 35, 50, 30}, 4, 1.0};
    avk_shot *sh;
    size_t ns = run(&p, 155, seg_frame, &s, &sh);
    show("hard", sh, ns);
    ok(ns == 4 && sh[1].start == 40 && sh[2].start == 75 && sh[3].start == 125 && sh[3].end == 155,
       "hard cuts found exactly at 40, 75, 125");
    ok(ns == 4 && sh[1].trans_start == 40 && sh[1].trans_end == 40, "hard cut has an empty transition");
    ok(ns == 4 && sh[0].event != sh[1].event && sh[1].event != sh[2].event && sh[2].event != sh[3].event,
       "distinct scenes get distinct events");
    free(sh);

    p.w_edges = 1.0;
    ns = run(&p, 155, seg_frame, &s, &sh);
    ok(ns == 4 && sh[1].start == 40 && sh[2].start == 75 && sh[3].start == 125,
       "with an edge weight the same cuts are found");
    free(sh);
    p.w_edges = 0.0;

    p.detector = AVK_DETECT_CONTENT;
    ns = run(&p, 155, seg_frame, &s, &sh);
    ok(ns == 4 && sh[1].start == 40 && sh[2].start == 75, "content detector finds the same cuts");
    free(sh);

    /* Very short shots: 6 frames each, min-shot 15 keeps the first cuts
     * 15 apart; min-shot 0 finds them all. */
    avk_shot_params_default(&p);
    segs t = {{0, 1, 2, 3, 4, 0}, {30, 6, 6, 6, 6, 30}, 6, 1.0};
    p.min_shot = 0;
    ns = run(&p, 84, seg_frame, &t, &sh);
    show("short", sh, ns);
    ok(ns == 6 && sh[1].start == 30 && sh[2].start == 36 && sh[3].start == 42 && sh[4].start == 48 &&
       sh[5].start == 54, "6-frame shots are cut exactly with --min-shot 0");
    free(sh);
    p.min_shot = 15;
    ns = run(&p, 84, seg_frame, &t, &sh);
    show("short15", sh, ns);
    int spaced = 1;
    for (size_t i = 1; i < ns; i++)
        if (sh[i].start - sh[i - 1].start < 15) spaced = 0;
    ok(spaced && ns >= 2, "with --min-shot 15 no shot is shorter than 15 frames (%zu shots)", ns);
    free(sh);
}

static void test_flash(void)
{
    avk_shot_params p;
    avk_shot_params_default(&p);
    avk_shot *sh;
    for (flash_len = 1; flash_len <= 4; flash_len++) {
        size_t ns = run(&p, 100, flash_frame, NULL, &sh);
        if (ns != 1) show("flash", sh, ns);
        ok(ns == 1, "a %d-frame flash does not cut", flash_len);
        free(sh);
    }
    flash_len = 2;
    p.flash_filter = 0;
    size_t ns = run(&p, 100, flash_frame, NULL, &sh);
    show("noflash", sh, ns);
    ok(ns == 3 && sh[1].start == 40 && sh[2].start == 42,
       "without the flash filter the 2-frame flash is a shot of its own");
    ok(ns == 3 && sh[0].event == sh[1].event && sh[1].event == sh[2].event,
       "event stitching merges the flash and the two halves around it");
    free(sh);
    p.min_shot = 15;
    ns = run(&p, 100, flash_frame, NULL, &sh);
    ok(ns == 2 && sh[1].start == 40, "... and with --min-shot 15 one cut (as the peers do)");
    free(sh);
}

static void test_gradual(void)
{
    static const char *names[] = {"dissolve", "fade through black", "wipe"};
    avk_shot_params p;
    avk_shot_params_default(&p);
    avk_shot *sh;
    for (trans_kind = 0; trans_kind < 3; trans_kind++)
        for (trans_len = 10; trans_len <= 30; trans_len += 20) {
            size_t ns = run(&p, 120, trans_frame, NULL, &sh);
            show(names[trans_kind], sh, ns);
            int64_t mid = 40 + trans_len / 2;
            ok(ns == 2 && llabs(sh[1].start - mid) <= 1,
               "%s over %d frames: one cut at the middle (%lld)", names[trans_kind], trans_len,
               (long long)mid);
            ok(ns == 2 && llabs(sh[1].trans_start - 40) <= 1 && llabs(sh[1].trans_end - (40 + trans_len)) <= 1,
               "%s over %d frames: span [40,%d) reported", names[trans_kind], trans_len, 40 + trans_len);
            free(sh);
        }
}

static void test_motion(void)
{
    avk_shot_params p;
    avk_shot_params_default(&p);
    avk_shot *sh;
    segs s = {{1}, {200}, 1, 12.0};
    size_t ns = run(&p, 200, seg_frame, &s, &sh);
    show("motion", sh, ns);
    ok(ns == 1, "fast motion (12 px a frame) gives no cut");
    free(sh);
}

/* Frame k of a 4:2:0 sequence that, over its chroma samples, goes
 * through every (U, V) pair (1024 x 1024 has 4 x 65536 samples) with a
 * different Y for each of the 16 pixels of a pair's samples, shifted from
 * frame to frame; w x h frames of other sizes take the same pattern
 * cropped. */
static void yuv_sweep(int w, int h, int k, uint8_t *f)
{
    int cw = (w + 1) / 2, ch = (h + 1) / 2;
    uint8_t *U = f + (size_t)w * h, *V = U + (size_t)cw * ch;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t c = (size_t)(y / 2) * cw + x / 2;
            f[(size_t)y * w + x] = (uint8_t)(16 * ((c / 65536 + k) % 4) * 4 + 4 * (y % 2) * 2 +
                                             (x % 2) * 4 + (size_t)(37 * k + 11 * c) % 4);
        }
    for (size_t c = 0; c < (size_t)cw * ch; c++) {
        U[c] = (uint8_t)((c + 101 * k) % 65536 % 256);
        V[c] = (uint8_t)((c + 101 * k) % 65536 / 256);
    }
}

/* The AVX-512 per-pixel code (where the CPU has it; code 0 with FP16
 * divisions and GFNI histograms where it has those, code 2 without) gives
 * the portable code's scores, means, histograms and layouts exactly, at
 * sizes whose rows end mid-vector too. */
static void test_simd_same(int code)
{
    static const int sizes[][2] = {{1024, 1024}, {333, 211}, {256, 144}, {17, 9}};
    for (int i = 0; i < 4; i++) {
        int w = sizes[i][0], h = sizes[i][1];
        avk_shot_params p;
        avk_shot_params_default(&p);
        avk_shot_analyzer *fast = avk_shot_analyzer_new(w, h, &p);
        avk_shot_analyzer *ref = avk_shot_analyzer_new(w, h, &p);
        avk_shot_analyzer_set_portable(fast, code);
        avk_shot_analyzer_set_portable(ref, 1);
        size_t n = (size_t)w * h + 2 * (size_t)((w + 1) / 2) * ((h + 1) / 2);
        uint8_t *f = avk_xmalloc(n);
        const int frames = 6;
        for (int k = 0; k < frames; k++) {
            if (k < 4) {
                yuv_sweep(w, h, k, f);
            } else {                   /* random, then a flat grey frame */
                for (size_t j = 0; j < n; j++)
                    f[j] = k == 4 ? (uint8_t)(rand() >> 7) : 128;
            }
            avk_shot_analyzer_add_yuv420p(fast, f);
            avk_shot_analyzer_add_yuv420p(ref, f);
        }
        const float *sf = avk_shot_analyzer_scores(fast), *sr = avk_shot_analyzer_scores(ref);
        const float *mf = avk_shot_analyzer_means(fast), *mr = avk_shot_analyzer_means(ref);
        int same = 1;
        for (int k = 0; k < frames; k++)
            if (sf[k] != sr[k] || mf[k] != mr[k]) {
                same = 0;
                diag("%dx%d frame %d: score %.6f vs %.6f, mean %.6f vs %.6f", w, h, k, sf[k],
                     sr[k], mf[k], mr[k]);
            }
        for (int k = 1; k < frames; k++)
            if (avk_shot_similarity(fast, k - 1, k, k, k + 1) !=
                avk_shot_similarity(ref, k - 1, k, k, k + 1)) {
                same = 0;
                diag("%dx%d frames %d, %d: similarity differs", w, h, k - 1, k);
            }
        ok(same, "%dx%d: the fast per-pixel code (%d) gives the portable code's results", w, h,
           code);
        free(f);
        avk_shot_analyzer_free(fast);
        avk_shot_analyzer_free(ref);
    }
}

int main(void)
{
    if (getenv("AVK_TEST_VERBOSE"))
        avk_verbose = atoi(getenv("AVK_TEST_VERBOSE"));
    test_hsv();
    test_rules();
    test_hard_cuts();
    test_flash();
    test_gradual();
    test_motion();
    test_simd_same(0);
    test_simd_same(2);
    return done_testing();
}
