/* Private helpers shared by the CPU operator files (lib/nn/ops_*.c): a
 * vectorizable exp and the threading threshold, over the CPU dispatch of
 * util/simd.h. Not part of the public interface (see
 * include/avkit/nn/ops.h). */
#ifndef AVKIT_OPS_UTIL_H
#define AVKIT_OPS_UTIL_H

#include <stdint.h>
#include <string.h>

#include "util/simd.h"

/* Work below this many elements is not worth waking threads for. */
#define AVK_PAR_MIN 32768

/* exp(x) in float, written so the compiler vectorizes it (no libm call):
 * x = n ln2 + r with |r| <= ln2/2, exp(r) by its Taylor series to r^7
 * (truncation error < 6e-9 relative), 2^n built in the exponent bits.
 * Inputs are clamped to [-87.3, 88.7] (so exp(-inf) gives ~1e-38, not 0:
 * callers that need exact zeros mask explicitly). Max error ~2 ulp. */
static inline float avk_expf(float x)
{
    /* the clamps on the bits (x < -87.3 and x > 88.7 as unsigned compares
     * of the sign-magnitude pattern; NaN passes unchanged): the same
     * values as float compares, but GCC if-converts float selects only
     * with AVX-512 masks, so float clamps kept every loop calling this
     * scalar in the AVX2 clone; integer masks vectorize at every level */
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint32_t lo = 0u - (uint32_t)((u > 0xc2ae999au) & (u <= 0xff800000u));   /* [-inf, -87.3) */
    uint32_t hi = 0u - (uint32_t)((u > 0x42b16666u) & (u <= 0x7f800000u));   /* (88.7, inf] */
    u = (u & ~(lo | hi)) | (0xc2ae999au & lo) | (0x42b16666u & hi);
    memcpy(&x, &u, sizeof u);
    /* round to nearest via the 1.5*2^23 trick (vectorizes on any ISA) */
    float big = x * 1.44269504088896341f + 12582912.0f;
    float n = big - 12582912.0f;
    float r = x - n * 0.693145751953125f;       /* ln2 high part (exact) */
    r = r - n * 1.42860682030941723e-6f;        /* ln2 low part */
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* n as an integer without a float conversion: big = 1.5*2^23 + n has
     * ulp 1, so its bits are those of 1.5*2^23 plus n (a NaN gives some
     * integer, and p keeps the result NaN) */
    uint32_t nb;
    memcpy(&nb, &big, sizeof nb);
    uint32_t bits = (nb - 0x4b400000u + 127u) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return p * s;
}

/* avk_bias_gelu_fwd and avk_gelu_bwd_inplace over M rows of N values ld
 * floats apart (the MLP's padded hidden rows, ops_mlp.c): one parallel
 * region over the rows, the arithmetic of the contiguous operators. */
void avk_bias_gelu_fwd_ld(float *x, float *y, int64_t ld, const float *b, int64_t M, int64_t N);
void avk_gelu_bwd_inplace_ld(float *d, const float *x, int64_t ld, int64_t M, int64_t N);

/* Column sums of dy [M, N], rows ld floats apart, added into db [N]
 * (ops_linear.c): the bias gradient of a linear layer. */
void avk_add_column_sums(float *db, const float *dy, int64_t M, int64_t N, int64_t ld);

/* Zero the non-NULL attention gradients dq, dk, dv of a
 * (ops_attention.c): where a write_grads backward accumulates. */
struct avk_attn;
void avk_attention_zero_grads(float *dq, float *dk, float *dv, const struct avk_attn *a);

/* Threads that the next parallel region would use. */
int avk_ops_threads(void);

#endif
