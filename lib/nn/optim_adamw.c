/* AdamW as torch.optim.AdamW (single-tensor path of PyTorch 1.13), and
 * global-norm gradient clipping as torch.nn.utils.clip_grad_norm_. The
 * scalar factors are computed in double and rounded to float, as PyTorch
 * passes Python floats to float kernels, so steps match it to rounding. */
#include "avkit/nn/ops.h"
#include "ops_util.h"

#include <math.h>

avk_adamw avk_adamw_defaults(void)
{
    avk_adamw o = {1e-3, 0.9, 0.999, 1e-8, 1e-2};
    return o;
}

/* The scalars of one step as PyTorch forms them: Python-float arithmetic
 * in double, each rounded to float where it meets a float tensor. */
typedef struct adamw_scalars {
    float decay, b1, omb1, b2, omb2, neg_step, bc2s, eps;
} adamw_scalars;

static adamw_scalars adamw_prepare(const avk_adamw *o, int64_t step)
{
    adamw_scalars c;
    double bc1 = 1.0 - pow(o->beta1, (double)step), bc2 = 1.0 - pow(o->beta2, (double)step);
    c.decay = (float)(1.0 - o->lr * o->weight_decay);
    c.b1 = (float)o->beta1;
    c.omb1 = (float)(1.0 - o->beta1);
    c.b2 = (float)o->beta2;
    c.omb2 = (float)(1.0 - o->beta2);
    c.neg_step = (float)(-(o->lr / bc1));
    c.bc2s = (float)sqrt(bc2);
    c.eps = (float)o->eps;
    return c;
}

/* p = p*decay; m = m*b1 + (1-b1)*g; v = v*b2 + (1-b2)*g*g;
 * p = p + (-step_size * m) / (sqrt(v)/sqrt(bc2) + eps), in that order
 * (torch's mul_, add_, addcmul_, addcdiv_). */
AVK_CLONES static void adamw_k(float *p, const float *g, float *m, float *v, int64_t n,
                               adamw_scalars c)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float pi = p[i] * c.decay;
        float mi = m[i] * c.b1 + c.omb1 * g[i];
        float vi = v[i] * c.b2 + c.omb2 * g[i] * g[i];
        float denom = sqrtf(vi) / c.bc2s + c.eps;
        p[i] = pi + c.neg_step * mi / denom;
        m[i] = mi;
        v[i] = vi;
    }
}

void avk_adamw_step(const avk_adamw *o, int64_t step, float *p, const float *g,
                    float *m, float *v, int64_t n)
{
    adamw_scalars c = adamw_prepare(o, step);
    const int64_t CH = 16384;
#pragma omp parallel for schedule(static) if (n >= AVK_PAR_MIN)
    for (int64_t i = 0; i < n; i += CH)
        adamw_k(p + i, g + i, m + i, v + i, n - i < CH ? n - i : CH, c);
}

/* The same update, one statement per PyTorch tensor operation. */
void avk_adamw_step_ref(const avk_adamw *o, int64_t step, float *p, const float *g,
                        float *m, float *v, int64_t n)
{
    adamw_scalars c = adamw_prepare(o, step);
    for (int64_t i = 0; i < n; i++) {
        p[i] *= c.decay;
        m[i] *= c.b1;
        m[i] += c.omb1 * g[i];
        v[i] *= c.b2;
        v[i] += c.omb2 * g[i] * g[i];
        float denom = sqrtf(v[i]) / c.bc2s + c.eps;
        p[i] += c.neg_step * m[i] / denom;
    }
}

double avk_grad_global_norm(float *const *grads, const int64_t *ns, int count)
{
    double s = 0;
    for (int i = 0; i < count; i++)
        s += avk_sumsq(grads[i], ns[i]);
    return sqrt(s);
}

double avk_grad_clip(float *const *grads, const int64_t *ns, int count, double max_norm)
{
    double norm = avk_grad_global_norm(grads, ns, count);
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0)
        for (int i = 0; i < count; i++)
            avk_scale(grads[i], (float)coef, ns[i]);
    return norm;
}
