/* Half (IEEE binary16) and bfloat16 conversions (avkit/io/dtype.h), and
 * widening of any tensor element type to double (for summaries and
 * comparisons). */
#include "avkit/io/dtype.h"
#include "avkit/io/avt.h"

#include <string.h>

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* binary16 -> binary32, exact (subnormals, infinities and NaNs kept). */
float avt_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f)                         /* inf / NaN */
        return bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (man == 0)
            return bits_f32(sign);
        /* subnormal: value = man * 2^-24 */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

/* binary32 -> binary16, rounding to nearest even. */
uint16_t avt_f32_to_f16(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t exp = (u >> 23) & 0xff, man = u & 0x7fffff;
    if (exp == 0xff)                          /* inf / NaN (kept quiet) */
        return sign | 0x7c00 | (man ? 0x200 | (man >> 13) : 0);
    int e = (int)exp - 127 + 15;
    if (e >= 0x1f)
        return sign | 0x7c00;                 /* overflow */
    if (e <= 0) {                             /* subnormal or zero */
        if (e < -10)
            return sign;
        man |= 0x800000;
        int shift = 14 - e;                   /* 24-bit mantissa to 10-e bits */
        uint32_t half = man >> shift;
        uint32_t rest = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rest > mid || (rest == mid && (half & 1)))
            half++;
        return sign | (uint16_t)half;
    }
    uint32_t half = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rest = man & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
        half++;                               /* may carry into inf: right */
    return sign | (uint16_t)half;
}

/* bfloat16 -> binary32: the upper half of the bits. */
float avt_bf16_to_f32(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

/* binary32 -> bfloat16, rounding to nearest even; NaN stays NaN. */
uint16_t avt_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

/* A little-endian 16-bit value at p, whatever its alignment. */
static uint16_t le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

void avt_f16_to_f32_n(float *dst, const void *src, size_t n)
{
    const unsigned char *p = src;
    for (size_t i = 0; i < n; i++)
        dst[i] = avt_f16_to_f32(le16(p + 2 * i));
}

void avt_bf16_to_f32_n(float *dst, const void *src, size_t n)
{
    const unsigned char *p = src;
    for (size_t i = 0; i < n; i++)
        dst[i] = avt_bf16_to_f32(le16(p + 2 * i));
}

/* Widen n elements to double. */
void avt_to_f64(int dtype, const void *src, double *dst, size_t n)
{
    const unsigned char *p = src;
    for (size_t i = 0; i < n; i++, p += avt_dtype_size(dtype)) {
        switch (dtype) {
        case AVT_F32: { float v; memcpy(&v, p, 4); dst[i] = v; break; }
        case AVT_F64: { double v; memcpy(&v, p, 8); dst[i] = v; break; }
        case AVT_F16: { uint16_t v; memcpy(&v, p, 2); dst[i] = avt_f16_to_f32(v); break; }
        case AVT_BF16: { uint16_t v; memcpy(&v, p, 2); dst[i] = avt_bf16_to_f32(v); break; }
        case AVT_I8: dst[i] = (int8_t)*p; break;
        case AVT_U8: dst[i] = *p; break;
        case AVT_BOOL: dst[i] = *p != 0; break;
        case AVT_I16: { int16_t v; memcpy(&v, p, 2); dst[i] = v; break; }
        case AVT_U16: { uint16_t v; memcpy(&v, p, 2); dst[i] = v; break; }
        case AVT_I32: { int32_t v; memcpy(&v, p, 4); dst[i] = v; break; }
        case AVT_I64: { int64_t v; memcpy(&v, p, 8); dst[i] = (double)v; break; }
        default: dst[i] = 0; return;
        }
    }
}
