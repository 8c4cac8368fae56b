/* The whole VAE against PyTorch (tests/golden/vae/, written by
 * tests/golden-vae.py): the weights load through avk_vae_load with every
 * diffusers name, one training pass (encode, sample, decode, L1 + MSE +
 * KL, backward) matches PyTorch's outputs, losses, input gradient and
 * every parameter gradient to a relative error (max|a-b| / max|b|) under
 * 1e-4; the inference encode/decode match too; each frame's encoding does
 * not depend on the batch it is in. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "avkit/util/common.h"
#include "avkit/io/safetensors.h"
#include "avkit/nn/tensor.h"
#include "avkit/models/vae.h"

#define TOL 1e-4

static const char *gpath(const char *name)
{
    static char buf[4096];
    const char *src = getenv("SRC_DIR");
    snprintf(buf, sizeof buf, "%s/tests/golden/vae/%s", src ? src : ".", name);
    return buf;
}

static const float *gt(const avk_st_file *f, const char *name, int64_t *n)
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

int main(void)
{
    avk_vae *v = avk_vae_load(gpath("weights.safetensors"), NULL);
    if (!ok(v != NULL, "PyTorch-written diffusers-named weights load: %s", v ? "" : avk_errmsg()))
        return done_testing();
    avk_st_file *wf = avk_st_open(gpath("weights.safetensors"));
    avk_st_file *g = avk_st_open(gpath("pass.safetensors"));
    if (!ok(wf && g, "golden pass loads"))
        return done_testing();
    ok(v->pt->n == wf->ntensors, "model has as many tensors as the PyTorch state_dict (%d, %d)",
       v->pt->n, wf->ntensors);
    ok(avk_vae_factor(&v->cfg) == 4 && v->cfg.norm_num_groups == 4 && v->cfg.scaling_factor == 0.5,
       "config read from the metadata");

    int B = 2, H = 16, W = 16, L = 4, h = 4, w = 4;
    int64_t nlat = (int64_t)B * L * h * w, nx = (int64_t)B * 3 * H * W;
    const float *x = gt(g, "x", NULL), *eps = gt(g, "eps", NULL);
    float kl_weight = 0.1f;
    float *mean = avk_falloc(nlat), *logvar = avk_falloc(nlat), *rec = avk_falloc(nx);
    float *dx = avk_fzeros(nx);
    avk_vae_loss loss;
    avk_vae_zero_grads(v);
    int rc = avk_vae_train_step(v, x, B, H, W, eps, kl_weight, &loss, mean, logvar, rec, dx);
    ok(rc == 0, "training pass runs");
    double e;
    e = rel_err(mean, gt(g, "mean", NULL), nlat);
    ok(e < TOL, "encoder mean matches PyTorch: rel err %.2e", e);
    e = rel_err(logvar, gt(g, "logvar", NULL), nlat);
    ok(e < TOL, "encoder logvar matches PyTorch: rel err %.2e", e);
    e = rel_err(rec, gt(g, "rec", NULL), nx);
    ok(e < TOL, "decoded sample matches PyTorch: rel err %.2e", e);
    struct { const char *name; double val; } ls[] = {
        {"loss_l1", loss.l1}, {"loss_mse", loss.mse}, {"loss_kl", loss.kl}, {"loss_total", loss.total}};
    for (int i = 0; i < 4; i++) {
        double ref = gt(g, ls[i].name, NULL)[0];
        e = fabs(ls[i].val - ref) / fabs(ref);
        ok(e < TOL, "%s matches PyTorch (%.6f vs %.6f): rel err %.2e", ls[i].name, ls[i].val, ref, e);
    }
    e = rel_err(dx, gt(g, "d_x", NULL), nx);
    ok(e < TOL, "input gradient matches PyTorch autograd: rel err %.2e", e);

    /* every parameter gradient; a gradient that is zero in exact arithmetic
     * (to_k.bias: softmax ignores a constant added to a whole score row) is
     * measured against a floor of 1e-3 times the largest gradient */
    double gmax = 0;
    for (int i = 0; i < v->pt->n; i++) {
        char nm[300];
        snprintf(nm, sizeof nm, "grad.%s", v->pt->p[i].name);
        const avk_st_tensor *t = avk_st_find(g, nm);
        for (size_t j = 0; t && j < t->nbytes / 4; j++)
            gmax = fmax(gmax, fabs(((const float *)t->data)[j]));
    }
    double worst = 0;
    const char *worst_name = "";
    int missing = 0;
    for (int i = 0; i < v->pt->n; i++) {
        const avk_vae_param *p = &v->pt->p[i];
        char nm[300];
        snprintf(nm, sizeof nm, "grad.%s", p->name);
        const avk_st_tensor *t = avk_st_find(g, nm);
        if (!t || (int64_t)(t->nbytes / 4) != p->numel) {
            missing++;
            continue;
        }
        e = rel_err_floor(v->pt->g + p->offset, t->data, p->numel, 1e-3 * gmax);
        if (e > worst) {
            worst = e;
            worst_name = p->name;
        }
    }
    ok(missing == 0, "golden has a gradient for each of the %d parameters", v->pt->n);
    ok(worst < TOL, "all %d parameter gradients match PyTorch: worst rel err %.2e (%s)", v->pt->n,
       worst, worst_name);

    /* inference paths */
    float *m2 = avk_falloc(nlat), *lv2 = avk_falloc(nlat);
    rc = avk_vae_encode(v, x, B, H, W, m2, lv2);
    e = rel_err(m2, gt(g, "mean", NULL), nlat);
    ok(rc == 0 && e < TOL, "inference encode matches PyTorch: rel err %.2e", e);
    ok(memcmp(m2, mean, nlat * 4) == 0 && memcmp(lv2, logvar, nlat * 4) == 0,
       "inference encode equals the training pass's encode bit for bit");
    float *dm = avk_falloc(nx);
    rc = avk_vae_decode(v, gt(g, "mean", NULL), B, h, w, dm);
    e = rel_err(dm, gt(g, "dec_mean", NULL), nx);
    ok(rc == 0 && e < TOL, "inference decode matches PyTorch: rel err %.2e", e);

    /* a frame's latent does not depend on its batch */
    float *m1 = avk_falloc(nlat / 2);
    rc = avk_vae_encode(v, x + nx / 2, 1, H, W, m1, NULL);
    ok(rc == 0 && memcmp(m1, m2 + nlat / 2, (size_t)nlat / 2 * 4) == 0,
       "frame 2 encoded alone equals frame 2 encoded in a batch of 2, bit for bit");

    /* bad sizes */
    ok(avk_vae_encode(v, x, 1, 14, 16, m1, NULL) < 0 && strstr(avk_errmsg(), "latent cell"),
       "a frame size that is not a multiple of the cell is refused: %s", avk_errmsg());
    ok(avk_vae_encode(v, x, 1, 2, 2, m1, NULL) < 0, "a frame smaller than one latent cell is refused");

    avk_ffree(mean);
    avk_ffree(logvar);
    avk_ffree(rec);
    avk_ffree(dx);
    avk_ffree(m2);
    avk_ffree(lv2);
    avk_ffree(dm);
    avk_ffree(m1);
    avk_st_close(wf);
    avk_st_close(g);
    avk_vae_free(v);
    return done_testing();
}
