/* avk-vidcat: decode a video to raw frames (or print what it holds) with
 * the avkit video module; also encodes raw RGB frames to an mp4. An example
 * of the API in include/avkit/io/video.h and the tests' tool for checking it
 * against ffmpeg.
 *
 *   avk-vidcat [-s WxH] [-g|-y] [-f] [-t N] [-S FIRST] [-n COUNT] [-o OUT] VIDEO
 *   avk-vidcat -i VIDEO          print "width height fps nframes duration codec"
 *   avk-vidcat -p VIDEO          the same from avk_video_probe (no decoding)
 *   avk-vidcat -e OUT.mp4 -s WxH [-r FPS] [-q CRF] [-c CODEC] < frames.rgb
 */
#include "avkit/util/common.h"
#include "avkit/io/video.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
    printf("Usage: avk-vidcat [OPTION]... VIDEO\n"
           "Decode VIDEO to raw frames on stdout (RGB24 unless -g or -y).\n\n"
           "  -s, --size=WxH       output size (0 keeps the source's; Wx0 keeps aspect)\n"
           "  -g, --gray           8-bit gray frames\n"
           "  -y, --yuv            planar YUV 4:2:0 frames\n"
           "  -f, --fast           fast decoding for analysis (no loop filter)\n"
           "  -t, --threads=N      decoder threads (0 = all cores)\n"
           "  -S, --start=FRAME    seek to this frame index first\n"
           "  -n, --count=N        decode at most N frames\n"
           "  -k, --keep-going     continue past damaged frames (exit 1 at the end)\n"
           "  -I, --indices        print each frame's index instead of pixels\n"
           "  -o, --output=FILE    write here instead of stdout\n"
           "  -i, --info           print: width height fps nframes duration codec\n"
           "  -p, --probe          the same without opening the decoder\n"
           "  -e, --encode=OUT     encode RGB24 frames from stdin to the mp4 OUT\n"
           "  -r, --rate=FPS       frame rate for --encode (default 25)\n"
           "  -q, --crf=CRF        quality for --encode (default: the encoder's)\n"
           "  -c, --codec=NAME     encoder for --encode (libx264, mpeg4)\n"
           "  -v, --verbose        more messages\n"
           "  -h, --help           this help\n"
           "      --version        version\n");
    exit(0);
}

static void print_info(const avk_video_info *in)
{
    printf("%d %d %.6g %" PRId64 " %.3f %s\n", in->width, in->height, in->fps,
           in->nframes, in->duration, in->codec);
}

/* Encode raw RGB24 frames from stdin. */
static int encode(const char *out, int w, int h, double fps, int crf, const char *codec)
{
    if (w <= 0 || h <= 0)
        avk_usage_error("--encode needs --size=WxH");
    avk_encoder *e = avk_encoder_open_codec(out, w, h, fps, crf, codec);
    if (!e)
        avk_die_lib();
    size_t n = (size_t)w * h * 3;
    uint8_t *buf = avk_xmalloc(n);
    while (fread(buf, 1, n, stdin) == n)
        if (avk_encoder_write(e, buf) < 0) {
            avk_encoder_abort(e);
            avk_die_lib();
        }
    free(buf);
    if (avk_encoder_finish(e) < 0)
        avk_die_lib();
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"size", required_argument, 0, 's'}, {"gray", no_argument, 0, 'g'},
        {"yuv", no_argument, 0, 'y'}, {"fast", no_argument, 0, 'f'},
        {"threads", required_argument, 0, 't'}, {"start", required_argument, 0, 'S'},
        {"count", required_argument, 0, 'n'}, {"keep-going", no_argument, 0, 'k'},
        {"indices", no_argument, 0, 'I'}, {"output", required_argument, 0, 'o'},
        {"info", no_argument, 0, 'i'}, {"probe", no_argument, 0, 'p'},
        {"encode", required_argument, 0, 'e'}, {"rate", required_argument, 0, 'r'},
        {"crf", required_argument, 0, 'q'}, {"codec", required_argument, 0, 'c'},
        {"verbose", no_argument, 0, 'v'}, {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'}, {0, 0, 0, 0}};
    avk_decode_opts o = {0};
    int info = 0, probe = 0, keep_going = 0, indices = 0, crf = -1;
    long start = -1, count = -1;
    const char *out = "-", *enc = NULL, *codec = NULL;
    double fps = 25;
    int c;

    avk_tool_init(argv[0]);
    while ((c = getopt_long(argc, argv, "s:gyft:S:n:kIo:ipe:r:q:c:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (sscanf(optarg, "%dx%d", &o.width, &o.height) != 2 || o.width < 0 || o.height < 0)
                avk_usage_error("--size: expected WxH, got '%s'", optarg);
            break;
        case 'g': o.pixfmt = AVK_PIX_GRAY8; break;
        case 'y': o.pixfmt = AVK_PIX_YUV420P; break;
        case 'f': o.fast = 1; break;
        case 't': o.threads = (int)avk_parse_long("--threads", optarg, 0, 256); break;
        case 'S': start = avk_parse_long("--start", optarg, 0, INT32_MAX); break;
        case 'n': count = avk_parse_long("--count", optarg, 0, INT32_MAX); break;
        case 'k': keep_going = 1; break;
        case 'I': indices = 1; break;
        case 'o': out = optarg; break;
        case 'i': info = 1; break;
        case 'p': probe = 1; break;
        case 'e': enc = optarg; break;
        case 'r': fps = avk_parse_double("--rate", optarg, 0.001, 1000); break;
        case 'q': crf = (int)avk_parse_long("--crf", optarg, 0, 51); break;
        case 'c': codec = optarg; break;
        case 'v': avk_verbose++; break;
        case 'h': usage(); break;
        case 'V': avk_print_version(); break;
        default: avk_usage_error("unknown option");
        }
    }
    if (enc)
        return encode(enc, o.width, o.height, fps, crf, codec);
    if (optind != argc - 1)
        avk_usage_error("expected one VIDEO");
    const char *path = argv[optind];
    avk_video_info in;
    if (probe) {
        if (avk_video_probe(path, &in) < 0)
            avk_die_lib();
        print_info(&in);
        return 0;
    }
    avk_video *v = avk_video_open(path, &o, &in);
    if (!v)
        avk_die_lib();
    if (info) {
        print_info(&in);
        avk_video_close(v);
        return 0;
    }
    if (start >= 0 && avk_video_seek_frame(v, start) < 0)
        avk_die_lib();
    int w, h;
    avk_video_out_size(v, &w, &h);
    size_t n = avk_frame_bytes(o.pixfmt, w, h);
    uint8_t *buf = avk_xmalloc(n);
    avk_out *fo = avk_out_open(out, !indices);
    if (!fo)
        avk_die_lib();
    int status = 0;
    for (long k = 0; count < 0 || k < count; k++) {
        int64_t idx;
        int rc = avk_video_read(v, buf, &idx);
        if (rc == 0)
            break;
        if (rc < 0) {
            if (!keep_going) {
                avk_out_abort(fo);
                avk_die_lib();
            }
            avk_warn_lib();
            status = 1;
            continue;
        }
        if (indices)
            fprintf(fo->fp, "%" PRId64 "\n", idx);
        else if (avk_fwrite_all(fo->fp, buf, n, "output") < 0) {
            avk_out_abort(fo);
            avk_die_lib();
        }
    }
    free(buf);
    avk_video_close(v);
    if (avk_out_commit(fo) < 0)
        avk_die_lib();
    return status;
}
