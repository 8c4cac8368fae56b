/* The ZeRO shard's AdamW (avk_params_adamw_range) against the whole
 * table's (avk_params_adamw): the table cut into ranges at any float
 * (inside tensors, across decay runs, at the tail) updates bitwise the
 * same as one call, with the range's gradients and moments in buffers of
 * their own, and the step is not stored by the ranged form. */
#include <string.h>
#include "tap.h"
#include "avkit/nn/params.h"
#include "avkit/nn/tensor.h"

/* A table of mixed decay flags and odd sizes, weights and gradients set. */
static avk_params *table(void)
{
    avk_params *t = avk_params_new();
    avk_params_block(t, "a");
    avk_params_add(t, 2, (int64_t[]){7, 5}, 1, "a.weight");
    avk_params_add(t, 1, (int64_t[]){5}, 0, "a.bias");
    avk_params_block(t, "b");
    avk_params_add(t, 2, (int64_t[]){13, 3}, 1, "b.weight");
    avk_params_add(t, 1, (int64_t[]){3}, 0, "b.norm");
    avk_params_add(t, 1, (int64_t[]){19}, 1, "b.proj");
    avk_params_alloc(t);
    float *g = avk_params_grads(t);
    avk_rng r;
    avk_rng_seed(&r, 7);
    for (int i = 0; i < t->n; i++) {
        avk_fill_randn(t->w + t->p[i].offset, t->p[i].numel, &r, 0.0f, 1.0f);
        avk_fill_randn(g + t->p[i].offset, t->p[i].numel, &r, 0.0f, 0.1f);
    }
    avk_params_optim(t);
    return t;
}

int main(void)
{
    avk_adamw o = avk_adamw_defaults();
    o.lr = 1e-2;
    o.weight_decay = 0.1;
    avk_params *ref = table();
    for (int s = 0; s < 3; s++)
        avk_params_adamw(ref, &o);
    int64_t total = ref->total;
    /* cut points: inside a.weight, on a tensor start, inside b.proj */
    int64_t cuts[][2] = {{0, 17}, {17, ref->p[2].offset}, {ref->p[2].offset, total - 5},
                         {total - 5, total}};
    avk_params *t = table();
    float *m = avk_fzeros(total), *v = avk_fzeros(total);
    for (int s = 0; s < 3; s++)
        for (int c = 0; c < 4; c++) {
            int64_t lo = cuts[c][0], hi = cuts[c][1];
            float *gs = avk_falloc(hi - lo), *ms = avk_falloc(hi - lo), *vs = avk_falloc(hi - lo);
            memcpy(gs, t->g + lo, (size_t)(hi - lo) * 4);
            memcpy(ms, m + lo, (size_t)(hi - lo) * 4);
            memcpy(vs, v + lo, (size_t)(hi - lo) * 4);
            avk_params_adamw_range(t, &o, s + 1, lo, hi, gs, ms, vs);
            memcpy(m + lo, ms, (size_t)(hi - lo) * 4);
            memcpy(v + lo, vs, (size_t)(hi - lo) * 4);
            avk_ffree(gs);
            avk_ffree(ms);
            avk_ffree(vs);
        }
    ok(t->step == 0, "the ranged form does not store the step");
    ok(memcmp(t->w, ref->w, (size_t)total * 4) == 0, "weights bitwise equal after 3 steps");
    ok(memcmp(m, ref->m, (size_t)total * 4) == 0 && memcmp(v, ref->v, (size_t)total * 4) == 0,
       "moments bitwise equal");
    avk_ffree(m);
    avk_ffree(v);
    avk_params_free(t);
    avk_params_free(ref);
    return done_testing();
}
