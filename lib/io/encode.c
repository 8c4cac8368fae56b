/* Encoding RGB24 frames to an mp4 through libavformat and libavcodec:
 * H.264 with libx264 where it exists (constant quality, crf 18 unless told),
 * else MPEG-4 part 2 at a fixed quantizer. The file is written under a
 * temporary name in the same directory and renamed by avk_encoder_finish,
 * so no half video ever appears under the real name.
 */
#include "avkit/io/video.h"
#include "avkit/util/common.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#define DEFAULT_CRF 18

struct avk_encoder {
    char *path, *tmp;
    char *target;            /* path with links followed: renamed onto or,
                                for a device or FIFO, written in place */
    AVFormatContext *oc;
    AVCodecContext *enc;
    AVStream *st;
    AVFrame *frame;          /* yuv420p at the even size */
    AVPacket *pkt;
    struct SwsContext *sws;
    int width, height;       /* the caller's frame size */
    int64_t next_pts;
    int header_written;
};

/* Free everything; remove the temporary file unless it was renamed. */
static void encoder_free(avk_encoder *e)
{
    if (!e)
        return;
    if (e->oc) {
        if (e->oc->pb)
            avio_closep(&e->oc->pb);
        avformat_free_context(e->oc);
    }
    if (e->tmp) {
        unlink(e->tmp);
        avk_tmp_unregister(e->tmp);
        free(e->tmp);
    }
    avcodec_free_context(&e->enc);
    av_frame_free(&e->frame);
    av_packet_free(&e->pkt);
    sws_freeContext(e->sws);
    free(e->target);
    free(e->path);
    free(e);
}

static const char *av_err(int code, char *buf, size_t n)
{
    av_strerror(code, buf, n);
    return buf;
}

/* Where the muxer writes: a fresh temporary name next to the target
 * (created empty, registered for removal on a fatal exit; the muxer reopens
 * it by name), or the target itself when it is a device or a FIFO. Sets
 * e->target and e->tmp; the name to open, or NULL with the error set. */
static const char *make_tmp(avk_encoder *e)
{
    int kind = avk_out_target(e->path, &e->target);
    if (kind < 0)
        return NULL;
    if (kind == AVK_OUT_DIRECT)
        return e->target;
    int fd = avk_tmp_create(e->target, &e->tmp);
    if (fd < 0)
        return NULL;
    close(fd);
    return e->tmp;
}

/* A frame rate as a fraction: whole rates and the NTSC family
 * (N*1000/1001, e.g. 29.97) exactly, anything else to 1/100000. */
static AVRational frame_rate(double fps)
{
    static const int dens[] = {1, 1001};
    for (int i = 0; i < 2; i++) {
        double unit = dens[i] == 1 ? 1 : 1000;
        int64_t num = llrint(fps * dens[i] / unit) * (int64_t)unit;
        if (num > 0 && fabs((double)num / dens[i] - fps) < 1e-4 * fps)
            return (AVRational){(int)num, dens[i]};
    }
    return av_d2q(fps, 100000);
}

/* Configure the encoder context for the chosen codec and quality. */
static int setup_codec(avk_encoder *e, const AVCodec *codec, AVRational rate, int crf)
{
    char eb[128];
    AVCodecContext *c = e->enc;
    c->width = (e->width + 1) & ~1;
    c->height = (e->height + 1) & ~1;
    c->pix_fmt = AV_PIX_FMT_YUV420P;
    c->time_base = av_inv_q(rate);
    c->framerate = rate;
    c->sample_aspect_ratio = (AVRational){1, 1};
    c->color_range = AVCOL_RANGE_MPEG;
    c->colorspace = AVCOL_SPC_BT470BG;   /* swscale's default matrix (BT.601) */
    c->color_primaries = AVCOL_PRI_BT470BG;
    c->color_trc = AVCOL_TRC_SMPTE170M;
    c->gop_size = 250;
    if (e->oc->oformat->flags & AVFMT_GLOBALHEADER)
        c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AVDictionary *opts = NULL;
    if (strcmp(codec->name, "libx264") == 0) {
        char q[16];
        snprintf(q, sizeof q, "%d", crf < 0 ? DEFAULT_CRF : crf);
        av_dict_set(&opts, "crf", q, 0);
        av_dict_set(&opts, "preset", "fast", 0);
    } else {
        /* MPEG-4 part 2: a fixed quantizer, about crf/6 (crf 18 -> q 3). */
        int qs = crf < 0 ? 3 : crf / 6;
        qs = qs < 2 ? 2 : qs > 31 ? 31 : qs;
        c->flags |= AV_CODEC_FLAG_QSCALE;
        c->global_quality = FF_QP2LAMBDA * qs;
        c->max_b_frames = 2;
    }
    int ret = avcodec_open2(c, codec, &opts);
    av_dict_free(&opts);
    if (ret < 0)
        return avk_error("%s: cannot open the %s encoder: %s", e->path, codec->name,
                         av_err(ret, eb, sizeof eb));
    return 0;
}

/* Start an mp4 with a named encoder (NULL: libx264, else mpeg4). */
avk_encoder *avk_encoder_open_codec(const char *path, int width, int height,
                                    double fps, int crf, const char *codec_name)
{
    char eb[128];
    if (width <= 0 || height <= 0 || width > 16384 || height > 16384) {
        avk_error("%s: bad frame size %dx%d", path, width, height);
        return NULL;
    }
    if (!(fps > 0 && fps <= 1000)) {
        avk_error("%s: bad frame rate %g", path, fps);
        return NULL;
    }
    av_log_set_level(avk_verbose > 1 ? AV_LOG_WARNING : AV_LOG_QUIET);
    const AVCodec *codec = NULL;
    if (codec_name) {
        codec = avcodec_find_encoder_by_name(codec_name);
        if (!codec || codec->type != AVMEDIA_TYPE_VIDEO) {
            avk_error("%s: no video encoder named '%s'", path, codec_name);
            return NULL;
        }
    } else {
        codec = avcodec_find_encoder_by_name("libx264");
        if (!codec)
            codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
        if (!codec) {
            avk_error("%s: neither libx264 nor an MPEG-4 encoder is available", path);
            return NULL;
        }
    }

    avk_encoder *e = avk_xcalloc(1, sizeof *e);
    e->path = avk_xstrdup(path);
    e->width = width;
    e->height = height;
    const char *dest = make_tmp(e);
    if (!dest)
        goto fail;
    int ret = avformat_alloc_output_context2(&e->oc, NULL, "mp4", dest);
    if (ret < 0 || !e->oc) {
        avk_error("%s: cannot set up an mp4 muxer: %s", path, av_err(ret, eb, sizeof eb));
        goto fail;
    }
    e->enc = avcodec_alloc_context3(codec);
    e->st = avformat_new_stream(e->oc, NULL);
    e->frame = av_frame_alloc();
    e->pkt = av_packet_alloc();
    if (!e->enc || !e->st || !e->frame || !e->pkt) {
        avk_error("%s: out of memory", path);
        goto fail;
    }
    AVRational rate = frame_rate(fps);
    if (setup_codec(e, codec, rate, crf) < 0)
        goto fail;
    ret = avcodec_parameters_from_context(e->st->codecpar, e->enc);
    if (ret < 0) {
        avk_error("%s: %s", path, av_err(ret, eb, sizeof eb));
        goto fail;
    }
    e->st->time_base = e->enc->time_base;
    e->st->avg_frame_rate = rate;
    ret = avio_open(&e->oc->pb, dest, AVIO_FLAG_WRITE);
    if (ret < 0) {
        avk_error("%s: cannot write: %s", path, av_err(ret, eb, sizeof eb));
        goto fail;
    }
    AVDictionary *mopts = NULL;
    av_dict_set(&mopts, "movflags", "+faststart", 0);
    ret = avformat_write_header(e->oc, &mopts);
    av_dict_free(&mopts);
    if (ret < 0) {
        avk_error("%s: cannot write the mp4 header: %s", path, av_err(ret, eb, sizeof eb));
        goto fail;
    }
    e->header_written = 1;
    e->frame->format = e->enc->pix_fmt;
    e->frame->width = e->enc->width;
    e->frame->height = e->enc->height;
    if (av_frame_get_buffer(e->frame, 0) < 0) {
        avk_error("%s: out of memory", path);
        goto fail;
    }
    e->sws = sws_getContext(width, height, AV_PIX_FMT_RGB24, width, height,
                            AV_PIX_FMT_YUV420P, SWS_BICUBIC | SWS_ACCURATE_RND,
                            NULL, NULL, NULL);
    if (!e->sws) {
        avk_error("%s: cannot convert RGB to YUV at %dx%d", path, width, height);
        goto fail;
    }
    return e;
fail:
    encoder_free(e);
    return NULL;
}

/* Start an mp4: H.264 via libx264 when present, else MPEG-4 part 2. */
avk_encoder *avk_encoder_open(const char *path, int width, int height,
                              double fps, int crf)
{
    return avk_encoder_open_codec(path, width, height, fps, crf, NULL);
}

/* Send one frame (NULL flushes) and write every packet that comes out. */
static int encode_and_write(avk_encoder *e, AVFrame *f)
{
    char eb[128];
    int ret = avcodec_send_frame(e->enc, f);
    if (ret < 0)
        return avk_error("%s: frame %lld: encoding failed: %s", e->path,
                         (long long)e->next_pts, av_err(ret, eb, sizeof eb));
    for (;;) {
        ret = avcodec_receive_packet(e->enc, e->pkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return 0;
        if (ret < 0)
            return avk_error("%s: encoding failed: %s", e->path, av_err(ret, eb, sizeof eb));
        av_packet_rescale_ts(e->pkt, e->enc->time_base, e->st->time_base);
        e->pkt->stream_index = e->st->index;
        ret = av_interleaved_write_frame(e->oc, e->pkt);
        if (ret < 0)
            return avk_error("%s: write error: %s", e->path, av_err(ret, eb, sizeof eb));
    }
}

/* Repeat the last column and row into the padding of an odd-sized frame. */
static void pad_edges(AVFrame *f, int w, int h)
{
    for (int p = 0; p < 3; p++) {
        int pw = p ? (w + 1) / 2 : w, ph = p ? (h + 1) / 2 : h;
        int fw = p ? f->width / 2 : f->width, fh = p ? f->height / 2 : f->height;
        uint8_t *d = f->data[p];
        int ls = f->linesize[p];
        for (int y = 0; y < ph; y++)
            for (int x = pw; x < fw; x++)
                d[y * ls + x] = d[y * ls + pw - 1];
        for (int y = ph; y < fh; y++)
            memcpy(d + y * ls, d + (ph - 1) * ls, (size_t)fw);
    }
}

/* Add one RGB24 frame (width*height*3 bytes). */
int avk_encoder_write(avk_encoder *e, const uint8_t *rgb)
{
    if (av_frame_make_writable(e->frame) < 0)
        return avk_error("%s: out of memory", e->path);
    const uint8_t *src[1] = {rgb};
    int sls[1] = {e->width * 3};
    sws_scale(e->sws, src, sls, 0, e->height, e->frame->data, e->frame->linesize);
    if (e->width != e->frame->width || e->height != e->frame->height)
        pad_edges(e->frame, e->width, e->height);
    e->frame->pts = e->next_pts;
    if (encode_and_write(e, e->frame) < 0)
        return -1;
    e->next_pts++;
    return 0;
}

/* Flush the encoder, write the trailer and rename into place. */
int avk_encoder_finish(avk_encoder *e)
{
    char eb[128];
    int rc = encode_and_write(e, NULL);
    if (rc == 0) {
        int ret = av_write_trailer(e->oc);
        if (ret < 0)
            rc = avk_error("%s: cannot finish the mp4: %s", e->path, av_err(ret, eb, sizeof eb));
    }
    if (rc == 0) {
        int ret = avio_closep(&e->oc->pb);
        if (ret < 0)
            rc = avk_error("%s: write error: %s", e->path, av_err(ret, eb, sizeof eb));
    }
    if (rc == 0 && e->tmp && rename(e->tmp, e->target) != 0)
        rc = avk_error("%s: cannot rename temporary file: %s", e->path, strerror(errno));
    if (rc == 0 && e->tmp) {
        avk_tmp_unregister(e->tmp);
        free(e->tmp);
        e->tmp = NULL;
    }
    encoder_free(e);
    return rc;
}

/* Give up: nothing appears under the real name. */
void avk_encoder_abort(avk_encoder *e)
{
    encoder_free(e);
}
