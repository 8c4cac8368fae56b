/* libFuzzer target for the tensor stream reader: every input is read
 * twice, once as a non-seekable stream (fmemopen) and once as a regular
 * file (memfd) where the index is also used: count, seeks, reads.
 * Inputs of odd size are read with checksum comparisons off (fuzzing
 * builds only), so that mutations get past them into the parser.
 * With FUZZ_WRITE_SEEDS=DIR in the environment it writes a seed corpus
 * of valid streams into DIR and exits (scripts/fuzz.sh uses that). */
#include "avkit/io/avt.h"
#include "avkit/util/common.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
extern int avt_fuzz_skip_crc;   /* lib/io/avt_read.c */
#endif

/* Read every record to the end or the first error. */
static void read_all(avt_reader *rd)
{
    avt_record r;
    while (avt_read_record(rd, &r) == 1)
        avt_record_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    /* odd-sized inputs skip checksums to reach the parsing behind them */
    avt_fuzz_skip_crc = size & 1;
#endif
    if (size > 0) {
        FILE *fp = fmemopen((void *)data, size, "rb");
        if (fp) {
            avt_reader *rd = avt_reader_open_fp(fp, "fuzz");
            if (rd) {
                read_all(rd);
                avt_reader_close(rd);
            }
            fclose(fp);
        }
    }
    static int fd = -1;
    if (fd < 0)
        fd = memfd_create("fuzz.avt", 0);
    if (fd < 0 || ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        return 0;
    lseek(fd, 0, SEEK_SET);
    FILE *fp = fdopen(dup(fd), "rb");
    if (!fp)
        return 0;
    avt_reader *rd = avt_reader_open_fp(fp, "fuzz.avt");
    if (rd) {
        int64_t n = avt_reader_count(rd);
        avt_record r;
        if (n > 0) {
            int64_t picks[3] = {n - 1, 0, n / 2};
            for (int i = 0; i < 3; i++)
                if (avt_reader_seek(rd, picks[i]) == 0 && avt_read_record(rd, &r) == 1)
                    avt_record_free(&r);
            avt_reader_seek(rd, n);
            avt_read_record(rd, &r);
            avt_reader_seek(rd, 0);
        }
        read_all(rd);
        avt_reader_close(rd);
    }
    fclose(fp);
    return 0;
}

/* Seeds: small valid streams that reach every part of the format. */
static void write_seeds(const char *dir)
{
    for (int s = 0; s < 6; s++) {
        char *path = avk_xasprintf("%s/seed%d.avt", dir, s);
        avt_writer *w = avt_writer_open(path, s % 2 ? AVT_WRITE_ZLIB : 0, 0);
        free(path);
        if (!w)
            continue;
        for (int k = 0; k < s; k++) {
            avt_record r;
            avt_record_init(&r, k % 2 ? "clip" : "");
            if (k)
                avt_record_set_meta(&r, "caption", "a red circle");
            for (int d = AVT_F32; d <= AVT_BOOL; d += 1 + s) {
                int64_t shape[3] = {2, 1 + k, 3};
                int ndim = d % 4;
                size_t n = avt_dtype_size(d) * (size_t)(ndim > 0 ? 2 : 1) *
                           (ndim > 1 ? 1 + k : 1) * (ndim > 2 ? 3 : 1);
                unsigned char *p = avk_xmalloc(n * 40);
                for (size_t i = 0; i < n; i++)
                    p[i] = (unsigned char)(i * (d + 1) / 7);
                shape[0] = ndim > 0 ? 2 : 1;
                avt_record_take_tensor(&r, avt_dtype_name(d), d, ndim, shape, p);
            }
            if (s == 5) {
                int64_t big[1] = {512};
                avt_record_add_tensor(&r, "zeros", AVT_F32, 1, big, NULL);
            }
            avt_write_record(w, &r);
            avt_record_free(&r);
        }
        avt_writer_finish(w);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("FUZZ_WRITE_SEEDS");
    if (dir) {
        write_seeds(dir);
        exit(0);
    }
    return 0;
}
