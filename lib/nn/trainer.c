/* The training loop over a task: schedule, clipping, AdamW, EMA, the
 * non-finite stop, checkpoints (periodic, final, on a signal) and resume.
 * See trainer.h. */
#include "avkit/nn/trainer.h"
#include "avkit/nn/checkpoint.h"
#include "avkit/util/common.h"
#include "trainer_sync.h"
#include "trainer_zero.h"

#include <errno.h>
#include <stdint.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- schedule and seeding -------------------------------------------- */

double avk_lr_at(const avk_lr_schedule *s, int64_t step)
{
    if (s->warmup > 0 && step <= s->warmup)
        return s->lr * (double)step / (double)s->warmup;
    if (s->kind != AVK_LR_COSINE || s->steps <= s->warmup)
        return s->lr;
    double p = (double)(step - s->warmup) / (double)(s->steps - s->warmup);
    return s->lr * (s->min_ratio + (1.0 - s->min_ratio) * 0.5 * (1.0 + cos(M_PI * p)));
}

void avk_train_step_rng(avk_rng *r, uint64_t seed, int64_t step)
{
    avk_rng_seed(r, seed * 0x9E3779B97F4A7C15ull + (uint64_t)step * 0xD1B54A32D192ED03ull + 1);
}

avk_train_opts avk_train_opts_default(void)
{
    avk_train_opts o;
    memset(&o, 0, sizeof o);
    o.model = "model";
    o.steps = 400;
    o.sched.lr = 1e-3;
    o.sched.warmup = 20;
    o.sched.kind = AVK_LR_COSINE;
    o.sched.min_ratio = 0.1;
    o.adamw = avk_adamw_defaults();
    o.adamw.weight_decay = 0;
    o.clip = 1.0;
    o.log_every = 10;
    return o;
}

/* The EMA file beside a checkpoint: "X.safetensors" -> "X.ema.safetensors". */
static char *ema_path(const char *ckpt)
{
    size_t n = strlen(ckpt), s = strlen(".safetensors");
    if (n > s && strcmp(ckpt + n - s, ".safetensors") == 0)
        return avk_xasprintf("%.*s.ema.safetensors", (int)(n - s), ckpt);
    return avk_xasprintf("%s.ema", ckpt);
}

/* ---- checkpoints ----------------------------------------------------- */

/* Write a checkpoint as one commit: the weights, the optimizer file ow
 * (consumed; the run's metadata added), the parts the other ranks wrote
 * for shards 1 .. shards - 1 (shards > 1: a ZeRO checkpoint), the EMA. */
static int commit_checkpoint(const avk_train_opts *o, avk_train_task *t, avk_st_writer *ow,
                             int shards)
{
    avk_params *P = t->params;
    char step[32], seed[32], hash[17];
    snprintf(step, sizeof step, "%lld", (long long)P->step);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    avk_st_writer *ww = avk_st_writer_new();
    t->note[0] = 0;
    if (t->save_meta && t->save_meta(t->ctx, o, ww) < 0) {
        avk_st_writer_free(ww);
        avk_st_writer_free(ow);
        return -1;
    }
    avk_st_writer_meta(ww, "step", step);
    avk_st_writer_meta(ww, "model", o->model);
    avk_st_writer_meta(ww, "seed", seed);
    avk_params_st_add(P, P->w, ww);

    avk_st_writer_meta(ow, "model", o->model);
    avk_st_writer_meta(ow, "seed", seed);
    avk_params_hash(P, P->w, hash);
    avk_st_writer_meta(ow, "weights_hash", hash);
    char *ds = t->data_state ? t->data_state(t->ctx) : NULL;
    if (ds)
        avk_st_writer_meta(ow, "data_state", ds);

    char *opath = avk_params_optim_path(o->out), *epath = NULL;
    avk_ckpt *c = avk_ckpt_begin(o->out);
    int rc = avk_ckpt_add(c, o->out, ww);
    if (rc == 0)
        rc = avk_ckpt_add(c, opath, ow);
    else
        avk_st_writer_free(ow);
    for (int r = 1; r < shards && rc == 0; r++) {
        char *sp = zero_shard_path(o->out, r, shards);
        rc = avk_ckpt_adopt(c, sp);
        free(sp);
    }
    if (rc == 0 && P->ema) {
        avk_st_writer *ew = avk_st_writer_new();
        if (t->save_meta && t->save_meta(t->ctx, o, ew) < 0) {
            avk_st_writer_free(ew);
            rc = -1;
        } else {
            avk_st_writer_meta(ew, "step", step);
            avk_st_writer_meta(ew, "model", o->model);
            avk_st_writer_meta(ew, "seed", seed);
            avk_params_st_add(P, P->ema, ew);
            epath = ema_path(o->out);
            rc = avk_ckpt_add(c, epath, ew);
        }
    }
    if (rc == 0)
        rc = avk_ckpt_commit(c);
    else
        avk_ckpt_abort(c);
    if (rc == 0)
        avk_info(1, "step %lld: wrote %s and %s%s%s", (long long)P->step, o->out, opath,
                 shards > 1 ? " (first of the optimizer shards)" : "", t->note);
    free(ds);
    free(opath);
    free(epath);
    return rc;
}

int avk_train_save(const avk_train_opts *o, avk_train_task *t)
{
    avk_params *P = t->params;
    avk_params_optim(P);
    avk_st_writer *ow = avk_st_writer_new();
    char **names = avk_params_optim_names(P);
    avk_params_st_add_optim(P, ow, names);
    int rc = commit_checkpoint(o, t, ow, 0);
    avk_params_free_names(P, names);
    return rc;
}

/* Under ZeRO, collective: every rank writes its optimizer shard (ranks
 * above 0 as parts), the ranks agree that all parts are written, then
 * rank 0 commits the weights, its shard, the others' parts and the EMA as
 * one checkpoint, and all agree on that. 0, -1 (this rank's error set) or
 * AVK_TRAIN_PEER_FAILED. */
static int save_sharded(const avk_train_opts *o, avk_train_task *t, train_zero *z)
{
    avk_params *P = t->params;
    float *buf;
    avk_st_writer *w = zero_shard_writer(z, P, &buf);
    char hash[17];
    avk_params_hash(P, P->w, hash);
    avk_st_writer_meta(w, "weights_hash", hash);
    int bad = 0;
    if (z->rank > 0) {
        char *path = zero_shard_path(o->out, z->rank, z->size);
        bad = avk_ckpt_write_part(path, w) < 0;
        free(path);
    }
    int rc = avk_train_agree(o->dp, bad);
    if (z->rank == 0 && rc != 0)
        avk_st_writer_free(w);
    if (rc == 0) {
        bad = z->rank == 0 && commit_checkpoint(o, t, w, z->size) < 0;
        rc = avk_train_agree(o->dp, bad);
    }
    avk_ffree(buf);
    return rc;
}

int avk_train_resume(avk_train_opts *o, avk_train_task *t)
{
    avk_params *P = t->params;
    const char *path = o->resume;
    if (avk_ckpt_recover(path) < 0)
        return -1;
    avk_st_file *wf = avk_st_open(path), *of = NULL;
    char *opath = avk_params_optim_path(path), *epath = NULL;
    int rc = -1;
    int64_t wstep, seed;
    char hash[17];
    if (!wf)
        goto out;
    if (avk_st_meta_int64(wf, "step", &wstep) < 0)
        goto out;
    if (!(of = avk_st_open(opath)))
        goto out;
    if (avk_st_meta(of, "shards") ? zero_load_shards(P, path, of) < 0
                                  : avk_params_load_optim(P, of) < 0)
        goto out;
    if (wstep != P->step) {
        avk_error("%s: step %lld does not match step %lld of %s (interrupted between the two "
                  "writes?)", path, (long long)wstep, (long long)P->step, opath);
        goto out;
    }
    const char *want = avk_st_meta(of, "weights_hash");
    avk_params_hash(P, P->w, hash);
    if (!want) {
        avk_warn("%s: no \"weights_hash\" (written by an older av-train): cannot check that it "
                 "belongs to %s", opath, path);
    } else if (strcmp(want, hash) != 0) {
        avk_error("%s: the optimizer state belongs to other weights than %s (another run's "
                  "file?): weights hash %s recorded, %s found", opath, path, want, hash);
        goto out;
    }
    if (avk_st_meta(wf, "seed")) {
        if (avk_st_meta_int64(wf, "seed", &seed) < 0)
            goto out;
        if (o->seed_given && (uint64_t)seed != o->seed) {
            avk_error("%s: trained with --seed %lld, not %llu (a resumed run keeps its seed; "
                      "leave --seed out)", path, (long long)seed, (unsigned long long)o->seed);
            goto out;
        }
        o->seed = (uint64_t)seed;
    }
    if (o->steps < P->step) {
        avk_error("%s: --steps %lld is below the checkpoint's step %lld", path,
                  (long long)o->steps, (long long)P->step);
        goto out;
    }
    if (o->ema_decay > 0) {
        epath = ema_path(path);
        if (access(epath, F_OK) == 0) {
            avk_st_file *ef = avk_st_open(epath);
            int64_t estep;
            if (!ef)
                goto out;
            int e = avk_st_meta_int64(ef, "step", &estep);
            if (e == 0 && estep != P->step)
                e = avk_error("%s: step %lld does not match step %lld of %s", epath,
                              (long long)estep, (long long)P->step, path);
            if (e == 0)
                e = avk_params_load(P, avk_params_ema(P), ef, NULL);
            avk_st_close(ef);
            if (e < 0)
                goto out;
        }
    }
    const char *ds = avk_st_meta(of, "data_state");
    if (t->restore_data_state && t->restore_data_state(t->ctx, ds) < 0)
        goto out;
    rc = 0;
out:
    avk_st_close(wf);
    avk_st_close(of);
    free(opath);
    free(epath);
    return rc;
}

/* ---- signals --------------------------------------------------------- */

static volatile sig_atomic_t stop_signal;

/* SIGINT / SIGTERM during training: finish the step, checkpoint, stop. */
static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

/* ---- logging --------------------------------------------------------- */

/* "(l1 0.1, mse 0.2)" from the metrics, printf'ed with %g. */
static void metrics_plain(char *buf, size_t size, const avk_train_result *r)
{
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < r->nmetric && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s %g", i ? ", " : " (", r->metric_name[i],
                              r->metric[i]);
    if (r->nmetric && n < size)
        snprintf(buf + n, size - n, ")");
}

/* " (l1 0.10000 mse 0.20000)" with each metric's own format. */
static void metrics_log(char *buf, size_t size, const avk_train_result *r)
{
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < r->nmetric && n < size; i++) {
        n += (size_t)snprintf(buf + n, size - n, "%s%s ", i ? " " : " (", r->metric_name[i]);
        if (n < size)
            n += (size_t)snprintf(buf + n, size - n, r->metric_fmt[i] ? r->metric_fmt[i] : "%g",
                                  r->metric[i]);
    }
    if (r->nmetric && n < size)
        snprintf(buf + n, size - n, ")");
}

/* Open the CSV log: a new file with its header, or (resuming, when it
 * exists) the old one to append to. NULL with the error set. */
static FILE *csv_open(const avk_train_opts *o, const avk_train_result *first)
{
    int append = o->resume && access(o->log_csv, F_OK) == 0;
    FILE *fp = fopen(o->log_csv, append ? "a" : "w");
    if (!fp) {
        avk_error("%s: cannot open: %s", o->log_csv, strerror(errno));
        return NULL;
    }
    if (!append) {
        fprintf(fp, "step,loss");
        for (int i = 0; i < first->nmetric; i++)
            fprintf(fp, ",%s", first->metric_name[i]);
        fprintf(fp, ",grad_norm,lr,step_s,samples_per_s,tokens_per_s,gflops\n");
    }
    return fp;
}

/* One CSV row; -1 with the error set when the write fails. */
static int csv_row(FILE *fp, const char *path, int64_t step, const avk_train_result *r,
                   double gnorm, double lr, double secs)
{
    fprintf(fp, "%lld,%.9g", (long long)step, r->loss);
    for (int i = 0; i < r->nmetric; i++)
        fprintf(fp, ",%.9g", r->metric[i]);
    double rate = secs > 0 ? 1.0 / secs : 0;
    fprintf(fp, ",%.9g,%.9g,%.6f,%.6g,%.6g,%.6g\n", gnorm, lr, secs, r->samples * rate,
            r->tokens * rate, r->flops * rate * 1e-9);
    if (fflush(fp) != 0 || ferror(fp))
        return avk_error("%s: cannot write: %s", path, strerror(errno));
    return 0;
}

/* CPU seconds this process has used (every thread), for the -v lines. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- data parallelism -------------------------------------------------- */

/* This rank's place in the data-parallel group (one process: 0 of 1). */
static int dp_size(const avk_train_opts *o)
{
    return o->dp ? avk_comm_size(o->dp) : 1;
}

static int dp_rank(const avk_train_opts *o)
{
    return o->dp ? avk_comm_rank(o->dp) : 0;
}

int avk_train_agree(avk_comm *dp, int failed)
{
    if (!dp || avk_comm_size(dp) < 2)
        return failed ? -1 : 0;
    int32_t first = failed ? avk_comm_rank(dp) : INT32_MAX;
    if (avk_comm_allreduce(dp, &first, 1, AVK_COMM_I32, AVK_COMM_MIN) < 0)
        return -1;
    if (first == INT32_MAX)
        return 0;
    return first == avk_comm_rank(dp) ? -1 : AVK_TRAIN_PEER_FAILED;
}

/* After the task's step: whether any rank failed (as avk_train_agree) and
 * the signal any rank got (so that all stop at the same step). */
static int dp_agree_step(const avk_train_opts *o, int failed, int *sig)
{
    if (dp_size(o) < 2)
        return failed ? -1 : 0;
    int32_t v[2] = {failed ? dp_rank(o) : INT32_MAX, -(int32_t)*sig};
    if (avk_comm_allreduce(o->dp, v, 2, AVK_COMM_I32, AVK_COMM_MIN) < 0)
        return -1;
    *sig = -v[1];
    if (v[0] == INT32_MAX)
        return 0;
    return v[0] == dp_rank(o) ? -1 : AVK_TRAIN_PEER_FAILED;
}

/* After the buckets (trainer_sync.c) are in: the global norm (DP: the
 * blocks' sums of squares added in table order; ZeRO: the shards', in
 * rank order), then clipping. The norm before clipping, or -1. */
static double dp_norm_clip(const avk_train_opts *o, train_sync *s, train_zero *z,
                           avk_train_result *res)
{
    avk_params *P = s->P;
    double ss;
    if (sync_wait(s, res, &ss) < 0)
        return -1;
    if (z)
        return zero_norm_clip(z, P, o->clip);
    double norm = sqrt(ss);
    double coef = o->clip / (norm + 1e-6);
    if (o->clip > 0 && coef < 1.0)
        for (int b = 0; b < P->nblock; b++)
            avk_scale(P->g + P->block[b].offset, (float)coef, P->block[b].size);
    return norm;
}

/* ---- the loop -------------------------------------------------------- */

int avk_train(const avk_train_opts *o, avk_train_task *t, int *signo)
{
    avk_params *P = t->params;
    avk_params_optim(P);
    avk_params_grads(P);
    if (o->ema_decay > 0)
        avk_params_ema(P);
    avk_lr_schedule sched = o->sched;
    sched.steps = o->steps;
    avk_adamw ad = o->adamw;
    int dp = dp_size(o) > 1, lead = dp_rank(o) == 0;
    int zero = dp && o->zero >= 1, zero2 = dp && o->zero >= 2;
    train_zero z;
    train_sync sy;
    if (zero)
        zero_init(&z, o->dp, P);
    if (dp)
        sync_init(&sy, o->dp, P, zero ? &z : NULL, zero2);
    if (dp) {
        double mib = 4.0 / 1048576.0;
        double gf = zero2 ? (double)(z.S + z.tail) : (double)P->total + (zero ? (double)z.S : 0.0);
        double of = zero ? 2.0 * (double)(z.S + z.tail) : 2.0 * (double)P->total;
        avk_info(1, "rank %d of %d: weights %.2f MiB, gradients %.2f MiB%s, optimizer state "
                 "%.2f MiB%s", dp_rank(o), dp_size(o), P->total * mib, gf * mib,
                 zero2 ? " (ZeRO-2 shard) + buckets in the backward" : "", of * mib,
                 zero ? (zero2 ? " (ZeRO-2 shard)" : " (ZeRO-1 shard)") : "");
    }
    double comm_s = 0, steps_s = 0, cpu_s = 0;   /* cpu_s: steps after the first two */
    int64_t cpu_steps = 0, first = P->step;

    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    stop_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    int rc = 0, sig = 0;
    FILE *csv = NULL;
    double t0 = avk_now(), tlog = t0;
    int64_t log_step = P->step;
    avk_progress prog;
    if (lead)
        avk_progress_start(&prog, avk_progname, (double)o->steps);
    while (P->step < o->steps && !(dp ? sig : (sig = stop_signal))) {
        int64_t step = P->step + 1;
        double tstep = avk_now(), cstep = cpu_now();
        avk_rng r;
        avk_train_step_rng(&r, o->seed, step);
        if (zero2)      /* the buckets came back zeroed; the tail stays */
            memset(P->g + z.S * z.size, 0, (size_t)z.tail * sizeof(float));
        else
            avk_params_zero_grads(P);
        avk_train_result res;
        memset(&res, 0, sizeof res);
        if (dp)
            sync_begin(&sy);
        int bad = t->step(t->ctx, step, &r, &res) < 0;
        if (dp && !bad && !isfinite(res.loss))   /* found here, said by this rank */
            bad = avk_error("step %lld: the loss of rank %d's share of the batch is %s; stopped, "
                            "the last checkpoint written is kept", (long long)step, dp_rank(o),
                            isnan(res.loss) ? "NaN" : "Inf") < 0;
        if (dp && sync_flush(&sy, &res) < 0) {
            sync_abandon(&sy);
            rc = -1;
            break;
        }
        sig = stop_signal;
        double tc = avk_now();
        if ((rc = dp_agree_step(o, bad, &sig)) != 0) {
            if (dp)
                sync_abandon(&sy);
            break;
        }
        double gnorm = dp ? dp_norm_clip(o, &sy, zero ? &z : NULL, &res)
                          : avk_params_clip(P, o->clip);
        comm_s += avk_now() - tc;
        if (dp && gnorm < 0) {
            rc = -1;
            break;
        }
        if (!isfinite(res.loss) || !isfinite(gnorm)) {
            /* the same values on every rank: rank 0 alone says so */
            char m[256];
            metrics_plain(m, sizeof m, &res);
            int lossbad = !isfinite(res.loss);
            rc = AVK_TRAIN_PEER_FAILED;
            if (lead)
                rc = avk_error("step %lld: %s is %s%s; stopped, the last checkpoint written is "
                               "kept", (long long)step, lossbad ? "loss" : "gradient norm",
                               isnan(lossbad ? res.loss : gnorm) ? "NaN" : "Inf", m);
            break;
        }
        ad.lr = avk_lr_at(&sched, step);
        if (!zero) {
            avk_params_adamw(P, &ad);
        } else {
            double ta = avk_now();
            if (zero_step(&z, P, &ad) < 0) {
                rc = -1;
                break;
            }
            comm_s += avk_now() - ta;   /* the weight allgather (and the shard's AdamW) */
        }
        steps_s += avk_now() - tstep;
        if (step > first + 2) {
            cpu_s += cpu_now() - cstep;
            cpu_steps++;
        }
        if (o->ema_decay > 0)
            avk_params_ema_update(P, o->ema_decay);
        /* rank 0's own work (logs, checkpoints), then agreement on it */
        bad = 0;
        if (lead && t->after_step && t->after_step(t->ctx, step, &res, gnorm, ad.lr) < 0)
            bad = 1;
        if (!bad && lead && o->log_csv &&
            ((!csv && !(csv = csv_open(o, &res))) ||
             csv_row(csv, o->log_csv, step, &res, gnorm, ad.lr, avk_now() - tstep) < 0))
            bad = 1;
        if (!bad && lead && avk_verbose && (step % o->log_every == 0 || step == o->steps)) {
            double now = avk_now();
            char m[256];
            metrics_log(m, sizeof m, &res);
            avk_info(1, "step %lld loss %.5f%s grad %.3f lr %.2e %.2f s/step", (long long)step,
                     res.loss, m, gnorm, ad.lr, (now - tlog) / (double)(step - log_step));
            tlog = now;
            log_step = step;
        }
        if (!bad && t->validate && o->validate_every > 0 && step % o->validate_every == 0) {
            double vl;
            if (t->validate(t->ctx, step, &vl) < 0)
                bad = 1;
            else if (lead)
                avk_info(1, "step %lld validation loss %.5f", (long long)step, vl);
        }
        if (lead)
            avk_progress_update(&prog, (double)step);
        int saving = o->save_every > 0 && step % o->save_every == 0 && step < o->steps;
        int agreed = 0;
        if (saving && zero) {
            bad = avk_train_agree(o->dp, bad);
            agreed = 1;
            if (!bad)
                bad = save_sharded(o, t, &z);
        } else if (!bad && lead && saving && avk_train_save(o, t) < 0) {
            bad = 1;
        }
        if (dp && !agreed)
            bad = avk_train_agree(o->dp, bad);
        if (bad) {
            rc = bad > 0 && !dp ? -1 : bad;
            break;
        }
    }
    if (lead)
        avk_progress_end(&prog);
    if (csv && fclose(csv) != 0 && rc == 0)
        rc = avk_error("%s: cannot write: %s", o->log_csv, strerror(errno));
    if (dp && avk_verbose && steps_s > 0)
        avk_info(1, "rank %d of %d: waiting on gradient communication %.3f s of %.3f s of "
                 "steps (%.1f%%); %lld of %lld buckets started during the backward; "
                 "%.3f s CPU over %lld steps after the second", dp_rank(o), dp_size(o), comm_s,
                 steps_s, 100.0 * comm_s / steps_s, (long long)sy.early, (long long)sy.buckets,
                 cpu_s, (long long)cpu_steps);
    if (dp)
        sync_free(&sy);
    if (rc == 0 && zero) {
        rc = save_sharded(o, t, &z);
    } else if (rc == 0) {
        rc = lead && avk_train_save(o, t) < 0 ? -1 : 0;
        if (dp)
            rc = avk_train_agree(o->dp, rc < 0);
    }
    if (zero)
        zero_free(&z);
    if (rc == 0 && sig && P->step < o->steps) {
        *signo = sig;
        rc = AVK_TRAIN_STOPPED;
    } else if (rc == 0 && lead) {
        avk_info(1, "trained to step %lld in %.1f s (%.3f s CPU over %lld steps after the "
                 "second)", (long long)P->step, avk_now() - t0, cpu_s, (long long)cpu_steps);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}
