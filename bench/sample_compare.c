/* Compare two latent streams of av-sample (the same prompts and seed, two
 * settings): the mean over records of the relative L2 distance of the
 * latents, |a - b|_2 / |a|_2 with the first stream as the reference, and
 * with a VAE the mean PSNR of the decoded videos (8-bit RGB, peak 255).
 *
 *   sample_compare [--vae VAE.safetensors] REF.avt TEST.avt
 *
 * prints "records=N rel_l2=X psnr=Y identical=K": the PSNR is the mean
 * over the K' = N - K videos that differ at all (an identical video has
 * no finite PSNR, and counting it at some cap would flatter the mean);
 * "inf" when all are identical; both absent without a VAE. For
 * bench/sample.sh and bench/cache.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "avkit/util/common.h"
#include "avkit/io/avt.h"
#include "avkit/nn/tensor.h"
#include "avkit/models/vae.h"
#include "avkit/models/vae_train.h"

/* The f32 latent [C, T, h, w] of a record, or die. */
static const avt_tensor *latent(const avt_record *r, const char *path)
{
    const avt_tensor *t = avt_record_find(r, "latent");
    if (!t || t->dtype != AVT_F32 || t->ndim != 4)
        avk_die(1, "%s: record %s: no f32 latent [C, T, h, w]", path, r->key);
    return t;
}

/* The frames of a latent [C, T, h, w] decoded to RGB24, malloc'ed. */
static uint8_t *decode(avk_vae *v, const avt_tensor *t)
{
    int C = (int)t->shape[0], T = (int)t->shape[1], h = (int)t->shape[2], w = (int)t->shape[3];
    int f = avk_vae_factor(&v->cfg);
    int64_t hw = (int64_t)h * w, px = (int64_t)3 * h * f * w * f;
    const float *lat = t->data;
    float *z = avk_falloc(C * hw), *y = avk_falloc(px);
    uint8_t *rgb = avk_xmalloc((size_t)(px * T));
    for (int k = 0; k < T; k++) {
        for (int c = 0; c < C; c++)
            memcpy(z + c * hw, lat + ((int64_t)c * T + k) * hw, (size_t)hw * sizeof *z);
        if (avk_vae_decode(v, z, 1, h, w, y) < 0)
            avk_die_lib();
        avk_planar_to_rgb(rgb + k * px, y, w * f, h * f);
    }
    avk_ffree(z);
    avk_ffree(y);
    return rgb;
}

int main(int argc, char **argv)
{
    avk_tool_init("sample_compare");
    avk_vae *v = NULL;
    int a = 1;
    if (argc > 2 && !strcmp(argv[1], "--vae")) {
        if (!(v = avk_vae_load(argv[2], NULL)))
            avk_die_lib();
        a = 3;
    }
    if (argc - a != 2)
        avk_die(2, "usage: sample_compare [--vae VAE.safetensors] REF.avt TEST.avt");
    avt_reader *ra = avt_reader_open(argv[a]), *rb = avt_reader_open(argv[a + 1]);
    if (!ra || !rb)
        avk_die_lib();
    avt_record x, y;
    int n = 0, same = 0;
    double l2 = 0, psnr = 0;
    while (avt_read_record(ra, &x) == 1) {
        if (avt_read_record(rb, &y) != 1)
            avk_die(1, "%s: fewer records than %s", argv[a + 1], argv[a]);
        const avt_tensor *tx = latent(&x, argv[a]), *ty = latent(&y, argv[a + 1]);
        int64_t m = avt_tensor_numel(tx);
        if (avt_tensor_numel(ty) != m)
            avk_die(1, "record %s: the latents differ in shape", x.key);
        const float *p = tx->data, *q = ty->data;
        double num = 0, den = 0;
        for (int64_t i = 0; i < m; i++) {
            num += ((double)p[i] - q[i]) * ((double)p[i] - q[i]);
            den += (double)p[i] * p[i];
        }
        l2 += den > 0 ? sqrt(num / den) : sqrt(num);
        if (v) {
            uint8_t *da = decode(v, tx), *db = decode(v, ty);
            int64_t bytes = 3 * tx->shape[1] * tx->shape[2] * tx->shape[3] *
                            (int64_t)avk_vae_factor(&v->cfg) * avk_vae_factor(&v->cfg);
            double mse = 0;
            for (int64_t i = 0; i < bytes; i++)
                mse += ((double)da[i] - db[i]) * ((double)da[i] - db[i]);
            mse /= (double)bytes;
            if (mse > 0)
                psnr += 10 * log10(255.0 * 255.0 / mse);
            else
                same++;
            free(da);
            free(db);
        }
        avt_record_free(&x);
        avt_record_free(&y);
        n++;
    }
    if (n == 0)
        avk_die(1, "%s: no records", argv[a]);
    printf("records=%d rel_l2=%.6g", n, l2 / n);
    if (v) {
        if (same == n)
            printf(" psnr=inf");
        else
            printf(" psnr=%.2f", psnr / (n - same));
        printf(" identical=%d", same);
    }
    printf("\n");
    avt_reader_close(ra);
    avt_reader_close(rb);
    avk_vae_free(v);
    return 0;
}
