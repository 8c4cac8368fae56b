/* Running external commands in parallel and collecting their output: a
 * pool of at most N children (posix_spawn, stdout through a pipe, poll),
 * each with a time limit after which its whole process group is killed.
 * Used to call user-supplied captioners once per clip.
 */
#ifndef AVKIT_CMDPOOL_H
#define AVKIT_CMDPOOL_H

#include <stddef.h>
#include "avkit/util/common.h"

/* How a job ended. */
enum {
    AVK_CMD_PENDING = 0,  /* not run (the pool stopped early) */
    AVK_CMD_OK,           /* exit status 0 */
    AVK_CMD_EXIT,         /* non-zero exit status (code) */
    AVK_CMD_SIGNAL,       /* killed by signal (code) */
    AVK_CMD_TIMEOUT,      /* ran past the time limit; killed */
    AVK_CMD_TOOBIG,       /* wrote more than the output limit; killed */
    AVK_CMD_SPAWN         /* could not be started (code = errno) */
};

typedef struct avk_cmd_job {
    char  **argv;       /* argv[0] is an absolute path (no PATH search) */
    char  **env;        /* extra "NAME=value" entries, NULL-terminated; may be NULL */
    int     status;     /* AVK_CMD_* */
    int     code;
    avk_buf out;        /* everything the command wrote on stdout */
    double  seconds;    /* wall time */
} avk_cmd_job;

typedef struct avk_cmd_opts {
    int    parallel;    /* children at once (>= 1) */
    double timeout;     /* seconds per job; 0 = none */
    size_t max_out;     /* bytes of stdout per job; 0 = no limit */
    int    stop_on_failure; /* after a failure, start nothing more and kill the rest */
    avk_progress *progress; /* if not NULL: updated with the jobs finished */
} avk_cmd_opts;

/* Run every job; children get stdin from /dev/null, inherit stderr, and
 * run in their own process group. A job's output is what it wrote until it
 * exited; then whatever is left of its group is killed. Returns the number
 * of jobs that did not end AVK_CMD_OK. */
size_t avk_cmd_run(avk_cmd_job *jobs, size_t n, const avk_cmd_opts *o);

/* A one-line description of how a finished job failed ("exited with
 * status 3", "timed out after 1 s", ...), in a static buffer. */
const char *avk_cmd_describe(const avk_cmd_job *j, const avk_cmd_opts *o);

#endif
