/* The training loop, with the model plugged in as a task.
 *
 * The trainer owns what every model's training shares: the steps, the
 * learning-rate schedule (linear warmup, then cosine or constant, in
 * double precision), gradient-norm clipping, AdamW over the task's
 * parameter table (params.h), the EMA of the weights, the stop on a
 * non-finite loss or gradient (naming the step; the last checkpoint
 * stays as it was), checkpoints every N steps, at the end and on
 * SIGINT / SIGTERM (committed as a whole, checkpoint.h), resuming from a
 * checkpoint with every mismatch refused, and logging on stderr (a line
 * every N steps with -v; a progress bar only on a terminal).
 *
 * The task (a model, its data) supplies the forward and backward of one
 * step and what goes into the checkpoint's metadata. Step s draws its
 * random numbers from a generator seeded by (seed, s) alone
 * (avk_train_step_rng), so a resumed run draws what an uninterrupted one
 * would; a task whose data position is not a function of the step (an
 * epoch shuffle, a stream offset) saves it through data_state and gets it
 * back through restore_data_state.
 */
#ifndef AVKIT_NN_TRAINER_H
#define AVKIT_NN_TRAINER_H

#include <stdint.h>
#include "avkit/dist/comm.h"
#include "avkit/nn/params.h"
#include "avkit/nn/tensor.h"

/* ---- learning-rate schedule ------------------------------------------ */

enum { AVK_LR_COSINE = 0, AVK_LR_CONSTANT = 1 };

typedef struct avk_lr_schedule {
    double  lr;            /* peak learning rate */
    int64_t warmup;        /* linear warmup steps: lr * step / warmup */
    int64_t steps;         /* the last step (the cosine ends there) */
    int     kind;          /* AVK_LR_COSINE or AVK_LR_CONSTANT */
    double  min_ratio;     /* the cosine ends at lr * min_ratio (0.1 in av-train) */
} avk_lr_schedule;

/* The learning rate of step (1-based): warmup, then constant, or a cosine
 * from lr down to lr * min_ratio at `steps`. */
double avk_lr_at(const avk_lr_schedule *s, int64_t step);

/* Per-step random numbers: a generator seeded from (seed, step) alone. */
void avk_train_step_rng(avk_rng *r, uint64_t seed, int64_t step);

/* ---- the task -------------------------------------------------------- */

#define AVK_TRAIN_MAX_METRICS 8

/* What one step reports besides the gradients. */
typedef struct avk_train_result {
    double loss;                               /* the optimized loss */
    int    nmetric;                            /* extra metrics (parts of the loss, ...) */
    const char *metric_name[AVK_TRAIN_MAX_METRICS];
    const char *metric_fmt[AVK_TRAIN_MAX_METRICS];   /* printf form in the log, e.g. "%.5f" */
    double metric[AVK_TRAIN_MAX_METRICS];
    int64_t samples, tokens;                   /* this step's batch (for rates) */
    double  flops;                             /* this step's work (0 = unknown) */
} avk_train_result;

struct avk_train_opts;

typedef struct avk_train_task {
    void       *ctx;
    avk_params *params;        /* the model's table: weights in w */
    /* Forward and backward of step `step` with random numbers from r:
     * gradients ADDED to params->g (zeroed by the trainer before), the
     * loss and metrics in *res. 0, or -1 with the error set. */
    int (*step)(void *ctx, int64_t step, avk_rng *r, avk_train_result *res);
    /* Before every checkpoint: the model's metadata for the weights file
     * (e.g. "config": JSON), as key/value pairs added to w; it may write a
     * short note for the log line of the save into note. May be NULL. */
    int (*save_meta)(void *ctx, const struct avk_train_opts *o, avk_st_writer *w);
    char note[96];
    /* Optional: a validation pass every opts.validate_every steps, its
     * loss in *val_loss (logged). */
    int (*validate)(void *ctx, int64_t step, double *val_loss);
    /* Optional: the data position as a string, saved in the optimizer
     * file ("data_state"), and given back on resume. */
    char *(*data_state)(void *ctx);
    int (*restore_data_state)(void *ctx, const char *state);
    /* Optional: after the gradients are reduced (and before clipping),
     * with the step's loss (the global mean under data parallelism) and
     * the gradient norm; called on rank 0 only. For the task's own log. */
    int (*after_step)(void *ctx, int64_t step, const avk_train_result *res, double grad_norm,
                      double lr);
} avk_train_task;

/* ---- the trainer ----------------------------------------------------- */

typedef struct avk_train_opts {
    const char     *out;           /* weights file (optimizer file beside it) */
    const char     *model;         /* metadata "model", e.g. "vae" */
    int64_t         steps;         /* train until this step */
    avk_lr_schedule sched;         /* sched.steps is set from steps */
    avk_adamw       adamw;         /* lr is set per step from sched */
    double          clip;          /* max gradient norm, 0 = off */
    double          ema_decay;     /* 0 = no EMA (written as MODEL.ema.safetensors) */
    uint64_t        seed;
    int64_t         save_every;    /* 0 = only at the end and on a signal */
    int64_t         log_every;     /* with avk_verbose */
    int64_t         validate_every;
    const char     *resume;        /* NULL, or the checkpoint resumed from (its
                                    * weights already loaded into params->w) */
    int             seed_given;    /* on resume: --seed was given explicitly */
    const char     *log_csv;       /* NULL, or a CSV file getting one row a step:
                                    * step,loss,METRICS...,grad_norm,lr,step_s,
                                    * samples_per_s,tokens_per_s,gflops (a header
                                    * first; appended to when resuming) */
    avk_comm       *dp;            /* NULL or one rank: one process. Otherwise the
                                    * data-parallel group: the task's step adds
                                    * its share of the GLOBAL mean gradient (its
                                    * samples' loss scaled by their share of the
                                    * global batch) and returns that share of the
                                    * loss; the trainer sums both over the group
                                    * (one bucket a parameter block, its
                                    * nonblocking collective started when the
                                    * task's backward announces the block with
                                    * avk_params_grads_ready, so it overlaps the
                                    * rest of the backward; blocks never
                                    * announced are reduced after the step),
                                    * every rank steps the same weights, rank 0
                                    * alone writes checkpoints and logs, and all
                                    * ranks stop together. */
    int             zero;          /* with dp: 1 = ZeRO-1, the AdamW moments
                                    * sharded over the ranks (reduce-scatter of
                                    * each bucket, AdamW on the shard, allgather
                                    * of the weights; the checkpoint's optimizer
                                    * state one file a rank, re-sharded on
                                    * resume); 2 = ZeRO-2, the gradients too
                                    * (a bucket's full gradients are given back
                                    * once reduced); 0 = none */
} avk_train_opts;

/* Default options: steps 400, cosine to 0.1 lr, AdamW torch defaults
 * with weight decay 0, clip 1, log every 10. */
avk_train_opts avk_train_opts_default(void);

/* Check a checkpoint before training resumes from it (the weights are
 * already in params->w): finish an interrupted commit first
 * (avk_ckpt_recover), then read the optimizer file beside it and refuse
 * a step that differs from the weights', an optimizer file of other
 * weights (another run: the recorded weights hash differs), a seed other
 * than the recorded one (with seed_given; otherwise o->seed takes the
 * recorded one), and o->steps below the checkpoint's step. Loads the
 * moments, the step, the EMA and the data position. 0 or -1. */
int avk_train_resume(avk_train_opts *o, avk_train_task *t);

/* Train from params->step + 1 to o->steps, then write the final
 * checkpoint. 0 when done; -1 with the error set on a failure (nothing
 * further written; the last checkpoint intact). On SIGINT / SIGTERM the
 * current step finishes, a checkpoint is written, and the trainer returns
 * AVK_TRAIN_STOPPED with *signo set (the caller exits, e.g. by raising
 * the signal again). */
#define AVK_TRAIN_STOPPED 1
/* Under data parallelism: another rank failed and printed why; this one
 * stops quietly (exit 1 without a message of its own). */
#define AVK_TRAIN_PEER_FAILED 2
int avk_train(const avk_train_opts *o, avk_train_task *t, int *signo);

/* Write a checkpoint of the current state (weights with the task's
 * metadata and "step", "model", "seed"; the optimizer file with the
 * weights' hash; the EMA when kept) as one commit. 0 or -1. */
int avk_train_save(const avk_train_opts *o, avk_train_task *t);

/* Agree over dp (NULL: one process) whether any rank failed: 0 when none
 * did; -1 on the lowest failing rank (its error stays set: it is the one
 * that reports); AVK_TRAIN_PEER_FAILED on every other rank. So a failure
 * on any rank ends every rank at the same point with one message. */
int avk_train_agree(avk_comm *dp, int failed);

#endif
