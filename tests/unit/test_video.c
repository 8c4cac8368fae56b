/* Decoding through the video module: exact seeking (the frame after a seek
 * to i equals frame i of a sequential decode, byte for byte), in normal and
 * fast mode, across containers and codecs; output sizes; concurrent use
 * from several threads. The videos come from tests/t301-video-seek.t in
 * $AVK_TEST_VIDEOS (space-separated paths, made with ffmpeg's lavfi).
 */
#include "avkit/util/common.h"
#include "avkit/io/video.h"
#include "tap.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef struct {
    uint8_t *frames;   /* nframes frames back to back */
    size_t fsize;
    int64_t n;
} decoded;

/* Decode a whole video sequentially; frames' indices must count 0, 1, ... */
static int decode_all(const char *path, const avk_decode_opts *o, decoded *d)
{
    avk_video_info in;
    avk_video *v = avk_video_open(path, o, &in);
    if (!v)
        return -1;
    int w, h;
    avk_video_out_size(v, &w, &h);
    d->fsize = avk_frame_bytes(o->pixfmt, w, h);
    d->frames = avk_xmalloc(d->fsize * (size_t)(in.nframes > 0 ? in.nframes : 1));
    d->n = 0;
    int64_t idx;
    int rc;
    while ((rc = avk_video_read(v, d->frames + d->n * d->fsize, &idx)) == 1) {
        if (idx != d->n) {
            avk_error("%s: frame %lld came with index %lld", path, (long long)d->n,
                      (long long)idx);
            rc = -1;
            break;
        }
        if (++d->n >= in.nframes)
            break;
    }
    avk_video_close(v);
    return rc < 0 ? -1 : 0;
}

/* Seek to each index in `order` and compare the frame read with the
 * sequential decode. Returns the number of mismatches (or -1 on error). */
static int check_seeks(const char *path, const avk_decode_opts *o, const decoded *d,
                       const int64_t *order, int norder, char *why, size_t whylen)
{
    avk_video *v = avk_video_open(path, o, NULL);
    if (!v)
        return -1;
    uint8_t *buf = avk_xmalloc(d->fsize);
    int bad = 0;
    why[0] = 0;
    for (int k = 0; k < norder; k++) {
        int64_t i = order[k], idx = -1;
        if (i >= d->n)
            continue;
        if (avk_video_seek_frame(v, i) < 0 || avk_video_read(v, buf, &idx) != 1 ||
            idx != i || memcmp(buf, d->frames + i * d->fsize, d->fsize) != 0) {
            if (!bad)
                snprintf(why, whylen, "first mismatch at frame %lld (read index %lld) %s",
                         (long long)i, (long long)idx, avk_errmsg());
            bad++;
        }
        /* The frame after the seeked one is the next in sequence. */
        if (i + 1 < d->n && (avk_video_read(v, buf, &idx) != 1 || idx != i + 1 ||
                             memcmp(buf, d->frames + (i + 1) * d->fsize, d->fsize) != 0)) {
            if (!bad)
                snprintf(why, whylen, "frame after %lld differs", (long long)i);
            bad++;
        }
    }
    free(buf);
    avk_video_close(v);
    return bad;
}

typedef struct {
    const char *path;
    avk_decode_opts opts;
    uLong crc;
    int rc;
} job;

/* A thread's work: decode a video and checksum its frames. */
static void *decode_job(void *arg)
{
    job *j = arg;
    decoded d;
    j->rc = decode_all(j->path, &j->opts, &d);
    j->crc = crc32(0, Z_NULL, 0);
    if (j->rc == 0)
        j->crc = crc32(j->crc, d.frames, (uInt)(d.fsize * d.n));
    free(d.frames);
    return NULL;
}

/* The bilinear rule of AVK_SCALE_BILINEAR in plain doubles: destination
 * pixel d samples the source at (d + 1/2) src/dst - 1/2, clamped. */
static double bilinear_ref(const uint8_t *p, int stride, int sw, int sh, int dw, int dh, int x,
                           int y)
{
    double sx = (x + 0.5) * sw / dw - 0.5, sy = (y + 0.5) * sh / dh - 0.5;
    sx = sx < 0 ? 0 : sx > sw - 1 ? sw - 1 : sx;
    sy = sy < 0 ? 0 : sy > sh - 1 ? sh - 1 : sy;
    int x0 = (int)sx, y0 = (int)sy;
    int x1 = x0 + 1 < sw ? x0 + 1 : x0, y1 = y0 + 1 < sh ? y0 + 1 : y0;
    double fx = sx - x0, fy = sy - y0;
    double top = p[y0 * stride + x0] * (1 - fx) + p[y0 * stride + x1] * fx;
    double bot = p[y1 * stride + x0] * (1 - fx) + p[y1 * stride + x1] * fx;
    return top * (1 - fy) + bot * fy;
}

/* AVK_SCALE_BILINEAR from 4:2:0 to a smaller 4:2:0 follows bilinear_ref
 * on each plane of the full-size frame (within rounding: weights are in
 * 1/256ths), and the split read (avk_video_read_decoded, then
 * avk_video_convert) gives the bytes of avk_video_read. Returns the
 * largest difference from the reference, or -1 on an error. */
static int check_bilinear(const char *path, int width, int *split_same)
{
    avk_decode_opts full = {.pixfmt = AVK_PIX_YUV420P};
    avk_decode_opts small = {.width = width, .pixfmt = AVK_PIX_YUV420P,
                             .scaler = AVK_SCALE_BILINEAR};
    avk_video_info in;
    avk_video *vf = avk_video_open(path, &full, &in);
    avk_video *vs = avk_video_open(path, &small, NULL);
    avk_video *vd = avk_video_open(path, &small, NULL);
    if (!vf || !vs || !vd) {
        avk_video_close(vf);
        avk_video_close(vs);
        avk_video_close(vd);
        return -1;
    }
    int sw = in.width, sh = in.height, dw, dh;
    avk_video_out_size(vs, &dw, &dh);
    uint8_t *fb = avk_xmalloc(avk_frame_bytes(AVK_PIX_YUV420P, sw, sh));
    uint8_t *sb = avk_xmalloc(avk_frame_bytes(AVK_PIX_YUV420P, dw, dh));
    uint8_t *db = avk_xmalloc(avk_frame_bytes(AVK_PIX_YUV420P, dw, dh));
    double worst = 0;
    *split_same = 1;
    for (int n = 0; n < 5; n++) {
        avk_decoded *f = NULL;
        if (avk_video_read(vf, fb, NULL) != 1 || avk_video_read(vs, sb, NULL) != 1 ||
            avk_video_read_decoded(vd, &f, NULL) != 1 || avk_video_convert(vd, f, db) < 0) {
            avk_decoded_free(&f);
            worst = -1;
            break;
        }
        avk_decoded_free(&f);
        if (memcmp(sb, db, avk_frame_bytes(AVK_PIX_YUV420P, dw, dh)) != 0)
            *split_same = 0;
        const uint8_t *fp = fb, *sp = sb;
        for (int plane = 0; plane < 3; plane++) {
            int pw = plane ? (sw + 1) / 2 : sw, ph = plane ? (sh + 1) / 2 : sh;
            int qw = plane ? (dw + 1) / 2 : dw, qh = plane ? (dh + 1) / 2 : dh;
            for (int y = 0; y < qh; y++)
                for (int x = 0; x < qw; x++) {
                    double d = fabs(sp[y * qw + x] - bilinear_ref(fp, pw, pw, ph, qw, qh, x, y));
                    worst = d > worst ? d : worst;
                }
            fp += (size_t)pw * ph;
            sp += (size_t)qw * qh;
        }
    }
    free(fb);
    free(sb);
    free(db);
    avk_video_close(vf);
    avk_video_close(vs);
    avk_video_close(vd);
    return worst < 0 ? -1 : (int)ceil(worst);
}

int main(void)
{
    const char *list = getenv("AVK_TEST_VIDEOS");
    if (!list) {
        printf("1..0 # SKIP AVK_TEST_VIDEOS not set (run through tests/t301-video-seek.t)\n");
        return 0;
    }
    char *paths = avk_xstrdup(list);
    /* Key frames every 12 frames in the test media: cover key frames, the
     * frames around them, backward and forward jumps, the first and last. */
    const int64_t order[] = {37, 0, 12, 11, 13, 59, 1, 25, 24, 5, 47, 48, 30, 31, 58};
    const int norder = (int)(sizeof order / sizeof order[0]);
    char why[512];
    job jobs[8];
    int njobs = 0;

    for (char *save = NULL, *p = strtok_r(paths, " ", &save); p; p = strtok_r(NULL, " ", &save)) {
        const char *name = strrchr(p, '/') ? strrchr(p, '/') + 1 : p;
        avk_decode_opts rgb = {0};
        decoded d;
        if (!ok(decode_all(p, &rgb, &d) == 0, "%s: sequential decode", name)) {
            diag("%s", avk_errmsg());
            continue;
        }
        int bad = check_seeks(p, &rgb, &d, order, norder, why, sizeof why);
        if (!ok(bad == 0, "%s: exact seek to %d frames (RGB, source size)", name, norder))
            diag("%d mismatches; %s", bad, why);
        free(d.frames);

        avk_decode_opts fast = {.width = 96, .pixfmt = AVK_PIX_GRAY8, .fast = 1, .threads = 2};
        avk_decode_opts slow = fast;
        slow.fast = 0;
        decoded ref;
        if (decode_all(p, &slow, &ref) < 0)
            ref.frames = NULL;
        if (ok(decode_all(p, &fast, &d) == 0, "%s: fast gray decode at 96 px wide", name)) {
            /* Fast frames differ from normal ones only a little. */
            double sum = 0;
            size_t total = d.fsize * (size_t)d.n;
            for (size_t k = 0; ref.frames && ref.n == d.n && k < total; k++)
                sum += abs((int)d.frames[k] - (int)ref.frames[k]);
            double mad = ref.frames && ref.n == d.n ? sum / (double)total : 1e9;
            ok(mad < 6, "%s: fast frames are close to normal ones (mean abs diff %.2f of 255)",
               name, mad);
            bad = check_seeks(p, &fast, &d, order, norder, why, sizeof why);
            if (!ok(bad == 0, "%s: exact seek in fast mode", name))
                diag("%d mismatches; %s", bad, why);
            free(d.frames);
        } else {
            diag("%s", avk_errmsg());
        }
        free(ref.frames);
        if (njobs < 8)
            jobs[njobs++] = (job){.path = p, .opts = {.width = 64, .pixfmt = AVK_PIX_YUV420P}};
    }

    /* The same decodes on several threads at once give the same frames. */
    uLong want[8];
    for (int i = 0; i < njobs; i++) {
        decode_job(&jobs[i]);
        want[i] = jobs[i].crc;
    }
    pthread_t th[8];
    for (int i = 0; i < njobs; i++)
        pthread_create(&th[i], NULL, decode_job, &jobs[i]);
    int same = njobs > 1;
    for (int i = 0; i < njobs; i++) {
        pthread_join(th[i], NULL);
        same = same && jobs[i].rc == 0 && jobs[i].crc == want[i];
    }
    ok(same, "%d videos decoded on %d threads at once match the one-at-a-time decode",
       njobs, njobs);

    /* Output sizes: one 0 keeps the aspect ratio; YUV planes round up. */
    char *first = strtok(paths, " ");
    avk_video_info in;
    avk_decode_opts half = {.height = 120};
    avk_video *v = avk_video_open(first, &half, &in);
    int w = 0, h = 0;
    if (v)
        avk_video_out_size(v, &w, &h);
    avk_video_close(v);
    ok(w == in.width * 120 / in.height && h == 120, "height 120 keeps the aspect: %dx%d", w, h);
    ok(avk_frame_bytes(AVK_PIX_YUV420P, 5, 3) == 15 + 2 * 3 * 2 &&
       avk_frame_bytes(AVK_PIX_RGB24, 5, 3) == 45 && avk_frame_bytes(AVK_PIX_GRAY8, 5, 3) == 15,
       "frame sizes of odd frames in each layout");
    avk_decode_opts badfmt = {.pixfmt = 99};
    ok(avk_video_open(first, &badfmt, NULL) == NULL && strstr(avk_errmsg(), "pixel format"),
       "an unknown pixel format is refused: %s", avk_errmsg());

    /* The analysis scaler, on an H.264 video (4:2:0, limited range). */
    for (int k = 0; k < 2; k++) {
        int width = k ? 37 : 96, split_same = 0;
        int worst = check_bilinear(first, width, &split_same);
        if (!ok(worst >= 0 && worst <= 1,
                "bilinear shrinking to %d px wide follows the rule (largest difference %d)",
                width, worst))
            diag("%s", worst < 0 ? avk_errmsg() : "");
        ok(split_same, "read_decoded + convert give the bytes of read at %d px wide", width);
    }
    free(paths);
    return done_testing();
}
