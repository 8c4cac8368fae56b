/* avkit compute core, mixed precision: bf16 products with f32 accumulation
 * for the GEMMs and the attention of a transformer trained with
 * `--precision bf16`. Same conventions as ops.h (f32, row-major, forward
 * writes, backward accumulates, NULL gradients skipped, a reference beside
 * each fast function); only the products inside change precision.
 *
 * What "bf16" means here
 * ----------------------
 * Every tensor at the interface is f32 (activations, master weights,
 * gradients). Inside, the operands of each matrix product are rounded to
 * bfloat16 (round to nearest even; the upper 16 bits of the f32) and the
 * products are summed in f32. Everything else stays f32: bias, softmax
 * statistics (row max, log-sum-exp), the rescaling of the flash-attention
 * accumulator, Di = rowsum(dO * O), and every output and gradient. Each
 * reference (`_ref`) is the fp32 reference run on the bf16-rounded inputs,
 * so it isolates the rounding of the inputs from the kernel; the attention
 * kernels also round the probabilities P and the score gradients dS to
 * bf16 before their products, which the reference does not: expect ~1e-3
 * relative between the two, and ~1e-2 relative against plain fp32
 * (bf16 keeps 8 significant bits: a relative rounding of up to 2^-8).
 *
 * Which kernel runs
 * -----------------
 * Chosen once per process at the first bf16 call, by what the CPU reports
 * (oneDNN's effective ISA, from CPUID):
 *   AVK_BF16_ONEDNN   oneDNN's matmul primitive with bf16 sources and f32
 *                     destination: AMX tiles on CPUs with AMX-BF16,
 *                     AVX512-BF16 instructions on CPUs with only those.
 *                     Primitives are cached per shape, transposes, leading
 *                     dimensions and alpha/beta.
 *   AVK_BF16_FP32     the fallback where the CPU has no bf16 instructions
 *                     (oneDNN 2.6 refuses bf16 matmul below AVX-512): the
 *                     plain fp32 operators (avk_gemm, avk_attention_*),
 *                     announced once on stderr.
 *   AVK_BF16_EMULATE  bf16 numerics on any CPU: operands rounded to bf16
 *                     but kept in f32 storage, through the same primitive
 *                     cache with f32 matmul primitives. Never chosen
 *                     automatically (no faster than fp32); for tests, and
 *                     to check bf16 training behaviour on a CPU without
 *                     bf16.
 * The environment variable AVK_BF16=auto|onednn|emulate|fp32 overrides
 * the automatic choice (onednn where unsupported falls back to fp32 with
 * the message); avk_bf16_set_kernel does the same from code.
 */
#ifndef AVKIT_OPS_BF16_H
#define AVKIT_OPS_BF16_H

#include <stdint.h>
#include "avkit/nn/ops.h"

typedef enum avk_bf16_kernel {
    AVK_BF16_AUTO = 0,       /* choose by the CPU (the default) */
    AVK_BF16_ONEDNN,         /* oneDNN bf16 matmul primitive (AMX / AVX512-BF16) */
    AVK_BF16_EMULATE,        /* bf16-rounded operands, f32 matmul primitive */
    AVK_BF16_FP32,           /* plain fp32 operators (fallback) */
} avk_bf16_kernel;

/* The kernel the bf16 operators use, resolving AVK_BF16_AUTO (and the
 * AVK_BF16 variable) on first call; never returns AVK_BF16_AUTO. */
avk_bf16_kernel avk_bf16_get_kernel(void);
/* Choose the kernel from code (tests, benchmarks). AVK_BF16_AUTO chooses
 * again by the CPU. Returns 0, or -1 with the error set when
 * AVK_BF16_ONEDNN is asked for on a CPU or oneDNN without bf16 matmul
 * (the kernel is then unchanged). Not to be called while bf16 operators
 * run on other threads. */
int avk_bf16_set_kernel(avk_bf16_kernel k);
/* One line saying what runs, for benchmarks and logs, e.g.
 * "onednn bf16 matmul brg:avx512_core_amx (cpu isa avx512_core_amx)" or
 * "fp32 fallback dnnl_sgemm (cpu isa avx2: no bf16 matmul)". */
const char *avk_bf16_kernel_name(void);

/* Round to bf16 (nearest even; NaN stays NaN) and back to f32, n values;
 * y may alias x. What the references and tests use. */
void avk_round_bf16(float *y, const float *x, int64_t n);

/* ---- GEMM ------------------------------------------------------------ */

/* C[M,N] = alpha op(A) op(B) + beta C exactly as avk_gemm (row-major,
 * trans 'N' or 'T', leading dimensions lda, ldb, ldc), with A and B
 * rounded to bf16 and f32 accumulation. Threads inside (oneDNN's OpenMP)
 * unless called from a parallel region (then single-threaded; safe from
 * several threads at once). The bf16 copies of A and B go to per-thread
 * buffers kept for the thread's life (as large as the largest operands
 * seen). Under AVK_BF16_FP32 it is avk_gemm. */
void avk_gemm_bf16(char transa, char transb, int64_t M, int64_t N, int64_t K,
                   float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                   float beta, float *C, int64_t ldc);
/* avk_gemm_ref on bf16-rounded copies of A and B (double accumulation). */
void avk_gemm_bf16_ref(char transa, char transb, int64_t M, int64_t N, int64_t K,
                       float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                       float beta, float *C, int64_t ldc);

/* ---- linear ---------------------------------------------------------- */

/* As avk_linear_fwd / _bwd (y = x w^T + b; dx += dy w; dw += dy^T x;
 * db += column sums of dy), with x, w and dy rounded to bf16 for the
 * products. w is the f32 master weight; the bias and db stay f32. */
void avk_linear_bf16_fwd(float *y, const float *x, const float *w, const float *b,
                         int64_t M, int64_t K, int64_t N);
void avk_linear_bf16_bwd(float *dx, float *dw, float *db, const float *dy,
                         const float *x, const float *w, int64_t M, int64_t K, int64_t N);
void avk_linear_bf16_fwd_ref(float *y, const float *x, const float *w, const float *b,
                             int64_t M, int64_t K, int64_t N);
void avk_linear_bf16_bwd_ref(float *dx, float *dw, float *db, const float *dy,
                             const float *x, const float *w, int64_t M, int64_t K, int64_t N);

/* ---- attention ------------------------------------------------------- */

/* As avk_attention_fwd / _bwd (same avk_attn description, key-length
 * mask, layouts and saved lse), flash-style tiles whose products take bf16
 * operands: q, k, v (and dout) rounded once, the probability block P and
 * the score-gradient block dS rounded before their products; row max,
 * log-sum-exp, Di and every accumulator f32. Scratch: bf16 copies of
 * q, k, v (and dout) plus per-thread tiles, linear in the sequence length.
 * Under AVK_BF16_FP32 they are avk_attention_fwd / _bwd. */
void avk_attention_bf16_fwd(float *o, float *lse, const float *q, const float *k,
                            const float *v, const avk_attn *a);
void avk_attention_bf16_bwd(float *dq, float *dk, float *dv, const float *dout,
                            const float *q, const float *k, const float *v,
                            const float *o, const float *lse, const avk_attn *a);
/* avk_attention_fwd_ref / _bwd_ref on bf16-rounded q, k, v (and dout). */
void avk_attention_bf16_fwd_ref(float *o, float *lse, const float *q, const float *k,
                                const float *v, const avk_attn *a);
void avk_attention_bf16_bwd_ref(float *dq, float *dk, float *dv, const float *dout,
                                const float *q, const float *k, const float *v,
                                const float *o, const float *lse, const avk_attn *a);

#endif
