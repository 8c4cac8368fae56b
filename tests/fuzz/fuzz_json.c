// fuzz-sources: lib/util/json.c lib/util/common.c
/* libFuzzer target: the JSON reader on arbitrary bytes. A parse either
 * fails with a message that names the input and a byte offset, or gives a
 * tree whose compact rewrite parses again to the same rewrite. */
#include "avkit/util/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    if (size)
        memcpy(copy, data, size);
    avk_json *v = avk_json_parse(copy, size, "fuzz-input");
    if (!v) {
        if (strncmp(avk_errmsg(), "fuzz-input: byte ", 17) != 0)
            abort();
    } else {
        avk_buf a = {0}, b = {0};
        avk_json_write(&a, v);
        avk_json *w = avk_json_parse((const char *)a.data, a.len, "rewrite");
        if (!w)
            abort();
        avk_json_write(&b, w);
        if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
            abort();
        avk_json_free(w);
        avk_buf_free(&a);
        avk_buf_free(&b);
        avk_json_free(v);
    }
    free(copy);
    return 0;
}
