/* The CUDA backend's extras, beyond the avk_backend table of ops.h (which
 * is how models reach it: avk_backend_find("cuda")). Built only with
 * `make CUDA=1` (AVK_HAVE_CUDA); the sources are in lib/nn/cuda/. All
 * pointers named as tensors are device memory from the table's alloc.
 *
 * Precision of the table's GEMMs
 * ------------------------------
 * The table is f32 at its interface. Its GEMMs (gemm, linear, conv2d) run
 * through cuBLAS in one of three modes, per process:
 *   "fp32"  plain f32 products (the default; TF32 is never used
 *           unless asked for), within ~1e-6 of the CPU reference;
 *   "tf32"  TF32 tensor cores (10-bit mantissa products, f32 sums);
 *   "bf16"  the operands rounded to bf16 inside cuBLAS, f32
 *           accumulation: the numerics of ops_bf16.h (~1e-2 relative to
 *           fp32), on the tensor cores; the table's attention entries
 *           then run avk_cuda_attention_bf16_fwd/_bwd (below) too.
 * The environment variable AVK_CUDA_MATH sets the mode at the backend's
 * first use; avk_cuda_set_math changes it later.
 */
#ifndef AVKIT_NN_CUDA_H
#define AVKIT_NN_CUDA_H

#include <stddef.h>
#include <stdint.h>
#include "avkit/dist/comm.h"
#include "avkit/nn/ops.h"

/* 0, or -1 (error set) for a name other than "fp32", "tf32", "bf16". */
int avk_cuda_set_math(const char *mode);
const char *avk_cuda_math(void);

/* C = alpha op(A) op(B) + beta C as avk_gemm_bf16 (ops_bf16.h): A and B
 * (f32, device) rounded to bf16 (nearest even) into device scratch, then
 * one cuBLAS GEMM with bf16 inputs, f32 accumulation and f32 C. The
 * reference is avk_gemm_ref on bf16-rounded copies (avk_gemm_bf16_ref). */
void avk_cuda_gemm_bf16(char transa, char transb, int64_t M, int64_t N, int64_t K,
                        float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                        float beta, float *C, int64_t ldc);
/* avk_linear_bf16_fwd / _bwd on the device: x, w and dy rounded to bf16
 * for the products, bias and db in f32. */
void avk_cuda_linear_bf16_fwd(float *y, const float *x, const float *w, const float *b,
                              int64_t M, int64_t K, int64_t N);
void avk_cuda_linear_bf16_bwd(float *dx, float *dw, float *db, const float *dy,
                              const float *x, const float *w, int64_t M, int64_t K, int64_t N);

/* Attention with bf16 products on the tensor cores (WMMA), f32 softmax
 * statistics and accumulation, flash-style (the score matrix never in
 * global memory), same description, mask, layouts and saved lse as
 * avk_attention_fwd / _bwd; P and dS are rounded to bf16 before their
 * products. Within ~1e-2 of the fp32 reference. Head dimension <= 128. */
void avk_cuda_attention_bf16_fwd(float *o, float *lse, const float *q, const float *k,
                                 const float *v, const avk_attn *a);
void avk_cuda_attention_bf16_bwd(float *dq, float *dk, float *dv, const float *dout,
                                 const float *q, const float *k, const float *v, const float *o,
                                 const float *lse, const avk_attn *a);

/* ---- activation offload ---------------------------------------------------
 * Pinned host memory, and copies between it and the device on a second
 * stream: each starts after the work queued so far on the backend's
 * stream and returns a token; avk_cuda_copy_wait(token) makes the work
 * queued afterwards wait for that copy (a token is good for the next 128
 * copies). So a model offloads a block's saved activations while the next
 * block computes, and prefetches them while the block after it runs its
 * backward. bench/bench_cuda_block.c measures what it saves and costs. */
void *avk_cuda_host_alloc(size_t bytes);    /* NULL (error set) on failure */
void avk_cuda_host_free(void *p);
int avk_cuda_offload(void *host_dst, const void *dev_src, size_t bytes);
int avk_cuda_prefetch(void *dev_dst, const void *host_src, size_t bytes);
void avk_cuda_copy_wait(int token);

/* ---- collectives on device memory (NCCL) --------------------------------
 * MPI starts the job and carries the host-side collectives (dist/comm.h);
 * gradients on the device go through NCCL. A communicator over the ranks
 * of c is made collectively (rank 0 makes NCCL's id, avk_comm_bcast sends
 * it). Each call is queued on the backend's stream, in order with the
 * kernels (be->sync or a download waits for it). Counts are in floats;
 * the semantics are those of avk_comm_allreduce, _reduce_scatter,
 * _allgather (send NULL: in place) and _bcast. Functions return 0 or -1
 * with the error set; without NCCL at build time every one says so. Each
 * rank of a node uses its own device: AVK_CUDA_DEVICE, else the launcher's
 * local rank (OMPI_COMM_WORLD_LOCAL_RANK, LOCAL_RANK) modulo the devices. */
typedef struct avk_cuda_comm avk_cuda_comm;
int avk_cuda_have_nccl(void);
avk_cuda_comm *avk_cuda_comm_new(avk_comm *c);
void avk_cuda_comm_free(avk_cuda_comm *cc);
int avk_cuda_allreduce(avk_cuda_comm *cc, float *data, size_t n, avk_comm_op op);
int avk_cuda_reduce_scatter(avk_cuda_comm *cc, const float *send, float *recv, size_t count,
                            avk_comm_op op);
int avk_cuda_allgather(avk_cuda_comm *cc, const float *send, float *recv, size_t count);
int avk_cuda_bcast(avk_cuda_comm *cc, float *data, size_t n, int root);

/* The device's name, its count of streaming multiprocessors and compute
 * capability (for reports); -1 (error set) without a device. */
int avk_cuda_device_info(char *name, int name_size, int *sms, int *major, int *minor);

#endif
