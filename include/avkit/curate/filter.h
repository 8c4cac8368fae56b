/* Clip scores for av-filter: static frames, optical flow and dynamic
 * degree, a no-reference aesthetic score, on-screen text (Tesseract) and
 * watermarks. Each score is a small module (lib/filter_*.c) working on
 * frames in memory; lib/curate/filter_clip.c decodes a clip once and feeds every
 * requested score. The exact definitions are in av-filter(1).
 *
 * Planes are float, row-major, values on the 0..255 scale of 8-bit video.
 */
#ifndef AVKIT_FILTER_H
#define AVKIT_FILTER_H

#include <stddef.h>
#include <stdint.h>

/* ---- image helpers (filter_image.c) ---------------------------------- */

/* BT.601 luma of packed RGB24 into a float plane (0..255). */
void avk_rgb_to_gray(const uint8_t *rgb, int w, int h, float *gray);
/* Mean of a plane. */
double avk_plane_mean(const float *p, size_t n);
/* Area-average resize (box filter over the source footprint of each
 * destination pixel); good for downscaling. */
void avk_plane_resize(const float *src, int sw, int sh, float *dst, int dw, int dh);
/* Separable Gaussian blur with standard deviation sigma (edges clamped). */
void avk_plane_blur(const float *src, int w, int h, double sigma, float *dst);
/* Bilinear sample at (x, y) with clamped edges. */
float avk_plane_sample(const float *p, int w, int h, float x, float y);
/* Size with the shorter side scaled to `short_side` (never upscaled when
 * no_upscale is set), both dimensions at least 8. */
void avk_fit_short_side(int w, int h, int short_side, int no_upscale, int *ow, int *oh);

/* ---- static frames (filter_static.c) -------------------------------- */

/* How consecutive gray frames are compared for the static rule. */
enum {
    AVK_STATIC_MAD = 0,   /* mean over pixels of |Y_t - Y_t-1| (default) */
    AVK_STATIC_MEANS = 1  /* |mean(Y_t) - mean(Y_t-1)| */
};
/* The difference of two gray frames of n pixels in the given mode. */
double avk_static_diff(const float *prev, const float *cur, size_t n, int mode);
/* Fraction of the comparisons of consecutive frames whose difference is
 * under `thr` (the seed paper: 0.9 on the 0..255 scale). No comparison
 * (a clip of one frame) gives 1.0. */
double avk_static_fraction(const double *diffs, size_t ndiffs, double thr);

/* ---- optical flow (filter_flow.c) ----------------------------------- */

typedef struct avk_flow_opts {
    int    levels;      /* pyramid levels (0 = as many as fit, coarsest >= 16 px) */
    int    iters;       /* Lucas-Kanade iterations per level */
    double sigma;       /* Gaussian window of the structure tensor (pixels) */
    double reg;         /* Tikhonov regularizer added to the 2x2 system */
    double fill;        /* confidence (x mean) under which flat areas take
                           their neighbours' flow */
} avk_flow_opts;

/* The defaults documented in av-filter(1). */
void avk_flow_opts_default(avk_flow_opts *o);
/* Dense pyramidal iterative Lucas-Kanade flow from i1 to i2 (w x h float
 * planes): i2(x + u, y + v) ~ i1(x, y). u, v receive w*h values.
 * 0 or -1 (error set: size too small). */
int avk_flow_dense(const float *i1, const float *i2, int w, int h,
                   const avk_flow_opts *o, float *u, float *v);
/* Mean of the largest `frac` (0.05 in VBench) of the flow magnitudes. */
double avk_flow_top_mean(const float *u, const float *v, size_t n, double frac);

/* VBench's dynamic-degree decision over the per-pair scores of sampled
 * frames: threshold = max(1, 8/fps) * base * short_side / 256, needed =
 * round(count_base * nframes / 16) (at least 1); dynamic when at least
 * `needed` pairs score above the threshold. Returns 1 dynamic, 0 not;
 * *thres and *above (may be NULL) receive the threshold and the count. */
int avk_dynamic_decide(const double *pair_scores, int npairs, int nframes,
                       int short_side, double fps, double base, double count_base,
                       double *thres, int *above);
/* VBench's frame step for a frame rate: max(1, round(fps / 8)). */
int avk_dynamic_step(double fps);

/* ---- aesthetic score (filter_aesthetic.c) ---------------------------- */

typedef struct avk_aesthetic {
    double sharpness;     /* variance of the Laplacian less its noise part */
    double noise;         /* Immerkaer noise standard deviation (0..255) */
    double brightness;    /* mean luma / 255 */
    double contrast;      /* standard deviation of luma / 255 */
    double clipped;       /* fraction of luma <= 4 or >= 251 */
    double colorfulness;  /* Hasler-Suesstrunk M */
    double score;         /* 1..10, the formula in av-filter(1) */
} avk_aesthetic;

/* Measure one RGB24 frame. */
void avk_aesthetic_measure(const uint8_t *rgb, int w, int h, avk_aesthetic *a);

/* ---- text (filter_text.c) ------------------------------------------- */

typedef struct avk_text_box {
    int x0, y0, x1, y1;   /* pixels, x1/y1 exclusive */
    float conf;           /* 0..1 */
    int nchars;           /* UTF-8 code points */
    char word[32];        /* the word read (cut to 31 bytes) */
} avk_text_box;

typedef struct avk_text_frame {
    int nboxes;           /* words with confidence >= min_conf */
    avk_text_box *boxes;
    double cover;         /* union of kept boxes / frame area */
} avk_text_frame;

/* Recognize words in a gray frame with Tesseract (one engine per thread,
 * initialized on first use from the installed tessdata, language "eng"),
 * keep those with confidence >= min_conf (0..1), and measure the coverage
 * of those with at least min_chars characters. 0 or -1 (error set). */
int avk_text_detect(const uint8_t *gray, int w, int h, double min_conf,
                    int min_chars, avk_text_frame *out);
/* The same, reading only the four corner regions (outer 30% of the
 * width, 25% of the height): the watermark score's corner text. */
int avk_text_detect_corners(const uint8_t *gray, int w, int h, double min_conf,
                            avk_text_frame *out);
void avk_text_frame_free(avk_text_frame *f);
/* Release this thread's Tesseract engine (optional, at exit). */
void avk_text_release(void);

/* ---- watermark (filter_watermark.c) --------------------------------- */

typedef struct avk_watermark {
    double edge_score;    /* persistent edges over changing content, 0..1 */
    double text_score;    /* corner text repeated across frames, 0..1 */
    double score;         /* 1 - (1 - edge)(1 - text) */
    double density;       /* fraction of fixed-edge pixels in that window */
    int    x0, y0, x1, y1; /* the densest window of fixed edges */
} avk_watermark;

/* Score n gray frames (w x h, spread over the clip) for a fixed overlay;
 * corner text from the OCR results of `ntext` frames (may be 0). */
void avk_watermark_measure(const float *const *frames, int n, int w, int h,
                           const avk_text_frame *text, int ntext,
                           avk_watermark *wm);

/* ---- one clip, one decode pass (filter_clip.c) ---------------------- */

enum {
    AVK_SCORE_STATIC = 1, AVK_SCORE_MOTION = 2, AVK_SCORE_AESTHETIC = 4,
    AVK_SCORE_TEXT = 8, AVK_SCORE_WATERMARK = 16, AVK_SCORE_ALL = 31
};

typedef struct avk_filter_opts {
    unsigned scores;          /* AVK_SCORE_* bits */
    long   min_frames;        /* drop clips of fewer frames ("short"); 0 keeps all */
    int    size;              /* analysis short side (decode size) */
    int    threads;           /* decoder threads (0 auto) */
    int    fast;              /* decoder may skip work (avk_decode_opts.fast) */
    double static_diff, static_frac;
    int    static_mode;       /* AVK_STATIC_* */
    int    flow_size;         /* flow short side (VBench scale, 128) */
    double motion_thres, motion_count; /* VBench 6.0 and 4 (per 16 frames) */
    avk_flow_opts flow;
    int    aesthetic_frames;
    double aesthetic_min;
    const char *aesthetic_cmd; /* learned predictor: CMD frame.tif... */
    int    text_frames, text_min_chars;
    double text_conf, text_cover;
    int    text_max_frames;   /* drop when more frames than this are significant */
    int    watermark_frames;
    double watermark_max;
} avk_filter_opts;

void avk_filter_opts_default(avk_filter_opts *o);
/* Parse "static,motion,..." or "all" into AVK_SCORE_* bits; -1 on an
 * unknown name (error set). */
int avk_filter_parse_scores(const char *list, unsigned *bits);

typedef struct avk_filter_result {
    int    readable;          /* 0: the video could not be decoded */
    int    bad_range;         /* 1: the frame range is not in the video */
    long   nframes;           /* frames decoded */
    double static_frac;
    double motion;            /* mean over pairs of the top-5% flow magnitude */
    int    dynamic, motion_pairs, motion_above;
    double aesthetic;
    int    text_frames;       /* significant frames */
    double text_cover;        /* largest coverage of a sampled frame */
    double watermark;
    int    keep;
    const char *reason;       /* first failing rule, "-" when kept */
} avk_filter_result;

/* Decode frames [start, end) of `video` once and compute every requested
 * score, then apply the rules. A video that cannot be opened or decoded
 * gives readable = 0, keep = 0, reason "unreadable" and returns -1 with
 * the error set. A range that runs past the video's last frame (as the
 * container counts them) returns -1 with bad_range = 1 and the error set,
 * before anything is decoded; otherwise 0. */
int avk_filter_clip(const char *video, long start, long end, double fps,
                    const avk_filter_opts *o, avk_filter_result *r);

/* Apply the keep rules to computed scores (sets keep and reason). */
void avk_filter_decide(const avk_filter_opts *o, avk_filter_result *r);

#endif
