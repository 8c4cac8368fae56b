/* conv2d's fast path at shapes that cut each image into several bands of
 * output rows (the im2col scratch is bounded), in both parallel modes
 * (items across threads with two-phase col2im, and one item at a time with
 * threads inside), against the reference loops; tolerance 1e-5 relative. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include "tap.h"
#include "avkit/nn/ops.h"

static avk_rng rng;

static void check(avk_conv2d c, int threads, const char *what)
{
    int Ho = avk_conv2d_out_h(&c), Wo = avk_conv2d_out_w(&c);
    int64_t nx = (int64_t)c.B * c.Cin * c.H * c.W, ny = (int64_t)c.B * c.Cout * Ho * Wo;
    int64_t nw = (int64_t)c.Cout * c.Cin * c.kh * c.kw;
    float *x = avk_falloc(nx), *w = avk_falloc(nw), *b = avk_falloc(c.Cout), *dy = avk_falloc(ny);
    avk_fill_randn(x, nx, &rng, 0, 1);
    avk_fill_randn(w, nw, &rng, 0, 0.2f);
    avk_fill_randn(b, c.Cout, &rng, 0, 1);
    avk_fill_randn(dy, ny, &rng, 0, 1);
    float *y1 = avk_falloc(ny), *y2 = avk_falloc(ny);
    float *dx1 = avk_fzeros(nx), *dx2 = avk_fzeros(nx), *dw1 = avk_fzeros(nw), *dw2 = avk_fzeros(nw);
    float *db1 = avk_fzeros(c.Cout), *db2 = avk_fzeros(c.Cout);
    omp_set_num_threads(threads);
    avk_conv2d_fwd(y1, x, w, b, &c);
    avk_conv2d_bwd(dx1, dw1, db1, dy, x, w, &c);
    avk_conv2d_fwd_ref(y2, x, w, b, &c);
    avk_conv2d_bwd_ref(dx2, dw2, db2, dy, x, w, &c);
    double ey = rel_err(y1, y2, ny), ex = rel_err(dx1, dx2, nx), ew = rel_err(dw1, dw2, nw);
    double eb = rel_err(db1, db2, c.Cout);
    ok(ey < 1e-5 && ex < 1e-5 && ew < 1e-5 && eb < 1e-5,
       "%s, %d thread%s: y %.1e, dx %.1e, dw %.1e, db %.1e", what, threads, threads > 1 ? "s" : "",
       ey, ex, ew, eb);
    avk_ffree(x); avk_ffree(w); avk_ffree(b); avk_ffree(dy); avk_ffree(y1); avk_ffree(y2);
    avk_ffree(dx1); avk_ffree(dx2); avk_ffree(dw1); avk_ffree(dw2); avk_ffree(db1); avk_ffree(db2);
}

int main(void)
{
    avk_rng_seed(&rng, 11);
    int maxt = omp_get_max_threads();
    /* K = 144, Wo = 256: bands of 28 rows, 4 per image */
    avk_conv2d a = avk_conv2d_make(1, 16, 100, 256, 4, 3, 1, 1);
    avk_conv2d s2 = avk_conv2d_make(3, 16, 120, 512, 3, 3, 2, 0);
    s2.pad_bottom = s2.pad_right = 1;   /* diffusers' downsampler */
    avk_conv2d k5 = avk_conv2d_make(2, 8, 70, 300, 2, 5, 1, 2);
    for (int t = 1; t <= 2; t++) {
        check(a, t, "3x3 stride 1, 4 bands per image");
        check(s2, t, "3x3 stride 2 padded right/bottom, 3 images of 3 bands");
        check(k5, t, "5x5 stride 1 pad 2, several bands");
    }
    avk_conv2d bad = avk_conv2d_make(1, 3, 2, 2, 4, 5, 1, 0);
    ok(avk_conv2d_check(&bad) == -1, "a kernel larger than the padded input is refused");
    ok(avk_conv2d_check(&a) == 0, "a valid description passes the check");
    omp_set_num_threads(maxt);
    return done_testing();
}
