/* The tensor type and helpers: shapes and their errors, the seeded RNG,
 * permutations (against index arithmetic, and inverse round trips),
 * non-finite detection. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "avkit/util/common.h"
#include "avkit/nn/tensor.h"

int main(void)
{
    avk_tensor *t = avk_tensor_3d(2, 3, 4);
    ok(t && t->numel == 24 && t->ndim == 3 && t->data[23] == 0.0f, "a new tensor is zeroed with the right size");
    int64_t bad[2] = {3, -1};
    ok(avk_tensor_new(2, bad) == NULL && strstr(avk_errmsg(), "[3, -1]"),
       "a negative dimension is refused with the shape in the message: %s", avk_errmsg());
    ok(avk_tensor_new(9, bad) == NULL, "more than 8 dimensions is refused");
    int64_t s2[2] = {6, 4}, s3[2] = {5, 5};
    ok(avk_tensor_reshape(t, 2, s2) == 0 && t->shape[0] == 6, "reshape keeps the element count");
    ok(avk_tensor_reshape(t, 2, s3) == -1 && strstr(avk_errmsg(), "[6, 4] to [5, 5]"),
       "reshape to another count fails: %s", avk_errmsg());
    float *gr = avk_tensor_grad(t);
    ok(gr && gr[0] == 0.0f && avk_tensor_grad(t) == gr, "the gradient buffer is made once, zeroed");
    ok(((uintptr_t)t->data & 63) == 0, "data is 64-byte aligned");
    avk_tensor_free(t);

    avk_rng a, b;
    avk_rng_seed(&a, 123);
    avk_rng_seed(&b, 123);
    int same = 1;
    for (int i = 0; i < 100; i++)
        same &= avk_rng_u64(&a) == avk_rng_u64(&b);
    ok(same, "the same seed gives the same random stream");
    avk_rng_seed(&a, 5);
    double s = 0, s2sum = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double x = avk_rng_normal(&a);
        s += x;
        s2sum += x * x;
    }
    double mean = s / n, var = s2sum / n - mean * mean;
    ok(fabs(mean) < 0.01 && fabs(var - 1.0) < 0.02, "normal samples: mean %.4f, variance %.4f", mean, var);

    /* permute [2,3,4,5] by (2,0,3,1) */
    int64_t shape[4] = {2, 3, 4, 5};
    int perm[4] = {2, 0, 3, 1}, inv[4];
    float in[120], out[120], back[120];
    for (int i = 0; i < 120; i++)
        in[i] = (float)i;
    avk_permute(out, in, 4, shape, perm);
    int good = 1;
    for (int i0 = 0; i0 < 2; i0++)
        for (int i1 = 0; i1 < 3; i1++)
            for (int i2 = 0; i2 < 4; i2++)
                for (int i3 = 0; i3 < 5; i3++) {
                    int src = ((i0 * 3 + i1) * 4 + i2) * 5 + i3;
                    int dst = ((i2 * 2 + i0) * 5 + i3) * 3 + i1;   /* out shape [4,2,5,3] */
                    good &= out[dst] == in[src];
                }
    ok(good, "permute moves every element to its permuted index");
    avk_perm_inverse(inv, perm, 4);
    int64_t pshape[4] = {4, 2, 5, 3};
    memset(back, 0, sizeof back);
    avk_permute_acc(back, out, 4, pshape, inv);
    avk_permute_acc(back, out, 4, pshape, inv);
    good = 1;
    for (int i = 0; i < 120; i++)
        good &= back[i] == 2.0f * in[i];
    ok(good, "the inverse permutation (accumulating) restores the input");

    float v[5] = {1, 2, 3, 4, 5};
    ok(avk_find_nonfinite(v, 5) == -1, "finite data has no non-finite index");
    v[3] = NAN;
    ok(avk_find_nonfinite(v, 5) == 3, "a NaN is found at its index");
    v[3] = 0;
    v[1] = -INFINITY;
    ok(avk_find_nonfinite(v, 5) == 1, "an Inf is found at its index");
    return done_testing();
}
