/* AdamW as torch.optim.AdamW (single-tensor path of PyTorch 1.13), and
 * global-norm gradient clipping as torch.nn.utils.clip_grad_norm_. The
 * scalar factors are computed in double and rounded to float, as PyTorch
 * passes Python floats to float kernels, so steps match it to rounding. */
#include "avkit/ops.h"
#include "ops_util.h"

#include <math.h>

avk_adamw avk_adamw_defaults(void)
{
    avk_adamw o = {1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f};
    return o;
}

AVK_CLONES static void adamw_k(float *p, const float *g, float *m, float *v, int64_t n,
                               float decay, float b1, float b2, float step_size, float bc2s,
                               float eps)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float pi = p[i] * decay;
        float mi = m[i] * b1 + g[i] * (1.0f - b1);
        float vi = v[i] * b2 + g[i] * g[i] * (1.0f - b2);
        float denom = sqrtf(vi) / bc2s + eps;
        p[i] = pi - step_size * (mi / denom);
        m[i] = mi;
        v[i] = vi;
    }
}

void avk_adamw_step(const avk_adamw *o, int64_t step, float *p, const float *g,
                    float *m, float *v, int64_t n)
{
    float decay = (float)(1.0 - (double)o->lr * o->weight_decay);
    double bc1 = 1.0 - pow(o->beta1, (double)step), bc2 = 1.0 - pow(o->beta2, (double)step);
    float step_size = (float)(o->lr / bc1), bc2s = (float)sqrt(bc2);
    const int64_t CH = 16384;
#pragma omp parallel for schedule(static) if (n >= AVK_PAR_MIN)
    for (int64_t i = 0; i < n; i += CH)
        adamw_k(p + i, g + i, m + i, v + i, n - i < CH ? n - i : CH, decay, o->beta1, o->beta2,
                step_size, bc2s, o->eps);
}

/* The same update written out with the same float operations in order. */
void avk_adamw_step_ref(const avk_adamw *o, int64_t step, float *p, const float *g,
                        float *m, float *v, int64_t n)
{
    float decay = (float)(1.0 - (double)o->lr * o->weight_decay);
    double bc1 = 1.0 - pow(o->beta1, (double)step), bc2 = 1.0 - pow(o->beta2, (double)step);
    float step_size = (float)(o->lr / bc1), bc2s = (float)sqrt(bc2);
    for (int64_t i = 0; i < n; i++) {
        p[i] *= decay;
        m[i] = m[i] * o->beta1 + g[i] * (1.0f - o->beta1);
        v[i] = v[i] * o->beta2 + g[i] * g[i] * (1.0f - o->beta2);
        p[i] -= step_size * (m[i] / (sqrtf(v[i]) / bc2s + o->eps));
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
