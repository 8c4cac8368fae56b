/* TIFF frames (lib/io/tiff.c): bit-exact round trips of 8-bit, 16-bit and
 * float images with 1, 3 and 4 channels, plain and deflate; layouts other
 * writers use (tiles, separate planes); ffmpeg reads what we write; clear
 * errors for missing, foreign, damaged and unsupported files.
 */
#include "avkit/util/common.h"
#include "avkit/io/video.h"
#include "tap.h"

#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <unistd.h>

static size_t sbytes(int s)
{
    return s == AVK_SAMPLE_U8 ? 1 : s == AVK_SAMPLE_U16 ? 2 : 4;
}

/* An image with varied contents (a deterministic pattern plus, for
 * floats, special values: -0, infinities, denormals, NaN). */
static avk_image make_image(int w, int h, int ch, int sample)
{
    avk_image im = {w, h, ch, sample, NULL};
    size_t n = (size_t)w * h * ch;
    im.data = avk_xmalloc(n * sbytes(sample));
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        if (sample == AVK_SAMPLE_U8)
            ((uint8_t *)im.data)[i] = (uint8_t)(i % 7 == 0 ? x >> 24 : (i * 3) & 0xff);
        else if (sample == AVK_SAMPLE_U16)
            ((uint16_t *)im.data)[i] = (uint16_t)(i % 5 == 0 ? x >> 16 : i * 97);
        else
            ((float *)im.data)[i] = (float)((double)(int32_t)x / 65536.0);
    }
    if (sample == AVK_SAMPLE_F32 && n >= 5) {
        float *f = im.data;
        f[0] = -0.0f;
        f[1] = 1.0f / 0.0f;
        f[2] = -1.0f / 0.0f;
        f[3] = 1e-40f;
        f[4] = __builtin_nanf("");
    }
    return im;
}

static int same_image(const avk_image *a, const avk_image *b)
{
    return a->width == b->width && a->height == b->height && a->channels == b->channels &&
           a->sample == b->sample &&
           memcmp(a->data, b->data, (size_t)a->width * a->height * a->channels *
                  sbytes(a->sample)) == 0;
}

/* Write an image with libtiff directly in a layout we do not write
 * ourselves: tiled (16x16) or with separate planes. */
static int write_foreign(const char *path, const avk_image *im, int tiled)
{
    TIFF *t = TIFFOpen(path, "w");
    if (!t)
        return -1;
    int sb = (int)sbytes(im->sample);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)im->width);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)im->height);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)im->channels);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, (uint16_t)(sb * 8));
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, im->channels == 1 ? PHOTOMETRIC_MINISBLACK : PHOTOMETRIC_RGB);
    TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_LZW);
    int rc = 0;
    if (tiled) {
        TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
        TIFFSetField(t, TIFFTAG_TILEWIDTH, 16);
        TIFFSetField(t, TIFFTAG_TILELENGTH, 16);
        size_t px = (size_t)sb * im->channels;
        uint8_t *tile = avk_xcalloc(16 * 16, px);
        for (int ty = 0; ty < im->height; ty += 16)
            for (int tx = 0; tx < im->width; tx += 16) {
                memset(tile, 0, 16 * 16 * px);
                for (int y = 0; y < 16 && ty + y < im->height; y++) {
                    int n = tx + 16 > im->width ? im->width - tx : 16;
                    memcpy(tile + y * 16 * px,
                           (uint8_t *)im->data + ((size_t)(ty + y) * im->width + tx) * px, n * px);
                }
                if (TIFFWriteTile(t, tile, tx, ty, 0, 0) < 0)
                    rc = -1;
            }
        free(tile);
    } else {
        TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_SEPARATE);
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, 3);
        uint8_t *row = avk_xmalloc((size_t)im->width * sb);
        for (int p = 0; p < im->channels; p++)
            for (int y = 0; y < im->height; y++) {
                for (int x = 0; x < im->width; x++)
                    memcpy(row + x * sb, (uint8_t *)im->data +
                           (((size_t)y * im->width + x) * im->channels + p) * sb, sb);
                if (TIFFWriteScanline(t, row, y, (uint16_t)p) < 0)
                    rc = -1;
            }
        free(row);
    }
    TIFFClose(t);
    return rc;
}

/* A TIFF with one odd tag set, to check a layout is refused. */
static void write_odd(const char *path, int bps, int fmt, int spp, int photo)
{
    TIFF *t = TIFFOpen(path, "w");
    uint16_t map[256 * 3] = {0};
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, 8);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, 8);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, spp);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, bps);
    TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, fmt);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, photo);
    if (photo == PHOTOMETRIC_PALETTE)
        TIFFSetField(t, TIFFTAG_COLORMAP, map, map + 256, map + 512);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    uint8_t row[8 * 4 * 4] = {0};
    for (int y = 0; y < 8; y++)
        TIFFWriteScanline(t, row, y, 0);
    TIFFClose(t);
}

static int error_has(const char *a, const char *b)
{
    const char *m = avk_errmsg();
    return strstr(m, a) && (!b || strstr(m, b));
}

int main(void)
{
    static const int samples[] = {AVK_SAMPLE_U8, AVK_SAMPLE_U16, AVK_SAMPLE_F32};
    static const char *sname[] = {"", "8-bit", "16-bit", "float"};
    static const int chans[] = {1, 3, 4};
    char path[64];

    for (int s = 0; s < 3; s++)
        for (int c = 0; c < 3; c++)
            for (int z = 0; z < 2; z++) {
                avk_image im = make_image(37, 70, chans[c], samples[s]), back;
                snprintf(path, sizeof path, "rt-%d-%d-%d.tif", s, c, z);
                int rc = avk_tiff_write(path, &im, z);
                rc = rc == 0 ? avk_tiff_read(path, &back) : rc;
                if (!ok(rc == 0 && same_image(&im, &back), "%s, %d channel%s, %s: bit-exact round trip",
                        sname[samples[s]], chans[c], chans[c] > 1 ? "s" : "",
                        z ? "deflate" : "uncompressed"))
                    diag("%s", avk_errmsg());
                avk_image_free(&im);
                if (rc == 0)
                    avk_image_free(&back);
            }

    /* Deflate pays off on smooth images. */
    avk_image flat = make_image(256, 256, 1, AVK_SAMPLE_U16), back;
    for (int i = 0; i < 256 * 256; i++)
        ((uint16_t *)flat.data)[i] = (uint16_t)(i / 256 * 100);
    struct stat a = {0}, b = {0};
    int written = avk_tiff_write("plain.tif", &flat, 0) == 0 &&
                  avk_tiff_write("deflate.tif", &flat, 1) == 0 &&
                  stat("plain.tif", &a) == 0 && stat("deflate.tif", &b) == 0;
    ok(written && b.st_size * 10 < a.st_size,
       "deflate shrinks a smooth image (%lld -> %lld bytes)", (long long)a.st_size,
       (long long)b.st_size);
    mode_t mask = umask(0);
    umask(mask);
    ok((a.st_mode & 0777) == (0666 & ~mask), "written with the usual permissions (%o)",
       (unsigned)(a.st_mode & 0777));
    avk_image_free(&flat);

    /* Layouts other writers produce. */
    avk_image im = make_image(40, 35, 3, AVK_SAMPLE_U16);
    ok(write_foreign("tiled.tif", &im, 1) == 0 && avk_tiff_read("tiled.tif", &back) == 0 &&
       same_image(&im, &back), "reads a tiled LZW TIFF with partial edge tiles");
    avk_image_free(&back);
    ok(write_foreign("planes.tif", &im, 0) == 0 && avk_tiff_read("planes.tif", &back) == 0 &&
       same_image(&im, &back), "reads a TIFF with separate color planes");
    avk_image_free(&back);
    avk_image_free(&im);

    /* An independent reader (ffmpeg) sees the same pixels. */
    im = make_image(33, 21, 3, AVK_SAMPLE_U8);
    avk_tiff_write("ff.tif", &im, 1);
    int sys = system("ffmpeg -nostdin -loglevel error -y -i ff.tif -f rawvideo -pix_fmt rgb24 ff.rgb");
    FILE *fp = fopen("ff.rgb", "rb");
    uint8_t *raw = avk_xmalloc(33 * 21 * 3);
    size_t got = fp ? fread(raw, 1, 33 * 21 * 3, fp) : 0;
    ok(sys == 0 && got == 33 * 21 * 3 && memcmp(raw, im.data, got) == 0,
       "ffmpeg decodes our deflate RGB TIFF to the same pixels");
    if (fp)
        fclose(fp);
    free(raw);

    /* Errors name the file and say what is wrong; nothing is left behind. */
    ok(avk_tiff_read("missing.tif", &back) < 0 && error_has("missing.tif: ", "No such file"),
       "missing file: %s", avk_errmsg());
    fp = fopen("text.tif", "w");
    fputs("this is not an image\n", fp);
    fclose(fp);
    ok(avk_tiff_read("text.tif", &back) < 0 && error_has("text.tif: ", "not a readable TIFF"),
       "text file: %s", avk_errmsg());
    {
        FILE *in = fopen("rt-0-1-0.tif", "rb"), *out = fopen("cut.tif", "wb");
        char buf[4096];
        size_t n = fread(buf, 1, sizeof buf, in);
        fwrite(buf, 1, n, out);   /* header and the first rows only */
        fclose(in);
        fclose(out);
    }
    ok(avk_tiff_read("cut.tif", &back) < 0 && error_has("cut.tif: ", NULL),
       "truncated file: %s", avk_errmsg());
    write_odd("bilevel.tif", 1, SAMPLEFORMAT_UINT, 1, PHOTOMETRIC_MINISBLACK);
    ok(avk_tiff_read("bilevel.tif", &back) < 0 && error_has("bilevel.tif: ", "1-bit"),
       "1-bit image refused: %s", avk_errmsg());
    write_odd("signed.tif", 16, SAMPLEFORMAT_INT, 1, PHOTOMETRIC_MINISBLACK);
    ok(avk_tiff_read("signed.tif", &back) < 0 && error_has("signed.tif: ", "signed"),
       "signed samples refused: %s", avk_errmsg());
    write_odd("two.tif", 8, SAMPLEFORMAT_UINT, 2, PHOTOMETRIC_MINISBLACK);
    ok(avk_tiff_read("two.tif", &back) < 0 && error_has("two.tif: ", "2 channels"),
       "gray+alpha refused: %s", avk_errmsg());
    write_odd("palette.tif", 8, SAMPLEFORMAT_UINT, 1, PHOTOMETRIC_PALETTE);
    ok(avk_tiff_read("palette.tif", &back) < 0 && error_has("palette.tif: ", "color model"),
       "palette image refused: %s", avk_errmsg());
    avk_image two = {4, 4, 2, AVK_SAMPLE_U8, im.data};
    ok(avk_tiff_write("w2.tif", &two, 0) < 0 && error_has("w2.tif: ", "2 channels") &&
       access("w2.tif", F_OK) != 0, "writing 2 channels refused, no file: %s", avk_errmsg());
    ok(avk_tiff_write("no/such/dir/x.tif", &im, 0) < 0 && error_has("no/such/dir/x.tif: ", NULL),
       "unwritable place: %s", avk_errmsg());
    avk_image_free(&im);
    int leftovers = system("ls -A | grep -q tmp") == 0;
    ok(!leftovers, "no temporary files left");
    return done_testing();
}
