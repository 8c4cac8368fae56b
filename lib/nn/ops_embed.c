/* Embedding lookup: rows of a table by integer ids, and the backward that
 * scatters gradients back into the table rows. */
#include "avkit/nn/ops.h"
#include "avkit/util/common.h"
#include "ops_util.h"

#include <omp.h>
#include <string.h>

int avk_embedding_fwd(float *out, const float *table, const int32_t *ids, int64_t n,
                      int64_t V, int D)
{
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return avk_error("embedding: id %d at position %lld outside the table of %lld rows",
                             (int)ids[i], (long long)i, (long long)V);
#pragma omp parallel for schedule(static) if (n * D >= AVK_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        memcpy(out + i * D, table + (int64_t)ids[i] * D, (size_t)D * sizeof(float));
    return 0;
}

/* Threads split the feature columns, so two positions with the same id
 * never race on a table row. */
void avk_embedding_bwd(float *dtable, const float *dout, const int32_t *ids, int64_t n, int D)
{
    int nt = n * D >= AVK_PAR_MIN ? avk_ops_threads() : 1;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        int d0 = (int)((int64_t)D * t / T), d1 = (int)((int64_t)D * (t + 1) / T);
        for (int64_t i = 0; i < n; i++) {
            float *row = dtable + (int64_t)ids[i] * D;
            const float *g = dout + i * D;
            for (int d = d0; d < d1; d++)
                row[d] += g[d];
        }
    }
}

void avk_embedding_bwd_ref(float *dtable, const float *dout, const int32_t *ids, int64_t n, int D)
{
    for (int64_t i = 0; i < n; i++)
        for (int d = 0; d < D; d++)
            dtable[(int64_t)ids[i] * D + d] += dout[i * D + d];
}
