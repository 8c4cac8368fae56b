/* Losses (MSE, L1, KL of a diagonal Gaussian against N(0,1)) with their
 * gradients, and the reparameterized Gaussian sample of the VAE latent. */
#include "avkit/nn/ops.h"
#include "ops_util.h"

#include <math.h>

/* Deterministic sums: the range is cut into at most RED_PARTS parts of at
 * least RED_MIN elements, each part is summed in order (in parallel), and
 * the parts are added in index order, so the result depends only on n,
 * never on which thread finishes first (nor on the thread count). */
#define RED_PARTS 64
#define RED_MIN 4096

static int red_parts(int64_t n)
{
    int64_t p = (n + RED_MIN - 1) / RED_MIN;
    return p < 1 ? 1 : p > RED_PARTS ? RED_PARTS : (int)p;
}

static double red_total(const double *part, int np)
{
    double s = 0;
    for (int k = 0; k < np; k++)
        s += part[k];
    return s;
}

double avk_mse_loss(float *grad, const float *pred, const float *target, int64_t n, float gscale)
{
    float k = (float)(2.0 * gscale / (double)n);
    double part[RED_PARTS];
    int np = red_parts(n);
#pragma omp parallel for schedule(static) if (n >= AVK_PAR_MIN)
    for (int p = 0; p < np; p++) {
        double s = 0;
        for (int64_t i = n * p / np; i < n * (p + 1) / np; i++) {
            float d = pred[i] - target[i];
            s += (double)d * d;
            if (grad)
                grad[i] += k * d;
        }
        part[p] = s;
    }
    return red_total(part, np) / (double)n;
}

double avk_l1_loss(float *grad, const float *pred, const float *target, int64_t n, float gscale)
{
    float k = (float)(gscale / (double)n);
    double part[RED_PARTS];
    int np = red_parts(n);
#pragma omp parallel for schedule(static) if (n >= AVK_PAR_MIN)
    for (int p = 0; p < np; p++) {
        double s = 0;
        for (int64_t i = n * p / np; i < n * (p + 1) / np; i++) {
            float d = pred[i] - target[i];
            s += fabs((double)d);
            if (grad)
                grad[i] += d > 0 ? k : d < 0 ? -k : 0.0f;
        }
        part[p] = s;
    }
    return red_total(part, np) / (double)n;
}

/* d/dmean = mean / norm, d/dlogvar = (exp(logvar) - 1) / (2 norm). */
double avk_kl_gaussian_loss(float *dmean, float *dlogvar, const float *mean,
                            const float *logvar, int64_t n, double norm, float gscale)
{
    float k = (float)(gscale / norm);
    double part[RED_PARTS];
    int np = red_parts(n);
#pragma omp parallel for schedule(static) if (n >= AVK_PAR_MIN)
    for (int p = 0; p < np; p++) {
        double s = 0;
        for (int64_t i = n * p / np; i < n * (p + 1) / np; i++) {
            double m = mean[i], lv = logvar[i], e = exp(lv);
            s += m * m + e - 1.0 - lv;
            if (dmean)
                dmean[i] += k * mean[i];
            if (dlogvar)
                dlogvar[i] += (float)(0.5 * (e - 1.0)) * k;
        }
        part[p] = s;
    }
    return 0.5 * red_total(part, np) / norm;
}

void avk_gaussian_sample_fwd(float *z, const float *mean, const float *logvar,
                             const float *eps, int64_t n)
{
#pragma omp parallel for schedule(static) if (n >= AVK_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float lv = logvar[i] < -30.0f ? -30.0f : logvar[i] > 20.0f ? 20.0f : logvar[i];
        z[i] = mean[i] + expf(0.5f * lv) * eps[i];
    }
}

void avk_gaussian_sample_bwd(float *dmean, float *dlogvar, const float *dz,
                             const float *logvar, const float *eps, int64_t n)
{
#pragma omp parallel for schedule(static) if (n >= AVK_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        if (dmean)
            dmean[i] += dz[i];
        if (dlogvar && logvar[i] >= -30.0f && logvar[i] <= 20.0f)
            dlogvar[i] += dz[i] * eps[i] * 0.5f * expf(0.5f * logvar[i]);
    }
}
