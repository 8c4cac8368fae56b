/* The DiT in pieces (avkit/models/dit_stage.h) on tiny random models:
 * embed + all blocks + head is avk_dit_infer bit for bit; the blocks run
 * as two ranges with the state handed over are the same bits; with one
 * block, an evaluation that attends to a key/value context kept by an
 * earlier one equals the plain forward over the context frames and the
 * clip together (the block's frames of it); a context changes the output
 * and a bad one is refused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "avkit/util/common.h"
#include "avkit/nn/tensor.h"
#include "avkit/models/dit.h"
#include "avkit/models/dit_stage.h"

enum { C = 4, H = 4, W = 4, L = 8, HW = H * W };

/* Width 32, `depth` blocks, every tensor random (no zero gates); with
 * pos_embed, the fixed sine-cosine positions; with frame_cond, the
 * per-frame conditioning. */
static avk_dit *tiny(int depth, int mmdit, int joint, int pt, int pos_embed, int frame_cond)
{
    avk_dit_config c = avk_dit_config_default();
    c.hidden = 32;
    c.heads = 2;
    c.depth = depth;
    c.mlp_ratio = 2;
    c.vocab_size = 64;
    c.max_text_len = L;
    c.text_layers = 1;
    c.freq_dim = 32;
    c.mmdit = mmdit;
    c.joint = joint;
    c.patch[0] = pt;
    c.pos_embed = pos_embed;
    c.frame_cond = frame_cond;
    avk_dit *m = avk_dit_new(&c);
    avk_rng r;
    avk_rng_seed(&r, 11);
    for (int i = 0; i < m->nparam; i++) {
        const avk_dit_param *p = &m->params[i];
        float *d = m->w + p->offset;
        if (p->ndim >= 2)
            avk_fill_randn(d, p->numel, &r, 0.0f, (float)(1.0 / sqrt((double)(p->numel / p->shape[0]))));
        else
            avk_fill_randn(d, p->numel, &r, strstr(p->name, "norm") ? 1.0f : 0.0f, 0.1f);
    }
    return m;
}

static int32_t tok[L] = {1, 5, 9, 13, 2};
static int tlen = 5;

static avk_dit_batch batch(const float *x, int T, const float *t)
{
    return (avk_dit_batch){.B = 1, .T = T, .H = H, .W = W, .x = x, .t = t, .L = L,
                           .tokens = tok, .text_len = &tlen};
}

/* Frames [f0, f0 + n) of x [C, T, HW] into y [C, n, HW]. */
static void frames(float *y, const float *x, int T, int f0, int n)
{
    for (int c = 0; c < C; c++)
        memcpy(y + (int64_t)c * n * HW, x + ((int64_t)c * T + f0) * HW, (size_t)n * HW * sizeof *y);
}

/* embed, blocks [0, split) and [split, depth) (state copied across two
 * runs when split is inside), head. */
static int staged(avk_dit *m, const avk_dit_batch *b, int split, float *pred)
{
    avk_dit_run *r1 = avk_dit_run_new(m), *r2 = avk_dit_run_new(m);
    int rc = avk_dit_run_begin(r1, b, 0) | avk_dit_run_begin(r2, b, 0);
    int64_t n;
    avk_dit_run_embed(r1);
    avk_dit_run_blocks(r1, 0, split, NULL, NULL);
    float *s2 = avk_dit_run_state(r2, &n);
    memcpy(s2, avk_dit_run_state(r1, NULL), (size_t)n * sizeof(float));
    avk_dit_run_blocks(r2, split, m->cfg.depth, NULL, NULL);
    avk_dit_run_head(r2, pred);
    avk_dit_run_free(r1);
    avk_dit_run_free(r2);
    return rc;
}

static void test_whole(const char *what, int mmdit, int joint, int pos_embed, int frame_cond)
{
    enum { T = 4 };
    avk_dit *m = tiny(3, mmdit, joint, 1, pos_embed, frame_cond);
    float *x = avk_falloc(C * T * HW), *a = avk_falloc(C * T * HW), *b = avk_falloc(C * T * HW);
    float *c = avk_falloc(C * T * HW), t = 0.37f;
    avk_rng r;
    avk_rng_seed(&r, 3);
    avk_fill_randn(x, C * T * HW, &r, 0.0f, 1.0f);
    avk_dit_batch bt = batch(x, T, &t);
    int rc = avk_dit_infer(m, &bt, a, NULL);
    rc |= staged(m, &bt, 3, b);
    rc |= staged(m, &bt, 1, c);
    ok(rc >= 0 && !memcmp(a, b, sizeof(float) * C * T * HW),
       "%s: embed, blocks 0-2, head = avk_dit_infer, bit for bit", what);
    ok(rc >= 0 && !memcmp(a, c, sizeof(float) * C * T * HW),
       "%s: blocks 0 and 1-2 on two runs, the state handed over: the same bits", what);
    avk_ffree(x), avk_ffree(a), avk_ffree(b), avk_ffree(c);
    avk_dit_free(m);
}

/* One block: the context's keys and values at layer 0 are projections of
 * its own tokens, so attending to them as kept by an earlier evaluation
 * (at the same time and caption) is the forward over context + clip. */
static void test_context(const char *what, int mmdit, int joint, int pt)
{
    enum { B = 4 };
    int K = 2;
    avk_dit *m = tiny(1, mmdit, joint, pt, 0, 0);
    int64_t nb = C * B * HW;
    float *p = avk_falloc(nb), *q = avk_falloc(nb), *pq = avk_falloc(C * (K + B) * HW);
    float *ref = avk_falloc(C * (K + B) * HW), *got = avk_falloc(nb), *plain = avk_falloc(nb);
    float *want = avk_falloc(nb), *scratch = avk_falloc(nb), t = 0.61f;
    avk_rng r;
    avk_rng_seed(&r, 5);
    avk_fill_randn(p, nb, &r, 0.0f, 1.0f);
    avk_fill_randn(q, nb, &r, 0.0f, 1.0f);
    for (int c = 0; c < C; c++) {     /* [p's last K frames, q] */
        memcpy(pq + (int64_t)c * (K + B) * HW, p + ((int64_t)c * B + B - K) * HW,
               (size_t)K * HW * sizeof *pq);
        memcpy(pq + ((int64_t)c * (K + B) + K) * HW, q + (int64_t)c * B * HW,
               (size_t)B * HW * sizeof *pq);
    }
    avk_dit_batch bpq = batch(pq, K + B, &t), bp = batch(p, B, &t), bq = batch(q, B, &t);
    int rc = avk_dit_infer(m, &bpq, ref, NULL) < 0 ? -1 : 0;
    frames(want, ref, K + B, K, B);
    avk_dit_kv *kv = avk_dit_kv_new(m, K, H, W);
    avk_dit_run *run = avk_dit_run_new(m);
    ok(kv && !avk_dit_kv_valid(kv), "%s: a new context holds nothing yet", what);
    rc |= avk_dit_run_begin(run, &bp, 0);
    avk_dit_run_embed(run);
    avk_dit_run_blocks(run, 0, 1, NULL, kv);
    avk_dit_run_head(run, scratch);
    rc |= avk_dit_run_begin(run, &bq, K);
    avk_dit_run_embed(run);
    avk_dit_run_blocks(run, 0, 1, kv, NULL);
    avk_dit_run_head(run, got);
    double e = rel_err(got, want, nb);
    ok(rc == 0 && avk_dit_kv_valid(kv) && e < 1e-5,
       "%s: clip after a kept context = the forward over context + clip (rel. error %.2g)",
       what, e);
    rc = avk_dit_infer(m, &bq, plain, NULL);
    double d = rel_err(plain, want, nb);
    ok(rc >= 0 && d > 1e-3, "%s: the context matters (without it rel. difference %.2g)", what, d);
    if (pt > 1)
        ok(avk_dit_run_begin(run, &bq, 1) < 0 && strstr(avk_errmsg(), "multiple of the frame"),
           "%s: a 1-frame context refused: %s", what, avk_errmsg());
    avk_dit_kv_free(kv);
    avk_dit_run_free(run);
    avk_ffree(p), avk_ffree(q), avk_ffree(pq), avk_ffree(ref), avk_ffree(got);
    avk_ffree(plain), avk_ffree(want), avk_ffree(scratch);
    avk_dit_free(m);
}

int main(void)
{
    test_whole("single-stream, cross", 0, 0, 0, 0);
    test_whole("MM-DiT, joint", 1, 1, 0, 0);
    test_whole("single-stream, joint, sine-cosine positions", 0, 1, 1, 0);
    test_whole("single-stream, joint, per-frame conditioning", 0, 1, 0, 1);
    test_whole("MM-DiT, cross, per-frame conditioning", 1, 0, 0, 1);
    test_context("single-stream, cross", 0, 0, 1);
    test_context("MM-DiT, joint", 1, 1, 1);
    test_context("MM-DiT, joint, frame patch 2", 1, 1, 2);
    avk_dit *e = tiny(1, 0, 0, 1, 0, 0);
    ok(avk_dit_freeze_text(e) == 0 && e->freeze_text, "a token model's text encoder freezes");
    avk_dit_free(e);
    avk_dit_config ce = avk_dit_config_default();
    ce.text_emb_dim = 8;
    e = avk_dit_new(&ce);
    ok(e && avk_dit_freeze_text(e) < 0 && strstr(avk_errmsg(), "no text encoder"),
       "a text_emb model has no text encoder to freeze: %s", avk_errmsg());
    avk_dit_free(e);
    avk_dit *m = tiny(1, 0, 0, 2, 0, 0);
    avk_dit_kv *kv = avk_dit_kv_new(m, 3, H, W);
    ok(!kv && strstr(avk_errmsg(), "do not fit the patch"), "a 3-frame context for frame patch "
       "2 refused: %s", avk_errmsg());
    avk_dit_free(m);
    return done_testing();
}
