/* The CPU backend's table: host memory, and the operators of ops.h and
 * tensor.h themselves as its entries (see "Backends" in ops.h). */
#include "avkit/nn/ops.h"
#include "avkit/util/common.h"

#include <stdlib.h>
#include <string.h>

/* 64-byte aligned host memory (cache lines, and the widest vectors). */
static void *cpu_alloc(size_t bytes)
{
    void *p = NULL;
    size_t rounded = ((bytes ? bytes : 1) + 63) & ~(size_t)63;
    if (rounded < bytes || posix_memalign(&p, 64, rounded) != 0) {
        avk_error("cpu backend: out of memory (%zu bytes)", bytes);
        return NULL;
    }
    return p;
}

static void cpu_free(void *p)
{
    free(p);
}

/* Host and "device" are the same memory: every copy is a memcpy. */
static void cpu_copy(void *dst, const void *src, size_t bytes)
{
    if (bytes)
        memcpy(dst, src, bytes);
}

static void cpu_zero(void *p, size_t bytes)
{
    if (bytes)
        memset(p, 0, bytes);
}

static void cpu_fill(float *p, int64_t n, float value)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = value;
}

/* The CPU runs each call to completion: nothing is ever queued. */
static void cpu_sync(void)
{
}

#define OP(name) .name = avk_##name

static const avk_backend cpu_backend = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .to_device = cpu_copy,
    .to_host = cpu_copy,
    .copy = cpu_copy,
    .zero = cpu_zero,
    .fill = cpu_fill,
    .sync = cpu_sync,
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

const avk_backend *avk_backend_cpu(void)
{
    return &cpu_backend;
}
