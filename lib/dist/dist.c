/* The distributed layer's process-wide API: MPI under a launcher, a plain
 * process otherwise, over the world communicator. See
 * include/avkit/dist/dist.h. */
#include "avkit/dist/dist.h"
#include "comm_impl.h"
#include "items_impl.h"

#include <stdlib.h>

static int dist_on;        /* MPI initialized by us */

/* True when a known MPI launcher started this process. */
static int launched_by_mpi(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") ||
           getenv("PMIX_RANK");
}

/* Initialize MPI only when launched by mpirun (a singleton init is slow). */
int avk_dist_init(int *argc, char ***argv)
{
    if (dist_on || !launched_by_mpi())
        return 0;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return avk_error("MPI_Init failed");
    dist_on = 1;
    comm_world_attach(1);
    return 0;
}

void avk_dist_finalize(void)
{
    if (dist_on) {
        comm_world_attach(0);
        MPI_Finalize();
        dist_on = 0;
    }
}

int avk_dist_rank(void)   { return avk_comm_rank(avk_comm_world()); }
int avk_dist_size(void)   { return avk_comm_size(avk_comm_world()); }
int avk_dist_active(void) { return dist_on && avk_dist_size() > 1; }

void avk_dist_barrier(void)
{
    avk_comm_barrier(avk_comm_world());
}

void avk_dist_abort(int status)
{
    if (dist_on)
        MPI_Abort(MPI_COMM_WORLD, status);
    exit(status);
}

void avk_dist_deal(size_t n, const double *cost, int *owner)
{
    avk_comm_deal(avk_comm_world(), n, cost, owner);
}

int avk_dist_gather_items(size_t n, const int *owner, avk_buf *items)
{
    if (!avk_dist_active())
        return 0;
    return items_gather(avk_comm_world(), n, owner, items, NULL, NULL);
}

long avk_dist_sum_long(long v)
{
    int64_t x = v;
    avk_comm_allreduce(avk_comm_world(), &x, 1, AVK_COMM_I64, AVK_COMM_SUM);
    return (long)x;
}

int avk_dist_allreduce_sum_f32(float *data, size_t n)
{
    return avk_comm_allreduce(avk_comm_world(), data, n, AVK_COMM_F32, AVK_COMM_SUM);
}

int avk_dist_bcast(void *data, size_t n)
{
    return avk_comm_bcast(avk_comm_world(), data, n, AVK_COMM_BYTE, 0);
}
