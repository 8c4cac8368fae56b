/* The cut rules of shot detection, over the per-frame arrays of an
 * analyzer: adaptive and content thresholds, fades, flash suppression,
 * gradual transitions, the minimum shot length. Formulas: av-shotcut(1).
 */
#include "avkit/curate/shotdetect.h"
#include "shotdetect_impl.h"
#include "avkit/util/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- decision rules on per-frame arrays ------------------------------- */

/* The thumbnail cue of the adaptive detector (thumb_cut). */
static const double THUMB_MIN = 6.0, THUMB_RATIO = 4.0, THUMB_CONTENT_RATIO = 1.5;

/* Ratio of each frame's score to the mean of its window neighbours. */
void avk_adaptive_ratios(const float *score, size_t n, int window, double min_content,
                         float *ratio)
{
    for (size_t i = 0; i < n; i++) {
        ratio[i] = 0.0f;
        if (window < 1 || i < (size_t)window || i + (size_t)window >= n)
            continue;
        double sum = 0.0;
        for (int d = 1; d <= window; d++)
            sum += score[i - d] + score[i + d];
        double mean = sum / (2.0 * window);
        if (fabs(mean) < 1e-5)
            ratio[i] = score[i] >= min_content ? 255.0f : 0.0f;
        else
            ratio[i] = (float)fmin(score[i] / mean, 255.0);
    }
}

/* Fade-out / fade-in pairs of the mean intensity around a threshold. */
size_t avk_fade_cuts(const float *mean, size_t n, double threshold, int64_t *cut,
                     int64_t *dark_start, int64_t *dark_end, size_t max)
{
    size_t nc = 0;
    if (n == 0)
        return 0;
    int dark = mean[0] < threshold;
    int64_t last = 0;
    for (size_t i = 1; i < n; i++) {
        if (!dark && mean[i] < threshold) {
            dark = 1;
            last = (int64_t)i;
        } else if (dark && mean[i] >= threshold) {
            dark = 0;
            if (nc < max) {
                cut[nc] = (last + (int64_t)i) / 2;
                dark_start[nc] = last;
                dark_end[nc] = (int64_t)i;
                nc++;
            }
            last = (int64_t)i;
        }
    }
    return nc;
}

/* Drop cuts that come sooner than min_shot frames after the last kept one. */
size_t avk_enforce_min_shot(int64_t *cut, int64_t *ts, int64_t *te, size_t n, int min_shot)
{
    size_t k = 0;
    int64_t last = 0;
    for (size_t i = 0; i < n; i++) {
        if (cut[i] <= 0 || cut[i] - last < min_shot)
            continue;
        cut[k] = cut[i];
        if (ts) ts[k] = ts[i];
        if (te) te[k] = te[i];
        last = cut[k];
        k++;
    }
    return k;
}

/* A cut: the first frame of the new shot and the transition's span. */
typedef struct cut {
    int64_t at, ts, te;
    int gone;
} cut;

typedef struct cutlist {
    cut *c;
    size_t n, cap;
} cutlist;

/* Append a cut at `at` with the transition span [ts, te). */
static void cut_push(cutlist *l, int64_t at, int64_t ts, int64_t te)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->c = avk_xrealloc(l->c, sizeof(cut) * l->cap);
    }
    l->c[l->n++] = (cut){at, ts, te, 0};
}

/* Order cuts by frame. */
static int cut_cmp(const void *x, const void *y)
{
    const cut *a = x, *b = y;
    return a->at < b->at ? -1 : a->at > b->at;
}

/* Flash suppression: a change at frame c is no cut when, within flash_len
 * frames, a frame j comes back close to frame c-1 (thumbnail score under a
 * third of the change's and under half of min_content); every candidate in
 * [c, j] goes. */
static void suppress_flashes(const avk_shot_analyzer *a, cutlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        cut *c = &l->c[i];
        if (c->gone || c->at < 1)
            continue;
        double base = shot_thumb_dist(a, c->at - 1, c->at);
        for (int64_t j = c->at + 1; j <= c->at + a->p.flash_len && j < a->n; j++) {
            double dj = shot_thumb_dist(a, c->at - 1, j);
            if (dj < 0.4 * base) {
                for (size_t k = i; k < l->n && l->c[k].at <= j; k++)
                    l->c[k].gone = 1;
                avk_info(2, "flash: frames %lld-%lld return to frame %lld, no cut",
                         (long long)c->at, (long long)j, (long long)c->at - 1);
                break;
            }
        }
    }
}

/* How far the frames of a transition [ts, te) stray from a blend of the
 * frame before it (A = ts-1) and the frame after it (B = te): per thumbnail
 * cell and channel, the distance of a frame's value outside the interval
 * between A's and B's, averaged, over the mean |A - B|. Dissolves, fades
 * and wipes stay inside (each cell goes from A to B); motion does not. A
 * fade through black is checked as two halves split at its darkest frame.
 */
static double stray_ratio(const avk_shot_analyzer *a, int64_t ts, int64_t te)
{
    if (ts < 1 || te >= a->n || te <= ts)
        return 0.0;
    int64_t dark = -1;
    float dmin = 1e9f;
    for (int64_t t = ts; t < te; t++)
        if (a->mean[t] < dmin) { dmin = a->mean[t]; dark = t; }
    int64_t ends[3] = {ts - 1, te, te};
    int parts = 1;
    if (dmin < a->p.fade_threshold) {
        ends[1] = dark;
        parts = 2;
    }
    double worst = 0.0;
    for (int part = 0; part < parts; part++) {
        int64_t f0 = ends[part], f1 = ends[part + 1];
        const uint8_t *A = a->thumb + (size_t)TBYTES * f0, *B = a->thumb + (size_t)TBYTES * f1;
        double span = avk_mean_abs_diff(A, B, TBYTES), out = 0.0;
        int cnt = 0;
        for (int64_t t = f0 + 1; t < f1; t++, cnt++) {
            const uint8_t *F = a->thumb + (size_t)TBYTES * t;
            double o = 0.0;
            for (int c = 0; c < TBYTES; c++) {
                int lo = A[c] < B[c] ? A[c] : B[c], hi = A[c] < B[c] ? B[c] : A[c];
                o += F[c] > hi ? F[c] - hi : F[c] < lo ? lo - F[c] : 0;
            }
            out += o / TBYTES;
        }
        if (cnt > 0 && span > 0) {
            double r = out / cnt / span;
            if (r > worst) worst = r;
        }
    }
    return worst;
}

/* A gradual candidate: centre frame, half-span, long-range change. */
typedef struct gcand {
    int64_t i;
    int k;
    double lc;
} gcand;

/* Strongest gradual candidates first; ties: smaller scale, earlier frame. */
static int gcand_cmp(const void *x, const void *y)
{
    const gcand *a = x, *b = y;
    if (a->lc != b->lc)
        return a->lc > b->lc ? -1 : 1;
    if (a->k != b->k)
        return a->k - b->k;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* Ascending doubles, for medians. */
static int dbl_cmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* Refine a gradual candidate centred on i with half-span k. The excess of
 * a frame is its thumbnail change from the previous frame minus the median
 * change of the frames around the candidate (i-3k..i+3k outside the
 * window). The transition is the run of frames, grown from the window's
 * largest excess, whose excess is at least a fifth of that largest or whose
 * mean intensity is under the fade threshold (the black middle of a fade),
 * at most max_transition frames. When the run holds frames darker than
 * the fade threshold, it also takes the brightness ramps down to and up
 * from them (a fade out and in). The cut is the middle of the run, as
 * PySceneDetect places a fade's cut in the middle of the dark run. Returns 0 when one frame carries half of the
 * run's change or more: an abrupt change, left to the hard-cut rule. */
static int refine_gradual(const avk_shot_analyzer *a, int64_t i, int k, cut *out)
{
    double outside[256];
    int no = 0;
    for (int64_t t = i - 3 * k + 1; t <= i + 3 * k && no < 256; t++) {
        if (t < 1 || t >= a->n || (t > i - k && t <= i + k))
            continue;
        outside[no++] = shot_thumb_dist(a, t - 1, t);
    }
    double base = 0.0;
    if (no > 0) {
        qsort(outside, (size_t)no, sizeof(double), dbl_cmp);
        base = outside[no / 2];
    }
    int M = a->p.max_transition;
    int64_t lo = i - M > 1 ? i - M : 1, hi = i + M < a->n - 1 ? i + M : a->n - 1;
    if (hi < lo)
        return 0;
    double *ex = avk_xmalloc(sizeof(double) * (size_t)(hi - lo + 1));
    for (int64_t t = lo; t <= hi; t++) {
        double e = shot_thumb_dist(a, t - 1, t) - base;
        ex[t - lo] = e > 0 ? e : 0;
    }
    int64_t peak = -1;
    double mx = 0.0;
    for (int64_t t = i - k + 1; t <= i + k; t++)
        if (t >= lo && t <= hi && ex[t - lo] > mx) {
            mx = ex[t - lo];
            peak = t;
        }
    if (peak < 0 || mx <= 0) {
        free(ex);
        return 0;
    }
    double thr = 0.2 * mx;
    #define IN_RUN(t) (ex[(t) - lo] >= thr || a->mean[(t) - 1] < a->p.fade_threshold)
    int64_t first = peak, last = peak;
    while (first - 1 >= lo && last - (first - 1) < M && IN_RUN(first - 1))
        first--;
    while (last + 1 <= hi && last + 1 - first < M && IN_RUN(last + 1))
        last++;
    #undef IN_RUN
    /* Dark frames at the ends are part of no change: trim to changes. */
    while (first < last && ex[first - lo] < thr)
        first++;
    while (last > first && ex[last - lo] < thr)
        last--;
    /* A fade through black: the transition runs down the brightness ramp
     * before the darkest frames and up the ramp after them. */
    int64_t d0 = -1, d1 = -1;
    for (int64_t t = first - 1; t <= last; t++)
        if (t >= 0 && a->mean[t] < a->p.fade_threshold) {
            if (d0 < 0) d0 = t;
            d1 = t;
        }
    if (d0 >= 0) {
        int64_t s0 = d0, e0 = d1;
        while (s0 >= 1 && a->mean[s0 - 1] > a->mean[s0] + 0.5f && e0 - s0 < M)
            s0--;
        while (e0 + 1 < a->n && a->mean[e0 + 1] > a->mean[e0] + 0.5f && e0 - s0 < M)
            e0++;
        if (s0 + 1 < first && s0 + 1 >= lo) first = s0 + 1;
        if (e0 > last && e0 <= hi) last = e0;
    }
    double total = 0.0, top = 0.0;
    for (int64_t t = first; t <= last; t++) {
        total += ex[t - lo];
        if (ex[t - lo] > top) top = ex[t - lo];
    }
    int64_t at = (first + last) / 2;
    free(ex);
    if (total <= 0 || top >= 0.5 * total)
        return 0;
    out->at = at;
    out->ts = first;
    out->te = last;
    out->gone = 0;
    return 1;
}

/* Gradual transitions: at half-spans k, frame i is a candidate when the
 * histogram distance of frames i-k and i+k is at least gradual_min and at
 * least gradual_ratio times the mean of the same score over the spans just
 * before and after, and is the largest such within k frames. The strongest
 * candidates win over the ones they overlap; each is refined; hard cuts
 * inside an accepted transition are absorbed by it. */
static void find_gradual(const avk_shot_analyzer *a, cutlist *hard, cutlist *out)
{
    static const int scales[] = {2, 3, 4, 6, 8, 11, 16, 23, 32};
    int64_t n = a->n;
    gcand *gc = NULL;
    size_t ng = 0, gcap = 0;
    double *lc = avk_xmalloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    char *pass = avk_xmalloc((size_t)(n > 0 ? n : 1));
    for (size_t si = 0; si < sizeof scales / sizeof scales[0]; si++) {
        int k = scales[si];
        if (2 * k > a->p.max_transition || 2 * k >= n)
            break;
        for (int64_t i = 0; i < n; i++) {
            lc[i] = (i >= k && i + k < n) ? shot_hist_dist(a, i - k, i + k) : 0.0;
            pass[i] = 0;
        }
        for (int64_t i = k; i + k < n; i++) {
            if (lc[i] < a->p.gradual_min)
                continue;
            double nb = 0.0;
            int nn = 0;
            if (i - 2 * k >= k) { nb += lc[i - 2 * k]; nn++; }
            if (i + 2 * k + k < n) { nb += lc[i + 2 * k]; nn++; }
            if (nn > 0 && lc[i] >= a->p.gradual_ratio * (nb / nn))
                pass[i] = 1;
        }
        for (int64_t i = k; i + k < n; i++) {
            if (!pass[i])
                continue;
            int peak = 1;
            for (int64_t j = i - k; j <= i + k && peak; j++)
                if (j != i && j >= 0 && j < n && pass[j] &&
                    (lc[j] > lc[i] || (lc[j] == lc[i] && j < i)))
                    peak = 0;
            if (!peak)
                continue;
            if (ng == gcap) {
                gcap = gcap ? 2 * gcap : 64;
                gc = avk_xrealloc(gc, sizeof(gcand) * gcap);
            }
            gc[ng++] = (gcand){i, k, lc[i]};
        }
    }
    free(lc);
    free(pass);
    if (ng)
        qsort(gc, ng, sizeof(gcand), gcand_cmp);
    /* Windows already taken by a stronger candidate. */
    int64_t *lo = avk_xmalloc(sizeof(int64_t) * (ng ? ng : 1));
    int64_t *hi = avk_xmalloc(sizeof(int64_t) * (ng ? ng : 1));
    size_t nt = 0;
    for (size_t g = 0; g < ng; g++) {
        int64_t l0 = gc[g].i - gc[g].k, h0 = gc[g].i + gc[g].k;
        int overlap = 0;
        for (size_t t = 0; t < nt && !overlap; t++)
            if (l0 <= hi[t] && h0 >= lo[t])
                overlap = 1;
        if (overlap)
            continue;
        lo[nt] = l0;
        hi[nt] = h0;
        nt++;
        cut c;
        int taken = 0;
        for (size_t t = 0; t < out->n && !taken; t++)
            if (l0 <= out->c[t].te + 1 && h0 >= out->c[t].ts - 1)
                taken = 1;
        if (taken)
            continue;
        avk_info(3, "gradual candidate: frame %lld half-span %d score %.2f", (long long)gc[g].i,
                 gc[g].k, gc[g].lc);
        if (!refine_gradual(a, gc[g].i, gc[g].k, &c))
            continue;
        /* The scene must not come back right after (a long flash). */
        int back = 0;
        if (a->p.flash_filter && c.ts >= 1)
            for (int64_t j = c.te; j <= c.te + a->p.flash_len && j < n && !back; j++)
                if (shot_thumb_dist(a, c.ts - 1, j) < a->p.min_content / 2.0)
                    back = 1;
        if (back)
            continue;
        double stray = stray_ratio(a, c.ts, c.te);
        avk_info(3, "gradual: frames %lld-%lld stray %.3f", (long long)c.ts, (long long)c.te, stray);
        if (stray > MAX_STRAY)
            continue;
        for (size_t h = 0; h < hard->n; h++)
            if (hard->c[h].at >= c.ts - 1 && hard->c[h].at <= c.te + 1)
                hard->c[h].gone = 1;
        avk_info(2, "gradual: frames %lld-%lld (half-span %d), cut at %lld",
                 (long long)c.ts, (long long)c.te, gc[g].k, (long long)c.at);
        cut_push(out, c.at, c.ts, c.te);
    }
    free(lo);
    free(hi);
    free(gc);
}

/* The second cue of the adaptive detector: a cut the content score
 * leaves under its gates, because grain raises every frame's score (a
 * dark, grainy scene) or a picture without colour scores a third of a
 * coloured one (H and S do not change). The 16x12 thumbnails average grain
 * away and keep the layout: frame i is a cut when its thumbnail distance
 * to frame i-1 is at least THUMB_MIN and THUMB_RATIO times the mean of its
 * window neighbours', and its content ratio is at least THUMB_CONTENT_RATIO
 * (the pixels changed more than around it too). A pan changes thumbnails
 * steadily, frame after frame, and does not pass. */
static int thumb_cut(const avk_shot_analyzer *a, int64_t i, double content_ratio)
{
    int win = a->p.window;
    if (i < win + 1 || i + win >= a->n || content_ratio < THUMB_CONTENT_RATIO)
        return 0;
    double d = shot_thumb_dist(a, i - 1, i);
    if (d < THUMB_MIN)
        return 0;
    double sum = 0;
    for (int k = 1; k <= win; k++)
        sum += shot_thumb_dist(a, i - 1 - k, i - k) + shot_thumb_dist(a, i - 1 + k, i + k);
    double mean = sum / (2.0 * win);
    avk_info(3, "thumbnail: frame %lld distance %.2f, %.2f around, content ratio %.2f",
             (long long)i, d, mean, content_ratio);
    return d >= THUMB_RATIO * mean;
}

/* Decide cuts, build shots and stitch events. */
size_t avk_shot_analyzer_finish(avk_shot_analyzer *a, avk_shot **shots)
{
    int64_t n = a->n;
    const avk_shot_params *p = &a->p;
    *shots = NULL;
    if (n == 0)
        return 0;
    cutlist hard = {0}, grad = {0};
    if (p->detector == AVK_DETECT_FADE) {
        int64_t *c = avk_xmalloc(sizeof(int64_t) * 3 * (size_t)n);
        size_t nc = avk_fade_cuts(a->mean, (size_t)n, p->fade_threshold, c, c + n, c + 2 * n,
                                  (size_t)n);
        for (size_t i = 0; i < nc; i++)
            cut_push(&hard, c[i], c[n + i], c[2 * n + i]);
        free(c);
    } else {
        float *ratio = NULL;
        if (p->detector == AVK_DETECT_ADAPTIVE) {
            ratio = avk_xmalloc(sizeof(float) * (size_t)n);
            avk_adaptive_ratios(a->score, (size_t)n, p->window, p->min_content, ratio);
        }
        for (int64_t i = 1; i < n; i++) {
            int hit = p->detector == AVK_DETECT_ADAPTIVE ?
                (ratio[i] >= p->adaptive_threshold && a->score[i] >= p->min_content) :
                (a->score[i] >= p->threshold);
            if (!hit && p->detector == AVK_DETECT_ADAPTIVE)
                hit = thumb_cut(a, i, ratio[i]);
            if (hit)
                cut_push(&hard, i, i, i);
        }
        free(ratio);
        if (p->flash_filter)
            suppress_flashes(a, &hard);
        if (p->gradual)
            find_gradual(a, &hard, &grad);
    }
    /* All surviving cuts, in order, then the minimum shot length. */
    cutlist all = {0};
    for (size_t i = 0; i < hard.n; i++)
        if (!hard.c[i].gone)
            cut_push(&all, hard.c[i].at, hard.c[i].ts, hard.c[i].te);
    for (size_t i = 0; i < grad.n; i++)
        cut_push(&all, grad.c[i].at, grad.c[i].ts, grad.c[i].te);
    free(hard.c);
    free(grad.c);
    if (all.n)
        qsort(all.c, all.n, sizeof(cut), cut_cmp);
    int64_t *at = avk_xmalloc(sizeof(int64_t) * (all.n + 1));
    int64_t *ts = avk_xmalloc(sizeof(int64_t) * (all.n + 1));
    int64_t *te = avk_xmalloc(sizeof(int64_t) * (all.n + 1));
    size_t nc = 0;
    for (size_t i = 0; i < all.n; i++)
        if (all.c[i].at > 0 && all.c[i].at < n && (nc == 0 || all.c[i].at != at[nc - 1])) {
            at[nc] = all.c[i].at;
            ts[nc] = all.c[i].ts;
            te[nc] = all.c[i].te;
            nc++;
        }
    free(all.c);
    nc = avk_enforce_min_shot(at, ts, te, nc, p->min_shot);

    avk_shot *sh = avk_xcalloc(nc + 1, sizeof(avk_shot));
    for (size_t s = 0; s <= nc; s++) {
        sh[s].start = s == 0 ? 0 : at[s - 1];
        sh[s].end = s == nc ? n : at[s];
        sh[s].trans_start = s == 0 ? 0 : ts[s - 1];
        sh[s].trans_end = s == 0 ? 0 : te[s - 1];
    }
    free(at);
    free(ts);
    free(te);
    if (p->stitch <= 1.0)
        avk_shot_stitch(a, sh, nc + 1);
    else
        for (size_t s = 0; s <= nc; s++)
            sh[s].event = (int)s;
    *shots = sh;
    return nc + 1;
}

