/* Work shared across ranks, results in input order: the "read on rank 0,
 * deal, compute, gather in input order" sequence of the data tools as one
 * helper.
 *
 * Rank 0 reads the input and shares it (avk_comm_share); every rank deals
 * the same n items the same way (avk_comm_deal), computes the items it
 * owns into byte buffers, and rank 0 receives them in input order and
 * emits each (writes a row, a record, a frame). Without a launcher the one
 * rank does everything, with no MPI.
 */
#ifndef AVKIT_DIST_ITEMS_H
#define AVKIT_DIST_ITEMS_H

#include <stddef.h>
#include "avkit/dist/comm.h"

/* Deal n items of the given costs (NULL = equal) over c's ranks, largest
 * first onto the least-loaded rank (ties: the lowest rank, then the lowest
 * index). Deterministic, so every rank computes the same owner[i]. */
void avk_comm_deal(const avk_comm *c, size_t n, const double *cost, int *owner);
/* Deal contiguous runs instead: rank r owns [n*r/size, n*(r+1)/size). */
void avk_comm_deal_blocks(const avk_comm *c, size_t n, int *owner);

/* Give every rank of c a copy of rank 0's bytes: on rank 0, *b holds them
 * unless `failed` says rank 0 could not produce them. Returns 0 with *b
 * filled on every rank, 1 on every rank when rank 0 failed (*b empty
 * elsewhere), -1 on an error. */
int avk_comm_share(avk_comm *c, avk_buf *b, int failed);

/* One job of n items. Give `work` or `work_all`, and `emit`. */
typedef struct avk_items {
    size_t        n;
    const double *cost;     /* per item, for dealing; NULL: equal */
    int           blocks;   /* 1: deal contiguous runs (avk_comm_deal_blocks) */
    /* Compute item i into *out (empty on entry), on the rank that owns it,
     * items in increasing order. Returns 0 when done; 1 when the item
     * failed but its buffer still goes out and the job goes on (counted in
     * avk_items_result.failed); -1 to stop: this rank computes no more,
     * and no rank emits anything (the error stays set here). */
    int  (*work)(size_t i, avk_buf *out, void *ctx);
    /* Or all of this rank's items in one call (to batch them): idx[0..k)
     * in increasing order, filling out[idx[j]]. Returns how many items
     * failed as work's 1 does (0 when all went well), or -1 to stop. */
    int  (*work_all)(const size_t *idx, size_t k, avk_buf *out, void *ctx);
    /* Optional, every rank, once its own items are done (release what the
     * work held before the gather). */
    void (*work_done)(void *ctx);
    /* Optional, rank 0, once, when no rank stopped, before the first emit
     * (open the output, write a header). 0 or -1 (error set). */
    int  (*begin)(void *ctx);
    /* Rank 0: item i, in input order. It may keep the buffer (then it
     * leaves *item zeroed). 0, or -1 (error set) to emit no more. */
    int  (*emit)(size_t i, avk_buf *item, void *ctx);
    void         *ctx;
} avk_items;

/* What every rank learns about the job. */
typedef struct avk_items_result {
    long failed;    /* items whose work returned 1, over all ranks */
    int  stopped;   /* some rank's work returned -1: nothing was emitted */
} avk_items_result;

/* Run the job over c (collective). Returns 0, or -1 with the error set on
 * the rank that failed: its work stopped, or on rank 0 begin or emit
 * failed (the remaining items are still received, so no rank hangs).
 * Every rank reads the job's fate in *res. */
int avk_dist_items(avk_comm *c, const avk_items *job, avk_items_result *res);

#endif
