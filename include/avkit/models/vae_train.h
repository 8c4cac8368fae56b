/* Training the VAE (av-train --model vae): a pool of decoded frames and
 * seeded random crops from it, the VAE as a trainer task (the loop, the
 * optimizer and the checkpoints are the trainer's, trainer.h), the latent
 * scale, and the reconstruction PSNR.
 */
#ifndef AVKIT_VAE_TRAIN_H
#define AVKIT_VAE_TRAIN_H

#include <stdint.h>
#include "avkit/nn/tensor.h"
#include "avkit/nn/ops.h"
#include "avkit/nn/trainer.h"
#include "avkit/models/vae.h"

/* Frames in memory, RGB24, each with its own size. */
typedef struct avk_frame_pool {
    int       n, cap;
    int      *w, *h;
    uint8_t **rgb;
} avk_frame_pool;

/* Add `count` frames of w x h packed one after the other in rgb (copied). */
void avk_frame_pool_add(avk_frame_pool *p, int w, int h, const uint8_t *rgb, int count);
void avk_frame_pool_free(avk_frame_pool *p);
/* Fill x [B, 3, S, S] with B crops: for each, a frame drawn uniformly and
 * a position uniform over the frame, pixels mapped to [-1, 1]
 * (v / 127.5 - 1). Every frame must be at least S x S. */
void avk_frame_pool_crops(const avk_frame_pool *p, avk_rng *r, int B, int S, float *x);
/* The same with augmentation when `augment` is set: each crop's color
 * channels in one of their six orders and a mirror image half of the time,
 * so that a small set of clips teaches colors and layouts it does not hold. */
void avk_frame_pool_crops_aug(const avk_frame_pool *p, avk_rng *r, int B, int S, int augment,
                              float *x);
/* Smallest frame side in the pool. */
int avk_frame_pool_min_side(const avk_frame_pool *p);

/* RGB24 frame (w x h) to planar [3, h, w] in [-1, 1] and back (rounded,
 * clamped to 0..255). */
void avk_rgb_to_planar(float *x, const uint8_t *rgb, int w, int h);
void avk_planar_to_rgb(uint8_t *rgb, const float *x, int w, int h);

/* The latent scale: 1 / (standard deviation of the latent means) over the
 * B frames of x [B, 3, S, S]; diffusers' scaling_factor convention. */
double avk_vae_measure_scale(avk_vae *v, const float *x, int B, int S);

/* Reconstruction quality on whole frames: each frame is center-cropped to
 * the largest multiple of the latent cell, encoded (mean), decoded,
 * rounded to 8 bits; returns PSNR = 10 log10(255^2 / MSE) over all pixels
 * of all frames (-1 with error set on failure). */
double avk_vae_psnr(avk_vae *v, const avk_frame_pool *p);

/* The VAE as a trainer task (trainer.h): each step draws B random S x S
 * crops (augmented when asked) and the latent noise from the step's
 * generator, and runs avk_vae_train_step; before each checkpoint the
 * latent scale is measured on 16 fixed crops (seeded by the run's seed)
 * and stored as the config's scaling_factor. */
typedef struct avk_vae_task {
    avk_vae              *vae;
    const avk_frame_pool *pool;
    int                   batch, crop, augment;
    double                kl_weight;
    float                *x, *eps;   /* this step's batch and noise */
    avk_train_task       *task;      /* the task running it (for its note) */
} avk_vae_task;

/* Set up vt and the task t that runs it (t->params is the VAE's table). */
void avk_vae_task_init(avk_vae_task *vt, avk_train_task *t, avk_vae *v,
                       const avk_frame_pool *pool, int batch, int crop, int augment,
                       double kl_weight);
void avk_vae_task_free(avk_vae_task *vt);

#endif
