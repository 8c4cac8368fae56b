/* safetensors reading (memory-mapped, every field checked) and writing
 * (temporary file + rename). See include/avkit/io/safetensors.h and
 * man/man5/safetensors.5 for the layout and the checks.
 */
#include "avkit/io/safetensors.h"
#include "avkit/util/common.h"
#include "avkit/util/json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this code assumes a little-endian host"
#endif

/* Longest tensor name shown in an error message. */
#define NAME_SHOWN 200

static const struct st_dtype {
    const char *name;
    int dtype;
    size_t size;
} st_dtypes[] = {
    {"F64", AVT_F64, 8},  {"F32", AVT_F32, 4}, {"F16", AVT_F16, 2},
    {"BF16", AVT_BF16, 2}, {"I64", AVT_I64, 8}, {"I32", AVT_I32, 4},
    {"I16", AVT_I16, 2},  {"I8", AVT_I8, 1},   {"U16", AVT_U16, 2},
    {"U8", AVT_U8, 1},    {"BOOL", AVT_BOOL, 1},
};
#define N_DTYPES (sizeof st_dtypes / sizeof st_dtypes[0])

static const struct st_dtype *dtype_by_code(int dtype)
{
    for (size_t i = 0; i < N_DTYPES; i++)
        if (st_dtypes[i].dtype == dtype)
            return &st_dtypes[i];
    return NULL;
}

const char *avk_st_dtype_name(int dtype)
{
    const struct st_dtype *d = dtype_by_code(dtype);
    return d ? d->name : NULL;
}

int avk_st_dtype_from_name(const char *name)
{
    for (size_t i = 0; i < N_DTYPES; i++)
        if (strcmp(st_dtypes[i].name, name) == 0)
            return st_dtypes[i].dtype;
    return -1;
}

/* Bytes of a tensor of this shape and element size; -1 on overflow or a
 * negative dimension. */
static int64_t tensor_bytes(int ndim, const int64_t *shape, size_t elsize)
{
    int64_t n = (int64_t)elsize;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return -1;
        if (shape[i] != 0 && n > INT64_MAX / shape[i])
            return -1;
        n *= shape[i];
    }
    return n;
}

/* "[2, 3]" for messages. */
static void shape_text(char *out, size_t cap, int ndim, const int64_t *shape)
{
    size_t k = (size_t)snprintf(out, cap, "[");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(out + k, cap - k, "%s%lld", i ? ", " : "",
                              (long long)shape[i]);
    if (k < cap)
        snprintf(out + k, cap - k, "]");
}

/* ---- reading ------------------------------------------------------------ */

/* The public struct plus a name index for avk_st_find. */
typedef struct st_file_impl {
    avk_st_file pub;
    avk_st_tensor **by_name;     /* sorted by name */
    unsigned char *owned;        /* the image read from a pipe, else NULL */
} st_file_impl;

static int cmp_tensor_name(const void *a, const void *b)
{
    const avk_st_tensor *x = *(avk_st_tensor *const *)a;
    const avk_st_tensor *y = *(avk_st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_meta_key(const void *a, const void *b)
{
    const avt_meta *x = *(const avt_meta *const *)a;
    const avt_meta *y = *(const avt_meta *const *)b;
    return strcmp(x->key, y->key);
}

/* Order of tensors in the data area: by begin, then by end (a zero-size
 * tensor sorts before the one that starts where it sits). */
static int cmp_tensor_offset(const void *a, const void *b)
{
    const avk_st_tensor *x = *(avk_st_tensor *const *)a;
    const avk_st_tensor *y = *(avk_st_tensor *const *)b;
    const unsigned char *xb = x->data, *yb = y->data;
    if (xb != yb)
        return xb < yb ? -1 : 1;
    if (x->nbytes != y->nbytes)
        return x->nbytes < y->nbytes ? -1 : 1;
    return 0;
}

void avk_st_close(avk_st_file *f)
{
    if (!f)
        return;
    st_file_impl *impl = (st_file_impl *)f;
    for (int i = 0; i < f->ntensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    for (int i = 0; i < f->nmeta; i++) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    free(f->meta);
    if (f->map)
        munmap(f->map, f->map_size);
    free(impl->by_name);
    free(impl->owned);
    free(f->path);
    free(impl);
}

/* Read __metadata__ (an object of string values) into f->meta. */
static int parse_metadata(avk_st_file *f, const avk_json *m)
{
    const char *path = f->path;
    if (m->type != AVK_JSON_OBJECT)
        return avk_error("%s: byte %zu: __metadata__ is a %s, not an object",
                         path, m->offset, avk_json_type_name(m->type));
    f->meta = avk_xcalloc(m->len ? m->len : 1, sizeof *f->meta);
    for (size_t i = 0; i < m->len; i++) {
        const avk_json *v = &m->items[i];
        if (v->type != AVK_JSON_STRING)
            return avk_error("%s: byte %zu: __metadata__ value of \"%.*s\" is a %s, "
                             "not a string", path, v->offset, NAME_SHOWN,
                             m->keys[i], avk_json_type_name(v->type));
        if (strlen(m->keys[i]) != m->key_lens[i] || strlen(v->str) != v->len)
            return avk_error("%s: byte %zu: __metadata__ entry \"%.*s\" holds a NUL "
                             "character", path, v->offset, NAME_SHOWN, m->keys[i]);
        f->meta[f->nmeta].key = avk_xstrdup(m->keys[i]);
        f->meta[f->nmeta].value = avk_xstrdup(v->str);
        f->nmeta++;
    }
    if (f->nmeta > 1) {
        avt_meta **idx = avk_xmalloc((size_t)f->nmeta * sizeof *idx);
        for (int i = 0; i < f->nmeta; i++)
            idx[i] = &f->meta[i];
        qsort(idx, (size_t)f->nmeta, sizeof *idx, cmp_meta_key);
        for (int i = 1; i < f->nmeta; i++)
            if (strcmp(idx[i - 1]->key, idx[i]->key) == 0) {
                avk_error("%s: __metadata__ key \"%.*s\" appears twice", path,
                          NAME_SHOWN, idx[i]->key);
                free(idx);
                return -1;
            }
        free(idx);
    }
    return 0;
}

/* Read one non-negative integer array of the tensor entry (shape or
 * data_offsets); at most `max` items. Returns the count or -1. */
static int parse_int_array(const avk_st_file *f, const char *tname,
                           const avk_json *entry, const char *field,
                           int64_t *out, int max)
{
    const avk_json *a = avk_json_get(entry, field);
    if (!a)
        return avk_error("%s: tensor \"%.*s\": no \"%s\" field", f->path,
                         NAME_SHOWN, tname, field);
    if (a->type != AVK_JSON_ARRAY)
        return avk_error("%s: tensor \"%.*s\": \"%s\" is a %s, not an array",
                         f->path, NAME_SHOWN, tname, field,
                         avk_json_type_name(a->type));
    if (a->len > (size_t)max)
        return avk_error("%s: tensor \"%.*s\": \"%s\" has %zu entries (at most %d)",
                         f->path, NAME_SHOWN, tname, field, a->len, max);
    for (size_t i = 0; i < a->len; i++) {
        int64_t v;
        if (avk_json_int64(&a->items[i], &v) < 0 || v < 0)
            return avk_error("%s: tensor \"%.*s\": \"%s\" entry %zu (byte %zu) is not "
                             "a non-negative integer below 2^63", f->path, NAME_SHOWN,
                             tname, field, i, a->items[i].offset);
        out[i] = v;
    }
    return (int)a->len;
}

/* Check one tensor entry and fill t; data points into the data area. */
static int parse_tensor(avk_st_file *f, avk_st_tensor *t, const char *tname,
                        size_t tname_len, const avk_json *e,
                        const unsigned char *data, uint64_t data_len)
{
    const char *path = f->path;
    if (strlen(tname) != tname_len)
        return avk_error("%s: byte %zu: tensor name \"%.*s\" holds a NUL character",
                         path, e->offset, NAME_SHOWN, tname);
    if (e->type != AVK_JSON_OBJECT)
        return avk_error("%s: tensor \"%.*s\" (byte %zu): entry is a %s, not an object",
                         path, NAME_SHOWN, tname, e->offset, avk_json_type_name(e->type));
    const avk_json *dt = avk_json_get(e, "dtype");
    if (!dt)
        return avk_error("%s: tensor \"%.*s\": no \"dtype\" field", path, NAME_SHOWN, tname);
    if (dt->type != AVK_JSON_STRING)
        return avk_error("%s: tensor \"%.*s\": \"dtype\" is a %s, not a string", path,
                         NAME_SHOWN, tname, avk_json_type_name(dt->type));
    int code = strlen(dt->str) == dt->len ? avk_st_dtype_from_name(dt->str) : -1;
    if (code < 0)
        return avk_error("%s: tensor \"%.*s\": unsupported dtype \"%.*s\" (avkit reads "
                         "F64 F32 F16 BF16 I64 I32 I16 I8 U16 U8 BOOL)", path,
                         NAME_SHOWN, tname, 32, dt->str);
    int64_t shape[AVT_MAX_DIMS], offs[2];
    int ndim = parse_int_array(f, tname, e, "shape", shape, AVT_MAX_DIMS);
    if (ndim < 0)
        return -1;
    int no = parse_int_array(f, tname, e, "data_offsets", offs, 2);
    if (no < 0)
        return -1;
    if (no != 2)
        return avk_error("%s: tensor \"%.*s\": \"data_offsets\" has %d entries, not 2",
                         path, NAME_SHOWN, tname, no);
    if (offs[0] > offs[1])
        return avk_error("%s: tensor \"%.*s\": data_offsets [%lld, %lld] begin after "
                         "they end", path, NAME_SHOWN, tname, (long long)offs[0],
                         (long long)offs[1]);
    if ((uint64_t)offs[1] > data_len)
        return avk_error("%s: tensor \"%.*s\": data_offsets [%lld, %lld] reach beyond "
                         "the %llu-byte data area", path, NAME_SHOWN, tname,
                         (long long)offs[0], (long long)offs[1],
                         (unsigned long long)data_len);
    size_t elsize = dtype_by_code(code)->size;
    int64_t want = tensor_bytes(ndim, shape, elsize);
    char stext[256];
    shape_text(stext, sizeof stext, ndim, shape);
    if (want < 0)
        return avk_error("%s: tensor \"%.*s\": shape %s of %s overflows 63 bits",
                         path, NAME_SHOWN, tname, stext, dt->str);
    if (want != offs[1] - offs[0])
        return avk_error("%s: tensor \"%.*s\": data_offsets [%lld, %lld] hold %lld "
                         "bytes, but shape %s of %s needs %lld", path, NAME_SHOWN,
                         tname, (long long)offs[0], (long long)offs[1],
                         (long long)(offs[1] - offs[0]), stext, dt->str,
                         (long long)want);
    t->name = avk_xstrdup(tname);
    t->dtype = code;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->data = data + offs[0];
    t->nbytes = (size_t)want;
    return 0;
}

/* Check that the tensors tile the data area exactly: no overlap, no bytes
 * that belong to no tensor (as the reference implementation demands). */
static int check_layout(avk_st_file *f, const unsigned char *data, uint64_t data_len,
                        uint64_t data_file_offset)
{
    int n = f->ntensors;
    avk_st_tensor **idx = avk_xmalloc((size_t)(n ? n : 1) * sizeof *idx);
    for (int i = 0; i < n; i++)
        idx[i] = &f->tensors[i];
    qsort(idx, (size_t)n, sizeof *idx, cmp_tensor_offset);
    uint64_t pos = 0;
    const avk_st_tensor *prev = NULL;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        uint64_t begin = (uint64_t)((const unsigned char *)idx[i]->data - data);
        if (begin < pos)
            rc = avk_error("%s: tensor \"%.*s\" (data bytes %llu-%llu) overlaps tensor "
                           "\"%.*s\"", f->path, NAME_SHOWN, idx[i]->name,
                           (unsigned long long)begin,
                           (unsigned long long)(begin + idx[i]->nbytes),
                           NAME_SHOWN, prev ? prev->name : "");
        else if (begin > pos)
            rc = avk_error("%s: data bytes %llu-%llu (before tensor \"%.*s\") belong to "
                           "no tensor", f->path, (unsigned long long)pos,
                           (unsigned long long)begin, NAME_SHOWN, idx[i]->name);
        pos = begin + idx[i]->nbytes;
        prev = idx[i];
    }
    if (rc == 0 && pos != data_len)
        rc = avk_error("%s: data bytes %llu-%llu (file offset %llu on) belong to no "
                       "tensor", f->path, (unsigned long long)pos,
                       (unsigned long long)data_len,
                       (unsigned long long)(pos + data_file_offset));
    free(idx);
    return rc;
}

/* Parse and check the whole image; fills f (tensors, meta, name index). */
static int parse_image(st_file_impl *impl, const unsigned char *buf, size_t size)
{
    avk_st_file *f = &impl->pub;
    const char *path = f->path;
    if (size == 0)
        return avk_error("%s: file is empty (a safetensors file starts with an "
                         "8-byte header size)", path);
    if (size < 8)
        return avk_error("%s: file is %zu bytes, too short for the 8-byte header size",
                         path, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | buf[i];
    if (hlen > AVK_ST_MAX_HEADER)
        return avk_error("%s: byte 0: header size %llu is beyond the %d-byte limit",
                         path, (unsigned long long)hlen, AVK_ST_MAX_HEADER);
    if (hlen > size - 8)
        return avk_error("%s: byte 0: header size %llu is larger than the %zu bytes "
                         "that follow it (truncated file?)", path,
                         (unsigned long long)hlen, size - 8);
    if (hlen < 2 || buf[8] != '{')
        return avk_error("%s: byte 8: the JSON header does not start with '{'", path);
    avk_json *root = avk_json_parse_at((const char *)buf + 8, (size_t)hlen, path, 8);
    if (!root)
        return -1;
    const unsigned char *data = buf + 8 + hlen;
    uint64_t data_len = size - 8 - hlen;
    /* a root that parsed from '{' is an object */
    int rc = 0;
    f->tensors = avk_xcalloc(root->len ? root->len : 1, sizeof *f->tensors);
    for (size_t i = 0; i < root->len && rc == 0; i++) {
        if (strcmp(root->keys[i], "__metadata__") == 0 &&
            root->key_lens[i] == strlen("__metadata__")) {
            if (f->meta)
                rc = avk_error("%s: byte %zu: __metadata__ appears twice", path,
                               root->items[i].offset);
            else
                rc = parse_metadata(f, &root->items[i]);
            continue;
        }
        rc = parse_tensor(f, &f->tensors[f->ntensors], root->keys[i],
                          root->key_lens[i], &root->items[i], data, data_len);
        if (rc == 0)
            f->ntensors++;
    }
    avk_json_free(root);
    if (rc != 0)
        return -1;
    impl->by_name = avk_xmalloc((size_t)(f->ntensors ? f->ntensors : 1) *
                                sizeof *impl->by_name);
    for (int i = 0; i < f->ntensors; i++)
        impl->by_name[i] = &f->tensors[i];
    qsort(impl->by_name, (size_t)f->ntensors, sizeof *impl->by_name, cmp_tensor_name);
    for (int i = 1; i < f->ntensors; i++)
        if (strcmp(impl->by_name[i - 1]->name, impl->by_name[i]->name) == 0)
            return avk_error("%s: tensor \"%.*s\" appears twice in the header", path,
                             NAME_SHOWN, impl->by_name[i]->name);
    return check_layout(f, data, data_len, 8 + hlen);
}

avk_st_file *avk_st_parse_buffer(const void *buf, size_t size, const char *name)
{
    st_file_impl *impl = avk_xcalloc(1, sizeof *impl);
    impl->pub.path = avk_xstrdup(name);
    if (parse_image(impl, buf, size) < 0) {
        avk_st_close(&impl->pub);
        return NULL;
    }
    return &impl->pub;
}

/* Read everything from fd (a pipe or stdin) into a malloc'ed buffer. */
static unsigned char *read_all(int fd, const char *path, size_t *size)
{
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = avk_xmalloc(cap);
    for (;;) {
        if (n == cap)
            b = avk_xrealloc(b, cap *= 2);
        ssize_t got = read(fd, b + n, cap - n);
        if (got == 0)
            break;
        if (got < 0) {
            if (errno == EINTR)
                continue;
            avk_error("%s: read error at byte %zu: %s", path, n, strerror(errno));
            free(b);
            return NULL;
        }
        n += (size_t)got;
    }
    *size = n;
    return b;
}

avk_st_file *avk_st_open(const char *path)
{
    int is_stdin = strcmp(path, "-") == 0;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        avk_error("%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        avk_error("%s: %s", path, S_ISDIR(st.st_mode) ? "is a directory" : strerror(errno));
        if (!is_stdin)
            close(fd);
        return NULL;
    }
    st_file_impl *impl = avk_xcalloc(1, sizeof *impl);
    impl->pub.path = avk_xstrdup(path);
    const unsigned char *image = NULL;
    size_t size = 0;
    if (S_ISREG(st.st_mode) && !is_stdin) {
        /* a regular file is mapped */
        size = (size_t)st.st_size;
        if (size > 0) {
            void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (map == MAP_FAILED) {
                avk_error("%s: cannot map the file: %s", path, strerror(errno));
                size = 0;
            } else {
                impl->pub.map = map;
                impl->pub.map_size = size;
                image = map;
            }
        }
        if (size == 0 && st.st_size > 0)
            goto fail;
    } else {
        /* stdin, a pipe or a device: read it into memory */
        image = impl->owned = read_all(fd, path, &size);
        if (!image)
            goto fail;
    }
    if (!is_stdin)
        close(fd);
    fd = -1;
    if (parse_image(impl, image, size) < 0)
        goto fail;
    return &impl->pub;
fail:
    if (fd >= 0 && !is_stdin)
        close(fd);
    avk_st_close(&impl->pub);
    return NULL;
}

static int cmp_find(const void *key, const void *elem)
{
    return strcmp((const char *)key, (*(avk_st_tensor *const *)elem)->name);
}

const avk_st_tensor *avk_st_find(const avk_st_file *f, const char *name)
{
    const st_file_impl *impl = (const st_file_impl *)f;
    avk_st_tensor *const *hit = bsearch(name, impl->by_name, (size_t)f->ntensors,
                                        sizeof *impl->by_name, cmp_find);
    return hit ? *hit : NULL;
}

const char *avk_st_meta(const avk_st_file *f, const char *key)
{
    for (int i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta[i].key, key) == 0)
            return f->meta[i].value;
    return NULL;
}

/* ---- writing ------------------------------------------------------------ */

typedef struct st_wtensor {
    char       *name;
    int         dtype, ndim;
    int64_t     shape[AVT_MAX_DIMS];
    const void *data;
    size_t      nbytes;
} st_wtensor;

struct avk_st_writer {
    st_wtensor *t;
    int         n, cap;
    avt_meta   *meta;
    int         nmeta, meta_cap;
    char       *err;      /* the first bad add, reported by write */
};

avk_st_writer *avk_st_writer_new(void)
{
    return avk_xcalloc(1, sizeof(avk_st_writer));
}

void avk_st_writer_free(avk_st_writer *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->n; i++)
        free(w->t[i].name);
    free(w->t);
    for (int i = 0; i < w->nmeta; i++) {
        free(w->meta[i].key);
        free(w->meta[i].value);
    }
    free(w->meta);
    free(w->err);
    free(w);
}

/* Set (or replace) a __metadata__ entry. */
void avk_st_writer_meta(avk_st_writer *w, const char *key, const char *value)
{
    if (!w->err && (avk_json_utf8_check(key, strlen(key)) != strlen(key) ||
                    avk_json_utf8_check(value, strlen(value)) != strlen(value)))
        w->err = avk_xasprintf("__metadata__ entry \"%.*s\" is not valid UTF-8",
                               NAME_SHOWN, key);
    for (int i = 0; i < w->nmeta; i++)
        if (strcmp(w->meta[i].key, key) == 0) {
            free(w->meta[i].value);
            w->meta[i].value = avk_xstrdup(value);
            return;
        }
    if (w->nmeta == w->meta_cap) {
        w->meta_cap = w->meta_cap ? w->meta_cap * 2 : 8;
        w->meta = avk_xrealloc(w->meta, (size_t)w->meta_cap * sizeof *w->meta);
    }
    w->meta[w->nmeta].key = avk_xstrdup(key);
    w->meta[w->nmeta].value = avk_xstrdup(value);
    w->nmeta++;
}

/* Queue a tensor; a bad one is remembered and makes write fail. */
void avk_st_writer_add(avk_st_writer *w, const char *name, int dtype, int ndim,
                       const int64_t *shape, const void *data)
{
    if (w->err)
        return;
    const struct st_dtype *d = dtype_by_code(dtype);
    int64_t nbytes = -1;
    if (!d)
        w->err = avk_xasprintf("tensor \"%.*s\": dtype code %d has no safetensors name",
                               NAME_SHOWN, name, dtype);
    else if (ndim < 0 || ndim > AVT_MAX_DIMS)
        w->err = avk_xasprintf("tensor \"%.*s\": %d dimensions (at most %d)",
                               NAME_SHOWN, name, ndim, AVT_MAX_DIMS);
    else if ((nbytes = tensor_bytes(ndim, shape, d->size)) < 0)
        w->err = avk_xasprintf("tensor \"%.*s\": negative or overflowing shape",
                               NAME_SHOWN, name);
    else if (nbytes > 0 && !data)
        w->err = avk_xasprintf("tensor \"%.*s\": no data", NAME_SHOWN, name);
    else if (strcmp(name, "__metadata__") == 0)
        w->err = avk_xasprintf("a tensor cannot be named __metadata__");
    else if (avk_json_utf8_check(name, strlen(name)) != strlen(name))
        w->err = avk_xasprintf("tensor name \"%.*s\" is not valid UTF-8", NAME_SHOWN, name);
    if (w->err)
        return;
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0) {
            w->err = avk_xasprintf("tensor \"%.*s\" added twice", NAME_SHOWN, name);
            return;
        }
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 16;
        w->t = avk_xrealloc(w->t, (size_t)w->cap * sizeof *w->t);
    }
    st_wtensor *t = &w->t[w->n++];
    t->name = avk_xstrdup(name);
    t->dtype = dtype;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->data = data;
    t->nbytes = (size_t)nbytes;
}

/* Header JSON, padded with spaces so the data starts 8-byte aligned. */
static void build_header(const avk_st_writer *w, avk_buf *h)
{
    uint64_t off = 0;
    avk_buf_append(h, "{", 1);
    if (w->nmeta > 0) {
        avk_buf_printf(h, "\"__metadata__\":{");
        for (int i = 0; i < w->nmeta; i++) {
            if (i)
                avk_buf_append(h, ",", 1);
            avk_json_write_string(h, w->meta[i].key, strlen(w->meta[i].key));
            avk_buf_append(h, ":", 1);
            avk_json_write_string(h, w->meta[i].value, strlen(w->meta[i].value));
        }
        avk_buf_append(h, "}", 1);
    }
    for (int i = 0; i < w->n; i++) {
        const st_wtensor *t = &w->t[i];
        if (i || w->nmeta > 0)
            avk_buf_append(h, ",", 1);
        avk_json_write_string(h, t->name, strlen(t->name));
        avk_buf_printf(h, ":{\"dtype\":\"%s\",\"shape\":[", avk_st_dtype_name(t->dtype));
        for (int k = 0; k < t->ndim; k++)
            avk_buf_printf(h, "%s%lld", k ? "," : "", (long long)t->shape[k]);
        avk_buf_printf(h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                       (unsigned long long)(off + t->nbytes));
        off += t->nbytes;
    }
    avk_buf_append(h, "}", 1);
    while (h->len % 8 != 0)
        avk_buf_append(h, " ", 1);
}

/* The file image: header size, header, tensor data. 0 or -1. */
static int write_image(const avk_st_writer *w, const avk_buf *h, FILE *fp, const char *path)
{
    unsigned char size_le[8];
    for (int i = 0; i < 8; i++)
        size_le[i] = (unsigned char)((uint64_t)h->len >> (8 * i));
    int rc = avk_fwrite_all(fp, size_le, 8, path);
    if (rc == 0)
        rc = avk_fwrite_all(fp, h->data, h->len, path);
    for (int i = 0; i < w->n && rc == 0; i++)
        rc = avk_fwrite_all(fp, w->t[i].data, w->t[i].nbytes, path);
    return rc;
}

int avk_st_writer_write(avk_st_writer *w, const char *path)
{
    if (w->err) {
        avk_error("%s: %s", path, w->err);
        avk_st_writer_free(w);
        return -1;
    }
    avk_buf h = {0};
    build_header(w, &h);
    if (h.len > AVK_ST_MAX_HEADER) {
        avk_error("%s: header of %zu bytes is beyond the %d-byte limit", path, h.len,
                  AVK_ST_MAX_HEADER);
        avk_buf_free(&h);
        avk_st_writer_free(w);
        return -1;
    }
    avk_out *o = avk_out_open(path, 1);
    if (!o) {
        avk_buf_free(&h);
        avk_st_writer_free(w);
        return -1;
    }
    int rc = write_image(w, &h, o->fp, path);
    avk_buf_free(&h);
    avk_st_writer_free(w);
    if (rc != 0) {
        avk_out_abort(o);
        return -1;
    }
    return avk_out_commit(o);
}

int avk_st_writer_write_fp(avk_st_writer *w, FILE *fp, const char *path)
{
    if (w->err) {
        avk_error("%s: %s", path, w->err);
        avk_st_writer_free(w);
        return -1;
    }
    avk_buf h = {0};
    build_header(w, &h);
    int rc = -1;
    if (h.len > AVK_ST_MAX_HEADER)
        avk_error("%s: header of %zu bytes is beyond the %d-byte limit", path, h.len,
                  AVK_ST_MAX_HEADER);
    else
        rc = write_image(w, &h, fp, path);
    avk_buf_free(&h);
    avk_st_writer_free(w);
    return rc;
}
