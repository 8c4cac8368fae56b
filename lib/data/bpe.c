/* Byte-level BPE tokenizer: vocabulary files, encoding with a per-piece
 * cache, decoding, and learning merges from a corpus.
 * See include/avkit/data/bpe.h and man/man5/avkit-vocab.5. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "avkit/data/bpe.h"

#define MAX_MERGES   (1 << 22)   /* a sanity bound for vocabulary files */
#define CACHE_MAXLEN 64          /* pieces longer than this skip the cache */
#define CACHE_LIMIT  (1u << 20)  /* entries before the cache starts over */
#define NO_RANK      INT32_MAX

enum { C_WS, C_LETTER, C_DIGIT, C_OTHER };

/* The class of every byte, for the pre-tokenization rule. */
static unsigned char byte_class[256];

/* Fill byte_class once. */
static void init_byte_class(void)
{
    static int done;
    if (done)
        return;
    for (int c = 0; c < 256; c++) {
        if (c == ' ' || (c >= '\t' && c <= '\r'))
            byte_class[c] = C_WS;
        else if (c >= '0' && c <= '9')
            byte_class[c] = C_DIGIT;
        else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c >= 0x80)
            byte_class[c] = C_LETTER;
        else
            byte_class[c] = C_OTHER;
    }
    done = 1;
}

/* End of the piece that starts at s[pos]: see the rule in bpe.h. */
size_t avk_bpe_piece_end(const unsigned char *s, size_t len, size_t pos)
{
    if (len - pos > AVK_BPE_MAX_PIECE)
        len = pos + AVK_BPE_MAX_PIECE;
    init_byte_class();
    unsigned c = byte_class[s[pos]];
    size_t k = pos + 1;
    if (c == C_WS) {
        while (k < len && byte_class[s[k]] == C_WS)
            k++;
        if (k < len) {
            if (k - pos == 1 && s[pos] == ' ') {
                unsigned c2 = byte_class[s[k]];
                size_t e = k + 1;
                while (e < len && byte_class[s[e]] == c2)
                    e++;
                return e;
            }
            if (s[k - 1] == ' ')
                return k - 1;
        }
        return k;
    }
    while (k < len && byte_class[s[k]] == c)
        k++;
    return k;
}

/* ---- small hashing helpers ------------------------------------------- */

/* A 64-bit finalizer (from MurmurHash3's fmix64) that spreads every input bit. */
static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* A hash of a short byte string, eight bytes at a time. */
static inline uint64_t hash_bytes(const unsigned char *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL * (n + 1);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x100000001B3ULL;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, p, n);
        h = (h ^ w) * 0x100000001B3ULL;
    }
    return mix64(h);
}

/* Two ids as one key; ordering keys orders pairs by (left, right). */
static inline uint64_t pair_key(int32_t a, int32_t b)
{
    return (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
}

/* Open-addressing map from a pair key to an int32 value. */
typedef struct pairmap {
    uint64_t *keys;     /* UINT64_MAX = empty */
    int32_t  *vals;
    size_t    cap, n;   /* cap is a power of two */
} pairmap;

/* An empty map with room for want keys at half load. */
static void pairmap_init(pairmap *m, size_t want)
{
    size_t cap = 16;
    while (cap < want * 2)
        cap <<= 1;
    m->keys = avk_xmalloc(cap * sizeof *m->keys);
    m->vals = avk_xmalloc(cap * sizeof *m->vals);
    memset(m->keys, 0xff, cap * sizeof *m->keys);
    m->cap = cap;
    m->n = 0;
}

/* Free the map's arrays. */
static void pairmap_free(pairmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* Slot of key: where it is, or the empty slot where it would go. */
static inline size_t pairmap_slot(const pairmap *m, uint64_t key)
{
    size_t mask = m->cap - 1, i = (size_t)mix64(key) & mask;
    while (m->keys[i] != key && m->keys[i] != UINT64_MAX)
        i = (i + 1) & mask;
    return i;
}

/* The value of key, or `missing`. */
static inline int32_t pairmap_get(const pairmap *m, uint64_t key, int32_t missing)
{
    size_t i = pairmap_slot(m, key);
    return m->keys[i] == key ? m->vals[i] : missing;
}

static void pairmap_put(pairmap *m, uint64_t key, int32_t val);

/* Double the table and re-insert every key. */
static void pairmap_grow(pairmap *m)
{
    pairmap old = *m;
    pairmap_init(m, old.cap);
    for (size_t i = 0; i < old.cap; i++)
        if (old.keys[i] != UINT64_MAX)
            pairmap_put(m, old.keys[i], old.vals[i]);
    pairmap_free(&old);
}

/* Insert or replace key's value. */
static void pairmap_put(pairmap *m, uint64_t key, int32_t val)
{
    if ((m->n + 1) * 2 > m->cap)
        pairmap_grow(m);
    size_t i = pairmap_slot(m, key);
    if (m->keys[i] != key) {
        m->keys[i] = key;
        m->n++;
    }
    m->vals[i] = val;
}

/* ---- the vocabulary ---------------------------------------------------- */

typedef struct cache_entry {
    uint64_t hash;
    uint32_t key_off, ids_off;
    uint8_t  key_len, nids;     /* key_len 0 = empty slot */
} cache_entry;

struct avk_bpe {
    int       nmerges;
    int32_t  *left, *right;     /* per merge rank */
    uint32_t *tok_off, *tok_len;/* per id: bytes in tok_bytes */
    avk_buf   tok_bytes;
    pairmap   rank;             /* pair -> merge rank */
    /* per-piece cache */
    cache_entry *cache;
    size_t    cache_cap, cache_n;
    avk_buf   cache_keys;
    avk_ids   cache_ids;
    /* scratch for the long-piece merge */
    int32_t  *sym, *nxt, *prv;
    uint64_t *heap;
    size_t    scratch_cap, heap_cap;
};

/* Append one id, growing the array. */
void avk_ids_push(avk_ids *v, int32_t id)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->ids = avk_xrealloc(v->ids, v->cap * sizeof *v->ids);
    }
    v->ids[v->n++] = id;
}

/* Free the ids and empty the array. */
void avk_ids_free(avk_ids *v)
{
    free(v->ids);
    memset(v, 0, sizeof *v);
}

/* Reserve room for n more ids. */
static inline void ids_reserve(avk_ids *v, size_t n)
{
    if (v->n + n > v->cap) {
        while (v->n + n > v->cap)
            v->cap = v->cap ? v->cap * 2 : 64;
        v->ids = avk_xrealloc(v->ids, v->cap * sizeof *v->ids);
    }
}

/* An empty vocabulary with room for `merges` merges. */
static avk_bpe *bpe_alloc(int merges)
{
    init_byte_class();
    avk_bpe *b = avk_xcalloc(1, sizeof *b);
    size_t ids = (size_t)AVK_BPE_NBASE + (size_t)merges;
    b->left = avk_xmalloc(((size_t)merges + 1) * sizeof *b->left);
    b->right = avk_xmalloc(((size_t)merges + 1) * sizeof *b->right);
    b->tok_off = avk_xcalloc(ids, sizeof *b->tok_off);
    b->tok_len = avk_xcalloc(ids, sizeof *b->tok_len);
    for (int c = 0; c < 256; c++) {
        unsigned char byte = (unsigned char)c;
        b->tok_off[AVK_BPE_BYTE0 + c] = (uint32_t)b->tok_bytes.len;
        b->tok_len[AVK_BPE_BYTE0 + c] = 1;
        avk_buf_append(&b->tok_bytes, &byte, 1);
    }
    pairmap_init(&b->rank, (size_t)merges + 16);
    return b;
}

/* Append merge (l, r) as the next rank; both ids must already exist. */
static void bpe_add_merge(avk_bpe *b, int32_t l, int32_t r)
{
    int rank = b->nmerges++;
    int32_t id = AVK_BPE_NBASE + rank;
    b->left[rank] = l;
    b->right[rank] = r;
    size_t off = b->tok_bytes.len;
    /* copy through offsets: the buffer may move while growing */
    size_t ll = b->tok_len[l], rl = b->tok_len[r];
    if (b->tok_bytes.len + ll + rl > b->tok_bytes.cap) {
        size_t cap = b->tok_bytes.cap ? b->tok_bytes.cap : 1024;
        while (b->tok_bytes.len + ll + rl > cap)
            cap *= 2;
        b->tok_bytes.data = avk_xrealloc(b->tok_bytes.data, cap);
        b->tok_bytes.cap = cap;
    }
    memcpy(b->tok_bytes.data + off, b->tok_bytes.data + b->tok_off[l], ll);
    memcpy(b->tok_bytes.data + off + ll, b->tok_bytes.data + b->tok_off[r], rl);
    b->tok_bytes.len += ll + rl;
    b->tok_off[id] = (uint32_t)off;
    b->tok_len[id] = (uint32_t)(ll + rl);
    pairmap_put(&b->rank, pair_key(l, r), rank);
}

/* The byte-only vocabulary (no merges). */
avk_bpe *avk_bpe_new_bytes(void)
{
    return bpe_alloc(0);
}

/* Free a vocabulary and its cache. */
void avk_bpe_free(avk_bpe *b)
{
    if (!b)
        return;
    free(b->left);
    free(b->right);
    free(b->tok_off);
    free(b->tok_len);
    avk_buf_free(&b->tok_bytes);
    pairmap_free(&b->rank);
    free(b->cache);
    avk_buf_free(&b->cache_keys);
    avk_ids_free(&b->cache_ids);
    free(b->sym);
    free(b->nxt);
    free(b->prv);
    free(b->heap);
    free(b);
}

/* Ids in the vocabulary: 259 + merges. */
int avk_bpe_vocab_size(const avk_bpe *b)
{
    return AVK_BPE_NBASE + b->nmerges;
}

/* Number of merges. */
int avk_bpe_merges(const avk_bpe *b)
{
    return b->nmerges;
}

/* The pair of merge rank r. */
void avk_bpe_merge_pair(const avk_bpe *b, int r, int32_t *left, int32_t *right)
{
    *left = b->left[r];
    *right = b->right[r];
}

/* The bytes of a token (NULL for specials). */
const unsigned char *avk_bpe_token(const avk_bpe *b, int32_t id, size_t *len)
{
    if (id < AVK_BPE_BYTE0 || id >= avk_bpe_vocab_size(b)) {
        *len = 0;
        return NULL;
    }
    *len = b->tok_len[id];
    return b->tok_bytes.data + b->tok_off[id];
}

/* ---- vocabulary files ------------------------------------------------ */

/* The escaped form of a token's bytes used in vocabulary files: printable
 * ASCII but space and backslash as is, "\\" and "\xHH" for the rest. */
static void escape_token(const unsigned char *p, size_t n, avk_buf *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned c = p[i];
        if (c > 0x20 && c < 0x7f && c != '\\') {
            char ch = (char)c;
            avk_buf_append(out, &ch, 1);
        } else if (c == '\\') {
            avk_buf_append(out, "\\\\", 2);
        } else {
            char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            avk_buf_append(out, e, 4);
        }
    }
}

/* Write the vocabulary text (avkit-vocab(5)) to fp. */
int avk_bpe_write(const avk_bpe *b, FILE *fp, const char *what)
{
    avk_buf o = {0};
    avk_buf_printf(&o, "avkit-bpe 1\n"
                   "# byte-level BPE vocabulary (avkit-vocab(5)): ids 0 <pad>, 1 <bos>, 2 <eos>,\n"
                   "# 3..258 the bytes 0x00..0xff; each line below is a merge LEFT RIGHT TEXT\n"
                   "# whose id is 259 plus its rank (its position among the merges).\n"
                   "merges %d\n", b->nmerges);
    for (int r = 0; r < b->nmerges; r++) {
        int32_t id = AVK_BPE_NBASE + r;
        avk_buf_printf(&o, "%d %d ", (int)b->left[r], (int)b->right[r]);
        escape_token(b->tok_bytes.data + b->tok_off[id], b->tok_len[id], &o);
        avk_buf_append(&o, "\n", 1);
    }
    int rc = avk_fwrite_all(fp, o.data, o.len, what);
    avk_buf_free(&o);
    return rc;
}

/* Write the vocabulary to path through a temporary file. */
int avk_bpe_save(const avk_bpe *b, const char *path)
{
    avk_out *o = avk_out_open(path, 0);
    if (!o)
        return -1;
    if (avk_bpe_write(b, o->fp, path) != 0) {
        avk_out_abort(o);
        return -1;
    }
    return avk_out_commit(o);
}

/* Next line that is not blank or a comment; its length or -1 at end. */
static long next_content_line(FILE *fp, char **line, size_t *cap, long *lineno)
{
    long n;
    while ((n = avk_getline(line, cap, fp)) >= 0) {
        (*lineno)++;
        if (n == 0 || (*line)[0] == '#')
            continue;
        return n;
    }
    return -1;
}

/* Parse a decimal id field at *p; advances *p. -1 when not a number. */
static long parse_id(char **p)
{
    char *end;
    if (**p < '0' || **p > '9')
        return -1;
    errno = 0;
    long v = strtol(*p, &end, 10);
    if (errno || v > INT32_MAX)
        return -1;
    *p = end;
    return v;
}

/* Read and check a vocabulary file; errors name the line. */
avk_bpe *avk_bpe_load(const char *path)
{
    FILE *fp = avk_in_open(path, 0);
    if (!fp)
        return NULL;
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0, n, merges = -1;
    avk_bpe *b = NULL;
    avk_buf esc = {0};

    n = avk_getline(&line, &cap, fp);
    lineno = 1;
    if (n < 0 || strcmp(line, "avkit-bpe 1") != 0) {
        avk_error("%s: line 1: not an avkit BPE vocabulary (expected \"avkit-bpe 1\")", path);
        goto fail;
    }
    if (next_content_line(fp, &line, &cap, &lineno) < 0 ||
        sscanf(line, "merges %ld", &merges) != 1 || merges < 0 || merges > MAX_MERGES) {
        avk_error("%s: line %ld: expected \"merges COUNT\" (0..%d)", path, lineno, MAX_MERGES);
        goto fail;
    }
    b = bpe_alloc((int)merges);
    while (b->nmerges < merges) {
        if (next_content_line(fp, &line, &cap, &lineno) < 0) {
            avk_error("%s: line %ld: file ends after %d of %ld merges", path, lineno,
                      b->nmerges, merges);
            goto fail;
        }
        char *p = line;
        int32_t next_id = AVK_BPE_NBASE + b->nmerges;
        long l = parse_id(&p);
        if (l < 0 || *p != ' ')
            goto bad_line;
        p++;
        long r = parse_id(&p);
        if (r < 0 || (*p != ' ' && *p != 0))
            goto bad_line;
        if (l < AVK_BPE_BYTE0 || r < AVK_BPE_BYTE0 || l >= next_id || r >= next_id) {
            avk_error("%s: line %ld: merge %ld %ld uses an id outside 3..%d", path,
                      lineno, l, r, (int)next_id - 1);
            goto fail;
        }
        if (pairmap_get(&b->rank, pair_key((int32_t)l, (int32_t)r), -1) >= 0) {
            avk_error("%s: line %ld: merge %ld %ld appears twice", path, lineno, l, r);
            goto fail;
        }
        bpe_add_merge(b, (int32_t)l, (int32_t)r);
        if (*p == ' ') {
            esc.len = 0;
            escape_token(b->tok_bytes.data + b->tok_off[next_id], b->tok_len[next_id], &esc);
            if (strlen(p + 1) != esc.len || memcmp(p + 1, esc.data, esc.len) != 0) {
                avk_error("%s: line %ld: text \"%s\" does not match the merged "
                          "token \"%.*s\"", path, lineno, p + 1, (int)esc.len,
                          (const char *)esc.data);
                goto fail;
            }
        }
        continue;
bad_line:
        avk_error("%s: line %ld: expected \"LEFT RIGHT [TEXT]\"", path, lineno);
        goto fail;
    }
    if (next_content_line(fp, &line, &cap, &lineno) >= 0) {
        avk_error("%s: line %ld: more merges than the %ld announced", path, lineno, merges);
        goto fail;
    }
    if (ferror(fp)) {
        avk_error("%s: read error: %s", path, strerror(errno));
        goto fail;
    }
    free(line);
    avk_buf_free(&esc);
    avk_in_close(fp);
    return b;
fail:
    free(line);
    avk_buf_free(&esc);
    avk_in_close(fp);
    avk_bpe_free(b);
    return NULL;
}

/* ---- encoding ---------------------------------------------------------- */

/* Merge rank of the pair (l, r), or NO_RANK. */
static inline int32_t rank_of(const avk_bpe *b, int32_t l, int32_t r)
{
    return pairmap_get(&b->rank, pair_key(l, r), NO_RANK);
}

/* BPE over a short piece in place: while some adjacent pair has a merge,
 * merge every occurrence (left to right) of the pair of lowest rank.
 * Returns the new length. */
static size_t merge_short(const avk_bpe *b, int32_t *sym, size_t m)
{
    int32_t rk[CACHE_MAXLEN];
    for (size_t i = 0; i + 1 < m; i++)
        rk[i] = rank_of(b, sym[i], sym[i + 1]);
    while (m > 1) {
        int32_t best = NO_RANK;
        for (size_t i = 0; i + 1 < m; i++)
            if (rk[i] < best)
                best = rk[i];
        if (best == NO_RANK)
            break;
        int32_t id = AVK_BPE_NBASE + best;
        size_t j = 0, i = 0;
        while (i < m) {
            if (i + 1 < m && rk[i] == best) {
                sym[j++] = id;
                i += 2;
            } else {
                sym[j++] = sym[i++];
            }
        }
        m = j;
        for (size_t k = 0; k + 1 < m; k++)
            rk[k] = rank_of(b, sym[k], sym[k + 1]);
    }
    return m;
}

/* Min-heap of (rank << 32 | position) for the long-piece merge. */
static void heap_push(avk_bpe *b, size_t *n, uint64_t v)
{
    if (*n == b->heap_cap) {
        b->heap_cap = b->heap_cap ? b->heap_cap * 2 : 256;
        b->heap = avk_xrealloc(b->heap, b->heap_cap * sizeof *b->heap);
    }
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (b->heap[p] <= v)
            break;
        b->heap[i] = b->heap[p];
        i = p;
    }
    b->heap[i] = v;
}

/* Remove and return the smallest entry. */
static uint64_t heap_pop(avk_bpe *b, size_t *n)
{
    uint64_t top = b->heap[0], v = b->heap[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && b->heap[c + 1] < b->heap[c])
            c++;
        if (b->heap[c] >= v)
            break;
        b->heap[i] = b->heap[c];
        i = c;
    }
    if (*n)
        b->heap[i] = v;
    return top;
}

/* BPE over a long piece in O(n log n): symbols in a linked list, candidate
 * pairs in a heap ordered by rank then position, so merges happen in the
 * same order as merge_short() would do them. Appends the ids to out. */
static void merge_long(avk_bpe *b, const unsigned char *s, size_t n, avk_ids *out)
{
    if (n > b->scratch_cap) {
        b->scratch_cap = n;
        b->sym = avk_xrealloc(b->sym, n * sizeof *b->sym);
        b->nxt = avk_xrealloc(b->nxt, n * sizeof *b->nxt);
        b->prv = avk_xrealloc(b->prv, n * sizeof *b->prv);
    }
    int32_t *sym = b->sym, *nxt = b->nxt, *prv = b->prv;
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        sym[i] = AVK_BPE_BYTE0 + s[i];
        nxt[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        prv[i] = (int32_t)i - 1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        int32_t r = rank_of(b, sym[i], sym[i + 1]);
        if (r != NO_RANK)
            heap_push(b, &hn, (uint64_t)r << 32 | i);
    }
    while (hn) {
        uint64_t top = heap_pop(b, &hn);
        int32_t r = (int32_t)(top >> 32), pos = (int32_t)(top & 0xffffffffu);
        int32_t nx = nxt[pos];
        if (sym[pos] < 0 || nx < 0 || sym[pos] != b->left[r] || sym[nx] != b->right[r])
            continue;       /* stale: this pair no longer stands here */
        sym[pos] = AVK_BPE_NBASE + r;
        sym[nx] = -1;
        nxt[pos] = nxt[nx];
        if (nxt[nx] >= 0)
            prv[nxt[nx]] = pos;
        if (prv[pos] >= 0) {
            int32_t rr = rank_of(b, sym[prv[pos]], sym[pos]);
            if (rr != NO_RANK)
                heap_push(b, &hn, (uint64_t)rr << 32 | (uint32_t)prv[pos]);
        }
        if (nxt[pos] >= 0) {
            int32_t rr = rank_of(b, sym[pos], sym[nxt[pos]]);
            if (rr != NO_RANK)
                heap_push(b, &hn, (uint64_t)rr << 32 | (uint32_t)pos);
        }
    }
    for (int32_t i = 0; i >= 0; i = nxt[i])
        avk_ids_push(out, sym[i]);
}

/* Forget every cached piece (the cache is full). */
static void cache_reset(avk_bpe *b, size_t cap)
{
    free(b->cache);
    b->cache = avk_xcalloc(cap, sizeof *b->cache);
    b->cache_cap = cap;
    b->cache_n = 0;
    b->cache_keys.len = 0;
    b->cache_ids.n = 0;
}

/* Encode one piece of at most CACHE_MAXLEN bytes through the cache. */
static void encode_cached(avk_bpe *b, const unsigned char *s, size_t n, avk_ids *out)
{
    if (!b->cache)
        cache_reset(b, 1 << 12);
    uint64_t h = hash_bytes(s, n);
    size_t mask = b->cache_cap - 1, i = (size_t)h & mask;
    for (;;) {
        cache_entry *e = &b->cache[i];
        if (e->key_len == 0)
            break;
        if (e->hash == h && e->key_len == n &&
            memcmp(b->cache_keys.data + e->key_off, s, n) == 0) {
            ids_reserve(out, e->nids);
            memcpy(out->ids + out->n, b->cache_ids.ids + e->ids_off,
                   e->nids * sizeof(int32_t));
            out->n += e->nids;
            return;
        }
        i = (i + 1) & mask;
    }
    int32_t sym[CACHE_MAXLEN];
    for (size_t k = 0; k < n; k++)
        sym[k] = AVK_BPE_BYTE0 + s[k];
    size_t m = merge_short(b, sym, n);
    ids_reserve(out, m);
    memcpy(out->ids + out->n, sym, m * sizeof *sym);
    out->n += m;

    /* remember it; start over when full, grow the table at half load */
    if (b->cache_n >= CACHE_LIMIT) {
        cache_reset(b, b->cache_cap);
        i = (size_t)h & (b->cache_cap - 1);
    } else if ((b->cache_n + 1) * 2 > b->cache_cap) {
        size_t cap = b->cache_cap * 2;
        cache_entry *old = b->cache;
        size_t oldcap = b->cache_cap;
        b->cache = avk_xcalloc(cap, sizeof *b->cache);
        b->cache_cap = cap;
        for (size_t k = 0; k < oldcap; k++) {
            if (!old[k].key_len)
                continue;
            size_t j = (size_t)old[k].hash & (cap - 1);
            while (b->cache[j].key_len)
                j = (j + 1) & (cap - 1);
            b->cache[j] = old[k];
        }
        free(old);
        i = (size_t)h & (cap - 1);
    }
    mask = b->cache_cap - 1;
    while (b->cache[i].key_len)
        i = (i + 1) & mask;
    cache_entry *e = &b->cache[i];
    e->hash = h;
    e->key_off = (uint32_t)b->cache_keys.len;
    e->key_len = (uint8_t)n;
    e->ids_off = (uint32_t)b->cache_ids.n;
    e->nids = (uint8_t)m;
    avk_buf_append(&b->cache_keys, s, n);
    ids_reserve(&b->cache_ids, m);
    memcpy(b->cache_ids.ids + b->cache_ids.n, sym, m * sizeof *sym);
    b->cache_ids.n += m;
    b->cache_n++;
}

/* Encode piece by piece: single bytes directly, short pieces through
 * the cache, long pieces with the heap merge. */
void avk_bpe_encode(avk_bpe *b, const void *text, size_t len, avk_ids *out)
{
    const unsigned char *s = text;
    size_t pos = 0;
    while (pos < len) {
        size_t end = avk_bpe_piece_end(s, len, pos), n = end - pos;
        if (n == 1 || b->nmerges == 0) {
            ids_reserve(out, n);
            for (size_t k = pos; k < end; k++)
                out->ids[out->n++] = AVK_BPE_BYTE0 + s[k];
        } else if (n <= CACHE_MAXLEN) {
            encode_cached(b, s + pos, n, out);
        } else {
            merge_long(b, s + pos, n, out);
        }
        pos = end;
    }
}

/* Concatenate the bytes of the ids; specials add nothing. */
int avk_bpe_decode(const avk_bpe *b, const int32_t *ids, size_t n, avk_buf *out)
{
    int32_t v = avk_bpe_vocab_size(b);
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= v)
            return avk_error("token %zu: id %d outside the vocabulary (0..%d)", i,
                             (int)id, (int)v - 1);
        if (id >= AVK_BPE_BYTE0)
            avk_buf_append(out, b->tok_bytes.data + b->tok_off[id], b->tok_len[id]);
    }
    return 0;
}

/* ---- learning ---------------------------------------------------------- */

/* A distinct piece of the corpus: how often it occurs, and its symbols
 * (which shrink as merges apply). */
typedef struct word {
    int64_t  count;
    uint64_t hash;
    size_t   key_off;   /* bytes in the learner's key arena */
    size_t   sym_off;   /* symbols in the learner's symbol arena */
    uint32_t len;       /* bytes; also the symbol room */
    uint32_t nsym;      /* current symbols */
    uint32_t stamp;
} word;

/* An adjacent symbol pair: its weighted count and the words it is in. */
typedef struct pair {
    int64_t  count;
    int32_t *words;
    uint32_t nwords, cap;
    uint32_t stamp;
    int      merged;
} pair;

typedef struct heap_entry {
    int64_t  count;
    uint64_t key;
} heap_entry;

struct avk_bpe_learner {
    word    *words;
    size_t   nwords, cap;
    size_t  *table;     /* word index + 1; 0 empty */
    size_t   table_cap;
    avk_buf  keys;
    uint64_t total;
};

/* An empty piece count. */
avk_bpe_learner *avk_bpe_learner_new(void)
{
    init_byte_class();
    avk_bpe_learner *l = avk_xcalloc(1, sizeof *l);
    l->table_cap = 1 << 12;
    l->table = avk_xcalloc(l->table_cap, sizeof *l->table);
    return l;
}

/* Free the piece count. */
void avk_bpe_learner_free(avk_bpe_learner *l)
{
    if (!l)
        return;
    free(l->words);
    free(l->table);
    avk_buf_free(&l->keys);
    free(l);
}

/* Distinct pieces counted. */
size_t avk_bpe_learner_words(const avk_bpe_learner *l)
{
    return l->nwords;
}

/* Count one piece. */
static void learner_count(avk_bpe_learner *l, const unsigned char *s, size_t n)
{
    uint64_t h = hash_bytes(s, n);
    size_t mask = l->table_cap - 1, i = (size_t)h & mask;
    while (l->table[i]) {
        word *w = &l->words[l->table[i] - 1];
        if (w->hash == h && w->len == n && memcmp(l->keys.data + w->key_off, s, n) == 0) {
            w->count++;
            return;
        }
        i = (i + 1) & mask;
    }
    if (l->nwords == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->words = avk_xrealloc(l->words, l->cap * sizeof *l->words);
    }
    word *w = &l->words[l->nwords++];
    memset(w, 0, sizeof *w);
    w->count = 1;
    w->hash = h;
    w->key_off = l->keys.len;
    w->len = (uint32_t)n;
    avk_buf_append(&l->keys, s, n);
    l->table[i] = l->nwords;
    if (l->nwords * 2 > l->table_cap) {
        size_t cap = l->table_cap * 2;
        size_t *t = avk_xcalloc(cap, sizeof *t);
        for (size_t k = 0; k < l->nwords; k++) {
            size_t j = (size_t)l->words[k].hash & (cap - 1);
            while (t[j])
                j = (j + 1) & (cap - 1);
            t[j] = k + 1;
        }
        free(l->table);
        l->table = t;
        l->table_cap = cap;
    }
}

/* Cut a text into pieces and count each. */
void avk_bpe_learner_add(avk_bpe_learner *l, const void *text, size_t len)
{
    const unsigned char *s = text;
    size_t pos = 0;
    while (pos < len) {
        size_t end = avk_bpe_piece_end(s, len, pos);
        learner_count(l, s + pos, end - pos);
        pos = end;
        l->total++;
    }
}

/* State of one learning run. */
typedef struct learn_state {
    pairmap     index;      /* pair key -> index in pairs */
    pair       *pairs;
    uint64_t   *pair_keys;
    size_t      npairs, pairs_cap;
    heap_entry *heap;
    size_t      nheap, heap_cap;
    int32_t    *changed;
    size_t      nchanged, changed_cap;
    uint32_t    stamp;
} learn_state;

/* Before: a has more count, or the same count and a smaller pair key. */
static inline int heap_before(const heap_entry *a, const heap_entry *b)
{
    return a->count > b->count || (a->count == b->count && a->key < b->key);
}

/* Push a (count, pair) entry on the max-heap. */
static void lheap_push(learn_state *st, int64_t count, uint64_t key)
{
    if (st->nheap == st->heap_cap) {
        st->heap_cap = st->heap_cap ? st->heap_cap * 2 : 1024;
        st->heap = avk_xrealloc(st->heap, st->heap_cap * sizeof *st->heap);
    }
    heap_entry v = {count, key};
    size_t i = st->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_before(&v, &st->heap[p]))
            break;
        st->heap[i] = st->heap[p];
        i = p;
    }
    st->heap[i] = v;
}

/* Pop the best entry: highest count, then smallest pair. */
static heap_entry lheap_pop(learn_state *st)
{
    heap_entry top = st->heap[0], v = st->heap[--st->nheap];
    size_t i = 0, n = st->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap_before(&st->heap[c + 1], &st->heap[c]))
            c++;
        if (!heap_before(&st->heap[c], &v))
            break;
        st->heap[i] = st->heap[c];
        i = c;
    }
    if (n)
        st->heap[i] = v;
    return top;
}

/* Index of a pair, created when new. */
static int32_t pair_index(learn_state *st, uint64_t key)
{
    int32_t idx = pairmap_get(&st->index, key, -1);
    if (idx >= 0)
        return idx;
    if (st->npairs == st->pairs_cap) {
        st->pairs_cap = st->pairs_cap ? st->pairs_cap * 2 : 4096;
        st->pairs = avk_xrealloc(st->pairs, st->pairs_cap * sizeof *st->pairs);
        st->pair_keys = avk_xrealloc(st->pair_keys, st->pairs_cap * sizeof *st->pair_keys);
    }
    idx = (int32_t)st->npairs++;
    memset(&st->pairs[idx], 0, sizeof st->pairs[idx]);
    st->pair_keys[idx] = key;
    pairmap_put(&st->index, key, idx);
    return idx;
}

/* Add delta to a pair's count; note it as changed; with w >= 0, list
 * word w under the pair. */
static void pair_add(learn_state *st, uint64_t key, int64_t delta, int32_t w)
{
    int32_t idx = pair_index(st, key);
    pair *p = &st->pairs[idx];
    p->count += delta;
    if (w >= 0 && (p->nwords == 0 || p->words[p->nwords - 1] != w)) {
        if (p->nwords == p->cap) {
            p->cap = p->cap ? p->cap * 2 : 4;
            p->words = avk_xrealloc(p->words, p->cap * sizeof *p->words);
        }
        p->words[p->nwords++] = w;
    }
    if (p->stamp != st->stamp) {
        p->stamp = st->stamp;
        if (st->nchanged == st->changed_cap) {
            st->changed_cap = st->changed_cap ? st->changed_cap * 2 : 1024;
            st->changed = avk_xrealloc(st->changed, st->changed_cap * sizeof *st->changed);
        }
        st->changed[st->nchanged++] = idx;
    }
}

/* Learn merges incrementally: pair counts and the words each pair is in
 * are kept up to date, so a merge only rescans the words it touches; a
 * heap with lazy deletion finds the best pair. */
avk_bpe *avk_bpe_learn(avk_bpe_learner *l, int vocab_size, long min_count)
{
    if (vocab_size < AVK_BPE_NBASE) {
        avk_error("vocabulary size %d is below the %d base ids", vocab_size, AVK_BPE_NBASE);
        return NULL;
    }
    if (vocab_size - AVK_BPE_NBASE > MAX_MERGES) {
        avk_error("vocabulary size %d is above the limit %d", vocab_size,
                  AVK_BPE_NBASE + MAX_MERGES);
        return NULL;
    }
    if (min_count < 1)
        min_count = 1;
    int target = vocab_size - AVK_BPE_NBASE;
    avk_bpe *b = bpe_alloc(target);
    learn_state st = {0};
    pairmap_init(&st.index, 1 << 14);

    /* symbols of every word, as bytes */
    size_t total_sym = 0;
    for (size_t w = 0; w < l->nwords; w++) {
        l->words[w].sym_off = total_sym;
        total_sym += l->words[w].len;
    }
    int32_t *syms = avk_xmalloc((total_sym ? total_sym : 1) * sizeof *syms);
    st.stamp = 1;
    for (size_t w = 0; w < l->nwords; w++) {
        word *wd = &l->words[w];
        int32_t *s = syms + wd->sym_off;
        const unsigned char *k = l->keys.data + wd->key_off;
        for (uint32_t i = 0; i < wd->len; i++)
            s[i] = AVK_BPE_BYTE0 + k[i];
        wd->nsym = wd->len;
        wd->stamp = 0;
        for (uint32_t i = 0; i + 1 < wd->nsym; i++)
            pair_add(&st, pair_key(s[i], s[i + 1]), wd->count, (int32_t)w);
    }
    for (size_t i = 0; i < st.npairs; i++)
        lheap_push(&st, st.pairs[i].count, st.pair_keys[i]);

    while (b->nmerges < target && st.nheap) {
        heap_entry top = lheap_pop(&st);
        int32_t idx = pairmap_get(&st.index, top.key, -1);
        pair *p = &st.pairs[idx];
        if (p->merged || p->count != top.count || p->count <= 0)
            continue;   /* an outdated entry */
        if (p->count < min_count)
            break;
        int32_t a = (int32_t)(top.key >> 32), c = (int32_t)(top.key & 0xffffffffu);
        int32_t id = AVK_BPE_NBASE + b->nmerges;
        bpe_add_merge(b, a, c);
        p->merged = 1;
        st.stamp++;
        st.nchanged = 0;
        /* the list is not modified below: only pairs with the new id gain
         * words, and this pair never occurs again */
        int32_t *list = p->words;
        uint32_t nlist = p->nwords;
        for (uint32_t k = 0; k < nlist; k++) {
            word *wd = &l->words[list[k]];
            if (wd->stamp == st.stamp)
                continue;
            wd->stamp = st.stamp;
            int32_t *s = syms + wd->sym_off;
            uint32_t m = wd->nsym, i, j;
            for (i = 0; i + 1 < m; i++)
                if (s[i] == a && s[i + 1] == c)
                    break;
            if (i + 1 >= m)
                continue;   /* listed, but merged away since */
            for (i = 0; i + 1 < m; i++)
                pair_add(&st, pair_key(s[i], s[i + 1]), -wd->count, -1);
            for (i = 0, j = 0; i < m;) {
                if (i + 1 < m && s[i] == a && s[i + 1] == c) {
                    s[j++] = id;
                    i += 2;
                } else {
                    s[j++] = s[i++];
                }
            }
            wd->nsym = m = j;
            for (i = 0; i + 1 < m; i++) {
                int has_new = s[i] == id || s[i + 1] == id;
                pair_add(&st, pair_key(s[i], s[i + 1]), wd->count,
                         has_new ? list[k] : -1);
            }
        }
        p = &st.pairs[idx];     /* pairs may have moved */
        free(p->words);
        p->words = NULL;
        p->nwords = p->cap = 0;
        for (size_t k = 0; k < st.nchanged; k++) {
            pair *q = &st.pairs[st.changed[k]];
            if (!q->merged && q->count > 0)
                lheap_push(&st, q->count, st.pair_keys[st.changed[k]]);
        }
    }

    for (size_t i = 0; i < st.npairs; i++)
        free(st.pairs[i].words);
    free(st.pairs);
    free(st.pair_keys);
    free(st.heap);
    free(st.changed);
    pairmap_free(&st.index);
    free(syms);
    return b;
}
