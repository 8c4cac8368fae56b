/* The DiT training loop (see avkit/diffusion/dit_train.h): data checks,
 * batches of one latent shape, rectified-flow draws per global sample,
 * AdamW + EMA on the flat parameter buffer, atomic checkpoints, resume,
 * validation at fixed t; SIGINT and SIGTERM end the step, write the
 * checkpoint and stop. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "avkit/util/common.h"
#include "avkit/io/safetensors.h"
#include "avkit/data/latents.h"
#include "avkit/nn/ops.h"
#include "avkit/nn/trainer.h"
#include "avkit/nn/ops_bf16.h"
#include "avkit/nn/checkpoint.h"
#include "avkit/models/dit.h"
#include "avkit/diffusion/flow_train.h"
#include "avkit/diffusion/dit_train.h"

avk_dit_train_opts avk_dit_train_defaults(void)
{
    avk_dit_train_opts o = {0};
    o.steps = 400;
    o.batch = 4;
    o.warmup = 20;
    o.log_every = 10;
    o.lr = 1e-4;
    o.wd = 0.01;
    o.clip = 1.0;
    o.caption_dropout = 0.1;
    o.shift = 1.0;
    o.ema = 0.999;
    o.cosine = 1;
    return o;
}

char *avk_dit_optim_path(const char *checkpoint)
{
    return avk_params_optim_path(checkpoint);
}

/* Every record usable by this model? The first problem, naming the file,
 * the record and the field. */
static int check_data(const avk_dit *m, const avk_latent_set *s)
{
    const avk_dit_config *c = &m->cfg;
    for (int i = 0; i < s->n; i++) {
        const avk_latent_item *it = &s->items[i];
        char where[512];
        snprintf(where, sizeof where, "%s: record %lld (%s)", it->file, (long long)it->index, it->key);
        if (it->C != c->in_channels)
            return avk_error("%s: tensor \"latent\" has %d channels, the model takes %d", where,
                             it->C, c->in_channels);
        if (avk_dit_tokens(c, it->T, it->H, it->W) < 0)
            return avk_error("%s: latent bucket %dx%dx%d (frames x rows x columns) is not "
                             "divisible by the patch %dx%dx%d", where, it->T, it->H, it->W,
                             c->patch[0], c->patch[1], c->patch[2]);
        if (c->text_emb_dim > 0) {
            if (!it->text_emb)
                return avk_error("%s: no tensor \"text_emb\" (the model takes text embeddings "
                                 "of width %d)", where, c->text_emb_dim);
            if (it->E != c->text_emb_dim)
                return avk_error("%s: tensor \"text_emb\" has width %d, the model takes %d",
                                 where, it->E, c->text_emb_dim);
        } else {
            if (!it->tokens)
                return avk_error("%s: no tensor \"tokens\" (the model takes caption tokens)", where);
            for (int j = 0; j < it->L; j++)
                if (it->tokens[j] < 0 || it->tokens[j] >= c->vocab_size)
                    return avk_error("%s: tensor \"tokens\": id %d at position %d is outside the "
                                     "vocabulary [0, %d)", where, it->tokens[j], j, c->vocab_size);
        }
        if (it->L > c->max_text_len)
            return avk_error("%s: %d text positions, the model takes at most %d", where, it->L,
                             c->max_text_len);
    }
    return 0;
}

/* A whole file into memory (NUL-terminated). */
static char *slurp(const char *path, size_t *len)
{
    FILE *fp = avk_in_open(path, 0);
    if (!fp)
        return NULL;
    avk_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        avk_buf_append(&b, chunk, n);
    int bad = ferror(fp);
    avk_in_close(fp);
    if (bad) {
        avk_buf_free(&b);
        avk_error("%s: read error", path);
        return NULL;
    }
    avk_buf_append(&b, "", 1);
    *len = b.len - 1;
    return (char *)b.data;
}

/* The fields of two configurations that must agree, first difference. */
static int same_model(const avk_dit_config *a, const avk_dit_config *b, const char *file)
{
    if (a->mmdit != b->mmdit)
        return avk_error("%s: checkpoint of the %s variant, the config asks for %s", file,
                         a->mmdit ? "mmdit" : "single", b->mmdit ? "mmdit" : "single");
    if (a->joint != b->joint)
        return avk_error("%s: checkpoint with %s attention, the config asks for %s", file,
                         a->joint ? "joint" : "cross", b->joint ? "joint" : "cross");
    char *ja = avk_dit_config_json(a), *jb = avk_dit_config_json(b);
    int same = !strcmp(ja, jb);
    free(ja);
    free(jb);
    if (!same)
        return avk_error("%s: checkpoint's config differs from --config (%s)", file,
                         "width, depth, heads, patch, text or rotary settings");
    return 0;
}

/* The model to train: resumed (with its optimizer state), from weights,
 * or new from the config (in_channels and text_emb_dim from the data
 * when no config is given). */
static avk_dit *start_model(const avk_dit_train_opts *o, const avk_latent_set *data)
{
    avk_dit_config want = avk_dit_config_default();
    int have_cfg = 0;
    if (o->config) {
        size_t len;
        char *text = slurp(o->config, &len);
        if (!text || avk_dit_config_parse(&want, text, len, o->config) < 0) {
            free(text);
            return NULL;
        }
        free(text);
        have_cfg = 1;
    } else if (data->n > 0) {
        want.in_channels = data->items[0].C;
        if (data->items[0].text_emb)
            want.text_emb_dim = data->items[0].E;
    }
    const char *from = o->resume ? o->resume : o->init;
    avk_dit *m;
    if (o->resume && avk_ckpt_recover(o->resume) < 0)
        return NULL;
    if (from) {
        m = avk_dit_load(from);
        if (!m)
            return NULL;
        if (have_cfg && same_model(&m->cfg, &want, from) < 0) {
            avk_dit_free(m);
            return NULL;
        }
    } else {
        m = avk_dit_new(&want);
        if (!m)
            return NULL;
        avk_dit_init(m, o->seed);
    }
    return m;
}

/* A batch of items (all one latent shape): latents, padded captions. */
typedef struct dit_batch {
    avk_dit_batch b;
    float *x0, *eps, *xt, *target, *t, *emb;
    int32_t *tok;
    int *len;
    int64_t n;                      /* floats per sample */
} dit_batch;

/* The model's space is the scaled latent, (z - latent_shift_factor) *
 * latent_scaling_factor, as diffusers feeds a transformer and as
 * av-sample undoes before decoding; a stream without a scaling factor is
 * taken as it is. */
static void latent_to_model(float *x0, const avk_latent_item *it, int64_t n)
{
    double scale = it->scaling > 0 ? it->scaling : 1.0, shift = it->shift_factor;
    for (int64_t k = 0; k < n; k++)
        x0[k] = (float)((it->latent[k] - shift) * scale);
}

static void batch_fill(dit_batch *d, const avk_dit *m, const avk_latent_set *s, const int *idx,
                       int B)
{
    const avk_latent_item *a = &s->items[idx[0]];
    int L = 1, E = m->cfg.text_emb_dim;
    for (int i = 0; i < B; i++)
        L = s->items[idx[i]].L > L ? s->items[idx[i]].L : L;
    memset(d, 0, sizeof *d);
    d->n = (int64_t)a->C * a->T * a->H * a->W;
    d->x0 = avk_falloc(B * d->n);
    d->eps = avk_falloc(B * d->n);
    d->xt = avk_falloc(B * d->n);
    d->target = avk_falloc(B * d->n);
    d->t = avk_falloc(B);
    d->len = avk_xcalloc((size_t)B, sizeof *d->len);
    if (E > 0)
        d->emb = avk_fzeros((int64_t)B * L * E);
    else
        d->tok = avk_xcalloc((size_t)B * L, sizeof *d->tok);
    for (int i = 0; i < B; i++) {
        const avk_latent_item *it = &s->items[idx[i]];
        latent_to_model(d->x0 + i * d->n, it, d->n);
        d->len[i] = it->text_len;
        if (E > 0)
            memcpy(d->emb + (int64_t)i * L * E, it->text_emb, (size_t)it->L * E * sizeof(float));
        else
            memcpy(d->tok + (int64_t)i * L, it->tokens, (size_t)it->L * sizeof(int32_t));
    }
    d->b = (avk_dit_batch){.B = B, .T = a->T, .H = a->H, .W = a->W, .x = d->xt, .t = d->t,
                           .L = L, .tokens = d->tok, .text_emb = d->emb, .text_len = d->len};
}

/* The empty caption in place of sample i: <bos> <eos> when the caption
 * starts with <bos> (id 1, av-caption-feed's default), else nothing. */
static void drop_caption(dit_batch *d, int i)
{
    int L = d->b.L;
    if (d->tok) {
        int bos = d->tok[(int64_t)i * L] == 1 && L >= 2;
        memset(d->tok + (int64_t)i * L, 0, (size_t)L * sizeof(int32_t));
        d->len[i] = 0;
        if (bos) {
            d->tok[(int64_t)i * L] = 1;
            d->tok[(int64_t)i * L + 1] = 2;
            d->len[i] = 2;
        }
    } else {
        d->len[i] = 0;
    }
}

static void batch_free(dit_batch *d)
{
    avk_ffree(d->x0);
    avk_ffree(d->eps);
    avk_ffree(d->xt);
    avk_ffree(d->target);
    avk_ffree(d->t);
    avk_ffree(d->emb);
    free(d->tok);
    free(d->len);
}

/* Forward, loss and (when train) backward of a filled batch; the loss.
 * The gradients are those of gscale times the batch's mean loss. */
static double run_batch(avk_dit *m, dit_batch *d, int train, float gscale)
{
    int64_t n = d->b.B * d->n;
    avk_flow_interp(d->xt, d->target, d->x0, d->eps, d->t, d->b.B, d->n);
    float *pred = avk_falloc(n), *dpred = train ? avk_fzeros(n) : NULL;
    avk_dit_acts *a = avk_dit_forward(m, &d->b, pred);
    double loss = NAN;
    if (a) {
        loss = avk_mse_loss(dpred, pred, d->target, n, gscale);
        if (train)
            avk_dit_backward(m, a, dpred);
        avk_dit_acts_free(a);
    }
    avk_ffree(pred);
    avk_ffree(dpred);
    return loss;
}

/* Mean loss over the held-out set at t = 0.1, 0.2, ..., 0.9 with fixed
 * noise (seeded by the record's position), one sample at a time. */
static double validate(avk_dit *m, const avk_latent_set *val, uint64_t seed)
{
    double sum = 0;
    int count = 0;
    for (int i = 0; i < val->n; i++)
        for (int k = 1; k <= 9; k++) {
            dit_batch d;
            batch_fill(&d, m, val, &i, 1);
            avk_rng r;
            avk_flow_rng(&r, seed ^ 0x7A11D, k, i);
            avk_fill_randn(d.eps, d.n, &r, 0.0f, 1.0f);
            d.t[0] = 0.1f * (float)k;
            sum += run_batch(m, &d, 0, 1.0f);
            count++;
            batch_free(&d);
        }
    return count ? sum / count : NAN;
}

/* The DiT as a task of the trainer (avkit/nn/trainer.h). */
typedef struct dit_task {
    avk_dit *m;
    const avk_dit_train_opts *o;
    const avk_latent_set *data;
    const avk_lr_schedule *sched;
    avk_latent_plan plan;
    int64_t plan_epoch;
    int nb;                         /* batches an epoch */
    int dp_rank, dp_size;           /* this rank's share of each batch */
    int sp_rank;                    /* place in the sequence-parallel group */
    FILE *log;
    double t0;                      /* the current step's start */
} dit_task;

/* Step `step`: batch (step - 1) mod nb of epoch (step - 1) / nb, each
 * sample's t and noise from (seed, step, global index in the batch),
 * caption dropout. Under data parallelism this rank takes samples
 * [B r / N, B (r + 1) / N) of the global batch of B and adds gradients
 * of (its count / B) times its samples' mean loss, returning that share
 * of the loss: the trainer's sum over ranks is the global mean. */
static int dit_task_step(void *ctx, int64_t step, avk_rng *r, avk_train_result *res)
{
    (void)r;
    dit_task *k = ctx;
    const avk_dit_train_opts *o = k->o;
    avk_dit *m = k->m;
    k->t0 = avk_now();
    int64_t epoch = (step - 1) / k->nb, at = (step - 1) % k->nb;
    if (epoch != k->plan_epoch) {
        avk_latents_plan_free(&k->plan);
        avk_latents_plan(&k->plan, k->data, (int)o->batch, o->seed, epoch);
        k->plan_epoch = epoch;
    }
    const int *order = k->plan.order + k->plan.start[at];
    int B = k->plan.start[at + 1] - k->plan.start[at];
    int lo = (int)((int64_t)B * k->dp_rank / k->dp_size);
    int hi = (int)((int64_t)B * (k->dp_rank + 1) / k->dp_size);
    const avk_latent_item *a = &k->data->items[order[0]];
    res->loss = 0;
    if (hi > lo) {
        dit_batch d;
        batch_fill(&d, m, k->data, order + lo, hi - lo);
        for (int i = 0; i < hi - lo; i++) {
            int64_t gi = lo + i;   /* global sample index: the same draws on any rank count */
            d.t[i] = avk_flow_draw(d.eps + i * d.n, d.n, o->seed, step, gi, 0.0, 1.0, o->shift);
            avk_rng dr;
            avk_flow_rng(&dr, o->seed ^ 0xD20Bull, step, gi);
            if (avk_rng_uniform(&dr) < o->caption_dropout)
                drop_caption(&d, i);
        }
        float share = k->dp_size > 1 ? (float)(hi - lo) / (float)B : 1.0f;
        res->loss = run_batch(m, &d, 1, share);
        if (k->dp_size > 1)
            res->loss *= (double)(hi - lo) / B;
        if (k->sp_rank > 0)     /* the group's ranks all have the loss: count it once */
            res->loss = 0;
        batch_free(&d);
    }
    res->samples = B;
    res->tokens = (int64_t)B * avk_dit_tokens(&m->cfg, a->T, a->H, a->W);
    int L = 1;
    for (int i = 0; i < B; i++)
        L = k->data->items[order[i]].L > L ? k->data->items[order[i]].L : L;
    res->flops = avk_dit_step_flop(&m->cfg, B, a->T, a->H, a->W, L);
    return 0;
}

/* After the gradients are reduced (rank 0): the CSV line of --log. */
static int dit_task_after_step(void *ctx, int64_t step, const avk_train_result *res,
                               double grad_norm, double lr)
{
    dit_task *k = ctx;
    if (!k->log)
        return 0;
    double dt = avk_now() - k->t0;
    fprintf(k->log, "%lld,%.6f,%.6f,%.6e,%.3f,%.1f,%.4f,%.2f\n", (long long)step, res->loss,
            grad_norm, lr, res->samples / dt, res->tokens / dt, dt, res->flops / dt / 1e9);
    if (fflush(k->log) != 0)
        return avk_error("%s: write error", k->o->log);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The most common nonzero value of get(item) over the data set (the
 * smallest of equally common ones), 0 when every item has 0. */
static double data_mode(const avk_latent_set *s, double (*get)(const avk_latent_item *))
{
    double *v = avk_xmalloc((size_t)(s->n ? s->n : 1) * sizeof *v), best = 0;
    int n = 0, bestn = 0;
    for (int i = 0; i < s->n; i++) {
        double x = get(&s->items[i]);
        if (x != 0)
            v[n++] = x;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    for (int i = 0, j; i < n; i = j) {
        for (j = i; j < n && v[j] == v[i]; j++)
            ;
        if (j - i > bestn) {
            bestn = j - i;
            best = v[i];
        }
    }
    free(v);
    return best;
}

static double get_frames(const avk_latent_item *it) { return it->frames ? it->frames : it->T; }
static double get_factor(const avk_latent_item *it) { return it->factor; }
static double get_base(const avk_latent_item *it) { return it->base; }
static double get_unit(const avk_latent_item *it) { return it->unit; }
static double get_fps(const avk_latent_item *it) { return it->fps; }
static double get_scaling(const avk_latent_item *it) { return it->scaling; }
/* The pixel size as one number, width * 2^20 + height. */
static double get_size(const avk_latent_item *it)
{
    int w = it->bucket_w ? it->bucket_w : it->W * it->factor;
    int h = it->bucket_w ? it->bucket_h : it->H * it->factor;
    return w > 0 && h > 0 ? (double)w * 1048576.0 + h : 0;
}

/* Set metadata key to the number x (a %.9g), unless x is 0. */
static void meta_num(avk_st_writer *w, const char *key, double x)
{
    char buf[64];
    if (x == 0)
        return;
    snprintf(buf, sizeof buf, "%.9g", x);
    avk_st_writer_meta(w, key, buf);
}

/* What the sampler's defaults come from, described by the training data
 * as av-vaeenc recorded it: the most common video length (video_frames)
 * and frame size (video_size) of the clips, their size buckets'
 * bucket_base and bucket_unit, the VAE's vae_factor and latent scaling
 * (latent_scaling_factor, latent_shift_factor, of the clips with the most
 * common scaling), the frame rate (fps), and the timestep shift of
 * training (shift). A key the data does not tell is left out. */
static void data_meta(const dit_task *k, avk_st_writer *w)
{
    const avk_latent_set *s = k->data;
    meta_num(w, "video_frames", data_mode(s, get_frames));
    double size = data_mode(s, get_size);
    if (size > 0) {
        char buf[64];
        long long sz = (long long)size;
        snprintf(buf, sizeof buf, "%lldx%lld", sz >> 20, sz & 1048575);
        avk_st_writer_meta(w, "video_size", buf);
    }
    meta_num(w, "bucket_base", data_mode(s, get_base));
    meta_num(w, "bucket_unit", data_mode(s, get_unit));
    meta_num(w, "vae_factor", data_mode(s, get_factor));
    meta_num(w, "fps", data_mode(s, get_fps));
    double sc = data_mode(s, get_scaling);
    if (sc > 0) {
        meta_num(w, "latent_scaling_factor", sc);
        for (int i = 0; i < s->n; i++)
            if (s->items[i].scaling == sc) {
                char buf[64];
                snprintf(buf, sizeof buf, "%.9g", s->items[i].shift_factor);
                avk_st_writer_meta(w, "latent_shift_factor", buf);
                break;
            }
    }
    char buf[64];
    snprintf(buf, sizeof buf, "%.9g", k->o->shift);
    avk_st_writer_meta(w, "shift", buf);
}

/* The weights' metadata: the configuration, the format tag, the
 * precision the steps ran in, and the data's description for the
 * sampler (data_meta). */
static int dit_task_save_meta(void *ctx, const avk_train_opts *o, avk_st_writer *w)
{
    (void)o;
    dit_task *k = ctx;
    char *cfg = avk_dit_config_json(&k->m->cfg);
    avk_st_writer_meta(w, "format", "pt");
    avk_st_writer_meta(w, "config", cfg);
    avk_st_writer_meta(w, "precision", avk_dit_precision_name(k->m->precision));
    free(cfg);
    data_meta(k, w);
    return 0;
}

/* Read the data, start the model, check both (every rank alike); 0 or -1. */
static int dit_setup(const avk_dit_train_opts *o, int dp_size, avk_comm *sp,
                     avk_latent_set *data, avk_latent_set *val, avk_dit **m)
{
    if (dp_size > 1 && o->batch % dp_size != 0)
        return avk_error("--batch %ld does not divide by the %d data-parallel ranks (the "
                         "global batch is split evenly)", o->batch, dp_size);
    for (int i = 0; i < o->ninputs; i++)
        if (avk_latents_read(data, o->inputs[i]) < 0)
            return -1;
    if (data->n == 0)
        return avk_error("%s: no records", o->ninputs ? o->inputs[0] : "-");
    if (o->val && avk_latents_read(val, o->val) < 0)
        return -1;
    if (!(*m = start_model(o, data)) || check_data(*m, data) < 0 || check_data(*m, val) < 0)
        return -1;
    if (o->sp > 1 && (*m)->cfg.heads % o->sp != 0)
        return avk_error("--sp %d: the model's %d attention heads do not divide by %d "
                         "(Ulysses splits the heads over the group)", o->sp, (*m)->cfg.heads,
                         o->sp);
    if (avk_dit_set_sp(*m, sp) < 0)
        return -1;
    avk_dit_set_recompute(*m, o->recompute);
    if (o->freeze_text && avk_dit_freeze_text(*m) < 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", avk_errmsg());
        return avk_error("--freeze-text: %s", msg);
    }
    return 0;
}

int avk_dit_train(const avk_dit_train_opts *o, FILE *report, int *signo)
{
    avk_latent_set data = {0}, val = {0};
    avk_dit *m = NULL;
    dit_task k = {0};
    int wrank = o->dp ? avk_comm_rank(o->dp) : 0, wsize = o->dp ? avk_comm_size(o->dp) : 1;
    avk_comm *dp = wsize > 1 ? o->dp : NULL;   /* the trainer reduces over every rank */
    avk_comm *spc = NULL;
    int spn = o->sp > 1 ? o->sp : 1;
    int rank = wrank / spn, size = wsize / spn;   /* the data-parallel place and count */
    int rc;
    *signo = 0;
    /* sequence parallel groups of spn consecutive ranks */
    if ((rc = avk_train_agree(dp, wsize % spn != 0 &&
                              avk_error("--sp %d does not divide the job's %d rank%s", spn,
                                        wsize, wsize == 1 ? "" : "s") < 0)) != 0)
        goto out;
    if (spn > 1 && avk_comm_grid(o->dp, spn, NULL, &spc) < 0) {
        rc = -1;
        goto out;
    }
    /* rank 0 finishes a half-done checkpoint commit before any rank reads it */
    rc = avk_train_agree(dp, o->resume && wrank == 0 && avk_ckpt_recover(o->resume) < 0);
    if (rc != 0)
        goto out;
    if ((rc = avk_train_agree(dp, dit_setup(o, size, spc, &data, &val, &m) < 0)) != 0)
        goto out;

    /* bf16: resolve the kernel now, so that a CPU without bf16 says so
     * once (the operators then run in fp32) before the first step */
    m->precision = o->precision == AVK_DIT_BF16 ? AVK_DIT_BF16 : AVK_DIT_FP32;
    if (m->precision == AVK_DIT_BF16)
        avk_info(1, "precision bf16: %s", avk_bf16_kernel_name());

    avk_train_opts to = avk_train_opts_default();
    to.out = o->out;
    to.model = "dit";
    to.steps = o->steps;
    to.sched.lr = o->lr;
    to.sched.warmup = o->warmup;
    to.sched.kind = o->cosine ? AVK_LR_COSINE : AVK_LR_CONSTANT;
    to.sched.min_ratio = 0.1;
    to.adamw.weight_decay = o->wd;      /* on the matrices only: the table's flags */
    to.clip = o->clip;
    to.ema_decay = o->ema;
    to.seed = o->seed;
    to.seed_given = o->seed_given;
    to.save_every = o->save_every;
    to.log_every = o->log_every;
    to.resume = o->resume;
    to.dp = dp;
    to.zero = o->zero;
    avk_train_task task = {0};
    k.m = m;
    k.o = o;
    k.data = &data;
    k.sched = &to.sched;
    k.dp_rank = rank;
    k.dp_size = size;
    k.sp_rank = wrank % spn;
    task.ctx = &k;
    task.params = m->par;
    task.step = dit_task_step;
    task.after_step = dit_task_after_step;
    task.save_meta = dit_task_save_meta;
    if ((rc = avk_train_agree(dp, o->resume && avk_train_resume(&to, &task) < 0)) != 0)
        goto out;
    /* resumed without --seed: the draws use the checkpoint's seed too */
    avk_dit_train_opts ro = *o;
    ro.seed = to.seed;
    k.o = &ro;
    to.sched.steps = to.steps;
    avk_latents_plan(&k.plan, &data, (int)o->batch, ro.seed, 0);
    k.nb = k.plan.nbatch;                  /* the same every epoch */
    int bad = 0;
    if (o->log && wrank == 0) {
        k.log = fopen(o->log, m->par->step > 0 ? "a" : "w");
        if (!k.log)
            bad = avk_error("%s: cannot open: %s", o->log, strerror(errno));
        else if (m->par->step == 0)
            fprintf(k.log, "step,loss,grad_norm,lr,samples_per_s,tokens_per_s,step_s,gflops\n");
    }
    if ((rc = avk_train_agree(dp, bad)) != 0)
        goto out;
    if (wrank == 0)
        avk_info(1, "%d clips, model of %lld parameters (%s, %s attention), steps %lld..%ld%s",
                 data.n, (long long)m->nfloats, m->cfg.mmdit ? "MM-DiT" : "single-stream",
                 m->cfg.joint ? "joint" : "cross", (long long)m->par->step + 1, o->steps,
                 size > 1 ? ", data parallel" : "");
    if (size > 1)
        avk_info(1, "rank %d of %d: samples [%ld, %ld) of each batch of %ld", wrank, wsize,
                 o->batch * rank / size, o->batch * (rank + 1) / size, o->batch);
    if (spn > 1)
        avk_info(1, "rank %d of %d: sequence parallel, place %d of a group of %d (heads %d "
                 "of %d each)", wrank, wsize, wrank % spn, spn, m->cfg.heads / spn,
                 m->cfg.heads);
    rc = avk_train(&to, &task, signo);
    bad = k.log && fclose(k.log) != 0;
    k.log = NULL;
    if (rc == 0 || rc == AVK_TRAIN_STOPPED) {   /* the same on every rank: agree on the log */
        if (bad)
            avk_error("%s: write error", o->log);
        int a = avk_train_agree(dp, bad);
        rc = a ? a : rc;
    }
    if (rc == 0 && o->val) {
        double vl = validate(m, &val, ro.seed);
        if (wrank == 0)
            fprintf(report, "val_loss\t%.6f\tsamples\t%d\n", vl, val.n * 9);
    }
out:
    if (k.log)
        fclose(k.log);
    avk_latents_plan_free(&k.plan);
    avk_dit_free(m);
    avk_comm_free(spc);
    avk_latents_free(&data);
    avk_latents_free(&val);
    return rc;
}
