/* CRC-32 of the tensor stream: the same function as zlib's crc32()
 * (reflected polynomial 0xEDB88320), computed by folding 16 bytes at a
 * time with carry-less multiplication (PCLMULQDQ) on x86-64 CPUs that
 * have it, else by zlib. The folding constants are x^k mod P(x) for the
 * fold distances, as in Intel's white paper "Fast CRC Computation for
 * Generic Polynomials Using PCLMULQDQ Instruction" (2009). */
#include "avkit/io/avt.h"

#include <zlib.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define FOLD_ATTR __attribute__((target("pclmul,sse4.1")))

/* Fold x (128 bits) forward over 128 bits with constants k and add next. */
FOLD_ATTR static inline __m128i fold(__m128i x, __m128i k, __m128i next)
{
    __m128i lo = _mm_clmulepi64_si128(x, k, 0x00);
    __m128i hi = _mm_clmulepi64_si128(x, k, 0x11);
    return _mm_xor_si128(_mm_xor_si128(lo, hi), next);
}

/* CRC state (not inverted) over len bytes, len >= 64 and a multiple of 16. */
FOLD_ATTR static uint32_t crc_fold(uint32_t state, const unsigned char *p, size_t len)
{
    const __m128i k12 = _mm_set_epi64x(0x1c6e41596, 0x154442bd4);
    const __m128i k34 = _mm_set_epi64x(0x0ccaa009e, 0x1751997d0);
    const __m128i k5 = _mm_set_epi64x(0, 0x163cd6124);
    const __m128i poly_u = _mm_set_epi64x(0x1f7011641, 0x1db710641);
    const __m128i mask32 = _mm_set_epi32(0, 0, 0, -1);
    __m128i x0 = _mm_loadu_si128((const __m128i *)p);
    __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 48));
    x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int)state));
    p += 64;
    len -= 64;
    for (; len >= 64; p += 64, len -= 64) {
        x0 = fold(x0, k12, _mm_loadu_si128((const __m128i *)p));
        x1 = fold(x1, k12, _mm_loadu_si128((const __m128i *)(p + 16)));
        x2 = fold(x2, k12, _mm_loadu_si128((const __m128i *)(p + 32)));
        x3 = fold(x3, k12, _mm_loadu_si128((const __m128i *)(p + 48)));
    }
    x0 = fold(x0, k34, x1);
    x0 = fold(x0, k34, x2);
    x0 = fold(x0, k34, x3);
    for (; len >= 16; p += 16, len -= 16)
        x0 = fold(x0, k34, _mm_loadu_si128((const __m128i *)p));
    /* 128 -> 64 bits (appending 32 zero bits), then -> 32 */
    __m128i t = _mm_clmulepi64_si128(x0, k34, 0x10);
    x0 = _mm_xor_si128(_mm_srli_si128(x0, 8), t);
    t = _mm_clmulepi64_si128(_mm_and_si128(x0, mask32), k5, 0x00);
    x0 = _mm_xor_si128(_mm_srli_si128(x0, 4), t);
    /* Barrett reduction 64 -> 32 bits */
    t = _mm_clmulepi64_si128(_mm_and_si128(x0, mask32), poly_u, 0x10);
    t = _mm_clmulepi64_si128(_mm_and_si128(t, mask32), poly_u, 0x00);
    x0 = _mm_xor_si128(x0, t);
    return (uint32_t)_mm_extract_epi32(x0, 1);
}

static int have_clmul(void)
{
    static int cached = -1;
    if (cached < 0)
        cached = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
    return cached;
}
#endif

/* zlib-compatible CRC-32: avt_crc32(0, NULL, 0) is 0; chains like crc32(). */
uint32_t avt_crc32(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (len >= 64 && have_clmul()) {
        size_t n = len & ~(size_t)15;
        crc = ~crc_fold(~crc, p, n);
        p += n;
        len -= n;
    }
#endif
    return len ? (uint32_t)crc32_z(crc, p, len) : crc;
}
