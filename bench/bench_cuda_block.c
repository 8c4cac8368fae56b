/* A stack of DiT blocks trained on the GPU through the "cuda" backend
 * table, for scripts/gpu-check.sh: the same block as PyTorch's twin
 * (scripts/gpu-check/torch_dit_block.py): adaLN-modulated layer norm,
 * fused qkv, full attention, projection, gated residual, GELU(tanh) MLP,
 * gated residual; an MSE loss, the backward, one AdamW step. Prints the
 * step time, TFLOP/s (model FLOPs: 3x the forward's matrix products) and
 * MFU against the GPU's bf16 peak, for the math modes fp32 (cuBLAS f32,
 * attention on the CUDA cores) and bf16 (cuBLAS bf16 tensor cores and the
 * tensor-core attention); norms and the rest are f32 kernels in both.
 * With depth >= 3, the bf16 step once more with activation offload (two
 * blocks' activations on the device, the rest in pinned host memory,
 * copied on a second stream under the compute): its time, and the device
 * memory it saves. Then the time of single operators at the block's
 * shapes.
 *
 * Not the DiT of lib/models (that model calls the CPU operators directly,
 * not the table): no patch/timestep/caption embedding, no final layer;
 * the modulation vectors are inputs. Those are a few percent of the FLOPs.
 *
 * Usage: bench_cuda_block [batch tokens width heads depth steps]
 * (default 4 1024 1152 16 4 10). Without CUDA or a device: one line, exit 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "avkit/nn/ops.h"
#include "avkit/nn/tensor.h"
#include "avkit/util/common.h"

#ifndef AVK_HAVE_CUDA
int main(void)
{
    printf("bench_cuda_block: built without CUDA (make CUDA=1): nothing to measure\n");
    return 0;
}
#else
#include "avkit/nn/cuda.h"

static const avk_backend *be;
static int B, N, D, NH, L;
static int64_t M;   /* B * N rows */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *dev(int64_t n)
{
    float *p = be->alloc((size_t)n * sizeof(float));
    if (!p)
        avk_die_lib();
    return p;
}

static float *dev_randn(int64_t n, float std, avk_rng *r)
{
    float *h = avk_falloc(n), *d = dev(n);
    avk_fill_randn(h, n, r, 0.0f, std);
    be->to_device(d, h, (size_t)n * sizeof(float));
    avk_ffree(h);
    return d;
}

/* Offsets of one block's parameters inside the flat buffer. */
enum { W_QKV, B_QKV, W_O, B_O, W_1, B_1, W_2, B_2, NPARAM };
static int64_t param_size(int k)
{
    int64_t d = D;
    switch (k) {
    case W_QKV: return 3 * d * d;
    case B_QKV: return 3 * d;
    case W_O: return d * d;
    case B_O: return d;
    case W_1: return 4 * d * d;
    case B_1: return 4 * d;
    case W_2: return 4 * d * d;
    default: return d;
    }
}

/* What one block keeps from its forward for its backward. */
typedef struct acts {
    float *x, *mean1, *rstd1, *h1, *m1, *qkv, *qkvp, *o, *lse, *o2, *a, *x2;
    float *mean2, *rstd2, *h2, *m2, *f1, *g, *f2;
} acts;

static float *P, *G;          /* parameters and gradients, one flat buffer each */
static int64_t nparam;
static float *mod, *dmod;     /* adaLN vectors [L][6][B][D] and their gradients */
static acts *A;
static float **xs;            /* xs[l]: the input of block l; xs[L]: the output */
static float *target, *mom1, *mom2, *dbuf;
/* gradient scratch of one block (reused by every block) */
static float *dx3, *dx2, *df2, *dg, *df1, *dm2, *dh2, *da, *do2, *dob, *dqkvp, *dqkv, *dm1, *dh1;

static float *param(int l, int k)
{
    int64_t off = 0;
    for (int j = 0; j < k; j++)
        off += param_size(j);
    int64_t per = 0;
    for (int j = 0; j < NPARAM; j++)
        per += param_size(j);
    return P + l * per + off;
}

static float *grad(int l, int k)
{
    return G + (param(l, k) - P);
}

static float *modv(float *base, int l, int c)
{
    return base + (((int64_t)l * 6 + c) * B) * D;
}

static const int QKV_PERM[5] = {2, 0, 3, 1, 4};   /* [B,N,3,H,Dh] -> [3][B,H,N,Dh] */
static const int HEAD_PERM[4] = {0, 2, 1, 3};     /* [B,H,N,Dh] <-> [B,N,H,Dh] */

/* Block l's forward with its activations in set `slot` of A. */
static void block_fwd(int slot, int l, const float *x, float *out)
{
    acts *s = &A[slot];
    int Dh = D / NH;
    int64_t hs = (int64_t)B * NH * N * Dh;
    avk_attn at = avk_attn_make(B, NH, N, N, Dh);
    int64_t qshape[5] = {B, N, 3, NH, Dh}, oshape[4] = {B, NH, N, Dh};
    s->x = (float *)x;
    be->layernorm_fwd(s->h1, s->mean1, s->rstd1, x, NULL, NULL, M, D, 1e-6f);
    be->modulate_fwd(s->m1, s->h1, modv(mod, l, 0), modv(mod, l, 1), B, N, 1, D);
    be->linear_fwd(s->qkv, s->m1, param(l, W_QKV), param(l, B_QKV), M, D, 3 * D);
    be->permute(s->qkvp, s->qkv, 5, qshape, QKV_PERM);
    be->attention_fwd(s->o, s->lse, s->qkvp, s->qkvp + hs, s->qkvp + 2 * hs, &at);
    be->permute(s->o2, s->o, 4, oshape, HEAD_PERM);
    be->linear_fwd(s->a, s->o2, param(l, W_O), param(l, B_O), M, D, D);
    be->gated_residual_fwd(s->x2, x, s->a, modv(mod, l, 2), B, N, 1, D);
    be->layernorm_fwd(s->h2, s->mean2, s->rstd2, s->x2, NULL, NULL, M, D, 1e-6f);
    be->modulate_fwd(s->m2, s->h2, modv(mod, l, 3), modv(mod, l, 4), B, N, 1, D);
    be->linear_fwd(s->f1, s->m2, param(l, W_1), param(l, B_1), M, D, 4 * D);
    be->gelu_fwd(s->g, s->f1, M * 4 * D);
    be->linear_fwd(s->f2, s->g, param(l, W_2), param(l, B_2), M, 4 * D, D);
    be->gated_residual_fwd(out, s->x2, s->f2, modv(mod, l, 5), B, N, 1, D);
}

/* dout: gradient of the block's output; dx: the input's, accumulated. */
static void block_bwd(int slot, int l, const float *dout, float *dx)
{
    acts *s = &A[slot];
    int Dh = D / NH;
    int64_t nd = M * D, hs = (int64_t)B * NH * N * Dh;
    avk_attn at = avk_attn_make(B, NH, N, N, Dh);
    int64_t pshape[5] = {3, B, NH, N, Dh};
    int64_t o2shape[4] = {B, N, NH, Dh};
    int qinv[5];
    avk_perm_inverse(qinv, QKV_PERM, 5);
    be->zero(dx2, nd * 4);
    be->zero(df2, nd * 4);
    be->zero(dg, nd * 16);
    be->zero(df1, nd * 16);
    be->zero(dm2, nd * 4);
    be->zero(dh2, nd * 4);
    be->zero(da, nd * 4);
    be->zero(do2, nd * 4);
    be->zero(dob, nd * 4);
    be->zero(dqkvp, nd * 12);
    be->zero(dqkv, nd * 12);
    be->zero(dm1, nd * 4);
    be->zero(dh1, nd * 4);
    be->gated_residual_bwd(dx2, df2, modv(dmod, l, 5), dout, s->f2, modv(mod, l, 5), B, N, 1, D);
    be->linear_bwd(dg, grad(l, W_2), grad(l, B_2), df2, s->g, param(l, W_2), M, 4 * D, D);
    be->gelu_bwd(df1, dg, s->f1, M * 4 * D);
    be->linear_bwd(dm2, grad(l, W_1), grad(l, B_1), df1, s->m2, param(l, W_1), M, D, 4 * D);
    be->modulate_bwd(dh2, modv(dmod, l, 3), modv(dmod, l, 4), dm2, s->h2, modv(mod, l, 4), B, N,
                     1, D);
    be->layernorm_bwd(dx2, NULL, NULL, dh2, s->x2, s->mean2, s->rstd2, NULL, M, D);
    be->gated_residual_bwd(dx, da, modv(dmod, l, 2), dx2, s->a, modv(mod, l, 2), B, N, 1, D);
    be->linear_bwd(do2, grad(l, W_O), grad(l, B_O), da, s->o2, param(l, W_O), M, D, D);
    be->permute_acc(dob, do2, 4, o2shape, HEAD_PERM);
    be->attention_bwd(dqkvp, dqkvp + hs, dqkvp + 2 * hs, dob, s->qkvp, s->qkvp + hs,
                      s->qkvp + 2 * hs, s->o, s->lse, &at);
    be->permute_acc(dqkv, dqkvp, 5, pshape, qinv);
    be->linear_bwd(dm1, grad(l, W_QKV), grad(l, B_QKV), dqkv, s->m1, param(l, W_QKV), M, D, 3 * D);
    be->modulate_bwd(dh1, modv(dmod, l, 0), modv(dmod, l, 1), dm1, s->h1, modv(mod, l, 1), B, N,
                     1, D);
    be->layernorm_bwd(dx, NULL, NULL, dh1, s->x, s->mean1, s->rstd1, NULL, M, D);
}

/* ---- activation offload ----------------------------------------------- */

/* The saved activations a block's backward reads (its input x stays on
 * the device, and qkv before the permutation is not needed again). */
enum { NFIELD = 17 };
static void fields(acts *s, float **p[NFIELD], int64_t n[NFIELD])
{
    int64_t nd = M * D, hs = (int64_t)B * NH * N * (D / NH), bhn = (int64_t)B * NH * N;
    float **ptr[NFIELD] = {&s->mean1, &s->rstd1, &s->h1, &s->m1, &s->qkvp, &s->o, &s->lse,
                           &s->o2, &s->a, &s->x2, &s->mean2, &s->rstd2, &s->h2, &s->m2,
                           &s->f1, &s->g, &s->f2};
    int64_t cnt[NFIELD] = {M, M, nd, nd, 3 * hs, hs, bhn, nd, nd, nd, M, M, nd, nd,
                           4 * nd, 4 * nd, nd};
    for (int i = 0; i < NFIELD; i++) {
        p[i] = ptr[i];
        n[i] = cnt[i];
    }
}

static double block_act_bytes(void)
{
    acts tmp;
    float **p[NFIELD];
    int64_t n[NFIELD];
    double b = 0;
    fields(&tmp, p, n);
    for (int i = 0; i < NFIELD; i++)
        b += (double)n[i] * 4;
    return b;
}

static acts *Ah;           /* pinned host copies of every block's activations */
static int offload_on;     /* blocks use two device sets (A[0], A[1]) in turn */

/* Copy every saved field of block l between its device set and its host
 * set; returns the token of the last copy (they complete in order). */
static int move_block(int l, int to_host)
{
    float **pd[NFIELD], **ph[NFIELD];
    int64_t n[NFIELD];
    int tok = -1;
    fields(&A[l % 2], pd, n);   /* the set block l computes in */
    fields(&Ah[l], ph, n);
    for (int i = 0; i < NFIELD; i++)
        tok = to_host ? avk_cuda_offload(*ph[i], *pd[i], (size_t)n[i] * 4)
                      : avk_cuda_prefetch(*pd[i], *ph[i], (size_t)n[i] * 4);
    return tok;
}

static void setup_offload(void)
{
    if (L < 3)
        return;
    Ah = avk_xmalloc(sizeof(acts) * (size_t)L);
    for (int l = 0; l < L; l++) {
        float **p[NFIELD];
        int64_t n[NFIELD];
        fields(&Ah[l], p, n);
        for (int i = 0; i < NFIELD; i++)
            if (!(*p[i] = avk_cuda_host_alloc((size_t)n[i] * 4)))
                avk_die_lib();
    }
}

/* One training step (forward, MSE against the target, backward, AdamW);
 * returns the loss (which waits for the queued work). With offload_on,
 * block l computes in device set l % 2; blocks 0..L-3 go to pinned host
 * memory while the next block runs its forward, and come back while the
 * block above runs its backward; the device holds two blocks' activations
 * instead of L. */
static double train_step(int t, const avk_adamw *opt)
{
    int64_t nd = M * D;
    int tok[2] = {-1, -1};
    be->zero(G, (size_t)nparam * 4);
    be->zero(dmod, (size_t)L * 6 * B * D * 4);
    for (int l = 0; l < L; l++) {
        if (offload_on && l >= 2)
            avk_cuda_copy_wait(tok[l % 2]);      /* block l-2 has left set l%2 */
        block_fwd(offload_on ? l % 2 : l, l, xs[l], xs[l + 1]);
        if (offload_on && l < L - 2)
            tok[l % 2] = move_block(l, 1);
    }
    be->zero(dx3, nd * 4);
    double loss = be->mse_loss(dx3, xs[L], target, nd, 1.0f);
    for (int l = L - 1; l >= 0; l--) {
        if (offload_on && l < L - 2)
            avk_cuda_copy_wait(tok[l % 2]);      /* block l is back in set l%2 */
        be->zero(dbuf, nd * 4);
        block_bwd(offload_on ? l % 2 : l, l, dx3, dbuf);
        be->copy(dx3, dbuf, nd * 4);
        if (offload_on && l >= 2)
            tok[l % 2] = move_block(l - 2, 0);   /* into the set block l just used */
    }
    be->adamw_step(opt, t, P, G, mom1, mom2, nparam);
    return loss;
}

static void setup(void)
{
    avk_rng r;
    avk_rng_seed(&r, 2026);
    int Dh = D / NH;
    int64_t nd = M * D, hs = (int64_t)B * NH * N * Dh;
    nparam = 0;
    for (int k = 0; k < NPARAM; k++)
        nparam += param_size(k);
    nparam *= L;
    P = dev_randn(nparam, 0.02f, &r);
    G = dev(nparam);
    mom1 = dev(nparam);
    mom2 = dev(nparam);
    be->zero(mom1, (size_t)nparam * 4);
    be->zero(mom2, (size_t)nparam * 4);
    mod = dev_randn((int64_t)L * 6 * B * D, 0.1f, &r);
    dmod = dev((int64_t)L * 6 * B * D);
    xs = avk_xmalloc(sizeof(float *) * (size_t)(L + 1));
    xs[0] = dev_randn(nd, 1.0f, &r);
    for (int l = 1; l <= L; l++)
        xs[l] = dev(nd);
    target = dev_randn(nd, 1.0f, &r);
    A = avk_xmalloc(sizeof(acts) * (size_t)L);
    for (int l = 0; l < L; l++) {
        acts *s = &A[l];
        s->mean1 = dev(M), s->rstd1 = dev(M), s->mean2 = dev(M), s->rstd2 = dev(M);
        s->h1 = dev(nd), s->m1 = dev(nd), s->qkv = dev(3 * nd), s->qkvp = dev(3 * hs);
        s->o = dev(hs), s->lse = dev((int64_t)B * NH * N), s->o2 = dev(nd), s->a = dev(nd);
        s->x2 = dev(nd), s->h2 = dev(nd), s->m2 = dev(nd), s->f1 = dev(4 * nd);
        s->g = dev(4 * nd), s->f2 = dev(nd);
    }
    dx3 = dev(nd), dx2 = dev(nd), df2 = dev(nd), dg = dev(4 * nd), df1 = dev(4 * nd);
    dm2 = dev(nd), dh2 = dev(nd), da = dev(nd), do2 = dev(nd), dob = dev(nd);
    dqkvp = dev(3 * nd), dqkv = dev(3 * nd), dm1 = dev(nd), dh1 = dev(nd), dbuf = dev(nd);
}

/* Dense bf16 tensor-core peak (TFLOP/s) by device name; AVK_PEAK_TFLOPS
 * overrides; 0 when unknown. */
static double bf16_peak(const char *name)
{
    const char *e = getenv("AVK_PEAK_TFLOPS");
    if (e && atof(e) > 0)
        return atof(e);
    static const struct { const char *key; double tflops; } table[] = {
        {"H200", 989.4}, {"H100 PCIe", 756.0}, {"H100 NVL", 835.0}, {"H100", 989.4},
        {"H800", 989.4}, {"GH200", 989.4}, {"A100", 312.0}, {"A800", 312.0},
        {"L40S", 362.0}, {"L40", 181.0}, {"A10G", 70.0}, {"A10", 125.0}, {"L4", 121.0},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strstr(name, table[i].key))
            return table[i].tflops;
    return 0;
}

/* Model FLOPs of one step: 3x the forward's matrix products. */
static double step_flop(void)
{
    double m = (double)M, d = D, n = N;
    double linear = 2.0 * m * (3 * d * d + d * d + 4 * d * d + 4 * d * d);
    double attn = 4.0 * B * n * n * d;
    return 3.0 * L * (linear + attn);
}

/* The mean over `steps` timed steps after two warm-up steps (the loss
 * read back each step waits for the GPU). offload: the bf16 step again
 * with activation offload to pinned host memory. */
static void bench_mode(const char *math, int offload, int steps, double peak)
{
    offload_on = offload;
    if (avk_cuda_set_math(math) < 0)
        avk_die_lib();
    avk_adamw opt = avk_adamw_defaults();
    opt.lr = 1e-4;
    double l0 = train_step(1, &opt);
    train_step(2, &opt);
    be->sync();
    double t0 = now(), loss = 0;
    for (int s = 0; s < steps; s++)
        loss = train_step(3 + s, &opt);
    be->sync();
    double ms = (now() - t0) * 1e3 / steps, tf = step_flop() / (ms * 1e-3) / 1e12;
    printf("avkit-cuda %s%s step_ms %.3f tflops %.2f mfu %s%.1f%s loss %.6f -> %.6f\n", math,
           offload ? "+offload" : "", ms, tf, peak > 0 ? "" : "(unknown peak) ",
           peak > 0 ? 100.0 * tf / peak : 0.0, peak > 0 ? "%" : "", l0, loss);
    offload_on = 0;
}

/* Average milliseconds of fn over reps calls (after one warm-up). */
#define TIME_OP(label, reps, call)                                                       \
    do {                                                                                 \
        call;                                                                            \
        be->sync();                                                                      \
        double t0_ = now();                                                              \
        for (int r_ = 0; r_ < (reps); r_++)                                              \
            call;                                                                        \
        be->sync();                                                                      \
        printf("avkit-cuda op %-22s ms %.4f\n", label, (now() - t0_) * 1e3 / (reps));    \
    } while (0)

static void bench_ops(void)
{
    acts *s = &A[0];
    int Dh = D / NH;
    int64_t nd = M * D, hs = (int64_t)B * NH * N * Dh;
    avk_attn at = avk_attn_make(B, NH, N, N, Dh);
    avk_cuda_set_math("fp32");
    TIME_OP("linear_fwd_qkv_fp32", 10, be->linear_fwd(s->qkv, s->m1, param(0, W_QKV), param(0, B_QKV), M, D, 3 * D));
    avk_cuda_set_math("bf16");
    TIME_OP("linear_fwd_qkv_bf16", 10, be->linear_fwd(s->qkv, s->m1, param(0, W_QKV), param(0, B_QKV), M, D, 3 * D));
    avk_cuda_set_math("fp32");
    TIME_OP("attention_fwd", 5, be->attention_fwd(s->o, s->lse, s->qkvp, s->qkvp + hs, s->qkvp + 2 * hs, &at));
    TIME_OP("attention_bwd", 3, be->attention_bwd(dqkvp, dqkvp + hs, dqkvp + 2 * hs, dob, s->qkvp, s->qkvp + hs, s->qkvp + 2 * hs, s->o, s->lse, &at));
    avk_cuda_set_math("bf16");   /* attention on the tensor cores */
    TIME_OP("attention_fwd_bf16", 5, be->attention_fwd(s->o, s->lse, s->qkvp, s->qkvp + hs, s->qkvp + 2 * hs, &at));
    TIME_OP("attention_bwd_bf16", 3, be->attention_bwd(dqkvp, dqkvp + hs, dqkvp + 2 * hs, dob, s->qkvp, s->qkvp + hs, s->qkvp + 2 * hs, s->o, s->lse, &at));
    avk_cuda_set_math("fp32");
    TIME_OP("layernorm_fwd", 20, be->layernorm_fwd(s->h1, s->mean1, s->rstd1, xs[0], NULL, NULL, M, D, 1e-6f));
    TIME_OP("layernorm_bwd", 20, be->layernorm_bwd(dh1, NULL, NULL, dx2, xs[0], s->mean1, s->rstd1, NULL, M, D));
    TIME_OP("modulate_fwd", 20, be->modulate_fwd(s->m1, s->h1, modv(mod, 0, 0), modv(mod, 0, 1), B, N, 1, D));
    TIME_OP("gelu_fwd", 20, be->gelu_fwd(s->g, s->f1, 4 * nd));
    TIME_OP("adamw_step", 10, be->adamw_step(&(avk_adamw){1e-4, 0.9, 0.999, 1e-8, 0.01}, 1, P, G, mom1, mom2, nparam));
}

int main(int argc, char **argv)
{
    B = argc > 1 ? atoi(argv[1]) : 4;
    N = argc > 2 ? atoi(argv[2]) : 1024;
    D = argc > 3 ? atoi(argv[3]) : 1152;
    NH = argc > 4 ? atoi(argv[4]) : 16;
    L = argc > 5 ? atoi(argv[5]) : 4;
    int steps = argc > 6 ? atoi(argv[6]) : 10;
    if (B < 1 || N < 1 || D < 1 || NH < 1 || D % NH || D / NH > 128 || L < 1 || steps < 1) {
        fprintf(stderr, "bench_cuda_block: bad shape (batch tokens width heads depth steps; "
                        "width a multiple of heads, head dim <= 128)\n");
        return 2;
    }
    M = (int64_t)B * N;
    be = avk_backend_find("cuda");
    if (!be) {
        printf("bench_cuda_block: %s: nothing to measure\n", avk_errmsg());
        return 0;
    }
    char name[256];
    int sms = 0, major = 0, minor = 0;
    avk_cuda_device_info(name, sizeof name, &sms, &major, &minor);
    double peak = bf16_peak(name);
    printf("# device %s (%d SMs, sm_%d%d), bf16 peak %.1f TFLOP/s%s\n", name, sms, major, minor,
           peak, peak > 0 ? "" : " (unknown: set AVK_PEAK_TFLOPS)");
    printf("# DiT blocks: batch %d, tokens %d, width %d, heads %d, depth %d; %.1f GFLOP per step\n",
           B, N, D, NH, L, step_flop() / 1e9);
    setup();
    bench_mode("fp32", 0, steps, peak);
    bench_mode("bf16", 0, steps, peak);
    if (L >= 3) {
        setup_offload();
        bench_mode("bf16", 1, steps, peak);
        printf("# offload: saved activations on the device %.1f MB -> %.1f MB (2 of %d blocks "
               "kept; %.1f MB per block through pinned host memory each way per step)\n",
               L * block_act_bytes() / 1e6, 2 * block_act_bytes() / 1e6, L,
               block_act_bytes() / 1e6);
    }
    bench_ops();
    return 0;
}
#endif
