/* ZeRO-1 and ZeRO-2: the AdamW moments (and with ZeRO-2 the reduced
 * gradients) sharded over the data-parallel ranks.
 *
 * The table's floats are cut into `size` equal shards of S floats (S a
 * multiple of 64 bytes), so a shard boundary may fall inside a block. The
 * few floats left after the shards (under 16 a rank) are the tail: summed
 * with an allreduce and updated on every rank alike. Each step the
 * gradient buckets are reduce-scattered into this rank's shard as the
 * backward produces them (trainer_sync.c); the gradient norm adds the
 * ranks' sums of squares in rank order (the same value everywhere);
 * AdamW updates the shard's weights with the shard's moments; an
 * allgather in place in the weights gives every rank the whole new
 * weights. The moments live only as shards (2 S floats a rank instead of
 * 2 total); a checkpoint holds one optimizer file a rank (its shard), and
 * resume reads every shard of any rank count back into the whole
 * moments before cutting its own. The fp32 weights are the model's own,
 * so there is no separate master copy to shard; the EMA stays whole on
 * every rank. */
#include "trainer_zero.h"
#include "avkit/nn/tensor.h"
#include "avkit/util/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Cut the table into shards; the gradient buffer gets room for size * S
 * floats; the moments (already allocated or loaded whole) are cut to this
 * rank's shard and the whole ones freed. 0 or -1. */
int zero_init(train_zero *z, avk_comm *dp, avk_params *P)
{
    memset(z, 0, sizeof *z);
    z->dp = dp;
    z->rank = avk_comm_rank(dp);
    z->size = avk_comm_size(dp);
    z->S = P->total / z->size / AVK_PARAM_ALIGN * AVK_PARAM_ALIGN;
    z->lo = z->S * z->rank;
    z->hi = z->lo + z->S;
    z->tail = P->total - z->S * z->size;
    avk_params_grads(P);
    z->gs = avk_fzeros(z->S > 0 ? z->S : 1);
    z->m = avk_fzeros(z->S > 0 ? z->S : 1);
    z->v = avk_fzeros(z->S > 0 ? z->S : 1);
    z->mt = avk_fzeros(z->tail > 0 ? z->tail : 1);
    z->vt = avk_fzeros(z->tail > 0 ? z->tail : 1);
    z->part = avk_xcalloc((size_t)z->size, sizeof *z->part);
    avk_params_optim(P);
    memcpy(z->m, P->m + z->lo, (size_t)z->S * sizeof(float));
    memcpy(z->v, P->v + z->lo, (size_t)z->S * sizeof(float));
    memcpy(z->mt, P->m + z->S * z->size, (size_t)z->tail * sizeof(float));
    memcpy(z->vt, P->v + z->S * z->size, (size_t)z->tail * sizeof(float));
    zero_release_optim(P);
    return 0;
}

/* After the buckets' reduce-scatters (trainer_sync.c): the global
 * gradient norm from every rank's shard sum of squares, added in rank
 * order (the same value everywhere), plus the tail's; the shard and the
 * tail clipped. The norm, or -1. */
double zero_norm_clip(train_zero *z, avk_params *P, double clip)
{
    int64_t n = z->S;
    float *gt = P->g + z->S * z->size;
    double ss = n > 0 ? avk_sumsq(z->gs, n) : 0.0;
    if (avk_comm_allgather(z->dp, &ss, z->part, 1, AVK_COMM_F64) < 0)
        return -1;
    double total = 0;
    for (int r = 0; r < z->size; r++)
        total += z->part[r];
    if (z->tail > 0)
        total += avk_sumsq(gt, z->tail);
    double norm = sqrt(total);
    double coef = clip / (norm + 1e-6);
    if (clip > 0 && coef < 1.0) {
        if (n > 0)
            avk_scale(z->gs, (float)coef, n);
        if (z->tail > 0)
            avk_scale(gt, (float)coef, z->tail);
    }
    return norm;
}

/* AdamW on this rank's shard and on the tail, then every rank's new
 * weight shard to all (an allgather in place in the weights). 0 or -1. */
int zero_step(train_zero *z, avk_params *P, const avk_adamw *ad)
{
    int64_t step = P->step + 1, n = z->S, all = z->S * z->size;
    if (n > 0)
        avk_params_adamw_range(P, ad, step, z->lo, z->hi, z->gs, z->m, z->v);
    if (z->tail > 0)
        avk_params_adamw_range(P, ad, step, all, P->total, P->g + all, z->mt, z->vt);
    P->step = step;
    if (n > 0 && avk_comm_allgather(z->dp, NULL, P->w, (size_t)n, AVK_COMM_F32) < 0)
        return -1;
    return 0;
}

/* The optimizer file of shard r of n beside checkpoint `out`: shard 0 is
 * the usual optimizer file (it also names the count), shard r > 0
 * "X.optim.shard-R-of-N.safetensors". malloc'ed. */
char *zero_shard_path(const char *out, int r, int n)
{
    char *opath = avk_params_optim_path(out);
    if (r == 0)
        return opath;
    size_t len = strlen(opath), s = strlen(".safetensors");
    char *p = len > s && strcmp(opath + len - s, ".safetensors") == 0
                  ? avk_xasprintf("%.*s.shard-%d-of-%d.safetensors", (int)(len - s), opath, r, n)
                  : avk_xasprintf("%s.shard-%d-of-%d", opath, r, n);
    free(opath);
    return p;
}

/* This rank's optimizer shard as a safetensors writer: the moments of the
 * floats [lo, hi) of the table (the last rank's range runs to the end,
 * the tail included) as flat tensors "exp_avg" and "exp_avg_sq", and the
 * metadata that places them: "shard", "shards", "offset", "total",
 * "step". *buf gets the copy the writer borrows (free after the write). */
avk_st_writer *zero_shard_writer(const train_zero *z, const avk_params *P, float **buf)
{
    int last = z->rank == z->size - 1;
    int64_t n = z->S + (last ? z->tail : 0);
    float *b = avk_falloc(2 * (n > 0 ? n : 1));
    memcpy(b, z->m, (size_t)z->S * sizeof(float));
    memcpy(b + n, z->v, (size_t)z->S * sizeof(float));
    if (last) {
        memcpy(b + z->S, z->mt, (size_t)z->tail * sizeof(float));
        memcpy(b + n + z->S, z->vt, (size_t)z->tail * sizeof(float));
    }
    *buf = b;
    avk_st_writer *w = avk_st_writer_new();
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)P->step);
    avk_st_writer_meta(w, "step", v);
    snprintf(v, sizeof v, "%d", z->rank);
    avk_st_writer_meta(w, "shard", v);
    snprintf(v, sizeof v, "%d", z->size);
    avk_st_writer_meta(w, "shards", v);
    snprintf(v, sizeof v, "%lld", (long long)z->lo);
    avk_st_writer_meta(w, "offset", v);
    snprintf(v, sizeof v, "%lld", (long long)P->total);
    avk_st_writer_meta(w, "total", v);
    int64_t shape[1] = {n};
    avk_st_writer_add(w, "exp_avg", AVT_F32, 1, shape, b);
    avk_st_writer_add(w, "exp_avg_sq", AVT_F32, 1, shape, b + n);
    return w;
}

/* One shard file's moments into the whole P->m, P->v; `first` is shard
 * 0's file (the step and the weights hash must match it); *next is where
 * this shard must start, advanced past it. 0 or -1. */
static int load_shard(avk_params *P, const avk_st_file *f, const avk_st_file *first, int r,
                      int n, int64_t *next)
{
    int64_t shard, shards, off, total, step, step0;
    if (avk_st_meta_int64(f, "shard", &shard) < 0 || avk_st_meta_int64(f, "shards", &shards) < 0 ||
        avk_st_meta_int64(f, "offset", &off) < 0 || avk_st_meta_int64(f, "total", &total) < 0 ||
        avk_st_meta_int64(f, "step", &step) < 0 || avk_st_meta_int64(first, "step", &step0) < 0)
        return -1;
    if (shard != r || shards != n)
        return avk_error("%s: shard %lld of %lld, expected %d of %d", f->path, (long long)shard,
                         (long long)shards, r, n);
    if (step != step0)
        return avk_error("%s: step %lld, but %s is at step %lld (shards of two checkpoints)",
                         f->path, (long long)step, first->path, (long long)step0);
    const char *h = avk_st_meta(f, "weights_hash"), *h0 = avk_st_meta(first, "weights_hash");
    if (r > 0 && (!h || !h0 || strcmp(h, h0) != 0))
        return avk_error("%s: \"weights_hash\" differs from %s (shards of two checkpoints)",
                         f->path, first->path);
    if (total != P->total || off != *next)
        return avk_error("%s: floats from %lld of %lld; this model's table needs %lld of %lld "
                         "(another model?)", f->path, (long long)off, (long long)total,
                         (long long)*next, (long long)P->total);
    const avk_st_tensor *m = avk_st_find(f, "exp_avg"), *v = avk_st_find(f, "exp_avg_sq");
    if (!m || !v || m->dtype != AVT_F32 || v->dtype != AVT_F32 || m->ndim != 1 || v->ndim != 1 ||
        m->shape[0] != v->shape[0] || off + m->shape[0] > total)
        return avk_error("%s: tensors \"exp_avg\" and \"exp_avg_sq\" missing or not flat F32 "
                         "of one length within the table", f->path);
    int64_t k = m->shape[0];
    if (r == n - 1 && off + k != total)
        return avk_error("%s: the last shard ends at float %lld, the table has %lld", f->path,
                         (long long)(off + k), (long long)total);
    memcpy(P->m + off, m->data, (size_t)k * sizeof(float));
    memcpy(P->v + off, v->data, (size_t)k * sizeof(float));
    *next = off + k;
    P->step = step;
    return 0;
}

int zero_load_shards(avk_params *P, const char *ckpt, const avk_st_file *first)
{
    int64_t n;
    if (avk_st_meta_int64(first, "shards", &n) < 0)
        return -1;
    if (n < 1 || n > 1 << 20)
        return avk_error("%s: \"shards\" %lld out of range", first->path, (long long)n);
    avk_params_optim(P);
    int64_t next = 0;
    for (int r = 0; r < (int)n; r++) {
        if (r == 0) {
            if (load_shard(P, first, first, 0, (int)n, &next) < 0)
                return -1;
            continue;
        }
        char *path = zero_shard_path(ckpt, r, (int)n);
        avk_st_file *f = avk_st_open(path);
        int rc = f ? load_shard(P, f, first, r, (int)n, &next) : -1;
        avk_st_close(f);
        free(path);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Free the whole moments again (the shards stay). */
void zero_release_optim(avk_params *P)
{
    avk_ffree(P->m);
    avk_ffree(P->v);
    P->m = P->v = NULL;
}

void zero_free(train_zero *z)
{
    avk_ffree(z->gs);
    avk_ffree(z->m);
    avk_ffree(z->v);
    avk_ffree(z->mt);
    avk_ffree(z->vt);
    free(z->part);
    memset(z, 0, sizeof *z);
}
