/* Every operator of the CUDA backend against the plain CPU reference, in
 * one process (the llm.c dev/cuda way): the same random host inputs go to
 * avk_OP_ref (or the plain CPU function where an operator has no _ref)
 * and, uploaded, to the "cuda" table's entry; the output comes back and
 * the largest error is reported, max|gpu - ref| / max|ref|. Backward
 * outputs start from random values, so accumulation (+=) is checked too.
 * Targets: fp32 1e-5 relative, bf16 paths 1e-2 against fp32.
 *
 * Without CUDA built in, or without a device, the whole program is one
 * TAP skip line. scripts/gpu-check.sh builds this same file without the
 * rest of avkit's dependencies. */
#include <math.h>
#include <string.h>
#include "tap.h"
#include "avkit/nn/ops.h"
#include "avkit/nn/tensor.h"
#include "avkit/util/common.h"

#ifndef AVK_HAVE_CUDA
int main(void)
{
    printf("1..0 # SKIP built without CUDA (make CUDA=1)\n");
    return 0;
}
#else
#include "avkit/nn/cuda.h"

#define TOL 1e-5
#define TOL_BF16 1e-2

static const avk_backend *be;
static avk_rng rng;
static double worst;             /* the largest fp32 error seen */

/* ---- host and device buffers ----------------------------------------- */

enum { MAXBUF = 64 };
static void *dev_bufs[MAXBUF];
static float *host_bufs[MAXBUF];
static int ndev, nhost;

static float *H(int64_t n, float std)
{
    float *p = avk_falloc(n > 0 ? n : 1);
    avk_fill_randn(p, n, &rng, 0.0f, std);
    if (nhost < MAXBUF)
        host_bufs[nhost++] = p;
    return p;
}

/* A host copy of a (n floats) that this file frees later. */
static float *HC(const float *a, int64_t n)
{
    float *p = H(n, 0);
    memcpy(p, a, (size_t)n * sizeof(float));
    return p;
}

static void *dalloc(size_t bytes)
{
    void *d = be->alloc(bytes ? bytes : 4);
    if (!d)
        avk_die_lib();
    if (ndev < MAXBUF)
        dev_bufs[ndev++] = d;
    return d;
}

static float *UP(const float *h, int64_t n)
{
    float *d = dalloc((size_t)n * sizeof(float));
    be->to_device(d, h, (size_t)n * sizeof(float));
    return d;
}

static float *DOWN(const float *d, int64_t n)
{
    float *h = H(n, 0);
    be->to_host(h, d, (size_t)n * sizeof(float));
    return h;
}

/* Free every buffer of the operator just checked. */
static void release(void)
{
    for (int i = 0; i < ndev; i++)
        be->free(dev_bufs[i]);
    for (int i = 0; i < nhost; i++)
        avk_ffree(host_bufs[i]);
    ndev = nhost = 0;
}

/* One line: the operator, its largest error and the target. */
static void report(const char *what, const float *got, const float *ref, int64_t n, double tol)
{
    double e = rel_err(got, ref, n);
    if (tol == TOL && (e > worst || e != e))
        worst = e;
    ok(e < tol, "cuda %-34s max rel err %.2e (target %.0e, %lld values)", what, e, tol,
       (long long)n);
}

/* The device result of a backward that accumulated into a copy of g0. */
static void report_acc(const char *what, const float *dev, const float *ref, int64_t n)
{
    report(what, DOWN(dev, n), ref, n, TOL);
}

/* ---- elementwise, tensor.h ------------------------------------------- */

static void check_tensor(void)
{
    const int64_t n = 10007;
    float *a = H(n, 1), *b = H(n, 1), *r = HC(a, n);
    float *da = UP(a, n), *db = UP(b, n), *dy = dalloc(n * 4);
    avk_add(r, a, b, n);
    be->add(dy, da, db, n);
    report("add", DOWN(dy, n), r, n, TOL);
    memcpy(r, a, n * 4);
    avk_add_inplace(r, b, n);
    avk_axpy(r, -0.75f, b, n);
    avk_scale(r, 1.5f, n);
    be->add_inplace(da, db, n);
    be->axpy(da, -0.75f, db, n);
    be->scale(da, 1.5f, n);
    report("add_inplace + axpy + scale", DOWN(da, n), r, n, TOL);
    double s = avk_sumsq(b, n), sd = be->sumsq(db, n);
    ok(fabs(s - sd) <= 1e-9 * s, "cuda sumsq %.12g (cpu %.12g)", sd, s);
    ok(be->find_nonfinite(db, n) == -1, "cuda find_nonfinite: none in finite data");
    b[7777] = INFINITY;
    b[9000] = NAN;
    be->to_device(db, b, n * 4);
    int64_t f = be->find_nonfinite(db, n);
    ok(f == 7777 && f == avk_find_nonfinite(b, n), "cuda find_nonfinite finds the first: %lld",
       (long long)f);

    /* a 5-axis permutation, written and accumulated */
    int64_t shape[5] = {2, 3, 4, 5, 6}, m = 720;
    int perm[5] = {3, 0, 4, 2, 1};
    float *x = H(m, 1), *y0 = H(m, 1), *yr = HC(y0, m), *yw = H(m, 0);
    float *dx = UP(x, m), *dy0 = UP(y0, m), *dw = dalloc(m * 4);
    avk_permute(yw, x, 5, shape, perm);
    avk_permute_acc(yr, x, 5, shape, perm);
    be->permute(dw, dx, 5, shape, perm);
    be->permute_acc(dy0, dx, 5, shape, perm);
    report("permute", DOWN(dw, m), yw, m, TOL);
    report("permute_acc", DOWN(dy0, m), yr, m, TOL);
    release();
}

/* ---- GEMM and linear --------------------------------------------------- */

static void check_gemm(void)
{
    const int64_t M = 67, N = 45, K = 83, pad = 3;
    const char *tr = "NT";
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
            int64_t na = (ta ? K : M) * lda, nb = (tb ? N : K) * ldb, nc = M * ldc;
            float *A = H(na, 1), *B = H(nb, 1), *C = H(nc, 1), *R = HC(C, nc);
            float *dA = UP(A, na), *dB = UP(B, nb), *dC = UP(C, nc);
            avk_gemm_ref(tr[ta], tr[tb], M, N, K, 0.7f, A, lda, B, ldb, 0.3f, R, ldc);
            be->gemm(tr[ta], tr[tb], M, N, K, 0.7f, dA, lda, dB, ldb, 0.3f, dC, ldc);
            char what[64];
            snprintf(what, sizeof what, "gemm %c%c (lda/ldb/ldc padded)", tr[ta], tr[tb]);
            report(what, DOWN(dC, nc), R, nc, TOL);
            release();
        }
}

static void check_linear(void)
{
    const int64_t M = 300, K = 96, N = 130;
    float *x = H(M * K, 1), *w = H(N * K, 0.1f), *b = H(N, 1), *dy = H(M * N, 1);
    float *y = H(M * N, 0);
    float *gx = H(M * K, 1), *gw = H(N * K, 1), *gb = H(N, 1);
    float *dx = UP(gx, M * K), *dw = UP(gw, N * K), *dbb = UP(gb, N);
    float *xd = UP(x, M * K), *wd = UP(w, N * K), *bd = UP(b, N), *dyd = UP(dy, M * N);
    float *yd = dalloc(M * N * 4);
    avk_linear_fwd_ref(y, x, w, b, M, K, N);
    be->linear_fwd(yd, xd, wd, bd, M, K, N);
    report("linear_fwd", DOWN(yd, M * N), y, M * N, TOL);
    avk_linear_fwd_ref(y, x, w, NULL, M, K, N);
    be->linear_fwd(yd, xd, wd, NULL, M, K, N);
    report("linear_fwd (no bias)", DOWN(yd, M * N), y, M * N, TOL);
    avk_linear_bwd_ref(gx, gw, gb, dy, x, w, M, K, N);
    be->linear_bwd(dx, dw, dbb, dyd, xd, wd, M, K, N);
    report_acc("linear_bwd dx", dx, gx, M * K);
    report_acc("linear_bwd dw", dw, gw, N * K);
    report_acc("linear_bwd db", dbb, gb, N);
    release();
}

/* bf16 operands, f32 accumulation: against the fp32 reference on the
 * bf16-rounded inputs (the same products: ~1e-6), and against plain fp32
 * (the rounding itself: under 1e-2). */
static float bf16_round1(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu))
        return x;                              /* NaN stays NaN */
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &u, 4);
    return x;
}

static float *bf16_rounded(const float *x, int64_t n)
{
    float *r = H(n, 0);
    for (int64_t i = 0; i < n; i++)
        r[i] = bf16_round1(x[i]);
    return r;
}

static void check_bf16(void)
{
    const int64_t M = 256, K = 384, N = 192;
    float *x = H(M * K, 1), *w = H(N * K, 0.05f), *b = H(N, 1), *dy = H(M * N, 1);
    float *xr = bf16_rounded(x, M * K), *wr = bf16_rounded(w, N * K), *dyr = bf16_rounded(dy, M * N);
    float *y32 = H(M * N, 0), *yr = H(M * N, 0);
    float *xd = UP(x, M * K), *wd = UP(w, N * K), *bd = UP(b, N), *dyd = UP(dy, M * N);
    float *yd = dalloc(M * N * 4);
    avk_linear_fwd_ref(y32, x, w, b, M, K, N);
    avk_linear_fwd_ref(yr, xr, wr, b, M, K, N);
    avk_cuda_linear_bf16_fwd(yd, xd, wd, bd, M, K, N);
    float *y = DOWN(yd, M * N);
    report("linear_bf16_fwd vs bf16-rounded ref", y, yr, M * N, TOL);
    report("linear_bf16_fwd vs fp32", y, y32, M * N, TOL_BF16);

    float *gx = H(M * K, 0), *gw = H(N * K, 0), *gb = H(N, 0);
    float *gx32 = H(M * K, 0), *gw32 = H(N * K, 0), *gb32 = H(N, 0);
    float *dx = UP(gx, M * K), *dw = UP(gw, N * K), *dbb = UP(gb, N);
    avk_linear_bwd_ref(gx, gw, gb, dyr, xr, wr, M, K, N);
    memset(gb, 0, N * 4);
    avk_linear_bwd_ref(NULL, NULL, gb, dy, x, w, M, K, N);   /* db stays f32 */
    avk_linear_bwd_ref(gx32, gw32, gb32, dy, x, w, M, K, N);
    avk_cuda_linear_bf16_bwd(dx, dw, dbb, dyd, xd, wd, M, K, N);
    float *hx = DOWN(dx, M * K), *hw = DOWN(dw, N * K);
    report("linear_bf16_bwd dx vs bf16-rounded ref", hx, gx, M * K, TOL);
    report("linear_bf16_bwd dw vs bf16-rounded ref", hw, gw, N * K, TOL);
    report("linear_bf16_bwd db (f32)", DOWN(dbb, N), gb, N, TOL);
    report("linear_bf16_bwd dx vs fp32", hx, gx32, M * K, TOL_BF16);
    report("linear_bf16_bwd dw vs fp32", hw, gw32, N * K, TOL_BF16);

    /* the table's GEMMs in the "bf16" math mode (tensor cores) */
    float *C = H(M * N, 0), *Cd = dalloc(M * N * 4);
    avk_gemm_ref('N', 'T', M, N, K, 1.0f, x, K, w, K, 0.0f, C, N);
    ok(avk_cuda_set_math("bf16") == 0, "cuda math mode bf16 is accepted");
    be->gemm('N', 'T', M, N, K, 1.0f, xd, K, wd, K, 0.0f, Cd, N);
    report("gemm, math mode bf16, vs fp32", DOWN(Cd, M * N), C, M * N, TOL_BF16);
    avk_cuda_gemm_bf16('N', 'T', M, N, K, 1.0f, xd, K, wd, K, 0.0f, Cd, N);
    report("gemm_bf16 vs fp32", DOWN(Cd, M * N), C, M * N, TOL_BF16);
    ok(avk_cuda_set_math("fp64") < 0 && avk_cuda_set_math("fp32") == 0 &&
           !strcmp(avk_cuda_math(), "fp32"),
       "cuda math mode: an unknown name is refused, fp32 restored");
    release();
}

/* ---- conv2d, norms, activations, softmax ------------------------------ */

static void check_conv(const avk_conv2d *c, const char *what)
{
    int Ho = avk_conv2d_out_h(c), Wo = avk_conv2d_out_w(c);
    int64_t nx = (int64_t)c->B * c->Cin * c->H * c->W, nw = (int64_t)c->Cout * c->Cin * c->kh * c->kw;
    int64_t ny = (int64_t)c->B * c->Cout * Ho * Wo;
    float *x = H(nx, 1), *w = H(nw, 0.2f), *b = H(c->Cout, 1), *dy = H(ny, 1), *y = H(ny, 0);
    float *gx = H(nx, 1), *gw = H(nw, 1), *gb = H(c->Cout, 1);
    float *xd = UP(x, nx), *wd = UP(w, nw), *bd = UP(b, c->Cout), *dyd = UP(dy, ny);
    float *dx = UP(gx, nx), *dw = UP(gw, nw), *dbb = UP(gb, c->Cout), *yd = dalloc(ny * 4);
    char name[64];
    avk_conv2d_fwd_ref(y, x, w, b, c);
    be->conv2d_fwd(yd, xd, wd, bd, c);
    snprintf(name, sizeof name, "conv2d_fwd %s", what);
    report(name, DOWN(yd, ny), y, ny, TOL);
    avk_conv2d_bwd_ref(gx, gw, gb, dy, x, w, c);
    be->conv2d_bwd(dx, dw, dbb, dyd, xd, wd, c);
    snprintf(name, sizeof name, "conv2d_bwd dx %s", what);
    report_acc(name, dx, gx, nx);
    snprintf(name, sizeof name, "conv2d_bwd dw %s", what);
    report_acc(name, dw, gw, nw);
    snprintf(name, sizeof name, "conv2d_bwd db %s", what);
    report_acc(name, dbb, gb, c->Cout);
    release();
}

static void check_norms(void)
{
    /* group norm [B, C, S] */
    const int B = 2, C = 8, G = 4;
    const int64_t S = 333, n = (int64_t)B * C * S;
    float *x = H(n, 2), *g = H(C, 1), *bt = H(C, 1), *dy = H(n, 1), *y = H(n, 0);
    float m[8], r[8], *gx = H(n, 1), *gg = H(C, 1), *gbt = H(C, 1);
    float *xd = UP(x, n), *gd = UP(g, C), *btd = UP(bt, C), *dyd = UP(dy, n), *yd = dalloc(n * 4);
    float *md = dalloc(64), *rd = dalloc(64);
    float *dx = UP(gx, n), *dg = UP(gg, C), *dbt = UP(gbt, C);
    avk_groupnorm_fwd_ref(y, m, r, x, g, bt, B, C, S, G, 1e-6f);
    be->groupnorm_fwd(yd, md, rd, xd, gd, btd, B, C, S, G, 1e-6f);
    report("groupnorm_fwd", DOWN(yd, n), y, n, TOL);
    report("groupnorm_fwd rstd", DOWN(rd, B * G), r, B * G, TOL);
    avk_groupnorm_bwd_ref(gx, gg, gbt, dy, x, m, r, g, B, C, S, G);
    be->groupnorm_bwd(dx, dg, dbt, dyd, xd, md, rd, gd, B, C, S, G);
    report_acc("groupnorm_bwd dx", dx, gx, n);
    report_acc("groupnorm_bwd dgamma", dg, gg, C);
    report_acc("groupnorm_bwd dbeta", dbt, gbt, C);
    release();

    /* layer norm and RMS norm [M, D], with and without affine */
    const int64_t M = 517;
    const int D = 200;
    for (int affine = 0; affine < 2; affine++) {
        float *x2 = H(M * D, 3), *dy2 = H(M * D, 1), *y2 = H(M * D, 0), *mm = H(M, 0), *rr = H(M, 0);
        float *ga = affine ? H(D, 1) : NULL, *bb = affine ? H(D, 1) : NULL;
        float *gx2 = H(M * D, 1), *gga = H(D, 1), *gbb = H(D, 1);
        float *x2d = UP(x2, M * D), *dy2d = UP(dy2, M * D), *y2d = dalloc(M * D * 4);
        float *mmd = dalloc(M * 4), *rrd = dalloc(M * 4);
        float *gad = affine ? UP(ga, D) : NULL, *bbd = affine ? UP(bb, D) : NULL;
        float *dx2 = UP(gx2, M * D), *dga = UP(gga, D), *dbb = UP(gbb, D);
        const char *tag = affine ? "layernorm (affine)" : "layernorm (no affine)";
        char name[80];
        avk_layernorm_fwd_ref(y2, mm, rr, x2, ga, bb, M, D, 1e-6f);
        be->layernorm_fwd(y2d, mmd, rrd, x2d, gad, bbd, M, D, 1e-6f);
        snprintf(name, sizeof name, "%s fwd", tag);
        report(name, DOWN(y2d, M * D), y2, M * D, TOL);
        avk_layernorm_bwd_ref(gx2, affine ? gga : NULL, affine ? gbb : NULL, dy2, x2, mm, rr, ga,
                              M, D);
        be->layernorm_bwd(dx2, affine ? dga : NULL, affine ? dbb : NULL, dy2d, x2d, mmd, rrd, gad,
                          M, D);
        snprintf(name, sizeof name, "%s bwd dx", tag);
        report_acc(name, dx2, gx2, M * D);
        if (affine) {
            report_acc("layernorm bwd dgamma", dga, gga, D);
            report_acc("layernorm bwd dbeta", dbb, gbb, D);
        }
        /* RMS norm on the same data */
        float *gx3 = H(M * D, 1), *gw3 = H(D, 1), *dx3 = UP(gx3, M * D), *dw3 = UP(gw3, D);
        avk_rmsnorm_fwd_ref(y2, rr, x2, ga, M, D, 1e-6f);
        be->rmsnorm_fwd(y2d, rrd, x2d, gad, M, D, 1e-6f);
        snprintf(name, sizeof name, "rmsnorm%s fwd", affine ? " (weight)" : "");
        report(name, DOWN(y2d, M * D), y2, M * D, TOL);
        avk_rmsnorm_bwd_ref(gx3, affine ? gw3 : NULL, dy2, x2, rr, ga, M, D);
        be->rmsnorm_bwd(dx3, affine ? dw3 : NULL, dy2d, x2d, rrd, gad, M, D);
        snprintf(name, sizeof name, "rmsnorm%s bwd dx", affine ? " (weight)" : "");
        report_acc(name, dx3, gx3, M * D);
        if (affine)
            report_acc("rmsnorm bwd dw", dw3, gw3, D);
        release();
    }
}

static void check_act_softmax(void)
{
    const int64_t n = 30011;
    float *x = H(n, 3), *dy = H(n, 1), *y = H(n, 0), *g = H(n, 1), *g2 = HC(g, n);
    float *xd = UP(x, n), *dyd = UP(dy, n), *yd = dalloc(n * 4), *gd = UP(g, n), *gd2 = UP(g, n);
    avk_silu_fwd_ref(y, x, n);
    be->silu_fwd(yd, xd, n);
    report("silu_fwd", DOWN(yd, n), y, n, TOL);
    avk_silu_bwd_ref(g, dy, x, n);
    be->silu_bwd(gd, dyd, xd, n);
    report_acc("silu_bwd", gd, g, n);
    avk_gelu_fwd_ref(y, x, n);
    be->gelu_fwd(yd, xd, n);
    report("gelu_fwd (tanh)", DOWN(yd, n), y, n, TOL);
    avk_gelu_bwd_ref(g2, dy, x, n);
    be->gelu_bwd(gd2, dyd, xd, n);
    report_acc("gelu_bwd (tanh)", gd2, g2, n);
    avk_clamp_fwd_ref(y, x, n, -1.5f, 2.0f);
    be->clamp_fwd(yd, xd, n, -1.5f, 2.0f);
    report("clamp_fwd", DOWN(yd, n), y, n, TOL);
    avk_clamp_bwd_ref(g, dy, x, n, -1.5f, 2.0f);
    be->clamp_bwd(gd, dyd, xd, n, -1.5f, 2.0f);
    report_acc("clamp_bwd", gd, g, n);
    release();

    const int64_t M = 300, N = 777;
    float *s = H(M * N, 4), *ds = H(M * N, 1), *p = H(M * N, 0), *gs = H(M * N, 1);
    float *sd = UP(s, M * N), *dsd = UP(ds, M * N), *pd = dalloc(M * N * 4), *gsd = UP(gs, M * N);
    avk_softmax_fwd_ref(p, s, M, N);
    be->softmax_fwd(pd, sd, M, N);
    report("softmax_fwd", DOWN(pd, M * N), p, M * N, TOL);
    avk_softmax_bwd_ref(gs, ds, p, M, N);
    be->softmax_bwd(gsd, dsd, pd, M, N);
    report_acc("softmax_bwd", gsd, gs, M * N);
    release();
}

/* ---- attention ---------------------------------------------------------- */

static void check_attention_case(int B, int Hh, int Nq, int Nk, int D, const int *kv_len,
                                 const char *what)
{
    avk_attn a = avk_attn_make(B, Hh, Nq, Nk, D);
    a.kv_len = kv_len;
    int64_t nq = (int64_t)B * Hh * Nq * D, nk = (int64_t)B * Hh * Nk * D, nl = (int64_t)B * Hh * Nq;
    float *q = H(nq, 1), *k = H(nk, 1), *v = H(nk, 1), *dout = H(nq, 1);
    float *o = H(nq, 0), *lse = H(nl, 0);
    float *gq = H(nq, 1), *gk = H(nk, 1), *gv = H(nk, 1);
    float *qd = UP(q, nq), *kd = UP(k, nk), *vd = UP(v, nk), *dod = UP(dout, nq);
    float *od = dalloc(nq * 4), *ld = dalloc(nl * 4);
    float *dq = UP(gq, nq), *dk = UP(gk, nk), *dv = UP(gv, nk);
    char name[96];
    avk_attention_fwd_ref(o, lse, q, k, v, &a);
    be->attention_fwd(od, ld, qd, kd, vd, &a);
    snprintf(name, sizeof name, "attention_fwd %s", what);
    report(name, DOWN(od, nq), o, nq, TOL);
    /* lse: -inf rows (kv_len 0) must match exactly, the rest within TOL */
    float *lg = DOWN(ld, nl);
    int same_inf = 1;
    for (int64_t i = 0; i < nl; i++)
        if (isinf(lse[i]) || isinf(lg[i])) {
            same_inf &= lse[i] == lg[i];
            lse[i] = lg[i] = 0;
        }
    ok(same_inf, "cuda attention_fwd %s: masked rows give lse -inf as the reference", what);
    snprintf(name, sizeof name, "attention_fwd lse %s", what);
    report(name, lg, lse, nl, TOL);
    avk_attention_fwd_ref(o, lse, q, k, v, &a);   /* lse again, with its -inf rows */
    be->to_device(ld, lse, nl * 4);               /* the backward of both from the same lse */
    avk_attention_bwd_ref(gq, gk, gv, dout, q, k, v, o, lse, &a);
    be->attention_bwd(dq, dk, dv, dod, qd, kd, vd, od, ld, &a);
    snprintf(name, sizeof name, "attention_bwd dq %s", what);
    report_acc(name, dq, gq, nq);
    snprintf(name, sizeof name, "attention_bwd dk %s", what);
    report_acc(name, dk, gk, nk);
    snprintf(name, sizeof name, "attention_bwd dv %s", what);
    report_acc(name, dv, gv, nk);
    release();
}

/* The tensor-core kernels (bf16 products) against the fp32 reference, and
 * the table in the "bf16" math mode giving the direct call's bits. */
static void check_attention_bf16(int B, int Hh, int Nq, int Nk, int D, const int *kv_len,
                                 const char *what)
{
    avk_attn a = avk_attn_make(B, Hh, Nq, Nk, D);
    a.kv_len = kv_len;
    int64_t nq = (int64_t)B * Hh * Nq * D, nk = (int64_t)B * Hh * Nk * D, nl = (int64_t)B * Hh * Nq;
    float *q = H(nq, 1), *k = H(nk, 1), *v = H(nk, 1), *dout = H(nq, 1);
    float *o = H(nq, 0), *lse = H(nl, 0), *gq = H(nq, 0), *gk = H(nk, 0), *gv = H(nk, 0);
    float *qd = UP(q, nq), *kd = UP(k, nk), *vd = UP(v, nk), *dod = UP(dout, nq);
    float *od = dalloc(nq * 4), *ld = dalloc(nl * 4), *od2 = dalloc(nq * 4), *ld2 = dalloc(nl * 4);
    float *dq = UP(gq, nq), *dk = UP(gk, nk), *dv = UP(gv, nk);
    char name[96];
    avk_attention_fwd_ref(o, lse, q, k, v, &a);
    avk_cuda_attention_bf16_fwd(od, ld, qd, kd, vd, &a);
    snprintf(name, sizeof name, "attention_bf16_fwd %s vs fp32", what);
    report(name, DOWN(od, nq), o, nq, TOL_BF16);
    avk_cuda_set_math("bf16");
    be->attention_fwd(od2, ld2, qd, kd, vd, &a);
    avk_cuda_set_math("fp32");
    ok(!memcmp(DOWN(od2, nq), DOWN(od, nq), (size_t)nq * 4),
       "cuda attention_fwd in math mode bf16 is the bf16 kernel %s", what);
    be->to_device(ld, lse, nl * 4);     /* the backward from the reference's lse */
    be->to_device(od, o, nq * 4);
    avk_attention_bwd_ref(gq, gk, gv, dout, q, k, v, o, lse, &a);
    avk_cuda_attention_bf16_bwd(dq, dk, dv, dod, qd, kd, vd, od, ld, &a);
    snprintf(name, sizeof name, "attention_bf16_bwd dq %s vs fp32", what);
    report(name, DOWN(dq, nq), gq, nq, TOL_BF16);
    snprintf(name, sizeof name, "attention_bf16_bwd dk %s vs fp32", what);
    report(name, DOWN(dk, nk), gk, nk, TOL_BF16);
    snprintf(name, sizeof name, "attention_bf16_bwd dv %s vs fp32", what);
    report(name, DOWN(dv, nk), gv, nk, TOL_BF16);
    release();
}

static void check_attention(void)
{
    check_attention_case(2, 3, 77, 77, 64, NULL, "(self, D 64)");
    check_attention_case(1, 2, 40, 100, 72, NULL, "(Nq != Nk, D 72)");
    int kv[3] = {13, 0, 50};
    check_attention_case(3, 2, 33, 50, 32, kv, "(kv_len 13, 0, 50)");
    check_attention_case(1, 1, 65, 65, 128, NULL, "(D 128)");
    check_attention_bf16(2, 3, 130, 130, 64, NULL, "(self, D 64)");
    check_attention_bf16(1, 2, 40, 100, 72, NULL, "(Nq != Nk, D 72)");
    check_attention_bf16(3, 2, 33, 70, 32, kv, "(kv_len 13, 0, 50)");
    check_attention_bf16(1, 1, 65, 65, 128, NULL, "(D 128)");
}

/* ---- DiT operators ------------------------------------------------------- */

static void check_modulate(int G)
{
    const int B = 2, D = 96;
    const int64_t N = 60, n = B * N * D, nc = (int64_t)B * G * D;
    float *x = H(n, 1), *sh = H(nc, 1), *sc = H(nc, 1), *dy = H(n, 1), *y = H(n, 0);
    float *gx = H(n, 1), *gsh = H(nc, 1), *gsc = H(nc, 1);
    float *xd = UP(x, n), *shd = UP(sh, nc), *scd = UP(sc, nc), *dyd = UP(dy, n), *yd = dalloc(n * 4);
    float *dx = UP(gx, n), *dsh = UP(gsh, nc), *dsc = UP(gsc, nc);
    char name[64];
    avk_modulate_fwd_ref(y, x, sh, sc, B, N, G, D);
    be->modulate_fwd(yd, xd, shd, scd, B, N, G, D);
    snprintf(name, sizeof name, "modulate_fwd (G %d)", G);
    report(name, DOWN(yd, n), y, n, TOL);
    avk_modulate_bwd_ref(gx, gsh, gsc, dy, x, sc, B, N, G, D);
    be->modulate_bwd(dx, dsh, dsc, dyd, xd, scd, B, N, G, D);
    snprintf(name, sizeof name, "modulate_bwd dx (G %d)", G);
    report_acc(name, dx, gx, n);
    snprintf(name, sizeof name, "modulate_bwd dshift (G %d)", G);
    report_acc(name, dsh, gsh, nc);
    snprintf(name, sizeof name, "modulate_bwd dscale (G %d)", G);
    report_acc(name, dsc, gsc, nc);

    float *res = H(n, 1), *gate = H(nc, 1), *h = H(n, 0), *gres = H(n, 1), *gy = H(n, 1), *gg = H(nc, 1);
    float *resd = UP(res, n), *gated = UP(gate, nc), *hd = dalloc(n * 4);
    float *dres = UP(gres, n), *dyy = UP(gy, n), *dgg = UP(gg, nc);
    avk_gated_residual_fwd_ref(h, res, x, gate, B, N, G, D);
    be->gated_residual_fwd(hd, resd, xd, gated, B, N, G, D);
    snprintf(name, sizeof name, "gated_residual_fwd (G %d)", G);
    report(name, DOWN(hd, n), h, n, TOL);
    avk_gated_residual_bwd_ref(gres, gy, gg, dy, x, gate, B, N, G, D);
    be->gated_residual_bwd(dres, dyy, dgg, dyd, xd, gated, B, N, G, D);
    snprintf(name, sizeof name, "gated_residual_bwd dres (G %d)", G);
    report_acc(name, dres, gres, n);
    snprintf(name, sizeof name, "gated_residual_bwd dy (G %d)", G);
    report_acc(name, dyy, gy, n);
    snprintf(name, sizeof name, "gated_residual_bwd dgate (G %d)", G);
    report_acc(name, dgg, gg, nc);
    release();
}

static void check_posemb(void)
{
    const int B = 5, dim = 257;
    float t[5] = {0, 1, 17.5f, 400, 999}, *out = H(B * dim, 0);
    float *td = UP(t, B), *od = dalloc(B * dim * 4);
    avk_timestep_embed(out, t, B, dim, 10000.0f);
    be->timestep_embed(od, td, B, dim, 10000.0f);
    report("timestep_embed (odd dim)", DOWN(od, B * dim), out, B * dim, TOL);

    const int T = 3, Hp = 4, Wp = 5, D = 48, dims[3] = {16, 16, 16};
    const int64_t N = T * Hp * Wp, BH = 6, n = BH * N * D;
    int pos[3 * 60];
    float *table = H(N * D, 0), *x = H(n, 1), *y = H(n, 0), *dy = H(n, 1), *g = H(n, 1);
    avk_rope_grid_positions(pos, T, Hp, Wp);
    ok(avk_rope3d_table(table, pos, N, dims, 10000.0f) == 0, "rope table builds");
    float *tabd = UP(table, N * D), *xd = UP(x, n), *yd = dalloc(n * 4), *dyd = UP(dy, n), *gd = UP(g, n);
    avk_rope_fwd_ref(y, x, table, BH, N, D);
    be->rope_fwd(yd, xd, tabd, BH, N, D);
    report("rope_fwd", DOWN(yd, n), y, n, TOL);
    be->rope_fwd(xd, xd, tabd, BH, N, D);
    report("rope_fwd in place", DOWN(xd, n), y, n, TOL);
    avk_rope_bwd_ref(g, dy, table, BH, N, D);
    be->rope_bwd(gd, dyd, tabd, BH, N, D);
    report_acc("rope_bwd", gd, g, n);
    release();
}

static void check_patch(void)
{
    avk_patch p = {2, 3, 4, 6, 8, 2, 2, 2};
    int64_t n = (int64_t)p.B * p.C * p.T * p.H * p.W;
    float *x = H(n, 1), *tok = H(n, 0), *back = H(n, 0), *g = H(n, 1), *gt = H(n, 1);
    float *xd = UP(x, n), *tokd = dalloc(n * 4), *backd = dalloc(n * 4);
    avk_patchify_fwd_ref(tok, x, &p);
    be->patchify_fwd(tokd, xd, &p);
    report("patchify_fwd", DOWN(tokd, n), tok, n, TOL);
    avk_unpatchify_fwd_ref(back, tok, &p);
    be->unpatchify_fwd(backd, tokd, &p);
    report("unpatchify_fwd", DOWN(backd, n), back, n, TOL);
    /* backward of patchify = unpatchify added; of unpatchify = patchify added */
    float *dtok = H(n, 1), *dlat = H(n, 1), *tmp = H(n, 0);
    float *gd = UP(g, n), *gtd = UP(gt, n), *dtokd = UP(dtok, n), *dlatd = UP(dlat, n);
    avk_unpatchify_fwd_ref(tmp, dtok, &p);
    avk_add_inplace(g, tmp, n);
    be->patchify_bwd(gd, dtokd, &p);
    report_acc("patchify_bwd", gd, g, n);
    avk_patchify_fwd_ref(tmp, dlat, &p);
    avk_add_inplace(gt, tmp, n);
    be->unpatchify_bwd(gtd, dlatd, &p);
    report_acc("unpatchify_bwd", gtd, gt, n);
    release();
}

static void check_resample_embed(void)
{
    const int64_t BC = 6;
    const int Hh = 10, W = 12, f = 2;
    int64_t n = BC * Hh * W, nu = n * f * f, np = n / (f * f);
    float *x = H(n, 1), *u = H(nu, 0), *du = H(nu, 1), *gx = H(n, 1), *pl = H(np, 0), *dp = H(np, 1),
          *gx2 = H(n, 1);
    float *xd = UP(x, n), *ud = dalloc(nu * 4), *dud = UP(du, nu), *gxd = UP(gx, n);
    float *pd = dalloc(np * 4), *dpd = UP(dp, np), *gx2d = UP(gx2, n);
    avk_upsample_nearest_fwd_ref(u, x, BC, Hh, W, f);
    be->upsample_nearest_fwd(ud, xd, BC, Hh, W, f);
    report("upsample_nearest_fwd", DOWN(ud, nu), u, nu, TOL);
    avk_upsample_nearest_bwd_ref(gx, du, BC, Hh, W, f);
    be->upsample_nearest_bwd(gxd, dud, BC, Hh, W, f);
    report_acc("upsample_nearest_bwd", gxd, gx, n);
    avk_avgpool_fwd_ref(pl, x, BC, Hh, W, f);
    be->avgpool_fwd(pd, xd, BC, Hh, W, f);
    report("avgpool_fwd", DOWN(pd, np), pl, np, TOL);
    avk_avgpool_bwd_ref(gx2, dp, BC, Hh, W, f);
    be->avgpool_bwd(gx2d, dpd, BC, Hh, W, f);
    report_acc("avgpool_bwd", gx2d, gx2, n);

    /* embedding: repeated ids accumulate; a bad id is refused */
    const int64_t V = 50, cnt = 200;
    const int D = 40;
    int32_t ids[200];
    for (int i = 0; i < cnt; i++)
        ids[i] = (int32_t)((i * 7919) % V);
    float *tab = H(V * D, 1), *out = H(cnt * D, 0), *dout = H(cnt * D, 1), *gt = H(V * D, 1);
    float *tabd = UP(tab, V * D), *outd = dalloc(cnt * D * 4), *doutd = UP(dout, cnt * D);
    float *gtd = UP(gt, V * D);
    int32_t *idsd = dalloc(sizeof ids);
    be->to_device(idsd, ids, sizeof ids);
    ok(avk_embedding_fwd(out, tab, ids, cnt, V, D) == 0 &&
           be->embedding_fwd(outd, tabd, idsd, cnt, V, D) == 0,
       "cuda embedding_fwd accepts ids in range");
    report("embedding_fwd", DOWN(outd, cnt * D), out, cnt * D, TOL);
    avk_embedding_bwd_ref(gt, dout, ids, cnt, D);
    be->embedding_bwd(gtd, doutd, idsd, cnt, D);
    report_acc("embedding_bwd (repeated ids)", gtd, gt, V * D);
    ids[123] = (int32_t)V;
    be->to_device(idsd, ids, sizeof ids);
    ok(be->embedding_fwd(outd, tabd, idsd, cnt, V, D) < 0 && strstr(avk_errmsg(), "position 123"),
       "cuda embedding_fwd refuses an id outside the table: %s", avk_errmsg());
    release();
}

/* ---- splits, losses, sampling, optimizer ------------------------------- */

static void check_losses(void)
{
    const int64_t B = 3, Ca = 4, Cb = 5, S = 70, n = B * (Ca + Cb) * S;
    float *x = H(n, 1), *o = H(n, 0), *g = H(n, 1);
    float *xd = UP(x, n), *od = dalloc(n * 4), *gd = UP(g, n);
    avk_split_channels_fwd_ref(o, o + B * Ca * S, x, B, Ca, Cb, S);
    be->split_channels_fwd(od, od + B * Ca * S, xd, B, Ca, Cb, S);
    report("split_channels_fwd", DOWN(od, n), o, n, TOL);
    avk_split_channels_bwd_ref(g, x, x + B * Ca * S, B, Ca, Cb, S);
    be->split_channels_bwd(gd, xd, xd + B * Ca * S, B, Ca, Cb, S);
    report_acc("split_channels_bwd", gd, g, n);
    release();

    const int64_t m = 50021;
    float *p = H(m, 1), *t = H(m, 1), *gp = H(m, 1), *gp2 = HC(gp, m);
    float *pd = UP(p, m), *td = UP(t, m), *gpd = UP(gp, m);
    double l = avk_mse_loss(gp, p, t, m, 0.5f) + avk_l1_loss(gp, p, t, m, 1.5f);
    double ld = be->mse_loss(gpd, pd, td, m, 0.5f) + be->l1_loss(gpd, pd, td, m, 1.5f);
    ok(fabs(l - ld) <= 1e-9 * fabs(l), "cuda mse + l1 loss %.12g (cpu %.12g)", ld, l);
    report_acc("mse + l1 gradient", gpd, gp, m);
    float *lv = H(m, 2), *glv = H(m, 1), *gm = gp2;
    float *lvd = UP(lv, m), *glvd = UP(glv, m), *gmd = UP(gm, m);
    double kl = avk_kl_gaussian_loss(gm, glv, p, lv, m, 3.0, 0.25f);
    double kld = be->kl_gaussian_loss(gmd, glvd, pd, lvd, m, 3.0, 0.25f);
    ok(fabs(kl - kld) <= 1e-9 * fabs(kl), "cuda kl_gaussian_loss %.12g (cpu %.12g)", kld, kl);
    report_acc("kl_gaussian_loss dmean", gmd, gm, m);
    report_acc("kl_gaussian_loss dlogvar", glvd, glv, m);

    float *eps = H(m, 1), *z = H(m, 0), *dz = H(m, 1), *gmean = H(m, 1), *glog = H(m, 1);
    lv[5] = -40;
    lv[6] = 25;
    be->to_device(lvd, lv, m * 4);
    float *epsd = UP(eps, m), *zd = dalloc(m * 4), *dzd = UP(dz, m);
    float *gmeand = UP(gmean, m), *glogd = UP(glog, m);
    avk_gaussian_sample_fwd(z, p, lv, eps, m);
    be->gaussian_sample_fwd(zd, pd, lvd, epsd, m);
    report("gaussian_sample_fwd", DOWN(zd, m), z, m, TOL);
    avk_gaussian_sample_bwd(gmean, glog, dz, lv, eps, m);
    be->gaussian_sample_bwd(gmeand, glogd, dzd, lvd, epsd, m);
    report_acc("gaussian_sample_bwd dmean", gmeand, gmean, m);
    report_acc("gaussian_sample_bwd dlogvar", glogd, glog, m);
    release();
}

static void check_optim(void)
{
    const int64_t n = 40009;
    avk_adamw o = avk_adamw_defaults();
    o.lr = 3e-3;
    o.weight_decay = 0.1;
    float *p = H(n, 1), *m = H(n, 0), *v = H(n, 0), *g = H(n, 1);
    memset(m, 0, n * 4);
    memset(v, 0, n * 4);
    float *pd = UP(p, n), *md = UP(m, n), *vd = UP(v, n), *gd = UP(g, n);
    for (int step = 1; step <= 5; step++) {
        avk_adamw_step_ref(&o, step, p, g, m, v, n);
        be->adamw_step(&o, step, pd, gd, md, vd, n);
        avk_fill_randn(g, n, &rng, 0, 1);
        be->to_device(gd, g, n * 4);
    }
    report("adamw_step (5 steps) p", DOWN(pd, n), p, n, TOL);
    report("adamw_step (5 steps) m", DOWN(md, n), m, n, TOL);
    report("adamw_step (5 steps) v", DOWN(vd, n), v, n, TOL);

    int64_t ns[3] = {1000, 1, 5000};
    float *h0 = H(ns[0], 3), *h1 = H(ns[1], 3), *h2 = H(ns[2], 3);
    float *d0 = UP(h0, ns[0]), *d1 = UP(h1, ns[1]), *d2 = UP(h2, ns[2]);
    float *hs[3] = {h0, h1, h2}, *ds[3] = {d0, d1, d2};
    double nrm = avk_grad_global_norm(hs, ns, 3), nd = be->grad_global_norm(ds, ns, 3);
    ok(fabs(nrm - nd) <= 1e-9 * nrm, "cuda grad_global_norm %.12g (cpu %.12g)", nd, nrm);
    double c1 = avk_grad_clip(hs, ns, 3, 10.0), c2 = be->grad_clip(ds, ns, 3, 10.0);
    ok(fabs(c1 - c2) <= 1e-9 * c1, "cuda grad_clip returns the norm before clipping");
    report("grad_clip (scaled buffer)", DOWN(d2, ns[2]), h2, ns[2], TOL);
    release();
}

/* The table is complete (the same walk as t506). */
static void check_table(void)
{
    size_t first = offsetof(avk_backend, alloc);
    size_t count = (sizeof(avk_backend) - first) / sizeof(void (*)(void)), missing = 0;
    for (size_t i = 0; i < count; i++) {
        void (*fn)(void);
        memcpy(&fn, (const char *)be + first + i * sizeof fn, sizeof fn);
        missing += !fn;
    }
    ok(missing == 0, "cuda backend: all %zu entries are set", count);
}

int main(void)
{
    be = avk_backend_find("cuda");
    if (!be) {
        printf("1..0 # SKIP %s\n", avk_errmsg());
        return 0;
    }
    char name[256];
    int sms = 0, major = 0, minor = 0;
    avk_cuda_device_info(name, sizeof name, &sms, &major, &minor);
    diag("device: %s, %d SMs, compute capability %d.%d", name, sms, major, minor);
    avk_rng_seed(&rng, 980);
    avk_cuda_set_math("fp32");   /* whatever AVK_CUDA_MATH says: the fp32 checks are fp32 */
    check_table();
    check_tensor();
    check_gemm();
    check_linear();
    check_bf16();
    avk_conv2d c1 = avk_conv2d_make(2, 5, 11, 9, 7, 3, 1, 1);
    check_conv(&c1, "(3x3 s1 p1)");
    avk_conv2d c2 = avk_conv2d_make(2, 4, 12, 10, 6, 3, 2, 0);
    c2.pad_bottom = c2.pad_right = 1;       /* diffusers' Downsample2D */
    check_conv(&c2, "(3x3 s2, pad right/bottom)");
    avk_conv2d c3 = avk_conv2d_make(1, 16, 8, 8, 12, 1, 1, 0);
    check_conv(&c3, "(1x1)");
    check_norms();
    check_act_softmax();
    check_attention();
    check_modulate(1);
    check_modulate(3);
    check_posemb();
    check_patch();
    check_resample_embed();
    check_losses();
    check_optim();
    diag("largest fp32 error over every operator: %.2e (target %.0e)", worst, TOL);
    return done_testing();
}
#endif
