/* avk_mlp_fwd / avk_mlp_bwd, the MLP with its hidden rows avk_mlp_ld(F)
 * apart, against the separate operators it replaces in the DiT
 * (avk_linear_fwd, avk_bias_gelu_fwd, avk_linear_fwd; avk_linear_bwd_set,
 * avk_gelu_bwd_inplace, avk_linear_bwd_set) within 1e-6 (a product of
 * other leading dimensions may sum in another order), and against the
 * double reference within 1e-5, every output and gradient, at the DiT's
 * shapes (1024 video rows and 64 text rows of width 256, hidden 1024) and
 * at a width whose rows are no multiple of 1 KiB; the padding columns of
 * the hidden rows are never written. */
#include <math.h>
#include "tap.h"
#include "randn.h"
#include "avkit/util/common.h"
#include "avkit/nn/ops.h"

#define TOL 1e-5

/* The largest relative difference of a and b and e. */
static double worst(double e, const float *a, const float *b, int64_t n)
{
    double t = rel_err(a, b, n);
    return t > e || isnan(t) ? t : e;
}

/* [M, F] rows ld apart, contiguous. */
static float *packed(const float *x, int64_t ld, int64_t M, int64_t F)
{
    float *d = avk_falloc(M * F);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < F; j++)
            d[i * F + j] = x[i * ld + j];
    return d;
}

/* Whether the columns F .. ld of every row still hold NaN. */
static int pad_untouched(const float *x, int64_t ld, int64_t M, int64_t F)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = F; j < ld; j++)
            if (!isnan(x[i * ld + j]))
                return 0;
    return 1;
}

static void check(int64_t M, int64_t K, int64_t F, int64_t N, const char *what)
{
    int64_t ld = avk_mlp_ld(F);
    float *x = randn(M * K, 1.0f), *w1 = randn(F * K, 0.06f), *b1 = randn(F, 0.1f);
    float *w2 = randn(N * F, 0.03f), *b2 = randn(N, 0.1f), *dy = randn(M * N, 1.0f);
    /* the MLP (index 0, hidden rows ld apart), the separate operators (1),
     * the reference (2, also ld apart) */
    float *y[3], *f[3], *g[3], *dx[3], *df[3], *dw1[3], *db1[3], *dw2[3], *db2[3];
    for (int i = 0; i < 3; i++) {
        int64_t h = i == 1 ? M * F : M * ld;
        y[i] = avk_falloc(M * N);
        f[i] = nans(h);
        g[i] = nans(h);
        dx[i] = avk_falloc(M * K);
        df[i] = nans(h);
        dw1[i] = avk_fzeros(F * K);
        db1[i] = avk_fzeros(F);
        dw2[i] = avk_fzeros(N * F);
        db2[i] = avk_fzeros(N);
    }
    avk_mlp_fwd(y[0], f[0], g[0], ld, x, w1, b1, w2, b2, M, K, F, N);
    avk_mlp_bwd(dx[0], dw1[0], db1[0], dw2[0], db2[0], df[0], ld, dy, x, f[0], g[0], w1, w2, M,
                K, F, N);
    avk_linear_fwd(f[1], x, w1, NULL, M, K, F);
    avk_bias_gelu_fwd(f[1], g[1], b1, M, F);
    avk_linear_fwd(y[1], g[1], w2, b2, M, F, N);
    avk_linear_bwd_set(df[1], dw2[1], db2[1], dy, g[1], w2, M, F, N);
    avk_gelu_bwd_inplace(df[1], f[1], M * F);
    avk_linear_bwd_set(dx[1], dw1[1], db1[1], df[1], x, w1, M, K, F);
    avk_mlp_fwd_ref(y[2], f[2], g[2], ld, x, w1, b1, w2, b2, M, K, F, N);
    avk_mlp_bwd_ref(dx[2], dw1[2], db1[2], dw2[2], db2[2], df[2], ld, dy, x, f[2], g[2], w1, w2,
                    M, K, F, N);
    ok(pad_untouched(f[0], ld, M, F) && pad_untouched(g[0], ld, M, F) &&
           pad_untouched(df[0], ld, M, F),
       "%s: the hidden rows' padding left alone", what);
    float *fp = packed(f[0], ld, M, F), *gp = packed(g[0], ld, M, F), *dfp = packed(df[0], ld, M, F);
    double ef = worst(worst(worst(0, y[0], y[1], M * N), fp, f[1], M * F), gp, g[1], M * F);
    double eb = worst(worst(worst(0, dx[0], dx[1], M * K), dfp, df[1], M * F), dw1[0], dw1[1],
                      F * K);
    eb = worst(worst(worst(eb, db1[0], db1[1], F), dw2[0], dw2[1], N * F), db2[0], db2[1], N);
    ok(ef < 1e-6 && eb < 1e-6,
       "%s: the separate operators' results within %.1e forward, %.1e backward", what, ef, eb);
    float *rg = packed(g[2], ld, M, F);
    double ey = rel_err(y[0], y[2], M * N), eg = rel_err(gp, rg, M * F);
    double ex = rel_err(dx[0], dx[2], M * K), ew1 = rel_err(dw1[0], dw1[2], F * K);
    double ew2 = rel_err(dw2[0], dw2[2], N * F), eb1 = rel_err(db1[0], db1[2], F);
    double eb2 = rel_err(db2[0], db2[2], N);
    ok(ey < TOL && eg < TOL && ex < TOL && ew1 < TOL && ew2 < TOL && eb1 < TOL && eb2 < TOL,
       "%s: against the reference: y %.1e g %.1e dx %.1e dw1 %.1e dw2 %.1e db1 %.1e db2 %.1e",
       what, ey, eg, ex, ew1, ew2, eb1, eb2);
    float *all[] = {x, w1, b1, w2, b2, dy, fp, gp, dfp, rg};
    for (int i = 0; i < 10; i++)
        avk_ffree(all[i]);
    for (int i = 0; i < 3; i++) {
        float *mine[] = {y[i], f[i], g[i], dx[i], df[i], dw1[i], db1[i], dw2[i], db2[i]};
        for (int j = 0; j < 9; j++)
            avk_ffree(mine[j]);
    }
}

int main(void)
{
    avk_rng_seed(&rng, 17);
    check(1024, 256, 1024, 256, "1024 video rows, width 256, hidden 1024");
    check(64, 256, 1024, 256, "64 text rows");
    check(203, 96, 384, 96, "203 rows, width 96, hidden 384");
    return done_testing();
}
