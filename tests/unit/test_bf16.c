/* The bf16 operators (include/avkit/nn/ops_bf16.h) against their
 * references (the fp32 references on bf16-rounded inputs), at the shapes
 * of the DiT: GEMMs of 1088 tokens x 256/1024 features in every transpose,
 * the linear layer forward and backward, attention with head dim 64 at
 * 512-2048 tokens with key masks, in both threaded backward schedules.
 * Every kernel that runs on this CPU is checked: oneDNN's bf16 matmul
 * where the CPU has bf16 instructions (AMX or AVX512-BF16), the emulated
 * bf16 path (same primitive cache, f32 primitives) everywhere, and the
 * fp32 fallback.
 *
 * Tolerances (error = max|a - b| / max|b|):
 *   GEMM and linear vs reference: 1e-5 (same rounded operands, f32 vs
 *     double accumulation);
 *   attention vs reference: 1e-2 (the kernel also rounds P and dS to
 *     bf16, the reference does not; measured ~1e-3);
 *   bf16 vs plain fp32: 2e-2 (what bf16 costs; measured 2e-3 to 5e-3).
 * With an argument, `test_bf16 fallback-message` runs bf16 operators a few
 * times with the kernel chosen as a tool would (AVK_BF16 or the CPU) and
 * prints the kernel's name (t591 counts the messages on stderr). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <oneapi/dnnl/dnnl.h>
#include "tap.h"
#include "randn.h"
#include "avkit/nn/ops_bf16.h"
#include "avkit/util/common.h"

static float *copy(const float *x, int64_t n)
{
    float *p = avk_falloc(n);
    memcpy(p, x, sizeof(float) * (size_t)n);
    return p;
}

static const char *kname(avk_bf16_kernel k)
{
    return k == AVK_BF16_ONEDNN ? "onednn" : k == AVK_BF16_EMULATE ? "emulate" : "fp32";
}

/* ---- rounding -------------------------------------------------------- */

static void rounding(void)
{
    float x[8] = {1.0f, 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -2.5f, INFINITY, NAN, 3.0e38f, 1e-40f};
    float want[8] = {1.0f, 1.0f, 1.0f + 0x1p-6f, -2.5f, INFINITY, NAN, INFINITY, 0};
    float y[8];
    avk_round_bf16(y, x, 8);
    uint32_t u;
    memcpy(&u, &x[7], 4);
    u &= 0xffff0000u;       /* a subnormal keeps its upper bits (no flush) */
    memcpy(&want[7], &u, 4);
    /* 3.0e38 = 0x7f61b1e6 rounds to 0x7f62 (finite) */
    uint32_t big = 0x7f620000u;
    memcpy(&want[6], &big, 4);
    int good = 1;
    for (int i = 0; i < 8; i++)
        good &= isnan(want[i]) ? isnan(y[i]) != 0 : y[i] == want[i];
    ok(good, "round to bf16: nearest even at ties, inf and NaN kept, subnormals kept");
    int64_t n = 100000;
    float *r = randn(n, 3.0f), *q = avk_falloc(n);
    avk_round_bf16(q, r, n);
    double worst = 0;
    int low = 1;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)q[i] - r[i]) / fabs((double)r[i]);
        worst = e > worst ? e : worst;
        memcpy(&u, &q[i], 4);
        low &= (u & 0xffffu) == 0;
    }
    ok(worst <= 0x1p-8 && low, "rounding error at most 2^-8 relative (%.3g), low 16 bits zero", worst);
    avk_ffree(r);
    avk_ffree(q);
}

/* ---- kernel choice --------------------------------------------------- */

static int cpu_bf16(void)
{
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    return (isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) == (unsigned)dnnl_cpu_isa_avx512_core_bf16;
}

/* The automatic choice follows the CPU; asking for oneDNN bf16 where it
 * does not exist is refused with a message and changes nothing. */
static int choice(void)
{
    avk_bf16_kernel k = avk_bf16_get_kernel();
    const char *name = avk_bf16_kernel_name();
    diag("kernel: %s", name);
    if (cpu_bf16())
        ok(k == AVK_BF16_ONEDNN && strstr(name, "onednn bf16 matmul"),
           "CPU with bf16 instructions: oneDNN bf16 matmul chosen (%s)", name);
    else
        ok(k == AVK_BF16_FP32 && strstr(name, "fp32 fallback") && strstr(name, "no bf16"),
           "CPU without bf16 instructions: fp32 fallback chosen and named (%s)", name);
    int rc = avk_bf16_set_kernel(AVK_BF16_ONEDNN);
    if (cpu_bf16())
        ok(rc == 0 && avk_bf16_get_kernel() == AVK_BF16_ONEDNN, "oneDNN bf16 kernel can be chosen");
    else if (rc == 0)   /* AVX-512 without bf16: oneDNN still makes the primitive,
                         * converting in its kernel (AVX2: it has none) */
        ok(avk_bf16_get_kernel() == AVK_BF16_ONEDNN &&
           strstr(avk_bf16_kernel_name(), "onednn bf16 matmul"),
           "asked for, oneDNN's bf16 matmul runs on this CPU without bf16 instructions (%s)",
           avk_bf16_kernel_name());
    else
        ok(rc == -1 && strstr(avk_errmsg(), "no bf16 matmul") && avk_bf16_get_kernel() == k,
           "oneDNN bf16 kernel refused on this CPU (%s), choice unchanged", avk_errmsg());
    ok(avk_bf16_set_kernel(AVK_BF16_EMULATE) == 0 && avk_bf16_get_kernel() == AVK_BF16_EMULATE &&
       strstr(avk_bf16_kernel_name(), "emulated bf16"), "emulated kernel: %s", avk_bf16_kernel_name());
    return rc == 0;
}

/* ---- GEMM ------------------------------------------------------------ */

/* C = alpha op(A) op(B) + beta C with leading dimensions wider than the
 * matrices, every transpose pair, against the bf16 reference; in the fp32
 * fallback against the fp32 reference. Also bf16 vs fp32. */
static void gemm_check(avk_bf16_kernel k, int64_t M, int64_t N, int64_t K)
{
    double worst = 0, vs32 = 0;
    int big = M * N * K > 1000000;      /* one transpose pair at big shapes: the
                                           double reference is slow */
    for (int t = 0; t < (big ? 1 : 4); t++) {
        char ta = t & 1 ? 'T' : 'N', tb = t & 2 || big ? 'T' : 'N';
        int64_t ar = ta == 'T' ? K : M, ac = ta == 'T' ? M : K, lda = ac + 3;
        int64_t br = tb == 'T' ? N : K, bc = tb == 'T' ? K : N, ldb = bc + 5, ldc = N + 2;
        float *A = randn(ar * lda, 1.0f), *B = randn(br * ldb, 1.0f), *C = randn(M * ldc, 1.0f);
        float *Cr = copy(C, M * ldc), *C32 = copy(C, M * ldc);
        avk_gemm_bf16(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 0.75f, C, ldc);
        if (k == AVK_BF16_FP32)
            avk_gemm_ref(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 0.75f, Cr, ldc);
        else
            avk_gemm_bf16_ref(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 0.75f, Cr, ldc);
        if (k == AVK_BF16_FP32)
            memcpy(C32, Cr, sizeof(float) * (size_t)(M * ldc));
        else
            avk_gemm_ref(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 0.75f, C32, ldc);
        double e = rel_err(C, Cr, M * ldc), e32 = rel_err(C, C32, M * ldc);
        worst = e > worst ? e : worst;
        vs32 = e32 > vs32 ? e32 : vs32;
        avk_ffree(A); avk_ffree(B); avk_ffree(C); avk_ffree(Cr); avk_ffree(C32);
    }
    ok(worst < 1e-5 && vs32 < 2e-2,
       "%s gemm M=%lld N=%lld K=%lld, %s, alpha/beta, wide ld: vs reference %.2e, vs fp32 %.2e",
       kname(k), (long long)M, (long long)N, (long long)K, big ? "A x B^T" : "4 transposes", worst, vs32);
}

/* More shapes than the primitive cache holds (256) and than a thread keeps
 * memory objects for (32): the one-off primitives and the recycled
 * per-thread slots give the same results as the cached ones. */
static void many_shapes(avk_bf16_kernel k)
{
    double worst = 0;
    float A[300 * 7], B[7 * 5], C[300 * 5], Cr[300 * 5];
    avk_fill_randn(A, 300 * 7, &rng, 0, 1);
    avk_fill_randn(B, 7 * 5, &rng, 0, 1);
    for (int round = 0; round < 2; round++)
        for (int M = 1; M <= 300; M++) {
            avk_gemm_bf16('N', 'N', M, 5, 7, 1.0f, A, 7, B, 5, 0.0f, C, 5);
            (k == AVK_BF16_FP32 ? avk_gemm_ref : avk_gemm_bf16_ref)('N', 'N', M, 5, 7, 1.0f, A, 7, B, 5,
                                                                    0.0f, Cr, 5);
            double e = rel_err(C, Cr, M * 5);
            worst = e > worst ? e : worst;
        }
    ok(worst < 1e-5, "%s gemm over 300 shapes, twice (full primitive cache, recycled thread slots): %.2e",
       kname(k), worst);
}

/* ---- linear ---------------------------------------------------------- */

static void linear_check(avk_bf16_kernel k, int64_t M, int64_t K, int64_t N)
{
    float *x = randn(M * K, 1.0f), *w = randn(N * K, 0.05f), *b = randn(N, 0.1f), *dy = randn(M * N, 1.0f);
    float *y = avk_falloc(M * N), *yr = avk_falloc(M * N);
    float *g[6];
    for (int i = 0; i < 6; i++)
        g[i] = randn(i % 3 == 0 ? M * K : i % 3 == 1 ? N * K : N, 0.1f);   /* accumulate onto */
    for (int i = 0; i < 3; i++)
        memcpy(g[i + 3], g[i], sizeof(float) * (size_t)(i == 0 ? M * K : i == 1 ? N * K : N));
    int f32 = k == AVK_BF16_FP32;
    avk_linear_bf16_fwd(y, x, w, b, M, K, N);
    (f32 ? avk_linear_fwd_ref : avk_linear_bf16_fwd_ref)(yr, x, w, b, M, K, N);
    avk_linear_bf16_bwd(g[0], g[1], g[2], dy, x, w, M, K, N);
    (f32 ? avk_linear_bwd_ref : avk_linear_bf16_bwd_ref)(g[3], g[4], g[5], dy, x, w, M, K, N);
    double ef = rel_err(y, yr, M * N), eb = 0;
    for (int i = 0; i < 3; i++) {
        double e = rel_err(g[i], g[i + 3], i == 0 ? M * K : i == 1 ? N * K : N);
        eb = e > eb ? e : eb;
    }
    avk_linear_fwd_ref(yr, x, w, b, M, K, N);
    double e32 = rel_err(y, yr, M * N);
    ok(ef < 1e-5 && eb < 1e-5 && e32 < 2e-2,
       "%s linear M=%lld K=%lld N=%lld: fwd %.2e, bwd (dx, dw, db accumulated) %.2e vs reference; fwd vs fp32 %.2e",
       kname(k), (long long)M, (long long)K, (long long)N, ef, eb, e32);
    avk_ffree(x); avk_ffree(w); avk_ffree(b); avk_ffree(dy); avk_ffree(y); avk_ffree(yr);
    for (int i = 0; i < 6; i++)
        avk_ffree(g[i]);
}

/* ---- attention ------------------------------------------------------- */

/* Full forward and backward (gradients accumulated onto nonzero buffers)
 * against the bf16 reference, and the forward against plain fp32. */
static void attn_check(avk_bf16_kernel k, int B, int H, int Nq, int Nk, int D, const int *kv_len,
                       const char *what)
{
    int64_t nq = (int64_t)B * H * Nq * D, nk = (int64_t)B * H * Nk * D, nl = (int64_t)B * H * Nq;
    float *q = randn(nq, 1.0f), *kk = randn(nk, 1.0f), *v = randn(nk, 1.0f), *dout = randn(nq, 1.0f);
    float *o = avk_falloc(nq), *ro = avk_falloc(nq), *o32 = avk_falloc(nq);
    float *lse = avk_falloc(nl), *rlse = avk_falloc(nl), *lse32 = avk_falloc(nl);
    float *g[6];
    for (int i = 0; i < 3; i++) {
        g[i] = randn(i == 0 ? nq : nk, 0.1f);
        g[i + 3] = copy(g[i], i == 0 ? nq : nk);
    }
    avk_attn a = avk_attn_make(B, H, Nq, Nk, D);
    a.kv_len = kv_len;
    int f32 = k == AVK_BF16_FP32;
    avk_attention_bf16_fwd(o, lse, q, kk, v, &a);
    (f32 ? avk_attention_fwd_ref : avk_attention_bf16_fwd_ref)(ro, rlse, q, kk, v, &a);
    avk_attention_fwd_ref(o32, lse32, q, kk, v, &a);
    avk_attention_bf16_bwd(g[0], g[1], g[2], dout, q, kk, v, o, lse, &a);
    (f32 ? avk_attention_bwd_ref : avk_attention_bf16_bwd_ref)(g[3], g[4], g[5], dout, q, kk, v, ro, rlse, &a);
    double eo = rel_err(o, ro, nq), el = rel_err(lse, rlse, nl), eg = rel_err_qkv(g, nq, nk);
    double e32 = rel_err(o, o32, nq);
    double tol = f32 ? 1e-5 : 1e-2;
    ok(eo < tol && el < tol && eg < tol && e32 < 2e-2,
       "%s attention %s: vs reference fwd %.2e, lse %.2e, bwd %.2e; fwd vs fp32 %.2e",
       kname(k), what, eo, el, eg, e32);
    avk_ffree(q); avk_ffree(kk); avk_ffree(v); avk_ffree(dout);
    avk_ffree(o); avk_ffree(ro); avk_ffree(o32); avk_ffree(lse); avk_ffree(rlse); avk_ffree(lse32);
    for (int i = 0; i < 6; i++)
        avk_ffree(g[i]);
}

/* 2048 tokens: sampled rows of o and dq against the per-row reference. */
static void attn_long(avk_bf16_kernel k)
{
    const int H = 2, N = 2048, D = 64;
    int64_t n = (int64_t)H * N * D;
    float *q = randn(n, 1.0f), *kk = randn(n, 1.0f), *v = randn(n, 1.0f), *dout = randn(n, 1.0f);
    float *o = avk_falloc(n), *lse = avk_falloc((int64_t)H * N);
    float *dq = avk_fzeros(n), *dk = avk_fzeros(n), *dv = avk_fzeros(n);
    avk_attn a = avk_attn_make(1, H, N, N, D);
    avk_attention_bf16_fwd(o, lse, q, kk, v, &a);
    avk_attention_bf16_bwd(dq, dk, dv, dout, q, kk, v, o, lse, &a);
    const int rows[] = {0, 127, 128, 1000, 2047};
    double eo = 0, eq = 0;
    int f32 = k == AVK_BF16_FP32;
    for (int h = 0; h < H; h++)
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
            int64_t off = ((int64_t)h * N + rows[r]) * D;
            avk_attn one = avk_attn_make(1, 1, 1, N, D);
            float ro[64], rl, rdq[64] = {0};
            const float *kh = kk + (int64_t)h * N * D, *vh = v + (int64_t)h * N * D;
            (f32 ? avk_attention_fwd_ref : avk_attention_bf16_fwd_ref)(ro, &rl, q + off, kh, vh, &one);
            (f32 ? avk_attention_bwd_ref : avk_attention_bf16_bwd_ref)(rdq, NULL, NULL, dout + off,
                                                                       q + off, kh, vh, ro, &rl, &one);
            double e = rel_err(o + off, ro, D);
            eo = e > eo ? e : eo;
            e = rel_err(dq + off, rdq, D);
            eq = e > eq ? e : eq;
        }
    double tol = f32 ? 1e-5 : 1e-2;
    ok(eo < tol && eq < tol && avk_find_nonfinite(dk, n) < 0 && avk_find_nonfinite(dv, n) < 0,
       "%s attention 2048 tokens x 2 heads of 64: sampled rows vs reference: o %.2e, dq %.2e; dk, dv finite",
       kname(k), eo, eq);
    avk_ffree(q); avk_ffree(kk); avk_ffree(v); avk_ffree(dout); avk_ffree(o); avk_ffree(lse);
    avk_ffree(dq); avk_ffree(dk); avk_ffree(dv);
}

/* Under the fp32 fallback the bf16 attention is the fp32 kernel, bit for
 * bit. */
static void fallback_identity(void)
{
    const int H = 4, N = 300, D = 64;
    int64_t n = (int64_t)H * N * D;
    float *q = randn(n, 1.0f), *kk = randn(n, 1.0f), *v = randn(n, 1.0f);
    float *o1 = avk_falloc(n), *o2 = avk_falloc(n), *l1 = avk_falloc(H * N), *l2 = avk_falloc(H * N);
    avk_attn a = avk_attn_make(1, H, N, N, D);
    avk_attention_bf16_fwd(o1, l1, q, kk, v, &a);
    avk_attention_fwd(o2, l2, q, kk, v, &a);
    float *y1 = avk_falloc(N * 256), *y2 = avk_falloc(N * 256), *w = randn(256 * 256, 0.05f);
    avk_linear_bf16_fwd(y1, q, w, NULL, N, 256, 256);
    avk_linear_fwd(y2, q, w, NULL, N, 256, 256);
    ok(!memcmp(o1, o2, sizeof(float) * (size_t)n) && !memcmp(l1, l2, sizeof(float) * (size_t)(H * N)) &&
       !memcmp(y1, y2, sizeof(float) * (size_t)(N * 256)),
       "fp32 fallback: bf16 attention and linear equal the fp32 operators bit for bit");
    avk_ffree(q); avk_ffree(kk); avk_ffree(v); avk_ffree(o1); avk_ffree(o2); avk_ffree(l1); avk_ffree(l2);
    avk_ffree(y1); avk_ffree(y2); avk_ffree(w);
}

static void check_kernel(avk_bf16_kernel k)
{
    diag("kernel %s: %s", kname(k), avk_bf16_kernel_name());
    gemm_check(k, 1088, 256, 1024);
    gemm_check(k, 1088, 1024, 256);
    gemm_check(k, 37, 19, 65);
    many_shapes(k);
    linear_check(k, 1088, 256, 1024);
    linear_check(k, 544, 1024, 256);
    static const int joint_len[2] = {544, 530}, text_len[2] = {32, 7};
    /* 8 pairs: each thread owns whole (batch, head) pairs */
    attn_check(k, 2, 4, 544, 544, 64, joint_len, "joint 512+32 tokens, 2x4 heads, masked (owned backward)");
    /* 1 pair: split backward (key blocks, then query blocks), two key blocks */
    attn_check(k, 1, 1, 1024, 1024, 64, NULL, "1024 tokens, one head (split backward)");
    attn_check(k, 2, 4, 512, 32, 64, text_len, "cross-attention 512 video to 32 masked text tokens");
    attn_long(k);
}

int main(int argc, char **argv)
{
    avk_rng_seed(&rng, 11);
    if (argc > 1 && !strcmp(argv[1], "fallback-message")) {
        float x[64 * 64], y[64 * 64], o[64 * 64], l[64];
        avk_fill_randn(x, 64 * 64, &rng, 0, 1);
        avk_attn a = avk_attn_make(1, 1, 64, 64, 64);
        for (int i = 0; i < 3; i++) {
            avk_gemm_bf16('N', 'N', 64, 64, 64, 1.0f, x, 64, x, 64, 0.0f, y, 64);
            avk_linear_bf16_fwd(y, x, x, NULL, 64, 64, 64);
            avk_attention_bf16_fwd(o, l, x, x, x, &a);
        }
        printf("%s\n", avk_bf16_kernel_name());
        return 0;
    }
    if (omp_get_max_threads() < 2)
        omp_set_num_threads(2);      /* the threaded paths are part of what is tested */
    diag("%d threads", omp_get_max_threads());
    rounding();
    avk_bf16_kernel autok = avk_bf16_get_kernel();
    int native = choice();
    if (native) {
        avk_bf16_set_kernel(AVK_BF16_ONEDNN);
        check_kernel(AVK_BF16_ONEDNN);
    }
    avk_bf16_set_kernel(AVK_BF16_EMULATE);
    check_kernel(AVK_BF16_EMULATE);
    avk_bf16_set_kernel(AVK_BF16_FP32);
    check_kernel(AVK_BF16_FP32);
    fallback_identity();
    avk_bf16_set_kernel(AVK_BF16_AUTO);
    ok(avk_bf16_get_kernel() == autok, "choosing automatically again gives the first choice (%s)",
       kname(autok));
    return done_testing();
}
