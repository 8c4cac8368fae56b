/* TIFF frames through libtiff: 8-bit, 16-bit and 32-bit float samples,
 * 1 (gray), 3 (RGB) or 4 (RGBA) channels, interleaved in memory. Reads
 * strip and tile layouts, contiguous or planar; writes contiguous strips,
 * optionally deflate-compressed with a predictor, to a temporary file
 * renamed into place.
 */
#include "avkit/io/video.h"
#include "avkit/util/common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tiffio.h>

/* libtiff reports problems through handlers; keep the last message per
 * thread so that our error can say what libtiff saw. */
static _Thread_local char tiff_msg[256];

static void tiff_error_handler(const char *module, const char *fmt, va_list ap)
{
    vsnprintf(tiff_msg, sizeof tiff_msg, fmt, ap);
}

static void tiff_quiet(const char *module, const char *fmt, va_list ap)
{
}

static void tiff_handlers(void)
{
    TIFFSetErrorHandler(tiff_error_handler);
    TIFFSetWarningHandler(tiff_quiet);
    tiff_msg[0] = 0;
}

static size_t sample_bytes(int sample)
{
    return sample == AVK_SAMPLE_U8 ? 1 : sample == AVK_SAMPLE_U16 ? 2 :
           sample == AVK_SAMPLE_F32 ? 4 : 0;
}

/* Free the pixels of an image. */
void avk_image_free(avk_image *img)
{
    if (img) {
        free(img->data);
        img->data = NULL;
    }
}

/* Copy one decoded block (a strip or tile) of one plane (or of all samples
 * when contiguous) into the interleaved image. */
static void place_block(avk_image *img, const uint8_t *blk, int bx, int by, int bw,
                        int bh, int plane, int contig)
{
    size_t sb = sample_bytes(img->sample);
    size_t px = sb * img->channels;
    for (int y = 0; y < bh && by + y < img->height; y++) {
        uint8_t *row = (uint8_t *)img->data + ((size_t)(by + y) * img->width) * px;
        int n = bx + bw > img->width ? img->width - bx : bw;
        if (contig) {
            memcpy(row + (size_t)bx * px, blk + (size_t)y * bw * px, (size_t)n * px);
        } else {
            const uint8_t *src = blk + (size_t)y * bw * sb;
            for (int x = 0; x < n; x++)
                memcpy(row + (size_t)(bx + x) * px + plane * sb, src + x * sb, sb);
        }
    }
}

/* Read the first page of a TIFF into an interleaved image. */
int avk_tiff_read(const char *path, avk_image *img)
{
    memset(img, 0, sizeof *img);
    tiff_handlers();
    if (access(path, R_OK) != 0)
        return avk_error("%s: %s", path, strerror(errno));
    TIFF *tif = TIFFOpen(path, "r");
    if (!tif)
        return avk_error("%s: not a readable TIFF%s%s", path, tiff_msg[0] ? ": " : "", tiff_msg);
    uint32_t w = 0, h = 0;
    uint16_t bps = 0, spp = 1, fmt = SAMPLEFORMAT_UINT, planar = PLANARCONFIG_CONTIG, photo = 0;
    TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h);
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &fmt);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
    if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photo))
        photo = spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
    int rc = 0;
    if (w == 0 || h == 0 || w > 65536 || h > 65536) {
        rc = avk_error("%s: unsupported image size %ux%u", path, (unsigned)w, (unsigned)h);
    } else if (!((bps == 8 && fmt == SAMPLEFORMAT_UINT) ||
                 (bps == 16 && fmt == SAMPLEFORMAT_UINT) ||
                 (bps == 32 && fmt == SAMPLEFORMAT_IEEEFP))) {
        rc = avk_error("%s: unsupported samples: %u-bit %s (8- or 16-bit unsigned, "
                       "or 32-bit float)", path, (unsigned)bps,
                       fmt == SAMPLEFORMAT_IEEEFP ? "float" : fmt == SAMPLEFORMAT_INT ?
                       "signed" : "unsigned");
    } else if (spp != 1 && spp != 3 && spp != 4) {
        rc = avk_error("%s: unsupported layout: %u channels (1, 3 or 4)", path, (unsigned)spp);
    } else if (!(photo == PHOTOMETRIC_MINISBLACK && spp == 1) &&
               !(photo == PHOTOMETRIC_RGB && spp >= 3)) {
        rc = avk_error("%s: unsupported color model (photometric %u, %u samples a "
                       "pixel; gray or RGB)", path, (unsigned)photo, (unsigned)spp);
    }
    if (rc < 0) {
        TIFFClose(tif);
        return -1;
    }
    img->width = (int)w;
    img->height = (int)h;
    img->channels = spp;
    img->sample = bps == 8 ? AVK_SAMPLE_U8 : bps == 16 ? AVK_SAMPLE_U16 : AVK_SAMPLE_F32;
    size_t total = (size_t)w * h * spp * sample_bytes(img->sample);
    img->data = malloc(total);
    if (!img->data) {
        TIFFClose(tif);
        return avk_error("%s: out of memory for %ux%u image", path, (unsigned)w, (unsigned)h);
    }
    int contig = planar == PLANARCONFIG_CONTIG || spp == 1;
    int planes = contig ? 1 : spp;
    int tiled = TIFFIsTiled(tif);
    tmsize_t bsize = tiled ? TIFFTileSize(tif) : TIFFStripSize(tif);
    uint8_t *blk = bsize > 0 ? malloc((size_t)bsize) : NULL;
    if (!blk) {
        TIFFClose(tif);
        avk_image_free(img);
        return avk_error("%s: bad block size", path);
    }
    uint32_t tw = w, th = 0;
    if (tiled) {
        TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
        TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
    } else {
        TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &th);
        if (th > h)
            th = h;
    }
    for (int p = 0; p < planes && rc == 0; p++)
        for (uint32_t y = 0; y < h && rc == 0; y += th)
            for (uint32_t x = 0; x < w && rc == 0; x += tw) {
                tmsize_t got = tiled
                    ? TIFFReadTile(tif, blk, x, y, 0, (uint16_t)p)
                    : TIFFReadEncodedStrip(tif, TIFFComputeStrip(tif, y, (uint16_t)p), blk, bsize);
                if (got < 0) {
                    rc = avk_error("%s: damaged image data at row %u%s%s", path,
                                   (unsigned)y, tiff_msg[0] ? ": " : "", tiff_msg);
                    break;
                }
                place_block(img, blk, (int)x, (int)y, (int)tw, (int)th, p, contig);
            }
    free(blk);
    TIFFClose(tif);
    if (rc < 0)
        avk_image_free(img);
    return rc;
}

/* Write an image as a TIFF (temporary file, then rename). */
int avk_tiff_write(const char *path, const avk_image *img, int deflate)
{
    tiff_handlers();
    size_t sb = sample_bytes(img->sample);
    if (!sb)
        return avk_error("%s: unsupported sample format %d", path, img->sample);
    if (img->channels != 1 && img->channels != 3 && img->channels != 4)
        return avk_error("%s: unsupported layout: %d channels (1, 3 or 4)", path, img->channels);
    if (img->width <= 0 || img->height <= 0 || !img->data)
        return avk_error("%s: empty image", path);
    /* a temporary file beside the file the links lead to, renamed onto it;
     * a device written in place */
    char *tmp = NULL, *target = NULL;
    int kind = avk_out_target(path, &target), fd = -1;
    if (kind == AVK_OUT_DIRECT) {
        fd = open(target, O_RDWR | O_CLOEXEC);
        if (fd < 0)
            avk_error("%s: %s", path, strerror(errno));
    } else if (kind == AVK_OUT_REPLACE) {
        fd = avk_tmp_create(target, &tmp);
    }
    if (fd < 0) {
        free(target);
        return -1;
    }
    TIFF *tif = TIFFFdOpen(fd, tmp ? tmp : target, "w");
    int rc = 0;
    if (!tif) {
        close(fd);
        rc = avk_error("%s: cannot write TIFF: %s", path, tiff_msg);
        goto out;
    }
    uint16_t extra = EXTRASAMPLE_UNASSALPHA;
    TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, (uint32_t)img->width);
    TIFFSetField(tif, TIFFTAG_IMAGELENGTH, (uint32_t)img->height);
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)img->channels);
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, (uint16_t)(sb * 8));
    TIFFSetField(tif, TIFFTAG_SAMPLEFORMAT,
                 img->sample == AVK_SAMPLE_F32 ? SAMPLEFORMAT_IEEEFP : SAMPLEFORMAT_UINT);
    TIFFSetField(tif, TIFFTAG_PHOTOMETRIC,
                 img->channels == 1 ? PHOTOMETRIC_MINISBLACK : PHOTOMETRIC_RGB);
    if (img->channels == 4)
        TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, 1, &extra);
    TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(tif, TIFFTAG_SOFTWARE, "avkit " AVK_VERSION);
    if (deflate) {
        TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE);
        TIFFSetField(tif, TIFFTAG_PREDICTOR, img->sample == AVK_SAMPLE_F32
                     ? PREDICTOR_FLOATINGPOINT : PREDICTOR_HORIZONTAL);
    } else {
        TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
    }
    TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, TIFFDefaultStripSize(tif, 0));
    size_t row = (size_t)img->width * img->channels * sb;
    uint8_t *line = avk_xmalloc(row);   /* libtiff may modify the buffer it encodes */
    for (int y = 0; y < img->height; y++) {
        memcpy(line, (const uint8_t *)img->data + (size_t)y * row, row);
        if (TIFFWriteScanline(tif, line, (uint32_t)y, 0) < 0) {
            rc = avk_error("%s: row %d: write error: %s", path, y, tiff_msg);
            break;
        }
    }
    free(line);
    if (rc == 0 && !TIFFWriteDirectory(tif))
        rc = avk_error("%s: write error: %s", path, tiff_msg);
    TIFFClose(tif);
    if (rc == 0 && tmp && rename(tmp, target) != 0)
        rc = avk_error("%s: cannot rename temporary file: %s", path, strerror(errno));
out:
    if (tmp) {
        if (rc != 0)
            unlink(tmp);
        avk_tmp_unregister(tmp);
        free(tmp);
    }
    free(target);
    return rc;
}
