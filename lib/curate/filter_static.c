/* Static frames, after the seed paper: convert each frame to gray and
 * compare it with the previous one; a difference under a threshold (0.9
 * of 255) makes the frame static. The paper's "mean intensity difference"
 * is read by default as the mean over pixels of the absolute difference
 * (frozen or still frames); the literal difference of the two frames'
 * mean intensities is available too. See av-filter(1). */
#include <math.h>

#include "avkit/curate/filter.h"

/* Difference of two consecutive gray frames. */
double avk_static_diff(const float *prev, const float *cur, size_t n, int mode)
{
    if (n == 0)
        return 0;
    double s = 0;
    if (mode == AVK_STATIC_MEANS) {
        for (size_t i = 0; i < n; i++)
            s += (double)cur[i] - prev[i];
        return fabs(s / (double)n);
    }
    /* blocks of 4096 pixels summed in float (the loop vectorizes), the
     * blocks in double */
    float rs = 0;
    size_t i = 0;
    while (i < n) {
        size_t e = i + 4096 < n ? i + 4096 : n;
        rs = 0;
        #pragma omp simd reduction(+:rs)
        for (size_t j = i; j < e; j++)
            rs += fabsf(cur[j] - prev[j]);
        s += rs;
        i = e;
    }
    return s / (double)n;
}

/* Fraction of comparisons under the threshold. */
double avk_static_fraction(const double *diffs, size_t ndiffs, double thr)
{
    if (ndiffs == 0)
        return 1.0;
    size_t nstatic = 0;
    for (size_t i = 0; i < ndiffs; i++)
        if (diffs[i] < thr)
            nstatic++;
    return (double)nstatic / (double)ndiffs;
}
