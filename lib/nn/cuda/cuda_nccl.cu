/* Collectives on device memory through NCCL, for data-parallel training on
 * the CUDA backend (as llm.c does: MPI starts the job and carries the rest;
 * NCCL moves the gradients). An NCCL communicator is made over the ranks
 * of an avk_comm: rank 0 creates the unique id and avk_comm_bcast hands it
 * to the others. Each collective is queued on the backend's stream, so it
 * runs in order with the kernels around it. Built with NCCL when make
 * finds nccl.h (AVK_HAVE_NCCL); otherwise every function says so. */
#include "cuda_common.cuh"

extern "C" {
#include "avkit/dist/comm.h"
#include "avkit/nn/cuda.h"
}

#ifdef AVK_HAVE_NCCL
#include <nccl.h>

struct avk_cuda_comm {
    ncclComm_t nccl;
    int rank, size;
};

#define NCCL_TRY(call)                                                                    \
    do {                                                                                  \
        ncclResult_t r_ = (call);                                                         \
        if (r_ != ncclSuccess)                                                            \
            return avk_error("nccl: %s: %s", #call, ncclGetErrorString(r_));              \
    } while (0)

avk_cuda_comm *avk_cuda_comm_new(avk_comm *c)
{
    if (avkc_init() < 0)
        return NULL;
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    int rank = avk_comm_rank(c), size = avk_comm_size(c);
    if (rank == 0) {
        ncclResult_t r = ncclGetUniqueId(&id);
        if (r != ncclSuccess) {
            /* the others still wait for the broadcast: send them zeros */
            memset(&id, 0, sizeof id);
        }
    }
    if (avk_comm_bcast(c, &id, sizeof id, AVK_COMM_BYTE, 0) < 0)
        return NULL;
    static const ncclUniqueId zero = {};
    if (!memcmp(&id, &zero, sizeof id)) {
        avk_error("nccl: rank 0 could not create the communicator's id");
        return NULL;
    }
    avk_cuda_comm *cc = (avk_cuda_comm *)avk_xmalloc(sizeof *cc);
    cc->rank = rank;
    cc->size = size;
    ncclResult_t r = ncclCommInitRank(&cc->nccl, size, id, rank);
    if (r != ncclSuccess) {
        avk_error("nccl: ncclCommInitRank (rank %d of %d): %s", rank, size, ncclGetErrorString(r));
        free(cc);
        return NULL;
    }
    return cc;
}

void avk_cuda_comm_free(avk_cuda_comm *cc)
{
    if (!cc)
        return;
    CU_CHECK(cudaStreamSynchronize(avkc_stream));
    ncclCommDestroy(cc->nccl);
    free(cc);
}

static ncclRedOp_t red_op(avk_comm_op op)
{
    return op == AVK_COMM_MAX ? ncclMax : op == AVK_COMM_MIN ? ncclMin : ncclSum;
}

int avk_cuda_allreduce(avk_cuda_comm *cc, float *data, size_t n, avk_comm_op op)
{
    if (n)
        NCCL_TRY(ncclAllReduce(data, data, n, ncclFloat32, red_op(op), cc->nccl, avkc_stream));
    return 0;
}

int avk_cuda_reduce_scatter(avk_cuda_comm *cc, const float *send, float *recv, size_t count,
                            avk_comm_op op)
{
    if (count)
        NCCL_TRY(ncclReduceScatter(send, recv, count, ncclFloat32, red_op(op), cc->nccl,
                                   avkc_stream));
    return 0;
}

int avk_cuda_allgather(avk_cuda_comm *cc, const float *send, float *recv, size_t count)
{
    if (!send)
        send = recv + (size_t)cc->rank * count;   /* in place, as avk_comm_allgather */
    if (count)
        NCCL_TRY(ncclAllGather(send, recv, count, ncclFloat32, cc->nccl, avkc_stream));
    return 0;
}

int avk_cuda_bcast(avk_cuda_comm *cc, float *data, size_t n, int root)
{
    if (root < 0 || root >= cc->size)
        return avk_error("nccl: broadcast root %d outside 0..%d", root, cc->size - 1);
    if (n)
        NCCL_TRY(ncclBroadcast(data, data, n, ncclFloat32, root, cc->nccl, avkc_stream));
    return 0;
}

int avk_cuda_have_nccl(void)
{
    return 1;
}

#else /* built without NCCL */

struct avk_cuda_comm {
    int unused;
};

static int no_nccl(void)
{
    return avk_error("cuda: this library was built without NCCL (nccl.h not found at build time)");
}

avk_cuda_comm *avk_cuda_comm_new(avk_comm *c)
{
    no_nccl();
    return NULL;
}

void avk_cuda_comm_free(avk_cuda_comm *cc)
{
}

int avk_cuda_allreduce(avk_cuda_comm *cc, float *data, size_t n, avk_comm_op op)
{
    return no_nccl();
}

int avk_cuda_reduce_scatter(avk_cuda_comm *cc, const float *send, float *recv, size_t count,
                            avk_comm_op op)
{
    return no_nccl();
}

int avk_cuda_allgather(avk_cuda_comm *cc, const float *send, float *recv, size_t count)
{
    return no_nccl();
}

int avk_cuda_bcast(avk_cuda_comm *cc, float *data, size_t n, int root)
{
    return no_nccl();
}

int avk_cuda_have_nccl(void)
{
    return 0;
}

#endif
