/* The temp-file registry and output commit of lib/util/common.c, after
 * review: the registry has no size limit and a fatal signal removes every
 * registered file (read without a lock by the handler), and a write error
 * left on the stream is reported, not mistaken for a closed pipe through
 * a stale errno. Runs in its own scratch directory (t507). */
#include "tap.h"
#include "avkit/util/common.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NFILES 300   /* well past the old limit of 64 */

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A child registers NFILES temporaries (and forgets every third one after
 * renaming it), then dies of SIGTERM: the handler must remove the rest. */
static void check_signal_cleanup(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        avk_tool_init("test_backend_common");
        for (int i = 0; i < NFILES; i++) {
            char path[64], *tmp;
            snprintf(path, sizeof path, "kept%03d", i);
            int fd = avk_tmp_create(path, &tmp);
            if (fd < 0)
                _exit(3);
            close(fd);
            if (i % 3 == 0) {          /* completed: renamed and forgotten */
                if (rename(tmp, path) != 0)
                    _exit(4);
                avk_tmp_unregister(tmp);
            }
            free(tmp);
        }
        raise(SIGTERM);
        _exit(5);                      /* not reached */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "the child died of SIGTERM");
    int left = 0, kept = 0;
    for (int i = 0; i < NFILES; i++) {
        char path[64];
        snprintf(path, sizeof path, "kept%03d", i);
        kept += exists(path);
    }
    FILE *ls = popen("ls -a | grep -c '^\\.kept.*\\.tmp'", "r");
    if (ls && fscanf(ls, "%d", &left) != 1)
        left = -1;
    if (ls)
        pclose(ls);
    ok(left == 0, "SIGTERM removed all %d registered temporaries (%d left)", NFILES - NFILES / 3,
       left);
    ok(kept == NFILES / 3, "the %d completed files stay (%d found)", NFILES / 3, kept);
}

/* A write that failed earlier, then a stale EPIPE in errno: the commit
 * reports a write error (the old code exited as if the pipe had closed). */
static void check_commit_error(void)
{
    avk_out *o = avk_out_open("full.bin", 1);
    int devfull = open("/dev/full", O_WRONLY);
    if (!ok(o && devfull >= 0, "an output, and /dev/full to make its writes fail"))
        return;
    dup2(devfull, fileno(o->fp));
    close(devfull);
    static char block[1 << 16];
    size_t put = fwrite(block, 1, sizeof block, o->fp);
    ok(put < sizeof block && ferror(o->fp), "a write to a full device fails");
    errno = EPIPE;                     /* stale, from somewhere else */
    int rc = avk_out_commit(o);
    ok(rc < 0 && strstr(avk_errmsg(), "full.bin: write error"),
       "the commit reports the write error: %s", avk_errmsg());
    ok(!exists("full.bin"), "and nothing appears under the real name");
}

int main(void)
{
    check_signal_cleanup();
    check_commit_error();
    return done_testing();
}
