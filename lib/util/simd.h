/* CPU features and function multiversioning for the hand-vectorized
 * loops of every layer (shot analysis, the video shrinker, the operators).
 * Private to lib/; not part of the public interface. */
#ifndef AVKIT_UTIL_SIMD_H
#define AVKIT_UTIL_SIMD_H

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

#endif
