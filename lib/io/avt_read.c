/* Reading the tensor stream, sequentially (pipes) or by record index
 * (regular files). Every size in a header is checked before anything is
 * allocated, and never more is allocated than the bytes that can follow;
 * every message names the file, the record and, where it helps, the byte
 * offset. The byte layout is in man/man5/avt.5. */
#include "avkit/io/avt.h"
#include "avkit/util/common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* Fuzzing builds (scripts/fuzz.sh) may skip checksum comparisons so that
 * mutated inputs reach the parsing behind them; never in a normal build. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
int avt_fuzz_skip_crc;
#define CRC_BAD(a, b) (!avt_fuzz_skip_crc && (a) != (b))
#else
#define CRC_BAD(a, b) ((a) != (b))
#endif

#define CHUNK ((size_t)1 << 20)      /* first allocation on unbounded streams */
#define PIECE ((size_t)256 << 10)    /* read and checksum this much at a time */
#define AVT_MIN_ENTRY 29              /* bytes of the smallest tensor table entry */

struct avt_reader {
    FILE    *fp;
    char    *name;
    int      own_fp;
    int      regular;          /* a regular file: size known, seekable */
    int64_t  size;             /* file size (regular files) */
    int64_t  pos;              /* byte offset of the next byte */
    int64_t  recno;            /* index of the next record */
    int      done, failed;
    int64_t *seen;             /* offsets of records 0..recno-1 */
    size_t   seen_cap;
    int64_t *index;            /* the trailing index, once loaded */
    int64_t  count;            /* records in the index (-1: not loaded) */
    int64_t  end_off;          /* byte offset of the end block */
};

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static uint32_t crc_of(const void *p, size_t n)
{
    return avt_crc32(0, p, n);
}

/* Bytes that can still follow in a regular file (INT64_MAX for pipes). */
static int64_t remaining(const avt_reader *rd)
{
    return rd->regular ? rd->size - rd->pos : INT64_MAX;
}

/* Mark the reader failed; the message was already set. */
static int fail(avt_reader *rd)
{
    rd->failed = 1;
    return -1;
}

/* Read up to n bytes; returns the count read (short only at end of file)
 * or -1 on a read error (message set). */
static int64_t read_some(avt_reader *rd, void *buf, size_t n)
{
    size_t got = n ? fread(buf, 1, n, rd->fp) : 0;
    rd->pos += (int64_t)got;
    if (got < n && ferror(rd->fp))
        return avk_error("%s: read error at byte offset %lld: %s", rd->name,
                         (long long)rd->pos, strerror(errno));
    return (int64_t)got;
}

/* Read exactly n bytes or fail naming `what` (a place in the stream). */
static int read_exact(avt_reader *rd, void *buf, size_t n, const char *what)
{
    int64_t got = read_some(rd, buf, n);
    if (got < 0)
        return fail(rd);
    if ((size_t)got < n) {
        avk_error("%s: record %lld: truncated in %s at byte offset %lld",
                  rd->name, (long long)rd->recno, what, (long long)rd->pos);
        return fail(rd);
    }
    return 0;
}

/* Read n bytes into a fresh buffer. On a pipe the buffer grows only as
 * bytes arrive, so a header that lies about sizes runs into the end of
 * the stream instead of a huge allocation. */
static unsigned char *read_alloc(avt_reader *rd, size_t n, const char *what,
                                 uint32_t *crc)
{
    size_t cap = rd->regular || n <= CHUNK ? n : CHUNK, have = 0;
    unsigned char *buf = malloc(cap ? cap : 1);
    if (!buf) {
        avk_error("%s: record %lld: cannot allocate %zu bytes for %s",
                  rd->name, (long long)rd->recno, cap, what);
        fail(rd);
        return NULL;
    }
    for (;;) {
        /* pieces small enough to checksum while they are still in cache */
        for (size_t piece; have < cap; have += piece) {
            piece = cap - have < PIECE ? cap - have : PIECE;
            if (read_exact(rd, buf + have, piece, what) != 0) {
                free(buf);
                return NULL;
            }
            if (crc)
                *crc = avt_crc32(*crc, buf + have, piece);
        }
        if (have == n)
            return buf;
        cap = n - have > have ? 2 * have : n;
        unsigned char *nb = realloc(buf, cap);
        if (!nb) {
            free(buf);
            avk_error("%s: record %lld: cannot allocate %zu bytes for %s",
                      rd->name, (long long)rd->recno, cap, what);
            fail(rd);
            return NULL;
        }
        buf = nb;
    }
}

/* Open a stream on an open FILE and check the stream header. */
avt_reader *avt_reader_open_fp(FILE *fp, const char *name)
{
    avt_reader *rd = avk_xcalloc(1, sizeof *rd);
    rd->fp = fp;
    rd->name = avk_xstrdup(name);
    rd->count = -1;
    struct stat st;
    int fd = fileno(fp);
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        off_t at = ftello(fp);
        if (at >= 0) {
            rd->regular = 1;
            rd->size = (int64_t)st.st_size - at;   /* the stream starts here */
        }
    }
    unsigned char h[16];
    int64_t got = read_some(rd, h, 16);
    if (got < 0)
        goto bad;
    if (got < 8 || memcmp(h, AVT_MAGIC, 8) != 0) {
        avk_error("%s: not an avt stream (bad magic at byte offset 0)", name);
        goto bad;
    }
    if (got < 16) {
        avk_error("%s: truncated in the stream header (%lld of 16 bytes)",
                  name, (long long)got);
        goto bad;
    }
    uint32_t version = get_u32(h + 8), flags = get_u32(h + 12);
    if (version != AVT_VERSION) {
        avk_error("%s: unsupported avt version %u (this reader knows %d)",
                  name, version, AVT_VERSION);
        goto bad;
    }
    if (flags != 0) {
        avk_error("%s: unknown stream flags 0x%x at byte offset 12", name, flags);
        goto bad;
    }
    return rd;
bad:
    rd->fp = NULL;
    avt_reader_close(rd);
    return NULL;
}

/* Open a stream by path ("-" is stdin). */
avt_reader *avt_reader_open(const char *path)
{
    int is_stdin = strcmp(path, "-") == 0;
    FILE *fp = avk_in_open(path, 1);
    if (!fp)
        return NULL;
    avt_reader *rd = avt_reader_open_fp(fp, is_stdin ? "stdin" : path);
    if (!rd) {
        avk_in_close(fp);
        return NULL;
    }
    rd->own_fp = !is_stdin;
    return rd;
}

void avt_reader_close(avt_reader *rd)
{
    if (!rd)
        return;
    if (rd->own_fp && rd->fp)
        fclose(rd->fp);
    free(rd->seen);
    free(rd->index);
    free(rd->name);
    free(rd);
}

int64_t avt_reader_tell(const avt_reader *rd)
{
    return rd->recno;
}

/* A cursor over a record header held in memory. */
typedef struct {
    const unsigned char *p, *end;
    avt_reader *rd;
} cursor;

static int short_header(cursor *c, const char *what)
{
    avk_error("%s: record %lld: header too short for %s", c->rd->name,
              (long long)c->rd->recno, what);
    return -1;
}

static int take_u32(cursor *c, uint32_t *v, const char *what)
{
    if (c->end - c->p < 4)
        return short_header(c, what);
    *v = get_u32(c->p);
    c->p += 4;
    return 0;
}

static int take_u64(cursor *c, uint64_t *v, const char *what)
{
    if (c->end - c->p < 8)
        return short_header(c, what);
    *v = get_u64(c->p);
    c->p += 8;
    return 0;
}

/* A length-prefixed string without NUL bytes, as a fresh C string. */
static char *take_str(cursor *c, const char *what)
{
    uint32_t n;
    if (take_u32(c, &n, what) != 0)
        return NULL;
    if ((size_t)(c->end - c->p) < n) {
        short_header(c, what);
        return NULL;
    }
    if (memchr(c->p, 0, n)) {
        avk_error("%s: record %lld: %s contains a NUL byte", c->rd->name,
                  (long long)c->rd->recno, what);
        return NULL;
    }
    char *s = avk_xmalloc((size_t)n + 1);
    memcpy(s, c->p, n);
    s[n] = 0;
    c->p += n;
    return s;
}

/* One entry of the tensor table before its payload is read. */
typedef struct {
    int comp;
    uint64_t raw, stored;
    uint32_t crc;
} entry;

/* Parse and check one tensor table entry into r's tensor slot t. */
static int parse_entry(cursor *c, avt_tensor *t, entry *e, int64_t *budget)
{
    avt_reader *rd = c->rd;
    long long rec = (long long)rd->recno;
    t->name = take_str(c, "a tensor name");
    if (!t->name)
        return -1;
    if (!t->name[0])
        return avk_error("%s: record %lld: empty tensor name", rd->name, rec);
    if (c->end - c->p < 4)
        return short_header(c, "a tensor entry");
    int dtype = c->p[0], ndim = c->p[1], comp = c->p[2], reserved = c->p[3];
    c->p += 4;
    size_t esz = avt_dtype_size(dtype);
    if (esz == 0)
        return avk_error("%s: record %lld tensor '%s': unknown dtype code %d",
                         rd->name, rec, t->name, dtype);
    if (ndim > AVT_MAX_DIMS)
        return avk_error("%s: record %lld tensor '%s': %d dimensions (at most %d)",
                         rd->name, rec, t->name, ndim, AVT_MAX_DIMS);
    if (comp != AVT_COMP_NONE && comp != AVT_COMP_ZLIB)
        return avk_error("%s: record %lld tensor '%s': unknown compression code %d",
                         rd->name, rec, t->name, comp);
    if (reserved != 0)
        return avk_error("%s: record %lld tensor '%s': reserved byte is %d, not 0",
                         rd->name, rec, t->name, reserved);
    t->dtype = dtype;
    t->ndim = ndim;
    uint64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        uint64_t v;
        if (take_u64(c, &v, "tensor dimensions") != 0)
            return -1;
        if (v > INT64_MAX)
            return avk_error("%s: record %lld tensor '%s': dimension %d is negative",
                             rd->name, rec, t->name, d);
        t->shape[d] = (int64_t)v;
        if (v && numel > (uint64_t)INT64_MAX / v)
            return avk_error("%s: record %lld tensor '%s': element count overflows",
                             rd->name, rec, t->name);
        numel *= v;
    }
    if (numel > (uint64_t)INT64_MAX / esz || numel * esz > SIZE_MAX)
        return avk_error("%s: record %lld tensor '%s': byte size overflows",
                         rd->name, rec, t->name);
    if (take_u64(c, &e->raw, "a raw byte count") != 0 ||
        take_u64(c, &e->stored, "a stored byte count") != 0 ||
        take_u32(c, &e->crc, "a payload checksum") != 0)
        return -1;
    if (e->raw != numel * esz)
        return avk_error("%s: record %lld tensor '%s': %llu raw bytes for a %s "
                         "shape of %llu elements", rd->name, rec, t->name,
                         (unsigned long long)e->raw, avt_dtype_name(dtype),
                         (unsigned long long)numel);
    if (comp == AVT_COMP_NONE && e->stored != e->raw)
        return avk_error("%s: record %lld tensor '%s': stored size %llu differs "
                         "from raw size %llu without compression", rd->name, rec,
                         t->name, (unsigned long long)e->stored,
                         (unsigned long long)e->raw);
    if (comp == AVT_COMP_ZLIB &&
        (e->stored > INT64_MAX / 2048 || e->raw > e->stored * 1032 + 64))
        return avk_error("%s: record %lld tensor '%s': implausible zlib sizes "
                         "(%llu bytes from %llu)", rd->name, rec, t->name,
                         (unsigned long long)e->raw, (unsigned long long)e->stored);
    if (e->stored > (uint64_t)*budget)
        return avk_error("%s: record %lld tensor '%s': truncated: payload of %llu "
                         "bytes runs past the end of the file", rd->name, rec,
                         t->name, (unsigned long long)e->stored);
    *budget -= (int64_t)e->stored;
    e->comp = comp;
    t->nbytes = (size_t)e->raw;
    return 0;
}

/* Inflate a zlib payload into exactly `raw` bytes; the output grows as it
 * is produced, so a lying raw size costs no more than the real data. */
static void *inflate_payload(avt_reader *rd, const avt_tensor *t,
                             const unsigned char *src, size_t n, size_t raw)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK) {
        avk_error("%s: record %lld tensor '%s': zlib init failed", rd->name,
                  (long long)rd->recno, t->name);
        return NULL;
    }
    size_t cap = raw < 4 * n + 65536 ? raw : 4 * n + 65536, have = 0, used = 0;
    unsigned char *out = malloc(cap ? cap : 1);
    const char *why = NULL;
    while (out) {
        if (have == cap && cap == raw) {
            /* every raw byte is there: the zlib stream must end now */
            unsigned char probe;
            size_t in_chunk = n - used > (1u << 30) ? (1u << 30) : n - used;
            z.next_in = (unsigned char *)src + used;
            z.avail_in = (uInt)in_chunk;
            z.next_out = &probe;
            z.avail_out = 1;
            int zr = inflate(&z, Z_NO_FLUSH);
            used += in_chunk - z.avail_in;
            if (zr != Z_STREAM_END || z.avail_out == 0)
                why = "inflates to more bytes than the raw size, or is corrupt";
            break;
        }
        if (have == cap) {
            size_t ncap = cap > raw - cap ? raw : 2 * cap;
            unsigned char *no = realloc(out, ncap);
            if (!no) {
                why = "out of memory";
                break;
            }
            out = no;
            cap = ncap;
        }
        size_t in_chunk = n - used > (1u << 30) ? (1u << 30) : n - used;
        size_t out_chunk = cap - have > (1u << 30) ? (1u << 30) : cap - have;
        z.next_in = (unsigned char *)src + used;
        z.avail_in = (uInt)in_chunk;
        z.next_out = out + have;
        z.avail_out = (uInt)out_chunk;
        int zr = inflate(&z, Z_NO_FLUSH);
        used += in_chunk - z.avail_in;
        have += out_chunk - z.avail_out;
        if (zr == Z_STREAM_END)
            break;
        if (zr == Z_BUF_ERROR && used == n) {
            why = "compressed data ends early";
            break;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            why = z.msg ? z.msg : "corrupt data";
            break;
        }
    }
    inflateEnd(&z);
    if (!out) {
        avk_error("%s: record %lld tensor '%s': cannot allocate %zu bytes",
                  rd->name, (long long)rd->recno, t->name, cap);
        return NULL;
    }
    if (!why && have != raw)
        why = "inflates to fewer bytes than the raw size";
    if (!why && used != n)
        why = "trailing bytes after the compressed data";
    if (why) {
        free(out);
        avk_error("%s: record %lld tensor '%s': zlib payload: %s", rd->name,
                  (long long)rd->recno, t->name, why);
        return NULL;
    }
    return out;
}

/* Read and check the end block, which must list every record read. */
static int read_end_block(avt_reader *rd)
{
    int64_t end_off = rd->pos - 4;
    unsigned char b[8];
    if (read_exact(rd, b, 8, "the end block") != 0)
        return -1;
    uint64_t count = get_u64(b);
    if (count != (uint64_t)rd->recno) {
        avk_error("%s: end block at byte offset %lld lists %llu records, "
                  "the stream has %lld", rd->name, (long long)end_off,
                  (unsigned long long)count, (long long)rd->recno);
        return fail(rd);
    }
    /* count == recno: the offsets were all seen, so this is bounded */
    size_t n = (size_t)count * 8;
    unsigned char *offs = read_alloc(rd, n + 4 + 12, "the end block", NULL);
    if (!offs)
        return -1;
    int rc = 0;
    uint32_t crc = avt_crc32(0, b, 8);
    crc = avt_crc32(crc, offs, n);
    if (CRC_BAD(crc, get_u32(offs + n))) {
        rc = avk_error("%s: end block at byte offset %lld: checksum mismatch",
                       rd->name, (long long)end_off);
    } else if (memcmp(offs + n + 12, "AVTZ", 4) != 0 ||
               get_u64(offs + n + 4) != (uint64_t)end_off) {
        rc = avk_error("%s: bad stream tail at byte offset %lld", rd->name,
                       (long long)(end_off + 16 + (int64_t)n));
    } else {
        for (uint64_t i = 0; i < count; i++)
            if ((int64_t)get_u64(offs + 8 * i) != rd->seen[i]) {
                rc = avk_error("%s: end block: index entry %llu says byte offset "
                               "%lld, the record is at %lld", rd->name,
                               (unsigned long long)i,
                               (long long)get_u64(offs + 8 * i),
                               (long long)rd->seen[i]);
                break;
            }
    }
    free(offs);
    if (rc == 0) {
        int ch = getc(rd->fp);
        if (ch != EOF)
            rc = avk_error("%s: trailing bytes after the end of the stream "
                           "(byte offset %lld)", rd->name, (long long)rd->pos);
    }
    if (rc != 0)
        return fail(rd);
    rd->done = 1;
    return 0;
}

/* Remember where record recno started (for the end-block check). */
static void note_offset(avt_reader *rd, int64_t off)
{
    if ((size_t)rd->recno >= rd->seen_cap) {
        rd->seen_cap = rd->seen_cap ? 2 * rd->seen_cap : 64;
        while (rd->seen_cap <= (size_t)rd->recno)
            rd->seen_cap *= 2;
        rd->seen = avk_xrealloc(rd->seen, rd->seen_cap * sizeof *rd->seen);
    }
    rd->seen[rd->recno] = off;
}

/* Read the record header and table into r; fills entries. */
static int read_header(avt_reader *rd, avt_record *r, entry **entries)
{
    long long rec = (long long)rd->recno;
    unsigned char b[4];
    if (read_exact(rd, b, 4, "the header length") != 0)
        return -1;
    uint32_t hlen = get_u32(b);
    if (hlen > AVT_MAX_HEADER || hlen < 12)
        return avk_error("%s: record %lld: implausible header length %u at byte "
                         "offset %lld", rd->name, rec, hlen, (long long)rd->pos - 4);
    if ((int64_t)hlen + 4 > remaining(rd))
        return avk_error("%s: record %lld: truncated in the header (%u bytes "
                         "claimed at byte offset %lld, %lld left in the file)",
                         rd->name, rec, hlen + 4, (long long)rd->pos,
                         (long long)remaining(rd));
    int64_t hoff = rd->pos;
    unsigned char *h = read_alloc(rd, (size_t)hlen + 4, "the header", NULL);
    if (!h)
        return -1;
    if (CRC_BAD(crc_of(h, hlen), get_u32(h + hlen))) {
        free(h);
        return avk_error("%s: record %lld: header checksum mismatch (header at "
                         "byte offset %lld)", rd->name, rec, (long long)hoff);
    }
    cursor c = {h, h + hlen, rd};
    int64_t budget = remaining(rd);
    int rc = -1;
    uint32_t n;
    r->key = take_str(&c, "the key");
    if (!r->key || take_u32(&c, &n, "the metadata count") != 0)
        goto out;
    if (n > (size_t)(c.end - c.p) / 8) {
        short_header(&c, "the metadata");
        goto out;
    }
    r->meta = avk_xcalloc(n ? n : 1, sizeof *r->meta);
    for (uint32_t i = 0; i < n; i++) {
        char *k = take_str(&c, "a metadata key"), *v = k ? take_str(&c, "a metadata value") : NULL;
        if (!v) {
            free(k);
            goto out;
        }
        r->meta[r->nmeta].key = k;
        r->meta[r->nmeta].value = v;
        r->nmeta++;
        for (int j = 0; j < r->nmeta - 1; j++)
            if (strcmp(r->meta[j].key, k) == 0) {
                avk_error("%s: record %lld: duplicate metadata key '%s'", rd->name, rec, k);
                goto out;
            }
    }
    if (take_u32(&c, &n, "the tensor count") != 0)
        goto out;
    /* the smallest entry is 29 bytes: a one-byte name (4 + 1), the four
     * code bytes, no dimensions (a scalar), raw and stored sizes and CRC */
    if (n > (size_t)(c.end - c.p) / AVT_MIN_ENTRY) {
        short_header(&c, "the tensor table");
        goto out;
    }
    r->tensors = avk_xcalloc(n ? n : 1, sizeof *r->tensors);
    *entries = avk_xcalloc(n ? n : 1, sizeof **entries);
    for (uint32_t i = 0; i < n; i++) {
        avt_tensor *t = &r->tensors[r->ntensors++];
        if (parse_entry(&c, t, &(*entries)[i], &budget) != 0)
            goto out;
        for (int j = 0; j < r->ntensors - 1; j++)
            if (strcmp(r->tensors[j].name, t->name) == 0) {
                avk_error("%s: record %lld: duplicate tensor name '%s'", rd->name, rec, t->name);
                goto out;
            }
    }
    if (c.p != c.end) {
        avk_error("%s: record %lld: %lld unexpected bytes at the end of the header",
                  rd->name, rec, (long long)(c.end - c.p));
        goto out;
    }
    rc = 0;
out:
    free(h);
    return rc;
}

/* Read the next record; 1, 0 at the proper end, -1 on error. */
int avt_read_record(avt_reader *rd, avt_record *r)
{
    memset(r, 0, sizeof *r);
    if (rd->failed)
        return -1;
    if (rd->done)
        return 0;
    int64_t off = rd->pos;
    unsigned char tag[4];
    int64_t got = read_some(rd, tag, 4);
    if (got < 0)
        return fail(rd);
    if (got < 4) {
        if (rd->recno == 0)
            avk_error("%s: truncated at byte offset %lld before the first record "
                      "(end block missing)", rd->name, (long long)rd->pos);
        else
            avk_error("%s: truncated after record %lld at byte offset %lld "
                      "(end block missing)", rd->name, (long long)rd->recno - 1,
                      (long long)rd->pos);
        return fail(rd);
    }
    if (memcmp(tag, "AVTE", 4) == 0)
        return read_end_block(rd) == 0 ? 0 : -1;
    if (memcmp(tag, "AVTR", 4) != 0) {
        avk_error("%s: record %lld: no record tag at byte offset %lld "
                  "(found %02x %02x %02x %02x)", rd->name, (long long)rd->recno,
                  (long long)off, tag[0], tag[1], tag[2], tag[3]);
        return fail(rd);
    }
    entry *e = NULL;
    if (read_header(rd, r, &e) != 0)
        goto bad;
    for (int i = 0; i < r->ntensors; i++) {
        avt_tensor *t = &r->tensors[i];
        char what[300];
        snprintf(what, sizeof what, "the payload of tensor '%.200s'", t->name);
        uint32_t crc = 0;
        unsigned char *p = read_alloc(rd, (size_t)e[i].stored, what, &crc);
        if (!p)
            goto bad;
        if (CRC_BAD(crc, e[i].crc)) {
            free(p);
            avk_error("%s: record %lld tensor '%s': payload checksum mismatch "
                      "(payload ends at byte offset %lld)", rd->name,
                      (long long)rd->recno, t->name, (long long)rd->pos);
            goto bad;
        }
        if (e[i].comp == AVT_COMP_ZLIB) {
            t->data = inflate_payload(rd, t, p, (size_t)e[i].stored, (size_t)e[i].raw);
            free(p);
            if (!t->data)
                goto bad;
        } else {
            t->data = p;
        }
    }
    free(e);
    note_offset(rd, off);
    rd->recno++;
    return 1;
bad:
    free(e);
    avt_record_free(r);
    return fail(rd);
}

/* Load and check the trailing index of a regular file. */
static int load_index(avt_reader *rd)
{
    if (rd->count >= 0)
        return 0;
    if (!rd->regular)
        return avk_error("%s: not a regular file: no random access (read it "
                         "sequentially)", rd->name);
    int64_t start = ftello(rd->fp) - rd->pos;     /* where the stream begins */
    int64_t size = rd->size;
    unsigned char t[12], b[12];
    if (size < 16 + 4 + 8 + 4 + 12 ||
        fseeko(rd->fp, start + size - 12, SEEK_SET) != 0 ||
        fread(t, 1, 12, rd->fp) != 12 || memcmp(t + 8, "AVTZ", 4) != 0)
        goto bad_tail;
    uint64_t end = get_u64(t);
    if (end < 16 || end > (uint64_t)size - 28 ||
        fseeko(rd->fp, start + (int64_t)end, SEEK_SET) != 0 ||
        fread(b, 1, 12, rd->fp) != 12 || memcmp(b, "AVTE", 4) != 0)
        goto bad_tail;
    uint64_t count = get_u64(b + 4);
    if (count > ((uint64_t)size - end - 28) / 8 ||
        end + 28 + 8 * count != (uint64_t)size)
        goto bad_tail;
    size_t n = (size_t)count * 8;
    unsigned char *offs = avk_xmalloc(n + 4);
    if (fread(offs, 1, n + 4, rd->fp) != n + 4) {
        free(offs);
        goto bad_tail;
    }
    uint32_t crc = avt_crc32(0, b + 4, 8);
    if (CRC_BAD(avt_crc32(crc, offs, n), get_u32(offs + n))) {
        free(offs);
        avk_error("%s: end block at byte offset %llu: checksum mismatch",
                  rd->name, (unsigned long long)end);
        goto restore;
    }
    rd->index = avk_xmalloc((n ? n : 1));
    for (uint64_t i = 0; i < count; i++) {
        uint64_t o = get_u64(offs + 8 * i);
        if (o < 16 || o >= end || (i && o <= (uint64_t)rd->index[i - 1])) {
            free(offs);
            free(rd->index);
            rd->index = NULL;
            avk_error("%s: end block: index entry %llu (byte offset %llu) is out "
                      "of order or out of range", rd->name,
                      (unsigned long long)i, (unsigned long long)o);
            goto restore;
        }
        rd->index[i] = (int64_t)o;
    }
    free(offs);
    rd->count = (int64_t)count;
    rd->end_off = (int64_t)end;
    if (fseeko(rd->fp, start + rd->pos, SEEK_SET) != 0)
        return avk_error("%s: seek failed: %s", rd->name, strerror(errno));
    return 0;
bad_tail:
    avk_error("%s: no valid end block (index) at the end of the file: "
              "truncated or damaged stream", rd->name);
restore:
    clearerr(rd->fp);
    fseeko(rd->fp, start + rd->pos, SEEK_SET);
    return -1;
}

/* Number of records, from the index. */
int64_t avt_reader_count(avt_reader *rd)
{
    return load_index(rd) == 0 ? rd->count : -1;
}

/* Position on record i so that the next read returns it. */
int avt_reader_seek(avt_reader *rd, int64_t i)
{
    if (load_index(rd) != 0)
        return -1;
    if (i < 0 || i > rd->count)
        return avk_error("%s: record %lld does not exist (the stream has %lld)",
                         rd->name, (long long)i, (long long)rd->count);
    int64_t start = ftello(rd->fp) - rd->pos;
    int64_t target = i < rd->count ? rd->index[i] : rd->end_off;
    if (fseeko(rd->fp, start + target, SEEK_SET) != 0)
        return avk_error("%s: seek to record %lld failed: %s", rd->name,
                         (long long)i, strerror(errno));
    rd->recno = i;
    rd->pos = target;
    rd->done = rd->failed = 0;
    /* the records before i are known from the index */
    if (i > 0) {
        rd->recno = i - 1;
        note_offset(rd, rd->index[i - 1]);   /* makes room for i entries */
        rd->recno = i;
        memcpy(rd->seen, rd->index, (size_t)i * sizeof *rd->seen);
    }
    return 0;
}
