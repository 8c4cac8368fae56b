/* AdamW steps and gradient clipping against torch.optim.AdamW and
 * torch.nn.utils.clip_grad_norm_ (tests/golden/ops/adamw.safetensors):
 * five steps with lr 0.01, betas (0.9, 0.95), eps 1e-8, weight decay 0.1;
 * parameters and both moments within 1e-6 relative (fast and reference),
 * plus a check that a sharded update (two slices) equals the whole. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "tap.h"
#include "golden_st.h"
#include "avkit/nn/ops.h"

int main(void)
{
    char path[4096];
    const char *src = getenv("SRC_DIR");
    snprintf(path, sizeof path, "%s/tests/golden/ops/adamw.safetensors", src ? src : ".");
    gst_file *g = gst_load(path);
    if (!ok(g != NULL, "adamw golden file loads"))
        return done_testing();
    avk_adamw o = {0.01, 0.9, 0.95, 1e-8, 0.1};
    for (int ref = 0; ref < 2; ref++) {
        float p[50], m[50] = {0}, v[50] = {0};
        memcpy(p, gst_get(g, "p0")->data, sizeof p);
        for (int s = 1; s <= 5; s++) {
            char nm[8];
            snprintf(nm, sizeof nm, "g%d", s - 1);
            (ref ? avk_adamw_step_ref : avk_adamw_step)(&o, s, p, gst_get(g, nm)->data, m, v, 50);
        }
        double ep = rel_err(p, gst_get(g, "p")->data, 50);
        double em = rel_err(m, gst_get(g, "m")->data, 50);
        double ev = rel_err(v, gst_get(g, "v")->data, 50);
        ok(ep < 1e-6 && em < 1e-6 && ev < 1e-6,
           "5 AdamW steps (%s) match torch: params %.2e, exp_avg %.2e, exp_avg_sq %.2e",
           ref ? "reference" : "fast", ep, em, ev);
    }
    /* sharded: two slices updated separately equal one whole update */
    {
        float p1[50], p2[50], m1[50] = {0}, v1[50] = {0}, m2[50] = {0}, v2[50] = {0};
        memcpy(p1, gst_get(g, "p0")->data, sizeof p1);
        memcpy(p2, p1, sizeof p2);
        const float *gr = gst_get(g, "g0")->data;
        avk_adamw_step(&o, 1, p1, gr, m1, v1, 50);
        avk_adamw_step(&o, 1, p2, gr, m2, v2, 17);
        avk_adamw_step(&o, 1, p2 + 17, gr + 17, m2 + 17, v2 + 17, 33);
        ok(!memcmp(p1, p2, sizeof p1), "an update in two shards equals the whole update bitwise");
    }
    float g1[20], g2[30];
    memcpy(g1, gst_get(g, "clip_g1")->data, sizeof g1);
    memcpy(g2, gst_get(g, "clip_g2")->data, sizeof g2);
    float *gs[2] = {g1, g2};
    int64_t ns[2] = {20, 30};
    double norm = avk_grad_clip(gs, ns, 2, 1.5);
    double tn = gst_get(g, "clip_norm")->data[0];
    ok(fabs(norm - tn) / tn < 1e-6, "global gradient norm matches torch: %.6f vs %.6f", norm, tn);
    double e1 = rel_err(g1, gst_get(g, "clipped_g1")->data, 20);
    double e2 = rel_err(g2, gst_get(g, "clipped_g2")->data, 30);
    ok(e1 < 1e-6 && e2 < 1e-6, "clipped gradients match clip_grad_norm_: %.2e, %.2e", e1, e2);
    float small[3] = {0.1f, -0.2f, 0.05f}, keep[3];
    memcpy(keep, small, sizeof keep);
    float *gsm[1] = {small};
    int64_t nsm[1] = {3};
    avk_grad_clip(gsm, nsm, 1, 1.0);
    ok(!memcmp(small, keep, sizeof keep), "gradients under the maximum norm are left unchanged");
    gst_free(g);
    return done_testing();
}
