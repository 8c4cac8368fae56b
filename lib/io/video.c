/* Video decoding through FFmpeg's libraries: open any file libavformat
 * reads, decode its best video stream with frame threads, scale and convert
 * frames with libswscale, and seek to a frame index exactly.
 *
 * Frame indices: frame 0 is the first frame the decoder puts out; the index
 * of any frame is its presentation timestamp minus frame 0's, times the
 * frame rate, rounded (so a stream whose start time is not 0 still counts
 * from 0, and a seek lands on the same index a sequential decode gives).
 * A frame without a timestamp, or one whose timestamp would not advance the
 * count, gets the previous index plus one.
 *
 * Damaged input: a packet the demuxer or the decoder rejects, or a frame
 * the decoder flags as corrupt, makes avk_video_read return -1 with
 * "path: frame N: ..."; the reader stays usable, so a caller that wants to
 * skip damage calls avk_video_read again. In a constant-rate stream
 * (average and base frame rates agree) a jump in the frame index means the
 * demuxer dropped frames, which is reported the same way. A container that declared more
 * frames than the file holds (a truncated file) gives one -1 ("ends at
 * frame N of M") before the final 0. See man/man3/avkit-video.3.
 */
#include "avkit/io/video.h"
#include "video_shrink.h"
#include "avkit/util/common.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/cpu.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

/* Consecutive demuxer (or decoder) errors after which the input counts
 * as ended, so that a caller reading past damage always comes to an end. */
#define MAX_DEMUX_ERRORS 64

struct avk_video {
    char *path;
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVStream *st;
    AVPacket *pkt;
    AVFrame *frame;          /* the decoder's output */
    AVFrame *held;           /* a decoded frame waiting to be read */
    AVFrame *out;            /* wraps the caller's buffer for swscale */
    int64_t held_index;      /* its index (valid when have_held) */
    int have_held;

    AVRational rate;         /* frame rate used for indices; 0/0: count */
    int cfr;                 /* constant rate: an index gap means lost frames */
    int64_t start_pts;       /* timestamp of frame 0 */
    int64_t last_index;      /* index of the last frame decoded, -1 none */
    int64_t last_pts;        /* its timestamp (AV_NOPTS_VALUE if none) */
    int64_t declared;        /* frame count the container declared, -1 */
    int64_t nframes;         /* frames (declared or counted), -1 unknown */
    int flushing;            /* the end of input was sent to the decoder */
    int ended;               /* the decoder returned its last frame */
    int short_reported;      /* a truncation was reported once */
    int demux_errors;        /* consecutive demuxer errors */
    int decode_errors;       /* consecutive decoder errors */

    int out_w, out_h, pixfmt;
    enum AVPixelFormat out_av;
    struct SwsContext *sws;  /* converter for the current input layout */
    int sws_w, sws_h, sws_fmt, sws_space, sws_range;
    int threads;
    int scaler;              /* AVK_SCALE_* */
    avk_shrink_plan *shrink[2];  /* AVK_SCALE_BILINEAR 4:2:0: luma, chroma */
};

static pthread_once_t log_once = PTHREAD_ONCE_INIT;

/* FFmpeg prints to stderr by itself; keep it quiet unless -v -v. */
static void set_log_level(void)
{
    av_log_set_level(avk_verbose > 1 ? AV_LOG_WARNING : AV_LOG_QUIET);
}

/* FFmpeg's text for an error code. */
static const char *av_err(int code, char *buf, size_t n)
{
    av_strerror(code, buf, n);
    return buf;
}

/* Bytes of one frame in a given layout. */
size_t avk_frame_bytes(int pixfmt, int width, int height)
{
    size_t w = (size_t)(width > 0 ? width : 0), h = (size_t)(height > 0 ? height : 0);
    switch (pixfmt) {
    case 0:
    case AVK_PIX_RGB24:   return w * h * 3;
    case AVK_PIX_GRAY8:   return w * h;
    case AVK_PIX_YUV420P: return w * h + 2 * ((w + 1) / 2) * ((h + 1) / 2);
    }
    return 0;
}

static enum AVPixelFormat av_pixfmt(int pixfmt)
{
    switch (pixfmt) {
    case 0:
    case AVK_PIX_RGB24:   return AV_PIX_FMT_RGB24;
    case AVK_PIX_GRAY8:   return AV_PIX_FMT_GRAY8;
    case AVK_PIX_YUV420P: return AV_PIX_FMT_YUV420P;
    }
    return AV_PIX_FMT_NONE;
}

/* Open the container ("-" is stdin) and find its best video stream; -1
 * with the error set. Shared by avk_video_open and avk_video_probe. */
static int open_input(const char *path, AVFormatContext **fmtp, int *sidx)
{
    char eb[128];
    struct stat sb;
    pthread_once(&log_once, set_log_level);
    int is_stdin = strcmp(path, "-") == 0;
    if (!is_stdin && stat(path, &sb) != 0)
        return avk_error("%s: %s", path, strerror(errno));
    if (!is_stdin && S_ISDIR(sb.st_mode))
        return avk_error("%s: is a directory, not a video", path);
    AVFormatContext *fmt = NULL;
    int ret = avformat_open_input(&fmt, is_stdin ? "pipe:0" : path, NULL, NULL);
    if (ret < 0) {
        if (ret == AVERROR_INVALIDDATA)
            return avk_error("%s: not a video FFmpeg can read (unknown or "
                             "damaged container)", path);
        if (ret == AVERROR_EOF)
            return avk_error("%s: the file ends inside the container's headers "
                             "(truncated?)", path);
        return avk_error("%s: cannot open: %s", path, av_err(ret, eb, sizeof eb));
    }
    ret = avformat_find_stream_info(fmt, NULL);
    if (ret < 0) {
        avformat_close_input(&fmt);
        return avk_error("%s: cannot read stream information: %s", path,
                         av_err(ret, eb, sizeof eb));
    }
    ret = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (ret < 0) {
        avformat_close_input(&fmt);
        return avk_error("%s: no video stream", path);
    }
    *fmtp = fmt;
    *sidx = ret;
    return 0;
}

/* The frame rate of a stream: the average rate, else the base rate. */
static AVRational stream_rate(const AVStream *st)
{
    AVRational r = st->avg_frame_rate;
    if (r.num > 0 && r.den > 0)
        return r;
    r = st->r_frame_rate;
    if (r.num > 0 && r.den > 0)
        return r;
    return (AVRational){0, 0};
}

/* Count the stream's packets (one a frame) from the current position. */
static int64_t count_packets(AVFormatContext *fmt, int sidx)
{
    AVPacket *pkt = av_packet_alloc();
    int64_t n = 0;
    int errors = 0;
    for (;;) {
        int ret = av_read_frame(fmt, pkt);
        if (ret == AVERROR_EOF)
            break;
        if (ret < 0) {
            if (++errors > MAX_DEMUX_ERRORS || avio_feof(fmt->pb))
                break;
            continue;
        }
        errors = 0;
        if (pkt->stream_index == sidx && !(pkt->flags & AV_PKT_FLAG_DISCARD))
            n++;
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    return n;
}

/* Fill *info from an open container; declared gets the frame count the
 * container states (-1 when it does not). */
static void fill_info(AVFormatContext *fmt, AVStream *st, avk_video_info *info,
                      int64_t *declared)
{
    memset(info, 0, sizeof *info);
    info->width = st->codecpar->width;
    info->height = st->codecpar->height;
    AVRational r = stream_rate(st);
    info->fps = r.num ? av_q2d(r) : 0;
    *declared = st->nb_frames > 0 ? st->nb_frames : -1;
    info->nframes = *declared;
    info->duration = -1;
    if (st->duration > 0 && st->duration != AV_NOPTS_VALUE)
        info->duration = st->duration * av_q2d(st->time_base);
    else if (fmt->duration > 0 && fmt->duration != AV_NOPTS_VALUE)
        info->duration = fmt->duration / (double)AV_TIME_BASE;
    snprintf(info->codec, sizeof info->codec, "%s",
             avcodec_get_name(st->codecpar->codec_id));
}

/* After counting packets, complete the count and duration. */
static void set_counted(avk_video_info *info, int64_t n)
{
    info->nframes = n;
    if (info->duration < 0 && info->fps > 0)
        info->duration = n / info->fps;
}

/* Probe a file without decoding frames (counts packets when the container
 * does not say how many frames it holds). */
int avk_video_probe(const char *path, avk_video_info *info)
{
    AVFormatContext *fmt;
    int sidx;
    int64_t declared;
    if (open_input(path, &fmt, &sidx) < 0)
        return -1;
    fill_info(fmt, fmt->streams[sidx], info, &declared);
    if (info->nframes < 0)
        set_counted(info, count_packets(fmt, sidx));
    avformat_close_input(&fmt);
    return 0;
}

/* The index of a decoded frame from its timestamp (see the file comment). */
static int64_t frame_index(avk_video *v, const AVFrame *f, int64_t *pts)
{
    int64_t ts = f->best_effort_timestamp;
    if (ts == AV_NOPTS_VALUE)
        ts = f->pts;
    *pts = ts;
    int64_t idx;
    if (ts == AV_NOPTS_VALUE || v->rate.num == 0 || v->start_pts == AV_NOPTS_VALUE)
        idx = v->last_index + 1;
    else
        idx = av_rescale_q_rnd(ts - v->start_pts, v->st->time_base,
                               av_inv_q(v->rate),
                               AV_ROUND_NEAR_INF | AV_ROUND_PASS_MINMAX);
    if (v->last_index >= 0 && idx <= v->last_index)
        idx = v->last_index + 1;
    return idx;
}

/* Decode the next frame into v->frame. 1 a frame, 0 the end, -1 damage
 * (error set; the reader stays usable). *index gets the frame's index. */
static int decode_next(avk_video *v, int64_t *index)
{
    char eb[128];
    for (;;) {
        int ret = avcodec_receive_frame(v->dec, v->frame);
        if (ret == 0) {
            int64_t pts;
            int64_t idx = frame_index(v, v->frame, &pts);
            v->last_index = idx;
            v->last_pts = pts;
            v->decode_errors = 0;
            *index = idx;
            if (v->frame->decode_error_flags || (v->frame->flags & AV_FRAME_FLAG_CORRUPT)) {
                av_frame_unref(v->frame);
                return avk_error("%s: frame %lld: damaged data (the decoder "
                                 "concealed errors)", v->path, (long long)idx);
            }
            return 1;
        }
        if (ret == AVERROR_EOF) {
            v->ended = 1;
            return 0;
        }
        if (ret != AVERROR(EAGAIN)) {
            if (++v->decode_errors > MAX_DEMUX_ERRORS)
                v->ended = 1;   /* a decoder that only fails: stop there */
            return avk_error("%s: frame %lld: decoding failed: %s", v->path,
                             (long long)v->last_index + 1, av_err(ret, eb, sizeof eb));
        }
        if (v->flushing) {   /* should not happen: a flushed decoder ends */
            v->ended = 1;
            return 0;
        }
        ret = av_read_frame(v->fmt, v->pkt);
        if (ret == AVERROR_EOF || (ret < 0 && avio_feof(v->fmt->pb))) {
            avcodec_send_packet(v->dec, NULL);
            v->flushing = 1;
            continue;
        }
        if (ret < 0) {
            if (++v->demux_errors > MAX_DEMUX_ERRORS) {
                avcodec_send_packet(v->dec, NULL);
                v->flushing = 1;
            }
            return avk_error("%s: frame %lld: cannot read the container at "
                             "byte %lld: %s", v->path, (long long)v->last_index + 1,
                             (long long)avio_tell(v->fmt->pb), av_err(ret, eb, sizeof eb));
        }
        v->demux_errors = 0;
        if (v->pkt->stream_index != v->st->index) {
            av_packet_unref(v->pkt);
            continue;
        }
        int64_t pos = v->pkt->pos;
        ret = avcodec_send_packet(v->dec, v->pkt);
        av_packet_unref(v->pkt);
        if (ret < 0 && ret != AVERROR(EAGAIN) && ret != AVERROR_EOF)
            return avk_error("%s: frame %lld: damaged data at byte %lld: %s",
                             v->path, (long long)v->last_index + 1, (long long)pos,
                             av_err(ret, eb, sizeof eb));
    }
}

/* Output size from the options: 0 keeps the source size, one 0 keeps the
 * aspect ratio. */
static void output_size(const avk_decode_opts *o, int sw, int sh, int *w, int *h)
{
    int ow = o ? o->width : 0, oh = o ? o->height : 0;
    if (ow <= 0 && oh <= 0) {
        ow = sw;
        oh = sh;
    } else if (ow <= 0) {
        ow = (int)((double)sw * oh / sh + 0.5);
    } else if (oh <= 0) {
        oh = (int)((double)sh * ow / sw + 0.5);
    }
    *w = ow > 0 ? ow : 1;
    *h = oh > 0 ? oh : 1;
}

/* Open the decoder for the stream with the options' threads and speed. */
static int open_decoder(avk_video *v, const avk_decode_opts *o)
{
    char eb[128];
    const AVCodec *codec = avcodec_find_decoder(v->st->codecpar->codec_id);
    if (!codec)
        return avk_error("%s: no decoder for codec %s", v->path,
                         avcodec_get_name(v->st->codecpar->codec_id));
    v->dec = avcodec_alloc_context3(codec);
    if (!v->dec)
        return avk_error("%s: out of memory", v->path);
    int ret = avcodec_parameters_to_context(v->dec, v->st->codecpar);
    if (ret < 0)
        return avk_error("%s: bad codec parameters: %s", v->path, av_err(ret, eb, sizeof eb));
    v->dec->pkt_timebase = v->st->time_base;
    v->threads = o && o->threads > 0 ? o->threads : av_cpu_count();
    v->dec->thread_count = v->threads;
    v->dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    if (o && o->fast) {
        v->dec->skip_loop_filter = AVDISCARD_ALL;
        v->dec->flags2 |= AV_CODEC_FLAG2_FAST;
        /* Codecs that can decode at 1/2, 1/4, 1/8 size (MPEG-1/2/4 part 2,
         * MJPEG...): use the smallest that still covers the output. */
        int l = 0;
        while (l < codec->max_lowres && (v->st->codecpar->width >> (l + 1)) >= v->out_w &&
               (v->st->codecpar->height >> (l + 1)) >= v->out_h)
            l++;
        v->dec->lowres = l;
    }
    ret = avcodec_open2(v->dec, codec, NULL);
    if (ret < 0)
        return avk_error("%s: cannot open the %s decoder: %s", v->path,
                         codec->name, av_err(ret, eb, sizeof eb));
    return 0;
}

/* Open a video for decoding; decodes frame 0 to learn where the stream
 * starts and to reject a video without frames. */
avk_video *avk_video_open(const char *path, const avk_decode_opts *opts,
                          avk_video_info *info)
{
    avk_video_info local;
    if (!info)
        info = &local;
    if (opts && opts->pixfmt && av_pixfmt(opts->pixfmt) == AV_PIX_FMT_NONE) {
        avk_error("%s: unknown pixel format %d", path, opts->pixfmt);
        return NULL;
    }
    avk_video *v = avk_xcalloc(1, sizeof *v);
    v->path = avk_xstrdup(path);
    v->last_index = -1;
    v->last_pts = AV_NOPTS_VALUE;
    v->start_pts = AV_NOPTS_VALUE;
    v->sws_fmt = -1;
    int sidx;
    if (open_input(path, &v->fmt, &sidx) < 0)
        goto fail;
    v->st = v->fmt->streams[sidx];
    for (unsigned i = 0; i < v->fmt->nb_streams; i++)
        if ((int)i != sidx)
            v->fmt->streams[i]->discard = AVDISCARD_ALL;
    fill_info(v->fmt, v->st, info, &v->declared);
    if (info->width <= 0 || info->height <= 0) {
        avk_error("%s: video stream without a frame size", path);
        goto fail;
    }
    if (info->nframes < 0 && v->fmt->pb && (v->fmt->pb->seekable & AVIO_SEEKABLE_NORMAL)) {
        /* Count in a second reader, so this one stays at the start (not
         * for pipes: the second reader would take the data). */
        avk_video_info counted;
        if (avk_video_probe(path, &counted) < 0)
            goto fail;
        info->nframes = counted.nframes;
        if (info->duration < 0)
            info->duration = counted.duration;
    }
    v->nframes = info->nframes;
    v->rate = stream_rate(v->st);
    v->cfr = v->rate.num && av_cmp_q(v->st->avg_frame_rate, v->st->r_frame_rate) == 0;
    output_size(opts, info->width, info->height, &v->out_w, &v->out_h);
    if (v->out_w > 16384 || v->out_h > 16384) {
        avk_error("%s: output size %dx%d too large (at most 16384 a side)", path,
                  v->out_w, v->out_h);
        goto fail;
    }
    v->pixfmt = opts && opts->pixfmt ? opts->pixfmt : AVK_PIX_RGB24;
    v->out_av = av_pixfmt(v->pixfmt);
    v->scaler = opts && opts->scaler == AVK_SCALE_BILINEAR ? AVK_SCALE_BILINEAR : AVK_SCALE_AREA;
    if (open_decoder(v, opts) < 0)
        goto fail;
    v->pkt = av_packet_alloc();
    v->frame = av_frame_alloc();
    v->held = av_frame_alloc();
    v->out = av_frame_alloc();

    /* Frame 0 fixes the start timestamp; keep it for the first read. */
    int64_t idx;
    int rc = decode_next(v, &idx);
    if (rc == 0) {
        avk_error("%s: no frames", path);
        goto fail;
    }
    if (rc < 0)
        goto fail;
    v->start_pts = v->last_pts;
    v->last_index = 0;
    av_frame_move_ref(v->held, v->frame);
    v->held_index = 0;
    v->have_held = 1;
    return v;
fail:
    avk_video_close(v);
    return NULL;
}

/* Output frame size after scaling. */
void avk_video_out_size(const avk_video *v, int *width, int *height)
{
    if (width)
        *width = v->out_w;
    if (height)
        *height = v->out_h;
}

/* Build (or keep) the converter for frames laid out like f. */
static int prepare_sws(avk_video *v, const AVFrame *f)
{
    if (v->sws && v->sws_w == f->width && v->sws_h == f->height &&
        v->sws_fmt == f->format && v->sws_space == (int)f->colorspace &&
        v->sws_range == (int)f->color_range)
        return 0;
    sws_freeContext(v->sws);
    v->sws = NULL;
    int down = v->out_w < f->width || v->out_h < f->height;
    int flags = !down ? SWS_BILINEAR : v->scaler == AVK_SCALE_BILINEAR ? SWS_FAST_BILINEAR
                                                                       : SWS_AREA;
    /* Slice threads, as the ffmpeg program's scale filter uses them: the
     * conversion would otherwise hold up the frame-threaded decoder. A
     * small output is converted faster than slice threads synchronize. */
    int threads = (int64_t)v->out_w * v->out_h < 640 * 360 ? 1 : v->threads;
    v->sws = sws_alloc_context();
    if (v->sws) {
        av_opt_set_int(v->sws, "srcw", f->width, 0);
        av_opt_set_int(v->sws, "srch", f->height, 0);
        av_opt_set_int(v->sws, "src_format", f->format, 0);
        av_opt_set_int(v->sws, "dstw", v->out_w, 0);
        av_opt_set_int(v->sws, "dsth", v->out_h, 0);
        av_opt_set_int(v->sws, "dst_format", v->out_av, 0);
        av_opt_set_int(v->sws, "sws_flags", flags, 0);
        av_opt_set_int(v->sws, "threads", threads, 0);
        if (sws_init_context(v->sws, NULL, NULL) < 0) {
            sws_freeContext(v->sws);
            v->sws = NULL;
        }
    }
    if (!v->sws)
        return avk_error("%s: cannot convert %s frames of %dx%d to %dx%d", v->path,
                         av_get_pix_fmt_name(f->format), f->width, f->height,
                         v->out_w, v->out_h);
    /* Follow the stream's color matrix and range (BT.601 when unstated). */
    int space = f->colorspace == AVCOL_SPC_UNSPECIFIED ? SWS_CS_DEFAULT : (int)f->colorspace;
    int src_full = f->color_range == AVCOL_RANGE_JPEG ||
                   f->format == AV_PIX_FMT_YUVJ420P || f->format == AV_PIX_FMT_YUVJ422P ||
                   f->format == AV_PIX_FMT_YUVJ444P;
    int *inv, *tab, sr, dr, br, con, sat;
    if (sws_getColorspaceDetails(v->sws, &inv, &sr, &tab, &dr, &br, &con, &sat) >= 0) {
        const int *coef = sws_getCoefficients(space);
        sws_setColorspaceDetails(v->sws, coef, src_full, coef, dr, br, con, sat);
    }
    v->sws_w = f->width;
    v->sws_h = f->height;
    v->sws_fmt = f->format;
    v->sws_space = (int)f->colorspace;
    v->sws_range = (int)f->color_range;
    return 0;
}

/* The caller's buffer is only lent to FFmpeg: nothing to free. */
static void lend_free(void *opaque, uint8_t *data)
{
}

/* Convert a decoded frame into the caller's packed buffer. */
static int convert_frame(avk_video *v, const AVFrame *f, uint8_t *buf)
{
    uint8_t *dst[4] = {0};
    int ls[4] = {0};
    av_image_fill_arrays(dst, ls, buf, v->out_av, v->out_w, v->out_h, 1);
    if (f->format == v->out_av && f->width == v->out_w && f->height == v->out_h) {
        av_image_copy(dst, ls, (const uint8_t **)f->data, f->linesize, v->out_av,
                      v->out_w, v->out_h);
        return 0;
    }
    if (v->scaler == AVK_SCALE_BILINEAR && f->format == AV_PIX_FMT_YUV420P &&
        v->out_av == AV_PIX_FMT_YUV420P && f->color_range != AVCOL_RANGE_JPEG &&
        v->out_w <= f->width && v->out_h <= f->height) {
        /* 4:2:0 to a smaller 4:2:0 of the same range: each plane on its
         * own, no colour conversion, without the scaler's setup per line. */
        int cw = (f->width + 1) / 2, ch = (f->height + 1) / 2;
        int ocw = (v->out_w + 1) / 2, och = (v->out_h + 1) / 2;
        if (!avk_shrink_plan_fits(v->shrink[0], f->width, f->height, v->out_w, v->out_h) ||
            !avk_shrink_plan_fits(v->shrink[1], cw, ch, ocw, och)) {
            avk_shrink_plan_free(v->shrink[0]);
            avk_shrink_plan_free(v->shrink[1]);
            v->shrink[0] = avk_shrink_plan_new(f->width, f->height, v->out_w, v->out_h);
            v->shrink[1] = avk_shrink_plan_new(cw, ch, ocw, och);
            if (!v->shrink[0] || !v->shrink[1])
                return avk_error("%s: out of memory", v->path);
        }
        avk_shrink_apply(v->shrink[0], f->data[0], f->linesize[0], dst[0], ls[0]);
        avk_shrink_apply(v->shrink[1], f->data[1], f->linesize[1], dst[1], ls[1]);
        avk_shrink_apply(v->shrink[1], f->data[2], f->linesize[2], dst[2], ls[2]);
        return 0;
    }
    if (prepare_sws(v, f) < 0)
        return -1;
    /* sws_scale_frame (the threaded path) writes into a frame with a
     * buffer: lend it the caller's memory. */
    AVFrame *out = v->out;
    out->format = v->out_av;
    out->width = v->out_w;
    out->height = v->out_h;
    for (int i = 0; i < 4; i++) {
        out->data[i] = dst[i];
        out->linesize[i] = ls[i];
    }
    out->buf[0] = av_buffer_create(buf, (size_t)avk_frame_bytes(v->pixfmt, v->out_w, v->out_h),
                                   lend_free, NULL, 0);
    int ret = out->buf[0] ? sws_scale_frame(v->sws, out, f) : AVERROR(ENOMEM);
    av_frame_unref(out);
    if (ret < 0) {
        char eb[128];
        return avk_error("%s: frame conversion failed: %s", v->path, av_err(ret, eb, sizeof eb));
    }
    return 0;
}

/* The next frame in presentation order, in *f (v->held or v->frame, for
 * the caller to unref). 1 a frame, 0 the end, -1 damage. */
static int next_frame(avk_video *v, AVFrame **f, int64_t *index)
{
    if (v->have_held) {
        v->have_held = 0;
        *index = v->held_index;
        *f = v->held;
        return 1;
    }
    if (v->ended)
        return 0;
    int64_t prev = v->last_index;
    int rc = decode_next(v, index);
    if (rc > 0 && v->cfr && prev >= 0 && *index > prev + 1) {
        /* Timestamps jumped in a constant-rate stream: the container
         * lost frames (a demuxer may skip damage silently). Report the
         * gap; the frame after it comes with the next read. */
        av_frame_move_ref(v->held, v->frame);
        v->held_index = *index;
        v->have_held = 1;
        return avk_error("%s: frame %lld: frames %lld to %lld are missing "
                         "(damaged or dropped data)", v->path, (long long)(prev + 1),
                         (long long)(prev + 1), (long long)(*index - 1));
    }
    if (rc < 0)
        return -1;
    if (rc == 0) {
        /* A container that promised more frames than came: truncated. */
        if (v->declared > 0 && v->last_index + 1 < v->declared && !v->short_reported) {
            v->short_reported = 1;
            return avk_error("%s: frame %lld: video ends early (the container "
                             "declares %lld frames; truncated?)", v->path,
                             (long long)v->last_index + 1, (long long)v->declared);
        }
        return 0;
    }
    *f = v->frame;
    return 1;
}

/* Decode the next frame into buf. 1 a frame, 0 the end, -1 damage. */
int avk_video_read(avk_video *v, uint8_t *buf, int64_t *index)
{
    int64_t idx;
    AVFrame *f;
    int got = next_frame(v, &f, &idx);
    if (got <= 0)
        return got;
    int rc = buf ? convert_frame(v, f, buf) : 0;
    av_frame_unref(f);
    if (rc < 0)
        return -1;
    if (index)
        *index = idx;
    return 1;
}

/* The next decoded frame, unconverted, as a new reference. */
int avk_video_read_decoded(avk_video *v, avk_decoded **frame, int64_t *index)
{
    int64_t idx;
    AVFrame *f;
    *frame = NULL;
    int got = next_frame(v, &f, &idx);
    if (got <= 0)
        return got;
    AVFrame *copy = av_frame_alloc();
    if (!copy) {
        av_frame_unref(f);
        return avk_error("%s: frame %lld: out of memory", v->path, (long long)idx);
    }
    av_frame_move_ref(copy, f);
    *frame = (avk_decoded *)copy;
    if (index)
        *index = idx;
    return 1;
}

/* Convert a frame from avk_video_read_decoded into buf. */
int avk_video_convert(avk_video *v, const avk_decoded *frame, uint8_t *buf)
{
    return convert_frame(v, (const AVFrame *)frame, buf);
}

/* Free a frame from avk_video_read_decoded; *frame becomes NULL. */
void avk_decoded_free(avk_decoded **frame)
{
    if (frame && *frame) {
        AVFrame *f = (AVFrame *)*frame;
        av_frame_free(&f);
        *frame = NULL;
    }
}

/* Seek the container to its first packet; 0 or negative. Formats differ
 * in which request they accept, so try the likely ones in turn. */
static int seek_to_start(avk_video *v)
{
    int64_t t0 = v->st->start_time != AV_NOPTS_VALUE ? v->st->start_time : 0;
    if (av_seek_frame(v->fmt, v->st->index, t0, AVSEEK_FLAG_BACKWARD) >= 0)
        return 0;
    if (av_seek_frame(v->fmt, v->st->index, INT64_MIN, AVSEEK_FLAG_BACKWARD) >= 0)
        return 0;
    return avformat_seek_file(v->fmt, -1, INT64_MIN, INT64_MIN, 0, 0);
}

/* Forget decoder and reader state after a container seek. */
static void reset_after_seek(avk_video *v)
{
    avcodec_flush_buffers(v->dec);
    av_frame_unref(v->held);
    av_frame_unref(v->frame);
    v->have_held = 0;
    v->flushing = 0;
    v->ended = 0;
    v->demux_errors = 0;
    v->decode_errors = 0;
    v->last_index = -1;
    v->last_pts = AV_NOPTS_VALUE;
}

/* Decode forward, dropping frames, until the frame `target` (or the first
 * one after it) is decoded; keep it as the held frame. With `first` (after
 * a seek), *first gets the index of the first frame decoded, and landing
 * after the target or on no frame at all returns 0 without a held frame
 * so that the caller seeks earlier. 0 otherwise, -1 at the end or on an
 * error that left no frame. */
static int decode_until(avk_video *v, int64_t target, int64_t *first)
{
    int64_t idx;
    int got_first = 0;
    for (;;) {
        int rc = decode_next(v, &idx);
        if (rc == 0 && first && !got_first)
            return 0;       /* nothing decodable after the seek point */
        if (rc == 0)
            return avk_error("%s: frame %lld: beyond the end of the video (%lld frames)",
                             v->path, (long long)target, (long long)(v->last_index + 1));
        if (first && !got_first) {
            *first = v->last_index;
            got_first = 1;
            if (v->last_index > target)
                return 0;   /* overshot: the caller seeks earlier */
        }
        if (rc < 0) {
            if (v->last_index >= target)
                return -1;  /* the wanted frame itself is damaged */
            continue;       /* damage before it: keep going */
        }
        if (idx >= target) {
            av_frame_move_ref(v->held, v->frame);
            v->held_index = idx;
            v->have_held = 1;
            return 0;
        }
        av_frame_unref(v->frame);
    }
}

/* Position so that the next avk_video_read returns frame `index`: seek to
 * the key frame at or before it, then decode and drop frames up to it. */
int avk_video_seek_frame(avk_video *v, int64_t index)
{
    if (index < 0)
        return avk_error("%s: frame %lld: negative frame index", v->path, (long long)index);
    if (v->nframes >= 0 && index >= v->nframes)
        return avk_error("%s: frame %lld: beyond the end of the video (%lld frames)",
                         v->path, (long long)index, (long long)v->nframes);
    if (v->have_held && v->held_index == index)
        return 0;
    /* Close ahead (within a second or so): decoding forward is cheaper. */
    int64_t next = v->have_held ? v->held_index : v->last_index + 1;
    int64_t near = v->rate.num ? (int64_t)(av_q2d(v->rate) + 1) : 32;
    if (!v->ended && index >= next && index - next <= near) {
        if (v->have_held && v->held_index < index) {
            av_frame_unref(v->held);
            v->have_held = 0;
        }
        if (!v->have_held)
            return decode_until(v, index, NULL);
        return 0;
    }
    if (v->rate.num == 0 || v->start_pts == AV_NOPTS_VALUE) {
        /* No timestamps to aim with: decode from the start. */
        if (seek_to_start(v) < 0)
            return avk_error("%s: frame %lld: cannot seek", v->path, (long long)index);
        reset_after_seek(v);
        v->last_index = -1;
        return decode_until(v, index, NULL);
    }
    int64_t target_ts = v->start_pts + av_rescale_q(index, av_inv_q(v->rate), v->st->time_base);
    int64_t back = 0, step = av_rescale_q(1, (AVRational){1, 1}, v->st->time_base);
    /* Stage 0 aims at the target's timestamp (then further back, a second
     * more each time); 1 seeks to the start by timestamp; 2 by byte 0. A
     * stage fails over to the next when the container refuses it or when
     * the first frame decoded after it lies beyond the target. */
    int stage = 0;
    for (int attempt = 0; attempt < 12 && stage <= 2; attempt++) {
        int ret;
        if (stage == 0 && target_ts - back <= v->start_pts)
            stage = 1;
        if (stage == 0)
            ret = av_seek_frame(v->fmt, v->st->index, target_ts - back, AVSEEK_FLAG_BACKWARD);
        else if (stage == 1)
            ret = seek_to_start(v);
        else
            ret = (v->fmt->iformat->flags & AVFMT_NO_BYTE_SEEK) ? -1
                  : av_seek_frame(v->fmt, -1, 0, AVSEEK_FLAG_BYTE);
        if (ret < 0) {
            stage++;
            continue;
        }
        reset_after_seek(v);
        int64_t first = -1;
        if (decode_until(v, index, &first) < 0)
            return -1;
        if (v->have_held)
            return 0;
        if (stage == 0 && attempt < 6)
            back = back ? back * 2 : step;
        else
            stage++;
    }
    return avk_error("%s: frame %lld: cannot seek to this frame", v->path, (long long)index);
}

void avk_video_close(avk_video *v)
{
    if (!v)
        return;
    sws_freeContext(v->sws);
    avk_shrink_plan_free(v->shrink[0]);
    avk_shrink_plan_free(v->shrink[1]);
    av_frame_free(&v->frame);
    av_frame_free(&v->held);
    av_frame_free(&v->out);
    av_packet_free(&v->pkt);
    avcodec_free_context(&v->dec);
    avformat_close_input(&v->fmt);
    free(v->path);
    free(v);
}
