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

#define OP(name) .name = avk_##name,

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
    AVK_BACKEND_OPS(OP)
};

const avk_backend *avk_backend_cpu(void)
{
    return &cpu_backend;
}
