/* avkit tensor stream (.avt): a sequence of records, each a key, text
 * metadata and named tensors; streams through pipes, optional zlib per
 * tensor, CRC-32 on every header and payload, a trailing index for random
 * access on regular files. The byte layout is specified in man/man5/avt.5.
 */
#ifndef AVKIT_AVT_H
#define AVKIT_AVT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "avkit/io/dtype.h"

#define AVT_MAX_DIMS 8
#define AVT_VERSION  1

/* On-disk constants (man/man5/avt.5). */
#define AVT_MAGIC        "\x89" "AVT\r\n\x1a\n"   /* 8 bytes */
#define AVT_MAX_HEADER   (64u << 20)   /* largest record header accepted */
enum { AVT_COMP_NONE = 0, AVT_COMP_ZLIB = 1 };   /* per-tensor compression */

/* Element types. The numeric codes are part of the on-disk format. */
typedef enum avt_dtype {
    AVT_F32 = 1, AVT_F16 = 2, AVT_BF16 = 3, AVT_F64 = 4,
    AVT_I8 = 5, AVT_I16 = 6, AVT_I32 = 7, AVT_I64 = 8,
    AVT_U8 = 9, AVT_U16 = 10, AVT_BOOL = 11
} avt_dtype;

/* Bytes per element (0 for an unknown code). */
size_t avt_dtype_size(int dtype);
/* "f32", "bf16", ... (NULL for an unknown code). */
const char *avt_dtype_name(int dtype);
/* Code for a name as avt_dtype_name() spells it; -1 if unknown. */
int avt_dtype_from_name(const char *name);

typedef struct avt_tensor {
    char   *name;
    int     dtype;
    int     ndim;
    int64_t shape[AVT_MAX_DIMS];
    void   *data;        /* owned by the record; nbytes long */
    size_t  nbytes;
} avt_tensor;

typedef struct avt_meta {
    char *key, *value;
} avt_meta;

typedef struct avt_record {
    char       *key;
    int         nmeta;
    avt_meta   *meta;
    int         ntensors;
    avt_tensor *tensors;
} avt_record;

/* CRC-32 as zlib's crc32() computes it (start with 0, chain by passing
 * the previous value); libdeflate computes it. */
uint32_t avt_crc32(uint32_t crc, const void *buf, size_t len);

/* IEEE half and bfloat16 conversions: avkit/io/dtype.h (included above). */
/* Convert n elements of `dtype` at src to doubles (exact for every dtype
 * but i64/u64 beyond 2^53). */
void avt_to_f64(int dtype, const void *src, double *dst, size_t n);

/* ---- records --------------------------------------------------------- */

void avt_record_init(avt_record *r, const char *key);
void avt_record_free(avt_record *r);
/* Set (or replace) a metadata value. */
void avt_record_set_meta(avt_record *r, const char *key, const char *value);
/* The value of a metadata key, or NULL. */
const char *avt_record_get_meta(const avt_record *r, const char *key);
/* Add a tensor, copying `data` (nbytes = product(shape) * dtype size).
 * Returns the new tensor (replaces one of the same name). */
avt_tensor *avt_record_add_tensor(avt_record *r, const char *name, int dtype,
                                  int ndim, const int64_t *shape,
                                  const void *data);
/* Same, taking ownership of malloc'ed `data` instead of copying. */
avt_tensor *avt_record_take_tensor(avt_record *r, const char *name, int dtype,
                                   int ndim, const int64_t *shape, void *data);
/* The tensor of that name, or NULL. */
avt_tensor *avt_record_find(const avt_record *r, const char *name);
/* Deep copy of src into dst (dst uninitialized). */
void avt_record_copy(avt_record *dst, const avt_record *src);
/* Number of elements of a tensor. */
int64_t avt_tensor_numel(const avt_tensor *t);

/* ---- writing --------------------------------------------------------- */

enum { AVT_WRITE_ZLIB = 1 };      /* compress payloads with zlib */

typedef struct avt_writer avt_writer;

/* Start a stream on `path` ("-" is stdout; a file is written under a
 * temporary name and renamed by avt_writer_finish). flags: AVT_WRITE_ZLIB.
 * level: zlib level 1..9 (0 = default 6). NULL with error set on failure;
 * refuses a terminal on stdout. */
avt_writer *avt_writer_open(const char *path, int flags, int level);
/* Write one record; 0 or -1. */
int avt_write_record(avt_writer *w, const avt_record *r);
/* Write the end block (index), close, rename into place; frees w. 0 or -1. */
int avt_writer_finish(avt_writer *w);
/* Abandon: nothing appears under the real name; frees w. */
void avt_writer_abort(avt_writer *w);

/* ---- reading --------------------------------------------------------- */

typedef struct avt_reader avt_reader;

/* Open a stream ("-" is stdin); checks magic and version. */
avt_reader *avt_reader_open(const char *path);
/* Read the next record into r (initialized by the call; free it with
 * avt_record_free). Returns 1 for a record, 0 at a proper end of stream,
 * -1 on error (message names file and record number / byte offset;
 * a stream that ends without its end block is an error). */
int avt_read_record(avt_reader *rd, avt_record *r);
/* Number of records, from the trailing index; only for regular files.
 * -1 (error set) for pipes or a stream without a valid index. */
int64_t avt_reader_count(avt_reader *rd);
/* Position the reader on record i (0-based) using the index; the next
 * avt_read_record returns record i. 0 or -1. */
int avt_reader_seek(avt_reader *rd, int64_t i);
void avt_reader_close(avt_reader *rd);
/* Read a stream from an open FILE (not closed by avt_reader_close);
 * `name` names it in messages. Random access works when fp is a regular
 * file positioned at the start of the stream. */
avt_reader *avt_reader_open_fp(FILE *fp, const char *name);
/* Index of the record the next avt_read_record returns. */
int64_t avt_reader_tell(const avt_reader *rd);

#endif
