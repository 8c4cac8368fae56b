/* Rectified-flow sampling: shifted schedule, Euler, Heun and a two-step
 * Adams-Bashforth multistep. See include/avkit/diffusion/flow.h. */
#include "avkit/diffusion/flow.h"
#include "avkit/nn/tensor.h"
#include "avkit/util/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* t' = s t / (1 + (s - 1) t): the same map shifts training's t. */
double avk_flow_shift(double t, double shift)
{
    return shift * t / (1.0 + (shift - 1.0) * t);
}

/* Uniform steps in t from 1 to 0, each shifted; the ends stay 1 and 0. */
void avk_flow_timesteps(double *ts, int steps, double shift)
{
    for (int i = 0; i <= steps; i++)
        ts[i] = avk_flow_shift(1.0 - (double)i / steps, shift);
    ts[0] = 1.0;
    ts[steps] = 0.0;
}

int avk_flow_solver_parse(const char *name)
{
    if (!strcmp(name, "euler"))
        return AVK_FLOW_EULER;
    if (!strcmp(name, "heun"))
        return AVK_FLOW_HEUN;
    if (!strcmp(name, "ab2"))
        return AVK_FLOW_AB2;
    return -1;
}

const char *avk_flow_solver_name(avk_flow_solver s)
{
    return s == AVK_FLOW_HEUN ? "heun" : s == AVK_FLOW_AB2 ? "ab2" : "euler";
}

/* Heun evaluates twice a step except on the last (to t = 0 it takes the
 * Euler step: the corrector would evaluate the model at t = 0). */
int avk_flow_evals(avk_flow_solver s, int steps)
{
    return s == AVK_FLOW_HEUN ? 2 * steps - 1 : steps;
}

/* x += h * v over n floats (double arithmetic, rounded once). */
static void axpy(float *x, double h, const float *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(x[i] + h * v[i]);
}

/* Euler: x_{t'} = x_t + (t' - t) v(x_t, t). */
static int sample_euler(const double *ts, int steps, avk_velocity_fn fn, void *ctx, float *x,
                        int64_t n)
{
    float *v = avk_falloc(n);
    int rc = 0;
    for (int i = 0; i < steps && rc == 0; i++) {
        rc = fn(ctx, x, ts[i], v, n, i);
        if (rc == 0)
            axpy(x, ts[i + 1] - ts[i], v, n);
    }
    avk_ffree(v);
    return rc;
}

/* Heun: the Euler prediction, then the step with the mean of the
 * velocities at both ends (the trapezoidal rule). */
static int sample_heun(const double *ts, int steps, avk_velocity_fn fn, void *ctx, float *x,
                       int64_t n)
{
    float *v1 = avk_falloc(n), *v2 = avk_falloc(n), *xp = avk_falloc(n);
    int rc = 0, eval = 0;
    for (int i = 0; i < steps && rc == 0; i++) {
        double h = ts[i + 1] - ts[i];
        rc = fn(ctx, x, ts[i], v1, n, eval++);
        if (rc)
            break;
        if (ts[i + 1] <= 0.0) {
            axpy(x, h, v1, n);
            break;
        }
        for (int64_t j = 0; j < n; j++)
            xp[j] = (float)(x[j] + h * v1[j]);
        rc = fn(ctx, xp, ts[i + 1], v2, n, eval++);
        if (rc == 0)
            for (int64_t j = 0; j < n; j++)
                x[j] = (float)(x[j] + 0.5 * h * ((double)v1[j] + v2[j]));
    }
    avk_ffree(v1);
    avk_ffree(v2);
    avk_ffree(xp);
    return rc;
}

/* Two-step Adams-Bashforth in t: the velocity over the step is
 * extrapolated from the last two evaluations,
 * x_{n+1} = x_n + h_n [(1 + r/2) v_n - (r/2) v_{n-1}], r = h_n / h_{n-1},
 * which is second order with one evaluation a step (the multistep idea of
 * DPM-Solver++(2M), taken in t rather than in log-SNR: the log-SNR steps of
 * a uniform-t schedule do not shrink at the two ends, and the solver then
 * stops converging). The first step is Euler's. */
static int sample_ab2(const double *ts, int steps, avk_velocity_fn fn, void *ctx, float *x,
                      int64_t n)
{
    /* vprev starts at zeros: the first step multiplies it by 0, and 0 times
     * an uninitialized Inf or NaN would poison the sample */
    float *v = avk_falloc(n), *vprev = avk_fzeros(n);
    int rc = 0;
    double h_prev = 0.0;
    for (int i = 0; i < steps && rc == 0; i++) {
        double h = ts[i + 1] - ts[i];
        rc = fn(ctx, x, ts[i], v, n, i);
        if (rc)
            break;
        double c = i > 0 ? 0.5 * h / h_prev : 0.0;
        for (int64_t j = 0; j < n; j++)
            x[j] = (float)(x[j] + h * ((1.0 + c) * v[j] - c * vprev[j]));
        h_prev = h;
        float *tmp = vprev;
        vprev = v;
        v = tmp;
    }
    avk_ffree(v);
    avk_ffree(vprev);
    return rc;
}

int avk_flow_sample(avk_flow_solver solver, int steps, double shift, avk_velocity_fn fn,
                    void *ctx, float *x, int64_t n)
{
    if (steps < 1)
        return avk_error("sampling needs at least one step (got %d)", steps);
    if (!(shift > 0.0) || !isfinite(shift))
        return avk_error("the timestep shift must be a positive number (got %g)", shift);
    double *ts = avk_xmalloc(((size_t)steps + 1) * sizeof *ts);
    avk_flow_timesteps(ts, steps, shift);
    int rc;
    switch (solver) {
    case AVK_FLOW_HEUN:
        rc = sample_heun(ts, steps, fn, ctx, x, n);
        break;
    case AVK_FLOW_AB2:
        rc = sample_ab2(ts, steps, fn, ctx, x, n);
        break;
    default:
        rc = sample_euler(ts, steps, fn, ctx, x, n);
        break;
    }
    free(ts);
    return rc;
}
