/* Clip sources: the clips a training or encoding tool works on, read from
 * a clip manifest (TSV with columns video, start_frame, end_frame and
 * optionally fps and keep) or from a tensor stream of clip records (as
 * av-caption-feed writes: metadata video, start_frame, end_frame, fps),
 * one clip at a time; and the frames of a clip, resampled in time and
 * decoded through video.h.
 */
#ifndef AVKIT_CLIPSRC_H
#define AVKIT_CLIPSRC_H

#include <stdint.h>
#include "avkit/io/avt.h"

typedef struct avk_clip {
    avt_record  rec;     /* key = clip id; metadata = the TSV columns or the
                            stream record's metadata; tensors (streams only) */
    const char *video;   /* the "video" metadata value */
    long        start, end;  /* frame range, end exclusive */
    double      fps;     /* "fps" metadata, 0 when absent */
    long        index;   /* 0-based clip number in the input */
} avk_clip;

enum { AVK_CLIPS_AUTO = 0, AVK_CLIPS_TSV = 1, AVK_CLIPS_AVT = 2 };

typedef struct avk_clipsrc avk_clipsrc;

/* Open a clip source. AUTO: a regular file whose first byte is that of the
 * tensor stream magic (0x89) is a stream, any other a manifest; "-" (stdin)
 * is a stream. NULL with error set on failure. */
avk_clipsrc *avk_clipsrc_open(const char *path, int format);
/* The next clip (manifest rows with keep 0 are skipped): 1, 0 at the end,
 * -1 on error (naming the file and the line or record: a missing column or
 * metadata key, a frame range that is not 0 <= start < end). Free the clip
 * with avk_clip_free. */
int avk_clipsrc_next(avk_clipsrc *s, avk_clip *c);
void avk_clipsrc_close(avk_clipsrc *s);
void avk_clip_free(avk_clip *c);

/* Time resampling: the source frames that a clip of frames [start, end)
 * at fps_src gives at fps_out (0 = fps_src), at most max_frames of them
 * (0 = all). Output frame k shows source frame
 *   start + floor(k * fps_src / fps_out)
 * for k = 0 .. n-1, n = floor((end - start) * fps_out / fps_src) (plus a
 * tolerance of 1e-6 frame), capped at max_frames. Returns n (0 when the
 * clip is shorter than one output frame) and a malloc'ed index array. */
int64_t avk_resample_frames(long start, long end, double fps_src, double fps_out, int max_frames,
                            long **idx);

/* Decode frames idx[0..n) (increasing) of a video as RGB24 at
 * out_w x out_h (0, 0 = the source size; the video is scaled by FFmpeg's
 * swscale otherwise) into one malloc'ed buffer of n frames. The frame size
 * is returned in *w, *h. -1 with error naming the video and frame. */
int avk_decode_frames(const char *video, const long *idx, int64_t n, int out_w, int out_h,
                      uint8_t **rgb, int *w, int *h);

/* The same one frame at a time, for memory bounded by a batch: open a
 * video scaled to out_w x out_h (0, 0 = source size; the size is returned
 * in *w, *h), then get frames by index (any order; reading forward is
 * fastest, a backward or far jump seeks) into dst (w*h*3 bytes). */
typedef struct avk_frame_reader avk_frame_reader;
avk_frame_reader *avk_frame_reader_open(const char *video, int out_w, int out_h, int *w, int *h);
int avk_frame_reader_get(avk_frame_reader *r, long index, uint8_t *dst);
void avk_frame_reader_close(avk_frame_reader *r);

#endif
