/* av-train --precision bf16 at the model level, on the golden
 * configurations of tests/golden/dit/ (the PyTorch-written weights and
 * batches of the ten AdamW steps): with bf16 numerics emulated on any CPU
 * (AVK_BF16_EMULATE: operands of every linear layer and attention product
 * rounded to bf16, f32 accumulation) the ten losses stay within 2e-2
 * relative of fp32's while differing from them (the bf16 path really
 * ran); with the fp32 fallback (what a CPU without bf16 runs) a bf16 model
 * computes bit for bit as fp32, losses and final weights. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "avkit/util/common.h"
#include "avkit/io/safetensors.h"
#include "avkit/nn/ops.h"
#include "avkit/nn/ops_bf16.h"
#include "avkit/models/dit.h"
#include "avkit/diffusion/flow_train.h"

#include "dit_golden.h"

/* Ten AdamW steps from the golden weights at a precision: the losses
 * into loss[10], the final weights returned (malloc'd). */
static float *ten_steps(const char *v, avk_dit_precision prec, double *loss)
{
    avk_st_file *sf = avk_st_open(gpath(v, "steps"));
    avk_dit *m = avk_dit_load(gpath(v, "weights"));
    if (!sf || !m) {
        diag("%s: %s", v, avk_errmsg());
        exit(1);
    }
    m->precision = prec;
    float *mom = avk_fzeros(m->nfloats), *vel = avk_fzeros(m->nfloats);
    avk_adamw o = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    for (int k = 0; k < 10; k++) {
        char prefix[32];
        gbatch g;
        snprintf(prefix, sizeof prefix, "step%d.", k);
        load_batch(&g, sf, prefix);
        float *pred = malloc((size_t)g.n * 4);
        loss[k] = train_pass(m, &g, pred);
        for (int i = 0; i < m->nparam; i++) {
            const avk_dit_param *p = &m->params[i];
            o.weight_decay = avk_dit_param_decays(p) ? 0.01 : 0.0;
            avk_adamw_step(&o, k + 1, m->w + p->offset, m->g + p->offset, mom + p->offset,
                           vel + p->offset, p->numel);
        }
        free_batch(&g);
        free(pred);
    }
    float *w = malloc((size_t)m->nfloats * 4);
    memcpy(w, m->w, (size_t)m->nfloats * 4);
    avk_ffree(mom);
    avk_ffree(vel);
    avk_dit_free(m);
    avk_st_close(sf);
    return w;
}

static void check_variant(const char *v)
{
    double l32[10], lbf[10], lfb[10];
    avk_dit *m = avk_dit_load(gpath(v, "weights"));
    int64_t nw = m ? m->nfloats : 0;
    avk_dit_free(m);
    float *w32 = ten_steps(v, AVK_DIT_FP32, l32);

    if (avk_bf16_set_kernel(AVK_BF16_EMULATE) < 0)
        { diag("emulated bf16: %s", avk_errmsg()); exit(1); }
    float *wbf = ten_steps(v, AVK_DIT_BF16, lbf);
    double worst = 0;
    int differ = 0;
    for (int k = 0; k < 10; k++) {
        double e = fabs(lbf[k] - l32[k]) / fabs(l32[k]);
        worst = fmax(worst, e);
        differ += lbf[k] != l32[k];
        diag("%s: step %d loss fp32 %.6f bf16 %.6f", v, k, l32[k], lbf[k]);
    }
    ok(worst < 2e-2, "%s: emulated bf16, ten step losses within 2e-2 of fp32 (worst %.2e)", v,
       worst);
    ok(differ >= 5, "%s: emulated bf16 losses differ from fp32 (%d of 10): bf16 products ran",
       v, differ);

    if (avk_bf16_set_kernel(AVK_BF16_FP32) < 0)
        { diag("fp32 fallback: %s", avk_errmsg()); exit(1); }
    float *wfb = ten_steps(v, AVK_DIT_BF16, lfb);
    ok(!memcmp(lfb, l32, sizeof l32) && !memcmp(wfb, w32, (size_t)nw * 4),
       "%s: bf16 on the fp32 fallback equals fp32 bit for bit (losses and weights)", v);
    free(w32);
    free(wbf);
    free(wfb);
}

int main(void)
{
    check_variant("single_cross");
    check_variant("mmdit_joint");
    return done_testing();
}
