/* The parameter table (params.h) and the checkpoint commit (checkpoint.h):
 * layout in aligned blocks, buffers beside the weights, AdamW with the
 * weight-decay flag against the reference update, clipping, hashing,
 * safetensors round trips with every mismatch named, and a commit that
 * is all or nothing. */
#include "tap.h"
#include "avkit/nn/params.h"
#include "avkit/nn/checkpoint.h"
#include "avkit/nn/tensor.h"
#include "avkit/util/common.h"

#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A small table: two blocks, a matrix with decay, a bias and a norm
 * without. */
static avk_params *small_table(void)
{
    avk_params *t = avk_params_new();
    int64_t s1[2] = {5, 7}, s2[1] = {5}, s3[4] = {3, 5, 1, 1};
    avk_params_block(t, "blocks.%d", 0);
    avk_params_add(t, 2, s1, 1, "blocks.0.lin.weight");
    avk_params_add(t, 1, s2, 0, "blocks.0.lin.bias");
    avk_params_block(t, "blocks.%d", 1);
    avk_params_add(t, 4, s3, 1, "blocks.1.conv.weight");
    avk_params_add(t, 1, s2, 0, "blocks.1.norm.weight");
    avk_params_alloc(t);
    return t;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Zero the padding between tensors (it is zero in every real buffer). */
static void zero_pad(const avk_params *t, float *buf)
{
    for (int i = 0; i < t->n; i++) {
        int64_t end = i + 1 < t->n ? t->p[i + 1].offset : t->total;
        memset(buf + t->p[i].offset + t->p[i].numel, 0,
               (size_t)(end - t->p[i].offset - t->p[i].numel) * 4);
    }
}

static void test_layout(void)
{
    avk_params *t = small_table();
    int aligned = 1, inside = 1;
    for (int i = 0; i < t->n; i++) {
        const avk_param *p = &t->p[i];
        const avk_param_block *b = &t->block[p->block];
        aligned &= ((uintptr_t)(t->w + p->offset) % 64) == 0;
        inside &= p->offset >= b->offset && p->offset + p->numel <= b->offset + b->size &&
                  i >= b->first && i < b->first + b->count;
    }
    ok(aligned, "every tensor starts 64-byte aligned");
    ok(inside, "every tensor lies inside its block's range");
    ok(t->nblock == 2 && t->block[0].offset == 0 &&
       t->block[1].offset == t->block[0].size &&
       t->block[1].offset + t->block[1].size == t->total,
       "the blocks are contiguous and cover the buffer (%lld floats)", (long long)t->total);
    ok(t->block[1].count == 2 && strcmp(t->block[1].name, "blocks.1") == 0,
       "block names and counts");
    const avk_param *p = avk_params_find(t, "blocks.1.conv.weight");
    ok(p && p->ndim == 4 && p->numel == 15 && p->decay && !avk_params_find(t, "nope"),
       "find by name; shape and decay flag kept");
    ok(!t->g && avk_params_grads(t) && t->g[t->total - 1] == 0, "gradients allocated zeroed on use");
    avk_params_free(t);
}

/* AdamW over the table equals the reference update per tensor with the
 * tensor's weight decay, bit for bit. */
static void test_adamw(void)
{
    avk_params *t = small_table();
    avk_rng r;
    avk_rng_seed(&r, 7);
    avk_fill_uniform(t->w, t->total, &r, -1, 1);
    zero_pad(t, t->w);
    avk_params_grads(t);
    float *w0 = avk_falloc(t->total), *m = avk_fzeros(t->total), *v = avk_fzeros(t->total);
    memcpy(w0, t->w, (size_t)t->total * 4);
    avk_adamw o = avk_adamw_defaults();
    o.lr = 0.01;
    o.weight_decay = 0.1;
    int same = 1;
    for (int s = 1; s <= 3; s++) {
        avk_fill_uniform(t->g, t->total, &r, -1, 1);
        zero_pad(t, t->g);
        for (int i = 0; i < t->n; i++) {
            const avk_param *p = &t->p[i];
            avk_adamw oi = o;
            oi.weight_decay = p->decay ? o.weight_decay : 0;
            avk_adamw_step_ref(&oi, s, w0 + p->offset, t->g + p->offset, m + p->offset,
                               v + p->offset, p->numel);
        }
        avk_params_adamw(t, &o);
        for (int i = 0; i < t->n; i++)
            same &= memcmp(w0 + t->p[i].offset, t->w + t->p[i].offset,
                           (size_t)t->p[i].numel * 4) == 0;
    }
    ok(same && t->step == 3, "AdamW over the table: decay only where flagged, bit for bit");
    /* clipping */
    double n2 = 0;
    for (int i = 0; i < t->n; i++)
        for (int64_t j = 0; j < t->p[i].numel; j++)
            n2 += (double)t->g[t->p[i].offset + j] * t->g[t->p[i].offset + j];
    double norm = avk_params_clip(t, 0.5);
    ok(fabs(norm - sqrt(n2)) < 1e-12 * sqrt(n2), "gradient norm %.6f", norm);
    ok(fabs(avk_params_grad_norm(t) - 0.5) < 1e-5, "clipped to 0.5: %.6f",
       avk_params_grad_norm(t));
    /* EMA */
    float *e = avk_params_ema(t);
    ok(memcmp(e, t->w, (size_t)t->total * 4) == 0, "EMA starts as the weights");
    float keep = e[0];
    t->w[0] += 1.0f;
    avk_params_ema_update(t, 0.9);
    ok(e[0] == 0.9f * keep + (float)(1.0 - 0.9) * t->w[0], "EMA update");
    /* hash */
    char h1[17], h2[17], h3[17];
    avk_params_hash(t, t->w, h1);
    avk_params_hash(t, t->w, h2);
    t->w[t->p[3].offset + 2] = nextafterf(t->w[t->p[3].offset + 2], 10);
    avk_params_hash(t, t->w, h3);
    ok(strlen(h1) == 16 && strcmp(h1, h2) == 0 && strcmp(h1, h3) != 0,
       "the weights hash changes with one ulp of one element (%s, %s)", h1, h3);
    t->w[t->p[1].offset + 1] = NAN;
    ok(avk_params_check_finite(t, t->w, "w") < 0 &&
       strstr(avk_errmsg(), "w: tensor \"blocks.0.lin.bias\": NaN at element 1"),
       "a NaN is named: %s", avk_errmsg());
    avk_ffree(w0);
    avk_ffree(m);
    avk_ffree(v);
    avk_params_free(t);
}

/* Weights and optimizer state through safetensors files. */
static void test_files(void)
{
    avk_params *t = small_table();
    avk_rng r;
    avk_rng_seed(&r, 9);
    avk_fill_uniform(t->w, t->total, &r, -1, 1);
    avk_params_optim(t);
    avk_fill_uniform(t->m, t->total, &r, -1, 1);
    avk_fill_uniform(t->v, t->total, &r, 0, 1);
    t->step = 42;
    avk_st_writer *w = avk_st_writer_new();
    avk_st_writer_meta(w, "config", "{}");
    avk_params_st_add(t, t->w, w);
    ok(avk_st_writer_write(w, "p.safetensors") == 0, "weights written");
    w = avk_st_writer_new();
    char **names = avk_params_optim_names(t);
    avk_params_st_add_optim(t, w, names);
    ok(avk_st_writer_write(w, "p.optim.safetensors") == 0, "optimizer state written");
    avk_params_free_names(t, names);

    avk_params *u = small_table();
    avk_st_file *f = avk_st_open("p.safetensors");
    int rc = f ? avk_params_load(u, u->w, f, NULL) : -1;
    int same = rc == 0;
    for (int i = 0; same && i < t->n; i++)
        same = memcmp(t->w + t->p[i].offset, u->w + u->p[i].offset, (size_t)t->p[i].numel * 4) == 0;
    ok(same, "weights read back equal");
    avk_st_close(f);
    f = avk_st_open("p.optim.safetensors");
    rc = f ? avk_params_load_optim(u, f) : -1;
    ok(rc == 0 && u->step == 42 && memcmp(u->m, t->m, 20) == 0 &&
       memcmp(u->v + u->p[2].offset, t->v + t->p[2].offset, 15 * 4) == 0,
       "optimizer state and step read back");
    avk_st_close(f);

    /* a table of another shape */
    avk_params *x = avk_params_new();
    int64_t s1[2] = {5, 6}, s2[1] = {5}, s3[4] = {3, 5, 1, 1};
    avk_params_add(x, 2, s1, 1, "blocks.0.lin.weight");
    avk_params_add(x, 1, s2, 0, "blocks.0.lin.bias");
    avk_params_add(x, 4, s3, 1, "blocks.1.conv.weight");
    avk_params_add(x, 1, s2, 0, "blocks.1.norm.weight");
    avk_params_alloc(x);
    f = avk_st_open("p.safetensors");
    ok(avk_params_load(x, x->w, f, NULL) < 0 &&
       strstr(avk_errmsg(), "p.safetensors: tensor \"blocks.0.lin.weight\" has shape [5, 7], "
              "expected [5, 6]"), "a shape mismatch is named: %s", avk_errmsg());
    avk_st_close(f);
    f = avk_st_open("p.optim.safetensors");
    ok(avk_params_load_optim(x, f) < 0 &&
       strstr(avk_errmsg(), "tensor \"exp_avg.blocks.0.lin.weight\" is not F32 of the parameter's shape"),
       "an optimizer tensor of another shape is named: %s", avk_errmsg());
    avk_st_close(f);
    avk_params_free(x);

    /* a step that is not a number */
    w = avk_st_writer_new();
    names = avk_params_optim_names(t);
    avk_params_st_add_optim(t, w, names);
    avk_st_writer_meta(w, "step", "12abc");
    avk_st_writer_write(w, "bad.optim.safetensors");
    avk_params_free_names(t, names);
    f = avk_st_open("bad.optim.safetensors");
    ok(avk_params_load_optim(u, f) < 0 && strstr(avk_errmsg(), "no valid \"step\""),
       "a step field \"12abc\" is refused: %s", avk_errmsg());
    int64_t v;
    ok(avk_st_meta_int64(f, "step", &v) < 0 &&
       strstr(avk_errmsg(), "metadata \"step\" is \"12abc\", not a non-negative integer"),
       "avk_st_meta_int64 names it: %s", avk_errmsg());
    avk_st_close(f);
    char *op = avk_params_optim_path("dir/m.safetensors"), *op2 = avk_params_optim_path("m.bin");
    ok(strcmp(op, "dir/m.optim.safetensors") == 0 && strcmp(op2, "m.bin.optim") == 0,
       "optimizer file names");
    free(op);
    free(op2);
    avk_params_free(u);
    avk_params_free(t);
}

/* The commit: all files or none, the marker as the commit point. */
static void test_commit(void)
{
    avk_params *t = small_table();
    float one = 1;
    int64_t s[1] = {1};
    avk_ckpt *c = avk_ckpt_begin("c.safetensors");
    avk_st_writer *w = avk_st_writer_new();
    avk_params_st_add(t, t->w, w);
    int rc = avk_ckpt_add(c, "c.safetensors", w);
    w = avk_st_writer_new();
    avk_st_writer_add(w, "x", AVT_F32, 1, s, &one);
    rc |= avk_ckpt_add(c, "c.optim.safetensors", w);
    ok(rc == 0 && !exists("c.safetensors"), "nothing under the real names before the commit");
    ok(avk_ckpt_commit(c) == 0 && exists("c.safetensors") && exists("c.optim.safetensors") &&
       !exists(".c.safetensors.commit"), "commit: both files, no marker left");

    c = avk_ckpt_begin("d.safetensors");
    w = avk_st_writer_new();
    avk_st_writer_add(w, "x", AVT_F32, 1, s, &one);
    avk_ckpt_add(c, "d.safetensors", w);
    avk_ckpt_abort(c);
    ok(!exists("d.safetensors"), "abort: nothing written");
    c = avk_ckpt_begin("d.safetensors");
    w = avk_st_writer_new();
    avk_st_writer_add(w, "x", AVT_F32, 1, s, &one);
    ok(avk_ckpt_add(c, "sub/d.optim.safetensors", w) < 0 &&
       strstr(avk_errmsg(), "must share one directory"), "files in two directories refused");
    avk_ckpt_abort(c);

    /* a commit killed after the marker: recovery finishes the renames */
    FILE *fp = fopen(".e.safetensors.tmpX", "w");
    fputs("new", fp);
    fclose(fp);
    fp = fopen("e.optim.safetensors", "w");    /* renamed before the kill */
    fputs("new", fp);
    fclose(fp);
    fp = fopen(".e.safetensors.commit", "w");
    fputs("avkit checkpoint commit 1\n.e.safetensors.tmpX\te.safetensors\n"
          ".e.optim.safetensors.tmpY\te.optim.safetensors\n", fp);
    fclose(fp);
    ok(avk_ckpt_recover("e.safetensors") == 1 && exists("e.safetensors") &&
       !exists(".e.safetensors.tmpX") && !exists(".e.safetensors.commit"),
       "recovery finishes an interrupted commit");
    ok(avk_ckpt_recover("e.safetensors") == 0, "no marker: nothing to do");
    fp = fopen(".g.safetensors.commit", "w");
    fputs("avkit checkpoint commit 1\n../../etc/x\tg.safetensors\n", fp);
    fclose(fp);
    ok(avk_ckpt_recover("g.safetensors") < 0 && strstr(avk_errmsg(), "not a file name"),
       "a marker naming another directory is refused: %s", avk_errmsg());
    avk_params_free(t);
}

int main(void)
{
    test_layout();
    test_adamw();
    test_files();
    test_commit();
    return done_testing();
}
