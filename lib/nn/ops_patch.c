/* Patchify and unpatchify of video latents [B, C, T, H, W] into tokens
 * [B, N, C*pt*ph*pw]: pure index permutations, so each direction's
 * backward is the other direction, accumulating. */
#include "avkit/nn/ops.h"
#include "ops_util.h"

/* One routine for all four cases: dir 0 copies latent -> token, dir 1
 * token -> latent; acc adds instead of writing. Threads over tokens (each
 * token's elements are distinct in both layouts, so no races). */
static void patch_move(float *dst, const float *src, const avk_patch *p, int dir, int acc)
{
    int nt = p->T / p->pt, nh = p->H / p->ph, nw = p->W / p->pw;
    int64_t N = (int64_t)nt * nh * nw, F = (int64_t)p->C * p->pt * p->ph * p->pw;
    int64_t HW = (int64_t)p->H * p->W;
#pragma omp parallel for schedule(static) if ((int64_t)p->B * N * F >= AVK_PAR_MIN)
    for (int64_t bn = 0; bn < (int64_t)p->B * N; bn++) {
        int64_t b = bn / N, n = bn % N;
        int ti = (int)(n / ((int64_t)nh * nw)), hi = (int)(n / nw % nh), wi = (int)(n % nw);
        int64_t tok = bn * F;
        int64_t f = 0;
        for (int c = 0; c < p->C; c++)
            for (int dt = 0; dt < p->pt; dt++)
                for (int dh = 0; dh < p->ph; dh++) {
                    int64_t lat = ((b * p->C + c) * p->T + ti * p->pt + dt) * HW +
                                  (int64_t)(hi * p->ph + dh) * p->W + (int64_t)wi * p->pw;
                    for (int dw = 0; dw < p->pw; dw++, f++) {
                        if (dir == 0) {
                            if (acc)
                                dst[tok + f] += src[lat + dw];
                            else
                                dst[tok + f] = src[lat + dw];
                        } else {
                            if (acc)
                                dst[lat + dw] += src[tok + f];
                            else
                                dst[lat + dw] = src[tok + f];
                        }
                    }
                }
    }
}

void avk_patchify_fwd(float *tokens, const float *x, const avk_patch *p)
{
    patch_move(tokens, x, p, 0, 0);
}

void avk_patchify_bwd(float *dx, const float *dtokens, const avk_patch *p)
{
    patch_move(dx, dtokens, p, 1, 1);
}

void avk_unpatchify_fwd(float *x, const float *tokens, const avk_patch *p)
{
    patch_move(x, tokens, p, 1, 0);
}

void avk_unpatchify_bwd(float *dtokens, const float *dx, const avk_patch *p)
{
    patch_move(dtokens, dx, p, 0, 1);
}

/* Reference: the definition written as six nested loops over the latent. */
void avk_patchify_fwd_ref(float *tokens, const float *x, const avk_patch *p)
{
    int nt = p->T / p->pt, nh = p->H / p->ph, nw = p->W / p->pw;
    int64_t F = (int64_t)p->C * p->pt * p->ph * p->pw;
    for (int b = 0; b < p->B; b++)
        for (int c = 0; c < p->C; c++)
            for (int t = 0; t < p->T; t++)
                for (int h = 0; h < p->H; h++)
                    for (int w = 0; w < p->W; w++) {
                        int64_t n = ((int64_t)(t / p->pt) * nh + h / p->ph) * nw + w / p->pw;
                        int64_t f = (((int64_t)c * p->pt + t % p->pt) * p->ph + h % p->ph) * p->pw + w % p->pw;
                        tokens[((int64_t)b * nt * nh * nw + n) * F + f] =
                            x[((((int64_t)b * p->C + c) * p->T + t) * p->H + h) * p->W + w];
                    }
}

void avk_unpatchify_fwd_ref(float *x, const float *tokens, const avk_patch *p)
{
    int nt = p->T / p->pt, nh = p->H / p->ph, nw = p->W / p->pw;
    int64_t F = (int64_t)p->C * p->pt * p->ph * p->pw;
    for (int b = 0; b < p->B; b++)
        for (int c = 0; c < p->C; c++)
            for (int t = 0; t < p->T; t++)
                for (int h = 0; h < p->H; h++)
                    for (int w = 0; w < p->W; w++) {
                        int64_t n = ((int64_t)(t / p->pt) * nh + h / p->ph) * nw + w / p->pw;
                        int64_t f = (((int64_t)c * p->pt + t % p->pt) * p->ph + h % p->ph) * p->pw + w % p->pw;
                        x[((((int64_t)b * p->C + c) * p->T + t) * p->H + h) * p->W + w] =
                            tokens[((int64_t)b * nt * nh * nw + n) * F + f];
                    }
}
