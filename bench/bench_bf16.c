/* bf16 operator benchmarks, each against baselines measured in the same
 * run, printing which implementation ran:
 *   gemm  avk_gemm_bf16 (the kernel chosen for this CPU) vs dnnl_sgemm on
 *         the DiT issue's shapes (2048^3, 1088x1024x256, 1088x256x1024;
 *         C[M,N] = A[M,K] B[N,K]^T, the linear layer's layout); where the
 *         oneDNN bf16 kernel runs, also the primitive alone on operands
 *         already in bf16 (the matmul peak); and the emulated bf16 kernel
 *         (rounded operands through f32 matmul primitives);
 *   attn  avk_attention_bf16_fwd/_bwd vs the fp32 tiled kernel, B=1, H=8,
 *         D=64, 1024-4096 tokens, and the emulated kernel.
 * GFLOP/s: GEMM 2MNK; attention forward 4 N^2 D per head, backward
 * 10 N^2 D (five products, the score block recomputed), the same counts
 * for every contender, so ratios are time ratios. With --torch FILE (from
 * bench/bf16_torch.py) each line also gets PyTorch's numbers and our
 * ratio to them.
 * Usage: bench_bf16 [gemm|attn|all] [--quick] [--wall] [--torch FILE].
 * Threads: OMP_NUM_THREADS. Best of several runs, contenders alternating
 * run by run. The clock is the process CPU time divided by the thread
 * count (what the threads would take on cores of their own: on this
 * shared 2-core machine, at load averages of 5-10, the wall clock mostly
 * measures the other processes; bf16_torch.py uses the same clock, and
 * bf16.sh makes idle OpenMP threads sleep so waiting is not counted). It
 * flatters serial sections (they count half with 2 threads); --wall uses
 * the wall clock instead, for a quiet machine. */
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "avkit/util/common.h"
#include "avkit/nn/ops_bf16.h"
#include "nn/bf16_matmul.h"

static int quick;
static avk_rng rng;
static const char *torch_file;
static int wall_clock;

/* Seconds on the benchmark clock (see the header comment). */
static double bench_now(void)
{
    if (wall_clock)
        return avk_now();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ((double)ts.tv_sec + ts.tv_nsec * 1e-9) / omp_get_max_threads();
}

static float *randn(int64_t n)
{
    float *p = avk_falloc(n);
    avk_fill_randn(p, n, &rng, 0.0f, 1.0f);
    return p;
}

/* Best of `reps` runs of each body, alternating (ta for a, tb for b). */
#define RACE(reps, ta, bodya, tb, bodyb)              \
    do {                                              \
        ta = tb = 1e30;                               \
        for (int r_ = 0; r_ < (reps); r_++) {         \
            double t0_ = bench_now();                   \
            bodya;                                    \
            double t_ = bench_now() - t0_;              \
            ta = t_ < ta ? t_ : ta;                   \
            t0_ = bench_now();                          \
            bodyb;                                    \
            t_ = bench_now() - t0_;                     \
            tb = t_ < tb ? t_ : tb;                   \
        }                                             \
    } while (0)

/* PyTorch's line for a case from --torch FILE: the numbers after the
 * `nkey` leading fields matching key; 0 if absent. */
static int torch_lookup(const char *kind, const long *key, int nkey, double *val, int nval)
{
    FILE *f = torch_file ? fopen(torch_file, "r") : NULL;
    char line[512];
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f)) {
        char *p = line, *end;
        size_t kl = strlen(kind);
        if (strncmp(p, kind, kl) || p[kl] != ' ')
            continue;
        p += kl;
        int match = 1;
        for (int i = 0; i < nkey && match; i++) {
            long x = strtol(p, &end, 10);
            match = end != p && x == key[i];
            p = end;
        }
        if (!match)
            continue;
        found = 1;
        for (int i = 0; i < nval && found; i++) {
            val[i] = strtod(p, &end);
            found = end != p;
            p = end;
        }
    }
    if (f)
        fclose(f);
    return found;
}

static void bench_gemm(void)
{
    static const int64_t shapes[][3] = {{2048, 2048, 2048}, {1088, 1024, 256}, {1088, 256, 1024}};
    avk_bf16_kernel kind = avk_bf16_get_kernel();
    printf("# gemm C[M,N] = A[M,K] B[N,K]^T, %d threads, %s clock; bf16 kernel: %s\n",
           omp_get_max_threads(), wall_clock ? "wall" : "cpu", avk_bf16_kernel_name());
    for (int s = 0; s < 3; s++) {
        int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        int reps = M * N * K >= (1 << 30) ? (quick ? 3 : 5) : (quick ? 5 : 15);
        float *A = randn(M * K), *B = randn(N * K), *C = avk_falloc(M * N);
        double flop = 2.0 * M * N * K, t32, t16, tprim = 0, temu, tdummy;
        dnnl_sgemm('N', 'T', M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
        avk_gemm_bf16('N', 'T', M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
        RACE(reps, t32, dnnl_sgemm('N', 'T', M, N, K, 1.0f, A, K, B, K, 0.0f, C, N),
             t16, avk_gemm_bf16('N', 'T', M, N, K, 1.0f, A, K, B, K, 0.0f, C, N));
        const char *impl = avk_lowp_impl(kind, 'N', 'T', M, N, K, 1.0f, K, K, 0.0f, N);
        printf("gemm %lldx%lldx%lld: dnnl_sgemm %.1f GFLOP/s; bf16 [%s] %.1f GFLOP/s, ratio %.2f",
               (long long)M, (long long)N, (long long)K, flop / t32 * 1e-9, impl, flop / t16 * 1e-9,
               t32 / t16);
        if (kind == AVK_BF16_ONEDNN) {
            void *a = avk_xmalloc((size_t)(M * K) * 2), *b = avk_xmalloc((size_t)(N * K) * 2);
            avk_lowp_convert(a, A, M * K, kind);
            avk_lowp_convert(b, B, N * K, kind);
            RACE(reps, tprim, avk_lowp_gemm(kind, 'N', 'T', M, N, K, 1.0f, a, K, b, K, 0.0f, C, N),
                 tdummy, (void)0);
            printf("; primitive alone (operands already bf16) %.1f GFLOP/s, ratio %.2f", flop / tprim * 1e-9,
                   t32 / tprim);
            free(a);
            free(b);
        }
        avk_bf16_set_kernel(AVK_BF16_EMULATE);
        avk_gemm_bf16('N', 'T', M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
        RACE(quick ? 2 : 3, temu, avk_gemm_bf16('N', 'T', M, N, K, 1.0f, A, K, B, K, 0.0f, C, N),
             tdummy, (void)0);
        printf("; emulated [%s] %.1f GFLOP/s",
               avk_lowp_impl(AVK_BF16_EMULATE, 'N', 'T', M, N, K, 1.0f, K, K, 0.0f, N), flop / temu * 1e-9);
        avk_bf16_set_kernel(kind);
        double tv[2];
        long key[3] = {(long)M, (long)N, (long)K};
        if (torch_lookup("gemm", key, 3, tv, 2))
            printf("; PyTorch fp32 %.1f, bf16 %.1f GFLOP/s; ours/PyTorch bf16 %.2f", tv[0], tv[1],
                   flop / t16 * 1e-9 / tv[1]);
        printf("\n");
        fflush(stdout);
        avk_ffree(A);
        avk_ffree(B);
        avk_ffree(C);
    }
}

static void bench_attn(void)
{
    const int H = 8, D = 64;
    static const int lens[] = {1024, 2048, 4096};
    int nl = quick ? 2 : 3;
    avk_bf16_kernel kind = avk_bf16_get_kernel();
    printf("# attention B=1 H=%d D=%d, %d threads; bf16 kernel: %s\n", H, D, omp_get_max_threads(),
           avk_bf16_kernel_name());
    for (int li = 0; li < nl; li++) {
        int N = lens[li], reps = N >= 4096 ? 2 : 3, bwd = N <= 2048;
        int64_t n = (int64_t)H * N * D;
        float *q = randn(n), *k = randn(n), *v = randn(n), *dout = randn(n);
        float *o = avk_falloc(n), *lse = avk_falloc((int64_t)H * N);
        float *dq = avk_fzeros(n), *dk = avk_fzeros(n), *dv = avk_fzeros(n);
        avk_attn a = avk_attn_make(1, H, N, N, D);
        double ff = 4.0 * H * N * N * D, fb = 10.0 * H * N * N * D;
        double tf32, tf16, tb32 = 0, tb16 = 0, tfe, tbe = 0, td;
        avk_attention_bf16_fwd(o, lse, q, k, v, &a);
        RACE(reps, tf32, avk_attention_fwd(o, lse, q, k, v, &a), tf16,
             avk_attention_bf16_fwd(o, lse, q, k, v, &a));
        if (bwd)
            RACE(reps, tb32, avk_attention_bwd(dq, dk, dv, dout, q, k, v, o, lse, &a), tb16,
                 avk_attention_bf16_bwd(dq, dk, dv, dout, q, k, v, o, lse, &a));
        printf("attention N=%d: fp32 fwd %.1f GFLOP/s", N, ff / tf32 * 1e-9);
        if (bwd)
            printf(", bwd %.1f", fb / tb32 * 1e-9);
        printf("; bf16 [%s] fwd %.1f GFLOP/s, ratio %.2f", kind == AVK_BF16_FP32 ? "fp32 tiled" : "bf16 tiles",
               ff / tf16 * 1e-9, tf32 / tf16);
        if (bwd)
            printf(", bwd %.1f, ratio %.2f", fb / tb16 * 1e-9, tb32 / tb16);
        avk_bf16_set_kernel(AVK_BF16_EMULATE);
        avk_attention_bf16_fwd(o, lse, q, k, v, &a);
        RACE(2, tfe, avk_attention_bf16_fwd(o, lse, q, k, v, &a), td, (void)0);
        if (bwd)
            RACE(1, tbe, avk_attention_bf16_bwd(dq, dk, dv, dout, q, k, v, o, lse, &a), td, (void)0);
        avk_bf16_set_kernel(kind);
        printf("; emulated fwd %.1f", ff / tfe * 1e-9);
        if (bwd)
            printf(", bwd %.1f", fb / tbe * 1e-9);
        double tv[4];
        long key[1] = {N};
        if (torch_lookup("attn", key, 1, tv, 4)) {
            printf("; PyTorch SDPA fp32 fwd %.1f, bf16 fwd %.1f", tv[0], tv[1]);
            if (bwd && tv[2] > 0 && tv[3] > 0) {
                double ours32 = (ff + fb) / (tf32 + tb32) * 1e-9, ours16 = (ff + fb) / (tf16 + tb16) * 1e-9;
                printf(", fp32 fwd+bwd %.1f, bf16 fwd+bwd %.1f; ours/PyTorch: fp32 fwd %.2f, bf16 fwd %.2f, "
                       "fp32 fwd+bwd %.2f, bf16 fwd+bwd %.2f", tv[2], tv[3], ff / tf32 * 1e-9 / tv[0],
                       ff / tf16 * 1e-9 / tv[1], ours32 / tv[2], ours16 / tv[3]);
            } else {
                printf("; ours/PyTorch: fp32 fwd %.2f, bf16 fwd %.2f", ff / tf32 * 1e-9 / tv[0],
                       ff / tf16 * 1e-9 / tv[1]);
            }
        }
        printf("\n");
        fflush(stdout);
        avk_ffree(q); avk_ffree(k); avk_ffree(v); avk_ffree(dout); avk_ffree(o); avk_ffree(lse);
        avk_ffree(dq); avk_ffree(dk); avk_ffree(dv);
    }
}

int main(int argc, char **argv)
{
    const char *what = "all";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--wall"))
            wall_clock = 1;
        else if (!strcmp(argv[i], "--torch") && i + 1 < argc)
            torch_file = argv[++i];
        else if (!strcmp(argv[i], "gemm") || !strcmp(argv[i], "attn") || !strcmp(argv[i], "all"))
            what = argv[i];
        else {
            fprintf(stderr, "usage: bench_bf16 [gemm|attn|all] [--quick] [--wall] [--torch FILE]\n");
            return 2;
        }
    }
    avk_rng_seed(&rng, 5);
    if (strcmp(what, "attn"))
        bench_gemm();
    if (strcmp(what, "gemm"))
        bench_attn();
    return 0;
}
