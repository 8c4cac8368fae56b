/* A small JSON (RFC 8259) reader and writer: parses a text into a tree of
 * values, checks UTF-8, decodes every string escape (\uXXXX surrogate
 * pairs become UTF-8), keeps integers exact up to 64 bits, and reports
 * errors with the byte offset where the text goes wrong. Used for the
 * safetensors header and for JSONL captions.
 */
#ifndef AVKIT_JSON_H
#define AVKIT_JSON_H

#include <stddef.h>
#include <stdint.h>
#include "avkit/util/common.h"

/* Nesting deeper than this is refused (it protects the stack). */
#define AVK_JSON_MAX_DEPTH 256

typedef enum avk_json_type {
    AVK_JSON_NULL, AVK_JSON_FALSE, AVK_JSON_TRUE, AVK_JSON_NUMBER,
    AVK_JSON_STRING, AVK_JSON_ARRAY, AVK_JSON_OBJECT
} avk_json_type;

typedef struct avk_json avk_json;
struct avk_json {
    avk_json_type type;
    size_t   offset;     /* byte offset of the value (plus the base given) */
    double   number;     /* NUMBER: the value as a double */
    int      is_int;     /* NUMBER: written as an integer that fits int64 */
    int64_t  integer;    /* NUMBER: the exact value when is_int */
    char    *str;        /* STRING: UTF-8, NUL-terminated (may hold NULs) */
    size_t   len;        /* STRING: bytes; ARRAY/OBJECT: number of items */
    avk_json *items;     /* ARRAY elements, OBJECT values (len of them) */
    char    **keys;      /* OBJECT keys, in text order (NUL-terminated) */
    size_t   *key_lens;  /* OBJECT key lengths (a key may hold a NUL) */
};

/* Parse exactly one JSON value (surrounded by optional whitespace) from
 * text[0..len). `what` names the input in error messages ("file: line 3");
 * offsets in messages and in avk_json.offset are text offsets plus `base`.
 * Returns a tree to free with avk_json_free, or NULL with the error set:
 * "WHAT: byte N: message". */
avk_json *avk_json_parse(const char *text, size_t len, const char *what);
avk_json *avk_json_parse_at(const char *text, size_t len, const char *what,
                            size_t base);
void avk_json_free(avk_json *v);

/* The value of the first member named `key` of an object (NULL when absent
 * or when v is not an object). */
const avk_json *avk_json_get(const avk_json *v, const char *key);
/* Exact integer value of a NUMBER; 0, or -1 when v is not an integer. */
int avk_json_int64(const avk_json *v, int64_t *out);
/* Name of a type, for messages ("object", "string", ...). */
const char *avk_json_type_name(avk_json_type t);

/* Offset of the first byte of s[0..n) that is not valid UTF-8 (overlong
 * forms, surrogates and code points above U+10FFFF are invalid); n when
 * all of it is valid. */
size_t avk_json_utf8_check(const char *s, size_t n);
/* Append `s` (n bytes, UTF-8) as a quoted JSON string to b, escaping
 * quote, backslash and control characters. */
void avk_json_write_string(avk_buf *b, const char *s, size_t n);
/* Append a value as compact JSON (numbers: exact integers, else %.17g). */
void avk_json_write(avk_buf *b, const avk_json *v);

#endif
