/* Private helpers shared by the CPU operator files (lib/ops_*.c) and the
 * other per-pixel loops of lib/: run-time ISA dispatch, a vectorizable
 * exp, and the threading threshold. Not part
 * of the public interface (see include/avkit/ops.h). */
#ifndef AVKIT_OPS_UTIL_H
#define AVKIT_OPS_UTIL_H

#include <stdint.h>
#include <string.h>

/* Function multiversioning: the marked function is compiled for the
 * x86-64-v4 level (AVX-512 F/BW/CD/DQ/VL), x86-64-v3 (AVX2, FMA) and
 * baseline x86-64; the loader picks the best one the CPU supports (ifunc,
 * by feature bits: "arch=haswell"-style clones would test the CPU model
 * and miss newer CPUs), so the library runs on any x86-64 and uses wide
 * vectors where they exist. Only plain
 * loop kernels are marked, never functions with OpenMP regions. Sanitizer
 * builds use the baseline only (clones add nothing to what they check). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define AVK_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define AVK_CLONES
#endif

/* Whether the CPU runs AVX-512 F, BW and VL code: the hand-written
 * kernels of lib/ (the shrinker's taps, shot analysis) test this once and
 * keep their portable code otherwise. */
static inline int avk_cpu_avx512bw(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

/* AVK_CLONES for a plain loop over pixels whose trip count is known only
 * at run time, which GCC's -O2 cost model leaves scalar: also built at -O3
 * so that it vectorizes (the per-frame loops of shot detection and of the
 * analysis scaler). */
#if defined(__GNUC__) && !defined(__clang__)
#define AVK_CLONES_O3 AVK_CLONES __attribute__((optimize("O3")))
#else
#define AVK_CLONES_O3 AVK_CLONES
#endif

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
    int32_t bits = ((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return p * s;
}

/* Threads that the next parallel region would use. */
int avk_ops_threads(void);

#endif
