/* Size buckets (see buckets.h). */
#include "avkit/data/buckets.h"

#include <math.h>

/* Aspect ratios w/h: square, 5:4, 4:3, 3:2, 16:9, 2:1 and their portraits. */
static const double ratios[] = {1.0, 5.0 / 4, 4.0 / 5, 4.0 / 3, 3.0 / 4, 3.0 / 2, 2.0 / 3,
                                16.0 / 9, 9.0 / 16, 2.0, 1.0 / 2};

static int round_unit(double x, int u)
{
    int v = (int)lround(x / u) * u;
    return v < u ? u : v;
}

int avk_bucket_table(int base, int unit, avk_bucket *out)
{
    int n = 0;
    for (unsigned i = 0; i < sizeof ratios / sizeof ratios[0]; i++) {
        avk_bucket b = {round_unit(base * sqrt(ratios[i]), unit),
                        round_unit(base / sqrt(ratios[i]), unit)};
        int dup = 0;
        for (int j = 0; j < n; j++)
            dup |= out[j].w == b.w && out[j].h == b.h;
        if (!dup && n < AVK_BUCKET_MAX)
            out[n++] = b;
    }
    return n;
}

avk_bucket avk_bucket_pick(int base, int unit, int w, int h)
{
    avk_bucket t[AVK_BUCKET_MAX];
    int n = avk_bucket_table(base, unit, t), best = 0;
    double a = log((double)w / h), bestd = 1e300;
    for (int i = 0; i < n; i++) {
        double d = fabs(a - log((double)t[i].w / t[i].h));
        if (d < bestd - 1e-12) {
            bestd = d;
            best = i;
        }
    }
    return t[best];
}

void avk_bucket_cover(avk_bucket b, int w, int h, int *sw, int *sh)
{
    double s = fmax((double)b.w / w, (double)b.h / h);
    int x = (int)lround(w * s), y = (int)lround(h * s);
    *sw = x < b.w ? b.w : x;
    *sh = y < b.h ? b.h : y;
}
