/* The per-pixel work of shot analysis written for AVX-512 (F, BW, VL),
 * for 4:2:0 frames: in one pass of 16-bit lanes, 32 pixels at a time,
 * RGB, HSV (written over the previous frame's planes after reading them
 * for the differences), the sum of R + G + B and the thumbnail cell sums;
 * then the histograms of the sampled H, S and V.
 *
 * It gives the same bytes as the portable code in lib/curate/shotdetect.c
 * (yuv_row, hsv_pixel and the loops of analyze_planes), which stays the
 * reference; tests compare the two. The two divisions of the HSV
 * conversion become integer divisions by a per-pixel divisor of at most
 * 255:
 *   S = round(255 d / V)   = floor((255 d + floor(V / 2)) / V)
 *   H = round(30 num / d)  = floor((30 num + floor(d / 2)) / d)
 * (the float forms round half up, and a quotient of integers below 65536
 * by an integer below 256 is never within 1/512 of a half otherwise),
 * done with an FP16 reciprocal where the CPU has AVX512-FP16 and with a
 * table of reciprocals otherwise, each followed by one correction step.
 * The 16.16 fixed-point colour matrix is split into a high and a low 16
 * bits so that it too stays in 16-bit lanes; see chroma_terms. The
 * histograms use GFNI and BITALG where the CPU has them.
 */
#include "shotdetect_impl.h"
#include "util/simd.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <string.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

/* See shotdetect_impl.h. */
int shot_avx512_usable(void)
{
    if (!avk_cpu_avx512bw())
        return SHOT_PORTABLE;
    return __builtin_cpu_supports("avx512fp16") ? SHOT_AVX512_FP16 : SHOT_AVX512;
}

/* 65536 / m rounded down (65535 for m = 1, 0 for m = 0), the reciprocals
 * of div_by_byte. */
#define RC(m) (uint16_t)(65536 / (m))
#define RC4(m) RC(m), RC(m + 1), RC(m + 2), RC(m + 3)
#define RC16(m) RC4(m), RC4(m + 4), RC4(m + 8), RC4(m + 12)
#define RC64(m) RC16(m), RC16(m + 16), RC16(m + 32), RC16(m + 48)
static const uint16_t recip_table[256] __attribute__((aligned(64))) = {
    0, 65535, RC(2), RC(3), RC4(4), RC4(8), RC4(12), RC16(16), RC16(32), RC16(48),
    RC64(64), RC64(128), RC64(192)};

/* n / m rounded down, lane by lane, for n < 65536 and 1 <= m <= 255 (m = 0
 * gives 1; callers mask those lanes). q = n * floor(65536 / m) >> 16 is
 * the quotient or one less; the remainder says which. */
AVX512 static inline __m512i div_by_byte(__m512i n, __m512i m, const __m512i *t)
{
    __m512i r01 = _mm512_permutex2var_epi16(t[0], m, t[1]);
    __m512i r23 = _mm512_permutex2var_epi16(t[2], m, t[3]);
    __m512i r45 = _mm512_permutex2var_epi16(t[4], m, t[5]);
    __m512i r67 = _mm512_permutex2var_epi16(t[6], m, t[7]);
    __mmask32 b6 = _mm512_test_epi16_mask(m, _mm512_set1_epi16(64));
    __mmask32 b7 = _mm512_test_epi16_mask(m, _mm512_set1_epi16(128));
    __m512i lo = _mm512_mask_mov_epi16(r01, b6, r23);
    __m512i hi = _mm512_mask_mov_epi16(r45, b6, r67);
    __m512i recip = _mm512_mask_mov_epi16(lo, b7, hi);
    __m512i q = _mm512_mulhi_epu16(n, recip);
    __m512i rem = _mm512_sub_epi16(n, _mm512_mullo_epi16(q, m));
    __mmask32 fix = _mm512_cmpge_epu16_mask(rem, m);
    return _mm512_mask_add_epi16(q, fix, q, _mm512_set1_epi16(1));
}

/* The chroma terms of one row for every pixel of it: for R, G and B the
 * 32-bit term (coefficients times U-128, V-128, plus 1/2 for rounding)
 * as a signed high and an unsigned low 16 bits, each chroma sample
 * written for its two pixels. t holds 6 arrays of stride entries:
 * hi R, lo R, hi G, lo G, hi B, lo B. */
AVX512 static void chroma_terms(const uint8_t *U, const uint8_t *V, int cw, uint16_t *t,
                                int stride)
{
    const __m512i c128 = _mm512_set1_epi32(128), half = _mm512_set1_epi32(32768);
    const __m512i low16 = _mm512_set1_epi32(0xffff);
    for (int c = 0; c < cw; c += 16) {
        __mmask16 m = cw - c >= 16 ? 0xffff : (__mmask16)((1u << (cw - c)) - 1);
        __m512i u = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, U + c)), c128);
        __m512i v = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, V + c)), c128);
        __m512i term[3];
        term[0] = _mm512_add_epi32(_mm512_mullo_epi32(v, _mm512_set1_epi32(104597)), half);
        term[1] = _mm512_add_epi32(
            _mm512_add_epi32(_mm512_mullo_epi32(u, _mm512_set1_epi32(-25675)),
                             _mm512_mullo_epi32(v, _mm512_set1_epi32(-53279))),
            half);
        term[2] = _mm512_add_epi32(_mm512_mullo_epi32(u, _mm512_set1_epi32(132201)), half);
        for (int k = 0; k < 3; k++) {
            /* A 32-bit lane x with x in its low half and again in its high
             * half is the 16-bit pair (x, x): the sample for both pixels. */
            __m512i hi = _mm512_srai_epi32(term[k], 16);
            __m512i lo = _mm512_and_si512(term[k], low16);
            hi = _mm512_or_si512(_mm512_and_si512(hi, low16), _mm512_slli_epi32(hi, 16));
            lo = _mm512_or_si512(lo, _mm512_slli_epi32(lo, 16));
            _mm512_storeu_si512(t + (size_t)(2 * k) * stride + 2 * c, hi);
            _mm512_storeu_si512(t + (size_t)(2 * k + 1) * stride + 2 * c, lo);
        }
    }
}

/* One colour channel: (Y' 76309 + term) >> 16 clamped to 0..255, as
 * Y' + high(Y' 10773) + high(term) + the carry of the two low halves. */
AVX512 static inline __m512i channel(__m512i base, __m512i plo, const uint16_t *hi,
                                     const uint16_t *lo)
{
    __m512i tlo = _mm512_loadu_si512(lo);
    __m512i s = _mm512_add_epi16(plo, tlo);
    __mmask32 carry = _mm512_cmplt_epu16_mask(s, plo);
    __m512i v = _mm512_add_epi16(base, _mm512_loadu_si512(hi));
    v = _mm512_mask_add_epi16(v, carry, v, _mm512_set1_epi16(1));
    return _mm512_min_epi16(_mm512_max_epi16(v, _mm512_setzero_si512()),
                            _mm512_set1_epi16(255));
}

/* n / m rounded down with AVX512-FP16: the half-precision quotient
 * (within 0.4 of n / m for n < 65504, m <= 255) rounded to the nearest
 * integer is the quotient or one more; the product says which. Checked
 * against integer division for every n < 65504 and m <= 255 with a
 * quotient of at most 256 (this stage's are at most 255). */
#define FP16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512fp16")))
FP16 static inline __m512i div_by_byte_fp16(__m512i n, __m512i m)
{
    __m512h q = _mm512_mul_ph(_mm512_cvtepu16_ph(n), _mm512_rcp_ph(_mm512_cvtepu16_ph(m)));
    __m512i qi = _mm512_cvtph_epu16(q);
    __mmask32 over = _mm512_cmpgt_epu16_mask(_mm512_mullo_epi16(qi, m), n);
    return _mm512_mask_sub_epi16(qi, over, qi, _mm512_set1_epi16(1));
}

#define STAGE_NAME yuv_stage_table
#define STAGE_TARGET AVX512
#define STAGE_DIV(n, m) div_by_byte(n, m, rt)
#define STAGE_SETUP                                     \
    __m512i rt[8];                                      \
    for (int i = 0; i < 8; i++)                         \
        rt[i] = _mm512_load_si512(recip_table + 32 * i);
#include "shotdetect_stage.h"
#undef STAGE_NAME
#undef STAGE_TARGET
#undef STAGE_DIV
#undef STAGE_SETUP

#define STAGE_NAME yuv_stage_fp16
#define STAGE_TARGET FP16
#define STAGE_DIV(n, m) div_by_byte_fp16(n, m)
#define STAGE_SETUP
#include "shotdetect_stage.h"
#undef STAGE_NAME
#undef STAGE_TARGET
#undef STAGE_DIV
#undef STAGE_SETUP

/* See shotdetect_impl.h. */
void shot_yuv_stage_avx512(avk_shot_analyzer *a, const uint8_t *yuv, shot_pixel_sums *sums)
{
    if (a->simd == SHOT_AVX512_FP16)
        yuv_stage_fp16(a, yuv, sums);
    else
        yuv_stage_table(a, yuv, sums);
}

/* Count, lane by lane, the bins of the even columns of a plane's even
 * rows: bin = (byte * mul) >> 16 (mul 5826 gives byte * 16 / 180 for
 * hue, 2048 gives byte / 32), in 16-bit counters that are added up
 * before they can pass 32767. */
AVX512 static inline __attribute__((always_inline)) void count_bins(const uint8_t *plane, int w, int h, int mul, int nbins,
                              uint32_t *out)
{
    __m512i acc[16];
    for (int b = 0; b < nbins; b++)
        acc[b] = _mm512_setzero_si512();
    const __m512i low8 = _mm512_set1_epi16(0xff), m = _mm512_set1_epi16((short)mul);
    const __m512i one = _mm512_set1_epi16(1);
    int pending = 0;
    for (int y = 0; y < h; y += 2) {
        const uint8_t *row = plane + (size_t)y * w;
        for (int x = 0; x < w; x += 64) {
            int left = (w - x + 1) / 2;             /* even columns left */
            __mmask32 lanes = left >= 32 ? 0xffffffffu : (__mmask32)((1u << left) - 1);
            __mmask64 bytes = w - x >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (w - x)) - 1;
            __m512i v = _mm512_and_si512(_mm512_maskz_loadu_epi8(bytes, row + x), low8);
            __m512i bin = _mm512_mulhi_epu16(v, m);
            for (int b = 0; b < nbins; b++) {
                __mmask32 hit = _mm512_mask_cmpeq_epi16_mask(lanes, bin, _mm512_set1_epi16((short)b));
                acc[b] = _mm512_mask_add_epi16(acc[b], hit, acc[b], one);
            }
            if (++pending == 32767 || (y + 2 >= h && x + 64 >= w)) {
                for (int b = 0; b < nbins; b++) {
                    out[b] += (uint32_t)_mm512_reduce_add_epi32(_mm512_madd_epi16(acc[b], one));
                    acc[b] = _mm512_setzero_si512();
                }
                pending = 0;
            }
        }
    }
}

#define GFNI __attribute__((target("avx512f,avx512bw,avx512vl,gfni,avx512bitalg")))

/* See shotdetect_impl.h. */
int shot_gfni_usable(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("gfni") && __builtin_cpu_supports("avx512bitalg");
}

/* Bin counters of gfni_histograms: per-byte counts of up to 8 bins, in
 * the byte of each 64-bit lane that bin's number says. */
typedef struct gfni_counter {
    __m512i acc;
    uint32_t *out;              /* 8 bins */
} gfni_counter;

/* Add the counts in c->acc to c->out: bytes to 16 bits, then the four
 * 128-bit lanes and the two halves together, leaving bin k in 16-bit
 * lane k. */
GFNI static void gfni_flush(gfni_counter *c)
{
    __m512i w = _mm512_add_epi16(_mm512_cvtepu8_epi16(_mm512_castsi512_si256(c->acc)),
                                 _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(c->acc, 1)));
    __m256i h = _mm256_add_epi16(_mm512_castsi512_si256(w), _mm512_extracti64x4_epi64(w, 1));
    __m128i q = _mm_add_epi16(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    uint16_t bins[8];
    _mm_storeu_si128((__m128i *)bins, q);
    for (int k = 0; k < 8; k++)
        c->out[k] += bins[k];
    c->acc = _mm512_setzero_si512();
}

/* Count one vector of one-hot bytes (bit k set: the sample is in bin k;
 * 0: no sample): GF(2) affine with the unit vectors as data and the
 * one-hot bytes as matrix transposes each 8 x 8 block of bits, so byte k
 * of a 64-bit lane holds the lane's samples in bin k, which popcount
 * counts. */
GFNI static inline __attribute__((always_inline)) void gfni_count(gfni_counter *c,
                                                                  __m512i onehot)
{
    const __m512i units = _mm512_set1_epi64((long long)0x8040201008040201ULL);
    __m512i t = _mm512_gf2p8affine_epi64_epi8(units, onehot, 0);
    c->acc = _mm512_add_epi8(c->acc, _mm512_popcnt_epi8(t));
}

/* shot_histograms_avx512 with GFNI: per 64 bytes of a row (32 samples,
 * the even columns), one-hot bytes from a shuffle, then gfni_count. */
GFNI static void gfni_histograms(const uint8_t *H, const uint8_t *S, const uint8_t *V, int w,
                                 int h, uint32_t *hh, uint32_t *sh, uint32_t *vh)
{
    /* Within each 128-bit lane: bit b for bin b < 8 (lo), b - 8 (hi). */
    const __m512i lut_lo = _mm512_broadcast_i32x4(_mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128,
                                                                0, 0, 0, 0, 0, 0, 0, 0));
    const __m512i lut_hi = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4,
                                                                8, 16, 32, 64, -128));
    const __m512i low8 = _mm512_set1_epi16(0xff), seven = _mm512_set1_epi8(7);
    const __m512i hue_mul = _mm512_set1_epi16(5826);
    gfni_counter c[4] = {{.out = hh}, {.out = hh + 8}, {.out = sh}, {.out = vh}};
    for (int i = 0; i < 4; i++)
        c[i].acc = _mm512_setzero_si512();
    int pending = 0;
    for (int y = 0; y < h; y += 2) {
        size_t o = (size_t)y * w;
        for (int x = 0; x < w; x += 64) {
            __mmask64 bytes = w - x >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (w - x)) - 1;
            __mmask64 even = bytes & 0x5555555555555555ULL;
            __m512i hv = _mm512_maskz_loadu_epi8(bytes, H + o + x);
            __m512i sv = _mm512_maskz_loadu_epi8(bytes, S + o + x);
            __m512i vv = _mm512_maskz_loadu_epi8(bytes, V + o + x);
            __m512i hb = _mm512_mulhi_epu16(_mm512_and_si512(hv, low8), hue_mul);
            __m512i sb = _mm512_and_si512(_mm512_srli_epi16(sv, 5), seven);
            __m512i vb = _mm512_and_si512(_mm512_srli_epi16(vv, 5), seven);
            gfni_count(&c[0], _mm512_maskz_shuffle_epi8(even, lut_lo, hb));
            gfni_count(&c[1], _mm512_maskz_shuffle_epi8(even, lut_hi, hb));
            gfni_count(&c[2], _mm512_maskz_shuffle_epi8(even, lut_lo, sb));
            gfni_count(&c[3], _mm512_maskz_shuffle_epi8(even, lut_lo, vb));
            /* A byte gains at most 4 a step (4 samples a 64-bit lane). */
            if (++pending == 63) {
                for (int i = 0; i < 4; i++)
                    gfni_flush(&c[i]);
                pending = 0;
            }
        }
    }
    for (int i = 0; i < 4; i++)
        gfni_flush(&c[i]);
}

/* See shotdetect_impl.h. */
AVX512 void shot_histograms_avx512(const uint8_t *H, const uint8_t *S, const uint8_t *V, int w,
                                   int h, int gfni, uint32_t *hh, uint32_t *sh, uint32_t *vh)
{
    if (gfni) {
        gfni_histograms(H, S, V, w, h, hh, sh, vh);
        return;
    }
    count_bins(H, w, h, 5826, HBINS, hh);
    count_bins(S, w, h, 65536 / 32, SBINS, sh);
    count_bins(V, w, h, 65536 / 32, VBINS, vh);
}

#else

int shot_avx512_usable(void) { return 0; }

void shot_histograms_avx512(const uint8_t *H, const uint8_t *S, const uint8_t *V, int w, int h,
                            int gfni, uint32_t *hh, uint32_t *sh, uint32_t *vh)
{
    (void)H, (void)S, (void)V, (void)w, (void)h, (void)gfni, (void)hh, (void)sh, (void)vh;
}

int shot_gfni_usable(void) { return 0; }



void shot_yuv_stage_avx512(avk_shot_analyzer *a, const uint8_t *yuv, shot_pixel_sums *sums)
{
    (void)a, (void)yuv, (void)sums;
}

#endif
