/* The av-filter scores on frames made in memory: the static rule, the
 * aesthetic score against degraded versions of a picture, the watermark
 * score with and without a semi-transparent overlay over moving content,
 * and the --scores parser. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avkit/util/common.h"
#include "avkit/curate/filter.h"
#include "tap.h"

static uint32_t rng = 12345;
/* A small LCG, so the test is the same everywhere. */
static double urand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (rng >> 8) / 16777216.0;
}

/* A colored "scene": smooth shapes, edges and fine texture, shifted by
 * (dx, dy), values 0..255 in three channels. */
static double scene(int c, double x, double y)
{
    double v = 128 + 60 * sin(x * 0.031 + c) * cos(y * 0.027 - c) + 35 * sin((x + 2 * y) * 0.11 + c);
    if (fmod(floor(x / 37) + floor(y / 29), 2) == 0)
        v += 30 - 20 * c;
    v += 12 * sin(x * 0.9) * sin(y * 0.7 + c);
    return v < 0 ? 0 : v > 255 ? 255 : v;
}

static void render(uint8_t *rgb, int w, int h, double dx, double dy)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                rgb[((size_t)y * w + x) * 3 + c] = (uint8_t)lround(scene(c, x + dx, y + dy));
}

static uint8_t clamp8(double v)
{
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lround(v));
}

static double score(const uint8_t *rgb, int w, int h)
{
    avk_aesthetic a;
    avk_aesthetic_measure(rgb, w, h, &a);
    diag("score %.2f sharp %.1f noise %.2f bright %.2f contrast %.3f color %.1f",
         a.score, a.sharpness, a.noise, a.brightness, a.contrast, a.colorfulness);
    return a.score;
}

static void test_aesthetic(void)
{
    int w = 480, h = 270;
    size_t n = (size_t)w * h * 3;
    uint8_t *orig = avk_xmalloc(n), *deg = avk_xmalloc(n);
    render(orig, w, h, 0, 0);
    double s0 = score(orig, w, h);
    ok(s0 >= 1 && s0 <= 10, "aesthetic score in [1, 10] (%.2f)", s0);

    /* blur: Gaussian sigma 3 on each channel */
    float *p = avk_xmalloc((size_t)w * h * sizeof(float));
    for (int c = 0; c < 3; c++) {
        for (size_t i = 0; i < (size_t)w * h; i++)
            p[i] = orig[i * 3 + c];
        avk_plane_blur(p, w, h, 3.0, p);
        for (size_t i = 0; i < (size_t)w * h; i++)
            deg[i * 3 + c] = clamp8(p[i]);
    }
    double sb = score(deg, w, h);
    ok(sb < s0 - 1, "blurred scores lower: %.2f < %.2f - 1", sb, s0);
    for (size_t i = 0; i < n; i++)
        deg[i] = clamp8(orig[i] - 0.4 * 255);
    double sd = score(deg, w, h);
    ok(sd < s0 - 1, "darkened scores lower: %.2f < %.2f - 1", sd, s0);
    for (size_t i = 0; i < n; i++)
        deg[i] = clamp8(128 + 0.3 * (orig[i] - 128.0));
    double sw = score(deg, w, h);
    ok(sw < s0 - 1, "washed out scores lower: %.2f < %.2f - 1", sw, s0);
    for (size_t i = 0; i < n; i += 3) {
        double e = 80 * (urand() - 0.5);
        for (int c = 0; c < 3; c++)
            deg[i + c] = clamp8(orig[i + c] + e);
    }
    double sn = score(deg, w, h);
    ok(sn < s0 - 1, "noisy scores lower: %.2f < %.2f - 1", sn, s0);
    memset(deg, 128, n);
    double sf = score(deg, w, h);
    ok(sf < 3, "a flat gray frame scores low: %.2f", sf);
    free(p);
    free(orig);
    free(deg);
}

static void test_static(void)
{
    size_t n = 1000;
    float *a = avk_xmalloc(n * sizeof(float)), *b = avk_xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        a[i] = (float)(i % 50);
        b[i] = (float)((i + 25) % 50);   /* same mean, different picture */
    }
    ok(fabs(avk_static_diff(a, b, n, AVK_STATIC_MEANS)) < 1e-9, "equal means: difference of means 0");
    ok(avk_static_diff(a, b, n, AVK_STATIC_MAD) > 10, "moved picture: mean absolute difference %.1f",
       avk_static_diff(a, b, n, AVK_STATIC_MAD));
    for (size_t i = 0; i < n; i++)
        b[i] = a[i] + 0.5f;
    ok(fabs(avk_static_diff(a, b, n, AVK_STATIC_MAD) - 0.5) < 1e-6 &&
       fabs(avk_static_diff(a, b, n, AVK_STATIC_MEANS) - 0.5) < 1e-6, "uniform +0.5: both 0.5");
    double d[10] = {0.1, 0.2, 5, 5, 5, 5, 5, 5, 0.89, 0.9};
    ok(fabs(avk_static_fraction(d, 10, 0.9) - 0.3) < 1e-12, "3 of 10 under 0.9 (0.9 itself is not)");
    ok(avk_static_fraction(d, 0, 0.9) == 1.0, "a single frame is static");
    free(a);
    free(b);
}

/* n gray frames of a scene panning by (3, 1) pixels a frame, with an
 * optional semi-transparent white box (alpha 0.5, filled) in a corner. */
static float **pan_frames(int n, int w, int h, int overlay)
{
    float **f = avk_xmalloc((size_t)n * sizeof(float *));
    uint8_t *rgb = avk_xmalloc((size_t)w * h * 3);
    for (int k = 0; k < n; k++) {
        render(rgb, w, h, 9.0 * k, 4.0 * k);
        f[k] = avk_xmalloc((size_t)w * h * sizeof(float));
        avk_rgb_to_gray(rgb, w, h, f[k]);
        if (overlay)
            for (int y = 20; y < 60; y++)
                for (int x = w - 100; x < w - 20; x++)
                    f[k][(size_t)y * w + x] = 0.5f * f[k][(size_t)y * w + x] + 0.5f * 255;
    }
    free(rgb);
    return f;
}

static void test_watermark(void)
{
    int w = 320, h = 180, n = 8;
    avk_watermark wm;
    float **clean = pan_frames(n, w, h, 0), **logo = pan_frames(n, w, h, 1);
    avk_watermark_measure((const float *const *)clean, n, w, h, NULL, 0, &wm);
    ok(wm.score < 0.2, "panning scene without overlay: watermark %.3f < 0.2", wm.score);
    avk_watermark_measure((const float *const *)logo, n, w, h, NULL, 0, &wm);
    ok(wm.score > 0.5, "with a semi-transparent box: watermark %.3f > 0.5", wm.score);
    ok(wm.x1 > w - 100 && wm.x0 < w - 20 && wm.y0 < 60 && wm.y1 > 20,
       "the densest window [%d,%d %d,%d] touches the box", wm.x0, wm.y0, wm.x1, wm.y1);
    /* a still picture cannot show a watermark: no change, edge part 0 */
    float *still[8];
    for (int k = 0; k < n; k++)
        still[k] = logo[0];
    avk_watermark_measure((const float *const *)still, n, w, h, NULL, 0, &wm);
    ok(wm.edge_score == 0, "a still picture: edge part 0");
    /* corner text repeated at one place */
    avk_text_box b1 = {5, 5, 60, 20, 0.9f, 5, "CAM12"}, b2 = {6, 5, 61, 21, 0.8f, 5, "CAM12"};
    avk_text_box mid = {100, 80, 200, 100, 0.9f, 5, "CAM12"};
    avk_text_frame tf[3] = {{1, &b1, 0}, {1, &b2, 0}, {1, &mid, 0}};
    avk_watermark_measure((const float *const *)clean, n, w, h, tf, 3, &wm);
    ok(fabs(wm.text_score - 0.9) < 1e-9 && wm.score >= 0.9, "corner word in two frames: text part 0.9");
    avk_text_frame tf2[2] = {{1, &b1, 0}, {1, &mid, 0}};
    avk_watermark_measure((const float *const *)clean, n, w, h, tf2, 2, &wm);
    ok(wm.text_score == 0, "corner word in one frame only: text part 0");
    /* a running timecode reads differently in each frame */
    avk_text_box t1 = {5, 5, 60, 20, 0.9f, 8, "00:00:01"}, t2 = {5, 5, 60, 20, 0.9f, 8, "00:00:02"};
    avk_text_frame tf3[2] = {{1, &t1, 0}, {1, &t2, 0}};
    avk_watermark_measure((const float *const *)clean, n, w, h, tf3, 2, &wm);
    ok(wm.text_score == 0, "a word read differently (a timecode): text part 0");
    /* a word of the picture that a slow pan moves by a third of its width */
    avk_text_box p1 = {5, 5, 65, 20, 0.9f, 4, "SHOP"}, p2 = {25, 5, 85, 20, 0.9f, 4, "SHOP"};
    avk_text_frame tf4[2] = {{1, &p1, 0}, {1, &p2, 0}};
    avk_watermark_measure((const float *const *)clean, n, w, h, tf4, 2, &wm);
    ok(wm.text_score == 0, "a word that moved: text part 0");
    /* texture read as symbols: fewer than 3 letters or digits */
    avk_text_box g1 = {5, 5, 60, 20, 0.9f, 3, "\u00abIN"}, g2 = g1;
    avk_text_frame tf5[2] = {{1, &g1, 0}, {1, &g2, 0}};
    avk_watermark_measure((const float *const *)clean, n, w, h, tf5, 2, &wm);
    ok(wm.text_score == 0, "a word of symbols and two letters: text part 0");
    for (int k = 0; k < n; k++) {
        free(clean[k]);
        free(logo[k]);
    }
    free(clean);
    free(logo);
}

static void test_scores_parser(void)
{
    unsigned bits;
    ok(avk_filter_parse_scores("static,text", &bits) == 0 && bits == (AVK_SCORE_STATIC | AVK_SCORE_TEXT),
       "--scores static,text");
    ok(avk_filter_parse_scores("all", &bits) == 0 && bits == AVK_SCORE_ALL, "--scores all");
    ok(avk_filter_parse_scores("static,colour", &bits) < 0 && strstr(avk_errmsg(), "colour"),
       "unknown score named: %s", avk_errmsg());
    ok(avk_filter_parse_scores("", &bits) < 0, "empty list refused");
}

static void test_rules(void)
{
    avk_filter_opts o;
    avk_filter_opts_default(&o);
    avk_filter_result r = {0};
    r.readable = 1;
    r.nframes = 50;
    r.static_frac = 0.1;
    r.dynamic = 1;
    r.aesthetic = 6;
    r.text_frames = 1;
    r.watermark = 0.2;
    avk_filter_decide(&o, &r);
    ok(r.keep == 1 && !strcmp(r.reason, "-"), "a good clip is kept");
    r.text_frames = 2;
    r.watermark = 0.9;
    avk_filter_decide(&o, &r);
    ok(!r.keep && !strcmp(r.reason, "text"), "first failing rule is the reason (%s)", r.reason);
    r.static_frac = 0.3;
    avk_filter_decide(&o, &r);
    ok(!strcmp(r.reason, "static"), "static_frac 0.3 is static (>= 0.3)");
    r.nframes = 14;
    avk_filter_decide(&o, &r);
    ok(!r.keep && !strcmp(r.reason, "short"), "14 frames: short, before the scores");
    o.min_frames = 0;
    avk_filter_decide(&o, &r);
    ok(!strcmp(r.reason, "static"), "--min-frames 0 keeps short clips");
    o.min_frames = 15;
    r.nframes = 15;
    avk_filter_decide(&o, &r);
    ok(!strcmp(r.reason, "static"), "15 frames is long enough");
    r.readable = 0;
    avk_filter_decide(&o, &r);
    ok(!strcmp(r.reason, "unreadable"), "unreadable first");
    o.scores = AVK_SCORE_WATERMARK;
    r.readable = 1;
    avk_filter_decide(&o, &r);
    ok(!strcmp(r.reason, "watermark"), "only requested rules apply");
}

int main(void)
{
    test_static();
    test_aesthetic();
    test_watermark();
    test_scores_parser();
    test_rules();
    return done_testing();
}
