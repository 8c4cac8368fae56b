/* Errors, diagnostics, memory helpers and tool conventions shared by every
 * avkit tool. See include/avkit/util/common.h. */
#include "avkit/util/common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

const char *avk_progname = "avkit";
int avk_verbose = 0;

static _Thread_local char errbuf[1024];

/* Store a formatted message as this thread's last error. */
int avk_verror(const char *fmt, va_list ap)
{
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    return -1;
}

/* Store a formatted message as this thread's last error; returns -1. */
int avk_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    avk_verror(fmt, ap);
    va_end(ap);
    return -1;
}

/* The message of the last failure on this thread. */
const char *avk_errmsg(void)
{
    return errbuf;
}

/* ---- temp files removed on fatal exit -------------------------------- */

/* The registry is a list with no size limit, read by the fatal-signal
 * handler without a lock, so it is built for that: a node's path never
 * changes once the node is published, nodes are linked and unlinked with
 * atomic stores (writers also hold tmp_lock, against each other), and an
 * unlinked node is freed only when no handler has started; once one has,
 * the process is going away and the node is left alone. Lock-free atomics
 * are async-signal-safe, and so is unlink(). */
typedef struct tmp_node {
    struct tmp_node *_Atomic next;
    char path[];
} tmp_node;

static tmp_node *_Atomic tmp_head;
static atomic_int tmp_exiting;      /* a handler (or a fatal exit) is removing files */
static pthread_mutex_t tmp_lock = PTHREAD_MUTEX_INITIALIZER;

/* Remember a temporary file so a fatal exit or signal removes it. */
void avk_tmp_register(const char *path)
{
    size_t len = strlen(path);
    tmp_node *n = avk_xmalloc(sizeof *n + len + 1);
    memcpy(n->path, path, len + 1);
    pthread_mutex_lock(&tmp_lock);
    atomic_store(&n->next, atomic_load(&tmp_head));
    atomic_store(&tmp_head, n);          /* published complete */
    pthread_mutex_unlock(&tmp_lock);
}

/* Forget a temporary file (it was renamed or removed). */
void avk_tmp_unregister(const char *path)
{
    pthread_mutex_lock(&tmp_lock);
    tmp_node *_Atomic *link = &tmp_head;
    tmp_node *n;
    while ((n = atomic_load(link)) != NULL) {
        if (strcmp(n->path, path) != 0) {
            link = &n->next;
            continue;
        }
        atomic_store(link, atomic_load(&n->next));   /* unlinked: new walks miss it */
        if (!atomic_load(&tmp_exiting))                /* no walk can be holding it */
            free(n);
    }
    pthread_mutex_unlock(&tmp_lock);
}

/* Remove every registered temp file: from the fatal-signal handler and
 * before a fatal exit, so async-signal-safe (no lock, no allocation). */
static void remove_tmp_files(void)
{
    atomic_store(&tmp_exiting, 1);
    for (tmp_node *n = atomic_load(&tmp_head); n; n = atomic_load(&n->next))
        unlink(n->path);
}

static void on_fatal_signal(int sig)
{
    remove_tmp_files();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Name the tool and install the signal conventions. */
void avk_tool_init(const char *name)
{
    const char *slash = strrchr(name, '/');
    avk_progname = slash ? slash + 1 : name;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_fatal_signal);
    signal(SIGTERM, on_fatal_signal);
    signal(SIGHUP, on_fatal_signal);
}

/* ---- diagnostics ----------------------------------------------------- */

static void vsay(const char *fmt, va_list ap)
{
    char line[2048];
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(stderr, "%s: %s\n", avk_progname, line);
}

void avk_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
}

void avk_die(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
    remove_tmp_files();
    exit(status);
}

void avk_die_lib(void)
{
    avk_die(AVK_EXIT_FAIL, "%s", avk_errmsg());
}

void avk_warn_lib(void)
{
    avk_warn("%s", avk_errmsg());
}

void avk_info(int level, const char *fmt, ...)
{
    if (avk_verbose < level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
}

void avk_print_version(void)
{
    printf("%s (avkit) %s\n", avk_progname, AVK_VERSION);
    exit(AVK_EXIT_OK);
}

void avk_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try '%s --help' for more information.\n", avk_progname);
    exit(AVK_EXIT_USAGE);
}

/* Parse an integer option argument or exit 2 naming the option. */
long avk_parse_long(const char *opt, const char *text, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end)
        avk_usage_error("%s: '%s' is not an integer", opt, text);
    if (v < lo || v > hi)
        avk_usage_error("%s: %ld is out of range [%ld, %ld]", opt, v, lo, hi);
    return v;
}

/* Parse a real option argument or exit 2 naming the option. */
double avk_parse_double(const char *opt, const char *text, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v))
        avk_usage_error("%s: '%s' is not a number", opt, text);
    if (v < lo || v > hi)
        avk_usage_error("%s: %g is out of range [%g, %g]", opt, v, lo, hi);
    return v;
}

int avk_progress_enabled(void)
{
    return isatty(STDERR_FILENO);
}

/* ---- memory ---------------------------------------------------------- */

static void out_of_memory(size_t n)
{
    avk_die(AVK_EXIT_FAIL, "out of memory (asked for %zu bytes)", n);
}

void *avk_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

void *avk_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        out_of_memory(n * size);
    return p;
}

void *avk_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        out_of_memory(n);
    return q;
}

char *avk_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = avk_xmalloc(n);
    memcpy(p, s, n);
    return p;
}

char *avk_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        out_of_memory(strlen(fmt));
    va_end(ap);
    return s;
}

void avk_buf_append(avk_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->data = avk_xrealloc(b->data, cap);
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
}

void avk_buf_printf(avk_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        out_of_memory(strlen(fmt));
    avk_buf_append(b, s, (size_t)n);
    free(s);
}

void avk_buf_free(avk_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

double avk_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- output files ---------------------------------------------------- */

/* Make the temporary file an output is written to before its rename. */
int avk_tmp_create(const char *path, char **tmp)
{
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    char *name = avk_xasprintf("%.*s.%s.tmpXXXXXX", (int)dirlen, path,
                               slash ? slash + 1 : path);
    /* No signal between creating and registering: it would leave the file. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int fd = mkstemp(name);
    if (fd >= 0)
        avk_tmp_register(name);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (fd < 0) {
        avk_error("%s: cannot create temporary file: %s", path, strerror(errno));
        free(name);
        return -1;
    }
    mode_t mask = umask(0);   /* mkstemp's 0600 would surprise: use the umask */
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    *tmp = name;
    return fd;
}

/* Open an output that is renamed into place only when complete. */
avk_out *avk_out_open(const char *path, int binary)
{
    avk_out *o = avk_xcalloc(1, sizeof *o);
    o->path = avk_xstrdup(path);
    o->binary = binary;
    if (strcmp(path, "-") == 0) {
        if (binary && isatty(STDOUT_FILENO)) {
            avk_error("refusing to write binary data to a terminal "
                      "(redirect it, or give -o FILE)");
            free(o->path);
            free(o);
            return NULL;
        }
        o->fp = stdout;
        return o;
    }
    int fd = avk_tmp_create(path, &o->tmp);
    if (fd < 0) {
        free(o->path);
        free(o);
        return NULL;
    }
    o->fp = fdopen(fd, "wb");
    if (!o->fp) {
        avk_error("%s: cannot open the temporary file: %s", path, strerror(errno));
        close(fd);
        unlink(o->tmp);
        avk_tmp_unregister(o->tmp);
        free(o->tmp);
        free(o->path);
        free(o);
        return NULL;
    }
    return o;
}

/* Close the output and give it its real name. */
int avk_out_commit(avk_out *o)
{
    int rc = 0;
    /* errno means something only when fflush itself failed: an error
     * flag left by an earlier write carries no errno */
    int flushed = fflush(o->fp) == 0, flush_errno = errno;
    if (!flushed || ferror(o->fp)) {
        if (!flushed && flush_errno == EPIPE) {
            remove_tmp_files();
            exit(AVK_EXIT_FAIL);
        }
        rc = flushed ? avk_error("%s: write error (an earlier write failed)", o->path)
                     : avk_error("%s: write error: %s", o->path, strerror(flush_errno));
    }
    if (o->tmp) {
        if (fclose(o->fp) != 0 && rc == 0)
            rc = avk_error("%s: write error: %s", o->path, strerror(errno));
        if (rc == 0 && rename(o->tmp, o->path) != 0)
            rc = avk_error("%s: cannot rename temporary file: %s", o->path,
                           strerror(errno));
        if (rc != 0)
            unlink(o->tmp);
        avk_tmp_unregister(o->tmp);
        free(o->tmp);
    }
    free(o->path);
    free(o);
    return rc;
}

/* Throw the output away: nothing appears under the real name. */
void avk_out_abort(avk_out *o)
{
    if (!o)
        return;
    if (o->tmp) {
        fclose(o->fp);
        unlink(o->tmp);
        avk_tmp_unregister(o->tmp);
        free(o->tmp);
    } else {
        fflush(o->fp);
    }
    free(o->path);
    free(o);
}

/* Write everything or fail; a closed pipe ends the process quietly. */
int avk_fwrite_all(FILE *fp, const void *buf, size_t n, const char *what)
{
    if (n == 0)
        return 0;
    if (fwrite(buf, 1, n, fp) == n)
        return 0;
    if (errno == EPIPE) {
        remove_tmp_files();
        exit(AVK_EXIT_FAIL);
    }
    return avk_error("%s: write error: %s", what, strerror(errno));
}

/* ---- input ------------------------------------------------------------ */

FILE *avk_in_open(const char *path, int binary)
{
    if (strcmp(path, "-") == 0)
        return stdin;
    FILE *fp = fopen(path, binary ? "rb" : "r");
    if (!fp)
        avk_error("%s: %s", path, strerror(errno));
    return fp;
}

void avk_in_close(FILE *fp)
{
    if (fp && fp != stdin)
        fclose(fp);
}

long avk_getline(char **buf, size_t *cap, FILE *fp)
{
    ssize_t n = getline(buf, cap, fp);
    if (n < 0)
        return -1;
    if (n > 0 && (*buf)[n - 1] == '\n')
        (*buf)[--n] = 0;
    if (n > 0 && (*buf)[n - 1] == '\r')
        (*buf)[--n] = 0;
    return (long)n;
}

/* ---- progress -------------------------------------------------------- */

void avk_progress_start(avk_progress *p, const char *label, double total)
{
    p->label = label;
    p->total = total;
    p->done = 0;
    p->start = avk_now();
    p->last_draw = 0;
    p->enabled = avk_progress_enabled();
}

void avk_progress_update(avk_progress *p, double done)
{
    p->done = done;
    if (!p->enabled)
        return;
    double now = avk_now();
    if (now - p->last_draw < 0.1)
        return;
    p->last_draw = now;
    double rate = done / (now - p->start + 1e-9);
    if (p->total > 0) {
        int width = 30, fill = (int)(width * done / p->total);
        if (fill > width)
            fill = width;
        fprintf(stderr, "\r%s: [%.*s%*s] %3.0f%% %.1f/s", p->label, fill,
                "##############################", width - fill, "",
                100.0 * done / p->total, rate);
    } else {
        fprintf(stderr, "\r%s: %.0f (%.1f/s)", p->label, done, rate);
    }
}

void avk_progress_end(avk_progress *p)
{
    if (p->enabled && p->last_draw > 0)
        fprintf(stderr, "\r\033[K");
}
