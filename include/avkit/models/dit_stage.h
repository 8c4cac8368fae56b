/* The DiT's inference forward in pieces, for callers that run it as a
 * pipeline: the embedding (patches, text, conditioning), any range of the
 * transformer blocks, and the head, over one state buffer that a pipeline
 * stage hands to the next. Run in full (embed, blocks 0..depth, head) it
 * computes avk_dit_infer's prediction bit for bit.
 *
 * A key/value context (avk_dit_kv) lets a clip attend to frames before it
 * without recomputing them: an evaluation may keep the keys (after the
 * norm, before rotation) and values of its last F frames in every block's
 * temporal and joint attention, and a later evaluation may take them as
 * F context frames placed just before its own: its video frames then sit
 * at rotary frame positions F.., the context's at 0..F-1, and those
 * branches' keys and values are the context's followed by the clip's own
 * (spatial and cross attention stay within the clip). Block-wise long
 * videos (lib/diffusion/long.c) use it as the feature cache.
 */
#ifndef AVKIT_DIT_STAGE_H
#define AVKIT_DIT_STAGE_H

#include <stdint.h>
#include "avkit/models/dit.h"

typedef struct avk_dit_kv avk_dit_kv;

/* A context of `frames` latent frames of H x W latents (frames a positive
 * multiple of the frame patch); NULL with the error set otherwise.
 * Buffers are allocated per block on first use. */
avk_dit_kv *avk_dit_kv_new(const avk_dit *m, int frames, int H, int W);
void avk_dit_kv_free(avk_dit_kv *kv);
/* Whether an evaluation has kept keys and values in it yet. */
int avk_dit_kv_valid(const avk_dit_kv *kv);
/* Floats it holds now (the blocks that kept theirs). */
int64_t avk_dit_kv_floats(const avk_dit_kv *kv);

/* One evaluation's buffers, reused from one evaluation to the next. */
typedef struct avk_dit_run avk_dit_run;
avk_dit_run *avk_dit_run_new(avk_dit *m);
void avk_dit_run_free(avk_dit_run *r);

/* Start an evaluation of batch b (checked as avk_dit_infer does; the
 * arrays must stay valid until the head), after ctx_frames frames of
 * context (0: none; else a multiple of the frame patch, and B must be 1).
 * 0, or -1 with the error set. */
int avk_dit_run_begin(avk_dit_run *r, const avk_dit_batch *b, int ctx_frames);
/* The state: [B*N*D video tokens | B*L*D text tokens | B*D SiLU(c)],
 * n floats. What embed writes, blocks update and head reads: a pipeline
 * stage sends it to the next one, which receives it here after begin. */
float *avk_dit_run_state(avk_dit_run *r, int64_t *n);
/* Patch and text embedding and the conditioning into the state. */
void avk_dit_run_embed(avk_dit_run *r);
/* The first block's timestep-modulated video input (the diffusion cache's
 * indicator, as avk_dit_hooks' decide sees it), n floats; after embed. */
const float *avk_dit_run_modulated(avk_dit_run *r, int64_t *n);
/* Blocks [l0, l1) on the state. ctx: the context's keys and values (must
 * be valid when begin had ctx_frames, NULL otherwise); keep: where this
 * clip's last frames' keys and values go (NULL: nowhere). */
void avk_dit_run_blocks(avk_dit_run *r, int l0, int l1, const avk_dit_kv *ctx, avk_dit_kv *keep);
/* The prediction [B, C, T, H, W] from the state. */
void avk_dit_run_head(avk_dit_run *r, float *pred);

/* For a pipeline stage that runs blocks [l0, l1) (and, with ends, the
 * embedding and the head): give the memory of every other weight, and of
 * the gradients, back to the system (their pages read as zeros after).
 * The model then serves that stage only. Returns the bytes released. */
int64_t avk_dit_keep_stage(avk_dit *m, int l0, int l1, int ends);

#endif
