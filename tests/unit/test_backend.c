/* The backend table (ops.h, "Backends"): the CPU table is complete, the
 * lookup names what is and is not built, and an operator run through a
 * table, on that backend's memory, gives what the direct call and the
 * plain reference give on the same host input. The operators the VAE
 * gained with the table (clamp, channel split) are checked against
 * PyTorch (tests/golden/backend/, from tests/golden-backend.py).
 *
 * check_backend() is written for any backend: it uploads host inputs with
 * to_device, runs the entry, downloads with to_host and compares with the
 * CPU reference, so the CUDA backend gets the same checks in the same run
 * once it is built. */
#include <stddef.h>
#include <string.h>
#include "tap.h"
#include "randn.h"
#include "golden_st.h"
#include "avkit/nn/ops.h"
#include "avkit/util/common.h"

#define TOL 1e-5

/* A backend buffer holding a copy of host data. */
static float *upload(const avk_backend *be, const float *h, int64_t n)
{
    float *d = be->alloc((size_t)n * sizeof(float));
    if (!d)
        avk_die_lib();
    be->to_device(d, h, (size_t)n * sizeof(float));
    return d;
}

/* A zeroed backend buffer (gradients accumulate). */
static float *dzeros(const avk_backend *be, int64_t n)
{
    float *d = be->alloc((size_t)n * sizeof(float));
    if (!d)
        avk_die_lib();
    be->zero(d, (size_t)n * sizeof(float));
    return d;
}

/* Backend memory back into a new host buffer (the backend buffer is freed). */
static float *download(const avk_backend *be, float *d, int64_t n)
{
    float *h = avk_falloc(n);
    be->to_host(h, d, (size_t)n * sizeof(float));
    be->free(d);
    return h;
}

/* Every member after `name` is a function pointer, and none is NULL. */
static void check_complete(const avk_backend *be)
{
    size_t first = offsetof(avk_backend, alloc);
    size_t count = (sizeof(avk_backend) - first) / sizeof(void (*)(void));
    size_t missing = 0;
    for (size_t i = 0; i < count; i++) {
        void (*fn)(void);
        memcpy(&fn, (const char *)be + first + i * sizeof fn, sizeof fn);
        if (!fn) {
            diag("%s backend: entry %zu is NULL", be->name, i);
            missing++;
        }
    }
    ok(count > 60 && missing == 0, "%s backend: all %zu entries are set (%zu missing)", be->name,
       count, missing);
}

/* The memory functions: alignment, round trips, zero, fill, copy. */
static void check_memory(const avk_backend *be)
{
    enum { N = 1000 };
    float *h = randn(N, 1.0f), *back = avk_falloc(N);
    float *d = be->alloc(N * sizeof(float)), *d2 = be->alloc(N * sizeof(float));
    ok(d && d2 && ((uintptr_t)d & 63) == 0, "%s: alloc gives 64-byte aligned memory", be->name);
    be->to_device(d, h, N * sizeof(float));
    be->copy(d2, d, N * sizeof(float));
    be->to_host(back, d2, N * sizeof(float));
    ok(!memcmp(back, h, N * sizeof(float)), "%s: to_device, copy, to_host give the bytes back",
       be->name);
    be->fill(d, N, 2.5f);
    be->zero(d, 10 * sizeof(float));
    be->sync();
    be->to_host(back, d, N * sizeof(float));
    int good = 1;
    for (int i = 0; i < N; i++)
        good &= back[i] == (i < 10 ? 0.0f : 2.5f);
    ok(good, "%s: fill then zero of a prefix", be->name);
    be->free(d);
    be->free(d2);
    be->free(NULL);
    avk_ffree(h);
    avk_ffree(back);
}

/* On the CPU backend, also the exact bits of the direct call. */
static void report(const avk_backend *be, const char *what, const float *got, const float *ref,
                   const float *direct, int64_t n)
{
    double e = rel_err(got, ref, n);
    ok(e < TOL, "%s: %s through the table matches the reference: rel err %.2e", be->name, what, e);
    if (direct)
        ok(!memcmp(got, direct, (size_t)n * sizeof(float)),
           "%s: %s through the table equals the direct call bit for bit", be->name, what);
}

/* Linear forward and backward. */
static void check_linear(const avk_backend *be, int cpu)
{
    const int64_t M = 37, K = 29, N = 23;
    float *x = randn(M * K, 1), *w = randn(N * K, 0.2f), *b = randn(N, 1);
    float *dy = randn(M * N, 1);
    float *y_ref = avk_falloc(M * N), *y_dir = avk_falloc(M * N);
    avk_linear_fwd_ref(y_ref, x, w, b, M, K, N);
    avk_linear_fwd(y_dir, x, w, b, M, K, N);
    float *dx_, *dw_, *db_, *dyd = upload(be, dy, M * N);
    float *xd = upload(be, x, M * K), *wd = upload(be, w, N * K), *bd = upload(be, b, N);
    float *yd = be->alloc((size_t)(M * N) * sizeof(float));
    be->linear_fwd(yd, xd, wd, bd, M, K, N);
    float *y = download(be, yd, M * N);
    report(be, "linear_fwd", y, y_ref, cpu ? y_dir : NULL, M * N);

    float *rdx = avk_fzeros(M * K), *rdw = avk_fzeros(N * K), *rdb = avk_fzeros(N);
    float *ddx = avk_fzeros(M * K), *ddw = avk_fzeros(N * K), *ddb = avk_fzeros(N);
    avk_linear_bwd_ref(rdx, rdw, rdb, dy, x, w, M, K, N);
    avk_linear_bwd(ddx, ddw, ddb, dy, x, w, M, K, N);
    dx_ = dzeros(be, M * K);
    dw_ = dzeros(be, N * K);
    db_ = dzeros(be, N);
    be->linear_bwd(dx_, dw_, db_, dyd, xd, wd, M, K, N);
    float *gx = download(be, dx_, M * K), *gw = download(be, dw_, N * K), *gb = download(be, db_, N);
    report(be, "linear_bwd dx", gx, rdx, cpu ? ddx : NULL, M * K);
    report(be, "linear_bwd dw", gw, rdw, cpu ? ddw : NULL, N * K);
    report(be, "linear_bwd db", gb, rdb, cpu ? ddb : NULL, N);
    float *hp[] = {x, w, b, dy, y_ref, y_dir, y, rdx, rdw, rdb, ddx, ddw, ddb, gx, gw, gb};
    for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++)
        avk_ffree(hp[i]);
    be->free(xd);
    be->free(wd);
    be->free(bd);
    be->free(dyd);
}

/* A 3x3 convolution and group norm + SiLU, the VAE's resnet pieces. */
static void check_conv_norm(const avk_backend *be, int cpu)
{
    avk_conv2d c = avk_conv2d_make(2, 4, 9, 7, 6, 3, 1, 1);
    int64_t nx = 2 * 4 * 9 * 7, nw = 6 * 4 * 9, ny = 2 * 6 * 9 * 7;
    float *x = randn(nx, 1), *w = randn(nw, 0.3f), *b = randn(6, 1);
    float *y_ref = avk_falloc(ny), *y_dir = avk_falloc(ny);
    avk_conv2d_fwd_ref(y_ref, x, w, b, &c);
    avk_conv2d_fwd(y_dir, x, w, b, &c);
    float *xd = upload(be, x, nx), *wd = upload(be, w, nw), *bd = upload(be, b, 6);
    float *yd = be->alloc((size_t)ny * sizeof(float));
    be->conv2d_fwd(yd, xd, wd, bd, &c);
    float *y = download(be, yd, ny);
    report(be, "conv2d_fwd", y, y_ref, cpu ? y_dir : NULL, ny);

    /* group norm (2 groups) then SiLU on the conv output */
    float *g = randn(6, 1), *be_ = randn(6, 1);
    float *n_ref = avk_falloc(ny), *n_dir = avk_falloc(ny), m[4], r[4];
    avk_groupnorm_fwd_ref(n_ref, m, r, y_ref, g, be_, 2, 6, 63, 2, 1e-6f);
    avk_silu_fwd_ref(n_ref, n_ref, ny);
    avk_groupnorm_fwd(n_dir, m, r, y_ref, g, be_, 2, 6, 63, 2, 1e-6f);
    avk_silu_fwd(n_dir, n_dir, ny);
    float *in = upload(be, y_ref, ny), *gd = upload(be, g, 6), *bbd = upload(be, be_, 6);
    float *md = be->alloc(4 * sizeof(float)), *rd = be->alloc(4 * sizeof(float));
    float *nd = be->alloc((size_t)ny * sizeof(float));
    be->groupnorm_fwd(nd, md, rd, in, gd, bbd, 2, 6, 63, 2, 1e-6f);
    be->silu_fwd(nd, nd, ny);
    float *n = download(be, nd, ny);
    report(be, "groupnorm_fwd + silu_fwd", n, n_ref, cpu ? n_dir : NULL, ny);
    float *hp[] = {x, w, b, y_ref, y_dir, y, g, be_, n_ref, n_dir, n};
    for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++)
        avk_ffree(hp[i]);
    float *dp[] = {xd, wd, bd, in, gd, bbd, md, rd};
    for (size_t i = 0; i < sizeof dp / sizeof dp[0]; i++)
        be->free(dp[i]);
}

/* Attention over the VAE's mid-block shape (one head, N = H*W). */
static void check_attention(const avk_backend *be, int cpu)
{
    avk_attn a = avk_attn_make(2, 1, 48, 48, 16);
    int64_t n = 2 * 48 * 16;
    float *q = randn(n, 1), *k = randn(n, 1), *v = randn(n, 1);
    float *o_ref = avk_falloc(n), *o_dir = avk_falloc(n), lse_r[96], lse_d[96];
    avk_attention_fwd_ref(o_ref, lse_r, q, k, v, &a);
    avk_attention_fwd(o_dir, lse_d, q, k, v, &a);
    float *qd = upload(be, q, n), *kd = upload(be, k, n), *vd = upload(be, v, n);
    float *od = be->alloc((size_t)n * sizeof(float)), *ld = be->alloc(96 * sizeof(float));
    be->attention_fwd(od, ld, qd, kd, vd, &a);
    float *o = download(be, od, n), *l = download(be, ld, 96);
    report(be, "attention_fwd", o, o_ref, cpu ? o_dir : NULL, n);
    report(be, "attention_fwd lse", l, lse_r, cpu ? lse_d : NULL, 96);
    float *hp[] = {q, k, v, o_ref, o_dir, o, l};
    for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++)
        avk_ffree(hp[i]);
    be->free(qd);
    be->free(kd);
    be->free(vd);
}

/* The losses return their value to the host; gradients stay on the backend. */
static void check_losses(const avk_backend *be, int cpu)
{
    const int64_t n = 777;
    float *p = randn(n, 1), *t = randn(n, 1);
    float *g_dir = avk_fzeros(n);
    double l_dir = avk_mse_loss(g_dir, p, t, n, 0.5f) + avk_l1_loss(g_dir, p, t, n, 1.0f);
    float *pd = upload(be, p, n), *td = upload(be, t, n), *gd = dzeros(be, n);
    double l = be->mse_loss(gd, pd, td, n, 0.5f) + be->l1_loss(gd, pd, td, n, 1.0f);
    float *g = download(be, gd, n);
    ok(fabs(l - l_dir) <= 1e-6 * fabs(l_dir), "%s: mse + l1 through the table: %.9g (direct %.9g)",
       be->name, l, l_dir);
    report(be, "mse + l1 gradient", g, g_dir, cpu ? g_dir : NULL, n);
    avk_ffree(p);
    avk_ffree(t);
    avk_ffree(g_dir);
    avk_ffree(g);
    be->free(pd);
    be->free(td);
}

/* The VAE's moments path: split [B, 2L, S] and clamp the log-variance,
 * backward through both, through the table against the references. */
static void check_moments(const avk_backend *be, int cpu)
{
    const int64_t B = 3, L = 4, S = 50, nl = B * L * S;
    float *mom = randn(2 * nl, 20), *dmean = randn(nl, 1), *dlv = randn(nl, 1);
    float *mean_r = avk_falloc(nl), *lv_r = avk_falloc(nl), *clamped_r = avk_falloc(nl);
    avk_split_channels_fwd_ref(mean_r, lv_r, mom, B, L, L, S);
    avk_clamp_fwd_ref(clamped_r, lv_r, nl, -30, 20);
    float *dlv_r = avk_fzeros(nl), *dmom_r = avk_fzeros(2 * nl);
    avk_clamp_bwd_ref(dlv_r, dlv, lv_r, nl, -30, 20);
    avk_split_channels_bwd_ref(dmom_r, dmean, dlv_r, B, L, L, S);

    float *momd = upload(be, mom, 2 * nl), *dmeand = upload(be, dmean, nl), *dlvd = upload(be, dlv, nl);
    float *meand = be->alloc((size_t)nl * 4), *lvd = be->alloc((size_t)nl * 4);
    float *cd = be->alloc((size_t)nl * 4), *dlvcd = dzeros(be, nl), *dmomd = dzeros(be, 2 * nl);
    be->split_channels_fwd(meand, lvd, momd, B, L, L, S);
    be->clamp_fwd(cd, lvd, nl, -30, 20);
    be->clamp_bwd(dlvcd, dlvd, lvd, nl, -30, 20);
    be->split_channels_bwd(dmomd, dmeand, dlvcd, B, L, L, S);
    float *mean = download(be, meand, nl), *c = download(be, cd, nl);
    float *dm = download(be, dmomd, 2 * nl);
    /* copies and selections: any backend must give the reference's bits */
    ok(!memcmp(mean, mean_r, (size_t)nl * 4) && !memcmp(c, clamped_r, (size_t)nl * 4),
       "%s: split + clamp through the table give the reference's bits", be->name);
    ok(!memcmp(dm, dmom_r, (size_t)nl * 8),
       "%s: their backward through the table gives the reference's bits", be->name);
    (void)cpu;
    float *hp[] = {mom, dmean, dlv, mean_r, lv_r, clamped_r, dlv_r, dmom_r, mean, c, dm};
    for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++)
        avk_ffree(hp[i]);
    float *dp[] = {momd, dmeand, dlvd, lvd, dlvcd};
    for (size_t i = 0; i < sizeof dp / sizeof dp[0]; i++)
        be->free(dp[i]);
}

static void check_backend(const avk_backend *be)
{
    int cpu = be == avk_backend_cpu();
    check_complete(be);
    check_memory(be);
    check_linear(be, cpu);
    check_conv_norm(be, cpu);
    check_attention(be, cpu);
    check_losses(be, cpu);
    check_moments(be, cpu);
}

/* ---- the new operators against PyTorch ------------------------------- */

static gst_file *golden(const char *name)
{
    char path[4096];
    const char *src = getenv("SRC_DIR");
    snprintf(path, sizeof path, "%s/tests/golden/backend/%s.safetensors", src ? src : ".", name);
    gst_file *g = gst_load(path);
    ok(g != NULL, "golden file %s loads", name);
    return g;
}

static void check_clamp_golden(void)
{
    gst_file *g = golden("clamp");
    if (!g)
        return;
    const int64_t n = 120;
    const float *x = gst_get(g, "x")->data, *dy = gst_get(g, "dy")->data;
    for (int ref = 0; ref < 2; ref++) {
        float y[120], dx[120] = {0};
        (ref ? avk_clamp_fwd_ref : avk_clamp_fwd)(y, x, n, -30, 20);
        (ref ? avk_clamp_bwd_ref : avk_clamp_bwd)(dx, dy, x, n, -30, 20);
        double e = rel_err(y, gst_get(g, "out")->data, n);
        double ed = rel_err(dx, gst_get(g, "d_x")->data, n);
        ok(e == 0 && ed == 0, "clamp (%s) forward and backward equal PyTorch: %.2e, %.2e",
           ref ? "reference" : "fast", e, ed);
    }
    /* on the bounds the gradient passes (ops.h) */
    float xb[2] = {-30, 20}, ones[2] = {1, 1};
    for (int ref = 0; ref < 2; ref++) {
        float db[2] = {0, 0};
        (ref ? avk_clamp_bwd_ref : avk_clamp_bwd)(db, ones, xb, 2, -30, 20);
        ok(db[0] == 1 && db[1] == 1, "clamp (%s) passes the gradient on both bounds",
           ref ? "reference" : "fast");
    }
    /* outside the range the gradient buffer keeps its bits, -0 included */
    float mz = -0.0f, dxz[2] = {mz, mz}, big[2] = {50, -50}, one[2] = {1, 1};
    avk_clamp_bwd(dxz, one, big, 2, -30, 20);
    ok(signbit(dxz[0]) && signbit(dxz[1]), "clamp backward adds nothing outside the range");
    gst_free(g);
}

static void check_split_golden(void)
{
    gst_file *g = golden("split");
    if (!g)
        return;
    const int64_t B = 2, Ca = 2, Cb = 4, S = 5, n = B * (Ca + Cb) * S;
    const float *x = gst_get(g, "x")->data, *dy = gst_get(g, "dy")->data;
    for (int ref = 0; ref < 2; ref++) {
        float out[60], dx[60] = {0};
        (ref ? avk_split_channels_fwd_ref : avk_split_channels_fwd)(out, out + B * Ca * S, x, B,
                                                                   Ca, Cb, S);
        (ref ? avk_split_channels_bwd_ref : avk_split_channels_bwd)(dx, dy, dy + B * Ca * S, B,
                                                                   Ca, Cb, S);
        double e = rel_err(out, gst_get(g, "out")->data, n);
        double ed = rel_err(dx, gst_get(g, "d_x")->data, n);
        ok(e == 0 && ed == 0, "split_channels (%s) forward and backward equal PyTorch: %.2e, %.2e",
           ref ? "reference" : "fast", e, ed);
    }
    float a[30], dx2[60] = {0};
    avk_split_channels_fwd(a, NULL, x, B, Ca, Cb, S);
    avk_split_channels_bwd(dx2, NULL, dy + B * Ca * S, B, Ca, Cb, S);
    ok(!memcmp(a, gst_get(g, "out")->data, sizeof(float) * 20) && dx2[0] == 0 &&
           dx2[Ca * S] == dy[B * Ca * S],
       "split_channels skips a NULL output and a NULL gradient");
    gst_free(g);
}

/* Fast and reference agree on a large, threaded size too. */
static void check_large(void)
{
    const int64_t B = 4, Ca = 16, Cb = 16, S = 4096, n = B * (Ca + Cb) * S;
    float *x = randn(n, 25), *y1 = avk_falloc(n), *y2 = avk_falloc(n);
    avk_clamp_fwd(y1, x, n, -30, 20);
    avk_clamp_fwd_ref(y2, x, n, -30, 20);
    int same = !memcmp(y1, y2, (size_t)n * 4);
    avk_split_channels_fwd(y1, y1 + B * Ca * S, x, B, Ca, Cb, S);
    avk_split_channels_fwd_ref(y2, y2 + B * Ca * S, x, B, Ca, Cb, S);
    same &= !memcmp(y1, y2, (size_t)n * 4);
    ok(same, "clamp and split: fast equals reference on %lld elements (threaded)", (long long)n);
    avk_ffree(x);
    avk_ffree(y1);
    avk_ffree(y2);
}

int main(void)
{
    avk_rng_seed(&rng, 506);
    const avk_backend *cpu = avk_backend_cpu();
    ok(cpu && !strcmp(cpu->name, "cpu") && avk_backend_find("cpu") == cpu,
       "the CPU backend is built in and found by name");
    ok(cpu->linear_fwd == avk_linear_fwd && cpu->conv2d_bwd == avk_conv2d_bwd &&
           cpu->add_inplace == avk_add_inplace,
       "the CPU table's entries are the unsuffixed functions of ops.h");

    const avk_backend *cuda = avk_backend_find("cuda");
    char why[512];
    snprintf(why, sizeof why, "%s", cuda ? "" : avk_errmsg());
#ifdef AVK_HAVE_CUDA
    if (cuda)
        ok(!strcmp(cuda->name, "cuda"), "the CUDA backend is built in and found by name");
    else
        ok(strstr(why, "no CUDA device") != NULL,
           "the CUDA backend is built in, and asking for it without a device says so: %s", why);
#else
    ok(!cuda && strstr(avk_errmsg(), "cuda") && strstr(avk_errmsg(), "CUDA=1"),
       "asking for cuda without it built says so: %s", avk_errmsg());
#endif
    ok(!avk_backend_find("tpu") && strstr(avk_errmsg(), "unknown backend \"tpu\""),
       "an unknown name is refused: %s", avk_errmsg());
    ok(!avk_backend_find("") && !avk_backend_find(NULL), "an empty name is refused");

    check_backend(cpu);
    if (cuda)
        check_backend(cuda);
    else
        diag("no CUDA backend here (%s): its checks run where it is built and a device answers",
             why);

    check_clamp_golden();
    check_split_golden();
    check_large();
    return done_testing();
}
