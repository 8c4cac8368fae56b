/* A checkpoint committed as a whole: several files (the weights, the
 * optimizer state, an EMA copy) that must change together.
 *
 *   avk_ckpt *c = avk_ckpt_begin(weights_path);  holds SIGINT/SIGTERM/SIGHUP
 *   avk_ckpt_add(c, weights_path, writer);       temp file beside it, fsynced
 *   avk_ckpt_add(c, optim_path, writer);
 *   avk_ckpt_commit(c);                          marker, renames, marker gone
 *
 * Every file is written under a temporary name in its target's directory
 * and synced. Then a marker ".NAME.commit" (NAME: the first file's base
 * name) is written, synced and renamed into place: that rename is the
 * commit point. The temporary files are renamed over their targets, the
 * directory is synced and the marker removed. Until the marker exists the
 * previous checkpoint is untouched; once it exists the new one is
 * complete on disk. A process killed in between (kill -9, power loss)
 * leaves the marker, and avk_ckpt_recover() finishes the renames it
 * lists, so the files always form one checkpoint: the previous or the new.
 * All files of a checkpoint live in one directory.
 *
 * Several processes (the ranks of a sharded checkpoint) write one
 * checkpoint together: every rank but the committing one writes its file
 * with avk_ckpt_write_part (a synced ".NAME.part" beside it); once all
 * are written (the ranks agree), the committing rank adds its own files,
 * adopts the others' parts with avk_ckpt_adopt, and commits: the marker,
 * written last, lists every part, so a write interrupted anywhere before
 * it leaves the previous checkpoint as it was (stale parts are
 * overwritten by the next write and never read).
 */
#ifndef AVKIT_NN_CHECKPOINT_H
#define AVKIT_NN_CHECKPOINT_H

#include "avkit/io/safetensors.h"

typedef struct avk_ckpt avk_ckpt;

/* Start a checkpoint whose first file is `first_path` (it names the
 * marker). Blocks SIGINT, SIGTERM and SIGHUP in the calling thread until
 * commit or abort. */
avk_ckpt *avk_ckpt_begin(const char *first_path);
/* Write one file of it (the writer is consumed) to a synced temporary file
 * beside `path`. 0, or -1 with the error set (the checkpoint must then be
 * aborted). */
int avk_ckpt_add(avk_ckpt *c, const char *path, avk_st_writer *w);
/* Another process's file of the checkpoint: write `path`'s part (the
 * writer is consumed), synced, without committing anything. 0 or -1. */
int avk_ckpt_write_part(const char *path, avk_st_writer *w);
/* Take the part written for `path` (avk_ckpt_write_part, by any process)
 * into c: it is renamed over path by the commit. 0, or -1 with the error
 * set when it is missing (the checkpoint must then be aborted). */
int avk_ckpt_adopt(avk_ckpt *c, const char *path);
/* The part's name for path: ".NAME.part" beside it. */
char *avk_ckpt_part_path(const char *path);
/* Commit: marker, renames, directory sync, marker removed; restores the
 * signal mask and frees c. 0 or -1 (error set; the previous checkpoint is
 * then intact unless the marker was written, when recovery finishes it). */
int avk_ckpt_commit(avk_ckpt *c);
/* Give up before the commit: temporary files removed, mask restored. */
void avk_ckpt_abort(avk_ckpt *c);
/* Finish a commit a killed process left half done (the marker of
 * `first_path` exists): the listed renames are done, the marker removed.
 * 1 when something was finished, 0 when there was no marker, -1 with the
 * error set on a bad marker or a failed rename. */
int avk_ckpt_recover(const char *first_path);
/* The marker's name for a checkpoint whose first file is `first_path`. */
char *avk_ckpt_marker_path(const char *first_path);

#endif
