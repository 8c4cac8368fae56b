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
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.7f ? 88.7f : x;
    /* round to nearest via the 1.5*2^23 trick (vectorizes on any ISA) */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
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
    /* a NaN input stays NaN through p; n is kept a valid integer so the
     * conversion and the shift are defined */
    int32_t ni = n == n ? (int32_t)n : 0;
    uint32_t bits = (uint32_t)(ni + 127) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return p * s;
}

/* Threads that the next parallel region would use. */
int avk_ops_threads(void);

#endif
