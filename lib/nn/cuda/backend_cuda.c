/* The CUDA backend's table (see "Backends" in include/avkit/nn/ops.h):
 * device memory and the kernels of lib/nn/cuda/ behind the same entries
 * as the CPU table. Built only with `make CUDA=1`; avk_backend_find("cuda")
 * reaches it through avk_backend_cuda(), which returns NULL (error set)
 * on a machine without a usable device. */
#include "avkit/nn/ops.h"
#include "avkit/util/common.h"
#include "cuda_ops.h"

#include <stddef.h>

#define OP(name) .name = avkc_##name,

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
    AVK_BACKEND_OPS(OP)
};

/* The table, once a device answers; NULL with the error set otherwise
 * ("no CUDA device" on a machine without one). */
const avk_backend *avk_backend_cuda(void)
{
    if (avkc_init() < 0)
        return NULL;
    return &cuda_backend;
}
