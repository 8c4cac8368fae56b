/* Helper of bench/comm.sh: the time of the collectives data and sequence
 * parallelism use, under mpirun, on buffers of a given size, so that the
 * communication formulas of doc/parallel.md can be checked against this
 * machine's links.
 *
 *   mpirun -np N bench_comm [FLOATS [REPEATS]]     (default 1687312, 20)
 *
 * FLOATS is the buffer a rank holds (the default: the parameters of
 * bench/zero.sh's model). For each of allreduce, reduce-scatter,
 * allgather (the blocks of FLOATS / N) and all-to-all (FLOATS split in N
 * blocks), rank 0 prints the median wall time of one call (each preceded
 * by a barrier, the slowest rank's time), the bytes a rank sends by the
 * textbook algorithm (ring allreduce 2 (N-1)/N S, reduce-scatter and
 * allgather (N-1)/N S, all-to-all (N-1)/N S, S = FLOATS * 4 bytes) and
 * the bandwidth that implies. */
#include "avkit/dist/comm.h"
#include "avkit/dist/dist.h"
#include "avkit/nn/tensor.h"
#include "avkit/util/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median over `reps` calls of the slowest rank's time of op `k`. */
static double time_op(avk_comm *c, int k, float *a, float *b, int64_t n, int reps)
{
    int np = avk_comm_size(c);
    size_t blk = (size_t)(n / np);
    double *t = avk_xcalloc((size_t)reps, sizeof *t);
    for (int r = 0; r < reps; r++) {
        avk_comm_barrier(c);
        double t0 = avk_now();
        int rc = 0;
        switch (k) {
        case 0: rc = avk_comm_allreduce(c, a, (size_t)n, AVK_COMM_F32, AVK_COMM_SUM); break;
        case 1: rc = avk_comm_reduce_scatter(c, a, b, blk, AVK_COMM_F32, AVK_COMM_SUM); break;
        case 2: rc = avk_comm_allgather(c, NULL, a, blk, AVK_COMM_F32); break;
        default: rc = avk_comm_alltoall(c, a, b, blk, AVK_COMM_F32); break;
        }
        if (rc < 0)
            avk_die_lib();
        t[r] = avk_now() - t0;
        avk_comm_allreduce(c, &t[r], 1, AVK_COMM_F64, AVK_COMM_MAX);
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    double m = t[reps / 2];
    free(t);
    return m;
}

int main(int argc, char **argv)
{
    avk_tool_init(argv[0]);
    if (avk_dist_init(&argc, &argv) < 0)
        avk_die_lib();
    int64_t n = argc > 1 ? avk_parse_long("FLOATS", argv[1], 1, 1L << 30) : 1687312;
    int reps = argc > 2 ? (int)avk_parse_long("REPEATS", argv[2], 1, 100000) : 20;
    avk_comm *c = avk_comm_world();
    int np = avk_comm_size(c), me = avk_comm_rank(c);
    n = n / np * np;
    float *a = avk_fzeros(n), *b = avk_fzeros(n);
    for (int64_t i = 0; i < n; i++)
        a[i] = (float)(i % 97) * 0.01f;
    static const char *name[] = {"allreduce", "reduce-scatter", "allgather", "all-to-all"};
    static const double sent[] = {2.0, 1.0, 1.0, 1.0};   /* times (N-1)/N S */
    double S = (double)n * 4.0;
    if (me == 0)
        printf("%d ranks, %lld floats (%.2f MB) a rank, median of %d\n", np, (long long)n,
               S / 1e6, reps);
    for (int k = 0; k < 4; k++) {
        double t = time_op(c, k, a, b, n, reps);
        double bytes = sent[k] * (np - 1) / np * S;
        if (me == 0)
            printf("%-15s %9.3f ms  sends %8.2f MB a rank  %7.2f GB/s\n", name[k], t * 1e3,
                   bytes / 1e6, t > 0 ? bytes / t / 1e9 : 0.0);
    }
    avk_ffree(a);
    avk_ffree(b);
    avk_dist_finalize();
    return 0;
}
