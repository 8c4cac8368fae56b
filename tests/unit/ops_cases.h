/* The operator cases shared by the operator tests: for each operator a
 * forward and a backward adapter over arrays of inputs, with the shapes
 * that tests/golden-ops.py uses (the golden test checks that the file's
 * tensors have these sizes). `ref` selects the reference implementation.
 * A case's inputs are listed in the order of the golden file; grad_mask
 * bit i says input i has a gradient. */
#ifndef AVKIT_OPS_CASES_H
#define AVKIT_OPS_CASES_H

#include <string.h>
#include "avkit/nn/ops.h"

typedef struct opcase opcase;
struct opcase {
    const char *name;
    int nin;
    const char *in_names[4];
    int64_t in_n[4];
    int grad_mask;
    int64_t out_n;
    void (*fwd)(const opcase *c, float *const *in, float *out, int ref);
    void (*bwd)(const opcase *c, float *const *in, const float *out, const float *dy,
                float *const *din, int ref);
    /* valid input range for finite differences (|x| kept away from kinks) */
    int no_fd;
};

/* saved statistics between a forward and its backward */
static float cs_aux1[4096], cs_aux2[4096];

/* ---- linear ---- */
static void f_linear(const opcase *c, float *const *in, float *out, int ref)
{
    (ref ? avk_linear_fwd_ref : avk_linear_fwd)(out, in[0], in[1], in[2], 6, 10, 7);
}
static void b_linear(const opcase *c, float *const *in, const float *out, const float *dy,
                     float *const *d, int ref)
{
    (ref ? avk_linear_bwd_ref : avk_linear_bwd)(d[0], d[1], d[2], dy, in[0], in[1], 6, 10, 7);
}

/* ---- conv2d ---- */
static avk_conv2d conv_of(const opcase *c)
{
    if (!strcmp(c->name, "conv2d_3x3"))
        return avk_conv2d_make(2, 3, 6, 5, 4, 3, 1, 1);
    if (!strcmp(c->name, "conv2d_down")) {
        avk_conv2d k = avk_conv2d_make(1, 3, 7, 6, 5, 3, 2, 0);
        k.pad_bottom = k.pad_right = 1;
        return k;
    }
    if (!strcmp(c->name, "conv2d_1x1"))
        return avk_conv2d_make(2, 6, 4, 4, 3, 1, 1, 0);
    return avk_conv2d_make(2, 2, 9, 8, 3, 5, 2, 2);
}
static void f_conv(const opcase *c, float *const *in, float *out, int ref)
{
    avk_conv2d k = conv_of(c);
    (ref ? avk_conv2d_fwd_ref : avk_conv2d_fwd)(out, in[0], in[1], in[2], &k);
}
static void b_conv(const opcase *c, float *const *in, const float *out, const float *dy,
                   float *const *d, int ref)
{
    avk_conv2d k = conv_of(c);
    (ref ? avk_conv2d_bwd_ref : avk_conv2d_bwd)(d[0], d[1], d[2], dy, in[0], in[1], &k);
}

/* ---- norms ---- */
static void f_gn(const opcase *c, float *const *in, float *out, int ref)
{
    (ref ? avk_groupnorm_fwd_ref : avk_groupnorm_fwd)(out, cs_aux1, cs_aux2, in[0], in[1], in[2],
                                                      2, 8, 12, 4, 1e-6f);
}
static void b_gn(const opcase *c, float *const *in, const float *out, const float *dy,
                 float *const *d, int ref)
{
    (ref ? avk_groupnorm_bwd_ref : avk_groupnorm_bwd)(d[0], d[1], d[2], dy, in[0], cs_aux1, cs_aux2,
                                                      in[1], 2, 8, 12, 4);
}
static void f_ln(const opcase *c, float *const *in, float *out, int ref)
{
    (ref ? avk_layernorm_fwd_ref : avk_layernorm_fwd)(out, cs_aux1, cs_aux2, in[0], in[1], in[2],
                                                      5, 16, 1e-5f);
}
static void b_ln(const opcase *c, float *const *in, const float *out, const float *dy,
                 float *const *d, int ref)
{
    (ref ? avk_layernorm_bwd_ref : avk_layernorm_bwd)(d[0], d[1], d[2], dy, in[0], cs_aux1, cs_aux2,
                                                      in[1], 5, 16);
}
static void f_lnp(const opcase *c, float *const *in, float *out, int ref)
{
    (ref ? avk_layernorm_fwd_ref : avk_layernorm_fwd)(out, cs_aux1, cs_aux2, in[0], NULL, NULL,
                                                      5, 16, 1e-6f);
}
static void b_lnp(const opcase *c, float *const *in, const float *out, const float *dy,
                  float *const *d, int ref)
{
    (ref ? avk_layernorm_bwd_ref : avk_layernorm_bwd)(d[0], NULL, NULL, dy, in[0], cs_aux1, cs_aux2,
                                                      NULL, 5, 16);
}
static void f_rms(const opcase *c, float *const *in, float *out, int ref)
{
    (ref ? avk_rmsnorm_fwd_ref : avk_rmsnorm_fwd)(out, cs_aux1, in[0], in[1], 5, 16, 1e-6f);
}
static void b_rms(const opcase *c, float *const *in, const float *out, const float *dy,
                  float *const *d, int ref)
{
    (ref ? avk_rmsnorm_bwd_ref : avk_rmsnorm_bwd)(d[0], d[1], dy, in[0], cs_aux1, in[1], 5, 16);
}

/* ---- activations, softmax ---- */
static void f_silu(const opcase *c, float *const *in, float *out, int ref)
{
    (ref ? avk_silu_fwd_ref : avk_silu_fwd)(out, in[0], c->in_n[0]);
}
static void b_silu(const opcase *c, float *const *in, const float *out, const float *dy,
                   float *const *d, int ref)
{
    (ref ? avk_silu_bwd_ref : avk_silu_bwd)(d[0], dy, in[0], c->in_n[0]);
}
static void f_gelu(const opcase *c, float *const *in, float *out, int ref)
{
    (ref ? avk_gelu_fwd_ref : avk_gelu_fwd)(out, in[0], c->in_n[0]);
}
static void b_gelu(const opcase *c, float *const *in, const float *out, const float *dy,
                   float *const *d, int ref)
{
    (ref ? avk_gelu_bwd_ref : avk_gelu_bwd)(d[0], dy, in[0], c->in_n[0]);
}
static void f_softmax(const opcase *c, float *const *in, float *out, int ref)
{
    (ref ? avk_softmax_fwd_ref : avk_softmax_fwd)(out, in[0], 4, 13);
}
static void b_softmax(const opcase *c, float *const *in, const float *out, const float *dy,
                      float *const *d, int ref)
{
    (ref ? avk_softmax_bwd_ref : avk_softmax_bwd)(d[0], dy, out, 4, 13);
}

/* ---- attention ---- */
static const int cs_kv_len[2] = {19, 7};
static avk_attn attn_of(const opcase *c)
{
    if (!strcmp(c->name, "attention"))
        return avk_attn_make(1, 3, 70, 530, 4);
    avk_attn a = avk_attn_make(2, 2, 11, 23, 8);
    a.kv_len = cs_kv_len;
    return a;
}
static void f_attn(const opcase *c, float *const *in, float *out, int ref)
{
    avk_attn a = attn_of(c);
    (ref ? avk_attention_fwd_ref : avk_attention_fwd)(out, cs_aux1, in[0], in[1], in[2], &a);
}
static void b_attn(const opcase *c, float *const *in, const float *out, const float *dy,
                   float *const *d, int ref)
{
    avk_attn a = attn_of(c);
    (ref ? avk_attention_bwd_ref : avk_attention_bwd)(d[0], d[1], d[2], dy, in[0], in[1], in[2],
                                                      out, cs_aux1, &a);
}

/* ---- adaLN ---- */
static void f_mod(const opcase *c, float *const *in, float *out, int ref)
{
    (ref ? avk_modulate_fwd_ref : avk_modulate_fwd)(out, in[0], in[1], in[2], 2, 6, 3, 8);
}
static void b_mod(const opcase *c, float *const *in, const float *out, const float *dy,
                  float *const *d, int ref)
{
    (ref ? avk_modulate_bwd_ref : avk_modulate_bwd)(d[0], d[1], d[2], dy, in[0], in[2], 2, 6, 3, 8);
}
static void f_gate(const opcase *c, float *const *in, float *out, int ref)
{
    (ref ? avk_gated_residual_fwd_ref : avk_gated_residual_fwd)(out, in[0], in[1], in[2], 2, 6, 3, 8);
}
static void b_gate(const opcase *c, float *const *in, const float *out, const float *dy,
                   float *const *d, int ref)
{
    (ref ? avk_gated_residual_bwd_ref : avk_gated_residual_bwd)(d[0], d[1], d[2], dy, in[1], in[2],
                                                                2, 6, 3, 8);
}

/* ---- rope (T=2, Hp=2, Wp=3, D=8 split 2+2+4) ---- */
static float cs_rope_table[12 * 8];
static void rope_table(void)
{
    int pos[12 * 3], dims[3] = {2, 2, 4};
    avk_rope_grid_positions(pos, 2, 2, 3);
    avk_rope3d_table(cs_rope_table, pos, 12, dims, 10000.0f);
}
static void f_rope(const opcase *c, float *const *in, float *out, int ref)
{
    rope_table();
    (ref ? avk_rope_fwd_ref : avk_rope_fwd)(out, in[0], cs_rope_table, 2, 12, 8);
}
static void b_rope(const opcase *c, float *const *in, const float *out, const float *dy,
                   float *const *d, int ref)
{
    rope_table();
    (ref ? avk_rope_bwd_ref : avk_rope_bwd)(d[0], dy, cs_rope_table, 2, 12, 8);
}

/* ---- patchify ---- */
static const avk_patch cs_patch = {1, 3, 4, 4, 6, 2, 2, 3};
static void f_patch(const opcase *c, float *const *in, float *out, int ref)
{
    (ref ? avk_patchify_fwd_ref : avk_patchify_fwd)(out, in[0], &cs_patch);
}
static void b_patch(const opcase *c, float *const *in, const float *out, const float *dy,
                    float *const *d, int ref)
{
    avk_patchify_bwd(d[0], dy, &cs_patch);
}
static void f_unpatch(const opcase *c, float *const *in, float *out, int ref)
{
    (ref ? avk_unpatchify_fwd_ref : avk_unpatchify_fwd)(out, in[0], &cs_patch);
}
static void b_unpatch(const opcase *c, float *const *in, const float *out, const float *dy,
                      float *const *d, int ref)
{
    avk_unpatchify_bwd(d[0], dy, &cs_patch);
}

/* ---- resampling ---- */
static void f_up(const opcase *c, float *const *in, float *out, int ref)
{
    (ref ? avk_upsample_nearest_fwd_ref : avk_upsample_nearest_fwd)(out, in[0], 6, 3, 4, 2);
}
static void b_up(const opcase *c, float *const *in, const float *out, const float *dy,
                 float *const *d, int ref)
{
    (ref ? avk_upsample_nearest_bwd_ref : avk_upsample_nearest_bwd)(d[0], dy, 6, 3, 4, 2);
}
static void f_pool(const opcase *c, float *const *in, float *out, int ref)
{
    (ref ? avk_avgpool_fwd_ref : avk_avgpool_fwd)(out, in[0], 6, 4, 6, 2);
}
static void b_pool(const opcase *c, float *const *in, const float *out, const float *dy,
                   float *const *d, int ref)
{
    (ref ? avk_avgpool_bwd_ref : avk_avgpool_bwd)(d[0], dy, 6, 4, 6, 2);
}

/* ---- embedding (ids 3,0,5,3,9,1,3 into a 10 x 6 table) ---- */
static const int32_t cs_ids[7] = {3, 0, 5, 3, 9, 1, 3};
static void f_emb(const opcase *c, float *const *in, float *out, int ref)
{
    avk_embedding_fwd(out, in[0], cs_ids, 7, 10, 6);
}
static void b_emb(const opcase *c, float *const *in, const float *out, const float *dy,
                  float *const *d, int ref)
{
    (ref ? avk_embedding_bwd_ref : avk_embedding_bwd)(d[0], dy, cs_ids, 7, 6);
}

/* ---- losses (no separate reference: the formula is the reference) ---- */
static void f_mse(const opcase *c, float *const *in, float *out, int ref)
{
    out[0] = (float)avk_mse_loss(NULL, in[0], in[1], 40, 1.0f);
}
static void b_mse(const opcase *c, float *const *in, const float *out, const float *dy,
                  float *const *d, int ref)
{
    avk_mse_loss(d[0], in[0], in[1], 40, dy[0]);
}
static void f_l1(const opcase *c, float *const *in, float *out, int ref)
{
    out[0] = (float)avk_l1_loss(NULL, in[0], in[1], 40, 1.0f);
}
static void b_l1(const opcase *c, float *const *in, const float *out, const float *dy,
                 float *const *d, int ref)
{
    avk_l1_loss(d[0], in[0], in[1], 40, dy[0]);
}
static void f_kl(const opcase *c, float *const *in, float *out, int ref)
{
    out[0] = (float)avk_kl_gaussian_loss(NULL, NULL, in[0], in[1], 30, 2.0, 1.0f);
}
static void b_kl(const opcase *c, float *const *in, const float *out, const float *dy,
                 float *const *d, int ref)
{
    avk_kl_gaussian_loss(d[0], d[1], in[0], in[1], 30, 2.0, dy[0]);
}
static void f_gs(const opcase *c, float *const *in, float *out, int ref)
{
    avk_gaussian_sample_fwd(out, in[0], in[1], in[2], 30);
}
static void b_gs(const opcase *c, float *const *in, const float *out, const float *dy,
                 float *const *d, int ref)
{
    avk_gaussian_sample_bwd(d[0], d[1], dy, in[1], in[2], 30);
}

static const opcase op_cases[] = {
    {"linear", 3, {"x", "w", "b"}, {60, 70, 7}, 7, 42, f_linear, b_linear, 0},
    {"conv2d_3x3", 3, {"x", "w", "b"}, {180, 108, 4}, 7, 240, f_conv, b_conv, 0},
    {"conv2d_down", 3, {"x", "w", "b"}, {126, 135, 5}, 7, 45, f_conv, b_conv, 0},
    {"conv2d_1x1", 3, {"x", "w", "b"}, {192, 18, 3}, 7, 96, f_conv, b_conv, 0},
    {"conv2d_5x5s2", 3, {"x", "w", "b"}, {288, 150, 3}, 7, 120, f_conv, b_conv, 0},
    {"groupnorm", 3, {"x", "gamma", "beta"}, {192, 8, 8}, 7, 192, f_gn, b_gn, 0},
    {"layernorm", 3, {"x", "gamma", "beta"}, {80, 16, 16}, 7, 80, f_ln, b_ln, 0},
    {"layernorm_plain", 1, {"x"}, {80}, 1, 80, f_lnp, b_lnp, 0},
    {"rmsnorm", 2, {"x", "w"}, {80, 16}, 3, 80, f_rms, b_rms, 0},
    {"silu", 1, {"x"}, {61}, 1, 61, f_silu, b_silu, 0},
    {"gelu", 1, {"x"}, {61}, 1, 61, f_gelu, b_gelu, 0},
    {"softmax", 1, {"x"}, {52}, 1, 52, f_softmax, b_softmax, 0},
    {"attention", 3, {"q", "k", "v"}, {840, 6360, 6360}, 7, 840, f_attn, b_attn, 0},
    {"attention_masked", 3, {"q", "k", "v"}, {352, 736, 736}, 7, 352, f_attn, b_attn, 0},
    {"modulate", 3, {"x", "shift", "scale"}, {96, 48, 48}, 7, 96, f_mod, b_mod, 0},
    {"gated_residual", 3, {"res", "y", "gate"}, {96, 96, 48}, 7, 96, f_gate, b_gate, 0},
    {"rope", 1, {"x"}, {192}, 1, 192, f_rope, b_rope, 0},
    {"patchify", 1, {"x"}, {288}, 1, 288, f_patch, b_patch, 0},
    {"unpatchify", 1, {"tokens"}, {288}, 1, 288, f_unpatch, b_unpatch, 0},
    {"upsample", 1, {"x"}, {72}, 1, 288, f_up, b_up, 0},
    {"avgpool", 1, {"x"}, {144}, 1, 36, f_pool, b_pool, 0},
    {"embedding", 1, {"table"}, {60}, 1, 42, f_emb, b_emb, 0},
    {"mse", 2, {"pred", "target"}, {40, 40}, 1, 1, f_mse, b_mse, 0},
    {"l1", 2, {"pred", "target"}, {40, 40}, 1, 1, f_l1, b_l1, 1},
    {"kl", 2, {"mean", "logvar"}, {30, 30}, 3, 1, f_kl, b_kl, 0},
    {"gaussian_sample", 3, {"mean", "logvar", "eps"}, {30, 30, 30}, 3, 30, f_gs, b_gs, 0},
};
#define N_OP_CASES ((int)(sizeof op_cases / sizeof op_cases[0]))

/* The error measure of every operator test is tap.h's rel_err. */
#endif
