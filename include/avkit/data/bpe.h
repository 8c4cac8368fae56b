/* Byte-level BPE tokenizer: learned from a text corpus, saved as a small
 * text vocabulary (man/man5/avkit-vocab.5), used to turn captions into
 * token ids and back.
 *
 * Token ids: 0 <pad>, 1 <bos>, 2 <eos>; 3 + b for the byte b (3..258);
 * 259 + r for the merge of rank r. Any byte string encodes; decoding the
 * ids of a text gives the text back, byte for byte.
 *
 * Pre-tokenization (the same when learning and encoding; merges never
 * cross a piece boundary): bytes fall in four classes, whitespace (space,
 * \t \n \v \f \r), digit (0-9), letter (A-Z a-z and every byte >= 0x80,
 * so all non-ASCII text) and other (the rest: punctuation, controls).
 * A piece is a maximal run of one class among letter, digit and other,
 * with the single space just before it attached in front (" cat"); a
 * whitespace run that is not such a single space is its own piece, less
 * its last byte when that byte is a space followed by a non-space (which
 * goes with the next word, as in GPT-2). A piece longer than
 * AVK_BPE_MAX_PIECE bytes is cut at that length.
 */
#ifndef AVKIT_BPE_H
#define AVKIT_BPE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "avkit/util/common.h"

enum {
    AVK_BPE_PAD = 0,        /* padding (mask 0) */
    AVK_BPE_BOS = 1,        /* begin of text */
    AVK_BPE_EOS = 2,        /* end of text */
    AVK_BPE_BYTE0 = 3,      /* id of byte 0x00; byte b is 3 + b */
    AVK_BPE_NBASE = 259     /* specials + bytes; first merge id */
};
#define AVK_BPE_MAX_PIECE (1u << 30)

typedef struct avk_bpe avk_bpe;

/* A growable array of token ids. */
typedef struct avk_ids {
    int32_t *ids;
    size_t n, cap;
} avk_ids;
void avk_ids_push(avk_ids *v, int32_t id);
void avk_ids_free(avk_ids *v);

/* A vocabulary with no merges (one token a byte). */
avk_bpe *avk_bpe_new_bytes(void);
/* Load a vocabulary file; NULL with error set ("file: line N: ..."). */
avk_bpe *avk_bpe_load(const char *path);
/* Write the vocabulary in the avkit-vocab(5) format; 0 or -1. */
int avk_bpe_write(const avk_bpe *b, FILE *fp, const char *what);
/* Write to a file through a temporary name ("-" is stdout); 0 or -1. */
int avk_bpe_save(const avk_bpe *b, const char *path);
void avk_bpe_free(avk_bpe *b);

/* Total ids (259 + merges) and the number of merges. */
int avk_bpe_vocab_size(const avk_bpe *b);
int avk_bpe_merges(const avk_bpe *b);
/* The two ids merge rank r joins (0 <= r < merges). */
void avk_bpe_merge_pair(const avk_bpe *b, int r, int32_t *left, int32_t *right);
/* Bytes of a token (NULL with *len 0 for specials and unknown ids). */
const unsigned char *avk_bpe_token(const avk_bpe *b, int32_t id, size_t *len);

/* End of the piece that starts at s[pos] (pos < len), by the rule above. */
size_t avk_bpe_piece_end(const unsigned char *s, size_t len, size_t pos);

/* Append the ids of text[0..len) to out (no bos/eos). Uses a per-piece
 * cache inside b, so one avk_bpe must not encode from two threads. */
void avk_bpe_encode(avk_bpe *b, const void *text, size_t len, avk_ids *out);
/* Append the bytes of ids to out; specials give no bytes. -1 (error set)
 * for an id outside the vocabulary. */
int avk_bpe_decode(const avk_bpe *b, const int32_t *ids, size_t n, avk_buf *out);

/* ---- learning -------------------------------------------------------- */

typedef struct avk_bpe_learner avk_bpe_learner;

avk_bpe_learner *avk_bpe_learner_new(void);
/* Count the pieces of one text of the corpus. */
void avk_bpe_learner_add(avk_bpe_learner *l, const void *text, size_t len);
/* Learn merges until the vocabulary has vocab_size ids (>= 259) or no
 * pair of symbols occurs min_count times or more. Each step merges the
 * most frequent adjacent pair (counted over all pieces, weighted by how
 * often each piece occurs); ties go to the pair with the smallest left
 * id, then the smallest right id. The result depends only on the texts
 * added (not their order), so it is repeatable. */
avk_bpe *avk_bpe_learn(avk_bpe_learner *l, int vocab_size, long min_count);
/* Pieces counted so far (distinct, and in all). */
size_t avk_bpe_learner_words(const avk_bpe_learner *l);
void avk_bpe_learner_free(avk_bpe_learner *l);

#endif
