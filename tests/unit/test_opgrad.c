/* Gradient checks on small random inputs, for every operator with a
 * backward:
 *  - central finite differences of L = sum(out * dy), computed in double
 *    over the reference forward, against the reference backward, at up to
 *    48 coordinates per input (h = 1e-3; error measure max|fd - an| over
 *    max|an|, tolerance 5e-3, well above float rounding of the difference
 *    quotient and far below any real mistake);
 *  - the fast versions against the reference (forward and backward) at 1
 *    and 2 threads, tolerance 1e-5;
 *  - backward functions accumulate: a second call doubles the gradient. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include "tap.h"
#include "ops_cases.h"

static avk_rng rng;

/* Random inputs inside each operator's natural domain. */
static void fill_inputs(const opcase *c, float **in)
{
    for (int i = 0; i < c->nin; i++) {
        in[i] = avk_falloc(c->in_n[i]);
        avk_fill_randn(in[i], c->in_n[i], &rng, 0.0f, 1.0f);
    }
    if (!strcmp(c->name, "groupnorm") || !strcmp(c->name, "layernorm"))
        for (int64_t j = 0; j < c->in_n[1]; j++)
            in[1][j] = 1.0f + 0.3f * in[1][j];
}

static double loss_of(const opcase *c, float **in, const float *dy, float *out)
{
    c->fwd(c, in, out, 1);
    double s = 0;
    for (int64_t j = 0; j < c->out_n; j++)
        s += (double)out[j] * dy[j];
    return s;
}

static void fd_check(const opcase *c)
{
    float *in[4] = {0}, *din[4] = {0};
    fill_inputs(c, in);
    float *out = avk_falloc(c->out_n), *dy = avk_falloc(c->out_n);
    avk_fill_randn(dy, c->out_n, &rng, 0.0f, 1.0f);
    for (int i = 0; i < c->nin; i++)
        if (c->grad_mask >> i & 1)
            din[i] = avk_fzeros(c->in_n[i]);
    c->fwd(c, in, out, 1);
    c->bwd(c, in, out, dy, din, 1);
    const float h = 1e-3f;
    for (int i = 0; i < c->nin; i++) {
        if (!din[i])
            continue;
        double maxerr = 0, maxg = 0;
        int64_t n = c->in_n[i], step = n > 48 ? n / 48 : 1;
        for (int64_t j = 0; j < n; j += step) {
            float keep = in[i][j];
            in[i][j] = keep + h;
            double lp = loss_of(c, in, dy, out);
            in[i][j] = keep - h;
            double lm = loss_of(c, in, dy, out);
            in[i][j] = keep;
            double fd = (lp - lm) / (2.0 * h);
            double e = fabs(fd - din[i][j]);
            maxerr = e > maxerr ? e : maxerr;
        }
        for (int64_t j = 0; j < n; j++)
            maxg = fabs(din[i][j]) > maxg ? fabs(din[i][j]) : maxg;
        double rel = maxerr / (maxg > 1e-6 ? maxg : 1e-6);
        ok(rel < 5e-3, "%s: finite differences agree with d%s: rel err %.2e", c->name,
           c->in_names[i], rel);
        avk_ffree(din[i]);
    }
    for (int i = 0; i < c->nin; i++)
        avk_ffree(in[i]);
    avk_ffree(out);
    avk_ffree(dy);
}

/* Fast vs reference on random inputs at a given thread count. */
static void fast_vs_ref(const opcase *c, int threads)
{
    float *in[4] = {0}, *dr[4] = {0}, *df[4] = {0};
    fill_inputs(c, in);
    float *dy = avk_falloc(c->out_n), *outr = avk_falloc(c->out_n), *outf = avk_falloc(c->out_n);
    avk_fill_randn(dy, c->out_n, &rng, 0.0f, 1.0f);
    for (int i = 0; i < c->nin; i++)
        if (c->grad_mask >> i & 1) {
            dr[i] = avk_fzeros(c->in_n[i]);
            df[i] = avk_fzeros(c->in_n[i]);
        }
    omp_set_num_threads(threads);
    c->fwd(c, in, outr, 1);
    c->bwd(c, in, outr, dy, dr, 1);
    c->fwd(c, in, outf, 0);
    c->bwd(c, in, outf, dy, df, 0);
    double e = rel_err(outf, outr, c->out_n);
    for (int i = 0; i < c->nin; i++)
        if (dr[i]) {
            double ei = rel_err(df[i], dr[i], c->in_n[i]);
            e = ei > e ? ei : e;
        }
    ok(e < 1e-5, "%s: fast forward and backward equal the reference at %d thread%s: rel err %.2e",
       c->name, threads, threads > 1 ? "s" : "", e);
    /* accumulation: a second backward adds the same again */
    for (int i = 0; i < c->nin; i++)
        if (df[i])
            memcpy(dr[i], df[i], (size_t)c->in_n[i] * sizeof(float));
    c->fwd(c, in, outf, 0);
    c->bwd(c, in, outf, dy, df, 0);
    double ea = 0;
    for (int i = 0; i < c->nin; i++)
        if (df[i]) {
            for (int64_t j = 0; j < c->in_n[i]; j++)
                dr[i][j] *= 2.0f;
            double ei = rel_err(df[i], dr[i], c->in_n[i]);
            ea = ei > ea ? ei : ea;
        }
    if (threads == 1)
        ok(ea < 1e-6, "%s: backward accumulates into its gradients: rel err %.2e", c->name, ea);
    for (int i = 0; i < c->nin; i++) {
        avk_ffree(in[i]);
        avk_ffree(dr[i]);
        avk_ffree(df[i]);
    }
    avk_ffree(dy);
    avk_ffree(outr);
    avk_ffree(outf);
}

int main(void)
{
    avk_rng_seed(&rng, 42);
    int maxt = omp_get_max_threads();
    for (int k = 0; k < N_OP_CASES; k++) {
        const opcase *c = &op_cases[k];
        if (!c->no_fd)
            fd_check(c);
        fast_vs_ref(c, 1);
        fast_vs_ref(c, 2);
    }
    omp_set_num_threads(maxt);
    return done_testing();
}
