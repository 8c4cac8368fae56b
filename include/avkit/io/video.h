/* Video and image I/O: decoding through FFmpeg's libraries (libavformat,
 * libavcodec, libswscale), encoding mp4, and TIFF frames through libtiff.
 */
#ifndef AVKIT_VIDEO_H
#define AVKIT_VIDEO_H

#include <stddef.h>
#include <stdint.h>

/* Pixel layouts of decoded frames: packed, row-major, no padding. */
enum avk_pixfmt {
    AVK_PIX_RGB24 = 1,   /* 3 bytes a pixel, R G B */
    AVK_PIX_GRAY8 = 2,   /* 1 byte a pixel (luma) */
    AVK_PIX_YUV420P = 3  /* planar Y (w*h), U, V (each ceil(w/2)*ceil(h/2)) */
};

/* Bytes of one frame in a given layout. */
size_t avk_frame_bytes(int pixfmt, int width, int height);

typedef struct avk_video_info {
    int     width, height;       /* coded frame size */
    double  fps;                 /* average frame rate */
    int64_t nframes;             /* from the container, or counted; -1 unknown */
    double  duration;            /* seconds, -1 unknown */
    char    codec[32];
} avk_video_info;

typedef struct avk_decode_opts {
    int width, height;   /* output size; 0 = source size (one 0 keeps aspect) */
    int pixfmt;          /* AVK_PIX_*; 0 = RGB24 */
    int threads;         /* decoder threads; 0 = auto (all cores) */
    int fast;            /* 1: skip work the output cannot see (e.g. the
                            loop filter), for analysis at low resolution */
    int scaler;          /* AVK_SCALE_AREA (0) or AVK_SCALE_BILINEAR */
} avk_decode_opts;

/* How frames are shrunk to the output size. */
enum avk_scaler {
    AVK_SCALE_AREA = 0,      /* area averaging: the faithful default */
    AVK_SCALE_BILINEAR = 1   /* two-tap bilinear from the nearest source pixels,
                                as OpenCV's INTER_LINEAR: aliases, costs less */
};

typedef struct avk_video avk_video;

/* Open a video for decoding; fills *info. NULL with error set ("path:
 * what") for a missing, unreadable or videoless file. */
avk_video *avk_video_open(const char *path, const avk_decode_opts *opts,
                          avk_video_info *info);
/* Output frame size after scaling. */
void avk_video_out_size(const avk_video *v, int *width, int *height);
/* Position so that the next avk_video_read returns frame `index` exactly
 * (0-based, in presentation order). 0 or -1. */
int avk_video_seek_frame(avk_video *v, int64_t index);
/* Decode the next frame into buf (avk_frame_bytes() long). Returns 1 for a
 * frame, 0 at the end of the video, -1 on a decoding error (the message
 * names the file and the frame index; a damaged video reads up to the
 * damage and then fails or ends). *pts_index, if not NULL, receives the
 * frame's index. buf may be NULL to skip the pixel conversion. After -1
 * the reader stays usable: reading on skips the damage. Conventions
 * (frame index, seeking, fast mode, damage): man/man3/avkit-video.3. */
int avk_video_read(avk_video *v, uint8_t *buf, int64_t *index);

/* A decoded frame before its conversion to the output size and format. */
typedef struct avk_decoded avk_decoded;

/* avk_video_read in two halves, so that the conversion can run on another
 * thread than the decoding: the same results and errors, but *frame
 * receives the decoded frame (the caller frees it with avk_decoded_free).
 * Each half must be called by one thread at a time; the two may run on
 * different threads concurrently. */
int avk_video_read_decoded(avk_video *v, avk_decoded **frame, int64_t *index);
/* Convert a frame of v into buf (avk_frame_bytes() long). 0 or -1. */
int avk_video_convert(avk_video *v, const avk_decoded *frame, uint8_t *buf);
void avk_decoded_free(avk_decoded **frame);

void avk_video_close(avk_video *v);

/* Probe a file without decoding frames (counts packets when the container
 * does not say). 0 or -1. */
int avk_video_probe(const char *path, avk_video_info *info);

/* ---- encoding -------------------------------------------------------- */

typedef struct avk_encoder avk_encoder;

/* Start an mp4 (H.264 via libx264 when present, else MPEG-4 part 2) of
 * RGB24 frames. Written to a temporary name, renamed by finish. crf < 0
 * picks a default quality. */
avk_encoder *avk_encoder_open(const char *path, int width, int height,
                              double fps, int crf);
/* Add one RGB24 frame (width*height*3 bytes). 0 or -1. */
int avk_encoder_write(avk_encoder *e, const uint8_t *rgb);
/* avk_encoder_open with a named encoder ("libx264", "mpeg4"; NULL picks as
 * avk_encoder_open does). Odd sizes are padded to even by repeating the
 * last column and row. */
avk_encoder *avk_encoder_open_codec(const char *path, int width, int height,
                                    double fps, int crf, const char *codec);
/* Flush, write the trailer, rename into place; frees e. 0 or -1. */
int avk_encoder_finish(avk_encoder *e);
void avk_encoder_abort(avk_encoder *e);

/* ---- TIFF ------------------------------------------------------------ */

/* Sample formats of images in memory. */
enum avk_sample { AVK_SAMPLE_U8 = 1, AVK_SAMPLE_U16 = 2, AVK_SAMPLE_F32 = 3 };

typedef struct avk_image {
    int   width, height, channels;   /* channels 1 (gray), 3 (RGB), 4 */
    int   sample;                    /* AVK_SAMPLE_* */
    void *data;                      /* interleaved, row-major, malloc'ed */
} avk_image;

/* Read the first page of a TIFF. 0 or -1. */
int avk_tiff_read(const char *path, avk_image *img);
/* Write a TIFF (temp file + rename); compress with deflate when asked. */
int avk_tiff_write(const char *path, const avk_image *img, int deflate);
void avk_image_free(avk_image *img);

#endif
