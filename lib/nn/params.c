/* The parameter table: registration in blocks over one flat aligned
 * buffer, gradients / AdamW moments / EMA beside it, AdamW with a
 * per-tensor weight-decay flag, gradient norm and clipping, and the
 * safetensors form of the weights and the optimizer state. See params.h. */
#include "avkit/nn/params.h"
#include "avkit/nn/tensor.h"
#include "avkit/util/common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building -------------------------------------------------------- */

avk_params *avk_params_new(void)
{
    return avk_xcalloc(1, sizeof(avk_params));
}

void avk_params_free(avk_params *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n; i++)
        free(t->p[i].name);
    for (int i = 0; i < t->nblock; i++)
        free(t->block[i].name);
    free(t->p);
    free(t->block);
    avk_ffree(t->w);
    avk_ffree(t->g);
    avk_ffree(t->m);
    avk_ffree(t->v);
    avk_ffree(t->ema);
    free(t);
}

/* Append a block starting at the current end of the table. */
static void open_block(avk_params *t, char *name)
{
    if (t->nblock == t->block_cap) {
        t->block_cap = t->block_cap ? 2 * t->block_cap : 16;
        t->block = avk_xrealloc(t->block, (size_t)t->block_cap * sizeof *t->block);
    }
    avk_param_block *b = &t->block[t->nblock++];
    b->name = name;
    b->first = t->n;
    b->count = 0;
    b->offset = t->total;
    b->size = 0;
}

void avk_params_block(avk_params *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char name[256];
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    open_block(t, avk_xstrdup(name));
}

int64_t avk_params_add(avk_params *t, int ndim, const int64_t *shape, int decay,
                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char name[256];
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (t->w || ndim < 0 || ndim > AVK_PARAM_MAX_DIMS || avk_params_find(t, name))
        avk_die(1, "internal error: parameter \"%s\" registered twice, late or with %d dims",
                name, ndim);
    if (t->nblock == 0)
        open_block(t, avk_xstrdup(""));
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->p = avk_xrealloc(t->p, (size_t)t->cap * sizeof *t->p);
    }
    avk_param *p = &t->p[t->n++];
    memset(p, 0, sizeof *p);
    p->name = avk_xstrdup(name);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->numel *= shape[i];
    }
    p->decay = decay != 0;
    p->block = t->nblock - 1;
    p->offset = t->total;
    t->total += (p->numel + AVK_PARAM_ALIGN - 1) / AVK_PARAM_ALIGN * AVK_PARAM_ALIGN;
    avk_param_block *b = &t->block[t->nblock - 1];
    b->count++;
    b->size = t->total - b->offset;
    return p->offset;
}

void avk_params_alloc(avk_params *t)
{
    if (!t->w)
        t->w = avk_fzeros(t->total > 0 ? t->total : 1);
}

const avk_param *avk_params_find(const avk_params *t, const char *name)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->p[i].name, name) == 0)
            return &t->p[i];
    return NULL;
}

/* ---- buffers beside the weights --------------------------------------- */

float *avk_params_grads(avk_params *t)
{
    if (!t->g)
        t->g = avk_fzeros(t->total > 0 ? t->total : 1);
    return t->g;
}

void avk_params_zero_grads(avk_params *t)
{
    memset(avk_params_grads(t), 0, (size_t)t->total * sizeof(float));
}

void avk_params_grads_ready(avk_params *t, int block)
{
    if (t->ready && block >= 0 && block < t->nblock)
        t->ready(t->ready_ctx, block);
}

void avk_params_optim(avk_params *t)
{
    if (!t->m) {
        t->m = avk_fzeros(t->total > 0 ? t->total : 1);
        t->v = avk_fzeros(t->total > 0 ? t->total : 1);
        t->step = 0;
    }
}

float *avk_params_ema(avk_params *t)
{
    if (!t->ema) {
        t->ema = avk_falloc(t->total > 0 ? t->total : 1);
        memcpy(t->ema, t->w, (size_t)t->total * sizeof(float));
    }
    return t->ema;
}

void avk_params_ema_update(avk_params *t, double decay)
{
    float *e = avk_params_ema(t);
    float d = (float)decay, od = (float)(1.0 - decay);
    const float *w = t->w;
    int64_t n = t->total;
#pragma omp parallel for simd schedule(static) if (n >= 65536)
    for (int64_t i = 0; i < n; i++)
        e[i] = d * e[i] + od * w[i];
}

/* ---- checks ---------------------------------------------------------- */

int avk_params_check_finite(const avk_params *t, const float *buf, const char *what)
{
    for (int i = 0; i < t->n; i++) {
        const avk_param *p = &t->p[i];
        int64_t bad = avk_find_nonfinite(buf + p->offset, p->numel);
        if (bad >= 0)
            return avk_error("%s: tensor \"%s\": %s at element %lld", what, p->name,
                             isnan(buf[p->offset + bad]) ? "NaN" : "Inf", (long long)bad);
    }
    return 0;
}

/* A 64-bit multiply-rotate hash over 8-byte words (a tail word padded with
 * zeros); fast enough for every checkpoint, not cryptographic. */
static uint64_t hash_words(uint64_t h, const unsigned char *d, size_t n)
{
    const uint64_t K1 = 0x9E3779B97F4A7C15ull, K2 = 0xC2B2AE3D27D4EB4Full;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, d + i, 8);
        h ^= x * K2;
        h = (h << 31 | h >> 33) * K1;
    }
    if (i < n) {
        uint64_t x = 0;
        memcpy(&x, d + i, n - i);
        h ^= x * K2;
        h = (h << 31 | h >> 33) * K1;
    }
    h ^= (uint64_t)n;
    return h;
}

void avk_params_hash(const avk_params *t, const float *buf, char out[17])
{
    uint64_t h = 0x243F6A8885A308D3ull;
    for (int i = 0; i < t->n; i++)
        h = hash_words(h, (const unsigned char *)(buf + t->p[i].offset),
                       (size_t)t->p[i].numel * sizeof(float));
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* ---- optimizer ------------------------------------------------------- */

void avk_params_adamw(avk_params *t, const avk_adamw *o)
{
    avk_params_optim(t);
    int64_t step = t->step + 1;
    avk_adamw nodecay = *o;
    nodecay.weight_decay = 0;
    /* runs of tensors with the same flag are contiguous in the buffers;
     * the padding between them is zero in every buffer and stays zero */
    int i = 0;
    while (i < t->n) {
        int j = i;
        while (j < t->n && t->p[j].decay == t->p[i].decay)
            j++;
        int64_t a = t->p[i].offset, b = j < t->n ? t->p[j].offset : t->total;
        avk_adamw_step(t->p[i].decay ? o : &nodecay, step, t->w + a, t->g + a, t->m + a,
                       t->v + a, b - a);
        i = j;
    }
    t->step = step;
}

void avk_params_adamw_range(avk_params *t, const avk_adamw *o, int64_t step, int64_t lo,
                            int64_t hi, const float *g, float *m, float *v)
{
    avk_adamw nodecay = *o;
    nodecay.weight_decay = 0;
    int i = 0;
    while (i < t->n) {
        int j = i;
        while (j < t->n && t->p[j].decay == t->p[i].decay)
            j++;
        int64_t a = t->p[i].offset, b = j < t->n ? t->p[j].offset : t->total;
        a = a > lo ? a : lo;
        b = b < hi ? b : hi;
        if (b > a)
            avk_adamw_step(t->p[i].decay ? o : &nodecay, step, t->w + a, g + (a - lo),
                           m + (a - lo), v + (a - lo), b - a);
        i = j;
    }
}

double avk_params_grad_norm(const avk_params *t)
{
    float *g = t->g;
    int64_t n = t->total;
    return t->g ? avk_grad_global_norm(&g, &n, 1) : 0.0;
}

double avk_params_clip(avk_params *t, double max_norm)
{
    float *g = avk_params_grads(t);
    int64_t n = t->total;
    return max_norm > 0 ? avk_grad_clip(&g, &n, 1, max_norm) : avk_grad_global_norm(&g, &n, 1);
}

/* ---- files ----------------------------------------------------------- */

void avk_params_st_add(const avk_params *t, const float *buf, avk_st_writer *w)
{
    for (int i = 0; i < t->n; i++) {
        const avk_param *p = &t->p[i];
        avk_st_writer_add(w, p->name, AVT_F32, p->ndim, p->shape, buf + p->offset);
    }
}

char **avk_params_optim_names(const avk_params *t)
{
    char **names = avk_xcalloc((size_t)t->n * 2 + 1, sizeof *names);
    for (int i = 0; i < t->n; i++) {
        names[2 * i] = avk_xasprintf("exp_avg.%s", t->p[i].name);
        names[2 * i + 1] = avk_xasprintf("exp_avg_sq.%s", t->p[i].name);
    }
    return names;
}

void avk_params_free_names(const avk_params *t, char **names)
{
    if (!names)
        return;
    for (int i = 0; i < 2 * t->n; i++)
        free(names[i]);
    free(names);
}

void avk_params_st_add_optim(const avk_params *t, avk_st_writer *w, char **names)
{
    char step[32];
    snprintf(step, sizeof step, "%lld", (long long)t->step);
    avk_st_writer_meta(w, "step", step);
    for (int i = 0; i < t->n; i++) {
        const avk_param *p = &t->p[i];
        avk_st_writer_add(w, names[2 * i], AVT_F32, p->ndim, p->shape, t->m + p->offset);
        avk_st_writer_add(w, names[2 * i + 1], AVT_F32, p->ndim, p->shape, t->v + p->offset);
    }
}

/* Does the stored shape match the tensor's (or, with allow_1x1, a 1x1
 * conv weight [O, I, 1, 1] for a linear [O, I])? */
static int shape_matches(const avk_st_tensor *s, const avk_param *p, int allow_1x1)
{
    if (s->ndim == p->ndim) {
        for (int i = 0; i < p->ndim; i++)
            if (s->shape[i] != p->shape[i])
                return 0;
        return 1;
    }
    return allow_1x1 && p->ndim == 2 && s->ndim == 4 && s->shape[0] == p->shape[0] &&
           s->shape[1] == p->shape[1] && s->shape[2] == 1 && s->shape[3] == 1;
}

int avk_params_load(const avk_params *t, float *buf, const avk_st_file *f,
                    const avk_params_load_opts *o)
{
    static const avk_params_load_opts plain = {0};
    if (!o)
        o = &plain;
    const char *path = f->path;
    char *used = avk_xcalloc((size_t)f->ntensors + 1, 1);
    char want[128], got[128];
    for (int i = 0; i < t->n; i++) {
        const avk_param *p = &t->p[i];
        const avk_st_tensor *s = avk_st_find(f, p->name);
        char alt[300];
        if (!s && o->alias && o->alias(p->name, alt, sizeof alt))
            s = avk_st_find(f, alt);
        avk_shape_str(want, sizeof want, p->ndim, p->shape);
        if (!s) {
            avk_error("%s: missing tensor \"%s\" (shape %s)%s%s%s", path, p->name, want,
                      o->model ? " for this " : "", o->model ? o->model : "",
                      o->model ? " config" : "");
            goto fail;
        }
        used[s - f->tensors] = 1;
        if (!shape_matches(s, p, o->allow_1x1)) {
            avk_shape_str(got, sizeof got, s->ndim, s->shape);
            avk_error("%s: tensor \"%s\" has shape %s, expected %s%s%s%s", path, s->name, got,
                      want, o->model ? " for this " : "", o->model ? o->model : "",
                      o->model ? " config" : "");
            goto fail;
        }
        float *d = buf + p->offset;
        const unsigned char *src = s->data;
        if (s->dtype == AVT_F32) {
            memcpy(d, src, (size_t)p->numel * 4);
        } else if (s->dtype == AVT_F16 || s->dtype == AVT_BF16) {
            for (int64_t j = 0; j < p->numel; j++) {
                uint16_t h = (uint16_t)(src[2 * j] | src[2 * j + 1] << 8);
                d[j] = s->dtype == AVT_F16 ? avt_f16_to_f32(h) : avt_bf16_to_f32(h);
            }
        } else {
            const char *dn = avk_st_dtype_name(s->dtype);
            avk_error("%s: tensor \"%s\" has dtype %s (supported: F32, F16, BF16)", path,
                      s->name, dn ? dn : "?");
            goto fail;
        }
        int64_t bad = avk_find_nonfinite(d, p->numel);
        if (bad >= 0) {
            avk_error("%s: tensor \"%s\": %s at element %lld", path, s->name,
                      isnan(d[bad]) ? "NaN" : "Inf", (long long)bad);
            goto fail;
        }
    }
    for (int i = 0; i < f->ntensors; i++)
        if (!used[i] && !(o->ignore_prefix && strncmp(f->tensors[i].name, o->ignore_prefix,
                                                       strlen(o->ignore_prefix)) == 0)) {
            avk_error("%s: unexpected tensor \"%s\"%s%s%s", path, f->tensors[i].name,
                      o->model ? " (not part of this " : "", o->model ? o->model : "",
                      o->model ? " config)" : "");
            goto fail;
        }
    free(used);
    return 0;
fail:
    free(used);
    return -1;
}

int avk_st_meta_int64(const avk_st_file *f, const char *key, int64_t *out)
{
    const char *s = avk_st_meta(f, key);
    if (!s)
        return avk_error("%s: no \"%s\" in the metadata", f->path, key);
    char *end;
    errno = 0;
    long long x = (*s >= '0' && *s <= '9') ? strtoll(s, &end, 10) : -1;
    if (x < 0 || *end || errno)
        return avk_error("%s: metadata \"%s\" is \"%.40s\", not a non-negative integer",
                         f->path, key, s);
    *out = x;
    return 0;
}

int avk_params_load_optim(avk_params *t, const avk_st_file *f)
{
    int64_t step;
    if (!avk_st_meta(f, "step") || avk_st_meta_int64(f, "step", &step) < 0)
        return avk_error("%s: no valid \"step\" in the metadata (not an optimizer file?)",
                         f->path);
    avk_params_optim(t);
    for (int i = 0; i < t->n; i++) {
        const avk_param *p = &t->p[i];
        for (int k = 0; k < 2; k++) {
            char name[300];
            snprintf(name, sizeof name, "%s.%s", k ? "exp_avg_sq" : "exp_avg", p->name);
            const avk_st_tensor *s = avk_st_find(f, name);
            int ok = s && s->dtype == AVT_F32 && s->ndim == p->ndim;
            for (int d = 0; ok && d < p->ndim; d++)
                ok = s->shape[d] == p->shape[d];
            if (!ok)
                return avk_error("%s: tensor \"%s\" is %s", f->path, name,
                                 s ? "not F32 of the parameter's shape" : "missing");
            memcpy((k ? t->v : t->m) + p->offset, s->data, (size_t)p->numel * 4);
        }
    }
    t->step = step;
    return 0;
}

/* Beside the file the checkpoint's links lead to, so that a checkpoint
 * written through a symbolic link keeps its two files together. */
char *avk_params_optim_path(const char *ckpt)
{
    char *target = NULL;
    if (avk_out_target(ckpt, &target) == AVK_OUT_REPLACE && target)
        ckpt = target;
    size_t n = strlen(ckpt), s = strlen(".safetensors");
    char *p = n > s && strcmp(ckpt + n - s, ".safetensors") == 0
                  ? avk_xasprintf("%.*s.optim.safetensors", (int)(n - s), ckpt)
                  : avk_xasprintf("%s.optim", ckpt);
    free(target);
    return p;
}
