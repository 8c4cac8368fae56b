/* The training side of rectified flow (avkit/diffusion/flow_train.h):
 * x_t and the velocity target by their formulas; t logit-normal(0, 1)
 * (the logit of 20000 draws has mean ~0 and deviation ~1) and shifted by
 * t' = s t / (1 + (s - 1) t); each sample's draw depends only on (seed,
 * step, index), not on the other samples of its batch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "avkit/nn/tensor.h"
#include "avkit/diffusion/flow_train.h"

int main(void)
{
    float x0[6] = {1, -2, 3, 0.5f, 0, -1}, eps[6] = {0, 1, -1, 2, 2, 2}, t[2] = {0.25f, 1.0f};
    float xt[6], v[6];
    avk_flow_interp(xt, v, x0, eps, t, 2, 3);
    int good = 1;
    for (int i = 0; i < 6; i++) {
        float tb = t[i / 3];
        good &= xt[i] == (1 - tb) * x0[i] + tb * eps[i] && v[i] == eps[i] - x0[i];
    }
    ok(good, "x_t = (1 - t) x0 + t eps and v = eps - x0, per sample");

    const int n = 20000;
    double s1 = 0, s2 = 0, mt = 0;
    for (int i = 0; i < n; i++) {
        avk_rng r;
        avk_flow_rng(&r, 3, 1, i);
        float tt = avk_flow_sample_t(&r, 0.0, 1.0, 1.0);
        double u = log(tt / (1 - tt));
        s1 += u;
        s2 += u * u;
        mt += tt;
    }
    double mean = s1 / n, sd = sqrt(s2 / n - mean * mean);
    ok(fabs(mean) < 0.03 && fabs(sd - 1) < 0.03 && fabs(mt / n - 0.5) < 0.01,
       "logit of t: mean %.3f, deviation %.3f; mean t %.3f", mean, sd, mt / n);
    ok(fabs(avk_flow_shift(0.5, 3.0) - 0.75) < 1e-12 && avk_flow_shift(0.2, 1.0) == 0.2 &&
       avk_flow_shift(1.0, 3.0) == 1.0, "shift: s t / (1 + (s - 1) t)");
    avk_rng a, b;
    avk_flow_rng(&a, 3, 1, 7);
    avk_flow_rng(&b, 3, 1, 7);
    float ta = avk_flow_sample_t(&a, 0, 1, 3.0), tb = avk_flow_sample_t(&b, 0, 1, 1.0);
    ok(fabs(ta - avk_flow_shift(tb, 3.0)) < 1e-6, "a shifted draw is the shift of the same draw");

    float e1[16], e2[16], e3[16];
    float t1 = avk_flow_draw(e1, 16, 9, 4, 2, 0, 1, 1), t2 = avk_flow_draw(e2, 16, 9, 4, 2, 0, 1, 1);
    float t3 = avk_flow_draw(e3, 16, 9, 4, 3, 0, 1, 1);
    ok(t1 == t2 && !memcmp(e1, e2, sizeof e1) && (t1 != t3 || memcmp(e1, e3, sizeof e1)),
       "a sample's t and noise depend on (seed, step, index) alone");
    float t4 = avk_flow_draw(e3, 16, 9, 5, 2, 0, 1, 1);
    ok(t4 != t1 || memcmp(e1, e3, sizeof e1), "the next step draws anew");
    return done_testing();
}
