/* Long videos by block-wise pipelined denoising (avk_long_run,
 * avk_long_sample) on a tiny DiT with random weights: the same seed gives
 * the same video; memory is flat in the video's length (the run's own
 * buffer count, and the peak RSS of a child process, at 64, 256 and 1,025
 * latent frames); a block's context frames are the previous block's last
 * frames as they stand (one step ahead, or clean); every block starts from
 * the shared noise pool reshuffled; the blocks sit at staggered times;
 * one block alone is the plain Euler sampler; bad options are refused by
 * name. On random weights the seam measure (frame-to-frame change at the
 * block joins against inside the blocks) is printed, not asserted. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tap.h"
#include "avkit/util/common.h"
#include "avkit/nn/tensor.h"
#include "avkit/models/dit.h"
#include "avkit/diffusion/flow.h"
#include "avkit/diffusion/sample.h"
#include "avkit/diffusion/long.h"

enum { C = 4, H = 4, W = 4, L = 16, HW = H * W };

/* A tiny DiT (width 32, 2 blocks, MM-DiT, joint attention) with every
 * tensor random, so no gate or projection is zero. */
static avk_dit *tiny_dit(void)
{
    avk_dit_config c = avk_dit_config_default();
    c.hidden = 32;
    c.heads = 2;
    c.depth = 2;
    c.mlp_ratio = 2;
    c.vocab_size = 64;
    c.max_text_len = L;
    c.text_layers = 1;
    c.freq_dim = 32;
    c.mmdit = 1;
    c.joint = 1;
    avk_dit *m = avk_dit_new(&c);
    avk_rng r;
    avk_rng_seed(&r, 7);
    for (int i = 0; i < m->nparam; i++) {
        const avk_dit_param *p = &m->params[i];
        float *d = m->w + p->offset;
        if (p->ndim >= 2)
            avk_fill_randn(d, p->numel, &r, 0.0f, (float)(1.0 / sqrt((double)(p->numel / p->shape[0]))));
        else if (strstr(p->name, "norm") && strstr(p->name, "weight") && !strstr(p->name, "linear"))
            avk_fill_randn(d, p->numel, &r, 1.0f, 0.1f);
        else
            avk_fill_randn(d, p->numel, &r, 0.0f, 0.1f);
    }
    return m;
}

static int32_t ctok[L] = {1, 5, 9, 13, 2}, utok[L] = {1, 2};
static avk_sample_text cond = {ctok, 5}, unc = {utok, 2};

/* Emit into one buffer of the whole video [C, T, HW] (tests only; the
 * tool writes each block out at once). */
typedef struct video {
    float *x;
    int T, B, next, order_ok;
} video;

static int to_video(void *ctx, int blk, const float *lat)
{
    video *v = ctx;
    v->order_ok &= blk == v->next++;
    for (int c = 0; c < C; c++)
        memcpy(v->x + ((int64_t)c * v->T + (int64_t)blk * v->B) * HW, lat + (int64_t)c * v->B * HW,
               (size_t)v->B * HW * sizeof(float));
    return 0;
}

static int discard(void *ctx, int blk, const float *lat)
{
    (void)ctx, (void)blk, (void)lat;
    return 0;
}

static avk_long_opts opts(int frames, int B, int K, int S, double cfg)
{
    return (avk_long_opts){.frames = frames, .block = B, .context = K, .steps = S, .shift = 3.0,
                           .cfg = cfg, .seed = 42, .index = 0};
}

/* ---- a recording model: the DiT, with every input kept ------------------ */

typedef struct rec {
    avk_dit *m;
    int nb, S, B, K;
    float **in;          /* [nb * S] copies of the model's input */
    int *nctx;
    double *t;
    float **clean;       /* [nb] emitted blocks */
    int order[4096], n;  /* blk * S + step in call order */
} rec;

static int rec_model(void *ctx, const float *x, int nctx, int B, double t, int blk, int step,
                     float *v)
{
    rec *r = ctx;
    int k = blk * r->S + step;
    int64_t n = (int64_t)C * (nctx + B) * HW;
    r->in[k] = avk_falloc(n);
    memcpy(r->in[k], x, (size_t)n * sizeof *x);
    r->nctx[k] = nctx;
    r->t[k] = t;
    if (r->n < 4096)
        r->order[r->n++] = k;
    float *pred = avk_falloc(n), tf = (float)t;
    avk_dit_batch b = {.B = 1, .T = nctx + B, .H = H, .W = W, .x = x, .t = &tf, .L = L,
                       .tokens = ctok, .text_len = &cond.len};
    int rc = avk_dit_infer(r->m, &b, pred, NULL);
    for (int c = 0; c < C; c++)
        memcpy(v + (int64_t)c * B * HW, pred + ((int64_t)c * (nctx + B) + nctx) * HW,
               (size_t)B * HW * sizeof *v);
    avk_ffree(pred);
    return rc < 0 ? -1 : 0;
}

static int rec_emit(void *ctx, int blk, const float *lat)
{
    rec *r = ctx;
    int64_t n = (int64_t)C * r->B * HW;
    r->clean[blk] = avk_falloc(n);
    memcpy(r->clean[blk], lat, (size_t)n * sizeof *lat);
    return 0;
}

/* Frame f of channel c of a [C, T, HW] tensor. */
static const float *frame(const float *x, int T, int c, int f)
{
    return x + ((int64_t)c * T + f) * HW;
}

static int frames_equal(const float *a, int Ta, int fa, const float *b, int Tb, int fb, int nf)
{
    for (int c = 0; c < C; c++)
        if (memcmp(frame(a, Ta, c, fa), frame(b, Tb, c, fb), (size_t)nf * HW * sizeof(float)))
            return 0;
    return 1;
}

static void test_mechanism(avk_dit *m)
{
    enum { NB = 5, B = 4, K = 2, S = 4 };
    rec r = {.m = m, .nb = NB, .S = S, .B = B, .K = K};
    r.in = calloc(NB * S, sizeof *r.in);
    r.nctx = calloc(NB * S, sizeof *r.nctx);
    r.t = calloc(NB * S, sizeof *r.t);
    r.clean = calloc(NB, sizeof *r.clean);
    avk_long_opts o = opts(NB * B, B, K, S, 1.0);
    avk_long_stats st;
    int rc = avk_long_run(&o, C, H, W, rec_model, &r, rec_emit, &r, &st);
    ok(rc == 0 && st.evals == NB * S && st.blocks == NB, "a run of %d blocks: %lld evaluations, %lld blocks",
       NB, (long long)st.evals, (long long)st.blocks);

    /* context = the previous block's last K frames as they stand */
    int ctx_ok = 1, ahead = 0, clean = 0;
    for (int j = 0; j < NB; j++)
        for (int s = 0; s < S; s++) {
            int k = j * S + s;
            if (j == 0) {
                ctx_ok &= r.nctx[k] == 0;
                continue;
            }
            ctx_ok &= r.nctx[k] == K;
            if (s + 1 < S) {
                int p = (j - 1) * S + s + 1, Tp = r.nctx[p] + B;
                ctx_ok &= frames_equal(r.in[k], K + B, 0, r.in[p], Tp, Tp - K, K);
                ahead++;
            } else {
                ctx_ok &= frames_equal(r.in[k], K + B, 0, r.clean[j - 1], B, B - K, K);
                clean++;
            }
        }
    ok(ctx_ok, "context frames are the previous block's last %d frames (%d one step ahead, "
       "%d clean)", K, ahead, clean);

    /* staggered: block j at step s at time ts[s]; calls in iteration order */
    double ts[S + 1];
    avk_flow_timesteps(ts, S, o.shift);
    int t_ok = 1, ord_ok = r.n == NB * S, pos = 0;
    for (int k = 0; k < NB * S; k++)
        t_ok &= r.t[k] == ts[k % S];
    for (int i = 0; i < NB + S - 1; i++)
        for (int j = (i < NB - 1 ? i : NB - 1); j >= (i - S + 1 > 0 ? i - S + 1 : 0); j--)
            ord_ok &= pos < r.n && r.order[pos++] == j * S + (i - j);
    ok(t_ok && ord_ok, "each iteration advances every block in flight by one step, at staggered "
       "times");

    /* starting noise: the shared pool, reshuffled per block */
    float *pool = avk_falloc(C * B * HW);
    avk_sample_noise(pool, C * B * HW, o.seed, o.index, 0);
    int perm_ok = 1, differs = 0;
    for (int j = 0; j < NB; j++) {
        int nc = r.nctx[j * S], used[B] = {0};
        for (int f = 0; f < B; f++) {
            int hit = -1;
            for (int g = 0; g < B && hit < 0; g++)
                if (!used[g] && frames_equal(r.in[j * S], nc + B, nc + f, pool, B, g, 1))
                    hit = g;
            perm_ok &= hit >= 0;
            if (hit >= 0)
                used[hit] = 1;
        }
        if (j > 0)
            differs |= !frames_equal(r.in[j * S], nc + B, nc, r.in[0], B, 0, B);
    }
    ok(perm_ok && differs, "every block starts from the pool's %d noise frames, in its own order", B);

    /* one block alone is the Euler sampler over the same noise */
    rec r1 = {.m = m, .nb = 1, .S = S, .B = B, .K = K};
    r1.in = calloc(S, sizeof *r1.in);
    r1.nctx = calloc(S, sizeof *r1.nctx);
    r1.t = calloc(S, sizeof *r1.t);
    r1.clean = calloc(1, sizeof *r1.clean);
    avk_long_opts o1 = opts(B, B, K, S, 1.0);
    rc = avk_long_run(&o1, C, H, W, rec_model, &r1, rec_emit, &r1, NULL);
    float *x = avk_falloc(C * B * HW);
    memcpy(x, r1.in[0], (size_t)C * B * HW * sizeof *x);
    avk_sample_opts so = {AVK_FLOW_EULER, S, o.shift, 1.0, -1, 0};
    rc |= avk_sample_latents(m, &so, B, H, W, L, &cond, NULL, NULL, x, NULL);
    double e = rel_err(r1.clean[0], x, C * B * HW);
    ok(rc == 0 && e < 1e-6, "one block is avk_sample_latents with Euler (rel. error %.2g)", e);
    avk_ffree(x);
    avk_ffree(r1.in[0]);
    for (int s = 1; s < S; s++)
        avk_ffree(r1.in[s]);
    avk_ffree(r1.clean[0]);
    free(r1.in), free(r1.nctx), free(r1.t), free(r1.clean);

    for (int k = 0; k < NB * S; k++)
        avk_ffree(r.in[k]);
    for (int j = 0; j < NB; j++)
        avk_ffree(r.clean[j]);
    avk_ffree(pool);
    free(r.in), free(r.nctx), free(r.t), free(r.clean);
}

/* ---- the DiT pipeline ----------------------------------------------------- */

static float *sample_video(avk_dit *m, int T, uint64_t seed, avk_long_stats *st, int *order_ok)
{
    video v = {.x = avk_fzeros(C * T * HW), .T = T, .B = 4, .order_ok = 1};
    avk_long_opts o = opts(T, 4, 2, 4, 3.0);
    o.seed = seed;
    int rc = avk_long_sample(m, &o, H, W, L, &cond, &unc, to_video, &v, st);
    if (rc < 0)
        diag("%s", avk_errmsg());
    *order_ok = rc == 0 && v.order_ok && v.next == T / 4;
    return v.x;
}

static void test_repeatable(avk_dit *m)
{
    enum { T = 32 };
    avk_long_stats a, b;
    int oa, ob, oc;
    float *x = sample_video(m, T, 42, &a, &oa), *y = sample_video(m, T, 42, &b, &ob);
    float *z = sample_video(m, T, 43, &b, &oc);
    ok(oa && ob && oc, "blocks come out in order, each once");
    ok(!memcmp(x, y, (size_t)C * T * HW * sizeof *x), "the same seed gives the same %d frames", T);
    ok(memcmp(x, z, (size_t)C * T * HW * sizeof *x) != 0, "another seed another video");
    ok(a.evals == 2LL * (T / 4) * 4, "guidance: %lld evaluations = 2 passes x %d blocks x 4 steps",
       (long long)a.evals, T / 4);
    ok(avk_find_nonfinite(x, C * T * HW) < 0, "the video is finite");

    /* seams: on random weights the measure says little, so it is shown */
    double join = 0, inside = 0;
    int nj = 0, ni = 0;
    for (int f = 1; f < T; f++) {
        double d = 0;
        for (int c = 0; c < C; c++)
            for (int k = 0; k < HW; k++)
                d += fabs(frame(x, T, c, f)[k] - frame(x, T, c, f - 1)[k]);
        d /= C * HW;
        if (f % 4 == 0)
            join += d, nj++;
        else
            inside += d, ni++;
    }
    diag("seams (random weights, not asserted): mean frame-to-frame change %.4f at block joins, "
         "%.4f inside blocks (ratio %.2f)", join / nj, inside / ni, (join / nj) / (inside / ni));
    avk_ffree(x);
    avk_ffree(y);
    avk_ffree(z);
}

/* The child's part: sample T frames, blocks discarded as the tool
 * streams them out, and print the run's buffer floats. */
static int peak_child(int T)
{
    avk_dit *m = tiny_dit();
    avk_long_opts o = opts(T, 4, 2, 4, 3.0);
    avk_long_stats st = {0};
    int rc = avk_long_sample(m, &o, H, W, L, &cond, &unc, discard, NULL, &st);
    printf("%lld\n", (long long)st.floats);
    avk_dit_free(m);
    return rc == 0 ? 0 : 1;
}

/* Peak RSS (KiB) of this program run again (a fresh process: fork alone
 * would inherit OpenMP's threads) to sample T frames; its buffer floats
 * in *floats. */
static long child_peak(int T, int64_t *floats)
{
    int fd[2];
    if (pipe(fd) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        char arg[32];
        snprintf(arg, sizeof arg, "%d", T);
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execl("/proc/self/exe", "test_long", "--peak", arg, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char buf[64] = {0};
    ssize_t got = read(fd[0], buf, sizeof buf - 1);
    close(fd[0]);
    *floats = got > 0 ? atoll(buf) : -1;
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
        return -1;
    return ru.ru_maxrss;
}

static void test_memory(void)
{
    int64_t f64, f256, f1025;
    long p64 = child_peak(64, &f64), p256 = child_peak(256, &f256);
    long p1025 = child_peak(1025, &f1025);
    ok(p64 > 0 && p256 > 0 && p1025 > 0, "runs of 64, 256 and 1,025 latent frames complete");
    ok(f64 == f256 && f256 == f1025 && f64 > 0, "the run's buffers: %lld floats at every length",
       (long long)f64);
    ok(p256 <= 1.5 * p64 && p1025 <= 1.5 * p64,
       "peak RSS %ld / %ld / %ld KiB at 64 / 256 / 1,025 frames: at most 1.5x the 64-frame run",
       p64, p256, p1025);
}

static void test_bad(avk_dit *m)
{
    struct { avk_long_opts o; const char *msg; } bad[] = {
        {opts(32, 4, 4, 4, 1), "--context 4: must be from 0 to --block - 1 (3)"},
        {opts(32, 4, -1, 4, 1), "--context -1: must be from 0"},
        {opts(32, 0, 0, 4, 1), "--block 0: must be at least 1"},
        {opts(32, 4, 2, 0, 1), "--steps 0: must be at least 1"},
        {opts(0, 4, 2, 4, 1), "--long 0: must be at least 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = avk_long_sample(m, &bad[i].o, H, W, L, &cond, &unc, discard, NULL, NULL);
        ok(rc < 0 && strstr(avk_errmsg(), bad[i].msg), "refused: %s", avk_errmsg());
    }
    ok(avk_long_check(&(avk_long_opts){.frames = 12, .block = 6, .context = 3, .steps = 2,
                                       .cfg = 1}, 2) < 0 &&
       strstr(avk_errmsg(), "frame patch 2 must divide both"), "a context the frame patch does "
       "not divide: %s", avk_errmsg());
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--peak"))
        return peak_child(atoi(argv[2]));
    avk_dit *m = tiny_dit();
    test_mechanism(m);
    test_repeatable(m);
    test_memory();
    test_bad(m);
    avk_dit_free(m);
    return done_testing();
}
