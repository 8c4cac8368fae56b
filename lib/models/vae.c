/* The VAE's configuration and parameters: diffusers-compatible config
 * JSON, the parameter table in diffusers' state_dict order, PyTorch's
 * default initialization, and loading/saving safetensors with every name
 * and shape checked. The network itself is lib/models/vae_net.c. */
#include "avkit/models/vae.h"
#include "vae_internal.h"
#include "avkit/util/common.h"
#include "avkit/util/json.h"
#include "avkit/io/safetensors.h"
#include "avkit/nn/tensor.h"
#include "avkit/nn/params.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- configuration --------------------------------------------------- */

avk_vae_config avk_vae_config_default(void)
{
    avk_vae_config c = {0};
    c.in_channels = c.out_channels = 3;
    c.latent_channels = 16;
    c.nblocks = 4;
    c.block_out_channels[0] = 32;
    c.block_out_channels[1] = 64;
    c.block_out_channels[2] = 64;
    c.block_out_channels[3] = 64;
    c.layers_per_block = 1;
    c.norm_num_groups = 8;
    c.mid_attention = 1;
    c.use_quant_conv = c.use_post_quant_conv = 1;
    c.scaling_factor = 1.0;
    c.shift_factor = 0.0;
    return c;
}

int avk_vae_config_check(const avk_vae_config *c, const char *what)
{
    if (c->nblocks < 1 || c->nblocks > AVK_VAE_MAX_BLOCKS)
        return avk_error("%s: VAE config: %d blocks (supported: 1 to %d)", what, c->nblocks,
                         AVK_VAE_MAX_BLOCKS);
    if (c->in_channels < 1 || c->in_channels > 64 || c->out_channels < 1 || c->out_channels > 64)
        return avk_error("%s: VAE config: in_channels %d / out_channels %d (supported: 1 to 64)",
                         what, c->in_channels, c->out_channels);
    if (c->latent_channels < 1 || c->latent_channels > 256)
        return avk_error("%s: VAE config: latent_channels %d (supported: 1 to 256)", what,
                         c->latent_channels);
    if (c->layers_per_block < 1 || c->layers_per_block > 8)
        return avk_error("%s: VAE config: layers_per_block %d (supported: 1 to 8)", what,
                         c->layers_per_block);
    if (c->norm_num_groups < 1)
        return avk_error("%s: VAE config: norm_num_groups %d must be positive", what,
                         c->norm_num_groups);
    for (int i = 0; i < c->nblocks; i++) {
        int ch = c->block_out_channels[i];
        if (ch < 1 || ch > 4096)
            return avk_error("%s: VAE config: block_out_channels[%d] = %d (supported: 1 to 4096)",
                             what, i, ch);
        if (ch % c->norm_num_groups)
            return avk_error("%s: VAE config: block_out_channels[%d] = %d is not a multiple of "
                             "norm_num_groups %d", what, i, ch, c->norm_num_groups);
    }
    if (!(c->scaling_factor > 0) || !isfinite(c->scaling_factor) || !isfinite(c->shift_factor))
        return avk_error("%s: VAE config: scaling_factor %g / shift_factor %g", what,
                         c->scaling_factor, c->shift_factor);
    return 0;
}

/* An integer member; -1 with error for another type. */
static int json_intval(const avk_json *v, const char *what, const char *key, int *out)
{
    int64_t x;
    if (avk_json_int64(v, &x) < 0 || x < 0 || x > 1000000)
        return avk_error("%s: VAE config: \"%s\" is not a small non-negative integer", what, key);
    *out = (int)x;
    return 0;
}

static int json_boolval(const avk_json *v, const char *what, const char *key, int *out)
{
    if (v->type != AVK_JSON_TRUE && v->type != AVK_JSON_FALSE)
        return avk_error("%s: VAE config: \"%s\" is not true or false", what, key);
    *out = v->type == AVK_JSON_TRUE;
    return 0;
}

/* A list of block type names that must all equal `want`; sets *n. */
static int json_block_types(const avk_json *v, const char *what, const char *key,
                            const char *want, int *n)
{
    if (v->type != AVK_JSON_ARRAY)
        return avk_error("%s: VAE config: \"%s\" is not a list", what, key);
    for (size_t i = 0; i < v->len; i++) {
        const avk_json *e = &v->items[i];
        if (e->type != AVK_JSON_STRING)
            return avk_error("%s: VAE config: \"%s\"[%zu] is not a string", what, key, i);
        if (strcmp(e->str, want) != 0)
            return avk_error("%s: VAE config: unsupported block type \"%s\" in \"%s\" "
                             "(supported: %s)", what, e->str, key, want);
    }
    *n = (int)v->len;
    return 0;
}

int avk_vae_config_parse(avk_vae_config *c, const char *text, size_t len, const char *what)
{
    avk_json *root = avk_json_parse(text, len, what);
    if (!root)
        return -1;
    int rc = -1;
    /* diffusers' defaults for AutoencoderKL */
    memset(c, 0, sizeof *c);
    c->in_channels = c->out_channels = 3;
    c->latent_channels = 4;
    c->nblocks = 1;
    c->block_out_channels[0] = 64;
    c->layers_per_block = 1;
    c->norm_num_groups = 32;
    c->mid_attention = 1;
    c->use_quant_conv = c->use_post_quant_conv = 1;
    c->scaling_factor = 0.18215;
    int ndown = -1, nup = -1;
    const avk_json *v;
    if (root->type != AVK_JSON_OBJECT) {
        avk_error("%s: VAE config is a JSON %s, not an object", what,
                  avk_json_type_name(root->type));
        goto out;
    }
    if ((v = avk_json_get(root, "_class_name")) && v->type == AVK_JSON_STRING &&
        strcmp(v->str, "AutoencoderKL") != 0) {
        avk_error("%s: VAE config: unsupported model class \"%s\" (supported: AutoencoderKL)",
                  what, v->str);
        goto out;
    }
    if ((v = avk_json_get(root, "act_fn")) &&
        (v->type != AVK_JSON_STRING || strcmp(v->str, "silu") != 0)) {
        avk_error("%s: VAE config: unsupported act_fn %s%s%s (supported: \"silu\")", what,
                  v->type == AVK_JSON_STRING ? "\"" : "", v->type == AVK_JSON_STRING ? v->str :
                  avk_json_type_name(v->type), v->type == AVK_JSON_STRING ? "\"" : "");
        goto out;
    }
    if ((v = avk_json_get(root, "in_channels")) && json_intval(v, what, "in_channels", &c->in_channels) < 0)
        goto out;
    if ((v = avk_json_get(root, "out_channels")) && json_intval(v, what, "out_channels", &c->out_channels) < 0)
        goto out;
    if ((v = avk_json_get(root, "latent_channels")) &&
        json_intval(v, what, "latent_channels", &c->latent_channels) < 0)
        goto out;
    if ((v = avk_json_get(root, "layers_per_block")) &&
        json_intval(v, what, "layers_per_block", &c->layers_per_block) < 0)
        goto out;
    if ((v = avk_json_get(root, "norm_num_groups")) &&
        json_intval(v, what, "norm_num_groups", &c->norm_num_groups) < 0)
        goto out;
    if ((v = avk_json_get(root, "mid_block_add_attention")) &&
        json_boolval(v, what, "mid_block_add_attention", &c->mid_attention) < 0)
        goto out;
    if ((v = avk_json_get(root, "use_quant_conv")) &&
        json_boolval(v, what, "use_quant_conv", &c->use_quant_conv) < 0)
        goto out;
    if ((v = avk_json_get(root, "use_post_quant_conv")) &&
        json_boolval(v, what, "use_post_quant_conv", &c->use_post_quant_conv) < 0)
        goto out;
    if ((v = avk_json_get(root, "scaling_factor")) && v->type != AVK_JSON_NULL) {
        if (v->type != AVK_JSON_NUMBER) {
            avk_error("%s: VAE config: \"scaling_factor\" is not a number", what);
            goto out;
        }
        c->scaling_factor = v->number;
    }
    if ((v = avk_json_get(root, "shift_factor")) && v->type != AVK_JSON_NULL) {
        if (v->type != AVK_JSON_NUMBER) {
            avk_error("%s: VAE config: \"shift_factor\" is not a number", what);
            goto out;
        }
        c->shift_factor = v->number;
    }
    if ((v = avk_json_get(root, "block_out_channels"))) {
        if (v->type != AVK_JSON_ARRAY || v->len < 1 || v->len > AVK_VAE_MAX_BLOCKS) {
            avk_error("%s: VAE config: \"block_out_channels\" must be a list of 1 to %d "
                      "integers", what, AVK_VAE_MAX_BLOCKS);
            goto out;
        }
        c->nblocks = (int)v->len;
        for (size_t i = 0; i < v->len; i++)
            if (json_intval(&v->items[i], what, "block_out_channels", &c->block_out_channels[i]) < 0)
                goto out;
    }
    if ((v = avk_json_get(root, "down_block_types")) &&
        json_block_types(v, what, "down_block_types", "DownEncoderBlock2D", &ndown) < 0)
        goto out;
    if ((v = avk_json_get(root, "up_block_types")) &&
        json_block_types(v, what, "up_block_types", "UpDecoderBlock2D", &nup) < 0)
        goto out;
    if ((ndown >= 0 && ndown != c->nblocks) || (nup >= 0 && nup != c->nblocks)) {
        avk_error("%s: VAE config: %d down and %d up block types for %d block_out_channels",
                  what, ndown, nup, c->nblocks);
        goto out;
    }
    rc = avk_vae_config_check(c, what);
out:
    avk_json_free(root);
    return rc;
}

char *avk_vae_config_json(const avk_vae_config *c)
{
    avk_buf b = {0};
    avk_buf_printf(&b, "{\"_class_name\":\"AutoencoderKL\",\"act_fn\":\"silu\",\"block_out_channels\":[");
    for (int i = 0; i < c->nblocks; i++)
        avk_buf_printf(&b, "%s%d", i ? "," : "", c->block_out_channels[i]);
    avk_buf_printf(&b, "],\"down_block_types\":[");
    for (int i = 0; i < c->nblocks; i++)
        avk_buf_printf(&b, "%s\"DownEncoderBlock2D\"", i ? "," : "");
    avk_buf_printf(&b, "],\"up_block_types\":[");
    for (int i = 0; i < c->nblocks; i++)
        avk_buf_printf(&b, "%s\"UpDecoderBlock2D\"", i ? "," : "");
    avk_buf_printf(&b, "],\"in_channels\":%d,\"out_channels\":%d,\"latent_channels\":%d,"
                   "\"layers_per_block\":%d,\"norm_num_groups\":%d,"
                   "\"mid_block_add_attention\":%s,\"use_quant_conv\":%s,"
                   "\"use_post_quant_conv\":%s,\"scaling_factor\":%.9g,\"shift_factor\":",
                   c->in_channels, c->out_channels, c->latent_channels, c->layers_per_block,
                   c->norm_num_groups, c->mid_attention ? "true" : "false",
                   c->use_quant_conv ? "true" : "false", c->use_post_quant_conv ? "true" : "false",
                   c->scaling_factor);
    if (c->shift_factor != 0)
        avk_buf_printf(&b, "%.9g}", c->shift_factor);
    else
        avk_buf_printf(&b, "null}");
    avk_buf_append(&b, "", 1);
    return (char *)b.data;
}

/* ---- the parameter table --------------------------------------------- */

avk_vae *avk_vae_new(const avk_vae_config *c)
{
    if (avk_vae_config_check(c, "VAE") < 0)
        return NULL;
    avk_vae *v = avk_xcalloc(1, sizeof *v);
    v->cfg = *c;
    for (int i = c->nblocks; i < AVK_VAE_MAX_BLOCKS; i++)
        v->cfg.block_out_channels[i] = 0;
    v->pt = avk_params_new();
    v->net = avk_vae_net_build(&v->cfg, v->pt);
    avk_params_alloc(v->pt);
    return v;
}

void avk_vae_free(avk_vae *v)
{
    if (!v)
        return;
    avk_params_free(v->pt);
    avk_vae_net_free(v->net);
    free(v);
}

float *avk_vae_grads(avk_vae *v)
{
    return avk_params_grads(v->pt);
}

void avk_vae_zero_grads(avk_vae *v)
{
    avk_params_zero_grads(v->pt);
}

const avk_vae_param *avk_vae_find(const avk_vae *v, const char *name)
{
    return avk_params_find(v->pt, name);
}

/* Ends with `suffix`? */
static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A new model's weights. Norms start as the identity. Convolutions get
 * He-normal weights (std sqrt(2 / fan_in), for the SiLU that precedes or
 * follows them) and zero biases: with PyTorch's default uniform
 * +-1/sqrt(fan_in) the residual branches start about 6x weaker in
 * variance, the network starts nearly linear, and on the demo's small
 * objects training stalls for over 1000 steps at a grey blob (measured on
 * the PyTorch twin and here). The attention's linear projections keep
 * PyTorch's default uniform range. */
void avk_vae_init(avk_vae *v, uint64_t seed)
{
    avk_rng r;
    avk_rng_seed(&r, seed);
    for (int i = 0; i < v->pt->n; i++) {
        const avk_vae_param *p = &v->pt->p[i];
        float *d = v->pt->w + p->offset;
        int is_norm = strstr(p->name, "norm") != NULL;   /* norm1, group_norm, conv_norm_out */
        if (is_norm) {
            float val = ends_with(p->name, ".weight") ? 1.0f : 0.0f;
            for (int64_t j = 0; j < p->numel; j++)
                d[j] = val;
            continue;
        }
        /* fan_in from the weight of the same layer: in * kh * kw */
        int is_weight = ends_with(p->name, ".weight");
        const avk_vae_param *w = is_weight ? p : &v->pt->p[i - 1];   /* weight precedes bias */
        int64_t fan_in = w->numel / w->shape[0];
        if (w->ndim == 4) {   /* a convolution */
            if (is_weight)
                avk_fill_randn(d, p->numel, &r, 0.0f, sqrtf(2.0f / (float)fan_in));
            else
                memset(d, 0, (size_t)p->numel * sizeof *d);
            continue;
        }
        float bound = 1.0f / sqrtf((float)fan_in);
        avk_fill_uniform(d, p->numel, &r, -bound, bound);
    }
}

int avk_vae_check_finite(const avk_vae *v, const char *what)
{
    return avk_params_check_finite(v->pt, v->pt->w, what);
}

/* ---- safetensors I/O ------------------------------------------------- */

/* The old (pre-0.14) diffusers names of the attention projections. */
static const char *old_attention_name(const char *name, char *buf, size_t size)
{
    static const char *const map[][2] = {
        {".to_q.", ".query."}, {".to_k.", ".key."}, {".to_v.", ".value."},
        {".to_out.0.", ".proj_attn."},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        const char *at = strstr(name, map[i][0]);
        if (at && strstr(name, ".attentions.")) {
            snprintf(buf, size, "%.*s%s%s", (int)(at - name), name, map[i][1],
                     at + strlen(map[i][0]));
            return buf;
        }
    }
    return NULL;
}

/* Infer the configuration of a diffusers checkpoint without a config
 * from its tensor shapes. */
static int infer_config(const avk_st_file *f, avk_vae_config *c, const char *path)
{
    memset(c, 0, sizeof *c);
    const avk_st_tensor *t = avk_st_find(f, "encoder.conv_in.weight");
    if (!t || t->ndim != 4)
        return avk_error("%s: no VAE config (no \"config\" metadata, no config file given) and "
                         "no tensor \"encoder.conv_in.weight\" to infer it from", path);
    c->in_channels = (int)t->shape[1];
    int n = 0;
    char name[128];
    for (;;) {
        snprintf(name, sizeof name, "encoder.down_blocks.%d.resnets.0.conv1.weight", n);
        if (!(t = avk_st_find(f, name)) || t->ndim != 4)
            break;
        if (n == AVK_VAE_MAX_BLOCKS)
            return avk_error("%s: more than %d encoder blocks (unsupported)", path,
                             AVK_VAE_MAX_BLOCKS);
        c->block_out_channels[n++] = (int)t->shape[0];
    }
    c->nblocks = n;
    int l = 0;
    for (;;) {
        snprintf(name, sizeof name, "encoder.down_blocks.0.resnets.%d.conv1.weight", l);
        if (!avk_st_find(f, name))
            break;
        l++;
    }
    c->layers_per_block = l;
    t = avk_st_find(f, "decoder.conv_in.weight");
    c->latent_channels = t && t->ndim == 4 ? (int)t->shape[1] : 0;
    t = avk_st_find(f, "decoder.conv_out.weight");
    c->out_channels = t && t->ndim == 4 ? (int)t->shape[0] : 0;
    c->norm_num_groups = 32;
    c->mid_attention = avk_st_find(f, "encoder.mid_block.attentions.0.group_norm.weight") != NULL;
    c->use_quant_conv = avk_st_find(f, "quant_conv.weight") != NULL;
    c->use_post_quant_conv = avk_st_find(f, "post_quant_conv.weight") != NULL;
    c->scaling_factor = 0.18215;
    if (n == 0 || l == 0 || c->latent_channels == 0 || c->out_channels == 0)
        return avk_error("%s: cannot infer the VAE config from the tensors (not an "
                         "AutoencoderKL checkpoint?)", path);
    return avk_vae_config_check(c, path);
}

/* Read a whole small text file. */
static char *slurp(const char *path, size_t *len)
{
    FILE *fp = avk_in_open(path, 1);
    if (!fp)
        return NULL;
    avk_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        avk_buf_append(&b, chunk, n);
        if (b.len > 1 << 20) {
            avk_error("%s: config file larger than 1 MiB", path);
            avk_in_close(fp);
            avk_buf_free(&b);
            return NULL;
        }
    }
    int err = ferror(fp);
    avk_in_close(fp);
    if (err) {
        avk_error("%s: read error", path);
        avk_buf_free(&b);
        return NULL;
    }
    avk_buf_append(&b, "", 1);
    *len = b.len - 1;
    return (char *)b.data;
}

/* Load, with or without guessing a configuration from the shapes. */
static avk_vae *load(const char *path, const char *config_path, int may_infer)
{
    avk_st_file *f = avk_st_open(path);
    if (!f)
        return NULL;
    avk_vae_config c;
    const char *meta = avk_st_meta(f, "config");
    int rc;
    if (config_path) {
        size_t len;
        char *text = slurp(config_path, &len);
        rc = text ? avk_vae_config_parse(&c, text, len, config_path) : -1;
        free(text);
    } else if (meta) {
        char what[4200];
        snprintf(what, sizeof what, "%s: metadata \"config\"", path);
        rc = avk_vae_config_parse(&c, meta, strlen(meta), what);
    } else if (may_infer) {
        rc = infer_config(f, &c, path);
    } else {
        rc = avk_error("%s: no \"config\" metadata: give the model's configuration "
                       "(--config FILE) rather than have it guessed from the tensor shapes",
                       path);
    }
    if (rc < 0) {
        avk_st_close(f);
        return NULL;
    }
    avk_vae *v = avk_vae_new(&c);
    if (!v) {
        avk_st_close(f);
        return NULL;
    }
    avk_params_load_opts o = {old_attention_name, "loss.", 1, "VAE"};
    rc = avk_params_load(v->pt, v->pt->w, f, &o);
    avk_st_close(f);
    if (rc < 0) {
        avk_vae_free(v);
        return NULL;
    }
    return v;
}

avk_vae *avk_vae_load(const char *path, const char *config_path)
{
    return load(path, config_path, 1);
}

avk_vae *avk_vae_load_strict(const char *path, const char *config_path)
{
    return load(path, config_path, 0);
}

int avk_vae_save(const avk_vae *v, const char *path, int nmeta, const char *const *meta)
{
    avk_st_writer *w = avk_st_writer_new();
    avk_vae_save_meta(v, w);
    for (int i = 0; i < nmeta; i++)
        avk_st_writer_meta(w, meta[2 * i], meta[2 * i + 1]);
    avk_params_st_add(v->pt, v->pt->w, w);
    return avk_st_writer_write(w, path);
}

void avk_vae_save_meta(const avk_vae *v, avk_st_writer *w)
{
    char *cfg = avk_vae_config_json(&v->cfg);
    avk_st_writer_meta(w, "format", "pt");
    avk_st_writer_meta(w, "config", cfg);
    free(cfg);
}
