/* One clip, one decode pass: decode frames [start, end) once at the
 * analysis size and feed every requested score, then apply the keep rules
 * in a fixed order (the first that fails is the reason). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "avkit/util/common.h"
#include "avkit/curate/filter.h"
#include "avkit/io/video.h"

/* k frame indices spread evenly over [0, n): round(j (n-1) / (k-1));
 * all frames when n <= k, the middle one when k == 1. Returns the count
 * (duplicates removed). */
static int spread(long n, int k, long *idx)
{
    if (n <= 0 || k <= 0)
        return 0;
    if (n <= k) {
        for (long i = 0; i < n; i++)
            idx[i] = i;
        return (int)n;
    }
    if (k == 1) {
        idx[0] = (n - 1) / 2;
        return 1;
    }
    int m = 0;
    for (int j = 0; j < k; j++) {
        long v = lround((double)j * (n - 1) / (k - 1));
        if (m == 0 || idx[m - 1] != v)
            idx[m++] = v;
    }
    return m;
}

/* Position of i in the sorted list, or -1. */
static int find_idx(const long *idx, int n, long i)
{
    for (int k = 0; k < n; k++)
        if (idx[k] == i)
            return k;
    return -1;
}

/* Run the user's learned predictor: CMD frame1.tif frame2.tif ...; its
 * standard output must start with a number (the clip's score). */
static int run_aesthetic_cmd(const char *cmd, char **paths, int n, double *score)
{
    avk_buf b = {0};
    avk_buf_printf(&b, "%s", cmd);
    for (int i = 0; i < n; i++) {
        /* single-quoted for sh; a quote inside (from TMPDIR) as '\'' */
        avk_buf_append(&b, " '", 2);
        for (const char *c = paths[i]; *c; c++)
            if (*c == '\'')
                avk_buf_append(&b, "'\\''", 4);
            else
                avk_buf_append(&b, c, 1);
        avk_buf_append(&b, "'", 1);
    }
    avk_buf_append(&b, "", 1);
    fflush(NULL);
    FILE *p = popen((char *)b.data, "r");
    if (!p) {
        avk_buf_free(&b);
        return avk_error("aesthetic-cmd: cannot run '%s': %s", cmd, strerror(errno));
    }
    char line[256] = {0};
    int got = fgets(line, sizeof line, p) != NULL;
    /* drain the rest so the command does not die of SIGPIPE */
    char sink[256];
    while (fgets(sink, sizeof sink, p))
        ;
    int st = pclose(p);
    avk_buf_free(&b);
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return avk_error("aesthetic-cmd: '%s' failed (status %d)", cmd,
                         st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    char *end;
    double v = got ? strtod(line, &end) : 0;
    if (!got || end == line || !isfinite(v))
        return avk_error("aesthetic-cmd: '%s' printed no number", cmd);
    *score = v;
    return 0;
}

/* Luma of an RGB24 frame as bytes, for Tesseract. */
static void gray_bytes(const float *g, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        float v = g[i] + 0.5f;
        out[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

/* Per-clip working state. */
typedef struct clip_state {
    const avk_filter_opts *o;
    int w, h, fw, fh;
    long n;
    double *diffs;
    float *gprev;
    int have_gprev;
    /* motion */
    int step;
    float *fprev, *fcur, *u, *v;
    int have_prev, nsampled;
    double *pairs;
    int npairs;
    /* aesthetic */
    long aidx[64];
    int na;
    double asum;
    int acount;
    char *tmpdir;
    char **apaths;
    /* text */
    long tidx[64];
    int nt;
    /* watermark */
    long widx[64], wtidx[3];
    int nw, nwt;
    float **wframes;
    int nwf;
    avk_text_frame *wtext;
    int nwtext;
} clip_state;

/* Feed frame i of the clip to every requested score. */
static int feed(clip_state *s, long i, const uint8_t *rgb, float *gray, uint8_t *g8, avk_filter_result *r)
{
    const avk_filter_opts *o = s->o;
    size_t np = (size_t)s->w * s->h;
    int flow_frame = (o->scores & AVK_SCORE_MOTION) && i % s->step == 0;
    int ti = (o->scores & AVK_SCORE_TEXT) ? find_idx(s->tidx, s->nt, i) : -1;
    int wti = (o->scores & AVK_SCORE_WATERMARK) ? find_idx(s->wtidx, s->nwt, i) : -1;
    int wfi = (o->scores & AVK_SCORE_WATERMARK) ? find_idx(s->widx, s->nw, i) : -1;
    if ((o->scores & AVK_SCORE_STATIC) || flow_frame || ti >= 0 || wti >= 0 || wfi >= 0)
        avk_rgb_to_gray(rgb, s->w, s->h, gray);
    if (o->scores & AVK_SCORE_STATIC) {
        if (s->have_gprev)
            s->diffs[i - 1] = avk_static_diff(s->gprev, gray, np, o->static_mode);
        memcpy(s->gprev, gray, np * sizeof(float));
        s->have_gprev = 1;
    }
    if (flow_frame) {
        avk_plane_resize(gray, s->w, s->h, s->fcur, s->fw, s->fh);
        s->nsampled++;
        if (s->have_prev) {
            if (avk_flow_dense(s->fprev, s->fcur, s->fw, s->fh, &o->flow, s->u, s->v) < 0)
                return -1;
            s->pairs[s->npairs++] = avk_flow_top_mean(s->u, s->v, (size_t)s->fw * s->fh, 0.05);
        }
        float *t = s->fprev;
        s->fprev = s->fcur;
        s->fcur = t;
        s->have_prev = 1;
    }
    int ai = (o->scores & AVK_SCORE_AESTHETIC) ? find_idx(s->aidx, s->na, i) : -1;
    if (ai >= 0) {
        if (o->aesthetic_cmd) {
            avk_image img = {s->w, s->h, 3, AVK_SAMPLE_U8, (void *)rgb};
            char *path = avk_xasprintf("%s/frame-%02d.tif", s->tmpdir, s->acount);
            avk_tmp_register(path);
            if (avk_tiff_write(path, &img, 0) < 0) {
                free(path);
                return -1;
            }
            s->apaths[s->acount] = path;
        } else {
            avk_aesthetic a;
            avk_aesthetic_measure(rgb, s->w, s->h, &a);
            s->asum += a.score;
        }
        s->acount++;
    }
    if (ti >= 0 || wti >= 0)
        gray_bytes(gray, np, g8);
    if (ti >= 0) {
        avk_text_frame tf;
        if (avk_text_detect(g8, s->w, s->h, o->text_conf, o->text_min_chars, &tf) < 0)
            return -1;
        if (tf.cover > o->text_cover)
            r->text_frames++;
        if (tf.cover > r->text_cover)
            r->text_cover = tf.cover;
        avk_text_frame_free(&tf);
    }
    if (wti >= 0) {
        /* the watermark's corner text reads the corners alone, even from a
         * frame the text rule read whole: small corner words are found
         * more surely so, and the score is the same with or without the
         * text rule */
        avk_text_frame tf;
        if (avk_text_detect_corners(g8, s->w, s->h, o->text_conf, &tf) < 0)
            return -1;
        s->wtext[s->nwtext++] = tf;
    }
    if (wfi >= 0) {
        s->wframes[s->nwf] = avk_xmalloc(np * sizeof(float));
        memcpy(s->wframes[s->nwf++], gray, np * sizeof(float));
    }
    return 0;
}

/* Free everything the state holds. */
static void state_free(clip_state *s)
{
    free(s->diffs);
    free(s->gprev);
    free(s->fprev);
    free(s->fcur);
    free(s->u);
    free(s->v);
    free(s->pairs);
    for (int k = 0; k < s->nwf; k++)
        free(s->wframes[k]);
    free(s->wframes);
    for (int k = 0; k < s->nwtext; k++)
        avk_text_frame_free(&s->wtext[k]);
    free(s->wtext);
    if (s->apaths) {
        for (int k = 0; k < s->acount; k++)
            if (s->apaths[k]) {
                unlink(s->apaths[k]);
                avk_tmp_unregister(s->apaths[k]);
                free(s->apaths[k]);
            }
        free(s->apaths);
    }
    if (s->tmpdir) {
        rmdir(s->tmpdir);
        free(s->tmpdir);
    }
}

/* Decode once, score, decide; see filter.h. */
int avk_filter_clip(const char *video, long start, long end, double fps,
                    const avk_filter_opts *o, avk_filter_result *r)
{
    memset(r, 0, sizeof *r);
    r->reason = "unreadable";
    if (start < 0 || end <= start)
        return avk_error("%s: bad frame range %ld-%ld", video, start, end);
    avk_video_info info;
    if (avk_video_probe(video, &info) < 0)
        return -1;
    /* a clip the video does not have is a mistake in the manifest, not a
     * shorter clip: say so before allocating for its claimed length */
    if (info.nframes >= 0 && end > info.nframes) {
        r->bad_range = 1;
        return avk_error("%s: frames %ld-%ld run past the end of the video (%lld frames)",
                         video, start, end, (long long)info.nframes);
    }
    if (info.nframes < 0 && end - start > (1L << 24)) {
        r->bad_range = 1;
        return avk_error("%s: frames %ld-%ld: %ld frames is more than a clip can have "
                         "(the video's length is unknown)", video, start, end, end - start);
    }
    avk_decode_opts d = {.pixfmt = AVK_PIX_RGB24, .threads = o->threads, .fast = o->fast};
    avk_fit_short_side(info.width, info.height, o->size, 1, &d.width, &d.height);
    avk_video *v = avk_video_open(video, &d, &info);
    if (!v)
        return -1;
    if (fps <= 0)
        fps = info.fps > 0 ? info.fps : 25.0;
    clip_state s = {0};
    s.o = o;
    avk_video_out_size(v, &s.w, &s.h);
    s.n = end - start;
    size_t np = (size_t)s.w * s.h;
    if (start > 0 && avk_video_seek_frame(v, start) < 0) {
        avk_video_close(v);
        return -1;
    }
    if (o->scores & AVK_SCORE_STATIC) {
        s.diffs = avk_xcalloc((size_t)s.n, sizeof(double));
        s.gprev = avk_xmalloc(np * sizeof(float));
    }
    if (o->scores & AVK_SCORE_MOTION) {
        s.step = avk_dynamic_step(fps);
        avk_fit_short_side(s.w, s.h, o->flow_size, 0, &s.fw, &s.fh);
        s.fprev = avk_xmalloc((size_t)s.fw * s.fh * sizeof(float));
        s.fcur = avk_xmalloc((size_t)s.fw * s.fh * sizeof(float));
        s.u = avk_xmalloc((size_t)s.fw * s.fh * sizeof(float));
        s.v = avk_xmalloc((size_t)s.fw * s.fh * sizeof(float));
        s.pairs = avk_xmalloc((size_t)(s.n / s.step + 2) * sizeof(double));
    }
    s.na = spread(s.n, o->aesthetic_frames > 64 ? 64 : o->aesthetic_frames, s.aidx);
    s.nt = spread(s.n, o->text_frames > 64 ? 64 : o->text_frames, s.tidx);
    s.nw = spread(s.n, o->watermark_frames > 64 ? 64 : o->watermark_frames, s.widx);
    s.nwt = spread(s.n, 3, s.wtidx);
    if (o->scores & AVK_SCORE_WATERMARK) {
        s.wframes = avk_xcalloc((size_t)s.nw, sizeof(float *));
        s.wtext = avk_xcalloc(3, sizeof(avk_text_frame));
    }
    if ((o->scores & AVK_SCORE_AESTHETIC) && o->aesthetic_cmd) {
        const char *td = getenv("TMPDIR");
        s.tmpdir = avk_xasprintf("%s/avk-filter-XXXXXX", td && *td ? td : "/tmp");
        if (!mkdtemp(s.tmpdir)) {
            avk_error("%s: cannot make a temporary directory: %s", s.tmpdir, strerror(errno));
            free(s.tmpdir);
            s.tmpdir = NULL;
            avk_video_close(v);
            state_free(&s);
            return -1;
        }
        s.apaths = avk_xcalloc((size_t)s.na, sizeof(char *));
    }

    uint8_t *rgb = avk_xmalloc(avk_frame_bytes(AVK_PIX_RGB24, s.w, s.h));
    float *gray = avk_xmalloc(np * sizeof(float));
    uint8_t *g8 = avk_xmalloc(np);
    long i = 0;
    int rc = 0, readable = 1;
    for (; i < s.n; i++) {
        int got = avk_video_read(v, rgb, NULL);
        if (got == 0)
            break;
        if (got < 0) {
            if (i == 0)
                readable = 0;
            else
                avk_warn("%s: clip %ld-%ld: %s; scored on the %ld frames before it",
                         video, start, end, avk_errmsg(), i);
            break;
        }
        if (feed(&s, i, rgb, gray, g8, r) < 0) {
            rc = -1;
            break;
        }
    }
    avk_video_close(v);
    free(rgb);
    free(gray);
    free(g8);
    r->nframes = i;
    if (readable && rc == 0 && i == 0) {
        avk_error("%s: no frame decoded in %ld-%ld", video, start, end);
        readable = 0;
    }
    if (!readable || rc < 0) {
        state_free(&s);
        r->readable = 0;
        if (rc < 0) {
            r->readable = 1;   /* a failure of a score, not of the video */
            return -1;
        }
        avk_filter_decide(o, r);
        return -1;
    }
    r->readable = 1;
    if (i < s.n)
        avk_info(1, "%s: clip %ld-%ld ended after %ld frames", video, start, end, i);
    if (o->scores & AVK_SCORE_STATIC)
        r->static_frac = avk_static_fraction(s.diffs, i > 0 ? (size_t)i - 1 : 0, o->static_diff);
    if (o->scores & AVK_SCORE_MOTION) {
        double sum = 0;
        for (int k = 0; k < s.npairs; k++)
            sum += s.pairs[k];
        r->motion = s.npairs ? sum / s.npairs : 0;
        r->motion_pairs = s.npairs;
        r->dynamic = avk_dynamic_decide(s.pairs, s.npairs, s.nsampled,
                                        s.fw < s.fh ? s.fw : s.fh, fps, o->motion_thres,
                                        o->motion_count, NULL, &r->motion_above);
    }
    if (o->scores & AVK_SCORE_AESTHETIC) {
        if (o->aesthetic_cmd) {
            if (s.acount == 0 || run_aesthetic_cmd(o->aesthetic_cmd, s.apaths, s.acount, &r->aesthetic) < 0) {
                if (s.acount == 0)
                    avk_error("%s: no frame for the aesthetic command", video);
                state_free(&s);
                return -1;
            }
        } else {
            r->aesthetic = s.acount ? s.asum / s.acount : 1.0;
        }
    }
    if (o->scores & AVK_SCORE_WATERMARK) {
        avk_watermark wm;
        avk_watermark_measure((const float *const *)s.wframes, s.nwf, s.w, s.h,
                              s.wtext, s.nwtext, &wm);
        r->watermark = wm.score;
    }
    state_free(&s);
    avk_filter_decide(o, r);
    return 0;
}
