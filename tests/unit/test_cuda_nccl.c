/* The device collectives (NCCL) of the CUDA backend: allreduce, reduce-
 * scatter, allgather and broadcast on device memory give what the same
 * collectives give on the host, over the ranks of the job (one rank
 * without a launcher; t982 also runs two ranks where there are two
 * devices). Skips, in one line, without CUDA, without NCCL or without a
 * device. `test_cuda_nccl --devices` prints the device count (0 when none)
 * for the test script. */
#include <string.h>
#include "tap.h"
#include "avkit/dist/dist.h"
#include "avkit/nn/ops.h"
#include "avkit/nn/tensor.h"

#ifndef AVK_HAVE_CUDA
int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--devices")) {
        printf("0\n");
        return 0;
    }
    printf("1..0 # SKIP built without CUDA (make CUDA=1)\n");
    return 0;
}
#else
#include <cuda_runtime_api.h>
#include "avkit/nn/cuda.h"

static const avk_backend *be;

/* A device buffer of n floats: base + rank * 100 + i. */
static float *pattern(int64_t n, int rank, float base)
{
    float *h = avk_falloc(n), *d = be->alloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++)
        h[i] = base + (float)rank * 100.0f + (float)i;
    be->to_device(d, h, (size_t)n * 4);
    avk_ffree(h);
    return d;
}

static int equal(const float *d, const float *want, int64_t n)
{
    float *h = avk_falloc(n);
    be->to_host(h, d, (size_t)n * 4);
    int same = !memcmp(h, want, (size_t)n * 4);
    avk_ffree(h);
    return same;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--devices")) {
        int n = 0;
        printf("%d\n", cudaGetDeviceCount(&n) == cudaSuccess ? n : 0);
        return 0;
    }
    if (avk_dist_init(&argc, &argv) < 0)
        avk_die_lib();
    avk_comm *w = avk_comm_world();
    int rank = avk_comm_rank(w), size = avk_comm_size(w);
    be = avk_backend_find("cuda");
    if (!be || !avk_cuda_have_nccl()) {
        if (rank == 0)
            printf("1..0 # SKIP %s\n", be ? "built without NCCL" : avk_errmsg());
        avk_dist_finalize();
        return 0;
    }
    avk_cuda_comm *cc = avk_cuda_comm_new(w);
    ok(cc != NULL, "rank %d of %d: an NCCL communicator over the world", rank, size);
    if (!cc) {
        diag("%s", avk_errmsg());
        avk_dist_finalize();
        return done_testing();
    }
    const int64_t n = 1000, blk = 250;
    /* allreduce: the host allreduce of the same data is the expectation */
    float *d = pattern(n, rank, 0.5f), *want = avk_falloc(n * size);
    for (int64_t i = 0; i < n; i++)
        want[i] = 0.5f + (float)rank * 100.0f + (float)i;
    avk_comm_allreduce(w, want, n, AVK_COMM_F32, AVK_COMM_SUM);
    ok(avk_cuda_allreduce(cc, d, n, AVK_COMM_SUM) == 0 && equal(d, want, n),
       "rank %d: device allreduce (sum) equals the host one", rank);
    avk_comm_allreduce(w, want, n, AVK_COMM_F32, AVK_COMM_MAX);
    ok(avk_cuda_allreduce(cc, d, n, AVK_COMM_MAX) == 0 && equal(d, want, n),
       "rank %d: device allreduce (max) equals the host one", rank);

    /* reduce-scatter of size blocks, then allgather them back */
    float *s = pattern(blk * size, rank, 1.0f), *r = be->alloc((size_t)blk * 4);
    float *hs = avk_falloc(blk * size), *hr = avk_falloc(blk);
    for (int64_t i = 0; i < blk * size; i++)
        hs[i] = 1.0f + (float)rank * 100.0f + (float)i;
    avk_comm_reduce_scatter(w, hs, hr, blk, AVK_COMM_F32, AVK_COMM_SUM);
    ok(avk_cuda_reduce_scatter(cc, s, r, blk, AVK_COMM_SUM) == 0 && equal(r, hr, blk),
       "rank %d: device reduce-scatter equals the host one", rank);
    float *g = be->alloc((size_t)blk * size * 4), *hg = avk_falloc(blk * size);
    avk_comm_allgather(w, hr, hg, blk, AVK_COMM_F32);
    ok(avk_cuda_allgather(cc, r, g, blk) == 0 && equal(g, hg, blk * size),
       "rank %d: device allgather equals the host one", rank);

    /* broadcast from the last rank; a bad root is refused */
    float *b = pattern(n, rank, 2.0f);
    for (int64_t i = 0; i < n; i++)
        want[i] = 2.0f + (float)(size - 1) * 100.0f + (float)i;
    ok(avk_cuda_bcast(cc, b, n, size - 1) == 0 && equal(b, want, n),
       "rank %d: device broadcast from rank %d", rank, size - 1);
    ok(avk_cuda_bcast(cc, b, n, size) < 0 && strstr(avk_errmsg(), "root"),
       "rank %d: a broadcast root outside the group is refused: %s", rank, avk_errmsg());

    avk_cuda_comm_free(cc);
    float *bufs[] = {d, s, r, g, b};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        be->free(bufs[i]);
    avk_ffree(want);
    avk_ffree(hs);
    avk_ffree(hr);
    avk_ffree(hg);
    int rc = done_testing();
    avk_dist_finalize();
    return rc;
}
#endif
