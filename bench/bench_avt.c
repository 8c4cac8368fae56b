/* Helper of bench/bench_avt.sh: write or read a tensor stream as fast as
 * the library allows, so the script can time it against cat.
 *
 *   bench_avt write -n RECORDS -e ELEMENTS [-z] [-o OUT]   (f32 records)
 *   bench_avt read FILE                                     ("-" is stdin)
 * Prints the raw payload bytes handled on stdout (read) or stderr (write). */
#include "avkit/io/avt.h"
#include "avkit/util/common.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* Write RECORDS copies of one record holding an f32 tensor of ELEMENTS
 * uniform values in [-1, 1) (generated once). */
static int bench_write(int argc, char **argv)
{
    long n = 16, e = 1 << 24;
    int zlib = 0, c;
    const char *out = "-";
    while ((c = getopt(argc, argv, "n:e:zo:")) != -1) {
        switch (c) {
        case 'n': n = avk_parse_long("-n", optarg, 0, 1L << 30); break;
        case 'e': e = avk_parse_long("-e", optarg, 1, 1L << 32); break;
        case 'z': zlib = 1; break;
        case 'o': out = optarg; break;
        default: avk_usage_error("usage: bench_avt write -n N -e E [-z] [-o OUT]");
        }
    }
    float *x = avk_xmalloc((size_t)e * 4);
    uint32_t s = 12345;
    for (long i = 0; i < e; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) / 8388608.0f - 1.0f;
    }
    avt_record r;
    avt_record_init(&r, "bench");
    avt_record_set_meta(&r, "fps", "24");
    int64_t shape[1] = {e};
    avt_record_take_tensor(&r, "latent", AVT_F32, 1, shape, x);
    avt_writer *w = avt_writer_open(out, zlib ? AVT_WRITE_ZLIB : 0, 1);
    if (!w)
        avk_die_lib();
    for (long i = 0; i < n; i++)
        if (avt_write_record(w, &r) != 0)
            avk_die_lib();
    if (avt_writer_finish(w) != 0)
        avk_die_lib();
    avt_record_free(&r);
    fprintf(stderr, "%lld\n", (long long)n * e * 4);
    return 0;
}

/* Read every record (all checks on) and count the payload bytes. */
static int bench_read(const char *path)
{
    avt_reader *rd = avt_reader_open(path);
    if (!rd)
        avk_die_lib();
    avt_record r;
    long long bytes = 0;
    int got;
    while ((got = avt_read_record(rd, &r)) == 1) {
        for (int i = 0; i < r.ntensors; i++)
            bytes += (long long)r.tensors[i].nbytes;
        avt_record_free(&r);
    }
    if (got < 0)
        avk_die_lib();
    avt_reader_close(rd);
    printf("%lld\n", bytes);
    return 0;
}

int main(int argc, char **argv)
{
    avk_tool_init(argv[0]);
    if (argc >= 2 && strcmp(argv[1], "write") == 0)
        return bench_write(argc - 1, argv + 1);
    if (argc == 3 && strcmp(argv[1], "read") == 0)
        return bench_read(argv[2]);
    avk_usage_error("usage: bench_avt write -n N -e E [-z] [-o OUT] | bench_avt read FILE");
}
