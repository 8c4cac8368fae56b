/* Private to the VAE (lib/models/vae*.c): the module table that points
 * each layer at its parameters in the table's flat buffers. */
#ifndef AVKIT_VAE_INTERNAL_H
#define AVKIT_VAE_INTERNAL_H

#include "avkit/models/vae.h"

/* Free activation buffers the pool keeps at most (vae_net.c). */
#define VAE_POOL_MAX 256

/* One buffer of the activation pool, in the backend's memory. */
typedef struct vae_buf { float *p; int64_t cap; int free; } vae_buf;

/* Offsets of a layer's weight and bias in the table's buffers (w, g). */
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

/* The module table of configuration c, registering its parameters in t
 * (diffusers' state_dict order, one block per top-level module). The
 * network (vae_net.c) knows nothing of vae.c: vae.c calls it, never the
 * other way. */
avk_vae_net *avk_vae_net_build(const avk_vae_config *c, avk_params *t);
void avk_vae_net_free(avk_vae_net *n);

#define VAE_EPS 1e-6f

#endif
