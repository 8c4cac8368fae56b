/* Private to the VAE (lib/vae*.c): the module table that points each
 * layer at its parameters in the flat buffer. */
#ifndef AVKIT_VAE_INTERNAL_H
#define AVKIT_VAE_INTERNAL_H

#include "avkit/models/vae.h"

/* Free activation buffers the pool keeps at most (vae_net.c). */
#define VAE_POOL_MAX 256

/* One buffer of the activation pool, in the backend's memory. */
typedef struct vae_buf { float *p; int64_t cap; int free; } vae_buf;

/* Offsets of a layer's weight and bias in avk_vae.params / grads. */
typedef struct vae_conv { int64_t w, b; int cin, cout, k; } vae_conv;
typedef struct vae_norm { int64_t g, b; int c; } vae_norm;
typedef struct vae_lin  { int64_t w, b; int in, out; } vae_lin;

/* ResnetBlock2D without a time embedding. */
typedef struct vae_res {
    int cin, cout, has_shortcut;
    vae_norm norm1, norm2;
    vae_conv conv1, conv2, shortcut;
} vae_res;

/* Attention of the mid block: one head over all H*W positions. */
typedef struct vae_attn {
    int c;
    vae_norm gn;
    vae_lin q, k, v, o;
} vae_attn;

typedef struct vae_mid {
    vae_res r0, r1;
    int has_attn;
    vae_attn attn;
} vae_mid;

struct avk_vae_net {
    int nb, nl;               /* blocks; resnets per encoder block (decoder: nl + 1) */
    /* encoder */
    vae_conv e_in;
    vae_res *e_res;           /* [nb * nl] */
    vae_conv *e_down;         /* [nb - 1] */
    vae_mid e_mid;
    vae_norm e_nout;
    vae_conv e_out;
    vae_conv quant;           /* cout 0 when absent */
    /* decoder */
    vae_conv post_quant;      /* cout 0 when absent */
    vae_conv d_in;
    vae_mid d_mid;
    vae_res *d_res;           /* [nb * (nl + 1)] */
    vae_conv *d_up;           /* [nb - 1] */
    vae_norm d_nout;
    vae_conv d_out;
    /* the backend the passes run on (ops.h), and its buffers (vae_net.c) */
    const struct avk_backend *be;
    vae_buf *bufs;            /* every buffer the pool holds, free or lent */
    int nbufs, bufcap, nfree;
};

/* Register a parameter (name printf-style); returns its offset. */
int64_t avk_vae_reg(avk_vae *v, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Build v->net and the parameter table for v->cfg. */
void avk_vae_build(avk_vae *v);
void avk_vae_net_free(avk_vae_net *n);

#define VAE_EPS 1e-6f

#endif
