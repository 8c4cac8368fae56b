/* TSV manifests: a header line of column names, then one row a line,
 * fields separated by tabs. Early pipeline stages pass these; they carry
 * references (video path, frame range, fps), never pixels.
 *
 * The clip id, used everywhere a clip is named, is "VIDEO#START-END" with
 * START and END the frame range (END exclusive); see avk_clip_id().
 */
#ifndef AVKIT_TSV_H
#define AVKIT_TSV_H

#include <stdio.h>
#include "avkit/util/common.h"

typedef struct avk_tsv {
    char  *path;        /* for messages */
    FILE  *fp;
    int    ncols;
    char **cols;        /* header names */
    long   lineno;      /* line number of the current row (1 = header) */
    /* current row */
    int    nfields;
    char **fields;      /* point into linebuf */
    char  *linebuf;
    size_t linecap;
} avk_tsv;

/* Open a manifest ("-" is stdin) and read its header. NULL with error set
 * for a missing file, an empty file or an empty header. */
avk_tsv *avk_tsv_open(const char *path);
/* Read the next row. 1 = row, 0 = end, -1 = error (a row whose field count
 * differs from the header's names the file and line). Blank lines are
 * skipped; CRLF endings are accepted. */
int avk_tsv_next(avk_tsv *t);
/* Column index of a name, or -1. */
int avk_tsv_col(const avk_tsv *t, const char *name);
/* Column index of a name that must exist; -1 with error set
 * ("file: missing column 'x'"). */
int avk_tsv_need(const avk_tsv *t, const char *name);
/* Field of the current row (column index from avk_tsv_col). */
const char *avk_tsv_field(const avk_tsv *t, int col);
void avk_tsv_close(avk_tsv *t);

/* Append a field to a row being built in b, with a tab before all but the
 * first (first = 1 for the first field). Tabs and newlines inside the value
 * are replaced by spaces so the row stays one line. */
void avk_tsv_put(avk_buf *b, int first, const char *value);

/* The clip id "VIDEO#START-END" (malloc'ed). */
char *avk_clip_id(const char *video, long start, long end);
/* Parse a clip id; 0 or -1. *video is malloc'ed. */
int avk_clip_id_parse(const char *id, char **video, long *start, long *end);

#endif
