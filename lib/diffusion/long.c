/* Long videos by block-wise pipelined denoising. See
 * include/avkit/diffusion/long.h. */
#include "avkit/diffusion/long.h"
#include "long_internal.h"
#include "avkit/diffusion/flow.h"
#include "avkit/nn/tensor.h"
#include "avkit/util/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int avk_long_check(const avk_long_opts *o, int pt)
{
    if (o->block < 1)
        return avk_error("--block %d: must be at least 1", o->block);
    if (o->frames < 1)
        return avk_error("--long %d: must be at least 1 latent frame", o->frames);
    if (o->context < 0 || o->context >= o->block)
        return avk_error("--context %d: must be from 0 to --block - 1 (%d)", o->context,
                         o->block - 1);
    if (o->block % pt || o->context % pt)
        return avk_error("--block %d / --context %d: the DiT's frame patch %d must divide both",
                         o->block, o->context, pt);
    if (o->steps < 1)
        return avk_error("--steps %d: must be at least 1", o->steps);
    if (!(o->cfg >= 0.0) || !isfinite(o->cfg))
        return avk_error("guidance scale %g: must be a finite number >= 0", o->cfg);
    return 0;
}

/* Copy frames [f0, f0 + nf) of a [C, T, HW] tensor into frames [g0, g0 +
 * nf) of a [C, U, HW] one. */
static void copy_frames(float *dst, int U, int g0, const float *src, int T, int f0, int nf, int C,
                        int64_t hw)
{
    for (int c = 0; c < C; c++)
        memcpy(dst + ((int64_t)c * U + g0) * hw, src + ((int64_t)c * T + f0) * hw,
               (size_t)(nf * hw) * sizeof *dst);
}

/* Block blk's starting noise: the pool's B frames in a permutation drawn
 * from (seed, index, blk) alone (Fisher-Yates). */
void avk_long_block_noise(float *x, const float *pool, const avk_long_opts *o, int blk, int C,
                          int64_t hw)
{
    int B = o->block, *perm = avk_xmalloc((size_t)B * sizeof *perm);
    avk_rng r;
    avk_rng_seed(&r, o->seed * 0x9E3779B97F4A7C15ull ^ (uint64_t)o->index * 0xC2B2AE3D27D4EB4Full ^
                         ((uint64_t)blk + 1) * 0xD6E8FEB86659FD93ull ^ 0x4C4F4E47ull);
    for (int k = 0; k < B; k++)
        perm[k] = k;
    for (int k = B - 1; k > 0; k--) {
        int s = (int)(avk_rng_u64(&r) % (uint64_t)(k + 1)), tmp = perm[k];
        perm[k] = perm[s];
        perm[s] = tmp;
    }
    for (int k = 0; k < B; k++)
        copy_frames(x, B, k, pool, B, perm[k], 1, C, hw);
    free(perm);
}

/* The pipeline: iteration i advances blocks i - steps + 1 .. i (those
 * that exist) by one step, newest first, so that a block's context is the
 * state of the block before it at the start of the iteration; the oldest
 * finishes, is emitted and leaves its last frames as the next one's
 * clean context. */
int avk_long_run(const avk_long_opts *o, int C, int H, int W, avk_long_model_fn fn, void *fctx,
                 avk_long_emit_fn emit, void *ectx, avk_long_stats *st)
{
    if (avk_long_check(o, 1) < 0)
        return -1;
    int B = o->block, K = o->context, S = o->steps, nb = (o->frames + B - 1) / B;
    int64_t hw = (int64_t)H * W, nblk = (int64_t)C * B * hw;
    double *ts = avk_xmalloc((size_t)(S + 1) * sizeof *ts);
    avk_flow_timesteps(ts, S, o->shift);
    float *queue = avk_falloc(S * nblk), *pool = avk_falloc(nblk);
    float *tail = avk_fzeros((int64_t)C * (K > 0 ? K : 1) * hw);
    float *xin = avk_falloc((int64_t)C * (K + B) * hw), *v = avk_falloc(nblk);
    avk_long_stats s = {0};
    s.floats = S * nblk + nblk + (int64_t)C * (K > 0 ? K : 1) * hw + (int64_t)C * (K + B) * hw +
               nblk;
    avk_sample_noise(pool, nblk, o->seed, o->index, 0);
    int rc = 0;
    for (int i = 0; i < nb + S - 1 && rc == 0; i++) {
        int newest = i < nb - 1 ? i : nb - 1, oldest = i - S + 1 > 0 ? i - S + 1 : 0;
        for (int j = newest; j >= oldest && rc == 0; j--) {
            int step = i - j;
            float *x = queue + (int64_t)(j % S) * nblk;
            if (step == 0)
                avk_long_block_noise(x, pool, o, j, C, hw);
            int nctx = j > 0 ? K : 0;
            if (nctx) {
                if (j - 1 >= oldest)      /* still in flight, one step ahead */
                    copy_frames(xin, K + B, 0, queue + (int64_t)((j - 1) % S) * nblk, B, B - K,
                                K, C, hw);
                else                      /* finished: its clean tail */
                    copy_frames(xin, nctx + B, 0, tail, K, 0, K, C, hw);
            }
            copy_frames(xin, nctx + B, nctx, x, B, 0, B, C, hw);
            rc = fn(fctx, xin, nctx, B, ts[step], j, step, v);
            if (rc < 0)
                break;
            s.evals++;
            float dt = (float)(ts[step + 1] - ts[step]);
            for (int64_t k = 0; k < nblk; k++)
                x[k] += dt * v[k];
            if (step == S - 1) {
                if (avk_find_nonfinite(x, nblk) >= 0)
                    rc = avk_error("block %d: the sample has non-finite values (a broken "
                                   "model?)", j);
                else
                    rc = emit(ectx, j, x);
                if (rc == 0 && K > 0)
                    copy_frames(tail, K, 0, x, B, B - K, K, C, hw);
                s.blocks++;
            }
        }
    }
    free(ts);
    avk_ffree(queue);
    avk_ffree(pool);
    avk_ffree(tail);
    avk_ffree(xin);
    avk_ffree(v);
    if (st)
        *st = s;
    return rc < 0 ? -1 : 0;
}
