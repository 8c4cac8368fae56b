/* The CUDA backend's table (see "Backends" in include/avkit/nn/ops.h):
 * device memory and the kernels of lib/nn/cuda/ behind the same entries
 * as the CPU table. Built only with `make CUDA=1`; avk_backend_find("cuda")
 * reaches it through avk_backend_cuda(), which returns NULL (error set)
 * on a machine without a usable device. */
#include "avkit/nn/ops.h"
#include "avkit/util/common.h"
#include "cuda_ops.h"

#include <stddef.h>

#define OP(name) .name = avkc_##name

static const avk_backend cuda_backend = {
    .name = "cuda",
    .alloc = avkc_alloc,
    .free = avkc_free,
    .to_device = avkc_to_device,
    .to_host = avkc_to_host,
    .copy = avkc_copy,
    .zero = avkc_zero,
    .fill = avkc_fill,
    .sync = avkc_sync,
    OP(add_inplace), OP(add), OP(axpy), OP(scale), OP(sumsq), OP(find_nonfinite),
    OP(permute), OP(permute_acc),
    OP(gemm), OP(linear_fwd), OP(linear_bwd), OP(embedding_fwd), OP(embedding_bwd),
    OP(conv2d_fwd), OP(conv2d_bwd),
    OP(groupnorm_fwd), OP(groupnorm_bwd), OP(layernorm_fwd), OP(layernorm_bwd),
    OP(rmsnorm_fwd), OP(rmsnorm_bwd),
    OP(silu_fwd), OP(silu_bwd), OP(gelu_fwd), OP(gelu_bwd),
    OP(softmax_fwd), OP(softmax_bwd), OP(attention_fwd), OP(attention_bwd),
    OP(modulate_fwd), OP(modulate_bwd), OP(gated_residual_fwd), OP(gated_residual_bwd),
    OP(timestep_embed), OP(rope_fwd), OP(rope_bwd),
    OP(patchify_fwd), OP(patchify_bwd), OP(unpatchify_fwd), OP(unpatchify_bwd),
    OP(upsample_nearest_fwd), OP(upsample_nearest_bwd), OP(avgpool_fwd), OP(avgpool_bwd),
    OP(clamp_fwd), OP(clamp_bwd), OP(split_channels_fwd), OP(split_channels_bwd),
    OP(mse_loss), OP(l1_loss), OP(kl_gaussian_loss),
    OP(gaussian_sample_fwd), OP(gaussian_sample_bwd),
    OP(adamw_step), OP(grad_global_norm), OP(grad_clip),
};

/* The table, once a device answers; NULL with the error set otherwise
 * ("no CUDA device" on a machine without one). */
const avk_backend *avk_backend_cuda(void)
{
    if (avkc_init() < 0)
        return NULL;
    return &cuda_backend;
}
