/* The latent dataset: the records av-vaeenc writes (a "latent" tensor
 * [C, T, h, w] in f32, f16 or bf16, its size bucket in the metadata) with
 * their captions as av-caption-feed writes them ("tokens" i32 [L] with a
 * "mask" u8 [L] whose ones form a prefix, or "text_emb" [L, E]), held in
 * memory as f32 for training, and grouped into batches of one latent
 * shape (multi-aspect, multi-resolution, multi-duration training). */
#ifndef AVKIT_DATA_LATENTS_H
#define AVKIT_DATA_LATENTS_H

#include <stdint.h>

typedef struct avk_latent_item {
    char    *key;            /* the record's key */
    const char *file;        /* the stream it came from (for messages) */
    int64_t  index;          /* its record number there */
    int      C, T, H, W;
    float   *latent;         /* [C, T, H, W] */
    int      L;              /* text positions */
    int32_t *tokens;         /* [L], or NULL */
    int      text_len;       /* the mask's prefix (L for text_emb) */
    float   *text_emb;       /* [L, E], or NULL */
    int      E;
    /* What av-vaeenc recorded of the latents' source, 0 where the record's
     * metadata lacks it (a sampler takes its defaults from these): */
    int      frames;         /* vae_frames: video frames */
    int      factor;         /* vae_factor: pixels a latent cell */
    int      bucket_w, bucket_h; /* bucket: the frame size in pixels */
    int      base, unit;     /* bucket_base, bucket_unit */
    double   fps;            /* vae_fps */
    double   scaling;        /* latent_scaling_factor (0: absent) */
    double   shift_factor;   /* latent_shift_factor (with scaling) */
} avk_latent_item;

typedef struct avk_latent_set {
    int n, cap;
    avk_latent_item *items;
} avk_latent_set;

/* Append every record of a stream ("-" is stdin). -1 with an error naming
 * the file, the record and the field on anything unusable: no latent, a
 * latent not 4-D or not a float type, non-finite values, no tokens and no
 * text_emb, a mask that is not a prefix of ones or does not match the
 * tokens. */
int avk_latents_read(avk_latent_set *s, const char *path);
void avk_latents_free(avk_latent_set *s);

/* One epoch's batches: items of the same (C, T, H, W) shape, shuffled
 * with a generator seeded by (seed, epoch), cut into batches of at most
 * `batch` items, the batches themselves shuffled. order[] lists item
 * indices batch after batch; start[k]..start[k+1] is batch k. */
typedef struct avk_latent_plan {
    int nbatch;
    int *order;              /* [n] */
    int *start;              /* [nbatch + 1] */
} avk_latent_plan;
void avk_latents_plan(avk_latent_plan *p, const avk_latent_set *s, int batch, uint64_t seed,
                      int64_t epoch);
void avk_latents_plan_free(avk_latent_plan *p);

#endif
