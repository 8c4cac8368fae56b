/* av-filter: score the clips of a manifest (static frames, motion,
 * aesthetics, on-screen text, watermarks) in one decode pass per clip and
 * say which to keep and why. Under mpirun the ranks share the clips and
 * rank 0 writes the output in input order. See av-filter(1). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avkit/util/common.h"
#include "avkit/dist/dist.h"
#include "avkit/curate/filter.h"
#include "avkit/util/tsv.h"

static void usage(void)
{
    printf("usage: av-filter [options] [MANIFEST]\n"
           "Score the clips of a TSV manifest (default stdin) and add the columns\n"
           "static_frac, motion, dynamic, aesthetic, text_frames, text_cover,\n"
           "watermark, keep and reason.\n\n"
           "  -o, --output FILE        write here (default stdout)\n"
           "      --drop               write only the clips that are kept\n"
           "      --scores LIST        static,motion,aesthetic,text,watermark or all (all)\n"
           "      --min-frames N       drop clips of fewer frames as short (15; 0 keeps all)\n"
           "      --size N             analysis size: shorter side in pixels (360)\n"
           "      --threads N          decoder threads (0 = auto)\n"
           "      --fast               let the decoder skip work (loop filter)\n"
           "      --static-diff X      gray-mean difference under which a frame is static (0.9)\n"
           "      --static-frac X      drop when this fraction of frames is static (0.3)\n"
           "      --static-mode M      mad (mean |frame difference|, default) or means\n"
           "      --flow-size N        optical-flow shorter side (128)\n"
           "      --motion-thres X     VBench threshold at 256 pixels (6.0)\n"
           "      --motion-count X     pairs needed per 16 sampled frames (4)\n"
           "      --aesthetic-frames N frames scored for aesthetics (5)\n"
           "      --aesthetic-min X    drop under this aesthetic score (4.5)\n"
           "      --aesthetic-cmd CMD  learned predictor: CMD FRAME.tif... prints a score\n"
           "      --text-frames N      frames read for text (5)\n"
           "      --text-conf X        word confidence, 0..1 (0.4)\n"
           "      --text-chars N       characters a word needs (4)\n"
           "      --text-cover X       a frame is significant above this coverage (0.02)\n"
           "      --text-max-frames N  drop when more frames than this are significant (1)\n"
           "      --watermark-frames N frames compared for fixed overlays (8)\n"
           "      --watermark-max X    drop above this watermark score (0.5)\n"
           "  -v, --verbose            more messages\n"
           "  -h, --help               this help\n"
           "      --version            print the version\n");
    exit(0);
}

enum {
    OPT_DROP = 256, OPT_SCORES, OPT_SIZE, OPT_THREADS, OPT_FAST, OPT_SDIFF, OPT_SFRAC, OPT_SMODE,
    OPT_FLOWSIZE, OPT_MTHRES, OPT_MCOUNT, OPT_AFRAMES, OPT_AMIN, OPT_ACMD, OPT_TFRAMES,
    OPT_TCONF, OPT_TCHARS, OPT_TCOVER, OPT_TMAX, OPT_WFRAMES, OPT_WMAX, OPT_MINFRAMES, OPT_VERSION
};

static const struct option long_opts[] = {
    {"output", required_argument, 0, 'o'}, {"drop", no_argument, 0, OPT_DROP},
    {"scores", required_argument, 0, OPT_SCORES}, {"size", required_argument, 0, OPT_SIZE},
    {"min-frames", required_argument, 0, OPT_MINFRAMES},
    {"threads", required_argument, 0, OPT_THREADS}, {"fast", no_argument, 0, OPT_FAST},
    {"static-diff", required_argument, 0, OPT_SDIFF}, {"static-frac", required_argument, 0, OPT_SFRAC},
    {"static-mode", required_argument, 0, OPT_SMODE},
    {"flow-size", required_argument, 0, OPT_FLOWSIZE},
    {"motion-thres", required_argument, 0, OPT_MTHRES}, {"motion-count", required_argument, 0, OPT_MCOUNT},
    {"aesthetic-frames", required_argument, 0, OPT_AFRAMES},
    {"aesthetic-min", required_argument, 0, OPT_AMIN}, {"aesthetic-cmd", required_argument, 0, OPT_ACMD},
    {"text-frames", required_argument, 0, OPT_TFRAMES}, {"text-conf", required_argument, 0, OPT_TCONF},
    {"text-chars", required_argument, 0, OPT_TCHARS}, {"text-cover", required_argument, 0, OPT_TCOVER},
    {"text-max-frames", required_argument, 0, OPT_TMAX},
    {"watermark-frames", required_argument, 0, OPT_WFRAMES},
    {"watermark-max", required_argument, 0, OPT_WMAX},
    {"verbose", no_argument, 0, 'v'}, {"help", no_argument, 0, 'h'},
    {"version", no_argument, 0, OPT_VERSION}, {0, 0, 0, 0},
};

/* The manifest as rank 0 read it: header and rows, tab-joined lines. */
typedef struct manifest {
    int ncols;
    char **cols;
    size_t nrows;
    char **rows;          /* each row's fields joined by tabs */
    long *start, *end;
    long *lineno;         /* the row's line in the manifest */
    double *fps;
    char **video;
} manifest;

/* Split a tab-joined line into fields (in place). Returns the count. */
static int split_tabs(char *line, char **f, int max)
{
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == '\t') {
            *p = 0;
            f[n++] = p + 1;
        }
    return n;
}

/* Parse a whole number field; -1 when it is not one (or too large). */
static int parse_frame(const char *s, long *v)
{
    char *e;
    errno = 0;
    long x = strtol(s, &e, 10);
    if (e == s || *e || x < 0 || errno)
        return -1;
    *v = x;
    return 0;
}

/* An fps field: empty (unknown, the video's rate is used) or a positive
 * number under 10000. 0 when good. */
static int check_fps(const char *s)
{
    if (!*s)
        return 0;
    char *e;
    errno = 0;
    double x = strtod(s, &e);
    return e != s && !*e && !errno && isfinite(x) && x > 0 && x < 1e4 ? 0 : -1;
}

/* Rank 0: read and check the manifest into one text blob (header line,
 * then rows), so that it can be broadcast. NULL with error set. */
static char *read_manifest(const char *path, size_t *len)
{
    avk_tsv *t = avk_tsv_open(path);
    if (!t)
        return NULL;
    if (avk_tsv_need(t, "video") < 0 || avk_tsv_need(t, "start_frame") < 0 ||
        avk_tsv_need(t, "end_frame") < 0) {
        avk_tsv_close(t);
        return NULL;
    }
    int cs = avk_tsv_col(t, "start_frame"), ce = avk_tsv_col(t, "end_frame");
    int cf = avk_tsv_col(t, "fps");
    avk_buf b = {0};
    for (int c = 0; c < t->ncols; c++)
        avk_tsv_put(&b, c == 0, t->cols[c]);
    avk_buf_append(&b, "\n", 1);
    int rc;
    while ((rc = avk_tsv_next(t)) == 1) {
        long s, e;
        if (parse_frame(avk_tsv_field(t, cs), &s) < 0 || parse_frame(avk_tsv_field(t, ce), &e) < 0 || e <= s) {
            avk_error("%s: line %ld: bad frame range '%s'-'%s' (whole numbers, end > start)",
                      t->path, t->lineno, avk_tsv_field(t, cs), avk_tsv_field(t, ce));
            rc = -1;
            break;
        }
        if (cf >= 0 && check_fps(avk_tsv_field(t, cf)) < 0) {
            avk_error("%s: line %ld: bad fps '%s' (a positive number)", t->path,
                      t->lineno, avk_tsv_field(t, cf));
            rc = -1;
            break;
        }
        /* each row carries its line number, for messages on any rank */
        avk_buf_printf(&b, "%ld\t", t->lineno);
        for (int c = 0; c < t->ncols; c++)
            avk_tsv_put(&b, c == 0, avk_tsv_field(t, c));
        avk_buf_append(&b, "\n", 1);
    }
    avk_tsv_close(t);
    if (rc < 0) {
        avk_buf_free(&b);
        return NULL;
    }
    avk_buf_append(&b, "", 1);
    *len = b.len;
    return (char *)b.data;
}

/* Every rank: parse the broadcast blob. */
static void parse_manifest(char *blob, manifest *m)
{
    memset(m, 0, sizeof *m);
    char *nl = strchr(blob, '\n');
    *nl = 0;
    int cap = 1;
    for (char *p = blob; *p; p++)
        cap += *p == '\t';
    m->cols = avk_xmalloc((size_t)cap * sizeof(char *));
    m->ncols = split_tabs(blob, m->cols, cap);
    size_t rcap = 0;
    char **f = avk_xmalloc((size_t)m->ncols * sizeof(char *));
    int cv = -1, cs = -1, ce = -1, cf = -1;
    for (int c = 0; c < m->ncols; c++) {
        if (!strcmp(m->cols[c], "video")) cv = c;
        if (!strcmp(m->cols[c], "start_frame")) cs = c;
        if (!strcmp(m->cols[c], "end_frame")) ce = c;
        if (!strcmp(m->cols[c], "fps")) cf = c;
    }
    for (char *line = nl + 1; *line; ) {
        char *e = strchr(line, '\n');
        *e = 0;
        if (m->nrows == rcap) {
            rcap = rcap ? 2 * rcap : 64;
            m->rows = avk_xrealloc(m->rows, rcap * sizeof(char *));
            m->start = avk_xrealloc(m->start, rcap * sizeof(long));
            m->end = avk_xrealloc(m->end, rcap * sizeof(long));
            m->lineno = avk_xrealloc(m->lineno, rcap * sizeof(long));
            m->fps = avk_xrealloc(m->fps, rcap * sizeof(double));
            m->video = avk_xrealloc(m->video, rcap * sizeof(char *));
        }
        size_t i = m->nrows++;
        char *tab = strchr(line, '\t');
        m->lineno[i] = strtol(line, NULL, 10);
        line = tab + 1;
        m->rows[i] = avk_xstrdup(line);
        split_tabs(line, f, m->ncols);
        m->video[i] = f[cv];
        m->start[i] = strtol(f[cs], NULL, 10);
        m->end[i] = strtol(f[ce], NULL, 10);
        m->fps[i] = cf >= 0 ? strtod(f[cf], NULL) : 0;
        if (!(m->fps[i] > 0 && m->fps[i] < 1e4))
            m->fps[i] = 0;
        line = e + 1;
    }
    free(f);
}

/* Our columns, in order, for the requested scores. */
typedef struct outcol {
    const char *name;
    unsigned score;
} outcol;
static const outcol our_cols[] = {
    {"static_frac", AVK_SCORE_STATIC}, {"motion", AVK_SCORE_MOTION},
    {"dynamic", AVK_SCORE_MOTION}, {"aesthetic", AVK_SCORE_AESTHETIC},
    {"text_frames", AVK_SCORE_TEXT}, {"text_cover", AVK_SCORE_TEXT},
    {"watermark", AVK_SCORE_WATERMARK}, {"keep", 0}, {"reason", 0},
};
enum { NOUR = sizeof our_cols / sizeof our_cols[0] };

/* The value of our column k for a result, "-" where not measured. */
static void col_value(int k, const avk_filter_result *r, char *buf, size_t n)
{
    const char *name = our_cols[k].name;
    if (!r->readable && strcmp(name, "keep") && strcmp(name, "reason")) {
        snprintf(buf, n, "-");
        return;
    }
    if (!strcmp(name, "static_frac")) snprintf(buf, n, "%.4f", r->static_frac);
    else if (!strcmp(name, "motion")) snprintf(buf, n, "%.3f", r->motion);
    else if (!strcmp(name, "dynamic")) snprintf(buf, n, "%d", r->dynamic);
    else if (!strcmp(name, "aesthetic")) snprintf(buf, n, "%.2f", r->aesthetic);
    else if (!strcmp(name, "text_frames")) snprintf(buf, n, "%d", r->text_frames);
    else if (!strcmp(name, "text_cover")) snprintf(buf, n, "%.4f", r->text_cover);
    else if (!strcmp(name, "watermark")) snprintf(buf, n, "%.3f", r->watermark);
    else if (!strcmp(name, "keep")) snprintf(buf, n, "%d", r->keep);
    else snprintf(buf, n, "%s", r->reason);
}

/* The clips as avk_dist_items' job: each clip's output row is one item
 * (empty when --drop drops it), written by rank 0 after the header. */
typedef struct filter_job {
    const manifest          *m;
    const avk_filter_opts   *o;
    const int               *where;     /* our column k goes to where[k] */
    int                      ncols_out, drop, rank;
    const double            *cost;
    const char              *out_path;
    const char              *in_name;   /* the manifest, in messages */
    avk_out                 *out;       /* rank 0, from filter_begin */
} filter_job;

/* Score this rank's clips (idx[0..k)) into their rows. Returns the number
 * of unreadable clips (kept with reason 'unreadable'), or -1 when a score
 * failed: then nothing is written at all. */
static int filter_work(const size_t *idx, size_t k, avk_buf *items, void *ctx)
{
    filter_job *j = ctx;
    const manifest *m = j->m;
    int unreadable = 0, failed = 0;
    double total = 0;
    for (size_t q = 0; q < k; q++)
        total += j->cost[idx[q]];
    avk_progress prog;
    avk_progress_start(&prog, "av-filter", j->rank == 0 ? total : 0);
    double done = 0;
    char **fields = avk_xmalloc((size_t)j->ncols_out * sizeof(char *));
    char vals[NOUR][64];
    for (size_t q = 0; q < k && !failed; q++) {
        size_t i = idx[q];
        avk_filter_result r;
        if (avk_filter_clip(m->video[i], m->start[i], m->end[i], m->fps[i], j->o, &r) < 0) {
            if (r.bad_range) {      /* the manifest is wrong: no output */
                avk_warn("%s: line %ld: %s", j->in_name, m->lineno[i], avk_errmsg());
                failed = 1;
                break;
            }
            avk_warn_lib();
            if (r.readable) {       /* a score failed: no output at all */
                failed = 1;
                break;
            }
            unreadable++;
        }
        char *row = avk_xstrdup(m->rows[i]);
        split_tabs(row, fields, m->ncols);
        for (int c = 0; c < NOUR; c++)
            if (j->where[c] >= 0) {
                col_value(c, &r, vals[c], sizeof vals[c]);
                fields[j->where[c]] = vals[c];
            }
        if (!j->drop || r.keep)
            for (int c = 0; c < j->ncols_out; c++) {
                avk_tsv_put(&items[i], c == 0, fields[c]);
                if (c == j->ncols_out - 1)
                    avk_buf_append(&items[i], "\n", 1);
            }
        free(row);
        done += j->cost[i];
        if (j->rank == 0)
            avk_progress_update(&prog, done);
    }
    avk_progress_end(&prog);
    avk_text_release();
    free(fields);
    return failed ? -1 : unreadable;
}

/* Rank 0, once every clip is scored: open the output, write the header. */
static int filter_begin(void *ctx)
{
    filter_job *j = ctx;
    const manifest *m = j->m;
    if (!(j->out = avk_out_open(j->out_path, 0)))
        return -1;
    avk_buf h = {0};
    for (int c = 0; c < m->ncols; c++)
        avk_tsv_put(&h, c == 0, m->cols[c]);
    for (int k = 0; k < NOUR; k++)
        if (j->where[k] >= m->ncols)
            avk_tsv_put(&h, 0, our_cols[k].name);
    avk_buf_append(&h, "\n", 1);
    int rc = avk_fwrite_all(j->out->fp, h.data, h.len, j->out_path);
    avk_buf_free(&h);
    return rc;
}

static int filter_row(size_t i, avk_buf *row, void *ctx)
{
    filter_job *j = ctx;
    return row->len ? avk_fwrite_all(j->out->fp, row->data, row->len, j->out_path) : 0;
}

int main(int argc, char **argv)
{
    avk_tool_init(argv[0]);
    if (avk_dist_init(&argc, &argv) < 0)
        avk_die_lib();
    avk_filter_opts o;
    avk_filter_opts_default(&o);
    const char *out_path = "-";
    int drop = 0, opt;
    while ((opt = getopt_long(argc, argv, "o:vh", long_opts, NULL)) != -1) {
        switch (opt) {
        case 'o': out_path = optarg; break;
        case OPT_DROP: drop = 1; break;
        case OPT_SCORES:
            if (avk_filter_parse_scores(optarg, &o.scores) < 0)
                avk_usage_error("--scores: %s", avk_errmsg());
            break;
        case OPT_MINFRAMES: o.min_frames = avk_parse_long("--min-frames", optarg, 0, 1000000000L); break;
        case OPT_SIZE: o.size = (int)avk_parse_long("--size", optarg, 16, 4320); break;
        case OPT_THREADS: o.threads = (int)avk_parse_long("--threads", optarg, 0, 256); break;
        case OPT_FAST: o.fast = 1; break;
        case OPT_SDIFF: o.static_diff = avk_parse_double("--static-diff", optarg, 0, 255); break;
        case OPT_SFRAC: o.static_frac = avk_parse_double("--static-frac", optarg, 0, 1); break;
        case OPT_SMODE:
            if (!strcmp(optarg, "mad"))
                o.static_mode = AVK_STATIC_MAD;
            else if (!strcmp(optarg, "means"))
                o.static_mode = AVK_STATIC_MEANS;
            else
                avk_usage_error("--static-mode: '%s' is not mad or means", optarg);
            break;
        case OPT_FLOWSIZE: o.flow_size = (int)avk_parse_long("--flow-size", optarg, 16, 2160); break;
        case OPT_MTHRES: o.motion_thres = avk_parse_double("--motion-thres", optarg, 0, 1e4); break;
        case OPT_MCOUNT: o.motion_count = avk_parse_double("--motion-count", optarg, 0, 16); break;
        case OPT_AFRAMES: o.aesthetic_frames = (int)avk_parse_long("--aesthetic-frames", optarg, 1, 64); break;
        case OPT_AMIN: o.aesthetic_min = avk_parse_double("--aesthetic-min", optarg, -1e9, 1e9); break;
        case OPT_ACMD: o.aesthetic_cmd = optarg; break;
        case OPT_TFRAMES: o.text_frames = (int)avk_parse_long("--text-frames", optarg, 1, 64); break;
        case OPT_TCONF: o.text_conf = avk_parse_double("--text-conf", optarg, 0, 1); break;
        case OPT_TCHARS: o.text_min_chars = (int)avk_parse_long("--text-chars", optarg, 1, 1000); break;
        case OPT_TCOVER: o.text_cover = avk_parse_double("--text-cover", optarg, 0, 1); break;
        case OPT_TMAX: o.text_max_frames = (int)avk_parse_long("--text-max-frames", optarg, 0, 64); break;
        case OPT_WFRAMES: o.watermark_frames = (int)avk_parse_long("--watermark-frames", optarg, 2, 64); break;
        case OPT_WMAX: o.watermark_max = avk_parse_double("--watermark-max", optarg, 0, 1); break;
        case 'v': avk_verbose++; break;
        case 'h': usage(); break;
        case OPT_VERSION: avk_print_version(); break;
        default: avk_usage_try();
        }
    }
    if (argc - optind > 1)
        avk_usage_error("one manifest at most (got %d)", argc - optind);
    const char *in_path = optind < argc ? argv[optind] : "-";
    int rank = avk_dist_rank();

    /* rank 0 reads and checks the manifest; every rank gets a copy */
    avk_buf text = {0};
    if (rank == 0) {
        /* an output that cannot be written fails now, before the scoring */
        if (avk_output_check(out_path, 0) == 0)
            text.data = (unsigned char *)read_manifest(in_path, &text.len);
        if (!text.data)
            avk_warn_lib();
        text.cap = text.len;
    }
    int shared = avk_comm_share(avk_comm_world(), &text, rank == 0 && !text.data);
    if (shared < 0)
        avk_die_lib();
    if (shared == 1) {
        avk_dist_finalize();
        return AVK_EXIT_FAIL;
    }
    char *blob = (char *)text.data;
    manifest m;
    parse_manifest(blob, &m);

    /* where each of our columns goes: an input column of that name is
     * replaced (so av-filter can re-score its own output), else appended */
    int where[NOUR], ncols_out = m.ncols;
    for (int k = 0; k < NOUR; k++) {
        where[k] = -2;
        if (our_cols[k].score && !(o.scores & our_cols[k].score))
            continue;
        where[k] = -1;
        for (int c = 0; c < m.ncols; c++)
            if (!strcmp(m.cols[c], our_cols[k].name))
                where[k] = c;
        if (where[k] == -1)
            where[k] = ncols_out++;
    }

    /* deal the clips, longest first */
    size_t n = m.nrows;
    double *cost = avk_xmalloc((n ? n : 1) * sizeof(double));
    for (size_t i = 0; i < n; i++)
        cost[i] = (double)(m.end[i] - m.start[i]);
    filter_job fj = {.m = &m, .o = &o, .where = where, .ncols_out = ncols_out, .drop = drop,
                     .rank = rank, .cost = cost, .out_path = out_path,
                     .in_name = strcmp(in_path, "-") ? in_path : "(stdin)"};
    avk_items job = {.n = n, .cost = cost, .work_all = filter_work, .begin = filter_begin,
                     .emit = filter_row, .ctx = &fj};
    avk_items_result res;
    int rc = avk_dist_items(avk_comm_world(), &job, &res);
    if (res.stopped) {
        avk_dist_finalize();
        return AVK_EXIT_FAIL;
    }
    long unreadable = res.failed;
    int status = unreadable ? AVK_EXIT_FAIL : AVK_EXIT_OK;
    if (rank == 0) {
        if (rc < 0) {
            if (fj.out)
                avk_out_abort(fj.out);
            avk_die_lib();
        }
        if (avk_out_commit(fj.out) < 0)
            avk_die_lib();
        if (unreadable)
            avk_warn("%ld clip%s unreadable (kept in the output with reason 'unreadable')",
                     unreadable, unreadable == 1 ? "" : "s");
    }
    for (size_t i = 0; i < n; i++)
        free(m.rows[i]);
    free(cost); free(blob);
    free(m.cols); free(m.rows); free(m.start); free(m.end); free(m.fps); free(m.video);
    free(m.lineno);
    avk_dist_finalize();
    return status;
}
