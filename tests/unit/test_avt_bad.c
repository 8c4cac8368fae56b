/* Damaged and hostile tensor streams: each crafted stream (with valid
 * checksums where the damage is elsewhere) must fail with a message that
 * names the file and the record, without crashing or allocating what the
 * header merely claims. */
#include "tap.h"
#include "avkit/io/avt.h"
#include "avkit/util/common.h"

#include <string.h>
#include <zlib.h>

static void u32(avk_buf *b, uint32_t v) { avk_buf_append(b, &v, 4); }
static void u64(avk_buf *b, uint64_t v) { avk_buf_append(b, &v, 8); }
static void str(avk_buf *b, const char *s, size_t n) { u32(b, (uint32_t)n); avk_buf_append(b, s, n); }

/* One tensor table entry. */
static void entry(avk_buf *h, const char *name, int dtype, int ndim, int comp,
                  const uint64_t *dims, uint64_t raw, uint64_t stored, uint32_t crc)
{
    str(h, name, strlen(name));
    unsigned char c[4] = {dtype, ndim, comp, 0};
    avk_buf_append(h, c, 4);
    for (int i = 0; i < ndim; i++)
        u64(h, dims[i]);
    u64(h, raw);
    u64(h, stored);
    u32(h, crc);
}

/* A whole stream: header, one record with header h (CRC fixed unless
 * bad_crc) and payload p, then a valid end block. */
static void stream(avk_buf *s, const avk_buf *h, const void *p, size_t np, int bad_crc)
{
    avk_buf_append(s, "\x89" "AVT\r\n\x1a\n", 8);
    u32(s, 1);
    u32(s, 0);
    avk_buf_append(s, "AVTR", 4);
    u32(s, (uint32_t)h->len);
    avk_buf_append(s, h->data, h->len);
    u32(s, (uint32_t)crc32(0, h->data, (uInt)h->len) ^ (bad_crc ? 1 : 0));
    avk_buf_append(s, p, np);
    uint64_t end = s->len;
    avk_buf e = {0};
    u64(&e, 1);
    u64(&e, 16);
    avk_buf_append(s, "AVTE", 4);
    avk_buf_append(s, e.data, e.len);
    u32(s, (uint32_t)crc32(0, e.data, (uInt)e.len));
    u64(s, end);
    avk_buf_append(s, "AVTZ", 4);
    avk_buf_free(&e);
}

/* Header start: key and no metadata, then the tensor count. */
static void head(avk_buf *h, const char *key, uint32_t ntensors)
{
    str(h, key, strlen(key));
    u32(h, 0);
    u32(h, ntensors);
}

/* Write bytes to a file, read it as a stream (from the file, and through
 * a pipe when via_pipe), expect failure with `want` in the message. */
static void expect(const char *what, const avk_buf *s, const char *want, int via_pipe)
{
    FILE *fp = fopen("bad.avt", "wb");
    fwrite(s->data, 1, s->len, fp);
    fclose(fp);
    for (int pass = 0; pass <= via_pipe; pass++) {
        FILE *pipe = pass ? popen("cat bad.avt", "r") : NULL;
        avt_reader *rd = pass ? avt_reader_open_fp(pipe, "bad.avt") : avt_reader_open("bad.avt");
        int rc = -1;
        avt_record r;
        if (rd) {
            while ((rc = avt_read_record(rd, &r)) == 1)
                avt_record_free(&r);
            avt_reader_close(rd);
        }
        if (pipe)
            pclose(pipe);
        const char *m = avk_errmsg();
        ok(rc == -1 && strstr(m, want) && strncmp(m, "bad.avt: ", 9) == 0,
           "%s%s: %s", what, pass ? " (pipe)" : "", m);
    }
}

int main(void)
{
    uint64_t d2[2] = {2, 3}, huge[2] = {1ull << 40, 1ull << 40}, neg[1] = {~0ull};
    float six[6] = {1, 2, 3, 4, 5, 6};
    uint32_t crc6 = (uint32_t)crc32(0, (const Bytef *)six, 24);
    avk_buf h = {0}, s = {0};

#define CASE(what, want, pipe, build, payload, np, badcrc) do { \
        h.len = s.len = 0; build; stream(&s, &h, payload, np, badcrc); \
        expect(what, &s, want, pipe); } while (0)

    /* the control: the builder makes valid streams */
    head(&h, "k", 1);
    entry(&h, "x", AVT_F32, 2, 0, d2, 24, 24, crc6);
    stream(&s, &h, six, 24, 0);
    FILE *fp = fopen("good.avt", "wb");
    fwrite(s.data, 1, s.len, fp);
    fclose(fp);
    avt_reader *rd = avt_reader_open("good.avt");
    avt_record r;
    ok(rd && avt_read_record(rd, &r) == 1 && r.tensors[0].nbytes == 24 &&
       avt_read_record(rd, &(avt_record){0}) == 0, "a crafted valid stream reads");
    avt_record_free(&r);
    avt_reader_close(rd);
    CASE("header checksum", "record 0: header checksum mismatch", 1,
         (head(&h, "k", 1), entry(&h, "x", AVT_F32, 2, 0, d2, 24, 24, crc6)), six, 24, 1);
    CASE("payload checksum", "record 0 tensor 'x': payload checksum mismatch", 1,
         (head(&h, "k", 1), entry(&h, "x", AVT_F32, 2, 0, d2, 24, 24, crc6 ^ 4)), six, 24, 0);
    uint64_t d9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CASE("ndim 9", "record 0 tensor 'x': 9 dimensions (at most 8)", 1,
         (head(&h, "k", 1), entry(&h, "x", AVT_F32, 9, 0, d9, 4, 4, 0)), six, 4, 0);
    CASE("huge dims", "element count overflows", 1,
         (head(&h, "k", 1), entry(&h, "x", AVT_F32, 2, 0, huge, 0, 0, 0)), six, 0, 0);
    CASE("negative dim", "dimension 0 is negative", 0,
         (head(&h, "k", 1), entry(&h, "x", AVT_U8, 1, 0, neg, 0, 0, 0)), six, 0, 0);
    CASE("raw size not the shape's", "24 raw bytes for a f64 shape of 6 elements", 0,
         (head(&h, "k", 1), entry(&h, "x", AVT_F64, 2, 0, d2, 24, 24, crc6)), six, 24, 0);
    CASE("stored size differs without compression", "stored size 20 differs", 0,
         (head(&h, "k", 1), entry(&h, "x", AVT_F32, 2, 0, d2, 24, 20, crc6)), six, 20, 0);
    uint64_t big[1] = {1ull << 40};
    CASE("implausible zlib ratio", "implausible zlib sizes", 1,
         (head(&h, "k", 1), entry(&h, "x", AVT_U8, 1, 1, big, 1ull << 40, 10, 0)), six, 10, 0);
    CASE("payload past the end of the file", "runs past the end of the file", 0,
         (head(&h, "k", 1), entry(&h, "x", AVT_U8, 1, 0, big, 1ull << 40, 1ull << 40, 0)), six, 24, 0);
    /* on a pipe the same lie is a truncation found without a 1 TiB malloc */
    h.len = s.len = 0;
    head(&h, "k", 1);
    entry(&h, "x", AVT_U8, 1, 0, big, 1ull << 40, 1ull << 40, 0);
    stream(&s, &h, six, 24, 0);
    fp = fopen("bad.avt", "wb");
    fwrite(s.data, 1, s.len, fp);
    fclose(fp);
    FILE *pipe = popen("cat bad.avt", "r");
    rd = avt_reader_open_fp(pipe, "bad.avt");
    ok(avt_read_record(rd, &r) == -1 && strstr(avk_errmsg(), "record 0: truncated in the payload of tensor 'x'"),
       "a 1 TiB payload claim on a pipe is a truncation: %s", avk_errmsg());
    avt_reader_close(rd);
    pclose(pipe);

    CASE("unknown dtype", "unknown dtype code 99", 1,
         (head(&h, "k", 1), entry(&h, "x", 99, 2, 0, d2, 24, 24, crc6)), six, 24, 0);
    CASE("unknown compression", "unknown compression code 7", 0,
         (head(&h, "k", 1), entry(&h, "x", AVT_F32, 2, 7, d2, 24, 24, crc6)), six, 24, 0);
    CASE("duplicate tensor", "duplicate tensor name 'x'", 0,
         (head(&h, "k", 2), entry(&h, "x", AVT_F32, 2, 0, d2, 24, 24, crc6),
          entry(&h, "x", AVT_F32, 2, 0, d2, 24, 24, crc6)), six, 24, 0);
    CASE("NUL in the key", "the key contains a NUL byte", 0,
         (str(&h, "a\0b", 3), u32(&h, 0), u32(&h, 0)), six, 0, 0);
    CASE("string longer than the header", "header too short for a metadata key", 1,
         (str(&h, "k", 1), u32(&h, 1), u32(&h, 1000), u32(&h, 0), u32(&h, 0)), six, 0, 0);
    CASE("metadata count beyond the header", "header too short for the metadata", 0,
         (str(&h, "k", 1), u32(&h, 0x7fffffff), u32(&h, 0)), six, 0, 0);
    CASE("tensor count beyond the header", "header too short for the tensor table", 0,
         (head(&h, "k", 0x40000000)), six, 0, 0);
    CASE("trailing header bytes", "4 unexpected bytes at the end of the header", 0,
         (head(&h, "k", 0), u32(&h, 0)), six, 0, 0);
    unsigned char junk[16] = "not zlib data!!";
    uint32_t jcrc = (uint32_t)crc32(0, junk, 16);
    CASE("corrupt zlib data", "record 0 tensor 'x': zlib payload:", 1,
         (head(&h, "k", 1), entry(&h, "x", AVT_F32, 2, 1, d2, 24, 16, jcrc)), junk, 16, 0);
    unsigned char z[64];
    uLongf zn = sizeof z;
    compress2(z, &zn, (const Bytef *)six, 24, 6);
    uint32_t zcrc = (uint32_t)crc32(0, z, (uInt)zn);
    uint64_t d1[1] = {5}, d7[1] = {7};
    CASE("zlib data longer than raw", "inflates to more bytes", 1,
         (head(&h, "k", 1), entry(&h, "x", AVT_F32, 1, 1, d1, 20, zn, zcrc)), z, zn, 0);
    CASE("zlib data shorter than raw", "inflates to fewer bytes", 0,
         (head(&h, "k", 1), entry(&h, "x", AVT_F32, 1, 1, d7, 28, zn, zcrc)), z, zn, 0);

    /* damage outside records */
    h.len = s.len = 0;
    head(&h, "k", 0);
    stream(&s, &h, six, 0, 0);
    size_t good = s.len;
    memcpy(s.data + 16, "XXXX", 4);
    expect("no record tag", &s, "record 0: no record tag at byte offset 16", 1);
    memcpy(s.data + 16, "AVTR", 4);
    s.data[good - 32] = 2;       /* end block count 1 -> 2 */
    expect("end block count", &s, "lists 2 records, the stream has 1", 1);
    s.data[good - 32] = 1;
    avk_buf_append(&s, "x", 1);
    expect("bytes after the tail", &s, "trailing bytes after the end", 1);
    s.len = good;
    s.data[8] = 2;
    expect("version 2", &s, "unsupported avt version 2", 1);
    s.data[8] = 1;
    s.data[12] = 1;
    expect("stream flags", &s, "unknown stream flags", 0);
    s.data[12] = 0;
    s.data[1] = 'X';
    expect("bad magic", &s, "not an avt stream (bad magic", 1);
    s.data[1] = 'A';
    s.data[good - 1] = 'Q';                /* "AVTZ" -> "AVTQ" */
    fp = fopen("bad.avt", "wb");
    fwrite(s.data, 1, s.len, fp);
    fclose(fp);
    rd = avt_reader_open("bad.avt");
    ok(rd && avt_reader_count(rd) == -1 && strstr(avk_errmsg(), "bad.avt: no valid end block"),
       "damaged tail: no random access: %s", avk_errmsg());
    ok(rd && avt_read_record(rd, &r) == 1, "but sequential reading still gets the record");
    avt_record_free(&r);
    ok(rd && avt_read_record(rd, &r) == -1 && strstr(avk_errmsg(), "bad stream tail"),
       "and then reports the tail: %s", avk_errmsg());
    avt_reader_close(rd);
    ok(avt_reader_open("no-such.avt") == NULL && strstr(avk_errmsg(), "no-such.avt: No such file"),
       "missing file: %s", avk_errmsg());
    avk_buf_free(&h);
    avk_buf_free(&s);
    return done_testing();
}
