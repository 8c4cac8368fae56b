/* A minimal safetensors reader for the operator tests (F32 tensors and
 * string metadata only), so the golden tests do not depend on the
 * library's safetensors module. It checks every offset against the file
 * size and fails the test run loudly on anything unexpected. */
#ifndef AVKIT_GOLDEN_ST_H
#define AVKIT_GOLDEN_ST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gst_tensor {
    char name[64];
    int ndim;
    int64_t shape[8], numel;
    float *data;
} gst_tensor;

typedef struct gst_file {
    int n;
    gst_tensor t[64];
    int nmeta;
    char mkey[16][64], mval[16][128];
} gst_file;

/* Read a JSON string at *p (after the opening quote) into out. */
static const char *gst_str(const char *p, char *out, size_t cap)
{
    size_t n = 0;
    while (*p && *p != '"') {
        if (*p == '\\' && p[1])
            p++;
        if (n + 1 < cap)
            out[n++] = *p;
        p++;
    }
    out[n] = 0;
    return *p ? p + 1 : p;
}

/* Parse "[a, b, ...]" at p into v; returns the count. */
static int gst_ints(const char *p, int64_t *v, int cap)
{
    int n = 0;
    p = strchr(p, '[');
    if (!p)
        return -1;
    p++;
    while (*p && *p != ']') {
        char *e;
        long long x = strtoll(p, &e, 10);
        if (e == p) {
            p++;
            continue;
        }
        if (n < cap)
            v[n] = x;
        n++;
        p = e;
    }
    return n;
}

static __attribute__((unused)) void gst_free(gst_file *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n; i++)
        free(f->t[i].data);
    free(f);
}

/* Load a whole file; NULL (with a message on stderr) on any problem. */
static gst_file *gst_load(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "%s: cannot open\n", path);
        return NULL;
    }
    uint64_t hl = 0;
    unsigned char lb[8];
    if (fread(lb, 1, 8, fp) != 8) {
        fclose(fp);
        return NULL;
    }
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | lb[i];
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    if (hl > (uint64_t)size - 8) {
        fprintf(stderr, "%s: header length %llu beyond the file\n", path, (unsigned long long)hl);
        fclose(fp);
        return NULL;
    }
    char *h = calloc(1, hl + 1);
    unsigned char *data = malloc((size_t)(size - 8 - (long)hl) + 1);
    fseek(fp, 8, SEEK_SET);
    if (fread(h, 1, hl, fp) != hl ||
        fread(data, 1, (size_t)(size - 8 - (long)hl), fp) != (size_t)(size - 8 - (long)hl)) {
        fclose(fp);
        free(h);
        free(data);
        return NULL;
    }
    fclose(fp);
    size_t dsize = (size_t)(size - 8 - (long)hl);
    gst_file *f = calloc(1, sizeof *f);
    const char *p = h + 1;   /* after '{' */
    int ok = 1;
    while (ok && (p = strchr(p, '"'))) {
        char key[64];
        p = gst_str(p + 1, key, sizeof key);
        const char *obj = strchr(p, '{');
        const char *end = obj ? strchr(obj, '}') : NULL;
        if (!obj || !end) {
            ok = 0;
            break;
        }
        if (!strcmp(key, "__metadata__")) {
            const char *q = obj + 1;
            while ((q = strchr(q, '"')) && q < end && f->nmeta < 16) {
                q = gst_str(q + 1, f->mkey[f->nmeta], 64);
                q = strchr(q, '"');
                if (!q)
                    break;
                q = gst_str(q + 1, f->mval[f->nmeta], 128);
                f->nmeta++;
            }
        } else if (f->n < 64) {
            char seg[512];
            size_t len = (size_t)(end - obj) < sizeof seg - 1 ? (size_t)(end - obj) : sizeof seg - 1;
            memcpy(seg, obj, len);
            seg[len] = 0;
            gst_tensor *t = &f->t[f->n];
            snprintf(t->name, sizeof t->name, "%s", key);
            const char *sh = strstr(seg, "\"shape\"");
            const char *of = strstr(seg, "\"data_offsets\"");
            int64_t offs[2];
            if (!strstr(seg, "\"F32\"") || !sh || !of || gst_ints(of, offs, 2) != 2) {
                ok = 0;
                break;
            }
            t->ndim = gst_ints(sh, t->shape, 8);
            t->numel = 1;
            for (int i = 0; i < t->ndim; i++)
                t->numel *= t->shape[i];
            if (t->ndim < 0 || offs[0] < 0 || offs[1] < offs[0] || (size_t)offs[1] > dsize ||
                offs[1] - offs[0] != t->numel * 4) {
                ok = 0;
                break;
            }
            t->data = malloc((size_t)(t->numel > 0 ? t->numel : 1) * 4);
            memcpy(t->data, data + offs[0], (size_t)t->numel * 4);
            f->n++;
        }
        p = end + 1;
    }
    free(h);
    free(data);
    if (!ok) {
        fprintf(stderr, "%s: malformed header\n", path);
        gst_free(f);
        return NULL;
    }
    return f;
}

static gst_tensor *gst_get(gst_file *f, const char *name)
{
    for (int i = 0; f && i < f->n; i++)
        if (!strcmp(f->t[i].name, name))
            return &f->t[i];
    return NULL;
}

static __attribute__((unused)) const char *gst_meta(gst_file *f, const char *key)
{
    for (int i = 0; f && i < f->nmeta; i++)
        if (!strcmp(f->mkey[i], key))
            return f->mval[i];
    return NULL;
}

#endif
