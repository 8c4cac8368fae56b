/* Size buckets and time resampling (av-vaeenc): the documented bucket
 * table for base 256 and 512, the nearest-aspect choice, the cover size,
 * and the resampling formula in its corner cases. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "avkit/data/buckets.h"
#include "avkit/data/clipsrc.h"

static const char *table_str(int base, int unit)
{
    static char buf[512];
    avk_bucket t[AVK_BUCKET_MAX];
    int n = avk_bucket_table(base, unit, t);
    buf[0] = 0;
    for (int i = 0; i < n; i++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%dx%d", i ? " " : "", t[i].w, t[i].h);
    return buf;
}

int main(void)
{
    const char *t256 = table_str(256, 16);
    ok(strcmp(t256, "256x256 288x224 224x288 320x208 208x320 336x192 192x336 368x176 176x368") == 0,
       "base 256 table as documented: %s", t256);
    const char *t512 = table_str(512, 16);
    ok(strcmp(t512, "512x512 576x464 464x576 592x448 448x592 624x416 416x624 688x384 384x688 "
                    "720x368 368x720") == 0, "base 512 table as documented: %s", t512);
    avk_bucket t[AVK_BUCKET_MAX];
    int n = avk_bucket_table(256, 16, t), mult = 1;
    for (int i = 0; i < n; i++)
        mult &= t[i].w % 16 == 0 && t[i].h % 16 == 0;
    ok(mult, "every side a multiple of the unit");
    avk_bucket b = avk_bucket_pick(256, 16, 1920, 1080);
    ok(b.w == 336 && b.h == 192, "16:9 goes to 336x192 (%dx%d)", b.w, b.h);
    b = avk_bucket_pick(256, 16, 480, 640);
    ok(b.w == 224 && b.h == 288, "3:4 goes to 224x288 (%dx%d)", b.w, b.h);
    b = avk_bucket_pick(256, 16, 5000, 100);
    ok(b.w == 368 && b.h == 176, "a very wide frame goes to the widest bucket (%dx%d)", b.w, b.h);
    int sw, sh;
    avk_bucket_cover((avk_bucket){336, 192}, 480, 270, &sw, &sh);
    ok(sw == 341 && sh == 192, "480x270 is scaled to cover 336x192: %dx%d", sw, sh);
    avk_bucket_cover((avk_bucket){256, 256}, 640, 480, &sw, &sh);
    ok(sw == 341 && sh == 256, "640x480 covers 256x256 at %dx%d", sw, sh);

    long *idx;
    int64_t k = avk_resample_frames(10, 35, 25, 5, 0, &idx);
    ok(k == 5 && idx[0] == 10 && idx[1] == 15 && idx[4] == 30, "25 -> 5 fps takes every 5th frame");
    free(idx);
    k = avk_resample_frames(0, 3, 10, 20, 0, &idx);
    ok(k == 6 && idx[0] == 0 && idx[1] == 0 && idx[2] == 1 && idx[5] == 2,
       "10 -> 20 fps repeats each frame");
    free(idx);
    k = avk_resample_frames(0, 100, 30, 0, 7, &idx);
    ok(k == 7 && idx[6] == 6, "fps 0 keeps the rate; --max-frames caps the count");
    free(idx);
    k = avk_resample_frames(3, 4, 10, 4, 0, &idx);
    ok(k == 0, "one frame at 10 fps is shorter than one frame at 4 fps");
    free(idx);
    k = avk_resample_frames(0, 24, 24, 8, 0, &idx);
    ok(k == 8 && idx[7] == 21, "24 -> 8 fps: 8 frames, the last frame 21");
    free(idx);
    k = avk_resample_frames(0, 10, 29.97, 29.97, 0, &idx);
    ok(k == 10 && idx[9] == 9, "same rate: every frame (no float loss)");
    free(idx);
    return done_testing();
}
