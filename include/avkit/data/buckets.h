/* Size buckets: multi-aspect, multi-resolution frame sizes for encoding
 * clips of any shape into a few latent shapes. For a base resolution R and
 * a unit u, bucket i has the aspect ratio a_i = AVK_BUCKET_RATIOS[i] (w/h)
 * and the size
 *   w = max(u, u * round(R * sqrt(a_i) / u)),  h = max(u, u * round(R / sqrt(a_i) / u))
 * (the area stays near R^2); equal sizes are listed once. A clip goes to the
 * bucket whose aspect ratio is nearest to its own in log scale (ties: the
 * earlier bucket), is scaled to cover it and center-cropped.
 */
#ifndef AVKIT_BUCKETS_H
#define AVKIT_BUCKETS_H

#define AVK_BUCKET_MAX 16

typedef struct avk_bucket { int w, h; } avk_bucket;

/* The table for base R and unit u; returns the number of buckets. */
int avk_bucket_table(int base, int unit, avk_bucket *out);
/* The bucket for a w x h frame. */
avk_bucket avk_bucket_pick(int base, int unit, int w, int h);
/* The size to scale a w x h frame to so that it covers bucket b with its
 * aspect ratio kept (each side at least the bucket's); the crop is then
 * centered: x0 = (sw - b.w) / 2, y0 = (sh - b.h) / 2. */
void avk_bucket_cover(avk_bucket b, int w, int h, int *sw, int *sh);

#endif
