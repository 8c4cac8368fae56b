/* The distributed layer: MPI under a launcher, a plain process otherwise.
 * See include/avkit/dist/dist.h. */
#include "avkit/dist/dist.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>

static int dist_on;        /* MPI initialized by us */
static int dist_rank_v;
static int dist_size_v = 1;

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
    MPI_Comm_rank(MPI_COMM_WORLD, &dist_rank_v);
    MPI_Comm_size(MPI_COMM_WORLD, &dist_size_v);
    dist_on = 1;
    return 0;
}

void avk_dist_finalize(void)
{
    if (dist_on) {
        MPI_Finalize();
        dist_on = 0;
    }
}

int avk_dist_rank(void)   { return dist_rank_v; }
int avk_dist_size(void)   { return dist_size_v; }
int avk_dist_active(void) { return dist_on && dist_size_v > 1; }

void avk_dist_barrier(void)
{
    if (dist_on)
        MPI_Barrier(MPI_COMM_WORLD);
}

void avk_dist_abort(int status)
{
    if (dist_on)
        MPI_Abort(MPI_COMM_WORLD, status);
    exit(status);
}

static const double *deal_cost;   /* costs seen by the comparator */

/* Order item indices by cost descending, then index ascending. */
static int by_cost_desc(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    double ci = deal_cost ? deal_cost[i] : 1.0, cj = deal_cost ? deal_cost[j] : 1.0;
    if (ci != cj)
        return ci > cj ? -1 : 1;
    return (i > j) - (i < j);
}

/* Greedy longest-first dealing: deterministic, so every rank computes the
 * same owners without talking. */
void avk_dist_deal(size_t n, const double *cost, int *owner)
{
    int size = dist_size_v;
    if (size <= 1) {
        for (size_t i = 0; i < n; i++)
            owner[i] = 0;
        return;
    }
    size_t *order = avk_xmalloc(n * sizeof *order);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    deal_cost = cost;
    qsort(order, n, sizeof *order, by_cost_desc);
    deal_cost = NULL;
    double *load = avk_xcalloc((size_t)size, sizeof *load);
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        int best = 0;
        for (int r = 1; r < size; r++)
            if (load[r] < load[best])
                best = r;
        owner[i] = best;
        load[best] += cost ? cost[i] : 1.0;
    }
    free(load);
    free(order);
}

/* Send every non-root item to rank 0, in item order. */
int avk_dist_gather_items(size_t n, const int *owner, avk_buf *items)
{
    if (!avk_dist_active())
        return 0;
    int rank = dist_rank_v;
    for (size_t i = 0; i < n; i++) {
        if (owner[i] == 0)
            continue;
        int tag = (int)(i % 30000);
        if (rank == owner[i]) {
            unsigned long long len = items[i].len;
            MPI_Send(&len, 1, MPI_UNSIGNED_LONG_LONG, 0, tag, MPI_COMM_WORLD);
            size_t off = 0;
            while (off < len) {
                size_t chunk = len - off > (1u << 30) ? (1u << 30) : len - off;
                MPI_Send(items[i].data + off, (int)chunk, MPI_BYTE, 0, tag,
                         MPI_COMM_WORLD);
                off += chunk;
            }
        } else if (rank == 0) {
            unsigned long long len = 0;
            MPI_Recv(&len, 1, MPI_UNSIGNED_LONG_LONG, owner[i], tag,
                     MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            items[i].len = 0;
            if (len > items[i].cap) {
                items[i].data = avk_xrealloc(items[i].data, len);
                items[i].cap = len;
            }
            size_t off = 0;
            while (off < len) {
                size_t chunk = len - off > (1u << 30) ? (1u << 30) : len - off;
                MPI_Recv(items[i].data + off, (int)chunk, MPI_BYTE, owner[i],
                         tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                off += chunk;
            }
            items[i].len = len;
        }
    }
    return 0;
}

long avk_dist_sum_long(long v)
{
    if (!dist_on)
        return v;
    long out = 0;
    MPI_Allreduce(&v, &out, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    return out;
}

int avk_dist_allreduce_sum_f32(float *data, size_t n)
{
    if (!dist_on)
        return 0;
    size_t off = 0;
    while (off < n) {
        size_t chunk = n - off > (1u << 28) ? (1u << 28) : n - off;
        if (MPI_Allreduce(MPI_IN_PLACE, data + off, (int)chunk, MPI_FLOAT,
                          MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
            return avk_error("MPI_Allreduce failed");
        off += chunk;
    }
    return 0;
}

int avk_dist_bcast(void *data, size_t n)
{
    if (!dist_on)
        return 0;
    size_t off = 0;
    while (off < n) {
        size_t chunk = n - off > (1u << 30) ? (1u << 30) : n - off;
        if (MPI_Bcast((char *)data + off, (int)chunk, MPI_BYTE, 0,
                      MPI_COMM_WORLD) != MPI_SUCCESS)
            return avk_error("MPI_Bcast failed");
        off += chunk;
    }
    return 0;
}
