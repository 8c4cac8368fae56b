/* Training the video DiT on the latent dataset with the rectified-flow
 * objective: the loop behind `av-train --model dit`. Batches of one latent
 * shape; per global sample, t (logit-normal, shifted) and the noise come
 * from (seed, step, sample index); captions drop to the empty caption with
 * a set probability; AdamW with fp32 master weights and weight decay on
 * matrices only, linear warmup then cosine (to lr/10) or constant,
 * gradient clipping, an EMA of the weights, checkpoints, resume and
 * signals: the library's trainer (avkit/nn/trainer.h), with the DiT as
 * its task. Resume continues the same sequence of batches and draws. */
#ifndef AVKIT_DIFFUSION_DIT_TRAIN_H
#define AVKIT_DIFFUSION_DIT_TRAIN_H

#include <stdint.h>
#include <stdio.h>
#include "avkit/dist/comm.h"

typedef struct avk_dit_train_opts {
    const char *out;            /* checkpoint (and OUT minus .safetensors + .optim.safetensors) */
    const char *config;         /* JSON config of a new model, or NULL */
    const char *init;           /* start from these weights, or NULL */
    const char *resume;         /* continue from this checkpoint, or NULL */
    const char *val;            /* held-out latent stream, or NULL */
    const char *log;            /* CSV of every step, or NULL */
    char **inputs;
    int ninputs;
    long steps, batch, warmup, save_every, log_every;
    double lr, wd, clip, caption_dropout, shift, ema;
    int cosine;
    uint64_t seed;
    int seed_given;             /* on resume: refuse a seed other than the recorded one */
    avk_comm *dp;               /* NULL (one process) or the data-parallel group: each
                                 * rank takes its contiguous share of every global
                                 * batch (batch must divide by the group's size);
                                 * see avk_train_opts.dp */
    int zero;                   /* with dp: 1 = ZeRO-1, 2 = ZeRO-2 (avk_train_opts.zero) */
    int sp;                     /* > 1: sequence parallel (avk_dit_set_sp) over groups of
                                 * sp consecutive ranks of dp (the job's ranks), data
                                 * parallel across the groups; sp divides the ranks
                                 * and the heads */
    double recompute;           /* share of the blocks recomputed (avk_dit_set_recompute) */
    int freeze_text;            /* keep the text encoder as it starts (avk_dit_freeze_text) */
    int precision;              /* AVK_DIT_FP32 (default) or AVK_DIT_BF16 (mixed: bf16
                                   matrix products, everything else f32); recorded in
                                   the checkpoint's metadata "precision" */
} avk_dit_train_opts;

/* The defaults: 400 steps, batch 4, lr 1e-4, warmup 20, cosine, wd 0.01,
 * clip 1, caption dropout 0.1, shift 1, EMA 0.999, log every 10. */
avk_dit_train_opts avk_dit_train_defaults(void);

/* Train through the library's trainer (avkit/nn/trainer.h) with the DiT
 * as its task; 0, or -1 with an error naming the file, record and field
 * (bad input is found before anything is written), or AVK_TRAIN_STOPPED
 * with *signo set when SIGINT / SIGTERM stopped it after writing a
 * checkpoint. Validation loss, when o->val is set, is printed on `report`
 * as "val_loss<TAB>x<TAB>samples<TAB>n" (by rank 0). Under data parallelism
 * a failure on any rank ends every rank: the lowest failing rank returns
 * -1 (its error set), the others AVK_TRAIN_PEER_FAILED (quiet). */
int avk_dit_train(const avk_dit_train_opts *o, FILE *report, int *signo);

/* The optimizer file that goes with a checkpoint (malloc'd). */
char *avk_dit_optim_path(const char *checkpoint);

#endif
