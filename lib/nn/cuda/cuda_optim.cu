/* AdamW and the global gradient norm on the device. The step's scalars
 * are formed on the host exactly as the CPU version forms them (double
 * arithmetic rounded to float, as PyTorch), so each element sees the same
 * float operations in the same order. CPU reference: optim_adamw.c. */
#include "cuda_common.cuh"
#include "cuda_ops.h"

#include <math.h>

struct adamw_scalars {
    float decay, b1, omb1, b2, omb2, neg_step, bc2s, eps;
};

/* p = p*decay; m = m*b1 + (1-b1) g; v = v*b2 + (1-b2) g g;
 * p += -step * m / (sqrt(v)/sqrt(bc2) + eps). Plain multiplies and adds
 * (no fused multiply-add) so the bits follow the reference's order. */
__global__ void adamw_kernel(float *p, const float *g, float *m, float *v, int64_t n,
                             adamw_scalars c)
{
    GRID_STRIDE(i, n) {
        float gi = g[i];
        float pi = __fmul_rn(p[i], c.decay);
        float mi = __fadd_rn(__fmul_rn(m[i], c.b1), __fmul_rn(c.omb1, gi));
        float vi = __fadd_rn(__fmul_rn(v[i], c.b2), __fmul_rn(__fmul_rn(c.omb2, gi), gi));
        float denom = __fadd_rn(__fdiv_rn(sqrtf(vi), c.bc2s), c.eps);
        p[i] = __fadd_rn(pi, __fdiv_rn(__fmul_rn(c.neg_step, mi), denom));
        m[i] = mi;
        v[i] = vi;
    }
}

void avkc_adamw_step(const avk_adamw *o, int64_t step, float *p, const float *g,
                                float *m, float *v, int64_t n)
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
    if (n <= 0)
        return;
    adamw_kernel<<<avkc_blocks(n), AVKC_THREADS, 0, avkc_stream>>>(p, g, m, v, n, c);
    CU_LAUNCHED();
}

/* All buffers' squares into one device double, one read back at the end. */
double avkc_grad_global_norm(float *const *grads, const int64_t *ns, int count)
{
    double *acc = avkc_accum();
    for (int i = 0; i < count; i++)
        avkc_sumsq_into(acc, grads[i], ns[i]);
    return sqrt(avkc_take_double(acc));
}

double avkc_grad_clip(float *const *grads, const int64_t *ns, int count,
                                 double max_norm)
{
    double norm = avkc_grad_global_norm(grads, ns, count);
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0)
        for (int i = 0; i < count; i++)
            avkc_scale(grads[i], (float)coef, ns[i]);
    return norm;
}
