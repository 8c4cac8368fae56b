/* Private pieces of the DiT shared by lib/models/dit*.c: where each
 * parameter sits (indices into m->params), the activation arena, the
 * attention sequences, and the saved state of each part of the forward. */
#ifndef AVKIT_DIT_INTERNAL_H
#define AVKIT_DIT_INTERNAL_H

#include <stdint.h>
#include "avkit/models/dit.h"

/* ---- activation arena (dit_arena.c) --------------------------------- */

/* The buffers of one forward and backward, kept for the next step: a step
 * of the same shapes asks for the same sizes in the same order, so the
 * arena hands the same blocks out again (rewound by dit_arena_rewind)
 * instead of mapping and faulting fresh pages every step. */
typedef struct dit_arena {
    float **ptrs;
    int64_t *sizes;             /* floats in each block */
    int n, cap, cursor;
} dit_arena;
/* Aligned floats owned by the arena: uninitialized (contents of an
 * earlier step) / zeroed. */
float *dit_alloc(dit_arena *a, int64_t n);
float *dit_zeros(dit_arena *a, int64_t n);
void *dit_alloc_bytes(dit_arena *a, size_t n);
void dit_arena_rewind(dit_arena *a);
void dit_arena_free(dit_arena *a);

/* A linear layer: weight [out, in] and bias [out] (indices, -1 absent). */
typedef struct dit_lin {
    int w, b, in, out;
} dit_lin;

/* An attention module: projections for the first stream (video, or the
 * only one) and, when dual (MM-DiT), the text stream's own; norms are
 * parameter indices of the RMS weights [head dim] (-1 without qk_norm). */
typedef struct dit_attn_p {
    dit_lin q, k, v, o;
    dit_lin aq, ak, av, ao;     /* add_q_proj, add_k_proj, add_v_proj, to_add_out */
    int nq, nk, naq, nak;
    int dual;
} dit_attn_p;

typedef struct dit_block_p {
    dit_lin mod, cmod;          /* norm1.linear, norm1_context.linear (mmdit) */
    dit_attn_p attn, temp, third;   /* spatial, temporal, cross or joint */
    dit_lin ff1, ff2, cff1, cff2;   /* ff, ff_context (mmdit, not last) */
    int last;                   /* text is only read */
} dit_block_p;

typedef struct dit_text_layer_p {
    int n1w, n1b, n2w, n2b;
    dit_attn_p attn;
    dit_lin ff1, ff2;
} dit_text_layer_p;

struct dit_split_workers;

struct avk_dit_layout {
    dit_arena spare;            /* the last step's buffers, for the next */
    dit_arena spare_re, spare_bw;   /* its recompute and block-backward scratch */
    int patch_w, patch_b;       /* pos_embed.proj */
    int tok_emb, pos_emb;       /* text_encoder.token_embedding / position_embedding */
    dit_text_layer_p *text;     /* [text_layers] */
    int nfw, nfb;               /* text_encoder.norm_final */
    dit_lin ctx;                /* context_embedder (text_emb models) */
    dit_lin t1, t2, p1, p2;     /* timestep_embedder, text_embedder */
    dit_block_p *blocks;        /* [depth] */
    dit_lin out_mod, proj_out;  /* norm_out.linear, proj_out */
    struct dit_split_workers *workers;   /* dit_split.c's, made on first use */
};

/* Bytes of the three arenas a layout keeps between steps (dit_par.c). */
int64_t dit_layout_act_bytes(const avk_dit_layout *l);

/* Pointers to a parameter's weights and gradient (NULL for index -1). */
static inline float *dit_w(avk_dit *m, int i) { return i < 0 ? 0 : m->w + m->params[i].offset; }
static inline float *dit_g(avk_dit *m, int i) { return i < 0 ? 0 : m->g + m->params[i].offset; }

/* ---- attention over index lists (dit_attn.c) ------------------------ */

/* A set of equal-length attention sequences over rows of the projected
 * token matrices (video rows first, then text rows): sequence s takes
 * queries from rows qidx[s*nq ..] and keys/values from rows kidx[s*nk ..];
 * keys at positions >= kv_len[s] are masked (kv_len NULL: none); each
 * query's output is added into its row with weight qw (NULL: 1). */
typedef struct dit_seqs {
    int nseq, nq, nk;
    int heads_split;            /* rows are the gathered head-parallel rows of the
                                 * sequence-parallel group (dit_ctx.sp) */
    int32_t *qidx, *kidx;
    int *kv_len;
    float *qw;
} dit_seqs;

/* Saved state of one attention module call. Streams: 0 video (or the
 * only stream), 1 text. */
typedef struct dit_attn_st {
    const dit_attn_p *p;
    const dit_seqs *s;
    int qs[2], kvs[2];          /* which streams give queries / keys+values */
    int rope;                   /* rotate stream-0 queries and keys */
    int64_t R[2];               /* rows per stream */
    const float *x[2];          /* the module's inputs per stream [R, D] */
    const float *xp[2];         /* the same rows xld apart for the backward's
                                 * weight gradients (fp32), or NULL: x */
    int64_t xld[2];
    float *Q, *K, *V;           /* [R0 + R1, D]: after norm and rotation */
    float *Qr, *Kr;             /* before the norm (qk_norm only) */
    float *rq, *rk;             /* RMS statistics [(R0 + R1) * H] */
    float *qg, *kg, *vg, *og, *lse;   /* gathered per sequence and head */
    float *pk;                  /* the attention's kept probabilities, or NULL
                                 * (avk_attn.p_keep) */
    float *O;                   /* attention outputs in rows [R0 + R1, D] */
} dit_attn_st;

/* Shape context shared by every part of one forward. */
typedef struct dit_ctx {
    avk_dit *m;
    dit_arena *ar;
    int B, T, Hp, Wp, S, L, D, H, Dh;
    int64_t N;                  /* video tokens per clip = T * S */
    int64_t Rv, Rt;             /* rows: B * N, B * L */
    /* Sequence parallelism (the blocks' context only; see avk_dit_set_sp):
     * S, L, N, Rv, Rt above are then this rank's share (padded), Sg and Lg
     * the whole clip's, and the rows of every rank form, after the
     * all-to-all, the gathered matrix of spn * (Rv + Rt) rows, rank-major,
     * with D / spn columns (this rank's heads). Without it spn = 1,
     * Sg = S, Lg = L. */
    avk_comm *sp;
    int spn, spr, Sg, Lg;
    const int *text_len;        /* [B] */
    float *rope;                /* [N * H, Dh] rotary table, one row per (token, head) */
    float *rope_tok;            /* [N, Dh]: the same, one row per token (every
                                 * head's row is the same): what the gathers
                                 * read, a quarter of the memory at 4 heads */
    float *pos_emb;             /* [N, D] fixed position embedding added to the
                                 * patch tokens (pos_embed_type "sincos"), or NULL */
    /* the attention sequences: spatial and joint with and without text
     * queries, temporal, cross, the text encoder's */
    dit_seqs *sp_q, *sp_kv, *joint_q, *joint_kv, *temp, *cross, *text;
    /* inference with a key/value context (dit_stage.c; all 0 otherwise):
     * Rc context video rows (Tc frames before the clip, B = 1) follow the
     * text rows in the temporal and joint attention; their keys and
     * values come from kv_in, and the clip's last Tc frames' go to kv_out */
    int Tc;
    int64_t Rc;
    float *ctx_rope;            /* [Rc * H, Dh] rotary table of the context */
    const struct avk_dit_kv *kv_in;
    struct avk_dit_kv *kv_out;
    int for_backward;           /* a backward follows (avk_dit_forward, not
                                 * inference): the attention keeps what the
                                 * backward would recompute (dit_attn_st.pk) */
} dit_ctx;

/* The fixed position embedding of N tokens at positions pos [N, 3]
 * (frame, row, column) in c's arena: sine-cosine sections of
 * heads * rope_dims features per axis; NULL when the configuration has
 * none. dit_add_pos_embed adds it to the video tokens x [B * N, D]. */
float *dit_pos_embed_table(dit_ctx *c, const int *pos, int64_t N);
void dit_add_pos_embed(float *x, const float *pe, int B, int64_t N, int D);

/* Keys (after the norm, before rotation) and values of the last frames of
 * one evaluation, per block and per context-taking branch (slot 0
 * temporal, 1 joint): [depth][2] pairs of [rows, D], allocated on first
 * use so that a pipeline stage holds its own blocks' only. */
struct avk_dit_kv {
    int depth, frames, valid;
    int64_t rows, D;            /* rows = frames / pt * S */
    float **k, **v;             /* [depth * 2] */
};
/* Which slot a module fills, or -1 (no context for it). */
int dit_kv_slot(const dit_ctx *c, const dit_attn_p *p);
/* Copy the clip's last frames' rows of K (unrotated) and V [R, D] into
 * kv_out's slot / the slot of kv_in into the context rows, K rotated at
 * the context's frames. */
void dit_kv_keep(dit_ctx *c, int slot, const float *K, const float *V);
void dit_kv_place(dit_ctx *c, int slot, float *K, float *V);

/* Run the module: queries, keys and values of the streams it uses,
 * attention over the sequences, output projections into y[stream]
 * (written, [R, D]) for the query streams. st->p, s, qs, kvs, rope, R, x
 * are set by the caller. */
void dit_attn_fwd(dit_ctx *c, dit_attn_st *st, float *y[2]);
/* Backward from dy[stream] (NULL where the stream has no output); ADDS
 * into dx[stream] (NULL to skip) and the parameter gradients. */
void dit_attn_bwd(dit_ctx *c, dit_attn_st *st, const float *dy[2], float *dx[2]);

/* Sequence sets for the layouts of the model (dit_attn.c). */
dit_seqs *dit_seqs_spatial(dit_ctx *c, int text_queries);
dit_seqs *dit_seqs_temporal(dit_ctx *c);
dit_seqs *dit_seqs_cross(dit_ctx *c);
dit_seqs *dit_seqs_joint(dit_ctx *c, int text_queries);
dit_seqs *dit_seqs_text(dit_ctx *c);

/* ---- sequence parallelism's rows (dit_par.c) ------------------------ */

/* The row in the whole batch of this rank's video row r (sample, frame,
 * local position) and of its text row r, or -1 for a padded one; k is
 * the blocks' context. */
int64_t dit_global_video_row(const dit_ctx *k, int64_t r);
int64_t dit_global_text_row(const dit_ctx *k, int64_t r);
/* dst [rows, w] = this rank's share of src (rows of the whole batch),
 * zeros where padded; video (text 0) or text rows (text 1). */
void dit_take_rows(const dit_ctx *k, float *dst, const float *src, int64_t rows, int w, int text);

/* ---- one block (dit_block.c) ---------------------------------------- */

typedef struct dit_block_st {
    const dit_block_p *p;
    const float *x, *e;         /* inputs [Rv, D], [Rt, D] */
    float *mod, *cmod;          /* [6, B, G, D] (G = T with frame_cond, else 1);
                                 * cmod [2 or 6, B, D], == mod when single-stream
                                 * without frame_cond */
    float *nx, *mx, *sx, *mxx;  /* LN(x), mean, rstd, modulated */
    float *ne, *me, *se, *mee;
    dit_attn_st br[3];          /* spatial, temporal, cross/joint */
    float *av, *at;             /* summed branch outputs (video, text) */
    float *x1, *e1;
    float *n2x, *m2x, *s2x, *h2x, *f1x, *g1x, *f2x;   /* MLP, video */
    float *n2e, *m2e, *s2e, *h2e, *f1e, *g1e, *f2e;   /* MLP, text */
    float *x2, *e2;             /* outputs (e2 NULL in the last block) */
} dit_block_st;

/* sc = SiLU(c) [B, D]; scf the video's per-frame conditioning [B * T, D]
 * (dit_frame_cond), or NULL without frame_cond. */
void dit_block_fwd(dit_ctx *c, dit_block_st *st, const dit_block_p *p, const float *x,
                   const float *e, const float *sc, const float *scf);
/* ADDS into dx, de, dsc, dscf (with scf) and the parameter gradients; de2
 * NULL in the last block. */
void dit_block_bwd(dit_ctx *c, dit_block_st *st, const float *dx2, const float *de2,
                   const float *sc, const float *scf, float *dx, float *de, float *dsc,
                   float *dscf);

/* The adaLN modulation of `rows` conditioning rows sc [rows, D]: lin(sc)
 * as chunks [k, rows, D] (k = lin->out / D: shift, scale, gate ...), in
 * c's arena; the backward ADDS into dsc and lin's gradients. */
float *dit_modulation(dit_ctx *c, const dit_lin *lin, const float *sc, int64_t rows);
void dit_modulation_bwd(dit_ctx *c, const dit_lin *lin, const float *sc, int64_t rows,
                        const float *dmod, float *dsc);

/* frame_cond's conditioning of the video tokens: cf [B * T, D] = c of
 * the sample + the sinusoidal features of frame f0 + f (cos first, as the
 * timestep's), and scf = SiLU(cf), both in c's arena. */
void dit_frame_cond(dit_ctx *c, const float *cond, int f0, float **cf, float **scf);

/* ---- the text encoder (dit_text.c) ---------------------------------- */

typedef struct dit_text_st {
    float *e0;                  /* embeddings + positions [Rt, D] */
    struct dit_tl_st {
        const float *in;
        float *n1, *m1, *s1;
        dit_attn_st at;
        float *a, *e1, *n2, *m2, *s2, *f1, *g1, *f2, *out;
    } *layers;
    const float *pre;           /* input of the final norm */
    float *mf, *sf;             /* final norm statistics */
    float *out;                 /* [Rt, D] */
} dit_text_st;

/* Token ids [B, L] to text tokens [Rt, D] (ids already checked). */
void dit_text_fwd(dit_ctx *c, dit_text_st *st, const int32_t *tokens);
void dit_text_bwd(dit_ctx *c, dit_text_st *st, const int32_t *tokens, const float *dout);

/* ---- the whole batch in one pass (dit.c) ----------------------------- */

/* The forward of the whole batch; with hooks (inference only) the block
 * stack may be skipped, and *ran says whether it ran. ran NULL: a
 * training forward that a backward may follow. */
avk_dit_acts *dit_forward_whole(avk_dit *m, const avk_dit_batch *b, float *pred,
                                const avk_dit_hooks *hk, int *ran);
/* Its backward, ADDING into m->g; ready(ready_ctx, block) each time a
 * parameter block's gradients are final (the order of
 * avk_params_grads_ready). */
void dit_backward_whole(avk_dit *m, avk_dit_acts *a, const float *dpred,
                        void (*ready)(void *ctx, int block), void *ready_ctx);

/* ---- one group of samples per thread (dit_split.c) -------------------- */

/* (How many groups a batch runs in: avk_dit_groups.) */
typedef struct dit_split dit_split;
/* The forward of the batch in n equal groups of samples, each in its own
 * thread on a view of the model (the same weights; its own gradients and
 * arenas), writing its rows of pred. The batch is checked. */
dit_split *dit_split_forward(avk_dit *m, const avk_dit_batch *b, float *pred, int n,
                             int for_backward);
/* The groups' backwards, each in its thread; at each point where a block's
 * gradients are final the threads meet, add the views' gradients of that
 * block into m->g in a fixed order (group 0 wrote m->g itself), and the
 * block is announced (avk_params_grads_ready). */
void dit_split_backward(avk_dit *m, dit_split *s, const float *dpred);
void dit_split_free(dit_split *s);
/* The views' buffers (avk_dit_free) / the bytes of their arenas. */
void dit_split_workers_free(avk_dit_layout *l);
int64_t dit_split_act_bytes(const avk_dit_layout *l);

#endif
