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
