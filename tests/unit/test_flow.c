/* Rectified-flow samplers (lib/diffusion/flow.c) on a flow whose exact
 * velocity is known: data x0 ~ N(mu, s^2) per coordinate. Then
 * x_t ~ N((1-t) mu, (1-t)^2 s^2 + t^2), and the velocity E[eps - x0 | x_t]
 * is linear in x_t, so a perfect solver maps N(0, 1) noise to N(mu, s^2)
 * exactly. Each solver's samples must reproduce the target mean and
 * variance; the second-order solvers at 20 steps must be closer than Euler
 * at 50. */
#include "avkit/diffusion/flow.h"
#include "avkit/nn/tensor.h"
#include "avkit/util/common.h"
#include "tap.h"

#include <math.h>
#include <string.h>

typedef struct gauss {
    double mu, s;
    int calls;
} gauss;

/* v(x, t) = E[eps | x_t] - E[x0 | x_t] for Gaussian data. */
static int gauss_velocity(void *ctx, const float *x, double t, float *v, int64_t n, int eval)
{
    gauss *g = ctx;
    g->calls++;
    double m = (1 - t) * g->mu, var = (1 - t) * (1 - t) * g->s * g->s + t * t;
    for (int64_t i = 0; i < n; i++) {
        double d = x[i] - m;
        double e_eps = t / var * d, e_x0 = g->mu + (1 - t) * g->s * g->s / var * d;
        v[i] = (float)(e_eps - e_x0);
    }
    return 0;
}

static int failing_velocity(void *ctx, const float *x, double t, float *v, int64_t n, int eval)
{
    return eval == 2 ? avk_error("model failed at evaluation %d", eval) : gauss_velocity(ctx, x, t, v, n, eval);
}

/* Mean and variance error of samples against N(mu, s^2), relative to s and
 * s^2; the ODE is deterministic, so what remains is the solver's error
 * (the noise's own sampling error is removed by using the same noise for
 * the exact map x0 = mu + s eps). */
static double run(avk_flow_solver solver, int steps, double shift, double *mean_err,
                  double *var_err, int *calls)
{
    const int64_t n = 200000;
    gauss g = {0.7, 0.3, 0};
    float *x = avk_falloc(n), *eps = avk_falloc(n);
    avk_rng r;
    avk_rng_seed(&r, 42);
    avk_fill_randn(eps, n, &r, 0.0f, 1.0f);
    memcpy(x, eps, (size_t)n * 4);
    int rc = avk_flow_sample(solver, steps, shift, gauss_velocity, &g, x, n);
    double se = 0, sm = 0, sv = 0, em = 0, ev = 0;
    for (int64_t i = 0; i < n; i++) {
        double exact = g.mu + g.s * eps[i];
        se += (x[i] - exact) * (x[i] - exact);
        sm += x[i];
        em += exact;
    }
    sm /= n;
    em /= n;
    for (int64_t i = 0; i < n; i++) {
        double exact = g.mu + g.s * eps[i];
        sv += (x[i] - sm) * (x[i] - sm);
        ev += (exact - em) * (exact - em);
    }
    *mean_err = fabs(sm - em) / g.s;
    *var_err = fabs(sv - ev) / ev;
    *calls = g.calls;
    avk_ffree(x);
    avk_ffree(eps);
    return rc == 0 ? sqrt(se / n) / g.s : -1;
}

int main(void)
{
    double me, ve, rms;
    int calls;

    double ts[5];
    avk_flow_timesteps(ts, 4, 1.0);
    ok(ts[0] == 1.0 && ts[2] == 0.5 && ts[4] == 0.0, "unshifted timesteps are uniform from 1 to 0");
    avk_flow_timesteps(ts, 4, 3.0);
    ok(ts[0] == 1.0 && fabs(ts[2] - 0.75) < 1e-12 && ts[4] == 0.0,
       "shift 3 moves t = 0.5 to 3*0.5/(1+2*0.5) = 0.75: %.6f", ts[2]);

    /* Euler is first order; the second-order solvers at 20 steps must be
     * closer to the exact map than Euler at 50 (the data is narrow,
     * s = 0.3, so the flow bends near t = 0 and first order shows) */
    double euler50 = run(AVK_FLOW_EULER, 50, 1.0, &me, &ve, &calls);
    ok(euler50 >= 0 && me < 1e-3 && ve < 0.10 && calls == 50,
       "Euler, 50 steps: mean off by %.2e s, variance by %.2e (< 10%%), rms %.2e s, %d evaluations",
       me, ve, euler50, calls);
    rms = run(AVK_FLOW_EULER, 50, 3.0, &me, &ve, &calls);
    double ve_euler_shifted = ve;
    ok(rms >= 0 && me < 1e-3 && ve < 0.20, "Euler, 50 steps shifted by 3: mean %.2e, variance %.2e",
       me, ve);
    double e200 = run(AVK_FLOW_EULER, 200, 1.0, &me, &ve, &calls);
    ok(e200 < euler50 / 3, "Euler converges at first order: 200 steps %.2e vs 50 steps %.2e", e200,
       euler50);
    rms = run(AVK_FLOW_AB2, 20, 1.0, &me, &ve, &calls);
    ok(rms >= 0 && rms < euler50 / 2 && me < 1e-3 && ve < 0.03 && calls == 20,
       "AB2, 20 steps (%d evaluations): variance off by %.2e, rms %.2e s < half Euler's at 50 "
       "(%.2e)", calls, ve, rms, euler50);
    double ab40 = run(AVK_FLOW_AB2, 40, 1.0, &me, &ve, &calls);
    ok(ab40 < rms / 3, "AB2 converges at second order: 40 steps %.2e vs 20 steps %.2e", ab40, rms);
    rms = run(AVK_FLOW_AB2, 20, 3.0, &me, &ve, &calls);
    ok(rms >= 0 && me < 1e-3 && ve < 0.12 && ve < ve_euler_shifted,
       "AB2, 20 steps shifted by 3 (steps crowd the noisy end, where this flow is straight): "
       "mean %.2e, variance %.2e, below Euler's at 50 (%.2e)", me, ve, ve_euler_shifted);
    rms = run(AVK_FLOW_HEUN, 20, 1.0, &me, &ve, &calls);
    ok(rms >= 0 && rms < euler50 / 2 && me < 1e-3 && ve < 0.03 && calls == 39,
       "Heun, 20 steps (%d evaluations): variance off by %.2e, rms %.2e s", calls, ve, rms);

    /* errors */
    gauss g = {0, 1, 0};
    float x[4] = {0};
    ok(avk_flow_sample(AVK_FLOW_EULER, 0, 1.0, gauss_velocity, &g, x, 4) < 0 &&
           strstr(avk_errmsg(), "at least one step"),
       "zero steps is an error: %s", avk_errmsg());
    ok(avk_flow_sample(AVK_FLOW_EULER, 4, 0.0, gauss_velocity, &g, x, 4) < 0,
       "a shift of 0 is an error: %s", avk_errmsg());
    ok(avk_flow_sample(AVK_FLOW_HEUN, 8, 1.0, failing_velocity, &g, x, 4) < 0 &&
           strstr(avk_errmsg(), "evaluation 2"),
       "a failing model stops sampling with its error: %s", avk_errmsg());
    ok(avk_flow_solver_parse("heun") == AVK_FLOW_HEUN && avk_flow_solver_parse("ab2") ==
           AVK_FLOW_AB2 && avk_flow_solver_parse("rk4") == -1,
       "solver names parse");
    return done_testing();
}
