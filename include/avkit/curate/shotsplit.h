/* Writing one shot of a video as its own file: stream copy through
 * libavformat (no decoding) when the shot starts on a key frame, or
 * re-encoding through avk_encoder. Used by av-shotcut --split.
 */
#ifndef AVKIT_SHOTSPLIT_H
#define AVKIT_SHOTSPLIT_H

#include <stddef.h>
#include <stdint.h>

/* The frames of a video's first video stream as seen by the demuxer
 * (no decoding): frame count and which frames (in presentation order) are
 * key frames. */
typedef struct avk_keyframes {
    int64_t  nframes;
    uint8_t *is_key;     /* nframes flags */
} avk_keyframes;

/* Index the frames of `path`. 0 or -1 (error set). */
int avk_keyframes_read(const char *path, avk_keyframes *k);
void avk_keyframes_free(avk_keyframes *k);

/* Copy the packets of frames [start, end) of `in` into the mp4 `out`
 * without decoding, starting at the key frame at or before `start`; the
 * file appears under its name only when complete. 0 or -1 (error set). */
int avk_split_copy(const char *in, const char *out, int64_t start, int64_t end);

/* Decode frames [start, end) of `in` and encode them into the mp4 `out`
 * (avk_encoder; crf < 0 picks its default). threads as in
 * avk_decode_opts. 0 or -1 (error set). */
int avk_split_encode(const char *in, const char *out, int64_t start, int64_t end,
                     int crf, int threads);

#endif
