/* VAE training support: frame pool and crops, the VAE as a trainer task,
 * latent scale, PSNR. See vae_train.h. */
#include "avkit/models/vae_train.h"
#include "avkit/util/common.h"
#include "avkit/io/safetensors.h"
#include "avkit/nn/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void avk_frame_pool_add(avk_frame_pool *p, int w, int h, const uint8_t *rgb, int count)
{
    for (int i = 0; i < count; i++) {
        if (p->n == p->cap) {
            p->cap = p->cap ? 2 * p->cap : 64;
            p->w = avk_xrealloc(p->w, (size_t)p->cap * sizeof *p->w);
            p->h = avk_xrealloc(p->h, (size_t)p->cap * sizeof *p->h);
            p->rgb = avk_xrealloc(p->rgb, (size_t)p->cap * sizeof *p->rgb);
        }
        size_t fb = (size_t)w * h * 3;
        p->w[p->n] = w;
        p->h[p->n] = h;
        p->rgb[p->n] = avk_xmalloc(fb);
        memcpy(p->rgb[p->n], rgb + i * fb, fb);
        p->n++;
    }
}

void avk_frame_pool_free(avk_frame_pool *p)
{
    for (int i = 0; i < p->n; i++)
        free(p->rgb[i]);
    free(p->w);
    free(p->h);
    free(p->rgb);
    memset(p, 0, sizeof *p);
}

int avk_frame_pool_min_side(const avk_frame_pool *p)
{
    int m = 1 << 30;
    for (int i = 0; i < p->n; i++) {
        m = p->w[i] < m ? p->w[i] : m;
        m = p->h[i] < m ? p->h[i] : m;
    }
    return p->n ? m : 0;
}

/* Uniform integer in [0, n). */
static int rand_below(avk_rng *r, int n)
{
    return (int)(avk_rng_u64(r) % (uint64_t)n);
}

void avk_frame_pool_crops(const avk_frame_pool *p, avk_rng *r, int B, int S, float *x)
{
    avk_frame_pool_crops_aug(p, r, B, S, 0, x);
}

/* The six orders of the three color channels. */
static const int channel_orders[6][3] = {
    {0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};

void avk_frame_pool_crops_aug(const avk_frame_pool *p, avk_rng *r, int B, int S, int augment,
                              float *x)
{
    for (int b = 0; b < B; b++) {
        int f = rand_below(r, p->n);
        int x0 = rand_below(r, p->w[f] - S + 1), y0 = rand_below(r, p->h[f] - S + 1);
        const int *order = channel_orders[0];
        int flip = 0;
        if (augment) {
            order = channel_orders[rand_below(r, 6)];
            flip = rand_below(r, 2);
        }
        float *xb = x + (int64_t)b * 3 * S * S;
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < S; i++) {
                const uint8_t *row = p->rgb[f] + ((size_t)(y0 + i) * p->w[f] + x0) * 3 + order[c];
                float *o = xb + ((int64_t)c * S + i) * S;
                for (int j = 0; j < S; j++)
                    o[flip ? S - 1 - j : j] = row[3 * j] / 127.5f - 1.0f;
            }
    }
}

void avk_rgb_to_planar(float *x, const uint8_t *rgb, int w, int h)
{
    int64_t S = (int64_t)w * h;
    for (int64_t i = 0; i < S; i++)
        for (int c = 0; c < 3; c++)
            x[c * S + i] = rgb[3 * i + c] / 127.5f - 1.0f;
}

void avk_planar_to_rgb(uint8_t *rgb, const float *x, int w, int h)
{
    int64_t S = (int64_t)w * h;
    for (int64_t i = 0; i < S; i++)
        for (int c = 0; c < 3; c++) {
            float v = (x[c * S + i] + 1.0f) * 127.5f;
            v = v < 0 ? 0 : v > 255 ? 255 : v;
            rgb[3 * i + c] = (uint8_t)lrintf(v);
        }
}

double avk_vae_measure_scale(avk_vae *v, const float *x, int B, int S)
{
    int f = avk_vae_factor(&v->cfg);
    int64_t n = (int64_t)B * v->cfg.latent_channels * (S / f) * (S / f);
    float *m = avk_falloc(n);
    if (avk_vae_encode(v, x, B, S, S, m, NULL) < 0) {
        avk_ffree(m);
        return -1;
    }
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) {
        s += m[i];
        s2 += (double)m[i] * m[i];
    }
    avk_ffree(m);
    double var = s2 / n - (s / n) * (s / n);
    return var > 0 ? 1.0 / sqrt(var) : 1.0;
}

double avk_vae_psnr(avk_vae *v, const avk_frame_pool *p)
{
    int f = avk_vae_factor(&v->cfg);
    double se = 0;
    int64_t count = 0;
    for (int i = 0; i < p->n; i++) {
        int w = p->w[i] / f * f, h = p->h[i] / f * f;
        if (w < f || h < f) {
            avk_error("frame %d of %dx%d is smaller than one latent cell (%dx%d)", i, p->w[i],
                      p->h[i], f, f);
            return -1;
        }
        int x0 = (p->w[i] - w) / 2, y0 = (p->h[i] - h) / 2;
        uint8_t *crop = avk_xmalloc((size_t)w * h * 3), *rec = avk_xmalloc((size_t)w * h * 3);
        for (int y = 0; y < h; y++)
            memcpy(crop + (size_t)y * w * 3, p->rgb[i] + ((size_t)(y0 + y) * p->w[i] + x0) * 3,
                   (size_t)w * 3);
        float *x = avk_falloc((int64_t)3 * w * h), *y = avk_falloc((int64_t)3 * w * h);
        int64_t nl = (int64_t)v->cfg.latent_channels * (w / f) * (h / f);
        float *m = avk_falloc(nl);
        avk_rgb_to_planar(x, crop, w, h);
        int rc = avk_vae_encode(v, x, 1, h, w, m, NULL);
        if (rc == 0)
            rc = avk_vae_decode(v, m, 1, h / f, w / f, y);
        if (rc == 0) {
            avk_planar_to_rgb(rec, y, w, h);
            for (size_t k = 0; k < (size_t)w * h * 3; k++) {
                double d = (double)rec[k] - crop[k];
                se += d * d;
            }
            count += (int64_t)w * h * 3;
        }
        free(crop);
        free(rec);
        avk_ffree(x);
        avk_ffree(y);
        avk_ffree(m);
        if (rc < 0)
            return -1;
    }
    if (count == 0) {
        avk_error("no frames to measure PSNR on");
        return -1;
    }
    double mse = se / (double)count;
    return mse > 0 ? 10.0 * log10(255.0 * 255.0 / mse) : 99.0;
}

/* ---- the trainer task ------------------------------------------------ */

/* One step: crops and noise from the step's generator, forward, backward. */
static int vae_task_step(void *ctx, int64_t step, avk_rng *r, avk_train_result *res)
{
    avk_vae_task *vt = ctx;
    avk_vae *v = vt->vae;
    int B = vt->batch, S = vt->crop, f = avk_vae_factor(&v->cfg);
    int64_t nz = (int64_t)B * v->cfg.latent_channels * (S / f) * (S / f);
    avk_frame_pool_crops_aug(vt->pool, r, B, S, vt->augment, vt->x);
    avk_fill_randn(vt->eps, nz, r, 0.0f, 1.0f);
    avk_vae_loss loss;
    if (avk_vae_train_step(v, vt->x, B, S, S, vt->eps, (float)vt->kl_weight, &loss, NULL, NULL,
                           NULL, NULL) < 0)
        return -1;
    static const char *const names[] = {"l1", "mse", "kl"};
    static const char *const fmts[] = {"%.5f", "%.5f", "%.1f"};
    res->loss = loss.total;
    res->nmetric = 3;
    for (int i = 0; i < 3; i++) {
        res->metric_name[i] = names[i];
        res->metric_fmt[i] = fmts[i];
    }
    res->metric[0] = loss.l1;
    res->metric[1] = loss.mse;
    res->metric[2] = loss.kl;
    res->samples = B;
    res->tokens = (int64_t)B * S * S;
    return 0;
}

/* Before a checkpoint: measure the latent scale on 16 fixed crops and
 * write "format" and "config" (with that scaling_factor). */
static int vae_task_save_meta(void *ctx, const avk_train_opts *o, avk_st_writer *w);

void avk_vae_task_init(avk_vae_task *vt, avk_train_task *t, avk_vae *v,
                       const avk_frame_pool *pool, int batch, int crop, int augment,
                       double kl_weight)
{
    int f = avk_vae_factor(&v->cfg);
    memset(vt, 0, sizeof *vt);
    vt->vae = v;
    vt->pool = pool;
    vt->batch = batch;
    vt->crop = crop;
    vt->augment = augment;
    vt->kl_weight = kl_weight;
    vt->x = avk_falloc((int64_t)batch * 3 * crop * crop);
    vt->eps = avk_falloc((int64_t)batch * v->cfg.latent_channels * (crop / f) * (crop / f));
    memset(t, 0, sizeof *t);
    vt->task = t;
    t->ctx = vt;
    t->params = v->pt;
    t->step = vae_task_step;
    t->save_meta = vae_task_save_meta;
}

void avk_vae_task_free(avk_vae_task *vt)
{
    avk_ffree(vt->x);
    avk_ffree(vt->eps);
    memset(vt, 0, sizeof *vt);
}

static int vae_task_save_meta(void *ctx, const avk_train_opts *o, avk_st_writer *w)
{
    avk_vae_task *vt = ctx;
    avk_vae *v = vt->vae;
    avk_rng r;
    avk_train_step_rng(&r, o->seed ^ 0x5CA1Eu, 0);
    int B = 16, S = vt->crop;
    float *x = avk_falloc((int64_t)B * 3 * S * S);
    avk_frame_pool_crops(vt->pool, &r, B, S, x);
    double scale = avk_vae_measure_scale(v, x, B, S);
    avk_ffree(x);
    if (scale > 0 && isfinite(scale))
        v->cfg.scaling_factor = scale;
    avk_vae_save_meta(v, w);
    snprintf(vt->task->note, sizeof vt->task->note, " (scaling_factor %.5f)",
             v->cfg.scaling_factor);
    return 0;
}
