/* The DiT's activation arena: every buffer one forward and its backward
 * use is allocated here and freed together with the activations. */
#include <stdlib.h>
#include <string.h>
#include "avkit/util/common.h"
#include "dit_internal.h"

/* Remember a pointer for dit_arena_free. */
static void keep(dit_arena *a, void *p)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 256;
        a->ptrs = avk_xrealloc(a->ptrs, (size_t)a->cap * sizeof *a->ptrs);
    }
    a->ptrs[a->n++] = p;
}

float *dit_alloc(dit_arena *a, int64_t n)
{
    float *p = avk_falloc(n > 0 ? n : 1);
    keep(a, p);
    return p;
}

float *dit_zeros(dit_arena *a, int64_t n)
{
    float *p = avk_fzeros(n > 0 ? n : 1);
    keep(a, p);
    return p;
}

/* Byte buffers go through the same aligned allocator. */
void *dit_alloc_bytes(dit_arena *a, size_t n)
{
    float *p = avk_fzeros((int64_t)((n + 3) / 4 + 1));
    keep(a, p);
    return p;
}

void dit_arena_free(dit_arena *a)
{
    for (int i = 0; i < a->n; i++)
        avk_ffree(a->ptrs[i]);
    free(a->ptrs);
    memset(a, 0, sizeof *a);
}
