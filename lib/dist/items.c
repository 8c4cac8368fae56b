/* Work shared across ranks with results in input order: dealing, sharing
 * rank 0's input, and the deal / compute / gather / emit helper. See
 * include/avkit/dist/items.h. */
#include "avkit/dist/items.h"
#include "items_impl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { ITEMS_TAG = 32001 };   /* the gather's messages (length, then bytes) */

/* The cost of item i, 1 without costs. */
static double item_cost(const double *cost, size_t i)
{
    return cost ? cost[i] : 1.0;
}

static const double *sort_cost;   /* costs seen by the comparator */

/* Order item indices by cost descending, then index ascending. */
static int by_cost_desc(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    double ci = item_cost(sort_cost, i), cj = item_cost(sort_cost, j);
    if (ci != cj)
        return ci > cj ? -1 : 1;
    return (i > j) - (i < j);
}

/* Greedy longest-first dealing: deterministic, so every rank computes the
 * same owners without talking. */
void avk_comm_deal(const avk_comm *c, size_t n, const double *cost, int *owner)
{
    int size = avk_comm_size(c);
    if (size <= 1) {
        for (size_t i = 0; i < n; i++)
            owner[i] = 0;
        return;
    }
    size_t *order = avk_xmalloc((n ? n : 1) * sizeof *order);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    sort_cost = cost;
    qsort(order, n, sizeof *order, by_cost_desc);
    sort_cost = NULL;
    double *load = avk_xcalloc((size_t)size, sizeof *load);
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        int best = 0;
        for (int r = 1; r < size; r++)
            if (load[r] < load[best])
                best = r;
        owner[i] = best;
        load[best] += item_cost(cost, i);
    }
    free(load);
    free(order);
}

/* Contiguous runs, in rank order: neighbours stay on one rank. */
void avk_comm_deal_blocks(const avk_comm *c, size_t n, int *owner)
{
    int size = avk_comm_size(c);
    for (int r = 0; r < size; r++) {
        size_t a = n * (size_t)r / (size_t)size, b = n * (size_t)(r + 1) / (size_t)size;
        for (size_t k = a; k < b; k++)
            owner[k] = r;
    }
}

/* A length of UINT64_MAX says that rank 0 failed. */
int avk_comm_share(avk_comm *c, avk_buf *b, int failed)
{
    if (!avk_comm_uses_mpi(c))
        return failed ? 1 : 0;
    int root = avk_comm_rank(c) == 0;
    uint64_t len = failed ? UINT64_MAX : b->len;
    if (avk_comm_bcast(c, &len, sizeof len, AVK_COMM_BYTE, 0) < 0)
        return -1;
    if (len == UINT64_MAX)
        return 1;
    if (!root) {
        b->len = 0;
        if (len > b->cap) {
            b->data = avk_xrealloc(b->data, len);
            b->cap = len;
        }
        b->len = len;
    }
    return avk_comm_bcast(c, b->data, len, AVK_COMM_BYTE, 0) < 0 ? -1 : 0;
}

/* The gather itself: each rank sends the items it owns, in order; rank 0
 * takes them in input order, its own from items[] and the others'
 * received into `scratch` (or into items[i] itself when emit is NULL),
 * and hands each to emit until one fails. */
int items_gather(avk_comm *c, size_t n, const int *owner, avk_buf *items,
                 int (*emit)(size_t, avk_buf *, void *), void *ctx)
{
    int rank = avk_comm_rank(c), rc = 0;
    avk_buf scratch = {0};
    for (size_t i = 0; i < n; i++) {
        if (rank != 0) {
            if (owner[i] != rank)
                continue;
            uint64_t len = items[i].len;
            if (avk_comm_send(c, &len, sizeof len, AVK_COMM_BYTE, 0, ITEMS_TAG) < 0 ||
                avk_comm_send(c, items[i].data, items[i].len, AVK_COMM_BYTE, 0, ITEMS_TAG) < 0)
                return -1;
            continue;
        }
        avk_buf *it = &items[i];
        if (owner[i] != 0) {
            uint64_t len = 0;
            it = emit ? &scratch : &items[i];
            if (avk_comm_recv(c, &len, sizeof len, AVK_COMM_BYTE, owner[i], ITEMS_TAG) < 0)
                return -1;
            if (len > it->cap) {
                it->data = avk_xrealloc(it->data, len);
                it->cap = len;
            }
            it->len = len;
            if (avk_comm_recv(c, it->data, len, AVK_COMM_BYTE, owner[i], ITEMS_TAG) < 0)
                return -1;
        }
        if (emit && rc == 0 && emit(i, it, ctx) < 0)
            rc = -1;
    }
    avk_buf_free(&scratch);
    return rc;
}

/* The emit of a job whose output already failed: drop the item. */
static int discard(size_t i, avk_buf *item, void *ctx)
{
    return 0;
}

/* This rank's items, in increasing order; returns how many. */
static size_t my_items(const int *owner, size_t n, int rank, size_t *idx)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (owner[i] == rank)
            idx[k++] = i;
    return k;
}

/* Deal, compute this rank's share, agree on the outcome, gather and emit
 * in input order. */
int avk_dist_items(avk_comm *c, const avk_items *job, avk_items_result *res)
{
    size_t n = job->n;
    int rank = avk_comm_rank(c), rc = 0;
    int *owner = avk_xmalloc((n ? n : 1) * sizeof *owner);
    if (job->blocks)
        avk_comm_deal_blocks(c, n, owner);
    else
        avk_comm_deal(c, n, job->cost, owner);
    size_t *idx = avk_xmalloc((n ? n : 1) * sizeof *idx);
    size_t k = my_items(owner, n, rank, idx);
    avk_buf *items = avk_xcalloc(n ? n : 1, sizeof *items);

    /* [0] failed items, [1] ranks that stopped */
    int64_t tally[2] = {0, 0};
    if (job->work_all) {
        int w = job->work_all(idx, k, items, job->ctx);
        tally[0] += w > 0 ? w : 0;
        tally[1] += w < 0;
    } else {
        for (size_t j = 0; j < k; j++) {
            int w = job->work(idx[j], &items[idx[j]], job->ctx);
            tally[0] += w > 0;
            if (w < 0) {
                tally[1] = 1;
                break;
            }
        }
    }
    if (tally[1])
        rc = -1;    /* the work's error stays set */
    if (job->work_done)
        job->work_done(job->ctx);

    if (avk_comm_allreduce(c, tally, 2, AVK_COMM_I64, AVK_COMM_SUM) < 0)
        rc = -1;
    res->failed = (long)tally[0];
    res->stopped = tally[1] > 0;
    if (!res->stopped && rc == 0) {
        int ok = rank != 0 || !job->begin || job->begin(job->ctx) == 0;
        /* a failed begin still takes the others' items, emitting none */
        if (items_gather(c, n, owner, items, ok ? job->emit : discard, job->ctx) < 0 || !ok)
            rc = -1;
    }
    for (size_t i = 0; i < n; i++)
        avk_buf_free(&items[i]);
    free(items);
    free(idx);
    free(owner);
    return rc;
}
