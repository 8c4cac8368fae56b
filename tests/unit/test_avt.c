/* Unit tests for the tensor stream: every dtype round trips bit-exactly
 * (plain and zlib, file and pipe), the index gives count and seek, and
 * the half/bfloat16 conversions round correctly. */
#include "tap.h"
#include "avkit/io/avt.h"
#include "avkit/util/common.h"

#include <string.h>
#include <zlib.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t rng = 42;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A record with one tensor of every dtype filled with random bits. */
static void make_record(avt_record *r, int i)
{
    char key[32];
    snprintf(key, sizeof key, "clip-%d", i);
    avt_record_init(r, key);
    avt_record_set_meta(r, "caption", "two words\nand a newline");
    avt_record_set_meta(r, "fps", "24");
    for (int d = AVT_F32; d <= AVT_BOOL; d++) {
        int64_t shape[4] = {3, 1 + i, 5, 2};
        int ndim = 1 + d % 4;
        int64_t n = 1;
        for (int k = 0; k < ndim; k++)
            n *= shape[k];
        size_t bytes = (size_t)n * avt_dtype_size(d);
        unsigned char *p = avk_xmalloc(bytes);
        for (size_t k = 0; k < bytes; k++)
            p[k] = d == AVT_BOOL ? next() & 1 : (d % 2 ? (unsigned char)next() : (unsigned char)(k % 7));
        avt_record_take_tensor(r, avt_dtype_name(d), d, ndim, shape, p);
    }
    int64_t none[1] = {0};
    avt_record_add_tensor(r, "empty", AVT_F32, 1, none, NULL);
    avt_record_add_tensor(r, "scalar", AVT_F64, 0, none, &(double){2.5});
}

/* Same key, metadata, and tensors with identical bytes. */
static int same_record(const avt_record *a, const avt_record *b)
{
    if (strcmp(a->key, b->key) || a->nmeta != b->nmeta || a->ntensors != b->ntensors)
        return 0;
    for (int i = 0; i < a->nmeta; i++)
        if (strcmp(a->meta[i].key, b->meta[i].key) || strcmp(a->meta[i].value, b->meta[i].value))
            return 0;
    for (int i = 0; i < a->ntensors; i++) {
        const avt_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        if (strcmp(x->name, y->name) || x->dtype != y->dtype || x->ndim != y->ndim ||
            x->nbytes != y->nbytes || memcmp(x->shape, y->shape, sizeof x->shape) ||
            (x->nbytes && memcmp(x->data, y->data, x->nbytes)))
            return 0;
    }
    return 1;
}

/* Write n records to path with flags. */
static int write_stream(const char *path, int flags, int n)
{
    avt_writer *w = avt_writer_open(path, flags, 0);
    if (!w)
        return -1;
    for (int i = 0; i < n; i++) {
        avt_record r;
        make_record(&r, i);
        if (avt_write_record(w, &r) != 0) {
            avt_record_free(&r);
            avt_writer_abort(w);
            return -1;
        }
        avt_record_free(&r);
    }
    return avt_writer_finish(w);
}

/* Read every record back and compare; returns records matched or -1. */
static int check_stream(avt_reader *rd, int n)
{
    int i = 0, got;
    avt_record r, want;
    while ((got = avt_read_record(rd, &r)) == 1) {
        make_record(&want, i);
        int same = same_record(&r, &want);
        avt_record_free(&r);
        avt_record_free(&want);
        if (!same)
            return -1;
        i++;
    }
    return got == 0 && i == n ? i : -1;
}

int main(void)
{
    uint64_t seed = rng;
    ok(write_stream("plain.avt", 0, 5) == 0, "writes 5 records of every dtype");
    rng = seed;
    ok(write_stream("zlib.avt", AVT_WRITE_ZLIB, 5) == 0, "writes them with zlib");
    struct stat a, b;
    stat("plain.avt", &a);
    stat("zlib.avt", &b);
    ok(b.st_size < a.st_size, "zlib makes it smaller (%lld < %lld bytes)",
       (long long)b.st_size, (long long)a.st_size);

    const char *files[] = {"plain.avt", "zlib.avt"};
    for (int f = 0; f < 2; f++) {
        rng = seed;
        avt_reader *rd = avt_reader_open(files[f]);
        ok(rd && check_stream(rd, 5) == 5, "%s: every record bit-exact", files[f]);
        avt_reader_close(rd);

        rng = seed;
        char cmd[64];
        snprintf(cmd, sizeof cmd, "cat %s", files[f]);
        FILE *pipe = popen(cmd, "r");
        rd = avt_reader_open_fp(pipe, "pipe");
        ok(rd && check_stream(rd, 5) == 5, "%s through a pipe: bit-exact", files[f]);
        ok(rd && avt_reader_count(rd) == -1 && strstr(avk_errmsg(), "not a regular file"),
           "a pipe has no random access: %s", avk_errmsg());
        avt_reader_close(rd);
        pclose(pipe);
    }

    avt_reader *rd = avt_reader_open("zlib.avt");
    ok(avt_reader_count(rd) == 5, "count from the index");
    avt_record r, want;
    int seek_ok = 1;
    for (int i = 4; i >= 0; i--) {
        rng = seed;
        for (int k = 0; k <= i; k++) {
            if (k)
                avt_record_free(&want);
            make_record(&want, k);
        }
        seek_ok &= avt_reader_seek(rd, i) == 0 && avt_read_record(rd, &r) == 1 &&
                   same_record(&r, &want);
        avt_record_free(&r);
        avt_record_free(&want);
    }
    ok(seek_ok, "seek to each record (backwards) reads that record");
    ok(avt_reader_seek(rd, 3) == 0 && avt_read_record(rd, &r) == 1, "seek 3, read");
    avt_record_free(&r);
    ok(avt_read_record(rd, &r) == 1 && strcmp(r.key, "clip-4") == 0, "then record 4 follows");
    avt_record_free(&r);
    ok(avt_read_record(rd, &r) == 0, "then a proper end (end block checked)");
    ok(avt_reader_seek(rd, 5) == 0 && avt_read_record(rd, &r) == 0, "seek to the end: no record");
    ok(avt_reader_seek(rd, 6) != 0 && strstr(avk_errmsg(), "record 6 does not exist"),
       "seek past the end fails: %s", avk_errmsg());
    avt_reader_close(rd);

    ok(write_stream("empty.avt", 0, 0) == 0, "an empty stream is valid");
    rd = avt_reader_open("empty.avt");
    ok(rd && avt_reader_count(rd) == 0 && avt_read_record(rd, &r) == 0, "with 0 records");
    avt_reader_close(rd);

    /* nothing under the real name until finish; abort leaves nothing */
    avt_writer *w = avt_writer_open("part.avt", 0, 0);
    make_record(&r, 0);
    avt_write_record(w, &r);
    ok(access("part.avt", F_OK) != 0, "no file under the real name while writing");
    avt_writer_abort(w);
    ok(access("part.avt", F_OK) != 0, "abort leaves no file");
    w = avt_writer_open("bad.avt", 0, 0);
    r.tensors[0].dtype = 99;
    ok(avt_write_record(w, &r) != 0 && strstr(avk_errmsg(), "unknown dtype"),
       "writer rejects an unknown dtype: %s", avk_errmsg());
    r.tensors[0].dtype = AVT_F32;
    r.tensors[0].nbytes++;
    ok(avt_write_record(w, &r) != 0 && strstr(avk_errmsg(), "data bytes"),
       "writer rejects a size that does not match the shape: %s", avk_errmsg());
    r.tensors[0].nbytes--;
    avt_writer_abort(w);
    avt_record_free(&r);

    /* the folded CRC-32 is zlib's, for every length and alignment */
    unsigned char *buf = avk_xmalloc(70000);
    for (int i = 0; i < 70000; i++)
        buf[i] = (unsigned char)next();
    int same_crc = 1;
    for (int off = 0; off < 16; off++)
        for (size_t n = 0; n < 600; n++)
            same_crc &= avt_crc32(0, buf + off, n) == (uint32_t)crc32_z(0, buf + off, n);
    same_crc &= avt_crc32(avt_crc32(0, buf, 1000), buf + 1000, 69000) ==
                (uint32_t)crc32_z(0, buf, 70000);
    ok(same_crc, "avt_crc32 equals zlib's crc32 (lengths 0..599, 16 alignments, chained)");
    ok(avt_crc32(0, "123456789", 9) == 0xcbf43926u, "CRC-32 check value of \"123456789\"");
    free(buf);

    /* half precision: every f16 pattern converts to f32 and back exactly */
    int exact = 1;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = avt_f16_to_f32((uint16_t)h);
        if (f == f && avt_f32_to_f16(f) != h)
            exact = 0;
    }
    ok(exact, "f16 -> f32 -> f16 is the identity on every non-NaN pattern");
    ok(avt_f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00 && avt_f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02,
       "f16 rounds to nearest even at the halfway point");
    ok(avt_f32_to_f16(70000.0f) == 0x7c00 && avt_f32_to_f16(65504.0f) == 0x7bff,
       "f16 overflows to infinity beyond 65504");
    ok(avt_f32_to_f16(5.9604645e-8f) == 0x0001 && avt_f16_to_f32(0x0001) == 5.9604645e-8f,
       "f16 subnormals");
    ok(avt_f32_to_bf16(1.0f) == 0x3f80 && avt_bf16_to_f32(0x3f80) == 1.0f &&
       avt_f32_to_bf16(1.00390625f) == 0x3f80 && avt_f32_to_bf16(1.01171875f) == 0x3f82,
       "bf16 conversions round to nearest even");
    uint16_t nan16 = avt_f32_to_bf16(__builtin_nanf(""));
    ok(avt_bf16_to_f32(nan16) != avt_bf16_to_f32(nan16), "bf16 keeps NaN a NaN");

    /* the array forms read little-endian values at any alignment */
    unsigned char raw[1 + 2 * 7];
    uint16_t vals[7] = {0x3c00, 0x0001, 0xfbff, 0x7c00, 0x3f80, 0xc049, 0x8000};
    for (int i = 0; i < 7; i++) {
        raw[1 + 2 * i] = (unsigned char)(vals[i] & 0xff);
        raw[2 + 2 * i] = (unsigned char)(vals[i] >> 8);
    }
    float h16[7], hb16[7];
    avt_f16_to_f32_n(h16, raw + 1, 7);
    avt_bf16_to_f32_n(hb16, raw + 1, 7);
    int same = 1;
    for (int i = 0; i < 7; i++)
        same &= !memcmp(&h16[i], &(float){avt_f16_to_f32(vals[i])}, 4) &&
                !memcmp(&hb16[i], &(float){avt_bf16_to_f32(vals[i])}, 4);
    ok(same && h16[0] == 1.0f && hb16[4] == 1.0f,
       "f16 and bf16 arrays convert as the single values, from an odd address");
    return done_testing();
}
