/* Training crops: an augmented crop is the plain crop at the same place
 * with its color channels reordered and perhaps mirrored, every order and
 * both mirrorings occur, the same step's generator gives the same crops. */
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "avkit/util/common.h"
#include "avkit/nn/tensor.h"
#include "avkit/models/vae_train.h"

/* Which (order, flip) turns crop a into crop b, as order * 2 + flip, or
 * -1 when none does. */
static int find_transform(const float *a, const float *b, int S)
{
    static const int orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                     {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (int o = 0; o < 6; o++)
        for (int flip = 0; flip < 2; flip++) {
            int same = 1;
            for (int c = 0; c < 3 && same; c++)
                for (int i = 0; i < S && same; i++)
                    for (int j = 0; j < S && same; j++) {
                        float want = a[((int64_t)orders[o][c] * S + i) * S + j];
                        same = b[((int64_t)c * S + i) * S + (flip ? S - 1 - j : j)] == want;
                    }
            if (same)
                return o * 2 + flip;
        }
    return -1;
}

int main(void)
{
    /* Two frames of noise with distinct channels, so that every order and
     * mirroring of a crop is a different array. */
    enum { W = 40, H = 30, S = 8 };
    avk_frame_pool pool = {0};
    uint8_t *rgb = avk_xmalloc((size_t)2 * W * H * 3);
    avk_rng r;
    avk_rng_seed(&r, 7);
    for (size_t i = 0; i < (size_t)2 * W * H * 3; i++)
        rgb[i] = (uint8_t)(avk_rng_u64(&r) >> 56);
    avk_frame_pool_add(&pool, W, H, rgb, 2);

    float plain[3 * S * S], aug[3 * S * S], again[3 * S * S];
    int seen[12] = {0}, bad = 0, differ = 0;
    for (int t = 0; t < 400; t++) {
        avk_rng a, b, c;
        avk_train_step_rng(&a, 1, t);
        avk_train_step_rng(&b, 1, t);
        avk_train_step_rng(&c, 1, t);
        avk_frame_pool_crops(&pool, &a, 1, S, plain);
        avk_frame_pool_crops_aug(&pool, &b, 1, S, 1, aug);
        avk_frame_pool_crops_aug(&pool, &c, 1, S, 1, again);
        int k = find_transform(plain, aug, S);
        if (k < 0)
            bad++;
        else
            seen[k]++;
        differ += memcmp(aug, again, sizeof aug) != 0;
    }
    ok(bad == 0, "every augmented crop is the plain crop reordered and mirrored (%d are not)",
       bad);
    int kinds = 0;
    for (int k = 0; k < 12; k++)
        kinds += seen[k] > 0;
    ok(kinds == 12, "all 6 channel orders, mirrored and not, occur in 400 crops (%d of 12)",
       kinds);
    ok(differ == 0, "the same step's generator gives the same augmented crops");
    {
        avk_rng a, b;
        avk_train_step_rng(&a, 3, 5);
        avk_train_step_rng(&b, 3, 5);
        avk_frame_pool_crops_aug(&pool, &a, 1, S, 0, aug);
        avk_frame_pool_crops(&pool, &b, 1, S, plain);
        ok(memcmp(aug, plain, sizeof aug) == 0, "augment 0 is the plain crop");
    }

    avk_frame_pool_free(&pool);
    free(rgb);
    return done_testing();
}
