/* The DiT's own operators on the device: adaLN modulation and the gated
 * residual, the timestep embedding, 3D rotary embeddings, patchify, and
 * the index-shaped ones (embedding lookup, nearest upsampling, average
 * pooling). CPU references: ops_modulate.c, ops_posemb.c, ops_patch.c,
 * ops_embed.c, ops_resample.c. */
#include "cuda_common.cuh"

#include <math.h>

#define LAUNCH(kernel, n, ...)                                                           \
    do {                                                                                 \
        if ((n) > 0) {                                                                   \
            kernel<<<avkc_blocks(n), AVKC_THREADS, 0, avkc_stream>>>(__VA_ARGS__);       \
            CU_LAUNCHED();                                                               \
        }                                                                                \
    } while (0)

/* ---- modulation and gated residual ------------------------------------ */

/* y = x (1 + scale) + shift, and h = res + gate y: the per-(sample, group)
 * row of the condition is picked from the token's position. mode 0:
 * modulate (a = shift, b = scale); mode 1: gated residual (x = res,
 * a = y, b = gate). */
__global__ void cond_fwd_kernel(float *out, const float *x, const float *a, const float *b,
                                int64_t N, int64_t per, int G, int D, int64_t n, int mode)
{
    GRID_STRIDE(i, n) {
        int64_t d = i % D, r = i / D, bi = r / N, g = (r % N) / per;
        int64_t k = (bi * G + g) * D + d;
        if (mode == 0)
            out[i] = x[i] * (1.0f + b[k]) + (a ? a[k] : 0.0f);
        else
            out[i] = x[i] + b[k] * a[i];
    }
}

/* dx += dy * (1 + scale) (mode 0) or dy += dh * gate (mode 1, no +1). */
__global__ void cond_bwd_kernel(float *dx, const float *dy, const float *c, int64_t N,
                                int64_t per, int G, int D, int64_t n, float one)
{
    GRID_STRIDE(i, n) {
        int64_t d = i % D, r = i / D, bi = r / N, g = (r % N) / per;
        dx[i] += dy[i] * (one + c[(bi * G + g) * D + d]);
    }
}

/* Per (sample, group) column sums over its tokens: prod[bg, j] += sum dy x
 * and sum[bg, j] += sum dy (either may be NULL). Grid (D/32, B*G, chunks),
 * block (32, 16); chunks add atomically. */
__global__ void group_colsum_kernel(float *prod, float *sum, const float *dy, const float *x,
                                    int64_t per, int D)
{
    __shared__ float sp[16][33], ss[16][33];
    int j = blockIdx.x * 32 + threadIdx.x;
    int64_t bg = blockIdx.y;
    int64_t chunk = (per + gridDim.z - 1) / gridDim.z;
    int64_t n0 = (int64_t)blockIdx.z * chunk, n1 = n0 + chunk < per ? n0 + chunk : per;
    float ap = 0, as = 0;
    if (j < D)
        for (int64_t t = n0 + threadIdx.y; t < n1; t += 16) {
            int64_t e = (bg * per + t) * D + j;
            float g = dy[e];
            if (prod)
                ap += g * x[e];
            as += g;
        }
    sp[threadIdx.y][threadIdx.x] = ap;
    ss[threadIdx.y][threadIdx.x] = as;
    __syncthreads();
    if (threadIdx.y == 0 && j < D) {
        for (int k = 1; k < 16; k++) {
            ap += sp[k][threadIdx.x];
            as += ss[k][threadIdx.x];
        }
        if (prod)
            atomicAdd(prod + bg * D + j, ap);
        if (sum)
            atomicAdd(sum + bg * D + j, as);
    }
}

static void group_colsum(float *prod, float *sum, const float *dy, const float *x, int B,
                         int64_t N, int G, int D)
{
    if (!prod && !sum)
        return;
    int64_t per = N / G, chunks = (per + 127) / 128;
    dim3 grid((unsigned)((D + 31) / 32), (unsigned)(B * G), (unsigned)(chunks < 32 ? chunks : 32));
    group_colsum_kernel<<<grid, dim3(32, 16), 0, avkc_stream>>>(prod, sum, dy, x, per, D);
    CU_LAUNCHED();
}

void avkc_modulate_fwd(float *y, const float *x, const float *shift, const float *scale, int B,
                       int64_t N, int G, int D)
{
    int64_t n = (int64_t)B * N * D;
    LAUNCH(cond_fwd_kernel, n, y, x, shift, scale, N, N / G, G, D, n, 0);
}

void avkc_modulate_bwd(float *dx, float *dshift, float *dscale, const float *dy, const float *x,
                       const float *scale, int B, int64_t N, int G, int D)
{
    int64_t n = (int64_t)B * N * D;
    if (dx)
        LAUNCH(cond_bwd_kernel, n, dx, dy, scale, N, N / G, G, D, n, 1.0f);
    if (n > 0)
        group_colsum(dscale, dshift, dy, x, B, N, G, D);
}

void avkc_gated_residual_fwd(float *h, const float *res, const float *y, const float *gate,
                             int B, int64_t N, int G, int D)
{
    int64_t n = (int64_t)B * N * D;
    LAUNCH(cond_fwd_kernel, n, h, res, y, gate, N, N / G, G, D, n, 1);
}

void avkc_gated_residual_bwd(float *dres, float *dy, float *dgate, const float *dh,
                             const float *y, const float *gate, int B, int64_t N, int G, int D)
{
    int64_t n = (int64_t)B * N * D;
    if (dres)
        avkc_add_inplace(dres, dh, n);
    if (dy)
        LAUNCH(cond_bwd_kernel, n, dy, dh, gate, N, N / G, G, D, n, 0.0f);
    if (dgate && n > 0)
        group_colsum(dgate, NULL, dh, y, B, N, G, D);
}

/* ---- timestep embedding ----------------------------------------------- */

/* The frequencies come from the host (the same expf/logf as the CPU
 * version, so the angles match to the bit); the angle is rounded to float
 * as there, and its cosine and sine taken in double. */
__global__ void timestep_kernel(float *out, const float *t, const float *freq, int B, int dim)
{
    int half = dim / 2;
    int64_t n = (int64_t)B * dim;
    GRID_STRIDE(i, n) {
        int b = (int)(i / dim), k = (int)(i % dim);
        if (k >= 2 * half) {
            out[i] = 0.0f;
            continue;
        }
        float a = __fmul_rn(t[b], freq[k % half]);
        out[i] = k < half ? (float)cos((double)a) : (float)sin((double)a);
    }
}

void avkc_timestep_embed(float *out, const float *t, int B, int dim, float max_period)
{
    int half = dim / 2;
    if (B <= 0 || dim <= 0)
        return;
    float *f = (float *)avk_xmalloc(sizeof(float) * (size_t)(half > 0 ? half : 1));
    for (int i = 0; i < half; i++)
        f[i] = expf(-logf(max_period) * (float)i / (float)half);
    const float *fd = (const float *)avkc_upload(f, sizeof(float) * (size_t)(half > 0 ? half : 1));
    free(f);
    int64_t n = (int64_t)B * dim;
    LAUNCH(timestep_kernel, n, out, t, fd, B, dim);
}

/* ---- rotary embedding ------------------------------------------------- */

/* One thread per pair (2p, 2p+1) of a row; sign -1 rotates back, and acc
 * adds into y (the backward). y may alias x. */
__global__ void rope_kernel(float *y, const float *x, const float *table, int64_t N, int D,
                            int64_t pairs, float sign, int acc)
{
    GRID_STRIDE(i, pairs) {
        int64_t r = i / (D / 2);
        int p = (int)(i % (D / 2));
        const float *cs = table + (r % N) * D;
        float c = cs[2 * p], s = sign * cs[2 * p + 1];
        float x0 = x[r * D + 2 * p], x1 = x[r * D + 2 * p + 1];
        float y0 = x0 * c - x1 * s, y1 = x0 * s + x1 * c;
        if (acc) {
            y[r * D + 2 * p] += y0;
            y[r * D + 2 * p + 1] += y1;
        } else {
            y[r * D + 2 * p] = y0;
            y[r * D + 2 * p + 1] = y1;
        }
    }
}

void avkc_rope_fwd(float *y, const float *x, const float *table, int64_t BH, int64_t N, int D)
{
    int64_t pairs = BH * N * (D / 2);
    LAUNCH(rope_kernel, pairs, y, x, table, N, D, pairs, 1.0f, 0);
}

void avkc_rope_bwd(float *dx, const float *dy, const float *table, int64_t BH, int64_t N, int D)
{
    int64_t pairs = BH * N * (D / 2);
    LAUNCH(rope_kernel, pairs, dx, dy, table, N, D, pairs, -1.0f, 1);
}

/* ---- patchify --------------------------------------------------------- */

/* One thread per token feature: its latent element is found from the
 * token (frame, row, column) and the feature (c, dt, dh, dw). dir 0 moves
 * latent -> token, dir 1 token -> latent; acc adds instead of writing.
 * Each latent element belongs to exactly one token feature: no races. */
__global__ void patch_kernel(float *dst, const float *src, avk_patch p, int64_t n, int dir,
                             int acc)
{
    int nh = p.H / p.ph, nw = p.W / p.pw;
    int64_t N = (int64_t)(p.T / p.pt) * nh * nw, F = (int64_t)p.C * p.pt * p.ph * p.pw;
    GRID_STRIDE(i, n) {
        int64_t f = i % F, bn = i / F, b = bn / N, tok = bn % N;
        int ti = (int)(tok / ((int64_t)nh * nw)), hi = (int)(tok / nw % nh), wi = (int)(tok % nw);
        int dw = (int)(f % p.pw), dh = (int)(f / p.pw % p.ph), dt = (int)(f / ((int64_t)p.pw * p.ph) % p.pt);
        int c = (int)(f / ((int64_t)p.pw * p.ph * p.pt));
        int64_t lat = (((b * p.C + c) * p.T + ti * p.pt + dt) * p.H + hi * p.ph + dh) * p.W +
                      (int64_t)wi * p.pw + dw;
        int64_t s = dir == 0 ? lat : i, d = dir == 0 ? i : lat;
        if (acc)
            dst[d] += src[s];
        else
            dst[d] = src[s];
    }
}

static void patch_move(float *dst, const float *src, const avk_patch *p, int dir, int acc)
{
    int64_t n = (int64_t)p->B * p->C * p->T * p->H * p->W;
    LAUNCH(patch_kernel, n, dst, src, *p, n, dir, acc);
}

void avkc_patchify_fwd(float *tokens, const float *x, const avk_patch *p)
{
    patch_move(tokens, x, p, 0, 0);
}

void avkc_patchify_bwd(float *dx, const float *dtokens, const avk_patch *p)
{
    patch_move(dx, dtokens, p, 1, 1);
}

void avkc_unpatchify_fwd(float *x, const float *tokens, const avk_patch *p)
{
    patch_move(x, tokens, p, 1, 0);
}

void avkc_unpatchify_bwd(float *dtokens, const float *dx, const avk_patch *p)
{
    patch_move(dtokens, dx, p, 0, 1);
}

/* ---- embedding lookup ------------------------------------------------- */

__global__ void ids_check_kernel(unsigned long long *first, const int32_t *ids, int64_t n,
                                 int64_t V)
{
    GRID_STRIDE(i, n)
        if (ids[i] < 0 || ids[i] >= V)
            atomicMin(first, (unsigned long long)i);
}

__global__ void embed_fwd_kernel(float *out, const float *table, const int32_t *ids, int D,
                                 int64_t n)
{
    GRID_STRIDE(i, n)
        out[i] = table[(int64_t)ids[i / D] * D + i % D];
}

/* Repeated ids add into the same row: atomically. */
__global__ void embed_bwd_kernel(float *dtable, const float *dout, const int32_t *ids, int D,
                                 int64_t n)
{
    GRID_STRIDE(i, n)
        atomicAdd(dtable + (int64_t)ids[i / D] * D + i % D, dout[i]);
}

/* The ids are device memory: they are checked on the device first and the
 * first bad position read back (an error, and nothing written). */
int avkc_embedding_fwd(float *out, const float *table, const int32_t *ids, int64_t n, int64_t V,
                       int D)
{
    if (n <= 0)
        return 0;
    unsigned long long *d = (unsigned long long *)avkc_accum(), first = 0;
    CU_CHECK(cudaMemsetAsync(d, 0xff, sizeof *d, avkc_stream));
    LAUNCH(ids_check_kernel, n, d, ids, n, V);
    CU_CHECK(cudaMemcpyAsync(&first, d, sizeof first, cudaMemcpyDeviceToHost, avkc_stream));
    CU_CHECK(cudaStreamSynchronize(avkc_stream));
    if (first != ~0ull) {
        int32_t bad = 0;
        avkc_to_host(&bad, ids + first, sizeof bad);
        return avk_error("embedding: id %d at position %lld outside the table of %lld rows",
                         (int)bad, (long long)first, (long long)V);
    }
    LAUNCH(embed_fwd_kernel, n * D, out, table, ids, D, n * D);
    return 0;
}

void avkc_embedding_bwd(float *dtable, const float *dout, const int32_t *ids, int64_t n, int D)
{
    LAUNCH(embed_bwd_kernel, n * D, dtable, dout, ids, D, n * D);
}

/* ---- nearest upsampling and average pooling --------------------------- */

__global__ void upsample_fwd_kernel(float *y, const float *x, int H, int W, int f, int64_t n)
{
    int64_t Wo = (int64_t)W * f, Ho = (int64_t)H * f;
    GRID_STRIDE(i, n) {
        int64_t w = i % Wo, h = i / Wo % Ho, p = i / (Wo * Ho);
        y[i] = x[(p * H + h / f) * W + w / f];
    }
}

/* dx[p, h, w] += sum of the f x f block of dy above it (double sum). */
__global__ void upsample_bwd_kernel(float *dx, const float *dy, int H, int W, int f, int64_t n)
{
    GRID_STRIDE(i, n) {
        int64_t w = i % W, h = i / W % H, p = i / ((int64_t)W * H);
        double s = 0;
        for (int a = 0; a < f; a++)
            for (int b = 0; b < f; b++)
                s += dy[(p * H * f + h * f + a) * W * f + w * f + b];
        dx[i] += (float)s;
    }
}

__global__ void avgpool_fwd_kernel(float *y, const float *x, int H, int W, int f, int64_t n)
{
    int Ho = H / f, Wo = W / f;
    GRID_STRIDE(i, n) {
        int64_t w = i % Wo, h = i / Wo % Ho, p = i / ((int64_t)Wo * Ho);
        double s = 0;
        for (int a = 0; a < f; a++)
            for (int b = 0; b < f; b++)
                s += x[(p * H + h * f + a) * W + w * f + b];
        y[i] = (float)(s / (f * f));
    }
}

__global__ void avgpool_bwd_kernel(float *dx, const float *dy, int H, int W, int f, int64_t n)
{
    GRID_STRIDE(i, n) {
        int64_t w = i % W, h = i / W % H, p = i / ((int64_t)W * H);
        dx[i] += (float)((double)dy[(p * (H / f) + h / f) * (W / f) + w / f] / (f * f));
    }
}

void avkc_upsample_nearest_fwd(float *y, const float *x, int64_t BC, int H, int W, int f)
{
    int64_t n = BC * H * f * W * f;
    LAUNCH(upsample_fwd_kernel, n, y, x, H, W, f, n);
}

void avkc_upsample_nearest_bwd(float *dx, const float *dy, int64_t BC, int H, int W, int f)
{
    int64_t n = BC * H * W;
    LAUNCH(upsample_bwd_kernel, n, dx, dy, H, W, f, n);
}

void avkc_avgpool_fwd(float *y, const float *x, int64_t BC, int H, int W, int f)
{
    int64_t n = BC * (H / f) * (W / f);
    LAUNCH(avgpool_fwd_kernel, n, y, x, H, W, f, n);
}

void avkc_avgpool_bwd(float *dx, const float *dy, int64_t BC, int H, int W, int f)
{
    int64_t n = BC * H * W;
    LAUNCH(avgpool_bwd_kernel, n, dx, dy, H, W, f, n);
}
