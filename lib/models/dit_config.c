/* The DiT configuration: defaults, checks, and the JSON kept in checkpoint
 * metadata (the same keys tests/golden-dit.py writes). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "avkit/util/common.h"
#include "avkit/util/json.h"
#include "avkit/models/dit.h"

avk_dit_config avk_dit_config_default(void)
{
    avk_dit_config c = {
        .in_channels = 4, .patch = {1, 2, 2}, .hidden = 256, .heads = 4, .depth = 6,
        .mlp_ratio = 4, .vocab_size = 4096, .max_text_len = 64, .text_layers = 2,
        .text_emb_dim = 0, .freq_dim = 256, .rope_dims = {0, 0, 0}, .rope_theta = 10000.0,
        .mmdit = 0, .joint = 0, .qk_norm = 1,
    };
    return c;
}

/* Sizes are kept small enough that every product of them fits easily. */
static int check_range(const char *key, int v, int lo, int hi)
{
    if (v < lo || v > hi)
        return avk_error("DiT config: \"%s\" is %d, must be in [%d, %d]", key, v, lo, hi);
    return 0;
}

int avk_dit_config_check(avk_dit_config *c)
{
    if (check_range("in_channels", c->in_channels, 1, 4096) < 0 ||
        check_range("hidden_size", c->hidden, 2, 65536) < 0 ||
        check_range("num_heads", c->heads, 1, 4096) < 0 ||
        check_range("depth", c->depth, 1, 1024) < 0 ||
        check_range("mlp_ratio", c->mlp_ratio, 1, 64) < 0 ||
        check_range("max_text_len", c->max_text_len, 1, 65536) < 0 ||
        check_range("text_layers", c->text_layers, 0, 256) < 0 ||
        check_range("text_emb_dim", c->text_emb_dim, 0, 65536) < 0 ||
        check_range("freq_dim", c->freq_dim, 2, 65536) < 0)
        return -1;
    if (c->text_emb_dim == 0 && check_range("vocab_size", c->vocab_size, 1, 1 << 24) < 0)
        return -1;
    for (int a = 0; a < 3; a++)
        if (check_range("patch_size", c->patch[a], 1, 64) < 0)
            return -1;
    if (c->hidden % c->heads)
        return avk_error("DiT config: \"num_heads\" %d does not divide \"hidden_size\" %d",
                         c->heads, c->hidden);
    int dh = c->hidden / c->heads;
    if (dh % 2)
        return avk_error("DiT config: head dimension %d (hidden_size / num_heads) is odd; "
                         "rotary embeddings need it even", dh);
    if (!c->rope_dims[0] && !c->rope_dims[1] && !c->rope_dims[2]) {
        c->rope_dims[0] = 2 * (dh / 8);
        c->rope_dims[1] = 2 * ((dh - c->rope_dims[0]) / 4);
        c->rope_dims[2] = dh - c->rope_dims[0] - c->rope_dims[1];
    }
    for (int a = 0; a < 3; a++)
        if (c->rope_dims[a] < 0 || c->rope_dims[a] % 2)
            return avk_error("DiT config: \"rope_dims\" [%d, %d, %d] must be even and "
                             "non-negative", c->rope_dims[0], c->rope_dims[1], c->rope_dims[2]);
    if (c->rope_dims[0] + c->rope_dims[1] + c->rope_dims[2] != dh)
        return avk_error("DiT config: \"rope_dims\" [%d, %d, %d] do not add up to the head "
                         "dimension %d", c->rope_dims[0], c->rope_dims[1], c->rope_dims[2], dh);
    if (!(c->rope_theta > 1.0) || !isfinite(c->rope_theta))
        return avk_error("DiT config: \"rope_theta\" must be a finite number above 1");
    if (c->freq_dim % 2)
        return avk_error("DiT config: \"freq_dim\" %d must be even", c->freq_dim);
    return 0;
}

char *avk_dit_config_json(const avk_dit_config *c)
{
    return avk_xasprintf(
        "{\"_class_name\":\"AvkitVideoDiT\",\"in_channels\":%d,\"patch_size\":[%d,%d,%d],"
        "\"hidden_size\":%d,\"num_heads\":%d,\"depth\":%d,\"mlp_ratio\":%d,"
        "\"vocab_size\":%d,\"max_text_len\":%d,\"text_layers\":%d,\"text_emb_dim\":%d,"
        "\"freq_dim\":%d,\"rope_dims\":[%d,%d,%d],\"rope_theta\":%.17g,"
        "\"variant\":\"%s\",\"attention\":\"%s\",\"qk_norm\":%s%s%s}",
        c->in_channels, c->patch[0], c->patch[1], c->patch[2], c->hidden, c->heads, c->depth,
        c->mlp_ratio, c->vocab_size, c->max_text_len, c->text_layers, c->text_emb_dim,
        c->freq_dim, c->rope_dims[0], c->rope_dims[1], c->rope_dims[2], c->rope_theta,
        c->mmdit ? "mmdit" : "single", c->joint ? "joint" : "cross",
        c->qk_norm ? "true" : "false", c->pos_embed ? ",\"pos_embed_type\":\"sincos\"" : "",
        c->frame_cond ? ",\"frame_cond\":true" : "");
}

/* An integer field into *out; 0 when absent. */
static int get_int(const avk_json *root, const char *what, const char *key, int *out)
{
    const avk_json *v = avk_json_get(root, key);
    int64_t x;
    if (!v)
        return 0;
    if (avk_json_int64(v, &x) < 0 || x < 0 || x > (1 << 30))
        return avk_error("%s: DiT config: \"%s\" is not a non-negative integer", what, key);
    *out = (int)x;
    return 0;
}

/* A list of three integers. */
static int get_int3(const avk_json *root, const char *what, const char *key, int out[3])
{
    const avk_json *v = avk_json_get(root, key);
    if (!v)
        return 0;
    if (v->type != AVK_JSON_ARRAY || v->len != 3)
        return avk_error("%s: DiT config: \"%s\" is not a list of three integers", what, key);
    for (int i = 0; i < 3; i++) {
        int64_t x;
        if (avk_json_int64(&v->items[i], &x) < 0 || x < 0 || x > (1 << 20))
            return avk_error("%s: DiT config: \"%s\"[%d] is not a non-negative integer", what,
                             key, i);
        out[i] = (int)x;
    }
    return 0;
}

/* A true/false field into *out (1/0); unchanged when absent. */
static int get_bool(const avk_json *root, const char *what, const char *key, int *out)
{
    const avk_json *v = avk_json_get(root, key);
    if (!v)
        return 0;
    if (v->type != AVK_JSON_TRUE && v->type != AVK_JSON_FALSE)
        return avk_error("%s: DiT config: \"%s\" is not true or false", what, key);
    *out = v->type == AVK_JSON_TRUE;
    return 0;
}

/* A string field that must be one of two words; *out = index (0 or 1). */
static int get_choice(const avk_json *root, const char *what, const char *key,
                      const char *w0, const char *w1, int *out)
{
    const avk_json *v = avk_json_get(root, key);
    if (!v)
        return 0;
    if (v->type == AVK_JSON_STRING && !strcmp(v->str, w0))
        *out = 0;
    else if (v->type == AVK_JSON_STRING && !strcmp(v->str, w1))
        *out = 1;
    else
        return avk_error("%s: DiT config: \"%s\" must be \"%s\" or \"%s\"", what, key, w0, w1);
    return 0;
}

int avk_dit_config_parse(avk_dit_config *c, const char *text, size_t len, const char *what)
{
    avk_json *root = avk_json_parse(text, len, what);
    if (!root)
        return -1;
    int rc = -1;
    const avk_json *v;
    *c = avk_dit_config_default();
    memset(c->rope_dims, 0, sizeof c->rope_dims);
    if (root->type != AVK_JSON_OBJECT) {
        avk_error("%s: DiT config is a JSON %s, not an object", what,
                  avk_json_type_name(root->type));
        goto out;
    }
    v = avk_json_get(root, "_class_name");
    if (!v || v->type != AVK_JSON_STRING || strcmp(v->str, "AvkitVideoDiT") != 0) {
        avk_error("%s: not a DiT config (\"_class_name\" is %s%s%s, expected \"AvkitVideoDiT\")",
                  what, v && v->type == AVK_JSON_STRING ? "\"" : "",
                  !v ? "missing" : v->type == AVK_JSON_STRING ? v->str : avk_json_type_name(v->type),
                  v && v->type == AVK_JSON_STRING ? "\"" : "");
        goto out;
    }
    if (get_int(root, what, "in_channels", &c->in_channels) < 0 ||
        get_int3(root, what, "patch_size", c->patch) < 0 ||
        get_int(root, what, "hidden_size", &c->hidden) < 0 ||
        get_int(root, what, "num_heads", &c->heads) < 0 ||
        get_int(root, what, "depth", &c->depth) < 0 ||
        get_int(root, what, "mlp_ratio", &c->mlp_ratio) < 0 ||
        get_int(root, what, "vocab_size", &c->vocab_size) < 0 ||
        get_int(root, what, "max_text_len", &c->max_text_len) < 0 ||
        get_int(root, what, "text_layers", &c->text_layers) < 0 ||
        get_int(root, what, "text_emb_dim", &c->text_emb_dim) < 0 ||
        get_int(root, what, "freq_dim", &c->freq_dim) < 0 ||
        get_int3(root, what, "rope_dims", c->rope_dims) < 0 ||
        get_choice(root, what, "variant", "single", "mmdit", &c->mmdit) < 0 ||
        get_choice(root, what, "attention", "cross", "joint", &c->joint) < 0 ||
        get_choice(root, what, "pos_embed_type", "none", "sincos", &c->pos_embed) < 0)
        goto out;
    if ((v = avk_json_get(root, "rope_theta"))) {
        if (v->type != AVK_JSON_NUMBER) {
            avk_error("%s: DiT config: \"rope_theta\" is not a number", what);
            goto out;
        }
        c->rope_theta = v->number;
    }
    if (get_bool(root, what, "qk_norm", &c->qk_norm) < 0 ||
        get_bool(root, what, "frame_cond", &c->frame_cond) < 0)
        goto out;
    if (avk_dit_config_check(c) < 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", avk_errmsg());
        avk_error("%s: %s", what, msg);
        goto out;
    }
    rc = 0;
out:
    avk_json_free(root);
    return rc;
}

/* The precision's name, as --precision and the checkpoint metadata spell it. */
const char *avk_dit_precision_name(avk_dit_precision p)
{
    return p == AVK_DIT_BF16 ? "bf16" : "fp32";
}

/* A precision from its name; -1 when it is neither. */
int avk_dit_precision_parse(const char *s)
{
    if (!strcmp(s, "fp32"))
        return AVK_DIT_FP32;
    if (!strcmp(s, "bf16"))
        return AVK_DIT_BF16;
    return -1;
}
