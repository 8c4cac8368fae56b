/* The frame-wise VAE: a 2D autoencoder with a diagonal-Gaussian latent in
 * the layout of diffusers' AutoencoderKL (Encoder / Decoder of ResNet
 * blocks with group norm, strided-conv downsampling, nearest-neighbour
 * upsampling with a conv, a mid block with one single-head attention;
 * quant_conv / post_quant_conv). Parameter names and shapes are the
 * diffusers ones, so a diffusers checkpoint of a supported configuration
 * loads, and what avkit trains loads in diffusers.
 *
 * Forward and backward are written out by hand over the compute core
 * (ops.h): a training pass keeps every activation the backward needs
 * (llm.c style); inference keeps only the ones in flight. Activation
 * buffers come from a pool owned by the model, so one model runs one pass
 * at a time (use one model per thread).
 *
 * Supported configurations (see av-train(1) and av-vaeenc(1)):
 * down_block_types all "DownEncoderBlock2D", up_block_types all
 * "UpDecoderBlock2D", act_fn "silu", 1..6 blocks (downsampling factor
 * 2^(blocks-1)), any channel counts where every block's channels are a
 * multiple of norm_num_groups, mid-block attention on or off,
 * quant_conv / post_quant_conv on or off.
 */
#ifndef AVKIT_VAE_H
#define AVKIT_VAE_H

#include <stddef.h>
#include <stdint.h>
#include "avkit/nn/params.h"

#define AVK_VAE_MAX_BLOCKS 6

typedef struct avk_vae_config {
    int    in_channels, out_channels, latent_channels;
    int    nblocks;
    int    block_out_channels[AVK_VAE_MAX_BLOCKS];
    int    layers_per_block;
    int    norm_num_groups;
    int    mid_attention;            /* mid_block_add_attention */
    int    use_quant_conv, use_post_quant_conv;
    double scaling_factor;           /* latents are scaled by this */
    double shift_factor;             /* ... after subtracting this (0 = none) */
} avk_vae_config;

/* The small default: block_out_channels (32, 64, 64, 64), one layer per
 * block, 8 groups, 4 latent channels, scaling 1.0 (a freshly trained
 * model has no measured scale yet). */
avk_vae_config avk_vae_config_default(void);
/* Fill *c from diffusers' config JSON (config.json of AutoencoderKL, or
 * the "config" metadata avkit writes). Keys it does not know are ignored;
 * a known key with an unsupported value (a block type, an activation) is
 * an error naming `what` and the key. Missing keys take diffusers'
 * defaults. 0 or -1. */
int avk_vae_config_parse(avk_vae_config *c, const char *json, size_t len, const char *what);
/* The configuration as diffusers-style JSON (malloc'ed). */
char *avk_vae_config_json(const avk_vae_config *c);
/* Check a configuration is one the code supports; -1 with error naming
 * `what` and the problem. */
int avk_vae_config_check(const avk_vae_config *c, const char *what);
/* Spatial downsampling factor: 2^(nblocks-1). */
int avk_vae_factor(const avk_vae_config *c);

/* ---- the model ------------------------------------------------------- */

/* A parameter of the table (params.h): name (diffusers'), shape, offset. */
typedef avk_param avk_vae_param;

typedef struct avk_vae_net avk_vae_net;   /* module table (private) */

typedef struct avk_vae {
    avk_vae_config cfg;
    avk_params    *pt;       /* the parameters in diffusers state_dict order:
                              * pt->n tensors pt->p[], weights pt->w, gradients
                              * pt->g (NULL until avk_vae_grads), pt->total floats */
    avk_vae_net   *net;
} avk_vae;

/* A model of this configuration with zeroed weights; NULL (error set)
 * for an unsupported configuration. */
avk_vae *avk_vae_new(const avk_vae_config *c);
void avk_vae_free(avk_vae *v);
/* PyTorch's default initialization (Conv2d/Linear: weight and bias
 * uniform in +-1/sqrt(fan_in); GroupNorm: weight 1, bias 0), seeded. */
void avk_vae_init(avk_vae *v, uint64_t seed);
/* The gradient buffer (allocated zeroed on first use) / zero it. */
float *avk_vae_grads(avk_vae *v);
void avk_vae_zero_grads(avk_vae *v);
/* Parameter by name, or NULL. */
const avk_vae_param *avk_vae_find(const avk_vae *v, const char *name);

/* Load weights from a safetensors file. The configuration comes from
 * config_path (a diffusers config.json) when not NULL, else from the
 * file's "config" metadata, else it is inferred from the tensor shapes
 * (norm_num_groups 32 and scaling_factor 0.18215, diffusers' defaults).
 * Every expected tensor must be present with its exact shape (F32, F16 or
 * BF16); the old attention names (query/key/value/proj_attn) are
 * accepted. A missing, mis-shaped or non-finite tensor is an error naming
 * it; unexpected extra tensors are an error too unless their names start
 * with "loss." (diffusers' discriminator). NULL on failure. */
avk_vae *avk_vae_load(const char *path, const char *config_path);
/* The same, but without config_path a file with no "config" metadata is
 * an error (no configuration guessed from the shapes: a guess can get
 * norm_num_groups wrong and change every output silently). */
avk_vae *avk_vae_load_strict(const char *path, const char *config_path);
/* Write the weights (F32, diffusers names) with metadata "format": "pt",
 * "config": JSON, plus nmeta extra key/value pairs; temp file + rename. */
int avk_vae_save(const avk_vae *v, const char *path, int nmeta, const char *const *meta);
/* The metadata of a weights file: "format": "pt", "config": JSON. */
void avk_vae_save_meta(const avk_vae *v, avk_st_writer *w);
/* Check every weight is finite; -1 with an error naming the tensor and
 * the element index. `what` names the source. */
int avk_vae_check_finite(const avk_vae *v, const char *what);

/* ---- inference ------------------------------------------------------- */

/* Encode x [B, in_channels, H, W] (values in [-1, 1]; H, W multiples of
 * the factor) to the latent distribution: mean and logvar
 * [B, latent_channels, H/f, W/f] (logvar clamped to [-30, 20] as
 * diffusers). logvar may be NULL. Keeps only the activations in flight;
 * each frame's result does not depend on B. 0 or -1. */
int avk_vae_encode(avk_vae *v, const float *x, int B, int H, int W, float *mean, float *logvar);
/* Decode z [B, latent_channels, h, w] (unscaled latents) to
 * [B, out_channels, h*f, w*f]. 0 or -1. */
int avk_vae_decode(avk_vae *v, const float *z, int B, int h, int w, float *out);

/* ---- training -------------------------------------------------------- */

/* One training step's forward and backward:
 *   mean, logvar = encode(x);  z = mean + exp(clamp(logvar)/2) * eps
 *   rec = decode(z)
 *   loss = L1(rec, x) + MSE(rec, x) + kl_weight * KL(mean, logvar) / B
 * (L1 and MSE are means over every element; KL is the sum over the
 * latent, averaged over the batch). Gradients are ADDED to v->pt->g
 * (allocated if needed). eps [B, latent, h, w] is the caller's normal
 * noise (NULL: z = mean, no sampling). Any of the outputs may be NULL:
 * mean/logvar [B, L, h, w], rec [B, out_channels, H, W], dx (added into,
 * same shape as x). Returns 0, or -1 with error set for a bad shape. */
typedef struct avk_vae_loss {
    double total, l1, mse, kl;
} avk_vae_loss;
int avk_vae_train_step(avk_vae *v, const float *x, int B, int H, int W, const float *eps,
                       float kl_weight, avk_vae_loss *loss, float *mean, float *logvar,
                       float *rec, float *dx);

#endif
