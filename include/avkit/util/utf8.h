/* UTF-8 checking and repair for text that enters the toolkit (captions,
 * vocabulary text). Well-formed means Unicode's Table 3-7: no overlong
 * forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
 */
#ifndef AVKIT_UTF8_H
#define AVKIT_UTF8_H

#include <stddef.h>
#include "avkit/util/common.h"

/* Flags for the functions below. */
enum { AVK_UTF8_NO_NUL = 1 };   /* treat U+0000 as invalid (C strings) */

/* Length (1..4) of the well-formed sequence that starts s[0..n), n >= 1;
 * 0 when it is ill-formed or cut short. The one UTF-8 validator of
 * avkit: the JSON reader and the functions below use it. */
size_t avk_utf8_sequence_length(const unsigned char *s, size_t n, int flags);

/* Length of the longest well-formed prefix of s[0..n): n when the whole
 * text is valid, else the byte offset of the first invalid byte. */
size_t avk_utf8_valid_prefix(const unsigned char *s, size_t n, int flags);

/* Append s[0..n) to out with every ill-formed part replaced by U+FFFD
 * (EF BF BD), one replacement per maximal subpart as Unicode recommends
 * (section 3.9, "U+FFFD Substitution of Maximal Subparts"). Returns the
 * number of replacements made. */
size_t avk_utf8_repair(const unsigned char *s, size_t n, int flags, avk_buf *out);

/* Encode code point cp (<= 0x10FFFF, not a surrogate) into out[0..4);
 * returns the byte count (1..4), or 0 for an invalid code point. */
int avk_utf8_put(unsigned long cp, unsigned char *out);

#endif
