/* Internal to lib/: the bilinear shrinking of 8-bit planes behind
 * AVK_SCALE_BILINEAR. */
#ifndef AVKIT_VIDEO_SHRINK_H
#define AVKIT_VIDEO_SHRINK_H

#include <stdint.h>

/* Shrink an 8-bit plane of sw x sh pixels (rows sstride bytes apart) to
 * dw x dh (rows dstride apart), dw <= sw and dh <= sh, by two-tap
 * bilinear sampling. 0, or -1 out of memory. */
int avk_shrink_plane(const uint8_t *src, int sstride, int sw, int sh, uint8_t *dst,
                     int dstride, int dw, int dh);

#endif
