/* Records of the tensor stream: a key, metadata pairs and named tensors,
 * plus the element types (codes, names, sizes). See include/avkit/io/avt.h. */
#include "avkit/io/avt.h"
#include "avkit/util/common.h"

#include <stdlib.h>
#include <string.h>

static const struct { const char *name; size_t size; } dtypes[] = {
    [AVT_F32] = {"f32", 4},  [AVT_F16] = {"f16", 2},  [AVT_BF16] = {"bf16", 2},
    [AVT_F64] = {"f64", 8},  [AVT_I8] = {"i8", 1},    [AVT_I16] = {"i16", 2},
    [AVT_I32] = {"i32", 4},  [AVT_I64] = {"i64", 8},  [AVT_U8] = {"u8", 1},
    [AVT_U16] = {"u16", 2},  [AVT_BOOL] = {"bool", 1},
};
#define NDTYPES ((int)(sizeof dtypes / sizeof dtypes[0]))

/* Bytes per element of a dtype code; 0 for an unknown code. */
size_t avt_dtype_size(int dtype)
{
    return dtype > 0 && dtype < NDTYPES ? dtypes[dtype].size : 0;
}

/* The short name of a dtype code; NULL for an unknown code. */
const char *avt_dtype_name(int dtype)
{
    return dtype > 0 && dtype < NDTYPES ? dtypes[dtype].name : NULL;
}

/* The dtype code for a short name; -1 if there is none. */
int avt_dtype_from_name(const char *name)
{
    for (int i = 1; i < NDTYPES; i++)
        if (strcmp(dtypes[i].name, name) == 0)
            return i;
    return -1;
}

/* An empty record with the given key. */
void avt_record_init(avt_record *r, const char *key)
{
    memset(r, 0, sizeof *r);
    r->key = avk_xstrdup(key ? key : "");
}

/* Free everything the record owns and leave it empty. */
void avt_record_free(avt_record *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->nmeta; i++) {
        free(r->meta[i].key);
        free(r->meta[i].value);
    }
    for (int i = 0; i < r->ntensors; i++) {
        free(r->tensors[i].name);
        free(r->tensors[i].data);
    }
    free(r->meta);
    free(r->tensors);
    free(r->key);
    memset(r, 0, sizeof *r);
}

/* Set a metadata value, replacing an existing one of the same key. */
void avt_record_set_meta(avt_record *r, const char *key, const char *value)
{
    for (int i = 0; i < r->nmeta; i++)
        if (strcmp(r->meta[i].key, key) == 0) {
            free(r->meta[i].value);
            r->meta[i].value = avk_xstrdup(value);
            return;
        }
    r->meta = avk_xrealloc(r->meta, (size_t)(r->nmeta + 1) * sizeof *r->meta);
    r->meta[r->nmeta].key = avk_xstrdup(key);
    r->meta[r->nmeta].value = avk_xstrdup(value);
    r->nmeta++;
}

/* The value of a metadata key, or NULL when absent. */
const char *avt_record_get_meta(const avt_record *r, const char *key)
{
    for (int i = 0; i < r->nmeta; i++)
        if (strcmp(r->meta[i].key, key) == 0)
            return r->meta[i].value;
    return NULL;
}

/* The tensor with that name, or NULL. */
avt_tensor *avt_record_find(const avt_record *r, const char *name)
{
    for (int i = 0; i < r->ntensors; i++)
        if (strcmp(r->tensors[i].name, name) == 0)
            return &r->tensors[i];
    return NULL;
}

/* Number of elements: the product of the shape (1 for a scalar). */
int64_t avt_tensor_numel(const avt_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

/* Add (or replace) a tensor that takes ownership of malloc'ed data. */
avt_tensor *avt_record_take_tensor(avt_record *r, const char *name, int dtype,
                                   int ndim, const int64_t *shape, void *data)
{
    avt_tensor *t = avt_record_find(r, name);
    if (t) {
        free(t->data);
    } else {
        r->tensors = avk_xrealloc(r->tensors,
                                  (size_t)(r->ntensors + 1) * sizeof *r->tensors);
        t = &r->tensors[r->ntensors++];
        memset(t, 0, sizeof *t);
        t->name = avk_xstrdup(name);
    }
    if (ndim < 0)
        ndim = 0;
    if (ndim > AVT_MAX_DIMS)
        ndim = AVT_MAX_DIMS;
    t->dtype = dtype;
    t->ndim = ndim;
    memset(t->shape, 0, sizeof t->shape);
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->data = data;
    t->nbytes = (size_t)avt_tensor_numel(t) * avt_dtype_size(dtype);
    return t;
}

/* Add (or replace) a tensor, copying its data. */
avt_tensor *avt_record_add_tensor(avt_record *r, const char *name, int dtype,
                                  int ndim, const int64_t *shape,
                                  const void *data)
{
    size_t n = avt_dtype_size(dtype);
    for (int i = 0; i < ndim && i < AVT_MAX_DIMS; i++)
        n *= (size_t)shape[i];
    void *copy = avk_xmalloc(n);
    if (n && data)
        memcpy(copy, data, n);
    else if (n)
        memset(copy, 0, n);
    return avt_record_take_tensor(r, name, dtype, ndim, shape, copy);
}

/* Deep copy of a record. */
void avt_record_copy(avt_record *dst, const avt_record *src)
{
    avt_record_init(dst, src->key);
    for (int i = 0; i < src->nmeta; i++)
        avt_record_set_meta(dst, src->meta[i].key, src->meta[i].value);
    for (int i = 0; i < src->ntensors; i++) {
        const avt_tensor *t = &src->tensors[i];
        avt_record_add_tensor(dst, t->name, t->dtype, t->ndim, t->shape, t->data);
    }
}
