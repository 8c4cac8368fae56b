/* Communicators: the world, groups split from it, the DP x SP grid, and
 * what the collective files share (types, operations, checks, requests).
 * See include/avkit/dist/comm.h. */
#include "comm_impl.h"

#include <limits.h>
#include <stdlib.h>

/* One rank and no MPI until avk_dist_init attaches it. */
static avk_comm world = {.mpi_on = 0, .rank = 0, .size = 1, .owned = 0};

size_t comm_max_count = (size_t)1 << 30;

/* Attach the world to MPI_COMM_WORLD once MPI runs. At finalize it stops
 * using MPI but keeps its rank and size (a rank still knows who it was
 * while it writes its last output). */
void comm_world_attach(int on)
{
    world.mpi_on = on;
    if (on) {
        world.mpi = MPI_COMM_WORLD;
        MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
        MPI_Comm_size(MPI_COMM_WORLD, &world.size);
    }
}

avk_comm *avk_comm_world(void) { return &world; }
int avk_comm_rank(const avk_comm *c) { return c->rank; }
int avk_comm_size(const avk_comm *c) { return c->size; }
int avk_comm_uses_mpi(const avk_comm *c) { return c->mpi_on; }

void avk_comm_set_max_count(size_t n)
{
    comm_max_count = n < 1 ? 1 : n > INT_MAX ? INT_MAX : n;
}

size_t avk_comm_type_size(avk_comm_type t)
{
    switch (t) {
    case AVK_COMM_F32: case AVK_COMM_I32: return 4;
    case AVK_COMM_F64: case AVK_COMM_I64: return 8;
    default: return 1;
    }
}

MPI_Datatype comm_mpi_type(avk_comm_type t)
{
    switch (t) {
    case AVK_COMM_F32: return MPI_FLOAT;
    case AVK_COMM_F64: return MPI_DOUBLE;
    case AVK_COMM_I32: return MPI_INT32_T;
    case AVK_COMM_I64: return MPI_INT64_T;
    default: return MPI_BYTE;
    }
}

int comm_mpi_op(avk_comm_type t, avk_comm_op op, MPI_Op *out)
{
    if (t == AVK_COMM_BYTE)
        return avk_error("a reduction needs a number type, not bytes");
    *out = op == AVK_COMM_MAX ? MPI_MAX : op == AVK_COMM_MIN ? MPI_MIN : MPI_SUM;
    return 0;
}

int comm_check(int rc, const char *what)
{
    if (rc == MPI_SUCCESS)
        return 0;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        len = 0;
    text[len] = 0;
    return avk_error("%s: %s", what, len ? text : "MPI error");
}

int comm_count_fits(size_t n, const char *what)
{
    if (n > comm_max_count)
        return avk_error("%s: %zu elements exceed one MPI call's limit of %zu", what, n,
                         comm_max_count);
    return 0;
}

int comm_rank_valid(const avk_comm *c, int r, const char *what)
{
    if (r < 0 || r >= c->size)
        return avk_error("%s: rank %d is not in a communicator of %d rank%s", what, r, c->size,
                         c->size == 1 ? "" : "s");
    return 0;
}

/* Split by color, rank by key: MPI_Comm_split, or a lone rank again. */
int avk_comm_split(avk_comm *parent, int color, int key, avk_comm **out)
{
    *out = NULL;
    if (color < 0)
        return avk_error("communicator split: color %d is negative", color);
    avk_comm *c = avk_xcalloc(1, sizeof *c);
    c->size = 1;
    if (parent->mpi_on) {
        if (comm_check(MPI_Comm_split(parent->mpi, color, key, &c->mpi), "MPI_Comm_split") < 0) {
            free(c);
            return -1;
        }
        c->mpi_on = 1;
        c->owned = 1;
        MPI_Comm_rank(c->mpi, &c->rank);
        MPI_Comm_size(c->mpi, &c->size);
    }
    *out = c;
    return 0;
}

/* Sequence-parallel groups of sp consecutive ranks, data-parallel groups
 * across them: the layout of Ulysses attention under data parallelism. */
int avk_comm_grid(avk_comm *w, int sp, avk_comm **dp_comm, avk_comm **sp_comm)
{
    if (dp_comm)
        *dp_comm = NULL;
    if (sp_comm)
        *sp_comm = NULL;
    if (sp < 1 || w->size % sp != 0)
        return avk_error("sequence-parallel size %d does not divide %d rank%s", sp, w->size,
                         w->size == 1 ? "" : "s");
    avk_comm *dp = NULL, *sq = NULL;
    if (avk_comm_split(w, w->rank % sp, w->rank / sp, &dp) < 0)
        return -1;
    if (avk_comm_split(w, w->rank / sp, w->rank % sp, &sq) < 0) {
        avk_comm_free(dp);
        return -1;
    }
    if (dp_comm)
        *dp_comm = dp;
    else
        avk_comm_free(dp);
    if (sp_comm)
        *sp_comm = sq;
    else
        avk_comm_free(sq);
    return 0;
}

void avk_comm_free(avk_comm *c)
{
    if (!c || c == &world)
        return;
    int finalized = 0;
    if (c->owned && MPI_Finalized(&finalized) == MPI_SUCCESS && !finalized)
        MPI_Comm_free(&c->mpi);
    free(c);
}

int avk_comm_barrier(avk_comm *c)
{
    if (!c->mpi_on)
        return 0;
    return comm_check(MPI_Barrier(c->mpi), "MPI_Barrier");
}

/* ---- requests --------------------------------------------------------- */

avk_request *comm_req_new(void)
{
    return avk_xcalloc(1, sizeof(avk_request));
}

MPI_Request *comm_req_slot(avk_request *q)
{
    if (q->n == q->cap) {
        q->cap = q->cap ? 2 * q->cap : 2;
        q->r = avk_xrealloc(q->r, (size_t)q->cap * sizeof *q->r);
    }
    q->r[q->n] = MPI_REQUEST_NULL;
    return &q->r[q->n++];
}

void comm_req_free(avk_request *q)
{
    if (!q)
        return;
    free(q->r);
    free(q->ints);
    free(q);
}

int avk_request_test(avk_request **req, int *done)
{
    *done = 1;
    if (!*req)
        return 0;
    int flag = 0;
    if (comm_check(MPI_Testall((*req)->n, (*req)->r, &flag, MPI_STATUSES_IGNORE), "MPI_Testall") < 0)
        return -1;
    *done = flag;
    if (flag) {
        comm_req_free(*req);
        *req = NULL;
    }
    return 0;
}

int avk_request_wait(avk_request **req)
{
    if (!*req)
        return 0;
    int rc = comm_check(MPI_Waitall((*req)->n, (*req)->r, MPI_STATUSES_IGNORE), "MPI_Waitall");
    comm_req_free(*req);
    *req = NULL;
    return rc;
}

int avk_request_waitall(size_t n, avk_request **reqs)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        if (avk_request_wait(&reqs[i]) < 0)
            rc = -1;
    return rc;
}
