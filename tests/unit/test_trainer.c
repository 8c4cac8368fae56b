/* The trainer (trainer.h) over a small task (a quadratic fit): the
 * schedule in double precision, the same updates as a hand-written AdamW
 * loop, resume equal to an uninterrupted run, the stop on NaN keeping the
 * last checkpoint, the checkpoint on SIGTERM, the data position and the
 * EMA across a resume, and every resume mismatch refused. */
#include "tap.h"
#include "avkit/nn/trainer.h"
#include "avkit/nn/tensor.h"
#include "avkit/util/common.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* loss = 0.5 sum (w - target)^2 + noise from the step's generator, so the
 * update depends on the seed and the step. */
typedef struct quad {
    avk_params *t;
    float       target;
    int64_t     nan_at, signal_at;   /* misbehave at this step (0 = never) */
    int64_t     seen;                /* data position: steps consumed */
    int         restored;
} quad;

static int quad_step(void *ctx, int64_t step, avk_rng *r, avk_train_result *res)
{
    quad *q = ctx;
    avk_params *t = q->t;
    double loss = 0;
    for (int i = 0; i < t->n; i++)
        for (int64_t j = 0; j < t->p[i].numel; j++) {
            int64_t k = t->p[i].offset + j;
            float d = t->w[k] - q->target + 0.1f * (float)avk_rng_normal(r);
            t->g[k] += d;
            loss += 0.5 * d * d;
        }
    res->loss = step == q->nan_at ? NAN : loss;
    res->nmetric = 1;
    res->metric_name[0] = "half";
    res->metric_fmt[0] = "%.3f";
    res->metric[0] = loss / 2;
    if (step == q->signal_at)
        raise(SIGTERM);
    q->seen++;
    return 0;
}

static int quad_meta(void *ctx, const avk_train_opts *o, avk_st_writer *w)
{
    avk_st_writer_meta(w, "config", "{\"quad\":1}");
    return 0;
}

static char *quad_state(void *ctx)
{
    quad *q = ctx;
    return avk_xasprintf("seen=%lld", (long long)q->seen);
}

static int quad_restore(void *ctx, const char *s)
{
    quad *q = ctx;
    long long n;
    if (!s || sscanf(s, "seen=%lld", &n) != 1)
        return avk_error("bad data state");
    q->seen = n;
    q->restored = 1;
    return 0;
}

static avk_params *quad_table(void)
{
    avk_params *t = avk_params_new();
    int64_t a[2] = {3, 4}, b[1] = {3};
    avk_params_block(t, "b0");
    avk_params_add(t, 2, a, 1, "b0.weight");
    avk_params_add(t, 1, b, 0, "b0.bias");
    avk_params_alloc(t);
    for (int64_t i = 0; i < t->p[0].numel; i++)
        t->w[t->p[0].offset + i] = (float)i / 10;
    return t;
}

static void task_of(avk_train_task *task, quad *q, avk_params *t)
{
    memset(q, 0, sizeof *q);
    q->t = t;
    q->target = 0.5f;
    memset(task, 0, sizeof *task);
    task->ctx = q;
    task->params = t;
    task->step = quad_step;
    task->save_meta = quad_meta;
    task->data_state = quad_state;
    task->restore_data_state = quad_restore;
}

static avk_train_opts opts_of(const char *out, int64_t steps)
{
    avk_train_opts o = avk_train_opts_default();
    o.out = out;
    o.model = "quad";
    o.steps = steps;
    o.sched.lr = 0.01;
    o.sched.warmup = 3;
    o.adamw.weight_decay = 0.1;
    o.clip = 1.0;
    o.seed = 11;
    return o;
}

static int same_files(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = getc(fa), cb = getc(fb);
        same = ca == cb;
        if (ca == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

static int64_t file_step(const char *path)
{
    avk_st_file *f = avk_st_open(path);
    int64_t s = -1;
    if (f)
        avk_st_meta_int64(f, "step", &s);
    avk_st_close(f);
    return s;
}

static void test_schedule(void)
{
    avk_lr_schedule s = {1e-3, 20, 400, AVK_LR_COSINE, 0.1};
    ok(avk_lr_at(&s, 7) == 1e-3 * 7.0 / 20.0, "warmup in double: %.17g", avk_lr_at(&s, 7));
    ok(avk_lr_at(&s, 7) != (double)(float)(1e-3 * 7.0 / 20.0), "... not rounded to float");
    ok(fabs(avk_lr_at(&s, 20) - 1e-3) < 1e-18 && fabs(avk_lr_at(&s, 400) - 1e-4) < 1e-15 &&
       fabs(avk_lr_at(&s, 210) - 1e-3 * (0.1 + 0.9 * 0.5)) < 1e-15,
       "cosine: lr at the end of warmup, lr/10 at the last step, the middle value halfway");
    s.kind = AVK_LR_CONSTANT;
    ok(avk_lr_at(&s, 300) == 1e-3, "constant after warmup");
}

/* The trainer's steps equal a hand-written loop with the lr in double. */
static void test_equals_manual(void)
{
    avk_params *t = quad_table();
    quad q;
    avk_train_task task;
    task_of(&task, &q, t);
    avk_train_opts o = opts_of("a.safetensors", 40);
    o.sched.warmup = 10;
    int sig = 0;
    ok(avk_train(&o, &task, &sig) == 0 && t->step == 40, "forty steps trained");

    avk_params *u = quad_table(), *f = quad_table();
    quad qu, qf;
    avk_train_task tu, tf;
    task_of(&tu, &qu, u);
    task_of(&tf, &qf, f);
    avk_lr_schedule s = o.sched;
    s.steps = 40;
    for (int64_t step = 1; step <= 40; step++) {
        avk_rng r;
        avk_params *pp[2] = {u, f};
        for (int k = 0; k < 2; k++) {
            avk_params *p = pp[k];
            avk_train_result res;
            avk_train_step_rng(&r, 11, step);
            avk_params_zero_grads(p);
            quad_step(k ? (void *)&qf : (void *)&qu, step, &r, &res);
            avk_params_clip(p, 1.0);
            avk_adamw a = o.adamw;
            a.lr = avk_lr_at(&s, step);
            if (k) {   /* what av-train did before: lr and wd rounded to float */
                a.lr = (float)a.lr;
                a.weight_decay = (float)a.weight_decay;
            }
            avk_params_adamw(p, &a);
        }
    }
    ok(memcmp(t->w, u->w, (size_t)t->total * 4) == 0,
       "the trainer's weights equal the hand-written loop's (lr in double), bit for bit");
    ok(memcmp(f->w, u->w, (size_t)t->total * 4) != 0,
       "rounding lr and weight decay to float would change them");
    avk_params_free(t);
    avk_params_free(u);
    avk_params_free(f);
}

/* 3 steps, resume to 6: the same files as 6 steps at once. */
static void test_resume(void)
{
    avk_params *t = quad_table();
    quad q;
    avk_train_task task;
    task_of(&task, &q, t);
    avk_train_opts o = opts_of("h.safetensors", 3);
    o.ema_decay = 0.5;
    int sig = 0;
    avk_train(&o, &task, &sig);
    avk_params_free(t);

    t = quad_table();
    task_of(&task, &q, t);
    o = opts_of("f.safetensors", 6);
    o.ema_decay = 0.5;
    avk_train(&o, &task, &sig);
    avk_params_free(t);

    /* resume: the caller loads the weights, the trainer the rest */
    t = quad_table();
    task_of(&task, &q, t);
    avk_st_file *f = avk_st_open("h.safetensors");
    avk_params_load(t, t->w, f, NULL);
    avk_st_close(f);
    o = opts_of("r.safetensors", 6);
    o.ema_decay = 0.5;
    o.resume = "h.safetensors";
    o.seed = 0;    /* taken from the checkpoint */
    int rc = avk_train_resume(&o, &task);
    ok(rc == 0 && t->step == 3 && o.seed == 11 && q.restored && q.seen == 3,
       "resume: step, seed and data position from the checkpoint");
    ok(avk_train(&o, &task, &sig) == 0, "resumed to step 6");
    ok(same_files("f.safetensors", "r.safetensors") &&
       same_files("f.optim.safetensors", "r.optim.safetensors") &&
       same_files("f.ema.safetensors", "r.ema.safetensors"),
       "weights, optimizer state and EMA equal the uninterrupted run's, byte for byte");
    avk_params_free(t);

    /* refusals */
    t = quad_table();
    task_of(&task, &q, t);
    f = avk_st_open("h.safetensors");
    avk_params_load(t, t->w, f, NULL);
    avk_st_close(f);
    o = opts_of("x.safetensors", 6);
    o.resume = "h.safetensors";
    o.seed = 12;
    o.seed_given = 1;
    ok(avk_train_resume(&o, &task) < 0 &&
       strstr(avk_errmsg(), "h.safetensors: trained with --seed 11, not 12"),
       "another seed refused: %s", avk_errmsg());
    o = opts_of("x.safetensors", 2);
    o.resume = "h.safetensors";
    ok(avk_train_resume(&o, &task) < 0 && strstr(avk_errmsg(), "--steps 2 is below"),
       "fewer steps refused: %s", avk_errmsg());
    t->w[0] += 1;
    o = opts_of("x.safetensors", 6);
    o.resume = "h.safetensors";
    ok(avk_train_resume(&o, &task) < 0 &&
       strstr(avk_errmsg(), "belongs to other weights than h.safetensors"),
       "other weights refused: %s", avk_errmsg());
    avk_params_free(t);
}

/* NaN at step 5 with a checkpoint every 2 steps: stops naming step 5,
 * the checkpoint of step 4 stays. SIGTERM at step 3: checkpoint of 3. */
static void test_stops(void)
{
    avk_params *t = quad_table();
    quad q;
    avk_train_task task;
    task_of(&task, &q, t);
    q.nan_at = 5;
    avk_train_opts o = opts_of("n.safetensors", 8);
    o.save_every = 2;
    int sig = 0;
    ok(avk_train(&o, &task, &sig) < 0 &&
       strstr(avk_errmsg(), "step 5: loss is NaN (half "),
       "NaN loss: %s", avk_errmsg());
    ok(file_step("n.safetensors") == 4 && file_step("n.optim.safetensors") == 4,
       "the last checkpoint (step 4) is intact");
    avk_params_free(t);

    t = quad_table();
    task_of(&task, &q, t);
    q.signal_at = 3;
    o = opts_of("s.safetensors", 8);
    ok(avk_train(&o, &task, &sig) == AVK_TRAIN_STOPPED && sig == SIGTERM && t->step == 3,
       "SIGTERM during step 3: the step finishes and training stops");
    ok(file_step("s.safetensors") == 3 && file_step("s.optim.safetensors") == 3,
       "a checkpoint of step 3 is written");
    avk_params_free(t);
}

/* The CSV log: a header, one row a step, appended to on resume. */
static void test_csv(void)
{
    avk_params *t = quad_table();
    quad q;
    avk_train_task task;
    task_of(&task, &q, t);
    avk_train_opts o = opts_of("c.safetensors", 3);
    o.log_csv = "log.csv";
    int sig = 0;
    avk_train(&o, &task, &sig);
    avk_params_free(t);
    t = quad_table();
    task_of(&task, &q, t);
    avk_st_file *f = avk_st_open("c.safetensors");
    avk_params_load(t, t->w, f, NULL);
    avk_st_close(f);
    o = opts_of("c.safetensors", 5);
    o.log_csv = "log.csv";
    o.resume = "c.safetensors";
    int rc = avk_train_resume(&o, &task);
    rc |= avk_train(&o, &task, &sig);
    avk_params_free(t);
    FILE *fp = fopen("log.csv", "r");
    char line[512];
    int rows = 0, good = fp != NULL;
    while (fp && fgets(line, sizeof line, fp)) {
        if (rows == 0)
            good &= strcmp(line, "step,loss,half,grad_norm,lr,step_s,samples_per_s,"
                                 "tokens_per_s,gflops\n") == 0;
        else
            good &= atoi(line) == rows;
        rows++;
    }
    if (fp)
        fclose(fp);
    ok(rc == 0 && good && rows == 6, "CSV log: header and steps 1-5 across a resume (%d lines)",
       rows);
}

int main(void)
{
    test_schedule();
    test_equals_manual();
    test_resume();
    test_stops();
    test_csv();
    return done_testing();
}
