/* av-train: train a model on clips. The frame-wise VAE (--model vae):
 * random crops of frames decoded from the clips, L1 + MSE reconstruction
 * plus a small KL term, AdamW, safetensors checkpoints (weights in
 * diffusers' layout, optimizer state beside them), resumable. The video
 * diffusion transformer (--model dit): the latent streams av-vaeenc
 * writes, rectified flow (dit_train.h). This file holds the options and
 * the wiring: the models are in vae.h / vae_train.h / dit.h, the loop,
 * schedule, checkpoints and resume in trainer.h. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avkit/data/buckets.h"
#include "avkit/data/clipsrc.h"
#include "avkit/util/common.h"
#include "avkit/nn/ops.h"
#include "avkit/io/safetensors.h"
#include "avkit/nn/tensor.h"
#include "avkit/models/vae.h"
#include "avkit/models/vae_train.h"
#include "avkit/nn/checkpoint.h"
#include "avkit/nn/trainer.h"
#include "avkit/models/dit.h"
#include "avkit/diffusion/dit_train.h"
#include "avkit/dist/dist.h"
#include "avkit/dist/comm.h"
#include "avkit/io/video.h"

#include <signal.h>

static void usage(void)
{
    printf("Usage: av-train --model vae [options] -o MODEL.safetensors INPUT...\n"
           "       av-train --model dit [options] -o MODEL.safetensors LATENTS...\n"
           "Train the frame-wise VAE on the frames of the clips in INPUT (clip\n"
           "manifests or tensor streams of clip records; '-' is a stream on stdin),\n"
           "or the video diffusion transformer on the latent streams av-vaeenc writes.\n"
           "\n"
           "  -m, --model NAME        the model to train: vae or dit\n"
           "  -o, --output FILE       checkpoint to write (and FILE's .optim.safetensors)\n"
           "      --config FILE       JSON config of a new model (vae: diffusers\n"
           "                          config.json; default: small)\n"
           "      --init FILE         start from these weights (no optimizer state)\n"
           "      --resume FILE       continue from this checkpoint and its optimizer file\n"
           "      --steps N           train until step N (default 400)\n"
           "      --batch N           crops (vae, default 8) or clips (dit, default 4)\n"
           "                          per step\n"
           "      --crop N            crop size in pixels (default 64)\n"
           "      --lr X              AdamW learning rate (default 1e-3, dit 1e-4)\n"
           "      --warmup N          linear learning-rate warmup steps (default 20)\n"
           "      --schedule S        after warmup: cosine (down to lr/10 at --steps)\n"
           "                          or constant (default cosine)\n"
           "      --wd X              AdamW weight decay (default 0; dit 0.01, on\n"
           "                          matrices only)\n"
           "      --clip X            clip the gradient norm to X, 0 = off (default 1)\n"
           "      --kl-weight X       weight of the KL term (default 1e-6)\n"
           "      --frames-per-clip N frames decoded from each clip (default 8)\n"
           "      --augment           permute each crop's color channels and mirror it\n"
           "                          at random\n"
           "      --base N            scale frames as av-vaeenc --base N does (default:\n"
           "                          full size)\n"
           "      --val FILE          held-out clips: print the reconstruction PSNR of\n"
           "                          2 whole frames of each (dit: held-out latents,\n"
           "                          print the loss at t = 0.1 ... 0.9)\n"
           "      --caption-dropout P dit: empty caption with probability P (default 0.1)\n"
           "      --shift S           dit: shift of t, t' = S t / (1 + (S - 1) t) (default 1)\n"
           "      --ema X             dit: EMA decay of the weights (default 0.999)\n"
           "      --precision P       dit: fp32 or bf16 (bf16 matrix products, the rest\n"
           "                          in f32; fp32 where the CPU has no bf16) (default fp32)\n"
           "      --log FILE          dit: CSV of every step's loss, gradient norm,\n"
           "                          learning rate and speed\n"
           "      --zero N            dit under mpirun: 1 = shard the AdamW state over the\n"
           "                          ranks (ZeRO-1), 2 = the gradients too (ZeRO-2),\n"
           "                          0 = none (default 0)\n"
           "      --sp N              dit under mpirun: sequence parallel over groups of N\n"
           "                          consecutive ranks (Ulysses; data parallel across\n"
           "                          the groups; N divides the heads) (default 1)\n"
           "      --recompute R       dit: recompute that share (0 to 1) of the blocks'\n"
           "                          forward in the backward, to save memory (default 0)\n"
           "      --freeze-text       dit: keep the text encoder as it starts (new: its\n"
           "                          random weights; --init, --resume: the file's)\n"
           "      --save-every N      also write a checkpoint every N steps\n"
           "      --log-every N       with -v, print the loss every N steps (default 10)\n"
           "      --seed N            seed of the initialization and the crops (default 0)\n"
           "  -v, --verbose           print progress on stderr\n"
           "  -h, --help              this help\n"
           "      --version           print the version\n");
    exit(0);
}

typedef struct opts {
    const char *model, *out, *config, *init, *resume, *val, *log;
    double caption_dropout, shift, ema;
    int zero, sp;
    double recompute;
    int freeze_text;
    long steps, batch, crop, warmup, frames_per_clip, save_every, log_every, base;
    int augment;
    double lr, wd, clip, kl_weight;
    int cosine;
    long long seed;
    int seed_given;
    int precision;
    char **inputs;
    int ninputs;
} opts;

/* Decode up to n frames spread evenly over every clip of the inputs; with
 * base > 0 scaled to cover the clip's size bucket (as av-vaeenc does, with
 * the unit 2f), uncropped. */
static void load_frames(avk_frame_pool *pool, char **inputs, int ninputs, int per_clip, int base,
                        int unit)
{
    for (int i = 0; i < ninputs; i++) {
        avk_clipsrc *s = avk_clipsrc_open(inputs[i], AVK_CLIPS_AUTO);
        if (!s)
            avk_die_lib();
        avk_clip c;
        int rc;
        while ((rc = avk_clipsrc_next(s, &c)) > 0) {
            long len = c.end - c.start;
            int n = len < per_clip ? (int)len : per_clip;
            long *idx = avk_xmalloc((size_t)n * sizeof *idx);
            /* centers of n equal parts: start + (2k+1) len / 2n, computed as
             * quotient and remainder so that no product can overflow */
            long q = len / (2 * n), rem = len % (2 * n);
            for (int k = 0; k < n; k++)
                idx[k] = c.start + (2 * k + 1) * q + (2 * k + 1) * rem / (2 * n);
            uint8_t *rgb;
            int w, h, sw = 0, sh = 0;
            if (base > 0) {
                avk_video_info info;
                if (avk_video_probe(c.video, &info) < 0)
                    avk_die_lib();
                avk_bucket b = avk_bucket_pick(base, unit, info.width, info.height);
                avk_bucket_cover(b, info.width, info.height, &sw, &sh);
            }
            if (avk_decode_frames(c.video, idx, n, sw, sh, &rgb, &w, &h) < 0)
                avk_die_lib();
            avk_frame_pool_add(pool, w, h, rgb, n);
            avk_info(2, "%s: %d frames of %dx%d", c.rec.key, n, w, h);
            free(rgb);
            free(idx);
            avk_clip_free(&c);
        }
        if (rc < 0)
            avk_die_lib();
        avk_clipsrc_close(s);
    }
}

/* The model to start from: resumed (an interrupted checkpoint commit is
 * finished first), initialized from weights, or new. */
static avk_vae *start_model(const opts *op)
{
    avk_vae *v;
    if (op->resume) {
        if (avk_ckpt_recover(op->resume) < 0 || !(v = avk_vae_load_strict(op->resume, NULL)))
            avk_die_lib();
        return v;
    }
    if (op->init) {
        v = avk_vae_load_strict(op->init, op->config);
        if (!v)
            avk_die_lib();
    } else {
        avk_vae_config c = avk_vae_config_default();
        if (op->config) {
            FILE *fp = avk_in_open(op->config, 0);
            if (!fp)
                avk_die_lib();
            avk_buf b = {0};
            char chunk[4096];
            size_t n;
            while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
                avk_buf_append(&b, chunk, n);
            avk_in_close(fp);
            if (avk_vae_config_parse(&c, (const char *)b.data, b.len, op->config) < 0)
                avk_die_lib();
            avk_buf_free(&b);
        }
        v = avk_vae_new(&c);
        if (!v)
            avk_die_lib();
        avk_vae_init(v, (uint64_t)op->seed);
    }
    return v;
}

/* --model dit: the options into the library's DiT trainer. */
static int train_dit(const opts *op)
{
    avk_dit_train_opts o = avk_dit_train_defaults();
    o.out = op->out;
    o.config = op->config;
    o.init = op->init;
    o.resume = op->resume;
    o.val = op->val;
    o.log = op->log;
    o.inputs = op->inputs;
    o.ninputs = op->ninputs;
    o.steps = op->steps;
    if (op->batch > 0)
        o.batch = op->batch;
    if (op->lr >= 0)
        o.lr = op->lr;
    if (op->wd >= 0)
        o.wd = op->wd;
    o.warmup = op->warmup;
    o.save_every = op->save_every;
    o.log_every = op->log_every;
    o.clip = op->clip;
    o.cosine = op->cosine;
    o.seed = (uint64_t)op->seed;
    o.caption_dropout = op->caption_dropout;
    o.shift = op->shift;
    o.ema = op->ema;
    o.seed_given = op->seed_given;
    o.zero = op->zero;
    o.sp = op->sp;
    o.recompute = op->recompute;
    o.freeze_text = op->freeze_text;
    if (avk_dist_size() > 1)
        o.dp = avk_comm_world();   /* data parallel over every rank of the job */
    o.precision = op->precision;
    int signo = 0;
    int rc = avk_dit_train(&o, stdout, &signo);
    int lead = avk_dist_rank() == 0;
    if (rc < 0 || rc == AVK_TRAIN_PEER_FAILED) {
        /* every rank knows it failed: the failing one says why, and the
         * others wait for that before exiting (mpirun ends the job at the
         * first rank's exit, which must not cut the message short) */
        if (rc < 0) {
            avk_warn_lib();
            fflush(stderr);
        }
        if (o.dp)
            avk_comm_barrier(o.dp);
        avk_dist_finalize();
        exit(1);
    }
    avk_dist_finalize();
    if (rc == AVK_TRAIN_STOPPED) {
        if (lead)
            avk_warn("%s: checkpoint written to %s", strsignal(signo), op->out);
        signal(signo, SIG_DFL);
        raise(signo);
        return 1;
    }
    if (fflush(stdout) != 0)
        avk_die(1, "standard output: write error");
    return 0;
}

int main(int argc, char **argv)
{
    avk_tool_init(argv[0]);
    opts op = {0};
    op.steps = 400;
    op.batch = -1;      /* model defaults where these are left out */
    op.crop = 64;
    op.warmup = 20;
    op.frames_per_clip = 8;
    op.log_every = 10;
    op.lr = -1;
    op.wd = -1;
    op.caption_dropout = 0.1;
    op.shift = 1.0;
    op.ema = 0.999;
    op.clip = 1.0;
    op.kl_weight = 1e-6;
    op.cosine = 1;
    enum { O_CONFIG = 256, O_INIT, O_RESUME, O_STEPS, O_BATCH, O_CROP, O_LR, O_WARMUP, O_WD,
           O_CLIP, O_KL, O_FPC, O_VAL, O_SAVE, O_LOG, O_SEED, O_SCHED, O_BASE, O_AUG, O_VERSION,
           O_DROP, O_SHIFT, O_EMA, O_CSV, O_ZERO, O_PREC, O_SP, O_RECOMP, O_FREEZE };
    static const struct option lo[] = {
        {"model", required_argument, 0, 'm'}, {"output", required_argument, 0, 'o'},
        {"config", required_argument, 0, O_CONFIG}, {"init", required_argument, 0, O_INIT},
        {"resume", required_argument, 0, O_RESUME}, {"steps", required_argument, 0, O_STEPS},
        {"batch", required_argument, 0, O_BATCH}, {"crop", required_argument, 0, O_CROP},
        {"lr", required_argument, 0, O_LR}, {"warmup", required_argument, 0, O_WARMUP},
        {"wd", required_argument, 0, O_WD}, {"clip", required_argument, 0, O_CLIP},
        {"kl-weight", required_argument, 0, O_KL},
        {"frames-per-clip", required_argument, 0, O_FPC}, {"augment", no_argument, 0, O_AUG}, {"val", required_argument, 0, O_VAL},
        {"save-every", required_argument, 0, O_SAVE}, {"log-every", required_argument, 0, O_LOG},
        {"seed", required_argument, 0, O_SEED}, {"schedule", required_argument, 0, O_SCHED},
        {"base", required_argument, 0, O_BASE}, {"verbose", no_argument, 0, 'v'},
        {"caption-dropout", required_argument, 0, O_DROP}, {"shift", required_argument, 0, O_SHIFT},
        {"ema", required_argument, 0, O_EMA}, {"log", required_argument, 0, O_CSV},
        {"zero", required_argument, 0, O_ZERO},
        {"precision", required_argument, 0, O_PREC},
        {"sp", required_argument, 0, O_SP}, {"recompute", required_argument, 0, O_RECOMP},
        {"freeze-text", no_argument, 0, O_FREEZE},
        {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "m:o:vh", lo, NULL)) != -1) {
        switch (ch) {
        case 'm': op.model = optarg; break;
        case 'o': op.out = optarg; break;
        case O_CONFIG: op.config = optarg; break;
        case O_INIT: op.init = optarg; break;
        case O_RESUME: op.resume = optarg; break;
        case O_STEPS: op.steps = avk_parse_long("--steps", optarg, 0, 100000000); break;
        case O_BATCH: op.batch = avk_parse_long("--batch", optarg, 1, 4096); break;
        case O_CROP: op.crop = avk_parse_long("--crop", optarg, 1, 4096); break;
        case O_LR: op.lr = avk_parse_double("--lr", optarg, 0, 10); break;
        case O_WARMUP: op.warmup = avk_parse_long("--warmup", optarg, 0, 100000000); break;
        case O_WD: op.wd = avk_parse_double("--wd", optarg, 0, 10); break;
        case O_CLIP: op.clip = avk_parse_double("--clip", optarg, 0, 1e9); break;
        case O_KL: op.kl_weight = avk_parse_double("--kl-weight", optarg, 0, 1e3); break;
        case O_FPC: op.frames_per_clip = avk_parse_long("--frames-per-clip", optarg, 1, 100000); break;
        case O_VAL: op.val = optarg; break;
        case O_AUG: op.augment = 1; break;
        case O_SAVE: op.save_every = avk_parse_long("--save-every", optarg, 0, 100000000); break;
        case O_LOG: op.log_every = avk_parse_long("--log-every", optarg, 1, 100000000); break;
        case O_SEED:
            op.seed = avk_parse_long("--seed", optarg, 0, 0x7fffffffL);
            op.seed_given = 1;
            break;
        case O_BASE: op.base = avk_parse_long("--base", optarg, 0, 8192); break;
        case O_SCHED:
            if (strcmp(optarg, "cosine") != 0 && strcmp(optarg, "constant") != 0)
                avk_usage_error("--schedule: '%s' is not cosine or constant", optarg);
            op.cosine = strcmp(optarg, "cosine") == 0;
            break;
        case O_DROP: op.caption_dropout = avk_parse_double("--caption-dropout", optarg, 0, 1); break;
        case O_SHIFT: op.shift = avk_parse_double("--shift", optarg, 0.01, 100); break;
        case O_EMA: op.ema = avk_parse_double("--ema", optarg, 0, 1); break;
        case O_CSV: op.log = optarg; break;
        case O_ZERO: op.zero = (int)avk_parse_long("--zero", optarg, 0, 2); break;
        case O_SP: op.sp = (int)avk_parse_long("--sp", optarg, 1, 4096); break;
        case O_RECOMP: op.recompute = avk_parse_double("--recompute", optarg, 0, 1); break;
        case O_FREEZE: op.freeze_text = 1; break;
        case O_PREC:
            if ((op.precision = avk_dit_precision_parse(optarg)) < 0)
                avk_usage_error("--precision: '%s' is not fp32 or bf16", optarg);
            break;
        case 'v': avk_verbose++; break;
        case 'h': usage(); break;
        case O_VERSION: avk_print_version(); break;
        default: avk_usage_try();
        }
    }
    if (!op.model)
        avk_usage_error("--model is required (vae or dit)");
    if (strcmp(op.model, "vae") != 0 && strcmp(op.model, "dit") != 0)
        avk_usage_error("unknown model '%s' (vae or dit)", op.model);
    if (op.precision != AVK_DIT_FP32 && strcmp(op.model, "dit") != 0)
        avk_usage_error("--precision bf16 is for --model dit");
    if ((op.sp > 1 || op.recompute > 0 || op.freeze_text) && strcmp(op.model, "dit") != 0)
        avk_usage_error("--sp, --recompute and --freeze-text are for --model dit");
    if (!op.out)
        avk_usage_error("-o MODEL.safetensors is required");
    if (strcmp(op.out, "-") == 0)
        avk_usage_error("-o: a checkpoint must be a file (it has an optimizer file beside it)");
    /* under mpirun: data parallel (DiT only), MPI started after the
     * options so that usage errors need no launcher's cooperation */
    if (avk_dist_init(&argc, &argv) < 0)
        avk_die_lib();
    if (avk_dist_size() > 1 && strcmp(op.model, "dit") != 0) {
        if (avk_dist_rank() == 0)
            avk_warn("--model %s does not train data parallel: run it without mpirun "
                     "(or -np 1)", op.model);
        avk_dist_finalize();
        exit(2);
    }
    /* finish a checkpoint commit that a killed run left half done before
     * anything else can touch its files (rank 0 alone; the others wait) */
    int bad = avk_dist_rank() == 0 && avk_ckpt_recover(op.out) < 0;
    int agreed = avk_train_agree(avk_dist_size() > 1 ? avk_comm_world() : NULL, bad);
    if (agreed != 0) {
        avk_dist_finalize();
        if (agreed < 0)
            avk_die_lib();
        exit(1);
    }
    if (!(op.out = avk_output_file(op.out)))   /* now, not after training */
        avk_die_lib();
    if (optind >= argc)
        avk_usage_error("no input clips");
    if (op.resume && (op.init || op.config))
        avk_usage_error("--resume takes the model from the checkpoint: no --init or --config");
    op.inputs = argv + optind;
    op.ninputs = argc - optind;
    if (strcmp(op.model, "dit") == 0)
        return train_dit(&op);
    if (op.batch < 0)
        op.batch = 8;
    if (op.lr < 0)
        op.lr = 1e-3;
    if (op.wd < 0)
        op.wd = 0;

    avk_vae *v = start_model(&op);
    avk_train_opts to = avk_train_opts_default();
    to.out = op.out;
    to.model = "vae";
    to.steps = op.steps;
    to.sched.lr = op.lr;
    to.sched.warmup = op.warmup;
    to.sched.kind = op.cosine ? AVK_LR_COSINE : AVK_LR_CONSTANT;
    to.sched.min_ratio = 0.1;
    to.adamw.weight_decay = op.wd;
    to.clip = op.clip;
    to.seed = (uint64_t)op.seed;
    to.seed_given = op.seed_given;
    to.save_every = op.save_every;
    to.log_every = op.log_every;
    to.resume = op.resume;
    int f = avk_vae_factor(&v->cfg);
    if (op.crop % f)
        avk_usage_error("--crop %ld is not a multiple of the latent cell (%d pixels)", op.crop, f);

    avk_frame_pool pool = {0};
    avk_vae_task vt;
    avk_train_task task;
    avk_vae_task_init(&vt, &task, v, &pool, (int)op.batch, (int)op.crop, op.augment,
                      op.kl_weight);
    if (op.resume && avk_train_resume(&to, &task) < 0)
        avk_die_lib();
    load_frames(&pool, op.inputs, op.ninputs, (int)op.frames_per_clip, (int)op.base, 2 * f);
    if (pool.n == 0)
        avk_die(1, "%s: no clips", op.inputs[0]);
    if (avk_frame_pool_min_side(&pool) < op.crop)
        avk_die(1, "%s: frames as small as %d pixels on a side cannot give %ldx%ld crops",
                op.inputs[0], avk_frame_pool_min_side(&pool), op.crop, op.crop);
    avk_info(1, "%d frames, model of %lld parameters, steps %lld..%ld", pool.n,
             (long long)v->pt->total, (long long)v->pt->step + 1, op.steps);

    int signo = 0;
    int rc = avk_train(&to, &task, &signo);
    if (rc < 0)
        avk_die_lib();
    if (rc == AVK_TRAIN_STOPPED) {
        avk_warn("%s at step %lld: checkpoint written to %s", strsignal(signo),
                 (long long)v->pt->step, op.out);
        signal(signo, SIG_DFL);
        raise(signo);
        return 1;
    }

    if (op.val) {
        avk_frame_pool vp = {0};
        char *vin[1] = {(char *)op.val};
        load_frames(&vp, vin, 1, 2, (int)op.base, 2 * f);
        double psnr = avk_vae_psnr(v, &vp);
        if (psnr < 0)
            avk_die_lib();
        printf("psnr\t%.2f\tframes\t%d\n", psnr, vp.n);
        avk_frame_pool_free(&vp);
    }
    avk_vae_task_free(&vt);
    avk_frame_pool_free(&pool);
    avk_vae_free(v);
    avk_dist_finalize();   /* one rank under mpirun */
    return 0;
}
