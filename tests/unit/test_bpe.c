/* The byte-level BPE tokenizer and the UTF-8 helpers: pre-tokenization,
 * merges learned on tiny corpora checked by hand, agreement with a plain
 * reference encoder, encode/decode round trips of random UTF-8, repeatable
 * learning, vocabulary files and their errors. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "avkit/data/bpe.h"
#include "avkit/util/utf8.h"
#include "tap.h"

#define B(c) (AVK_BPE_BYTE0 + (unsigned char)(c))

static uint64_t rng_state = 0x1234567887654321ULL;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* The pieces of s joined with '|'. */
static char *pieces(const char *s)
{
    static char out[512];
    size_t len = strlen(s), pos = 0, o = 0;
    while (pos < len) {
        size_t end = avk_bpe_piece_end((const unsigned char *)s, len, pos);
        if (o)
            out[o++] = '|';
        memcpy(out + o, s + pos, end - pos);
        o += end - pos;
        pos = end;
    }
    out[o] = 0;
    return out;
}

static avk_bpe *learn_texts(const char **texts, int n, int vocab, long min_count)
{
    avk_bpe_learner *l = avk_bpe_learner_new();
    for (int i = 0; i < n; i++)
        avk_bpe_learner_add(l, texts[i], strlen(texts[i]));
    avk_bpe *b = avk_bpe_learn(l, vocab, min_count);
    avk_bpe_learner_free(l);
    return b;
}

/* Does merge rank r join left and right? */
static int merge_is(const avk_bpe *b, int r, int32_t left, int32_t right)
{
    int32_t l, rr;
    if (r >= avk_bpe_merges(b))
        return 0;
    avk_bpe_merge_pair(b, r, &l, &rr);
    if (l != left || rr != right)
        diag("merge %d is %d %d, expected %d %d", r, l, rr, left, right);
    return l == left && rr == right;
}

/* Encode text into a fresh id array. */
static avk_ids enc(avk_bpe *b, const char *s, size_t n)
{
    avk_ids v = {0};
    avk_bpe_encode(b, s, n, &v);
    return v;
}

static int ids_are(avk_ids v, int n, const int32_t *want)
{
    int same = (int)v.n == n && memcmp(v.ids, want, n * sizeof *want) == 0;
    if (!same) {
        printf("# got");
        for (size_t i = 0; i < v.n; i++)
            printf(" %d", v.ids[i]);
        printf("\n");
    }
    return same;
}

/* The reference: each piece starts as bytes; every merge, in rank order,
 * replaces its pair wherever it stands, left to right. */
static void reference_encode(const avk_bpe *b, const unsigned char *s, size_t len,
                             avk_ids *out)
{
    int32_t *sym = malloc((len + 1) * sizeof *sym);
    size_t pos = 0;
    while (pos < len) {
        size_t end = avk_bpe_piece_end(s, len, pos), m = end - pos;
        for (size_t i = 0; i < m; i++)
            sym[i] = B(s[pos + i]);
        for (int r = 0; r < avk_bpe_merges(b) && m > 1; r++) {
            int32_t l, rr;
            avk_bpe_merge_pair(b, r, &l, &rr);
            size_t i = 0, j = 0;
            while (i < m) {
                if (i + 1 < m && sym[i] == l && sym[i + 1] == rr) {
                    sym[j++] = AVK_BPE_NBASE + r;
                    i += 2;
                } else {
                    sym[j++] = sym[i++];
                }
            }
            m = j;
        }
        for (size_t i = 0; i < m; i++)
            avk_ids_push(out, sym[i]);
        pos = end;
    }
    free(sym);
}

/* A random valid UTF-8 string of up to maxcp code points into buf. */
static size_t random_utf8(unsigned char *buf, int maxcp)
{
    static const char *words[] = {"the", "cat", "a", "dog", "runs", "over",
                                  "red", "car", "in", "snow", "école", "日本",
                                  "données", "42", "..."};
    int n = (int)(rnd() % (unsigned)(maxcp + 1));
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        unsigned kind = rnd() % 10;
        unsigned long cp;
        if (kind < 3) {             /* a common word, so merges apply */
            const char *w = words[rnd() % 15];
            memcpy(buf + o, w, strlen(w));
            o += strlen(w);
            buf[o++] = ' ';
            continue;
        }
        if (kind < 6)
            cp = 0x20 + rnd() % 0x5f;
        else if (kind < 7)
            cp = rnd() % 0x20;
        else if (kind < 8)
            cp = 0x80 + rnd() % (0x800 - 0x80);
        else if (kind < 9) {
            do
                cp = 0x800 + rnd() % (0x10000 - 0x800);
            while (cp >= 0xD800 && cp <= 0xDFFF);
        } else
            cp = 0x10000 + rnd() % (0x110000 - 0x10000);
        o += (size_t)avk_utf8_put(cp, buf + o);
    }
    return o;
}

static void test_pieces(void)
{
    ok(strcmp(pieces("a cat sat"), "a| cat| sat") == 0,
       "a single space goes with the word after it");
    ok(strcmp(pieces("a  cat"), "a| | cat") == 0,
       "of two spaces the last goes with the word");
    ok(strcmp(pieces("red\n car"), "red|\n| car") == 0,
       "a newline is a piece of its own");
    ok(strcmp(pieces("x42y, z!!"), "x|42|y|,| z|!!") == 0,
       "letters, digits and punctuation are separate runs");
    ok(strcmp(pieces(" école 日本"), " école| 日本") == 0,
       "non-ASCII bytes are letters");
    ok(strcmp(pieces("end  "), "end|  ") == 0, "trailing whitespace is one piece");
    ok(strcmp(pieces(" !?x"), " !?|x") == 0, "a space also leads a punctuation run");
}

/* "ab ab ab abc": pieces "ab" x1, " ab" x2, " abc" x1. Pairs: (a,b) 4,
 * (' ',a) 3, (b,c) 1. First merge a+b (259). Then (' ',259) occurs 3 times
 * -> 260 " ab". Then (260,c) once -> 261 " abc" (only when 1 is enough). */
static void test_hand_merges(void)
{
    const char *t[] = {"ab ab ab abc"};
    avk_bpe *b = learn_texts(t, 1, 1000, 1);
    ok(avk_bpe_merges(b) == 3, "ab corpus: three merges, then no pairs left (%d)",
       avk_bpe_merges(b));
    ok(merge_is(b, 0, B('a'), B('b')), "merge 0 is a+b (4 times)");
    ok(merge_is(b, 1, B(' '), 259), "merge 1 is ' '+ab (3 times)");
    ok(merge_is(b, 2, 260, B('c')), "merge 2 is ' ab'+c (once)");
    avk_bpe_free(b);

    b = learn_texts(t, 1, 1000, 2);
    ok(avk_bpe_merges(b) == 2, "min count 2 stops before the single (' ab',c)");
    avk_bpe_free(b);

    b = learn_texts(t, 1, AVK_BPE_NBASE + 1, 1);
    ok(avk_bpe_merges(b) == 1 && merge_is(b, 0, B('a'), B('b')),
       "the vocabulary size bounds the merges");
    avk_bpe_free(b);

    /* "xy yx": pieces "xy", " yx"; pairs (x,y) (' ',y) (y,x) once each.
     * Ties go to the smallest left id: ' ' (35) < x (123) < y (124). So
     * ' '+y -> 259; then (x,y) and (259,x) tie, x < 259: x+y -> 260;
     * then 259+x -> 261. */
    const char *t2[] = {"xy yx"};
    b = learn_texts(t2, 1, 1000, 1);
    ok(avk_bpe_merges(b) == 3 && merge_is(b, 0, B(' '), B('y')) &&
       merge_is(b, 1, B('x'), B('y')) && merge_is(b, 2, 259, B('x')),
       "ties go to the smallest (left, right) ids");
    avk_bpe_free(b);

    /* "aaaa": (a,a) stands 3 times -> 259 "aa"; the word becomes [aa aa],
     * then (259,259) -> 260. Encoding merges left to right: "aaa" ->
     * [aa a], "aaaaa" -> [aaaa a]. */
    const char *t3[] = {"aaaa"};
    b = learn_texts(t3, 1, 1000, 1);
    ok(avk_bpe_merges(b) == 2 && merge_is(b, 0, B('a'), B('a')) &&
       merge_is(b, 1, 259, 259), "aaaa: a+a, then aa+aa");
    avk_ids v = enc(b, "aaa", 3);
    ok(ids_are(v, 2, (int32_t[]){259, B('a')}), "aaa encodes as aa a");
    avk_ids_free(&v);
    v = enc(b, "aaaaa", 5);
    ok(ids_are(v, 2, (int32_t[]){260, B('a')}), "aaaaa encodes as aaaa a");
    avk_ids_free(&v);
    avk_bpe_free(b);

    /* counts weigh by how often a piece occurs: "cd cd cd" and "cd ef"
     * give pieces "cd" x2, " cd" x2, " ef" x1: (c,d) 4, (' ',c) 2,
     * (' ',e) 1, (e,f) 1; with min count 2: c+d, then ' '+cd. "cd cde"
     * is "cd" + " cde" -> [cd] [' ' cd e] -> [cd] [' cd' e]. */
    const char *t4[] = {"cd cd cd", "cd ef"};
    b = learn_texts(t4, 2, 1000, 2);
    ok(avk_bpe_merges(b) == 2 && merge_is(b, 0, B('c'), B('d')) &&
       merge_is(b, 1, B(' '), 259), "frequent pairs first, across texts");
    v = enc(b, "cd cde", 6);
    ok(ids_are(v, 3, (int32_t[]){259, 260, B('e')}), "encoding uses the learned merges");
    avk_ids_free(&v);
    avk_bpe_free(b);
}

/* A vocabulary learned from random text and a few repeated phrases. */
static avk_bpe *fuzz_vocab(void)
{
    avk_bpe_learner *l = avk_bpe_learner_new();
    unsigned char buf[4096];
    for (int i = 0; i < 2000; i++) {
        size_t n = random_utf8(buf, 60);
        avk_bpe_learner_add(l, buf, n);
    }
    const char *p = "a red car drives in the snow abababababab";
    for (int i = 0; i < 50; i++)
        avk_bpe_learner_add(l, p, strlen(p));
    avk_bpe *b = avk_bpe_learn(l, AVK_BPE_NBASE + 600, 2);
    avk_bpe_learner_free(l);
    return b;
}

static void test_round_trip(avk_bpe *b)
{
    unsigned char buf[1 << 16];
    int bad_trip = 0, bad_ref = 0, bad_utf8 = 0;
    size_t longest = 0;
    for (int i = 0; i < 5000; i++) {
        size_t n = random_utf8(buf, 200);
        if (i % 50 == 0) {          /* a long run with no space */
            size_t k = 100 + rnd() % 3000;
            for (size_t j = 0; j < k; j++)
                buf[n++] = "ab"[rnd() % 4 == 0];
        }
        if (n > longest)
            longest = n;
        if (avk_utf8_valid_prefix(buf, n, 0) != n)
            bad_utf8++;
        avk_ids v = {0}, r = {0};
        avk_bpe_encode(b, buf, n, &v);
        reference_encode(b, buf, n, &r);
        if (v.n != r.n || (v.n && memcmp(v.ids, r.ids, v.n * sizeof *v.ids) != 0))
            bad_ref++;
        avk_buf out = {0};
        if (avk_bpe_decode(b, v.ids, v.n, &out) != 0 || out.len != n ||
            (n && memcmp(out.data, buf, n) != 0))
            bad_trip++;
        avk_buf_free(&out);
        avk_ids_free(&v);
        avk_ids_free(&r);
    }
    ok(bad_utf8 == 0, "the generator makes valid UTF-8 (%d bad)", bad_utf8);
    ok(bad_trip == 0, "5000 random UTF-8 strings decode to themselves (%d differ)", bad_trip);
    ok(bad_ref == 0, "the fast encoder agrees with the reference on all (%d differ, "
       "longest %zu bytes)", bad_ref, longest);

    /* arbitrary bytes, not only UTF-8, also round-trip */
    int bad_bytes = 0;
    for (int i = 0; i < 1000; i++) {
        size_t n = rnd() % 300;
        for (size_t j = 0; j < n; j++)
            buf[j] = (unsigned char)rnd();
        avk_ids v = {0};
        avk_bpe_encode(b, buf, n, &v);
        avk_buf out = {0};
        if (avk_bpe_decode(b, v.ids, v.n, &out) != 0 || out.len != n ||
            (n && memcmp(out.data, buf, n) != 0))
            bad_bytes++;
        avk_buf_free(&out);
        avk_ids_free(&v);
    }
    ok(bad_bytes == 0, "1000 random byte strings round-trip (%d differ)", bad_bytes);

    int32_t bad[] = {B('a'), avk_bpe_vocab_size(b)};
    avk_buf out = {0};
    ok(avk_bpe_decode(b, bad, 2, &out) == -1 && strstr(avk_errmsg(), "token 1"),
       "decoding an id outside the vocabulary is an error: %s", avk_errmsg());
    avk_buf_free(&out);
    int32_t sp[] = {AVK_BPE_BOS, B('h'), B('i'), AVK_BPE_EOS, AVK_BPE_PAD};
    ok(avk_bpe_decode(b, sp, 5, &out) == 0 && out.len == 2 && memcmp(out.data, "hi", 2) == 0,
       "special tokens decode to nothing");
    avk_buf_free(&out);
}

/* Vocabulary text of b. */
static char *vocab_text(const avk_bpe *b, size_t *len)
{
    char *p = NULL;
    FILE *fp = open_memstream(&p, len);
    avk_bpe_write(b, fp, "memory");
    fclose(fp);
    return p;
}

static void test_repeatable(void)
{
    /* the same texts in another order learn the same vocabulary */
    unsigned char buf[4096];
    avk_bpe_learner *l1 = avk_bpe_learner_new(), *l2 = avk_bpe_learner_new();
    enum { N = 3000 };
    static size_t off[N + 1];
    static unsigned char all[N * 700];
    size_t o = 0;
    for (int i = 0; i < N; i++) {
        size_t n = random_utf8(buf, 40);
        memcpy(all + o, buf, n);
        off[i] = o;
        o += n;
    }
    off[N] = o;
    for (int i = 0; i < N; i++)
        avk_bpe_learner_add(l1, all + off[i], off[i + 1] - off[i]);
    for (int i = N - 1; i >= 0; i--)
        avk_bpe_learner_add(l2, all + off[i], off[i + 1] - off[i]);
    avk_bpe *a = avk_bpe_learn(l1, 1000, 2), *b = avk_bpe_learn(l2, 1000, 2);
    size_t la, lb;
    char *ta = vocab_text(a, &la), *tb = vocab_text(b, &lb);
    ok(avk_bpe_merges(a) > 100 && la == lb && memcmp(ta, tb, la) == 0,
       "learning twice (texts reversed) gives identical vocabularies (%d merges)",
       avk_bpe_merges(a));

    /* save and load give the same merges back */
    char path[] = "/tmp/avk-bpe-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    ok(avk_bpe_save(a, path) == 0, "vocabulary saved");
    avk_bpe *c = avk_bpe_load(path);
    size_t lc = 0;
    char *tc = c ? vocab_text(c, &lc) : NULL;
    ok(c && lc == la && memcmp(tc, ta, la) == 0, "a saved vocabulary loads back the same");
    unlink(path);
    free(ta);
    free(tb);
    free(tc);
    avk_bpe_free(a);
    avk_bpe_free(b);
    avk_bpe_free(c);
    avk_bpe_learner_free(l1);
    avk_bpe_learner_free(l2);
}

/* Load a vocabulary from text; returns it or NULL (error set). */
static avk_bpe *load_text(const char *text)
{
    char path[] = "/tmp/avk-bpe-XXXXXX";
    int fd = mkstemp(path);
    if (write(fd, text, strlen(text)) < 0)
        diag("write failed");
    close(fd);
    avk_bpe *b = avk_bpe_load(path);
    unlink(path);
    return b;
}

/* The textbook learner: recount every pair over all pieces at each step.
 * Returns the number of merges; their pairs go to ml[], mr[]. */
static int brute_learn(const char **texts, int nt, int maxm, long min_count,
                       int32_t *ml, int32_t *mr)
{
    enum { MAXW = 4096, MAXL = 64 };
    static int32_t sym[MAXW][MAXL];
    static int len[MAXW];
    static long cnt[MAXW];
    static unsigned char key[MAXW][MAXL];
    int nw = 0;
    for (int t = 0; t < nt; t++) {
        const unsigned char *s = (const unsigned char *)texts[t];
        size_t n = strlen(texts[t]), pos = 0;
        while (pos < n) {
            size_t end = avk_bpe_piece_end(s, n, pos), m = end - pos;
            int w;
            for (w = 0; w < nw; w++)
                if ((size_t)len[w] == m && memcmp(key[w], s + pos, m) == 0)
                    break;
            if (w == nw) {
                memcpy(key[w], s + pos, m);
                len[w] = (int)m;
                for (size_t i = 0; i < m; i++)
                    sym[w][i] = B(s[pos + i]);
                cnt[w] = 0;
                nw++;
            }
            cnt[w]++;
            pos = end;
        }
    }
    int nm = 0;
    while (nm < maxm) {
        long best = 0;
        int32_t bl = 0, br = 0;
        /* every distinct pair: count it over all words */
        for (int w = 0; w < nw; w++)
            for (int i = 0; i + 1 < len[w]; i++) {
                int32_t l = sym[w][i], r = sym[w][i + 1];
                long c = 0;
                for (int u = 0; u < nw; u++)
                    for (int k = 0; k + 1 < len[u]; k++)
                        c += (sym[u][k] == l && sym[u][k + 1] == r) ? cnt[u] : 0;
                if (c > best || (c == best && (l < bl || (l == bl && r < br)))) {
                    best = c;
                    bl = l;
                    br = r;
                }
            }
        if (best < min_count || best == 0)
            break;
        ml[nm] = bl;
        mr[nm] = br;
        int32_t id = AVK_BPE_NBASE + nm++;
        for (int w = 0; w < nw; w++) {
            int j = 0;
            for (int i = 0; i < len[w];) {
                if (i + 1 < len[w] && sym[w][i] == bl && sym[w][i + 1] == br) {
                    sym[w][j++] = id;
                    i += 2;
                } else {
                    sym[w][j++] = sym[w][i++];
                }
            }
            len[w] = j;
        }
    }
    return nm;
}

static void test_learner_vs_brute(void)
{
    static char store[300][40];
    const char *texts[300];
    int differ = 0, total = 0;
    for (int round = 0; round < 8; round++) {
        for (int t = 0; t < 300; t++) {
            int n = (int)(rnd() % 30);
            for (int i = 0; i < n; i++)
                store[t][i] = "aabbc d  e,1"[rnd() % 12];
            store[t][n] = 0;
            texts[t] = store[t];
        }
        int32_t ml[80], mr[80];
        long minc = 1 + round % 3;
        int nm = brute_learn(texts, 300, 80, minc, ml, mr);
        avk_bpe *b = learn_texts(texts, 300, AVK_BPE_NBASE + 80, minc);
        total += nm;
        if (avk_bpe_merges(b) != nm)
            differ++;
        else
            for (int r = 0; r < nm; r++) {
                int32_t l, rr;
                avk_bpe_merge_pair(b, r, &l, &rr);
                if (l != ml[r] || rr != mr[r]) {
                    differ++;
                    break;
                }
            }
        avk_bpe_free(b);
    }
    ok(differ == 0, "the incremental learner picks the same merges as recounting "
       "everything each step (8 random corpora, %d merges, %d differ)", total, differ);
}

static void test_vocab_errors(void)
{
    avk_bpe *b = load_text("avkit-bpe 1\r\n# c\r\nmerges 2\r\n100 101 ab\r\n259 102\r\n");
    ok(b && avk_bpe_vocab_size(b) == 261, "CRLF, comments and a missing TEXT load");
    size_t n;
    const unsigned char *t = b ? avk_bpe_token(b, 260, &n) : NULL;
    ok(t && n == 3 && memcmp(t, "abc", 3) == 0, "merged tokens hold the joined bytes");
    avk_bpe_free(b);
    ok(!load_text("hello\n") && strstr(avk_errmsg(), "line 1"), "wrong magic: %s", avk_errmsg());
    ok(!load_text("avkit-bpe 1\nmerges 3\n100 101\n") && strstr(avk_errmsg(), "ends after 1 of 3"),
       "truncated file: %s", avk_errmsg());
    ok(!load_text("avkit-bpe 1\nmerges 1\n100 259\n") && strstr(avk_errmsg(), "line 3"),
       "a merge using an id not yet defined: %s", avk_errmsg());
    ok(!load_text("avkit-bpe 1\nmerges 1\n100 101 xy\n") && strstr(avk_errmsg(), "line 3"),
       "a TEXT that does not match: %s", avk_errmsg());
    ok(!load_text("avkit-bpe 1\nmerges 1\n100 101\n100 102\n") && strstr(avk_errmsg(), "line 4"),
       "more merges than announced: %s", avk_errmsg());
    ok(!load_text("avkit-bpe 1\nmerges 1\n1 101\n") && strstr(avk_errmsg(), "line 3"),
       "a special id in a merge: %s", avk_errmsg());
}

static void test_utf8(void)
{
    const unsigned char good[] = "a\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80";
    ok(avk_utf8_valid_prefix(good, sizeof good - 1, 0) == sizeof good - 1,
       "2-, 3- and 4-byte sequences are valid");
    struct { const char *s; size_t bad; const char *what; } cases[] = {
        {"ab\xc0\xafz", 2, "overlong 2-byte"},
        {"ab\xe0\x80\xafz", 2, "overlong 3-byte"},
        {"ab\xed\xa0\x80z", 2, "surrogate"},
        {"ab\xf4\x90\x80\x80", 2, "above U+10FFFF"},
        {"ab\xe6\x97", 2, "truncated at the end"},
        {"ab\x80", 2, "lone continuation byte"},
        {"ab\xff", 2, "byte 0xff"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        ok(avk_utf8_valid_prefix((const unsigned char *)cases[i].s, strlen(cases[i].s), 0)
           == cases[i].bad, "invalid: %s", cases[i].what);
    ok(avk_utf8_valid_prefix((const unsigned char *)"a\0b", 3, 0) == 3 &&
       avk_utf8_valid_prefix((const unsigned char *)"a\0b", 3, AVK_UTF8_NO_NUL) == 1,
       "NUL is invalid only with AVK_UTF8_NO_NUL");
    avk_buf out = {0};
    /* E0 needs A0..BF next, so E0 and 80 are two maximal subparts,
     * replaced one by one; E6 97 (a truncated 3-byte) is one part */
    size_t k = avk_utf8_repair((const unsigned char *)"x\xe0\x80y\xe6\x97z", 7, 0, &out);
    ok(k == 3 && out.len == 12 &&
       memcmp(out.data, "x\xef\xbf\xbd\xef\xbf\xbdy\xef\xbf\xbdz", 12) == 0,
       "repair replaces each maximal subpart by U+FFFD (%zu replacements)", k);
    avk_buf_free(&out);
}

int main(void)
{
    test_pieces();
    test_hand_merges();
    test_learner_vs_brute();
    avk_bpe *b = fuzz_vocab();
    ok(avk_bpe_merges(b) == 600, "fuzz vocabulary has 600 merges");
    test_round_trip(b);
    avk_bpe_free(b);
    test_repeatable();
    test_vocab_errors();
    test_utf8();
    return done_testing();
}
