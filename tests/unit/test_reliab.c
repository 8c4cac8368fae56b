/* Unit tests for issue 12's library fixes: avk_expf on NaN (no negative
 * shift; finite inputs give the bits they gave before), where an output
 * goes (avk_out_target), the early output check, the name of the standard
 * output, and the removal of a dead writer's temporary file. */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "avkit/util/common.h"
#include "nn/ops_util.h"
#include "tap.h"

/* avk_expf as it was before the NaN fix, for the finite inputs it must
 * still match bit for bit. */
static float old_expf(float x)
{
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.7f ? 88.7f : x;
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693145751953125f;
    r = r - n * 1.42860682030941723e-6f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return p * s;
}

static void test_expf(void)
{
    ok(isnan(avk_expf(NAN)), "avk_expf(NaN) is NaN");
    ok(isnan(avk_expf(-NAN)), "avk_expf(-NaN) is NaN");
    long differ = 0, n = 0;
    for (float x = -100.0f; x <= 100.0f; x += 0.00731f, n++) {
        float a = avk_expf(x), b = old_expf(x);
        differ += memcmp(&a, &b, sizeof a) != 0;
    }
    float special[] = {INFINITY, -INFINITY, 0.0f, -0.0f, 88.7f, -87.3f, 1e-30f, -1e-30f};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++, n++) {
        float a = avk_expf(special[i]), b = old_expf(special[i]);
        differ += memcmp(&a, &b, sizeof a) != 0;
    }
    ok(differ == 0, "avk_expf gives the same bits as before on %ld finite and infinite inputs "
       "(%ld differ)", n, differ);
}

static void test_target(void)
{
    char *t = NULL;
    int kind = avk_out_target("new.avt", &t);
    ok(kind == AVK_OUT_REPLACE && t && !strcmp(t, "new.avt"),
       "a new name is replaced in place of itself");
    free(t);
    mkdir("sub", 0777);
    symlink("real.avt", "sub/link");
    kind = avk_out_target("sub/link", &t);
    ok(kind == AVK_OUT_REPLACE && t && !strcmp(t, "sub/real.avt"),
       "a relative link is followed from its own directory (%s)", t ? t : "NULL");
    free(t);
    symlink("sub/link", "l0");
    kind = avk_out_target("l0", &t);
    ok(kind == AVK_OUT_REPLACE && t && !strcmp(t, "sub/real.avt"),
       "a chain of links, the last dangling, ends at its file (%s)", t ? t : "NULL");
    free(t);
    kind = avk_out_target("/dev/null", &t);
    ok(kind == AVK_OUT_DIRECT && t && !strcmp(t, "/dev/null"),
       "/dev/null is written in place");
    free(t);
    mkfifo("fifo", 0666);
    kind = avk_out_target("fifo", &t);
    ok(kind == AVK_OUT_DIRECT, "a FIFO is written in place");
    free(t);
    kind = avk_out_target("sub", &t);
    ok(kind < 0 && t == NULL && strstr(avk_errmsg(), "sub: is a directory"),
       "a directory is an error: %s", avk_errmsg());
}

static void test_check(void)
{
    int rc = avk_output_check("missing/x.avt", 1);
    ok(rc < 0 &&
           strstr(avk_errmsg(), "missing/x.avt: cannot create temporary file"),
       "a missing directory fails the check: %s", avk_errmsg());
    ok(avk_output_check("sub/ok.avt", 1) == 0, "a writable place passes");
    DIR *d = opendir("sub");
    int files = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        files += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "link");
    if (d)
        closedir(d);
    ok(files == 0, "the check leaves nothing behind (%d files)", files);
    ok(avk_output_check("/dev/null", 1) == 0, "a writable device passes");
    ok(avk_output_check("-", 0) == 0, "text on stdout passes");
    ok(!strcmp(avk_out_name("-"), "standard output") && !strcmp(avk_out_name("x"), "x"),
       "\"-\" is called standard output in messages");
}

/* A temporary file whose writer died (as after SIGKILL) goes at the next
 * creation for the same output; our own live one stays. */
static void test_stale(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        char *tmp;
        _exit(avk_tmp_create("stale.avt", &tmp) < 0);   /* dies holding it */
    }
    int st;
    waitpid(pid, &st, 0);
    char prefix[64];
    snprintf(prefix, sizeof prefix, ".stale.avt.tmp.%ld-", (long)pid);
    int before = 0, after = 0;
    DIR *d = opendir(".");
    struct dirent *e;
    while ((e = readdir(d)))
        before += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && before == 1,
       "a writer that dies leaves %s... (%d)", prefix, before);
    char *mine;
    int fd = avk_tmp_create("stale.avt", &mine);
    d = opendir(".");
    while ((e = readdir(d)))
        after += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    ok(fd >= 0 && after == 0, "the next creation for the same output removes it");
    char *second;
    int fd2 = avk_tmp_create("stale.avt", &second);
    ok(fd2 >= 0 && access(mine, F_OK) == 0, "a live writer's temporary file stays");
    close(fd);
    close(fd2);
    unlink(mine);
    unlink(second);
    avk_tmp_unregister(mine);
    avk_tmp_unregister(second);
    free(mine);
    free(second);
}

/* A dead writer's temporary file that a pending checkpoint commit marker
 * still needs is left alone. */
static void test_stale_commit(void)
{
    mkdir("ck", 0777);
    pid_t pid = fork();
    if (pid == 0) {
        char *tmp;
        _exit(avk_tmp_create("ck/m.safetensors", &tmp) < 0);
    }
    int st;
    waitpid(pid, &st, 0);
    FILE *fp = fopen("ck/.m.safetensors.commit", "w");
    if (fp)
        fclose(fp);
    char *mine;
    int fd = avk_tmp_create("ck/m.safetensors", &mine);
    int left = 0;
    char prefix[64];
    snprintf(prefix, sizeof prefix, ".m.safetensors.tmp.%ld-", (long)pid);
    DIR *d = opendir("ck");
    struct dirent *e;
    while (d && (e = readdir(d)))
        left += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    ok(fd >= 0 && left == 1, "a directory with a pending commit marker is not swept");
    if (fd >= 0) {
        close(fd);
        unlink(mine);
        avk_tmp_unregister(mine);
        free(mine);
    }
}

int main(void)
{
    test_expf();
    test_target();
    test_check();
    test_stale();
    test_stale_commit();
    return done_testing();
}
