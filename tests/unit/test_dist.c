/* Checks of the distributed layer, run both alone and under mpirun -np 2
 * by tests/t010-dist.t: dealing is deterministic and balanced, items come
 * back to rank 0 in order, sums agree. Only rank 0 prints TAP. */
#include "tap.h"
#include "avkit/dist/dist.h"

#include <string.h>

int main(int argc, char **argv)
{
    if (avk_dist_init(&argc, &argv) < 0)
        return 1;
    int rank = avk_dist_rank(), size = avk_dist_size();
    enum { N = 9 };
    double cost[N] = {5, 1, 9, 3, 3, 7, 2, 8, 1};
    int owner[N];
    avk_dist_deal(N, cost, owner);
    double load[8] = {0};
    for (int i = 0; i < N; i++)
        load[owner[i]] += cost[i];

    avk_buf items[N];
    memset(items, 0, sizeof items);
    for (int i = 0; i < N; i++)
        if (owner[i] == rank)
            avk_buf_printf(&items[i], "item %d from rank %d", i, rank);
    int rc = avk_dist_gather_items(N, owner, items);
    long total = avk_dist_sum_long(rank + 1);

    if (rank == 0) {
        ok(rc == 0, "gather succeeds on %d rank(s)", size);
        int in_order = 1;
        for (int i = 0; i < N; i++) {
            char want[64];
            snprintf(want, sizeof want, "item %d from rank %d", i, owner[i]);
            in_order &= items[i].len == strlen(want) && memcmp(items[i].data, want, items[i].len) == 0;
        }
        ok(in_order, "every item reaches rank 0 in item order");
        ok(total == (long)size * (size + 1) / 2, "sum over ranks (%ld)", total);
        if (size == 2)
            ok(load[0] == 20 && load[1] == 19, "longest-first dealing balances load (%g, %g)",
               load[0], load[1]);
        else
            ok(load[0] == 39, "one process owns everything");
        float v[3] = {1, 2, 3};
        avk_dist_allreduce_sum_f32(v, 3);
        ok(v[2] == 3.0f * size, "allreduce sums floats");
    } else {
        float v[3] = {1, 2, 3};
        avk_dist_allreduce_sum_f32(v, 3);
    }
    for (int i = 0; i < N; i++)
        avk_buf_free(&items[i]);
    avk_dist_finalize();
    return rank == 0 ? done_testing() : 0;
}
