/* Internal to lib/: the bilinear shrinking of 8-bit planes behind
 * AVK_SCALE_BILINEAR. */
#ifndef AVKIT_VIDEO_SHRINK_H
#define AVKIT_VIDEO_SHRINK_H

#include <stdint.h>

/* The sampling positions and weights of one shrink (sw x sh to dw x dh),
 * worked out once for every frame of a video, and a row of scratch: use
 * a plan from one thread at a time. */
typedef struct avk_shrink_plan avk_shrink_plan;

/* A plan for sw x sh to dw x dh, dw <= sw and dh <= sh; NULL out of
 * memory. */
avk_shrink_plan *avk_shrink_plan_new(int sw, int sh, int dw, int dh);
/* Whether p shrinks sw x sh to dw x dh. */
int avk_shrink_plan_fits(const avk_shrink_plan *p, int sw, int sh, int dw, int dh);
/* Shrink a plane (rows sstride bytes apart) into dst (rows dstride
 * apart) by two-tap bilinear sampling. */
void avk_shrink_apply(avk_shrink_plan *p, const uint8_t *src, int sstride, uint8_t *dst,
                      int dstride);
void avk_shrink_plan_free(avk_shrink_plan *p);

#endif
