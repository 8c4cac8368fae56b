/* The DiT's activation arena: every buffer one forward and its backward
 * use comes from here; the model keeps the arena between steps and hands
 * the same blocks out again (see dit_internal.h). */
#include <stdlib.h>
#include <string.h>
#include "avkit/util/common.h"
#include "dit_internal.h"

float *dit_alloc(dit_arena *a, int64_t n)
{
    if (n < 1)
        n = 1;
    if (a->cursor < a->n) {             /* replay: the block of this position */
        int i = a->cursor++;
        if (a->sizes[i] < n) {
            avk_ffree(a->ptrs[i]);
            a->ptrs[i] = avk_falloc(n);
            a->sizes[i] = n;
        }
        return a->ptrs[i];
    }
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 256;
        a->ptrs = avk_xrealloc(a->ptrs, (size_t)a->cap * sizeof *a->ptrs);
        a->sizes = avk_xrealloc(a->sizes, (size_t)a->cap * sizeof *a->sizes);
    }
    a->ptrs[a->n] = avk_falloc(n);
    a->sizes[a->n] = n;
    a->cursor = ++a->n;
    return a->ptrs[a->n - 1];
}

float *dit_zeros(dit_arena *a, int64_t n)
{
    float *p = dit_alloc(a, n);
    memset(p, 0, (size_t)(n > 0 ? n : 1) * sizeof(float));
    return p;
}

/* Byte buffers (index lists, saved states) come zeroed. */
void *dit_alloc_bytes(dit_arena *a, size_t n)
{
    return dit_zeros(a, (int64_t)((n + 3) / 4));
}

void dit_arena_rewind(dit_arena *a)
{
    a->cursor = 0;
}

void dit_arena_free(dit_arena *a)
{
    for (int i = 0; i < a->n; i++)
        avk_ffree(a->ptrs[i]);
    free(a->ptrs);
    free(a->sizes);
    memset(a, 0, sizeof *a);
}
