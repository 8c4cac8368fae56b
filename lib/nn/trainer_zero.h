/* ZeRO-1 and ZeRO-2 for the trainer (private to lib/nn): the AdamW moments
 * and the reduced gradients sharded over the data-parallel ranks, and the
 * sharded checkpoints. See trainer_zero.c. */
#ifndef AVKIT_NN_TRAINER_ZERO_H
#define AVKIT_NN_TRAINER_ZERO_H

#include "avkit/dist/comm.h"
#include "avkit/nn/params.h"
#include "avkit/nn/trainer.h"

typedef struct train_zero {
    avk_comm *dp;
    int rank, size;
    int64_t S;             /* floats per shard (64-byte multiple); size * S <= total */
    int64_t lo, hi;        /* this rank's shard: floats [lo, hi) of the table */
    int64_t tail;          /* floats [size * S, total): on every rank */
    float *gs, *m, *v;     /* the shard's summed gradients and moments (S each) */
    float *mt, *vt;        /* the tail's moments (tail each) */
    double *part;          /* every rank's sum of squares (size) */
} train_zero;

int zero_init(train_zero *z, avk_comm *dp, avk_params *P);
double zero_norm_clip(train_zero *z, avk_params *P, double clip);
int zero_step(train_zero *z, avk_params *P, const avk_adamw *ad);
/* Sharded checkpoints: the optimizer file of shard r of n beside `out`
 * (shard 0: the usual optimizer file); this rank's shard as a writer (its
 * borrowed copy in *buf); the whole moments read back from every shard
 * file of the checkpoint whose shard 0 is `first` (any rank count). */
char *zero_shard_path(const char *out, int r, int n);
avk_st_writer *zero_shard_writer(const train_zero *z, const avk_params *P, float **buf);
int zero_load_shards(avk_params *P, const char *ckpt, const avk_st_file *first);
void zero_release_optim(avk_params *P);
void zero_free(train_zero *z);

#endif
