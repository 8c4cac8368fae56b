/* av-tensor: the od of the tensor stream. Prints records and tensor
 * summaries as text, counts records, exports tensors to .npy, and builds
 * streams: --pack from .npy files, --cat to join and filter streams. */
#include "avkit/io/avt.h"
#include "avkit/io/avt_npy.h"
#include "avkit/util/common.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static __attribute__((noreturn)) void usage(void)
{
    printf("Usage: av-tensor [-r N] [FILE...]            print records and tensor summaries\n"
           "       av-tensor -c [FILE...]                 count records\n"
           "       av-tensor --check [FILE...]            verify every checksum, print nothing\n"
           "       av-tensor [-r N] --npy DIR [FILE]      write tensors as DIR/NAME.npy\n"
           "       av-tensor [-r N] -x NAME [-o OUT.npy] [FILE]   one tensor as .npy\n"
           "       av-tensor --cat [-r N] [-z] [-o OUT] [FILE...]   join streams into one\n"
           "       av-tensor --pack [-k KEY] [-m K=V]... [-z] [-o OUT] NAME[:DTYPE]=FILE.npy...\n"
           "Options:\n"
           "  -r, --record N     only record N (0-based) of each input\n"
           "  -c, --count        print the number of records\n"
           "      --check        read everything, report only errors\n"
           "      --npy DIR      export the selected records' tensors to DIR\n"
           "  -x, --extract NAME export tensor NAME of the selected record (default 0)\n"
           "  -o, --output FILE  output file (default: standard output)\n"
           "      --cat          write the (selected) records of all inputs as one stream\n"
           "      --pack         write one record from .npy files\n"
           "  -k, --key KEY      the key of the packed record\n"
           "  -m, --meta K=V     metadata of the packed record (repeatable)\n"
           "  -z, --zlib         compress payloads with zlib\n"
           "  -l, --level N      zlib level 1..9 (default 6)\n"
           "  -v, --verbose      more messages\n"
           "  -h, --help         this help\n"
           "      --version      print the version\n"
           "FILE '-' or no FILE reads standard input. See av-tensor(1), avt(5).\n");
    exit(AVK_EXIT_OK);
}

/* Print a string with backslash escapes for control bytes and '\'. */
static void put_escaped(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", stdout);
        else if (*p == '\n')
            fputs("\\n", stdout);
        else if (*p == '\t')
            fputs("\\t", stdout);
        else if (*p < 0x20 || *p == 0x7f)
            printf("\\x%02x", *p);
        else
            putchar(*p);
    }
}

/* A number as %.6g, with every NaN spelled "nan" whatever its sign. */
static const char *num(double v)
{
    static char buf[32];
    if (isnan(v))
        return "nan";
    snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}

/* One line per tensor: name dtype [shape] and min/max/mean/std over all
 * elements as doubles (population std; min and max skip NaNs). */
static void print_tensor(const avt_tensor *t)
{
    printf("  tensor ");
    put_escaped(t->name);
    printf(" %s [", avt_dtype_name(t->dtype));
    for (int i = 0; i < t->ndim; i++)
        printf("%s%lld", i ? "," : "", (long long)t->shape[i]);
    printf("]");
    int64_t n = avt_tensor_numel(t);
    if (n == 0) {
        printf(" empty\n");
        return;
    }
    enum { B = 4096 };
    double buf[B], sum = 0, sq = 0, lo = INFINITY, hi = -INFINITY;
    int64_t nans = 0;
    size_t esz = avt_dtype_size(t->dtype);
    const unsigned char *p = t->data;
    for (int64_t i = 0; i < n; i += B) {
        size_t m = (size_t)(n - i < B ? n - i : B);
        avt_to_f64(t->dtype, p + (size_t)i * esz, buf, m);
        for (size_t j = 0; j < m; j++) {
            double v = buf[j];
            sum += v;
            if (isnan(v))
                nans++;
            if (v < lo)
                lo = v;
            if (v > hi)
                hi = v;
        }
    }
    double mean = sum / (double)n;
    for (int64_t i = 0; i < n; i += B) {
        size_t m = (size_t)(n - i < B ? n - i : B);
        avt_to_f64(t->dtype, p + (size_t)i * esz, buf, m);
        for (size_t j = 0; j < m; j++)
            sq += (buf[j] - mean) * (buf[j] - mean);
    }
    if (nans == n)
        lo = hi = NAN;
    printf(" min=%s", num(lo));
    printf(" max=%s", num(hi));
    printf(" mean=%s", num(mean));
    printf(" std=%s", num(sqrt(sq / (double)n)));
    if (nans)
        printf(" nan=%lld", (long long)nans);
    printf("\n");
}

static void print_record(int64_t index, const avt_record *r)
{
    printf("record %lld key=", (long long)index);
    put_escaped(r->key);
    putchar('\n');
    for (int i = 0; i < r->nmeta; i++) {
        printf("  meta ");
        put_escaped(r->meta[i].key);
        putchar('=');
        put_escaped(r->meta[i].value);
        putchar('\n');
    }
    for (int i = 0; i < r->ntensors; i++)
        print_tensor(&r->tensors[i]);
    if (ferror(stdout) || fflush(stdout) != 0) {
        if (errno == EPIPE)
            exit(AVK_EXIT_FAIL);
        avk_die(AVK_EXIT_FAIL, "standard output: write error: %s", strerror(errno));
    }
}

/* What to do with each record read. */
enum mode { PRINT, COUNT, CHECK, NPY, EXTRACT, CAT };

struct job {
    enum mode mode;
    long record;              /* -1: all */
    const char *npy_dir, *extract, *output;
    avt_writer *w;
    int nrecords_done;        /* records handled so far (for --npy / -x) */
};

/* A file name for a tensor: '/' becomes '_', a leading '.' too. */
static char *npy_name(const char *dir, const char *name)
{
    char *s = avk_xasprintf("%s/%s.npy", dir, name);
    for (char *p = s + strlen(dir) + 1; *p; p++)
        if (*p == '/' || (*p == '.' && p == s + strlen(dir) + 1))
            *p = '_';
    return s;
}

/* Handle one record; 0 or -1 (error set). */
static int handle(struct job *j, const char *file, int64_t index, const avt_record *r)
{
    switch (j->mode) {
    case PRINT:
        print_record(index, r);
        return 0;
    case COUNT:
    case CHECK:
        return 0;
    case CAT:
        return avt_write_record(j->w, r);
    case NPY:
        if (j->nrecords_done++)
            return avk_error("%s: --npy takes one record; choose it with -r N", file);
        for (int i = 0; i < r->ntensors; i++) {
            char *path = npy_name(j->npy_dir, r->tensors[i].name);
            int rc = avt_npy_write(path, &r->tensors[i]);
            free(path);
            if (rc != 0)
                return -1;
        }
        return 0;
    case EXTRACT: {
        avt_tensor *t = avt_record_find(r, j->extract);
        if (!t)
            return avk_error("%s: record %lld has no tensor '%s'", file,
                             (long long)index, j->extract);
        j->nrecords_done++;
        return avt_npy_write(j->output, t);
    }
    }
    return 0;
}

/* Read one input and handle its (selected) records; 0 or -1. */
static int run_file(struct job *j, const char *file, int nfiles)
{
    avt_reader *rd = avt_reader_open(file);
    if (!rd)
        return -1;
    int rc = 0;
    avt_record r;
    if (j->mode == COUNT) {
        int64_t n = strcmp(file, "-") ? avt_reader_count(rd) : -1;
        if (n < 0) {           /* not indexed (a pipe): count by reading */
            n = 0;
            int got;
            while ((got = avt_read_record(rd, &r)) > 0) {
                avt_record_free(&r);
                n++;
            }
            rc = got;
        }
        if (rc == 0) {
            if (nfiles > 1)
                printf("%lld %s\n", (long long)n, file);
            else
                printf("%lld\n", (long long)n);
        }
        avt_reader_close(rd);
        return rc;
    }
    if (j->mode == PRINT && nfiles > 1)
        printf("file %s\n", file);
    int64_t want = j->record;
    if (want >= 0 && strcmp(file, "-") != 0 && avt_reader_count(rd) >= 0) {
        if (avt_reader_seek(rd, want) != 0) {
            avt_reader_close(rd);
            return -1;
        }
    }
    for (;;) {
        int64_t index = avt_reader_tell(rd);
        int got = avt_read_record(rd, &r);
        if (got <= 0) {
            rc = got;
            if (got == 0 && want >= 0 && index <= want)
                rc = avk_error("%s: record %ld does not exist (the stream has %lld)",
                               file, j->record, (long long)index);
            break;
        }
        if (want < 0 || index == want)
            rc = handle(j, file, index, &r);
        avt_record_free(&r);
        if (rc != 0 || (want >= 0 && index >= want))
            break;
    }
    avt_reader_close(rd);
    return rc;
}

/* Convert a packed tensor to the dtype asked for after NAME:. */
static int convert(avt_tensor *t, int to, const char *file)
{
    if (t->dtype == to)
        return 0;
    int64_t n = avt_tensor_numel(t);
    int from = t->dtype;
    if (from == AVT_U16 && (to == AVT_F16 || to == AVT_BF16)) {
        t->dtype = to;            /* raw bit patterns */
        return 0;
    }
    int to_float = to == AVT_F32 || to == AVT_F16 || to == AVT_BF16 || to == AVT_F64;
    if ((from != AVT_F32 && from != AVT_F64) || !to_float)
        return avk_error("%s: cannot convert %s to %s (conversions: f32/f64 to "
                         "f32/f64/f16/bf16, u16 bits to f16/bf16)", file,
                         avt_dtype_name(from), avt_dtype_name(to));
    size_t esz = avt_dtype_size(to);
    unsigned char *out = avk_xmalloc((size_t)n * esz + 1);
    for (int64_t i = 0; i < n; i++) {
        double v = from == AVT_F32 ? ((float *)t->data)[i] : ((double *)t->data)[i];
        if (to == AVT_F64) {
            memcpy(out + 8 * i, &v, 8);
        } else if (to == AVT_F32) {
            float f = (float)v;
            memcpy(out + 4 * i, &f, 4);
        } else {
            uint16_t h = to == AVT_F16 ? avt_f32_to_f16((float)v) : avt_f32_to_bf16((float)v);
            memcpy(out + 2 * i, &h, 2);
        }
    }
    free(t->data);
    t->data = out;
    t->dtype = to;
    t->nbytes = (size_t)n * esz;
    return 0;
}

/* --pack: one record from NAME[:DTYPE]=FILE.npy arguments. */
static int pack(avt_writer *w, const char *key, char **meta, int nmeta,
                char **args, int nargs)
{
    avt_record r;
    avt_record_init(&r, key);
    for (int i = 0; i < nmeta; i++) {
        char *eq = strchr(meta[i], '=');
        *eq = 0;
        avt_record_set_meta(&r, meta[i], eq + 1);
        *eq = '=';
    }
    int rc = 0;
    for (int i = 0; i < nargs && rc == 0; i++) {
        char *spec = avk_xstrdup(args[i]);
        char *eq = strchr(spec, '=');
        if (!eq || eq == spec) {
            free(spec);
            avt_record_free(&r);
            avk_usage_error("'%s': expected NAME[:DTYPE]=FILE.npy", args[i]);
        }
        *eq = 0;
        char *colon = strrchr(spec, ':');
        int to = -1;
        if (colon) {
            *colon = 0;
            to = avt_dtype_from_name(colon + 1);
            if (to < 0) {
                avt_record_free(&r);
                avk_usage_error("'%s': unknown dtype '%s'", args[i], colon + 1);
            }
        }
        if (avt_record_find(&r, spec)) {
            rc = avk_error("%s: tensor name '%s' given twice", eq + 1, spec);
        } else {
            rc = avt_npy_read(eq + 1, &r, spec);
            if (rc == 0 && to >= 0)
                rc = convert(avt_record_find(&r, spec), to, eq + 1);
        }
        free(spec);
    }
    if (rc == 0)
        rc = avt_write_record(w, &r);
    avt_record_free(&r);
    return rc;
}

int main(int argc, char **argv)
{
    avk_tool_init(argv[0]);
    enum { OPT_VERSION = 256, OPT_NPY, OPT_CAT, OPT_PACK, OPT_CHECK };
    static const struct option opts[] = {
        {"record", required_argument, 0, 'r'}, {"count", no_argument, 0, 'c'},
        {"check", no_argument, 0, OPT_CHECK},  {"npy", required_argument, 0, OPT_NPY},
        {"extract", required_argument, 0, 'x'}, {"output", required_argument, 0, 'o'},
        {"cat", no_argument, 0, OPT_CAT},      {"pack", no_argument, 0, OPT_PACK},
        {"key", required_argument, 0, 'k'},    {"meta", required_argument, 0, 'm'},
        {"zlib", no_argument, 0, 'z'},         {"level", required_argument, 0, 'l'},
        {"verbose", no_argument, 0, 'v'},      {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, OPT_VERSION}, {0, 0, 0, 0}};
    struct job j = {.mode = PRINT, .record = -1};
    int packing = 0, zlib = 0, level = 0, nmeta = 0, nmodes = 0;
    const char *key = "";
    char **meta = avk_xcalloc((size_t)argc, sizeof *meta);
    int c;
    while ((c = getopt_long(argc, argv, "r:cx:o:k:m:zl:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'r': j.record = avk_parse_long("-r", optarg, 0, LONG_MAX); break;
        case 'c': j.mode = COUNT; nmodes++; break;
        case OPT_CHECK: j.mode = CHECK; nmodes++; break;
        case OPT_NPY: j.mode = NPY; j.npy_dir = optarg; nmodes++; break;
        case 'x': j.mode = EXTRACT; j.extract = optarg; nmodes++; break;
        case 'o': j.output = optarg; break;
        case OPT_CAT: j.mode = CAT; nmodes++; break;
        case OPT_PACK: packing = 1; nmodes++; break;
        case 'k': key = optarg; break;
        case 'm':
            if (!strchr(optarg, '='))
                avk_usage_error("-m: '%s' is not KEY=VALUE", optarg);
            meta[nmeta++] = optarg;
            break;
        case 'z': zlib = 1; break;
        case 'l': level = (int)avk_parse_long("-l", optarg, 1, 9); break;
        case 'v': avk_verbose++; break;
        case 'h': usage();
        case OPT_VERSION: avk_print_version();
        default: avk_usage_try();
        }
    }
    if (nmodes > 1)
        avk_usage_error("choose one of -c, --check, --npy, -x, --cat, --pack");
    if (j.output && !(packing || j.mode == CAT || j.mode == EXTRACT))
        avk_usage_error("-o goes with -x, --cat or --pack");
    if ((zlib || level) && !(packing || j.mode == CAT))
        avk_usage_error("-z and -l go with --cat or --pack");
    if ((nmeta || *key) && !packing)
        avk_usage_error("-k and -m go with --pack");
    int flags = zlib ? AVT_WRITE_ZLIB : 0;

    if (packing) {
        if (optind == argc)
            avk_usage_error("--pack needs at least one NAME=FILE.npy");
        avt_writer *w = avt_writer_open(j.output ? j.output : "-", flags, level);
        if (!w)
            avk_die_lib();
        if (pack(w, key, meta, nmeta, argv + optind, argc - optind) != 0) {
            avt_writer_abort(w);
            avk_die_lib();
        }
        if (avt_writer_finish(w) != 0)
            avk_die_lib();
        free(meta);
        return AVK_EXIT_OK;
    }
    free(meta);

    char *stdin_only[] = {"-"};
    char **files = optind < argc ? argv + optind : stdin_only;
    int nfiles = optind < argc ? argc - optind : 1;
    if ((j.mode == NPY || j.mode == EXTRACT) && nfiles > 1)
        avk_usage_error("--npy and -x take one input");
    if (j.mode == EXTRACT && j.record < 0)
        j.record = 0;
    if (j.mode == NPY) {
        struct stat st;
        if (stat(j.npy_dir, &st) != 0 || !S_ISDIR(st.st_mode))
            avk_die(AVK_EXIT_FAIL, "%s: not a directory", j.npy_dir);
    }
    if (j.mode == EXTRACT && !j.output)
        j.output = "-";
    if (j.mode == EXTRACT && avk_output_check(j.output, 1) < 0)
        avk_die_lib();
    if (j.mode == CAT) {
        j.w = avt_writer_open(j.output ? j.output : "-", flags, level);
        if (!j.w)
            avk_die_lib();
    }
    int status = AVK_EXIT_OK;
    for (int i = 0; i < nfiles; i++) {
        if (run_file(&j, files[i], nfiles) != 0) {
            if (j.mode == CAT) {
                avt_writer_abort(j.w);
                avk_die_lib();
            }
            avk_warn_lib();
            status = AVK_EXIT_FAIL;
            if (j.mode == NPY || j.mode == EXTRACT)
                break;
        }
    }
    if (j.mode == CAT && avt_writer_finish(j.w) != 0)
        avk_die_lib();
    if (fflush(stdout) != 0 && errno != EPIPE)
        avk_die(AVK_EXIT_FAIL, "standard output: write error: %s", strerror(errno));
    return status;
}
