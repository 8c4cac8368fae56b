/* VAE checkpoints: save/load round trip, seeded initialization, and every
 * way a checkpoint can be wrong (a missing, mis-shaped, extra or
 * non-finite tensor; an unsupported config), each a clear error that
 * names the tensor or the config key. Also what a diffusers user brings:
 * no config metadata (inferred from shapes), a config.json, the old
 * attention names, F16 weights. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "avkit/util/common.h"
#include "avkit/io/safetensors.h"
#include "avkit/nn/tensor.h"
#include "avkit/models/vae.h"

/* A tiny config: 2 blocks of 8 and 16 channels, 4 groups. */
static avk_vae_config tiny(void)
{
    avk_vae_config c = avk_vae_config_default();
    c.nblocks = 2;
    c.block_out_channels[0] = 8;
    c.block_out_channels[1] = 16;
    c.block_out_channels[2] = c.block_out_channels[3] = 0;
    c.norm_num_groups = 4;
    return c;
}

enum { KEEP, DROP, RESHAPE, RENAME_OLD, AS_F16 };

/* Write v's tensors to path, doing `what` to the tensor named `target`
 * (or to all, for RENAME_OLD and AS_F16); config metadata when cfg. */
static int write_variant(const avk_vae *v, const char *path, int what, const char *target,
                         const char *cfg, const char *extra_name)
{
    avk_st_writer *w = avk_st_writer_new();
    avk_st_writer_meta(w, "format", "pt");
    if (cfg)
        avk_st_writer_meta(w, "config", cfg);
    uint16_t *half = NULL;
    if (what == AS_F16) {
        half = malloc((size_t)v->pt->total * 2);
        for (int64_t i = 0; i < v->pt->total; i++) {
            /* exact for values that are multiples of 2^-10 in [-2, 2] */
            float f = v->pt->w[i];
            uint16_t s = f < 0 ? 0x8000 : 0;
            float a = fabsf(f);
            uint16_t h = 0;
            if (a > 0) {
                int e;
                float m = frexpf(a, &e);            /* a = m 2^e, m in [0.5, 1) */
                h = (uint16_t)((e - 1 + 15) << 10 | ((int)(m * 2048) & 1023));
            }
            half[i] = s | h;
        }
    }
    for (int i = 0; i < v->pt->n; i++) {
        const avk_vae_param *p = &v->pt->p[i];
        int match = target && strcmp(p->name, target) == 0;
        if (what == DROP && match)
            continue;
        int64_t shape[4];
        memcpy(shape, p->shape, sizeof shape);
        if (what == RESHAPE && match)
            shape[0] = p->shape[0] / 2;
        char name[300];
        snprintf(name, sizeof name, "%s", p->name);
        char *at;
        if (what == RENAME_OLD && (at = strstr(p->name, ".to_q.")))
            snprintf(name, sizeof name, "%.*s.query.%s", (int)(at - p->name), p->name, at + 6);
        if (what == AS_F16)
            avk_st_writer_add(w, name, AVT_F16, p->ndim, shape, half + p->offset);
        else
            avk_st_writer_add(w, name, AVT_F32, p->ndim, shape, v->pt->w + p->offset);
    }
    float one = 1;
    int64_t s1[1] = {1};
    if (extra_name)
        avk_st_writer_add(w, extra_name, AVT_F32, 1, s1, &one);
    int rc = avk_st_writer_write(w, path);
    free(half);
    return rc;
}

int main(void)
{
    char dir[] = "/tmp/avk-vae-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char path[256];
    avk_vae_config c = tiny();
    avk_vae *v = avk_vae_new(&c);
    avk_vae_init(v, 42);
    char *cfg = avk_vae_config_json(&c);

    /* initialization */
    avk_vae *v2 = avk_vae_new(&c), *v3 = avk_vae_new(&c);
    avk_vae_init(v2, 42);
    avk_vae_init(v3, 43);
    ok(memcmp(v->pt->w, v2->pt->w, v->pt->total * 4) == 0, "same seed, same initial weights");
    ok(memcmp(v->pt->w, v3->pt->w, v->pt->total * 4) != 0, "another seed, other weights");
    /* norms start as the identity; convolutions He-normal (std
     * sqrt(2 / fan_in)) with zero biases; the attention's linear
     * projections uniform in +-1/sqrt(fan_in) */
    const avk_vae_param *pn = avk_vae_find(v, "encoder.conv_norm_out.weight");
    const avk_vae_param *pc = avk_vae_find(v, "decoder.up_blocks.0.resnets.0.conv1.weight");
    const avk_vae_param *pb = avk_vae_find(v, "decoder.up_blocks.0.resnets.0.conv1.bias");
    const avk_vae_param *pa = avk_vae_find(v, "encoder.mid_block.attentions.0.to_q.weight");
    ok(pn && pc && pb && pa, "the tensors checked exist");
    double ss = 0, bmax = 0, qmax = 0;
    int64_t fan_in = pc->numel / pc->shape[0];
    for (int64_t i = 0; i < pc->numel; i++)
        ss += (double)v->pt->w[pc->offset + i] * v->pt->w[pc->offset + i];
    for (int64_t i = 0; i < pb->numel; i++)
        bmax = fmax(bmax, fabs(v->pt->w[pb->offset + i]));
    for (int64_t i = 0; i < pa->numel; i++)
        qmax = fmax(qmax, fabs(v->pt->w[pa->offset + i]));
    double sd = sqrt(ss / (double)pc->numel), want = sqrt(2.0 / (double)fan_in);
    int64_t qfan = pa->numel / pa->shape[0];
    ok(v->pt->w[pn->offset] == 1.0f, "norms start at 1");
    ok(fabs(sd / want - 1) < 0.15 && bmax == 0,
       "convs He-normal: std %.4f against sqrt(2/fan_in) %.4f over %lld weights, biases 0",
       sd, want, (long long)pc->numel);
    ok(qmax <= 1 / sqrt((double)qfan) && qmax > 0.5 / sqrt((double)qfan),
       "attention projections uniform in +-1/sqrt(fan_in) (max %.4f)", qmax);
    avk_vae_free(v2);
    avk_vae_free(v3);

    /* round trip */
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    const char *meta[] = {"step", "7"};
    ok(avk_vae_save(v, path, 1, meta) == 0, "save");
    avk_vae *r = avk_vae_load(path, NULL);
    ok(r && r->pt->total == v->pt->total && memcmp(r->pt->w, v->pt->w, v->pt->total * 4) == 0,
       "load gives the saved weights bit for bit");
    /* compared as JSON: memcmp would read the struct's padding bytes */
    char *saved_cfg = r ? avk_vae_config_json(&r->cfg) : NULL;
    ok(saved_cfg && strcmp(saved_cfg, cfg) == 0, "and the saved config");
    free(saved_cfg);
    avk_st_file *f = avk_st_open(path);
    ok(f && avk_st_meta(f, "format") && strcmp(avk_st_meta(f, "format"), "pt") == 0 &&
       avk_st_meta(f, "step") && strcmp(avk_st_meta(f, "step"), "7") == 0,
       "metadata: format pt and the caller's keys");
    avk_st_close(f);
    avk_vae_free(r);

    /* missing tensor */
    snprintf(path, sizeof path, "%s/missing.safetensors", dir);
    write_variant(v, path, DROP, "decoder.up_blocks.1.resnets.1.conv2.bias", cfg, NULL);
    r = avk_vae_load(path, NULL);
    ok(!r && strstr(avk_errmsg(), "missing tensor \"decoder.up_blocks.1.resnets.1.conv2.bias\""),
       "missing tensor named: %s", avk_errmsg());
    /* mis-shaped */
    snprintf(path, sizeof path, "%s/shape.safetensors", dir);
    write_variant(v, path, RESHAPE, "encoder.down_blocks.1.resnets.0.conv_shortcut.weight", cfg, NULL);
    r = avk_vae_load(path, NULL);
    ok(!r && strstr(avk_errmsg(), "\"encoder.down_blocks.1.resnets.0.conv_shortcut.weight\" has "
                    "shape [8, 8, 1, 1], expected [16, 8, 1, 1]"),
       "mis-shaped tensor named with both shapes: %s", avk_errmsg());
    /* extra tensor */
    snprintf(path, sizeof path, "%s/extra.safetensors", dir);
    write_variant(v, path, KEEP, NULL, cfg, "encoder.down_blocks.7.resnets.0.conv1.weight");
    r = avk_vae_load(path, NULL);
    ok(!r && strstr(avk_errmsg(), "unexpected tensor \"encoder.down_blocks.7"),
       "unexpected tensor named: %s", avk_errmsg());
    snprintf(path, sizeof path, "%s/loss.safetensors", dir);
    write_variant(v, path, KEEP, NULL, cfg, "loss.discriminator.main.0.weight");
    r = avk_vae_load(path, NULL);
    ok(r != NULL, "a diffusers training checkpoint's loss.* tensors are ignored");
    avk_vae_free(r);
    /* NaN and Inf */
    const avk_vae_param *pq = avk_vae_find(v, "decoder.mid_block.attentions.0.to_v.weight");
    float keep = v->pt->w[pq->offset + 5];
    v->pt->w[pq->offset + 5] = NAN;
    ok(avk_vae_check_finite(v, "model") < 0 &&
       strstr(avk_errmsg(), "\"decoder.mid_block.attentions.0.to_v.weight\": NaN at element 5"),
       "NaN in memory found by name: %s", avk_errmsg());
    snprintf(path, sizeof path, "%s/nan.safetensors", dir);
    write_variant(v, path, KEEP, NULL, cfg, NULL);
    r = avk_vae_load(path, NULL);
    ok(!r && strstr(avk_errmsg(), "\"decoder.mid_block.attentions.0.to_v.weight\": NaN at element 5"),
       "NaN in a checkpoint named: %s", avk_errmsg());
    v->pt->w[pq->offset + 5] = -INFINITY;
    write_variant(v, path, KEEP, NULL, cfg, NULL);
    r = avk_vae_load(path, NULL);
    ok(!r && strstr(avk_errmsg(), "to_v.weight\": Inf at element 5"), "Inf named: %s", avk_errmsg());
    v->pt->w[pq->offset + 5] = keep;

    /* unsupported configs */
    struct { const char *from, *to, *expect; } bad[] = {
        {"\"DownEncoderBlock2D\"", "\"CrossAttnDownBlock2D\"", "unsupported block type \"CrossAttnDownBlock2D\""},
        {"\"UpDecoderBlock2D\"", "\"AttnUpDecoderBlock2D\"", "unsupported block type \"AttnUpDecoderBlock2D\""},
        {"\"silu\"", "\"gelu\"", "unsupported act_fn \"gelu\""},
        {"\"AutoencoderKL\"", "\"AutoencoderTiny\"", "unsupported model class"},
        {"\"norm_num_groups\":4", "\"norm_num_groups\":3", "not a multiple of norm_num_groups 3"},
        {"[8,16]", "[8,16,16,16,16,16,16]", "block_out_channels"},
    };
    snprintf(path, sizeof path, "%s/cfg.safetensors", dir);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *at = strstr(cfg, bad[i].from);
        if (!at) {
            ok(0, "config text has %s", bad[i].from);
            continue;
        }
        char *b = avk_xasprintf("%.*s%s%s", (int)(at - cfg), cfg, bad[i].to, at + strlen(bad[i].from));
        write_variant(v, path, KEEP, NULL, b, NULL);
        r = avk_vae_load(path, NULL);
        ok(!r && strstr(avk_errmsg(), bad[i].expect), "unsupported config refused: %s", avk_errmsg());
        free(b);
    }

    /* diffusers users: config.json beside, no config at all, old names, F16 */
    snprintf(path, sizeof path, "%s/plain.safetensors", dir);
    write_variant(v, path, RENAME_OLD, NULL, NULL, NULL);
    char cpath[256];
    snprintf(cpath, sizeof cpath, "%s/config.json", dir);
    FILE *fp = fopen(cpath, "w");
    fputs(cfg, fp);
    fclose(fp);
    r = avk_vae_load(path, cpath);
    ok(r && memcmp(r->pt->w, v->pt->w, v->pt->total * 4) == 0,
       "config.json + old attention names (query, not to_q) load");
    avk_vae_free(r);
    r = avk_vae_load(path, NULL);
    ok(!r && strstr(avk_errmsg(), "not a multiple of norm_num_groups 32"),
       "without a config, shapes give the config with diffusers' 32 groups: %s", avk_errmsg());
    avk_vae_config c32 = c;
    c32.block_out_channels[0] = 32;
    c32.block_out_channels[1] = 64;
    c32.norm_num_groups = 32;
    c32.latent_channels = 16;
    avk_vae *v32 = avk_vae_new(&c32);
    avk_vae_init(v32, 1);
    write_variant(v32, path, KEEP, NULL, NULL, NULL);
    r = avk_vae_load(path, NULL);
    ok(r && r->cfg.nblocks == 2 && r->cfg.block_out_channels[1] == 64 &&
       r->cfg.latent_channels == 16 && r->cfg.layers_per_block == 1 && r->cfg.mid_attention,
       "config inferred from the tensor shapes (2 blocks, 16 latent channels)");
    avk_vae_free(r);
    /* F16: round the weights to values F16 holds exactly, then compare */
    for (int64_t i = 0; i < v32->pt->total; i++)
        v32->pt->w[i] = roundf(v32->pt->w[i] * 1024) / 1024;
    snprintf(path, sizeof path, "%s/f16.safetensors", dir);
    write_variant(v32, path, AS_F16, NULL, NULL, NULL);
    r = avk_vae_load(path, NULL);
    int same = r && r->pt->total == v32->pt->total;
    for (int64_t i = 0; same && i < v32->pt->total; i++)
        if (r->pt->w[i] != v32->pt->w[i]) {
            diag("element %lld: %g vs %g", (long long)i, r->pt->w[i], v32->pt->w[i]);
            same = 0;
        }
    ok(same, "F16 weights load exactly");
    avk_vae_free(r);
    avk_vae_free(v32);

    free(cfg);
    avk_vae_free(v);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return done_testing();
}
