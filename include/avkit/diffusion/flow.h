/* Rectified-flow sampling: the timestep schedule with its shift, and the
 * ODE solvers that turn noise into a sample given a velocity model.
 *
 * Convention (the one av-train's DiT is trained with): x_t = (1 - t) x0 +
 * t eps, t in [0, 1], t = 1 pure noise; the model predicts the velocity
 * v = dx_t/dt = eps - x0. Sampling integrates dx/dt = v from t = 1 down
 * to t = 0.
 *
 * The shift moves the steps toward the noisy end, where larger inputs
 * (more tokens) need more of them: t' = s t / (1 + (s - 1) t), s >= 1
 * (s = 1: no shift). The same formula shifts the training distribution of
 * t, so sampler and trainer agree.
 */
#ifndef AVKIT_DIFFUSION_FLOW_H
#define AVKIT_DIFFUSION_FLOW_H

#include <stdint.h>

/* The shifted timestep t' = s t / (1 + (s - 1) t). */
double avk_flow_shift(double t, double shift);

/* The steps + 1 timesteps of a sampling run, from 1 down to 0: uniform in
 * t, then shifted. ts must hold steps + 1 doubles; ts[steps] = 0. */
void avk_flow_timesteps(double *ts, int steps, double shift);

/* The model as the sampler sees it: write v(x, t) for the n floats of x.
 * Returns 0, or -1 with the error set (sampling stops). `eval` counts the
 * calls of one run from 0. */
typedef int (*avk_velocity_fn)(void *ctx, const float *x, double t, float *v, int64_t n,
                               int eval);

typedef enum avk_flow_solver {
    AVK_FLOW_EULER = 0,  /* first order: one evaluation a step */
    AVK_FLOW_HEUN,       /* second order: two a step (one on the last) */
    AVK_FLOW_AB2,        /* two-step Adams-Bashforth: second order from
                            the previous step's velocity, one evaluation
                            a step (a multistep solver in the manner of
                            DPM-Solver++(2M)) */
} avk_flow_solver;

/* Name to solver ("euler", "heun", "ab2"); -1 if unknown. */
int avk_flow_solver_parse(const char *name);
const char *avk_flow_solver_name(avk_flow_solver s);

/* Model evaluations a run of `steps` steps costs with this solver. */
int avk_flow_evals(avk_flow_solver s, int steps);

/* Integrate x (n floats, noise at t = 1 on entry) to t = 0 in `steps`
 * steps of the shifted schedule. Returns 0 or -1 (the model's error). */
int avk_flow_sample(avk_flow_solver solver, int steps, double shift, avk_velocity_fn fn,
                    void *ctx, float *x, int64_t n);

#endif
