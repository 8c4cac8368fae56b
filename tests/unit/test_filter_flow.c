/* Optical flow accuracy on real photographs: each photo (8-bit PGM files
 * named on the command line, made by the t7xx script from images that
 * Debian packages ship) is scaled to the flow size, warped by known
 * sub-pixel shifts (Lanczos-3) and small rotations, and the dense flow must
 * recover the motion with a mean endpoint error under 0.5 pixel. Also
 * checks the VBench rule's arithmetic. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avkit/util/common.h"
#include "avkit/curate/filter.h"
#include "tap.h"

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* Read a binary 8-bit PGM (P5) into a float plane. */
static float *read_pgm(const char *path, int *w, int *h)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    int maxv;
    char magic[3] = {0};
    if (fscanf(fp, "%2s %d %d %d", magic, w, h, &maxv) != 4 || strcmp(magic, "P5") || maxv != 255) {
        fclose(fp);
        return NULL;
    }
    fgetc(fp);
    size_t n = (size_t)*w * *h;
    unsigned char *b = avk_xmalloc(n);
    float *p = NULL;
    if (fread(b, 1, n, fp) == n) {
        p = avk_xmalloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++)
            p[i] = b[i];
    }
    free(b);
    fclose(fp);
    return p;
}

/* Lanczos-3 weight. */
static double lanczos3(double t)
{
    t = fabs(t);
    if (t < 1e-9)
        return 1;
    if (t >= 3)
        return 0;
    return 3 * sin(M_PI * t) * sin(M_PI * t / 3) / (M_PI * M_PI * t * t);
}

/* Lanczos-3 sample with clamped edges (a different kernel from the flow's
 * cubic warp, so the test does not share its interpolation error). */
static float resample(const float *p, int w, int h, double x, double y)
{
    int xi = (int)floor(x), yi = (int)floor(y);
    double s = 0, ws = 0;
    for (int j = -2; j <= 3; j++) {
        int yy = yi + j < 0 ? 0 : yi + j >= h ? h - 1 : yi + j;
        double wy = lanczos3(y - (yi + j));
        for (int i = -2; i <= 3; i++) {
            int xx = xi + i < 0 ? 0 : xi + i >= w ? w - 1 : xi + i;
            double wgt = wy * lanczos3(x - (xi + i));
            s += wgt * p[(size_t)yy * w + xx];
            ws += wgt;
        }
    }
    return (float)(s / ws);
}

/* Warp img by a rotation theta about the center plus a shift (dx, dy):
 * out(R(p - c) + c + d) = img(p). Fills the true flow (fu, fv) of img's
 * pixels. Returns the warped plane. */
static float *warp(const float *img, int w, int h, double dx, double dy, double theta,
                   float *fu, float *fv)
{
    float *out = avk_xmalloc((size_t)w * h * sizeof(float));
    double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0, c = cos(theta), s = sin(theta);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            /* inverse map: p = R^-1 (q - c - d) + c */
            double qx = x - cx - dx, qy = y - cy - dy;
            double px = c * qx + s * qy + cx, py = -s * qx + c * qy + cy;
            out[(size_t)y * w + x] = resample(img, w, h, px, py);
            /* forward flow of img's pixel (x, y) */
            double rx = x - cx, ry = y - cy;
            fu[(size_t)y * w + x] = (float)(c * rx - s * ry + cx + dx - x);
            fv[(size_t)y * w + x] = (float)(s * rx + c * ry + cy + dy - y);
        }
    return out;
}

/* Mean endpoint error over pixels whose target stays `margin` inside. */
static double epe(const float *u, const float *v, const float *tu, const float *tv,
                  int w, int h, int margin)
{
    double s = 0;
    long n = 0;
    for (int y = margin; y < h - margin; y++)
        for (int x = margin; x < w - margin; x++) {
            size_t i = (size_t)y * w + x;
            double tx = x + tu[i], ty = y + tv[i];
            if (tx < margin || ty < margin || tx > w - 1 - margin || ty > h - 1 - margin)
                continue;
            s += hypot(u[i] - tu[i], v[i] - tv[i]);
            n++;
        }
    return n ? s / n : 1e9;
}

static void photo_tests(const char *path, int short_side)
{
    int pw, ph, w, h;
    float *full = read_pgm(path, &pw, &ph);
    if (!ok(full != NULL, "read %s", path))
        return;
    avk_fit_short_side(pw, ph, short_side, 0, &w, &h);
    float *img = avk_xmalloc((size_t)w * h * sizeof(float));
    avk_plane_resize(full, pw, ph, img, w, h);
    free(full);
    static const double cases[][3] = {
        {0.5, 0.25, 0}, {-1.3, 2.7, 0}, {3.6, -2.2, 0}, {-5.5, 4.25, 0},
        {7.75, -0.5, 0}, {0, 8.0, 0}, {-5.66, -5.66, 0},
        {0, 0, 1.0}, {1.5, -1.0, 2.0}, {0, 0, -3.0},
    };
    avk_flow_opts o;
    avk_flow_opts_default(&o);
    size_t n = (size_t)w * h;
    float *u = avk_xmalloc(n * 4), *v = avk_xmalloc(n * 4);
    float *tu = avk_xmalloc(n * 4), *tv = avk_xmalloc(n * 4);
    double worst = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        double dx = cases[k][0], dy = cases[k][1], th = cases[k][2] * M_PI / 180;
        float *img2 = warp(img, w, h, dx, dy, th, tu, tv);
        avk_flow_dense(img, img2, w, h, &o, u, v);
        double e = epe(u, v, tu, tv, w, h, 10);
        if (e > worst)
            worst = e;
        ok(e < 0.5, "%s at %dx%d: shift (%.2f, %.2f) rotation %.1f deg: mean EPE %.3f px < 0.5",
           strrchr(path, '/') ? strrchr(path, '/') + 1 : path, w, h, dx, dy, cases[k][2], e);
        free(img2);
    }
    diag("%s at %dx%d: worst mean EPE %.3f px", path, w, h, worst);
    free(u); free(v); free(tu); free(tv); free(img);
}

int main(int argc, char **argv)
{
    /* VBench rule: fps 24 -> step 3; 16 sampled frames at 128 px, 30 fps:
     * threshold 6 * 128/256 = 3, need round(4*16/16) = 4 pairs. */
    ok(avk_dynamic_step(24) == 3 && avk_dynamic_step(30) == 4 && avk_dynamic_step(5) == 1 &&
       avk_dynamic_step(20) == 2, "VBench frame step max(1, round(fps/8)), half to even");
    double s1[15] = {0}, thr;
    int above;
    for (int i = 0; i < 4; i++)
        s1[i] = 3.5;
    int dyn = avk_dynamic_decide(s1, 15, 16, 128, 30, 6, 4, &thr, &above);
    ok(dyn == 1 && fabs(thr - 3) < 1e-12 && above == 4, "4 of 15 pairs above 3.0 px is dynamic (thres %.2f, above %d)", thr, above);
    s1[3] = 2.9;
    ok(avk_dynamic_decide(s1, 15, 16, 128, 30, 6, 4, NULL, NULL) == 0, "3 of 15 pairs is not dynamic");
    avk_dynamic_decide(s1, 15, 16, 128, 4, 6, 4, &thr, NULL);
    ok(fabs(thr - 6) < 1e-12, "low frame rate scales the threshold by 8/fps (%.2f)", thr);

    /* top 5% mean */
    float uu[100], vv[100];
    for (int i = 0; i < 100; i++) {
        uu[i] = (float)i;
        vv[i] = 0;
    }
    ok(fabs(avk_flow_top_mean(uu, vv, 100, 0.05) - 97) < 1e-6, "top-5%% mean of 0..99 is 97");
    /* the selection against a full sort, on many sizes with duplicates */
    int bad = 0;
    uint32_t seed = 7;
    for (int t = 0; t < 500; t++) {
        seed = seed * 1664525u + 1013904223u;
        size_t n = 1 + (seed >> 8) % 2000;
        float *a = avk_xmalloc(n * sizeof(float)), *z = avk_xcalloc(n, sizeof(float));
        float *c = avk_xmalloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1664525u + 1013904223u;
            a[i] = c[i] = (seed >> 8) % 7 == 0 ? 5.0f : (float)((seed >> 12) % 100);
        }
        seed = seed * 1664525u + 1013904223u;
        double frac = ((seed >> 8) % 100) / 100.0;
        qsort(c, n, sizeof(float), cmp_desc);
        size_t k = (size_t)(n * frac) < 1 ? 1 : (size_t)(n * frac);
        double want = 0;
        for (size_t i = 0; i < k; i++)
            want += c[i];
        want /= k;
        bad += fabs(avk_flow_top_mean(a, z, n, frac) - want) > 1e-6 * want + 1e-9;
        free(a); free(z); free(c);
    }
    ok(bad == 0, "top mean by selection equals the sorted mean on 500 random arrays (%d differ)", bad);

    if (argc < 2) {
        printf("# no photographs given: flow accuracy not measured\n");
    }
    for (int i = 1; i < argc; i++) {
        photo_tests(argv[i], 128);
        photo_tests(argv[i], 256);
    }
    return done_testing();
}
