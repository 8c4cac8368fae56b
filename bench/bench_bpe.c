/* Tokenization throughput of the byte-level BPE on a generated caption
 * corpus (deterministic: the same corpus for the same seed and count).
 *
 *   bench_bpe [-n CAPTIONS] [-V VOCAB] [-s SEED]
 *
 * Learns a vocabulary of VOCAB ids from the corpus, then measures on one
 * thread, in MB/s of caption text:
 *   pretok    splitting into pieces only (the floor every encoder pays)
 *   naive     the textbook encoder: every merge in rank order over each
 *             piece (on a 1% sample; it is slow)
 *   encode    avk_bpe_encode (merge-rank hash map, per-piece cache)
 * and prints encode's ratio to each baseline, measured in the same run. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "avkit/data/bpe.h"

static uint64_t rng = 88172645463325252ULL;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}
#define PICK(a) a[next_rand() % (sizeof a / sizeof *a)]

/* A lexicon of made-up words (2 to 4 syllables), drawn with a Zipf-like
 * law, so that the corpus has tens of thousands of distinct words as real
 * caption corpora do, not only the handful in the templates. */
#define LEXICON 30000
static char lexicon[LEXICON][16];

static void make_lexicon(void)
{
    static const char *syl[] = {"ka", "lo", "ri", "ten", "mar", "su", "vel", "do", "an",
                                "ber", "chi", "el", "fo", "gra", "hu", "is", "jo", "kel",
                                "lum", "mi", "nor", "ox", "pa", "qui", "ros", "sta", "tu",
                                "ul", "vi", "wen", "xa", "yo", "zen", "tré", "ñа", "ö"};
    for (int i = 0; i < LEXICON; i++) {
        int k = 2 + (int)(next_rand() % 3);
        lexicon[i][0] = 0;
        for (int j = 0; j < k; j++)
            strcat(lexicon[i], syl[next_rand() % (sizeof syl / sizeof *syl)]);
    }
}

/* A lexicon word; rank r drawn as floor(LEXICON^u) - 1 for uniform u, so
 * frequent words are few and the tail is long. */
static const char *lexicon_word(void)
{
    double u = (next_rand() % 1000000) / 1e6;
    int r = (int)pow(LEXICON, u) - 1;
    return lexicon[r < 0 ? 0 : r % LEXICON];
}

/* One caption in the style of video-dataset captions. */
static void make_caption(avk_buf *b)
{
    static const char *det[] = {"A", "The", "One", "Two", "Several", "A small", "A large"};
    static const char *adj[] = {"red", "blue", "young", "old", "smiling", "tall", "wooden",
                                "bright", "dark", "golden", "fluffy", "rusty", "shiny",
                                "crowded", "quiet", "snowy", "sunlit", "misty"};
    static const char *noun[] = {"man", "woman", "dog", "cat", "car", "bicycle", "boat",
                                 "train", "child", "horse", "bird", "street", "kitchen",
                                 "forest", "beach", "mountain", "river", "city", "robot",
                                 "chef", "dancer", "drone", "guitar", "café"};
    static const char *verb[] = {"walks", "runs", "drives", "jumps", "sits", "dances",
                                 "flies", "swims", "plays", "cooks", "turns", "waits",
                                 "rides", "looks around", "slowly moves"};
    static const char *prep[] = {"across", "through", "along", "near", "behind", "under",
                                 "into", "over", "beside"};
    static const char *cam[] = {"The camera pans left.", "The camera zooms in slowly.",
                                "Shot from above.", "Close-up shot.", "Handheld footage.",
                                "Time-lapse.", "Wide angle, 4K.", "Filmed at dusk.",
                                "Slow motion, 120 fps.", "日本の街並み。", "Scène en extérieur."};
    int sentences = 1 + (int)(next_rand() % 3);
    for (int s = 0; s < sentences; s++) {
        if (s)
            avk_buf_append(b, " ", 1);
        avk_buf_printf(b, "%s %s %s %s %s the %s %s", PICK(det), PICK(adj), PICK(noun),
                       PICK(verb), PICK(prep), PICK(adj), PICK(noun));
        if (next_rand() % 2)
            avk_buf_printf(b, " of %s", lexicon_word());
        if (next_rand() % 3 == 0)
            avk_buf_printf(b, " named %s %s", lexicon_word(), lexicon_word());
        if (next_rand() % 3 == 0)
            avk_buf_printf(b, " at %u:%02u", next_rand() % 24, next_rand() % 60);
        avk_buf_append(b, ".", 1);
    }
    if (next_rand() % 2)
        avk_buf_printf(b, " %s", PICK(cam));
}

/* The textbook encoder: each merge, in rank order, over each piece. */
static size_t naive_encode(const avk_bpe *b, const unsigned char *s, size_t len)
{
    int32_t sym[256];
    size_t pos = 0, total = 0;
    int merges = avk_bpe_merges(b);
    while (pos < len) {
        size_t end = avk_bpe_piece_end(s, len, pos), m = end - pos;
        if (m > 256)
            m = 256;
        for (size_t i = 0; i < m; i++)
            sym[i] = AVK_BPE_BYTE0 + s[pos + i];
        for (int r = 0; r < merges && m > 1; r++) {
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
        total += m;
        pos = end;
    }
    return total;
}

int main(int argc, char **argv)
{
    long n = 100000, vocab = 8192;
    int c;
    while ((c = getopt(argc, argv, "n:V:s:")) != -1) {
        if (c == 'n')
            n = atol(optarg);
        else if (c == 'V')
            vocab = atol(optarg);
        else if (c == 's')
            rng = strtoull(optarg, NULL, 10) | 1;
        else {
            fprintf(stderr, "usage: bench_bpe [-n CAPTIONS] [-V VOCAB] [-s SEED]\n");
            return 2;
        }
    }
    if (n < 100 || vocab < AVK_BPE_NBASE) {
        fprintf(stderr, "bench_bpe: need -n >= 100 and -V >= %d\n", AVK_BPE_NBASE);
        return 2;
    }
    make_lexicon();
    avk_buf text = {0};
    size_t *off = malloc((size_t)(n + 1) * sizeof *off);
    for (long i = 0; i < n; i++) {
        off[i] = text.len;
        make_caption(&text);
    }
    off[n] = text.len;
    double mb = text.len / 1e6;
    printf("corpus: %ld captions, %.2f MB (%.0f bytes a caption)\n", n, mb,
           (double)text.len / n);

    double t0 = avk_now();
    avk_bpe_learner *l = avk_bpe_learner_new();
    for (long i = 0; i < n; i++)
        avk_bpe_learner_add(l, text.data + off[i], off[i + 1] - off[i]);
    avk_bpe *b = avk_bpe_learn(l, (int)vocab, 2);
    double t_learn = avk_now() - t0;
    printf("learn:   %d merges from %zu distinct pieces in %.2f s\n", avk_bpe_merges(b),
           avk_bpe_learner_words(l), t_learn);
    avk_bpe_learner_free(l);

    /* pre-tokenization alone */
    t0 = avk_now();
    size_t pieces = 0;
    for (long i = 0; i < n; i++) {
        const unsigned char *s = text.data + off[i];
        size_t len = off[i + 1] - off[i], pos = 0;
        while (pos < len) {
            pos = avk_bpe_piece_end(s, len, pos);
            pieces++;
        }
    }
    double t_pre = avk_now() - t0;

    /* the textbook encoder on every 100th caption */
    t0 = avk_now();
    size_t naive_bytes = 0, naive_tokens = 0;
    for (long i = 0; i < n; i += 100) {
        naive_tokens += naive_encode(b, text.data + off[i], off[i + 1] - off[i]);
        naive_bytes += off[i + 1] - off[i];
    }
    double t_naive = avk_now() - t0;

    /* the real encoder, cold cache, whole corpus, caption by caption */
    avk_ids ids = {0};
    size_t tokens = 0;
    t0 = avk_now();
    for (long i = 0; i < n; i++) {
        ids.n = 0;
        avk_bpe_encode(b, text.data + off[i], off[i + 1] - off[i], &ids);
        tokens += ids.n;
    }
    double t_enc = avk_now() - t0;

    double r_pre = mb / t_pre, r_naive = naive_bytes / 1e6 / t_naive, r_enc = mb / t_enc;
    printf("pretok:  %8.1f MB/s (%zu pieces)\n", r_pre, pieces);
    printf("naive:   %8.1f MB/s (1%% sample, %zu tokens)\n", r_naive, naive_tokens);
    printf("encode:  %8.1f MB/s (%zu tokens, %.2f bytes a token, %.0f captions/s)\n",
           r_enc, tokens, (double)text.len / tokens, n / t_enc);
    printf("ratio:   encode/naive %.1fx, encode/pretok %.2fx; target > 20 MB/s: %s\n",
           r_enc / r_naive, r_enc / r_pre, r_enc > 20 ? "met" : "NOT met");
    avk_ids_free(&ids);
    avk_bpe_free(b);
    avk_buf_free(&text);
    free(off);
    return 0;
}
