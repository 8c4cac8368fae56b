/* One shot of a video as its own file: stream copy with libavformat, or
 * decode and re-encode with avk_video / avk_encoder. See
 * include/avkit/curate/shotsplit.h.
 */
#include "avkit/curate/shotsplit.h"
#include "avkit/util/common.h"
#include "avkit/io/video.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* FFmpeg's message for an error code. */
static const char *av_msg(int err, char *buf, size_t n)
{
    av_strerror(err, buf, n);
    return buf;
}

typedef struct pkt_info {
    int64_t pts;
    int key;
} pkt_info;

static int pkt_cmp(const void *x, const void *y)
{
    const pkt_info *a = x, *b = y;
    return a->pts < b->pts ? -1 : a->pts > b->pts;
}

/* Open `path` and find its first video stream. */
static int open_video_stream(const char *path, AVFormatContext **ic, int *si)
{
    char eb[128];
    int err;
    *ic = NULL;
    if ((err = avformat_open_input(ic, path, NULL, NULL)) < 0)
        return avk_error("%s: %s", path, av_msg(err, eb, sizeof eb));
    if ((err = avformat_find_stream_info(*ic, NULL)) < 0) {
        avformat_close_input(ic);
        return avk_error("%s: %s", path, av_msg(err, eb, sizeof eb));
    }
    *si = av_find_best_stream(*ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (*si < 0) {
        avformat_close_input(ic);
        return avk_error("%s: no video stream", path);
    }
    return 0;
}

/* Presentation timestamps and key flags of every packet of the stream,
 * sorted into presentation order. */
static int read_packets(const char *path, AVFormatContext *ic, int si, pkt_info **out, int64_t *n)
{
    AVPacket *pkt = av_packet_alloc();
    pkt_info *p = NULL;
    int64_t np = 0, cap = 0, guess = 0;
    int err;
    while ((err = av_read_frame(ic, pkt)) >= 0) {
        if (pkt->stream_index == si) {
            if (np == cap) {
                cap = cap ? 2 * cap : 1024;
                p = avk_xrealloc(p, sizeof(pkt_info) * (size_t)cap);
            }
            int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts :
                         pkt->dts != AV_NOPTS_VALUE ? pkt->dts : guess;
            guess = ts + (pkt->duration > 0 ? pkt->duration : 1);
            p[np].pts = ts;
            p[np].key = (pkt->flags & AV_PKT_FLAG_KEY) != 0;
            np++;
        }
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    if (err != AVERROR_EOF && np == 0) {
        char eb[128];
        free(p);
        return avk_error("%s: %s", path, av_msg(err, eb, sizeof eb));
    }
    if (np)
        qsort(p, (size_t)np, sizeof(pkt_info), pkt_cmp);
    *out = p;
    *n = np;
    return 0;
}

/* Index the key frames of a video by demuxing only. */
int avk_keyframes_read(const char *path, avk_keyframes *k)
{
    AVFormatContext *ic;
    int si;
    pkt_info *p = NULL;
    int64_t n = 0;
    memset(k, 0, sizeof *k);
    if (open_video_stream(path, &ic, &si) < 0)
        return -1;
    int rc = read_packets(path, ic, si, &p, &n);
    avformat_close_input(&ic);
    if (rc < 0)
        return -1;
    k->nframes = n;
    k->is_key = avk_xmalloc((size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++)
        k->is_key[i] = (uint8_t)p[i].key;
    free(p);
    return 0;
}

void avk_keyframes_free(avk_keyframes *k)
{
    free(k->is_key);
    k->is_key = NULL;
    k->nframes = 0;
}

/* Stream-copy frames [start, end) from the key frame at or before start. */
int avk_split_copy(const char *in, const char *out, int64_t start, int64_t end)
{
    AVFormatContext *ic = NULL, *oc = NULL;
    AVPacket *pkt = NULL;
    pkt_info *p = NULL;
    int64_t n = 0;
    int si, err, rc = -1, opened = 0;
    char eb[128];
    char *tmp = NULL;

    if (open_video_stream(in, &ic, &si) < 0)
        goto done;
    if (read_packets(in, ic, si, &p, &n) < 0)
        goto done;
    if (start < 0 || start >= end || start >= n) {
        avk_error("%s: frames %lld-%lld: outside the video (%lld frames)", in, (long long)start,
                  (long long)end, (long long)n);
        goto done;
    }
    int64_t ks = start;
    while (ks > 0 && !p[ks].key)
        ks--;
    int64_t kpts = p[ks].pts, end_pts = end < n ? p[end].pts : INT64_MAX;
    AVStream *is = ic->streams[si];
    if (av_seek_frame(ic, si, kpts, AVSEEK_FLAG_BACKWARD) < 0) {
        /* Not seekable: read again from the start. */
        avformat_close_input(&ic);
        if (open_video_stream(in, &ic, &si) < 0)
            goto done;
        is = ic->streams[si];
    }

    /* a hidden temporary name that a later run can clean if this one is
     * killed; the muxer reopens it by name */
    int tfd = avk_tmp_create(out, &tmp);
    if (tfd < 0)
        goto done;
    close(tfd);
    opened = 1;
    if ((err = avformat_alloc_output_context2(&oc, NULL, "mp4", tmp)) < 0 || !oc) {
        avk_error("%s: %s", out, av_msg(err, eb, sizeof eb));
        goto done;
    }
    AVStream *os = avformat_new_stream(oc, NULL);
    if (!os || avcodec_parameters_copy(os->codecpar, is->codecpar) < 0) {
        avk_error("%s: cannot create the video stream", out);
        goto done;
    }
    os->codecpar->codec_tag = 0;
    os->time_base = is->time_base;
    if ((err = avio_open(&oc->pb, tmp, AVIO_FLAG_WRITE)) < 0) {
        avk_error("%s: %s", tmp, av_msg(err, eb, sizeof eb));
        goto done;
    }
    /* No edit list: the muxer would end it at the last packet in decode
     * order and hide the last frame of a stream with B-frames. */
    AVDictionary *mopts = NULL;
    av_dict_set(&mopts, "use_editlist", "0", 0);
    err = avformat_write_header(oc, &mopts);
    av_dict_free(&mopts);
    if (err < 0) {
        avk_error("%s: cannot copy %s video into mp4: %s", out,
                  avcodec_get_name(is->codecpar->codec_id), av_msg(err, eb, sizeof eb));
        goto done;
    }
    pkt = av_packet_alloc();
    int started = 0;
    while ((err = av_read_frame(ic, pkt)) >= 0) {
        if (pkt->stream_index != si) {
            av_packet_unref(pkt);
            continue;
        }
        int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
        if (!started) {
            if (!(pkt->flags & AV_PKT_FLAG_KEY) || ts != kpts) {
                av_packet_unref(pkt);
                continue;
            }
            started = 1;
        } else if ((pkt->flags & AV_PKT_FLAG_KEY) && ts >= end_pts) {
            av_packet_unref(pkt);
            break;
        }
        if (ts >= end_pts || ts < kpts) {
            av_packet_unref(pkt);
            continue;
        }
        if (pkt->pts != AV_NOPTS_VALUE) pkt->pts -= kpts;
        if (pkt->dts != AV_NOPTS_VALUE) pkt->dts -= kpts;
        pkt->pos = -1;
        pkt->stream_index = 0;
        av_packet_rescale_ts(pkt, is->time_base, os->time_base);
        if ((err = av_interleaved_write_frame(oc, pkt)) < 0) {
            avk_error("%s: %s", out, av_msg(err, eb, sizeof eb));
            goto done;
        }
    }
    if (!started) {
        avk_error("%s: frame %lld: key frame not found", in, (long long)ks);
        goto done;
    }
    if ((err = av_write_trailer(oc)) < 0) {
        avk_error("%s: %s", out, av_msg(err, eb, sizeof eb));
        goto done;
    }
    if ((err = avio_closep(&oc->pb)) < 0) {
        avk_error("%s: %s", out, av_msg(err, eb, sizeof eb));
        goto done;
    }
    if (rename(tmp, out) != 0) {
        avk_error("%s: cannot rename into place", out);
        goto done;
    }
    rc = 0;
done:
    if (oc) {
        if (oc->pb)
            avio_closep(&oc->pb);
        avformat_free_context(oc);
    }
    if (opened) {
        if (rc != 0)
            unlink(tmp);
        avk_tmp_unregister(tmp);
    }
    av_packet_free(&pkt);
    if (ic)
        avformat_close_input(&ic);
    free(p);
    free(tmp);
    return rc;
}

/* Decode frames [start, end) and encode them into a new mp4. */
int avk_split_encode(const char *in, const char *out, int64_t start, int64_t end,
                     int crf, int threads)
{
    avk_decode_opts o = {.pixfmt = AVK_PIX_RGB24, .threads = threads};
    avk_video_info info;
    avk_video *v = avk_video_open(in, &o, &info);
    if (!v)
        return -1;
    int w, h;
    avk_video_out_size(v, &w, &h);
    if (avk_video_seek_frame(v, start) < 0) {
        avk_video_close(v);
        return -1;
    }
    avk_encoder *e = avk_encoder_open(out, w, h, info.fps > 0 ? info.fps : 25.0, crf);
    if (!e) {
        avk_video_close(v);
        return -1;
    }
    uint8_t *buf = avk_xmalloc(avk_frame_bytes(AVK_PIX_RGB24, w, h));
    int64_t f = start;
    int rc = 0;
    while (f < end) {
        int r = avk_video_read(v, buf, NULL);
        if (r < 0) { rc = -1; break; }
        if (r == 0) break;
        if (avk_encoder_write(e, buf) < 0) { rc = -1; break; }
        f++;
    }
    free(buf);
    avk_video_close(v);
    if (rc < 0) {
        avk_encoder_abort(e);
        return -1;
    }
    return avk_encoder_finish(e);
}
