/* Gradient reduction in per-block buckets, started while the backward
 * still runs (private to lib/nn). See trainer_sync.c. */
#ifndef AVKIT_NN_TRAINER_SYNC_H
#define AVKIT_NN_TRAINER_SYNC_H

#include "avkit/dist/comm.h"
#include "avkit/nn/params.h"
#include "avkit/nn/trainer.h"
#include "trainer_zero.h"

typedef struct train_sync {
    avk_comm *dp;
    avk_params *P;
    train_zero *z;          /* NULL: allreduce every bucket in place; else
                             * reduce-scatter each into z's gradient shard */
    int release;            /* ZeRO-2: a bucket's full gradients are given
                             * back to the system once reduced */
    int next;               /* the next block to start (counting down); -1: all */
    avk_request **req;      /* 2 per block: the bucket, its part in z's tail */
    double *ss;             /* DP: each block's sum of squares after the sum */
    char *done;             /* this step: the block's reduction finished */
    char *ready;            /* this step: the block was announced final */
    double sums[1 + AVK_TRAIN_MAX_METRICS];
    avk_request *sums_req;
    double wait_s;          /* seconds spent blocked waiting (all steps) */
    int64_t early, buckets; /* buckets started inside the backward / all */
    int failed;
} train_sync;

void sync_init(train_sync *s, avk_comm *dp, avk_params *P, train_zero *z, int release);
void sync_free(train_sync *s);
/* Before the task's step: hook the table, nothing started. */
void sync_begin(train_sync *s);
/* After it: every bucket not yet started is started (in the same order on
 * every rank, also on one whose step failed), then the loss and metrics'
 * sum. 0 or -1. */
int sync_flush(train_sync *s, const avk_train_result *res);
/* Wait for everything; the sums into res; DP: the global norm from the
 * blocks' sums of squares, in table order (ZeRO: z's shard is summed, the
 * caller takes the norm). 0 or -1. */
int sync_wait(train_sync *s, avk_train_result *res, double *ss_total);
/* Drop whatever is in flight after a failure (waits, results unused). */
void sync_abandon(train_sync *s);
/* Give a range of the gradient buffer back to the system (it reads as
 * zeros afterwards). */
void sync_release(float *p, int64_t n);

#endif
