/* The fused CPU kernels of the DiT's step (the work on the fp32
 * training step): each against its plain reference at the model's shapes
 * (1024 video rows of width 256, threaded; 64 text rows, not), and, where
 * the fused kernel promises it, bitwise against the separate fast
 * operators it replaces. Tolerance 1e-5 relative. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "randn.h"
#include "avkit/util/common.h"
#include "avkit/nn/ops.h"

#define TOL 1e-5

static int same_bits(const float *a, const float *b, int64_t n)
{
    return memcmp(a, b, (size_t)n * sizeof(float)) == 0;
}

/* avk_ln_modulate_fwd / _bwd: reference within TOL, and the bits of
 * avk_layernorm_fwd + avk_modulate_fwd (forward) and avk_modulate_bwd into
 * a zeroed buffer + avk_layernorm_bwd (backward). */
static void ln_modulate(int B, int64_t N, int G, int D, int with_shift)
{
    int64_t M = (int64_t)B * N, n = M * D, nc = (int64_t)B * G * D;
    float *x = randn(n, 1.0f), *dy = randn(n, 1.0f);
    float *shift = with_shift ? randn(nc, 0.5f) : NULL, *scale = randn(nc, 0.5f);
    for (int64_t i = 0; i < M; i++)     /* rows with an offset, as residual streams have */
        for (int d = 0; d < D; d++)
            x[i * D + d] += 0.1f * (float)(i % 7);
    float *nf = avk_falloc(n), *yf = avk_falloc(n), *mf = avk_falloc(M), *rf = avk_falloc(M);
    float *nr = avk_falloc(n), *yr = avk_falloc(n), *mr = avk_falloc(M), *rr = avk_falloc(M);
    float *ns = avk_falloc(n), *ys = avk_falloc(n), *ms = avk_falloc(M), *rs = avk_falloc(M);
    avk_ln_modulate_fwd(nf, mf, rf, yf, x, shift, scale, B, N, G, D, 1e-6f);
    avk_ln_modulate_fwd_ref(nr, mr, rr, yr, x, shift, scale, B, N, G, D, 1e-6f);
    avk_layernorm_fwd(ns, ms, rs, x, NULL, NULL, M, D, 1e-6f);
    avk_modulate_fwd(ys, ns, shift, scale, B, N, G, D);
    double e = fmax(rel_err(yf, yr, n), rel_err(nf, nr, n));
    ok(e < TOL, "ln_modulate fwd B %d N %lld G %d D %d%s: %.1e against the reference", B,
       (long long)N, G, D, with_shift ? "" : " (no shift)", e);
    ok(same_bits(yf, ys, n) && same_bits(nf, ns, n) && same_bits(mf, ms, M) &&
           same_bits(rf, rs, M),
       "ln_modulate fwd: the bits of layernorm then modulate");

    float *dxf = avk_fzeros(n), *dshf = avk_fzeros(nc), *dscf = avk_fzeros(nc);
    float *dxr = avk_fzeros(n), *dshr = avk_fzeros(nc), *dscr = avk_fzeros(nc);
    float *dxs = avk_fzeros(n), *dshs = avk_fzeros(nc), *dscs = avk_fzeros(nc), *dn = avk_fzeros(n);
    avk_ln_modulate_bwd(dxf, with_shift ? dshf : NULL, dscf, dy, x, nf, mf, rf, scale, B, N, G, D);
    avk_ln_modulate_bwd_ref(dxr, with_shift ? dshr : NULL, dscr, dy, x, nr, mr, rr, scale, B, N,
                            G, D);
    avk_modulate_bwd(dn, with_shift ? dshs : NULL, dscs, dy, ns, scale, B, N, G, D);
    avk_layernorm_bwd(dxs, NULL, NULL, dn, x, ms, rs, NULL, M, D);
    e = fmax(rel_err(dxf, dxr, n), fmax(rel_err(dshf, dshr, nc), rel_err(dscf, dscr, nc)));
    ok(e < TOL, "ln_modulate bwd: dx, dshift, dscale %.1e against the reference", e);
    ok(same_bits(dxf, dxs, n) && same_bits(dshf, dshs, nc) && same_bits(dscf, dscs, nc),
       "ln_modulate bwd: the bits of modulate_bwd then layernorm_bwd");
    float *bufs[] = {x, dy, shift, scale, nf, yf, mf, rf, nr, yr, mr, rr, ns, ys, ms, rs,
                     dxf, dshf, dscf, dxr, dshr, dscr, dxs, dshs, dscs, dn};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        avk_ffree(bufs[i]);
}

/* avk_linear_bwd_set: dx written (garbage in it beforehand), dw and db
 * added; the reference within TOL, the bits of avk_linear_bwd into a
 * zeroed dx. Shapes of the DiT's projections (the two-thread pair path)
 * and MLP (each GEMM threaded). */
static void linear_set(int64_t M, int64_t K, int64_t N)
{
    float *dy = randn(M * N, 1.0f), *x = randn(M * K, 1.0f), *w = randn(N * K, 0.05f);
    float *dx = randn(M * K, 1.0f), *dw = randn(N * K, 1.0f), *db = randn(N, 1.0f);
    float *dxs = avk_fzeros(M * K), *dws = avk_falloc(N * K), *dbs = avk_falloc(N);
    float *dxr = avk_falloc(M * K), *dwr = avk_falloc(N * K), *dbr = avk_falloc(N);
    memcpy(dws, dw, (size_t)(N * K) * sizeof(float));
    memcpy(dbs, db, (size_t)N * sizeof(float));
    memcpy(dwr, dw, (size_t)(N * K) * sizeof(float));
    memcpy(dbr, db, (size_t)N * sizeof(float));
    avk_linear_bwd_set(dx, dw, db, dy, x, w, M, K, N);
    avk_linear_bwd(dxs, dws, dbs, dy, x, w, M, K, N);
    avk_linear_bwd_set_ref(dxr, dwr, dbr, dy, x, w, M, K, N);
    double e = fmax(rel_err(dx, dxr, M * K), fmax(rel_err(dw, dwr, N * K), rel_err(db, dbr, N)));
    ok(e < TOL, "linear_bwd_set M %lld K %lld N %lld: %.1e against the reference", (long long)M,
       (long long)K, (long long)N, e);
    ok(same_bits(dx, dxs, M * K) && same_bits(dw, dws, N * K) && same_bits(db, dbs, N),
       "linear_bwd_set: the bits of linear_bwd into a zeroed dx");
    float *bufs[] = {dy, x, w, dx, dw, db, dxs, dws, dbs, dxr, dwr, dbr};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        avk_ffree(bufs[i]);
}

/* avk_rmsnorm_bwd_inplace (the query/key norm of 64-wide heads) and
 * avk_gelu_bwd_inplace: the reference within TOL, the bits of the
 * out-of-place operator into a zeroed buffer. */
static void inplace_bwds(int64_t M, int D)
{
    int64_t n = M * D;
    float *x = randn(n, 1.0f), *y = avk_falloc(n), *rstd = avk_falloc(M), *w = randn(D, 0.3f);
    float *dy = randn(n, 1.0f);
    for (int i = 0; i < D; i++)
        w[i] += 1.0f;
    avk_rmsnorm_fwd(y, rstd, x, w, M, D, 1e-6f);
    float *d = avk_falloc(n), *dr = avk_falloc(n), *dxs = avk_fzeros(n);
    float *dw = avk_fzeros(D), *dwr = avk_fzeros(D), *dws = avk_fzeros(D);
    memcpy(d, dy, (size_t)n * sizeof(float));
    memcpy(dr, dy, (size_t)n * sizeof(float));
    avk_rmsnorm_bwd_inplace(d, dw, x, rstd, w, M, D);
    avk_rmsnorm_bwd_inplace_ref(dr, dwr, x, rstd, w, M, D);
    avk_rmsnorm_bwd(dxs, dws, dy, x, rstd, w, M, D);
    double e = fmax(rel_err(d, dr, n), rel_err(dw, dwr, D));
    ok(e < TOL, "rmsnorm_bwd_inplace %lld rows of %d: %.1e against the reference", (long long)M,
       D, e);
    ok(same_bits(d, dxs, n) && same_bits(dw, dws, D),
       "rmsnorm_bwd_inplace: the bits of rmsnorm_bwd into a zeroed dx");

    memcpy(d, dy, (size_t)n * sizeof(float));
    memcpy(dr, dy, (size_t)n * sizeof(float));
    memset(dxs, 0, (size_t)n * sizeof(float));
    avk_gelu_bwd_inplace(d, x, n);
    avk_gelu_bwd_inplace_ref(dr, x, n);
    avk_gelu_bwd(dxs, dy, x, n);
    e = rel_err(d, dr, n);
    ok(e < TOL, "gelu_bwd_inplace %lld values: %.1e against the reference", (long long)n, e);
    ok(same_bits(d, dxs, n), "gelu_bwd_inplace: the bits of gelu_bwd into a zeroed dx");
    float *bufs[] = {x, y, rstd, w, dy, d, dr, dxs, dw, dwr, dws};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        avk_ffree(bufs[i]);
}

/* avk_bias_gelu_fwd on the MLP's hidden rows: the reference within TOL,
 * the bits of avk_linear_fwd with its bias then avk_gelu_fwd. */
static void bias_gelu(int64_t M, int64_t K, int64_t N)
{
    float *x = randn(M * K, 1.0f), *w = randn(N * K, 0.06f), *b = randn(N, 0.5f);
    float *f = avk_falloc(M * N), *g = avk_falloc(M * N), *fs = avk_falloc(M * N);
    float *gs = avk_falloc(M * N), *fr = avk_falloc(M * N), *gr = avk_falloc(M * N);
    avk_linear_fwd(f, x, w, NULL, M, K, N);
    memcpy(fr, f, (size_t)(M * N) * sizeof(float));
    avk_bias_gelu_fwd(f, g, b, M, N);
    avk_bias_gelu_fwd_ref(fr, gr, b, M, N);
    avk_linear_fwd(fs, x, w, b, M, K, N);
    avk_gelu_fwd(gs, fs, M * N);
    double e = fmax(rel_err(f, fr, M * N), rel_err(g, gr, M * N));
    ok(e < TOL, "bias_gelu_fwd %lld x %lld: %.1e against the reference", (long long)M,
       (long long)N, e);
    ok(same_bits(f, fs, M * N) && same_bits(g, gs, M * N),
       "bias_gelu_fwd: the bits of linear_fwd with bias then gelu_fwd");
    float *bufs[] = {x, w, b, f, g, fs, gs, fr, gr};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        avk_ffree(bufs[i]);
}

/* avk_gelu_fwd, avk_gelu_bwd and avk_gelu_bwd_inplace at lengths that
 * end inside a vector and across the threads' chunks: the reference
 * within TOL, nothing written past n, the in-place backward the bits of
 * the accumulating one into zeros. */
static void gelu_lengths(int64_t n)
{
    float *x = randn(n + 8, 2.0f), *dy = randn(n + 8, 1.0f), *dx0 = randn(n + 8, 1.0f);
    float *y = avk_falloc(n + 8), *yr = avk_falloc(n + 8), *dx = avk_falloc(n + 8);
    float *dxr = avk_falloc(n + 8), *d = avk_falloc(n + 8), *dz = avk_fzeros(n + 8);
    for (int64_t i = n; i < n + 8; i++)
        y[i] = dx[i] = d[i] = dz[i] = 7.0f;   /* past the end: must stay */
    memcpy(dx, dx0, (size_t)n * sizeof(float));
    memcpy(dxr, dx0, (size_t)n * sizeof(float));
    memcpy(d, dy, (size_t)n * sizeof(float));
    avk_gelu_fwd(y, x, n);
    avk_gelu_fwd_ref(yr, x, n);
    avk_gelu_bwd(dx, dy, x, n);
    avk_gelu_bwd_ref(dxr, dy, x, n);
    avk_gelu_bwd_inplace(d, x, n);
    avk_gelu_bwd(dz, dy, x, n);
    double e = fmax(rel_err(y, yr, n), rel_err(dx, dxr, n));
    int kept = 1;
    for (int64_t i = n; i < n + 8; i++)
        kept &= y[i] == 7.0f && dx[i] == 7.0f && d[i] == 7.0f && dz[i] == 7.0f;
    ok(e < TOL && kept, "gelu %lld values: %.1e against the reference, nothing past the end",
       (long long)n, e);
    ok(same_bits(d, dz, n), "gelu %lld values: in place, the bits of gelu_bwd into zeros",
       (long long)n);
    float *bufs[] = {x, dy, dx0, y, yr, dx, dxr, d, dz};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        avk_ffree(bufs[i]);
}

/* The GELU at the ends of the float range: NaN stays NaN, far from zero
 * it is the identity or zero with slope 1 or 0, not NaN or inf. */
static void gelu_specials(void)
{
    enum { N = 9 };
    const float x[N] = {NAN, 0.0f, 20.0f, -20.0f, 100.0f, -100.0f, 1e30f, -1e30f, 88.5f};
    const float want[N] = {NAN, 0.0f, 20.0f, 0.0f, 100.0f, 0.0f, 1e30f, 0.0f, 88.5f};
    float y[N], d[N];
    avk_gelu_fwd(y, x, N);
    int good = isnan(y[0]);
    for (int i = 1; i < N; i++)
        good &= fabsf(y[i] - want[i]) <= 1e-6f * fabsf(want[i]) + 1e-30f;
    ok(good, "gelu at NaN, 0, +-20, +-100, +-1e30, 88.5: NaN, then x or 0");
    for (int i = 0; i < N; i++)
        d[i] = 1.0f;
    avk_gelu_bwd_inplace(d, x, 6);
    ok(isnan(d[0]) && fabsf(d[1] - 0.5f) < 1e-7f && d[2] == 1.0f && d[3] == 0.0f &&
           d[4] == 1.0f && d[5] == 0.0f,
       "gelu slope at NaN, 0, +-20, +-100: NaN, 0.5, 1, 0, 1, 0");
}

int main(void)
{
    avk_rng_seed(&rng, 990);
    ln_modulate(2, 512, 1, 256, 1);   /* the video rows of the reference configuration */
    ln_modulate(2, 32, 1, 256, 1);    /* its text rows: below the threading threshold */
    ln_modulate(2, 512, 8, 64, 0);    /* per-frame conditioning, no shift */
    linear_set(1024, 256, 256);       /* the projections */
    linear_set(1024, 1024, 256);      /* MLP out: dx of the GELU's output */
    linear_set(64, 256, 1024);        /* text rows */
    inplace_bwds(1088 * 4, 64);       /* query norm of 1024 video + 64 text rows, 4 heads */
    inplace_bwds(10, 64);             /* below the threading threshold */
    bias_gelu(1024, 256, 1024);       /* the video rows' MLP */
    bias_gelu(64, 256, 1024);         /* the text rows' */
    static const int64_t lens[] = {1, 7, 8, 9, 31, 32, 33, 45, 16384 + 13, 3 * 16384 + 29};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++)
        gelu_lengths(lens[i]);
    gelu_specials();
    return done_testing();
}
