/* bench_decode: decoding throughput of avk_video_read in frames/s.
 *
 *   bench_decode [-t THREADS] [-s WxH] [-g] [-f] [-n FRAMES] VIDEO
 *
 * Opens VIDEO, decodes up to FRAMES frames (all by default) into a packed
 * buffer (RGB24, or gray with -g; -f is the fast mode) and prints one line:
 * "frames SECONDS FPS". bench/decode.sh runs it against ffmpeg.
 */
#include "avkit/util/common.h"
#include "avkit/io/video.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    avk_decode_opts o = {0};
    long limit = -1;
    int c;
    avk_tool_init(argv[0]);
    while ((c = getopt(argc, argv, "t:s:gfn:h")) != -1) {
        switch (c) {
        case 't': o.threads = (int)avk_parse_long("-t", optarg, 0, 256); break;
        case 's':
            if (sscanf(optarg, "%dx%d", &o.width, &o.height) != 2)
                avk_usage_error("-s: expected WxH");
            break;
        case 'g': o.pixfmt = AVK_PIX_GRAY8; break;
        case 'f': o.fast = 1; break;
        case 'n': limit = avk_parse_long("-n", optarg, 1, INT32_MAX); break;
        case 'h':
            printf("Usage: bench_decode [-t THREADS] [-s WxH] [-g] [-f] [-n FRAMES] VIDEO\n");
            return 0;
        default: avk_usage_error("unknown option");
        }
    }
    if (optind != argc - 1)
        avk_usage_error("expected one VIDEO");
    double t0 = avk_now();
    avk_video *v = avk_video_open(argv[optind], &o, NULL);
    if (!v)
        avk_die_lib();
    int w, h;
    avk_video_out_size(v, &w, &h);
    uint8_t *buf = avk_xmalloc(avk_frame_bytes(o.pixfmt, w, h));
    long n = 0;
    int rc;
    while ((limit < 0 || n < limit) && (rc = avk_video_read(v, buf, NULL)) != 0) {
        if (rc < 0)
            avk_die_lib();
        n++;
    }
    avk_video_close(v);
    double dt = avk_now() - t0;
    printf("%ld %.3f %.1f\n", n, dt, n / dt);
    free(buf);
    return 0;
}
