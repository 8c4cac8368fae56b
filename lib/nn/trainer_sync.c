/* Gradient reduction in per-block buckets, overlapped with the backward.
 *
 * Each parameter block (params.h) is one bucket. While the task's step
 * runs, the model's backward announces each block whose gradients are
 * final (avk_params_grads_ready), in reverse table order; the bucket's
 * nonblocking collective starts at once and the rest of the backward
 * computes while it moves. Every announcement also tests the buckets in
 * flight, since MPI moves nonblocking collectives only inside MPI calls.
 * Buckets start strictly in reverse table order, the same on every rank
 * (MPI matches collectives by order): a block announced early waits for
 * the ones after it, and after the step the ones never announced (a model
 * without hooks, a rank whose step failed) are started too, so the
 * sequence of collectives never differs between ranks and a failing rank
 * never leaves the others waiting in a collective it will not join.
 *
 * Without ZeRO a bucket is summed in place (allreduce). With ZeRO each
 * bucket is reduce-scattered: rank r receives the sums of the part of the
 * bucket inside its shard [r S, (r + 1) S) (comm.h's variable-count
 * reduce-scatter; the shards are consecutive, so the bucket's parts are
 * already in rank order), the part inside the small tail after the
 * shards is summed on every rank. ZeRO-2 then gives the bucket's whole
 * gradients back to the system (madvise), so between steps a rank holds
 * only its shard of the gradients, and during the backward the buckets
 * not yet reduced. */
#include "trainer_sync.h"
#include "avkit/nn/tensor.h"
#include "avkit/util/common.h"

#include <stdint.h>
#include <stdlib.h>
#include <malloc.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void sync_release(float *p, int64_t n)
{
    if (n <= 0)
        return;
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p, e = (uintptr_t)(p + n);
    uintptr_t ia = (a + pg - 1) / pg * pg, ie = e / pg * pg;
    if (ie <= ia || madvise((void *)ia, ie - ia, MADV_DONTNEED) != 0) {
        memset(p, 0, (size_t)n * sizeof(float));
        return;
    }
    memset(p, 0, ia - a);            /* the partial pages at both ends */
    memset((void *)ie, 0, e - ie);
}

/* Keep freed large blocks in the heap. MPI's nonblocking collectives
 * allocate bucket-sized temporaries on every call; glibc serves blocks
 * over its mmap threshold with mmap and returns them with munmap, so each
 * step page-faulted the same megabytes in again (19% of a rank's CPU in
 * the kernel at width 256, against 4.5% for one process). With these two
 * limits raised the blocks are reused; measured 1 -> 2 ranks on
 * bench/dp.sh's width-256 model, the two-rank step fell from 0.120-0.133
 * to 0.103-0.117 s. The cost: memory freed during training stays with the
 * process, up to 32 MiB a block (glibc's largest threshold). */
static void keep_large_blocks_in_heap(void)
{
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

void sync_init(train_sync *s, avk_comm *dp, avk_params *P, train_zero *z, int release)
{
    if (avk_comm_size(dp) > 1)
        keep_large_blocks_in_heap();
    memset(s, 0, sizeof *s);
    s->dp = dp;
    s->P = P;
    s->z = z;
    s->release = release && z;
    s->next = -1;
    s->req = avk_xcalloc(2 * (size_t)(P->nblock + 1), sizeof *s->req);
    s->ss = avk_xcalloc((size_t)P->nblock + 1, sizeof *s->ss);
    s->done = avk_xcalloc((size_t)P->nblock + 1, 1);
    s->ready = avk_xcalloc((size_t)P->nblock + 1, 1);
    if (s->release)
        sync_release(P->g, z->S * z->size);
}

void sync_free(train_sync *s)
{
    sync_abandon(s);
    free(s->req);
    free(s->ss);
    free(s->done);
    free(s->ready);
    memset(s, 0, sizeof *s);
}

/* The floats [o, e) of block b that lie inside the shards (the rest, up
 * to the block's end, is in the tail). */
static void shard_part(const train_sync *s, int b, int64_t *o, int64_t *e)
{
    const avk_param_block *k = &s->P->block[b];
    int64_t all = s->z->S * s->z->size;
    *o = k->offset < all ? k->offset : all;
    *e = k->offset + k->size < all ? k->offset + k->size : all;
}

/* Start block b's collective(s). 0 or -1. */
static int start_block(train_sync *s, int b)
{
    avk_params *P = s->P;
    const avk_param_block *k = &P->block[b];
    if (!s->z)
        return avk_comm_iallreduce(s->dp, P->g + k->offset, (size_t)k->size, AVK_COMM_F32,
                                   AVK_COMM_SUM, &s->req[2 * b]);
    train_zero *z = s->z;
    int64_t o, e;
    shard_part(s, b, &o, &e);
    int rc = 0;
    if (e > o) {
        size_t *counts = avk_xcalloc((size_t)z->size, sizeof *counts);
        for (int r = 0; r < z->size; r++) {
            int64_t lo = o > r * z->S ? o : r * z->S;
            int64_t hi = e < (r + 1) * z->S ? e : (r + 1) * z->S;
            counts[r] = hi > lo ? (size_t)(hi - lo) : 0;
        }
        int64_t at = o > z->lo ? o - z->lo : 0;
        if (at > z->S)
            at = z->S;
        rc = avk_comm_ireduce_scatterv(s->dp, P->g + o, z->gs + at, counts, AVK_COMM_F32,
                                       AVK_COMM_SUM, &s->req[2 * b]);
        free(counts);
    }
    int64_t end = k->offset + k->size;
    if (rc == 0 && end > e)
        rc = avk_comm_iallreduce(s->dp, P->g + e, (size_t)(end - e), AVK_COMM_F32, AVK_COMM_SUM,
                                 &s->req[2 * b + 1]);
    return rc;
}

/* After block b's reduction: ZeRO-2 gives its gradients back; DP takes
 * its sum of squares. */
static void block_done(train_sync *s, int b)
{
    const avk_param_block *k = &s->P->block[b];
    s->done[b] = 1;
    if (!s->z) {
        s->ss[b] = avk_sumsq(s->P->g + k->offset, k->size);
    } else if (s->release) {
        int64_t o, e;
        shard_part(s, b, &o, &e);
        sync_release(s->P->g + o, e - o);
    }
}

/* Test every bucket in flight (MPI progresses only inside its calls);
 * finish the ones done. */
static void progress(train_sync *s)
{
    for (int b = s->P->nblock - 1; b > s->next; b--) {
        if (s->done[b])
            continue;
        int d0 = 1, d1 = 1;
        if (avk_request_test(&s->req[2 * b], &d0) < 0 ||
            avk_request_test(&s->req[2 * b + 1], &d1) < 0) {
            s->failed = 1;
            return;
        }
        if (d0 && d1)
            block_done(s, b);
    }
}

/* Start blocks next, next - 1, ..., down to `upto`. */
static int start_to(train_sync *s, int upto)
{
    while (s->next >= upto && !s->failed) {
        if (start_block(s, s->next) < 0)
            s->failed = 1;
        s->next--;
    }
    return s->failed ? -1 : 0;
}

/* The hook: block b's gradients are final. The buckets start in reverse
 * table order only: b's waits until every block after it is final too. */
static void on_ready(void *ctx, int b)
{
    train_sync *s = ctx;
    s->ready[b] = 1;
    int before = s->next, upto = s->next + 1;
    while (upto > 0 && s->ready[upto - 1])
        upto--;
    if (upto <= s->next && start_to(s, upto) < 0)
        return;
    progress(s);
    s->early += before - s->next;
}

void sync_begin(train_sync *s)
{
    s->next = s->P->nblock - 1;
    s->failed = 0;
    memset(s->done, 0, (size_t)s->P->nblock);
    memset(s->ready, 0, (size_t)s->P->nblock);
    s->P->ready = on_ready;
    s->P->ready_ctx = s;
}

int sync_flush(train_sync *s, const avk_train_result *res)
{
    s->P->ready = NULL;
    s->P->ready_ctx = NULL;
    s->buckets += s->P->nblock;
    if (start_to(s, 0) < 0)
        return -1;
    int nm = res->nmetric;
    s->sums[0] = res->loss;
    for (int i = 0; i < nm; i++)
        s->sums[1 + i] = res->metric[i];
    return avk_comm_iallreduce(s->dp, s->sums, (size_t)(1 + nm), AVK_COMM_F64, AVK_COMM_SUM,
                               &s->sums_req);
}

int sync_wait(train_sync *s, avk_train_result *res, double *ss_total)
{
    double t0 = avk_now();
    int rc = 0, nb = s->P->nblock;
    for (int b = nb - 1; b >= 0 && rc == 0; b--) {
        rc = avk_request_wait(&s->req[2 * b]);
        if (rc == 0)
            rc = avk_request_wait(&s->req[2 * b + 1]);
        if (rc == 0 && !s->done[b])
            block_done(s, b);
    }
    if (rc == 0)
        rc = avk_request_wait(&s->sums_req);
    s->wait_s += avk_now() - t0;
    if (rc < 0) {
        sync_abandon(s);
        return -1;
    }
    res->loss = s->sums[0];
    for (int i = 0; i < res->nmetric; i++)
        res->metric[i] = s->sums[1 + i];
    double ss = 0;
    for (int b = 0; b < nb && !s->z; b++)
        ss += s->ss[b];
    *ss_total = ss;
    return 0;
}

void sync_abandon(train_sync *s)
{
    if (!s->req)
        return;
    avk_request_waitall(2 * (size_t)s->P->nblock, s->req);
    avk_request_wait(&s->sums_req);
    s->P->ready = NULL;
    s->P->ready_ctx = NULL;
}
