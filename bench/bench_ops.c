/* Operator benchmarks, each against a baseline measured in the same run:
 *   gemm  linear forward/backward vs the raw dnnl_sgemm calls on the same
 *         shapes (DiT-sized), in GFLOP/s and as a ratio;
 *   conv  conv2d forward/backward (im2col + GEMM) vs raw dnnl_sgemm on the
 *         equivalent GEMM shapes (VAE-sized), and the direct-loop
 *         convolution on a small shape (why im2col was chosen);
 *   attn  tiled attention forward (and backward) vs the naive reference
 *         (timed on a slice of query rows and scaled) and vs the
 *         materialized matmul-softmax-matmul built from the same GEMM,
 *         with peak resident memory of each;
 *   keep  attention forward + backward at the DiT's spatial and cross
 *         shapes with the probabilities kept (avk_attn.p_keep) vs
 *         recomputed in the backward;
 *   act   GELU forward and backward vs the same through tanhf (the tanh
 *         form as written, libm), one thread's worth of values.
 * Usage: bench_ops [gemm|conv|attn|keep|act|all] [--quick]. Threads: OMP_NUM_THREADS.
 * Best of several repetitions, candidate and baseline alternating. With
 * more than one thread the clock is wall time; with one thread it is the
 * process CPU time, which leaves out the time other processes hold the
 * core (on a shared machine wall-clock ratios swing by tens of percent). */
#include <oneapi/dnnl/dnnl.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "avkit/util/common.h"
#include "avkit/nn/ops.h"

static int quick;
static avk_rng rng;

static float *randn(int64_t n)
{
    float *p = avk_falloc(n);
    avk_fill_randn(p, n, &rng, 0.0f, 1.0f);
    return p;
}

/* Peak resident set since the last reset, in MiB (Linux /proc). */
static void peak_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

static double peak_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            kb = atof(line + 6);
    if (f)
        fclose(f);
    return kb / 1024.0;
}

static double rss_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = atof(line + 6);
    if (f)
        fclose(f);
    return kb / 1024.0;
}

static int use_cpu_clock;

/* Seconds on the benchmark clock (see the header comment). */
static double bench_now(void)
{
    if (use_cpu_clock) {
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
    }
    return avk_now();
}

/* Best of `reps` runs of body into secs. */
#define BEST(reps, secs, body)                        \
    do {                                              \
        secs = 1e30;                                  \
        for (int r_ = 0; r_ < (reps); r_++) {         \
            double t0_ = bench_now();                 \
            body;                                     \
            double t_ = bench_now() - t0_;            \
            secs = t_ < secs ? t_ : secs;             \
        }                                             \
    } while (0)

/* The same for a candidate and its baseline, alternating run by run so
 * both see the same machine load (this machine is shared). */
#define RACE(reps, ta, bodya, tb, bodyb)              \
    do {                                              \
        ta = tb = 1e30;                               \
        for (int r_ = 0; r_ < (reps); r_++) {         \
            double t0_ = bench_now();                 \
            bodya;                                    \
            double t_ = bench_now() - t0_;            \
            ta = t_ < ta ? t_ : ta;                   \
            t0_ = bench_now();                        \
            bodyb;                                    \
            t_ = bench_now() - t0_;                   \
            tb = t_ < tb ? t_ : tb;                   \
        }                                             \
    } while (0)

static void bench_gemm(void)
{
    /* DiT-XL-like widths (1152) at 1k-4k tokens: attention projection,
     * qkv projection, MLP up and down */
    static const int64_t shapes[][3] = {
        {4096, 1152, 1152}, {4096, 1152, 3456}, {2048, 1152, 4608}, {2048, 4608, 1152}, {1024, 1152, 1152}};
    int ns = quick ? 2 : 5, reps = quick ? 3 : 5;
    printf("# linear (y = x w^T + b) vs raw dnnl_sgemm, %d threads\n", omp_get_max_threads());
    for (int s = 0; s < ns; s++) {
        int64_t M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        float *x = randn(M * K), *w = randn(N * K), *b = randn(N), *y = avk_falloc(M * N);
        float *dy = randn(M * N), *dx = avk_fzeros(M * K), *dw = avk_fzeros(N * K), *db = avk_fzeros(N);
        double flop = 2.0 * M * N * K, traw, tlin, trawb, tlinb;
        dnnl_sgemm('N', 'T', M, N, K, 1.0f, x, K, w, K, 0.0f, y, N);   /* warm up */
        RACE(reps, traw, dnnl_sgemm('N', 'T', M, N, K, 1.0f, x, K, w, K, 0.0f, y, N),
             tlin, avk_linear_fwd(y, x, w, b, M, K, N));
        RACE(reps, trawb, {
            dnnl_sgemm('N', 'N', M, K, N, 1.0f, dy, N, w, K, 1.0f, dx, K);
            dnnl_sgemm('T', 'N', N, K, M, 1.0f, dy, N, x, K, 1.0f, dw, K);
        }, tlinb, avk_linear_bwd(dx, dw, db, dy, x, w, M, K, N));
        printf("linear M=%lld K=%lld N=%lld: fwd raw %.1f GFLOP/s, avk %.1f GFLOP/s, ratio %.3f; "
               "bwd raw %.1f, avk %.1f, ratio %.3f\n",
               (long long)M, (long long)K, (long long)N, flop / traw * 1e-9, flop / tlin * 1e-9,
               traw / tlin, 2 * flop / trawb * 1e-9, 2 * flop / tlinb * 1e-9, trawb / tlinb);
        fflush(stdout);
        avk_ffree(x); avk_ffree(w); avk_ffree(b); avk_ffree(y);
        avk_ffree(dy); avk_ffree(dx); avk_ffree(dw); avk_ffree(db);
    }
}

static void bench_conv(void)
{
    /* AutoencoderKL-like layers at 256x256 input: 128 ch @ 128x128 (after
     * one downsample), 256 @ 64, 512 @ 32, the stride-2 downsampler, the
     * 3 -> 128 input conv and a 1x1 shortcut. */
    static const int cfg[][7] = {/* B Cin H W Cout k stride */
        {1, 128, 128, 128, 128, 3, 1}, {1, 256, 64, 64, 256, 3, 1}, {2, 512, 32, 32, 512, 3, 1},
        {1, 128, 128, 128, 128, 3, 2}, {1, 3, 256, 256, 128, 3, 1}, {1, 256, 64, 64, 512, 1, 1}};
    int ns = quick ? 2 : 6, reps = quick ? 2 : 3;
    printf("# conv2d (im2col + GEMM) vs raw dnnl_sgemm on the same GEMM shape, %d threads\n",
           omp_get_max_threads());
    for (int s = 0; s < ns; s++) {
        avk_conv2d c = avk_conv2d_make(cfg[s][0], cfg[s][1], cfg[s][2], cfg[s][3], cfg[s][4],
                                       cfg[s][5], cfg[s][6], cfg[s][5] / 2);
        if (cfg[s][6] == 2) {   /* diffusers downsampler: pad right/bottom only */
            c.pad_top = c.pad_left = 0;
            c.pad_bottom = c.pad_right = 1;
        }
        int Ho = avk_conv2d_out_h(&c), Wo = avk_conv2d_out_w(&c);
        int64_t K = (int64_t)c.Cin * c.kh * c.kw, P = (int64_t)Ho * Wo;
        int64_t nx = (int64_t)c.B * c.Cin * c.H * c.W, ny = (int64_t)c.B * c.Cout * P;
        float *x = randn(nx), *w = randn(c.Cout * K), *b = randn(c.Cout), *y = avk_falloc(ny);
        float *dy = randn(ny), *dx = avk_fzeros(nx), *dw = avk_fzeros(c.Cout * K), *db = avk_fzeros(c.Cout);
        float *col = randn(K * P), *dcol = avk_falloc(K * P);
        double flop = 2.0 * c.B * c.Cout * K * P, traw, tconv, trawb, tconvb;
        RACE(reps, traw, for (int n = 0; n < c.B; n++)
                             dnnl_sgemm('N', 'N', c.Cout, P, K, 1.0f, w, K, col, P, 0.0f, y + n * c.Cout * P, P),
             tconv, avk_conv2d_fwd(y, x, w, b, &c));
        RACE(reps, trawb, for (int n = 0; n < c.B; n++) {
            dnnl_sgemm('N', 'T', c.Cout, K, P, 1.0f, dy + n * c.Cout * P, P, col, P, 1.0f, dw, K);
            dnnl_sgemm('T', 'N', K, P, c.Cout, 1.0f, w, K, dy + n * c.Cout * P, P, 0.0f, dcol, P);
        }, tconvb, avk_conv2d_bwd(dx, dw, db, dy, x, w, &c));
        printf("conv2d B=%d %d->%d %dx%d k%d s%d: fwd raw %.1f GFLOP/s, avk %.1f GFLOP/s, ratio %.3f; "
               "bwd raw %.1f, avk %.1f, ratio %.3f\n",
               c.B, c.Cin, c.Cout, c.H, c.W, c.kh, c.stride, flop / traw * 1e-9, flop / tconv * 1e-9,
               traw / tconv, 2 * flop / trawb * 1e-9, 2 * flop / tconvb * 1e-9, trawb / tconvb);
        fflush(stdout);
        avk_ffree(x); avk_ffree(w); avk_ffree(b); avk_ffree(y); avk_ffree(dy); avk_ffree(dx);
        avk_ffree(dw); avk_ffree(db); avk_ffree(col); avk_ffree(dcol);
    }
    /* direct loops vs im2col + GEMM on a small layer */
    avk_conv2d c = avk_conv2d_make(1, 32, 32, 32, 32, 3, 1, 1);
    int64_t nx = 32 * 32 * 32;
    float *x = randn(nx), *w = randn(32 * 32 * 9), *y = avk_falloc(nx);
    double flop = 2.0 * 32 * 32 * 9 * 32 * 32, td, tf;
    RACE(2, td, avk_conv2d_fwd_ref(y, x, w, NULL, &c), tf, avk_conv2d_fwd(y, x, w, NULL, &c));
    printf("conv2d 32->32 32x32 k3: direct loops %.2f GFLOP/s, im2col+GEMM %.1f GFLOP/s, ratio %.1f\n",
           flop / td * 1e-9, flop / tf * 1e-9, td / tf);
    avk_ffree(x); avk_ffree(w); avk_ffree(y);
}

/* Materialized attention from the same GEMM (the PyTorch way): S = q k^T
 * for a whole head, row softmax, S v. Memory Nq x Nk per head. */
static void attn_materialized(float *o, const float *q, const float *k, const float *v,
                              const avk_attn *a, float *S)
{
    int64_t N = a->Nq, D = a->D;
    for (int64_t bh = 0; bh < (int64_t)a->B * a->H; bh++) {
        avk_gemm('N', 'T', N, a->Nk, D, a->scale, q + bh * N * D, D, k + bh * a->Nk * D, D, 0.0f, S, a->Nk);
        avk_softmax_fwd(S, S, N, a->Nk);
        avk_gemm('N', 'N', N, D, a->Nk, 1.0f, S, a->Nk, v + bh * a->Nk * D, D, 0.0f, o + bh * N * D, D);
    }
}

static void bench_attn(void)
{
    const int H = 8, D = 64;
    int lens[3] = {1024, 2048, 4096};
    int nl = quick ? 2 : 3, reps = quick ? 3 : 5;
    printf("# attention B=1 H=%d D=%d, %d threads (flops: 4 N^2 D H forward)\n", H, D,
           omp_get_max_threads());
    for (int li = 0; li < nl; li++) {
        int N = lens[li];
        int64_t n = (int64_t)H * N * D;
        float *q = randn(n), *k = randn(n), *v = randn(n), *o = avk_falloc(n), *lse = avk_falloc((int64_t)H * N);
        float *dout = randn(n), *dq = avk_fzeros(n), *dk = avk_fzeros(n), *dv = avk_fzeros(n);
        avk_attn a = avk_attn_make(1, H, N, N, D);
        double flop = 4.0 * N * (double)N * D * H, tf, tb, tm, tr;
        /* peak memory of one run of each, after a warm-up run (inputs,
         * threads and oneDNN's JIT kernels already resident) */
        avk_attention_fwd(o, lse, q, k, v, &a);
        double base = rss_mib();
        peak_reset();
        avk_attention_fwd(o, lse, q, k, v, &a);
        double mem_f = peak_mib() - base;
        base = rss_mib();
        peak_reset();
        float *S = avk_falloc((int64_t)N * N);
        attn_materialized(o, q, k, v, &a, S);
        double mem_m = peak_mib() - base;
        RACE(reps, tf, avk_attention_fwd(o, lse, q, k, v, &a), tm, attn_materialized(o, q, k, v, &a, S));
        avk_ffree(S);
        avk_attention_fwd(o, lse, q, k, v, &a);
        BEST(reps, tb, avk_attention_bwd(dq, dk, dv, dout, q, k, v, o, lse, &a));
        /* naive reference on 64 query rows of one head, scaled to the whole */
        int rows = 64;
        avk_attn ar = avk_attn_make(1, 1, rows, N, D);
        BEST(1, tr, avk_attention_fwd_ref(o, lse, q, k, v, &ar));
        tr *= (double)N / rows * H;
        printf("attention N=%d: tiled fwd %.1f ms (%.1f GFLOP/s, +%.1f MiB peak), bwd %.1f ms; "
               "naive reference %.0f ms (ratio %.1f); materialized matmul-softmax-matmul %.1f ms "
               "(+%.1f MiB peak, ratio %.2f)\n",
               N, tf * 1e3, flop / tf * 1e-9, mem_f, tb * 1e3, tr * 1e3, tr / tf, tm * 1e3, mem_m, tm / tf);
        fflush(stdout);
        avk_ffree(q); avk_ffree(k); avk_ffree(v); avk_ffree(o); avk_ffree(lse);
        avk_ffree(dout); avk_ffree(dq); avk_ffree(dk); avk_ffree(dv);
    }
}

/* Attention forward + backward at the DiT's shapes (reference
 * configuration: 16 spatial sequences of 96 tokens with masked text, 2
 * cross sequences of 512 queries over 32 masked keys; 4 heads of 64),
 * keeping the forward's probabilities for the backward vs recomputing
 * them there. */
static void bench_keep(void)
{
    struct { const char *what; int B, H, Nq, Nk, masked; } sh[] = {
        {"spatial", 16, 4, 96, 96, 84}, {"cross", 2, 4, 512, 32, 20}};
    int reps = quick ? 5 : 20;
    printf("# attention forward + backward, probabilities kept vs recomputed, %d threads\n",
           omp_get_max_threads());
    for (int i = 0; i < 2; i++) {
        int B = sh[i].B, H = sh[i].H, Nq = sh[i].Nq, Nk = sh[i].Nk, D = 64;
        int64_t nq = (int64_t)B * H * Nq * D, nk = (int64_t)B * H * Nk * D;
        float *q = randn(nq), *k = randn(nk), *v = randn(nk), *dout = randn(nq);
        float *o = avk_falloc(nq), *lse = avk_falloc((int64_t)B * H * Nq);
        float *dq = avk_falloc(nq), *dk = avk_falloc(nk), *dv = avk_falloc(nk);
        int *len = avk_xmalloc(sizeof(int) * (size_t)B);
        for (int b = 0; b < B; b++)     /* every other entry with a shorter text */
            len[b] = b % 2 ? sh[i].masked : Nk;
        avk_attn a = avk_attn_make(B, H, Nq, Nk, D), ak;
        a.kv_len = len;
        a.write_grads = 1;
        ak = a;
        ak.p_keep = avk_falloc(avk_attention_keep_size(&a));
        double tr, tk;
        RACE(reps, tr, (avk_attention_fwd(o, lse, q, k, v, &a),
                        avk_attention_bwd(dq, dk, dv, dout, q, k, v, o, lse, &a)),
             tk, (avk_attention_fwd(o, lse, q, k, v, &ak),
                  avk_attention_bwd(dq, dk, dv, dout, q, k, v, o, lse, &ak)));
        printf("attention %s (%d x %d heads, %d queries, %d keys): recomputed %.2f ms, kept %.2f ms "
               "(ratio %.2f, +%.1f MiB kept)\n", sh[i].what, B, H, Nq, Nk, tr * 1e3, tk * 1e3,
               tr / tk, avk_attention_keep_size(&a) * 4.0 / (1 << 20));
        fflush(stdout);
        float *bufs[] = {q, k, v, dout, o, lse, dq, dk, dv, ak.p_keep};
        for (size_t j = 0; j < sizeof bufs / sizeof *bufs; j++)
            avk_ffree(bufs[j]);
        free(len);
    }
}

/* gelu(x) through tanhf, as the formula reads (the baseline). */
static void gelu_tanh_fwd(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + tanhf(0.7978845608f * (v + 0.044715f * v * v * v)));
    }
}

/* d = d gelu'(x) through tanhf. */
static void gelu_tanh_bwd(float *d, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], t = tanhf(0.7978845608f * (v + 0.044715f * v * v * v));
        d[i] *= 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * 0.7978845608f *
                                        (1.0f + 3.0f * 0.044715f * v * v);
    }
}

/* The tanhf loops over the threads' equal shares: y = gelu(x) (d NULL)
 * or d = d gelu'(x). */
static void gelu_tanh_par(float *y, float *d, const float *x, int64_t n)
{
    int nt = omp_get_max_threads();
#pragma omp parallel for schedule(static)
    for (int t = 0; t < nt; t++) {
        int64_t i0 = n * t / nt, i1 = n * (t + 1) / nt;
        if (d)
            gelu_tanh_bwd(d + i0, x + i0, i1 - i0);
        else
            gelu_tanh_fwd(y + i0, x + i0, i1 - i0);
    }
}

/* The GELU of the DiT's MLP (1024 rows of 1024 hidden values) against the
 * tanhf loops, per thread: the operators' threads vs as many copies of the
 * baseline on the threads' shares. */
static void bench_act(void)
{
    int64_t n = (int64_t)1024 * 1024;
    int reps = quick ? 5 : 20, nt = omp_get_max_threads();
    float *x = randn(n), *y = avk_falloc(n), *d = avk_falloc(n);
    double tf, tfb, tb, tbb;
    RACE(reps, tf, avk_gelu_fwd(y, x, n), tfb, gelu_tanh_par(y, NULL, x, n));
    for (int64_t i = 0; i < n; i++)
        d[i] = 1.0f;
    RACE(reps, tb, avk_gelu_bwd_inplace(d, x, n), tbb, gelu_tanh_par(NULL, d, x, n));
    printf("# GELU over %lld values, %d threads\n", (long long)n, nt);
    printf("gelu forward %.2f ms, tanhf loop %.2f ms (ratio %.2f); backward %.2f ms, tanhf loop "
           "%.2f ms (ratio %.2f)\n", tf * 1e3, tfb * 1e3, tfb / tf, tb * 1e3, tbb * 1e3, tbb / tb);
    avk_ffree(x);
    avk_ffree(y);
    avk_ffree(d);
}

int main(int argc, char **argv)
{
    const char *what = "all";
    avk_tool_init(argv[0]);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: bench_ops [gemm|conv|attn|keep|act|all] [--quick]\n");
            return 0;
        } else
            what = argv[i];
    }
    avk_rng_seed(&rng, 1);
    use_cpu_clock = omp_get_max_threads() == 1;
    printf("# clock: %s\n", use_cpu_clock ? "process CPU time (1 thread)" : "wall time");
    if (!strcmp(what, "gemm") || !strcmp(what, "all"))
        bench_gemm();
    if (!strcmp(what, "conv") || !strcmp(what, "all"))
        bench_conv();
    if (!strcmp(what, "attn") || !strcmp(what, "all"))
        bench_attn();
    if (!strcmp(what, "keep") || !strcmp(what, "all"))
        bench_keep();
    if (!strcmp(what, "act") || !strcmp(what, "all"))
        bench_act();
    return 0;
}
