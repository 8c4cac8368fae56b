/* A pool of child processes with captured stdout and time limits (see
 * include/avkit/util/cmdpool.h). posix_spawn rather than fork: no code runs in
 * the child before exec, which matters in a process with MPI threads.
 *
 * Commands run in their own process groups, so neither a terminal's ^C nor
 * the tool's own death reaches them. A watcher process (forked once, before
 * the first command; it only reads, kills and exits) keeps the list of
 * running groups from messages on a pipe whose write end only the tool
 * holds: when the tool ends in any way (exit, SIGTERM, SIGINT, even
 * SIGKILL) the pipe reaches end of file and the watcher kills every group
 * still listed. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdint.h>
#include "avkit/util/cmdpool.h"

extern char **environ;

#define WATCH_MAX 4096          /* groups the watcher can list at once */
static int watch_fd = -1;       /* write end of the watcher's pipe */

/* The watcher's life: read +PGID (started) and -PGID (ended) messages;
 * at end of file kill the groups left, then exit. Async-signal-safe calls
 * only (it is a fork of a threaded process). */
static void __attribute__((noreturn)) watcher_main(int rfd)
{
    static pid_t groups[WATCH_MAX];
    int n = 0;
    int32_t msg;
    for (;;) {
        ssize_t got = read(rfd, &msg, sizeof msg);
        if (got < 0 && errno == EINTR)
            continue;
        if (got != (ssize_t)sizeof msg)
            break;                          /* the tool is gone */
        if (msg > 0 && n < WATCH_MAX) {
            groups[n++] = (pid_t)msg;
        } else if (msg < 0) {
            for (int i = 0; i < n; i++)
                if (groups[i] == (pid_t)-msg) {
                    groups[i] = groups[--n];
                    break;
                }
        }
    }
    for (int i = 0; i < n; i++)
        kill(-groups[i], SIGKILL);
    _exit(0);
}

/* Start the watcher once; without one (fork failed) commands still run,
 * they only outlive a tool that is killed. */
static void start_watcher(void)
{
    if (watch_fd >= 0)
        return;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return;
    }
    if (pid == 0) {
        /* its own group, deaf to the terminal's signals and to the tool's
         * SIGTERM/SIGINT handlers; holding nothing of the tool's but the
         * read end (a pipe held open here would delay a reader's EOF) */
        setpgid(0, 0);
        struct sigaction ign;
        memset(&ign, 0, sizeof ign);
        ign.sa_handler = SIG_IGN;
        sigaction(SIGINT, &ign, NULL);
        sigaction(SIGTERM, &ign, NULL);
        sigaction(SIGHUP, &ign, NULL);
        sigaction(SIGQUIT, &ign, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int null = open("/dev/null", O_RDWR);
        if (p[0] != 3)
            dup2(p[0], 3);
        for (int fd = 0; fd < 3; fd++)
            if (null >= 0)
                dup2(null, fd);
        close_range(4, ~0U, 0);
        watcher_main(3);
    }
    close(p[0]);
    watch_fd = p[1];
}

/* Tell the watcher that a group started (+pid) or ended (-pid). */
static void watch_tell(pid_t pid, int started)
{
    if (watch_fd < 0)
        return;
    int32_t msg = started ? (int32_t)pid : -(int32_t)pid;
    while (write(watch_fd, &msg, sizeof msg) < 0 && errno == EINTR)
        ;
}

typedef struct slot {
    size_t job;
    pid_t  pid;
    int    fd;          /* read end of the child's stdout; -1 at EOF */
    double start, deadline;
} slot;

/* environ with the job's entries added (replacing same-named ones). */
static char **job_environ(char **extra)
{
    size_t ne = 0, nx = 0;
    while (environ[ne])
        ne++;
    while (extra && extra[nx])
        nx++;
    char **env = avk_xmalloc((ne + nx + 1) * sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < ne; i++) {
        int replaced = 0;
        for (size_t j = 0; j < nx; j++) {
            size_t len = strcspn(extra[j], "=") + 1;
            if (strncmp(environ[i], extra[j], len) == 0)
                replaced = 1;
        }
        if (!replaced)
            env[k++] = environ[i];
    }
    for (size_t j = 0; j < nx; j++)
        env[k++] = extra[j];
    env[k] = NULL;
    return env;
}

/* Start job j in slot s; 0, or -1 when it could not start (job marked). */
static int spawn_job(avk_cmd_job *j, slot *s)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        j->status = AVK_CMD_SPAWN;
        j->code = errno;
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawnattr_init(&at);
    posix_spawnattr_setpgroup(&at, 0);
    sigset_t none, all;
    sigemptyset(&none);
    sigemptyset(&all);
    sigaddset(&all, SIGPIPE);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);   /* the tool ignores SIGPIPE */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    char **env = job_environ(j->env);
    pid_t pid;
    int rc = posix_spawn(&pid, j->argv[0], &fa, &at, j->argv, env);
    free(env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(p[1]);
    if (rc != 0) {
        close(p[0]);
        j->status = AVK_CMD_SPAWN;
        j->code = rc;
        return -1;
    }
    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
    watch_tell(pid, 1);
    s->pid = pid;
    s->fd = p[0];
    s->start = avk_now();
    return 0;
}

/* Kill a running child's process group and reap it. */
static void kill_slot(slot *s)
{
    kill(-s->pid, SIGKILL);
    kill(s->pid, SIGKILL);
    while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    watch_tell(s->pid, 0);
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

/* Read what is available; 1 at EOF, 0 otherwise. */
static int drain(avk_cmd_job *j, slot *s)
{
    for (;;) {
        if (j->out.cap - j->out.len < 65536) {
            size_t cap = j->out.cap ? j->out.cap * 2 : 65536;
            while (cap - j->out.len < 65536)
                cap *= 2;
            j->out.data = avk_xrealloc(j->out.data, cap);
            j->out.cap = cap;
        }
        ssize_t n = read(s->fd, j->out.data + j->out.len, j->out.cap - j->out.len);
        if (n > 0) {
            j->out.len += (size_t)n;
            continue;
        }
        if (n == 0)
            return 1;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return 1;   /* a read error ends the output */
    }
}

/* Keep up to `parallel` children running; poll their pipes until each
 * exits, times out or writes too much. */
size_t avk_cmd_run(avk_cmd_job *jobs, size_t n, const avk_cmd_opts *o)
{
    int par = o->parallel > 0 ? o->parallel : 1;
    slot *run = avk_xcalloc((size_t)par, sizeof *run);
    struct pollfd *pfd = avk_xcalloc((size_t)par, sizeof *pfd);
    size_t nrun = 0, next = 0, failed = 0, finished = 0;
    int stopping = 0;

    if (n > 0)
        start_watcher();
    for (size_t i = 0; i < n; i++) {
        jobs[i].status = AVK_CMD_PENDING;
        jobs[i].out.len = 0;
    }
    while (nrun > 0 || (next < n && !stopping)) {
        while (nrun < (size_t)par && next < n && !stopping) {
            slot *s = &run[nrun];
            s->job = next;
            if (spawn_job(&jobs[next], s) != 0) {
                failed++;
                if (o->stop_on_failure)
                    stopping = 1;
            } else {
                s->deadline = o->timeout > 0 ? s->start + o->timeout : 0;
                nrun++;
            }
            next++;
        }
        if (nrun == 0)
            break;
        /* wait for output, an exit, or the nearest deadline */
        double now = avk_now(), wait = 0.05;   /* also how soon an exit is seen */
        int waiting_exit = 0;
        for (size_t k = 0; k < nrun; k++) {
            pfd[k].fd = run[k].fd;
            pfd[k].events = POLLIN;
            pfd[k].revents = 0;
            if (run[k].fd < 0)
                waiting_exit = 1;
            if (run[k].deadline > 0 && run[k].deadline - now < wait)
                wait = run[k].deadline - now;
        }
        if (waiting_exit && wait > 0.005)
            wait = 0.005;
        if (wait < 0)
            wait = 0;
        poll(pfd, (nfds_t)nrun, (int)(wait * 1000) + 1);
        now = avk_now();
        for (size_t k = 0; k < nrun;) {
            slot *s = &run[k];
            avk_cmd_job *j = &jobs[s->job];
            int done = 0;
            if (s->fd >= 0 && (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))) {
                if (drain(j, s)) {
                    close(s->fd);
                    s->fd = -1;
                }
                if (o->max_out && j->out.len > o->max_out) {
                    kill_slot(s);
                    j->status = AVK_CMD_TOOBIG;
                    done = 1;
                }
            }
            if (!done) {
                /* the captioner's exit ends its output, even when a child
                 * it left behind still holds the pipe */
                int st;
                pid_t r = waitpid(s->pid, &st, WNOHANG);
                if (r == s->pid) {
                    if (s->fd >= 0) {
                        drain(j, s);
                        close(s->fd);
                        s->fd = -1;
                    }
                    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
                        j->status = AVK_CMD_OK;
                    } else if (WIFEXITED(st)) {
                        j->status = AVK_CMD_EXIT;
                        j->code = WEXITSTATUS(st);
                    } else {
                        j->status = AVK_CMD_SIGNAL;
                        j->code = WTERMSIG(st);
                    }
                    if (o->max_out && j->out.len > o->max_out)
                        j->status = AVK_CMD_TOOBIG;
                    kill(-s->pid, SIGKILL);     /* leftovers of the group */
                    watch_tell(s->pid, 0);
                    done = 1;
                }
            }
            if (!done && s->deadline > 0 && now >= s->deadline) {
                kill_slot(s);
                j->status = AVK_CMD_TIMEOUT;
                done = 1;
            }
            if (!done) {
                k++;
                continue;
            }
            j->seconds = now - s->start;
            finished++;
            if (o->progress)
                avk_progress_update(o->progress, (double)finished);
            if (j->status != AVK_CMD_OK) {
                failed++;
                if (o->stop_on_failure)
                    stopping = 1;
            }
            run[k] = run[--nrun];
            pfd[k] = pfd[nrun];
        }
        if (stopping) {
            for (size_t k = 0; k < nrun; k++) {
                kill_slot(&run[k]);
                jobs[run[k].job].status = AVK_CMD_PENDING;
            }
            nrun = 0;
        }
    }
    free(run);
    free(pfd);
    return failed;
}

/* How a job ended, in words. */
const char *avk_cmd_describe(const avk_cmd_job *j, const avk_cmd_opts *o)
{
    static char msg[160];
    switch (j->status) {
    case AVK_CMD_OK:
        snprintf(msg, sizeof msg, "succeeded");
        break;
    case AVK_CMD_EXIT:
        snprintf(msg, sizeof msg, "exited with status %d", j->code);
        break;
    case AVK_CMD_SIGNAL:
        snprintf(msg, sizeof msg, "was killed by signal %d (%s)", j->code, strsignal(j->code));
        break;
    case AVK_CMD_TIMEOUT:
        snprintf(msg, sizeof msg, "timed out after %g s and was killed", o->timeout);
        break;
    case AVK_CMD_TOOBIG:
        snprintf(msg, sizeof msg, "wrote more than %zu bytes and was killed", o->max_out);
        break;
    case AVK_CMD_SPAWN:
        snprintf(msg, sizeof msg, "could not be started: %s", strerror(j->code));
        break;
    default:
        snprintf(msg, sizeof msg, "was not run");
        break;
    }
    return msg;
}
