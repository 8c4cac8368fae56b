/* What the communicator files share: the communicator and request
 * structures, the MPI type and operation of ours, argument checks. */
#ifndef AVKIT_DIST_COMM_IMPL_H
#define AVKIT_DIST_COMM_IMPL_H

#include "avkit/dist/comm.h"

#include <mpi.h>

/* A communicator: an MPI one under a launcher, else a lone rank. */
struct avk_comm {
    int      mpi_on;     /* 1: collectives go through `mpi` */
    MPI_Comm mpi;
    int      rank, size;
    int      owned;      /* 1: made by split (MPI_Comm_free on free) */
};

/* A nonblocking operation: the MPI requests it was split into, and the
 * int count arrays MPI reads until it completes. */
struct avk_request {
    int          n, cap;
    MPI_Request *r;
    int         *ints;
};

/* Attach the world to MPI_COMM_WORLD (after MPI_Init) or detach it. */
void comm_world_attach(int on);

/* The largest count that one MPI call receives (see avk_comm_set_max_count). */
extern size_t comm_max_count;

MPI_Datatype comm_mpi_type(avk_comm_type t);
/* The MPI operation for op on t, or -1 with the error set (BYTE). */
int comm_mpi_op(avk_comm_type t, avk_comm_op op, MPI_Op *out);
/* -1 with "what: MPI error text" unless rc is MPI_SUCCESS. */
int comm_check(int rc, const char *what);
/* -1 with the error set when n exceeds one MPI call's count. */
int comm_count_fits(size_t n, const char *what);
/* -1 with the error set when r is not a rank of c. */
int comm_rank_valid(const avk_comm *c, int r, const char *what);

/* A fresh request / one more MPI request slot in it. */
avk_request *comm_req_new(void);
MPI_Request *comm_req_slot(avk_request *q);
void comm_req_free(avk_request *q);

#endif
