/* The video DiT against PyTorch (tests/golden/dit/, written by
 * tests/golden-dit.py), for the single-stream and MM-DiT variants, each
 * with the cross-attention branch and with full 3D joint attention: the
 * PyTorch-written weights load by name, the rectified-flow input x_t, the
 * prediction, the loss and every parameter gradient of one training pass
 * match to a relative error (max|a-b| / max|b|) under 1e-4, and so do the
 * losses of ten AdamW steps (weight decay on matrices only) run from the
 * same weights on the same batches. A fifth configuration takes external
 * text embeddings through context_embedder; a sixth adds the fixed
 * sine-cosine position embedding (pos_embed_type "sincos"); the last two
 * condition the video tokens per frame ("frame_cond"), single-stream and
 * MM-DiT. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "avkit/util/common.h"
#include "avkit/io/safetensors.h"
#include "avkit/nn/ops.h"
#include "avkit/models/dit.h"
#include "avkit/diffusion/flow_train.h"

#define TOL 1e-4

#include "dit_golden.h"

static void check_variant(const char *v)
{
    avk_dit *m = avk_dit_load(gpath(v, "weights"));
    if (!ok(m != NULL, "%s: PyTorch-written weights load by name%s%s", v, m ? "" : ": ",
            m ? "" : avk_errmsg()))
        return;
    avk_st_file *wf = avk_st_open(gpath(v, "weights"));
    avk_st_file *pf = avk_st_open(gpath(v, "pass"));
    avk_st_file *sf = avk_st_open(gpath(v, "steps"));
    if (!ok(wf && pf && sf, "%s: golden files open", v))
        exit(1);
    ok(m->nparam == wf->ntensors, "%s: as many tensors as PyTorch's state_dict (%d, %d)", v,
       m->nparam, wf->ntensors);

    gbatch g;
    load_batch(&g, pf, "");
    ok(rel_err(g.xt, gt(pf, "x_t", NULL), g.n) < 1e-6, "%s: x_t = (1 - t) x0 + t eps", v);
    float *pred = malloc((size_t)g.n * 4);
    double loss = train_pass(m, &g, pred);
    double e = rel_err(pred, gt(pf, "pred", NULL), g.n);
    ok(e < TOL, "%s: prediction, rel err %.2e", v, e);
    float *again = malloc((size_t)g.n * 4);
    ok(avk_dit_predict(m, &g.b, again) == 0 && !memcmp(again, pred, (size_t)g.n * 4),
       "%s: avk_dit_predict gives the training forward's prediction, bit for bit", v);
    free(again);
    double gl = gt(pf, "loss", NULL)[0];
    e = fabs(loss - gl) / fabs(gl);
    ok(e < TOL, "%s: loss %.6f vs %.6f, rel err %.2e", v, loss, gl, e);
    /* The key bias of an attention whose keys all come from one
     * unrotated projection (text encoder, cross branch) has a zero
     * gradient in exact arithmetic (softmax ignores a shift shared by all
     * scores of a row); both sides hold round-off there (~1e-9), so such
     * tensors are checked to be zero within 1e-6 of the largest gradient
     * instead of relative to themselves. */
    double gmax = 0;
    for (int i = 0; i < m->nparam; i++) {
        char name[128];
        snprintf(name, sizeof name, "grad.%s", m->params[i].name);
        const avk_st_tensor *t = avk_st_find(pf, name);
        for (int64_t j = 0; t && j < (int64_t)(t->nbytes / 4); j++)
            gmax = fmax(gmax, fabs(((const float *)t->data)[j]));
    }
    double worst = 0, worst_zero = 0;
    const char *wname = "";
    int missing = 0, nzero = 0;
    for (int i = 0; i < m->nparam; i++) {
        char name[128];
        snprintf(name, sizeof name, "grad.%s", m->params[i].name);
        const avk_st_tensor *t = avk_st_find(pf, name);
        if (!t || t->nbytes != (size_t)m->params[i].numel * 4) {
            diag("%s: %s missing or misshapen", v, name);
            missing++;
            continue;
        }
        const float *mine = m->g + m->params[i].offset;
        double tmax = 0, amax = 0;
        for (int64_t j = 0; j < m->params[i].numel; j++) {
            tmax = fmax(tmax, fabs(((const float *)t->data)[j]));
            amax = fmax(amax, fabs(mine[j]));
        }
        if (tmax < 1e-6 * gmax) {
            nzero++;
            worst_zero = fmax(worst_zero, amax / gmax);
            continue;
        }
        double pe = rel_err(mine, t->data, m->params[i].numel);
        if (pe > worst) {
            worst = pe;
            wname = m->params[i].name;
        }
        if (pe >= TOL)
            diag("%s: %s rel err %.2e", v, name, pe);
    }
    ok(!missing && worst < TOL, "%s: %d parameter gradients, worst rel err %.2e (%s)", v,
       m->nparam - nzero, worst, wname);
    ok(nzero <= 4 && worst_zero < 1e-6, "%s: %d gradients zero in exact arithmetic are zero "
       "here too (largest %.1e of the largest gradient)", v, nzero, worst_zero);
    free_batch(&g);
    free(pred);

    /* ten AdamW steps from the same weights */
    avk_dit_free(m);
    m = avk_dit_load(gpath(v, "weights"));
    float *mom = avk_fzeros(m->nfloats), *vel = avk_fzeros(m->nfloats);
    avk_adamw o = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    const float *want = gt(sf, "loss", NULL);
    double worst_step = 0;
    for (int k = 0; k < 10; k++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "step%d.", k);
        load_batch(&g, sf, prefix);
        pred = malloc((size_t)g.n * 4);
        double l = train_pass(m, &g, pred);
        for (int i = 0; i < m->nparam; i++) {
            const avk_dit_param *p = &m->params[i];
            o.weight_decay = avk_dit_param_decays(p) ? 0.01 : 0.0;
            avk_adamw_step(&o, k + 1, m->w + p->offset, m->g + p->offset, mom + p->offset,
                           vel + p->offset, p->numel);
        }
        double se = fabs(l - want[k]) / fabs(want[k]);
        if (se > worst_step)
            worst_step = se;
        diag("%s: step %d loss %.6f (PyTorch %.6f)", v, k, l, want[k]);
        free_batch(&g);
        free(pred);
    }
    ok(worst_step < TOL, "%s: ten AdamW step losses, worst rel err %.2e", v, worst_step);
    avk_ffree(mom);
    avk_ffree(vel);
    avk_st_close(wf);
    avk_st_close(pf);
    avk_st_close(sf);
    avk_dit_free(m);
}

int main(void)
{
    static const char *variants[] = {"single_cross", "single_joint", "mmdit_cross", "mmdit_joint",
                                     "single_cross_emb", "single_joint_pos", "single_joint_frame",
                                     "mmdit_joint_frame"};
    for (int i = 0; i < (int)(sizeof variants / sizeof variants[0]); i++)
        check_variant(variants[i]);
    return done_testing();
}
