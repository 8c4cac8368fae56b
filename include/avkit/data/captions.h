/* Caption tables for av-caption-feed: captions read from a JSONL or TSV
 * file, keyed either by clip id ("VIDEO#START-END", see tsv.h) or by video
 * and time interval (seconds), with lookups by id and by largest overlap.
 *
 * JSONL: one JSON object a line (blank lines skipped). TSV: a header line
 * of column names, then one caption a line. The field names are options
 * (defaults: "clip" and "caption"; "video", "start", "end" by time).
 * Caption text is trimmed of ASCII whitespace at both ends; a caption that
 * is then empty (or JSON null) is kept as empty, and the caller decides.
 */
#ifndef AVKIT_CAPTIONS_H
#define AVKIT_CAPTIONS_H

#include <stddef.h>
#include "avkit/util/common.h"
#include "avkit/util/strmap.h"

enum { AVK_CAPTIONS_AUTO = 0, AVK_CAPTIONS_JSONL, AVK_CAPTIONS_TSV };

typedef struct avk_caption_opts {
    int by_time;            /* key by video + interval instead of clip id */
    int format;             /* AVK_CAPTIONS_*; AUTO: JSONL when the first
                               non-blank line starts with '{' */
    int replace_invalid;    /* invalid UTF-8 -> U+FFFD instead of an error */
    const char *id_field, *text_field, *video_field, *start_field, *end_field;
} avk_caption_opts;

typedef struct avk_caption {
    char  *key;             /* clip id, or video when by time */
    double start, end;      /* seconds, when by time */
    char  *text;            /* UTF-8 without NUL, trimmed; may be "" */
    long   line;            /* line in the file */
    int    touched;         /* some clip matched or overlapped it */
} avk_caption;

typedef struct avk_captions {
    char        *path;
    int          by_time;
    avk_caption *v;
    size_t       n;
    avk_strmap   index;     /* id -> first entry; or video -> group */
    size_t      *dups;      /* entries whose id came before (by id) */
    size_t       ndups;
    size_t       replaced;  /* invalid UTF-8 sequences replaced */
    /* by time: entries of each video sorted by start */
    size_t     **group;     /* group g: entry indices */
    double     **group_maxend; /* prefix maximum of end over group g */
    size_t      *group_n;
} avk_captions;

/* Fill o with the defaults. */
void avk_caption_opts_default(avk_caption_opts *o);
/* Read a caption file ("-" is stdin). NULL with the error set, naming the
 * file and line: malformed JSON, a missing field, invalid UTF-8, a bad
 * interval. */
avk_captions *avk_captions_load(const char *path, const avk_caption_opts *o);
void avk_captions_free(avk_captions *c);

/* By id: the first entry with this id (marked touched), or -1. */
long avk_captions_find(avk_captions *c, const char *id);
/* By time: the entry of `video` that overlaps [start, end) most (ties: the
 * earlier line), or -1 when none overlaps. `video` matches the captions'
 * video field exactly or, failing that, by its last path component. *overlap = length of the
 * intersection / (end - start). Every overlapping entry is marked touched. */
long avk_captions_best(avk_captions *c, const char *video, double start,
                       double end, double *overlap);

/* Trim ASCII whitespace at both ends of s[0..*n) in place; returns s. */
char *avk_caption_trim(char *s, size_t *n);

#endif
