/* The DiT's Ulysses sequence parallelism and selective recomputation
 * (avk_dit_set_sp, avk_dit_set_recompute), alone and under mpirun -np 2
 * and -np 4 (tests/t580-dit-sp-unit.t). Every rank builds the same model
 * with random weights (so that no branch is the adaLN-zero identity) and
 * the same batch; the reference is the plain model on every rank. With the
 * world as one sequence-parallel group, the prediction must equal the
 * reference and the gradients summed over the ranks the reference's
 * (within 1e-5: partial sums round differently); recomputation must equal
 * no recomputation bit for bit, with and without sequence parallelism.
 * The shapes do not divide by the ranks (15 spatial positions, 5 text
 * positions, captions of several lengths): padding and masking are on
 * the path. A check passes only when it passed on every rank; rank 0
 * prints the TAP. */
#include "tap.h"
#include "avkit/dist/dist.h"
#include "avkit/models/dit.h"
#include "avkit/nn/tensor.h"
#include "dit_small.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static avk_comm *world;
static int me, np;

/* One TAP line for a check made on every rank: ok when all ranks agree. */
static void __attribute__((format(printf, 2, 3))) check(int good, const char *fmt, ...)
{
    int32_t all = good ? 1 : 0;
    avk_comm_allreduce(world, &all, 1, AVK_COMM_I32, AVK_COMM_MIN);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!good)
        fprintf(stderr, "rank %d fails: %s\n", me, msg);
    if (me == 0)
        ok(all, "%s", msg);
}

enum { B = 2, C = 4, T = 3, HL = 6, WL = 10, L = 5 };

/* The batch every rank uses: fixed noise, times, tokens, lengths. */
typedef struct batch {
    float x[B * C * T * HL * WL], t[B], dpred[B * C * T * HL * WL];
    int32_t tok[B * L];
    int len[B];
    avk_dit_batch b;
} batch;

static void make_batch(batch *d)
{
    avk_rng r;
    avk_rng_seed(&r, 42);
    avk_fill_randn(d->x, B * C * T * HL * WL, &r, 0.0f, 1.0f);
    avk_fill_randn(d->dpred, B * C * T * HL * WL, &r, 0.0f, 1e-3f);
    d->t[0] = 0.3f;
    d->t[1] = 0.8f;
    for (int i = 0; i < B * L; i++)
        d->tok[i] = (int32_t)(avk_rng_uniform(&r) * 60) + 1;
    d->len[0] = 5;
    d->len[1] = 3;
    d->b = (avk_dit_batch){.B = B, .T = T, .H = HL, .W = WL, .x = d->x, .t = d->t, .L = L,
                           .tokens = d->tok, .text_len = d->len};
}

/* The small model (dit_small.h) of that variant, the same on every
 * rank. */
static avk_dit *model(int mmdit, int joint, int heads, int frame_cond)
{
    avk_dit_config c = dit_small_config();
    c.heads = heads;
    c.mmdit = mmdit;
    c.joint = joint;
    c.frame_cond = frame_cond;
    return dit_small_model(&c);
}

/* Forward and backward: pred and the gradients (m->g zeroed first). */
static void pass(avk_dit *m, batch *d, float *pred)
{
    memset(m->g, 0, (size_t)m->nfloats * sizeof(float));
    avk_dit_acts *a = avk_dit_forward(m, &d->b, pred);
    if (!a) {
        fprintf(stderr, "rank %d: forward: %s\n", me, avk_errmsg());
        exit(1);
    }
    avk_dit_backward(m, a, d->dpred);
    avk_dit_acts_free(a);
}

static void test_variant(const char *name, int mmdit, int joint, int frame_cond)
{
    batch *d = calloc(1, sizeof *d);
    make_batch(d);
    int64_t np_ = B * C * T * HL * WL;
    avk_dit *m = model(mmdit, joint, 4, frame_cond);
    int64_t n = m->nfloats;
    float *pref = avk_falloc(np_), *p = avk_falloc(np_), *gref = avk_falloc(n);
    pass(m, d, pref);
    memcpy(gref, m->g, (size_t)n * sizeof(float));

    /* recomputation alone: the same bits */
    for (int k = 1; k <= 3; k++) {
        avk_dit_set_recompute(m, k / 3.0);
        for (int rep = 0; rep < 2; rep++) {       /* the second reuses the arenas */
            pass(m, d, p);
            check(!memcmp(p, pref, (size_t)np_ * 4) && !memcmp(m->g, gref, (size_t)n * 4),
                  "%s: --recompute %d/3 (step %d) equals no recomputation bitwise", name, k,
                  rep + 1);
        }
    }
    avk_dit_set_recompute(m, 0);

    /* sequence parallel over the world */
    check(avk_dit_set_sp(m, world) == 0, "%s: sequence parallel over %d rank(s)", name, np);
    float *gsp = avk_falloc(n);
    for (int rep = 0; rep < 2; rep++) {
        pass(m, d, p);
        memcpy(gsp, m->g, (size_t)n * sizeof(float));
        avk_comm_allreduce(world, gsp, (size_t)n, AVK_COMM_F32, AVK_COMM_SUM);
        double ep = rel_err(p, pref, np_), eg = rel_err(gsp, gref, n);
        check(ep < 1e-5 && eg < 1e-5, "%s: --sp %d (step %d): prediction (%.2g) and summed "
              "gradients (%.2g) equal one rank's within 1e-5", name, np, rep + 1, ep, eg);
    }
    /* with recomputation: bitwise the same as without, on each rank */
    float *gsp1 = avk_falloc(n);
    memcpy(gsp1, m->g, (size_t)n * sizeof(float));
    memcpy(pref, p, (size_t)np_ * sizeof(float));
    avk_dit_set_recompute(m, 1.0);
    pass(m, d, p);
    check(!memcmp(p, pref, (size_t)np_ * 4) && !memcmp(m->g, gsp1, (size_t)n * 4),
          "%s: --sp %d with --recompute 1 equals --sp %d alone bitwise", name, np, np);
    avk_ffree(gsp1);
    avk_ffree(gsp);
    avk_ffree(pref);
    avk_ffree(p);
    avk_ffree(gref);
    avk_dit_free(m);
    free(d);
}

/* Heads that do not divide by the group: a clear error, and the model
 * left without sequence parallelism. */
static void test_heads(void)
{
    avk_dit *m = model(0, 0, 3, 0);
    int rc = avk_dit_set_sp(m, world);
    if (np == 1 || np == 3)
        check(rc == 0, "3 heads over %d rank(s): accepted", np);
    else
        check(rc < 0 && strstr(avk_errmsg(), "3 attention heads do not divide by") && !m->sp,
              "3 heads over %d ranks: %s", np, rc < 0 ? avk_errmsg() : "(no error)");
    avk_dit_free(m);
}

/* The even spread of recomputed blocks. */
static void test_spread(void)
{
    int got[8], want[8] = {0, 1, 0, 1, 0, 1, 0, 1};
    int n = 0;
    for (int i = 0; i < 8; i++)
        n += got[i] = avk_dit_block_recomputes(i, 8, 0.5);
    check(n == 4 && !memcmp(got, want, sizeof got), "--recompute 0.5 of 8 blocks: every second");
    n = 0;
    for (int i = 0; i < 6; i++)
        n += avk_dit_block_recomputes(i, 6, 1.0) + 10 * avk_dit_block_recomputes(i, 6, 0.0);
    check(n == 6, "--recompute 1: every block; 0: none");
}

int main(int argc, char **argv)
{
    if (avk_dist_init(&argc, &argv) < 0)
        return 1;
    world = avk_comm_world();
    me = avk_comm_rank(world);
    np = avk_comm_size(world);
    test_spread();
    test_heads();
    test_variant("single-stream, cross", 0, 0, 0);
    test_variant("MM-DiT, joint", 1, 1, 0);
    test_variant("single-stream, joint", 0, 1, 0);
    test_variant("single-stream, joint, per-frame conditioning", 0, 1, 1);
    avk_dist_finalize();
    return me == 0 ? done_testing() : 0;
}
