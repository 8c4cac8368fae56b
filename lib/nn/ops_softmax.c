/* Row softmax, forward and backward: y = e^(x - max) / sum, and
 * dx += y (dy - sum(dy y)) per row. */
#include "avkit/nn/ops.h"
#include "ops_util.h"

#include <math.h>

AVK_CLONES static void softmax_row(float *y, const float *x, int64_t N)
{
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < N; j++)
        m = x[j] > m ? x[j] : m;
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < N; j++) {
        float e = avk_expf(x[j] - m);
        y[j] = e;
        s += e;
    }
    float inv = 1.0f / s;
#pragma omp simd
    for (int64_t j = 0; j < N; j++)
        y[j] *= inv;
}

AVK_CLONES static void softmax_row_bwd(float *dx, const float *dy, const float *y, int64_t N)
{
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < N; j++)
        s += dy[j] * y[j];
#pragma omp simd
    for (int64_t j = 0; j < N; j++)
        dx[j] += y[j] * (dy[j] - s);
}

void avk_softmax_fwd(float *y, const float *x, int64_t M, int64_t N)
{
#pragma omp parallel for schedule(static) if (M * N >= AVK_PAR_MIN)
    for (int64_t i = 0; i < M; i++)
        softmax_row(y + i * N, x + i * N, N);
}

void avk_softmax_bwd(float *dx, const float *dy, const float *y, int64_t M, int64_t N)
{
#pragma omp parallel for schedule(static) if (M * N >= AVK_PAR_MIN)
    for (int64_t i = 0; i < M; i++)
        softmax_row_bwd(dx + i * N, dy + i * N, y + i * N, N);
}

void avk_softmax_fwd_ref(float *y, const float *x, int64_t M, int64_t N)
{
    for (int64_t i = 0; i < M; i++) {
        const float *xr = x + i * N;
        double m = -INFINITY, s = 0;
        for (int64_t j = 0; j < N; j++)
            m = xr[j] > m ? xr[j] : m;
        for (int64_t j = 0; j < N; j++)
            s += exp(xr[j] - m);
        for (int64_t j = 0; j < N; j++)
            y[i * N + j] = (float)(exp(xr[j] - m) / s);
    }
}

void avk_softmax_bwd_ref(float *dx, const float *dy, const float *y, int64_t M, int64_t N)
{
    for (int64_t i = 0; i < M; i++) {
        double s = 0;
        for (int64_t j = 0; j < N; j++)
            s += (double)dy[i * N + j] * y[i * N + j];
        for (int64_t j = 0; j < N; j++)
            dx[i * N + j] += (float)(y[i * N + j] * (dy[i * N + j] - s));
    }
}
