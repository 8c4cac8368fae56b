/* The distributed layer: MPI when the process was started by a launcher
 * (mpirun sets OMPI_COMM_WORLD_SIZE; others PMI_SIZE or PMIX_RANK), and a
 * plain single process otherwise, which never initializes MPI (a singleton
 * MPI_Init costs about 0.4 s).
 *
 * These process-wide calls work on the world communicator; comm.h has the
 * communicators and their collectives, items.h the helper that deals work
 * over ranks and gathers it in input order.
 */
#ifndef AVKIT_DIST_H
#define AVKIT_DIST_H

#include <stddef.h>
#include <stdint.h>
#include "avkit/util/common.h"
#include "avkit/dist/comm.h"
#include "avkit/dist/items.h"

/* Initialize MPI if launched under a launcher; safe to call twice.
 * Returns 0 or -1 (error set). */
int  avk_dist_init(int *argc, char ***argv);
/* Finalize MPI if it was initialized. */
void avk_dist_finalize(void);
int  avk_dist_rank(void);
int  avk_dist_size(void);
/* True when running under MPI with more than one rank. */
int  avk_dist_active(void);
void avk_dist_barrier(void);
/* Abort every rank (after printing the caller's message) with `status`. */
void avk_dist_abort(int status) __attribute__((noreturn));

/* Deal n items of the given costs (NULL = equal) across ranks, largest
 * first onto the least-loaded rank (deterministic: ties go to the lowest
 * rank, then the lowest index). owner[i] receives the rank of item i. */
void avk_dist_deal(size_t n, const double *cost, int *owner);

/* Gather per-item byte buffers on rank 0 in item order: on entry, each
 * rank has filled items[i] for the i it owns (owner[i] == its rank); on
 * return rank 0 holds every items[i]. Other ranks' buffers are unchanged.
 * 0 or -1. */
int  avk_dist_gather_items(size_t n, const int *owner, avk_buf *items);

/* Sum an int over all ranks (status codes, counts). */
long avk_dist_sum_long(long v);
/* Element-wise sum of a float array over all ranks, result on all ranks. */
int  avk_dist_allreduce_sum_f32(float *data, size_t n);
/* Broadcast bytes from rank 0. */
int  avk_dist_bcast(void *data, size_t n);

#endif
