/* Sampling from the DiT (avk_sample_latents) against PyTorch and against
 * itself: the three runs of tests/golden/sample/ (written by
 * tests/golden-sample.py over the weights of tests/golden/dit/) match to a
 * relative error (max|a-b| / max|b|) under 1e-4; guidance scale 1 is the
 * conditional pass alone, bit for bit; the inference forward without hooks
 * is the training forward, bit for bit; the cache at threshold 0 is the
 * uncached run bit for bit and a large threshold runs fewer evaluations;
 * kept latents come out exactly as given. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "avkit/util/common.h"
#include "avkit/io/safetensors.h"
#include "avkit/nn/tensor.h"
#include "avkit/models/dit.h"
#include "avkit/diffusion/flow.h"
#include "avkit/diffusion/sample.h"

#define TOL 1e-4
enum { C = 4, T = 3, H = 8, W = 8, L = 8, N = C * T * H * W, PLANE = T * H * W };

static const char *gpath(const char *rel)
{
    static char buf[4096];
    const char *src = getenv("SRC_DIR");
    snprintf(buf, sizeof buf, "%s/tests/golden/%s", src ? src : ".", rel);
    return buf;
}

static const float *gt(const avk_st_file *f, const char *name)
{
    const avk_st_tensor *t = avk_st_find(f, name);
    if (!t) {
        diag("golden tensor %s missing", name);
        exit(1);
    }
    return t->data;
}

static avk_dit *load(const char *variant)
{
    char rel[256];
    snprintf(rel, sizeof rel, "dit/%s.weights.safetensors", variant);
    avk_dit *m = avk_dit_load(gpath(rel));
    if (!m) {
        diag("%s", avk_errmsg());
        exit(1);
    }
    return m;
}

/* A golden caption (ids stored as floats, zero padded) as a text. */
static avk_sample_text text_of(const avk_st_file *f, const char *name, int32_t *ids)
{
    const float *v = gt(f, name);
    int n = 0;
    for (int i = 0; i < L; i++) {
        ids[i] = (int32_t)v[i];
        if (ids[i] != 0)
            n = i + 1;
    }
    return (avk_sample_text){ids, n};
}

/* Velocity of the conditional pass alone, through the training forward. */
typedef struct plain_ctx {
    avk_dit *m;
    const avk_sample_text *text;
} plain_ctx;

static int plain_velocity(void *ctx, const float *x, double t, float *v, int64_t n, int eval)
{
    plain_ctx *p = ctx;
    float tf = (float)t;
    avk_dit_batch b = {.B = 1, .T = T, .H = H, .W = W, .x = x, .t = &tf, .L = L,
                       .tokens = p->text->tokens, .text_len = &p->text->len};
    avk_dit_acts *a = avk_dit_forward(p->m, &b, v);
    if (!a)
        return -1;
    avk_dit_acts_free(a);
    return 0;
}

int main(void)
{
    avk_st_file *g = avk_st_open(gpath("sample/sample.safetensors"));
    if (!g) {
        diag("%s (run make golden)", avk_errmsg());
        return 1;
    }
    int32_t ic[L], in[L], ie[L];
    avk_sample_text cond = text_of(g, "cond", ic), neg = text_of(g, "neg", in),
                    empty = text_of(g, "empty", ie);
    uint8_t mask[PLANE];
    const float *mf = gt(g, "keep.mask");
    for (int i = 0; i < PLANE; i++)
        mask[i] = mf[i] != 0.0f;
    avk_sample_keep keep = {gt(g, "keep.z"), mask, gt(g, "keep.eps")};
    avk_dit *sc = load("single_cross"), *mj = load("mmdit_joint");
    float x[N], y[N];

    /* the PyTorch runs */
    struct {
        const char *name;
        avk_dit *m;
        avk_sample_opts o;
        const avk_sample_text *unc;
        const avk_sample_keep *keep;
    } runs[] = {
        {"euler_cfg1", sc, {AVK_FLOW_EULER, 4, 1.0, 1.0, -1, 1}, &neg, NULL},
        {"ab2_neg", sc, {AVK_FLOW_AB2, 6, 3.0, 4.5, -1, 1}, &neg, NULL},
        {"heun_keep", mj, {AVK_FLOW_HEUN, 3, 2.0, 2.0, -1, 1}, &empty, &keep},
    };
    for (size_t r = 0; r < sizeof runs / sizeof *runs; r++) {
        char nm[64];
        snprintf(nm, sizeof nm, "%s.noise", runs[r].name);
        memcpy(x, gt(g, nm), sizeof x);
        avk_sample_stats st;
        int rc = avk_sample_latents(runs[r].m, &runs[r].o, T, H, W, L, &cond, runs[r].unc,
                                    runs[r].keep, x, &st);
        snprintf(nm, sizeof nm, "%s.out", runs[r].name);
        double e = rel_err(x, gt(g, nm), N);
        int want = avk_flow_evals(runs[r].o.solver, runs[r].o.steps) * (runs[r].o.cfg == 1 ? 1 : 2);
        ok(rc == 0 && e < TOL && st.evals == want && st.skips == 0,
           "%s matches PyTorch: relative error %.3g, %d transformer evaluations", runs[r].name, e,
           st.evals);
    }

    /* kept latents come out exactly */
    int same = 1;
    for (int i = 0; i < N; i++)
        if (mask[i % PLANE] && x[i] != keep.z[i])
            same = 0;
    ok(same, "the kept region of the last run is its source latent exactly");

    /* the inference forward is the training forward */
    memcpy(x, gt(g, "ab2_neg.noise"), sizeof x);
    float tf = 0.37f, p1[N], p2[N];
    avk_dit_batch b = {.B = 1, .T = T, .H = H, .W = W, .x = x, .t = &tf, .L = L,
                       .tokens = cond.tokens, .text_len = &cond.len};
    avk_dit_acts *a = avk_dit_forward(mj, &b, p1);
    avk_dit_acts_free(a);
    int ran = avk_dit_infer(mj, &b, p2, NULL);
    ok(a && ran == 1 && memcmp(p1, p2, sizeof p1) == 0, "avk_dit_infer is avk_dit_forward bit for bit");

    /* guidance 1 is the conditional pass alone */
    avk_sample_opts o1 = {AVK_FLOW_AB2, 5, 2.0, 1.0, -1, 1};
    memcpy(x, gt(g, "ab2_neg.noise"), sizeof x);
    memcpy(y, x, sizeof y);
    int rc1 = avk_sample_latents(sc, &o1, T, H, W, L, &cond, &neg, NULL, x, NULL);
    plain_ctx pc = {sc, &cond};
    int rc2 = avk_flow_sample(AVK_FLOW_AB2, 5, 2.0, plain_velocity, &pc, y, N);
    ok(rc1 == 0 && rc2 == 0 && memcmp(x, y, sizeof x) == 0 && avk_find_nonfinite(x, N) < 0,
       "cfg 1 is the conditional pass alone, bit for bit");

    /* the cache: threshold 0 is no cache; a large one skips */
    avk_sample_opts on = {AVK_FLOW_EULER, 12, 3.0, 3.0, -1, 1}, c0 = on, cbig = on;
    c0.cache = 0.0;
    cbig.cache = 10.0;
    avk_sample_stats s_on, s_0, s_big;
    float xc[N];
    memcpy(x, gt(g, "ab2_neg.noise"), sizeof x);
    memcpy(y, x, sizeof y);
    memcpy(xc, x, sizeof xc);
    int r1 = avk_sample_latents(mj, &on, T, H, W, L, &cond, &empty, NULL, x, &s_on);
    int r2 = avk_sample_latents(mj, &c0, T, H, W, L, &cond, &empty, NULL, y, &s_0);
    int r3 = avk_sample_latents(mj, &cbig, T, H, W, L, &cond, &empty, NULL, xc, &s_big);
    ok(r1 == 0 && r2 == 0 && memcmp(x, y, sizeof x) == 0 && s_0.evals == 24 && s_0.skips == 0,
       "cache threshold 0 is the uncached run bit for bit (%d evaluations)", s_0.evals);
    int finite = avk_find_nonfinite(xc, N) < 0;
    ok(r3 == 0 && finite && s_big.evals < s_on.evals && s_big.evals >= 4 &&
       s_big.evals + s_big.skips == 24,
       "a large cache threshold runs %d of 24 evaluations (first and last of each pass at least); "
       "relative error to uncached %.3g", s_big.evals, rel_err(xc, x, N));

    /* guidance needs an unconditional text */
    avk_sample_opts o2 = {AVK_FLOW_EULER, 2, 1.0, 2.0, -1, 1};
    ok(avk_sample_latents(sc, &o2, T, H, W, L, &cond, NULL, NULL, x, NULL) < 0 &&
       strstr(avk_errmsg(), "unconditional"), "cfg != 1 without an unconditional text: %s",
       avk_errmsg());
    ok(avk_sample_latents(sc, &o2, T, 7, W, L, &cond, &empty, NULL, x, NULL) < 0 &&
       strstr(avk_errmsg(), "patch"), "a latent the patch does not divide: %s", avk_errmsg());

    /* noise depends on (seed, index, stream) only */
    float n1[16], n2[16], n3[16];
    avk_sample_noise(n1, 16, 7, 3, 0);
    avk_sample_noise(n2, 16, 7, 3, 0);
    avk_sample_noise(n3, 16, 7, 4, 0);
    ok(memcmp(n1, n2, sizeof n1) == 0 && memcmp(n1, n3, sizeof n1) != 0,
       "noise repeats for a (seed, index) and differs between prompts");

    avk_dit_free(sc);
    avk_dit_free(mj);
    avk_st_close(g);
    return done_testing();
}
