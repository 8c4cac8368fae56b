/* The communicators and their collectives, alone (no MPI at all) and under
 * mpirun -np 2 and -np 4 (tests/t011-comm.t). Every rank's data is a
 * function of (rank, index), so each rank computes the expected result of
 * every collective serially and compares. A check passes only when it
 * passed on every rank; rank 0 prints the TAP. */
#include "tap.h"
#include "avkit/dist/dist.h"

#include <mpi.h>
#include <stdint.h>
#include <string.h>

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

/* The values rank r holds at index i: exact in float, so sums in any order
 * agree bit for bit with the serial ones. */
static float fval(int r, size_t i) { return (float)(r * 1000 + (int)i) + 0.5f; }
static double dval(int r, size_t i) { return r * 1e6 + (double)i * 0.25; }

static void test_allreduce(void)
{
    enum { N = 1000 };
    static float f[N];
    static double d[N];
    static int32_t m[N];
    static int64_t l[N];
    for (size_t i = 0; i < N; i++) {
        f[i] = fval(me, i);
        d[i] = dval(me, i);
        m[i] = (int32_t)((me * 7 + i) % 5) + me;
        l[i] = (int64_t)((me * 3 + i) % 11) - me;
    }
    int rc = avk_comm_allreduce(world, f, N, AVK_COMM_F32, AVK_COMM_SUM) |
             avk_comm_allreduce(world, d, N, AVK_COMM_F64, AVK_COMM_SUM) |
             avk_comm_allreduce(world, m, N, AVK_COMM_I32, AVK_COMM_MAX) |
             avk_comm_allreduce(world, l, N, AVK_COMM_I64, AVK_COMM_MIN);
    int gf = 1, gd = 1, gm = 1, gl = 1;
    for (size_t i = 0; i < N; i++) {
        float ef = 0;
        double ed = 0;
        int32_t em = INT32_MIN;
        int64_t el = INT64_MAX;
        for (int q = 0; q < np; q++) {
            ef += fval(q, i);
            ed += dval(q, i);
            int32_t vm = (int32_t)((q * 7 + i) % 5) + q;
            int64_t vl = (int64_t)((q * 3 + i) % 11) - q;
            em = vm > em ? vm : em;
            el = vl < el ? vl : el;
        }
        gf &= f[i] == ef;
        gd &= d[i] == ed;
        gm &= m[i] == em;
        gl &= l[i] == el;
    }
    check(rc == 0, "allreduce calls succeed on %d rank(s)", np);
    check(gf, "allreduce sum f32 equals the serial sum");
    check(gd, "allreduce sum f64 equals the serial sum");
    check(gm, "allreduce max i32 equals the serial max (status agreement)");
    check(gl, "allreduce min i64 equals the serial min");

    /* a buffer longer than one MPI call: split into pieces */
    avk_comm_set_max_count(7);
    for (size_t i = 0; i < 100; i++)
        f[i] = fval(me, i);
    rc = avk_comm_allreduce(world, f, 100, AVK_COMM_F32, AVK_COMM_SUM);
    avk_comm_set_max_count((size_t)1 << 30);
    int gc = rc == 0;
    for (size_t i = 0; i < 100; i++) {
        float e = 0;
        for (int q = 0; q < np; q++)
            e += fval(q, i);
        gc &= f[i] == e;
    }
    check(gc, "allreduce over more elements than one MPI call takes, in pieces");
}

static void test_reduce_scatter(void)
{
    enum { C = 5 };
    float *send = avk_xmalloc((size_t)np * C * sizeof *send), recv[C];
    double *dsend = avk_xmalloc((size_t)np * C * sizeof *dsend), drecv[C];
    for (size_t i = 0; i < (size_t)np * C; i++) {
        send[i] = fval(me, i);
        dsend[i] = dval((me * 5) % (np + 1), i);
    }
    int rc = avk_comm_reduce_scatter(world, send, recv, C, AVK_COMM_F32, AVK_COMM_SUM) |
             avk_comm_reduce_scatter(world, dsend, drecv, C, AVK_COMM_F64, AVK_COMM_MAX);
    int g = rc == 0, gm = rc == 0;
    for (size_t j = 0; j < C; j++) {
        size_t i = (size_t)me * C + j;
        float e = 0;
        double em = -1e300;
        for (int q = 0; q < np; q++) {
            e += fval(q, i);
            double v = dval((q * 5) % (np + 1), i);
            em = v > em ? v : em;
        }
        g &= recv[j] == e;
        gm &= drecv[j] == em;
    }
    check(g, "reduce-scatter sum f32: each rank gets the serial sum of its block");
    check(gm, "reduce-scatter max f64");
    free(send);
    free(dsend);
}

static void test_allgather(void)
{
    enum { C = 6 };
    int64_t send[C], *recv = avk_xmalloc((size_t)np * C * sizeof *recv);
    float *inplace = avk_xcalloc((size_t)np * C, sizeof *inplace);
    for (size_t j = 0; j < C; j++) {
        send[j] = (int64_t)me * 100 + (int64_t)j;
        inplace[(size_t)me * C + j] = fval(me, j);
    }
    int rc = avk_comm_allgather(world, send, recv, C, AVK_COMM_I64);
    int rc2 = avk_comm_allgather(world, NULL, inplace, C, AVK_COMM_F32);
    int g = rc == 0, g2 = rc2 == 0;
    for (int b = 0; b < np; b++)
        for (size_t j = 0; j < C; j++) {
            g &= recv[(size_t)b * C + j] == (int64_t)b * 100 + (int64_t)j;
            g2 &= inplace[(size_t)b * C + j] == fval(b, j);
        }
    check(g, "allgather i64: block b of every rank holds rank b's data");
    check(g2, "allgather in place f32");
    free(recv);
    free(inplace);
}

/* What rank s sends to rank d at position j of the all-to-all. */
static double a2a_val(int s, int d, size_t j) { return s * 10000.0 + d * 100.0 + (double)j; }

static void test_alltoall(void)
{
    enum { C = 4 };
    double *send = avk_xmalloc((size_t)np * C * sizeof *send);
    double *recv = avk_xmalloc((size_t)np * C * sizeof *recv);
    for (int d = 0; d < np; d++)
        for (size_t j = 0; j < C; j++)
            send[(size_t)d * C + j] = a2a_val(me, d, j);
    int g = avk_comm_alltoall(world, send, recv, C, AVK_COMM_F64) == 0;
    for (int s = 0; s < np; s++)
        for (size_t j = 0; j < C; j++)
            g &= recv[(size_t)s * C + j] == a2a_val(s, me, j);
    check(g, "all-to-all f64: block s holds what rank s sent here");
    free(send);
    free(recv);
}

/* Counts of the variable all-to-all: some zero, none equal everywhere. */
static size_t vcount(int s, int d) { return (size_t)((s + 2 * d + 1) % 3); }

/* Fill the counts and offsets (with gaps) of a variable all-to-all; the
 * sizes of the send and receive buffers come back. */
static void vlayout(size_t *sc, size_t *sd, size_t *rc, size_t *rd, size_t *ns, size_t *nr)
{
    *ns = *nr = 0;
    for (int p = 0; p < np; p++) {
        sc[p] = vcount(me, p);
        sd[p] = *ns;
        *ns += sc[p] + 1;
        rc[p] = vcount(p, me);
        rd[p] = *nr;
        *nr += rc[p] + 2;
    }
}

/* Check a received variable all-to-all: the data, and the gaps untouched. */
static int vcheck(const int32_t *recv, const size_t *rc, const size_t *rd, size_t nr)
{
    int g = 1;
    for (size_t k = 0; k < nr; k++) {
        int inside = 0;
        for (int s = 0; s < np; s++)
            if (k >= rd[s] && k < rd[s] + rc[s]) {
                inside = 1;
                g &= recv[k] == s * 1000 + me * 10 + (int32_t)(k - rd[s]);
            }
        if (!inside)
            g &= recv[k] == -1;
    }
    return g;
}

static void test_alltoallv(void)
{
    size_t sc[64], sd[64], rc[64], rd[64], ns, nr;
    vlayout(sc, sd, rc, rd, &ns, &nr);
    int32_t *send = avk_xmalloc(ns * sizeof *send), *recv = avk_xmalloc(nr * sizeof *recv);
    for (int d = 0; d < np; d++)
        for (size_t j = 0; j < sc[d]; j++)
            send[sd[d] + j] = me * 1000 + d * 10 + (int32_t)j;
    for (size_t k = 0; k < nr; k++)
        recv[k] = -1;
    int r = avk_comm_alltoallv(world, send, sc, sd, recv, rc, rd, AVK_COMM_I32);
    check(r == 0 && vcheck(recv, rc, rd, nr),
          "all-to-all with variable counts (some zero) and gapped offsets");
    free(send);
    free(recv);
}

static void test_bcast(void)
{
    enum { N = 33 };
    double d[N];
    char bytes[40];
    int root = np - 1;
    for (size_t i = 0; i < N; i++)
        d[i] = me == root ? dval(root, i) : -1.0;
    snprintf(bytes, sizeof bytes, "%s %d", me == root ? "from root" : "junk", me);
    int r = avk_comm_bcast(world, d, N, AVK_COMM_F64, root) |
            avk_comm_bcast(world, bytes, sizeof bytes, AVK_COMM_BYTE, root);
    int g = r == 0;
    for (size_t i = 0; i < N; i++)
        g &= d[i] == dval(root, i);
    char want[40];
    snprintf(want, sizeof want, "from root %d", root);
    check(g && strcmp(bytes, want) == 0, "broadcast from the last rank (%d), f64 and bytes",
          root);
}

static void test_send_recv(void)
{
    if (np < 2) {
        float x = 1;
        int r = avk_comm_send(world, &x, 1, AVK_COMM_F32, 0, 0);
        check(r < 0 && strstr(avk_errmsg(), "one-rank"), "a lone rank cannot send: %s",
              avk_errmsg());
        return;
    }
    /* pairs exchange with blocking calls, in pieces of 3 elements */
    enum { N = 10 };
    float out[N], in[N];
    int peer = me ^ 1, g = 1;
    for (size_t i = 0; i < N; i++)
        out[i] = fval(me, i);
    avk_comm_set_max_count(3);
    if (peer < np) {
        int r;
        if (me % 2 == 0)
            r = avk_comm_send(world, out, N, AVK_COMM_F32, peer, 7) |
                avk_comm_recv(world, in, N, AVK_COMM_F32, peer, 7);
        else
            r = avk_comm_recv(world, in, N, AVK_COMM_F32, peer, 7) |
                avk_comm_send(world, out, N, AVK_COMM_F32, peer, 7);
        g = r == 0;
        for (size_t i = 0; i < N; i++)
            g &= in[i] == fval(peer, i);
    }
    avk_comm_set_max_count((size_t)1 << 30);
    check(g, "blocking send and receive between pairs, split into pieces");

    /* a ring with nonblocking calls */
    int next = (me + 1) % np, prev = (me + np - 1) % np;
    avk_request *rq[2];
    int r = avk_comm_isend(world, out, N, AVK_COMM_F32, next, 3, &rq[0]) |
            avk_comm_irecv(world, in, N, AVK_COMM_F32, prev, 3, &rq[1]);
    r |= avk_request_waitall(2, rq);
    g = r == 0 && !rq[0] && !rq[1];
    for (size_t i = 0; i < N; i++)
        g &= in[i] == fval(prev, i);
    check(g, "nonblocking send and receive around a ring");
    check(avk_comm_send(world, out, 1, AVK_COMM_F32, np, 0) < 0 &&
          strstr(avk_errmsg(), "not in a communicator"), "sending to a rank out of range: %s",
          avk_errmsg());
}

static void test_split(void)
{
    avk_comm *c = NULL;
    int r = avk_comm_split(world, me % 2, -me, &c);
    int size = (np - me % 2 + 1) / 2, g = r == 0 && c && avk_comm_size(c) == size;
    /* keys reversed: the highest world rank of the parity is rank 0 */
    int members = 0;
    for (int q = me % 2; q < np; q += 2)
        members += q > me;
    g = g && avk_comm_rank(c) == members;
    int64_t sum = me;
    g = g && avk_comm_allreduce(c, &sum, 1, AVK_COMM_I64, AVK_COMM_SUM) == 0;
    int64_t want = 0;
    for (int q = me % 2; q < np; q += 2)
        want += q;
    check(g && sum == want, "split by parity, ranked by reversed key; allreduce stays in the group");
    avk_comm_free(c);

    /* a group of one under MPI: the collectives still give the one-rank result */
    r = avk_comm_split(world, me, 0, &c);
    float s[3] = {1, 2, 3}, d[3] = {0};
    size_t one = 3, zero = 0;
    g = r == 0 && avk_comm_size(c) == 1 && avk_comm_rank(c) == 0 &&
        avk_comm_reduce_scatter(c, s, d, 3, AVK_COMM_F32, AVK_COMM_SUM) == 0 && d[2] == 3 &&
        avk_comm_alltoallv(c, s, &one, &zero, d, &one, &zero, AVK_COMM_F32) == 0 && d[1] == 2;
    check(g, "a one-rank group: reduce-scatter and all-to-all are copies");
    avk_comm_free(c);
}

static void test_grid(void)
{
    int sp = np % 2 == 0 ? 2 : 1;
    avk_comm *dp = NULL, *sq = NULL;
    int r = avk_comm_grid(world, sp, &dp, &sq);
    int g = r == 0 && avk_comm_size(sq) == sp && avk_comm_rank(sq) == me % sp &&
            avk_comm_size(dp) == np / sp && avk_comm_rank(dp) == me / sp;
    check(g, "grid with sp %d: sequence groups of consecutive ranks, data groups across", sp);

    /* Ulysses-style exchange inside the sequence group: block d of mine to
     * group rank d */
    double send[8], recv[8];
    for (int d = 0; d < sp; d++)
        send[d] = a2a_val(me, (me / sp) * sp + d, 0);
    g = avk_comm_alltoall(sq, send, recv, 1, AVK_COMM_F64) == 0;
    for (int s = 0; s < sp; s++)
        g &= recv[s] == a2a_val((me / sp) * sp + s, me, 0);
    int64_t dsum = me;
    g &= avk_comm_allreduce(dp, &dsum, 1, AVK_COMM_I64, AVK_COMM_SUM) == 0;
    int64_t want = 0;
    for (int q = me % sp; q < np; q += sp)
        want += q;
    check(g && dsum == want, "all-to-all in the sequence group, allreduce in the data group");
    avk_comm_free(dp);
    avk_comm_free(sq);

    r = avk_comm_grid(world, np + 1, &dp, &sq);
    check(r < 0 && !dp && !sq && strstr(avk_errmsg(), "does not divide"),
          "grid refuses an sp that does not divide the ranks: %s", avk_errmsg());
}

/* Start every nonblocking collective at once, compute meanwhile, then wait:
 * the results equal the serial ones. */
static void test_nonblocking(void)
{
    enum { N = 4096, B = 4, C = 3 };
    float *grad = avk_xmalloc(N * sizeof *grad);
    for (size_t i = 0; i < N; i++)
        grad[i] = fval(me, i);
    avk_request *rq[B + 5];
    int r = 0;
    /* gradient buckets, each its own allreduce (the last in pieces) */
    avk_comm_set_max_count(N / B / 3);
    for (int b = 0; b < B; b++)
        r |= avk_comm_iallreduce(world, grad + (size_t)b * (N / B), N / B, AVK_COMM_F32,
                                 AVK_COMM_SUM, &rq[b]);
    avk_comm_set_max_count((size_t)1 << 30);

    float *rs_send = avk_xmalloc((size_t)np * C * sizeof *rs_send), rs_recv[C];
    for (size_t i = 0; i < (size_t)np * C; i++)
        rs_send[i] = fval(me, i);
    r |= avk_comm_ireduce_scatter(world, rs_send, rs_recv, C, AVK_COMM_F32, AVK_COMM_SUM, &rq[B]);

    int64_t ag_send[C], *ag_recv = avk_xmalloc((size_t)np * C * sizeof *ag_recv);
    for (size_t j = 0; j < C; j++)
        ag_send[j] = me * 100 + (int64_t)j;
    r |= avk_comm_iallgather(world, ag_send, ag_recv, C, AVK_COMM_I64, &rq[B + 1]);

    double *a_send = avk_xmalloc((size_t)np * sizeof *a_send);
    double *a_recv = avk_xmalloc((size_t)np * sizeof *a_recv);
    for (int d = 0; d < np; d++)
        a_send[d] = a2a_val(me, d, 0);
    r |= avk_comm_ialltoall(world, a_send, a_recv, 1, AVK_COMM_F64, &rq[B + 2]);

    size_t sc[64], sd[64], rc[64], rd[64], ns, nr;
    vlayout(sc, sd, rc, rd, &ns, &nr);
    int32_t *v_send = avk_xmalloc(ns * sizeof *v_send), *v_recv = avk_xmalloc(nr * sizeof *v_recv);
    for (int d = 0; d < np; d++)
        for (size_t j = 0; j < sc[d]; j++)
            v_send[sd[d] + j] = me * 1000 + d * 10 + (int32_t)j;
    for (size_t k = 0; k < nr; k++)
        v_recv[k] = -1;
    r |= avk_comm_ialltoallv(world, v_send, sc, sd, v_recv, rc, rd, AVK_COMM_I32, &rq[B + 3]);
    /* the caller's count arrays may change once started */
    for (int p = 0; p < np; p++)
        sc[p] = sd[p] = 999;

    double bc = me == 0 ? 42.5 : 0;
    r |= avk_comm_ibcast(world, &bc, 1, AVK_COMM_F64, 0, &rq[B + 4]);

    /* overlap: compute while polling the first bucket */
    double acc = 0;
    int polls = 0, done = 0;
    for (int k = 0; k < 1000000; k++) {
        acc += 1.0 / (k + 1);
        if (k % 1000 == 0 && !done) {
            r |= avk_request_test(&rq[0], &done);
            polls++;
        }
    }
    /* wait for the others in reverse order of their start */
    for (int k = B + 4; k >= 0; k--)
        r |= avk_request_wait(&rq[k]);
    int g = r == 0 && acc > 14;
    for (int k = 0; k < B + 5; k++)
        g &= rq[k] == NULL;
    check(g, "nonblocking collectives all started, computed meanwhile (%d polls), waited", polls);

    int gg = 1;
    for (size_t i = 0; i < N; i++) {
        float e = 0;
        for (int q = 0; q < np; q++)
            e += fval(q, i);
        gg &= grad[i] == e;
    }
    check(gg, "nonblocking allreduce of gradient buckets equals the serial sum");
    int gr = 1;
    for (size_t j = 0; j < C; j++) {
        float e = 0;
        for (int q = 0; q < np; q++)
            e += fval(q, (size_t)me * C + j);
        gr &= rs_recv[j] == e;
    }
    check(gr, "nonblocking reduce-scatter");
    int ga = 1;
    for (int b = 0; b < np; b++)
        for (size_t j = 0; j < C; j++)
            ga &= ag_recv[(size_t)b * C + j] == b * 100 + (int64_t)j;
    check(ga, "nonblocking allgather");
    int gt = 1;
    for (int s = 0; s < np; s++)
        gt &= a_recv[s] == a2a_val(s, me, 0);
    check(gt, "nonblocking all-to-all");
    vlayout(sc, sd, rc, rd, &ns, &nr);
    check(vcheck(v_recv, rc, rd, nr), "nonblocking all-to-all with variable counts");
    check(bc == 42.5, "nonblocking broadcast");
    free(grad); free(rs_send); free(ag_recv); free(a_send); free(a_recv); free(v_send); free(v_recv);
}

static void test_errors(void)
{
    double x = 0;
    check(avk_comm_bcast(world, &x, 1, AVK_COMM_F64, np) < 0 &&
          strstr(avk_errmsg(), "broadcast root: rank"), "a root out of range: %s", avk_errmsg());
    unsigned char b[4] = {0};
    check(avk_comm_allreduce(world, b, 4, AVK_COMM_BYTE, AVK_COMM_SUM) < 0 &&
          strstr(avk_errmsg(), "number type"), "no reduction of bytes: %s", avk_errmsg());
    avk_comm_set_max_count(4);
    float *s = avk_xcalloc((size_t)np * 5, sizeof *s), *d = avk_xcalloc((size_t)np * 5, sizeof *d);
    int r = avk_comm_alltoall(world, s, d, 5, AVK_COMM_F32);
    avk_comm_set_max_count((size_t)1 << 30);
    check(r < 0 && strstr(avk_errmsg(), "exceed one MPI call"),
          "an all-to-all block beyond one MPI call is refused: %s", avk_errmsg());
    free(s);
    free(d);
    avk_comm *c = NULL;
    check(avk_comm_split(world, -1, 0, &c) < 0 && !c, "a negative color is refused: %s",
          avk_errmsg());
}

int main(int argc, char **argv)
{
    if (avk_dist_init(&argc, &argv) < 0)
        return 1;
    world = avk_comm_world();
    me = avk_comm_rank(world);
    np = avk_comm_size(world);
    const char *env = getenv("OMPI_COMM_WORLD_SIZE");
    check(np == (env ? atoi(env) : 1) && me >= 0 && me < np && np <= 64,
          "the world has %d rank(s) and this is one of them", np);
    check(avk_comm_uses_mpi(world) == (env != NULL), "MPI is used exactly when launched by mpirun");

    test_allreduce();
    test_reduce_scatter();
    test_allgather();
    test_alltoall();
    test_alltoallv();
    test_bcast();
    test_send_recv();
    test_split();
    test_grid();
    test_nonblocking();
    test_errors();

    avk_dist_finalize();
    int inited = 1;
    MPI_Initialized(&inited);
    if (!env && me == 0)
        ok(!inited, "without a launcher MPI was never initialized");
    return me == 0 ? done_testing() : 0;
}
