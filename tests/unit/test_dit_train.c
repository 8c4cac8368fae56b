/* The DiT trainer (avk_dit_train, behind av-train --model dit) on a
 * synthetic latent stream of two buckets with captions: it writes a
 * loadable checkpoint and optimizer file; two runs give identical files;
 * a run resumed from a mid-way checkpoint ends bitwise equal to an
 * uninterrupted one; training lowers the validation loss; and each bad
 * input (channel mismatch, no caption, token outside the vocabulary,
 * bucket not divisible by the patch, heads not dividing the width, a
 * checkpoint of another model or another variant, a truncated checkpoint)
 * fails with a message naming the file and field, writing nothing; weights
 * with a NaN are refused; a non-finite loss stops the run and keeps the
 * last good checkpoint.
 * With --fixture DIR it only writes the streams and configs for t573. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tap.h"
#include "avkit/util/common.h"
#include "avkit/io/avt.h"
#include "avkit/io/safetensors.h"
#include "avkit/nn/tensor.h"
#include "avkit/data/latents.h"
#include "avkit/models/dit.h"
#include "avkit/diffusion/dit_train.h"

static char dir[4096];
static int signo;

static const char *path(const char *name)
{
    static char buf[64][4200];
    static int k;
    k = (k + 1) % 64;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* A record: latent [C, T, H, W] whose content follows the caption's first
 * word (so text conditioning matters), tokens <bos> ids <eos> <pad>.. */
static void add_record(avt_writer *w, int i, int C, int T, int H, int W, int with_tokens,
                       int bad_token)
{
    char key[32];
    snprintf(key, sizeof key, "clip%03d", i);
    avt_record r;
    avt_record_init(&r, key);
    int64_t n = (int64_t)C * T * H * W;
    float *lat = malloc((size_t)n * sizeof *lat);
    int word = 3 + i % 5;
    for (int64_t j = 0; j < n; j++)
        lat[j] = (float)(0.8 * sin(0.3 * (double)j * (word - 2) + i % 3) + 0.1 * (word - 5));
    int64_t sh[4] = {C, T, H, W};
    if (i % 2) {   /* half the records in f16, as av-vaeenc --dtype f16 writes */
        uint16_t *h = malloc((size_t)n * sizeof *h);
        for (int64_t j = 0; j < n; j++)
            h[j] = avt_f32_to_f16(lat[j]);
        avt_record_take_tensor(&r, "latent", AVT_F16, 4, sh, h);
        free(lat);
    } else {
        avt_record_take_tensor(&r, "latent", AVT_F32, 4, sh, lat);
    }
    avt_record_set_meta(&r, "bucket", T == 2 ? "64x64" : "96x64");
    if (with_tokens) {
        int32_t tok[8] = {1, word, 10 + i % 7, 20 + i % 4, 2, 0, 0, 0};
        uint8_t mask[8] = {1, 1, 1, 1, 1, 0, 0, 0};
        if (i % 3 == 0) {   /* a shorter caption */
            tok[3] = 2;
            tok[4] = 0;
            mask[4] = 0;
        }
        if (bad_token)
            tok[2] = 900;
        int64_t ls = 8;
        avt_record_add_tensor(&r, "tokens", AVT_I32, 1, &ls, tok);
        avt_record_add_tensor(&r, "mask", AVT_U8, 1, &ls, mask);
    }
    if (avt_write_record(w, &r) < 0) {
        diag("write: %s", avk_errmsg());
        exit(1);
    }
    avt_record_free(&r);
}

/* A stream of n records: most [4, 2, 8, 8], every third [4, 1, 8, 12]. */
static void write_stream(const char *name, int first, int n, int C, int tokens, int bad_token)
{
    avt_writer *w = avt_writer_open(path(name), 0, 0);
    if (!w) {
        diag("%s", avk_errmsg());
        exit(1);
    }
    for (int i = first; i < first + n; i++)
        add_record(w, i, C, i % 3 == 2 ? 1 : 2, 8, i % 3 == 2 ? 12 : 8, tokens,
                   bad_token && i == first + 1);
    if (avt_writer_finish(w) < 0) {
        diag("%s", avk_errmsg());
        exit(1);
    }
}

static void write_text(const char *name, const char *text)
{
    FILE *fp = fopen(path(name), "w");
    fputs(text, fp);
    fclose(fp);
}

#define CFG(extra) "{\"_class_name\":\"AvkitVideoDiT\",\"in_channels\":4,\"hidden_size\":32," \
    "\"num_heads\":2,\"depth\":2,\"mlp_ratio\":2,\"vocab_size\":64,\"max_text_len\":16," \
    "\"text_layers\":1,\"freq_dim\":32" extra "}"

static void write_fixture(void)
{
    write_stream("train.avt", 0, 12, 4, 1, 0);
    write_stream("val.avt", 100, 3, 4, 1, 0);
    write_stream("c3.avt", 0, 3, 3, 1, 0);
    write_stream("notok.avt", 0, 3, 4, 0, 0);
    write_stream("badtok.avt", 0, 3, 4, 1, 1);
    write_text("single.json", CFG(""));
    write_text("mmdit.json", CFG(",\"variant\":\"mmdit\",\"attention\":\"joint\""));
    write_text("heads3.json", "{\"_class_name\":\"AvkitVideoDiT\",\"hidden_size\":32,"
               "\"num_heads\":3}");
    write_text("patch3.json", CFG(",\"patch_size\":[1,3,3]"));
}

static avk_dit_train_opts base(const char *out, long steps)
{
    static char *inputs[1];
    inputs[0] = (char *)path("train.avt");
    avk_dit_train_opts o = avk_dit_train_defaults();
    o.out = out;
    o.config = path("single.json");
    o.inputs = inputs;
    o.ninputs = 1;
    o.steps = steps;
    o.batch = 3;
    o.lr = 1e-3;
    o.warmup = 2;
    o.cosine = 0;      /* the rate of a step does not depend on --steps */
    o.seed = 11;
    return o;
}

/* Are two files byte-identical? */
static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb)
            same = 0;
        if (ca == EOF || cb == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* A run that must fail: the message must contain `want`, and no
 * checkpoint may appear. */
static void expect_fail(const char *what, avk_dit_train_opts o, const char *want)
{
    o.out = path("bad.safetensors");
    unlink(o.out);
    int rc = avk_dit_train(&o, stdout, &signo);
    const char *msg = avk_errmsg();
    ok(rc < 0 && strstr(msg, want) && !exists(o.out), "%s: %s", what, rc < 0 ? msg : "(no error)");
}

/* Validation loss of a training run of `steps` steps. */
static double val_after(long steps, const char *out)
{
    avk_dit_train_opts o = base(out, steps);
    o.val = path("val.avt");
    o.warmup = 5;
    o.cosine = 0;
    o.caption_dropout = 0;
    FILE *rep = tmpfile();
    if (avk_dit_train(&o, rep, &signo) < 0) {
        diag("train: %s", avk_errmsg());
        exit(1);
    }
    rewind(rep);
    double v = NAN;
    if (fscanf(rep, "val_loss\t%lf", &v) != 1)
        v = NAN;
    fclose(rep);
    return v;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--fixture")) {
        snprintf(dir, sizeof dir, "%s", argv[2]);
        write_fixture();
        return 0;
    }
    snprintf(dir, sizeof dir, "%s", "dit-train-tmp");
    mkdir(dir, 0755);
    write_fixture();

    avk_latent_set s = {0};
    ok(avk_latents_read(&s, path("train.avt")) == 0 && s.n == 12, "12 latent records read");
    ok(s.items[1].C == 4 && s.items[1].T == 2 && s.items[2].W == 12 && s.items[0].text_len == 4 &&
       s.items[1].text_len == 5 && s.items[0].tokens[0] == 1, "shapes, f16 latents and caption "
       "masks as written");
    avk_latent_plan p;
    avk_latents_plan(&p, &s, 3, 5, 0);
    int same = p.start[p.nbatch] == 12, seen[12] = {0};
    for (int k = 0; k < p.nbatch; k++)
        for (int j = p.start[k]; j < p.start[k + 1]; j++) {
            const avk_latent_item *a = &s.items[p.order[p.start[k]]], *b = &s.items[p.order[j]];
            same &= a->T == b->T && a->W == b->W && p.start[k + 1] - p.start[k] <= 3;
            seen[p.order[j]]++;
        }
    for (int i = 0; i < 12; i++)
        same &= seen[i] == 1;
    ok(same && p.nbatch == 5, "an epoch: %d batches of at most 3, each of one latent shape, every "
       "clip once", p.nbatch);
    avk_latents_plan_free(&p);
    avk_latents_free(&s);

    /* a run, a second identical run, and a resumed run */
    avk_dit_train_opts o = base(path("a.safetensors"), 6);
    ok(avk_dit_train(&o, stdout, &signo) == 0, "6 steps train: %s", avk_errmsg());
    avk_dit *m = avk_dit_load(path("a.safetensors"));
    avk_st_file *f = avk_st_open(path("a.safetensors"));
    ok(m && f && !strcmp(avk_st_meta(f, "step"), "6") && exists(path("a.optim.safetensors")),
       "the checkpoint loads (step 6) and the optimizer file is beside it");
    avk_st_close(f);
    avk_dit_free(m);
    o.out = path("b.safetensors");
    avk_dit_train(&o, stdout, &signo);
    ok(same_file(path("a.safetensors"), path("b.safetensors")) &&
       same_file(path("a.optim.safetensors"), path("b.optim.safetensors")),
       "two runs with the same options give identical weights and optimizer state");
    o = base(path("c.safetensors"), 3);
    avk_dit_train(&o, stdout, &signo);
    o = base(path("c.safetensors"), 6);
    o.resume = path("c.safetensors");
    o.config = NULL;
    int rc = avk_dit_train(&o, stdout, &signo);
    ok(rc == 0 && same_file(path("a.safetensors"), path("c.safetensors")) &&
       same_file(path("a.optim.safetensors"), path("c.optim.safetensors")) &&
       same_file(path("a.ema.safetensors"), path("c.ema.safetensors")),
       "3 steps, then resumed to 6: bitwise the uninterrupted run (weights, moments, EMA)");

    double v0 = val_after(0, path("v0.safetensors")), v1 = val_after(60, path("v1.safetensors"));
    ok(v1 < 0.8 * v0, "60 steps lower the validation loss: %.4f -> %.4f", v0, v1);

    /* bad input */
    static char *c3[1], *notok[1], *badtok[1];
    c3[0] = (char *)path("c3.avt");
    notok[0] = (char *)path("notok.avt");
    badtok[0] = (char *)path("badtok.avt");
    o = base(NULL, 2);
    o.inputs = c3;
    expect_fail("latents of 3 channels, a model of 4", o, "record 0 (clip000): tensor \"latent\" has 3 channels");
    o = base(NULL, 2);
    o.inputs = notok;
    expect_fail("records without a caption", o, "no caption");
    o = base(NULL, 2);
    o.inputs = badtok;
    expect_fail("a token outside the vocabulary", o, "id 900 at position 2 is outside the vocabulary");
    o = base(NULL, 2);
    o.config = path("patch3.json");
    expect_fail("a bucket the patch does not divide", o, "not divisible by the patch 1x3x3");
    o = base(NULL, 2);
    o.config = path("heads3.json");
    expect_fail("heads not dividing the width", o, "\"num_heads\" 3 does not divide \"hidden_size\" 32");
    char vae[4200];
    const char *src = getenv("SRC_DIR");
    snprintf(vae, sizeof vae, "%s/tests/golden/vae/weights.safetensors", src ? src : ".");
    o = base(NULL, 2);
    o.init = vae;
    o.config = NULL;
    expect_fail("a VAE checkpoint as --init", o, "not a DiT config");
    o = base(NULL, 2);
    o.init = path("a.safetensors");
    o.config = path("mmdit.json");
    expect_fail("a single-stream checkpoint with an MM-DiT config", o,
                "checkpoint of the single variant, the config asks for mmdit");
    /* a truncated checkpoint */
    FILE *in = fopen(path("a.safetensors"), "rb"), *out = fopen(path("t.safetensors"), "wb");
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, in);
    fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
    o = base(NULL, 2);
    o.init = path("t.safetensors");
    o.config = NULL;
    expect_fail("a truncated checkpoint", o, "t.safetensors");

    /* weights with a NaN are refused when loaded, by tensor name */
    m = avk_dit_load(path("a.safetensors"));
    m->w[m->params[3].offset + 1] = NAN;
    avk_dit_save(m, path("nan.safetensors"), 0, NULL);
    avk_dit_free(m);
    o = base(NULL, 2);
    o.init = path("nan.safetensors");
    o.config = NULL;
    expect_fail("weights with a NaN", o, "NaN at element 1");

    /* a loss that overflows (a learning rate of 1e30): the run stops at
     * the step named and the checkpoint already at the output path stays
     * as it was */
    in = fopen(path("a.safetensors"), "rb");
    out = fopen(path("keep.safetensors"), "wb");
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
    o = base(path("keep.safetensors"), 5);
    o.lr = 1e30;
    o.warmup = 0;
    rc = avk_dit_train(&o, stdout, &signo);
    ok(rc < 0 && strstr(avk_errmsg(), "stopped, the last checkpoint written is kept") &&
       !strncmp(avk_errmsg(), "step ", 5) &&
       same_file(path("a.safetensors"), path("keep.safetensors")),
       "a non-finite loss stops the run, the last good checkpoint intact: %s", avk_errmsg());
    return done_testing();
}
