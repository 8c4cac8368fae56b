/* av-vaeenc: encode clips to VAE latents, or (-d) decode latents to videos.
 *
 * Encoding reads clips (a tensor stream from av-caption-feed, or a clip
 * manifest), resamples each clip's frames in time (--fps, --max-frames),
 * scales and center-crops them to the size bucket nearest the clip's aspect
 * ratio, maps pixels to [-1, 1], encodes them frame by frame in mini-batches
 * and writes one record per clip: the latent [C, T, h, w] plus every
 * metadata field and tensor of the input record. Under mpirun the frames of
 * each clip are dealt across ranks in contiguous runs and gathered in order
 * on rank 0, which writes; a frame's latent does not depend on the batch it
 * was encoded in, so the output equals one process's. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "avkit/io/avt.h"
#include "avkit/io/dtype.h"
#include "avkit/data/buckets.h"
#include "avkit/data/clipsrc.h"
#include "avkit/util/common.h"
#include "avkit/dist/dist.h"
#include "avkit/nn/tensor.h"
#include "avkit/models/vae.h"
#include "avkit/models/vae_train.h"
#include "avkit/io/video.h"

static void usage(void)
{
    printf("Usage: av-vaeenc -m VAE.safetensors [options] [-o OUT.avt] [INPUT]\n"
           "       av-vaeenc -d -m VAE.safetensors [options] -o DIR|FILE.mp4 [INPUT]\n"
           "Encode the frames of each clip in INPUT (a tensor stream of clip records,\n"
           "or a clip manifest) to VAE latents; with -d, decode latent records to\n"
           "videos. INPUT and OUT default to '-'.\n"
           "\n"
           "  -m, --vae FILE        VAE weights (safetensors, diffusers names)\n"
           "      --vae-config FILE diffusers config.json for weights without config\n"
           "  -o, --output PATH     output stream; with -d a directory or FILE.mp4\n"
           "      --fps X           resample clips to X frames a second (default: keep)\n"
           "      --max-frames N    at most N frames a clip (default: all)\n"
           "      --base N          base resolution of the size buckets (default 256)\n"
           "      --unit N          bucket sides are multiples of N (default 2 x factor)\n"
           "      --batch N         frames per encoder or decoder call (default 8)\n"
           "      --sample          store a sample of the latent distribution, not the mean\n"
           "      --seed N          seed of --sample (default 0)\n"
           "      --dtype T         latent type: f32, f16 or bf16 (default f32)\n"
           "      --zlib            compress the output tensors\n"
           "      --manifest        INPUT is a clip manifest (TSV) even on stdin\n"
           "  -d, --decode          decode latents to videos\n"
           "      --format F        with -d: mp4 (default) or tiff\n"
           "      --crf N           with -d: mp4 quality (default: the encoder's)\n"
           "  -v, --verbose         say what is done on stderr\n"
           "  -h, --help            this help\n"
           "      --version         print the version\n");
    exit(0);
}

typedef struct opts {
    const char *vae, *vae_config, *out, *in, *format;
    double fps;
    long max_frames, base, unit, batch, seed, crf;
    int sample, dtype, zlib, manifest, decode;
} opts;

/* Floats of a tensor (f32, f16, bf16) into a new buffer; NULL otherwise. */
static float *tensor_floats(const avt_tensor *t)
{
    int64_t n = avt_tensor_numel(t);
    if (t->dtype != AVT_F32 && t->dtype != AVT_F16 && t->dtype != AVT_BF16)
        return NULL;
    float *o = avk_falloc(n > 0 ? n : 1);
    if (t->dtype == AVT_F32)
        memcpy(o, t->data, (size_t)n * 4);
    else if (t->dtype == AVT_F16)
        avt_f16_to_f32_n(o, t->data, (size_t)n);
    else
        avt_bf16_to_f32_n(o, t->data, (size_t)n);
    return o;
}

/* ---- distributed helpers --------------------------------------------- */

/* Every rank learns whether any failed; the failing ones print why. */
static void agree_or_die(int rc, avt_writer *w)
{
    long bad = avk_dist_active() ? avk_dist_sum_long(rc < 0) : rc < 0;
    if (!bad)
        return;
    if (rc < 0)
        avk_warn_lib();
    if (w)
        avt_writer_abort(w);
    avk_dist_finalize();
    exit(1);
}

/* One clip's frames as avk_dist_items' job: contiguous runs of frames per
 * rank (batched through the VAE), each frame's bytes one item, kept by
 * rank 0 in frames[] in order. */
typedef struct frame_job {
    avk_vae         *v;
    const opts      *op;
    const avk_clip  *c;         /* encoding */
    const long      *idx;
    avk_bucket       b;
    int              sw, sh;
    const float     *lat;       /* decoding */
    int64_t          T;
    int              h, w;
    avk_buf         *frames;    /* rank 0: every frame, in order */
} frame_job;

/* Rank 0: keep frame t's bytes. */
static int keep_frame(size_t t, avk_buf *frame, void *ctx)
{
    frame_job *j = ctx;
    j->frames[t] = *frame;
    memset(frame, 0, sizeof *frame);
    return 0;
}

/* Deal, compute and gather one clip's T frames into frames[] on rank 0;
 * a failure on any rank ends every rank (the failing ones say why). */
static void run_frames(frame_job *j, int64_t T,
                       int (*work)(const size_t *, size_t, avk_buf *, void *), avt_writer *w)
{
    j->frames = avk_xcalloc((size_t)T, sizeof *j->frames);
    avk_items job = {.n = (size_t)T, .blocks = 1, .work_all = work, .emit = keep_frame, .ctx = j};
    avk_items_result res;
    agree_or_die(avk_dist_items(avk_comm_world(), &job, &res), w);
}

/* ---- encoding -------------------------------------------------------- */

/* Per-frame noise of --sample: depends on (seed, clip, frame) only. */
static void frame_noise(float *eps, int64_t n, long seed, long clip, int64_t frame)
{
    avk_rng r;
    avk_rng_seed(&r, (uint64_t)seed * 0x9E3779B97F4A7C15ull ^ (uint64_t)clip * 0xD1B54A32D192ED03ull ^
                     (uint64_t)frame * 0x8CB92BA72F3D8DD7ull);
    avk_fill_randn(eps, n, &r, 0.0f, 1.0f);
}

/* Encode one clip's frames of this rank into items[k] (latent [C, h, w] f32
 * per frame). 0 or -1. */
static int encode_frames(avk_vae *v, const opts *op, const avk_clip *c, const long *idx,
                         int64_t lo, int64_t hi, avk_bucket b, int sw, int sh, avk_buf *items)
{
    if (hi <= lo)
        return 0;
    int w, h;
    avk_frame_reader *fr = avk_frame_reader_open(c->video, sw, sh, &w, &h);
    if (!fr)
        return -1;
    int f = avk_vae_factor(&v->cfg), L = v->cfg.latent_channels;
    int64_t per_lat = (int64_t)L * (b.h / f) * (b.w / f), per_px = (int64_t)3 * b.w * b.h;
    int B = (int)op->batch;
    float *x = avk_falloc(per_px * B), *mean = avk_falloc(per_lat * B), *lv = avk_falloc(per_lat * B);
    float *eps = avk_falloc(per_lat), *z = avk_falloc(per_lat);
    uint8_t *frame = avk_xmalloc((size_t)w * h * 3), *crop = avk_xmalloc((size_t)b.w * b.h * 3);
    int x0 = (w - b.w) / 2, y0 = (h - b.h) / 2, rc = 0;
    for (int64_t k0 = lo; k0 < hi && rc == 0; k0 += B) {
        int nb = (int)(hi - k0 < B ? hi - k0 : B);
        for (int i = 0; i < nb && rc == 0; i++) {
            rc = avk_frame_reader_get(fr, idx[k0 + i], frame);
            for (int y = 0; y < b.h && rc == 0; y++)
                memcpy(crop + (size_t)y * b.w * 3, frame + ((size_t)(y0 + y) * w + x0) * 3,
                       (size_t)b.w * 3);
            avk_rgb_to_planar(x + i * per_px, crop, b.w, b.h);
        }
        if (rc == 0)
            rc = avk_vae_encode(v, x, nb, b.h, b.w, mean, op->sample ? lv : NULL);
        for (int i = 0; i < nb && rc == 0; i++) {
            float *m = mean + i * per_lat;
            if (op->sample) {
                frame_noise(eps, per_lat, op->seed, c->index, k0 + i);
                avk_gaussian_sample_fwd(z, m, lv + i * per_lat, eps, per_lat);
                memcpy(m, z, (size_t)per_lat * sizeof(float));
            }
            int64_t bad = avk_find_nonfinite(m, per_lat);
            if (bad >= 0) {
                rc = avk_error("%s: frame %ld: the latent has %s at element %lld (a broken VAE?)",
                               c->rec.key, idx[k0 + i], isnan(m[bad]) ? "NaN" : "Inf",
                               (long long)bad);
                break;
            }
            items[k0 + i].len = 0;
            avk_buf_append(&items[k0 + i], m, (size_t)per_lat * sizeof(float));
        }
    }
    avk_frame_reader_close(fr);
    free(frame);
    free(crop);
    avk_ffree(x);
    avk_ffree(mean);
    avk_ffree(lv);
    avk_ffree(eps);
    avk_ffree(z);
    return rc;
}

/* Rank 0: the output record of a clip from the gathered frame latents. */
static void build_record(avt_record *out, const avk_clip *c, const avk_vae *v, const opts *op,
                         const avk_buf *items, const long *idx, int64_t T, avk_bucket b, double fps)
{
    avt_record_copy(out, &c->rec);
    int f = avk_vae_factor(&v->cfg), L = v->cfg.latent_channels, h = b.h / f, w = b.w / f;
    int64_t hw = (int64_t)h * w, n = (int64_t)L * T * hw;
    size_t es = op->dtype == AVT_F32 ? 4 : 2;
    unsigned char *data = avk_xmalloc((size_t)n * es);
    for (int64_t t = 0; t < T; t++) {
        const float *src = (const float *)items[t].data;
        for (int ch = 0; ch < L; ch++)
            for (int64_t i = 0; i < hw; i++) {
                float val = src[ch * hw + i];
                int64_t o = ((int64_t)ch * T + t) * hw + i;
                if (op->dtype == AVT_F32) {
                    memcpy(data + 4 * o, &val, 4);
                } else {
                    uint16_t hv = op->dtype == AVT_F16 ? avt_f32_to_f16(val) : avt_f32_to_bf16(val);
                    memcpy(data + 2 * o, &hv, 2);
                }
            }
    }
    int64_t shape[4] = {L, T, h, w};
    avt_record_take_tensor(out, "latent", op->dtype, 4, shape, data);
    int32_t *fi = avk_xmalloc((size_t)T * sizeof *fi);
    for (int64_t t = 0; t < T; t++)
        fi[t] = (int32_t)idx[t];
    int64_t fs[1] = {T};
    avt_record_take_tensor(out, "frame_index", AVT_I32, 1, fs, fi);
    char buf[64];
    snprintf(buf, sizeof buf, "%dx%d", b.w, b.h);
    avt_record_set_meta(out, "bucket", buf);
    snprintf(buf, sizeof buf, "%ld", op->base);
    avt_record_set_meta(out, "bucket_base", buf);
    snprintf(buf, sizeof buf, "%ld", op->unit);
    avt_record_set_meta(out, "bucket_unit", buf);
    snprintf(buf, sizeof buf, "%.9g", fps);
    avt_record_set_meta(out, "vae_fps", buf);
    snprintf(buf, sizeof buf, "%lld", (long long)T);
    avt_record_set_meta(out, "vae_frames", buf);
    snprintf(buf, sizeof buf, "%d", f);
    avt_record_set_meta(out, "vae_factor", buf);
    snprintf(buf, sizeof buf, "%.9g", v->cfg.scaling_factor);
    avt_record_set_meta(out, "latent_scaling_factor", buf);
    snprintf(buf, sizeof buf, "%.9g", v->cfg.shift_factor);
    avt_record_set_meta(out, "latent_shift_factor", buf);
    avt_record_set_meta(out, "latent_kind", op->sample ? "sample" : "mean");
}

/* This rank's run of frames through the encoder. */
static int encode_work(const size_t *k, size_t n, avk_buf *items, void *ctx)
{
    frame_job *j = ctx;
    int64_t lo = n ? (int64_t)k[0] : 0;
    return encode_frames(j->v, j->op, j->c, j->idx, lo, lo + (int64_t)n, j->b, j->sw, j->sh,
                         items);
}

static int run_encode(avk_vae *v, const opts *op)
{
    int rank = avk_dist_rank(), f = avk_vae_factor(&v->cfg);
    avk_clipsrc *src = avk_clipsrc_open(op->in, op->manifest ? AVK_CLIPS_TSV : AVK_CLIPS_AUTO);
    agree_or_die(src ? 0 : -1, NULL);
    avt_writer *w = NULL;
    if (rank == 0)
        w = avt_writer_open(op->out, op->zlib ? AVT_WRITE_ZLIB : 0, 0);
    agree_or_die(rank == 0 && !w ? -1 : 0, NULL);
    avk_clip c;
    int rc;
    while ((rc = avk_clipsrc_next(src, &c)) > 0) {
        avk_video_info info;
        int err = avk_video_probe(c.video, &info);
        if (err == 0 && info.nframes >= 0 && c.end > info.nframes)
            err = avk_error("%s: frames %ld-%ld run past the end of the video (%lld frames)",
                            c.rec.key, c.start, c.end, (long long)info.nframes);
        if (err == 0 && (info.width < f || info.height < f))
            err = avk_error("%s: frames of %dx%d are smaller than one latent cell (%dx%d)",
                            c.rec.key, info.width, info.height, f, f);
        double fps_src = c.fps > 0 ? c.fps : info.fps;
        long *idx = NULL;
        int64_t T = 0;
        if (err == 0) {
            if (!(fps_src > 0))
                err = avk_error("%s: no frame rate (no fps column and none in the video)", c.rec.key);
            else
                T = avk_resample_frames(c.start, c.end, fps_src, op->fps, (int)op->max_frames, &idx);
            if (err == 0 && T == 0)
                err = avk_error("%s: %ld frames at %g fps are shorter than one frame at %g fps",
                                c.rec.key, c.end - c.start, fps_src, op->fps);
        }
        agree_or_die(err, w);
        avk_bucket b = avk_bucket_pick((int)op->base, (int)op->unit, info.width, info.height);
        int sw, sh;
        avk_bucket_cover(b, info.width, info.height, &sw, &sh);
        frame_job fj = {.v = v, .op = op, .c = &c, .idx = idx, .b = b, .sw = sw, .sh = sh};
        run_frames(&fj, T, encode_work, w);
        avk_buf *items = fj.frames;
        if (rank == 0) {
            avt_record out;
            double fps_out = op->fps > 0 ? op->fps : fps_src;
            build_record(&out, &c, v, op, items, idx, T, b, fps_out);
            if (avt_write_record(w, &out) < 0) {
                avt_writer_abort(w);
                avk_die_lib();
            }
            avk_info(1, "%s: %lld frames, bucket %dx%d", c.rec.key, (long long)T, b.w, b.h);
            avt_record_free(&out);
        }
        for (int64_t k = 0; k < T; k++)
            avk_buf_free(&items[k]);
        free(items);
        free(idx);
        avk_clip_free(&c);
    }
    agree_or_die(rc, w);
    avk_clipsrc_close(src);
    if (rank == 0 && avt_writer_finish(w) < 0)
        avk_die_lib();
    return 0;
}

/* ---- decoding -------------------------------------------------------- */

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Decode this rank's frames [lo, hi) of lat [L, T, h, w] to RGB items. */
static int decode_frames(avk_vae *v, const opts *op, const float *lat, int64_t T, int h, int w,
                         int64_t lo, int64_t hi, avk_buf *items)
{
    int f = avk_vae_factor(&v->cfg), L = v->cfg.latent_channels, B = (int)op->batch;
    int64_t hw = (int64_t)h * w, per_lat = L * hw, per_px = (int64_t)3 * h * f * w * f;
    float *z = avk_falloc(per_lat * B), *y = avk_falloc(per_px * B);
    int rc = 0;
    for (int64_t k0 = lo; k0 < hi && rc == 0; k0 += B) {
        int nb = (int)(hi - k0 < B ? hi - k0 : B);
        for (int i = 0; i < nb; i++)
            for (int ch = 0; ch < L; ch++)
                memcpy(z + i * per_lat + ch * hw, lat + ((int64_t)ch * T + k0 + i) * hw,
                       (size_t)hw * sizeof(float));
        rc = avk_vae_decode(v, z, nb, h, w, y);
        for (int i = 0; i < nb && rc == 0; i++) {
            avk_buf *it = &items[k0 + i];
            it->len = 0;
            uint8_t *rgb = avk_xmalloc((size_t)per_px);
            avk_planar_to_rgb(rgb, y + i * per_px, w * f, h * f);
            avk_buf_append(it, rgb, (size_t)per_px);
            free(rgb);
        }
    }
    avk_ffree(z);
    avk_ffree(y);
    return rc;
}

/* Rank 0: write one decoded record as mp4 or TIFF frames. */
static int write_video(const opts *op, const char *base, const avt_record *r, const avk_buf *items,
                       int64_t T, int W, int H)
{
    if (strcmp(op->format, "tiff") == 0) {
        for (int64_t t = 0; t < T; t++) {
            char *p = avk_xasprintf("%s-%04lld.tif", base, (long long)t);
            avk_image img = {W, H, 3, AVK_SAMPLE_U8, items[t].data};
            int rc = avk_tiff_write(p, &img, 1);
            free(p);
            if (rc < 0)
                return -1;
        }
        return 0;
    }
    const char *fs = avt_record_get_meta(r, "vae_fps");
    if (!fs)
        fs = avt_record_get_meta(r, "fps");
    double fps = fs ? atof(fs) : 0;
    if (!(fps > 0))
        fps = 25;
    char *p = ends_with(base, ".mp4") ? avk_xstrdup(base) : avk_xasprintf("%s.mp4", base);
    avk_encoder *e = avk_encoder_open(p, W, H, fps, op->crf >= 0 ? (int)op->crf : -1);
    free(p);
    if (!e)
        return -1;
    for (int64_t t = 0; t < T; t++)
        if (avk_encoder_write(e, items[t].data) < 0) {
            avk_encoder_abort(e);
            return -1;
        }
    return avk_encoder_finish(e);
}

/* This rank's run of latent frames through the decoder. */
static int decode_work(const size_t *k, size_t n, avk_buf *items, void *ctx)
{
    frame_job *j = ctx;
    int64_t lo = n ? (int64_t)k[0] : 0;
    return decode_frames(j->v, j->op, j->lat, j->T, j->h, j->w, lo, lo + (int64_t)n, items);
}

static int run_decode(avk_vae *v, const opts *op)
{
    int rank = avk_dist_rank(), f = avk_vae_factor(&v->cfg), L = v->cfg.latent_channels;
    int single = ends_with(op->out, ".mp4"), dir_err = 0;
    if (rank == 0 && !single && mkdir(op->out, 0777) < 0 && errno != EEXIST)
        dir_err = avk_error("%s: cannot create the directory: %s", op->out, strerror(errno));
    if (rank == 0 && single && avk_output_check(op->out, 1) < 0)
        dir_err = -1;       /* before decoding anything */
    agree_or_die(dir_err, NULL);
    avt_reader *rd = avt_reader_open(op->in);
    agree_or_die(rd ? 0 : -1, NULL);
    avt_record r;
    int rc;
    long count = 0;
    while ((rc = avt_read_record(rd, &r)) > 0) {
        const avt_tensor *t = avt_record_find(&r, "latent");
        float *lat = NULL;
        int err = 0;
        if (!t)
            err = avk_error("%s: record %ld (%s): no tensor \"latent\"", op->in, count, r.key);
        else if (t->ndim != 4 || t->shape[0] != L || t->shape[1] < 1 || t->shape[2] < 1 ||
                 t->shape[3] < 1)
            err = avk_error("%s: record %ld (%s): tensor \"latent\" is not [%d, T, h, w]", op->in,
                            count, r.key, L);
        else if (!(lat = tensor_floats(t)))
            err = avk_error("%s: record %ld (%s): tensor \"latent\" is %s, not f32, f16 or bf16",
                            op->in, count, r.key, avt_dtype_name(t->dtype));
        if (err == 0) {
            int64_t bad = avk_find_nonfinite(lat, avt_tensor_numel(t));
            if (bad >= 0)
                err = avk_error("%s: record %ld (%s): tensor \"latent\": %s at element %lld",
                                op->in, count, r.key, isnan(lat[bad]) ? "NaN" : "Inf",
                                (long long)bad);
        }
        if (err == 0 && single && count > 0)
            err = avk_error("%s: more than one record: give a directory to -o", op->in);
        agree_or_die(err, NULL);
        int64_t T = t->shape[1];
        int h = (int)t->shape[2], w = (int)t->shape[3];
        frame_job fj = {.v = v, .op = op, .lat = lat, .T = T, .h = h, .w = w};
        run_frames(&fj, T, decode_work, NULL);
        avk_buf *items = fj.frames;
        if (rank == 0) {
            char *base = single ? avk_xstrdup(op->out) : avk_xasprintf("%s/%06ld", op->out, count);
            if (write_video(op, base, &r, items, T, w * f, h * f) < 0)
                avk_die_lib();
            avk_info(1, "%s: %lld frames of %dx%d -> %s", r.key, (long long)T, w * f, h * f, base);
            free(base);
        }
        for (int64_t k = 0; k < T; k++)
            avk_buf_free(&items[k]);
        free(items);
        avk_ffree(lat);
        avt_record_free(&r);
        count++;
    }
    agree_or_die(rc, NULL);
    avt_reader_close(rd);
    return 0;
}

int main(int argc, char **argv)
{
    avk_tool_init(argv[0]);
    opts op = {0};
    op.out = "-";
    op.in = "-";
    op.format = "mp4";
    op.base = 256;
    op.unit = 0;
    op.batch = 8;
    op.crf = -1;
    op.dtype = AVT_F32;
    enum { O_CFG = 256, O_FPS, O_MAXF, O_BASE, O_UNIT, O_BATCH, O_SAMPLE, O_SEED, O_DTYPE, O_ZLIB,
           O_MANIFEST, O_FORMAT, O_CRF, O_VERSION };
    static const struct option lo[] = {
        {"vae", required_argument, 0, 'm'}, {"vae-config", required_argument, 0, O_CFG},
        {"output", required_argument, 0, 'o'}, {"fps", required_argument, 0, O_FPS},
        {"max-frames", required_argument, 0, O_MAXF}, {"base", required_argument, 0, O_BASE},
        {"unit", required_argument, 0, O_UNIT}, {"batch", required_argument, 0, O_BATCH},
        {"sample", no_argument, 0, O_SAMPLE}, {"seed", required_argument, 0, O_SEED},
        {"dtype", required_argument, 0, O_DTYPE}, {"zlib", no_argument, 0, O_ZLIB},
        {"manifest", no_argument, 0, O_MANIFEST}, {"decode", no_argument, 0, 'd'},
        {"format", required_argument, 0, O_FORMAT}, {"crf", required_argument, 0, O_CRF},
        {"verbose", no_argument, 0, 'v'}, {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "m:o:dvh", lo, NULL)) != -1) {
        switch (ch) {
        case 'm': op.vae = optarg; break;
        case O_CFG: op.vae_config = optarg; break;
        case 'o': op.out = optarg; break;
        case O_FPS: op.fps = avk_parse_double("--fps", optarg, 0.001, 1000); break;
        case O_MAXF: op.max_frames = avk_parse_long("--max-frames", optarg, 1, 1000000); break;
        case O_BASE: op.base = avk_parse_long("--base", optarg, 1, 8192); break;
        case O_UNIT: op.unit = avk_parse_long("--unit", optarg, 1, 1024); break;
        case O_BATCH: op.batch = avk_parse_long("--batch", optarg, 1, 1024); break;
        case O_SAMPLE: op.sample = 1; break;
        case O_SEED: op.seed = avk_parse_long("--seed", optarg, 0, 0x7fffffffL); break;
        case O_DTYPE:
            op.dtype = strcmp(optarg, "f32") == 0 ? AVT_F32 : strcmp(optarg, "f16") == 0 ? AVT_F16
                     : strcmp(optarg, "bf16") == 0 ? AVT_BF16 : -1;
            if (op.dtype < 0)
                avk_usage_error("--dtype: '%s' is not f32, f16 or bf16", optarg);
            break;
        case O_ZLIB: op.zlib = 1; break;
        case O_MANIFEST: op.manifest = 1; break;
        case 'd': op.decode = 1; break;
        case O_FORMAT:
            if (strcmp(optarg, "mp4") != 0 && strcmp(optarg, "tiff") != 0)
                avk_usage_error("--format: '%s' is not mp4 or tiff", optarg);
            op.format = optarg;
            break;
        case O_CRF: op.crf = avk_parse_long("--crf", optarg, 0, 51); break;
        case 'v': avk_verbose++; break;
        case 'h': usage(); break;
        case O_VERSION: avk_print_version(); break;
        default: avk_usage_try();
        }
    }
    if (!op.vae)
        avk_usage_error("-m VAE.safetensors is required");
    if (optind < argc)
        op.in = argv[optind++];
    if (optind < argc)
        avk_usage_error("one input at most");
    if (op.decode && strcmp(op.out, "-") == 0)
        avk_usage_error("-d needs -o DIR or -o FILE.mp4");
    if (op.decode && strcmp(op.format, "tiff") == 0 && ends_with(op.out, ".mp4"))
        avk_usage_error("--format tiff writes into a directory, not %s", op.out);
    if (avk_dist_init(&argc, &argv) < 0)
        avk_die_lib();
    if (avk_dist_active() && strcmp(op.in, "-") == 0)
        avk_die(2, "under mpirun the input must be a file, not stdin");
    avk_vae *v = avk_vae_load(op.vae, op.vae_config);
    agree_or_die(v ? 0 : -1, NULL);
    int f = avk_vae_factor(&v->cfg);
    if (op.unit == 0)
        op.unit = 2 * f;
    if (op.unit % f)
        avk_usage_error("--unit %ld is not a multiple of the latent cell (%d pixels)", op.unit, f);
    if (op.base < op.unit)
        avk_usage_error("--base %ld is smaller than one bucket unit (%ld pixels)", op.base, op.unit);
    int rc = op.decode ? run_decode(v, &op) : run_encode(v, &op);
    avk_vae_free(v);
    avk_dist_finalize();
    return rc;
}
