/* The collectives over a communicator, blocking and nonblocking: each is
 * written once, taking a request to fill (nonblocking) or NULL (blocking).
 * A lone rank without MPI does the one-rank result itself. */
#include "comm_impl.h"

#include <stdlib.h>
#include <string.h>

/* Start a nonblocking operation: a fresh request unless the caller wants
 * the blocking form. */
static avk_request *start(avk_request **req)
{
    if (!req)
        return NULL;
    *req = NULL;
    return comm_req_new();
}

/* Finish starting: hand over the request, or NULL when nothing is pending
 * (the one-rank case, or a failure: then nothing was started). */
static int finish(avk_request **req, avk_request *q, int rc)
{
    if (!req)
        return rc;
    if (rc < 0 || q->n == 0) {
        if (rc < 0 && q->n > 0)
            MPI_Waitall(q->n, q->r, MPI_STATUSES_IGNORE);
        comm_req_free(q);
        return rc;
    }
    *req = q;
    return 0;
}

/* One MPI call on one piece of a buffer: the nonblocking form into slot,
 * or the blocking form when slot is NULL. */
typedef int (*piece_call)(void *p, int k, MPI_Datatype mt, const void *arg, MPI_Comm comm,
                          MPI_Request *slot);

/* The shape allreduce and broadcast share: nothing to do on a lone rank
 * without MPI; otherwise `call` on pieces of at most comm_max_count
 * elements (MPI counts are ints), each a request of q when q is given.
 * `what` names the MPI function in an error. */
static int in_pieces(avk_comm *c, void *data, size_t n, avk_comm_type t, avk_request *q,
                     piece_call call, const void *arg, const char *what)
{
    if (!c->mpi_on)
        return 0;
    size_t es = avk_comm_type_size(t);
    for (size_t off = 0; off < n; off += comm_max_count) {
        size_t k = n - off < comm_max_count ? n - off : comm_max_count;
        int rc = call((char *)data + off * es, (int)k, comm_mpi_type(t), arg, c->mpi,
                      q ? comm_req_slot(q) : NULL);
        if (comm_check(rc, what) < 0)
            return -1;
    }
    return 0;
}

/* A piece of an in-place allreduce; arg: the MPI_Op. */
static int allreduce_piece(void *p, int k, MPI_Datatype mt, const void *arg, MPI_Comm comm,
                           MPI_Request *slot)
{
    MPI_Op op = *(const MPI_Op *)arg;
    return slot ? MPI_Iallreduce(MPI_IN_PLACE, p, k, mt, op, comm, slot)
                : MPI_Allreduce(MPI_IN_PLACE, p, k, mt, op, comm);
}

/* Allreduce in pieces of at most comm_max_count elements. */
static int allreduce(avk_comm *c, void *data, size_t n, avk_comm_type t, avk_comm_op op,
                     avk_request *q)
{
    MPI_Op mop;
    if (comm_mpi_op(t, op, &mop) < 0)
        return -1;
    return in_pieces(c, data, n, t, q, allreduce_piece, &mop, "MPI_Allreduce");
}

int avk_comm_allreduce(avk_comm *c, void *data, size_t n, avk_comm_type t, avk_comm_op op)
{
    return allreduce(c, data, n, t, op, NULL);
}

int avk_comm_iallreduce(avk_comm *c, void *data, size_t n, avk_comm_type t, avk_comm_op op,
                        avk_request **req)
{
    avk_request *q = start(req);
    return finish(req, q, allreduce(c, data, n, t, op, q));
}

/* The shape the equal-block collectives share (reduce-scatter, allgather,
 * all-to-all): a block too large for one MPI call is an error; a lone
 * rank without MPI copies its one block (send NULL: in place, nothing to
 * copy); an empty block needs nothing. 1 when MPI must run, 0 when done,
 * -1 with the error set. */
static int equal_blocks(avk_comm *c, const void *send, void *recv, size_t count,
                        avk_comm_type t, const char *what)
{
    if (comm_count_fits(count, what) < 0)
        return -1;
    if (!c->mpi_on) {
        if (send)
            memmove(recv, send, count * avk_comm_type_size(t));
        return 0;
    }
    return count > 0;
}

/* Reduce-scatter of equal blocks. */
static int reduce_scatter(avk_comm *c, const void *send, void *recv, size_t count,
                          avk_comm_type t, avk_comm_op op, avk_request *q)
{
    MPI_Op mop;
    if (comm_mpi_op(t, op, &mop) < 0)
        return -1;
    int todo = equal_blocks(c, send, recv, count, t, "reduce-scatter");
    if (todo <= 0)
        return todo;
    int rc = q ? MPI_Ireduce_scatter_block(send, recv, (int)count, comm_mpi_type(t), mop, c->mpi,
                                           comm_req_slot(q))
               : MPI_Reduce_scatter_block(send, recv, (int)count, comm_mpi_type(t), mop, c->mpi);
    return comm_check(rc, "MPI_Reduce_scatter_block");
}

int avk_comm_reduce_scatter(avk_comm *c, const void *send, void *recv, size_t count,
                            avk_comm_type t, avk_comm_op op)
{
    return reduce_scatter(c, send, recv, count, t, op, NULL);
}

int avk_comm_ireduce_scatter(avk_comm *c, const void *send, void *recv, size_t count,
                             avk_comm_type t, avk_comm_op op, avk_request **req)
{
    avk_request *q = start(req);
    return finish(req, q, reduce_scatter(c, send, recv, count, t, op, q));
}

/* Allgather of equal blocks; send == NULL: in place. */
static int allgather(avk_comm *c, const void *send, void *recv, size_t count, avk_comm_type t,
                     avk_request *q)
{
    int todo = equal_blocks(c, send, recv, count, t, "allgather");
    if (todo <= 0)
        return todo;
    const void *s = send ? send : MPI_IN_PLACE;
    MPI_Datatype mt = comm_mpi_type(t);
    int rc = q ? MPI_Iallgather(s, (int)count, mt, recv, (int)count, mt, c->mpi, comm_req_slot(q))
               : MPI_Allgather(s, (int)count, mt, recv, (int)count, mt, c->mpi);
    return comm_check(rc, "MPI_Allgather");
}

int avk_comm_allgather(avk_comm *c, const void *send, void *recv, size_t count, avk_comm_type t)
{
    return allgather(c, send, recv, count, t, NULL);
}

int avk_comm_iallgather(avk_comm *c, const void *send, void *recv, size_t count, avk_comm_type t,
                        avk_request **req)
{
    avk_request *q = start(req);
    return finish(req, q, allgather(c, send, recv, count, t, q));
}

/* All-to-all of equal blocks. */
static int alltoall(avk_comm *c, const void *send, void *recv, size_t count, avk_comm_type t,
                    avk_request *q)
{
    int todo = equal_blocks(c, send, recv, count, t, "all-to-all");
    if (todo <= 0)
        return todo;
    MPI_Datatype mt = comm_mpi_type(t);
    int rc = q ? MPI_Ialltoall(send, (int)count, mt, recv, (int)count, mt, c->mpi, comm_req_slot(q))
               : MPI_Alltoall(send, (int)count, mt, recv, (int)count, mt, c->mpi);
    return comm_check(rc, "MPI_Alltoall");
}

int avk_comm_alltoall(avk_comm *c, const void *send, void *recv, size_t count, avk_comm_type t)
{
    return alltoall(c, send, recv, count, t, NULL);
}

int avk_comm_ialltoall(avk_comm *c, const void *send, void *recv, size_t count, avk_comm_type t,
                       avk_request **req)
{
    avk_request *q = start(req);
    return finish(req, q, alltoall(c, send, recv, count, t, q));
}

/* Copy size_t counts or offsets into ints for MPI, refusing any too large. */
static int to_ints(const size_t *v, int n, int *out, const char *what)
{
    for (int i = 0; i < n; i++) {
        if (comm_count_fits(v[i], what) < 0)
            return -1;
        out[i] = (int)v[i];
    }
    return 0;
}

/* Reduce-scatter of variable blocks: rank r gets counts[r] elements, the
 * reduction of block r of every rank's send (the blocks laid out one
 * after another in rank order). The int counts live in the request until
 * a nonblocking one completes. */
static int reduce_scatterv(avk_comm *c, const void *send, void *recv, const size_t *counts,
                           avk_comm_type t, avk_comm_op op, avk_request *q)
{
    MPI_Op mop;
    if (comm_mpi_op(t, op, &mop) < 0)
        return -1;
    if (!c->mpi_on) {
        memmove(recv, send, counts[0] * avk_comm_type_size(t));
        return 0;
    }
    int p = c->size, *ints = avk_xmalloc((size_t)p * sizeof *ints);
    if (to_ints(counts, p, ints, "reduce-scatter count") < 0) {
        free(ints);
        return -1;
    }
    int rc;
    if (q) {
        rc = MPI_Ireduce_scatter(send, recv, ints, comm_mpi_type(t), mop, c->mpi,
                                 comm_req_slot(q));
        free(q->ints);
        q->ints = ints;
    } else {
        rc = MPI_Reduce_scatter(send, recv, ints, comm_mpi_type(t), mop, c->mpi);
        free(ints);
    }
    return comm_check(rc, "MPI_Reduce_scatter");
}

int avk_comm_reduce_scatterv(avk_comm *c, const void *send, void *recv, const size_t *counts,
                             avk_comm_type t, avk_comm_op op)
{
    return reduce_scatterv(c, send, recv, counts, t, op, NULL);
}

int avk_comm_ireduce_scatterv(avk_comm *c, const void *send, void *recv, const size_t *counts,
                              avk_comm_type t, avk_comm_op op, avk_request **req)
{
    avk_request *q = start(req);
    return finish(req, q, reduce_scatterv(c, send, recv, counts, t, op, q));
}

/* The variable-count all-to-all. The int arrays live in the request until
 * a nonblocking one completes (MPI reads them until then). */
static int alltoallv(avk_comm *c, const void *send, const size_t *scount, const size_t *sdispl,
                     void *recv, const size_t *rcount, const size_t *rdispl, avk_comm_type t,
                     avk_request *q)
{
    size_t es = avk_comm_type_size(t);
    if (!c->mpi_on) {
        if (scount[0] != rcount[0])
            return avk_error("all-to-all: rank 0 sends %zu elements to itself but expects %zu",
                             scount[0], rcount[0]);
        memmove((char *)recv + rdispl[0] * es, (const char *)send + sdispl[0] * es,
                scount[0] * es);
        return 0;
    }
    int p = c->size;
    int *ints = avk_xmalloc(4 * (size_t)p * sizeof *ints);
    if (to_ints(scount, p, ints, "all-to-all count") < 0 ||
        to_ints(sdispl, p, ints + p, "all-to-all offset") < 0 ||
        to_ints(rcount, p, ints + 2 * p, "all-to-all count") < 0 ||
        to_ints(rdispl, p, ints + 3 * p, "all-to-all offset") < 0) {
        free(ints);
        return -1;
    }
    MPI_Datatype mt = comm_mpi_type(t);
    int rc;
    if (q) {
        rc = MPI_Ialltoallv(send, ints, ints + p, mt, recv, ints + 2 * p, ints + 3 * p, mt, c->mpi,
                            comm_req_slot(q));
        free(q->ints);
        q->ints = ints;
    } else {
        rc = MPI_Alltoallv(send, ints, ints + p, mt, recv, ints + 2 * p, ints + 3 * p, mt, c->mpi);
        free(ints);
    }
    return comm_check(rc, "MPI_Alltoallv");
}

int avk_comm_alltoallv(avk_comm *c, const void *send, const size_t *scount, const size_t *sdispl,
                       void *recv, const size_t *rcount, const size_t *rdispl, avk_comm_type t)
{
    return alltoallv(c, send, scount, sdispl, recv, rcount, rdispl, t, NULL);
}

int avk_comm_ialltoallv(avk_comm *c, const void *send, const size_t *scount, const size_t *sdispl,
                        void *recv, const size_t *rcount, const size_t *rdispl, avk_comm_type t,
                        avk_request **req)
{
    avk_request *q = start(req);
    return finish(req, q, alltoallv(c, send, scount, sdispl, recv, rcount, rdispl, t, q));
}

/* A piece of a broadcast; arg: the root. */
static int bcast_piece(void *p, int k, MPI_Datatype mt, const void *arg, MPI_Comm comm,
                       MPI_Request *slot)
{
    int root = *(const int *)arg;
    return slot ? MPI_Ibcast(p, k, mt, root, comm, slot) : MPI_Bcast(p, k, mt, root, comm);
}

/* Broadcast in pieces of at most comm_max_count elements. */
static int bcast(avk_comm *c, void *data, size_t n, avk_comm_type t, int root, avk_request *q)
{
    if (comm_rank_valid(c, root, "broadcast root") < 0)
        return -1;
    return in_pieces(c, data, n, t, q, bcast_piece, &root, "MPI_Bcast");
}

int avk_comm_bcast(avk_comm *c, void *data, size_t n, avk_comm_type t, int root)
{
    return bcast(c, data, n, t, root, NULL);
}

int avk_comm_ibcast(avk_comm *c, void *data, size_t n, avk_comm_type t, int root,
                    avk_request **req)
{
    avk_request *q = start(req);
    return finish(req, q, bcast(c, data, n, t, root, q));
}
