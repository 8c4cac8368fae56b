/* Caption tables from JSONL or TSV files (see include/avkit/data/captions.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "avkit/data/captions.h"
#include "avkit/util/json.h"
#include "avkit/util/utf8.h"

/* Default field names, automatic format, by id. */
void avk_caption_opts_default(avk_caption_opts *o)
{
    memset(o, 0, sizeof *o);
    o->id_field = "clip";
    o->text_field = "caption";
    o->video_field = "video";
    o->start_field = "start";
    o->end_field = "end";
}

/* ASCII whitespace: space, \t \n \v \f \r. */
static int is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Strip ASCII whitespace at both ends, in place. */
char *avk_caption_trim(char *s, size_t *n)
{
    size_t a = 0, b = *n;
    while (a < b && is_space((unsigned char)s[a]))
        a++;
    while (b > a && is_space((unsigned char)s[b - 1]))
        b--;
    memmove(s, s + a, b - a);
    s[b - a] = 0;
    *n = b - a;
    return s;
}

/* Check (or repair) text that is about to become a caption: well-formed
 * UTF-8 without NUL. Returns a malloc'ed, trimmed copy, or NULL with the
 * error set using `where` ("file: line 3: field 'caption'"). */
static char *clean_text(const char *s, size_t n, int replace, size_t *replaced,
                        const char *where)
{
    size_t ok = avk_utf8_valid_prefix((const unsigned char *)s, n, AVK_UTF8_NO_NUL);
    avk_buf b = {0};
    if (ok < n) {
        if (!replace) {
            avk_error("%s: invalid UTF-8 at byte %zu (use --replace-invalid to "
                      "replace it with U+FFFD)", where, ok);
            return NULL;
        }
        *replaced += avk_utf8_repair((const unsigned char *)s, n, AVK_UTF8_NO_NUL, &b);
    } else {
        avk_buf_append(&b, s, n);
    }
    avk_buf_append(&b, "", 1);
    size_t len = b.len - 1;
    avk_caption_trim((char *)b.data, &len);
    return (char *)b.data;
}

/* Append an entry. */
static avk_caption *add_entry(avk_captions *c, size_t *cap)
{
    if (c->n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        c->v = avk_xrealloc(c->v, *cap * sizeof *c->v);
    }
    avk_caption *e = &c->v[c->n++];
    memset(e, 0, sizeof *e);
    return e;
}

/* Parse a time in seconds: a finite number >= 0. */
static int parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v < 0)
        return -1;
    *out = v;
    return 0;
}

/* Fill an entry from one JSON object line. */
static int entry_from_json(avk_captions *c, avk_caption *e, const char *line, size_t len,
                           const avk_caption_opts *o, const char *where)
{
    avk_json *j = avk_json_parse(line, len, where);
    if (!j)
        return -1;
    int rc = -1;
    if (j->type != AVK_JSON_OBJECT) {
        avk_error("%s: expected a JSON object, found %s", where,
                  avk_json_type_name(j->type));
        goto out;
    }
    const char *keyname = o->by_time ? o->video_field : o->id_field;
    const avk_json *k = avk_json_get(j, keyname), *t = avk_json_get(j, o->text_field);
    if (!k || k->type != AVK_JSON_STRING) {
        avk_error("%s: field \"%s\" %s", where, keyname,
                  k ? "is not a string" : "is missing");
        goto out;
    }
    if (strlen(k->str) != k->len || k->len == 0) {
        avk_error("%s: field \"%s\" is empty or holds a NUL", where, keyname);
        goto out;
    }
    if (t && t->type != AVK_JSON_STRING && t->type != AVK_JSON_NULL) {
        avk_error("%s: field \"%s\" is not a string", where, o->text_field);
        goto out;
    }
    if (!t) {
        avk_error("%s: field \"%s\" is missing", where, o->text_field);
        goto out;
    }
    if (o->by_time) {
        const avk_json *s = avk_json_get(j, o->start_field), *en = avk_json_get(j, o->end_field);
        if (!s || s->type != AVK_JSON_NUMBER || !en || en->type != AVK_JSON_NUMBER ||
            !isfinite(s->number) || !isfinite(en->number) || s->number < 0) {
            avk_error("%s: fields \"%s\" and \"%s\" must be numbers of seconds >= 0",
                      where, o->start_field, o->end_field);
            goto out;
        }
        e->start = s->number;
        e->end = en->number;
    }
    char field[700];
    snprintf(field, sizeof field, "%s: field \"%s\"", where, o->text_field);
    e->key = avk_xstrdup(k->str);
    e->text = t->type == AVK_JSON_NULL
                  ? avk_xstrdup("")
                  : clean_text(t->str, t->len, o->replace_invalid, &c->replaced, field);
    rc = e->text ? 0 : -1;
out:
    avk_json_free(j);
    return rc;
}

/* Split a TSV line in place into at most max fields; returns the count. */
static int split_tabs(char *line, char **f, int max)
{
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p; p++) {
        if (*p == '\t') {
            *p = 0;
            if (n == max)
                return max + 1;
            f[n++] = p + 1;
        }
    }
    return n;
}

/* Read every caption, checking UTF-8 line by line; then index them by id
 * (noting duplicates) or group them by video sorted by start. */
avk_captions *avk_captions_load(const char *path, const avk_caption_opts *o)
{
    FILE *fp = avk_in_open(path, 0);
    if (!fp)
        return NULL;
    avk_captions *c = avk_xcalloc(1, sizeof *c);
    c->path = avk_xstrdup(path);
    c->by_time = o->by_time;
    avk_strmap_init(&c->index);
    char *line = NULL, **fields = NULL, **hdr = NULL;
    size_t cap = 0, ecap = 0, dcap = 0;
    long n, lineno = 0;
    int format = o->format, ncols = 0;
    int col_key = -1, col_text = -1, col_start = -1, col_end = -1;
    avk_buf repaired = {0};
    char where[600];

    while ((n = avk_getline(&line, &cap, fp)) >= 0) {
        lineno++;
        size_t len = (size_t)n;
        size_t lead = 0;
        while (lead < len && is_space((unsigned char)line[lead]))
            lead++;
        if (lead == len)
            continue;   /* blank */
        snprintf(where, sizeof where, "%s: line %ld", path, lineno);
        size_t nbefore = c->n;
        if (format == AVK_CAPTIONS_AUTO)
            format = line[lead] == '{' ? AVK_CAPTIONS_JSONL : AVK_CAPTIONS_TSV;
        /* a raw line must be UTF-8 (JSON requires it; TSV fields are text) */
        size_t ok = avk_utf8_valid_prefix((unsigned char *)line, len, AVK_UTF8_NO_NUL);
        if (ok < len) {
            if (!o->replace_invalid) {
                avk_error("%s: invalid UTF-8 at byte %zu (use --replace-invalid to "
                          "replace it with U+FFFD)", where, ok);
                goto fail;
            }
            repaired.len = 0;
            c->replaced += avk_utf8_repair((unsigned char *)line, len, AVK_UTF8_NO_NUL,
                                           &repaired);
            avk_buf_append(&repaired, "", 1);
            if (repaired.len > cap) {
                line = avk_xrealloc(line, repaired.len);
                cap = repaired.len;
            }
            memcpy(line, repaired.data, repaired.len);
            len = repaired.len - 1;
        }
        if (format == AVK_CAPTIONS_JSONL) {
            avk_caption *e = add_entry(c, &ecap);
            e->line = lineno;
            if (entry_from_json(c, e, line, len, o, where) != 0)
                goto fail;
        } else if (!hdr) {
            /* the TSV header */
            ncols = 1;
            for (size_t i = 0; i < len; i++)
                ncols += line[i] == '\t';
            hdr = avk_xcalloc((size_t)ncols, sizeof *hdr);
            fields = avk_xcalloc((size_t)ncols + 1, sizeof *fields);
            split_tabs(line, fields, ncols);
            for (int i = 0; i < ncols; i++)
                hdr[i] = avk_xstrdup(fields[i]);
            const char *need[4] = {o->by_time ? o->video_field : o->id_field, o->text_field,
                                   o->start_field, o->end_field};
            int *colp[4] = {&col_key, &col_text, &col_start, &col_end};
            for (int k = 0; k < (o->by_time ? 4 : 2); k++) {
                for (int i = 0; i < ncols; i++)
                    if (strcmp(hdr[i], need[k]) == 0 && *colp[k] < 0)
                        *colp[k] = i;
                if (*colp[k] < 0) {
                    avk_error("%s: missing column '%s' in the header", where, need[k]);
                    goto fail;
                }
            }
        } else {
            int nf = split_tabs(line, fields, ncols);
            if (nf != ncols) {
                avk_error("%s: %d fields where the header has %d", where,
                          nf > ncols ? ncols + 1 : nf, ncols);
                goto fail;
            }
            avk_caption *e = add_entry(c, &ecap);
            e->line = lineno;
            if (!*fields[col_key]) {
                avk_error("%s: empty %s", where, hdr[col_key]);
                goto fail;
            }
            if (o->by_time && (parse_seconds(fields[col_start], &e->start) != 0 ||
                               parse_seconds(fields[col_end], &e->end) != 0)) {
                avk_error("%s: columns '%s' and '%s' must be numbers of seconds >= 0",
                          where, o->start_field, o->end_field);
                goto fail;
            }
            e->key = avk_xstrdup(fields[col_key]);
            size_t tl = strlen(fields[col_text]);
            e->text = avk_xstrdup(fields[col_text]);
            avk_caption_trim(e->text, &tl);
        }
        if (o->by_time && c->n > nbefore) {
            avk_caption *e = &c->v[c->n - 1];
            if (!(e->end > e->start)) {
                avk_error("%s: interval end %g is not after start %g", where, e->end,
                          e->start);
                goto fail;
            }
        }
    }
    if (ferror(fp)) {
        avk_error("%s: read error: %s", path, strerror(errno));
        goto fail;
    }
    if (format == AVK_CAPTIONS_TSV && !hdr) {
        avk_error("%s: empty caption file", path);
        goto fail;
    }

    if (!o->by_time) {
        for (size_t i = 0; i < c->n; i++) {
            if (avk_strmap_add(&c->index, c->v[i].key, (long)i) >= 0) {
                if (c->ndups == dcap) {
                    dcap = dcap ? dcap * 2 : 16;
                    c->dups = avk_xrealloc(c->dups, dcap * sizeof *c->dups);
                }
                c->dups[c->ndups++] = i;
            }
        }
    } else {
        /* group by video, each group sorted by start (then line) */
        size_t *gid = avk_xmalloc((c->n + 1) * sizeof *gid);
        for (size_t i = 0; i < c->n; i++) {
            long g = avk_strmap_add(&c->index, c->v[i].key, (long)c->index.n);
            gid[i] = g < 0 ? c->index.n - 1 : (size_t)g;
        }
        size_t ng = c->index.n;
        c->group = avk_xcalloc(ng + 1, sizeof *c->group);
        c->group_maxend = avk_xcalloc(ng + 1, sizeof *c->group_maxend);
        c->group_n = avk_xcalloc(ng + 1, sizeof *c->group_n);
        for (size_t i = 0; i < c->n; i++)
            c->group_n[gid[i]]++;
        for (size_t g = 0; g < ng; g++) {
            c->group[g] = avk_xmalloc(c->group_n[g] * sizeof **c->group);
            c->group_maxend[g] = avk_xmalloc(c->group_n[g] * sizeof **c->group_maxend);
            c->group_n[g] = 0;
        }
        for (size_t i = 0; i < c->n; i++) {
            size_t g = gid[i];
            /* insertion keeps line order among equal starts */
            size_t k = c->group_n[g]++;
            size_t *a = c->group[g];
            while (k > 0 && c->v[a[k - 1]].start > c->v[i].start) {
                a[k] = a[k - 1];
                k--;
            }
            a[k] = i;
        }
        for (size_t g = 0; g < ng; g++) {
            double m = -1;
            for (size_t k = 0; k < c->group_n[g]; k++) {
                double e = c->v[c->group[g][k]].end;
                m = e > m ? e : m;
                c->group_maxend[g][k] = m;
            }
        }
        free(gid);
    }
    free(line);
    free(fields);
    if (hdr)
        for (int i = 0; i < ncols; i++)
            free(hdr[i]);
    free(hdr);
    avk_buf_free(&repaired);
    avk_in_close(fp);
    return c;
fail:
    free(line);
    free(fields);
    if (hdr)
        for (int i = 0; i < ncols; i++)
            free(hdr[i]);
    free(hdr);
    avk_buf_free(&repaired);
    avk_in_close(fp);
    avk_captions_free(c);
    return NULL;
}

/* Free the table. */
void avk_captions_free(avk_captions *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].key);
        free(c->v[i].text);
    }
    if (c->group) {
        for (size_t g = 0; g < c->index.n; g++) {
            free(c->group[g]);
            free(c->group_maxend[g]);
        }
    }
    free(c->group);
    free(c->group_maxend);
    free(c->group_n);
    avk_strmap_free(&c->index);
    free(c->dups);
    free(c->v);
    free(c->path);
    free(c);
}

/* The first caption with this id (marked touched), or -1. */
long avk_captions_find(avk_captions *c, const char *id)
{
    long i = avk_strmap_get(&c->index, id);
    if (i >= 0)
        c->v[i].touched = 1;
    return i;
}

/* A clip's video matches the captions' video field exactly, or else by
 * its file name alone (captions kept beside the videos name them so).
 * Binary search on the running maximum of the ends finds the first
 * caption that can reach past start; scan until captions start after end. */
long avk_captions_best(avk_captions *c, const char *video, double start, double end,
                       double *overlap)
{
    *overlap = 0;
    long g = avk_strmap_get(&c->index, video);
    const char *slash = strrchr(video, '/');
    if (g < 0 && slash)   /* captions that name the video by its file name */
        g = avk_strmap_get(&c->index, slash + 1);
    if (g < 0 || !(end > start))
        return -1;
    size_t n = c->group_n[g], *a = c->group[g];
    const double *maxend = c->group_maxend[g];
    /* the first position whose entries so far can reach past start */
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (maxend[mid] > start)
            hi = mid;
        else
            lo = mid + 1;
    }
    long best = -1;
    double best_ov = 0;
    for (size_t k = lo; k < n && c->v[a[k]].start < end; k++) {
        avk_caption *e = &c->v[a[k]];
        double s = e->start > start ? e->start : start;
        double t = e->end < end ? e->end : end;
        if (t <= s)
            continue;
        e->touched = 1;
        double ov = (t - s) / (end - start);
        if (ov > best_ov || (ov == best_ov && best >= 0 && a[k] < (size_t)best)) {
            best_ov = ov;
            best = (long)a[k];
        }
    }
    *overlap = best_ov;
    return best;
}
