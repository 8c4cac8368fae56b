/* PNG writing: signature, IHDR, one IDAT of filter-0 rows deflated by
 * zlib, IEND; every chunk with its CRC-32. See include/avkit/io/png.h. */
#include "avkit/io/png.h"
#include "avkit/util/common.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Big-endian 32-bit at p. */
static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* One chunk: length, type, data, CRC of type and data. */
static int put_chunk(FILE *fp, const char *type, const unsigned char *data, size_t n,
                     const char *what)
{
    unsigned char head[8], tail[4];
    be32(head, (uint32_t)n);
    memcpy(head + 4, type, 4);
    uLong crc = crc32(0L, (const Bytef *)type, 4);
    if (n)
        crc = crc32(crc, data, (uInt)n);
    be32(tail, (uint32_t)crc);
    if (avk_fwrite_all(fp, head, 8, what) < 0 || (n && avk_fwrite_all(fp, data, n, what) < 0) ||
        avk_fwrite_all(fp, tail, 4, what) < 0)
        return -1;
    return 0;
}

int avk_png_write(const char *path, const uint8_t *rgb, int w, int h)
{
    if (w <= 0 || h <= 0)
        return avk_error("%s: cannot write a PNG of %dx%d", path, w, h);
    size_t stride = (size_t)w * 3, raw_n = (stride + 1) * (size_t)h;
    unsigned char *raw = avk_xmalloc(raw_n);
    for (int y = 0; y < h; y++) {
        raw[(stride + 1) * y] = 0;     /* filter: none */
        memcpy(raw + (stride + 1) * y + 1, rgb + stride * y, stride);
    }
    uLongf zn = compressBound((uLong)raw_n);
    unsigned char *z = avk_xmalloc(zn);
    int zrc = compress2(z, &zn, raw, (uLong)raw_n, 9);
    free(raw);
    if (zrc != Z_OK) {
        free(z);
        return avk_error("%s: zlib failed to compress the image", path);
    }
    avk_out *o = avk_out_open(path, 1);
    if (!o) {
        free(z);
        return -1;
    }
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char ihdr[13];
    be32(ihdr, (uint32_t)w);
    be32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8;    /* bits per sample */
    ihdr[9] = 2;    /* RGB */
    ihdr[10] = ihdr[11] = ihdr[12] = 0;
    int rc = avk_fwrite_all(o->fp, sig, 8, path) < 0 || put_chunk(o->fp, "IHDR", ihdr, 13, path) < 0 ||
             put_chunk(o->fp, "IDAT", z, zn, path) < 0 || put_chunk(o->fp, "IEND", NULL, 0, path) < 0;
    free(z);
    if (rc) {
        avk_out_abort(o);
        return -1;
    }
    return avk_out_commit(o);
}
