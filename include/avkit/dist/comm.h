/* Communicators: the world of ranks, groups split from it (data-parallel
 * and sequence-parallel groups), and the collectives training needs, in
 * blocking and nonblocking forms.
 *
 * Without a launcher (no mpirun) MPI is never initialized, the world is
 * one rank, and every collective is the trivial one-rank case done with a
 * copy at most. Under mpirun the world is MPI_COMM_WORLD (after
 * avk_dist_init) and each collective is the MPI one.
 *
 * Counts are in elements of the given type. Functions return 0, or -1 with
 * the error set (avk_errmsg): a bad argument (a root or peer out of range,
 * a count too large for one MPI call) is caught before MPI is called, on
 * the rank that gave it. MPI's own failures end the job (MPI's default
 * error handler), so that one failing rank never leaves the others hanging.
 * MPI runs at MPI_THREAD_FUNNELED: call these from the main thread (OpenMP
 * workers compute; they do not communicate).
 */
#ifndef AVKIT_DIST_COMM_H
#define AVKIT_DIST_COMM_H

#include <stddef.h>
#include "avkit/util/common.h"

typedef struct avk_comm avk_comm;
typedef struct avk_request avk_request;

/* Element types a collective moves; BYTE only moves, it does not reduce. */
typedef enum {
    AVK_COMM_F32, AVK_COMM_F64, AVK_COMM_I32, AVK_COMM_I64, AVK_COMM_BYTE
} avk_comm_type;

/* Reductions: SUM for gradients, MAX and MIN for status and agreement. */
typedef enum { AVK_COMM_SUM, AVK_COMM_MAX, AVK_COMM_MIN } avk_comm_op;

/* Size in bytes of one element of type t. */
size_t avk_comm_type_size(avk_comm_type t);

/* The largest count one MPI call is given (default 2^30 elements, under
 * MPI's int limit). Allreduce, broadcast, send and receive split longer
 * buffers into pieces of this size; reduce-scatter, allgather and the
 * all-to-alls refuse blocks (and all-to-all offsets) beyond it. Tests
 * lower it to reach those paths with small buffers. */
void avk_comm_set_max_count(size_t n);

/* ---- communicators ---------------------------------------------------- */

/* The world: every rank of the job (one rank without a launcher). Owned by
 * the library; never freed. Call avk_dist_init first under mpirun. */
avk_comm *avk_comm_world(void);
int avk_comm_rank(const avk_comm *c);
int avk_comm_size(const avk_comm *c);
/* True when c's collectives go through MPI (a launcher started the job). */
int avk_comm_uses_mpi(const avk_comm *c);

/* Collective over `parent`: the ranks giving the same color (>= 0) form one
 * new communicator, ranked by key (ties by parent rank). 0 or -1. */
int avk_comm_split(avk_comm *parent, int color, int key, avk_comm **out);

/* Collective over `world`: the hybrid-parallel grid for sequence-parallel
 * groups of `sp` consecutive ranks. *sp_comm holds this rank's group
 * (ranks r with r / sp equal, ranked r % sp); *dp_comm the ranks holding
 * the same place in every group (r % sp equal, ranked r / sp). `sp` must
 * divide the world's size. Either output may be NULL. 0 or -1. */
int avk_comm_grid(avk_comm *world, int sp, avk_comm **dp_comm, avk_comm **sp_comm);

/* Free a communicator from split or grid (NULL and the world are ignored). */
void avk_comm_free(avk_comm *c);

/* Wait until every rank of c arrives. 0 or -1. */
int avk_comm_barrier(avk_comm *c);

/* ---- blocking collectives ---------------------------------------------- */

/* data[0..n) combined element-wise over c's ranks with op; every rank ends
 * with the result (in place). */
int avk_comm_allreduce(avk_comm *c, void *data, size_t n, avk_comm_type t, avk_comm_op op);

/* send holds size blocks of `count`; rank r receives in recv[0..count) the
 * element-wise op over all ranks of their block r. send and recv must not
 * overlap. */
int avk_comm_reduce_scatter(avk_comm *c, const void *send, void *recv, size_t count,
                            avk_comm_type t, avk_comm_op op);

/* The variable-count form: send holds size blocks one after another,
 * block r of counts[r] elements; rank r receives in recv[0..counts[r])
 * the element-wise op over all ranks of their block r. counts has size
 * entries, the same on every rank. */
int avk_comm_reduce_scatterv(avk_comm *c, const void *send, void *recv, const size_t *counts,
                             avk_comm_type t, avk_comm_op op);

/* Every rank's `count` elements land in recv at block rank (recv holds size
 * blocks). send == NULL means in place: this rank's block is already in
 * recv. */
int avk_comm_allgather(avk_comm *c, const void *send, void *recv, size_t count, avk_comm_type t);

/* Block d of send (count elements) goes to rank d and lands there at block
 * "this rank" of recv. */
int avk_comm_alltoall(avk_comm *c, const void *send, void *recv, size_t count, avk_comm_type t);

/* The variable-count form: scount[d] elements from send + sdispl[d] go to
 * rank d; rcount[s] elements from rank s land at recv + rdispl[s]. The
 * counts must agree pairwise (rcount[s] on this rank == scount[me] on s).
 * Each array has size entries. */
int avk_comm_alltoallv(avk_comm *c, const void *send, const size_t *scount, const size_t *sdispl,
                       void *recv, const size_t *rcount, const size_t *rdispl, avk_comm_type t);

/* data[0..n) of rank `root` copied to every rank. */
int avk_comm_bcast(avk_comm *c, void *data, size_t n, avk_comm_type t, int root);

/* Point to point within c; tag in [0, 32767]. A one-rank communicator has
 * nobody to talk to: an error. */
int avk_comm_send(avk_comm *c, const void *data, size_t n, avk_comm_type t, int dest, int tag);
int avk_comm_recv(avk_comm *c, void *data, size_t n, avk_comm_type t, int src, int tag);

/* ---- nonblocking forms ------------------------------------------------
 * Each starts the operation and returns at once with *req set; the buffers
 * belong to the operation until avk_request_test says done or
 * avk_request_wait returns. MPI moves data while the caller computes only
 * inside MPI calls, so a long computation calls avk_request_test now and
 * then. A request that finished at the start (the one-rank case) is NULL,
 * which test and wait accept. */

int avk_comm_iallreduce(avk_comm *c, void *data, size_t n, avk_comm_type t, avk_comm_op op,
                        avk_request **req);
int avk_comm_ireduce_scatter(avk_comm *c, const void *send, void *recv, size_t count,
                             avk_comm_type t, avk_comm_op op, avk_request **req);
int avk_comm_ireduce_scatterv(avk_comm *c, const void *send, void *recv, const size_t *counts,
                              avk_comm_type t, avk_comm_op op, avk_request **req);
int avk_comm_iallgather(avk_comm *c, const void *send, void *recv, size_t count, avk_comm_type t,
                        avk_request **req);
int avk_comm_ialltoall(avk_comm *c, const void *send, void *recv, size_t count, avk_comm_type t,
                       avk_request **req);
int avk_comm_ialltoallv(avk_comm *c, const void *send, const size_t *scount, const size_t *sdispl,
                        void *recv, const size_t *rcount, const size_t *rdispl, avk_comm_type t,
                        avk_request **req);
int avk_comm_ibcast(avk_comm *c, void *data, size_t n, avk_comm_type t, int root,
                    avk_request **req);
int avk_comm_isend(avk_comm *c, const void *data, size_t n, avk_comm_type t, int dest, int tag,
                   avk_request **req);
int avk_comm_irecv(avk_comm *c, void *data, size_t n, avk_comm_type t, int src, int tag,
                   avk_request **req);

/* *done = 1 (and *req freed and set to NULL) when the operation finished,
 * else 0; never blocks. 0 or -1. */
int avk_request_test(avk_request **req, int *done);
/* Block until the operation finishes; frees *req and sets it to NULL. */
int avk_request_wait(avk_request **req);
/* Wait for n requests (NULL entries allowed); all are freed. */
int avk_request_waitall(size_t n, avk_request **reqs);

#endif
