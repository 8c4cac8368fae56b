/* Event stitching: adjacent shots whose end and start look alike share an
 * event. The descriptor (HSV histograms and a 4x4 colour layout) and the
 * rule are in av-shotcut(1), EVENT STITCHING.
 */
#include "avkit/curate/shotdetect.h"
#include "shotdetect_impl.h"
#include "avkit/util/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Event descriptor of frames [f0, f1): square roots of the mean HSV
 * histogram fractions and the mean 4x4 RGB layout minus its own mean per
 * channel, each part L2-normalized and weighted by sqrt(1/2). */
static void descriptor(const avk_shot_analyzer *a, int64_t f0, int64_t f1, double *d)
{
    double hs[HIST] = {0}, lay[LAYOUT] = {0};
    int64_t cnt = f1 - f0;
    if (cnt <= 0) {
        memset(d, 0, sizeof(double) * (HIST + LAYOUT));
        return;
    }
    for (int64_t f = f0; f < f1; f++) {
        for (int i = 0; i < HIST; i++) hs[i] += a->hist[(size_t)HIST * f + i];
        for (int i = 0; i < LAYOUT; i++) lay[i] += a->layout[(size_t)LAYOUT * f + i];
    }
    double hn = 0.0, ln = 0.0, cm[3] = {0};
    for (int i = 0; i < HIST; i++) {
        hs[i] = sqrt(hs[i] / cnt);
        hn += hs[i] * hs[i];
    }
    for (int i = 0; i < LAYOUT; i++) {
        lay[i] /= cnt;
        cm[i % 3] += lay[i] / (LW * LW);
    }
    for (int i = 0; i < LAYOUT; i++) {
        lay[i] -= cm[i % 3];
        ln += lay[i] * lay[i];
    }
    hn = sqrt(hn);
    ln = sqrt(ln);
    double wh = sqrt(0.5), wl = sqrt(0.5);
    if (ln < 1.0) {          /* a flat frame: no layout to compare */
        wh = 1.0;
        wl = 0.0;
    }
    for (int i = 0; i < HIST; i++) d[i] = hn > 0 ? wh * hs[i] / hn : 0.0;
    for (int i = 0; i < LAYOUT; i++) d[HIST + i] = ln > 0 ? wl * lay[i] / ln : 0.0;
}

/* Cosine similarity of two frame ranges' event descriptors. */
double avk_shot_similarity(const avk_shot_analyzer *a, int64_t a0, int64_t a1,
                           int64_t b0, int64_t b1)
{
    double x[HIST + LAYOUT], y[HIST + LAYOUT], dot = 0.0, nx = 0.0, ny = 0.0;
    descriptor(a, a0, a1, x);
    descriptor(a, b0, b1, y);
    for (int i = 0; i < HIST + LAYOUT; i++) {
        dot += x[i] * y[i];
        nx += x[i] * x[i];
        ny += y[i] * y[i];
    }
    if (nx <= 0 || ny <= 0)
        return 0.0;
    return dot / sqrt(nx * ny);
}

/* Head and tail frame ranges of shot s used by stitching: stitch_frames
 * frames, leaving out the frames of a gradual transition at either end. */
static void head_range(const avk_shot_analyzer *a, const avk_shot *s, int64_t *f0, int64_t *f1)
{
    int64_t b = s->trans_end > s->start ? s->trans_end : s->start;
    if (b >= s->end) b = s->start;
    *f0 = b;
    *f1 = b + a->p.stitch_frames < s->end ? b + a->p.stitch_frames : s->end;
}

/* The frames of shot s's tail, before the next shot's transition. */
static void tail_range(const avk_shot_analyzer *a, const avk_shot *s, const avk_shot *next,
                       int64_t *f0, int64_t *f1)
{
    int64_t e = s->end;
    if (next && next->trans_start < e && next->trans_start > s->start)
        e = next->trans_start;
    *f1 = e;
    *f0 = e - a->p.stitch_frames > s->start ? e - a->p.stitch_frames : s->start;
}

/* Similarity of the tail of shot x and the head of shot y. */
static double shot_sim(const avk_shot_analyzer *a, const avk_shot *sh, size_t ns, size_t x, size_t y)
{
    int64_t t0, t1, h0, h1;
    tail_range(a, &sh[x], x + 1 < ns ? &sh[x + 1] : NULL, &t0, &t1);
    head_range(a, &sh[y], &h0, &h1);
    return avk_shot_similarity(a, t0, t1, h0, h1);
}

/* Event ids: a shot joins the previous shot's event when the tail of the
 * one and the head of the other are more similar than `stitch`; a short
 * shot (under 2 * stitch_frames) between two shots that are similar that
 * way is an interruption, and all three share one event. */
void avk_shot_stitch(const avk_shot_analyzer *a, avk_shot *sh, size_t ns)
{
    int ev = 0;
    if (ns == 0)
        return;
    sh[0].event = 0;
    for (size_t s = 1; s < ns; s++) {
        double sim = shot_sim(a, sh, ns, s - 1, s);
        avk_info(2, "stitch: shots %zu-%zu similarity %.3f", s - 1, s, sim);
        if (sim > a->p.stitch) {
            sh[s].event = sh[s - 1].event;
            continue;
        }
        if (s + 1 < ns && sh[s].end - sh[s].start < 2 * a->p.stitch_frames) {
            double bridge = shot_sim(a, sh, ns, s - 1, s + 1);
            avk_info(2, "stitch: shots %zu-%zu across %zu similarity %.3f", s - 1, s + 1, s, bridge);
            if (bridge > a->p.stitch) {
                sh[s].event = sh[s + 1].event = sh[s - 1].event;
                s++;
                continue;
            }
        }
        sh[s].event = ++ev;
    }
}

