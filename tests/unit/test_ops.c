/* Every operator's forward and backward, fast and reference, against the
 * PyTorch golden tensors in tests/golden/ops/ (written by
 * tests/golden-ops.py). Error measure: max|a-b| / max|b| < 1e-5. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "avkit/util/common.h"
#include "golden_st.h"
#include "ops_cases.h"

#define TOL 1e-5

static char *golden_path(const char *name)
{
    const char *src = getenv("SRC_DIR");
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/tests/golden/ops/%s.safetensors", src ? src : ".", name);
    return buf;
}

/* One case, one implementation: forward output and every input gradient. */
static void check_case(const opcase *c, gst_file *g, int ref)
{
    const char *impl = ref ? "reference" : "fast";
    float *in[4] = {0}, *din[4] = {0};
    for (int i = 0; i < c->nin; i++) {
        in[i] = gst_get(g, c->in_names[i])->data;
        if (c->grad_mask >> i & 1)
            din[i] = avk_fzeros(c->in_n[i]);
    }
    gst_tensor *gout = gst_get(g, "out"), *gdy = gst_get(g, "dy");
    float *out = avk_fzeros(c->out_n);
    c->fwd(c, in, out, ref);
    double e = rel_err(out, gout->data, c->out_n);
    ok(e < TOL, "%s forward (%s) matches PyTorch: rel err %.2e", c->name, impl, e);
    c->bwd(c, in, out, gdy->data, din, ref);
    for (int i = 0; i < c->nin; i++) {
        if (!din[i])
            continue;
        char nm[80];
        snprintf(nm, sizeof nm, "d_%s", c->in_names[i]);
        gst_tensor *gd = gst_get(g, nm);
        if (!gd) {
            ok(0, "%s: golden file lacks %s", c->name, nm);
            continue;
        }
        e = rel_err(din[i], gd->data, c->in_n[i]);
        ok(e < TOL, "%s backward d%s (%s) matches PyTorch autograd: rel err %.2e", c->name,
           c->in_names[i], impl, e);
        avk_ffree(din[i]);
    }
    avk_ffree(out);
}

static void check_timestep(void)
{
    gst_file *g = gst_load(golden_path("timestep"));
    if (!ok(g != NULL, "timestep golden file loads"))
        return;
    gst_tensor *t = gst_get(g, "t"), *o = gst_get(g, "out");
    float out[64];
    avk_timestep_embed(out, t->data, 4, 16, 10000.0f);
    double e = rel_err(out, o->data, 64);
    ok(e < TOL, "timestep embedding matches PyTorch: rel err %.2e", e);
    gst_free(g);
}

int main(void)
{
    for (int k = 0; k < N_OP_CASES; k++) {
        const opcase *c = &op_cases[k];
        gst_file *g = gst_load(golden_path(c->name));
        if (!ok(g != NULL, "%s golden file loads", c->name))
            continue;
        int shapes = 1;
        for (int i = 0; i < c->nin; i++) {
            gst_tensor *t = gst_get(g, c->in_names[i]);
            shapes &= t && t->numel == c->in_n[i];
        }
        gst_tensor *o = gst_get(g, "out"), *dy = gst_get(g, "dy");
        shapes &= o && dy && o->numel == c->out_n && dy->numel == c->out_n;
        if (!ok(shapes, "%s golden tensors have the test's shapes", c->name)) {
            gst_free(g);
            continue;
        }
        if (!strcmp(c->name, "embedding")) {
            gst_tensor *ids = gst_get(g, "ids");
            int same = ids && ids->numel == 7;
            for (int i = 0; same && i < 7; i++)
                same = ids->data[i] == (float)cs_ids[i];
            ok(same, "embedding golden ids are the test's ids");
        }
        check_case(c, g, 0);
        check_case(c, g, 1);
        gst_free(g);
    }
    check_timestep();
    {
        float table[6] = {0}, out[6];
        int32_t bad[2] = {1, 3};
        ok(avk_embedding_fwd(out, table, bad, 2, 3, 2) == -1 && strstr(avk_errmsg(), "id 3 at position 1"),
           "an embedding id outside the table is an error naming it: %s", avk_errmsg());
    }
    return done_testing();
}
