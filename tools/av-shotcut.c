/* av-shotcut: cut videos into shots, stitch shots of one event, write a TSV
 * manifest (and optionally each shot as a file). Runs alone or under
 * mpirun, where ranks share the videos and rank 0 writes the same bytes
 * as one process. See av-shotcut(1).
 */
#include "avkit/util/common.h"
#include "avkit/dist/dist.h"
#include "avkit/curate/shotdetect.h"
#include "avkit/curate/shotsplit.h"
#include "avkit/util/tsv.h"
#include "avkit/io/video.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { SPLIT_AUTO, SPLIT_COPY, SPLIT_ENCODE };

typedef struct config {
    avk_shot_params p;
    double min_shot_sec;        /* >= 0 when --min-shot was given in seconds */
    int width;                  /* analysis width */
    int threads;
    int fast;                   /* skip decoder work the analysis cannot see (default) */
    const char *split_dir;
    int split_mode;
    int crf;
} config;

static void usage(void)
{
    printf(
"Usage: av-shotcut [options] VIDEO...\n"
"       av-shotcut [options] -l LIST        (LIST '-' is stdin)\n"
"Cut videos into shots and stitch shots of one event; write a TSV manifest.\n"
"\n"
"  -o, --output FILE          write the manifest to FILE (default stdout)\n"
"  -l, --list FILE            read video paths, one a line, from FILE\n"
"  -d, --detector NAME        adaptive (default), content or fade\n"
"      --adaptive-threshold X ratio to the window mean for a cut (3.0)\n"
"      --min-content X        minimum content score for a cut (21)\n"
"      --window N             frames each side for the adaptive mean (2)\n"
"      --threshold X          content detector: score for a cut (27)\n"
"      --fade-threshold X     fade detector: mean intensity of dark frames (12)\n"
"      --weights H,S,V[,E]    content score weights (1,1,1,0)\n"
"      --min-shot N[s]        merge shorter shots, frames or seconds (0: none)\n"
"      --no-flash-filter      cut on flashes as PySceneDetect does\n"
"      --flash-len N          longest flash or interruption, frames (8)\n"
"      --no-gradual           do not look for gradual transitions\n"
"      --max-transition N     longest gradual transition, frames (32)\n"
"      --gradual-ratio X      long-range change over its neighbours (3.0)\n"
"      --gradual-min X        minimum long-range histogram change (30)\n"
"      --stitch SIM           merge adjacent shots above this similarity (0.6)\n"
"      --stitch-frames N      frames compared at each side of a cut (8)\n"
"      --split DIR            also write each shot as DIR/NAME-shotNNN.mp4\n"
"      --split-mode MODE      auto (default), copy or encode\n"
"      --crf N                quality of re-encoded shots\n"
"      --width N              analysis width in pixels (256)\n"
"      --full-decode          decode every frame in full (deblocking and all), as\n"
"                             before the default skipped what the analysis cannot\n"
"                             see; the same cuts, slower\n"
"      --fast                 the default decoding (kept for old scripts)\n"
"  -j, --threads N            decoder threads (0 = all cores)\n"
"  -v, --verbose              more messages (repeat for more)\n"
"  -h, --help                 this help\n"
"      --version              print the version\n");
}

/* Parse "H,S,V[,E]" into the score weights. */
static void parse_weights(const char *text, avk_shot_params *p)
{
    double w[4] = {0, 0, 0, 0};
    int n = 0;
    const char *s = text;
    while (n < 4) {
        char *end;
        errno = 0;
        w[n] = strtod(s, &end);
        if (end == s || errno || !isfinite(w[n]) || w[n] < 0)
            avk_usage_error("--weights: '%s' is not 3 or 4 non-negative numbers", text);
        n++;
        if (*end == '\0')
            break;
        if (*end != ',')
            avk_usage_error("--weights: '%s' is not 3 or 4 non-negative numbers", text);
        s = end + 1;
    }
    if (n < 3 || *s == '\0' || w[0] + w[1] + w[2] + w[3] <= 0)
        avk_usage_error("--weights: '%s' is not 3 or 4 non-negative numbers", text);
    p->w_hue = w[0];
    p->w_sat = w[1];
    p->w_lum = w[2];
    p->w_edges = w[3];
}

/* "15" frames or "0.5s" seconds. */
static void parse_min_shot(const char *text, config *c)
{
    size_t len = strlen(text);
    if (len > 1 && text[len - 1] == 's') {
        char *num = avk_xstrdup(text);
        num[len - 1] = '\0';
        c->min_shot_sec = avk_parse_double("--min-shot", num, 0.0, 3600.0);
        free(num);
    } else {
        c->p.min_shot = (int)avk_parse_long("--min-shot", text, 0, 1000000);
        c->min_shot_sec = -1.0;
    }
}

/* Append the lines of a list file to the inputs. */
static void read_list(const char *path, char ***in, size_t *n, size_t *cap)
{
    FILE *fp = avk_in_open(path, 0);
    if (!fp)
        avk_die(AVK_EXIT_FAIL, "%s", avk_errmsg());
    char *line = NULL;
    size_t lcap = 0;
    long len;
    while ((len = avk_getline(&line, &lcap, fp)) >= 0) {
        if (len == 0)
            continue;
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 16;
            *in = avk_xrealloc(*in, sizeof(char *) * *cap);
        }
        (*in)[(*n)++] = avk_xstrdup(line);
    }
    free(line);
    avk_in_close(fp);
}

/* The file name of a path without directory and extension. */
static char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    char *s = avk_xstrdup(*b ? b : "video");
    char *dot = strrchr(s, '.');
    if (dot && dot != s)
        *dot = '\0';
    return s;
}

/* Write each shot as a file under the split directory. */
static int split_shots(const config *c, const char *path, const avk_shot *sh, size_t ns)
{
    avk_keyframes k = {0, NULL};
    int have_keys = 0;
    if (c->split_mode == SPLIT_AUTO)
        have_keys = avk_keyframes_read(path, &k) == 0;
    char *base = base_name(path);
    int rc = 0;
    for (size_t s = 0; s < ns; s++) {
        char *out = avk_xasprintf("%s/%s-shot%03zu.mp4", c->split_dir, base, s);
        int copy = c->split_mode == SPLIT_COPY;
        if (c->split_mode == SPLIT_AUTO && have_keys && sh[s].start < k.nframes &&
            k.is_key[sh[s].start] && (sh[s].end >= k.nframes || k.is_key[sh[s].end]))
            copy = 1;
        int r = copy ? avk_split_copy(path, out, sh[s].start, sh[s].end) : -1;
        if (copy && r < 0 && c->split_mode == SPLIT_AUTO) {
            avk_info(1, "%s: stream copy failed (%s), re-encoding", out, avk_errmsg());
            copy = 0;
        }
        if (!copy)
            r = avk_split_encode(path, out, sh[s].start, sh[s].end, c->crf, c->threads);
        if (r < 0) {
            avk_warn_lib();
            rc = -1;
        } else {
            avk_info(1, "%s: frames %lld-%lld (%s)", out, (long long)sh[s].start,
                     (long long)sh[s].end, copy ? "copy" : "encode");
        }
        free(out);
    }
    free(base);
    avk_keyframes_free(&k);
    return rc;
}

/* ---- a ring of decoded frames between the decoding and the analysis --
 *
 * The calling thread decodes; an analysis thread converts each decoded
 * frame to the small analysis size and analyses it. The analysis thread
 * runs only when a core would otherwise idle (SCHED_IDLE; nice 19 where
 * that is refused): the frame-threaded decoder leaves a core idle now and
 * then, waiting on its own threads, and the analysis fits in those gaps
 * instead of pre-empting a decoder thread that the others wait on (which
 * costs more than the analysis itself). The ring holds up to RING_SLOTS
 * frames (fewer for large frames, RING_BYTES in all) so that the analysis
 * can wait for such gaps; when it is full the decoder waits, so the
 * analysis never falls far behind. A longer ring measured slower: the
 * decoder then cycles through more frame buffers, which fall out of its
 * caches. */

#define RING_SLOTS 8
#define RING_MIN_SLOTS 4
#define RING_BYTES ((size_t)128 << 20)
#define RING_BATCH 2            /* wake the other side every 2 frames, not every one */
#define ANALYSIS_NICE 19

typedef struct frame_ring {
    avk_video *v;
    avk_shot_analyzer *a;
    uint8_t *buf;               /* the analysis-size frame */
    avk_decoded *slot[RING_SLOTS];
    int slots;                  /* ring size for this video's frames */
    int head, tail, count;
    int done;                   /* the decoder has put its last frame */
    int failed;                 /* the analysis stopped on an error */
    char err[1024];             /* its message (error messages are per thread) */
    pthread_mutex_t mu;
    pthread_cond_t filled, freed;
} frame_ring;

static void ring_init(frame_ring *r, avk_video *v, avk_shot_analyzer *a, size_t frame_bytes,
                      size_t decoded_bytes)
{
    memset(r, 0, sizeof *r);
    r->v = v;
    r->a = a;
    size_t fit = RING_BYTES / (decoded_bytes ? decoded_bytes : 1);
    r->slots = fit > RING_SLOTS ? RING_SLOTS : fit < RING_MIN_SLOTS ? RING_MIN_SLOTS : (int)fit;
    r->buf = avk_xmalloc(frame_bytes);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->filled, NULL);
    pthread_cond_init(&r->freed, NULL);
}

static void ring_free(frame_ring *r)
{
    for (int i = 0; i < RING_SLOTS; i++)
        avk_decoded_free(&r->slot[i]);
    free(r->buf);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->filled);
    pthread_cond_destroy(&r->freed);
}

/* The analysis thread: take decoded frames until the decoder is done or
 * a conversion fails. Each side wakes the other only when RING_BATCH
 * frames (or free slots) are ready, which keeps the thread switches few. */
static void *ring_analyse(void *arg)
{
    frame_ring *r = arg;
    /* A hint only: a system that refuses it just runs the analysis at the
     * decoder's priority. */
    struct sched_param idle = {.sched_priority = 0};
    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle) != 0 &&
        setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), ANALYSIS_NICE) < 0)
        errno = 0;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (r->count == 0 && !r->done)
            pthread_cond_wait(&r->filled, &r->mu);
        if (r->count == 0) {
            pthread_mutex_unlock(&r->mu);
            return NULL;
        }
        avk_decoded *f = r->slot[r->tail];
        r->slot[r->tail] = NULL;
        pthread_mutex_unlock(&r->mu);
        int rc = avk_video_convert(r->v, f, r->buf);
        avk_decoded_free(&f);
        if (rc == 0)
            avk_shot_analyzer_add_yuv420p(r->a, r->buf);
        pthread_mutex_lock(&r->mu);
        r->tail = (r->tail + 1) % r->slots;
        r->count--;
        if (rc < 0) {
            r->failed = 1;
            snprintf(r->err, sizeof r->err, "%s", avk_errmsg());
        }
        if (rc < 0 || r->count == r->slots - RING_BATCH)
            pthread_cond_signal(&r->freed);
        pthread_mutex_unlock(&r->mu);
        if (rc < 0)
            return NULL;
    }
}

/* Hand a decoded frame to the analysis, waiting for a free slot. 0, or -1
 * when the analysis has stopped (the frame is freed). */
static int ring_put(frame_ring *r, avk_decoded *f)
{
    pthread_mutex_lock(&r->mu);
    while (r->count == r->slots && !r->failed)
        pthread_cond_wait(&r->freed, &r->mu);
    if (r->failed) {
        pthread_mutex_unlock(&r->mu);
        avk_decoded_free(&f);
        return -1;
    }
    r->slot[r->head] = f;
    r->head = (r->head + 1) % r->slots;
    r->count++;
    if (r->count == RING_BATCH)
        pthread_cond_signal(&r->filled);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

/* No more frames: let the analysis finish what is in the ring. */
static void ring_close(frame_ring *r)
{
    pthread_mutex_lock(&r->mu);
    r->done = 1;
    pthread_cond_signal(&r->filled);
    pthread_mutex_unlock(&r->mu);
}

/* Shot rows of one video into b. Returns 0, or -1 when the video could not
 * be read at all (the message is printed). A video damaged part way gives
 * the shots of what decoded, with a warning. */
static int process_video(const config *c, const char *path, avk_buf *b)
{
    /* 4:2:0 from the decoder, RGB in the analysis: cheaper than the
     * scaler's packed RGB. Two-tap bilinear shrinking, as PySceneDetect's
     * OpenCV resize does: area averaging costs more than the analysis. */
    avk_decode_opts o = {.width = c->width, .pixfmt = AVK_PIX_YUV420P, .threads = c->threads,
                         .fast = c->fast, .scaler = AVK_SCALE_BILINEAR};
    avk_video_info info;
    avk_video *v = avk_video_open(path, &o, &info);
    if (!v) {
        avk_warn_lib();
        return -1;
    }
    int w, h;
    avk_video_out_size(v, &w, &h);
    avk_shot_params p = c->p;
    if (c->min_shot_sec >= 0)
        p.min_shot = (int)lround(c->min_shot_sec * (info.fps > 0 ? info.fps : 25.0));
    avk_shot_analyzer *a = avk_shot_analyzer_new(w, h, &p);
    if (!a) {
        avk_warn("%s: %s", path, avk_errmsg());
        avk_video_close(v);
        return -1;
    }
    avk_progress pr;
    avk_progress_start(&pr, path, info.nframes > 0 ? (double)info.nframes : 0.0);
    /* This thread decodes into a ring of frames that another analyses. */
    frame_ring ring;
    ring_init(&ring, v, a, avk_frame_bytes(AVK_PIX_YUV420P, w, h),
              avk_frame_bytes(AVK_PIX_YUV420P, info.width, info.height));
    pthread_t th;
    if (pthread_create(&th, NULL, ring_analyse, &ring) != 0)
        avk_die(AVK_EXIT_FAIL, "%s: cannot start the analysis thread", path);
    int64_t nf = 0;
    int r;
    avk_decoded *frame;
    while ((r = avk_video_read_decoded(v, &frame, NULL)) == 1) {
        if (ring_put(&ring, frame) < 0)
            break;
        nf++;
        if ((nf & 31) == 0)
            avk_progress_update(&pr, (double)nf);
    }
    ring_close(&ring);
    pthread_join(th, NULL);
    if (ring.failed) {
        /* The frames analysed are those before the one that failed. */
        avk_error("%s", ring.err);
        r = -1;
        nf = avk_shot_analyzer_frames(a);
    }
    ring_free(&ring);
    avk_progress_end(&pr);
    avk_video_close(v);
    if (r < 0) {
        if (nf == 0) {
            avk_warn_lib();
            avk_shot_analyzer_free(a);
            return -1;
        }
        avk_warn("%s (keeping the shots of the first %lld frames)", avk_errmsg(), (long long)nf);
    }
    if (r == 0 && info.nframes > 0 && nf + 1 < info.nframes)
        avk_warn("%s: frame %lld: video ends early (the container says %lld frames); "
                 "keeping the shots of the frames decoded", path, (long long)nf,
                 (long long)info.nframes);
    if (nf == 0) {
        avk_warn("%s: no frames decoded", path);
        avk_shot_analyzer_free(a);
        return -1;
    }
    avk_shot *sh;
    size_t ns = avk_shot_analyzer_finish(a, &sh);
    avk_shot_analyzer_free(a);
    double fps = info.fps > 0 ? info.fps : 0.0;
    for (size_t s = 0; s < ns; s++) {
        char *clip = avk_clip_id(path, (long)sh[s].start, (long)sh[s].end);
        avk_tsv_put(b, 1, clip);
        avk_tsv_put(b, 0, path);
        avk_buf_printf(b, "\t%zu\t%lld\t%lld\t%.3f\t%.3f\t%.3f\t%d\t%d\t%d\t%lld\t%lld\n", s,
                       (long long)sh[s].start, (long long)sh[s].end,
                       fps > 0 ? sh[s].start / fps : 0.0, fps > 0 ? sh[s].end / fps : 0.0, fps,
                       info.width, info.height, sh[s].event, (long long)sh[s].trans_start,
                       (long long)sh[s].trans_end);
        free(clip);
    }
    int rc = 0;
    if (c->split_dir && split_shots(c, path, sh, ns) < 0)
        rc = -1;
    free(sh);
    avk_info(1, "%s: %lld frames, %zu shots", path, (long long)nf, ns);
    return rc;
}

/* Share the input list of rank 0 with every rank (a list on stdin reaches
 * rank 0 only). */
static void share_inputs(char ***in, size_t *n)
{
    if (!avk_dist_active())
        return;
    avk_buf b = {0};
    if (avk_dist_rank() == 0)
        for (size_t i = 0; i < *n; i++)
            avk_buf_append(&b, (*in)[i], strlen((*in)[i]) + 1);
    if (avk_comm_share(avk_comm_world(), &b, 0) < 0)
        avk_die_lib();
    if (avk_dist_rank() != 0) {
        for (size_t i = 0; i < *n; i++)
            free((*in)[i]);
        *n = 0;
        size_t cap = 0;
        for (size_t off = 0; off < b.len; off += strlen((char *)b.data + off) + 1) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 16;
                *in = avk_xrealloc(*in, sizeof(char *) * cap);
            }
            (*in)[(*n)++] = avk_xstrdup((char *)b.data + off);
        }
    }
    avk_buf_free(&b);
}

/* The videos as avk_dist_items' job: each video's rows are one item,
 * written by rank 0 after the header, in input order. */
typedef struct shot_job {
    const config *c;
    char        **in;
    avk_out      *out;      /* rank 0 */
    const char   *output;
} shot_job;

/* A video that fails still sends the rows it has (none, usually). */
static int shot_work(size_t i, avk_buf *rows, void *ctx)
{
    shot_job *j = ctx;
    return process_video(j->c, j->in[i], rows) < 0 ? 1 : 0;
}

static int shot_header(void *ctx)
{
    shot_job *j = ctx;
    static const char *header =
        "clip\tvideo\tshot\tstart_frame\tend_frame\tstart_time\tend_time\tfps\twidth\theight"
        "\tevent\ttrans_start\ttrans_end\n";
    return avk_fwrite_all(j->out->fp, header, strlen(header), j->output);
}

static int shot_rows(size_t i, avk_buf *rows, void *ctx)
{
    shot_job *j = ctx;
    return avk_fwrite_all(j->out->fp, rows->data, rows->len, j->output);
}

enum {
    O_ADAPTIVE = 256, O_MINCONTENT, O_WINDOW, O_THRESHOLD, O_FADE, O_WEIGHTS, O_MINSHOT,
    O_NOFLASH, O_FLASHLEN, O_NOGRADUAL, O_MAXTRANS, O_GRATIO, O_GMIN, O_STITCH, O_STITCHF,
    O_SPLIT, O_SPLITMODE, O_CRF, O_WIDTH, O_FAST, O_FULL, O_VERSION
};

int main(int argc, char **argv)
{
    avk_tool_init(argv[0]);
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'},
        {"list", required_argument, 0, 'l'},
        {"detector", required_argument, 0, 'd'},
        {"adaptive-threshold", required_argument, 0, O_ADAPTIVE},
        {"min-content", required_argument, 0, O_MINCONTENT},
        {"window", required_argument, 0, O_WINDOW},
        {"threshold", required_argument, 0, O_THRESHOLD},
        {"fade-threshold", required_argument, 0, O_FADE},
        {"weights", required_argument, 0, O_WEIGHTS},
        {"min-shot", required_argument, 0, O_MINSHOT},
        {"no-flash-filter", no_argument, 0, O_NOFLASH},
        {"flash-len", required_argument, 0, O_FLASHLEN},
        {"no-gradual", no_argument, 0, O_NOGRADUAL},
        {"max-transition", required_argument, 0, O_MAXTRANS},
        {"gradual-ratio", required_argument, 0, O_GRATIO},
        {"gradual-min", required_argument, 0, O_GMIN},
        {"stitch", required_argument, 0, O_STITCH},
        {"stitch-frames", required_argument, 0, O_STITCHF},
        {"split", required_argument, 0, O_SPLIT},
        {"split-mode", required_argument, 0, O_SPLITMODE},
        {"crf", required_argument, 0, O_CRF},
        {"width", required_argument, 0, O_WIDTH},
        {"fast", no_argument, 0, O_FAST},
        {"full-decode", no_argument, 0, O_FULL},
        {"threads", required_argument, 0, 'j'},
        {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, O_VERSION},
        {0, 0, 0, 0}
    };
    config c;
    memset(&c, 0, sizeof c);
    avk_shot_params_default(&c.p);
    c.min_shot_sec = -1.0;
    c.width = 256;
    c.fast = 1;
    c.crf = -1;
    c.split_mode = SPLIT_AUTO;
    const char *output = "-";
    char **lists = NULL;
    size_t nlists = 0;
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "o:l:d:j:vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o': output = optarg; break;
        case 'l':
            lists = avk_xrealloc(lists, sizeof(char *) * (nlists + 1));
            lists[nlists++] = optarg;
            break;
        case 'd':
            if (strcmp(optarg, "adaptive") == 0) c.p.detector = AVK_DETECT_ADAPTIVE;
            else if (strcmp(optarg, "content") == 0) c.p.detector = AVK_DETECT_CONTENT;
            else if (strcmp(optarg, "fade") == 0) c.p.detector = AVK_DETECT_FADE;
            else avk_usage_error("--detector: '%s' is not adaptive, content or fade", optarg);
            break;
        case O_ADAPTIVE: c.p.adaptive_threshold = avk_parse_double("--adaptive-threshold", optarg, 0.0, 255.0); break;
        case O_MINCONTENT: c.p.min_content = avk_parse_double("--min-content", optarg, 0.0, 255.0); break;
        case O_WINDOW: c.p.window = (int)avk_parse_long("--window", optarg, 1, 100); break;
        case O_THRESHOLD: c.p.threshold = avk_parse_double("--threshold", optarg, 0.0, 255.0); break;
        case O_FADE: c.p.fade_threshold = avk_parse_double("--fade-threshold", optarg, 0.0, 255.0); break;
        case O_WEIGHTS: parse_weights(optarg, &c.p); break;
        case O_MINSHOT: parse_min_shot(optarg, &c); break;
        case O_NOFLASH: c.p.flash_filter = 0; break;
        case O_FLASHLEN: c.p.flash_len = (int)avk_parse_long("--flash-len", optarg, 1, 1000); break;
        case O_NOGRADUAL: c.p.gradual = 0; break;
        case O_MAXTRANS: c.p.max_transition = (int)avk_parse_long("--max-transition", optarg, 4, 64); break;
        case O_GRATIO: c.p.gradual_ratio = avk_parse_double("--gradual-ratio", optarg, 1.0, 1000.0); break;
        case O_GMIN: c.p.gradual_min = avk_parse_double("--gradual-min", optarg, 0.0, 100.0); break;
        case O_STITCH: c.p.stitch = avk_parse_double("--stitch", optarg, -1.0, 2.0); break;
        case O_STITCHF: c.p.stitch_frames = (int)avk_parse_long("--stitch-frames", optarg, 1, 1000); break;
        case O_SPLIT: c.split_dir = optarg; break;
        case O_SPLITMODE:
            if (strcmp(optarg, "auto") == 0) c.split_mode = SPLIT_AUTO;
            else if (strcmp(optarg, "copy") == 0) c.split_mode = SPLIT_COPY;
            else if (strcmp(optarg, "encode") == 0) c.split_mode = SPLIT_ENCODE;
            else avk_usage_error("--split-mode: '%s' is not auto, copy or encode", optarg);
            break;
        case O_CRF: c.crf = (int)avk_parse_long("--crf", optarg, 0, 51); break;
        case O_WIDTH: c.width = (int)avk_parse_long("--width", optarg, 16, 4096); break;
        case O_FAST: c.fast = 1; break;
        case O_FULL: c.fast = 0; break;
        case 'j': c.threads = (int)avk_parse_long("--threads", optarg, 0, 256); break;
        case 'v': avk_verbose++; break;
        case 'h': usage(); return AVK_EXIT_OK;
        case O_VERSION: avk_print_version();
        default:
            if (optopt && strchr("oldj", optopt))
                avk_usage_error("option '-%c' needs an argument", optopt);
            avk_usage_error("unrecognized option '%s'", argv[optind - 1]);
        }
    }
    size_t n = 0, cap = 0;
    char **in = NULL;
    for (int i = optind; i < argc; i++) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            in = avk_xrealloc(in, sizeof(char *) * cap);
        }
        in[n++] = avk_xstrdup(argv[i]);
    }
    if (n == 0 && nlists == 0)
        avk_usage_error("no input videos (give paths or -l LIST)");

    if (avk_dist_init(&argc, &argv) < 0)
        avk_die_lib();
    int rank = avk_dist_rank();
    if (rank == 0)
        for (size_t i = 0; i < nlists; i++)
            read_list(lists[i], &in, &n, &cap);
    free(lists);
    share_inputs(&in, &n);
    if (c.split_dir && rank == 0 && mkdir(c.split_dir, 0777) != 0 && errno != EEXIST)
        avk_die(AVK_EXIT_FAIL, "%s: cannot create directory: %s", c.split_dir, strerror(errno));
    if (avk_dist_active())
        avk_dist_barrier();

    avk_out *out = NULL;
    if (rank == 0 && !(out = avk_out_open(output, 0)))
        avk_die_lib();

    /* Deal the videos: cost = frames x pixels, longest first. */
    double *cost = NULL;
    if (avk_dist_active()) {
        /* Each rank probes every size-th video; a sum shares the costs. */
        float *fc = avk_xcalloc(n ? n : 1, sizeof(float));
        for (size_t i = (size_t)rank; i < n; i += (size_t)avk_dist_size()) {
            avk_video_info vi;
            if (avk_video_probe(in[i], &vi) == 0)
                fc[i] = (float)((double)(vi.nframes > 0 ? vi.nframes : 1) * vi.width * vi.height);
        }
        if (n && avk_dist_allreduce_sum_f32(fc, n) < 0)
            avk_die_lib();
        cost = avk_xcalloc(n ? n : 1, sizeof(double));
        for (size_t i = 0; i < n; i++)
            cost[i] = fc[i];
        free(fc);
    }
    shot_job sj = {.c = &c, .in = in, .out = out, .output = output};
    avk_items job = {.n = n, .cost = cost, .work = shot_work, .begin = shot_header,
                     .emit = shot_rows, .ctx = &sj};
    avk_items_result res;
    int rc = avk_dist_items(avk_comm_world(), &job, &res);
    long failed = res.failed;
    if (rank == 0 && (rc < 0 || avk_out_commit(out) < 0)) {
        if (rc < 0)
            avk_out_abort(out);
        avk_warn_lib();
        failed++;
    }
    for (size_t i = 0; i < n; i++)
        free(in[i]);
    free(in);
    free(cost);
    failed = avk_dist_sum_long(rank == 0 ? failed : 0);
    avk_dist_finalize();
    return failed ? AVK_EXIT_FAIL : AVK_EXIT_OK;
}
