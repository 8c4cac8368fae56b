/* A no-reference aesthetic score 1..10 from measurable properties of a
 * frame: sharpness, exposure, contrast, colorfulness and noise. It stands
 * in for the seed paper's learned (CLIP-based) predictor, whose weights we
 * do not have; av-filter --aesthetic-cmd lets a user plug one in. The
 * formula is documented in av-filter(1):
 *
 *   Y        BT.601 luma (0..255)
 *   noise    Immerkaer's estimate sqrt(pi/2)/6 * mean|Y * N| with
 *            N = [1 -2 1; -2 4 -2; 1 -2 1], over the half of the pixels
 *            with the smallest Sobel gradient (so texture is not taken
 *            for noise)
 *   sharp    var(Y * Lap4) - 20 noise^2 (at least 0): the variance of the
 *            4-neighbour Laplacian less what white noise of that level
 *            contributes (the kernel's squared sum is 20)
 *   q_sharp  = clamp(log10(1 + sharp) / 3)
 *   q_expo   = clamp(1 - ((mean(Y)/255 - 0.5) / 0.45)^2) * (1 - clipped)
 *   q_con    = clamp(std(Y)/255 / 0.2)
 *   q_color  = 0.5 + 0.5 clamp(M / 50), M = Hasler-Suesstrunk colorfulness
 *   q_noise  = 1 / (1 + (noise / 8)^2)
 *   score    = 1 + 9 q_sharp^0.5 q_expo^0.3 q_con^0.35 q_color^0.15 q_noise
 * A weighted geometric mean, so one bad property (blur, darkness, a
 * washed-out picture, noise) pulls the score down on its own.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "avkit/util/common.h"
#include "avkit/curate/filter.h"

static double clamp01(double x)
{
    return x < 0 ? 0 : x > 1 ? 1 : x;
}

/* Immerkaer's noise estimate over the flatter half of the frame. */
static double noise_sigma(const float *y, int w, int h)
{
    if (w < 3 || h < 3)
        return 0;
    size_t n = (size_t)(w - 2) * (h - 2);
    float *g = avk_xmalloc(n * sizeof(float)), *r = avk_xmalloc(n * sizeof(float));
    size_t k = 0;
    for (int j = 1; j < h - 1; j++)
        for (int i = 1; i < w - 1; i++, k++) {
            const float *a = y + (size_t)(j - 1) * w + i, *b = a + w, *c = b + w;
            float gx = (a[1] + 2 * b[1] + c[1]) - (a[-1] + 2 * b[-1] + c[-1]);
            float gy = (c[-1] + 2 * c[0] + c[1]) - (a[-1] + 2 * a[0] + a[1]);
            g[k] = fabsf(gx) + fabsf(gy);
            r[k] = fabsf(a[-1] - 2 * a[0] + a[1] - 2 * b[-1] + 4 * b[0] - 2 * b[1] +
                         c[-1] - 2 * c[0] + c[1]);
        }
    /* median gradient by histogram (|gx|+|gy| <= 2040) */
    enum { NB = 2048 };
    long *hist = avk_xcalloc(NB, sizeof(long));
    for (size_t i = 0; i < n; i++) {
        int bi = (int)g[i];
        hist[bi < NB ? bi : NB - 1]++;
    }
    long half = (long)(n / 2), acc = 0;
    int cut = 0;
    while (cut < NB - 1 && acc + hist[cut] < half)
        acc += hist[cut++];
    double s = 0;
    long cnt = 0;
    for (size_t i = 0; i < n; i++)
        if ((int)g[i] <= cut) {
            s += r[i];
            cnt++;
        }
    free(hist);
    free(g);
    free(r);
    return cnt ? sqrt(M_PI / 2) / 6.0 * s / (double)cnt : 0;
}

/* Measure one RGB24 frame and compute its score (formula above). */
void avk_aesthetic_measure(const uint8_t *rgb, int w, int h, avk_aesthetic *a)
{
    size_t n = (size_t)w * h;
    float *y = avk_xmalloc(n * sizeof(float));
    avk_rgb_to_gray(rgb, w, h, y);
    memset(a, 0, sizeof *a);

    double s = 0, s2 = 0, srg = 0, srg2 = 0, syb = 0, syb2 = 0;
    size_t clipped = 0;
    for (size_t i = 0; i < n; i++) {
        double v = y[i];
        s += v;
        s2 += v * v;
        if (v <= 4 || v >= 251)
            clipped++;
        double R = rgb[3 * i], G = rgb[3 * i + 1], B = rgb[3 * i + 2];
        double rg = R - G, yb = 0.5 * (R + G) - B;
        srg += rg;
        srg2 += rg * rg;
        syb += yb;
        syb2 += yb * yb;
    }
    double mean = s / n, var = s2 / n - mean * mean;
    double mrg = srg / n, myb = syb / n;
    double vrg = srg2 / n - mrg * mrg, vyb = syb2 / n - myb * myb;
    a->brightness = mean / 255;
    a->contrast = sqrt(var > 0 ? var : 0) / 255;
    a->clipped = (double)clipped / n;
    a->colorfulness = sqrt((vrg > 0 ? vrg : 0) + (vyb > 0 ? vyb : 0)) + 0.3 * sqrt(mrg * mrg + myb * myb);

    /* Laplacian variance */
    double ls = 0, ls2 = 0;
    size_t ln = 0;
    for (int j = 1; j < h - 1; j++)
        for (int i = 1; i < w - 1; i++) {
            const float *p = y + (size_t)j * w + i;
            double l = p[-1] + p[1] + p[-w] + p[w] - 4.0 * p[0];
            ls += l;
            ls2 += l * l;
            ln++;
        }
    double lvar = ln ? ls2 / ln - (ls / ln) * (ls / ln) : 0;
    a->noise = noise_sigma(y, w, h);
    a->sharpness = lvar - 20 * a->noise * a->noise;
    if (a->sharpness < 0)
        a->sharpness = 0;
    free(y);

    double q_sharp = clamp01(log10(1 + a->sharpness) / 3);
    double e = (a->brightness - 0.5) / 0.45;
    double q_expo = clamp01(1 - e * e) * (1 - a->clipped);
    double q_con = clamp01(a->contrast / 0.2);
    double q_color = 0.5 + 0.5 * clamp01(a->colorfulness / 50);
    double q_noise = 1 / (1 + (a->noise / 8) * (a->noise / 8));
    a->score = 1 + 9 * pow(q_sharp, 0.5) * pow(q_expo, 0.3) * pow(q_con, 0.35) *
                       pow(q_color, 0.15) * q_noise;
}
