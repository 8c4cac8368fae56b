/* Training steps of the video DiT on a long sequence, for bench/sp.sh:
 * the memory and time of selective recomputation, and the share of a
 * step that sequence parallelism spends communicating.
 * Usage: bench_dit_sp frames size width depth heads rounds recompute
 * Latents of `frames` x 4 channels x size x size (patch 1x2x2), 32 text
 * tokens, batch 1, single-stream with the cross branch, seeded random
 * weights (no branch is the adaLN-zero identity). Alone it is one
 * process; under mpirun the job's ranks form one sequence-parallel group
 * (avk_dit_set_sp; the heads must divide by the ranks). Each step: zero
 * the gradients, forward, MSE against fixed noise, backward, and, with
 * several ranks, the allreduce of the gradients over the group that the
 * trainer does. One warm-up step, then `rounds` steps; rank 0 prints
 *   ranks N recompute R step_s S cpu_s C comm_s M comm_mb V alone_s Q act_mb A
 *   maxrss_mb P
 * with S the mean wall-clock step, C the best (least) process CPU time of
 * a step divided by the OpenMP threads (a shared machine's other work
 * only ever adds), M the mean CPU time (same clock) inside
 * the model's all-to-alls and gather (avk_dit_prof) plus the gradient
 * allreduce (a rank waiting in MPI spins, so this is its time there), V
 * the MiB rank 0 sent to the others a step (all-to-alls and gather as
 * counted by the model, the allreduce as a ring's 2 (n - 1) / n of the
 * gradients), Q the CPU time the same all-to-alls (as many calls, the
 * same sizes) and the allreduce take back to back with no computation
 * between (the cost of the volume itself, without waiting for peers that
 * are still computing), A the activation memory the model held
 * (avk_dit_act_bytes), P the peak resident set of rank 0 (getrusage). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "avkit/util/common.h"
#include "avkit/dist/dist.h"
#include "avkit/nn/ops.h"
#include "avkit/models/dit.h"

static int bench_threads;       /* the thread count at start (a batch run in
                                 * groups sets one per thread inside) */

/* Process CPU seconds per OpenMP thread. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ((double)ts.tv_sec + ts.tv_nsec * 1e-9) / bench_threads;
}

int main(int argc, char **argv)
{
    if (avk_dist_init(&argc, &argv) < 0)
        avk_die_lib();
    bench_threads = omp_get_max_threads();
    if (argc != 8) {
        fprintf(stderr, "usage: bench_dit_sp frames size width depth heads rounds recompute\n");
        return 2;
    }
    int T = atoi(argv[1]), S = atoi(argv[2]), rounds = atoi(argv[6]);
    double recompute = atof(argv[7]);
    avk_comm *world = avk_comm_world();
    int me = avk_comm_rank(world), np = avk_comm_size(world);
    avk_dit_config c = avk_dit_config_default();
    c.hidden = atoi(argv[3]);
    c.depth = atoi(argv[4]);
    c.heads = atoi(argv[5]);
    c.max_text_len = 32;
    avk_dit *m = avk_dit_new(&c);
    if (!m || avk_dit_set_sp(m, world) < 0)
        avk_die_lib();
    avk_dit_set_recompute(m, recompute);
    avk_rng r;
    avk_rng_seed(&r, 1);
    avk_fill_randn(m->w, m->nfloats, &r, 0.0f, 0.03f);

    enum { B = 1, L = 32 };
    int64_t n = (int64_t)B * c.in_channels * T * S * S;
    float *x = avk_falloc(n), *target = avk_falloc(n), *pred = avk_falloc(n), *dpred = avk_falloc(n);
    avk_fill_randn(x, n, &r, 0.0f, 1.0f);
    avk_fill_randn(target, n, &r, 0.0f, 1.0f);
    float t[B] = {0.5f};
    int32_t tok[B * L];
    int len[B] = {L};
    for (int i = 0; i < B * L; i++)
        tok[i] = 3 + i;
    avk_dit_batch b = {.B = B, .T = T, .H = S, .W = S, .x = x, .t = t, .L = L, .tokens = tok,
                       .text_len = len};

    double wall = 0, cpu = 1e30, comm = 0, bytes = 0;
    long calls = 0;
    avk_dit_prof_enable(cpu_now);
    for (int step = 0; step <= rounds; step++) {
        avk_comm_barrier(world);
        double w0 = avk_now(), c0 = cpu_now();
        memset(m->g, 0, (size_t)m->nfloats * sizeof(float));
        avk_dit_acts *a = avk_dit_forward(m, &b, pred);
        if (!a)
            avk_die_lib();
        avk_mse_loss(dpred, pred, target, n, 1.0f);
        avk_dit_backward(m, a, dpred);
        avk_dit_acts_free(a);
        double r0 = cpu_now();
        if (np > 1)
            avk_comm_allreduce(world, m->g, (size_t)m->nfloats, AVK_COMM_F32, AVK_COMM_SUM);
        double reduce = cpu_now() - r0;
        avk_dit_prof p = avk_dit_prof_take();
        if (step > 0) {
            wall += avk_now() - w0;
            double dc = cpu_now() - c0;
            cpu = dc < cpu ? dc : cpu;
            comm += p.comm_s + reduce;
            calls = p.comm_n;
            bytes += p.comm_bytes + 2.0 * (np - 1) / np * m->nfloats * sizeof(float);
        }
    }
    /* the step's all-to-alls (all but the one gather) and the allreduce
     * alone, back to back */
    double alone = 0;
    if (np > 1) {
        int Sl = ((S / 2) * (S / 2) + np - 1) / np, Ll = (L + np - 1) / np;
        int64_t rows = (int64_t)B * T * Sl + (int64_t)B * Ll, cnt = rows * c.hidden / np;
        float *sb = avk_fzeros(rows * c.hidden), *rb = avk_falloc(rows * c.hidden);
        avk_comm_barrier(world);
        double t0 = cpu_now();
        for (long i = 0; i + 1 < calls; i++)
            avk_comm_alltoall(world, sb, rb, (size_t)cnt, AVK_COMM_F32);
        avk_comm_allreduce(world, m->g, (size_t)m->nfloats, AVK_COMM_F32, AVK_COMM_SUM);
        alone = cpu_now() - t0;
        avk_ffree(sb);
        avk_ffree(rb);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (me == 0)
        printf("ranks %d recompute %g step_s %.4f cpu_s %.4f comm_s %.4f comm_mb %.1f alone_s %.4f "
               "act_mb %.1f maxrss_mb %.1f\n", np, recompute, wall / rounds, cpu, comm / rounds,
               bytes / rounds / 1048576.0, alone,
               avk_dit_act_bytes(m) / 1048576.0, ru.ru_maxrss / 1024.0);
    avk_ffree(x);
    avk_ffree(target);
    avk_ffree(pred);
    avk_ffree(dpred);
    avk_dit_free(m);
    avk_dist_finalize();
    return 0;
}
