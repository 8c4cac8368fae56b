/* Send and receive within a communicator, blocking and nonblocking, in
 * pieces of at most comm_max_count elements (MPI keeps the pieces of one
 * sender, tag and communicator in order, so they match up). */
#include "comm_impl.h"

#include <stdlib.h>

/* The checks both directions share: a peer in range other than a lone
 * rank itself, a tag MPI accepts everywhere. */
static int p2p_valid(const avk_comm *c, int peer, int tag, const char *what)
{
    if (!c->mpi_on || c->size == 1)
        return avk_error("%s: a one-rank communicator has no other rank", what);
    if (tag < 0 || tag > 32767)
        return avk_error("%s: tag %d is not in [0, 32767]", what, tag);
    return comm_rank_valid(c, peer, what);
}

static int p2p_send(avk_comm *c, const void *data, size_t n, avk_comm_type t, int dest, int tag,
                avk_request *q)
{
    if (p2p_valid(c, dest, tag, "send") < 0)
        return -1;
    size_t es = avk_comm_type_size(t);
    size_t off = 0;
    do {
        size_t k = n - off < comm_max_count ? n - off : comm_max_count;
        const char *p = (const char *)data + off * es;
        int rc = q ? MPI_Isend(p, (int)k, comm_mpi_type(t), dest, tag, c->mpi, comm_req_slot(q))
                   : MPI_Send(p, (int)k, comm_mpi_type(t), dest, tag, c->mpi);
        if (comm_check(rc, "MPI_Send") < 0)
            return -1;
        off += k;
    } while (off < n);
    return 0;
}

static int p2p_recv(avk_comm *c, void *data, size_t n, avk_comm_type t, int src, int tag,
                avk_request *q)
{
    if (p2p_valid(c, src, tag, "receive") < 0)
        return -1;
    size_t es = avk_comm_type_size(t);
    size_t off = 0;
    do {
        size_t k = n - off < comm_max_count ? n - off : comm_max_count;
        char *p = (char *)data + off * es;
        if (q) {
            if (comm_check(MPI_Irecv(p, (int)k, comm_mpi_type(t), src, tag, c->mpi,
                                     comm_req_slot(q)), "MPI_Irecv") < 0)
                return -1;
        } else {
            MPI_Status st;
            int got = 0;
            if (comm_check(MPI_Recv(p, (int)k, comm_mpi_type(t), src, tag, c->mpi, &st),
                           "MPI_Recv") < 0)
                return -1;
            MPI_Get_count(&st, comm_mpi_type(t), &got);
            if ((size_t)got != k)
                return avk_error("receive from rank %d: %d elements where %zu were expected",
                                 src, got, k);
        }
        off += k;
    } while (off < n);
    return 0;
}

int avk_comm_send(avk_comm *c, const void *data, size_t n, avk_comm_type t, int dest, int tag)
{
    return p2p_send(c, data, n, t, dest, tag, NULL);
}

int avk_comm_recv(avk_comm *c, void *data, size_t n, avk_comm_type t, int src, int tag)
{
    return p2p_recv(c, data, n, t, src, tag, NULL);
}

/* Start a send or receive; on failure wait out the pieces already posted
 * (nothing can take them back) and report the failure. */
static int post(int rc, avk_request *q, avk_request **req)
{
    if (rc < 0) {
        MPI_Waitall(q->n, q->r, MPI_STATUSES_IGNORE);
        comm_req_free(q);
        return -1;
    }
    *req = q;
    return 0;
}

int avk_comm_isend(avk_comm *c, const void *data, size_t n, avk_comm_type t, int dest, int tag,
                   avk_request **req)
{
    *req = NULL;
    avk_request *q = comm_req_new();
    return post(p2p_send(c, data, n, t, dest, tag, q), q, req);
}

int avk_comm_irecv(avk_comm *c, void *data, size_t n, avk_comm_type t, int src, int tag,
                   avk_request **req)
{
    *req = NULL;
    avk_request *q = comm_req_new();
    return post(p2p_recv(c, data, n, t, src, tag, q), q, req);
}
