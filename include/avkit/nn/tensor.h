/* avkit compute core, part 1: the f32 tensor type, aligned buffers, a
 * seeded random number generator and small elementwise helpers.
 *
 * Design (see also ops.h): the compute core follows the style of llm.c.
 * There is no autograd graph. Every operator is a pair of plain functions,
 * `avk_OP_fwd` and `avk_OP_bwd`, over float pointers and explicit shapes;
 * a model calls the forward functions in order, keeps the activations it
 * needs, and calls the backward functions in reverse order. This keeps
 * memory explicit (a model knows every buffer it holds, so activation
 * recomputation and offload are ordinary code), makes each operator
 * testable on its own, and leaves nothing hidden for a CUDA backend to
 * mirror. The avk_tensor type below is a convenience for owning a buffer
 * with its shape (and optionally its gradient); the operators themselves
 * take raw pointers, so a model may keep all of its parameters in one flat
 * buffer (one AdamW call, one all-reduce) and point into it.
 */
#ifndef AVKIT_TENSOR_H
#define AVKIT_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define AVK_MAX_DIMS 8

/* ---- aligned float buffers ------------------------------------------- */

/* A 64-byte aligned buffer of n floats, uninitialized / zeroed. Dies with
 * "out of memory" on failure (as avk_xmalloc). Free with avk_ffree. */
float *avk_falloc(int64_t n);
float *avk_fzeros(int64_t n);
void avk_ffree(float *p);

/* ---- random numbers -------------------------------------------------- */

/* xoshiro256** seeded through splitmix64: fast, repeatable for a seed on
 * every platform (no libc rand). */
typedef struct avk_rng {
    uint64_t s[4];
    int have_spare;          /* Box-Muller keeps its second normal */
    float spare;
} avk_rng;

void avk_rng_seed(avk_rng *r, uint64_t seed);
uint64_t avk_rng_u64(avk_rng *r);
/* Uniform in [0, 1) with 24 random bits. */
float avk_rng_uniform(avk_rng *r);
/* Standard normal (Box-Muller). */
float avk_rng_normal(avk_rng *r);
/* Fill p[0..n) with mean + std * N(0,1) / with uniform in [lo, hi). */
void avk_fill_randn(float *p, int64_t n, avk_rng *r, float mean, float std);
void avk_fill_uniform(float *p, int64_t n, avk_rng *r, float lo, float hi);

/* ---- the tensor type ------------------------------------------------- */

/* A contiguous row-major f32 tensor. `data` is owned unless the tensor is
 * a view (owns_data = 0). `grad`, when not NULL, has the same shape and is
 * owned by the tensor; operators never allocate it, a model asks for it
 * with avk_tensor_grad(). */
typedef struct avk_tensor {
    int     ndim;
    int64_t shape[AVK_MAX_DIMS];
    int64_t numel;
    float  *data;
    float  *grad;
    int     owns_data;
} avk_tensor;

/* A new zeroed tensor of the given shape; NULL with error set when the
 * shape is invalid (ndim outside 0..8, a negative dimension, overflow). */
avk_tensor *avk_tensor_new(int ndim, const int64_t *shape);
/* Shorthands for 1 to 5 dimensions. */
avk_tensor *avk_tensor_1d(int64_t a);
avk_tensor *avk_tensor_2d(int64_t a, int64_t b);
avk_tensor *avk_tensor_3d(int64_t a, int64_t b, int64_t c);
avk_tensor *avk_tensor_4d(int64_t a, int64_t b, int64_t c, int64_t d);
avk_tensor *avk_tensor_5d(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e);
/* A tensor that points at someone else's data (not freed by it). */
avk_tensor *avk_tensor_view(float *data, int ndim, const int64_t *shape);
void avk_tensor_free(avk_tensor *t);
/* Its gradient buffer, allocated zeroed on first use. */
float *avk_tensor_grad(avk_tensor *t);
void avk_tensor_zero_grad(avk_tensor *t);
/* Fill with N(0, std^2) / zeros / a constant. */
void avk_tensor_randn(avk_tensor *t, avk_rng *r, float std);
void avk_tensor_zero(avk_tensor *t);
void avk_tensor_fill(avk_tensor *t, float v);
/* Copy data (shapes must have the same number of elements); -1 if not. */
int avk_tensor_copy(avk_tensor *dst, const avk_tensor *src);
/* Change the shape in place keeping the data; -1 (error set) when the
 * number of elements differs. */
int avk_tensor_reshape(avk_tensor *t, int ndim, const int64_t *shape);
/* Same shape? */
int avk_tensor_same_shape(const avk_tensor *a, const avk_tensor *b);
/* "[2, 3, 4]" into buf (for error messages). */
const char *avk_shape_str(char *buf, size_t size, int ndim, const int64_t *shape);
/* Product of dims; -1 on a negative dimension or overflow. */
int64_t avk_shape_numel(int ndim, const int64_t *shape);

/* ---- elementwise helpers (OpenMP over large n) ----------------------- */

/* y[i] += x[i] */
void avk_add_inplace(float *y, const float *x, int64_t n);
/* y[i] = a[i] + b[i]  (y may alias a or b) */
void avk_add(float *y, const float *a, const float *b, int64_t n);
/* y[i] += alpha * x[i] */
void avk_axpy(float *y, float alpha, const float *x, int64_t n);
/* y[i] *= alpha */
void avk_scale(float *y, float alpha, int64_t n);
/* Sum of squares in double (for norms). */
double avk_sumsq(const float *x, int64_t n);
/* Index of the first NaN or Inf, or -1 when all finite. */
int64_t avk_find_nonfinite(const float *x, int64_t n);

/* Permute the axes of a contiguous tensor: out has shape
 * shape[perm[0]], ..., shape[perm[ndim-1]], and
 * out[i_perm0, ...] = in[i_0, ...]. The backward of a permutation is the
 * inverse permutation; avk_permute_acc adds into out instead of writing,
 * for accumulating gradients. ndim <= 8; out must not alias in. */
void avk_permute(float *out, const float *in, int ndim, const int64_t *shape, const int *perm);
void avk_permute_acc(float *out, const float *in, int ndim, const int64_t *shape, const int *perm);
/* The inverse permutation: inv[perm[i]] = i. */
void avk_perm_inverse(int *inv, const int *perm, int ndim);

#endif
