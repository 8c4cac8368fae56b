/* The per-pixel stage of shot analysis written for AVX-512 (F, BW, VL):
 * a 4:2:0 frame to R, G, B and H, S, V planes, the sum of R + G + B and
 * the sums of absolute H, S, V differences to the previous frame, in one
 * pass of 16-bit lanes, 32 pixels at a time.
 *
 * It gives the same bytes as the portable code in lib/shotdetect.c
 * (yuv_row and hsv_pixel), which stays the reference; tests compare the
 * two on every Y, U, V triple. The two divisions of the HSV conversion
 * become integer divisions by a per-pixel divisor of at most 255, done
 * with a table of reciprocals and one correction step:
 *   S = round(255 d / V)   = floor((255 d + floor(V / 2)) / V)
 *   H = round(30 num / d)  = floor((30 num + floor(d / 2)) / d)
 * (the float forms round half up, and a quotient of integers below 65536
 * by an integer below 256 is never within 1/512 of a half otherwise).
 * The 16.16 fixed-point colour matrix is split into a high and a low 16
 * bits so that it too stays in 16-bit lanes; see chroma_terms.
 */
#include "shotdetect_impl.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

/* Whether this CPU runs the AVX-512 stage. */
int shot_avx512_usable(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
}

/* 65536 / m rounded down (65535 for m = 1, 0 for m = 0), the reciprocals
 * of div_by_byte. */
static uint16_t recip_table[256] __attribute__((aligned(64)));

static void init_recip_table(void)
{
    recip_table[0] = 0;
    recip_table[1] = 65535;
    for (int m = 2; m < 256; m++)
        recip_table[m] = (uint16_t)(65536 / m);
}

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

/* See shotdetect_impl.h. */
AVX512 void shot_yuv_stage_avx512(avk_shot_analyzer *a, const uint8_t *yuv,
                                  shot_pixel_sums *sums)
{
    static int table_ready;
    if (!table_ready) {
        init_recip_table();
        table_ready = 1;
    }
    __m512i rt[8];
    for (int i = 0; i < 8; i++)
        rt[i] = _mm512_load_si512(recip_table + 32 * i);
    const int w = a->w, h = a->h, cw = (w + 1) / 2, ch = (h + 1) / 2;
    const size_t npix = a->npix;
    const int stride = a->term_stride;
    const uint8_t *U = yuv + npix, *Vc = U + (size_t)cw * ch;
    uint8_t *R = a->rgbp, *G = R + npix, *B = G + npix;
    uint8_t *H = a->hsv[a->cur], *S = H + npix, *V = S + npix;
    const uint8_t *P = a->n > 0 ? a->hsv[!a->cur] : NULL;
    const __m512i one = _mm512_set1_epi16(1), c16 = _mm512_set1_epi16(16);
    const __m512i k10773 = _mm512_set1_epi16(10773), c180 = _mm512_set1_epi16(180);
    const __m512i c30 = _mm512_set1_epi16(30), c255 = _mm512_set1_epi16(255);
    __m256i sad_h = _mm256_setzero_si256(), sad_s = sad_h, sad_v = sad_h;
    uint64_t rgb_total = 0;
    for (int y = 0; y < h; y++) {
        if ((y & 1) == 0)
            chroma_terms(U + (size_t)(y / 2) * cw, Vc + (size_t)(y / 2) * cw, cw, a->terms,
                         stride);
        const uint16_t *t = a->terms;
        size_t o = (size_t)y * w;
        __m512i rgb_acc = _mm512_setzero_si512();
        for (int x = 0; x < w; x += 32) {
            __mmask32 m = w - x >= 32 ? 0xffffffffu : (__mmask32)((1u << (w - x)) - 1);
            __m512i yp = _mm512_sub_epi16(
                _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, yuv + o + x)), c16);
            __m512i plo = _mm512_mullo_epi16(yp, k10773);
            __m512i base = _mm512_add_epi16(yp, _mm512_mulhi_epi16(yp, k10773));
            __m512i r = channel(base, plo, t + x, t + stride + x);
            __m512i g = channel(base, plo, t + 2 * stride + x, t + 3 * stride + x);
            __m512i b = channel(base, plo, t + 4 * stride + x, t + 5 * stride + x);

            __m512i mx = _mm512_max_epi16(r, _mm512_max_epi16(g, b));
            __m512i mn = _mm512_min_epi16(r, _mm512_min_epi16(g, b));
            __m512i d = _mm512_sub_epi16(mx, mn);
            __mmask32 isr = _mm512_cmpeq_epi16_mask(mx, r);
            __mmask32 isg = (__mmask32)(~isr & _mm512_cmpeq_epi16_mask(mx, g));
            __m512i d2 = _mm512_add_epi16(d, d), d4 = _mm512_add_epi16(d2, d2);
            __m512i num = _mm512_add_epi16(_mm512_sub_epi16(r, g), d4);          /* blue max */
            num = _mm512_mask_mov_epi16(num, isg,
                                        _mm512_add_epi16(_mm512_sub_epi16(b, r), d2));
            num = _mm512_mask_mov_epi16(num, isr,
                                        _mm512_add_epi16(_mm512_sub_epi16(g, b),
                                                         _mm512_add_epi16(d4, d2)));
            __m512i hn = _mm512_add_epi16(_mm512_mullo_epi16(num, c30), _mm512_srli_epi16(d, 1));
            __m512i hv = div_by_byte(hn, d, rt);
            hv = _mm512_mask_sub_epi16(hv, _mm512_cmpge_epu16_mask(hv, c180), hv, c180);
            __mmask32 nonzero = _mm512_test_epi16_mask(d, d);
            hv = _mm512_maskz_mov_epi16(nonzero, hv);
            __m512i sn = _mm512_add_epi16(_mm512_mullo_epi16(d, c255), _mm512_srli_epi16(mx, 1));
            __m512i sv = _mm512_maskz_mov_epi16(_mm512_test_epi16_mask(mx, mx),
                                                div_by_byte(sn, mx, rt));

            __m256i r8 = _mm512_cvtepi16_epi8(r), g8 = _mm512_cvtepi16_epi8(g);
            __m256i b8 = _mm512_cvtepi16_epi8(b), h8 = _mm512_cvtepi16_epi8(hv);
            __m256i s8 = _mm512_cvtepi16_epi8(sv), v8 = _mm512_cvtepi16_epi8(mx);
            _mm256_mask_storeu_epi8(R + o + x, m, r8);
            _mm256_mask_storeu_epi8(G + o + x, m, g8);
            _mm256_mask_storeu_epi8(B + o + x, m, b8);
            _mm256_mask_storeu_epi8(H + o + x, m, h8);
            _mm256_mask_storeu_epi8(S + o + x, m, s8);
            _mm256_mask_storeu_epi8(V + o + x, m, v8);
            rgb_acc = _mm512_add_epi32(
                rgb_acc, _mm512_madd_epi16(_mm512_maskz_add_epi16(m, _mm512_add_epi16(r, g), b),
                                           one));
            if (P) {
                /* Lanes past the row's end count as zero on both sides. */
                sad_h = _mm256_add_epi64(sad_h, _mm256_sad_epu8(_mm256_maskz_mov_epi8(m, h8),
                                         _mm256_maskz_loadu_epi8(m, P + o + x)));
                sad_s = _mm256_add_epi64(sad_s, _mm256_sad_epu8(_mm256_maskz_mov_epi8(m, s8),
                                         _mm256_maskz_loadu_epi8(m, P + npix + o + x)));
                sad_v = _mm256_add_epi64(sad_v, _mm256_sad_epu8(_mm256_maskz_mov_epi8(m, v8),
                                         _mm256_maskz_loadu_epi8(m, P + 2 * npix + o + x)));
            }
        }
        rgb_total += (uint64_t)(uint32_t)_mm512_reduce_add_epi32(rgb_acc);
    }
    uint64_t lanes[4];
    sums->rgb = rgb_total;
    _mm256_storeu_si256((__m256i *)lanes, sad_h);
    sums->dh = lanes[0] + lanes[1] + lanes[2] + lanes[3];
    _mm256_storeu_si256((__m256i *)lanes, sad_s);
    sums->ds = lanes[0] + lanes[1] + lanes[2] + lanes[3];
    _mm256_storeu_si256((__m256i *)lanes, sad_v);
    sums->dv = lanes[0] + lanes[1] + lanes[2] + lanes[3];
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

/* See shotdetect_impl.h. */
AVX512 void shot_histograms_avx512(const uint8_t *H, const uint8_t *S, const uint8_t *V, int w,
                                   int h, uint32_t *hh, uint32_t *sh, uint32_t *vh)
{
    count_bins(H, w, h, 5826, HBINS, hh);
    count_bins(S, w, h, 65536 / 32, SBINS, sh);
    count_bins(V, w, h, 65536 / 32, VBINS, vh);
}

/* See shotdetect_impl.h. */
AVX512 void shot_even_columns_avx512(const uint8_t *row, int w, uint16_t *sums)
{
    const __m512i low8 = _mm512_set1_epi16(0xff);
    for (int x = 0; x < w; x += 64) {
        int left = (w - x + 1) / 2;
        __mmask32 lanes = left >= 32 ? 0xffffffffu : (__mmask32)((1u << left) - 1);
        __mmask64 bytes = w - x >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (w - x)) - 1;
        __m512i v = _mm512_and_si512(_mm512_maskz_loadu_epi8(bytes, row + x), low8);
        __m512i s = _mm512_maskz_loadu_epi16(lanes, sums + x / 2);
        _mm512_mask_storeu_epi16(sums + x / 2, lanes, _mm512_add_epi16(s, v));
    }
}

#else

int shot_avx512_usable(void) { return 0; }

void shot_histograms_avx512(const uint8_t *H, const uint8_t *S, const uint8_t *V, int w, int h,
                            uint32_t *hh, uint32_t *sh, uint32_t *vh)
{
    (void)H, (void)S, (void)V, (void)w, (void)h, (void)hh, (void)sh, (void)vh;
}

void shot_even_columns_avx512(const uint8_t *row, int w, uint16_t *sums)
{
    (void)row, (void)w, (void)sums;
}

void shot_yuv_stage_avx512(avk_shot_analyzer *a, const uint8_t *yuv, shot_pixel_sums *sums)
{
    (void)a, (void)yuv, (void)sums;
}

#endif
