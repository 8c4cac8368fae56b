/* A DiT batch run in groups of samples, one per thread (lib/models/
 * dit_split.c), against the same batch in one pass (avk_dit.whole_batch):
 * predictions and gradients within 1e-5 (the weight gradients' sums
 * round differently), two steps the same bits, gradients that accumulate,
 * every block announced (avk_params_grads_ready) in the whole batch's
 * order with its final gradients, batches that do not divide run whole,
 * four threads as four groups, activation memory that counts every
 * thread's arenas.
 * Variants: single-stream cross, MM-DiT joint, per-frame conditioning with
 * recomputation, external text embeddings. Run with two threads. And the
 * module's safety net, through its private interface: called where its
 * team gets fewer threads than groups (inside a running team, so nested
 * regions get one thread), the groups run one after another, announce
 * nothing, and still give the whole batch's values. (OMP_THREAD_LIMIT or
 * OMP_DYNAMIC cannot show it: oneDNN's GEMMs then compute only part of
 * their output.) */
#include "tap.h"
#include "avkit/models/dit.h"
#include "avkit/nn/tensor.h"
#include "dit_small.h"
#include "models/dit_internal.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { B = 4, C = 4, T = 3, HL = 6, WL = 8, L = 5, E = 12, NX = B * C * T * HL * WL };

/* The batch: fixed noise, times, tokens or embeddings, caption lengths. */
typedef struct batch {
    float x[NX], t[B], dpred[NX], emb[B * L * E];
    int32_t tok[B * L];
    int len[B];
    avk_dit_batch b;
} batch;

static void make_batch(batch *d, int text_emb)
{
    avk_rng r;
    avk_rng_seed(&r, 42);
    avk_fill_randn(d->x, NX, &r, 0.0f, 1.0f);
    avk_fill_randn(d->dpred, NX, &r, 0.0f, 1e-3f);
    avk_fill_randn(d->emb, B * L * E, &r, 0.0f, 1.0f);
    for (int i = 0; i < B; i++) {
        d->t[i] = 0.1f + 0.2f * (float)i;
        d->len[i] = (int[]){5, 3, 0, 4}[i];
    }
    for (int i = 0; i < B * L; i++)
        d->tok[i] = (int32_t)(avk_rng_uniform(&r) * 60) + 1;
    d->b = (avk_dit_batch){.B = B, .T = T, .H = HL, .W = WL, .x = d->x, .t = d->t, .L = L,
                           .tokens = text_emb ? NULL : d->tok,
                           .text_emb = text_emb ? d->emb : NULL, .text_len = d->len};
}

/* The small model (dit_small.h) of that variant. */
static avk_dit *model(int mmdit, int joint, int frame_cond, int text_emb)
{
    avk_dit_config c = dit_small_config();
    c.mmdit = mmdit;
    c.joint = joint;
    c.frame_cond = frame_cond;
    c.text_emb_dim = text_emb ? E : 0;
    return dit_small_model(&c);
}

/* What the announcements of one backward saw: the blocks in order, each
 * one's gradients at that moment, and whether a team of threads was
 * running (the groups' backward) when it came. */
typedef struct heard {
    avk_dit *m;
    int n, block[64], in_team;
    float *at[64];
} heard;

static void listen(void *ctx, int block)
{
    heard *h = ctx;
    const avk_param_block *pb = &h->m->par->block[block];
    if (h->n < 64) {
        h->block[h->n] = block;
        h->at[h->n] = malloc((size_t)pb->size * sizeof(float));
        memcpy(h->at[h->n], h->m->g + pb->offset, (size_t)pb->size * sizeof(float));
        h->n++;
    }
    h->in_team |= omp_in_parallel();
}

static void forget(heard *h)
{
    for (int i = 0; i < h->n; i++)
        free(h->at[i]);
    h->n = h->in_team = 0;
}

static int all_finite(const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

/* Forward and backward (m->g zeroed first unless accumulate). */
static void pass(avk_dit *m, batch *d, float *pred, int accumulate)
{
    if (!accumulate)
        memset(m->g, 0, (size_t)m->nfloats * sizeof(float));
    avk_dit_acts *a = avk_dit_forward(m, &d->b, pred);
    if (!a) {
        fprintf(stderr, "forward: %s\n", avk_errmsg());
        exit(1);
    }
    avk_dit_backward(m, a, d->dpred);
    avk_dit_acts_free(a);
}

static void test_variant(const char *name, int mmdit, int joint, int frame_cond, int text_emb)
{
    batch *d = calloc(1, sizeof *d);
    make_batch(d, text_emb);
    avk_dit *m = model(mmdit, joint, frame_cond, text_emb);
    if (frame_cond)
        avk_dit_set_recompute(m, 0.5);
    int64_t n = m->nfloats;
    float *pw = avk_falloc(NX), *ps = avk_falloc(NX), *gw = avk_falloc(n), *gs = avk_falloc(n);
    heard hw = {.m = m}, hs = {.m = m};

    m->whole_batch = 1;
    m->par->ready = listen;
    m->par->ready_ctx = &hw;
    pass(m, d, pw, 0);
    memcpy(gw, m->g, (size_t)n * sizeof(float));
    m->whole_batch = 0;
    m->par->ready_ctx = &hs;
    pass(m, d, ps, 0);
    memcpy(gs, m->g, (size_t)n * sizeof(float));
    double ep = rel_err(ps, pw, NX), eg = rel_err(gs, gw, n);
    ok(ep < 1e-5 && eg < 1e-5 && all_finite(gs, n),
       "%s: in groups, prediction (%.2g) and gradients (%.2g) are the whole batch's within 1e-5",
       name, ep, eg);
    {
        int same = hs.n == hw.n && hs.n > 0, final = 1;
        for (int i = 0; same && i < hs.n; i++) {
            const avk_param_block *pb = &m->par->block[hs.block[i]];
            same &= hs.block[i] == hw.block[i];
            final &= !memcmp(hs.at[i], gs + pb->offset, (size_t)pb->size * sizeof(float));
        }
        ok(same && final && hs.in_team && !hw.in_team,
           "%s: the groups announce the whole batch's %d blocks in its order, each with its "
           "final gradients, from inside the team", name, hw.n);
    }
    forget(&hs);

    /* a team smaller than the groups: one group after another */
    m->par->ready_ctx = &hs;
    memset(m->g, 0, (size_t)n * sizeof(float));
    float *p1 = avk_falloc(NX);
#pragma omp parallel num_threads(2)
#pragma omp single
    {
        dit_split *s = dit_split_forward(m, &d->b, p1, 2, 1);
        dit_split_backward(m, s, d->dpred);
        dit_split_free(s);
    }
    m->par->ready = NULL;
    ep = rel_err(p1, pw, NX);
    eg = rel_err(m->g, gw, n);
    ok(ep < 1e-5 && eg < 1e-5 && hs.n == 0,
       "%s: in a team of one, the groups one after another: prediction (%.2g) and gradients "
       "(%.2g) within 1e-5, no block announced", name, ep, eg);
    avk_ffree(p1);
    forget(&hw);
    forget(&hs);

    /* a second step: the arenas and the views' zeroed gradients reused */
    float *p2 = avk_falloc(NX);
    pass(m, d, p2, 0);
    ok(!memcmp(p2, ps, NX * sizeof(float)) && !memcmp(m->g, gs, (size_t)n * sizeof(float)),
       "%s: a second step in groups gives the same bits", name);
    /* without zeroing: the gradients add up */
    pass(m, d, p2, 1);
    for (int64_t i = 0; i < n; i++)
        gw[i] = 2 * gs[i];
    eg = rel_err(m->g, gw, n);
    ok(eg < 1e-6, "%s: a step without zeroing adds its gradients (%.2g)", name, eg);

    avk_ffree(p2);
    avk_ffree(pw);
    avk_ffree(ps);
    avk_ffree(gw);
    avk_ffree(gs);
    avk_dit_free(m);
    free(d);
}

/* Three samples over two threads do not divide: the batch runs whole, the
 * same bits as asking for it. */
static void test_odd(void)
{
    batch *d = calloc(1, sizeof *d);
    make_batch(d, 0);
    d->b.B = 3;
    avk_dit *m = model(0, 0, 0, 0);
    int64_t n = m->nfloats, nx = NX / B * 3;
    float *p1 = avk_falloc(nx), *p2 = avk_falloc(nx), *g1 = avk_falloc(n);
    heard h = {.m = m};
    m->par->ready = listen;
    m->par->ready_ctx = &h;
    pass(m, d, p1, 0);
    memcpy(g1, m->g, (size_t)n * sizeof(float));
    int team = h.in_team;
    forget(&h);
    m->whole_batch = 1;
    pass(m, d, p2, 0);
    ok(!team && !memcmp(p1, p2, (size_t)nx * sizeof(float)) &&
       !memcmp(g1, m->g, (size_t)n * sizeof(float)),
       "3 samples over 2 threads: the whole batch in one pass");
    forget(&h);
    avk_ffree(p1);
    avk_ffree(p2);
    avk_ffree(g1);
    avk_dit_free(m);
    free(d);
}

/* avk_dit_act_bytes counts every thread's arenas: in groups about what
 * the whole batch holds (each group's activations, half the batch). */
static void test_act_bytes(void)
{
    batch *d = calloc(1, sizeof *d);
    make_batch(d, 0);
    avk_dit *mw = model(0, 1, 0, 0), *ms = model(0, 1, 0, 0);
    float *p = avk_falloc(NX);
    mw->whole_batch = 1;
    pass(mw, d, p, 0);
    pass(ms, d, p, 0);
    double w = (double)avk_dit_act_bytes(mw), g = (double)avk_dit_act_bytes(ms);
    ok(w > 0 && g > 0.8 * w && g < 1.25 * w,
       "activation memory in groups %.2f MiB (every thread's arenas), whole batch %.2f MiB",
       g / 1048576.0, w / 1048576.0);
    avk_ffree(p);
    avk_dit_free(mw);
    avk_dit_free(ms);
    free(d);
}

/* avk_dit_groups: the thread count where it divides the batch, else 1. */
static void test_groups(void)
{
    avk_dit *m = model(0, 0, 0, 0);
    int g1 = avk_dit_groups(m, 1), g2 = avk_dit_groups(m, 2), g3 = avk_dit_groups(m, 3),
        g8 = avk_dit_groups(m, 8);
    m->whole_batch = 1;
    int gw = avk_dit_groups(m, 8);
    ok(g1 == 1 && g2 == 2 && g3 == 1 && g8 == 2 && gw == 1,
       "avk_dit_groups at 2 threads: batch 1 -> %d, 2 -> %d, 3 -> %d, 8 -> %d, whole_batch -> %d",
       g1, g2, g3, g8, gw);
    avk_dit_free(m);
}

/* Four threads: four groups of one sample, the same checks of values and
 * announcements. */
static void test_four(void)
{
    batch *d = calloc(1, sizeof *d);
    make_batch(d, 0);
    avk_dit *m = model(1, 0, 0, 0);
    int64_t n = m->nfloats;
    float *pw = avk_falloc(NX), *ps = avk_falloc(NX), *gw = avk_falloc(n);
    heard h = {.m = m};
    m->whole_batch = 1;
    pass(m, d, pw, 0);
    memcpy(gw, m->g, (size_t)n * sizeof(float));
    m->whole_batch = 0;
    omp_set_num_threads(4);
    m->par->ready = listen;
    m->par->ready_ctx = &h;
    pass(m, d, ps, 0);
    m->par->ready = NULL;
    omp_set_num_threads(2);
    double ep = rel_err(ps, pw, NX), eg = rel_err(m->g, gw, n);
    ok(ep < 1e-5 && eg < 1e-5 && h.in_team && h.n == m->par->nblock,
       "MM-DiT, cross, 4 threads: four groups of one, prediction (%.2g) and gradients (%.2g) "
       "within 1e-5, %d blocks announced from the team", ep, eg, h.n);
    forget(&h);
    avk_ffree(pw);
    avk_ffree(ps);
    avk_ffree(gw);
    avk_dit_free(m);
    free(d);
}

int main(void)
{
    omp_set_num_threads(2);
    test_variant("single-stream, cross", 0, 0, 0, 0);
    test_variant("MM-DiT, joint", 1, 1, 0, 0);
    test_variant("single-stream, joint, per-frame conditioning, recompute 0.5", 0, 1, 1, 0);
    test_variant("single-stream, cross, text embeddings", 0, 0, 0, 1);
    test_odd();
    test_groups();
    test_four();
    test_act_bytes();
    return done_testing();
}
