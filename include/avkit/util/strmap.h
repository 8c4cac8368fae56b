/* A hash map from NUL-terminated strings (copied) to long values: clip ids,
 * video names, record keys. Open addressing; insertion order is kept in
 * `keys` for listing. */
#ifndef AVKIT_STRMAP_H
#define AVKIT_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct avk_strmap {
    size_t   *slots;    /* index into keys + 1; 0 = empty */
    size_t    cap;      /* power of two */
    char    **keys;     /* in insertion order */
    long     *vals;
    uint64_t *hashes;
    size_t    n, keys_cap;
} avk_strmap;

void avk_strmap_init(avk_strmap *m);
void avk_strmap_free(avk_strmap *m);
/* The value of key, or -1 when absent. */
long avk_strmap_get(const avk_strmap *m, const char *key);
/* Add key with val unless present. Returns -1 when added, else the value
 * already there (which is kept). */
long avk_strmap_add(avk_strmap *m, const char *key, long val);

#endif
