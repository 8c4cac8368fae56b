/* A batch in groups of samples, one group per thread: each thread runs
 * the whole forward and backward of its samples with single-threaded
 * operators, on a view of the model that shares the weights but has its
 * own gradients and arenas. The samples of a batch never meet inside the
 * model (the loss is the caller's), so this computes the batched step;
 * what it saves is every operator's fork, join and load imbalance: about
 * 1,300 parallel regions and the GEMMs' own threading a step at the
 * reference configuration (bench/dit.sh), 2-5% of the median step on
 * bench/dit_ab.sh's CPU clock and about 3% on the wall clock.
 *
 * The gradients meet where the whole batch's backward announces a block
 * (avk_params_grads_ready): the threads wait for each other, add the
 * views' gradients of that block into m->g in view order (thread 0 wrote
 * m->g itself), zero them for the next step, and the block is announced,
 * so a data-parallel trainer still overlaps its reductions with the
 * backward. The order of every addition is fixed: two runs give the same
 * bits. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "avkit/util/common.h"
#include "avkit/nn/tensor.h"
#include "dit_internal.h"

/* The model as thread k > 0 sees it: the weights and configuration of the
 * model, its own gradient buffer (zero outside a backward) and arenas. */
typedef struct dit_view {
    avk_dit m;
    avk_dit_layout lay;
} dit_view;

struct dit_split_workers {
    int n;                      /* views: threads - 1 */
    dit_view *v;
};

struct dit_split {
    avk_dit *m;
    int n, per;                 /* groups, samples in each */
    int64_t pred_n;             /* floats of one group's prediction */
    avk_dit **model;            /* [n]: m, then the views */
    avk_dit_acts **part;        /* [n] */
    char *summed;               /* [nblock]: the views' gradients added */
};

/* (see avkit/models/dit.h) */
int avk_dit_groups(const avk_dit *m, int B)
{
    if (m->whole_batch || m->sp || omp_in_parallel())
        return 1;
    int n = omp_get_max_threads();
    return n >= 2 && B >= n && B % n == 0 ? n : 1;
}

/* Free the views and their buffers. */
void dit_split_workers_free(avk_dit_layout *l)
{
    struct dit_split_workers *w = l->workers;
    if (!w)
        return;
    for (int i = 0; i < w->n; i++) {
        dit_arena_free(&w->v[i].lay.spare);
        dit_arena_free(&w->v[i].lay.spare_re);
        dit_arena_free(&w->v[i].lay.spare_bw);
        avk_ffree(w->v[i].m.g);
    }
    free(w->v);
    free(w);
    l->workers = NULL;
}

/* (see dit_internal.h) */
int64_t dit_split_act_bytes(const avk_dit_layout *l)
{
    int64_t n = 0;
    for (int i = 0; l->workers && i < l->workers->n; i++)
        n += dit_layout_act_bytes(&l->workers->v[i].lay);
    return n;
}

/* The n - 1 views of m, made (gradients zeroed) when the thread count
 * changed, and brought up to date with m's settings (precision,
 * recomputation, frozen text) while keeping their own buffers. */
static dit_view *views(avk_dit *m, int n)
{
    avk_dit_layout *l = m->lay;
    if (l->workers && l->workers->n != n - 1)
        dit_split_workers_free(l);
    if (!l->workers) {
        l->workers = avk_xcalloc(1, sizeof *l->workers);
        l->workers->n = n - 1;
        l->workers->v = avk_xcalloc((size_t)(n - 1), sizeof *l->workers->v);
        for (int i = 0; i < n - 1; i++)
            l->workers->v[i].m.g = avk_fzeros(m->nfloats);
    }
    for (int i = 0; i < n - 1; i++) {
        dit_view *v = &l->workers->v[i];
        dit_arena a = v->lay.spare, re = v->lay.spare_re, bw = v->lay.spare_bw;
        v->lay = *l;
        v->lay.spare = a;
        v->lay.spare_re = re;
        v->lay.spare_bw = bw;
        v->lay.workers = NULL;
        float *g = v->m.g;
        v->m = *m;
        v->m.g = g;
        v->m.lay = &v->lay;
        v->m.whole_batch = 1;
    }
    return l->workers->v;
}

/* Samples [k per, (k + 1) per) of b. */
static avk_dit_batch group(const avk_dit *m, const avk_dit_batch *b, int k, int per)
{
    avk_dit_batch g = *b;
    int64_t first = (int64_t)k * per;
    int64_t x = (int64_t)m->cfg.in_channels * b->T * b->H * b->W;
    g.B = per;
    g.x = b->x + first * x;
    g.t = b->t + first;
    g.text_len = b->text_len + first;
    if (b->tokens)
        g.tokens = b->tokens + first * b->L;
    if (b->text_emb)
        g.text_emb = b->text_emb + first * b->L * m->cfg.text_emb_dim;
    return g;
}

/* (see dit_internal.h) */
dit_split *dit_split_forward(avk_dit *m, const avk_dit_batch *b, float *pred, int n,
                             int for_backward)
{
    dit_view *v = views(m, n);
    dit_split *s = avk_xcalloc(1, sizeof *s);
    s->m = m;
    s->n = n;
    s->per = b->B / n;
    s->pred_n = (int64_t)s->per * m->cfg.in_channels * b->T * b->H * b->W;
    s->model = avk_xcalloc((size_t)n, sizeof *s->model);
    s->part = avk_xcalloc((size_t)n, sizeof *s->part);
    s->summed = avk_xcalloc((size_t)m->par->nblock, 1);
    for (int k = 0; k < n; k++)
        s->model[k] = k ? &v[k - 1].m : m;
    /* (fewer threads than asked for: some run two groups) */
#pragma omp parallel num_threads(n)
    {
        int nt = omp_get_num_threads();
        omp_set_num_threads(1);     /* the operators inside: this thread only */
        for (int k = omp_get_thread_num(); k < n; k += nt) {
            avk_dit_batch g = group(m, b, k, s->per);
            int ran;
            s->part[k] = dit_forward_whole(s->model[k], &g, pred + k * s->pred_n, NULL,
                                           for_backward ? NULL : &ran);
        }
    }
    return s;
}

/* g += gk, then gk = 0, in one pass over gk. */
static void add_and_zero(float *restrict g, float *restrict gk, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        g[i] += gk[i];
        gk[i] = 0.0f;
    }
}

/* Add the views' gradients of parameter block `block` into m->g, this
 * thread's share of its floats, and zero them. */
static void add_block_share(dit_split *s, int block)
{
    const avk_param_block *pb = &s->m->par->block[block];
    int t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t lo = pb->offset + pb->size * t / nt, hi = pb->offset + pb->size * (t + 1) / nt;
    for (int k = 1; k < s->n; k++)
        add_and_zero(s->m->g + lo, s->model[k]->g + lo, hi - lo);
}

/* Called by every group's backward where a block's gradients are final:
 * all threads meet, add that block's gradients, meet again; then thread 0
 * announces it. */
static void split_ready(void *ctx, int block)
{
    dit_split *s = ctx;
#pragma omp barrier
    add_block_share(s, block);
#pragma omp barrier
    if (omp_get_thread_num() == 0) {
        s->summed[block] = 1;
        avk_params_grads_ready(s->m->par, block);
    }
}

/* A group's backward that meets no one (the fallback below). */
static void ready_none(void *ctx, int block)
{
    (void)ctx;
    (void)block;
}

/* (see dit_internal.h) */
void dit_split_backward(avk_dit *m, dit_split *s, const float *dpred)
{
    int together = 0;
#pragma omp parallel num_threads(s->n)
    if (omp_get_num_threads() == s->n) {    /* the same in every thread */
        int k = omp_get_thread_num();
        omp_set_num_threads(1);
        dit_backward_whole(s->model[k], s->part[k], dpred + k * s->pred_n, split_ready, s);
        if (k == 0)
            together = 1;
    }
    if (!together)      /* fewer threads than groups: one group after another */
        for (int k = 0; k < s->n; k++)
            dit_backward_whole(s->model[k], s->part[k], dpred + k * s->pred_n, ready_none, NULL);
    /* blocks that no backward announced: added now, not announced (as the
     * whole batch's backward leaves them to the end) */
    for (int b = 0; b < m->par->nblock; b++) {
        if (s->summed[b])
            continue;
        const avk_param_block *pb = &m->par->block[b];
        for (int k = 1; k < s->n; k++)
            add_and_zero(m->g + pb->offset, s->model[k]->g + pb->offset, pb->size);
        s->summed[b] = 1;
    }
}

void dit_split_free(dit_split *s)
{
    if (!s)
        return;
    for (int k = 0; k < s->n; k++)
        avk_dit_acts_free(s->part[k]);
    free(s->model);
    free(s->part);
    free(s->summed);
    free(s);
}
