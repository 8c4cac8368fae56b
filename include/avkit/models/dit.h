/* The video diffusion transformer: Vchitect-2.0's parallel block in a
 * single-stream ("Single-DiT") or dual-stream (MM-DiT) form, over the
 * latent clips that av-vaeenc writes, conditioned on caption tokens.
 *
 * The model, in the order the forward runs (names are the parameters';
 * avkit-dit(5) lists them all with their shapes):
 *   pos_embed.proj        latents [B, C, T, H, W] cut into patches of
 *                         pt x ph x pw (default 1x2x2) and projected to
 *                         N = T/pt * H/ph * W/pw video tokens of width D,
 *                         frame-major (then row, then column).
 *   text_encoder          token embedding + learned positions + a few
 *                         pre-LN transformer layers over the caption with
 *                         its padding mask -> Lt text tokens of width D
 *                         (or context_embedder: a projection of external
 *                         text embeddings, when text_emb_dim > 0).
 *   time_text_embed       sinusoidal embedding of 1000 t through an MLP,
 *                         plus an MLP of the masked mean of the text
 *                         tokens: the conditioning vector c [B, D].
 *   transformer_blocks.i  adaLN-zero from SiLU(c): shift, scale, gate for
 *                         the attention and the MLP. One normalized input
 *                         feeds three attention branches whose outputs are
 *                         summed: spatial (each frame's tokens jointly
 *                         with the text tokens; the text's outputs are
 *                         averaged over frames), temporal (each spatial
 *                         position across frames) and either cross
 *                         (all video tokens attend to the text) or full
 *                         3D joint self-attention over all video and text
 *                         tokens. Then the gated MLP (GELU, tanh form).
 *                         Video queries and keys carry 3D rotary
 *                         embeddings over (frame, row, column); RMS norm
 *                         of queries and keys is optional. Text tokens
 *                         run through the same weights (single) or their
 *                         own (MM-DiT: add_*_proj, to_add_out,
 *                         norm1_context, ff_context). The last block only
 *                         reads the text (SD3's context_pre_only).
 *   norm_out, proj_out    final adaLN and projection back to patches:
 *                         the velocity prediction [B, C, T, H, W].
 *
 * Parameters live in an avk_params table (m->par): one flat buffer (m->w)
 * in forward order, gradients in a parallel one (m->g), m->params naming
 * every tensor with its shape and offset. Forward and backward are written
 * by hand over the operators of avkit/nn/ops.h; all f32.
 */
#ifndef AVKIT_DIT_H
#define AVKIT_DIT_H

#include <stdint.h>
#include "avkit/nn/tensor.h"
#include "avkit/nn/params.h"
#include "avkit/dist/comm.h"

typedef struct avk_dit_config {
    int in_channels;        /* latent channels C (4) */
    int patch[3];           /* frames, rows, columns (1, 2, 2) */
    int hidden;             /* width D (256) */
    int heads;              /* attention heads; D % heads == 0 (4) */
    int depth;              /* transformer blocks (6) */
    int mlp_ratio;          /* MLP width = mlp_ratio * D (4) */
    int vocab_size;         /* caption token ids in [0, vocab_size) (4096) */
    int max_text_len;       /* longest caption (learned positions) (64) */
    int text_layers;        /* text encoder layers (2) */
    int text_emb_dim;       /* > 0: external text embeddings of this width
                               through context_embedder, no text encoder (0) */
    int freq_dim;           /* sinusoidal timestep features (256) */
    int rope_dims[3];       /* head-dim split for frame, row, column (even;
                               sum = D/heads); 0 0 0 = the default split */
    double rope_theta;      /* rotary base (10000) */
    int mmdit;              /* 0 single-stream, 1 dual-stream MM-DiT */
    int joint;              /* 0 cross branch, 1 full 3D joint attention */
    int qk_norm;            /* RMS norm of queries and keys (1) */
    int pos_embed;          /* 1: fixed sine-cosine 3D positions added to
                               the patch tokens ("sincos"), 0 none (0) */
    int frame_cond;         /* 1: the video tokens' adaLN conditioning is
                               c plus sinusoidal features of the frame,
                               so modulation differs per frame; the text
                               keeps c ("frame_cond": true) (0) */
} avk_dit_config;

/* The defaults above (the reference configuration of bench/dit.sh). */
avk_dit_config avk_dit_config_default(void);
/* Fill rope_dims when zero, then check every field; -1 with an error
 * naming the field (e.g. heads not dividing the width) when unusable. */
int avk_dit_config_check(avk_dit_config *c);
/* The configuration as the JSON stored in checkpoint metadata "config"
 * (malloc'd) / parsed from it (what names the source in errors; fields
 * left out keep their defaults; the result is checked). */
char *avk_dit_config_json(const avk_dit_config *c);
int avk_dit_config_parse(avk_dit_config *c, const char *text, size_t len, const char *what);

/* The parameters are an avk_params table (avkit/nn/params.h): named
 * tensors over one flat buffer, in forward order, one block per range
 * ("embed", "transformer_blocks.N", "final"), weight decay flagged on the
 * tensors of two or more dimensions. */
typedef avk_param avk_dit_param;

typedef struct avk_dit_layout avk_dit_layout;   /* private: parameter indices */

/* The precision of the model's matrix products (every linear layer and
 * every attention; lib/models/dit_ops.h switches on it). Weights,
 * activations, gradients, norms, softmax statistics and the loss are f32
 * either way; bf16 runs the products through avkit/nn/ops_bf16.h (bf16
 * operands, f32 accumulation), whose kernel is chosen by the CPU: where
 * the CPU has no bf16 instructions those operators run in fp32 (one
 * message on stderr), so a bf16 model then computes exactly as fp32. */
typedef enum avk_dit_precision {
    AVK_DIT_FP32 = 0,
    AVK_DIT_BF16 = 1,
} avk_dit_precision;
/* "fp32" / "bf16", and back (-1 for anything else). */
const char *avk_dit_precision_name(avk_dit_precision p);
int avk_dit_precision_parse(const char *s);

typedef struct avk_dit {
    avk_dit_config  cfg;
    avk_params     *par;        /* the table, its buffers, moments, EMA, step */
    /* shorthands into par, fixed when the model is built: */
    int             nparam;     /* par->n */
    const avk_param *params;    /* par->p */
    int64_t         nfloats;    /* par->total: size of w and g */
    float          *w, *g;      /* par->w, par->g (both zeroed by new) */
    avk_dit_layout *lay;
    avk_dit_precision precision; /* of the matrix products (fp32 after new) */
    avk_comm       *sp;         /* sequence-parallel group (avk_dit_set_sp), or NULL */
    double          recompute;  /* share of blocks recomputed (avk_dit_set_recompute) */
    int             freeze_text; /* the text encoder is not trained (avk_dit_freeze_text) */
    int             whole_batch; /* 1: every batch in one pass; 0 (after new): a
                                  * batch that divides by the OpenMP thread
                                  * count runs as that many groups of samples,
                                  * one per thread, whose gradients are added
                                  * in a fixed order (faster: no thread waits
                                  * on another inside an operator) */
} avk_dit;

/* How many groups of samples, one per thread, a forward without hooks
 * of a batch of B runs in from here (see whole_batch): the OpenMP thread
 * count when it is 2 or more and divides B, and neither whole_batch,
 * sequence parallelism nor an enclosing parallel region forbids it; else
 * 1 (the whole batch in one pass, every operator over all threads). */
int avk_dit_groups(const avk_dit *m, int B);

/* A model of that configuration with zero weights; NULL (error set) when
 * the configuration fails avk_dit_config_check. */
avk_dit *avk_dit_new(const avk_dit_config *c);
void avk_dit_free(avk_dit *m);
/* The usual initialization: Xavier-uniform linear weights, zero biases,
 * N(0, 0.02) embeddings, unit norm weights, and zeros for every adaLN
 * modulation and for proj_out (adaLN-zero: each block starts as the
 * identity). Repeatable for a seed. */
void avk_dit_init(avk_dit *m, uint64_t seed);
/* The parameter of that name, or NULL. */
const avk_dit_param *avk_dit_find(const avk_dit *m, const char *name);
/* Weight decay applies to tensors of 2 or more dimensions only (the
 * table's decay flag). */
int avk_dit_param_decays(const avk_dit_param *p);

/* Load a safetensors checkpoint whose metadata "config" holds the
 * configuration; every tensor must be present with the right shape and
 * finite (F32, F16 or BF16), and no other tensor may be there but an EMA
 * copy under the prefix "ema." (skipped here). NULL with
 * an error naming the file and the tensor or field. */
avk_dit *avk_dit_load(const char *path);
/* Copy the tensors of an opened safetensors file into dst, a buffer laid
 * out as m->w (the weights, or an EMA or optimizer-moment copy); `prefix`
 * is put before every name ("" or e.g. "ema."). -1 with an error naming
 * the file and the tensor when one is missing, not F32 or misshapen. */
struct avk_st_file;
int avk_dit_read_tensors(const avk_dit *m, const struct avk_st_file *f, const char *prefix,
                         float *dst);
/* Write the weights (metadata: format "pt", config, model "avkit-dit",
 * plus nmeta extra key/value pairs) through a temporary file and rename. */
int avk_dit_save(const avk_dit *m, const char *path, int nmeta, const char *const *meta);

/* A batch of clips of one shape. */
typedef struct avk_dit_batch {
    int B, T, H, W;              /* latent frames, rows, columns */
    const float *x;              /* [B, C, T, H, W] the noisy latents x_t */
    const float *t;              /* [B] flow times in [0, 1] */
    int L;                       /* text positions per sample (<= max_text_len) */
    const int32_t *tokens;       /* [B, L] caption ids (text encoder models) */
    const float *text_emb;       /* [B, L, text_emb_dim] (context_embedder models) */
    const int *text_len;         /* [B] valid prefix of each caption (0..L) */
} avk_dit_batch;

/* Check a batch against the model (patch divides T, H, W; L within
 * max_text_len; text lengths in range; every used token id inside the
 * vocabulary); -1 with an error naming the field and sample. */
int avk_dit_batch_check(const avk_dit *m, const avk_dit_batch *b);

/* Everything the backward needs from one forward (private). */
typedef struct avk_dit_acts avk_dit_acts;

/* Forward: writes the velocity prediction pred [B, C, T, H, W]. Returns
 * the saved activations for avk_dit_backward (free with
 * avk_dit_acts_free), or NULL with an error set on a bad batch. The
 * batch's arrays must stay valid until the backward. */
avk_dit_acts *avk_dit_forward(avk_dit *m, const avk_dit_batch *b, float *pred);
/* Backward from dpred = dloss/dpred: ADDS every parameter gradient into
 * m->g (zero it once per step). */
void avk_dit_backward(avk_dit *m, avk_dit_acts *a, const float *dpred);
void avk_dit_acts_free(avk_dit_acts *a);
/* Inference: the prediction alone (the activations are freed at once).
 * 0, or -1 with an error set on a bad batch. For classifier-free guidance
 * run it on the caption and on the empty caption (<bos> <eos>, or
 * text_len 0) and mix the two velocities. */
int avk_dit_predict(avk_dit *m, const avk_dit_batch *b, float *pred);

/* Hooks of an inference forward around the block stack, for a caller
 * that may skip the blocks (the diffusion cache lives a layer above; the
 * model only offers the places). All over the video stream: `mod` is the
 * first block's timestep-modulated input LN(x0) (1 + scale) + shift
 * [B * tokens * D], `in` and `out` the input and output of the block stack
 * [B * tokens * D]. decide returns 1 to run the blocks (then store sees
 * their input and output) or 0 to skip them (then reuse writes out from
 * in). Any hook may be NULL: no decide means always run. */
typedef struct avk_dit_hooks {
    void *ctx;
    int  (*decide)(void *ctx, const float *mod, int64_t n);
    void (*store)(void *ctx, const float *in, const float *out, int64_t n);
    void (*reuse)(void *ctx, const float *in, float *out, int64_t n);
} avk_dit_hooks;

/* Inference forward: pred [B, C, T, H, W] as avk_dit_forward computes it,
 * bit for bit when the blocks run, with nothing kept for a backward.
 * hooks may be NULL. With hooks the batch always runs whole (the hooks
 * see all of it), so it is bit for bit the forward of a batch that runs
 * whole (whole_batch, or one that does not divide by the threads); in
 * groups the forward differs in rounding only. Returns 1 when the blocks
 * ran, 0 when skipped, -1 (error set) on a bad batch. */
int avk_dit_infer(avk_dit *m, const avk_dit_batch *b, float *pred, const avk_dit_hooks *hooks);

/* Floating-point operations of one training step (forward + backward,
 * 2 per multiply-add of every matrix product and attention) of a batch
 * of B clips of T x H x W latents and L text positions. */
double avk_dit_step_flop(const avk_dit_config *c, int B, int T, int H, int W, int L);

/* Where a step's time goes, for bench/dit.sh: while enabled, every
 * matrix product of the model (lib/models/dit_ops.h) adds its time on the
 * given clock to a counter: linear layers (GEMMs, forward and backward)
 * and attention (the products and softmax inside the attention kernels);
 * the rest of the step is everything else. Counting is for one thread
 * driving the model (the products thread inside). */
typedef struct avk_dit_prof {
    double gemm_s, attn_s;       /* seconds */
    long gemm_n, attn_n;         /* calls */
    double comm_s;               /* sequence parallelism's all-to-alls and gather */
    long comm_n;
    double comm_bytes;           /* bytes this rank sent to the others in them */
} avk_dit_prof;
void avk_dit_prof_enable(double (*clock)(void));   /* NULL: off (the default) */
avk_dit_prof avk_dit_prof_take(void);               /* the counts, then zero */
extern int avk_dit_prof_on;                         /* for dit_ops.h */
extern double (*avk_dit_prof_clock)(void);
extern avk_dit_prof avk_dit_prof_acc;

/* Ulysses sequence parallelism over the ranks of `sp` (NULL or one rank:
 * none). Every rank of the group runs the same batch; each keeps the
 * video tokens of its share of the spatial positions (ceil(S / n) of each
 * frame's S patches, contiguous, across all frames: temporal attention
 * stays local) and its share of the text positions (ceil(L / n)), padded
 * where the counts do not divide. Around the spatial and the cross or
 * joint attention an all-to-all trades the sequence split for a split of
 * the heads and back; padded positions are left out of every attention
 * sequence. Rotary positions are the global ones. The text encoder and the
 * conditioning run whole on every rank; the prediction is gathered, so
 * every rank gets the whole pred. The backward ADDS this rank's part of
 * every gradient: the sum over the group is the gradient. Forward and
 * backward are then collective over the group. -1 (error set) when the
 * heads do not divide by the group's size. */
int avk_dit_set_sp(avk_dit *m, avk_comm *sp);
/* Selective recomputation: round(share * depth) of the blocks, spread
 * evenly, keep only their inputs in the forward and run their forward
 * again in the backward (same bits, less memory). share in [0, 1]. */
void avk_dit_set_recompute(avk_dit *m, double share);
/* Keep the text encoder (text_encoder.*) as it is: the backward leaves
 * its gradients zero and its tensors lose the weight-decay flag, so AdamW
 * does not move them. A randomly initialized encoder kept so still tells
 * every token apart, as a frozen pretrained one does; trained with the
 * DiT, it can merge the tokens the DiT has not yet learned to use (the
 * direction of motion, README). -1 (error set) for a model without one
 * (text_emb). */
int avk_dit_freeze_text(avk_dit *m);
/* Does block i of `depth` recompute at that share? (the even spread) */
int avk_dit_block_recomputes(int i, int depth, double share);

/* Bytes of activation memory the last forward and backward held (the
 * arenas kept for the next step: saved activations, a recomputed block's,
 * one block's backward temporaries; with the batch in groups, every
 * thread's); 0 before the first step. */
int64_t avk_dit_act_bytes(const avk_dit *m);

/* Tokens per clip (video) for a latent shape, or -1 if the patch does
 * not divide it. */
int64_t avk_dit_tokens(const avk_dit_config *c, int T, int H, int W);

#endif
