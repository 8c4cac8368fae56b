/* A model's parameters: a table of named tensors over one flat, 64-byte
 * aligned f32 buffer, with the gradients, the AdamW moments and an
 * optional EMA copy beside it in the same layout.
 *
 * A model registers its tensors in the order it chooses (forward block
 * order), opening a "block" before each group (avk_params_block); each
 * tensor starts 64-byte aligned, so every block's weights, gradients and
 * moments form one contiguous range: the unit of a data-parallel
 * reduction bucket or a ZeRO shard. Each tensor carries a weight-decay
 * flag (AdamW decays matrices, not norms or biases, where asked).
 *
 * Files are safetensors: the weights (F32, the table's names, in table
 * order, metadata given by the caller), and the optimizer state beside
 * them ("exp_avg.NAME" / "exp_avg_sq.NAME" as torch.optim.AdamW names
 * them, metadata "step"). Writes go through a temporary file and a rename
 * (or through avk_ckpt for a checkpoint committed as a whole).
 */
#ifndef AVKIT_NN_PARAMS_H
#define AVKIT_NN_PARAMS_H

#include <stdint.h>
#include "avkit/util/common.h"
#include "avkit/io/safetensors.h"
#include "avkit/nn/ops.h"

#define AVK_PARAM_MAX_DIMS 6
/* Alignment of every tensor (and so every block) in floats: 64 bytes. */
#define AVK_PARAM_ALIGN 16

typedef struct avk_param {
    char   *name;                      /* e.g. "encoder.conv_in.weight" */
    int     ndim;
    int64_t shape[AVK_PARAM_MAX_DIMS];
    int64_t offset, numel;             /* into the flat buffers, in floats */
    int     block;                     /* index into avk_params.block */
    int     decay;                     /* AdamW weight decay applies */
} avk_param;

/* A contiguous range of the buffers: tensors first .. first+count-1,
 * floats offset .. offset+size-1. */
typedef struct avk_param_block {
    char   *name;
    int     first, count;
    int64_t offset, size;
} avk_param_block;

typedef struct avk_params {
    int              n, cap;           /* tensors */
    avk_param       *p;
    int              nblock, block_cap;
    avk_param_block *block;
    int64_t          total;            /* floats in each buffer (padded) */
    float           *w;                /* weights (avk_params_alloc) */
    float           *g;                /* gradients, NULL until avk_params_grads */
    float           *m, *v;            /* AdamW moments, NULL until avk_params_optim */
    float           *ema;              /* EMA weights, NULL until avk_params_ema */
    int64_t          step;             /* optimizer steps taken */
    /* Set by a data-parallel trainer for one backward: called when a
     * block's gradients are final (avk_params_grads_ready). */
    void           (*ready)(void *ctx, int block);
    void            *ready_ctx;
} avk_params;

/* ---- building -------------------------------------------------------- */

avk_params *avk_params_new(void);
void avk_params_free(avk_params *t);
/* Open a new block (name printf-style); tensors added after it belong to
 * it. Tensors added before any block go into an implicit block "". */
void avk_params_block(avk_params *t, const char *fmt, ...) AVK_PRINTF(2, 3);
/* Register a tensor (name printf-style, unique); returns its offset in the
 * buffers. decay: weight decay applies to it. Only before avk_params_alloc. */
int64_t avk_params_add(avk_params *t, int ndim, const int64_t *shape, int decay,
                       const char *fmt, ...) AVK_PRINTF(5, 6);
/* Allocate the weight buffer, zeroed, once every tensor is registered. */
void avk_params_alloc(avk_params *t);
/* The tensor of that name, or NULL. */
const avk_param *avk_params_find(const avk_params *t, const char *name);

/* ---- buffers beside the weights --------------------------------------- */

/* The gradient buffer (allocated zeroed on first use) / zero it. */
float *avk_params_grads(avk_params *t);
void avk_params_zero_grads(avk_params *t);
/* A model's backward says that block `block`'s gradients are final (no
 * later part of this backward adds to them), so a data-parallel trainer
 * can start reducing them while the rest of the backward runs. Blocks are
 * best announced in reverse table order (the order a backward produces
 * them): the reductions start in that order only, so a block announced
 * early waits for the ones after it; a block never announced is reduced
 * after the backward (a backward that announces nothing still trains).
 * A no-op unless t->ready is set. */
void avk_params_grads_ready(avk_params *t, int block);
/* The AdamW moments (allocated zeroed, step 0, on first use). */
void avk_params_optim(avk_params *t);
/* The EMA buffer, a copy of the weights when first asked for. */
float *avk_params_ema(avk_params *t);
/* ema = decay * ema + (1 - decay) * w over every tensor. */
void avk_params_ema_update(avk_params *t, double decay);

/* ---- checks ---------------------------------------------------------- */

/* Every value of buf (t->w, t->g, ...) finite; else -1 with an error
 * "WHAT: tensor "NAME": NaN at element I". */
int avk_params_check_finite(const avk_params *t, const float *buf, const char *what);
/* A 64-bit hash of buf's tensors (their elements only, not the padding),
 * as 16 hex digits in out[17]: what the optimizer file records of the
 * weights it belongs to. */
void avk_params_hash(const avk_params *t, const float *buf, char out[17]);

/* ---- optimizer ------------------------------------------------------- */

/* One AdamW step over the table (step = t->step + 1, taken and stored):
 * o->weight_decay applies to the tensors whose decay flag is set, 0 to the
 * others; uses lib/nn/optim_adamw.c per contiguous run of equal flags. */
void avk_params_adamw(avk_params *t, const avk_adamw *o);
/* One AdamW step (number `step`, not stored) over the floats [lo, hi) of
 * the weights only, with that range's gradients and moments given as
 * buffers starting at lo (a ZeRO shard); the decay flags as above. */
void avk_params_adamw_range(avk_params *t, const avk_adamw *o, int64_t step, int64_t lo,
                            int64_t hi, const float *g, float *m, float *v);
/* The global gradient norm (double accumulation in a fixed order), and
 * clipping to max_norm as torch.nn.utils.clip_grad_norm_ (returns the norm
 * before clipping; max_norm <= 0 only measures). */
double avk_params_grad_norm(const avk_params *t);
double avk_params_clip(avk_params *t, double max_norm);

/* ---- files ----------------------------------------------------------- */

/* Queue buf's tensors (F32, table order) into a safetensors writer; the
 * writer borrows buf until written. */
void avk_params_st_add(const avk_params *t, const float *buf, avk_st_writer *w);
/* Queue the optimizer state: metadata "step", then "exp_avg.NAME" and
 * "exp_avg_sq.NAME" for every tensor (needs avk_params_optim). */
void avk_params_st_add_optim(const avk_params *t, avk_st_writer *w, char **names);
/* The names avk_params_st_add_optim needs (2 per tensor), to free with
 * avk_params_free_names after the write. */
char **avk_params_optim_names(const avk_params *t);
void avk_params_free_names(const avk_params *t, char **names);

/* How to read weights (NULL: exact names, exact shapes, F32/F16/BF16, no
 * extra tensors). */
typedef struct avk_params_load_opts {
    /* another name to look for when NAME is missing (old layouts), or NULL */
    const char *(*alias)(const char *name, char *buf, size_t size);
    /* extra tensors whose names start with this are ignored (NULL: none) */
    const char *ignore_prefix;
    /* a 2-D [O, I] tensor may be stored as [O, I, 1, 1] */
    int allow_1x1;
    /* model name in messages: "... (shape S) for this MODEL config" */
    const char *model;
} avk_params_load_opts;

/* Read every tensor of the table from f into buf (t->w or t->ema),
 * converting F16 / BF16; a missing, mis-shaped, mis-typed or non-finite
 * tensor, or an unexpected extra one, is an error naming f's path and the
 * tensor. 0 or -1. */
int avk_params_load(const avk_params *t, float *buf, const avk_st_file *f,
                    const avk_params_load_opts *o);
/* Read the optimizer state of this table from f: metadata "step" (a
 * decimal integer, checked) and every exp_avg / exp_avg_sq tensor (F32,
 * the tensor's shape). Sets t->m, t->v, t->step. 0 or -1. */
int avk_params_load_optim(avk_params *t, const avk_st_file *f);

/* A strictly parsed non-negative decimal metadata value (a step, a seed):
 * 0, or -1 with an error naming the file and the key when it is missing
 * or not a number. */
int avk_st_meta_int64(const avk_st_file *f, const char *key, int64_t *out);

/* The optimizer file that goes with a checkpoint: "X.safetensors" ->
 * "X.optim.safetensors", any other name gets ".optim" appended. */
char *avk_params_optim_path(const char *ckpt);

#endif
