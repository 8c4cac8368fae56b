/* The DiT's parallel and memory settings: sequence parallelism (where
 * this rank's rows sit in the whole batch), selective recomputation (which
 * blocks), and the activation memory a step held. The forward and backward
 * that use them are in dit.c, the head-split all-to-alls in dit_attn.c. */
#include <math.h>
#include <string.h>
#include "avkit/util/common.h"
#include "dit_internal.h"

/* (see dit_internal.h) Rank spr holds positions [spr S, (spr + 1) S) of
 * each frame and [spr L, (spr + 1) L) of each caption. */
int64_t dit_global_video_row(const dit_ctx *k, int64_t r)
{
    int64_t b = r / k->N, f = r % k->N / k->S, i = (int64_t)k->spr * k->S + r % k->S;
    return i < k->Sg ? (b * k->T + f) * k->Sg + i : -1;
}

int64_t dit_global_text_row(const dit_ctx *k, int64_t r)
{
    int64_t b = r / k->L, j = (int64_t)k->spr * k->L + r % k->L;
    return j < k->Lg ? b * k->Lg + j : -1;
}

/* (see dit_internal.h) */
void dit_take_rows(const dit_ctx *k, float *dst, const float *src, int64_t rows, int w, int text)
{
    for (int64_t r = 0; r < rows; r++) {
        int64_t g = text ? dit_global_text_row(k, r) : dit_global_video_row(k, r);
        if (g < 0)
            memset(dst + r * w, 0, (size_t)w * sizeof(float));
        else
            memcpy(dst + r * w, src + g * w, (size_t)w * sizeof(float));
    }
}

/* Bytes held by an arena's blocks. */
static int64_t arena_bytes(const dit_arena *a)
{
    int64_t n = 0;
    for (int i = 0; i < a->n; i++)
        n += a->sizes[i];
    return n * (int64_t)sizeof(float);
}

/* (see dit_internal.h) */
int64_t dit_layout_act_bytes(const avk_dit_layout *l)
{
    return arena_bytes(&l->spare) + arena_bytes(&l->spare_re) + arena_bytes(&l->spare_bw);
}

/* The three arenas the last step kept, the model's and (a batch run in
 * groups) every thread's view's. */
int64_t avk_dit_act_bytes(const avk_dit *m)
{
    return dit_layout_act_bytes(m->lay) + dit_split_act_bytes(m->lay);
}

/* The group, once the heads are known to divide by its size. */
int avk_dit_set_sp(avk_dit *m, avk_comm *sp)
{
    int n = sp ? avk_comm_size(sp) : 1;
    if (n > 1 && m->cfg.heads % n != 0)
        return avk_error("sequence parallelism over %d ranks: the model's %d attention heads "
                         "do not divide by %d", n, m->cfg.heads, n);
    m->sp = n > 1 ? sp : NULL;
    return 0;
}

/* The share, clamped to [0, 1]. */
void avk_dit_set_recompute(avk_dit *m, double share)
{
    m->recompute = share < 0 ? 0 : share > 1 ? 1 : share;
}

/* round(share * depth) blocks, block i taken when the running count
 * floor((i + 1) k / depth) steps up: evenly spread, the last included. */
int avk_dit_block_recomputes(int i, int depth, double share)
{
    int k = (int)floor(share * depth + 0.5);
    if (k <= 0)
        return 0;
    return (int64_t)(i + 1) * k / depth > (int64_t)i * k / depth;
}
