/* Golden-file helpers shared by the DiT unit tests (test_dit.c,
 * test_dit_bf16.c): paths of tests/golden/dit/, tensor lookup, one golden
 * batch with its x_t and target, and one training pass. Include after
 * tap.h and the avkit headers they use. */
#ifndef AVKIT_TEST_DIT_GOLDEN_H
#define AVKIT_TEST_DIT_GOLDEN_H

static __attribute__((unused)) const char *gpath(const char *variant, const char *kind)
{
    static char buf[4096];
    const char *src = getenv("SRC_DIR");
    snprintf(buf, sizeof buf, "%s/tests/golden/dit/%s.%s.safetensors", src ? src : ".", variant, kind);
    return buf;
}

static __attribute__((unused)) const float *gt(const avk_st_file *f, const char *name, int64_t *n)
{
    const avk_st_tensor *t = avk_st_find(f, name);
    if (!t) {
        diag("golden tensor %s missing", name);
        exit(1);
    }
    if (n)
        *n = (int64_t)(t->nbytes / 4);
    return t->data;
}

/* One golden batch (prefix "" or "stepK."), with x_t and the target. */
typedef struct gbatch {
    avk_dit_batch b;
    int32_t *tokens;
    int *len;
    float *xt, *target;
    int64_t n;
} gbatch;

static __attribute__((unused)) void load_batch(gbatch *g, const avk_st_file *f, const char *prefix)
{
    char name[64];
    const avk_st_tensor *tx;
    snprintf(name, sizeof name, "%sx0", prefix);
    tx = avk_st_find(f, name);
    if (!tx) {
        diag("golden tensor %s missing", name);
        exit(1);
    }
    int B = (int)tx->shape[0];
    g->n = (int64_t)(tx->nbytes / 4);
    snprintf(name, sizeof name, "%seps", prefix);
    const float *eps = gt(f, name, NULL);
    snprintf(name, sizeof name, "%st", prefix);
    const float *t = gt(f, name, NULL);
    int64_t nt;
    snprintf(name, sizeof name, "%stext_emb", prefix);
    const avk_st_tensor *emb = avk_st_find(f, name);
    snprintf(name, sizeof name, "%stokens", prefix);
    const float *tok = emb ? NULL : gt(f, name, &nt);
    snprintf(name, sizeof name, "%stext_len", prefix);
    const float *len = gt(f, name, NULL);
    if (emb)
        nt = emb->shape[0] * emb->shape[1];
    g->tokens = malloc((size_t)nt * sizeof *g->tokens);
    g->len = malloc((size_t)B * sizeof *g->len);
    for (int64_t i = 0; i < nt; i++)
        g->tokens[i] = tok ? (int32_t)tok[i] : 0;
    for (int i = 0; i < B; i++)
        g->len[i] = (int)len[i];
    g->xt = malloc((size_t)g->n * 4);
    g->target = malloc((size_t)g->n * 4);
    avk_flow_interp(g->xt, g->target, tx->data, eps, t, B, g->n / B);
    g->b = (avk_dit_batch){.B = B, .T = (int)tx->shape[2], .H = (int)tx->shape[3],
                           .W = (int)tx->shape[4], .x = g->xt, .t = t, .L = (int)(nt / B),
                           .tokens = emb ? NULL : g->tokens,
                           .text_emb = emb ? emb->data : NULL, .text_len = g->len};
}

static __attribute__((unused)) void free_batch(gbatch *g)
{
    free(g->tokens);
    free(g->len);
    free(g->xt);
    free(g->target);
}

/* One forward + MSE + backward; returns the loss, pred into *pred. */
static __attribute__((unused)) double train_pass(avk_dit *m, gbatch *g, float *pred)
{
    float *dpred = calloc((size_t)g->n, 4);
    avk_dit_acts *a = avk_dit_forward(m, &g->b, pred);
    if (!a) {
        diag("forward: %s", avk_errmsg());
        exit(1);
    }
    double loss = avk_mse_loss(dpred, pred, g->target, g->n, 1.0f);
    memset(m->g, 0, (size_t)m->nfloats * 4);
    avk_dit_backward(m, a, dpred);
    avk_dit_acts_free(a);
    free(dpred);
    return loss;
}

#endif
