/* The one place where the DiT calls its matrix products: every linear
 * layer and every attention of the model goes through these, so a second
 * precision (the bf16 operators of avkit/nn/ops_bf16.h, which have the
 * same signatures) or a second backend switches here, per model, without
 * touching the model code. Today: the fp32 operators of avkit/nn/ops.h. */
#ifndef AVKIT_DIT_OPS_H
#define AVKIT_DIT_OPS_H

#include "avkit/nn/ops.h"
#include "avkit/models/dit.h"

static inline void dit_linear_fwd(const avk_dit *m, float *y, const float *x, const float *w,
                                  const float *b, int64_t M, int64_t K, int64_t N)
{
    (void)m;
    avk_linear_fwd(y, x, w, b, M, K, N);
}

static inline void dit_linear_bwd(const avk_dit *m, float *dx, float *dw, float *db,
                                  const float *dy, const float *x, const float *w, int64_t M,
                                  int64_t K, int64_t N)
{
    (void)m;
    avk_linear_bwd(dx, dw, db, dy, x, w, M, K, N);
}

static inline void dit_attention_fwd(const avk_dit *m, float *o, float *lse, const float *q,
                                     const float *k, const float *v, const avk_attn *a)
{
    (void)m;
    avk_attention_fwd(o, lse, q, k, v, a);
}

static inline void dit_attention_bwd(const avk_dit *m, float *dq, float *dk, float *dv,
                                     const float *dout, const float *q, const float *k,
                                     const float *v, const float *o, const float *lse,
                                     const avk_attn *a)
{
    (void)m;
    avk_attention_bwd(dq, dk, dv, dout, q, k, v, o, lse, a);
}

#endif
