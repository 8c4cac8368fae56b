/* One fp32 training step (forward, MSE, backward) of the video DiT, for
 * bench/dit.sh, which runs the same model in PyTorch on the same weights
 * and batch with the same threads.
 * Usage: bench_dit DIR [frames] [size] [width] [depth] [heads] [rounds]
 *        [fp32|bf16|peak]
 * The reference configuration (defaults): latents 8 frames x 4 channels x
 * 16 x 16, patch 1x2x2 (512 video tokens), 32 text tokens, width 256, 6
 * blocks, 4 heads, MLP ratio 4, batch 2, single-stream with the cross
 * branch. Writes DIR/dit.safetensors (seeded weights, adaLN and output
 * made non-zero so every path carries signal) and DIR/io.safetensors (x_t,
 * t, tokens, text_len, target, and avkit's pred and loss), prints
 *   avkit PREC step_ms MS gflop G gflops R gemm_ms A attn_ms B other_ms C
 *   kernel: WHAT RAN; batch B in groups / whole (avk_dit_groups)
 * with the best of `rounds` steps after one warm-up, G counted from the
 * shapes (avk_dit_step_flop: matrix products and attention, backward =
 * 2 x forward) and the step split by the timing counters of
 * lib/models/dit_ops.h (avk_dit_prof) into linear-layer GEMMs, attention
 * and everything else, measured in one more step with the counters on.
 * bf16 runs the model's products through the bf16 operators (the kernel
 * the CPU allows; AVK_BF16 overrides). `peak` prints instead the GEMM
 * peaks the step's share is measured against, on the DiT issue's shapes
 * (1088x1024x256, 1088x256x1024, C = A B^T), best of 10:
 *   peak sgemm_gflops P32 bf16_gflops P16 kernel: WHAT RAN
 * AVK_DIT_WHOLE=1 runs every batch whole (avk_dit.whole_batch), the
 * baseline of bench/dit_groups.sh.
 * The clock is the process CPU time divided by the thread count (as
 * bench_bf16.c: the machine is shared, and dit.sh makes idle OpenMP
 * threads sleep), or the wall clock with AVK_BENCH_WALL=1. */
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "avkit/util/common.h"
#include "avkit/io/safetensors.h"
#include "avkit/nn/ops.h"
#include "avkit/nn/ops_bf16.h"
#include "avkit/models/dit.h"

static int wall_clock;
static int bench_threads;       /* the thread count at start (a batch run in
                                 * groups sets one per thread inside) */

/* Seconds on the benchmark clock (see the header comment). */
static double bench_now(void)
{
    if (wall_clock)
        return avk_now();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ((double)ts.tv_sec + ts.tv_nsec * 1e-9) / bench_threads;
}

/* The best GFLOP/s of dnnl_sgemm (bf16 0) or avk_gemm_bf16 (bf16 1) over
 * the two linear-layer shapes of the issue, best of 10 each. */
static double gemm_peak(int bf16)
{
    static const int64_t shapes[2][3] = {{1088, 1024, 256}, {1088, 256, 1024}};
    avk_rng r;
    avk_rng_seed(&r, 3);
    double best = 0;
    for (int s = 0; s < 2; s++) {
        int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = avk_falloc(M * K), *B = avk_falloc(N * K), *C = avk_falloc(M * N);
        avk_fill_randn(A, M * K, &r, 0.0f, 1.0f);
        avk_fill_randn(B, N * K, &r, 0.0f, 1.0f);
        for (int i = 0; i <= 10; i++) {
            double t0 = bench_now();
            if (bf16)
                avk_gemm_bf16('N', 'T', M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
            else
                dnnl_sgemm('N', 'T', M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
            double dt = bench_now() - t0;
            if (i > 0 && 2.0 * M * N * K / dt * 1e-9 > best)
                best = 2.0 * M * N * K / dt * 1e-9;
        }
        avk_ffree(A);
        avk_ffree(B);
        avk_ffree(C);
    }
    return best;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_dit DIR [frames] [size] [width] [depth] [heads] [rounds]\n");
        return 2;
    }
    const char *dir = argv[1];
    int T = argc > 2 ? atoi(argv[2]) : 8, S = argc > 3 ? atoi(argv[3]) : 16;
    avk_dit_config c = avk_dit_config_default();
    c.hidden = argc > 4 ? atoi(argv[4]) : 256;
    c.depth = argc > 5 ? atoi(argv[5]) : 6;
    c.heads = argc > 6 ? atoi(argv[6]) : 4;
    int rounds = argc > 7 ? atoi(argv[7]) : 3;
    const char *prec = argc > 8 ? argv[8] : "fp32";
    wall_clock = getenv("AVK_BENCH_WALL") && atoi(getenv("AVK_BENCH_WALL"));
    bench_threads = omp_get_max_threads();
    if (!strcmp(prec, "peak")) {
        double p32 = gemm_peak(0), p16 = gemm_peak(1);
        printf("peak sgemm_gflops %.1f bf16_gflops %.1f kernel: %s\n", p32, p16,
               avk_bf16_kernel_name());
        return 0;
    }
    if (avk_dit_precision_parse(prec) < 0) {
        fprintf(stderr, "bench_dit: precision '%s' is not fp32, bf16 or peak\n", prec);
        return 2;
    }
    c.vocab_size = 512;
    c.max_text_len = 32;
    avk_dit *m = avk_dit_new(&c);
    if (!m)
        avk_die_lib();
    avk_dit_init(m, 1);
    m->precision = avk_dit_precision_parse(prec);
    m->whole_batch = getenv("AVK_DIT_WHOLE") && atoi(getenv("AVK_DIT_WHOLE"));
    avk_rng r;
    avk_rng_seed(&r, 7);
    for (int i = 0; i < m->nparam; i++)
        if (strstr(m->params[i].name, "linear") || strstr(m->params[i].name, "proj_out"))
            avk_fill_randn(m->w + m->params[i].offset, m->params[i].numel, &r, 0.0f, 0.02f);
    int B = 2, L = 32, C = c.in_channels;
    int64_t n = (int64_t)B * C * T * S * S;
    float *x = avk_falloc(n), *target = avk_falloc(n), *pred = avk_falloc(n), *dpred = avk_falloc(n);
    float t[2] = {0.3f, 0.7f}, tokf[64], lenf[2] = {32, 20}, loss = 0;
    int32_t tok[64];
    int len[2] = {32, 20};
    avk_fill_randn(x, n, &r, 0.0f, 1.0f);
    avk_fill_randn(target, n, &r, 0.0f, 1.0f);
    for (int i = 0; i < B * L; i++) {
        tok[i] = (i * 37 + 11) % 512;
        tokf[i] = (float)tok[i];
    }
    avk_dit_batch b = {.B = B, .T = T, .H = S, .W = S, .x = x, .t = t, .L = L, .tokens = tok,
                       .text_len = len};
    double best = 1e30;
    avk_dit_prof prof = {0};
    /* rounds 0: a single step, timed, no warm-up and no counted step
     * (the larger configuration, where one step takes long) */
    int last = rounds > 0 ? rounds + 1 : 0;
    for (int i = 0; i <= last; i++) {
        if (rounds > 0 && i == last)   /* one more step, counted */
            avk_dit_prof_enable(bench_now);
        double t0 = bench_now();
        memset(m->g, 0, (size_t)m->nfloats * sizeof(float));
        memset(dpred, 0, (size_t)n * sizeof(float));
        avk_dit_acts *a = avk_dit_forward(m, &b, pred);
        if (!a)
            avk_die_lib();
        loss = (float)avk_mse_loss(dpred, pred, target, n, 1.0f);
        avk_dit_backward(m, a, dpred);
        avk_dit_acts_free(a);
        double dt = bench_now() - t0;
        if (rounds > 0 && i == last) {
            prof = avk_dit_prof_take();
            avk_dit_prof_enable(NULL);
            /* the split of this step, scaled to the best step's time */
            double f = best / dt;
            prof.gemm_s *= f;
            prof.attn_s *= f;
        } else if ((i > 0 || rounds == 0) && dt < best) {
            best = dt;
        }
    }
    double gflop = avk_dit_step_flop(&c, B, T, S, S, L) / 1e9;
    char *p = avk_xasprintf("%s/dit.safetensors", dir);
    if (avk_dit_save(m, p, 0, NULL) < 0)
        avk_die_lib();
    free(p);
    avk_st_writer *w = avk_st_writer_new();
    int64_t sx[5] = {B, C, T, S, S}, s2[1] = {2}, st[2] = {B, L}, s1[1] = {1};
    avk_st_writer_add(w, "x_t", AVT_F32, 5, sx, x);
    avk_st_writer_add(w, "target", AVT_F32, 5, sx, target);
    avk_st_writer_add(w, "pred", AVT_F32, 5, sx, pred);
    avk_st_writer_add(w, "t", AVT_F32, 1, s2, t);
    avk_st_writer_add(w, "tokens", AVT_F32, 2, st, tokf);
    avk_st_writer_add(w, "text_len", AVT_F32, 1, s2, lenf);
    avk_st_writer_add(w, "loss", AVT_F32, 1, s1, &loss);
    p = avk_xasprintf("%s/io.safetensors", dir);
    if (avk_st_writer_write(w, p) < 0)
        avk_die_lib();
    free(p);
    printf("avkit %s step_ms %.1f gflop %.1f gflops %.1f gemm_ms %.1f attn_ms %.1f other_ms %.1f\n",
           prec, best * 1e3, gflop, gflop / best, prof.gemm_s * 1e3, prof.attn_s * 1e3,
           (best - prof.gemm_s - prof.attn_s) * 1e3);
    int groups = avk_dit_groups(m, B);
    printf("kernel: %s; batch %d %s\n",
           m->precision == AVK_DIT_BF16 ? avk_bf16_kernel_name()
                                        : "fp32 (avk_gemm: dnnl_sgemm; avkit attention)",
           B, groups > 1 ? "in groups, one per thread (single-threaded operators)"
                         : "whole (operators over all threads)");
    avk_ffree(x);
    avk_ffree(target);
    avk_ffree(pred);
    avk_ffree(dpred);
    avk_dit_free(m);
    return 0;
}
