/* av-sample: videos from the trained DiT and a prompt.
 *
 * Loads the DiT (its EMA weights when the checkpoint has them), the caption
 * vocabulary and, to decode, the VAE; tokenizes each prompt as
 * av-caption-feed does for training ([<bos>] text [<eos>], padded to the
 * model's text length with a mask); samples each video from noise drawn
 * from (seed, prompt index) alone with the flow solvers and guidance of
 * avkit/diffusion/sample.h, optionally through the diffusion cache; and
 * writes the latent stream, mp4 videos or TIFF frames, and a contact
 * sheet. Under mpirun the prompts are dealt across ranks and rank 0
 * writes them in order, so the output is the same bytes as one process's.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "avkit/util/common.h"
#include "avkit/dist/dist.h"
#include "avkit/io/avt.h"
#include "avkit/io/png.h"
#include "avkit/io/safetensors.h"
#include "avkit/io/video.h"
#include "avkit/data/bpe.h"
#include "avkit/data/buckets.h"
#include "avkit/data/clipsrc.h"
#include "avkit/nn/tensor.h"
#include "avkit/models/dit.h"
#include "avkit/models/vae.h"
#include "avkit/models/vae_train.h"
#include "avkit/diffusion/flow.h"
#include "avkit/diffusion/sample.h"
#include "avkit/diffusion/long.h"

/* --cache default: the threshold bench/cache.sh chose on the demo model
 * (README: the cache's table). */
#define CACHE_DEFAULT 0.2

static void usage(void)
{
    printf("Usage: av-sample -m DIT.safetensors [options] -p PROMPT... [-o OUT]\n"
           "Sample videos from the DiT for each prompt. OUT is a latent stream (.avt or\n"
           "'-', the default), FILE.mp4, FRAMES.tif, or with several prompts a directory.\n"
           "\n"
           "  -m, --model FILE      DiT weights (safetensors; EMA weights when present)\n"
           "      --vae FILE        VAE weights, to decode to mp4, TIFF or a sheet\n"
           "      --vocab FILE      caption vocabulary (avkit-vocab(5)) of the training data\n"
           "  -p, --prompt TEXT     a prompt (repeatable)\n"
           "  -P, --prompts FILE    prompts, one a line (blank lines skipped)\n"
           "      --frames N        video frames (default: the model's metadata)\n"
           "      --size WxH        frame size, a size bucket (default: the model's metadata)\n"
           "      --base N          bucket base resolution (default: metadata, else 256)\n"
           "      --unit N          bucket unit (default: metadata, else 2 latent cells)\n"
           "      --steps N         sampler steps (default 20)\n"
           "      --solver S        euler, heun or ab2 (default ab2)\n"
           "      --cfg X           classifier-free guidance scale; 1 = none (default 4)\n"
           "      --neg TEXT        negative prompt (default: the empty caption)\n"
           "      --shift S         timestep shift (default: metadata, else 1)\n"
           "      --seed N          noise seed (default 0)\n"
           "      --cache X         diffusion cache threshold, or 'default' (%g)\n"
           "      --long N          a long video of N frames, denoised block by block\n"
           "      --block B         --long: frames per block\n"
           "      --context C       --long: frames of the previous block attended to (default 0)\n"
           "      --no-ema          use the plain weights even if EMA weights exist\n"
           "      --no-bos-eos      captions without <bos> and <eos> (as av-caption-feed)\n"
           "      --image FILE      image-to-video: keep this TIFF as the first frame\n"
           "      --video CLIP      inpainting: keep CLIP's frames outside --mask\n"
           "      --mask FILE       inpainting mask (TIFF): white = regenerate\n"
           "  -f, --format F        mp4, tiff or avt (default: from -o)\n"
           "      --fps X           frame rate of mp4 output (default: metadata, else 25)\n"
           "      --sheet FILE.png  a contact sheet of every video with its prompt\n"
           "  -o, --output PATH     output (default '-': the latent stream)\n"
           "  -v, --verbose         transformer evaluations per video on stderr\n"
           "  -h, --help            this help\n"
           "      --version         print the version\n", CACHE_DEFAULT);
    exit(0);
}

enum { FMT_AVT, FMT_MP4, FMT_TIFF };
#define SHEET_COLS 8

typedef struct opts {
    const char *model, *vae, *vocab, *prompts_file, *size, *neg, *image, *video, *mask;
    const char *format, *sheet, *out;
    char **prompts;
    int nprompts;
    long frames, base, unit, steps, seed;
    double cfg, shift, cache, fps;
    int solver, no_ema, bos_eos, solver_given;
    long long_frames, block, context;
} opts;

/* Everything the work on each prompt needs, set up before any output. */
typedef struct job {
    const opts *op;
    avk_dit *m;
    avk_vae *vae;
    int fmt, dir, decode;
    int T, h, w, W, H, f, L;              /* latent frames/rows/cols, pixels, cell, text */
    int32_t *tok;                         /* [nprompts, L] */
    int *len;
    avk_encoder *enc;                     /* --long to mp4: the open video */
    int32_t utok[1024];
    int ulen;
    double scale, shift_lat, fps;         /* latent scaling of the model's space */
    float *keep_z;                        /* [C, T, h, w] */
    uint8_t *keep_mask;                   /* [T, h, w] */
    avt_writer *avt;
    uint8_t **sheet;                      /* [nprompts * SHEET_COLS] frames */
} job;

/* ---- setup ------------------------------------------------------------ */

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcasecmp(s + n - m, suf) == 0;
}

/* A number from the checkpoint metadata, or `def` when absent. */
static double meta_num(const avk_st_file *f, const char *key, double def)
{
    const char *s = avk_st_meta(f, key);
    char *e;
    if (!s)
        return def;
    double v = strtod(s, &e);
    return e != s ? v : def;
}

/* "X.safetensors" -> "X<suffix>.safetensors"; another name gets the
 * suffix and ".safetensors" appended (as av-train names its files). */
static char *beside(const char *ckpt, const char *suffix)
{
    size_t n = strlen(ckpt), e = strlen(".safetensors");
    if (n > e && !strcmp(ckpt + n - e, ".safetensors"))
        n -= e;
    return avk_xasprintf("%.*s%s.safetensors", (int)n, ckpt, suffix);
}

/* EMA tensors of another file (names after `prefix`) into m->w, when that
 * file exists and has them; it must be of the checkpoint's step. 0 when
 * absent, 1 when loaded, -1 on an error. */
static int ema_from(avk_dit *m, const avk_st_file *f, const char *path, const char *other,
                    const char *prefix)
{
    struct stat sb;
    if (stat(other, &sb) != 0)
        return 0;
    avk_st_file *o = avk_st_open(other);
    if (!o)
        return -1;
    char first[160];
    snprintf(first, sizeof first, "%s%s", prefix, m->params[0].name);
    int rc = 0;
    if (avk_st_find(o, first)) {
        const char *a = avk_st_meta(f, "step"), *b = avk_st_meta(o, "step");
        if (a && b && strcmp(a, b))
            rc = avk_error("%s: EMA of step %s, but %s is of step %s (--no-ema for the "
                           "plain weights)", other, b, path, a);
        else
            rc = avk_dit_read_tensors(m, o, prefix, m->w) < 0 ? -1 : 1;
    }
    avk_st_close(o);
    if (rc == 1)
        avk_info(1, "%s: EMA weights from %s", path, other);
    return rc;
}

/* The EMA weights into m->w, from the first place that has them: the
 * checkpoint itself ("ema." tensors), the EMA file av-train writes beside
 * it (X.ema.safetensors), or the optimizer file ("ema." tensors of
 * X.optim.safetensors, an earlier layout). 0 when there are none (the
 * plain weights stay), 1 when loaded, -1 on an error. */
static int load_ema(avk_dit *m, const avk_st_file *f, const char *path)
{
    char first[128];
    snprintf(first, sizeof first, "ema.%s", m->params[0].name);
    if (avk_st_find(f, first)) {
        avk_info(1, "%s: EMA weights", path);
        return avk_dit_read_tensors(m, f, "ema.", m->w) < 0 ? -1 : 1;
    }
    char *e = beside(path, ".ema");
    int rc = ema_from(m, f, path, e, "");
    free(e);
    if (rc == 0) {
        char *op = beside(path, ".optim");
        rc = ema_from(m, f, path, op, "ema.");
        free(op);
    }
    return rc;
}

/* Load the DiT, and its EMA weights unless told not to. */
static avk_dit *load_model(const opts *op, avk_st_file **meta)
{
    avk_dit *m = avk_dit_load(op->model);
    if (!m)
        return NULL;
    avk_st_file *f = avk_st_open(op->model);
    if (!f) {
        avk_dit_free(m);
        return NULL;
    }
    if (!op->no_ema && load_ema(m, f, op->model) < 0) {
        avk_dit_free(m);
        avk_st_close(f);
        return NULL;
    }
    if (m->cfg.text_emb_dim > 0) {
        avk_error("%s: the model takes external text embeddings; av-sample feeds caption "
                  "tokens only", op->model);
        avk_dit_free(m);
        avk_st_close(f);
        return NULL;
    }
    *meta = f;
    return m;
}

/* The ids of a caption as training saw them, padded to L; -1 when longer
 * than L. */
static int tokenize(avk_bpe *bpe, const char *text, int bos_eos, int L, int32_t *out, int *len)
{
    avk_ids ids = {0};
    if (bos_eos)
        avk_ids_push(&ids, AVK_BPE_BOS);
    avk_bpe_encode(bpe, text, strlen(text), &ids);
    if (bos_eos)
        avk_ids_push(&ids, AVK_BPE_EOS);
    int n = (int)ids.n;
    if (n <= L) {
        memcpy(out, ids.ids, (size_t)n * sizeof *out);
        for (int i = n; i < L; i++)
            out[i] = AVK_BPE_PAD;
    }
    avk_ids_free(&ids);
    *len = n;
    return n <= L ? 0 : -1;
}

/* Read the prompts of -P (blank lines skipped) after those of -p. */
static int read_prompts(opts *op)
{
    if (!op->prompts_file)
        return 0;
    FILE *fp = avk_in_open(op->prompts_file, 0);
    if (!fp)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    long n;
    while ((n = avk_getline(&line, &cap, fp)) >= 0) {
        if (strspn(line, " \t") == (size_t)n)
            continue;
        op->prompts = avk_xrealloc(op->prompts, (size_t)(op->nprompts + 1) * sizeof *op->prompts);
        op->prompts[op->nprompts++] = avk_xstrdup(line);
    }
    free(line);
    avk_in_close(fp);
    return 0;
}

/* RGB24 of any TIFF the reader gives (gray, RGB, RGBA; 8, 16 bit or
 * float in [0, 1]), malloc'ed. */
static uint8_t *image_rgb(const avk_image *img)
{
    size_t n = (size_t)img->width * img->height;
    uint8_t *rgb = avk_xmalloc(n * 3);
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) {
            size_t k = i * img->channels + (img->channels >= 3 ? c : 0);
            double v;
            if (img->sample == AVK_SAMPLE_U8)
                v = ((const uint8_t *)img->data)[k];
            else if (img->sample == AVK_SAMPLE_U16)
                v = ((const uint16_t *)img->data)[k] / 257.0;
            else
                v = ((const float *)img->data)[k] * 255.0;
            rgb[i * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
        }
    return rgb;
}

/* Scale src (sw x sh RGB24) to cover W x H with its aspect ratio kept and
 * crop the center (as av-vaeenc fits frames to a bucket), nearest
 * neighbour; a same-size image is copied as is. */
static void fit_rgb(uint8_t *dst, int W, int H, const uint8_t *src, int sw, int sh)
{
    int cw, ch;
    avk_bucket_cover((avk_bucket){W, H}, sw, sh, &cw, &ch);
    int x0 = (cw - W) / 2, y0 = (ch - H) / 2;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int sx = (int)(((x + x0) + 0.5) * sw / cw), sy = (int)(((y + y0) + 0.5) * sh / ch);
            sx = sx < sw ? sx : sw - 1;
            sy = sy < sh ? sy : sh - 1;
            memcpy(dst + ((size_t)y * W + x) * 3, src + ((size_t)sy * sw + sx) * 3, 3);
        }
}

/* VAE latents [C, n, h, w] of n RGB24 frames of W x H, in the model's
 * space ((z - shift) * scale). */
static int encode_frames(job *j, const uint8_t *rgb, int n, float *out)
{
    int C = j->m->cfg.in_channels;
    int64_t px = (int64_t)3 * j->W * j->H, hw = (int64_t)j->h * j->w;
    float *x = avk_falloc(px), *z = avk_falloc(C * hw);
    int rc = 0;
    for (int t = 0; t < n && rc == 0; t++) {
        avk_rgb_to_planar(x, rgb + t * px, j->W, j->H);
        rc = avk_vae_encode(j->vae, x, 1, j->H, j->W, z, NULL);
        for (int c = 0; c < C && rc == 0; c++)
            for (int64_t i = 0; i < hw; i++)
                out[((int64_t)c * j->T + t) * hw + i] =
                    (float)((z[c * hw + i] - j->shift_lat) * j->scale);
    }
    avk_ffree(x);
    avk_ffree(z);
    return rc;
}

/* --image: the first latent frame kept. */
static int setup_image(job *j)
{
    avk_image img;
    if (avk_tiff_read(j->op->image, &img) < 0)
        return -1;
    uint8_t *rgb = image_rgb(&img), *fit = avk_xmalloc((size_t)j->W * j->H * 3);
    fit_rgb(fit, j->W, j->H, rgb, img.width, img.height);
    avk_image_free(&img);
    free(rgb);
    int rc = encode_frames(j, fit, 1, j->keep_z);
    free(fit);
    memset(j->keep_mask, 1, (size_t)j->h * j->w);
    return rc;
}

/* --video and --mask: every latent cell whose pixels are all black in the
 * mask (below 128 in every channel) is kept, in every frame. */
static int setup_inpaint(job *j)
{
    const opts *op = j->op;
    avk_video_info info;
    if (avk_video_probe(op->video, &info) < 0)
        return -1;
    if (info.nframes > 0 && info.nframes < j->T)
        return avk_error("%s: %lld frames, fewer than --frames %d", op->video,
                         (long long)info.nframes, j->T);
    int cw, ch, w, h;
    avk_bucket_cover((avk_bucket){j->W, j->H}, info.width, info.height, &cw, &ch);
    long *idx = avk_xmalloc((size_t)j->T * sizeof *idx);
    for (int t = 0; t < j->T; t++)
        idx[t] = t;
    uint8_t *rgb = NULL;
    int rc = avk_decode_frames(op->video, idx, j->T, cw, ch, &rgb, &w, &h);
    free(idx);
    if (rc < 0)
        return -1;
    size_t px = (size_t)j->W * j->H * 3;
    uint8_t *crop = avk_xmalloc(px * j->T);
    int x0 = (w - j->W) / 2, y0 = (h - j->H) / 2;
    for (int t = 0; t < j->T; t++)
        for (int y = 0; y < j->H; y++)
            memcpy(crop + t * px + (size_t)y * j->W * 3,
                   rgb + (size_t)t * w * h * 3 + ((size_t)(y0 + y) * w + x0) * 3, (size_t)j->W * 3);
    free(rgb);
    rc = encode_frames(j, crop, j->T, j->keep_z);
    free(crop);
    if (rc < 0)
        return -1;
    avk_image img;
    if (avk_tiff_read(op->mask, &img) < 0)
        return -1;
    uint8_t *mrgb = image_rgb(&img), *mfit = avk_xmalloc(px);
    fit_rgb(mfit, j->W, j->H, mrgb, img.width, img.height);
    avk_image_free(&img);
    free(mrgb);
    int64_t plane = (int64_t)j->h * j->w, kept = 0;
    for (int r = 0; r < j->h; r++)
        for (int c = 0; c < j->w; c++) {
            int keep = 1;
            for (int y = r * j->f; y < (r + 1) * j->f && keep; y++)
                for (int x = c * j->f; x < (c + 1) * j->f && keep; x++)
                    for (int k = 0; k < 3; k++)
                        if (mfit[((size_t)y * j->W + x) * 3 + k] >= 128)
                            keep = 0;
            for (int t = 0; t < j->T; t++)
                j->keep_mask[t * plane + (int64_t)r * j->w + c] = (uint8_t)keep;
            kept += keep;
        }
    free(mfit);
    avk_info(1, "%s: %lld of %lld latent cells kept", op->mask, (long long)kept, (long long)plane);
    return 0;
}

/* Check every input and derive the shapes; -1 (error set) before anything
 * is written. */
static int setup(job *j, const avk_st_file *meta)
{
    const opts *op = j->op;
    avk_dit *m = j->m;
    const avk_dit_config *cf = &m->cfg;
    j->L = cf->max_text_len;
    j->scale = meta_num(meta, "latent_scaling_factor", 1.0);
    j->shift_lat = meta_num(meta, "latent_shift_factor", 0.0);
    if (!(j->scale > 0) || !isfinite(j->scale) || !isfinite(j->shift_lat))
        return avk_error("%s: metadata latent_scaling_factor %g / latent_shift_factor %g",
                         op->model, j->scale, j->shift_lat);
    j->fps = op->fps > 0 ? op->fps : meta_num(meta, "fps", 25.0);

    /* the output's form */
    const char *o = op->out;
    if (op->format)
        j->fmt = !strcmp(op->format, "avt") ? FMT_AVT : !strcmp(op->format, "tiff") ? FMT_TIFF : FMT_MP4;
    else if (!strcmp(o, "-") || ends_with(o, ".avt"))
        j->fmt = FMT_AVT;
    else if (ends_with(o, ".tif") || ends_with(o, ".tiff"))
        j->fmt = FMT_TIFF;
    else
        j->fmt = FMT_MP4;
    /* several prompts, or a name without the format's extension: a directory */
    if (j->fmt == FMT_MP4)
        j->dir = op->nprompts > 1 || !ends_with(o, ".mp4");
    else if (j->fmt == FMT_TIFF)
        j->dir = op->nprompts > 1 || !(ends_with(o, ".tif") || ends_with(o, ".tiff"));
    if (j->fmt != FMT_AVT && !strcmp(o, "-"))
        return avk_error("-o -: %s output goes to files; give -o", j->fmt == FMT_MP4 ? "mp4" : "TIFF");
    j->decode = j->fmt != FMT_AVT || op->sheet;
    if (j->decode && !op->vae)
        return avk_error("decoding to %s needs --vae", j->fmt == FMT_AVT ? "a contact sheet"
                         : j->fmt == FMT_MP4 ? "mp4" : "TIFF");
    if ((op->image || op->video) && !op->vae)
        return avk_error("--%s needs --vae to encode it", op->image ? "image" : "video");

    /* the VAE and the latent cell */
    if (op->vae) {
        j->vae = avk_vae_load(op->vae, NULL);
        if (!j->vae)
            return -1;
        if (j->vae->cfg.latent_channels != cf->in_channels)
            return avk_error("%s: the VAE has %d latent channels, the DiT %s takes %d",
                             op->vae, j->vae->cfg.latent_channels, op->model, cf->in_channels);
        j->f = avk_vae_factor(&j->vae->cfg);
        long mf = (long)meta_num(meta, "vae_factor", 0);
        if (mf > 0 && mf != j->f)
            return avk_error("%s: the VAE's latent cell is %d pixels, the DiT %s was trained "
                             "on cells of %ld", op->vae, j->f, op->model, mf);
    } else {
        j->f = (int)meta_num(meta, "vae_factor", 0);
        if (j->f <= 0)
            return avk_error("%s: no vae_factor in the metadata: give --vae for the latent cell "
                             "size", op->model);
    }

    /* the size: a bucket */
    const char *size = op->size ? op->size : avk_st_meta(meta, "video_size");
    if (!size)
        return avk_error("no --size and no video_size in the metadata of %s", op->model);
    char tail;
    if (sscanf(size, "%dx%d%c", &j->W, &j->H, &tail) != 2 || j->W <= 0 || j->H <= 0)
        return avk_error("--size %s: not WxH", size);
    long base = op->base > 0 ? op->base : (long)meta_num(meta, "bucket_base", 256);
    long unit = op->unit > 0 ? op->unit : (long)meta_num(meta, "bucket_unit", 2 * j->f);
    if (base < 1 || unit < 1 || unit % j->f)
        return avk_error("bucket base %ld / unit %ld: the unit must be a multiple of the latent "
                         "cell (%d pixels)", base, unit, j->f);
    avk_bucket tab[AVK_BUCKET_MAX];
    int nb = avk_bucket_table((int)base, (int)unit, tab), found = 0;
    avk_buf list = {0};
    for (int i = 0; i < nb; i++) {
        found |= tab[i].w == j->W && tab[i].h == j->H;
        avk_buf_printf(&list, "%s%dx%d", i ? " " : "", tab[i].w, tab[i].h);
    }
    avk_buf_append(&list, "", 1);
    if (!found) {
        avk_error("--size %dx%d is not a size bucket of base %ld, unit %ld (the buckets: %s)",
                  j->W, j->H, base, unit, (char *)list.data);
        avk_buf_free(&list);
        return -1;
    }
    avk_buf_free(&list);
    j->h = j->H / j->f;
    j->w = j->W / j->f;

    /* frames: the VAE is frame-wise, so latent frames = video frames */
    j->T = op->frames > 0 ? (int)op->frames : (int)meta_num(meta, "video_frames", 0);
    if (j->T <= 0)
        return avk_error("no --frames and no video_frames in the metadata of %s", op->model);
    if (avk_dit_tokens(cf, j->T, j->h, j->w) < 0)
        return avk_error("%d frames of %dx%d (latent %dx%d) do not divide into the DiT's "
                         "patches of %dx%dx%d", j->T, j->W, j->H, j->w, j->h, cf->patch[0],
                         cf->patch[1], cf->patch[2]);

    /* the captions */
    if (!op->vocab)
        return avk_error("no vocabulary: give --vocab, the file av-caption-feed tokenized the "
                         "training captions with");
    avk_bpe *bpe = avk_bpe_load(op->vocab);
    if (!bpe)
        return -1;
    int rc = 0;
    if (avk_bpe_vocab_size(bpe) > cf->vocab_size)
        rc = avk_error("%s: %d token ids, but the DiT %s knows %d: not its vocabulary",
                       op->vocab, avk_bpe_vocab_size(bpe), op->model, cf->vocab_size);
    j->tok = avk_xmalloc((size_t)op->nprompts * j->L * sizeof *j->tok);
    j->len = avk_xmalloc((size_t)op->nprompts * sizeof *j->len);
    for (int i = 0; i < op->nprompts && rc == 0; i++)
        if (tokenize(bpe, op->prompts[i], op->bos_eos, j->L, j->tok + (size_t)i * j->L,
                     &j->len[i]) < 0)
            rc = avk_error("prompt %d (\"%s\"): %d tokens, the model takes at most %d", i,
                           op->prompts[i], j->len[i], j->L);
    if (rc == 0 && tokenize(bpe, op->neg ? op->neg : "", op->bos_eos, j->L, j->utok, &j->ulen) < 0)
        rc = avk_error("--neg: %d tokens, the model takes at most %d", j->ulen, j->L);
    avk_bpe_free(bpe);
    if (rc < 0)
        return -1;

    /* kept latents */
    if (op->image || op->video) {
        int64_t plane = (int64_t)j->T * j->h * j->w;
        j->keep_z = avk_fzeros(cf->in_channels * plane);
        j->keep_mask = avk_xcalloc((size_t)plane, 1);
        if ((op->image ? setup_image(j) : setup_inpaint(j)) < 0)
            return -1;
    }
    return 0;
}

/* ---- the work on one prompt ------------------------------------------- */

/* The item of prompt i: two ints (evaluations, skips), the latent in the
 * VAE's space [C, T, h, w] (f32), then when decoding the RGB24 frames. */
static int work(size_t i, avk_buf *out, void *ctx)
{
    job *j = ctx;
    const opts *op = j->op;
    int C = j->m->cfg.in_channels;
    int64_t plane = (int64_t)j->T * j->h * j->w, n = C * plane;
    float *x = avk_falloc(n), *eps = NULL;
    avk_sample_noise(x, n, (uint64_t)op->seed, (int64_t)i, 0);
    avk_sample_keep keep = {0}, *kp = NULL;
    if (j->keep_z) {
        eps = avk_falloc(n);
        avk_sample_noise(eps, n, (uint64_t)op->seed, (int64_t)i, 1);
        keep = (avk_sample_keep){j->keep_z, j->keep_mask, eps};
        kp = &keep;
    }
    avk_sample_opts so = {(avk_flow_solver)op->solver, (int)op->steps, op->shift, op->cfg,
                          op->cache, 1};
    avk_sample_text cond = {j->tok + i * j->L, j->len[i]}, unc = {j->utok, j->ulen};
    avk_sample_stats st;
    int rc = avk_sample_latents(j->m, &so, j->T, j->h, j->w, j->L, &cond, &unc, kp, x, &st);
    avk_ffree(eps);
    if (rc == 0 && avk_find_nonfinite(x, n) >= 0)
        rc = avk_error("prompt %zu: the sample has non-finite values (a broken model?)", i);
    if (rc < 0) {
        avk_ffree(x);
        return -1;
    }
    for (int64_t k = 0; k < n; k++)
        x[k] = (float)(x[k] / j->scale + j->shift_lat);
    int hdr[2] = {st.evals, st.skips};
    avk_buf_append(out, hdr, sizeof hdr);
    avk_buf_append(out, x, (size_t)n * sizeof *x);
    if (j->decode) {
        int64_t hw = (int64_t)j->h * j->w, px = (int64_t)3 * j->W * j->H;
        float *z = avk_falloc(C * hw), *y = avk_falloc(px);
        uint8_t *rgb = avk_xmalloc((size_t)px);
        for (int t = 0; t < j->T && rc == 0; t++) {
            for (int c = 0; c < C; c++)
                memcpy(z + c * hw, x + ((int64_t)c * j->T + t) * hw, (size_t)hw * sizeof *z);
            rc = avk_vae_decode(j->vae, z, 1, j->h, j->w, y);
            avk_planar_to_rgb(rgb, y, j->W, j->H);
            avk_buf_append(out, rgb, (size_t)px);
        }
        avk_ffree(z);
        avk_ffree(y);
        free(rgb);
    }
    avk_ffree(x);
    return rc < 0 ? -1 : 0;
}

/* ---- output ----------------------------------------------------------- */

/* Rank 0, before the first item: the stream or the directory. */
static int begin(void *ctx)
{
    job *j = ctx;
    if (j->fmt == FMT_AVT) {
        j->avt = avt_writer_open(j->op->out, 0, 0);
        return j->avt ? 0 : -1;
    }
    if (j->dir && mkdir(j->op->out, 0777) < 0 && errno != EEXIST)
        return avk_error("%s: cannot create the directory: %s", j->op->out, strerror(errno));
    return 0;
}

/* The latent record of prompt i, with what av-vaeenc -d reads. */
static int write_record(job *j, size_t i, const float *lat, int blk)
{
    const opts *op = j->op;
    char key[32], buf[64];
    if (blk < 0)
        snprintf(key, sizeof key, "%03zu", i);
    else
        snprintf(key, sizeof key, "%03zu-%05d", i, blk);
    avt_record r;
    avt_record_init(&r, key);
    if (blk >= 0) {                 /* --long: one record a block */
        snprintf(buf, sizeof buf, "%d", blk);
        avt_record_set_meta(&r, "long_block", buf);
        snprintf(buf, sizeof buf, "%ld", op->long_frames);
        avt_record_set_meta(&r, "long_frames", buf);
        snprintf(buf, sizeof buf, "%ld", op->context);
        avt_record_set_meta(&r, "long_context", buf);
    }
    avt_record_set_meta(&r, "prompt", op->prompts[i]);
    avt_record_set_meta(&r, "caption", op->prompts[i]);
    snprintf(buf, sizeof buf, "%zu", i);
    avt_record_set_meta(&r, "prompt_index", buf);
    snprintf(buf, sizeof buf, "%ld", op->seed);
    avt_record_set_meta(&r, "seed", buf);
    avt_record_set_meta(&r, "solver", avk_flow_solver_name((avk_flow_solver)op->solver));
    snprintf(buf, sizeof buf, "%ld", op->steps);
    avt_record_set_meta(&r, "steps", buf);
    snprintf(buf, sizeof buf, "%.9g", op->cfg);
    avt_record_set_meta(&r, "cfg", buf);
    snprintf(buf, sizeof buf, "%.9g", op->shift);
    avt_record_set_meta(&r, "shift", buf);
    if (op->neg)
        avt_record_set_meta(&r, "negative_prompt", op->neg);
    snprintf(buf, sizeof buf, "%dx%d", j->W, j->H);
    avt_record_set_meta(&r, "bucket", buf);
    snprintf(buf, sizeof buf, "%.9g", j->fps);
    avt_record_set_meta(&r, "vae_fps", buf);
    snprintf(buf, sizeof buf, "%d", j->T);
    avt_record_set_meta(&r, "vae_frames", buf);
    snprintf(buf, sizeof buf, "%d", j->f);
    avt_record_set_meta(&r, "vae_factor", buf);
    avt_record_set_meta(&r, "latent_kind", "generated");
    int64_t shape[4] = {j->m->cfg.in_channels, j->T, j->h, j->w};
    avt_record_add_tensor(&r, "latent", AVT_F32, 4, shape, lat);
    int rc = avt_write_record(j->avt, &r);
    avt_record_free(&r);
    return rc;
}

/* The file name of prompt i's video (or of its frame `t` for TIFF). */
static char *video_path(const job *j, size_t i, int t)
{
    const char *o = j->op->out;
    if (j->fmt == FMT_MP4)
        return j->dir ? avk_xasprintf("%s/sample-%03zu.mp4", o, i) : avk_xstrdup(o);
    if (j->dir)
        return avk_xasprintf("%s/sample-%03zu-%04d.tif", o, i, t);
    size_t n = strlen(o) - (ends_with(o, ".tiff") ? 5 : 4);
    return avk_xasprintf("%.*s-%04d.tif", (int)n, o, t);
}

/* Rank 0: prompt i's outputs, in input order. */
static int emit(size_t i, avk_buf *item, void *ctx)
{
    job *j = ctx;
    int C = j->m->cfg.in_channels, hdr[2];
    int64_t n = (int64_t)C * j->T * j->h * j->w, px = (int64_t)3 * j->W * j->H;
    memcpy(hdr, item->data, sizeof hdr);
    const float *lat = (const float *)(item->data + sizeof hdr);
    const uint8_t *frames = item->data + sizeof hdr + n * sizeof(float);
    avk_info(1, "prompt %zu: %d transformer evaluations, %d skipped by the cache", i, hdr[0],
             hdr[1]);
    if (j->fmt == FMT_AVT && write_record(j, i, lat, -1) < 0)
        return -1;
    if (j->fmt == FMT_MP4) {
        char *p = video_path(j, i, 0);
        avk_encoder *e = avk_encoder_open(p, j->W, j->H, j->fps, -1);
        free(p);
        if (!e)
            return -1;
        for (int t = 0; t < j->T; t++)
            if (avk_encoder_write(e, frames + t * px) < 0) {
                avk_encoder_abort(e);
                return -1;
            }
        if (avk_encoder_finish(e) < 0)
            return -1;
    }
    if (j->fmt == FMT_TIFF)
        for (int t = 0; t < j->T; t++) {
            char *p = video_path(j, i, t);
            avk_image img = {j->W, j->H, 3, AVK_SAMPLE_U8, (void *)(frames + t * px)};
            int rc = avk_tiff_write(p, &img, 1);
            free(p);
            if (rc < 0)
                return -1;
        }
    if (j->op->sheet) {
        int cols = j->T < SHEET_COLS ? j->T : SHEET_COLS;
        for (int c = 0; c < cols; c++) {
            int t = cols > 1 ? (int)((int64_t)c * (j->T - 1) / (cols - 1)) : 0;
            uint8_t *f = avk_xmalloc((size_t)px);
            memcpy(f, frames + t * px, (size_t)px);
            j->sheet[i * SHEET_COLS + c] = f;
        }
    }
    return 0;
}

/* Rank 0, after every item: the contact sheet. */
static int write_sheet(job *j)
{
    int rows = j->op->nprompts, cols = j->T < SHEET_COLS ? j->T : SHEET_COLS, w, h;
    const uint8_t **cells = avk_xcalloc((size_t)rows * cols, sizeof *cells);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            cells[r * cols + c] = j->sheet[r * SHEET_COLS + c];
    uint8_t *img = avk_sheet_render(cells, rows, cols, j->W, j->H,
                                    (const char *const *)j->op->prompts, &w, &h);
    int rc = avk_png_write(j->op->sheet, img, w, h);
    free(img);
    free(cells);
    return rc;
}

/* Rank 0, before the work: every output can be written (a long run must
 * not end in "cannot create"). A directory that does not exist yet is
 * checked as a new name in its parent. 0 or -1 (error set). */
static int check_outputs(const job *j)
{
    const char *o = j->op->out;
    struct stat sb;
    int rc = 0;
    if (j->dir && stat(o, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        char *p = video_path(j, 0, 0);
        rc = avk_output_check(p, 1);
        free(p);
    } else if (j->dir || j->fmt == FMT_AVT) {
        rc = avk_output_check(o, 1);
    } else {
        char *p = video_path(j, 0, 0);
        rc = avk_output_check(p, 1);
        free(p);
    }
    if (rc == 0 && j->op->sheet)
        rc = avk_output_check(j->op->sheet, 1);
    return rc;
}

/* ---- --long: one video, block by block --------------------------------- */

/* A clean block of --long, written out at once: to the VAE's space, then a
 * record, or decoded frames appended to the mp4 or written as TIFFs. */
static int emit_block(void *ctx, int blk, const float *lat)
{
    job *j = ctx;
    int C = j->m->cfg.in_channels, B = j->T;
    long left = j->op->long_frames - (long)blk * B;
    int nf = left < B ? (int)left : B;          /* the last block may run past the end */
    int64_t hw = (int64_t)j->h * j->w, n = (int64_t)C * nf * hw, px = (int64_t)3 * j->W * j->H;
    float *x = avk_falloc(n);
    for (int c = 0; c < C; c++)
        for (int64_t k = 0; k < nf * hw; k++)
            x[c * nf * hw + k] = (float)(lat[(int64_t)c * B * hw + k] / j->scale + j->shift_lat);
    int rc = 0;
    if (j->fmt == FMT_AVT) {
        j->T = nf;                               /* the record's frames */
        rc = write_record(j, 0, x, blk);
        j->T = B;
    } else {
        B = nf;
        float *z = avk_falloc(C * hw), *y = avk_falloc(px);
        uint8_t *rgb = avk_xmalloc((size_t)px);
        for (int t = 0; t < B && rc == 0; t++) {
            for (int c = 0; c < C; c++)
                memcpy(z + c * hw, x + ((int64_t)c * B + t) * hw, (size_t)hw * sizeof *z);
            rc = avk_vae_decode(j->vae, z, 1, j->h, j->w, y);
            avk_planar_to_rgb(rgb, y, j->W, j->H);
            if (rc == 0 && j->fmt == FMT_MP4)
                rc = avk_encoder_write(j->enc, rgb);
            if (rc == 0 && j->fmt == FMT_TIFF) {
                char *p = video_path(j, 0, blk * j->T + t);
                avk_image img = {j->W, j->H, 3, AVK_SAMPLE_U8, rgb};
                rc = avk_tiff_write(p, &img, 1);
                free(p);
            }
        }
        avk_ffree(z);
        avk_ffree(y);
        free(rgb);
    }
    avk_ffree(x);
    return rc < 0 ? -1 : 0;
}

/* --long: the one prompt's video through avk_long_sample, each block
 * written as it finishes. 0 or -1 (error set). */
static int run_long(job *j)
{
    const opts *op = j->op;
    int lead = avk_dist_rank() == 0, rc = 0;
    if (lead && (rc = begin(j)) == 0 && j->fmt == FMT_MP4) {
        char *p = video_path(j, 0, 0);
        j->enc = avk_encoder_open(p, j->W, j->H, j->fps, -1);
        free(p);
        rc = j->enc ? 0 : -1;
    }
    if (avk_dist_active() && avk_dist_sum_long(rc < 0))   /* the pipeline needs every rank */
        return lead ? rc : -1;
    if (rc < 0)
        return -1;
    avk_long_opts lo = {(int)op->long_frames, (int)op->block, (int)op->context, (int)op->steps,
                        op->shift, op->cfg, (uint64_t)op->seed, 0, op->cache, 1,
                        avk_dist_active() ? avk_comm_world() : NULL};
    avk_sample_text cond = {j->tok, j->len[0]}, unc = {j->utok, j->ulen};
    avk_long_stats st;
    rc = avk_long_sample(j->m, &lo, j->h, j->w, j->L, &cond, &unc, emit_block, j, &st);
    if (rc == 0 && lead)
        avk_info(1, "--long: %lld blocks, %lld transformer evaluations, %lld skipped by the "
                 "cache", (long long)st.blocks, (long long)(st.evals + st.skips),
                 (long long)st.skips);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    long pages = 0, resident = 0;
    FILE *sm = fopen("/proc/self/statm", "r");
    if (sm) {
        if (fscanf(sm, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(sm);
    }
    if (rc == 0)
        avk_info(1, "--long: rank %d: blocks %d-%d: CPU embed %.3f s, blocks %.3f s, head %.3f s; "
                 "wall %.3f s; weights released %lld KiB, RSS at the end %ld KiB (peak %ld KiB, "
                 "at loading)", avk_dist_rank(), st.l0, st.l1 - 1, st.embed_s, st.blocks_s,
                 st.head_s, st.total_s, (long long)(st.released >> 10),
                 resident * (sysconf(_SC_PAGESIZE) >> 10), ru.ru_maxrss);
    if (j->enc) {
        if (rc == 0)
            rc = avk_encoder_finish(j->enc);
        else
            avk_encoder_abort(j->enc);
        j->enc = NULL;
    }
    return rc;
}

/* --long's limits, before anything is loaded: usage errors. */
static void check_long(opts *op)
{
    if (!op->long_frames) {
        if (op->block || op->context)
            avk_usage_error("--block and --context go with --long");
        return;
    }
    if (!op->block)
        avk_usage_error("--long needs --block B (latent frames per block)");
    if (op->context >= op->block)
        avk_usage_error("--context %ld: must be less than --block %ld", op->context, op->block);
    if (op->frames)
        avk_usage_error("--frames and --long exclude each other (--long gives the length)");
    if (op->solver_given && op->solver != AVK_FLOW_EULER)
        avk_usage_error("--long samples with --solver euler only");
    if (op->image || op->video)
        avk_usage_error("--%s with --long is not supported", op->image ? "image" : "video");
    if (op->sheet)
        avk_usage_error("--sheet with --long is not supported");
    op->solver = AVK_FLOW_EULER;
    op->frames = op->block;     /* the shapes are checked on one block */
}

/* ---- main ------------------------------------------------------------- */

/* The error on rank 0 (every rank sets the same up), then exit 1. */
static void fail(void)
{
    if (avk_dist_rank() == 0)
        avk_warn_lib();
    avk_dist_finalize();
    exit(1);
}

int main(int argc, char **argv)
{
    avk_tool_init(argv[0]);
    opts op = {0};
    op.out = "-";
    op.steps = 20;
    op.solver = AVK_FLOW_AB2;
    op.cfg = 4.0;
    op.shift = -1;
    op.cache = -1;
    op.bos_eos = 1;
    enum { O_VAE = 256, O_VOCAB, O_FRAMES, O_SIZE, O_BASE, O_UNIT, O_STEPS, O_SOLVER, O_CFG,
           O_NEG, O_SHIFT, O_SEED, O_CACHE, O_NOEMA, O_NOBOS, O_IMAGE, O_VIDEO, O_MASK, O_FPS,
           O_SHEET, O_LONG, O_BLOCK, O_CONTEXT, O_VERSION };
    static const struct option lo[] = {
        {"model", required_argument, 0, 'm'}, {"vae", required_argument, 0, O_VAE},
        {"vocab", required_argument, 0, O_VOCAB}, {"prompt", required_argument, 0, 'p'},
        {"prompts", required_argument, 0, 'P'}, {"frames", required_argument, 0, O_FRAMES},
        {"size", required_argument, 0, O_SIZE}, {"base", required_argument, 0, O_BASE},
        {"unit", required_argument, 0, O_UNIT}, {"steps", required_argument, 0, O_STEPS},
        {"solver", required_argument, 0, O_SOLVER}, {"cfg", required_argument, 0, O_CFG},
        {"neg", required_argument, 0, O_NEG}, {"shift", required_argument, 0, O_SHIFT},
        {"seed", required_argument, 0, O_SEED}, {"cache", required_argument, 0, O_CACHE},
        {"no-ema", no_argument, 0, O_NOEMA}, {"no-bos-eos", no_argument, 0, O_NOBOS},
        {"image", required_argument, 0, O_IMAGE}, {"video", required_argument, 0, O_VIDEO},
        {"mask", required_argument, 0, O_MASK}, {"format", required_argument, 0, 'f'},
        {"fps", required_argument, 0, O_FPS}, {"sheet", required_argument, 0, O_SHEET},
        {"long", required_argument, 0, O_LONG}, {"block", required_argument, 0, O_BLOCK},
        {"context", required_argument, 0, O_CONTEXT},
        {"output", required_argument, 0, 'o'}, {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "m:p:P:f:o:vh", lo, NULL)) != -1) {
        switch (ch) {
        case 'm': op.model = optarg; break;
        case O_VAE: op.vae = optarg; break;
        case O_VOCAB: op.vocab = optarg; break;
        case 'p':
            op.prompts = avk_xrealloc(op.prompts, (size_t)(op.nprompts + 1) * sizeof *op.prompts);
            op.prompts[op.nprompts++] = avk_xstrdup(optarg);
            break;
        case 'P': op.prompts_file = optarg; break;
        case O_FRAMES: op.frames = avk_parse_long("--frames", optarg, 1, 100000); break;
        case O_SIZE: op.size = optarg; break;
        case O_BASE: op.base = avk_parse_long("--base", optarg, 1, 8192); break;
        case O_UNIT: op.unit = avk_parse_long("--unit", optarg, 1, 1024); break;
        case O_STEPS: op.steps = avk_parse_long("--steps", optarg, 1, 10000); break;
        case O_SOLVER:
            op.solver = avk_flow_solver_parse(optarg);
            op.solver_given = 1;
            if (op.solver < 0)
                avk_usage_error("--solver: '%s' is not euler, heun or ab2", optarg);
            break;
        case O_CFG: op.cfg = avk_parse_double("--cfg", optarg, 0, 1000); break;
        case O_NEG: op.neg = optarg; break;
        case O_SHIFT: op.shift = avk_parse_double("--shift", optarg, 1e-3, 1000); break;
        case O_SEED: op.seed = avk_parse_long("--seed", optarg, 0, 0x7fffffffL); break;
        case O_CACHE:
            op.cache = strcmp(optarg, "default") ? avk_parse_double("--cache", optarg, 0, 1e6)
                                                 : CACHE_DEFAULT;
            break;
        case O_NOEMA: op.no_ema = 1; break;
        case O_NOBOS: op.bos_eos = 0; break;
        case O_IMAGE: op.image = optarg; break;
        case O_VIDEO: op.video = optarg; break;
        case O_MASK: op.mask = optarg; break;
        case 'f':
            if (strcmp(optarg, "mp4") && strcmp(optarg, "tiff") && strcmp(optarg, "avt"))
                avk_usage_error("--format: '%s' is not mp4, tiff or avt", optarg);
            op.format = optarg;
            break;
        case O_FPS: op.fps = avk_parse_double("--fps", optarg, 0.001, 1000); break;
        case O_SHEET: op.sheet = optarg; break;
        case O_LONG: op.long_frames = avk_parse_long("--long", optarg, 1, 100000000); break;
        case O_BLOCK: op.block = avk_parse_long("--block", optarg, 1, 100000); break;
        case O_CONTEXT: op.context = avk_parse_long("--context", optarg, 0, 100000); break;
        case 'o': op.out = optarg; break;
        case 'v': avk_verbose++; break;
        case 'h': usage(); break;
        case O_VERSION: avk_print_version(); break;
        default: avk_usage_error("unknown option");
        }
    }
    if (optind < argc)
        avk_usage_error("unexpected argument '%s' (prompts go after -p)", argv[optind]);
    if (!op.model)
        avk_usage_error("-m DIT.safetensors is required");
    if (op.image && op.video)
        avk_usage_error("--image and --video exclude each other");
    if (!op.video != !op.mask)
        avk_usage_error("--video and --mask go together");
    if (op.sheet && !ends_with(op.sheet, ".png"))
        avk_usage_error("--sheet %s: the sheet is a PNG (name it .png)", op.sheet);
    check_long(&op);
    if (avk_dist_init(&argc, &argv) < 0)
        avk_die_lib();
    if (read_prompts(&op) < 0)
        fail();
    if (op.nprompts == 0) {
        avk_error("no prompts: give -p TEXT or -P FILE");
        fail();
    }
    if (op.long_frames && op.nprompts > 1) {
        avk_error("--long samples one prompt (%d given)", op.nprompts);
        fail();
    }

    job j = {.op = &op};
    avk_st_file *meta = NULL;
    j.m = load_model(&op, &meta);
    if (!j.m)
        fail();
    if (op.shift < 0)
        op.shift = meta_num(meta, "shift", 1.0);
    int rc = setup(&j, meta);
    avk_st_close(meta);
    if (rc < 0)
        fail();
    rc = avk_dist_rank() == 0 ? check_outputs(&j) : 0;
    if (avk_dist_active() ? avk_dist_sum_long(rc < 0) : rc < 0)
        fail();
    if (op.sheet)
        j.sheet = avk_xcalloc((size_t)op.nprompts * SHEET_COLS, sizeof *j.sheet);

    avk_items it = {.n = (size_t)op.nprompts, .work = work, .begin = begin, .emit = emit, .ctx = &j};
    avk_items_result res = {0};
    rc = op.long_frames ? run_long(&j) : avk_dist_items(avk_comm_world(), &it, &res);
    int quiet = rc == 0 && res.stopped;     /* another rank failed and said why */
    if (quiet)
        rc = -1;
    if (rc == 0 && avk_dist_rank() == 0) {
        if (j.avt) {
            rc = avt_writer_finish(j.avt);
            j.avt = NULL;
        }
        if (rc == 0 && op.sheet)
            rc = write_sheet(&j);
    }
    if (j.avt)
        avt_writer_abort(j.avt);
    if (rc < 0 && !quiet)
        avk_warn_lib();
    for (int i = 0; j.sheet && i < op.nprompts * SHEET_COLS; i++)
        free(j.sheet[i]);
    free(j.sheet);
    free(j.tok);
    free(j.len);
    avk_ffree(j.keep_z);
    free(j.keep_mask);
    avk_dit_free(j.m);
    avk_vae_free(j.vae);
    for (int i = 0; i < op.nprompts; i++)
        free(op.prompts[i]);
    free(op.prompts);
    long bad = avk_dist_active() ? avk_dist_sum_long(rc < 0) : rc < 0;
    avk_dist_finalize();
    return bad ? 1 : 0;
}
