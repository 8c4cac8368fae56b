/* Write a deterministic example tensor stream with the C API: records
 * "rec0000", "rec0001", ... each with metadata and one tensor of every
 * dtype (named after it), values from a seeded generator. Used by the
 * tests, the fuzz seeds and as a short example of avt.h.
 *
 *   avt_write_example [-n RECORDS] [-e ELEMENTS] [-s SEED] [-z] [-b] [-o OUT]
 *   -b: raw random bit patterns (NaNs and infinities included) */
#include "avkit/io/avt.h"
#include "avkit/util/common.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64: a small, well-mixed, repeatable generator. */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Fill a tensor: bits mode takes raw random bytes; otherwise floats are
 * uniform in [-1, 1), integers random over their whole range, bools 0/1. */
static void fill(int dtype, void *data, size_t n, int bits, uint64_t *s)
{
    unsigned char *p = data;
    size_t esz = avt_dtype_size(dtype);
    for (size_t i = 0; i < n; i++, p += esz) {
        uint64_t r = next(s);
        float f = (float)((double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0);
        if (bits && dtype != AVT_BOOL) {
            memcpy(p, &r, esz);
            continue;
        }
        switch (dtype) {
        case AVT_F32: memcpy(p, &f, 4); break;
        case AVT_F64: { double d = (double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0; memcpy(p, &d, 8); break; }
        case AVT_F16: { uint16_t h = avt_f32_to_f16(f); memcpy(p, &h, 2); break; }
        case AVT_BF16: { uint16_t h = avt_f32_to_bf16(f); memcpy(p, &h, 2); break; }
        case AVT_BOOL: *p = r & 1; break;
        default: memcpy(p, &r, esz); break;
        }
    }
}

int main(int argc, char **argv)
{
    avk_tool_init(argv[0]);
    long nrec = 3, nel = 12, seed = 1, level = 0;
    int zlib = 0, bits = 0, c;
    const char *out = "-";
    while ((c = getopt(argc, argv, "n:e:s:zl:bo:h")) != -1) {
        switch (c) {
        case 'n': nrec = avk_parse_long("-n", optarg, 0, 1L << 30); break;
        case 'e': nel = avk_parse_long("-e", optarg, 0, 1L << 34); break;
        case 's': seed = avk_parse_long("-s", optarg, 0, 1L << 62); break;
        case 'z': zlib = 1; break;
        case 'l': level = avk_parse_long("-l", optarg, 1, 9); break;
        case 'b': bits = 1; break;
        case 'o': out = optarg; break;
        case 'h':
            printf("Usage: avt_write_example [-n RECORDS] [-e ELEMENTS] [-s SEED] "
                   "[-z] [-l LEVEL] [-b] [-o OUT]\n");
            return 0;
        default: avk_usage_error("unknown option");
        }
    }
    uint64_t s = (uint64_t)seed;
    avt_writer *w = avt_writer_open(out, zlib ? AVT_WRITE_ZLIB : 0, (int)level);
    if (!w)
        avk_die_lib();
    for (long i = 0; i < nrec; i++) {
        avt_record r;
        char key[32], idx[32];
        snprintf(key, sizeof key, "rec%04ld", i);
        snprintf(idx, sizeof idx, "%ld", i);
        avt_record_init(&r, key);
        avt_record_set_meta(&r, "caption", "a red circle moving left\ton gray");
        avt_record_set_meta(&r, "index", idx);
        for (int d = AVT_F32; d <= AVT_BOOL; d++) {
            /* shapes vary by dtype: [n], [2, n/2], [1, 2, n/2 ...] */
            int64_t shape[3] = {nel, 1, 1};
            int ndim = 1 + d % 3;
            if (ndim >= 2) {
                shape[0] = 2; shape[1] = nel / 2;
            }
            if (ndim == 3) {
                shape[0] = 1; shape[1] = 2; shape[2] = nel / 2;
            }
            int64_t n = 1;
            for (int k = 0; k < ndim; k++)
                n *= shape[k];
            void *data = avk_xmalloc((size_t)n * avt_dtype_size(d));
            fill(d, data, (size_t)n, bits, &s);
            avt_record_take_tensor(&r, avt_dtype_name(d), d, ndim, shape, data);
        }
        if (avt_write_record(w, &r) != 0) {
            avt_record_free(&r);
            avt_writer_abort(w);
            avk_die_lib();
        }
        avt_record_free(&r);
    }
    if (avt_writer_finish(w) != 0)
        avk_die_lib();
    return 0;
}
