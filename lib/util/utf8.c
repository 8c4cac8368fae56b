/* UTF-8 checking and repair (see include/avkit/util/utf8.h). */
#include <string.h>
#include "avkit/util/utf8.h"

/* Length of the well-formed sequence at s[0..n), or 0 when ill-formed.
 * On 0, *maximal receives the length of the maximal subpart (>= 1): the
 * longest prefix that could still have begun a well-formed sequence. */
static size_t sequence_length(const unsigned char *s, size_t n, int flags,
                              size_t *maximal)
{
    unsigned c = s[0];
    *maximal = 1;
    if (c < 0x80)
        return (c == 0 && (flags & AVK_UTF8_NO_NUL)) ? 0 : 1;
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;      /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    for (size_t i = 1; i < need; i++) {
        if (i >= n)
            return 0;
        unsigned b = s[i];
        unsigned l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (b < l || b > h)
            return 0;
        *maximal = i + 1;
    }
    return need;
}

size_t avk_utf8_sequence_length(const unsigned char *s, size_t n, int flags)
{
    size_t maximal;
    return n ? sequence_length(s, n, flags, &maximal) : 0;
}

/* Scan ASCII quickly, check each multi-byte sequence by Table 3-7. */
size_t avk_utf8_valid_prefix(const unsigned char *s, size_t n, int flags)
{
    size_t i = 0, maximal;
    while (i < n) {
        /* fast path over ASCII */
        while (i < n && s[i] < 0x80 && (s[i] != 0 || !(flags & AVK_UTF8_NO_NUL)))
            i++;
        if (i >= n)
            break;
        size_t k = sequence_length(s + i, n - i, flags, &maximal);
        if (k == 0)
            return i;
        i += k;
    }
    return n;
}

/* Copy valid runs; one U+FFFD per maximal ill-formed subpart. */
size_t avk_utf8_repair(const unsigned char *s, size_t n, int flags, avk_buf *out)
{
    static const unsigned char fffd[3] = {0xEF, 0xBF, 0xBD};
    size_t i = 0, replaced = 0;
    while (i < n) {
        size_t ok = avk_utf8_valid_prefix(s + i, n - i, flags);
        avk_buf_append(out, s + i, ok);
        i += ok;
        if (i >= n)
            break;
        size_t maximal;
        sequence_length(s + i, n - i, flags, &maximal);
        avk_buf_append(out, fffd, 3);
        replaced++;
        i += maximal;
    }
    return replaced;
}

/* The UTF-8 bytes of one code point. */
int avk_utf8_put(unsigned long cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return 0;
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp <= 0x10FFFF) {
        out[0] = (unsigned char)(0xF0 | (cp >> 18));
        out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (unsigned char)(0x80 | (cp & 0x3F));
        return 4;
    }
    return 0;
}
