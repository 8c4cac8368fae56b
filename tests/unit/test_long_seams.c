/* Seams of a long video (tests t964, bench/long-seams): read av-sample
 * --long's latent stream (one record a block, in order), and print the
 * mean frame-to-frame change, mean |x_f - x_(f-1)| over the latent, at
 * the block joins (f the first frame of a block but the first) and
 * inside the blocks, and their ratio:
 *
 *   test_long_seams LONG.avt
 *   -> "frames=N blocks=K join=X inside=Y ratio=Z" */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "avkit/util/common.h"
#include "avkit/io/avt.h"

int main(int argc, char **argv)
{
    avk_tool_init("test_long_seams");
    if (argc != 2)
        avk_die(2, "usage: test_long_seams LONG.avt");
    avt_reader *r = avt_reader_open(argv[1]);
    if (!r)
        avk_die_lib();
    avt_record rec;
    float *prev = NULL;
    int64_t plane = 0;
    int C = 0, frames = 0, blocks = 0, nj = 0, ni = 0;
    double join = 0, inside = 0;
    while (avt_read_record(r, &rec) == 1) {
        const avt_tensor *t = avt_record_find(&rec, "latent");
        if (!t || t->dtype != AVT_F32 || t->ndim != 4)
            avk_die(1, "%s: record %s: no f32 latent [C, T, h, w]", argv[1], rec.key);
        int T = (int)t->shape[1];
        if (!prev) {
            C = (int)t->shape[0];
            plane = t->shape[2] * t->shape[3];
            prev = calloc((size_t)(C * plane), sizeof *prev);
        } else if (t->shape[0] != C || t->shape[2] * t->shape[3] != plane) {
            avk_die(1, "%s: record %s: another latent shape", argv[1], rec.key);
        }
        const float *x = t->data;
        for (int f = 0; f < T; f++, frames++) {
            double d = 0;
            for (int c = 0; c < C; c++)
                for (int64_t k = 0; k < plane; k++) {
                    float v = x[((int64_t)c * T + f) * plane + k];
                    d += fabs((double)v - prev[c * plane + k]);
                    prev[c * plane + k] = v;
                }
            d /= (double)(C * plane);
            if (frames == 0)
                continue;
            if (f == 0)
                join += d, nj++;
            else
                inside += d, ni++;
        }
        blocks++;
        avt_record_free(&rec);
    }
    avt_reader_close(r);
    free(prev);
    if (nj == 0 || ni == 0)
        avk_die(1, "%s: %d blocks of %d frames: no joins or no frames inside", argv[1], blocks,
                frames);
    printf("frames=%d blocks=%d join=%.6g inside=%.6g ratio=%.4f\n", frames, blocks, join / nj,
           inside / ni, (join / nj) / (inside / ni));
    return 0;
}
