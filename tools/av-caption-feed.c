/* av-caption-feed: join the clips of a manifest with their captions (from a
 * file keyed by clip id, from a timeline of captions by overlap, or from an
 * external captioner run per clip), tokenize them with byte-level BPE, and
 * write one tensor-stream record per kept clip; or learn the vocabulary.
 * See man/man1/av-caption-feed.1. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "avkit/io/avt.h"
#include "avkit/io/avt_npy.h"
#include "avkit/data/bpe.h"
#include "avkit/data/captions.h"
#include "avkit/util/cmdpool.h"
#include "avkit/util/common.h"
#include "avkit/dist/dist.h"
#include "avkit/util/strmap.h"
#include "avkit/util/tsv.h"
#include "avkit/util/utf8.h"

#define MAX_CAPTION_BYTES ((size_t)64 << 20)   /* captioner output limit */

static void usage(void)
{
    printf(
        "Usage: av-caption-feed [options] -c CAPTIONS [-o OUT.avt] MANIFEST\n"
        "       av-caption-feed [options] -x CMD [-j N] [-o OUT.avt] MANIFEST\n"
        "       av-caption-feed --learn-vocab N [-o VOCAB] (-c CAPTIONS | -x CMD) MANIFEST\n"
        "       av-caption-feed --learn-vocab N [-o VOCAB] --corpus TEXT\n"
        "Join clips with captions, tokenize, write one record per kept clip.\n"
        "Captions:\n"
        "  -c, --captions FILE       JSONL or TSV captions keyed by clip id\n"
        "  -t, --by-time             key captions by video and interval (seconds) and\n"
        "                            give each clip the caption overlapping it most\n"
        "      --min-overlap F       least overlap fraction of the clip (default 0.5)\n"
        "      --captions-format F   auto, jsonl or tsv (default auto)\n"
        "      --id-field NAME       clip id field (default clip)\n"
        "      --text-field NAME     caption field (default caption)\n"
        "      --video-field NAME, --start-field NAME, --end-field NAME\n"
        "                            interval fields (default video, start, end)\n"
        "  -x, --caption-cmd CMD     run CMD VIDEO START END FPS per clip (also in\n"
        "                            AVK_VIDEO AVK_START AVK_END AVK_FPS AVK_CLIP);\n"
        "                            its standard output is the caption\n"
        "      --caption-timeout S   kill a captioner call after S seconds (default none)\n"
        "  -j, --jobs N              captioner calls at once per process (default 1)\n"
        "      --keep-going          a failed captioner call counts as a missing caption\n"
        "      --require-caption     a kept clip without caption is an error\n"
        "      --keep-uncaptioned    write kept clips without caption (empty caption)\n"
        "      --replace-invalid     replace invalid UTF-8 by U+FFFD instead of failing\n"
        "Tokens:\n"
        "      --vocab FILE          BPE vocabulary (default: one token a byte)\n"
        "  -L, --max-tokens L        truncate and pad to L tokens (default: no padding)\n"
        "      --no-bos-eos          no <bos> and <eos> around the text\n"
        "      --learn-vocab N       learn a vocabulary of N ids, write it instead\n"
        "      --min-count N         least pair count for a merge (default 2)\n"
        "      --corpus FILE         learn from FILE, one text a line\n"
        "      --text-emb PATH       pass embeddings through: DIR/<clip>.npy or an .avt\n"
        "Output:\n"
        "  -o, --output FILE         output (default standard output, never a terminal)\n"
        "  -z, --zlib                compress payloads with zlib\n"
        "  -v, --verbose             list clips without caption, unused and duplicate ids\n"
        "  -h, --help                this help\n"
        "      --version             print the version\n"
        "Under mpirun, captioner calls are shared across ranks; the output is the\n"
        "same as one process. See av-caption-feed(1), avkit-vocab(5).\n");
    exit(AVK_EXIT_OK);
}

/* ---- options ------------------------------------------------------------ */

typedef struct opts {
    const char *manifest, *captions, *cmd, *vocab, *corpus, *text_emb;
    const char *output;
    avk_caption_opts cap;
    double min_overlap, timeout;
    int jobs, keep_going, require, keep_uncaptioned, zlib;
    long max_tokens, learn, min_count;
    int bos_eos;
} opts;

/* ---- the manifest ------------------------------------------------------- */

typedef struct clip {
    char  **fields;     /* the row, one string per manifest column */
    char   *id;
    const char *video, *fps_text;
    long    start, end;
    double  fps;        /* 0 without an fps column */
    int     keep;       /* keep column says 1 (or there is none) */
    int     dup;        /* a kept clip whose id an earlier kept clip has */
    long    line;
    /* the join */
    char   *caption;    /* NULL: none */
    char   *why;        /* why there is none (for -v) */
    double  overlap;    /* by time */
} clip;

typedef struct manifest {
    char  *path;
    int    ncols;
    char **cols;
    clip  *clips;
    size_t n, kept, dropped, dups;
    int    has_fps;
} manifest;

/* Parse a whole-number field; -1 (error set) when it is not one. */
static int field_long(const char *path, long line, const char *col, const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < 0)
        return avk_error("%s: line %ld: column '%s': '%s' is not a frame number", path,
                         line, col, s);
    *out = v;
    return 0;
}

/* Read the manifest: rows, the clip id of each, which are kept. */
static int read_manifest(const char *path, int need_fps, manifest *m)
{
    memset(m, 0, sizeof *m);
    avk_tsv *t = avk_tsv_open(path);
    if (!t)
        return -1;
    m->path = avk_xstrdup(path);
    int c_video, c_start, c_end;
    if ((c_video = avk_tsv_need(t, "video")) < 0 || (c_start = avk_tsv_need(t, "start_frame")) < 0 ||
        (c_end = avk_tsv_need(t, "end_frame")) < 0)
        goto fail;
    int c_fps = avk_tsv_col(t, "fps"), c_clip = avk_tsv_col(t, "clip"),
        c_keep = avk_tsv_col(t, "keep");
    if (need_fps && c_fps < 0) {
        avk_error("%s: missing column 'fps' (needed with --by-time and --caption-cmd)", path);
        goto fail;
    }
    m->has_fps = c_fps >= 0;
    m->ncols = t->ncols;
    m->cols = avk_xmalloc((size_t)t->ncols * sizeof *m->cols);
    for (int i = 0; i < t->ncols; i++)
        m->cols[i] = avk_xstrdup(t->cols[i]);
    size_t cap = 0;
    avk_strmap seen;
    avk_strmap_init(&seen);
    int rc;
    while ((rc = avk_tsv_next(t)) == 1) {
        if (m->n == cap) {
            cap = cap ? cap * 2 : 256;
            m->clips = avk_xrealloc(m->clips, cap * sizeof *m->clips);
        }
        clip *c = &m->clips[m->n++];
        memset(c, 0, sizeof *c);
        c->line = t->lineno;
        c->fields = avk_xmalloc((size_t)t->ncols * sizeof *c->fields);
        for (int i = 0; i < t->ncols; i++)
            c->fields[i] = avk_xstrdup(avk_tsv_field(t, i));
        c->video = c->fields[c_video];
        if (!*c->video) {
            avk_error("%s: line %ld: empty video", path, c->line);
            goto fail_seen;
        }
        if (field_long(path, c->line, "start_frame", c->fields[c_start], &c->start) ||
            field_long(path, c->line, "end_frame", c->fields[c_end], &c->end))
            goto fail_seen;
        if (c->end <= c->start) {
            avk_error("%s: line %ld: end_frame %ld is not after start_frame %ld", path,
                      c->line, c->end, c->start);
            goto fail_seen;
        }
        if (c_fps >= 0) {
            char *end;
            c->fps_text = c->fields[c_fps];
            c->fps = strtod(c->fps_text, &end);
            if (end == c->fps_text || *end || !isfinite(c->fps) || c->fps <= 0) {
                if (need_fps) {
                    avk_error("%s: line %ld: fps '%s' is not a positive number", path,
                              c->line, c->fps_text);
                    goto fail_seen;
                }
                c->fps = 0;
            }
        }
        c->keep = 1;
        if (c_keep >= 0) {
            const char *k = c->fields[c_keep];
            if (strcmp(k, "0") != 0 && strcmp(k, "1") != 0) {
                avk_error("%s: line %ld: keep is '%s', not 0 or 1", path, c->line, k);
                goto fail_seen;
            }
            c->keep = k[0] == '1';
        }
        c->id = c_clip >= 0 && *c->fields[c_clip] ? avk_xstrdup(c->fields[c_clip])
                                                   : avk_clip_id(c->video, c->start, c->end);
        if (!c->keep) {
            m->dropped++;
            continue;
        }
        if (avk_strmap_add(&seen, c->id, (long)(m->n - 1)) >= 0) {
            c->dup = 1;
            m->dups++;
            continue;
        }
        m->kept++;
    }
    avk_strmap_free(&seen);
    if (rc < 0)
        goto fail;
    avk_tsv_close(t);
    return 0;
fail_seen:
    avk_strmap_free(&seen);
fail:
    avk_tsv_close(t);
    return -1;
}

/* Free the rows and their join results. */
static void free_manifest(manifest *m)
{
    for (size_t i = 0; i < m->n; i++) {
        for (int k = 0; k < m->ncols; k++)
            free(m->clips[i].fields[k]);
        free(m->clips[i].fields);
        free(m->clips[i].id);
        free(m->clips[i].caption);
        free(m->clips[i].why);
    }
    for (int k = 0; m->cols && k < m->ncols; k++)
        free(m->cols[k]);
    free(m->cols);
    free(m->clips);
    free(m->path);
}

/* A clip wants a caption: kept and not a duplicate. */
static int wanted(const clip *c)
{
    return c->keep && !c->dup;
}

/* ---- captions from a file ------------------------------------------------ */

/* Give every wanted clip its caption from the table; mark which entries
 * some manifest row (kept or not) matches, to count the unused ones. */
static void join_file(manifest *m, avk_captions *cap, const opts *o)
{
    for (size_t i = 0; i < m->n; i++) {
        clip *c = &m->clips[i];
        long e;
        if (!o->cap.by_time) {
            e = avk_captions_find(cap, c->id);
            if (!wanted(c))
                continue;
            if (e < 0) {
                c->why = avk_xstrdup("no caption with this id");
                continue;
            }
        } else {
            double s = c->fps > 0 ? c->start / c->fps : 0, t = c->fps > 0 ? c->end / c->fps : 0;
            e = avk_captions_best(cap, c->video, s, t, &c->overlap);
            if (!wanted(c))
                continue;
            if (e < 0) {
                c->why = avk_xasprintf("no caption overlaps %.3f-%.3f s", s, t);
                continue;
            }
            if (c->overlap < o->min_overlap) {
                c->why = avk_xasprintf("best overlap %.4f (line %ld) is below --min-overlap %g",
                                       c->overlap, cap->v[e].line, o->min_overlap);
                continue;
            }
        }
        if (!cap->v[e].text[0]) {
            c->why = avk_xasprintf("caption is empty or whitespace (%s line %ld)", cap->path,
                                   cap->v[e].line);
            continue;
        }
        c->caption = avk_xstrdup(cap->v[e].text);
    }
}

/* ---- captions from a command --------------------------------------------- */

/* Serialized result of one captioner call: status byte, code (4 bytes,
 * little-endian), then the output bytes. */
static void pack_result(const avk_cmd_job *j, avk_buf *b)
{
    unsigned char h[5] = {(unsigned char)j->status, (unsigned char)(j->code & 0xff),
                          (unsigned char)((j->code >> 8) & 0xff),
                          (unsigned char)((j->code >> 16) & 0xff),
                          (unsigned char)((unsigned)j->code >> 24)};
    b->len = 0;
    avk_buf_append(b, h, 5);
    avk_buf_append(b, j->out.data, j->out.len);
}

/* The inverse of pack_result, on rank 0. */
static void unpack_result(const avk_buf *b, avk_cmd_job *j)
{
    j->out.len = 0;
    if (b->len < 5) {
        j->status = AVK_CMD_PENDING;
        return;
    }
    j->status = b->data[0];
    j->code = (int)((unsigned)b->data[1] | (unsigned)b->data[2] << 8 |
                    (unsigned)b->data[3] << 16 | (unsigned)b->data[4] << 24);
    avk_buf_append(&j->out, b->data + 5, b->len - 5);
}

/* What every rank needs to run the calls: per wanted clip, video, start,
 * end, fps text and id, NUL-separated. */
static void pack_calls(const manifest *m, avk_buf *b)
{
    for (size_t i = 0; i < m->n; i++) {
        const clip *c = &m->clips[i];
        if (!wanted(c))
            continue;
        avk_buf_printf(b, "%s%c%ld%c%ld%c%s%c%s%c", c->video, 0, c->start, 0, c->end, 0,
                       c->fps_text, 0, c->id, 0);
    }
}

/* The argv and environment of each call, from the packed list. */
static size_t unpack_calls(const avk_buf *b, const char *cmd, avk_cmd_job **jobs_out)
{
    size_t n = 0, cap = 0, off = 0;
    avk_cmd_job *jobs = NULL;
    char *script = avk_xasprintf("%s \"$@\"", cmd);
    while (off < b->len) {
        const char *f[5];
        for (int k = 0; k < 5; k++) {
            f[k] = (const char *)b->data + off;
            off += strlen(f[k]) + 1;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            jobs = avk_xrealloc(jobs, cap * sizeof *jobs);
        }
        avk_cmd_job *j = &jobs[n++];
        memset(j, 0, sizeof *j);
        j->argv = avk_xcalloc(9, sizeof *j->argv);
        j->argv[0] = avk_xstrdup("/bin/sh");
        j->argv[1] = avk_xstrdup("-c");
        j->argv[2] = avk_xstrdup(script);
        j->argv[3] = avk_xstrdup("av-caption-feed");
        for (int k = 0; k < 4; k++)
            j->argv[4 + k] = avk_xstrdup(f[k]);
        j->env = avk_xcalloc(6, sizeof *j->env);
        j->env[0] = avk_xasprintf("AVK_VIDEO=%s", f[0]);
        j->env[1] = avk_xasprintf("AVK_START=%s", f[1]);
        j->env[2] = avk_xasprintf("AVK_END=%s", f[2]);
        j->env[3] = avk_xasprintf("AVK_FPS=%s", f[3]);
        j->env[4] = avk_xasprintf("AVK_CLIP=%s", f[4]);
    }
    free(script);
    *jobs_out = jobs;
    return n;
}

/* Free the jobs' argv, environment and output. */
static void free_jobs(avk_cmd_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; jobs[i].argv && jobs[i].argv[k]; k++)
            free(jobs[i].argv[k]);
        for (int k = 0; jobs[i].env && jobs[i].env[k]; k++)
            free(jobs[i].env[k]);
        free(jobs[i].argv);
        free(jobs[i].env);
        avk_buf_free(&jobs[i].out);
    }
    free(jobs);
}

/* The captioner calls as avk_dist_items' job: call k is the k-th wanted
 * clip; its packed result is one item, taken by rank 0 in input order. */
typedef struct call_job {
    manifest    *m;
    const opts  *o;
    avk_cmd_job *jobs;
    avk_cmd_opts co;
    int          rank;
    size_t       next;      /* rank 0: the clip the next result belongs to */
} call_job;

/* Run this rank's calls (idx[0..mine)) with a local pool. */
static int calls_work(const size_t *idx, size_t mine, avk_buf *items, void *ctx)
{
    call_job *cj = ctx;
    avk_cmd_job *local = avk_xcalloc(mine ? mine : 1, sizeof *local);
    for (size_t k = 0; k < mine; k++) {
        local[k] = cj->jobs[idx[k]];
        memset(&local[k].out, 0, sizeof local[k].out);
    }
    avk_cmd_opts co = cj->co;
    avk_progress prog;
    if (cj->rank == 0) {
        /* rank 0 draws its own share's progress (on a terminal only) */
        avk_progress_start(&prog, "captions", (double)mine);
        co.progress = &prog;
    }
    avk_cmd_run(local, mine, &co);
    if (cj->rank == 0)
        avk_progress_end(&prog);
    for (size_t k = 0; k < mine; k++) {
        pack_result(&local[k], &items[idx[k]]);
        avk_buf_free(&local[k].out);
    }
    free(local);
    return 0;
}

/* Rank 0: the result of call k for its clip. 0, or -1 with the error set
 * (a call that failed without --keep-going, output that is not text). */
static int calls_take(size_t k, avk_buf *item, void *ctx)
{
    call_job *cj = ctx;
    const opts *o = cj->o;
    while (!wanted(&cj->m->clips[cj->next]))
        cj->next++;
    clip *c = &cj->m->clips[cj->next++];
    avk_cmd_job *j = &cj->jobs[k];
    unpack_result(item, j);
    if (j->status == AVK_CMD_PENDING)
        return 0;   /* not run: an earlier call failed */
    if (j->status != AVK_CMD_OK) {
        if (!o->keep_going)
            return avk_error("clip %s: captioner %s", c->id, avk_cmd_describe(j, &cj->co));
        avk_warn("clip %s: captioner %s", c->id, avk_cmd_describe(j, &cj->co));
        c->why = avk_xasprintf("captioner %s", avk_cmd_describe(j, &cj->co));
        return 0;
    }
    size_t ok = avk_utf8_valid_prefix(j->out.data, j->out.len, AVK_UTF8_NO_NUL);
    avk_buf text = {0};
    if (ok < j->out.len) {
        if (!o->cap.replace_invalid)
            return avk_error("clip %s: captioner output is not text: invalid UTF-8 "
                             "or NUL at byte %zu (use --replace-invalid to replace it)",
                             c->id, ok);
        avk_utf8_repair(j->out.data, j->out.len, AVK_UTF8_NO_NUL, &text);
    } else {
        avk_buf_append(&text, j->out.data, j->out.len);
    }
    avk_buf_append(&text, "", 1);
    size_t tl = text.len - 1;
    avk_caption_trim((char *)text.data, &tl);
    if (tl == 0) {
        c->why = avk_xstrdup("captioner printed nothing but whitespace");
        avk_buf_free(&text);
        return 0;
    }
    c->caption = (char *)text.data;
    return 0;
}

/* Run the captioner for every wanted clip, shared across MPI ranks; on
 * rank 0 the clips receive their captions. On rank 0 returns 0, or -1
 * with the error set (a call that failed, named by its clip); other ranks
 * return 1 when their part is done. `setup_ok` is rank 0's state so far
 * (0 or -1): a failure there ends every rank. */
static int join_command(manifest *m, const opts *o, int setup_ok)
{
    int rank = avk_dist_rank();
    avk_buf calls = {0};
    if (rank == 0 && setup_ok == 0)
        pack_calls(m, &calls);
    int shared = avk_comm_share(avk_comm_world(), &calls, rank == 0 && setup_ok != 0);
    if (shared != 0)
        return rank == 0 ? -1 : 1;
    avk_cmd_job *jobs;
    size_t n = unpack_calls(&calls, o->cmd, &jobs);
    avk_buf_free(&calls);

    /* deal the calls; each rank runs its own with a local pool */
    call_job cj = {.m = m, .o = o, .jobs = jobs, .rank = rank,
                   .co = {.parallel = o->jobs, .timeout = o->timeout,
                          .max_out = MAX_CAPTION_BYTES, .stop_on_failure = !o->keep_going}};
    avk_items job = {.n = n, .work_all = calls_work, .emit = calls_take, .ctx = &cj};
    avk_items_result res;
    int rc = avk_dist_items(avk_comm_world(), &job, &res);
    free_jobs(jobs, n);
    return rank == 0 ? rc : 1;
}

/* ---- tokens and records -------------------------------------------------- */

/* The tokens and mask of one caption: [<bos>] text [<eos>], truncated to
 * L (keeping <eos> last) and padded with <pad>/mask 0 when L > 0.
 * Returns 1 when the caption was cut. */
static int caption_tokens(avk_bpe *bpe, const char *text, const opts *o, avk_ids *ids,
                          unsigned char **mask, size_t *L)
{
    ids->n = 0;
    if (o->bos_eos)
        avk_ids_push(ids, AVK_BPE_BOS);
    avk_bpe_encode(bpe, text, strlen(text), ids);
    if (o->bos_eos)
        avk_ids_push(ids, AVK_BPE_EOS);
    int cut = 0;
    size_t n = ids->n;
    if (o->max_tokens > 0) {
        size_t lim = (size_t)o->max_tokens;
        if (n > lim) {
            cut = 1;
            n = lim;
            if (o->bos_eos)
                ids->ids[n - 1] = AVK_BPE_EOS;
        }
        while (ids->n < lim)
            avk_ids_push(ids, AVK_BPE_PAD);
        ids->n = lim;
        *L = lim;
    } else {
        *L = n;
    }
    *mask = avk_xcalloc(*L ? *L : 1, 1);
    memset(*mask, 1, n);
    return cut;
}

/* Percent-encode a clip id into a file name: bytes other than A-Z a-z
 * 0-9 . _ - become %XX (upper-case hex), so ids with '/' or '#' map to
 * one safe name, and different ids to different names. */
static char *sanitize_id(const char *id)
{
    avk_buf b = {0};
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '.' || *p == '_' || *p == '-')
            avk_buf_append(&b, p, 1);
        else
            avk_buf_printf(&b, "%%%02X", *p);
    }
    avk_buf_append(&b, "", 1);
    return (char *)b.data;
}

/* Precomputed text embeddings: a directory of .npy files or a stream. */
typedef struct emb_source {
    const char *path;
    int         is_dir;
    avt_reader *rd;
    avk_strmap  keys;   /* record key -> index */
} emb_source;

/* Open an embedding source; for a stream, index its record keys (one
 * pass, payloads checked and dropped) so clips can seek to theirs. */
static int emb_open(emb_source *e, const char *path)
{
    memset(e, 0, sizeof *e);
    e->path = path;
    struct stat st;
    if (stat(path, &st) != 0)
        return avk_error("%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        e->is_dir = 1;
        return 0;
    }
    e->rd = avt_reader_open(path);
    if (!e->rd)
        return -1;
    avk_strmap_init(&e->keys);
    avt_record r;
    int rc;
    long i = 0;
    while ((rc = avt_read_record(e->rd, &r)) == 1) {
        avk_strmap_add(&e->keys, r.key, i++);
        avt_record_free(&r);
    }
    return rc < 0 ? -1 : 0;
}

/* Add the clip's embedding to rec as "text_emb". */
static int emb_add(emb_source *e, const char *id, avt_record *rec)
{
    if (e->is_dir) {
        char *name = sanitize_id(id);
        char *p = avk_xasprintf("%s/%s.npy", e->path, name);
        free(name);
        int rc = 0;
        if (access(p, F_OK) != 0)
            rc = avk_error("clip %s: no text embedding %s", id, p);
        else
            rc = avt_npy_read(p, rec, "text_emb");
        free(p);
        return rc;
    }
    long i = avk_strmap_get(&e->keys, id);
    if (i < 0)
        return avk_error("clip %s: %s has no record with this key", id, e->path);
    avt_record r;
    if (avt_reader_seek(e->rd, i) != 0 || avt_read_record(e->rd, &r) != 1)
        return -1;
    avt_tensor *t = avt_record_find(&r, "text_emb");
    if (!t && r.ntensors == 1)
        t = &r.tensors[0];
    int rc = 0;
    if (!t)
        rc = avk_error("%s: record %ld (%s): no tensor 'text_emb' and not exactly one tensor",
                       e->path, i, id);
    else
        avt_record_add_tensor(rec, "text_emb", t->dtype, t->ndim, t->shape, t->data);
    avt_record_free(&r);
    return rc;
}

/* Close the embedding source. */
static void emb_close(emb_source *e)
{
    if (e->rd)
        avt_reader_close(e->rd);
    if (!e->is_dir)
        avk_strmap_free(&e->keys);
}

/* ---- reports -------------------------------------------------------------- */

/* A caption no manifest row matched (by id: no row has its id, so a
 * duplicate of a matched id does not count). */
static int caption_unused(const avk_captions *cap, size_t i)
{
    if (cap->by_time)
        return !cap->v[i].touched;
    long first = avk_strmap_get(&cap->index, cap->v[i].key);
    return !cap->v[first >= 0 ? (size_t)first : i].touched;
}

/* Counts on stderr when something was off; lists with -v. */
static void report(const manifest *m, const avk_captions *cap, size_t records,
                   size_t missing, size_t cut, const opts *o)
{
    if (missing) {
        avk_warn("%zu of %zu kept clips have no caption (%s)%s", missing, m->kept,
                 o->keep_uncaptioned ? "written with an empty caption" : "skipped",
                 avk_verbose ? ":" : "; -v lists them");
        if (avk_verbose)
            for (size_t i = 0; i < m->n; i++)
                if (wanted(&m->clips[i]) && !m->clips[i].caption)
                    fprintf(stderr, "  %s: %s\n", m->clips[i].id, m->clips[i].why);
    }
    if (m->dups) {
        avk_warn("%zu duplicate clip ids among the kept clips of %s (the first is used)%s",
                 m->dups, m->path, avk_verbose ? ":" : "; -v lists them");
        if (avk_verbose)
            for (size_t i = 0; i < m->n; i++)
                if (m->clips[i].dup)
                    fprintf(stderr, "  %s (line %ld)\n", m->clips[i].id, m->clips[i].line);
    }
    if (cap) {
        size_t unused = 0;
        for (size_t i = 0; i < cap->n; i++)
            unused += caption_unused(cap, i);
        if (unused) {
            avk_warn("%zu captions in %s match no clip of the manifest%s", unused, cap->path,
                     avk_verbose ? ":" : "; -v lists them");
            if (avk_verbose)
                for (size_t i = 0; i < cap->n; i++)
                    if (caption_unused(cap, i)) {
                        if (cap->by_time)
                            fprintf(stderr, "  line %ld: %s %g-%g s\n", cap->v[i].line,
                                    cap->v[i].key, cap->v[i].start, cap->v[i].end);
                        else
                            fprintf(stderr, "  line %ld: %s\n", cap->v[i].line, cap->v[i].key);
                    }
        }
        if (cap->ndups) {
            avk_warn("%zu duplicate caption ids in %s (the first is used)%s", cap->ndups,
                     cap->path, avk_verbose ? ":" : "; -v lists them");
            if (avk_verbose)
                for (size_t i = 0; i < cap->ndups; i++)
                    fprintf(stderr, "  line %ld: %s\n", cap->v[cap->dups[i]].line,
                            cap->v[cap->dups[i]].key);
        }
        if (cap->replaced)
            avk_warn("%s: %zu invalid UTF-8 sequences replaced by U+FFFD", cap->path,
                     cap->replaced);
    }
    if (cut)
        avk_warn("%zu captions were cut to %ld tokens", cut, o->max_tokens);
    avk_info(1, "%s: %zu rows, %zu kept, %zu dropped by keep=0, %zu records written",
             m->path, m->n, m->kept, m->dropped, records);
}

/* ---- learning ------------------------------------------------------------- */

/* Learn from a plain corpus, one text a line. */
static int learn_corpus(avk_bpe_learner *l, const char *path, int replace)
{
    FILE *fp = avk_in_open(path, 1);
    if (!fp)
        return -1;
    char *line = NULL;
    size_t cap = 0, replaced = 0;
    long n, lineno = 0;
    avk_buf fixed = {0};
    int rc = 0;
    while ((n = avk_getline(&line, &cap, fp)) >= 0) {
        lineno++;
        size_t ok = avk_utf8_valid_prefix((unsigned char *)line, (size_t)n, AVK_UTF8_NO_NUL);
        if (ok < (size_t)n) {
            if (!replace) {
                rc = avk_error("%s: line %ld: invalid UTF-8 at byte %zu (use "
                               "--replace-invalid to replace it with U+FFFD)", path, lineno, ok);
                break;
            }
            fixed.len = 0;
            replaced += avk_utf8_repair((unsigned char *)line, (size_t)n, AVK_UTF8_NO_NUL, &fixed);
            avk_bpe_learner_add(l, fixed.data, fixed.len);
        } else {
            avk_bpe_learner_add(l, line, (size_t)n);
        }
    }
    if (rc == 0 && ferror(fp))
        rc = avk_error("%s: read error: %s", path, strerror(errno));
    if (replaced)
        avk_warn("%s: %zu invalid UTF-8 sequences replaced by U+FFFD", path, replaced);
    free(line);
    avk_buf_free(&fixed);
    avk_in_close(fp);
    return rc;
}

/* ---- main ------------------------------------------------------------------ */

enum {
    OPT_MIN_OVERLAP = 256, OPT_FORMAT, OPT_ID_FIELD, OPT_TEXT_FIELD, OPT_VIDEO_FIELD,
    OPT_START_FIELD, OPT_END_FIELD, OPT_TIMEOUT, OPT_KEEP_GOING, OPT_REQUIRE,
    OPT_KEEP_UNCAPTIONED, OPT_REPLACE, OPT_VOCAB, OPT_NO_BOS_EOS, OPT_LEARN,
    OPT_MIN_COUNT, OPT_CORPUS, OPT_TEXT_EMB, OPT_VERSION
};

/* Options into o; usage errors exit 2. */
static void parse_options(int argc, char **argv, opts *o)
{
    static const struct option lo[] = {
        {"captions", required_argument, 0, 'c'},
        {"by-time", no_argument, 0, 't'},
        {"min-overlap", required_argument, 0, OPT_MIN_OVERLAP},
        {"captions-format", required_argument, 0, OPT_FORMAT},
        {"id-field", required_argument, 0, OPT_ID_FIELD},
        {"text-field", required_argument, 0, OPT_TEXT_FIELD},
        {"video-field", required_argument, 0, OPT_VIDEO_FIELD},
        {"start-field", required_argument, 0, OPT_START_FIELD},
        {"end-field", required_argument, 0, OPT_END_FIELD},
        {"caption-cmd", required_argument, 0, 'x'},
        {"caption-timeout", required_argument, 0, OPT_TIMEOUT},
        {"jobs", required_argument, 0, 'j'},
        {"keep-going", no_argument, 0, OPT_KEEP_GOING},
        {"require-caption", no_argument, 0, OPT_REQUIRE},
        {"keep-uncaptioned", no_argument, 0, OPT_KEEP_UNCAPTIONED},
        {"replace-invalid", no_argument, 0, OPT_REPLACE},
        {"vocab", required_argument, 0, OPT_VOCAB},
        {"max-tokens", required_argument, 0, 'L'},
        {"no-bos-eos", no_argument, 0, OPT_NO_BOS_EOS},
        {"learn-vocab", required_argument, 0, OPT_LEARN},
        {"min-count", required_argument, 0, OPT_MIN_COUNT},
        {"corpus", required_argument, 0, OPT_CORPUS},
        {"text-emb", required_argument, 0, OPT_TEXT_EMB},
        {"output", required_argument, 0, 'o'},
        {"zlib", no_argument, 0, 'z'},
        {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, OPT_VERSION},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    avk_caption_opts_default(&o->cap);
    o->min_overlap = 0.5;
    o->jobs = 1;
    o->bos_eos = 1;
    o->min_count = 2;
    o->output = "-";
    int c;
    while ((c = getopt_long(argc, argv, "c:tx:j:L:o:zvh", lo, NULL)) != -1) {
        switch (c) {
        case 'c': o->captions = optarg; break;
        case 't': o->cap.by_time = 1; break;
        case OPT_MIN_OVERLAP:
            o->min_overlap = avk_parse_double("--min-overlap", optarg, 0, 1);
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "auto") == 0)
                o->cap.format = AVK_CAPTIONS_AUTO;
            else if (strcmp(optarg, "jsonl") == 0)
                o->cap.format = AVK_CAPTIONS_JSONL;
            else if (strcmp(optarg, "tsv") == 0)
                o->cap.format = AVK_CAPTIONS_TSV;
            else
                avk_usage_error("--captions-format: '%s' is not auto, jsonl or tsv", optarg);
            break;
        case OPT_ID_FIELD: o->cap.id_field = optarg; break;
        case OPT_TEXT_FIELD: o->cap.text_field = optarg; break;
        case OPT_VIDEO_FIELD: o->cap.video_field = optarg; break;
        case OPT_START_FIELD: o->cap.start_field = optarg; break;
        case OPT_END_FIELD: o->cap.end_field = optarg; break;
        case 'x': o->cmd = optarg; break;
        case OPT_TIMEOUT:
            o->timeout = avk_parse_double("--caption-timeout", optarg, 0, 1e7);
            break;
        case 'j': o->jobs = (int)avk_parse_long("--jobs", optarg, 1, 1024); break;
        case OPT_KEEP_GOING: o->keep_going = 1; break;
        case OPT_REQUIRE: o->require = 1; break;
        case OPT_KEEP_UNCAPTIONED: o->keep_uncaptioned = 1; break;
        case OPT_REPLACE: o->cap.replace_invalid = 1; break;
        case OPT_VOCAB: o->vocab = optarg; break;
        case 'L': o->max_tokens = avk_parse_long("--max-tokens", optarg, 1, 1 << 24); break;
        case OPT_NO_BOS_EOS: o->bos_eos = 0; break;
        case OPT_LEARN:
            o->learn = avk_parse_long("--learn-vocab", optarg, AVK_BPE_NBASE,
                                      AVK_BPE_NBASE + (1 << 22));
            break;
        case OPT_MIN_COUNT:
            o->min_count = avk_parse_long("--min-count", optarg, 1, 1L << 40);
            break;
        case OPT_CORPUS: o->corpus = optarg; break;
        case OPT_TEXT_EMB: o->text_emb = optarg; break;
        case 'o': o->output = optarg; break;
        case 'z': o->zlib = 1; break;
        case 'v': avk_verbose++; break;
        case 'h': usage(); break;
        case OPT_VERSION: avk_print_version(); break;
        default: avk_usage_try();
        }
    }
    if (o->corpus) {
        if (!o->learn)
            avk_usage_error("--corpus is for --learn-vocab");
        if (optind != argc || o->captions || o->cmd)
            avk_usage_error("--corpus takes no manifest and no other caption source");
        return;
    }
    if (optind + 1 != argc)
        avk_usage_error(optind == argc ? "no manifest given" : "more than one manifest given");
    o->manifest = argv[optind];
    if (!!o->captions + !!o->cmd != 1)
        avk_usage_error("give one caption source: -c FILE or -x CMD");
    if (o->captions && strcmp(o->captions, "-") == 0 && strcmp(o->manifest, "-") == 0)
        avk_usage_error("the manifest and the captions cannot both be standard input");
    if (o->cap.by_time && !o->captions)
        avk_usage_error("--by-time needs -c FILE");
    if (o->max_tokens > 0 && o->bos_eos && o->max_tokens < 2)
        avk_usage_error("--max-tokens must be at least 2 with <bos> and <eos>");
    if (o->require && o->keep_uncaptioned)
        avk_usage_error("--require-caption and --keep-uncaptioned exclude each other");
    if (o->learn && (o->text_emb || o->vocab))
        avk_usage_error("--learn-vocab writes a vocabulary; --vocab and --text-emb do not apply");
}

int main(int argc, char **argv)
{
    avk_tool_init(argv[0]);
    opts o;
    parse_options(argc, argv, &o);
    if (avk_dist_init(&argc, &argv) != 0)
        avk_die_lib();
    int rank = avk_dist_rank();

    if (o.corpus) {
        /* learning from a plain corpus: one process's work */
        if (rank != 0) {
            avk_dist_finalize();
            return 0;
        }
        if (avk_output_check(o.output, 0) < 0)
            avk_die_lib();
        avk_bpe_learner *l = avk_bpe_learner_new();
        if (learn_corpus(l, o.corpus, o.cap.replace_invalid) != 0)
            avk_die_lib();
        avk_bpe *b = avk_bpe_learn(l, (int)o.learn, o.min_count);
        if (!b || avk_bpe_save(b, o.output) != 0)
            avk_die_lib();
        avk_info(1, "%d merges learned from %zu distinct pieces", avk_bpe_merges(b),
                 avk_bpe_learner_words(l));
        avk_bpe_free(b);
        avk_bpe_learner_free(l);
        avk_dist_finalize();
        return 0;
    }

    /* rank 0 reads everything and writes; other ranks only run captioners */
    manifest m;
    memset(&m, 0, sizeof m);
    avk_captions *cap = NULL;
    avk_bpe *bpe = NULL;
    avt_writer *w = NULL;
    emb_source emb;
    int have_emb = 0, setup = 0;
    if (rank == 0) {
        if (read_manifest(o.manifest, o.cap.by_time || o.cmd, &m) != 0)
            setup = -1;
        if (setup == 0 && !o.learn) {
            bpe = o.vocab ? avk_bpe_load(o.vocab) : avk_bpe_new_bytes();
            if (!bpe)
                setup = -1;
        }
        if (setup == 0 && o.text_emb) {
            if (emb_open(&emb, o.text_emb) != 0)
                setup = -1;
            have_emb = 1;
        }
        if (setup == 0 && o.learn && avk_output_check(o.output, 0) < 0)
            setup = -1;
        if (setup == 0 && !o.learn) {
            w = avt_writer_open(o.output, o.zlib ? AVT_WRITE_ZLIB : 0, 0);
            if (!w)
                setup = -1;
        }
        if (setup == 0 && o.captions) {
            cap = avk_captions_load(o.captions, &o.cap);
            if (!cap)
                setup = -1;
            else
                join_file(&m, cap, &o);
        }
    }
    if (o.cmd) {
        int rc = join_command(&m, &o, setup);
        if (rc == 1) {      /* a helper rank: its part is done */
            avk_dist_finalize();
            return 0;
        }
        if (rc != 0)
            setup = -1;
    } else if (rank != 0) {
        avk_dist_finalize();
        return 0;
    }
    avk_dist_finalize();
    if (setup != 0) {
        if (w)
            avt_writer_abort(w);
        avk_die_lib();
    }

    size_t missing = 0;
    for (size_t i = 0; i < m.n; i++) {
        clip *c = &m.clips[i];
        if (!wanted(c) || c->caption)
            continue;
        missing++;
        if (o.require) {
            if (w)
                avt_writer_abort(w);
            avk_die(AVK_EXIT_FAIL, "%s: line %ld: clip %s has no caption: %s (--require-caption)",
                    m.path, c->line, c->id, c->why);
        }
    }

    size_t records = 0, cut = 0;
    if (o.learn) {
        avk_bpe_learner *l = avk_bpe_learner_new();
        for (size_t i = 0; i < m.n; i++)
            if (wanted(&m.clips[i]) && m.clips[i].caption)
                avk_bpe_learner_add(l, m.clips[i].caption, strlen(m.clips[i].caption));
        bpe = avk_bpe_learn(l, (int)o.learn, o.min_count);
        if (!bpe || avk_bpe_save(bpe, o.output) != 0)
            avk_die_lib();
        avk_info(1, "%d merges learned from %zu distinct pieces", avk_bpe_merges(bpe),
                 avk_bpe_learner_words(l));
        avk_bpe_learner_free(l);
    } else {
        avk_ids ids = {0};
        avk_progress prog;
        avk_progress_start(&prog, "records", (double)m.kept);
        for (size_t i = 0; i < m.n; i++) {
            clip *c = &m.clips[i];
            if (!wanted(c) || (!c->caption && !o.keep_uncaptioned))
                continue;
            const char *text = c->caption ? c->caption : "";
            avt_record r;
            avt_record_init(&r, c->id);
            for (int k = 0; k < m.ncols; k++)
                avt_record_set_meta(&r, m.cols[k], c->fields[k]);
            avt_record_set_meta(&r, "caption", text);
            if (o.cap.by_time) {
                char ov[32];
                snprintf(ov, sizeof ov, "%.4f", c->caption ? c->overlap : 0.0);
                avt_record_set_meta(&r, "caption_overlap", ov);
            }
            unsigned char *mask;
            size_t L;
            cut += (size_t)caption_tokens(bpe, text, &o, &ids, &mask, &L);
            int64_t shape[1] = {(int64_t)L};
            avt_record_add_tensor(&r, "tokens", AVT_I32, 1, shape, ids.ids);
            avt_record_take_tensor(&r, "mask", AVT_U8, 1, shape, mask);
            int rc = 0;
            if (have_emb)
                rc = emb_add(&emb, c->id, &r);
            if (rc == 0)
                rc = avt_write_record(w, &r);
            avt_record_free(&r);
            if (rc != 0) {
                avt_writer_abort(w);
                avk_die_lib();
            }
            records++;
            avk_progress_update(&prog, (double)records);
        }
        avk_progress_end(&prog);
        avk_ids_free(&ids);
        if (avt_writer_finish(w) != 0)
            avk_die_lib();
    }
    report(&m, cap, records, missing, cut, &o);
    if (have_emb)
        emb_close(&emb);
    avk_captions_free(cap);
    avk_bpe_free(bpe);
    free_manifest(&m);
    return 0;
}
