/* Writing the tensor stream: stream header, one record at a time (header
 * with its table and CRC, then payloads), and the end block with the
 * record index. The byte layout is in man/man5/avt.5. */
#include "avkit/io/avt.h"
#include "avkit/util/common.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "avt payloads are little-endian; this host needs byte swapping"
#endif

struct avt_writer {
    avk_out *out;
    char    *path;
    int      flags, level, failed;
    int64_t  pos;              /* bytes written so far */
    int64_t *offsets;          /* byte offset of each record */
    size_t   count, cap;
};

static void put_u32(avk_buf *b, uint32_t v)
{
    unsigned char p[4] = {v, v >> 8, v >> 16, v >> 24};
    avk_buf_append(b, p, 4);
}

static void put_u64(avk_buf *b, uint64_t v)
{
    unsigned char p[8];
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
    avk_buf_append(b, p, 8);
}

static void put_str(avk_buf *b, const char *s)
{
    size_t n = strlen(s);
    put_u32(b, (uint32_t)n);
    avk_buf_append(b, s, n);
}

/* Write bytes and count them; sets w->failed on error. */
static int emit(avt_writer *w, const void *p, size_t n)
{
    if (avk_fwrite_all(w->out->fp, p, n, w->path) != 0) {
        w->failed = 1;
        return -1;
    }
    w->pos += (int64_t)n;
    return 0;
}

/* Open a stream for writing and put out the stream header. */
avt_writer *avt_writer_open(const char *path, int flags, int level)
{
    avk_out *out = avk_out_open(path, 1);
    if (!out)
        return NULL;
    avt_writer *w = avk_xcalloc(1, sizeof *w);
    w->out = out;
    w->path = avk_xstrdup(avk_out_name(path));
    w->flags = flags;
    w->level = level >= 1 && level <= 9 ? level : 6;
    avk_buf b = {0};
    avk_buf_append(&b, AVT_MAGIC, 8);
    put_u32(&b, AVT_VERSION);
    put_u32(&b, 0);
    int rc = emit(w, b.data, b.len);
    avk_buf_free(&b);
    if (rc != 0) {
        avt_writer_abort(w);
        return NULL;
    }
    return w;
}

/* CRC-32 (zlib's) of a buffer of any length. */
static uint32_t crc_of(const void *p, size_t n)
{
    return avt_crc32(0, p, n);
}

/* Deflate src into a fresh buffer; returns its length, or 0 when the
 * compressed form would not be smaller (the tensor is then stored raw). */
static size_t deflate_tensor(const void *src, size_t n, int level, unsigned char **outp)
{
    uLongf bound = compressBound((uLong)n);
    if (n < 64 || bound == 0)
        return 0;
    unsigned char *out = malloc(bound);
    if (!out)
        return 0;
    uLongf len = bound;
    if (compress2(out, &len, src, (uLong)n, level) != Z_OK || len >= n) {
        free(out);
        return 0;
    }
    *outp = out;
    return len;
}

/* Check that a record can be written: names, types, shapes, sizes. */
static int check_record(avt_writer *w, const avt_record *r)
{
    for (int i = 0; i < r->ntensors; i++) {
        const avt_tensor *t = &r->tensors[i];
        size_t esz = avt_dtype_size(t->dtype);
        if (!t->name || !t->name[0])
            return avk_error("%s: record %zu: tensor %d has no name", w->path, w->count, i);
        if (esz == 0)
            return avk_error("%s: record %zu tensor '%s': unknown dtype %d",
                             w->path, w->count, t->name, t->dtype);
        if (t->ndim < 0 || t->ndim > AVT_MAX_DIMS)
            return avk_error("%s: record %zu tensor '%s': %d dimensions (at most %d)",
                             w->path, w->count, t->name, t->ndim, AVT_MAX_DIMS);
        size_t n = esz;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0)
                return avk_error("%s: record %zu tensor '%s': negative dimension",
                                 w->path, w->count, t->name);
            if (t->shape[d] && n > SIZE_MAX / (size_t)t->shape[d])
                return avk_error("%s: record %zu tensor '%s': size overflows",
                                 w->path, w->count, t->name);
            n *= (size_t)t->shape[d];
        }
        if (n != t->nbytes || (n && !t->data))
            return avk_error("%s: record %zu tensor '%s': %zu data bytes for a "
                             "shape that needs %zu", w->path, w->count, t->name,
                             t->nbytes, n);
        for (int j = 0; j < i; j++)
            if (strcmp(r->tensors[j].name, t->name) == 0)
                return avk_error("%s: record %zu: duplicate tensor name '%s'",
                                 w->path, w->count, t->name);
    }
    return 0;
}

/* Write one record: header (key, metadata, tensor table), its CRC, then
 * the payloads in table order. */
int avt_write_record(avt_writer *w, const avt_record *r)
{
    if (w->failed)
        return avk_error("%s: stream already failed", w->path);
    if (check_record(w, r) != 0)
        return -1;
    int nt = r->ntensors;
    unsigned char **packed = avk_xcalloc((size_t)nt + 1, sizeof *packed);
    size_t *stored = avk_xcalloc((size_t)nt + 1, sizeof *stored);
    avk_buf h = {0};
    put_str(&h, r->key ? r->key : "");
    put_u32(&h, (uint32_t)r->nmeta);
    for (int i = 0; i < r->nmeta; i++) {
        put_str(&h, r->meta[i].key);
        put_str(&h, r->meta[i].value);
    }
    put_u32(&h, (uint32_t)nt);
    for (int i = 0; i < nt; i++) {
        const avt_tensor *t = &r->tensors[i];
        const void *payload = t->data;
        stored[i] = t->nbytes;
        int comp = AVT_COMP_NONE;
        if (w->flags & AVT_WRITE_ZLIB) {
            size_t n = deflate_tensor(t->data, t->nbytes, w->level, &packed[i]);
            if (n) {
                comp = AVT_COMP_ZLIB;
                stored[i] = n;
                payload = packed[i];
            }
        }
        put_str(&h, t->name);
        unsigned char codes[4] = {(unsigned char)t->dtype, (unsigned char)t->ndim,
                                  (unsigned char)comp, 0};
        avk_buf_append(&h, codes, 4);
        for (int d = 0; d < t->ndim; d++)
            put_u64(&h, (uint64_t)t->shape[d]);
        put_u64(&h, t->nbytes);
        put_u64(&h, stored[i]);
        put_u32(&h, crc_of(payload, stored[i]));
    }
    int rc = -1;
    if (h.len > AVT_MAX_HEADER) {
        avk_error("%s: record %zu: header of %zu bytes exceeds the %u-byte limit",
                  w->path, w->count, h.len, AVT_MAX_HEADER);
        goto out;
    }
    if (w->count == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        w->offsets = avk_xrealloc(w->offsets, w->cap * sizeof *w->offsets);
    }
    w->offsets[w->count] = w->pos;
    avk_buf pre = {0};
    avk_buf_append(&pre, "AVTR", 4);
    put_u32(&pre, (uint32_t)h.len);
    avk_buf_append(&pre, h.data, h.len);
    put_u32(&pre, crc_of(h.data, h.len));
    rc = emit(w, pre.data, pre.len);
    avk_buf_free(&pre);
    for (int i = 0; i < nt && rc == 0; i++)
        rc = emit(w, packed[i] ? packed[i] : r->tensors[i].data, stored[i]);
    if (rc == 0)
        w->count++;
out:
    for (int i = 0; i < nt; i++)
        free(packed[i]);
    free(packed);
    free(stored);
    avk_buf_free(&h);
    return rc;
}

/* End block (record index) and tail, then close and rename into place. */
int avt_writer_finish(avt_writer *w)
{
    if (w->failed) {
        avt_writer_abort(w);
        return -1;
    }
    int64_t end = w->pos;
    avk_buf b = {0};
    put_u64(&b, w->count);
    for (size_t i = 0; i < w->count; i++)
        put_u64(&b, (uint64_t)w->offsets[i]);
    uint32_t crc = crc_of(b.data, b.len);
    put_u32(&b, crc);
    put_u64(&b, (uint64_t)end);
    avk_buf_append(&b, "AVTZ", 4);
    int rc = emit(w, "AVTE", 4);
    if (rc == 0)
        rc = emit(w, b.data, b.len);
    avk_buf_free(&b);
    if (rc != 0) {
        avt_writer_abort(w);
        return -1;
    }
    rc = avk_out_commit(w->out);
    free(w->offsets);
    free(w->path);
    free(w);
    return rc;
}

/* Give up: the temporary file is removed, nothing appears. */
void avt_writer_abort(avt_writer *w)
{
    if (!w)
        return;
    avk_out_abort(w->out);
    free(w->offsets);
    free(w->path);
    free(w);
}
