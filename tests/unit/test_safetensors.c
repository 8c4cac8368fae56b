/* safetensors written and read back by the C library: every dtype, 0 to 8
 * dimensions, empty tensors, metadata, the on-disk layout (8-byte aligned
 * header padded with spaces, contiguous offsets in the order added), the
 * lookups, and the writer refusing bad tensors without leaving a file. */
#include "avkit/io/safetensors.h"
#include "avkit/util/common.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NT 14

static struct spec {
    const char *name;
    int dtype, ndim;
    int64_t shape[AVT_MAX_DIMS];
    size_t elsize;
} specs[NT] = {
    {"f64", AVT_F64, 2, {3, 2}, 8},     {"f32", AVT_F32, 1, {7}, 4},
    {"f16", AVT_F16, 3, {2, 1, 3}, 2},   {"bf16", AVT_BF16, 1, {5}, 2},
    {"i64", AVT_I64, 0, {0}, 8},         {"i32", AVT_I32, 2, {2, 2}, 4},
    {"i16", AVT_I16, 1, {3}, 2},         {"i8", AVT_I8, 1, {9}, 1},
    {"u16", AVT_U16, 2, {1, 3}, 2},      {"u8", AVT_U8, 1, {11}, 1},
    {"bool", AVT_BOOL, 1, {4}, 1},       {"empty", AVT_F32, 2, {0, 5}, 4},
    {"layer.0.weight \"quoted\"\n\xc3\xa9", AVT_BF16, 8, {1, 2, 1, 2, 1, 1, 2, 1}, 2},
    {"after_empty", AVT_U8, 1, {1}, 1},
};

static size_t spec_bytes(const struct spec *s)
{
    size_t n = s->elsize;
    for (int i = 0; i < s->ndim; i++)
        n *= (size_t)s->shape[i];
    return n;
}

/* Deterministic bytes for tensor k (BOOL gets 0/1). */
static unsigned char *pattern(int k)
{
    size_t n = spec_bytes(&specs[k]);
    unsigned char *p = malloc(n ? n : 1);
    uint32_t x = 2463534242u + (uint32_t)k * 977u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        p[i] = specs[k].dtype == AVT_BOOL ? (unsigned char)(x & 1) : (unsigned char)x;
    }
    return p;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    *n = (size_t)ftell(fp);
    rewind(fp);
    unsigned char *b = malloc(*n + 1);
    if (fread(b, 1, *n, fp) != *n) {
        free(b);
        b = NULL;
    }
    fclose(fp);
    return b;
}

/* A writer with one bad add: write fails, names file and tensor, no file. */
static void writer_refuses(const char *why, const char *name, int dtype, int ndim,
                           const int64_t *shape, const char *want)
{
    float data[4] = {0};
    const char *path = "bad.safetensors";
    avk_st_writer *w = avk_st_writer_new();
    avk_st_writer_add(w, "ok", AVT_F32, 1, (int64_t[]){4}, data);
    avk_st_writer_add(w, name, dtype, ndim, shape, data);
    int rc = avk_st_writer_write(w, path);
    ok(rc == -1 && strncmp(avk_errmsg(), "bad.safetensors: ", 17) == 0 &&
       strstr(avk_errmsg(), want) && access(path, F_OK) != 0,
       "writer refuses %s: %s", why, avk_errmsg());
}

int main(void)
{
    unsigned char *data[NT];
    const char *path = "all.safetensors";
    avk_st_writer *w = avk_st_writer_new();
    avk_st_writer_meta(w, "format", "pt");
    avk_st_writer_meta(w, "config", "{\"dim\": 64, \"note\": \"caf\xc3\xa9\\n\"}");
    avk_st_writer_meta(w, "format", "avkit");      /* replaces */
    for (int k = 0; k < NT; k++) {
        data[k] = pattern(k);
        avk_st_writer_add(w, specs[k].name, specs[k].dtype, specs[k].ndim,
                          specs[k].shape, data[k]);
    }
    ok(avk_st_writer_write(w, path) == 0, "write %d tensors of every dtype (%s)", NT,
       avk_errmsg());

    avk_st_file *f = avk_st_open(path);
    ok(f != NULL, "open what was written (%s)", f ? "" : avk_errmsg());
    if (!f)
        return done_testing();
    ok(f->ntensors == NT, "tensor count %d", f->ntensors);
    int same = 1, order = 1, found = 1;
    for (int k = 0; k < NT && k < f->ntensors; k++) {
        const avk_st_tensor *t = &f->tensors[k];
        order &= strcmp(t->name, specs[k].name) == 0;
        same &= t->dtype == specs[k].dtype && t->ndim == specs[k].ndim &&
                memcmp(t->shape, specs[k].shape, (size_t)t->ndim * sizeof(int64_t)) == 0 &&
                t->nbytes == spec_bytes(&specs[k]) &&
                (t->nbytes == 0 || memcmp(t->data, data[k], t->nbytes) == 0);
        found &= avk_st_find(f, specs[k].name) == t;
    }
    ok(order, "tensors come back in the order added");
    ok(same, "dtype, shape and bytes agree bit-exactly for every tensor");
    ok(found, "avk_st_find finds every tensor");
    ok(avk_st_find(f, "nope") == NULL && avk_st_find(f, "f3") == NULL,
       "avk_st_find of a missing name is NULL");
    ok(f->nmeta == 2 && strcmp(avk_st_meta(f, "format"), "avkit") == 0 &&
       strcmp(avk_st_meta(f, "config"), "{\"dim\": 64, \"note\": \"caf\xc3\xa9\\n\"}") == 0,
       "metadata round trip (a replaced key keeps one entry)");
    ok(avk_st_meta(f, "missing") == NULL, "missing metadata key is NULL");

    /* the bytes on disk */
    size_t n = 0;
    unsigned char *raw = slurp(path, &n);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | raw[i];
    ok(hlen % 8 == 0 && raw[8] == '{', "header size %llu is a multiple of 8",
       (unsigned long long)hlen);
    size_t end = 8 + hlen;
    while (end > 8 && raw[end - 1] == ' ')
        end--;
    ok(raw[end - 1] == '}' && 8 + hlen - end < 8, "header padded with %zu spaces",
       (size_t)(8 + hlen - end));
    size_t total = 0;
    int contiguous = 1;
    for (int k = 0; k < NT; k++) {
        contiguous &= (const unsigned char *)f->tensors[k].data ==
                      (const unsigned char *)f->map + 8 + hlen + total;
        total += spec_bytes(&specs[k]);
    }
    ok(contiguous && n == 8 + hlen + total, "data contiguous in order added, file %zu bytes", n);

    /* parse the same image from memory */
    avk_st_file *g = avk_st_parse_buffer(raw, n, "mem");
    ok(g && g->ntensors == NT && g->map == NULL &&
       memcmp(g->tensors[1].data, data[1], spec_bytes(&specs[1])) == 0,
       "avk_st_parse_buffer reads the same image from memory");
    avk_st_close(g);
    free(raw);
    avk_st_close(f);
    for (int k = 0; k < NT; k++)
        free(data[k]);

    /* an empty file: no tensors, no metadata */
    ok(avk_st_writer_write(avk_st_writer_new(), "none.safetensors") == 0,
       "write a file with no tensors");
    raw = slurp("none.safetensors", &n);
    ok(raw && n == 16 && memcmp(raw, "\x08\0\0\0\0\0\0\0{}      ", 16) == 0,
       "no tensors: header {} padded to 8 bytes");
    free(raw);
    f = avk_st_open("none.safetensors");
    ok(f && f->ntensors == 0 && f->nmeta == 0, "and it reads back empty");
    avk_st_close(f);

    /* dtype names */
    int names = 1;
    for (int d = AVT_F32; d <= AVT_BOOL; d++)
        names &= avk_st_dtype_from_name(avk_st_dtype_name(d)) == d;
    ok(names && strcmp(avk_st_dtype_name(AVT_BF16), "BF16") == 0 &&
       avk_st_dtype_name(99) == NULL && avk_st_dtype_from_name("f32") == -1,
       "dtype names are the format's (F32, BF16, ...)");

    writer_refuses("an unknown dtype", "x", 42, 1, (int64_t[]){4}, "tensor \"x\": dtype code 42");
    writer_refuses("9 dimensions", "x", AVT_U8, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1},
                   "tensor \"x\": 9 dimensions");
    writer_refuses("a negative dimension", "x", AVT_U8, 1, (int64_t[]){-1},
                   "tensor \"x\": negative or overflowing shape");
    writer_refuses("an overflowing shape", "x", AVT_F64, 2,
                   (int64_t[]){INT64_MAX / 2, 3}, "tensor \"x\": negative or overflowing shape");
    writer_refuses("a duplicate name", "ok", AVT_F32, 1, (int64_t[]){4}, "tensor \"ok\" added twice");
    writer_refuses("the name __metadata__", "__metadata__", AVT_F32, 1, (int64_t[]){4},
                   "cannot be named __metadata__");
    writer_refuses("a name that is not UTF-8", "x\xff", AVT_F32, 1, (int64_t[]){4},
                   "tensor name \"x\xff\" is not valid UTF-8");
    w = avk_st_writer_new();
    avk_st_writer_meta(w, "k", "caf\xe9");
    avk_st_writer_add(w, "x", AVT_F32, 1, (int64_t[]){4}, (float[4]){0});
    ok(avk_st_writer_write(w, "bad.safetensors") == -1 &&
       strcmp(avk_errmsg(), "bad.safetensors: __metadata__ entry \"k\" is not valid UTF-8") == 0
       && access("bad.safetensors", F_OK) != 0,
       "writer refuses metadata that is not UTF-8: %s", avk_errmsg());
    w = avk_st_writer_new();
    avk_st_writer_add(w, "x", AVT_F32, 1, (int64_t[]){4}, (float[4]){0});
    ok(avk_st_writer_write(w, "no/such/dir/x.safetensors") == -1 &&
       strncmp(avk_errmsg(), "no/such/dir/x.safetensors: ", 27) == 0,
       "writing into a missing directory fails naming the file: %s", avk_errmsg());
    avk_st_writer_free(NULL);
    avk_st_close(NULL);
    return done_testing();
}
