/* Checkpoints committed as a whole: synced temporary files, a marker
 * written last as the commit point, renames, recovery of a half-done
 * commit. See checkpoint.h. */
#include "avkit/nn/checkpoint.h"
#include "avkit/util/common.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MARKER_MAGIC "avkit checkpoint commit 1"

struct avk_ckpt {
    char    *first;                   /* names the marker */
    char    *dir;                     /* the directory of every file */
    int      n;
    int      cap;
    char   **tmp, **dest;
    sigset_t old_mask;
};

/* The directory part of a path ("." for a bare name), malloc'ed. */
static char *dir_of(const char *path)
{
    char *copy = avk_xstrdup(path);
    char *d = avk_xstrdup(dirname(copy));
    free(copy);
    return d;
}

/* The last component of a path, pointing into it. */
static const char *base_of(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The file a checkpoint path names once its symbolic links are followed
 * (malloc'ed): the files, the marker and the renames all live beside it,
 * so a link stays a link. A path that cannot be resolved, or names a
 * device, is kept as given (avk_ckpt_add refuses devices). */
static char *resolve(const char *path, int *direct)
{
    char *target = NULL;
    int kind = avk_out_target(path, &target);
    if (direct)
        *direct = kind == AVK_OUT_DIRECT;
    if (kind != AVK_OUT_REPLACE) {
        free(target);
        return avk_xstrdup(path);
    }
    return target;
}

char *avk_ckpt_marker_path(const char *first_path)
{
    char *p = resolve(first_path, NULL);
    const char *b = base_of(p);
    char *m = avk_xasprintf("%.*s.%s.commit", (int)(b - p), p, b);
    free(p);
    return m;
}

/* fsync a directory so the renames in it are durable. */
static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return avk_error("%s: cannot open directory to sync: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    /* some file systems cannot sync a directory; the renames still hold */
    if (rc != 0 && e != EINVAL && e != EROFS)
        return avk_error("%s: cannot sync directory: %s", dir, strerror(e));
    return 0;
}

/* One more file of the checkpoint: its temporary name and its target
 * (both owned by c from now on). */
static void remember(avk_ckpt *c, char *tmp, char *dest)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 8;
        c->tmp = avk_xrealloc(c->tmp, (size_t)c->cap * sizeof *c->tmp);
        c->dest = avk_xrealloc(c->dest, (size_t)c->cap * sizeof *c->dest);
    }
    c->tmp[c->n] = tmp;
    c->dest[c->n] = dest;
    c->n++;
}

avk_ckpt *avk_ckpt_begin(const char *first_path)
{
    avk_ckpt *c = avk_xcalloc(1, sizeof *c);
    c->first = resolve(first_path, NULL);
    c->dir = dir_of(c->first);
    sigset_t hold;
    sigemptyset(&hold);
    sigaddset(&hold, SIGINT);
    sigaddset(&hold, SIGTERM);
    sigaddset(&hold, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &hold, &c->old_mask);
    return c;
}

int avk_ckpt_add(avk_ckpt *c, const char *path, avk_st_writer *w)
{
    int direct;
    char *dest = resolve(path, &direct);
    char *dir = dir_of(dest);
    int same = strcmp(dir, c->dir) == 0;
    free(dir);
    if (direct) {
        free(dest);
        avk_st_writer_free(w);
        return avk_error("%s: a checkpoint must be a regular file (not a device, FIFO or socket)",
                         path);
    }
    if (!same) {
        free(dest);
        avk_st_writer_free(w);
        return avk_error("%s: a checkpoint's files must share one directory", path);
    }
    char *tmp;
    int fd = avk_tmp_create(dest, &tmp);
    if (fd < 0) {
        free(dest);
        avk_st_writer_free(w);
        return -1;
    }
    remember(c, tmp, dest);
    FILE *fp = fdopen(fd, "wb");
    if (!fp) {
        close(fd);
        avk_st_writer_free(w);
        return avk_error("%s: %s", path, strerror(errno));
    }
    int rc = avk_st_writer_write_fp(w, fp, path);
    if (rc == 0 && (fflush(fp) != 0 || fsync(fileno(fp)) != 0))
        rc = avk_error("%s: cannot write: %s", path, strerror(errno));
    if (fclose(fp) != 0 && rc == 0)
        rc = avk_error("%s: cannot write: %s", path, strerror(errno));
    return rc;
}

char *avk_ckpt_part_path(const char *path)
{
    char *p = resolve(path, NULL);
    const char *b = base_of(p);
    char *m = avk_xasprintf("%.*s.%s.part", (int)(b - p), p, b);
    free(p);
    return m;
}

int avk_ckpt_write_part(const char *path, avk_st_writer *w)
{
    char *part = avk_ckpt_part_path(path);
    FILE *fp = fopen(part, "wb");
    if (!fp) {
        avk_st_writer_free(w);
        int rc = avk_error("%s: cannot create: %s", part, strerror(errno));
        free(part);
        return rc;
    }
    int rc = avk_st_writer_write_fp(w, fp, path);
    if (rc == 0 && (fflush(fp) != 0 || fsync(fileno(fp)) != 0))
        rc = avk_error("%s: cannot write: %s", part, strerror(errno));
    if (fclose(fp) != 0 && rc == 0)
        rc = avk_error("%s: cannot write: %s", part, strerror(errno));
    if (rc < 0)
        unlink(part);
    free(part);
    return rc;
}

int avk_ckpt_adopt(avk_ckpt *c, const char *path)
{
    char *dest = resolve(path, NULL), *dir = dir_of(dest);
    int same = strcmp(dir, c->dir) == 0;
    free(dir);
    char *part = avk_ckpt_part_path(path);
    if (!same || access(part, F_OK) != 0) {
        int rc = avk_error("%s: %s", path, same ? "the part written for it is missing"
                                              : "a checkpoint's files must share one directory");
        free(part);
        free(dest);
        return rc;
    }
    remember(c, part, dest);
    return 0;
}

/* Write the marker listing "TMP\tDEST" base names, synced, under a
 * temporary name, then rename it into place: the commit point. */
static int write_marker(avk_ckpt *c, const char *marker)
{
    avk_buf b = {0};
    avk_buf_printf(&b, "%s\n", MARKER_MAGIC);
    for (int i = 0; i < c->n; i++)
        avk_buf_printf(&b, "%s\t%s\n", base_of(c->tmp[i]), base_of(c->dest[i]));
    char *tmp;
    int fd = avk_tmp_create(marker, &tmp);
    if (fd < 0) {
        avk_buf_free(&b);
        return -1;
    }
    int rc = 0;
    if (write(fd, b.data, b.len) != (ssize_t)b.len || fsync(fd) != 0)
        rc = avk_error("%s: cannot write: %s", marker, strerror(errno));
    close(fd);
    if (rc == 0 && rename(tmp, marker) != 0)
        rc = avk_error("%s: cannot rename: %s", marker, strerror(errno));
    if (rc != 0)
        unlink(tmp);
    avk_tmp_unregister(tmp);
    free(tmp);
    avk_buf_free(&b);
    if (rc == 0)
        rc = sync_dir(c->dir);
    return rc;
}

/* Free c and restore the signal mask. */
static void ckpt_end(avk_ckpt *c)
{
    for (int i = 0; i < c->n; i++) {
        free(c->tmp[i]);
        free(c->dest[i]);
    }
    pthread_sigmask(SIG_SETMASK, &c->old_mask, NULL);
    free(c->tmp);
    free(c->dest);
    free(c->first);
    free(c->dir);
    free(c);
}

void avk_ckpt_abort(avk_ckpt *c)
{
    for (int i = 0; i < c->n; i++) {
        unlink(c->tmp[i]);
        avk_tmp_unregister(c->tmp[i]);
    }
    ckpt_end(c);
}

int avk_ckpt_commit(avk_ckpt *c)
{
    char *marker = avk_ckpt_marker_path(c->first);
    if (write_marker(c, marker) < 0) {
        free(marker);
        avk_ckpt_abort(c);
        return -1;
    }
    /* committed: the temporary files now belong to the checkpoint, a fatal
     * exit must not remove them (recovery renames them) */
    for (int i = 0; i < c->n; i++)
        avk_tmp_unregister(c->tmp[i]);
    int rc = 0;
    for (int i = 0; i < c->n && rc == 0; i++)
        if (rename(c->tmp[i], c->dest[i]) != 0)
            rc = avk_error("%s: cannot rename temporary file: %s", c->dest[i], strerror(errno));
    if (rc == 0)
        rc = sync_dir(c->dir);
    if (rc == 0 && unlink(marker) != 0)
        rc = avk_error("%s: cannot remove: %s", marker, strerror(errno));
    free(marker);
    ckpt_end(c);
    return rc;
}

/* Is `name` a plain base name (no directory part, not "." or "..")? */
static int plain_name(const char *name)
{
    return *name && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

int avk_ckpt_recover(const char *first_path)
{
    char *marker = avk_ckpt_marker_path(first_path);
    FILE *fp = fopen(marker, "r");
    if (!fp) {
        int e = errno;
        free(marker);
        if (e == ENOENT)
            return 0;
        return avk_error("%s: cannot open: %s", first_path, strerror(e));
    }
    char *dir = dir_of(marker);
    char *line = NULL;
    size_t cap = 0;
    int rc = 1, nline = 0;
    long len;
    while (rc > 0 && (len = avk_getline(&line, &cap, fp)) >= 0) {
        if (nline++ == 0) {
            if (strcmp(line, MARKER_MAGIC) != 0)
                rc = avk_error("%s: not a checkpoint commit marker", marker);
            continue;
        }
        char *tab = strchr(line, '\t');
        if (!tab) {
            rc = avk_error("%s: line %d: no tab", marker, nline);
            break;
        }
        *tab = 0;
        if (!plain_name(line) || !plain_name(tab + 1)) {
            rc = avk_error("%s: line %d: not a file name", marker, nline);
            break;
        }
        char *tmp = avk_xasprintf("%s/%s", dir, line), *dest = avk_xasprintf("%s/%s", dir, tab + 1);
        if (access(tmp, F_OK) == 0 && rename(tmp, dest) != 0)
            rc = avk_error("%s: cannot finish the interrupted checkpoint: %s", dest,
                           strerror(errno));
        free(tmp);
        free(dest);
    }
    fclose(fp);
    free(line);
    if (rc > 0 && nline == 0)
        rc = avk_error("%s: empty checkpoint commit marker", marker);
    if (rc > 0 && (sync_dir(dir) < 0 || unlink(marker) != 0))
        rc = avk_error("%s: cannot remove: %s", marker, strerror(errno));
    free(dir);
    free(marker);
    return rc;
}
