/* The trainer's data parallelism on a small task with odd block sizes,
 * alone and under mpirun -np 2, 3 and 4 (tests/t586-zero-unit.t): the
 * per-block buckets (allreduce without ZeRO, reduce-scatter into the
 * shards with --zero 1 and 2, the tail included) give the weights a single
 * process gets with the same global batch, whether the task announces its
 * blocks in backward order, out of order or not at all; no sharding,
 * ZeRO-1 and ZeRO-2 agree with each other bitwise at 2 ranks (a sum of two
 * is one rounding whatever the collective); comm.h's variable-count
 * reduce-scatter matches the serial sums. Every rank computes the serial
 * reference itself; rank 0 prints the TAP. */
#include <stdarg.h>
#include <string.h>
#include "tap.h"
#include "avkit/dist/comm.h"
#include "avkit/dist/dist.h"
#include "avkit/nn/params.h"
#include "avkit/nn/tensor.h"
#include "avkit/nn/trainer.h"

static avk_comm *world;
static int me, np;

/* One TAP line for a check made on every rank: ok when all ranks agree. */
static void __attribute__((format(printf, 2, 3))) check(int good, const char *fmt, ...)
{
    int32_t all = good ? 1 : 0;
    avk_comm_allreduce(world, &all, 1, AVK_COMM_I32, AVK_COMM_MIN);
    if (!good)
        fprintf(stderr, "rank %d fails: %s\n", me, fmt);
    if (me != 0)
        return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ok(all, "%s", msg);
}

/* ---- the task: a least-squares fit per block ----------------------------
 * Sample j of step s pulls the weights toward a target x(s, j) with the
 * loss 0.5 |w - x|^2 scaled per element (so the blocks differ). The
 * global batch is B samples; a rank takes [B r / N, B (r + 1) / N) and adds
 * its share of the global mean gradient, as trainer.h asks. */

enum { ORDER_BACKWARD, ORDER_NONE, ORDER_SHUFFLED };

typedef struct lsq_task {
    avk_params *P;
    int B, rank, size, order;
} lsq_task;

/* The target of sample j at element i: a function of (step, j, i) only. */
static float target(int64_t step, int j, int64_t i)
{
    return (float)(0.5 * sin(0.37 * (double)i + 1.3 * j + 0.11 * (double)step));
}

static int lsq_step(void *ctx, int64_t step, avk_rng *r, avk_train_result *res)
{
    (void)r;
    lsq_task *k = ctx;
    avk_params *P = k->P;
    int lo = k->B * k->rank / k->size, hi = k->B * (k->rank + 1) / k->size;
    double loss = 0;
    /* the blocks last to first, as a backward produces them */
    for (int bi = 0; bi < P->nblock; bi++) {
        int b = k->order == ORDER_SHUFFLED ? (bi * 3 + 1) % P->nblock : P->nblock - 1 - bi;
        const avk_param_block *blk = &P->block[b];
        for (int64_t i = blk->offset; i < blk->offset + blk->size; i++) {
            float scale = 1.0f + (float)(i % 7) * 0.25f;
            for (int j = lo; j < hi; j++) {
                float d = P->w[i] - target(step, j, i);
                P->g[i] += scale * d / (float)k->B;
                loss += 0.5 * scale * d * d / k->B;
            }
        }
        if (k->order != ORDER_NONE)
            avk_params_grads_ready(P, b);
    }
    res->loss = loss;
    res->samples = k->B;
    return 0;
}

/* A table of five blocks of odd sizes (the shards cut inside them). */
static avk_params *lsq_table(void)
{
    avk_params *t = avk_params_new();
    static const int64_t sizes[5][2] = {{7, 5}, {33, 1}, {3, 3}, {61, 2}, {5, 1}};
    for (int b = 0; b < 5; b++) {
        avk_params_block(t, "b%d", b);
        avk_params_add(t, 2, (int64_t[]){sizes[b][0], sizes[b][1]}, 1, "b%d.weight", b);
        avk_params_add(t, 1, (int64_t[]){sizes[b][0]}, 0, "b%d.bias", b);
    }
    avk_params_alloc(t);
    for (int64_t i = 0; i < t->total; i++)
        t->w[i] = (float)(0.1 * cos(0.7 * (double)i));
    return t;
}

/* Train `steps` steps of a global batch of B over dp (NULL: alone), with
 * ZeRO level zero; the weights (caller frees), or NULL. */
static float *train(avk_comm *dp, int zero, int order, int B, int steps, double clip,
                    const char *out)
{
    avk_params *P = lsq_table();
    lsq_task k = {P, B, dp ? avk_comm_rank(dp) : 0, dp ? avk_comm_size(dp) : 1, order};
    avk_train_opts o = avk_train_opts_default();
    o.out = out;
    o.steps = steps;
    o.sched.lr = 1e-2;
    o.sched.warmup = 0;
    o.sched.kind = AVK_LR_CONSTANT;
    o.adamw.weight_decay = 0.05;
    o.clip = clip;
    o.log_every = 1000;
    o.dp = dp;
    o.zero = zero;
    avk_train_task t = {0};
    t.ctx = &k;
    t.params = P;
    t.step = lsq_step;
    int signo = 0;
    int rc = avk_train(&o, &t, &signo);
    float *w = NULL;
    if (rc == 0) {
        w = avk_falloc(P->total);
        memcpy(w, P->w, (size_t)P->total * sizeof(float));
    } else {
        fprintf(stderr, "rank %d: %s\n", me, avk_errmsg());
    }
    avk_params_free(P);
    return w;
}

/* Largest |a - b| / (|b| + 1e-3) over the table. */
static double max_rel(const float *a, const float *b, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (fabs((double)b[i]) + 1e-3);
        m = d > m ? d : m;
    }
    return m;
}

static void test_reduce_scatterv(void)
{
    /* rank r receives r + 2 elements (one rank: 2) */
    size_t counts[64], total = 0;
    for (int r = 0; r < np; r++)
        total += counts[r] = (size_t)r + 2;
    float *send = avk_falloc((int64_t)total), *recv = avk_falloc(me + 2);
    for (size_t i = 0; i < total; i++)
        send[i] = (float)(me * 1000 + (int)i);
    avk_request *req = NULL;
    int rc = avk_comm_ireduce_scatterv(world, send, recv, counts, AVK_COMM_F32, AVK_COMM_SUM, &req);
    rc = rc < 0 ? rc : avk_request_wait(&req);
    size_t at = 0;
    for (int r = 0; r < me; r++)
        at += counts[r];
    int good = rc == 0;
    for (int i = 0; i < me + 2 && good; i++) {
        double want = 0;
        for (int s = 0; s < np; s++)
            want += s * 1000 + (double)(at + (size_t)i);
        good = recv[i] == (float)want;
    }
    check(good, "variable-count reduce-scatter (%d ranks) equals the serial sums", np);
    avk_ffree(send);
    avk_ffree(recv);
}

int main(int argc, char **argv)
{
    if (avk_dist_init(&argc, &argv) < 0)
        return 1;
    world = avk_comm_world();
    me = avk_comm_rank(world);
    np = avk_comm_size(world);
    test_reduce_scatterv();

    int B = 12, steps = 5;
    char out[64], ref_out[64];
    snprintf(ref_out, sizeof ref_out, "ref-%d.safetensors", me);
    float *ref = train(NULL, 0, ORDER_BACKWARD, B, steps, 0.5, ref_out);
    avk_params *shape = lsq_table();
    int64_t n = shape->total;
    avk_params_free(shape);
    avk_comm *dp = np > 1 ? world : NULL;
    static const char *order_name[] = {"in backward order", "never", "out of order"};
    float *w_none = NULL;
    for (int zero = 0; zero <= 2; zero++)
        for (int order = 0; order < 3; order++) {
            snprintf(out, sizeof out, "z%d-o%d.safetensors", zero, order);
            float *w = train(dp, zero, order, B, steps, 0.5, out);
            double e = w && ref ? max_rel(w, ref, n) : 1;
            check(w && e < 1e-5, "%d rank(s), --zero %d, blocks announced %s: the weights of one "
                  "process (max relative difference %.2g)", np, zero, order_name[order], e);
            if (np <= 2 && order == ORDER_BACKWARD) {
                if (zero == 0)
                    w_none = w, w = NULL;
                else
                    check(w && w_none && !memcmp(w, w_none, (size_t)n * sizeof(float)),
                          "%d rank(s): --zero %d equals no sharding bitwise", np, zero);
            }
            avk_ffree(w);
        }
    avk_ffree(w_none);
    avk_ffree(ref);
    avk_dist_finalize();
    if (me == 0)
        return done_testing();
    return 0;
}
