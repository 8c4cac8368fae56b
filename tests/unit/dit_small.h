/* The small DiT of the model-level unit tests (test_dit_sp.c,
 * test_dit_split.c): width 48, 3 blocks, MLP ratio 2, one text layer,
 * 64 tokens of at most 8 positions; the caller sets the variant (heads,
 * streams, attention, conditioning) before dit_small_model builds it with
 * every weight random (seed 7, N(0, 0.08)), so no adaLN gate or output
 * projection is zero and every path carries signal. */
#ifndef AVKIT_TEST_DIT_SMALL_H
#define AVKIT_TEST_DIT_SMALL_H

#include "avkit/models/dit.h"
#include "avkit/nn/tensor.h"

static inline avk_dit_config dit_small_config(void)
{
    avk_dit_config c = avk_dit_config_default();
    c.hidden = 48;
    c.heads = 4;
    c.depth = 3;
    c.mlp_ratio = 2;
    c.vocab_size = 64;
    c.max_text_len = 8;
    c.text_layers = 1;
    c.freq_dim = 32;
    return c;
}

/* The model of c with random weights; NULL (error set) when c is unusable. */
static inline avk_dit *dit_small_model(const avk_dit_config *c)
{
    avk_dit *m = avk_dit_new(c);
    if (!m)
        return NULL;
    avk_rng r;
    avk_rng_seed(&r, 7);
    avk_fill_randn(m->w, m->nfloats, &r, 0.0f, 0.08f);
    return m;
}

#endif
