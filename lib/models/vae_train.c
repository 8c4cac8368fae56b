/* VAE training support: frame pool and crops, AdamW state and its
 * checkpoint file, per-step seeding, latent scale, PSNR. See
 * vae_train.h. */
#include "avkit/models/vae_train.h"
#include "avkit/util/common.h"
#include "avkit/io/safetensors.h"

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

/* ---- optimizer state ------------------------------------------------- */

void avk_vae_optim_init(avk_vae_optim *o, const avk_vae *vae)
{
    o->m = avk_fzeros(vae->nparams);
    o->v = avk_fzeros(vae->nparams);
    o->step = 0;
}

void avk_vae_optim_free(avk_vae_optim *o)
{
    avk_ffree(o->m);
    avk_ffree(o->v);
    memset(o, 0, sizeof *o);
}

char *avk_vae_optim_path(const char *ckpt)
{
    size_t n = strlen(ckpt), s = strlen(".safetensors");
    if (n > s && strcmp(ckpt + n - s, ".safetensors") == 0)
        return avk_xasprintf("%.*s.optim.safetensors", (int)(n - s), ckpt);
    return avk_xasprintf("%s.optim", ckpt);
}

int avk_vae_optim_save(const avk_vae_optim *o, const avk_vae *vae, const char *path, int nmeta,
                       const char *const *meta)
{
    avk_st_writer *w = avk_st_writer_new();
    char step[32];
    snprintf(step, sizeof step, "%lld", (long long)o->step);
    avk_st_writer_meta(w, "step", step);
    for (int i = 0; i < nmeta; i++)
        avk_st_writer_meta(w, meta[2 * i], meta[2 * i + 1]);
    char **names = avk_xcalloc((size_t)vae->nparam * 2, sizeof *names);
    for (int i = 0; i < vae->nparam; i++) {
        const avk_vae_param *p = &vae->param[i];
        names[2 * i] = avk_xasprintf("exp_avg.%s", p->name);
        names[2 * i + 1] = avk_xasprintf("exp_avg_sq.%s", p->name);
        avk_st_writer_add(w, names[2 * i], AVT_F32, p->ndim, p->shape, o->m + p->offset);
        avk_st_writer_add(w, names[2 * i + 1], AVT_F32, p->ndim, p->shape, o->v + p->offset);
    }
    int rc = avk_st_writer_write(w, path);
    for (int i = 0; i < 2 * vae->nparam; i++)
        free(names[i]);
    free(names);
    return rc;
}

int avk_vae_optim_load(avk_vae_optim *o, const avk_vae *vae, const char *path)
{
    avk_st_file *f = avk_st_open(path);
    if (!f)
        return -1;
    const char *step = avk_st_meta(f, "step");
    char *end;
    long long s = step ? strtoll(step, &end, 10) : -1;
    if (!step || *end || s < 0) {
        avk_st_close(f);
        return avk_error("%s: no valid \"step\" in the metadata (not an optimizer file?)", path);
    }
    avk_vae_optim_init(o, vae);
    o->step = s;
    for (int i = 0; i < vae->nparam; i++) {
        const avk_vae_param *p = &vae->param[i];
        for (int k = 0; k < 2; k++) {
            char name[300];
            snprintf(name, sizeof name, "%s.%s", k ? "exp_avg_sq" : "exp_avg", p->name);
            const avk_st_tensor *t = avk_st_find(f, name);
            int ok = t && t->dtype == AVT_F32 && t->ndim == p->ndim;
            for (int d = 0; ok && d < p->ndim; d++)
                ok = t->shape[d] == p->shape[d];
            if (!ok) {
                avk_error("%s: tensor \"%s\" is %s", path, name,
                          t ? "not F32 of the parameter's shape" : "missing");
                avk_st_close(f);
                avk_vae_optim_free(o);
                return -1;
            }
            memcpy((k ? o->v : o->m) + p->offset, t->data, (size_t)p->numel * 4);
        }
    }
    avk_st_close(f);
    return 0;
}

void avk_train_step_rng(avk_rng *r, uint64_t seed, int64_t step)
{
    avk_rng_seed(r, seed * 0x9E3779B97F4A7C15ull + (uint64_t)step * 0xD1B54A32D192ED03ull + 1);
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
