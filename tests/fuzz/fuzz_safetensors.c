// fuzz-sources: lib/io/safetensors.c lib/util/json.c lib/util/common.c
/* libFuzzer target: parse arbitrary bytes as a safetensors file image.
 * Every input must end in a parsed file or an error message naming the
 * input, never a crash, a leak or a read outside the buffer. Accepted files
 * are checked further: each tensor lies inside the buffer and is found by
 * name, and writing them again gives a file that parses to the same
 * tensors. */
#include "avkit/io/safetensors.h"
#include "avkit/util/common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Write the parsed tensors to a temp file and check they read back alike. */
static void round_trip(const avk_st_file *f)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_st_%d.safetensors", (int)getpid());
    avk_st_writer *w = avk_st_writer_new();
    for (int i = 0; i < f->nmeta; i++)
        avk_st_writer_meta(w, f->meta[i].key, f->meta[i].value);
    for (int i = 0; i < f->ntensors; i++)
        avk_st_writer_add(w, f->tensors[i].name, f->tensors[i].dtype,
                          f->tensors[i].ndim, f->tensors[i].shape, f->tensors[i].data);
    if (avk_st_writer_write(w, path) != 0)
        abort();
    avk_st_file *g = avk_st_open(path);
    if (!g || g->ntensors != f->ntensors || g->nmeta != f->nmeta)
        abort();
    for (int i = 0; i < f->ntensors; i++) {
        const avk_st_tensor *a = &f->tensors[i], *b = &g->tensors[i];
        if (strcmp(a->name, b->name) != 0 || a->dtype != b->dtype ||
            a->ndim != b->ndim || a->nbytes != b->nbytes ||
            memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof a->shape[0]) != 0 ||
            (a->nbytes && memcmp(a->data, b->data, a->nbytes) != 0))
            abort();
    }
    for (int i = 0; i < f->nmeta; i++) {
        const char *v = avk_st_meta(g, f->meta[i].key);
        if (!v || strcmp(v, f->meta[i].value) != 0)
            abort();
    }
    avk_st_close(g);
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a private copy, so reads past the end are caught exactly */
    uint8_t *copy = malloc(size ? size : 1);
    if (size)
        memcpy(copy, data, size);
    avk_st_file *f = avk_st_parse_buffer(copy, size, "fuzz-input");
    if (!f) {
        if (strncmp(avk_errmsg(), "fuzz-input: ", 12) != 0)
            abort();            /* every error names the file */
    } else {
        for (int i = 0; i < f->ntensors; i++) {
            const avk_st_tensor *t = &f->tensors[i];
            const uint8_t *p = t->data;
            if (p < copy || p + t->nbytes > copy + size)
                abort();
            if (avk_st_find(f, t->name) != t)
                abort();
        }
        round_trip(f);
        avk_st_close(f);
    }
    free(copy);
    return 0;
}
