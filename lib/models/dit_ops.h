/* The one place where the DiT calls its matrix products: every linear
 * layer and every attention of the model goes through these, so the
 * model's precision (m->precision) switches here without touching the
 * model code: fp32, the operators of avkit/nn/ops.h; bf16, those of
 * avkit/nn/ops_bf16.h (same signatures; bf16 operands with f32
 * accumulation and f32 softmax statistics, the kernel chosen by the
 * CPU). Bias, norms, activations and everything else stay f32 in the
 * model code either way. */
#ifndef AVKIT_DIT_OPS_H
#define AVKIT_DIT_OPS_H

#include <string.h>
#include "avkit/nn/ops.h"
#include "avkit/nn/ops_bf16.h"
#include "avkit/models/dit.h"

/* Add dt seconds and one call to a profile counter (dit_prof.c): from
 * the threads of a batch run in groups (dit_split.c), each group's time
 * counts as its share of the step. */
void dit_prof_add(double *seconds, long *calls, double dt);

/* Time a product into the profile counter `which` (gemm or attn) when
 * avk_dit_prof_enable turned counting on. */
#define DIT_TIMED(which, call)                                         \
    do {                                                               \
        if (__builtin_expect(avk_dit_prof_on, 0)) {                    \
            double t0_ = avk_dit_prof_clock();                         \
            call;                                                      \
            dit_prof_add(&avk_dit_prof_acc.which##_s,                  \
                         &avk_dit_prof_acc.which##_n,                  \
                         avk_dit_prof_clock() - t0_);                  \
        } else {                                                       \
            call;                                                      \
        }                                                              \
    } while (0)

static inline void dit_linear_fwd(const avk_dit *m, float *y, const float *x, const float *w,
                                  const float *b, int64_t M, int64_t K, int64_t N)
{
    if (m->precision == AVK_DIT_BF16)
        DIT_TIMED(gemm, avk_linear_bf16_fwd(y, x, w, b, M, K, N));
    else
        DIT_TIMED(gemm, avk_linear_fwd(y, x, w, b, M, K, N));
}

static inline void dit_linear_bwd(const avk_dit *m, float *dx, float *dw, float *db,
                                  const float *dy, const float *x, const float *w, int64_t M,
                                  int64_t K, int64_t N)
{
    if (m->precision == AVK_DIT_BF16)
        DIT_TIMED(gemm, avk_linear_bf16_bwd(dx, dw, db, dy, x, w, M, K, N));
    else
        DIT_TIMED(gemm, avk_linear_bwd(dx, dw, db, dy, x, w, M, K, N));
}

/* Whether the model's products run as fp32 operators: fp32, or bf16 on
 * the fp32 fallback (the same operators; the paths below that exist for
 * fp32 take both, so that the fallback keeps fp32's bits). */
static inline int dit_fp32_products(const avk_dit *m)
{
    return m->precision == AVK_DIT_FP32 || avk_bf16_get_kernel() == AVK_BF16_FP32;
}

/* As dit_linear_bwd, reading the input from xp, rows ldp apart, where the
 * caller made that copy (only under dit_fp32_products), else from x. */
static inline void dit_linear_bwd_xp(const avk_dit *m, float *dx, float *dw, float *db,
                                     const float *dy, const float *x, const float *xp,
                                     int64_t ldp, const float *w, int64_t M, int64_t K,
                                     int64_t N)
{
    if (!xp)
        dit_linear_bwd(m, dx, dw, db, dy, x, w, M, K, N);
    else
        DIT_TIMED(gemm, avk_linear_bwd_ldx(dx, dw, db, dy, xp, ldp, w, M, K, N));
}

/* As dit_linear_bwd, but dx is written, not added to (bf16: zeroed, then
 * the accumulating call). */
static inline void dit_linear_bwd_set(const avk_dit *m, float *dx, float *dw, float *db,
                                      const float *dy, const float *x, const float *w,
                                      int64_t M, int64_t K, int64_t N)
{
    if (m->precision == AVK_DIT_BF16) {
        memset(dx, 0, (size_t)(M * K) * sizeof(float));
        DIT_TIMED(gemm, avk_linear_bf16_bwd(dx, dw, db, dy, x, w, M, K, N));
    } else {
        DIT_TIMED(gemm, avk_linear_bwd_set(dx, dw, db, dy, x, w, M, K, N));
    }
}

static inline void dit_attention_fwd(const avk_dit *m, float *o, float *lse, const float *q,
                                     const float *k, const float *v, const avk_attn *a)
{
    if (m->precision == AVK_DIT_BF16)
        DIT_TIMED(attn, avk_attention_bf16_fwd(o, lse, q, k, v, a));
    else
        DIT_TIMED(attn, avk_attention_fwd(o, lse, q, k, v, a));
}

static inline void dit_attention_bwd(const avk_dit *m, float *dq, float *dk, float *dv,
                                     const float *dout, const float *q, const float *k,
                                     const float *v, const float *o, const float *lse,
                                     const avk_attn *a)
{
    if (m->precision == AVK_DIT_BF16)
        DIT_TIMED(attn, avk_attention_bf16_bwd(dq, dk, dv, dout, q, k, v, o, lse, a));
    else
        DIT_TIMED(attn, avk_attention_bwd(dq, dk, dv, dout, q, k, v, o, lse, a));
}

#endif
