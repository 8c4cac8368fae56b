/* Bilinear shrinking of 8-bit planes, the AVK_SCALE_BILINEAR scaler for
 * analysis-size frames (av-shotcut): OpenCV's INTER_LINEAR rule, which
 * PySceneDetect's downscaling uses. Destination pixel (x, y) samples the
 * source at ((x + 1/2) sw/dw - 1/2, (y + 1/2) sh/dh - 1/2), clamped to the
 * plane, and blends the four source pixels around that point with weights
 * in 1/256ths. Four reads a destination pixel, whatever the ratio: at a
 * large ratio this aliases fine detail, which is why it is cheap and why
 * it is not the default scaler.
 *
 * Each destination row is the vertical blend of two source rows (exact,
 * in 16 bits), then the horizontal taps over that blend, rounded once.
 * Where the CPU has AVX-512 (BW), the horizontal taps take 16 destination
 * pixels at a time from a window of 64 blended columns with one permute;
 * the result is the same bytes. Where it has AVX2 only, one gather reads
 * each destination pixel's two taps, 8 pixels at a time (the same bytes
 * too).
 */
#include "video_shrink.h"
#include "util/simd.h"

#include <math.h>
#include <stdlib.h>

#define CHUNK 16                /* destination pixels per vector step */
#define WINDOW 64               /* blended columns one permute reaches */

struct avk_shrink_plan {
    int sw, sh, dw, dh;
    int32_t *x0, *x1, *wx;      /* per destination column */
    int32_t *y0, *y1, *wy;      /* per destination row */
    uint16_t *blend;            /* one blended row, padded for vector loads */
    /* The vector path: chunk c covers destination columns [c CHUNK,
     * (c+1) CHUNK) and reads blended columns [base[c], base[c] + WINDOW);
     * idx holds, per destination column, its two taps' offsets in that
     * window. nchunks is 0 where a chunk's taps do not fit a window. */
    int nchunks;
    int32_t *base;
    uint16_t *idx;              /* 2 CHUNK a chunk */
    int16_t *wpair;             /* per destination column: 256 - w, w */
    int avx2;                   /* the AVX2 taps (where the AVX-512 ones are not) */
};

/* For each of n destination positions along a side of length src: the
 * first source index (i0), the second (i1, the same at the edge) and the
 * weight of the second in 1/256ths. */
static void sample_positions(int n, int src, int32_t *i0, int32_t *i1, int32_t *w)
{
    double scale = (double)src / n;
    for (int d = 0; d < n; d++) {
        double s = (d + 0.5) * scale - 0.5;
        if (s < 0)
            s = 0;
        int i = (int)floor(s);
        int f = (int)lround((s - i) * 256.0);
        if (f == 256) {
            i++;
            f = 0;
        }
        if (i >= src - 1) {
            i = src - 1;
            f = 0;
        }
        i0[d] = i;
        i1[d] = i + 1 < src ? i + 1 : i;
        w[d] = f;
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

/* The horizontal taps of a row, CHUNK destination pixels a step: one
 * permute gathers each pixel's two blended columns into a 32-bit lane;
 * splitting each blended value t (< 65536) into 256 hi + lo lets two
 * 16-bit multiply-adds with the weight pair (256 - w, w) do the taps. */
AVX512 static void sample_row_avx512(const avk_shrink_plan *p, const uint16_t *blend,
                                     uint8_t *out)
{
    const __m512i low8 = _mm512_set1_epi16(0xff), half = _mm512_set1_epi32(32768);
    for (int c = 0; c < p->nchunks; c++) {
        int x = c * CHUNK, n = p->dw - x < CHUNK ? p->dw - x : CHUNK;
        const uint16_t *win = blend + p->base[c];
        __m512i lo = _mm512_loadu_si512(win), hi = _mm512_loadu_si512(win + 32);
        __m512i idx = _mm512_loadu_si512(p->idx + 2 * CHUNK * c);
        __m512i pair = _mm512_permutex2var_epi16(lo, idx, hi);
        __m512i wpair = _mm512_loadu_si512(p->wpair + 2 * CHUNK * c);
        __m512i th = _mm512_madd_epi16(_mm512_srli_epi16(pair, 8), wpair);
        __m512i tl = _mm512_madd_epi16(_mm512_and_si512(pair, low8), wpair);
        __m512i v = _mm512_add_epi32(_mm512_add_epi32(_mm512_slli_epi32(th, 8), tl), half);
        __mmask16 m = (__mmask16)((1u << n) - 1);
        _mm_mask_storeu_epi8(out + x, m, _mm512_cvtepi32_epi8(_mm512_srli_epi32(v, 16)));
    }
}

/* The horizontal taps with AVX2, 8 destination pixels a step: a gather
 * reads the 32 bits at each pixel's first tap, that is blended columns x0
 * and x0 + 1, which is the second tap wherever its weight is not 0 (at the
 * right edge the weight is 0 and the column read past it, in the padding,
 * counts for nothing). Then the multiply-adds of the AVX-512 path. */
__attribute__((target("avx2")))
static void sample_row_avx2(const avk_shrink_plan *p, const uint16_t *blend, uint8_t *out)
{
    const __m256i low8 = _mm256_set1_epi16(0xff), half = _mm256_set1_epi32(32768);
    int x = 0;
    for (; x + 8 <= p->dw; x += 8) {
        __m256i i0 = _mm256_loadu_si256((const __m256i *)(p->x0 + x));
        __m256i pair = _mm256_i32gather_epi32((const int *)blend, i0, 2);
        __m256i wpair = _mm256_loadu_si256((const __m256i *)(p->wpair + 2 * x));
        __m256i th = _mm256_madd_epi16(_mm256_srli_epi16(pair, 8), wpair);
        __m256i tl = _mm256_madd_epi16(_mm256_and_si256(pair, low8), wpair);
        __m256i v = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(th, 8), tl), half);
        v = _mm256_srli_epi32(v, 16);
        __m128i w16 = _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        _mm_storel_epi64((__m128i *)(out + x), _mm_packus_epi16(w16, w16));
    }
    for (; x < p->dw; x++)
        out[x] = (uint8_t)(((uint32_t)blend[p->x0[x]] * (uint32_t)(256 - p->wx[x]) +
                            (uint32_t)blend[p->x1[x]] * (uint32_t)p->wx[x] + 32768) >> 16);
}

/* Whether the CPU runs AVX2. */
static int cpu_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}
#else
static void sample_row_avx512(const avk_shrink_plan *p, const uint16_t *blend, uint8_t *out)
{
    (void)p, (void)blend, (void)out;
}

static void sample_row_avx2(const avk_shrink_plan *p, const uint16_t *blend, uint8_t *out)
{
    (void)p, (void)blend, (void)out;
}

static int cpu_avx2(void)
{
    return 0;
}
#endif

/* Lay out the vector path's chunks; leaves nchunks 0 where a chunk's taps
 * span more than a window. */
static void plan_chunks(avk_shrink_plan *p)
{
    int n = (p->dw + CHUNK - 1) / CHUNK;
    for (int c = 0; c < n; c++) {
        int first = c * CHUNK, last = first + CHUNK <= p->dw ? first + CHUNK - 1 : p->dw - 1;
        int base = p->x0[first];
        if (p->x1[last] - base >= WINDOW)
            return;
        p->base[c] = base;
        for (int k = 0; k < CHUNK; k++) {
            int x = first + k <= last ? first + k : last;
            p->idx[2 * CHUNK * c + 2 * k] = (uint16_t)(p->x0[x] - base);
            p->idx[2 * CHUNK * c + 2 * k + 1] = (uint16_t)(p->x1[x] - base);
            p->wpair[2 * CHUNK * c + 2 * k] = (int16_t)(256 - p->wx[x]);
            p->wpair[2 * CHUNK * c + 2 * k + 1] = (int16_t)p->wx[x];
        }
    }
    p->nchunks = n;
}

/* See video_shrink.h. */
avk_shrink_plan *avk_shrink_plan_new(int sw, int sh, int dw, int dh)
{
    avk_shrink_plan *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->sw = sw, p->sh = sh, p->dw = dw, p->dh = dh;
    int nchunks = (dw + CHUNK - 1) / CHUNK;
    p->x0 = malloc(sizeof(int32_t) * (3 * (size_t)dw + 3 * (size_t)dh));
    /* Vector loads read a whole window past a chunk's base. */
    p->blend = calloc((size_t)sw + WINDOW, sizeof(uint16_t));
    p->base = malloc(sizeof(int32_t) * (size_t)nchunks);
    p->idx = malloc(sizeof(uint16_t) * 2 * CHUNK * (size_t)nchunks);
    p->wpair = malloc(sizeof(int16_t) * 2 * CHUNK * (size_t)nchunks);
    if (!p->x0 || !p->blend || !p->base || !p->idx || !p->wpair) {
        avk_shrink_plan_free(p);
        return NULL;
    }
    p->x1 = p->x0 + dw, p->wx = p->x1 + dw;
    p->y0 = p->wx + dw, p->y1 = p->y0 + dh, p->wy = p->y1 + dh;
    sample_positions(dw, sw, p->x0, p->x1, p->wx);
    sample_positions(dh, sh, p->y0, p->y1, p->wy);
    for (int x = 0; x < dw; x++) {
        p->wpair[2 * x] = (int16_t)(256 - p->wx[x]);
        p->wpair[2 * x + 1] = (int16_t)p->wx[x];
    }
    if (avk_cpu_avx512bw())
        plan_chunks(p);
    /* The gather reads one column past the last tap: in the padding. */
    p->avx2 = !p->nchunks && cpu_avx2();
    return p;
}

/* See video_shrink.h. */
int avk_shrink_plan_fits(const avk_shrink_plan *p, int sw, int sh, int dw, int dh)
{
    return p && p->sw == sw && p->sh == sh && p->dw == dw && p->dh == dh;
}

void avk_shrink_plan_free(avk_shrink_plan *p)
{
    if (!p)
        return;
    free(p->x0);
    free(p->blend);
    free(p->base);
    free(p->idx);
    free(p->wpair);
    free(p);
}

/* The vertical half of a destination row: every column of source rows
 * r0 and r1 blended with weight fy of r1 (unit strides, so it vectorizes). */
AVK_CLONES_O3
static void blend_rows(const uint8_t *restrict r0, const uint8_t *restrict r1, int fy, int sw,
                       uint16_t *restrict t)
{
    for (int x = 0; x < sw; x++)
        t[x] = (uint16_t)(r0[x] * (256 - fy) + r1[x] * fy);
}

/* The horizontal half, one destination pixel at a time. */
static void sample_row(const uint16_t *restrict t, const int32_t *restrict i0,
                       const int32_t *restrict i1, const int32_t *restrict wx, int dw,
                       uint8_t *restrict out)
{
    for (int x = 0; x < dw; x++)
        out[x] = (uint8_t)(((uint32_t)t[i0[x]] * (uint32_t)(256 - wx[x]) +
                            (uint32_t)t[i1[x]] * (uint32_t)wx[x] + 32768) >> 16);
}

/* Destination rows [first, end) into dst, blending into scratch. */
static void apply_rows(const avk_shrink_plan *p, const uint8_t *src, int sstride, uint8_t *dst,
                       int dstride, int first, int end, uint16_t *scratch)
{
    for (int y = first; y < end; y++) {
        uint8_t *out = dst + (size_t)y * dstride;
        blend_rows(src + (size_t)p->y0[y] * sstride, src + (size_t)p->y1[y] * sstride, p->wy[y],
                   p->sw, scratch);
        if (p->nchunks)
            sample_row_avx512(p, scratch, out);
        else if (p->avx2)
            sample_row_avx2(p, scratch, out);
        else
            sample_row(scratch, p->x0, p->x1, p->wx, p->dw, out);
    }
}

/* See video_shrink.h. */
void avk_shrink_apply(avk_shrink_plan *p, const uint8_t *src, int sstride, uint8_t *dst,
                      int dstride)
{
    apply_rows(p, src, sstride, dst, dstride, 0, p->dh, p->blend);
}
