/* Element conversions of the file formats: IEEE half (binary16) and
 * bfloat16 to and from f32, one value or a little-endian array at a time.
 * The one copy of these conversions in avkit: the tensor stream, the
 * safetensors loaders (the VAE's weights) and the tools use it. */
#ifndef AVKIT_DTYPE_H
#define AVKIT_DTYPE_H

#include <stddef.h>
#include <stdint.h>

/* Round to nearest even; NaN stays NaN (quiet), overflow becomes
 * infinity, subnormals are kept both ways. */
float    avt_f16_to_f32(uint16_t h);
uint16_t avt_f32_to_f16(float f);
float    avt_bf16_to_f32(uint16_t h);
uint16_t avt_f32_to_bf16(float f);

/* n values stored little-endian at src (any alignment, as in a mapped
 * file) to floats. */
void avt_f16_to_f32_n(float *dst, const void *src, size_t n);
void avt_bf16_to_f32_n(float *dst, const void *src, size_t n);

#endif
