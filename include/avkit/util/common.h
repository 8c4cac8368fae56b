/* avkit: what every module and tool shares: errors, diagnostics, tool
 * conventions (usage, version, exit codes), safe output files, progress.
 *
 * Error model (after SQLite): a library function that fails returns -1 (or
 * NULL) and leaves a message in a per-thread buffer, read by avk_errmsg().
 * The message already names the file and the place ("x.avt: record 3:
 * payload checksum mismatch"), so a tool prints "prog: <message>".
 */
#ifndef AVKIT_COMMON_H
#define AVKIT_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdarg.h>

#ifndef AVK_VERSION
#define AVK_VERSION "0.1.0"
#endif

/* Exit statuses every tool keeps. */
enum { AVK_EXIT_OK = 0, AVK_EXIT_FAIL = 1, AVK_EXIT_USAGE = 2 };

#define AVK_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* ---- errors ---------------------------------------------------------- */

/* Record an error message for the calling thread; returns -1 so that a
 * failing function can say `return avk_error("%s: ...", path);`. */
int avk_error(const char *fmt, ...) AVK_PRINTF(1, 2);
int avk_verror(const char *fmt, va_list ap);
/* The calling thread's last error message ("" if none). */
const char *avk_errmsg(void);

/* ---- diagnostics ----------------------------------------------------- */

/* The tool's name, set by avk_tool_init(); "avkit" before that. */
extern const char *avk_progname;
/* Verbosity from -v (each -v adds one). */
extern int avk_verbose;

/* "prog: message" on stderr. */
void avk_warn(const char *fmt, ...) AVK_PRINTF(1, 2);
/* "prog: message" on stderr, then exit with `status` (temp files removed). */
void avk_die(int status, const char *fmt, ...) AVK_PRINTF(2, 3) __attribute__((noreturn));
/* Print the last library error as "prog: message" and exit 1. */
void avk_die_lib(void) __attribute__((noreturn));
/* Print the last library error as a warning, keep going. */
void avk_warn_lib(void);
/* Message on stderr only when avk_verbose >= level. */
void avk_info(int level, const char *fmt, ...) AVK_PRINTF(2, 3);

/* ---- tool conventions ------------------------------------------------ */

/* Set the program name, ignore SIGPIPE (a closed pipe becomes EPIPE, which
 * the output helpers turn into a quiet exit 1), and clean temp files on
 * SIGINT/SIGTERM, and make a standard output that cannot be flushed at
 * exit an error (exit 1). Call first in main(). */
void avk_tool_init(const char *name);
/* Print "prog (avkit) VERSION" on stdout and exit 0 (for --version). */
void avk_print_version(void) __attribute__((noreturn));
/* "prog: msg\nTry 'prog --help'." on stderr, exit 2. */
void avk_usage_error(const char *fmt, ...) AVK_PRINTF(1, 2) __attribute__((noreturn));

/* "Try 'prog --help' for more information." on stderr, exit 2: for
 * getopt's '?' (getopt has already said what was wrong). */
void avk_usage_try(void) __attribute__((noreturn));

/* Parse numbers from option arguments; exit 2 with a clear message naming
 * the option when the text is not a number in [lo, hi]. */
long   avk_parse_long(const char *opt, const char *text, long lo, long hi);
double avk_parse_double(const char *opt, const char *text, double lo, double hi);

/* True when the process is allowed to show progress (stderr is a tty). */
int avk_progress_enabled(void);

/* ---- output files ---------------------------------------------------- */

/* An output that appears under its real name only when complete: written to
 * a temporary file in the same directory, renamed by avk_out_commit().
 * A symbolic link is followed: the file it leads to is replaced and the
 * link stays. Something that is not a regular file (a device such as
 * /dev/null, a FIFO, a socket) is written in place, without a rename.
 * "-" is stdout. A binary output refuses a terminal (under mpirun, only
 * the rank's controlling terminal counts: Open MPI forwards a rank's stdout
 * through a pseudo-terminal of its own). */
typedef struct avk_out {
    FILE *fp;
    char *path;     /* the real name ("-" for stdout) */
    char *tmp;      /* temporary name, NULL for stdout or an output in place */
    char *target;   /* the file renamed onto or written (links followed) */
    int   binary;
} avk_out;

/* Open `path` for writing; binary=1 refuses a terminal on stdout.
 * Returns NULL and sets the error on failure. */
avk_out *avk_out_open(const char *path, int binary);
/* Flush, fsync-free close and rename into place; 0 or -1 (error set).
 * Frees `o` in every case. */
int avk_out_commit(avk_out *o);
/* Remove the temporary file and free `o`. */
void avk_out_abort(avk_out *o);
/* Check, before the work starts, that `path` can be written as avk_out_open
 * would (its directory exists and takes a new file, a device is writable,
 * a binary stdout is not a terminal), so that a long run does not end in
 * "cannot create". Creates and removes a temporary file. 0, or -1 with
 * the error set. */
int avk_output_check(const char *path, int binary);
/* The same check for an output that must be a regular file, such as a
 * checkpoint with files beside it: refuses a device, FIFO or socket, and
 * returns the malloc'ed path to write with symbolic links followed (write
 * there, so that a link stays a link); NULL with the error set. */
char *avk_output_file(const char *path);
/* "standard output" for "-", else path: how messages name an output. */
const char *avk_out_name(const char *path);

/* Where an output named `path` goes. AVK_OUT_REPLACE: *target is path with
 * symbolic links followed; create the temporary file beside it and rename
 * onto it. AVK_OUT_DIRECT: *target names an existing device, FIFO or
 * socket, to be opened and written in place. -1 with the error set (a
 * directory). *target is malloc'ed (NULL on error). */
enum { AVK_OUT_REPLACE = 0, AVK_OUT_DIRECT = 1 };
int avk_out_target(const char *path, char **target);
/* Create an empty temporary file "DIR/.NAME.tmp.PID-HOST-XXXXXX" next to
 * `path`, with the umask's permissions, registered for removal on a fatal
 * exit. Temporary files of this form left in the same directory by a
 * process of this host that no longer exists (killed with SIGKILL) are
 * removed first (one sweep per directory and process; not in a directory
 * that holds a pending commit marker ".NAME.commit", whose recovery needs
 * them). Returns
 * its descriptor and stores the malloc'ed name in *tmp; -1 with the error
 * set on failure. Rename it over `path` when complete. */
int avk_tmp_create(const char *path, char **tmp);
/* Register / unregister a temp path to delete on fatal exit or signal. */
void avk_tmp_register(const char *path);
void avk_tmp_unregister(const char *path);

/* fwrite that turns EPIPE into a quiet exit 1 and other errors into -1. */
int avk_fwrite_all(FILE *fp, const void *buf, size_t n, const char *what);

/* ---- input helpers --------------------------------------------------- */

/* Open `path` for reading ("-" is stdin); NULL with error set on failure. */
FILE *avk_in_open(const char *path, int binary);
void  avk_in_close(FILE *fp);
/* Read one line of any length into *buf (grown as needed); strips "\n" and
 * a trailing "\r". Returns the length, or -1 at end of file. */
long avk_getline(char **buf, size_t *cap, FILE *fp);

/* ---- memory ---------------------------------------------------------- */

/* malloc/calloc/realloc/strdup that die with "out of memory" on failure. */
void *avk_xmalloc(size_t n);
void *avk_xcalloc(size_t n, size_t size);
void *avk_xrealloc(void *p, size_t n);
char *avk_xstrdup(const char *s);
/* printf into a fresh string. */
char *avk_xasprintf(const char *fmt, ...) AVK_PRINTF(1, 2);

/* A growable byte buffer. */
typedef struct avk_buf {
    unsigned char *data;
    size_t len, cap;
} avk_buf;
void avk_buf_append(avk_buf *b, const void *p, size_t n);
void avk_buf_printf(avk_buf *b, const char *fmt, ...) AVK_PRINTF(2, 3);
void avk_buf_free(avk_buf *b);

/* Wall-clock seconds (monotonic), for progress and benchmarks. */
double avk_now(void);

/* ---- progress -------------------------------------------------------- */

/* A one-line progress bar on stderr, drawn only when stderr is a terminal
 * and at most ~10 times a second. total may be 0 (unknown). */
typedef struct avk_progress {
    const char *label;
    double total, done, last_draw, start;
    int enabled;
} avk_progress;
void avk_progress_start(avk_progress *p, const char *label, double total);
void avk_progress_update(avk_progress *p, double done);
void avk_progress_end(avk_progress *p);

#endif
