/* Shot boundary detection over a sequence of small RGB frames, and event
 * stitching of adjacent shots. Pure computation: frames come from memory,
 * whoever decoded them. The formulas are those of av-shotcut(1).
 *
 * Use: avk_shot_analyzer_new(), avk_shot_analyzer_add() once per frame in
 * order, then avk_shot_analyzer_finish() for the shots. The analyzer keeps
 * per-frame scores, histograms and a 16x12 RGB thumbnail per frame (about
 * 900 bytes a frame), so the decisions can look forward and back without
 * the frames.
 */
#ifndef AVKIT_SHOTDETECT_H
#define AVKIT_SHOTDETECT_H

#include <stddef.h>
#include <stdint.h>

enum avk_shot_detector {
    AVK_DETECT_ADAPTIVE = 1,  /* score ratio over a window (PySceneDetect AdaptiveDetector) */
    AVK_DETECT_CONTENT = 2,   /* score over a fixed threshold (ContentDetector) */
    AVK_DETECT_FADE = 3       /* mean intensity under a threshold (ThresholdDetector) */
};

typedef struct avk_shot_params {
    int    detector;            /* AVK_DETECT_* */
    double w_hue, w_sat, w_lum, w_edges;   /* score weights (1, 1, 1, 0) */
    double adaptive_threshold;  /* 3.0 */
    double min_content;         /* 21.0 */
    int    window;              /* 2 frames each side */
    double threshold;           /* content detector: 27.0 */
    double fade_threshold;      /* fade detector: 12.0 */
    int    min_shot;            /* frames; 0: a cut at every boundary found */
    int    flash_filter;        /* 1: a change that returns within flash_len frames is no cut */
    int    flash_len;           /* 8 frames */
    int    gradual;             /* 1: detect gradual transitions */
    int    max_transition;      /* 32 frames */
    double gradual_ratio;       /* 3.0 */
    double gradual_min;         /* 30.0 (histogram distance, 0..100) */
    double stitch;              /* event similarity threshold, 0.6; > 1 disables */
    int    stitch_frames;       /* 8 */
} avk_shot_params;

/* Fill p with the defaults above. */
void avk_shot_params_default(avk_shot_params *p);

/* One shot: frames [start, end); the transition into it spans
 * [trans_start, trans_end) (empty, equal to start, for a hard cut and for
 * the first shot); event is the id of its event (0-based, per video). */
typedef struct avk_shot {
    int64_t start, end;
    int64_t trans_start, trans_end;
    int     event;
} avk_shot;

/* ---- building blocks (pure functions, tested on their own) ----------- */

/* RGB24 to 8-bit HSV as OpenCV's COLOR_RGB2HSV defines it: V = max,
 * S = round(255 (max - min) / max), H = hue in degrees / 2 in [0, 180).
 * Planes h, s, v each hold npix bytes. */
void avk_rgb_to_hsv(const uint8_t *rgb, size_t npix, uint8_t *h, uint8_t *s, uint8_t *v);

/* Mean absolute difference of two 8-bit planes of n bytes. */
double avk_mean_abs_diff(const uint8_t *a, const uint8_t *b, size_t n);

/* Adaptive ratios: ratio[i] = min(score[i] / mean of score[i-w..i+w]
 * without i, 255); 255 when that mean is ~0 and score[i] >= min_content;
 * 0 where the window does not fit. */
void avk_adaptive_ratios(const float *score, size_t n, int window, double min_content,
                         float *ratio);

/* Fade cuts (PySceneDetect's ThresholdDetector, fade bias 0): a fade-out
 * is the first frame whose mean intensity is under the threshold, the
 * fade-in the next frame at or over it; the cut is floor((out + in) / 2).
 * Writes up to max cuts and their dark runs [dark_start, dark_end);
 * returns the number of cuts. */
size_t avk_fade_cuts(const float *mean, size_t n, double threshold, int64_t *cut,
                     int64_t *dark_start, int64_t *dark_end, size_t max);

/* Keep cuts (sorted) at least min_shot frames after the previous kept cut
 * (the video starts at frame 0). Compacts the arrays; returns the count. */
size_t avk_enforce_min_shot(int64_t *cut, int64_t *ts, int64_t *te, size_t n, int min_shot);

/* ---- the analyzer ---------------------------------------------------- */

typedef struct avk_shot_analyzer avk_shot_analyzer;

/* An analyzer for frames of width x height RGB24. NULL with error set for
 * bad sizes or parameters. */
avk_shot_analyzer *avk_shot_analyzer_new(int width, int height, const avk_shot_params *p);
/* Add the next frame (width * height * 3 bytes). */
void avk_shot_analyzer_add(avk_shot_analyzer *a, const uint8_t *rgb);
/* Add the next frame as planar YUV 4:2:0, limited range (the
 * AVK_PIX_YUV420P layout), converted to RGB with the BT.601 matrix: the
 * conversion OpenCV-based tools get from FFmpeg by default. */
void avk_shot_analyzer_add_yuv420p(avk_shot_analyzer *a, const uint8_t *yuv);
/* Frames added so far. */
int64_t avk_shot_analyzer_frames(const avk_shot_analyzer *a);
/* Per-frame content scores (score[0] = 0) and mean intensities, valid
 * until the next add. */
const float *avk_shot_analyzer_scores(const avk_shot_analyzer *a);
const float *avk_shot_analyzer_means(const avk_shot_analyzer *a);
/* Decide the shots of the frames added; *shots is malloc'ed (at least one
 * shot when a frame was added). Returns the number of shots. */
size_t avk_shot_analyzer_finish(avk_shot_analyzer *a, avk_shot **shots);
void avk_shot_analyzer_free(avk_shot_analyzer *a);
/* Which per-pixel code to use: 0 the fastest the CPU has (the default),
 * 1 the portable code, 2 the AVX-512 code without its FP16 divisions and
 * GFNI histograms (where the CPU has AVX-512). All give the same results; this is for
 * tests and comparisons. Only before the first frame (ignored after). */
void avk_shot_analyzer_set_portable(avk_shot_analyzer *a, int portable);

/* Cosine similarity of the event descriptors of frames [a0, a1) and
 * [b0, b1) of an analyzer (see av-shotcut(1), EVENT STITCHING). */
double avk_shot_similarity(const avk_shot_analyzer *a, int64_t a0, int64_t a1,
                           int64_t b0, int64_t b1);

#endif
