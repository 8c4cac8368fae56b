/* Long videos over the DiT: the block queue of long.c with the feature
 * cache (keys and values of the previous block's last frames), the
 * diffusion cache, and the model's blocks split across ranks as a
 * pipeline. See include/avkit/diffusion/long.h. */
#include "avkit/diffusion/long.h"
#include "avkit/diffusion/cache.h"
#include "avkit/diffusion/flow.h"
#include "avkit/dist/comm.h"
#include "avkit/models/dit_stage.h"
#include "avkit/nn/tensor.h"
#include "avkit/util/common.h"
#include "long_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { TAG_HDR = 16160, TAG_STATE = 16161 };

/* One evaluation: block blk at its step `step`, guidance pass `pass`
 * (kind 0: the end of the work). */
typedef struct hdr {
    int32_t kind, blk, step, pass;
} hdr;

/* An evaluation in flight on rank 0: sent down the pipeline, its state
 * to come back from the last rank. */
typedef struct flight {
    hdr h, rh;
    float *send, *recv, *x0;     /* states [nstate]; x0: the blocks' input (cache) */
    avk_request *sreq[2], *rreq[2];
} flight;

typedef struct lp {
    avk_dit *m;
    const avk_long_opts *o;
    int H, W, L, C, B, K, S, npass, rank, P, l0, l1;
    int64_t hw, nblk, nstate;
    const avk_sample_text *text[2];
    avk_comm *comm;
    double *ts;
    float tf;                    /* the time of the batch being set up */
    avk_dit_run *run;
    avk_dit_kv **kv;             /* [(S + 1) * npass]: block j's at j % (S + 1) */
    float *xzero;                /* latents of the shape, for ranks that read none */
    avk_long_stats st;
    /* rank 0 */
    float *queue, *pool, *v;     /* [S][nblk], [nblk], [nblk] */
    float **pred;                /* [S * npass][nblk] */
    int *applied, *npdone;       /* [S]: steps applied, passes done at the current one */
    avk_dcache *dc;              /* [S * npass] or NULL */
    flight *fl;                  /* ring of W */
    int win, fhead, nfl;
    avk_long_emit_fn emit;
    void *ectx;
} lp;

/* Process CPU seconds (every thread): the stage times, fair on a loaded
 * machine, and free of MPI's polling, which happens outside the stages. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static avk_dit_kv *kv_of(lp *p, int blk, int pass)
{
    return p->kv[(blk % (p->S + 1)) * p->npass + pass];
}

/* Set the run up for block blk's evaluation at `step`, pass `pass`, with
 * latents x: the feature cache's frames before it unless it is the first. */
static int begin(lp *p, int blk, int step, int pass, const float *x)
{
    p->tf = (float)p->ts[step];
    avk_dit_batch b = {.B = 1, .T = p->B, .H = p->H, .W = p->W, .x = x, .t = &p->tf,
                       .L = p->L, .tokens = p->text[pass]->tokens,
                       .text_len = &p->text[pass]->len};
    if (avk_dit_run_begin(p->run, &b, blk > 0 ? p->K : 0) < 0) {
        char *why = avk_xstrdup(avk_errmsg());
        avk_error("block %d: %s", blk, why);
        free(why);
        return -1;
    }
    return 0;
}

/* This rank's blocks on the run's state, with the feature cache. */
static void my_blocks(lp *p, int blk, int pass)
{
    double t0 = cpu_now();
    avk_dit_run_blocks(p->run, p->l0, p->l1, blk > 0 && p->K ? kv_of(p, blk - 1, pass) : NULL,
                       p->K ? kv_of(p, blk, pass) : NULL);
    p->st.blocks_s += cpu_now() - t0;
}

/* Rank 0: the head on the run's state (set up for h), the cache's store,
 * and once every pass of the step is in, guidance, the Euler step, and
 * the block out when clean. */
static int finish(lp *p, const hdr *h, const float *x0, int ran)
{
    double t0 = cpu_now();
    int slot = h->blk % p->S;
    int64_t n;
    float *state = avk_dit_run_state(p->run, &n);
    if (p->dc && ran)
        avk_dcache_store(&p->dc[slot * p->npass + h->pass], x0, state);
    avk_dit_run_head(p->run, p->pred[slot * p->npass + h->pass]);
    int rc = 0;
    if (++p->npdone[slot] == p->npass) {
        p->npdone[slot] = 0;
        float *x = p->queue + (int64_t)slot * p->nblk, *v = p->pred[slot * p->npass];
        if (p->npass == 2) {
            const float *u = p->pred[slot * p->npass + 1];
            double g = p->o->cfg;
            for (int64_t k = 0; k < p->nblk; k++)
                p->v[k] = (float)(u[k] + g * ((double)v[k] - u[k]));
            v = p->v;
        }
        float dt = (float)(p->ts[h->step + 1] - p->ts[h->step]);
        for (int64_t k = 0; k < p->nblk; k++)
            x[k] += dt * v[k];
        p->applied[slot]++;
        if (h->step == p->S - 1) {
            if (avk_find_nonfinite(x, p->nblk) >= 0)
                rc = avk_error("block %d: the sample has non-finite values (a broken model?)",
                               h->blk);
            else
                rc = p->emit(p->ectx, h->blk, x);
            p->st.blocks++;
        }
    }
    p->st.head_s += cpu_now() - t0;
    return rc;
}

/* Rank 0: the oldest evaluation in flight back from the last rank, then
 * finished. */
static int drain_one(lp *p)
{
    flight *f = &p->fl[p->fhead];
    avk_request_waitall(2, f->rreq);
    avk_request_waitall(2, f->sreq);
    p->fhead = (p->fhead + 1) % p->win;
    p->nfl--;
    int rc = begin(p, f->h.blk, f->h.step, f->h.pass, p->xzero);
    if (rc == 0) {
        memcpy(avk_dit_run_state(p->run, NULL), f->recv, (size_t)p->nstate * sizeof(float));
        rc = finish(p, &f->h, f->x0, 1);
    }
    return rc;
}

/* Rank 0: one evaluation, run here in full, skipped by the diffusion
 * cache, or sent down the pipeline. */
static int issue(lp *p, const hdr *h)
{
    int slot = h->blk % p->S;
    float *x = p->queue + (int64_t)slot * p->nblk;
    while (p->applied[slot] < h->step)
        if (drain_one(p) < 0)
            return -1;
    if (p->P > 1 && p->nfl == p->win && drain_one(p) < 0)
        return -1;
    if (begin(p, h->blk, h->step, h->pass, x) < 0)
        return -1;
    double t0 = cpu_now();
    avk_dit_run_embed(p->run);
    int run = 1;
    avk_dcache *dc = p->dc ? &p->dc[slot * p->npass + h->pass] : NULL;
    if (dc) {
        int64_t nm;
        const float *mod = avk_dit_run_modulated(p->run, &nm);
        /* the unconditional pass decides as the conditional one did */
        run = h->pass == 0 ? avk_dcache_decide(dc, mod, h->step, p->S)
                           : avk_dcache_follow(dc, &p->dc[slot * p->npass], mod, h->step);
    }
    p->st.embed_s += cpu_now() - t0;
    float *state = avk_dit_run_state(p->run, NULL);
    int64_t nv = (int64_t)p->B / p->m->cfg.patch[0] * (p->H / p->m->cfg.patch[1]) *
                 (p->W / p->m->cfg.patch[2]) * p->m->cfg.hidden;
    if (!run) {                       /* the cached residual for every block */
        avk_dcache_reuse(dc, state, state);
        p->st.skips++;
        return finish(p, h, NULL, 0);
    }
    p->st.evals++;
    flight *f = p->P > 1 ? &p->fl[(p->fhead + p->nfl) % p->win] : &p->fl[0];
    if (dc)
        memcpy(f->x0, state, (size_t)nv * sizeof *state);
    my_blocks(p, h->blk, h->pass);
    if (p->P == 1)
        return finish(p, h, f->x0, 1);
    f->h = *h;
    memcpy(f->send, state, (size_t)p->nstate * sizeof *state);
    if (avk_comm_isend(p->comm, &f->h, 4, AVK_COMM_I32, 1, TAG_HDR, &f->sreq[0]) < 0 ||
        avk_comm_isend(p->comm, f->send, (size_t)p->nstate, AVK_COMM_F32, 1, TAG_STATE,
                       &f->sreq[1]) < 0 ||
        avk_comm_irecv(p->comm, &f->rh, 4, AVK_COMM_I32, p->P - 1, TAG_HDR, &f->rreq[0]) < 0 ||
        avk_comm_irecv(p->comm, f->recv, (size_t)p->nstate, AVK_COMM_F32, p->P - 1, TAG_STATE,
                       &f->rreq[1]) < 0)
        return -1;
    p->nfl++;
    return 0;
}

/* Rank 0's schedule: iteration i advances blocks i - S + 1 .. i, oldest
 * first, each by one step (both passes); a block enters from the noise
 * pool at step 0. */
static int lead(lp *p)
{
    int nb = (p->o->frames + p->B - 1) / p->B, rc = 0;
    avk_sample_noise(p->pool, p->nblk, p->o->seed, p->o->index, 0);
    for (int i = 0; i < nb + p->S - 1 && rc == 0; i++) {
        int newest = i < nb - 1 ? i : nb - 1, oldest = i - p->S + 1 > 0 ? i - p->S + 1 : 0;
        for (int j = oldest; j <= newest && rc == 0; j++) {
            int step = i - j, slot = j % p->S;
            if (step == 0) {
                avk_long_block_noise(p->queue + (int64_t)slot * p->nblk, p->pool, p->o, j, p->C,
                                     p->hw);
                p->applied[slot] = p->npdone[slot] = 0;
                for (int q = 0; p->dc && q < p->npass; q++)
                    avk_dcache_reset(&p->dc[slot * p->npass + q]);
            }
            for (int q = 0; q < p->npass && rc == 0; q++)
                rc = issue(p, &(hdr){1, j, step, q});
        }
    }
    while (p->nfl > 0) {            /* the rest back, even after an error */
        int r = drain_one(p);
        if (rc == 0)
            rc = r;
    }
    if (p->P > 1)
        avk_comm_send(p->comm, &(hdr){0, 0, 0, 0}, 4, AVK_COMM_I32, 1, TAG_HDR);
    return rc;
}

/* Ranks 1..P-1: evaluations from the rank before, this rank's blocks,
 * on to the next (the last rank: back to rank 0), sends overlapped with
 * the next evaluation; the end mark passed on. */
static int follow(lp *p)
{
    int prev = p->rank - 1, next = p->rank == p->P - 1 ? 0 : p->rank + 1, k = 0, rc = 0;
    float *buf[2] = {avk_falloc(p->nstate), avk_falloc(p->nstate)};
    hdr sh[2];
    avk_request *req[2][2] = {{0}};
    for (;;) {
        hdr h;
        if (avk_comm_recv(p->comm, &h, 4, AVK_COMM_I32, prev, TAG_HDR) < 0) {
            rc = -1;
            break;
        }
        if (h.kind == 0) {
            if (next != 0)
                rc = avk_comm_send(p->comm, &h, 4, AVK_COMM_I32, next, TAG_HDR);
            break;
        }
        if (begin(p, h.blk, h.step, h.pass, p->xzero) < 0 ||
            avk_comm_recv(p->comm, avk_dit_run_state(p->run, NULL), (size_t)p->nstate,
                          AVK_COMM_F32, prev, TAG_STATE) < 0) {
            rc = -1;
            break;
        }
        my_blocks(p, h.blk, h.pass);
        p->st.evals++;
        avk_request_waitall(2, req[k]);
        sh[k] = h;
        memcpy(buf[k], avk_dit_run_state(p->run, NULL), (size_t)p->nstate * sizeof(float));
        if (avk_comm_isend(p->comm, &sh[k], 4, AVK_COMM_I32, next, TAG_HDR, &req[k][0]) < 0 ||
            avk_comm_isend(p->comm, buf[k], (size_t)p->nstate, AVK_COMM_F32, next, TAG_STATE,
                           &req[k][1]) < 0) {
            rc = -1;
            break;
        }
        k ^= 1;
    }
    avk_request_waitall(2, req[0]);
    avk_request_waitall(2, req[1]);
    avk_ffree(buf[0]);
    avk_ffree(buf[1]);
    return rc;
}

int avk_long_sample(avk_dit *m, const avk_long_opts *o, int H, int W, int L,
                    const avk_sample_text *cond, const avk_sample_text *uncond,
                    avk_long_emit_fn emit, void *ectx, avk_long_stats *st)
{
    const avk_dit_config *cf = &m->cfg;
    if (avk_long_check(o, cf->patch[0]) < 0)
        return -1;
    if (avk_dit_tokens(cf, o->block, H, W) < 0)
        return avk_error("latent %dx%d (rows x columns) is not divisible by the patch %dx%d", H,
                         W, cf->patch[1], cf->patch[2]);
    int npass = o->cfg == 1.0 ? 1 : 2;
    if (npass == 2 && !uncond)
        return avk_error("guidance scale %g needs an unconditional text", o->cfg);
    lp p = {.m = m, .o = o, .H = H, .W = W, .L = L, .C = cf->in_channels, .B = o->block,
            .K = o->context, .S = o->steps, .npass = npass, .text = {cond, uncond},
            .comm = o->comm, .emit = emit, .ectx = ectx};
    p.rank = o->comm ? avk_comm_rank(o->comm) : 0;
    p.P = o->comm ? avk_comm_size(o->comm) : 1;
    if (p.P > cf->depth)
        return avk_error("--long across %d ranks: the model has only %d blocks to split", p.P,
                         cf->depth);
    p.l0 = (int)((int64_t)cf->depth * p.rank / p.P);
    p.l1 = (int)((int64_t)cf->depth * (p.rank + 1) / p.P);
    /* this rank holds its own blocks' weights only, and no gradients */
    p.st.released = avk_dit_keep_stage(m, p.l0, p.l1, p.rank == 0);
    p.hw = (int64_t)H * W;
    p.nblk = (int64_t)p.C * p.B * p.hw;
    int64_t nv = avk_dit_tokens(cf, p.B, H, W) * cf->hidden;
    p.nstate = nv + (int64_t)L * cf->hidden + cf->hidden;
    p.ts = avk_xmalloc((size_t)(p.S + 1) * sizeof *p.ts);
    avk_flow_timesteps(p.ts, p.S, o->shift);
    p.run = avk_dit_run_new(m);
    p.xzero = avk_fzeros(p.nblk);
    p.kv = avk_xcalloc((size_t)(p.S + 1) * npass, sizeof *p.kv);
    for (int k = 0; p.K && k < (p.S + 1) * npass; k++)
        p.kv[k] = avk_dit_kv_new(m, p.K, H, W);
    double t0 = avk_now();
    int rc;
    if (p.rank == 0) {
        p.queue = avk_falloc(p.S * p.nblk);
        p.pool = avk_falloc(p.nblk);
        p.v = avk_falloc(p.nblk);
        p.pred = avk_xcalloc((size_t)p.S * npass, sizeof *p.pred);
        for (int k = 0; k < p.S * npass; k++)
            p.pred[k] = avk_falloc(p.nblk);
        p.applied = avk_xcalloc((size_t)p.S, sizeof *p.applied);
        p.npdone = avk_xcalloc((size_t)p.S, sizeof *p.npdone);
        if (o->cache > 0) {
            p.dc = avk_xcalloc((size_t)p.S * npass, sizeof *p.dc);
            for (int k = 0; k < p.S * npass; k++)
                avk_dcache_init(&p.dc[k], o->cache, o->cache_rescale, nv, nv);
        }
        p.win = p.P > 1 ? 2 * p.P + 2 : 1;
        p.fl = avk_xcalloc((size_t)p.win, sizeof *p.fl);
        for (int k = 0; k < p.win; k++) {
            p.fl[k].x0 = o->cache > 0 ? avk_falloc(nv) : NULL;
            p.fl[k].send = p.P > 1 ? avk_falloc(p.nstate) : NULL;
            p.fl[k].recv = p.P > 1 ? avk_falloc(p.nstate) : NULL;
        }
        rc = lead(&p);
    } else {
        rc = follow(&p);
    }
    p.st.total_s = avk_now() - t0;
    p.st.l0 = p.l0;
    p.st.l1 = p.l1;
    /* every buffer held at once: queue, pool, v, predictions, caches,
     * states in flight, the feature cache (the model's run buffers aside) */
    p.st.floats = p.rank == 0 ? (p.S + 2 + p.S * npass + 1) * p.nblk : p.nblk + 2 * p.nstate;
    for (int k = 0; p.dc && k < p.S * npass; k++)
        p.st.floats += 4 * nv;
    for (int k = 0; p.fl && k < p.win; k++)
        p.st.floats += (p.fl[k].x0 ? nv : 0) + (p.fl[k].send ? 2 * p.nstate : 0);
    for (int k = 0; p.K && k < (p.S + 1) * npass; k++) {
        p.st.floats += avk_dit_kv_floats(p.kv[k]);
        avk_dit_kv_free(p.kv[k]);
    }
    free(p.kv);
    for (int k = 0; p.dc && k < p.S * npass; k++)
        avk_dcache_free(&p.dc[k]);
    free(p.dc);
    for (int k = 0; p.fl && k < p.win; k++) {
        avk_ffree(p.fl[k].x0);
        avk_ffree(p.fl[k].send);
        avk_ffree(p.fl[k].recv);
    }
    free(p.fl);
    for (int k = 0; p.pred && k < p.S * npass; k++)
        avk_ffree(p.pred[k]);
    free(p.pred);
    free(p.applied);
    free(p.npdone);
    avk_ffree(p.queue);
    avk_ffree(p.pool);
    avk_ffree(p.v);
    avk_ffree(p.xzero);
    avk_dit_run_free(p.run);
    free(p.ts);
    if (st)
        *st = p.st;
    return rc < 0 ? -1 : 0;
}
