/* Internals shared by the shot detection modules (lib/curate/shotdetect.c: the
 * per-frame analysis; lib/curate/shotcuts.c: the cut rules; lib/curate/shotstitch.c:
 * events). Private to lib/; the interface is include/avkit/curate/shotdetect.h.
 */
#ifndef AVKIT_SHOTDETECT_IMPL_H
#define AVKIT_SHOTDETECT_IMPL_H

#include <math.h>
#include <stdint.h>
#include "avkit/curate/shotdetect.h"

#define TW 16                   /* thumbnail columns */
#define TH 12                   /* thumbnail rows */
#define TPIX (TW * TH)
#define TBYTES (3 * TPIX)       /* RGB, interleaved */
#define LW 4                    /* layout cells a side */
#define LAYOUT (3 * LW * LW)    /* RGB means of 4x4 cells */
#define HBINS 16
#define SBINS 8
#define VBINS 8
#define HIST (HBINS + SBINS + VBINS)
#define MAX_STRAY 0.18          /* motion, not a blend, above this */


struct avk_shot_analyzer {
    avk_shot_params p;
    int w, h;
    size_t npix;
    uint8_t *hsv[2];            /* H, S, V planes of the previous / current frame */
    uint8_t *now;               /* the current frame's H, S, V planes (hsv[cur],
                                   or hsv[0] for the AVX-512 stage, which
                                   overwrites the previous frame's in place) */
    uint8_t *edges[2];          /* edge maps when w_edges != 0 */
    uint8_t *tmp;
    uint8_t *rgbp;              /* the frame as R, G, B planes */
    int32_t *chroma;            /* 3 rows of chroma terms for 4:2:0 input */
    int cur;
    int64_t n, cap;
    float *score;               /* content score vs the previous frame */
    float *mean;                /* mean of R, G, B */
    uint8_t *thumb;             /* TBYTES a frame */
    float *layout;              /* LAYOUT a frame */
    float *hist;                /* HIST a frame, fractions */
    int *cell_x, *cell_y;       /* thumbnail cell of each column / row */
    uint32_t *cell_sum;         /* 3 * TPIX sums */
    uint32_t cell_count[TPIX];
    uint16_t *colsum;           /* R, G, B sums of the sampled pixels of each even
                                   column: 3 rows of term_stride */
    int simd;                   /* SHOT_PORTABLE, SHOT_AVX512, SHOT_AVX512_FP16 */
    int gfni;                   /* the CPU has GFNI and BITALG */
    uint16_t *terms;            /* the AVX-512 stage's chroma terms, 6 rows of
                                   term_stride */
    int term_stride;
};

/* What the per-pixel stage adds up over a frame: R + G + B, and the
 * absolute differences of H, S and V to the previous frame's planes. */
typedef struct shot_pixel_sums {
    uint64_t rgb, dh, ds, dv;
} shot_pixel_sums;

/* The per-pixel stage for a 4:2:0 frame on AVX-512 (lib/curate/shotdetect_avx512.c):
 * writes a->hsv[0] (over the previous frame's planes) and the thumbnail
 * cell sums, and fills sums (the differences only when a->n > 0), bit for
 * bit as the portable code does. Call only when shot_avx512_usable(). */
void shot_yuv_stage_avx512(avk_shot_analyzer *a, const uint8_t *yuv, shot_pixel_sums *sums);
/* The per-pixel code this CPU can run: the portable code, AVX-512 (F, BW,
 * VL) with table divisions, or AVX-512 with FP16 divisions. */
enum { SHOT_PORTABLE = 0, SHOT_AVX512 = 1, SHOT_AVX512_FP16 = 2 };
int shot_avx512_usable(void);
/* The histograms of the even columns of the even rows of w x h H, S and
 * V planes, added to hh, sh and vh (as lib/curate/shotdetect.c counts them). */
void shot_histograms_avx512(const uint8_t *H, const uint8_t *S, const uint8_t *V, int w, int h,
                            int gfni, uint32_t *hh, uint32_t *sh, uint32_t *vh);
/* Whether the CPU has GFNI and BITALG, for shot_histograms_avx512. */
int shot_gfni_usable(void);
/* Whether even row y is the last even row of its row of thumbnail cells. */
static inline int shot_cell_row_ends(const avk_shot_analyzer *a, int y)
{
    return y + 2 >= a->h || a->cell_y[y + 2] != a->cell_y[y];
}
/* Add the column sums a->colsum into the cells of the row of cells of
 * row y, and zero them (lib/curate/shotdetect.c). */
void shot_fold_cells(avk_shot_analyzer *a, int y);


/* Mean absolute difference of two byte planes (lib/curate/shotdetect.c). */
double avk_mean_abs_diff(const uint8_t *a, const uint8_t *b, size_t n);

/* Distance of two frames' thumbnails: mean absolute difference of the
 * 16x12 cell means of R, G and B. RGB (not HSV) because dissolves and
 * fades are linear blends in RGB, so their per-frame changes are even. */
static inline double shot_thumb_dist(const avk_shot_analyzer *a, int64_t i, int64_t j)
{
    return avk_mean_abs_diff(a->thumb + (size_t)TBYTES * i, a->thumb + (size_t)TBYTES * j, TBYTES);
}

/* Distance of two frames' HSV histograms: the L1 distance of the 16 + 8
 * + 8 bin fractions, scaled to 0..100 (100 / 6 of the sum, each of the three
 * histograms contributing at most 2). Motion barely moves histograms,
 * which makes this the long-range comparison of gradual transitions. */
static inline double shot_hist_dist(const avk_shot_analyzer *a, int64_t i, int64_t j)
{
    const float *x = a->hist + (size_t)HIST * i, *y = a->hist + (size_t)HIST * j;
    double d = 0.0;
    for (int b = 0; b < HIST; b++)
        d += fabs((double)x[b] - y[b]);
    return d * 100.0 / 6.0;
}

/* Give each shot its event id (lib/curate/shotstitch.c). */
void avk_shot_stitch(const avk_shot_analyzer *a, avk_shot *sh, size_t ns);

#endif
