/* avkit compute core, part 2: operators with forward and backward, and the
 * AdamW optimizer. Everything a frame-wise VAE and a video diffusion
 * transformer (spatial, temporal and full attention, adaLN, 3D rotary
 * positions) needs.
 *
 * How to read this API
 * --------------------
 * - Explicit forward and backward functions per operator (llm.c style, no
 *   autograd graph; see tensor.h for why). A model runs the `_fwd`
 *   functions, keeps what each backward needs (the inputs named in its
 *   signature and any saved statistics such as `mean`/`rstd`/`lse`), then
 *   runs the `_bwd` functions in reverse order.
 * - All data is f32, contiguous, row-major; shapes are given in the order
 *   the memory is laid out (the last dimension varies fastest). Images are
 *   NCHW, videos NCTHW, token sequences [B, N, D], attention heads
 *   [B, H, N, Dh]. Parameters use PyTorch's layouts (Linear weight
 *   [out, in], Conv2d weight [out, in, kh, kw]) so diffusers/PyTorch
 *   checkpoints load without transposes.
 * - Forward functions WRITE their outputs. Backward functions ACCUMULATE
 *   (+=) into every gradient they produce, input gradients included, so
 *   residual branches and shared parameters need no extra adds; zero the
 *   gradient buffers once per step. Any gradient pointer may be NULL when
 *   that gradient is not needed (its work is skipped).
 * - Outputs must not alias inputs unless a function says so.
 * - Each operator has a reference version `avk_OP_fwd_ref`/`_bwd_ref`:
 *   plain single-threaded loops with double accumulators, the thing tests
 *   compare against. The unsuffixed functions are the fast versions that
 *   models call: OpenMP threads (OMP_NUM_THREADS), loops the compiler
 *   vectorizes, AVX2/AVX-512 clones chosen at run time (function
 *   multiversioning; the library itself is built for baseline x86-64 and
 *   never executes an instruction the CPU lacks), and GEMMs through
 *   oneDNN's dnnl_sgemm.
 * - Fast and reference agree to ~1e-6 relative (different summation
 *   order), both agree with PyTorch to < 1e-5 relative on the golden tests
 *   (error = max|a-b| / max|b|).
 *
 * Backends
 * --------
 * Every operator here runs on the CPU backend (lib/nn/), and the same set
 * is reached through a backend table, `avk_backend` (at the end of this
 * header): the backend's name, its memory functions (alloc, free, copy to
 * and from the host, copy inside it, zero, fill, sync) and one pointer per
 * operator, with the signature and meaning of the CPU function of the same
 * name. The CPU table's entries ARE the unsuffixed functions of this header
 * (avk_backend_cpu()->linear_fwd == avk_linear_fwd), so CPU code may call
 * either and gets the same bits.
 *
 * - A model holds the table it was built for (the VAE: vae_net.c's `be`)
 *   and reaches tensor memory only through it: buffers from be->alloc,
 *   copies with be->copy / to_device / to_host, zeroing with be->zero,
 *   arithmetic with the operator entries, never a loop or memcpy of its
 *   own. So the same model code runs on any backend.
 * - Tensor pointers handed to a table's entries are that backend's memory
 *   (from its alloc; host memory for the CPU). Everything else is host
 *   data: shapes, scalars, the descriptors (avk_conv2d, avk_attn and its
 *   kv_len, avk_patch, avk_adamw), the pointer arrays of the gradient-norm
 *   functions. Values returned (losses, norms, the first non-finite index,
 *   embedding errors) come back to the host, so a device backend waits for
 *   its queued work before returning them.
 * - Entries run in the order they are called (a device backend queues them
 *   on one stream); to_host and sync wait for what is queued.
 * - Host-side helpers are not in the table: the descriptor makers and
 *   checks, avk_rope_grid_positions and avk_rope3d_table (build on the
 *   host, upload with to_device), avk_adamw_defaults, and every `_ref`
 *   function: the references are CPU code over host memory, the thing a
 *   device test compares with.
 * - Several backends live in one process: each table is a separate static
 *   object, nothing global selects one, and avk_backend_find("cpu" or
 *   "cuda") returns either. A CUDA operator test allocates on "cuda",
 *   uploads its host inputs, runs the entry, downloads the output and
 *   compares it with avk_OP_fwd_ref on the same host inputs, in one run.
 * - The CUDA backend lives in lib/nn/cuda/ (.cu kernels, its table in
 *   backend_cuda.c; extras such as the GEMM math mode in avkit/nn/cuda.h),
 *   built with `make CUDA=1`, which defines AVK_HAVE_CUDA and
 *   avk_backend_cuda(); without it, avk_backend_find("cuda") returns NULL
 *   with an error saying that the library was built without CUDA, and on
 *   a machine without a device, with "no CUDA device".
 */
#ifndef AVKIT_OPS_H
#define AVKIT_OPS_H

#include <stdint.h>
#include "avkit/nn/tensor.h"

/* ---- GEMM (ops_linear.c) --------------------------------------------- */

/* C[M,N] = alpha * op(A) op(B) + beta * C, row-major; op(X) is X or X^T
 * for trans 'N' / 'T'. The one GEMM entry point of the library (oneDNN
 * dnnl_sgemm; threads inside unless called from a parallel region). */
void avk_gemm(char transa, char transb, int64_t M, int64_t N, int64_t K,
              float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
              float beta, float *C, int64_t ldc);
/* Plain-loop reference (double accumulation). */
void avk_gemm_ref(char transa, char transb, int64_t M, int64_t N, int64_t K,
                  float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                  float beta, float *C, int64_t ldc);

/* ---- linear ---------------------------------------------------------- */

/* y[M,N] = x[M,K] w[N,K]^T + b[N]   (b may be NULL) */
void avk_linear_fwd(float *y, const float *x, const float *w, const float *b,
                    int64_t M, int64_t K, int64_t N);
/* dx[M,K] += dy w;  dw[N,K] += dy^T x;  db[N] += sum over rows of dy */
void avk_linear_bwd(float *dx, float *dw, float *db, const float *dy,
                    const float *x, const float *w, int64_t M, int64_t K, int64_t N);
void avk_linear_fwd_ref(float *y, const float *x, const float *w, const float *b,
                        int64_t M, int64_t K, int64_t N);
void avk_linear_bwd_ref(float *dx, float *dw, float *db, const float *dy,
                        const float *x, const float *w, int64_t M, int64_t K, int64_t N);
/* As avk_linear_bwd, with x's rows ldx floats apart (CPU only, not in the
 * backend table): several layers reading one input can share one copy
 * of it at avk_gemm_padded_ld. */
void avk_linear_bwd_ldx(float *dx, float *dw, float *db, const float *dy, const float *x,
                        int64_t ldx, const float *w, int64_t M, int64_t K, int64_t N);
/* The leading dimension at which avk_gemm reads B [K, N] (rows ld apart)
 * of an M x N x K product A B or A^T B: ld + 16 where it would read it
 * from a padded copy on this CPU, else ld. */
int64_t avk_gemm_padded_ld(int64_t ld, int64_t M, int64_t N, int64_t K);
/* rows x cols floats from src (rows lds apart) to dst (rows ldd apart),
 * threads over the rows (CPU only). */
void avk_copy_rows(float *dst, int64_t ldd, const float *src, int64_t lds, int64_t rows,
                   int64_t cols);
/* As avk_linear_bwd, but dx is WRITTEN (dx = dy w; dw and db still
 * added): the bits of avk_linear_bwd into a zeroed dx, without zeroing it
 * first (CPU only, not in the backend table). */
void avk_linear_bwd_set(float *dx, float *dw, float *db, const float *dy,
                        const float *x, const float *w, int64_t M, int64_t K, int64_t N);
void avk_linear_bwd_set_ref(float *dx, float *dw, float *db, const float *dy,
                            const float *x, const float *w, int64_t M, int64_t K, int64_t N);

/* ---- embedding lookup (ops_embed.c) ---------------------------------- */

/* Rows of a table [V, D] picked by ids [n] (caption tokens, class labels):
 * out[i] = table[ids[i]]; the backward adds dout[i] into dtable[ids[i]]
 * (repeated ids accumulate). Returns -1 (error naming the position and
 * the id) when an id is outside [0, V), before writing anything. */
int avk_embedding_fwd(float *out, const float *table, const int32_t *ids, int64_t n,
                      int64_t V, int D);
void avk_embedding_bwd(float *dtable, const float *dout, const int32_t *ids, int64_t n, int D);
void avk_embedding_bwd_ref(float *dtable, const float *dout, const int32_t *ids, int64_t n, int D);

/* ---- conv2d (ops_conv.c) --------------------------------------------- */

/* x [B, Cin, H, W], w [Cout, Cin, kh, kw], b [Cout], y [B, Cout, Ho, Wo];
 * zero padding, possibly asymmetric (diffusers' Downsample2D pads right and
 * bottom by one before a stride-2 3x3 conv):
 *   Ho = (H + pad_top + pad_bottom - kh) / stride + 1, same for Wo. */
typedef struct avk_conv2d {
    int B, Cin, H, W, Cout, kh, kw, stride;
    int pad_top, pad_bottom, pad_left, pad_right;
} avk_conv2d;

/* A square-kernel, symmetric-padding description. The operators trust
 * the description: check it once with avk_conv2d_check (a model does so
 * when it is built). */
avk_conv2d avk_conv2d_make(int B, int Cin, int H, int W, int Cout, int k,
                           int stride, int pad);
int avk_conv2d_out_h(const avk_conv2d *c);
int avk_conv2d_out_w(const avk_conv2d *c);
/* 0 if the description is usable, else -1 with error set. */
int avk_conv2d_check(const avk_conv2d *c);
/* Fast path: im2col + GEMM (1x1 stride-1 convs skip im2col); scratch is
 * allocated per call: Cin*kh*kw*Ho*Wo floats per thread in use. */
void avk_conv2d_fwd(float *y, const float *x, const float *w, const float *b,
                    const avk_conv2d *c);
void avk_conv2d_bwd(float *dx, float *dw, float *db, const float *dy,
                    const float *x, const float *w, const avk_conv2d *c);
void avk_conv2d_fwd_ref(float *y, const float *x, const float *w, const float *b,
                        const avk_conv2d *c);
void avk_conv2d_bwd_ref(float *dx, float *dw, float *db, const float *dy,
                        const float *x, const float *w, const avk_conv2d *c);

/* ---- normalization (ops_norm.c) -------------------------------------- */

/* Group norm over x [B, C, S] (S = H*W, or T*H*W), G groups of C/G
 * channels (C a multiple of G); gamma, beta [C] (either may be NULL = 1 / 0). Saves mean and
 * rstd = 1/sqrt(var + eps) [B, G] for the backward (biased variance, as
 * torch.nn.GroupNorm). */
void avk_groupnorm_fwd(float *y, float *mean, float *rstd, const float *x,
                       const float *gamma, const float *beta,
                       int B, int C, int64_t S, int G, float eps);
void avk_groupnorm_bwd(float *dx, float *dgamma, float *dbeta, const float *dy,
                       const float *x, const float *mean, const float *rstd,
                       const float *gamma, int B, int C, int64_t S, int G);
void avk_groupnorm_fwd_ref(float *y, float *mean, float *rstd, const float *x,
                           const float *gamma, const float *beta,
                           int B, int C, int64_t S, int G, float eps);
void avk_groupnorm_bwd_ref(float *dx, float *dgamma, float *dbeta, const float *dy,
                           const float *x, const float *mean, const float *rstd,
                           const float *gamma, int B, int C, int64_t S, int G);

/* Layer norm over the last dimension of x [M, D]; gamma, beta [D] may be
 * NULL (DiT blocks use no affine and modulate instead). Saves mean, rstd
 * [M]. */
void avk_layernorm_fwd(float *y, float *mean, float *rstd, const float *x,
                       const float *gamma, const float *beta, int64_t M, int D, float eps);
void avk_layernorm_bwd(float *dx, float *dgamma, float *dbeta, const float *dy,
                       const float *x, const float *mean, const float *rstd,
                       const float *gamma, int64_t M, int D);
void avk_layernorm_fwd_ref(float *y, float *mean, float *rstd, const float *x,
                           const float *gamma, const float *beta, int64_t M, int D, float eps);
void avk_layernorm_bwd_ref(float *dx, float *dgamma, float *dbeta, const float *dy,
                           const float *x, const float *mean, const float *rstd,
                           const float *gamma, int64_t M, int D);

/* RMS norm over the last dimension: y = x / sqrt(mean(x^2) + eps) * w;
 * w [D] may be NULL. Saves rstd [M]. (For query/key normalization.) */
void avk_rmsnorm_fwd(float *y, float *rstd, const float *x, const float *w,
                     int64_t M, int D, float eps);
void avk_rmsnorm_bwd(float *dx, float *dw, const float *dy, const float *x,
                     const float *rstd, const float *w, int64_t M, int D);
void avk_rmsnorm_fwd_ref(float *y, float *rstd, const float *x, const float *w,
                         int64_t M, int D, float eps);
void avk_rmsnorm_bwd_ref(float *dx, float *dw, const float *dy, const float *x,
                         const float *rstd, const float *w, int64_t M, int D);
/* RMS norm backward in place: d holds dy on entry and dx on return
 * (written, not added; dw added): the bits of avk_rmsnorm_bwd into a
 * zeroed dx, without that buffer (CPU only, not in the backend table). */
void avk_rmsnorm_bwd_inplace(float *d, float *dw, const float *x, const float *rstd,
                             const float *w, int64_t M, int D);
void avk_rmsnorm_bwd_inplace_ref(float *d, float *dw, const float *x, const float *rstd,
                                 const float *w, int64_t M, int D);

/* ---- activations (ops_act.c) ----------------------------------------- */

/* SiLU y = x * sigmoid(x); GELU with the tanh approximation
 * y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as
 * torch.nn.GELU(approximate="tanh"). Forward may run in place (y == x),
 * but the backward needs the original x. */
void avk_silu_fwd(float *y, const float *x, int64_t n);
void avk_silu_bwd(float *dx, const float *dy, const float *x, int64_t n);
void avk_gelu_fwd(float *y, const float *x, int64_t n);
void avk_gelu_bwd(float *dx, const float *dy, const float *x, int64_t n);
void avk_silu_fwd_ref(float *y, const float *x, int64_t n);
void avk_silu_bwd_ref(float *dx, const float *dy, const float *x, int64_t n);
void avk_gelu_fwd_ref(float *y, const float *x, int64_t n);
void avk_gelu_bwd_ref(float *dx, const float *dy, const float *x, int64_t n);
/* GELU backward in place: d holds dy on entry and dx on return (written):
 * the bits of avk_gelu_bwd into a zeroed dx, without that buffer (CPU
 * only, not in the backend table). */
void avk_gelu_bwd_inplace(float *d, const float *x, int64_t n);
void avk_gelu_bwd_inplace_ref(float *d, const float *x, int64_t n);
/* The bias of a linear layer then GELU, in one pass over the rows: x [M, N]
 * (a GEMM's output without its bias) gets the bias b [N] added in place
 * (the activation's input, kept for the backward), y = gelu(x): the bits
 * of avk_linear_fwd's bias then avk_gelu_fwd (CPU only, not in the
 * backend table). */
void avk_bias_gelu_fwd(float *x, float *y, const float *b, int64_t M, int64_t N);
void avk_bias_gelu_fwd_ref(float *x, float *y, const float *b, int64_t M, int64_t N);

/* ---- the MLP (ops_mlp.c) -------------------------------------------- */

/* Linear(K -> F) -> GELU (tanh) -> Linear(F -> N) over x [M, K] (CPU
 * only, not in the backend table), its hidden rows ld floats apart
 * (avk_mlp_ld(F): F + 16, which spares the products the padded copies
 * that rows 4 KiB apart cost them): f = x w1^T + b1 (the GELU's input)
 * and g = gelu(f), [M, ld] and kept for the backward, y = g w2^T + b2
 * [M, N]; w1 [F, K], w2 [N, F]. The backward writes dx [M, K] and df [M,
 * ld] (the GELU input's gradient) and adds into dw1, db1, dw2, db2 (NULL
 * biases: none). The arithmetic of avk_linear_fwd, avk_bias_gelu_fwd,
 * avk_linear_fwd and of avk_linear_bwd_set, avk_gelu_bwd_inplace,
 * avk_linear_bwd_set. */
int64_t avk_mlp_ld(int64_t F);
void avk_mlp_fwd(float *y, float *f, float *g, int64_t ld, const float *x, const float *w1,
                 const float *b1, const float *w2, const float *b2, int64_t M, int64_t K,
                 int64_t F, int64_t N);
void avk_mlp_bwd(float *dx, float *dw1, float *db1, float *dw2, float *db2, float *df,
                 int64_t ld, const float *dy, const float *x, const float *f, const float *g,
                 const float *w1, const float *w2, int64_t M, int64_t K, int64_t F, int64_t N);
void avk_mlp_fwd_ref(float *y, float *f, float *g, int64_t ld, const float *x, const float *w1,
                     const float *b1, const float *w2, const float *b2, int64_t M, int64_t K,
                     int64_t F, int64_t N);
void avk_mlp_bwd_ref(float *dx, float *dw1, float *db1, float *dw2, float *db2, float *df,
                     int64_t ld, const float *dy, const float *x, const float *f, const float *g,
                     const float *w1, const float *w2, int64_t M, int64_t K, int64_t F,
                     int64_t N);

/* ---- softmax (ops_softmax.c) ----------------------------------------- */

/* Row softmax over the last dimension of x [M, N]; the backward uses the
 * output y: dx += y * (dy - sum(dy * y)). y may alias x. */
void avk_softmax_fwd(float *y, const float *x, int64_t M, int64_t N);
void avk_softmax_bwd(float *dx, const float *dy, const float *y, int64_t M, int64_t N);
void avk_softmax_fwd_ref(float *y, const float *x, int64_t M, int64_t N);
void avk_softmax_bwd_ref(float *dx, const float *dy, const float *y, int64_t M, int64_t N);

/* ---- attention (ops_attention.c) ------------------------------------- */

/* Scaled dot-product attention, per batch b and head h:
 *   o = softmax(scale * q k^T) v
 * q [B, H, Nq, D], k and v [B, H, Nk, D], o [B, H, Nq, D]. Nq and Nk may
 * differ (cross-attention to text tokens). kv_len, when not NULL, holds
 * one count per batch entry: keys at positions >= kv_len[b] are masked out
 * (padded captions); a count of 0 gives zero outputs (and lse = -inf).
 *
 * Video attention from a fused qkv projection (avk_linear with 3*H*Dh
 * outputs) over tokens ordered (frame t, spatial position s), one
 * avk_permute each way:
 *   full:     qkv [B, T*S, 3, H, Dh] perm {2,0,3,1,4}   -> [3][B, H, T*S, Dh]
 *   spatial:  qkv [B, T, S, 3, H, Dh] perm {3,0,1,4,2,5} -> [3][B*T, H, S, Dh]
 *   temporal: qkv [B, T, S, 3, H, Dh] perm {3,0,2,4,1,5} -> [3][B*S, H, T, Dh]
 * (q, k, v are the three consecutive slices of the output). The output
 * goes back to token order with the inverse permutation of the matching
 * [.., H, N, Dh] shape, and the backward uses the same permutations the
 * other way (avk_perm_inverse, avk_permute_acc).
 *
 * The fast version is tiled with an online softmax (FlashAttention): it
 * never holds the Nq x Nk score matrix, only blocks of it per thread, so
 * memory is linear in the sequence length; lse [B, H, Nq] (log-sum-exp of
 * each scaled score row) is saved for the backward, which recomputes the
 * score blocks. */
typedef struct avk_attn {
    int B, H, Nq, Nk, D;
    float scale;             /* usually 1/sqrt(D) */
    const int *kv_len;       /* [B] or NULL */
    int write_grads;         /* 1: the backward writes dq, dk, dv (zeros where no
                              * score reaches: masked keys, no keys), 0: adds */
    float *p_keep;           /* NULL, or avk_attention_keep_size floats: the
                              * forward keeps its probabilities there and the
                              * backward, given the same buffer, reads them
                              * instead of recomputing scores and exponentials */
} avk_attn;

/* The usual description: scale 1/sqrt(D), no key mask, gradients added. */
avk_attn avk_attn_make(int B, int H, int Nq, int Nk, int D);
/* Floats the fast forward can keep for the backward in a->p_keep: B H Nq
 * Nk where every pair's keys fit one score tile (at most 512) and the
 * sequences are not short (the short kernel keeps nothing), else 0 (then
 * p_keep is ignored). */
int64_t avk_attention_keep_size(const avk_attn *a);
/* Bytes of scratch the fast forward / backward allocate per call. */
size_t avk_attention_workspace(const avk_attn *a, int backward);
void avk_attention_fwd(float *o, float *lse, const float *q, const float *k,
                       const float *v, const avk_attn *a);
void avk_attention_bwd(float *dq, float *dk, float *dv, const float *dout,
                       const float *q, const float *k, const float *v,
                       const float *o, const float *lse, const avk_attn *a);
/* Reference: one full score row at a time (memory O(Nk)). */
void avk_attention_fwd_ref(float *o, float *lse, const float *q, const float *k,
                           const float *v, const avk_attn *a);
void avk_attention_bwd_ref(float *dq, float *dk, float *dv, const float *dout,
                           const float *q, const float *k, const float *v,
                           const float *o, const float *lse, const avk_attn *a);

/* ---- adaLN modulation (ops_modulate.c) ------------------------------- */

/* x [B, N, D] with N tokens in G equal consecutive groups (G = 1: one
 * condition per sample as in DiT; G = frames: per-frame conditioning, for
 * frame blocks at different noise levels). shift, scale [B, G, D]:
 *   y = x * (1 + scale) + shift
 * dx += dy (1 + scale); dscale += sum_tokens dy x; dshift += sum_tokens dy.
 * shift may be NULL. y may alias x (then pass the original x to bwd). */
void avk_modulate_fwd(float *y, const float *x, const float *shift, const float *scale,
                      int B, int64_t N, int G, int D);
void avk_modulate_bwd(float *dx, float *dshift, float *dscale, const float *dy,
                      const float *x, const float *scale, int B, int64_t N, int G, int D);
void avk_modulate_fwd_ref(float *y, const float *x, const float *shift, const float *scale,
                          int B, int64_t N, int G, int D);
void avk_modulate_bwd_ref(float *dx, float *dshift, float *dscale, const float *dy,
                          const float *x, const float *scale, int B, int64_t N, int G, int D);

/* Gated residual: h = res + gate * y, gate [B, G, D], res/y/h [B, N, D].
 * h may alias res (x += gate * y in place).
 * dres += dh; dy += dh gate; dgate += sum_tokens dh y. */
void avk_gated_residual_fwd(float *h, const float *res, const float *y, const float *gate,
                            int B, int64_t N, int G, int D);
void avk_gated_residual_bwd(float *dres, float *dy, float *dgate, const float *dh,
                            const float *y, const float *gate, int B, int64_t N, int G, int D);
void avk_gated_residual_fwd_ref(float *h, const float *res, const float *y, const float *gate,
                                int B, int64_t N, int G, int D);
void avk_gated_residual_bwd_ref(float *dres, float *dy, float *dgate, const float *dh,
                                const float *y, const float *gate, int B, int64_t N, int G, int D);

/* ---- fused adaLN (ops_adaln.c; CPU only, not in the backend table) ---- */

/* Layer norm without affine, then modulation, in one pass over the rows
 * (the DiT's adaLN input): n = LN(x) with its mean and rstd [B*N], and
 * y = n (1 + scale) + shift, tokens in G groups as avk_modulate_fwd. The
 * same arithmetic as avk_layernorm_fwd then avk_modulate_fwd, bit for
 * bit, with one parallel region instead of two and each row still in
 * cache. */
void avk_ln_modulate_fwd(float *n, float *mean, float *rstd, float *y, const float *x,
                         const float *shift, const float *scale, int B, int64_t N, int G,
                         int D, float eps);
/* Its backward from dy: ADDS into dx, dshift and dscale (shift NULL:
 * dshift ignored). The bits of avk_modulate_bwd into a zeroed buffer then
 * avk_layernorm_bwd, without that buffer. */
void avk_ln_modulate_bwd(float *dx, float *dshift, float *dscale, const float *dy,
                         const float *x, const float *n, const float *mean, const float *rstd,
                         const float *scale, int B, int64_t N, int G, int D);
void avk_ln_modulate_fwd_ref(float *n, float *mean, float *rstd, float *y, const float *x,
                             const float *shift, const float *scale, int B, int64_t N, int G,
                             int D, float eps);
void avk_ln_modulate_bwd_ref(float *dx, float *dshift, float *dscale, const float *dy,
                             const float *x, const float *n, const float *mean,
                             const float *rstd, const float *scale, int B, int64_t N, int G,
                             int D);

/* ---- position embeddings (ops_posemb.c) ------------------------------ */

/* Sinusoidal timestep embedding (DiT / diffusers convention, cos first):
 * half = dim/2, f_i = exp(-ln(max_period) i / half),
 * out[b] = [cos(t_b f_0..f_{half-1}), sin(t_b f_0..)] (+ a zero column when
 * dim is odd). No backward (t is data). out [B, dim]. */
void avk_timestep_embed(float *out, const float *t, int B, int dim, float max_period);

/* Positions of a (frame, row, column) grid in token order (frame-major,
 * then row, then column): pos [T*Hp*Wp, 3]. */
void avk_rope_grid_positions(int *pos, int T, int Hp, int Wp);
/* Rotary table for 3D positions. The head dimension D is split into three
 * sections of dims[0] + dims[1] + dims[2] = D (each even) for frame, row
 * and column; inside section a, the pair (2j, 2j+1) (interleaved, as
 * RoFormer) of that section rotates by angle pos[n][a] * base^(-2j/dims[a]).
 * table [N, D/2, 2] holds (cos, sin). Returns -1 (error set) on bad dims. */
int avk_rope3d_table(float *table, const int *pos, int64_t N, const int dims[3], float base);
/* Fixed 3D sine-cosine position embedding: section a (dims[a] features,
 * even) holds sin(pos[n][a] f_j) for j < dims[a]/2, then the cosines,
 * f_j = base^(-2j/dims[a]). out [N, dims[0] + dims[1] + dims[2]]. Returns
 * -1 (error set) on bad dims. */
int avk_sincos3d_embed(float *out, const int *pos, int64_t N, const int dims[3], float base);
/* Apply the rotation to x [BH, N, D] (any number of leading batch/head
 * rows, N tokens): y = R(table) x; backward rotates back (R^T):
 * dx += R^T dy. y may alias x. */
void avk_rope_fwd(float *y, const float *x, const float *table, int64_t BH, int64_t N, int D);
void avk_rope_bwd(float *dx, const float *dy, const float *table, int64_t BH, int64_t N, int D);
void avk_rope_fwd_ref(float *y, const float *x, const float *table, int64_t BH, int64_t N, int D);
void avk_rope_bwd_ref(float *dx, const float *dy, const float *table, int64_t BH, int64_t N, int D);

/* ---- patchify (ops_patch.c) ------------------------------------------ */

/* Video latents x [B, C, T, H, W] to tokens [B, N, C*pt*ph*pw] with
 * N = (T/pt)(H/ph)(W/pw) in frame-major, row, column order; inside a token
 * the features run (c, dt, dh, dw), so patchify + linear equals a Conv3d
 * with kernel = stride = (pt, ph, pw) and the weight reshaped.
 * T, H, W must be multiples of the patch. Unpatchify is the inverse; the
 * backward of each is the other one, accumulating. */
typedef struct avk_patch {
    int B, C, T, H, W, pt, ph, pw;
} avk_patch;
void avk_patchify_fwd(float *tokens, const float *x, const avk_patch *p);
void avk_patchify_bwd(float *dx, const float *dtokens, const avk_patch *p);
void avk_unpatchify_fwd(float *x, const float *tokens, const avk_patch *p);
void avk_unpatchify_bwd(float *dtokens, const float *dx, const avk_patch *p);
void avk_patchify_fwd_ref(float *tokens, const float *x, const avk_patch *p);
void avk_unpatchify_fwd_ref(float *x, const float *tokens, const avk_patch *p);

/* ---- resampling (ops_resample.c) ------------------------------------- */

/* Nearest-neighbour upsampling by an integer factor f of x [B*C, H, W]
 * to [B*C, f*H, f*W]; backward sums each f x f block. */
void avk_upsample_nearest_fwd(float *y, const float *x, int64_t BC, int H, int W, int f);
void avk_upsample_nearest_bwd(float *dx, const float *dy, int64_t BC, int H, int W, int f);
void avk_upsample_nearest_fwd_ref(float *y, const float *x, int64_t BC, int H, int W, int f);
void avk_upsample_nearest_bwd_ref(float *dx, const float *dy, int64_t BC, int H, int W, int f);
/* Average pooling with an f x f window and stride f; H, W multiples of f
 * (the output is [B*C, H/f, W/f]). Strided convolution downsampling is
 * avk_conv2d with stride 2. */
void avk_avgpool_fwd(float *y, const float *x, int64_t BC, int H, int W, int f);
void avk_avgpool_bwd(float *dx, const float *dy, int64_t BC, int H, int W, int f);
void avk_avgpool_fwd_ref(float *y, const float *x, int64_t BC, int H, int W, int f);
void avk_avgpool_bwd_ref(float *dx, const float *dy, int64_t BC, int H, int W, int f);

/* ---- clamp (ops_clamp.c) ------------------------------------------- */

/* y = min(max(x, lo), hi), as torch.clamp; y may alias x. The backward
 * passes dy where lo <= x <= hi and adds nothing elsewhere (dx keeps its
 * bits there). On a bound itself this is PyTorch's subgradient 1 up to
 * 2.14, which the VAE has always used; PyTorch 2.15 gives 0 there. */
void avk_clamp_fwd(float *y, const float *x, int64_t n, float lo, float hi);
void avk_clamp_bwd(float *dx, const float *dy, const float *x, int64_t n, float lo, float hi);
void avk_clamp_fwd_ref(float *y, const float *x, int64_t n, float lo, float hi);
void avk_clamp_bwd_ref(float *dx, const float *dy, const float *x, int64_t n, float lo, float hi);

/* ---- channel split (ops_split.c) ------------------------------------- */

/* x [B, Ca + Cb, S] into a [B, Ca, S] (the first Ca channels of each
 * sample) and b [B, Cb, S] (the rest), as torch.split(x, [Ca, Cb], 1);
 * either output may be NULL. Backward: dx[:, :Ca] += da, dx[:, Ca:] += db
 * (a NULL gradient adds nothing). A copy: fast and reference agree
 * bitwise. */
void avk_split_channels_fwd(float *a, float *b, const float *x, int64_t B, int64_t Ca,
                            int64_t Cb, int64_t S);
void avk_split_channels_bwd(float *dx, const float *da, const float *db, int64_t B, int64_t Ca,
                            int64_t Cb, int64_t S);
void avk_split_channels_fwd_ref(float *a, float *b, const float *x, int64_t B, int64_t Ca,
                                int64_t Cb, int64_t S);
void avk_split_channels_bwd_ref(float *dx, const float *da, const float *db, int64_t B,
                                int64_t Ca, int64_t Cb, int64_t S);

/* ---- losses (ops_loss.c) --------------------------------------------- */

/* Each returns the loss value (accumulated in double) and, when grad is
 * not NULL, ADDS gscale * d(loss)/d(pred) into grad (gscale is the
 * upstream gradient, usually 1 or a loss weight).
 *   MSE = mean((pred - target)^2)      L1 = mean(|pred - target|)
 * (sign(0) = 0 in L1's gradient, as PyTorch). */
double avk_mse_loss(float *grad, const float *pred, const float *target, int64_t n, float gscale);
double avk_l1_loss(float *grad, const float *pred, const float *target, int64_t n, float gscale);
/* KL of the diagonal Gaussian N(mean, exp(logvar)) against N(0, 1):
 *   KL = 0.5 * sum(mean^2 + exp(logvar) - 1 - logvar) / norm
 * (norm = batch size gives diffusers' per-sample sum averaged over the
 * batch). Gradients are added into dmean and dlogvar (either may be NULL). */
double avk_kl_gaussian_loss(float *dmean, float *dlogvar, const float *mean,
                            const float *logvar, int64_t n, double norm, float gscale);
/* Reparameterized sample of the latent distribution, as diffusers'
 * DiagonalGaussianDistribution: lv = clamp(logvar, -30, 20),
 * z = mean + exp(lv / 2) * eps. Backward: dmean += dz;
 * dlogvar += dz * eps * exp(lv/2) / 2 where logvar is inside the clamp
 * range (0 outside). */
void avk_gaussian_sample_fwd(float *z, const float *mean, const float *logvar,
                             const float *eps, int64_t n);
void avk_gaussian_sample_bwd(float *dmean, float *dlogvar, const float *dz,
                             const float *logvar, const float *eps, int64_t n);

/* ---- optimizer (optim_adamw.c) --------------------------------------- */

/* AdamW exactly as torch.optim.AdamW (decoupled weight decay, bias
 * correction, eps outside the square root, amsgrad off):
 *   p *= 1 - lr*wd;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 * step is t, counted from 1. m and v start zeroed. Works on any slice of a
 * flat parameter buffer (so a ZeRO shard is one call). */
typedef struct avk_adamw {
    double lr, beta1, beta2, eps, weight_decay;   /* Python floats in torch */
} avk_adamw;
/* torch defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, wd 1e-2. */
avk_adamw avk_adamw_defaults(void);
void avk_adamw_step(const avk_adamw *o, int64_t step, float *p, const float *g,
                    float *m, float *v, int64_t n);
void avk_adamw_step_ref(const avk_adamw *o, int64_t step, float *p, const float *g,
                        float *m, float *v, int64_t n);
/* Global L2 norm over several gradient buffers (double accumulation). */
double avk_grad_global_norm(float *const *grads, const int64_t *ns, int count);
/* torch.nn.utils.clip_grad_norm_: when the global norm exceeds max_norm,
 * scale every gradient by max_norm / (norm + 1e-6). Returns the norm
 * before clipping. */
double avk_grad_clip(float *const *grads, const int64_t *ns, int count, double max_norm);

/* ---- the backend table (backend.c) ----------------------------------- */

/* One entry per operator, typed as the CPU function of the same name. */
#define AVK_BACKEND_OP(op) __typeof__(avk_##op) *op

/* A backend: its memory functions and its operators (see "Backends" at
 * the top). After `name`, every member is a function pointer, and every
 * one is set in a backend's table (tests/unit/test_backend.c walks them);
 * add an operator here, in the CPU table (backend_cpu.c) and in every
 * other backend together. */
typedef struct avk_backend {
    const char *name;                       /* "cpu", "cuda" */

    /* memory of this backend */
    void *(*alloc)(size_t bytes);           /* 64-byte aligned; NULL (error set) when out of memory */
    void (*free)(void *p);                  /* NULL is a no-op */
    void (*to_device)(void *dst, const void *host_src, size_t bytes);
    void (*to_host)(void *host_dst, const void *src, size_t bytes);
    void (*copy)(void *dst, const void *src, size_t bytes);   /* within the backend, no overlap */
    void (*zero)(void *p, size_t bytes);
    void (*fill)(float *p, int64_t n, float value);
    void (*sync)(void);                     /* wait for the queued work */

    /* elementwise helpers and permutations (tensor.h) */
    AVK_BACKEND_OP(add_inplace);
    AVK_BACKEND_OP(add);
    AVK_BACKEND_OP(axpy);
    AVK_BACKEND_OP(scale);
    AVK_BACKEND_OP(sumsq);
    AVK_BACKEND_OP(find_nonfinite);
    AVK_BACKEND_OP(permute);
    AVK_BACKEND_OP(permute_acc);

    /* operators (this header) */
    AVK_BACKEND_OP(gemm);
    AVK_BACKEND_OP(linear_fwd);
    AVK_BACKEND_OP(linear_bwd);
    AVK_BACKEND_OP(embedding_fwd);
    AVK_BACKEND_OP(embedding_bwd);
    AVK_BACKEND_OP(conv2d_fwd);
    AVK_BACKEND_OP(conv2d_bwd);
    AVK_BACKEND_OP(groupnorm_fwd);
    AVK_BACKEND_OP(groupnorm_bwd);
    AVK_BACKEND_OP(layernorm_fwd);
    AVK_BACKEND_OP(layernorm_bwd);
    AVK_BACKEND_OP(rmsnorm_fwd);
    AVK_BACKEND_OP(rmsnorm_bwd);
    AVK_BACKEND_OP(silu_fwd);
    AVK_BACKEND_OP(silu_bwd);
    AVK_BACKEND_OP(gelu_fwd);
    AVK_BACKEND_OP(gelu_bwd);
    AVK_BACKEND_OP(softmax_fwd);
    AVK_BACKEND_OP(softmax_bwd);
    AVK_BACKEND_OP(attention_fwd);
    AVK_BACKEND_OP(attention_bwd);
    AVK_BACKEND_OP(modulate_fwd);
    AVK_BACKEND_OP(modulate_bwd);
    AVK_BACKEND_OP(gated_residual_fwd);
    AVK_BACKEND_OP(gated_residual_bwd);
    AVK_BACKEND_OP(timestep_embed);
    AVK_BACKEND_OP(rope_fwd);
    AVK_BACKEND_OP(rope_bwd);
    AVK_BACKEND_OP(patchify_fwd);
    AVK_BACKEND_OP(patchify_bwd);
    AVK_BACKEND_OP(unpatchify_fwd);
    AVK_BACKEND_OP(unpatchify_bwd);
    AVK_BACKEND_OP(upsample_nearest_fwd);
    AVK_BACKEND_OP(upsample_nearest_bwd);
    AVK_BACKEND_OP(avgpool_fwd);
    AVK_BACKEND_OP(avgpool_bwd);
    AVK_BACKEND_OP(clamp_fwd);
    AVK_BACKEND_OP(clamp_bwd);
    AVK_BACKEND_OP(split_channels_fwd);
    AVK_BACKEND_OP(split_channels_bwd);
    AVK_BACKEND_OP(mse_loss);
    AVK_BACKEND_OP(l1_loss);
    AVK_BACKEND_OP(kl_gaussian_loss);
    AVK_BACKEND_OP(gaussian_sample_fwd);
    AVK_BACKEND_OP(gaussian_sample_bwd);
    AVK_BACKEND_OP(adamw_step);
    AVK_BACKEND_OP(grad_global_norm);
    AVK_BACKEND_OP(grad_clip);
} avk_backend;

/* The operator entries by name, in the table's order, for filling a table:
 * AVK_BACKEND_OPS(X) expands X(name) once an entry, so a backend writes
 * the list once (backend_cpu.c, cuda/backend_cuda.c). */
#define AVK_BACKEND_OPS(X) \
    X(add_inplace) X(add) X(axpy) X(scale) X(sumsq) X(find_nonfinite) \
    X(permute) X(permute_acc) X(gemm) X(linear_fwd) X(linear_bwd) \
    X(embedding_fwd) X(embedding_bwd) X(conv2d_fwd) X(conv2d_bwd) \
    X(groupnorm_fwd) X(groupnorm_bwd) X(layernorm_fwd) X(layernorm_bwd) \
    X(rmsnorm_fwd) X(rmsnorm_bwd) X(silu_fwd) X(silu_bwd) X(gelu_fwd) \
    X(gelu_bwd) X(softmax_fwd) X(softmax_bwd) X(attention_fwd) \
    X(attention_bwd) X(modulate_fwd) X(modulate_bwd) X(gated_residual_fwd) \
    X(gated_residual_bwd) X(timestep_embed) X(rope_fwd) X(rope_bwd) \
    X(patchify_fwd) X(patchify_bwd) X(unpatchify_fwd) X(unpatchify_bwd) \
    X(upsample_nearest_fwd) X(upsample_nearest_bwd) X(avgpool_fwd) \
    X(avgpool_bwd) X(clamp_fwd) X(clamp_bwd) X(split_channels_fwd) \
    X(split_channels_bwd) X(mse_loss) X(l1_loss) X(kl_gaussian_loss) \
    X(gaussian_sample_fwd) X(gaussian_sample_bwd) X(adamw_step) \
    X(grad_global_norm) X(grad_clip)


/* The CPU backend: always built; its entries are the functions above. */
const avk_backend *avk_backend_cpu(void);
/* A backend by name ("cpu", "cuda"); NULL with the error set when the name
 * is unknown or that backend is not built into this library. */
const avk_backend *avk_backend_find(const char *name);
/* The names of the backends built in, comma-separated ("cpu"). */
const char *avk_backend_names(void);

#endif
