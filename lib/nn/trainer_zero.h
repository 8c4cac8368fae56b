/* ZeRO-1 for the trainer (private to lib/nn): the AdamW moments sharded
 * over the data-parallel ranks. See trainer_zero.c. */
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
int zero_gather_optim(train_zero *z, avk_params *P);
void zero_release_optim(avk_params *P);
void zero_free(train_zero *z);

#endif
