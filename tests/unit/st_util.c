/* A helper for the safetensors interop test (tests/t203): not a TAP test.
 *
 *   st_util write FILE      write the fixture set that tests/st_interop.py
 *                           expects (every dtype, special values, metadata)
 *   st_util dump FILE       read FILE and print one JSON line per metadata
 *                           entry and per tensor (name, dtype, shape, hex)
 *   st_util copy IN OUT     read IN and write its tensors and metadata to OUT
 *
 * The fixture's bytes come from xorshift32, which st_interop.py repeats. */
#include "avkit/io/safetensors.h"
#include "avkit/util/common.h"
#include "avkit/util/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NFIX 11
static const struct { const char *dtype; int ndim; int64_t shape[3]; size_t elsize; } fix[NFIX] = {
    {"F64", 2, {2, 3}, 8}, {"F32", 3, {2, 1, 4}, 4}, {"F16", 1, {5}, 2},
    {"BF16", 2, {3, 2}, 2}, {"I64", 1, {3}, 8}, {"I32", 0, {0}, 4},
    {"I16", 2, {2, 2}, 2}, {"I8", 1, {7}, 1}, {"U16", 1, {3}, 2},
    {"U8", 2, {3, 3}, 1}, {"BOOL", 1, {6}, 1},
};

/* xorshift32 bytes for fixture tensor k (seed 2463534242 + 977 k). */
static unsigned char *fixture_bytes(int k, size_t n)
{
    unsigned char *p = avk_xmalloc(n ? n : 1);
    uint32_t x = 2463534242u + 977u * (uint32_t)k;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        p[i] = strcmp(fix[k].dtype, "BOOL") == 0 ? (unsigned char)(x & 1) : (unsigned char)x;
    }
    return p;
}

static const float v_f32[] = {0.5f, -1.25f, 3.0e38f, INFINITY, -0.0f, 1e-45f};
static const double v_f64[] = {0.1, -2.5, 1e308, -INFINITY, 5e-324};
static const uint16_t v_f16[] = {0x3C00, 0xC000, 0x3800, 0x7BFF, 0xFC00, 0x0001};
static const uint16_t v_bf16[] = {0x3F80, 0xC000, 0x3F00, 0x7F7F, 0xFF80};
static const int64_t v_i64[] = {INT64_MIN, -1, 0, INT64_MAX};
static const int32_t v_i32[] = {INT32_MIN, -7, INT32_MAX};
static const int16_t v_i16[] = {INT16_MIN, 300, INT16_MAX};
static const int8_t v_i8[] = {-128, -1, 127};
static const uint16_t v_u16[] = {0, 40000, 65535};
static const uint8_t v_u8[] = {0, 128, 255};
static const uint8_t v_bool[] = {1, 0, 1};

static int write_fixture(const char *path)
{
    avk_st_writer *w = avk_st_writer_new();
    unsigned char *bufs[NFIX];
    avk_st_writer_meta(w, "format", "pt");
    avk_st_writer_meta(w, "config", "{\"dim\": 64, \"depth\": 2}");
    avk_st_writer_meta(w, "note", "caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\"\\\n\t\x01");
    for (int k = 0; k < NFIX; k++) {
        size_t n = fix[k].elsize;
        for (int i = 0; i < fix[k].ndim; i++)
            n *= (size_t)fix[k].shape[i];
        bufs[k] = fixture_bytes(k, n);
        char name[64];
        snprintf(name, sizeof name, "rand.%s", fix[k].dtype);
        avk_st_writer_add(w, name, avk_st_dtype_from_name(fix[k].dtype), fix[k].ndim,
                          fix[k].shape, bufs[k]);
    }
#define V(name, dt, arr) \
    avk_st_writer_add(w, name, dt, 1, (int64_t[]){sizeof arr / sizeof arr[0]}, arr)
    V("values.F32", AVT_F32, v_f32);
    V("values.F64", AVT_F64, v_f64);
    V("values.F16", AVT_F16, v_f16);
    V("values.BF16", AVT_BF16, v_bf16);
    V("values.I64", AVT_I64, v_i64);
    V("values.I32", AVT_I32, v_i32);
    V("values.I16", AVT_I16, v_i16);
    V("values.I8", AVT_I8, v_i8);
    V("values.U16", AVT_U16, v_u16);
    V("values.U8", AVT_U8, v_u8);
    V("values.BOOL", AVT_BOOL, v_bool);
#undef V
    avk_st_writer_add(w, "empty", AVT_F32, 2, (int64_t[]){0, 3}, NULL);
    int rc = avk_st_writer_write(w, path);
    for (int k = 0; k < NFIX; k++)
        free(bufs[k]);
    return rc;
}

static int dump(const char *path)
{
    avk_st_file *f = avk_st_open(path);
    if (!f)
        return -1;
    avk_buf b = {0};
    for (int i = 0; i < f->nmeta; i++) {
        avk_buf_printf(&b, "{\"meta\":");
        avk_json_write_string(&b, f->meta[i].key, strlen(f->meta[i].key));
        avk_buf_printf(&b, ",\"value\":");
        avk_json_write_string(&b, f->meta[i].value, strlen(f->meta[i].value));
        avk_buf_printf(&b, "}\n");
    }
    for (int i = 0; i < f->ntensors; i++) {
        const avk_st_tensor *t = &f->tensors[i];
        avk_buf_printf(&b, "{\"name\":");
        avk_json_write_string(&b, t->name, strlen(t->name));
        avk_buf_printf(&b, ",\"dtype\":\"%s\",\"shape\":[", avk_st_dtype_name(t->dtype));
        for (int k = 0; k < t->ndim; k++)
            avk_buf_printf(&b, "%s%lld", k ? "," : "", (long long)t->shape[k]);
        avk_buf_printf(&b, "],\"hex\":\"");
        for (size_t k = 0; k < t->nbytes; k++)
            avk_buf_printf(&b, "%02x", ((const unsigned char *)t->data)[k]);
        avk_buf_printf(&b, "\"}\n");
    }
    fwrite(b.data, 1, b.len, stdout);
    avk_buf_free(&b);
    avk_st_close(f);
    return 0;
}

static int copy(const char *in, const char *out)
{
    avk_st_file *f = avk_st_open(in);
    if (!f)
        return -1;
    avk_st_writer *w = avk_st_writer_new();
    for (int i = 0; i < f->nmeta; i++)
        avk_st_writer_meta(w, f->meta[i].key, f->meta[i].value);
    for (int i = 0; i < f->ntensors; i++)
        avk_st_writer_add(w, f->tensors[i].name, f->tensors[i].dtype, f->tensors[i].ndim,
                          f->tensors[i].shape, f->tensors[i].data);
    int rc = avk_st_writer_write(w, out);
    avk_st_close(f);
    return rc;
}

int main(int argc, char **argv)
{
    avk_tool_init(argv[0]);
    int rc;
    if (argc == 3 && strcmp(argv[1], "write") == 0)
        rc = write_fixture(argv[2]);
    else if (argc == 3 && strcmp(argv[1], "dump") == 0)
        rc = dump(argv[2]);
    else if (argc == 4 && strcmp(argv[1], "copy") == 0)
        rc = copy(argv[2], argv[3]);
    else
        avk_usage_error("usage: st_util write FILE | dump FILE | copy IN OUT");
    if (rc != 0)
        avk_die_lib();
    return 0;
}
