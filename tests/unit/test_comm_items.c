/* The deal / compute / gather-in-input-order helper (avk_dist_items) and
 * rank 0's input sharing, alone and under mpirun -np 2 and -np 4
 * (tests/t011-comm.t). Each item's bytes are a function of its index only,
 * so rank 0 checks the emitted stream against the serial one whatever the
 * number of ranks. Rank 0 prints the TAP; a check passes when it passed on
 * every rank. */
#include "tap.h"
#include "avkit/dist/dist.h"

#include <string.h>

static avk_comm *world;
static int me, np;

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

enum { N = 23 };

/* What one job saw, on this rank. */
typedef struct trace {
    int    fail_every;      /* work returns 1 for i % fail_every == 3 (0: never) */
    long   stop_at;         /* work returns -1 at this item (-1: never) */
    long   emit_fail_at;    /* emit returns -1 at this item (-1: never) */
    int    begin_fails;
    int    begins, work_dones, bad_owner, order_ok;
    long   worked, emitted, last_emitted, begun_before_emit;
    int    owner[N];
    avk_buf stream;         /* rank 0: the emitted bytes, in order */
} trace;

/* The bytes of item i: a function of i only; item 5 is long enough to be
 * sent in many pieces. */
static void item_bytes(size_t i, avk_buf *out)
{
    avk_buf_printf(out, "item %zu:", i);
    for (size_t k = 0; k < (i == 5 ? 20000 : i); k++)
        avk_buf_printf(out, "%c", (char)('a' + (i * 7 + k) % 26));
    avk_buf_printf(out, "\n");
}

static int work(size_t i, avk_buf *out, void *ctx)
{
    trace *t = ctx;
    t->bad_owner += t->owner[i] != me;
    t->worked++;
    if ((long)i == t->stop_at)
        return avk_error("item %zu: cannot go on", i);
    item_bytes(i, out);
    return t->fail_every && i % (size_t)t->fail_every == 3 ? 1 : 0;
}

/* The batched form: this rank's items must be one contiguous run. */
static int work_all(const size_t *idx, size_t k, avk_buf *out, void *ctx)
{
    trace *t = ctx;
    int failed = 0;
    for (size_t j = 0; j < k; j++) {
        if (j > 0 && idx[j] != idx[j - 1] + 1)
            t->bad_owner++;
        int w = work(idx[j], &out[idx[j]], ctx);
        if (w < 0)
            return w;
        failed += w;
    }
    return failed;
}

static void work_done(void *ctx) { ((trace *)ctx)->work_dones++; }

static int begin(void *ctx)
{
    trace *t = ctx;
    t->begins++;
    t->begun_before_emit = t->emitted == 0;
    return t->begin_fails ? avk_error("cannot open the output") : 0;
}

static int emit(size_t i, avk_buf *item, void *ctx)
{
    trace *t = ctx;
    t->order_ok &= (long)i == t->last_emitted + 1;
    t->last_emitted = (long)i;
    t->emitted++;
    if ((long)i == t->emit_fail_at)
        return avk_error("write failed at item %zu", i);
    if (i % 2 == 0) {   /* keep some buffers: the helper must not free them */
        avk_buf_append(&t->stream, item->data, item->len);
        avk_buf_free(item);
    } else {
        avk_buf_append(&t->stream, item->data, item->len);
    }
    return 0;
}

/* The serial stream of items [0, n). */
static void serial_stream(size_t n, avk_buf *out)
{
    for (size_t i = 0; i < n; i++)
        item_bytes(i, out);
}

/* Run one job with the given behaviour; returns avk_dist_items' result. */
static int run(trace *t, avk_items_result *res, size_t n, const double *cost, int blocks,
               int batched)
{
    t->begins = t->work_dones = t->bad_owner = 0;
    t->worked = t->emitted = 0;
    t->last_emitted = -1;
    t->order_ok = 1;
    if (blocks)
        avk_comm_deal_blocks(world, n, t->owner);
    else
        avk_comm_deal(world, n, cost, t->owner);
    avk_items job = {.n = n, .cost = cost, .blocks = blocks, .work = batched ? NULL : work,
                     .work_all = batched ? work_all : NULL, .work_done = work_done,
                     .begin = begin, .emit = emit, .ctx = t};
    return avk_dist_items(world, &job, res);
}

int main(int argc, char **argv)
{
    if (avk_dist_init(&argc, &argv) < 0)
        return 1;
    world = avk_comm_world();
    me = avk_comm_rank(world);
    np = avk_comm_size(world);
    avk_comm_set_max_count(1000);   /* long items go in pieces */

    double cost[N];
    for (int i = 0; i < N; i++)
        cost[i] = (i * 37) % 11 + 1;
    avk_buf want = {0};
    serial_stream(N, &want);

    /* every item computed once, on its owner; emitted in input order */
    trace t = {.stop_at = -1, .emit_fail_at = -1, .fail_every = 5};
    avk_items_result res;
    int rc = run(&t, &res, N, cost, 0, 0);
    int64_t worked = t.worked;
    avk_comm_allreduce(world, &worked, 1, AVK_COMM_I64, AVK_COMM_SUM);
    check(rc == 0 && !res.stopped && worked == N && !t.bad_owner && t.work_dones == 1,
          "each of %d items worked once, on the rank dealt to it", N);
    check(me != 0 || (t.emitted == N && t.order_ok && t.stream.len == want.len &&
                      memcmp(t.stream.data, want.data, want.len) == 0),
          "rank 0 emits the serial stream, item by item in input order (%d ranks)", np);
    check(me == 0 ? t.begins == 1 && t.begun_before_emit : t.begins == 0 && t.emitted == 0,
          "begin once on rank 0 before the first emit; nothing emitted elsewhere");
    check(res.failed == 4, "failed items counted over all ranks (%ld) and still emitted",
          res.failed);

    /* the greedy deal balances: no rank carries more than the lightest plus the largest item */
    double load[64] = {0}, lo = 1e300, hi = 0;
    for (int i = 0; i < N; i++)
        load[t.owner[i]] += cost[i];
    for (int r = 0; r < np; r++) {
        lo = load[r] < lo ? load[r] : lo;
        hi = load[r] > hi ? load[r] : hi;
    }
    check(hi - lo <= 11, "longest-first dealing balances the costs (%g to %g)", lo, hi);

    /* contiguous runs, all of a rank's items in one call */
    avk_buf_free(&t.stream);
    rc = run(&t, &res, N, NULL, 1, 1);
    check(rc == 0 && res.failed == 4 && !t.bad_owner && (me != 0 || (t.stream.len == want.len &&
          memcmp(t.stream.data, want.data, want.len) == 0)),
          "contiguous dealing with batched work gives the same stream");

    /* one rank stops: nobody emits, every rank knows, only that rank errs */
    avk_buf_free(&t.stream);
    t.stop_at = 11;
    rc = run(&t, &res, N, cost, 0, 0);
    int mine = t.owner[11] == me;
    check(res.stopped && t.emitted == 0 && t.begins == 0 &&
          (mine ? rc < 0 && strstr(avk_errmsg(), "item 11: cannot go on") : rc == 0),
          "a work that stops: no emit anywhere, the error on its rank only");
    t.stop_at = -1;

    /* emit fails on rank 0: no more emits, the other ranks do not hang */
    t.emit_fail_at = 4;
    rc = run(&t, &res, N, cost, 0, 0);
    check(me == 0 ? rc < 0 && t.emitted == 5 && strstr(avk_errmsg(), "write failed")
                  : rc == 0,
          "a failing emit stops the emits; every rank returns");
    t.emit_fail_at = -1;

    t.begin_fails = 1;
    rc = run(&t, &res, N, cost, 0, 0);
    check(me == 0 ? rc < 0 && t.emitted == 0 && t.begins == 1 : rc == 0,
          "a failing begin: nothing emitted, no hang");
    t.begin_fails = 0;

    avk_buf_free(&t.stream);
    rc = run(&t, &res, 0, NULL, 0, 0);
    check(rc == 0 && t.emitted == 0 && (me != 0 || t.begins == 1),
          "no items: begin still runs, nothing emitted");

    /* rank 0's input reaches every rank; rank 0's failure reaches every rank */
    avk_buf in = {0};
    if (me == 0)
        serial_stream(N, &in);
    rc = avk_comm_share(world, &in, 0);
    check(rc == 0 && in.len == want.len && memcmp(in.data, want.data, want.len) == 0,
          "rank 0's %zu bytes shared with every rank", want.len);
    avk_buf_free(&in);
    rc = avk_comm_share(world, &in, me == 0);
    check(rc == 1 && in.len == 0, "rank 0's failure to read is shared too");

    /* the older process-wide calls still work over the world */
    int owner[N];
    avk_dist_deal(N, cost, owner);
    int same = 1;
    avk_comm_deal(world, N, cost, t.owner);
    for (int i = 0; i < N; i++)
        same &= owner[i] == t.owner[i];
    check(same && avk_dist_size() == np && avk_dist_rank() == me,
          "avk_dist_deal, rank and size are the world communicator's");

    avk_buf_free(&t.stream);
    avk_buf_free(&want);
    avk_dist_finalize();
    return me == 0 ? done_testing() : 0;
}
