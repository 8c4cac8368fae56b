/* ZeRO-1: the AdamW moments sharded over the data-parallel ranks.
 *
 * The table's floats are cut into `size` equal shards of S floats (S a
 * multiple of 64 bytes): comm.h's reduce-scatter and allgather take equal
 * counts, so a shard boundary may fall inside a block. The few floats
 * left after the shards (under 16 a rank) are the tail: summed with an
 * allreduce and updated on every rank alike. Each step: a reduce-scatter sums the
 * gradients and leaves each rank its shard's sums; the gradient norm adds
 * the ranks' sums of squares in rank order (the same value everywhere);
 * AdamW updates the shard's weights with the shard's moments; an
 * allgather of the weight shards (through the gradient buffer, which is
 * free by then) gives every rank the whole new weights. The moments live
 * only as shards (2 S floats a rank instead of 2 total); they are
 * gathered whole only around a checkpoint. The fp32 weights are the
 * model's own, so there is no separate master copy to shard; the EMA
 * stays whole on every rank. */
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

/* The whole moments in P->m and P->v (for a checkpoint), gathered from
 * every rank's shard. Collective. 0 or -1. */
int zero_gather_optim(train_zero *z, avk_params *P)
{
    int64_t n = z->S, all = z->S * z->size;
    zero_release_optim(P);
    P->m = avk_fzeros(P->total > 0 ? P->total : 1);
    P->v = avk_fzeros(P->total > 0 ? P->total : 1);
    memcpy(P->m + z->lo, z->m, (size_t)n * sizeof(float));
    memcpy(P->v + z->lo, z->v, (size_t)n * sizeof(float));
    memcpy(P->m + all, z->mt, (size_t)z->tail * sizeof(float));
    memcpy(P->v + all, z->vt, (size_t)z->tail * sizeof(float));
    if (n > 0 && (avk_comm_allgather(z->dp, NULL, P->m, (size_t)n, AVK_COMM_F32) < 0 ||
                  avk_comm_allgather(z->dp, NULL, P->v, (size_t)n, AVK_COMM_F32) < 0))
        return -1;
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
