/* String-keyed hash map (see include/avkit/util/strmap.h). */
#include <stdlib.h>
#include <string.h>
#include "avkit/util/common.h"
#include "avkit/util/strmap.h"

/* FNV-1a over the bytes, then a final mix. */
static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    h ^= h >> 31;
    h *= 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 29);
}

/* An empty map. */
void avk_strmap_init(avk_strmap *m)
{
    memset(m, 0, sizeof *m);
    m->cap = 64;
    m->slots = avk_xcalloc(m->cap, sizeof *m->slots);
}

/* Free the keys and tables. */
void avk_strmap_free(avk_strmap *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->vals);
    free(m->hashes);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* Slot holding key, or the empty slot where it would go. */
static size_t find_slot(const avk_strmap *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    while (m->slots[i]) {
        size_t k = m->slots[i] - 1;
        if (m->hashes[k] == h && strcmp(m->keys[k], key) == 0)
            break;
        i = (i + 1) & mask;
    }
    return i;
}

/* The value of key, or -1. */
long avk_strmap_get(const avk_strmap *m, const char *key)
{
    if (!m->slots)
        return -1;
    size_t i = find_slot(m, key, hash_str(key));
    return m->slots[i] ? m->vals[m->slots[i] - 1] : -1;
}

/* Add key unless present; grow the table past half load. */
long avk_strmap_add(avk_strmap *m, const char *key, long val)
{
    if (!m->slots)
        avk_strmap_init(m);
    uint64_t h = hash_str(key);
    size_t i = find_slot(m, key, h);
    if (m->slots[i])
        return m->vals[m->slots[i] - 1];
    if (m->n == m->keys_cap) {
        m->keys_cap = m->keys_cap ? m->keys_cap * 2 : 64;
        m->keys = avk_xrealloc(m->keys, m->keys_cap * sizeof *m->keys);
        m->vals = avk_xrealloc(m->vals, m->keys_cap * sizeof *m->vals);
        m->hashes = avk_xrealloc(m->hashes, m->keys_cap * sizeof *m->hashes);
    }
    m->keys[m->n] = avk_xstrdup(key);
    m->vals[m->n] = val;
    m->hashes[m->n] = h;
    m->slots[i] = ++m->n;
    if (m->n * 2 > m->cap) {
        size_t cap = m->cap * 2;
        size_t *slots = avk_xcalloc(cap, sizeof *slots);
        for (size_t k = 0; k < m->n; k++) {
            size_t j = (size_t)m->hashes[k] & (cap - 1);
            while (slots[j])
                j = (j + 1) & (cap - 1);
            slots[j] = k + 1;
        }
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
    }
    return -1;
}
