/* The JSON reader and writer: values, every string escape, exact integers,
 * errors with byte offsets, the nesting limit, and rewriting. */
#include "avkit/util/json.h"
#include "tap.h"

#include <string.h>

/* Parse a NUL-terminated text (NULL on error). */
static avk_json *parse(const char *text)
{
    return avk_json_parse(text, strlen(text), "t.json");
}

/* The parse fails and the message is exactly `want`. */
static void fails_with(const char *text, const char *want)
{
    avk_json *v = parse(text);
    ok(!v && strcmp(avk_errmsg(), want) == 0, "%s -> %s (got: %s)", text, want,
       v ? "success" : avk_errmsg());
    avk_json_free(v);
}

/* The string value parses to exactly these bytes. */
static void string_is(const char *text, const char *bytes, size_t n)
{
    avk_json *v = parse(text);
    ok(v && v->type == AVK_JSON_STRING && v->len == n && memcmp(v->str, bytes, n) == 0
       && v->str[n] == 0, "string %s decodes to %zu expected bytes", text, n);
    avk_json_free(v);
}

int main(void)
{
    avk_json *v = parse(" {\"a\": [1, -2.5e3, true, false, null], \"b\": {\"c\": \"d\"}} \n");
    ok(v && v->type == AVK_JSON_OBJECT && v->len == 2, "object with two members");
    const avk_json *a = avk_json_get(v, "a");
    ok(a && a->type == AVK_JSON_ARRAY && a->len == 5, "array member of five items");
    ok(a && a->items[0].is_int && a->items[0].integer == 1, "integer item");
    ok(a && !a->items[1].is_int && a->items[1].number == -2500.0, "exponent number");
    ok(a && a->items[2].type == AVK_JSON_TRUE && a->items[3].type == AVK_JSON_FALSE &&
       a->items[4].type == AVK_JSON_NULL, "true, false, null");
    ok(a && a->offset == 7 && a->items[1].offset == 11, "value offsets are byte offsets");
    const avk_json *c = avk_json_get(avk_json_get(v, "b"), "c");
    ok(c && strcmp(c->str, "d") == 0, "nested lookup");
    ok(avk_json_get(v, "zz") == NULL && avk_json_get(a, "a") == NULL,
       "missing key and non-object give NULL");
    avk_json_free(v);

    string_is("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8);
    string_is("\"\\u00e9\\u20AC\"", "\xc3\xa9\xe2\x82\xac", 5);
    string_is("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4);
    string_is("\"a\\u0000b\"", "a\0b", 3);
    string_is("\"caf\xc3\xa9 \xf0\x9f\x98\x80\"", "caf\xc3\xa9 \xf0\x9f\x98\x80", 10);

    v = parse("[9223372036854775807, -9223372036854775808, 9223372036854775808, 1.0, 1e2, -0]");
    int64_t x = 0;
    ok(v && avk_json_int64(&v->items[0], &x) == 0 && x == INT64_MAX, "INT64_MAX exact");
    ok(v && avk_json_int64(&v->items[1], &x) == 0 && x == INT64_MIN, "INT64_MIN exact");
    ok(v && avk_json_int64(&v->items[2], &x) < 0 && v->items[2].number == 9223372036854775808.0,
       "2^63 is a number but not an int64");
    ok(v && !v->items[3].is_int && !v->items[4].is_int, "1.0 and 1e2 are not integers");
    ok(v && v->items[5].is_int && v->items[5].integer == 0, "-0 is integer 0");
    avk_json_free(v);

    fails_with("", "t.json: byte 0: unexpected end of text (expected a JSON value)");
    fails_with("{\"a\":1,}", "t.json: byte 7: expected a string key in object");
    fails_with("{\"a\" 1}", "t.json: byte 5: expected ':' after object key");
    fails_with("[1 2]", "t.json: byte 3: expected ',' or ']' in array");
    fails_with("[1,", "t.json: byte 3: unexpected end of text (expected a JSON value)");
    fails_with("{\"a\":\"xyz", "t.json: byte 5: unterminated string");
    fails_with("\"a\\qb\"", "t.json: byte 2: unknown escape in string");
    fails_with("\"\\u12G4\"", "t.json: byte 1: bad \\u escape (need four hex digits)");
    fails_with("\"ab\\ud800x\"", "t.json: byte 3: high surrogate not followed by a low surrogate");
    fails_with("\"\\udc00\"", "t.json: byte 1: lone low surrogate in \\u escape");
    fails_with("\"a\tb\"", "t.json: byte 2: control character in string (escape it)");
    fails_with("\"a\xc3(\"", "t.json: byte 2: invalid UTF-8 in string");
    fails_with("\"\xed\xa0\x80\"", "t.json: byte 1: invalid UTF-8 in string");
    fails_with("\"\xc0\xaf\"", "t.json: byte 1: invalid UTF-8 in string");
    fails_with("01", "t.json: byte 1: unexpected text after the JSON value");
    fails_with("1.", "t.json: byte 2: bad number (digit expected after '.')");
    fails_with("-", "t.json: byte 0: bad number");
    fails_with("1e999", "t.json: byte 0: number out of range");
    fails_with("tru", "t.json: byte 0: unexpected character (expected a JSON value)");
    fails_with("{} x", "t.json: byte 3: unexpected text after the JSON value");
    fails_with("'a'", "t.json: byte 0: unexpected character (expected a JSON value)");

    char deep[600];
    memset(deep, '[', 300);
    memset(deep + 300, ']', 300);
    v = avk_json_parse(deep, 600, "t.json");
    ok(!v && strcmp(avk_errmsg(), "t.json: byte 256: nesting too deep") == 0,
       "nesting beyond %d refused (%s)", AVK_JSON_MAX_DEPTH, avk_errmsg());
    v = avk_json_parse(deep + 300 - AVK_JSON_MAX_DEPTH, 2 * AVK_JSON_MAX_DEPTH, "t.json");
    ok(v != NULL, "nesting of exactly %d accepted", AVK_JSON_MAX_DEPTH);
    avk_json_free(v);

    v = avk_json_parse_at("{\"a\":tru}", 9, "f.safetensors", 8);
    ok(!v && strcmp(avk_errmsg(), "f.safetensors: byte 13: unexpected character "
                    "(expected a JSON value)") == 0, "parse_at adds the base offset");

    /* the text need not be NUL-terminated: parse a prefix */
    v = avk_json_parse("123456", 3, "t.json");
    ok(v && v->integer == 123, "parse stops at the given length");
    avk_json_free(v);

    ok(avk_json_utf8_check("ab\xc3\xa9\xf0\x9f\x98\x80", 8) == 8 &&
       avk_json_utf8_check("ab\xc3(", 4) == 2 && avk_json_utf8_check("\xed\xa0\x80", 3) == 0,
       "avk_json_utf8_check finds the first bad byte");

    avk_buf b = {0};
    avk_json_write_string(&b, "q\"b\\n\n\x01\x1f\xc3\xa9", 10);
    ok(b.len == 25 && memcmp(b.data, "\"q\\\"b\\\\n\\n\\u0001\\u001f\xc3\xa9\"", 25) == 0,
       "write_string escapes quote, backslash and controls");
    avk_buf_free(&b);

    const char *doc = "{\"k\":[1,-2.5,0.10000000000000001,-0.0,\"\\u0000\\n\"],\"e\":{},\"f\":[]}";
    v = parse(doc);
    avk_json_write(&b, v);
    ok(v && b.len == strlen(doc) && memcmp(b.data, doc, b.len) == 0,
       "compact rewrite of a document is identical (%.*s)", (int)b.len, (char *)b.data);
    avk_buf_free(&b);
    avk_json_free(v);
    return done_testing();
}
