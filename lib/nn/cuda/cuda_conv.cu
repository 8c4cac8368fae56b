/* conv2d on the device: per image, im2col into device scratch and one
 * cuBLAS GEMM with the weight [Cout, Cin*kh*kw]; the backward forms the
 * column gradient with the transposed weight and folds it back (col2im as
 * a gather, so no two threads write one input element). CPU reference:
 * ops_conv.c. */
#include "cuda_common.cuh"
#include "cuda_gemm.cuh"

/* col[(c kh + i) kw + j, oh Wo + ow] = x[c, oh s - pt + i, ow s - pl + j]
 * (zero outside the image). */
__global__ void im2col_kernel(float *col, const float *x, avk_conv2d c, int Ho, int Wo)
{
    int64_t P = (int64_t)Ho * Wo, n = (int64_t)c.Cin * c.kh * c.kw * P;
    GRID_STRIDE(e, n) {
        int64_t pos = e % P, row = e / P;
        int j = (int)(row % c.kw), i = (int)(row / c.kw % c.kh), ch = (int)(row / ((int64_t)c.kw * c.kh));
        int oh = (int)(pos / Wo), ow = (int)(pos % Wo);
        int h = oh * c.stride - c.pad_top + i, w = ow * c.stride - c.pad_left + j;
        col[e] = h >= 0 && h < c.H && w >= 0 && w < c.W ? x[((int64_t)ch * c.H + h) * c.W + w] : 0.0f;
    }
}

/* dx[ch, h, w] += every column entry that im2col copied from it. */
__global__ void col2im_kernel(float *dx, const float *col, avk_conv2d c, int Ho, int Wo)
{
    int64_t P = (int64_t)Ho * Wo, n = (int64_t)c.Cin * c.H * c.W;
    GRID_STRIDE(e, n) {
        int w = (int)(e % c.W), h = (int)(e / c.W % c.H), ch = (int)(e / ((int64_t)c.W * c.H));
        float s = 0;
        for (int i = 0; i < c.kh; i++) {
            int th = h + c.pad_top - i;
            if (th < 0 || th % c.stride)
                continue;
            int oh = th / c.stride;
            if (oh >= Ho)
                continue;
            for (int j = 0; j < c.kw; j++) {
                int tw = w + c.pad_left - j;
                if (tw < 0 || tw % c.stride)
                    continue;
                int ow = tw / c.stride;
                if (ow >= Wo)
                    continue;
                s += col[(((int64_t)ch * c.kh + i) * c.kw + j) * P + (int64_t)oh * Wo + ow];
            }
        }
        dx[e] += s;
    }
}

/* y[b, o, :] = bias[o] before the GEMM adds the products (beta = 1). */
__global__ void bias_planes_kernel(float *y, const float *b, int Cout, int64_t P, int64_t n)
{
    GRID_STRIDE(i, n)
        y[i] = b[(i / P) % Cout];
}

/* db[o] += sum over images and positions of dy[b, o, :]: one block per o. */
__global__ void bias_grad_kernel(float *db, const float *dy, int B, int Cout, int64_t P)
{
    int o = blockIdx.x;
    double s = 0;
    for (int b = 0; b < B; b++)
        for (int64_t p = threadIdx.x; p < P; p += blockDim.x)
            s += dy[((int64_t)b * Cout + o) * P + p];
    s = block_sum_d(s);
    if (threadIdx.x == 0)
        db[o] += (float)s;
}

void avkc_conv2d_fwd(float *y, const float *x, const float *w, const float *b, const avk_conv2d *c)
{
    int Ho = avk_conv2d_out_h(c), Wo = avk_conv2d_out_w(c);
    int64_t P = (int64_t)Ho * Wo, CKK = (int64_t)c->Cin * c->kh * c->kw;
    int64_t ny = (int64_t)c->B * c->Cout * P;
    if (ny <= 0)
        return;
    if (b) {
        bias_planes_kernel<<<avkc_blocks(ny), AVKC_THREADS, 0, avkc_stream>>>(y, b, c->Cout, P, ny);
        CU_LAUNCHED();
    }
    float *col = (float *)avkc_scratch(1, (size_t)(CKK * P) * sizeof(float));
    for (int bi = 0; bi < c->B; bi++) {
        const float *xb = x + (int64_t)bi * c->Cin * c->H * c->W;
        im2col_kernel<<<avkc_blocks(CKK * P), AVKC_THREADS, 0, avkc_stream>>>(col, xb, *c, Ho, Wo);
        CU_LAUNCHED();
        avkc_gemm_typed('N', 'N', c->Cout, P, CKK, 1.0f, w, CKK, col, P, b ? 1.0f : 0.0f,
                        y + (int64_t)bi * c->Cout * P, P, CUDA_R_32F, avkc_math());
    }
}

void avkc_conv2d_bwd(float *dx, float *dw, float *db, const float *dy, const float *x,
                     const float *w, const avk_conv2d *c)
{
    int Ho = avk_conv2d_out_h(c), Wo = avk_conv2d_out_w(c);
    int64_t P = (int64_t)Ho * Wo, CKK = (int64_t)c->Cin * c->kh * c->kw;
    if ((int64_t)c->B * c->Cout * P <= 0)
        return;
    if (db) {
        bias_grad_kernel<<<c->Cout, 256, 0, avkc_stream>>>(db, dy, c->B, c->Cout, P);
        CU_LAUNCHED();
    }
    float *col = (float *)avkc_scratch(1, (size_t)(CKK * P) * sizeof(float));
    int64_t nx = (int64_t)c->Cin * c->H * c->W;
    for (int bi = 0; bi < c->B; bi++) {
        const float *dyb = dy + (int64_t)bi * c->Cout * P;
        if (dw) {
            im2col_kernel<<<avkc_blocks(CKK * P), AVKC_THREADS, 0, avkc_stream>>>(
                col, x + (int64_t)bi * nx, *c, Ho, Wo);
            CU_LAUNCHED();
            avkc_gemm_typed('N', 'T', c->Cout, CKK, P, 1.0f, dyb, P, col, P, 1.0f, dw, CKK,
                            CUDA_R_32F, avkc_math());
        }
        if (dx) {
            avkc_gemm_typed('T', 'N', CKK, P, c->Cout, 1.0f, w, CKK, dyb, P, 0.0f, col, P,
                            CUDA_R_32F, avkc_math());
            col2im_kernel<<<avkc_blocks(nx), AVKC_THREADS, 0, avkc_stream>>>(
                dx + (int64_t)bi * nx, col, *c, Ho, Wo);
            CU_LAUNCHED();
        }
    }
}
