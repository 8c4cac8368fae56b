/* CRC-32 on large buffers: the folding code avkit carried in
 * lib/io/avt_crc.c until this measurement (PCLMULQDQ, 4 x 128 bits per
 * step; kept here as the baseline) against zlib's crc32() and
 * libdeflate's libdeflate_crc32(), which avt_crc32() now calls. All three
 * compute the same function (reflected polynomial 0xEDB88320); the bench
 * checks that they agree on every length and offset and on chained calls,
 * then prints GB/s and each one's ratio to the baseline, passes
 * interleaved on the same buffer in one run (> 1: faster than the former
 * code). Run by bench/crc.sh.
 *
 *   bench_crc [-s MIB] [-r REPEATS] */
#include "avkit/io/avt.h"
#include "avkit/util/common.h"

#include <libdeflate.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* ---- the former avkit code (the baseline) ---------------------------- */

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


static uint32_t crc_folding(uint32_t crc, const void *buf, size_t len)
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

/* ---- the contenders -------------------------------------------------- */

typedef uint32_t (*crc_fn)(uint32_t crc, const void *buf, size_t len);

static uint32_t crc_zlib(uint32_t crc, const void *buf, size_t len)
{
    /* zlib takes a uInt length: feed it in pieces */
    const unsigned char *p = buf;
    while (len) {
        size_t n = len > (1u << 30) ? (1u << 30) : len;
        crc = (uint32_t)crc32(crc, p, (uInt)n);
        p += n;
        len -= n;
    }
    return crc;
}

static uint32_t crc_deflate(uint32_t crc, const void *buf, size_t len)
{
    return libdeflate_crc32(crc, buf, len);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Seconds for one pass of f over the buffer. */
static double one_pass(crc_fn f, const unsigned char *buf, size_t len, uint32_t *out)
{
    double t0 = now();
    *out = f(0, buf, len);
    return now() - t0;
}

int main(int argc, char **argv)
{
    long mib = 256, repeats = 5;
    int c;
    avk_tool_init(argv[0]);
    while ((c = getopt(argc, argv, "s:r:")) != -1) {
        switch (c) {
        case 's': mib = avk_parse_long("-s", optarg, 1, 1 << 16); break;
        case 'r': repeats = avk_parse_long("-r", optarg, 1, 1000); break;
        default: avk_usage_error("usage: bench_crc [-s MIB] [-r REPEATS]");
        }
    }
    size_t len = (size_t)mib << 20;
    unsigned char *buf = avk_xmalloc(len + 64);
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < len + 64; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        buf[i] = (unsigned char)(s >> 24);
    }

    /* all agree: every length 0..300, odd offsets, chained calls */
    int agree = 1;
    for (size_t n = 0; n <= 300 && agree; n++)
        for (size_t off = 0; off < 3; off++) {
            uint32_t a = crc_folding(7, buf + off, n), z = crc_zlib(7, buf + off, n);
            uint32_t d = crc_deflate(7, buf + off, n), v = avt_crc32(7, buf + off, n);
            agree &= a == z && a == d && a == v;
        }
    size_t cut = len > 1000003 ? 1000003 : len / 2;
    uint32_t chained = avt_crc32(avt_crc32(0, buf, cut), buf + cut, len - cut);

    const struct { const char *name; crc_fn f; } impl[] = {
        {"former avkit folding", crc_folding},
        {"zlib crc32", crc_zlib},
        {"libdeflate_crc32", crc_deflate},
    };
    /* interleaved passes (the machine is shared: noise hits all three
     * alike), the best pass of each */
    double best[3] = {1e30, 1e30, 1e30}, gbs[3];
    uint32_t crc[3];
    for (long r = 0; r < repeats; r++)
        for (int i = 0; i < 3; i++) {
            double t = one_pass(impl[i].f, buf, len, &crc[i]);
            best[i] = t < best[i] ? t : best[i];
        }
    for (int i = 0; i < 3; i++)
        gbs[i] = (double)len / best[i] / 1e9;
    agree &= crc[0] == crc[1] && crc[0] == crc[2] && chained == crc[0];
    printf("crc32 over %ld MiB, best of %ld: %s\n", mib, repeats,
           agree ? "all three agree" : "THEY DIFFER");
    for (int i = 0; i < 3; i++)
        printf("  %-22s %6.2f GB/s  %5.2fx  crc %08x\n", impl[i].name, gbs[i],
               gbs[i] / gbs[0], crc[i]);
    free(buf);
    return agree ? 0 : 1;
}
