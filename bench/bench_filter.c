/* av-filter's speed: clips/s and frames/s of each score alone and of all
 * together, against decoding alone (the same frames, decoded and scaled to
 * the same analysis size through the same library, in the same run).
 *
 *   bench_filter VIDEO NCLIPS CLIPLEN [SIZE [REPEAT]]
 *
 * The clips are [k*CLIPLEN, (k+1)*CLIPLEN) for k < NCLIPS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avkit/util/common.h"
#include "avkit/curate/filter.h"
#include "avkit/io/video.h"

/* Decode every clip once at the analysis size, like avk_filter_clip does,
 * with no score: the baseline. Returns seconds. */
static double decode_only(const char *path, int nclips, long len, int size)
{
    double t0 = avk_now();
    for (int k = 0; k < nclips; k++) {
        avk_video_info info;
        if (avk_video_probe(path, &info) < 0)
            avk_die_lib();
        avk_decode_opts d = {.pixfmt = AVK_PIX_RGB24};
        avk_fit_short_side(info.width, info.height, size, 1, &d.width, &d.height);
        avk_video *v = avk_video_open(path, &d, &info);
        if (!v)
            avk_die_lib();
        int w, h;
        avk_video_out_size(v, &w, &h);
        uint8_t *buf = avk_xmalloc(avk_frame_bytes(AVK_PIX_RGB24, w, h));
        if (k > 0 && avk_video_seek_frame(v, k * len) < 0)
            avk_die_lib();
        for (long i = 0; i < len && avk_video_read(v, buf, NULL) == 1; i++)
            ;
        free(buf);
        avk_video_close(v);
    }
    return avk_now() - t0;
}

/* Score every clip with the given scores. Returns seconds. */
static double scored(const char *path, int nclips, long len, int size, unsigned scores)
{
    avk_filter_opts o;
    avk_filter_opts_default(&o);
    o.scores = scores;
    o.size = size;
    double t0 = avk_now();
    for (int k = 0; k < nclips; k++) {
        avk_filter_result r;
        if (avk_filter_clip(path, k * len, (k + 1) * len, 0, &o, &r) < 0)
            avk_die_lib();
    }
    return avk_now() - t0;
}

int main(int argc, char **argv)
{
    avk_tool_init("bench_filter");
    if (argc < 4) {
        fprintf(stderr, "usage: bench_filter VIDEO NCLIPS CLIPLEN [SIZE [REPEAT]]\n");
        return 2;
    }
    const char *path = argv[1];
    int nclips = atoi(argv[2]);
    long len = atol(argv[3]);
    int size = argc > 4 ? atoi(argv[4]) : 360;
    int repeat = argc > 5 ? atoi(argv[5]) : 2;
    double frames = (double)nclips * len;
    static const struct { const char *name; unsigned bits; } runs[] = {
        {"static", AVK_SCORE_STATIC}, {"motion", AVK_SCORE_MOTION},
        {"aesthetic", AVK_SCORE_AESTHETIC}, {"text", AVK_SCORE_TEXT},
        {"watermark", AVK_SCORE_WATERMARK}, {"all", AVK_SCORE_ALL},
    };
    /* On a shared machine: each score is timed right after its own decode
     * baseline, both the fastest of `repeat` runs, and compared with it. */
    printf("%-10s %8s %9s %13s %9s\n", "score", "clips/s", "frames/s", "decode fr/s", "vs decode");
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        double base = 1e30, t = 1e30;
        for (int r = 0; r < repeat; r++) {
            double b = decode_only(path, nclips, len, size);
            double x = scored(path, nclips, len, size, runs[k].bits);
            base = b < base ? b : base;
            t = x < t ? x : t;
        }
        printf("%-10s %8.2f %9.1f %13.1f %8.2fx\n", runs[k].name, nclips / t, frames / t,
               frames / base, base / t);
        fflush(stdout);
    }
    avk_text_release();
    return 0;
}
