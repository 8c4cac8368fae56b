/* Reading the latent dataset into memory and planning its batches (see
 * avkit/data/latents.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "avkit/util/common.h"
#include "avkit/io/avt.h"
#include "avkit/data/latents.h"

/* A float tensor (f32, f16, bf16, f64) as f32; NULL if another type. */
static float *to_f32(const avt_tensor *t)
{
    int64_t n = avt_tensor_numel(t);
    if (t->dtype != AVT_F32 && t->dtype != AVT_F16 && t->dtype != AVT_BF16 && t->dtype != AVT_F64)
        return NULL;
    float *out = avk_xmalloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (t->dtype == AVT_F32) {
        memcpy(out, t->data, (size_t)n * sizeof(float));
    } else {
        double *d = avk_xmalloc((size_t)(n > 0 ? n : 1) * sizeof(double));
        avt_to_f64(t->dtype, t->data, d, (size_t)n);
        for (int64_t i = 0; i < n; i++)
            out[i] = (float)d[i];
        free(d);
    }
    return out;
}

/* The caption of record r into it; 0 or -1 (error set, `where` prefix). */
static int read_caption(avk_latent_item *it, const avt_record *r, const char *where)
{
    const avt_tensor *tok = avt_record_find(r, "tokens"), *mask = avt_record_find(r, "mask");
    const avt_tensor *emb = avt_record_find(r, "text_emb");
    if (tok) {
        if (tok->dtype != AVT_I32 || tok->ndim != 1 || tok->shape[0] < 1)
            return avk_error("%s: tensor \"tokens\" is not i32 [L] with L >= 1", where);
        it->L = (int)tok->shape[0];
        it->tokens = avk_xmalloc((size_t)it->L * sizeof(int32_t));
        memcpy(it->tokens, tok->data, (size_t)it->L * sizeof(int32_t));
        it->text_len = it->L;
        if (mask) {
            if (mask->dtype != AVT_U8 || mask->ndim != 1 || mask->shape[0] != it->L)
                return avk_error("%s: tensor \"mask\" is not u8 [%d] like \"tokens\"", where, it->L);
            const uint8_t *mk = mask->data;
            int n = 0;
            while (n < it->L && mk[n])
                n++;
            for (int j = n; j < it->L; j++)
                if (mk[j])
                    return avk_error("%s: tensor \"mask\": ones after a zero at position %d "
                                     "(padding must come last)", where, j);
            it->text_len = n;
        }
        return 0;
    }
    if (emb) {
        if (emb->ndim != 2 || emb->shape[0] < 1 || emb->shape[1] < 1)
            return avk_error("%s: tensor \"text_emb\" is not [L, E]", where);
        it->text_emb = to_f32(emb);
        if (!it->text_emb)
            return avk_error("%s: tensor \"text_emb\" is %s, not a float type", where,
                             avt_dtype_name(emb->dtype));
        it->L = (int)emb->shape[0];
        it->E = (int)emb->shape[1];
        it->text_len = it->L;
        return 0;
    }
    return avk_error("%s: no caption: neither \"tokens\" nor \"text_emb\" (run av-caption-feed "
                     "before av-vaeenc)", where);
}

/* A positive number from the record's metadata, or 0 when absent or not
 * one (these are defaults for a sampler, never required). */
static double meta_pos(const avt_record *r, const char *key)
{
    const char *v = avt_record_get_meta(r, key);
    char *e;
    if (!v)
        return 0;
    double x = strtod(v, &e);
    return e != v && *e == '\0' && isfinite(x) && x > 0 ? x : 0;
}

/* The source description av-vaeenc writes beside each latent. */
static void read_source(avk_latent_item *it, const avt_record *r)
{
    it->frames = (int)meta_pos(r, "vae_frames");
    it->factor = (int)meta_pos(r, "vae_factor");
    it->base = (int)meta_pos(r, "bucket_base");
    it->unit = (int)meta_pos(r, "bucket_unit");
    it->fps = meta_pos(r, "vae_fps");
    it->scaling = meta_pos(r, "latent_scaling_factor");
    const char *b = avt_record_get_meta(r, "bucket"), *sh = avt_record_get_meta(r, "latent_shift_factor");
    char tail;
    if (!b || sscanf(b, "%dx%d%c", &it->bucket_w, &it->bucket_h, &tail) != 2 ||
        it->bucket_w <= 0 || it->bucket_h <= 0)
        it->bucket_w = it->bucket_h = 0;
    char *e;
    it->shift_factor = sh ? strtod(sh, &e) : 0;
    if (!sh || e == sh || *e || !isfinite(it->shift_factor))
        it->shift_factor = 0;
}

int avk_latents_read(avk_latent_set *s, const char *path)
{
    avt_reader *rd = avt_reader_open(path);
    if (!rd)
        return -1;
    const char *file = avk_xstrdup(path);   /* lives as long as the process */
    avt_record r;
    int rc;
    int64_t index = 0;
    while ((rc = avt_read_record(rd, &r)) > 0) {
        char where[512];
        snprintf(where, sizeof where, "%s: record %lld (%s)", path, (long long)index, r.key);
        const avt_tensor *lat = avt_record_find(&r, "latent");
        avk_latent_item it = {0};
        it.file = file;
        it.index = index;
        if (!lat)
            rc = avk_error("%s: no tensor \"latent\" (not an av-vaeenc stream?)", where);
        else if (lat->ndim != 4 || lat->shape[0] < 1 || lat->shape[1] < 1 || lat->shape[2] < 1 ||
                 lat->shape[3] < 1 || lat->shape[0] > 65536 || lat->shape[1] > 65536 ||
                 lat->shape[2] > 65536 || lat->shape[3] > 65536)
            rc = avk_error("%s: tensor \"latent\" is not [C, T, h, w]", where);
        else if (!(it.latent = to_f32(lat)))
            rc = avk_error("%s: tensor \"latent\" is %s, not f32, f16 or bf16", where,
                           avt_dtype_name(lat->dtype));
        else {
            int64_t bad = -1, nl = avt_tensor_numel(lat);
            for (int64_t i = 0; i < nl && bad < 0; i++)
                if (!isfinite(it.latent[i]))
                    bad = i;
            if (bad >= 0)
                rc = avk_error("%s: tensor \"latent\": %s at element %lld", where,
                               isnan(it.latent[bad]) ? "NaN" : "Inf", (long long)bad);
            else
                rc = read_caption(&it, &r, where);
        }
        if (rc < 0) {
            free(it.latent);
            free(it.tokens);
            free(it.text_emb);
            avt_record_free(&r);
            avt_reader_close(rd);
            return -1;
        }
        it.C = (int)lat->shape[0];
        it.T = (int)lat->shape[1];
        it.H = (int)lat->shape[2];
        it.W = (int)lat->shape[3];
        it.key = avk_xstrdup(r.key);
        read_source(&it, &r);
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 64;
            s->items = avk_xrealloc(s->items, (size_t)s->cap * sizeof *s->items);
        }
        s->items[s->n++] = it;
        avt_record_free(&r);
        index++;
    }
    avt_reader_close(rd);
    return rc < 0 ? -1 : 0;
}

void avk_latents_free(avk_latent_set *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->items[i].key);
        free(s->items[i].latent);
        free(s->items[i].tokens);
        free(s->items[i].text_emb);
    }
    free(s->items);
    memset(s, 0, sizeof *s);
}

/* splitmix64: the plan's own small generator (this layer has no nn). */
static uint64_t mix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Fisher-Yates. */
static void shuffle(int *a, int n, uint64_t *r)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(mix(r) % (uint64_t)(i + 1));
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static int same_shape(const avk_latent_item *a, const avk_latent_item *b)
{
    return a->C == b->C && a->T == b->T && a->H == b->H && a->W == b->W;
}

void avk_latents_plan(avk_latent_plan *p, const avk_latent_set *s, int batch, uint64_t seed,
                      int64_t epoch)
{
    uint64_t r = seed * 0x9E3779B97F4A7C15ull ^ ((uint64_t)epoch + 1) * 0xD1B54A32D192ED03ull;
    int n = s->n;
    int *items = avk_xmalloc((size_t)(n ? n : 1) * sizeof *items);
    int *bo = avk_xmalloc((size_t)(n ? n : 1) * sizeof *bo);    /* batch offsets in items */
    int *bc = avk_xmalloc((size_t)(n ? n : 1) * sizeof *bc);    /* batch sizes */
    char *done = avk_xcalloc((size_t)(n ? n : 1), 1);
    int at = 0, nb = 0;
    for (int i = 0; i < n; i++) {                 /* one group per shape, in first-seen order */
        if (done[i])
            continue;
        int first = at;
        for (int j = i; j < n; j++)
            if (!done[j] && same_shape(&s->items[i], &s->items[j])) {
                done[j] = 1;
                items[at++] = j;
            }
        shuffle(items + first, at - first, &r);
        for (int k = first; k < at; k += batch) {
            bo[nb] = k;
            bc[nb++] = at - k < batch ? at - k : batch;
        }
    }
    int *perm = avk_xmalloc((size_t)(nb ? nb : 1) * sizeof *perm);
    for (int k = 0; k < nb; k++)
        perm[k] = k;
    shuffle(perm, nb, &r);
    p->nbatch = nb;
    p->order = avk_xmalloc((size_t)(n ? n : 1) * sizeof *p->order);
    p->start = avk_xmalloc((size_t)(nb + 1) * sizeof *p->start);
    int pos = 0;
    for (int k = 0; k < nb; k++) {
        p->start[k] = pos;
        for (int j = 0; j < bc[perm[k]]; j++)
            p->order[pos++] = items[bo[perm[k]] + j];
    }
    p->start[nb] = pos;
    free(items);
    free(bo);
    free(bc);
    free(done);
    free(perm);
}

void avk_latents_plan_free(avk_latent_plan *p)
{
    free(p->order);
    free(p->start);
    memset(p, 0, sizeof *p);
}
