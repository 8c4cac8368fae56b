/* CRC-32 of the tensor stream: the same function as zlib's crc32()
 * (reflected polynomial 0xEDB88320), computed by libdeflate, which folds
 * with carry-less multiplication on the CPUs that have it (PCLMULQDQ, and
 * VPCLMULQDQ in newer versions) and has a table fallback elsewhere.
 * Measured against the folding code avkit carried here before and against
 * zlib by bench/crc.sh (bench/bench_crc.c): at least as fast. */
#include "avkit/io/avt.h"

#include <libdeflate.h>

/* zlib-compatible CRC-32: avt_crc32(0, NULL, 0) is 0; chains like crc32(). */
uint32_t avt_crc32(uint32_t crc, const void *buf, size_t len)
{
    return len ? libdeflate_crc32(crc, buf, len) : crc;
}
