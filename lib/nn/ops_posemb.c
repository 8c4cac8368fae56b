/* Position embeddings: the sinusoidal timestep embedding and rotary
 * embeddings over (frame, row, column) positions. */
#include "avkit/nn/ops.h"
#include "avkit/util/common.h"
#include "ops_util.h"
#include "ops_rows.h"

#include <math.h>

/* out[b] = [cos(t f_0), ..., cos(t f_{h-1}), sin(t f_0), ..., sin(t f_{h-1})]
 * with f_i = exp(-ln(max_period) i / h), h = dim/2 (as DiT and diffusers
 * with flip_sin_to_cos, downscale_freq_shift 0). Frequencies and products
 * are rounded to float as PyTorch computes them, then cos/sin in double. */
void avk_timestep_embed(float *out, const float *t, int B, int dim, float max_period)
{
    int half = dim / 2;
    for (int b = 0; b < B; b++) {
        float *o = out + (int64_t)b * dim;
        for (int i = 0; i < half; i++) {
            float f = expf(-logf(max_period) * (float)i / (float)half);
            float a = t[b] * f;
            o[i] = (float)cos((double)a);
            o[half + i] = (float)sin((double)a);
        }
        if (dim % 2)
            o[dim - 1] = 0.0f;
    }
}

void avk_rope_grid_positions(int *pos, int T, int Hp, int Wp)
{
    int64_t n = 0;
    for (int t = 0; t < T; t++)
        for (int r = 0; r < Hp; r++)
            for (int c = 0; c < Wp; c++, n++) {
                pos[n * 3 + 0] = t;
                pos[n * 3 + 1] = r;
                pos[n * 3 + 2] = c;
            }
}

/* 0 when the three per-axis sections are even and non-negative, else -1
 * with an error naming what they are for. */
static int check_sections(const int dims[3], const char *what)
{
    for (int a = 0; a < 3; a++)
        if (dims[a] < 0 || dims[a] % 2)
            return avk_error("%s: section sizes %d+%d+%d must be even and non-negative", what,
                             dims[0], dims[1], dims[2]);
    return 0;
}

int avk_rope3d_table(float *table, const int *pos, int64_t N, const int dims[3], float base)
{
    int D = dims[0] + dims[1] + dims[2];
    if (check_sections(dims, "rope") < 0)
        return -1;
    for (int64_t n = 0; n < N; n++) {
        float *row = table + n * D;   /* D/2 pairs of (cos, sin) */
        int pair = 0;
        for (int a = 0; a < 3; a++)
            for (int j = 0; j < dims[a] / 2; j++, pair++) {
                double inv = pow((double)base, -2.0 * j / dims[a]);
                double ang = (double)pos[n * 3 + a] * inv;
                row[2 * pair] = (float)cos(ang);
                row[2 * pair + 1] = (float)sin(ang);
            }
    }
    return 0;
}

/* Fixed 3D sine-cosine position embedding (added to the patch tokens so
 * that every token knows where it is, which relative rotary positions
 * alone do not tell it): section a of dims[a] features holds
 * sin(pos * f_j) for j < dims[a]/2, then cos(pos * f_j), f_j =
 * base^(-2j/dims[a]). out [N, dims[0] + dims[1] + dims[2]]. */
int avk_sincos3d_embed(float *out, const int *pos, int64_t N, const int dims[3], float base)
{
    int D = dims[0] + dims[1] + dims[2];
    if (check_sections(dims, "position embedding") < 0)
        return -1;
    for (int64_t n = 0; n < N; n++) {
        float *row = out + n * D;
        for (int a = 0; a < 3; a++) {
            int half = dims[a] / 2;
            for (int j = 0; j < half; j++) {
                double ang = (double)pos[n * 3 + a] * pow((double)base, -2.0 * j / dims[a]);
                row[j] = (float)sin(ang);
                row[half + j] = (float)cos(ang);
            }
            row += dims[a];
        }
    }
    return 0;
}

void avk_rope_fwd(float *y, const float *x, const float *table, int64_t BH, int64_t N, int D)
{
#pragma omp parallel for schedule(static) if (BH * N * D >= AVK_PAR_MIN)
    for (int64_t r = 0; r < BH * N; r++)
        rope_row(y + r * D, x + r * D, table + (r % N) * D, D, 1.0f, 0);
}

void avk_rope_bwd(float *dx, const float *dy, const float *table, int64_t BH, int64_t N, int D)
{
#pragma omp parallel for schedule(static) if (BH * N * D >= AVK_PAR_MIN)
    for (int64_t r = 0; r < BH * N; r++)
        rope_row(dx + r * D, dy + r * D, table + (r % N) * D, D, -1.0f, 1);
}

void avk_rope_fwd_ref(float *y, const float *x, const float *table, int64_t BH, int64_t N, int D)
{
    for (int64_t r = 0; r < BH * N; r++) {
        const float *cs = table + (r % N) * D;
        for (int p = 0; p < D / 2; p++) {
            double c = cs[2 * p], s = cs[2 * p + 1], x0 = x[r * D + 2 * p], x1 = x[r * D + 2 * p + 1];
            y[r * D + 2 * p] = (float)(x0 * c - x1 * s);
            y[r * D + 2 * p + 1] = (float)(x0 * s + x1 * c);
        }
    }
}

void avk_rope_bwd_ref(float *dx, const float *dy, const float *table, int64_t BH, int64_t N, int D)
{
    for (int64_t r = 0; r < BH * N; r++) {
        const float *cs = table + (r % N) * D;
        for (int p = 0; p < D / 2; p++) {
            double c = cs[2 * p], s = cs[2 * p + 1], g0 = dy[r * D + 2 * p], g1 = dy[r * D + 2 * p + 1];
            dx[r * D + 2 * p] += (float)(g0 * c + g1 * s);
            dx[r * D + 2 * p + 1] += (float)(-g0 * s + g1 * c);
        }
    }
}
