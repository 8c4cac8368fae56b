/* A helper of the av-sample tests (not a TAP test itself): writes a tiny
 * DiT checkpoint with every weight random, so that sampling from it is
 * fast and every part of the model matters.
 *
 *   test_sample_util mkdit OUT.safetensors [--channels C] [--depth N] [--hidden D] [--ema] [KEY=VALUE]...
 *
 * The configuration: patch 1x2x2, width 32, 2 heads, 2 blocks, MLP ratio
 * 2, 512 token ids, text length 16, one text layer, MM-DiT with joint
 * attention. --ema adds an "ema." copy of every tensor with other random
 * values; KEY=VALUE pairs go into the metadata.
 *
 *   test_sample_util cmp A.avt B.avt [-r N] [--frame F] [--cols C0:C1]
 *
 * prints the largest absolute difference between the f32 "latent"
 * tensors [C, T, h, w] of record N (default 0) of two streams, over frame
 * F only and latent columns C0..C1-1 only when given.
 *
 *   test_sample_util meta FILE.safetensors KEY
 *
 * prints the value of metadata KEY, or "(none)" when the file has none. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "avkit/util/common.h"
#include "avkit/io/avt.h"
#include "avkit/io/safetensors.h"
#include "avkit/nn/tensor.h"
#include "avkit/models/dit.h"

/* Every tensor drawn at random: matrices scaled by 1/sqrt(fan-in), norm
 * weights near 1, the rest small (so no gate or projection is zero). */
static void randomize(const avk_dit *m, float *w, uint64_t seed)
{
    avk_rng r;
    avk_rng_seed(&r, seed);
    for (int i = 0; i < m->nparam; i++) {
        const avk_dit_param *p = &m->params[i];
        float *d = w + p->offset;
        if (p->ndim >= 2) {
            int64_t fan = p->numel / p->shape[0];
            avk_fill_randn(d, p->numel, &r, 0.0f, (float)(1.0 / sqrt((double)fan)));
        } else if (strstr(p->name, "norm") && strstr(p->name, "weight") && !strstr(p->name, "linear")) {
            avk_fill_randn(d, p->numel, &r, 1.0f, 0.1f);
        } else {
            avk_fill_randn(d, p->numel, &r, 0.0f, 0.1f);
        }
    }
}

/* Record `rec`'s f32 latent of a stream, copied; its shape in s[4]. */
static float *read_latent(const char *path, int rec, int64_t s[4])
{
    avt_reader *rd = avt_reader_open(path);
    if (!rd)
        avk_die_lib();
    avt_record r;
    float *out = NULL;
    for (int i = 0; i <= rec; i++) {
        if (avt_read_record(rd, &r) != 1)
            avk_die(1, "%s: no record %d", path, rec);
        if (i < rec) {
            avt_record_free(&r);
            continue;
        }
        const avt_tensor *t = avt_record_find(&r, "latent");
        if (!t || t->dtype != AVT_F32 || t->ndim != 4)
            avk_die(1, "%s: record %d: no f32 latent [C, T, h, w]", path, rec);
        memcpy(s, t->shape, 4 * sizeof *s);
        out = avk_xmalloc((size_t)avt_tensor_numel(t) * sizeof *out);
        memcpy(out, t->data, (size_t)avt_tensor_numel(t) * sizeof *out);
        avt_record_free(&r);
    }
    avt_reader_close(rd);
    return out;
}

/* The cmp subcommand. */
static int cmp_main(int argc, char **argv)
{
    int rec = 0, frame = -1, c0 = 0, c1 = -1;
    for (int i = 4; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-r"))
            rec = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--frame"))
            frame = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--cols") && sscanf(argv[i + 1], "%d:%d", &c0, &c1) == 2)
            ;
        else
            avk_die(2, "cmp: bad option %s", argv[i]);
    }
    int64_t sa[4], sb[4];
    float *a = read_latent(argv[2], rec, sa), *b = read_latent(argv[3], rec, sb);
    if (memcmp(sa, sb, sizeof sa))
        avk_die(1, "the latents differ in shape");
    if (c1 < 0)
        c1 = (int)sa[3];
    double d = 0;
    for (int64_t c = 0; c < sa[0]; c++)
        for (int64_t t = 0; t < sa[1]; t++)
            for (int64_t y = 0; y < sa[2]; y++)
                for (int64_t x = c0; x < c1; x++) {
                    if (frame >= 0 && t != frame)
                        continue;
                    int64_t k = ((c * sa[1] + t) * sa[2] + y) * sa[3] + x;
                    d = fmax(d, fabs((double)a[k] - b[k]));
                }
    printf("%.9g\n", d);
    free(a);
    free(b);
    return 0;
}

/* The meta subcommand. */
static int meta_main(char **argv)
{
    avk_st_file *f = avk_st_open(argv[2]);
    if (!f)
        avk_die_lib();
    const char *v = avk_st_meta(f, argv[3]);
    printf("%s\n", v ? v : "(none)");
    avk_st_close(f);
    return 0;
}

int main(int argc, char **argv)
{
    avk_tool_init("test_sample_util");
    if (argc >= 4 && !strcmp(argv[1], "cmp"))
        return cmp_main(argc, argv);
    if (argc == 4 && !strcmp(argv[1], "meta"))
        return meta_main(argv);
    if (argc < 3 || strcmp(argv[1], "mkdit"))
        avk_die(2, "usage: test_sample_util mkdit OUT.safetensors [--channels C] [--depth N] [--hidden D] [--ema] [KEY=VALUE]...");
    avk_dit_config c = avk_dit_config_default();
    c.hidden = 32;
    c.heads = 2;
    c.depth = 2;
    c.mlp_ratio = 2;
    c.vocab_size = 512;
    c.max_text_len = 16;
    c.text_layers = 1;
    c.freq_dim = 32;
    c.mmdit = 1;
    c.joint = 1;
    int ema = 0;
    for (int i = 3; i < argc; i++)
        if (!strcmp(argv[i], "--ema"))
            ema = 1;
        else if (!strcmp(argv[i], "--channels") && i + 1 < argc)
            c.in_channels = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--depth") && i + 1 < argc)
            c.depth = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--hidden") && i + 1 < argc)
            c.hidden = atoi(argv[++i]), c.heads = c.hidden / 32;
    avk_dit *m = avk_dit_new(&c);
    if (!m)
        avk_die_lib();
    randomize(m, m->w, 11);
    float *e = avk_falloc(m->nfloats);
    randomize(m, e, 12);
    avk_st_writer *w = avk_st_writer_new();
    char *cfg = avk_dit_config_json(&m->cfg);
    avk_st_writer_meta(w, "format", "pt");
    avk_st_writer_meta(w, "model", "avkit-dit");
    avk_st_writer_meta(w, "config", cfg);
    free(cfg);
    for (int i = 3; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (eq && argv[i][0] != '-') {
            *eq = 0;
            avk_st_writer_meta(w, argv[i], eq + 1);
        }
    }
    char name[160];
    for (int i = 0; i < m->nparam; i++) {
        const avk_dit_param *p = &m->params[i];
        avk_st_writer_add(w, p->name, AVT_F32, p->ndim, p->shape, m->w + p->offset);
        if (ema) {
            snprintf(name, sizeof name, "ema.%s", p->name);
            avk_st_writer_add(w, name, AVT_F32, p->ndim, p->shape, e + p->offset);
        }
    }
    if (avk_st_writer_write(w, argv[2]) < 0)
        avk_die_lib();
    avk_ffree(e);
    avk_dit_free(m);
    return 0;
}
