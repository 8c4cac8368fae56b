/* .npy export and import for avt tensors (NumPy's format: magic
 * "\x93NUMPY", version, header length, a Python dict literal with descr,
 * fortran_order and shape, padded so the data starts on 64 bytes). */
#include "avkit/io/avt_npy.h"
#include "avkit/util/common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *descrs[] = {
    [AVT_F32] = "<f4", [AVT_F16] = "<f2", [AVT_BF16] = "<f4", [AVT_F64] = "<f8",
    [AVT_I8] = "|i1",  [AVT_I16] = "<i2", [AVT_I32] = "<i4",  [AVT_I64] = "<i8",
    [AVT_U8] = "|u1",  [AVT_U16] = "<u2", [AVT_BOOL] = "|b1",
};

/* The NumPy type string of a dtype. */
const char *avt_npy_descr(int dtype)
{
    return avt_dtype_size(dtype) ? descrs[dtype] : NULL;
}

/* Write one tensor as a version 1.0 .npy file. */
int avt_npy_write(const char *path, const avt_tensor *t)
{
    const char *descr = avt_npy_descr(t->dtype);
    if (!descr)
        return avk_error("%s: tensor '%s': unknown dtype %d", path, t->name, t->dtype);
    avk_buf h = {0};
    avk_buf_append(&h, "\x93NUMPY\x01\x00\x00\x00", 10);
    avk_buf_printf(&h, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < t->ndim; i++)
        avk_buf_printf(&h, "%lld,%s", (long long)t->shape[i],
                       i + 1 < t->ndim ? " " : "");
    if (t->ndim > 1)
        h.len--;                          /* "(2, 3)" but "(5,)" */
    avk_buf_printf(&h, "), }");
    while ((h.len + 1) % 64)
        avk_buf_append(&h, " ", 1);
    avk_buf_append(&h, "\n", 1);
    size_t hl = h.len - 10;
    h.data[8] = (unsigned char)(hl & 0xff);
    h.data[9] = (unsigned char)(hl >> 8);
    avk_out *o = avk_out_open(path, 1);
    if (!o) {
        avk_buf_free(&h);
        return -1;
    }
    int rc = avk_fwrite_all(o->fp, h.data, h.len, path);
    avk_buf_free(&h);
    if (rc == 0 && t->dtype == AVT_BF16) {
        /* no bf16 in NumPy: widen to f32 (exact) */
        const uint16_t *src = t->data;
        size_t n = t->nbytes / 2;
        float buf[4096];
        for (size_t i = 0; i < n && rc == 0; i += 4096) {
            size_t m = n - i < 4096 ? n - i : 4096;
            for (size_t j = 0; j < m; j++)
                buf[j] = avt_bf16_to_f32(src[i + j]);
            rc = avk_fwrite_all(o->fp, buf, m * 4, path);
        }
    } else if (rc == 0) {
        rc = avk_fwrite_all(o->fp, t->data, t->nbytes, path);
    }
    if (rc != 0) {
        avk_out_abort(o);
        return -1;
    }
    return avk_out_commit(o);
}

/* The value text after 'key': in a header dict, or NULL. */
static const char *dict_value(const char *h, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(h, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    if (*p != ':')
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

/* Read a .npy file into a new tensor of r. */
int avt_npy_read(const char *path, avt_record *r, const char *name)
{
    FILE *fp = avk_in_open(path, 1);
    if (!fp)
        return -1;
    unsigned char pre[12];
    char *h = NULL;
    void *data = NULL;
    int rc = -1;
    if (fread(pre, 1, 10, fp) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        avk_error("%s: not a .npy file (bad magic)", path);
        goto out;
    }
    size_t hl, off;
    if (pre[6] == 1) {
        hl = pre[8] | (size_t)pre[9] << 8;
        off = 10;
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, fp) != 2) {
            avk_error("%s: truncated .npy header", path);
            goto out;
        }
        hl = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
        off = 12;
    } else {
        avk_error("%s: unsupported .npy version %d.%d", path, pre[6], pre[7]);
        goto out;
    }
    if (hl > (1u << 20)) {
        avk_error("%s: .npy header of %zu bytes is implausible", path, hl);
        goto out;
    }
    h = avk_xmalloc(hl + 1);
    if (fread(h, 1, hl, fp) != hl) {
        avk_error("%s: truncated .npy header", path);
        goto out;
    }
    h[hl] = 0;
    const char *d = dict_value(h, "descr"), *fo = dict_value(h, "fortran_order"),
               *sh = dict_value(h, "shape");
    if (!d || !fo || !sh || *d != '\'' || *sh != '(') {
        avk_error("%s: .npy header lacks descr, fortran_order or shape", path);
        goto out;
    }
    int dtype = -1;
    for (int i = 1; i <= AVT_BOOL; i++) {
        const char *want = descrs[i];
        if (i == AVT_BF16)
            continue;
        size_t n = strlen(want);
        if (strncmp(d + 1, want, n) == 0 && d[1 + n] == '\'')
            dtype = i;
        else if (want[0] == '|' && d[1] == '<' && strncmp(d + 2, want + 1, n - 1) == 0 &&
                 d[1 + n] == '\'')
            dtype = i;                        /* "<u1" for "|u1" */
    }
    if (dtype < 0) {
        const char *q = strchr(d + 1, '\'');
        avk_error("%s: unsupported .npy dtype %.*s (avt takes <f4 <f2 <f8 |i1 "
                  "<i2 <i4 <i8 |u1 <u2 |b1)", path, q ? (int)(q - d + 1) : 8, d);
        goto out;
    }
    if (strncmp(fo, "False", 5) != 0) {
        avk_error("%s: Fortran-order .npy arrays are not supported", path);
        goto out;
    }
    int64_t shape[AVT_MAX_DIMS];
    int ndim = 0;
    const char *p = sh + 1;
    size_t nbytes = avt_dtype_size(dtype);
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || ndim == AVT_MAX_DIMS ||
            (v && nbytes > SIZE_MAX / (size_t)v)) {
            avk_error("%s: bad or unsupported .npy shape (at most %d dimensions)",
                      path, AVT_MAX_DIMS);
            goto out;
        }
        nbytes *= (size_t)v;
        shape[ndim++] = v;
        p = end;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode) &&
        (uint64_t)st.st_size < off + hl + (uint64_t)nbytes) {
        avk_error("%s: .npy data is truncated (%lld bytes, the shape needs %zu)",
                  path, (long long)st.st_size - (long long)(off + hl), nbytes);
        goto out;
    }
    data = malloc(nbytes ? nbytes : 1);
    if (!data) {
        avk_error("%s: cannot allocate %zu bytes", path, nbytes);
        goto out;
    }
    if (fread(data, 1, nbytes, fp) != nbytes) {
        avk_error("%s: .npy data is truncated", path);
        goto out;
    }
    avt_record_take_tensor(r, name, dtype, ndim, shape, data);
    data = NULL;
    rc = 0;
out:
    free(data);
    free(h);
    avk_in_close(fp);
    return rc;
}
