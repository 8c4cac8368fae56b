/* The CUDA backend's entries: one function per member of avk_backend,
 * named avkc_OP and declared with the type of the CPU function avk_OP, so
 * a definition in a .cu file that differs from the CPU signature does not
 * compile. Private to lib/nn/cuda/ (backend_cuda.c builds the table). */
#ifndef AVK_CUDA_OPS_H
#define AVK_CUDA_OPS_H

#include <stddef.h>
#include <stdint.h>
#include "avkit/nn/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 0 when a device is usable (creates the stream and cuBLAS handle once),
 * else -1 with the error set; safe to call repeatedly. */
int avkc_init(void);
void *avkc_alloc(size_t bytes);
void avkc_free(void *p);
void avkc_to_device(void *dst, const void *host_src, size_t bytes);
void avkc_to_host(void *host_dst, const void *src, size_t bytes);
void avkc_copy(void *dst, const void *src, size_t bytes);
void avkc_zero(void *p, size_t bytes);
void avkc_fill(float *p, int64_t n, float value);
void avkc_sync(void);

#define AVKC_DECL(op) __typeof__(avk_##op) avkc_##op
AVKC_DECL(add_inplace); AVKC_DECL(add); AVKC_DECL(axpy); AVKC_DECL(scale);
AVKC_DECL(sumsq); AVKC_DECL(find_nonfinite); AVKC_DECL(permute); AVKC_DECL(permute_acc);
AVKC_DECL(gemm); AVKC_DECL(linear_fwd); AVKC_DECL(linear_bwd);
AVKC_DECL(embedding_fwd); AVKC_DECL(embedding_bwd);
AVKC_DECL(conv2d_fwd); AVKC_DECL(conv2d_bwd);
AVKC_DECL(groupnorm_fwd); AVKC_DECL(groupnorm_bwd);
AVKC_DECL(layernorm_fwd); AVKC_DECL(layernorm_bwd);
AVKC_DECL(rmsnorm_fwd); AVKC_DECL(rmsnorm_bwd);
AVKC_DECL(silu_fwd); AVKC_DECL(silu_bwd); AVKC_DECL(gelu_fwd); AVKC_DECL(gelu_bwd);
AVKC_DECL(softmax_fwd); AVKC_DECL(softmax_bwd);
AVKC_DECL(attention_fwd); AVKC_DECL(attention_bwd);
AVKC_DECL(modulate_fwd); AVKC_DECL(modulate_bwd);
AVKC_DECL(gated_residual_fwd); AVKC_DECL(gated_residual_bwd);
AVKC_DECL(timestep_embed); AVKC_DECL(rope_fwd); AVKC_DECL(rope_bwd);
AVKC_DECL(patchify_fwd); AVKC_DECL(patchify_bwd);
AVKC_DECL(unpatchify_fwd); AVKC_DECL(unpatchify_bwd);
AVKC_DECL(upsample_nearest_fwd); AVKC_DECL(upsample_nearest_bwd);
AVKC_DECL(avgpool_fwd); AVKC_DECL(avgpool_bwd);
AVKC_DECL(clamp_fwd); AVKC_DECL(clamp_bwd);
AVKC_DECL(split_channels_fwd); AVKC_DECL(split_channels_bwd);
AVKC_DECL(mse_loss); AVKC_DECL(l1_loss); AVKC_DECL(kl_gaussian_loss);
AVKC_DECL(gaussian_sample_fwd); AVKC_DECL(gaussian_sample_bwd);
AVKC_DECL(adamw_step); AVKC_DECL(grad_global_norm); AVKC_DECL(grad_clip);
#undef AVKC_DECL

#ifdef __cplusplus
}
#endif

#endif
