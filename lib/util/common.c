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
#include <dirent.h>
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

/* At exit: what is left in the standard output's buffer must reach it,
 * or the tool fails (`--help > /dev/full` is an error, not a success); a
 * closed pipe stays quiet. */
static void flush_stdout_at_exit(void)
{
    if (fflush(stdout) == 0)
        return;
    if (errno != EPIPE)
        fprintf(stderr, "%s: standard output: write error: %s\n", avk_progname,
                strerror(errno));
    _exit(AVK_EXIT_FAIL);
}

/* Name the tool and install the signal conventions. */
void avk_tool_init(const char *name)
{
    const char *slash = strrchr(name, '/');
    avk_progname = slash ? slash + 1 : name;
    atexit(flush_stdout_at_exit);
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

/* After getopt has named a bad option: the pointer to --help, exit 2. */
void avk_usage_try(void)
{
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

/* The name of an output in messages: "standard output" for "-", so that
 * every tool calls it the same. */
const char *avk_out_name(const char *path)
{
    return strcmp(path, "-") == 0 ? "standard output" : path;
}

/* True when an MPI launcher started this process (the same test as the
 * dist layer's, which util cannot include). */
static int under_mpi_launcher(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") ||
           getenv("PMIX_RANK");
}

/* Whether our standard output is a terminal a person reads. Under mpirun,
 * Open MPI hands each rank a pseudo-terminal that forwards to mpirun's own
 * standard output, whatever that is (a file, a pipe): a rank's stdout is
 * then judged a terminal only when it is the rank's controlling terminal. */
static int stdout_is_terminal(void)
{
    if (!isatty(STDOUT_FILENO))
        return 0;
    if (!under_mpi_launcher())
        return 1;
    struct stat out, ctl;
    int fd = open("/dev/tty", O_RDONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return 0;                   /* no controlling terminal: a forwarder */
    int same = fstat(fd, &ctl) == 0 && fstat(STDOUT_FILENO, &out) == 0 &&
               out.st_rdev == ctl.st_rdev;
    close(fd);
    return same;
}

/* A copy of path with symbolic links followed (at most 40), the last one
 * possibly dangling: the file an output through a link must replace. */
static char *follow_links(const char *path)
{
    char *cur = avk_xstrdup(path);
    for (int hops = 0; hops < 40; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode))
            break;
        char link[PATH_MAX];
        ssize_t n = readlink(cur, link, sizeof link - 1);
        if (n < 0)
            break;
        link[n] = 0;
        const char *slash = strrchr(cur, '/');
        char *next = link[0] == '/' || !slash
                         ? avk_xstrdup(link)
                         : avk_xasprintf("%.*s%s", (int)(slash - cur) + 1, cur, link);
        free(cur);
        cur = next;
    }
    return cur;
}

/* Where an output goes; see common.h. */
int avk_out_target(const char *path, char **target)
{
    struct stat st;
    *target = NULL;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return avk_error("%s: is a directory", path);
        if (!S_ISREG(st.st_mode)) {
            *target = avk_xstrdup(path);
            return AVK_OUT_DIRECT;
        }
    }
    /* a regular file, a new name, or a link to either: the temporary
     * file goes beside the file the links lead to */
    *target = follow_links(path);
    return AVK_OUT_REPLACE;
}

/* The parts of a temporary file's name after "DIR/.NAME.tmp.": our process
 * id and a host tag, so that a later run can tell a dead writer's file. */
static void host_tag(char *tag, size_t n)
{
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    size_t k = 0;
    for (const char *p = host; *p && *p != '.' && k + 1 < n && k < 32; p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9'))
            tag[k++] = *p;
    if (k == 0)
        tag[k++] = 'h';
    tag[k] = 0;
}

/* Whether the directory `dir` was swept for stale temporary files by this
 * process already (it is then marked): one sweep per directory, so that
 * writing many files into one directory (TIFF frames) stays linear. */
static int swept_before(const char *dir)
{
    static char *swept[32];
    static int nswept;
    int seen = 0;
    pthread_mutex_lock(&tmp_lock);
    for (int i = 0; i < nswept && !seen; i++)
        seen = strcmp(swept[i], dir) == 0;
    if (!seen && nswept < 32)
        swept[nswept++] = avk_xstrdup(dir);
    pthread_mutex_unlock(&tmp_lock);
    return seen;
}

/* Remove the temporary files that killed runs of ours left in the
 * directory of `target`: ".NAME.tmp.PID-HOST-XXXXXX" (any NAME), on this
 * host, of a process that no longer exists, a regular file owned by us. */
static void remove_stale_tmp(const char *target, const char *tag)
{
    const char *slash = strrchr(target, '/');
    char *dir = slash ? avk_xasprintf("%.*s", (int)(slash - target) + 1, target)
                      : avk_xstrdup("./");
    if (swept_before(dir)) {
        free(dir);
        return;
    }
    size_t tlen = strlen(tag);
    DIR *d = opendir(dir);
    struct dirent *e;
    /* a pending commit marker (".NAME.commit", see nn/checkpoint.h) owns
     * temporary files of a killed writer that its recovery still needs:
     * such a directory is left alone */
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' && len > 8 && !strcmp(e->d_name + len - 7, ".commit")) {
            closedir(d);
            free(dir);
            return;
        }
    }
    if (d)
        rewinddir(d);
    while (d && (e = readdir(d))) {
        const char *p = e->d_name;
        const char *mark = NULL;    /* the last ".tmp." after a NAME */
        for (const char *q = p[0] == '.' ? strstr(p + 2, ".tmp.") : NULL; q;
             q = strstr(q + 1, ".tmp."))
            mark = q;
        if (!mark)
            continue;
        p = mark + 5;
        char *end;
        long pid = strtol(p, &end, 10);
        /* end: "-" tag "-" and six characters of mkstemp */
        if (end == p || pid <= 0 || pid == (long)getpid() || *end != '-' ||
            strncmp(end + 1, tag, tlen) != 0 || end[1 + tlen] != '-' ||
            strlen(end + 2 + tlen) != 6)
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char *full = avk_xasprintf("%s%s", dir, e->d_name);
        struct stat st;
        if (lstat(full, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid()) {
            avk_info(1, "%s: removing a stale temporary file of process %ld", full, pid);
            unlink(full);
        }
        free(full);
    }
    if (d)
        closedir(d);
    free(dir);
}

/* Make the temporary file an output is written to before its rename. */
int avk_tmp_create(const char *path, char **tmp)
{
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    char tag[40];
    host_tag(tag, sizeof tag);
    remove_stale_tmp(path, tag);
    char *name = avk_xasprintf("%.*s.%s.tmp.%ld-%s-XXXXXX", (int)dirlen, path,
                               slash ? slash + 1 : path, (long)getpid(), tag);
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

/* Check that an output can be written, before the work that fills it. */
int avk_output_check(const char *path, int binary)
{
    if (strcmp(path, "-") == 0) {
        if (binary && stdout_is_terminal())
            return avk_error("refusing to write binary data to a terminal "
                             "(redirect it, or give -o FILE)");
        return 0;
    }
    char *target;
    int kind = avk_out_target(path, &target);
    if (kind < 0)
        return -1;
    int rc = 0;
    if (kind == AVK_OUT_DIRECT) {
        if (access(target, W_OK) != 0)
            rc = avk_error("%s: %s", path, strerror(errno));
    } else {
        char *tmp;
        int fd = avk_tmp_create(target, &tmp);
        if (fd < 0) {
            rc = -1;
        } else {
            close(fd);
            unlink(tmp);
            avk_tmp_unregister(tmp);
            free(tmp);
        }
    }
    free(target);
    return rc;
}

/* Check an output that must be a regular file; its path with links
 * followed. */
char *avk_output_file(const char *path)
{
    char *target;
    int kind = avk_out_target(path, &target);
    if (kind == AVK_OUT_DIRECT)
        avk_error("%s: not a regular file (this output has files beside it)", path);
    if (kind != AVK_OUT_REPLACE || avk_output_check(target, 1) < 0) {
        free(target);
        return NULL;
    }
    return target;
}

/* Open an output that is renamed into place only when complete. */
avk_out *avk_out_open(const char *path, int binary)
{
    avk_out *o = avk_xcalloc(1, sizeof *o);
    o->path = avk_xstrdup(path);
    o->binary = binary;
    if (strcmp(path, "-") == 0) {
        if (binary && stdout_is_terminal()) {
            avk_error("refusing to write binary data to a terminal "
                      "(redirect it, or give -o FILE)");
            free(o->path);
            free(o);
            return NULL;
        }
        o->fp = stdout;
        return o;
    }
    int kind = avk_out_target(path, &o->target), fd;
    if (kind == AVK_OUT_DIRECT) {
        /* a device, FIFO or socket: written in place (a FIFO waits here
         * for its reader) */
        fd = open(o->target, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            avk_error("%s: %s", path, strerror(errno));
    } else {
        fd = kind < 0 ? -1 : avk_tmp_create(o->target, &o->tmp);
    }
    if (fd < 0 || !(o->fp = fdopen(fd, "wb"))) {
        if (fd >= 0) {
            avk_error("%s: %s", path, strerror(errno));
            close(fd);
        }
        if (o->tmp) {
            unlink(o->tmp);
            avk_tmp_unregister(o->tmp);
            free(o->tmp);
        }
        free(o->target);
        free(o->path);
        free(o);
        return NULL;
    }
    return o;
}

/* Close the output and give it its real name (the file its symbolic links
 * lead to); an output written in place is only closed. */
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
        rc = flushed ? avk_error("%s: write error (an earlier write failed)",
                                 avk_out_name(o->path))
                     : avk_error("%s: write error: %s", avk_out_name(o->path),
                                 strerror(flush_errno));
    }
    if (o->fp != stdout) {
        if (fclose(o->fp) != 0 && rc == 0) {
            if (errno == EPIPE) {
                remove_tmp_files();
                exit(AVK_EXIT_FAIL);
            }
            rc = avk_error("%s: write error: %s", o->path, strerror(errno));
        }
    }
    if (o->tmp) {
        if (rc == 0 && rename(o->tmp, o->target) != 0)
            rc = avk_error("%s: cannot rename temporary file: %s", o->path,
                           strerror(errno));
        if (rc != 0)
            unlink(o->tmp);
        avk_tmp_unregister(o->tmp);
        free(o->tmp);
    }
    free(o->target);
    free(o->path);
    free(o);
    return rc;
}

/* Throw the output away: nothing appears under the real name. */
void avk_out_abort(avk_out *o)
{
    if (!o)
        return;
    if (o->fp != stdout)
        fclose(o->fp);
    else
        fflush(o->fp);
    if (o->tmp) {
        unlink(o->tmp);
        avk_tmp_unregister(o->tmp);
        free(o->tmp);
    }
    free(o->target);
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
    if (!fp) {
        avk_error("%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        avk_error("%s: is a directory", path);
        fclose(fp);
        return NULL;
    }
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
