/* TSV manifests and clip ids. See include/avkit/util/tsv.h. */
#include "avkit/util/tsv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Split linebuf in place on tabs into t->fields. */
static void split_fields(avk_tsv *t, char *line)
{
    int n = 1;
    for (char *p = line; *p; p++)
        n += (*p == '\t');
    t->fields = avk_xrealloc(t->fields, (size_t)n * sizeof *t->fields);
    t->nfields = 0;
    char *start = line;
    for (char *p = line;; p++) {
        if (*p == '\t' || *p == 0) {
            int end = (*p == 0);
            *p = 0;
            t->fields[t->nfields++] = start;
            if (end)
                break;
            start = p + 1;
        }
    }
}

/* Open a manifest and read its header line. */
avk_tsv *avk_tsv_open(const char *path)
{
    FILE *fp = avk_in_open(path, 0);
    if (!fp)
        return NULL;
    avk_tsv *t = avk_xcalloc(1, sizeof *t);
    t->path = avk_xstrdup(strcmp(path, "-") == 0 ? "(stdin)" : path);
    t->fp = fp;
    long n = avk_getline(&t->linebuf, &t->linecap, fp);
    if (n < 0) {
        avk_error("%s: empty manifest (no header line)", t->path);
        avk_tsv_close(t);
        return NULL;
    }
    t->lineno = 1;
    if (n == 0) {
        avk_error("%s:1: empty header line", t->path);
        avk_tsv_close(t);
        return NULL;
    }
    split_fields(t, t->linebuf);
    t->ncols = t->nfields;
    t->cols = avk_xcalloc((size_t)t->ncols, sizeof *t->cols);
    for (int i = 0; i < t->ncols; i++)
        t->cols[i] = avk_xstrdup(t->fields[i]);
    t->nfields = 0;
    return t;
}

/* Read the next non-blank row; checks its field count. */
int avk_tsv_next(avk_tsv *t)
{
    for (;;) {
        long n = avk_getline(&t->linebuf, &t->linecap, t->fp);
        if (n < 0) {
            if (ferror(t->fp))
                return avk_error("%s: read error: %s", t->path, strerror(errno));
            return 0;
        }
        t->lineno++;
        if (n == 0)
            continue;
        if (strlen(t->linebuf) != (size_t)n)
            return avk_error("%s:%ld: NUL byte in line", t->path, t->lineno);
        split_fields(t, t->linebuf);
        if (t->nfields != t->ncols)
            return avk_error("%s:%ld: %d fields, but the header has %d columns",
                             t->path, t->lineno, t->nfields, t->ncols);
        return 1;
    }
}

int avk_tsv_col(const avk_tsv *t, const char *name)
{
    for (int i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i], name) == 0)
            return i;
    return -1;
}

int avk_tsv_need(const avk_tsv *t, const char *name)
{
    int c = avk_tsv_col(t, name);
    if (c < 0)
        avk_error("%s: missing column '%s'", t->path, name);
    return c;
}

const char *avk_tsv_field(const avk_tsv *t, int col)
{
    if (col < 0 || col >= t->nfields)
        return "";
    return t->fields[col];
}

void avk_tsv_close(avk_tsv *t)
{
    if (!t)
        return;
    avk_in_close(t->fp);
    for (int i = 0; i < t->ncols; i++)
        free(t->cols[i]);
    free(t->cols);
    free(t->fields);
    free(t->linebuf);
    free(t->path);
    free(t);
}

/* Append one field, keeping the row on one line. */
void avk_tsv_put(avk_buf *b, int first, const char *value)
{
    if (!first)
        avk_buf_append(b, "\t", 1);
    size_t start = b->len;
    avk_buf_append(b, value, strlen(value));
    for (size_t i = start; i < b->len; i++)
        if (b->data[i] == '\t' || b->data[i] == '\n' || b->data[i] == '\r')
            b->data[i] = ' ';
}

char *avk_clip_id(const char *video, long start, long end)
{
    return avk_xasprintf("%s#%ld-%ld", video, start, end);
}

/* Parse "VIDEO#START-END"; the last '#' separates, so paths may hold '#'. */
int avk_clip_id_parse(const char *id, char **video, long *start, long *end)
{
    const char *hash = strrchr(id, '#');
    if (!hash || hash == id)
        return avk_error("%s: not a clip id (VIDEO#START-END)", id);
    char *p;
    errno = 0;
    long s = strtol(hash + 1, &p, 10);
    if (errno || p == hash + 1 || *p != '-' || s < 0)
        return avk_error("%s: not a clip id (VIDEO#START-END)", id);
    const char *q = p + 1;
    long e = strtol(q, &p, 10);
    if (errno || p == q || *p || e < s)
        return avk_error("%s: not a clip id (VIDEO#START-END)", id);
    *video = avk_xasprintf("%.*s", (int)(hash - id), id);
    *start = s;
    *end = e;
    return 0;
}
