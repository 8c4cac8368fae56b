/* The per-pixel stage of lib/curate/shotdetect_avx512.c, written once and
 * compiled twice there: STAGE_NAME is the function, STAGE_TARGET its
 * target attribute, STAGE_DIV(n, m) the division by a byte divisor
 * (n / m rounded down, lane by lane) and STAGE_SETUP what it needs first.
 * Included by that file only. */

STAGE_TARGET static void STAGE_NAME(avk_shot_analyzer *a, const uint8_t *yuv, shot_pixel_sums *sums)
{
    STAGE_SETUP
    const int w = a->w, h = a->h, cw = (w + 1) / 2, ch = (h + 1) / 2;
    const size_t npix = a->npix;
    const int stride = a->term_stride;
    const uint8_t *U = yuv + npix, *Vc = U + (size_t)cw * ch;
    int cell_rows = 0;
    memset(a->cell_sum, 0, sizeof(uint32_t) * 3 * TPIX);
    uint8_t *H = a->hsv[0], *S = H + npix, *V = S + npix;
    const uint8_t *P = a->n > 0 ? H : NULL;     /* in place: half the memory traffic */
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
            __m512i hv = STAGE_DIV(hn, d);
            hv = _mm512_mask_sub_epi16(hv, _mm512_cmpge_epu16_mask(hv, c180), hv, c180);
            __mmask32 nonzero = _mm512_test_epi16_mask(d, d);
            hv = _mm512_maskz_mov_epi16(nonzero, hv);
            __m512i sn = _mm512_add_epi16(_mm512_mullo_epi16(d, c255), _mm512_srli_epi16(mx, 1));
            __m512i sv = _mm512_maskz_mov_epi16(_mm512_test_epi16_mask(mx, mx),
                                                STAGE_DIV(sn, mx));

            __m256i h8 = _mm512_cvtepi16_epi8(hv);
            __m256i s8 = _mm512_cvtepi16_epi8(sv), v8 = _mm512_cvtepi16_epi8(mx);
            if ((y & 1) == 0) {        /* thumbnail cells: even rows, even columns */
                __mmask32 even = m & 0x55555555u;
                uint16_t *cs = a->colsum + x;
                _mm512_storeu_si512(cs, _mm512_add_epi16(_mm512_loadu_si512(cs),
                                                         _mm512_maskz_mov_epi16(even, r)));
                cs += stride;
                _mm512_storeu_si512(cs, _mm512_add_epi16(_mm512_loadu_si512(cs),
                                                         _mm512_maskz_mov_epi16(even, g)));
                cs += stride;
                _mm512_storeu_si512(cs, _mm512_add_epi16(_mm512_loadu_si512(cs),
                                                         _mm512_maskz_mov_epi16(even, b)));
            }
            if (P) {
                /* The previous frame's planes are these same planes: read
                 * them before they are overwritten. Lanes past the row's
                 * end count as zero on both sides. */
                sad_h = _mm256_add_epi64(sad_h, _mm256_sad_epu8(_mm256_maskz_mov_epi8(m, h8),
                                         _mm256_maskz_loadu_epi8(m, P + o + x)));
                sad_s = _mm256_add_epi64(sad_s, _mm256_sad_epu8(_mm256_maskz_mov_epi8(m, s8),
                                         _mm256_maskz_loadu_epi8(m, P + npix + o + x)));
                sad_v = _mm256_add_epi64(sad_v, _mm256_sad_epu8(_mm256_maskz_mov_epi8(m, v8),
                                         _mm256_maskz_loadu_epi8(m, P + 2 * npix + o + x)));
            }
            _mm256_mask_storeu_epi8(H + o + x, m, h8);
            _mm256_mask_storeu_epi8(S + o + x, m, s8);
            _mm256_mask_storeu_epi8(V + o + x, m, v8);
            rgb_acc = _mm512_add_epi32(
                rgb_acc, _mm512_madd_epi16(_mm512_maskz_add_epi16(m, _mm512_add_epi16(r, g), b),
                                           one));
        }
        rgb_total += (uint64_t)(uint32_t)_mm512_reduce_add_epi32(rgb_acc);
        /* Fold the column sums at the end of a row of cells, and before
         * 16-bit sums could overflow. */
        if ((y & 1) == 0 && (++cell_rows == 256 || shot_cell_row_ends(a, y))) {
            shot_fold_cells(a, y);
            cell_rows = 0;
        }
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
