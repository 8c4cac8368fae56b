/* Long videos by block-wise pipelined denoising (in the manner of
 * DualParal): the video is a queue of blocks of B latent frames. Each
 * iteration advances every block in the queue by one Euler step of the
 * shifted schedule, so the blocks in flight sit at staggered noise levels
 * (the newest at t = 1, the oldest one step from t = 0); the queue holds
 * `steps` blocks, a block of fresh noise enters as a clean one leaves,
 * and the clean block goes to the caller at once. Memory is bounded by
 * the queue, not by the video's length.
 *
 * Context, over any block model (avk_long_run): block j's model input is
 * the last `context` frames of block j - 1 as they stand at that moment
 * (one step less noisy, or clean when block j - 1 has just left), then
 * block j's own frames; only block j's part of the prediction is kept.
 *
 * Context over the DiT (avk_long_sample), the feature cache: nothing is
 * recomputed. Each iteration runs its blocks oldest first; every
 * evaluation of block j keeps the keys and values of its last `context`
 * frames in each block's temporal and joint attention
 * (avkit/models/dit_stage.h), and block j's evaluations attend to the
 * ones block j - 1 kept last (its evaluation of the same iteration, just
 * before, one step less noisy; or its last one once it has left) as
 * frames just before its own. The model runs on block j's B frames only.
 * Block 0 has no context. Guidance's two passes keep separate caches.
 *
 * Diffusion cache (cache > 0): each block and pass keeps its own
 * avkit/diffusion/cache.h state, reset when the block enters (the
 * unconditional pass following the conditional one's decisions); a skipped
 * evaluation keeps no keys and values (the next block sees the ones its
 * predecessor kept last).
 *
 * Under mpirun (comm of several ranks) the DiT's blocks are split into
 * contiguous ranges, one per rank, as a pipeline: rank 0 embeds, runs its
 * range and sends the state to rank 1 (nonblocking), which runs its range
 * while rank 0 goes on to the next evaluation, and so on; the last rank
 * sends the state back to rank 0, which runs the head and the Euler step
 * and writes the blocks out. Every rank holds the keys and values of its
 * own range only, and gives the memory of the other weights back
 * (avk_dit_keep_stage; one process gives its gradients back alike): after
 * avk_long_sample the model serves this rank's stage only. The evaluations and their order are those of one
 * process, so the video is the same bits.
 *
 * Noise: one pool of B noise frames drawn from (seed, index), and block j
 * starts from the pool's frames in a permutation drawn from (seed, index,
 * j), so every block starts from the same noise frames, reshuffled.
 */
#ifndef AVKIT_DIFFUSION_LONG_H
#define AVKIT_DIFFUSION_LONG_H

#include <stdint.h>
#include "avkit/diffusion/sample.h"
#include "avkit/models/dit.h"

typedef struct avk_long_opts {
    int    frames;         /* latent frames of the whole video */
    int    block;          /* latent frames per block; when it does not divide
                              frames, the last block's frames past the end
                              are computed and dropped by the caller */
    int    context;        /* frames of the previous block seen (< block) */
    int    steps;          /* Euler steps = blocks in flight */
    double shift;          /* timestep shift (1: none) */
    double cfg;            /* guidance scale; 1: conditional pass only */
    uint64_t seed;
    int64_t  index;        /* the video's index (seeds its noise) */
    double   cache;        /* avk_long_sample: diffusion cache threshold; <= 0: none */
    int      cache_rescale;
    struct avk_comm *comm; /* avk_long_sample: the pipeline's ranks (NULL: this one) */
} avk_long_opts;

/* The velocity of one block: x [C, ctx + B, H, W] holds `ctx` context
 * frames then the block's B frames, all at flow time t (the block's);
 * write the block's velocity v [C, B, H, W]. `blk` and `step` say which
 * block and which of its steps (from 0). 0, or -1 with the error set. */
typedef int (*avk_long_model_fn)(void *ctx, const float *x, int nctx, int B, double t, int blk,
                                 int step, float *v);

/* A finished block: lat [C, B, H, W] clean, block index blk. 0 or -1
 * (error set: sampling stops). */
typedef int (*avk_long_emit_fn)(void *ctx, int blk, const float *lat);

/* What a run cost: model evaluations (per pass), blocks emitted, and the
 * floats of every buffer the run held at once (its memory, flat in the
 * video's length). */
typedef struct avk_long_stats {
    int64_t evals, blocks, floats;
    int64_t skips;         /* evaluations the diffusion cache skipped */
    /* this rank in avk_long_sample: its blocks [l0, l1), the process CPU
     * seconds of the embedding, its blocks, the head and step (rank 0),
     * and the wall-clock seconds of the whole run */
    int l0, l1;
    double embed_s, blocks_s, head_s, total_s;
    int64_t released;      /* bytes of weights and gradients given back */
} avk_long_stats;

/* Check the options against a latent of C channels, H x W, and the
 * model's frame patch pt: -1 with an error naming the option. */
int avk_long_check(const avk_long_opts *o, int pt);

/* The pipeline over any block model (the DiT one is avk_long_sample). */
int avk_long_run(const avk_long_opts *o, int C, int H, int W, avk_long_model_fn fn, void *fctx,
                 avk_long_emit_fn emit, void *ectx, avk_long_stats *st);

/* The pipeline over the DiT with guidance (cond, and uncond unless cfg is
 * 1; texts of L positions) and the feature cache: each clean block in the
 * model's latent space to emit, in order, on rank 0 of o->comm (every
 * rank calls it alike; emit is called on rank 0 only). 0, or -1 with the
 * error set. */
int avk_long_sample(avk_dit *m, const avk_long_opts *o, int H, int W, int L,
                    const avk_sample_text *cond, const avk_sample_text *uncond,
                    avk_long_emit_fn emit, void *ectx, avk_long_stats *st);

#endif
