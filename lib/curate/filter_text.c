/* On-screen text with Tesseract's C API: one engine per thread, loaded on
 * first use with the installed English data, run in sparse-text page
 * segmentation (text anywhere in a picture, not a page layout) with
 * Sauvola's local thresholding, on the frame and on its bright-stroke
 * top-hat (see bright_strokes), the words of both merged. Words
 * with Tesseract's confidence at least min_conf are returned (the
 * watermark score looks at short corner words too); the frame's coverage
 * counts only those with at least min_chars characters (the seed paper's
 * 0.4 and 4): the area of the union of their boxes over the frame's area. */
#include <stdlib.h>
#include <string.h>

#include <omp.h>
#include <tesseract/capi.h>
#include <leptonica/allheaders.h>

#include "avkit/util/common.h"
#include "avkit/curate/filter.h"

static _Thread_local TessBaseAPI *text_api;
static _Thread_local int text_failed;

/* This thread's engine, created once; NULL with error set when the
 * language data cannot be loaded. */
static TessBaseAPI *text_engine(void)
{
    if (text_api)
        return text_api;
    if (text_failed)
        return avk_error("tesseract: cannot load language 'eng' (apt-get install tesseract-ocr-eng, or set TESSDATA_PREFIX)"), NULL;
    /* Leptonica, under Tesseract, reports benign box clipping on stderr:
     * a tool stays quiet on success unless asked to talk (-v -v). */
    if (avk_verbose < 2)
        setMsgSeverity(L_SEVERITY_NONE);
    TessBaseAPI *api = TessBaseAPICreate();
    /* Tesseract prints its warnings on stderr unless told otherwise */
    TessBaseAPISetVariable(api, "debug_file", "/dev/null");
    if (TessBaseAPIInit3(api, NULL, "eng") != 0) {
        TessBaseAPIDelete(api);
        text_failed = 1;
        return avk_error("tesseract: cannot load language 'eng' (apt-get install tesseract-ocr-eng, or set TESSDATA_PREFIX)"), NULL;
    }
    TessBaseAPISetPageSegMode(api, PSM_SPARSE_TEXT);
    /* Sauvola's local thresholding: text over a busy picture */
    TessBaseAPISetVariable(api, "thresholding_method", "2");
    text_api = api;
    return api;
}

/* Release this thread's engine. */
void avk_text_release(void)
{
    if (text_api) {
        TessBaseAPIEnd(text_api);
        TessBaseAPIDelete(text_api);
        text_api = NULL;
    }
}

/* Characters of a word: UTF-8 code points that are not spaces. */
static int count_chars(const char *s)
{
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80 && *p != ' ' && *p != '\t' && *p != '\n')
            n++;
    return n;
}

/* Run Tesseract on one image and append the words with confidence at
 * least min_conf to out, skipping a word whose box mostly overlaps a word
 * already there (the same word found in the other image). */
static int recognize(TessBaseAPI *api, const uint8_t *img, int w, int h,
                     const int *rect, double min_conf, avk_text_frame *out, int *cap)
{
    TessBaseAPISetImage(api, img, w, h, 1, w);
    TessBaseAPISetSourceResolution(api, 70);
    if (rect)
        TessBaseAPISetRectangle(api, rect[0], rect[1], rect[2], rect[3]);
    /* Tesseract's own OpenMP threads cost more than they give when
     * processes share the cores (on a busy 2-core machine they took 1.7
     * times the CPU time and up to 3 times the wall time): it runs on the
     * calling thread, and ranks give the parallelism */
    int levels = omp_get_max_active_levels();
    omp_set_max_active_levels(0);   /* every parallel region runs on one thread */
    int failed = TessBaseAPIRecognize(api, NULL) != 0;
    omp_set_max_active_levels(levels);
    if (failed) {
        TessBaseAPIClear(api);
        return avk_error("tesseract: recognition failed on a %dx%d frame", w, h);
    }
    TessResultIterator *ri = TessBaseAPIGetIterator(api);
    if (ri) {
        TessPageIterator *pi = TessResultIteratorGetPageIterator(ri);
        do {
            char *txt = TessResultIteratorGetUTF8Text(ri, RIL_WORD);
            if (!txt)
                continue;
            float conf = TessResultIteratorConfidence(ri, RIL_WORD) / 100.0f;
            int nch = count_chars(txt);
            char word[sizeof ((avk_text_box *)0)->word];
            snprintf(word, sizeof word, "%s", txt);
            TessDeleteText(txt);
            int x0, y0, x1, y1;
            if (conf < min_conf || nch < 1 ||
                !TessPageIteratorBoundingBox(pi, RIL_WORD, &x0, &y0, &x1, &y1))
                continue;
            x0 = x0 < 0 ? 0 : x0;
            y0 = y0 < 0 ? 0 : y0;
            x1 = x1 > w ? w : x1;
            y1 = y1 > h ? h : y1;
            if (x1 <= x0 || y1 <= y0)
                continue;
            int dup = 0;
            for (int k = 0; k < out->nboxes && !dup; k++) {
                avk_text_box *b = &out->boxes[k];
                int ix = (x1 < b->x1 ? x1 : b->x1) - (x0 > b->x0 ? x0 : b->x0);
                int iy = (y1 < b->y1 ? y1 : b->y1) - (y0 > b->y0 ? y0 : b->y0);
                long inter = ix > 0 && iy > 0 ? (long)ix * iy : 0;
                long amin = (long)(x1 - x0) * (y1 - y0);
                long bb = (long)(b->x1 - b->x0) * (b->y1 - b->y0);
                if (bb < amin)
                    amin = bb;
                if (inter * 2 > amin) {
                    dup = 1;
                    if (conf > b->conf) {
                        b->x0 = x0; b->y0 = y0; b->x1 = x1; b->y1 = y1;
                        b->conf = conf;
                        b->nchars = nch;
                        memcpy(b->word, word, sizeof word);
                    }
                }
            }
            if (dup)
                continue;
            if (out->nboxes == *cap) {
                *cap = *cap ? 2 * *cap : 16;
                out->boxes = avk_xrealloc(out->boxes, (size_t)*cap * sizeof *out->boxes);
            }
            avk_text_box *b = &out->boxes[out->nboxes++];
            b->x0 = x0; b->y0 = y0; b->x1 = x1; b->y1 = y1;
            b->conf = conf;
            b->nchars = nch;
            memcpy(b->word, word, sizeof word);
        } while (TessPageIteratorNext(pi, RIL_WORD));
        TessResultIteratorDelete(ri);
    }
    TessBaseAPIClear(api);
    return 0;
}

/* Separable running minimum (take_max = 0) or maximum over 2r+1 pixels. */
static void minmax_filter(const uint8_t *src, int w, int h, int r, int take_max, uint8_t *dst)
{
    uint8_t *tmp = avk_xmalloc((size_t)w * h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int lo = x - r < 0 ? 0 : x - r, hi = x + r >= w ? w - 1 : x + r;
            uint8_t m = src[(size_t)y * w + lo];
            for (int i = lo + 1; i <= hi; i++) {
                uint8_t v = src[(size_t)y * w + i];
                m = take_max ? (v > m ? v : m) : (v < m ? v : m);
            }
            tmp[(size_t)y * w + x] = m;
        }
    for (int y = 0; y < h; y++) {
        int lo = y - r < 0 ? 0 : y - r, hi = y + r >= h ? h - 1 : y + r;
        for (int x = 0; x < w; x++) {
            uint8_t m = tmp[(size_t)lo * w + x];
            for (int j = lo + 1; j <= hi; j++) {
                uint8_t v = tmp[(size_t)j * w + x];
                m = take_max ? (v > m ? v : m) : (v < m ? v : m);
            }
            dst[(size_t)y * w + x] = m;
        }
    }
    free(tmp);
}

/* Bright thin strokes as dark ink on white: 255 - 2 * (I - opening(I)),
 * the white top-hat with a square of side 2r+1. Burned-in subtitles are
 * usually light letters with a dark outline, which Tesseract's global
 * binarization turns into hollow shapes it cannot read; the top-hat keeps
 * the letters' fill and drops the background. */
static uint8_t *bright_strokes(const uint8_t *gray, int w, int h)
{
    int r = h / 80 > 3 ? h / 80 : 3;
    uint8_t *open = avk_xmalloc((size_t)w * h), *tmp = avk_xmalloc((size_t)w * h);
    minmax_filter(gray, w, h, r, 0, tmp);
    minmax_filter(tmp, w, h, r, 1, open);
    for (size_t i = 0; i < (size_t)w * h; i++) {
        int t = 2 * (gray[i] - open[i]);
        open[i] = (uint8_t)(255 - (t > 255 ? 255 : t));
    }
    free(tmp);
    return open;
}

/* Both passes (the frame and its bright strokes) over the given
 * rectangles (NULL: the whole frame), then the coverage. */
static int detect(const uint8_t *gray, int w, int h, const int (*rects)[4], int nrects,
                  double min_conf, int min_chars, avk_text_frame *out)
{
    memset(out, 0, sizeof *out);
    TessBaseAPI *api = text_engine();
    if (!api)
        return -1;
    int cap = 0, rc = 0;
    uint8_t *strokes = bright_strokes(gray, w, h);
    for (int pass = 0; pass < 2 && rc == 0; pass++)
        for (int k = 0; k < (rects ? nrects : 1) && rc == 0; k++)
            rc = recognize(api, pass ? strokes : gray, w, h, rects ? rects[k] : NULL,
                           min_conf, out, &cap);
    free(strokes);
    if (rc < 0) {
        avk_text_frame_free(out);
        return -1;
    }
    /* coverage: union of the boxes, counted on a mask */
    if (out->nboxes) {
        uint8_t *mask = avk_xcalloc((size_t)w * h, 1);
        size_t area = 0;
        for (int k = 0; k < out->nboxes; k++) {
            const avk_text_box *b = &out->boxes[k];
            if (b->nchars < min_chars)
                continue;
            for (int y = b->y0; y < b->y1; y++)
                for (int x = b->x0; x < b->x1; x++) {
                    uint8_t *m = &mask[(size_t)y * w + x];
                    area += !*m;
                    *m = 1;
                }
        }
        free(mask);
        out->cover = (double)area / ((double)w * h);
    }
    return 0;
}

/* Recognize, filter and measure the whole frame; see filter.h. */
int avk_text_detect(const uint8_t *gray, int w, int h, double min_conf,
                    int min_chars, avk_text_frame *out)
{
    return detect(gray, w, h, NULL, 0, min_conf, min_chars, out);
}

/* The same in the four corner regions only (the outer 30% of the width
 * and 25% of the height), for the watermark score. */
int avk_text_detect_corners(const uint8_t *gray, int w, int h, double min_conf,
                            avk_text_frame *out)
{
    int cw = (int)(0.3 * w), ch = (int)(0.25 * h);
    const int rects[4][4] = {
        {0, 0, cw, ch}, {w - cw, 0, cw, ch}, {0, h - ch, cw, ch}, {w - cw, h - ch, cw, ch},
    };
    return detect(gray, w, h, rects, 4, min_conf, 1, out);
}

void avk_text_frame_free(avk_text_frame *f)
{
    free(f->boxes);
    f->boxes = NULL;
    f->nboxes = 0;
}
