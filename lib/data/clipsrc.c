/* Clip sources (manifest or tensor stream), time resampling of a clip's
 * frames, and decoding a list of frames of a video. See clipsrc.h. */
#include "avkit/data/clipsrc.h"
#include "avkit/util/common.h"
#include "avkit/util/tsv.h"
#include "avkit/io/video.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct avk_clipsrc {
    char       *path;
    avk_tsv    *tsv;
    avt_reader *avt;
    int         col_video, col_start, col_end, col_fps, col_keep;
    long        count;
};

/* First byte of a regular file, or -1. */
static int first_byte(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return -1;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    int c = fgetc(fp);
    fclose(fp);
    return c;
}

avk_clipsrc *avk_clipsrc_open(const char *path, int format)
{
    if (format == AVK_CLIPS_AUTO) {
        if (strcmp(path, "-") == 0)
            format = AVK_CLIPS_AVT;
        else
            format = first_byte(path) == 0x89 ? AVK_CLIPS_AVT : AVK_CLIPS_TSV;
    }
    avk_clipsrc *s = avk_xcalloc(1, sizeof *s);
    s->path = avk_xstrdup(path);
    if (format == AVK_CLIPS_AVT) {
        if (!(s->avt = avt_reader_open(path)))
            goto fail;
        return s;
    }
    if (!(s->tsv = avk_tsv_open(path)))
        goto fail;
    if ((s->col_video = avk_tsv_need(s->tsv, "video")) < 0 ||
        (s->col_start = avk_tsv_need(s->tsv, "start_frame")) < 0 ||
        (s->col_end = avk_tsv_need(s->tsv, "end_frame")) < 0)
        goto fail;
    s->col_fps = avk_tsv_col(s->tsv, "fps");
    s->col_keep = avk_tsv_col(s->tsv, "keep");
    return s;
fail:
    avk_clipsrc_close(s);
    return NULL;
}

void avk_clipsrc_close(avk_clipsrc *s)
{
    if (!s)
        return;
    if (s->tsv)
        avk_tsv_close(s->tsv);
    if (s->avt)
        avt_reader_close(s->avt);
    free(s->path);
    free(s);
}

void avk_clip_free(avk_clip *c)
{
    avt_record_free(&c->rec);
    memset(c, 0, sizeof *c);
}

/* A whole decimal integer >= 0 from text. */
static int parse_frame(const char *text, long *out)
{
    if (!text || !*text)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (*end || errno || v < 0)
        return -1;
    *out = v;
    return 0;
}

/* Fill video/start/end/fps from the record's metadata; `where` names it. */
static int clip_fields(avk_clip *c, const char *where)
{
    static const char *const need[] = {"video", "start_frame", "end_frame"};
    for (int i = 0; i < 3; i++)
        if (!avt_record_get_meta(&c->rec, need[i]))
            return avk_error("%s: no \"%s\" (a clip needs video, start_frame and end_frame)",
                             where, need[i]);
    c->video = avt_record_get_meta(&c->rec, "video");
    if (!*c->video)
        return avk_error("%s: empty video path", where);
    if (parse_frame(avt_record_get_meta(&c->rec, "start_frame"), &c->start) < 0 ||
        parse_frame(avt_record_get_meta(&c->rec, "end_frame"), &c->end) < 0)
        return avk_error("%s: start_frame \"%s\" / end_frame \"%s\" are not frame numbers", where,
                         avt_record_get_meta(&c->rec, "start_frame"),
                         avt_record_get_meta(&c->rec, "end_frame"));
    if (c->end <= c->start)
        return avk_error("%s: empty frame range [%ld, %ld)", where, c->start, c->end);
    c->fps = 0;
    const char *f = avt_record_get_meta(&c->rec, "fps");
    if (f && *f) {
        char *end;
        double v = strtod(f, &end);
        if (*end || !(v > 0) || !isfinite(v))
            return avk_error("%s: fps \"%s\" is not a positive number", where, f);
        c->fps = v;
    }
    return 0;
}

int avk_clipsrc_next(avk_clipsrc *s, avk_clip *c)
{
    memset(c, 0, sizeof *c);
    char where[4200];
    if (s->avt) {
        int rc = avt_read_record(s->avt, &c->rec);
        if (rc <= 0)
            return rc;
        snprintf(where, sizeof where, "%s: record %ld (%s)", s->path, s->count, c->rec.key);
    } else {
        for (;;) {
            int rc = avk_tsv_next(s->tsv);
            if (rc <= 0)
                return rc;
            if (s->col_keep >= 0) {
                const char *k = avk_tsv_field(s->tsv, s->col_keep);
                if (strcmp(k, "0") == 0)
                    continue;
                if (strcmp(k, "1") != 0)
                    return avk_error("%s: line %ld: keep is \"%s\", not 0 or 1", s->path,
                                     s->tsv->lineno, k);
            }
            break;
        }
        avt_record_init(&c->rec, "");
        for (int i = 0; i < s->tsv->ncols; i++)
            avt_record_set_meta(&c->rec, s->tsv->cols[i], avk_tsv_field(s->tsv, i));
        snprintf(where, sizeof where, "%s: line %ld", s->path, s->tsv->lineno);
    }
    if (clip_fields(c, where) < 0) {
        avk_clip_free(c);
        return -1;
    }
    if (s->tsv) {
        free(c->rec.key);
        c->rec.key = avk_clip_id(c->video, c->start, c->end);
    }
    c->index = s->count++;
    return 1;
}

int64_t avk_resample_frames(long start, long end, double fps_src, double fps_out, int max_frames,
                            long **idx)
{
    if (!(fps_out > 0))
        fps_out = fps_src;
    double ratio = fps_src / fps_out;
    int64_t n = (int64_t)floor((double)(end - start) / ratio + 1e-6);
    if (max_frames > 0 && n > max_frames)
        n = max_frames;
    if (n < 0)
        n = 0;
    *idx = avk_xmalloc((size_t)(n > 0 ? n : 1) * sizeof **idx);
    for (int64_t k = 0; k < n; k++) {
        long f = start + (long)floor((double)k * ratio + 1e-6);
        (*idx)[k] = f < end ? f : end - 1;
    }
    return n;
}

struct avk_frame_reader {
    char       *path;
    avk_video  *v;
    int         w, h;
    size_t      fb;
    uint8_t    *scratch, *last;  /* decode buffer; copy of the last frame */
    int64_t     next, last_index;
};

avk_frame_reader *avk_frame_reader_open(const char *video, int out_w, int out_h, int *w, int *h)
{
    avk_decode_opts o = {0};
    o.width = out_w;
    o.height = out_h;
    o.pixfmt = AVK_PIX_RGB24;
    o.threads = 1;
    avk_video_info info;
    avk_video *v = avk_video_open(video, &o, &info);
    if (!v)
        return NULL;
    avk_frame_reader *r = avk_xcalloc(1, sizeof *r);
    r->path = avk_xstrdup(video);
    r->v = v;
    avk_video_out_size(v, &r->w, &r->h);
    r->fb = avk_frame_bytes(AVK_PIX_RGB24, r->w, r->h);
    r->scratch = avk_xmalloc(r->fb);
    r->last = avk_xmalloc(r->fb);
    r->next = -1;
    r->last_index = -1;
    *w = r->w;
    *h = r->h;
    return r;
}

int avk_frame_reader_get(avk_frame_reader *r, long want, uint8_t *dst)
{
    if (want == r->last_index) {          /* repeated frame (fps_out > fps_src) */
        memcpy(dst, r->last, r->fb);
        return 0;
    }
    if (r->next < 0 || want < r->next || want - r->next > 48) {
        if (avk_video_seek_frame(r->v, want) < 0)
            return -1;
        r->next = want;
    }
    for (;;) {
        int64_t got = -1;
        int rc = avk_video_read(r->v, r->scratch, &got);
        if (rc < 0)
            return -1;
        if (rc == 0)
            return avk_error("%s: frame %ld: the video ends before it", r->path, want);
        r->next = got + 1;
        if (got == want)
            break;
        if (got > want)
            return avk_error("%s: frame %ld: the decoder skipped it (went from %lld)", r->path,
                             want, (long long)got);
    }
    memcpy(dst, r->scratch, r->fb);
    memcpy(r->last, r->scratch, r->fb);
    r->last_index = want;
    return 0;
}

void avk_frame_reader_close(avk_frame_reader *r)
{
    if (!r)
        return;
    avk_video_close(r->v);
    free(r->scratch);
    free(r->last);
    free(r->path);
    free(r);
}

int avk_decode_frames(const char *video, const long *idx, int64_t n, int out_w, int out_h,
                      uint8_t **rgb, int *w, int *h)
{
    avk_frame_reader *r = avk_frame_reader_open(video, out_w, out_h, w, h);
    if (!r)
        return -1;
    uint8_t *out = avk_xmalloc(r->fb * (size_t)(n > 0 ? n : 1));
    for (int64_t k = 0; k < n; k++)
        if (avk_frame_reader_get(r, idx[k], out + (size_t)k * r->fb) < 0) {
            free(out);
            avk_frame_reader_close(r);
            return -1;
        }
    avk_frame_reader_close(r);
    *rgb = out;
    return 0;
}
