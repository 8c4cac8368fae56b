/* Static frames, exactly as the seed paper: convert each frame to gray,
 * compare the mean intensity of consecutive frames, and count a frame as
 * static when the difference is under a threshold (0.9 of 255). */
#include <math.h>

#include "avkit/filter.h"

/* Fraction of the n-1 consecutive-frame comparisons that are static. */
double avk_static_fraction(const double *means, size_t n, double diff)
{
    if (n < 2)
        return 1.0;
    size_t nstatic = 0;
    for (size_t i = 1; i < n; i++)
        if (fabs(means[i] - means[i - 1]) < diff)
            nstatic++;
    return (double)nstatic / (double)(n - 1);
}
