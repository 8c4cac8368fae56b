/* JSON reader and writer (RFC 8259). See include/avkit/util/json.h.
 *
 * A recursive-descent parser over a bounded byte range (the text need not
 * be NUL-terminated, so a memory-mapped header can be parsed in place).
 * Every error stops the parse and names the byte offset.
 */
#include "avkit/util/json.h"
#include "avkit/util/utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const unsigned char *p, *end, *start;
    const char *what;
    size_t base;
    int depth;
    int failed;
} parser;

/* Record an error at the parser's position (once; the first one wins). */
static void fail_at(parser *ps, const unsigned char *at, const char *msg)
{
    if (ps->failed)
        return;
    ps->failed = 1;
    avk_error("%s: byte %zu: %s", ps->what,
              (size_t)(at - ps->start) + ps->base, msg);
}

static void skip_space(parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

/* Free the contents of a value (not the value itself). */
static void json_clear(avk_json *v)
{
    if (v->type == AVK_JSON_STRING)
        free(v->str);
    if (v->type == AVK_JSON_ARRAY || v->type == AVK_JSON_OBJECT) {
        for (size_t i = 0; i < v->len; i++) {
            json_clear(&v->items[i]);
            if (v->keys)
                free(v->keys[i]);
        }
        free(v->items);
        free(v->keys);
        free(v->key_lens);
    }
    memset(v, 0, sizeof *v);
}

void avk_json_free(avk_json *v)
{
    if (!v)
        return;
    json_clear(v);
    free(v);
}

/* The first ill-formed byte of s[0..n) (n when it is all valid), by the
 * one validator of util/utf8.c. */
size_t avk_json_utf8_check(const char *s, size_t n)
{
    return avk_utf8_valid_prefix((const unsigned char *)s, n, 0);
}

/* Append code point cp as UTF-8. */
static void put_utf8(avk_buf *b, unsigned cp)
{
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) { u[0] = (unsigned char)cp; n = 1; }
    else if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | (cp >> 6));
        u[1] = (unsigned char)(0x80 | (cp & 0x3F)); n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | (cp >> 18));
        u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (unsigned char)(0x80 | (cp & 0x3F)); n = 4;
    }
    avk_buf_append(b, u, n);
}

/* Four hex digits at p (p + 4 <= end checked by the caller); -1 if not hex. */
static long hex4(const unsigned char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Parse a string at ps->p (on the opening quote) into a fresh buffer. */
static int parse_string(parser *ps, char **out, size_t *outlen)
{
    avk_buf b = {0};
    const unsigned char *open = ps->p;
    ps->p++;
    for (;;) {
        if (ps->p >= ps->end) {
            fail_at(ps, open, "unterminated string");
            goto bad;
        }
        unsigned c = *ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c < 0x20) {
            fail_at(ps, ps->p, "control character in string (escape it)");
            goto bad;
        }
        if (c != '\\') {
            /* copy a run of plain bytes, checking UTF-8 */
            const unsigned char *run = ps->p;
            while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' && *ps->p >= 0x20) {
                size_t n = avk_utf8_sequence_length(ps->p, (size_t)(ps->end - ps->p), 0);
                if (n == 0) {
                    avk_buf_append(&b, run, (size_t)(ps->p - run));
                    fail_at(ps, ps->p, "invalid UTF-8 in string");
                    goto bad;
                }
                ps->p += n;
            }
            avk_buf_append(&b, run, (size_t)(ps->p - run));
            continue;
        }
        const unsigned char *esc = ps->p;
        if (ps->end - ps->p < 2) {
            fail_at(ps, open, "unterminated string");
            goto bad;
        }
        ps->p += 2;
        char ch;
        switch (esc[1]) {
        case '"': ch = '"'; break;
        case '\\': ch = '\\'; break;
        case '/': ch = '/'; break;
        case 'b': ch = '\b'; break;
        case 'f': ch = '\f'; break;
        case 'n': ch = '\n'; break;
        case 'r': ch = '\r'; break;
        case 't': ch = '\t'; break;
        case 'u': {
            long hi = ps->end - ps->p >= 4 ? hex4(ps->p) : -1;
            if (hi < 0) {
                fail_at(ps, esc, "bad \\u escape (need four hex digits)");
                goto bad;
            }
            ps->p += 4;
            unsigned cp = (unsigned)hi;
            if (hi >= 0xDC00 && hi <= 0xDFFF) {
                fail_at(ps, esc, "lone low surrogate in \\u escape");
                goto bad;
            }
            if (hi >= 0xD800 && hi <= 0xDBFF) {
                long lo = -1;
                if (ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u')
                    lo = hex4(ps->p + 2);
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    fail_at(ps, esc, "high surrogate not followed by a low surrogate");
                    goto bad;
                }
                ps->p += 6;
                cp = 0x10000 + (((unsigned)hi - 0xD800) << 10) + ((unsigned)lo - 0xDC00);
            }
            put_utf8(&b, cp);
            continue;
        }
        default:
            fail_at(ps, esc, "unknown escape in string");
            goto bad;
        }
        avk_buf_append(&b, &ch, 1);
    }
    *outlen = b.len;
    avk_buf_append(&b, "", 1);
    *out = (char *)b.data;
    return 0;
bad:
    avk_buf_free(&b);
    return -1;
}

/* Parse a number (RFC 8259 grammar); integers are kept exact. */
static int parse_number(parser *ps, avk_json *v)
{
    const unsigned char *s = ps->p, *q = ps->p;
    int neg = 0, frac = 0;
    if (q < ps->end && *q == '-') {
        neg = 1;
        q++;
    }
    if (q >= ps->end || *q < '0' || *q > '9') {
        fail_at(ps, s, "bad number");
        return -1;
    }
    const unsigned char *digits = q;
    if (*q == '0')
        q++;
    else
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    const unsigned char *int_end = q;
    if (q < ps->end && *q == '.') {
        frac = 1;
        q++;
        if (q >= ps->end || *q < '0' || *q > '9') {
            fail_at(ps, q, "bad number (digit expected after '.')");
            return -1;
        }
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        frac = 1;
        q++;
        if (q < ps->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= ps->end || *q < '0' || *q > '9') {
            fail_at(ps, q, "bad number (digit expected in exponent)");
            return -1;
        }
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    }
    /* exact integer, with overflow checks, when there is no fraction */
    v->is_int = 0;
    if (!frac) {
        uint64_t acc = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        int fits = 1;
        for (const unsigned char *d = digits; d < int_end; d++) {
            unsigned dig = (unsigned)(*d - '0');
            if (acc > (lim - dig) / 10) {
                fits = 0;
                break;
            }
            acc = acc * 10 + dig;
        }
        if (fits) {
            v->is_int = 1;
            v->integer = neg ? (acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc)
                             : (int64_t)acc;
        }
    }
    /* the double value: strtod on a NUL-terminated copy */
    size_t n = (size_t)(q - s);
    char small[64];
    char *copy = n < sizeof small ? small : avk_xmalloc(n + 1);
    memcpy(copy, s, n);
    copy[n] = 0;
    v->number = strtod(copy, NULL);
    if (copy != small)
        free(copy);
    if (!isfinite(v->number)) {
        fail_at(ps, s, "number out of range");
        return -1;
    }
    v->type = AVK_JSON_NUMBER;
    ps->p = q;
    return 0;
}

static int parse_value(parser *ps, avk_json *v);

/* Parse an array at '['. */
static int parse_array(parser *ps, avk_json *v)
{
    size_t cap = 0;
    v->type = AVK_JSON_ARRAY;
    ps->p++;
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return 0;
    }
    for (;;) {
        if (v->len == cap) {
            cap = cap ? cap * 2 : 4;
            v->items = avk_xrealloc(v->items, cap * sizeof *v->items);
        }
        avk_json *item = &v->items[v->len];
        memset(item, 0, sizeof *item);
        v->len++;
        if (parse_value(ps, item) < 0)
            return -1;
        skip_space(ps);
        if (ps->p >= ps->end) {
            fail_at(ps, ps->p, "unterminated array (expected ',' or ']')");
            return -1;
        }
        if (*ps->p == ']') {
            ps->p++;
            return 0;
        }
        if (*ps->p != ',') {
            fail_at(ps, ps->p, "expected ',' or ']' in array");
            return -1;
        }
        ps->p++;
    }
}

/* Parse an object at '{'. Duplicate keys are kept (avk_json_get finds the
 * first); callers that care check for them. */
static int parse_object(parser *ps, avk_json *v)
{
    size_t cap = 0;
    v->type = AVK_JSON_OBJECT;
    ps->p++;
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return 0;
    }
    for (;;) {
        skip_space(ps);
        if (ps->p >= ps->end || *ps->p != '"') {
            fail_at(ps, ps->p, "expected a string key in object");
            return -1;
        }
        if (v->len == cap) {
            cap = cap ? cap * 2 : 4;
            v->items = avk_xrealloc(v->items, cap * sizeof *v->items);
            v->keys = avk_xrealloc(v->keys, cap * sizeof *v->keys);
            v->key_lens = avk_xrealloc(v->key_lens, cap * sizeof *v->key_lens);
        }
        size_t i = v->len;
        memset(&v->items[i], 0, sizeof v->items[i]);
        v->keys[i] = NULL;
        v->key_lens[i] = 0;
        v->len++;
        if (parse_string(ps, &v->keys[i], &v->key_lens[i]) < 0)
            return -1;
        skip_space(ps);
        if (ps->p >= ps->end || *ps->p != ':') {
            fail_at(ps, ps->p, "expected ':' after object key");
            return -1;
        }
        ps->p++;
        if (parse_value(ps, &v->items[i]) < 0)
            return -1;
        skip_space(ps);
        if (ps->p >= ps->end) {
            fail_at(ps, ps->p, "unterminated object (expected ',' or '}')");
            return -1;
        }
        if (*ps->p == '}') {
            ps->p++;
            return 0;
        }
        if (*ps->p != ',') {
            fail_at(ps, ps->p, "expected ',' or '}' in object");
            return -1;
        }
        ps->p++;
    }
}

/* Match a literal word (true, false, null). */
static int parse_word(parser *ps, const char *word, avk_json_type t, avk_json *v)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
        fail_at(ps, ps->p, "unexpected character (expected a JSON value)");
        return -1;
    }
    ps->p += n;
    v->type = t;
    return 0;
}

/* Parse any value at the current position (after whitespace). */
static int parse_value(parser *ps, avk_json *v)
{
    skip_space(ps);
    v->offset = (size_t)(ps->p - ps->start) + ps->base;
    if (ps->p >= ps->end) {
        fail_at(ps, ps->p, "unexpected end of text (expected a JSON value)");
        return -1;
    }
    int rc;
    switch (*ps->p) {
    case '{':
    case '[':
        if (++ps->depth > AVK_JSON_MAX_DEPTH) {
            fail_at(ps, ps->p, "nesting too deep");
            return -1;
        }
        rc = *ps->p == '{' ? parse_object(ps, v) : parse_array(ps, v);
        ps->depth--;
        return rc;
    case '"':
        v->type = AVK_JSON_STRING;
        return parse_string(ps, &v->str, &v->len);
    case 't':
        return parse_word(ps, "true", AVK_JSON_TRUE, v);
    case 'f':
        return parse_word(ps, "false", AVK_JSON_FALSE, v);
    case 'n':
        return parse_word(ps, "null", AVK_JSON_NULL, v);
    default:
        if (*ps->p != '-' && (*ps->p < '0' || *ps->p > '9')) {
            fail_at(ps, ps->p, "unexpected character (expected a JSON value)");
            return -1;
        }
        return parse_number(ps, v);
    }
}

avk_json *avk_json_parse_at(const char *text, size_t len, const char *what,
                            size_t base)
{
    parser ps = {
        .p = (const unsigned char *)text, .end = (const unsigned char *)text + len,
        .start = (const unsigned char *)text, .what = what, .base = base,
    };
    avk_json *v = avk_xcalloc(1, sizeof *v);
    if (parse_value(&ps, v) < 0) {
        avk_json_free(v);
        return NULL;
    }
    skip_space(&ps);
    if (ps.p != ps.end) {
        fail_at(&ps, ps.p, "unexpected text after the JSON value");
        avk_json_free(v);
        return NULL;
    }
    return v;
}

avk_json *avk_json_parse(const char *text, size_t len, const char *what)
{
    return avk_json_parse_at(text, len, what, 0);
}

const avk_json *avk_json_get(const avk_json *v, const char *key)
{
    if (!v || v->type != AVK_JSON_OBJECT)
        return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < v->len; i++)
        if (v->key_lens[i] == n && memcmp(v->keys[i], key, n) == 0)
            return &v->items[i];
    return NULL;
}

int avk_json_int64(const avk_json *v, int64_t *out)
{
    if (!v || v->type != AVK_JSON_NUMBER || !v->is_int)
        return -1;
    *out = v->integer;
    return 0;
}

const char *avk_json_type_name(avk_json_type t)
{
    switch (t) {
    case AVK_JSON_NULL: return "null";
    case AVK_JSON_FALSE: return "false";
    case AVK_JSON_TRUE: return "true";
    case AVK_JSON_NUMBER: return "number";
    case AVK_JSON_STRING: return "string";
    case AVK_JSON_ARRAY: return "array";
    case AVK_JSON_OBJECT: return "object";
    }
    return "?";
}

void avk_json_write_string(avk_buf *b, const char *s, size_t n)
{
    avk_buf_append(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        avk_buf_append(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': avk_buf_append(b, "\\\"", 2); break;
        case '\\': avk_buf_append(b, "\\\\", 2); break;
        case '\n': avk_buf_append(b, "\\n", 2); break;
        case '\r': avk_buf_append(b, "\\r", 2); break;
        case '\t': avk_buf_append(b, "\\t", 2); break;
        case '\b': avk_buf_append(b, "\\b", 2); break;
        case '\f': avk_buf_append(b, "\\f", 2); break;
        default: avk_buf_printf(b, "\\u%04x", c); break;
        }
    }
    avk_buf_append(b, s + run, n - run);
    avk_buf_append(b, "\"", 1);
}

void avk_json_write(avk_buf *b, const avk_json *v)
{
    switch (v->type) {
    case AVK_JSON_NULL: avk_buf_append(b, "null", 4); break;
    case AVK_JSON_FALSE: avk_buf_append(b, "false", 5); break;
    case AVK_JSON_TRUE: avk_buf_append(b, "true", 4); break;
    case AVK_JSON_NUMBER:
        if (v->is_int)
            avk_buf_printf(b, "%lld", (long long)v->integer);
        else {
            /* keep a fraction visible so the value reads back as a float */
            char num[40];
            snprintf(num, sizeof num, "%.17g", v->number);
            avk_buf_printf(b, "%s%s", num, strpbrk(num, ".e") ? "" : ".0");
        }
        break;
    case AVK_JSON_STRING: avk_json_write_string(b, v->str, v->len); break;
    case AVK_JSON_ARRAY:
    case AVK_JSON_OBJECT:
        avk_buf_append(b, v->type == AVK_JSON_ARRAY ? "[" : "{", 1);
        for (size_t i = 0; i < v->len; i++) {
            if (i)
                avk_buf_append(b, ",", 1);
            if (v->type == AVK_JSON_OBJECT) {
                avk_json_write_string(b, v->keys[i], v->key_lens[i]);
                avk_buf_append(b, ":", 1);
            }
            avk_json_write(b, &v->items[i]);
        }
        avk_buf_append(b, v->type == AVK_JSON_ARRAY ? "]" : "}", 1);
        break;
    }
}
