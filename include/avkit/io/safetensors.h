/* safetensors: the public weights format (8-byte little-endian header size,
 * JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {...}},
 * then the data). Files are memory-mapped for reading.
 */
#ifndef AVKIT_SAFETENSORS_H
#define AVKIT_SAFETENSORS_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include "avkit/io/avt.h"   /* dtype codes are shared with the tensor stream */

typedef struct avk_st_tensor {
    char       *name;
    int         dtype;           /* AVT_F32, AVT_BF16, ... */
    int         ndim;
    int64_t     shape[AVT_MAX_DIMS];
    const void *data;            /* points into the mapping (read) */
    size_t      nbytes;
} avk_st_tensor;

typedef struct avk_st_file {
    char          *path;
    int            ntensors;
    avk_st_tensor *tensors;      /* in file order */
    int            nmeta;
    avt_meta      *meta;         /* __metadata__ string pairs */
    void          *map;          /* private */
    size_t         map_size;     /* private */
} avk_st_file;

/* Map and parse a safetensors file ("-" or a pipe is read into memory);
 * every offset, shape and dtype is checked against the file size. NULL with error set (naming the file and
 * the tensor or byte offset) on failure. */
avk_st_file *avk_st_open(const char *path);
void avk_st_close(avk_st_file *f);
/* Parse a safetensors image already in memory (size bytes at buf, which
 * must stay valid until avk_st_close; tensor data points into it). `name`
 * stands for the file in error messages. Same checks as avk_st_open. */
avk_st_file *avk_st_parse_buffer(const void *buf, size_t size, const char *name);
/* The format's dtype name ("F32", "BF16", ...) of a dtype code, NULL if the
 * code has none; and the code of a format name, -1 if unknown. */
const char *avk_st_dtype_name(int dtype);
int avk_st_dtype_from_name(const char *name);
/* The largest JSON header accepted (and written), as in the reference
 * implementation. */
#define AVK_ST_MAX_HEADER 100000000
/* The tensor of that name, or NULL. */
const avk_st_tensor *avk_st_find(const avk_st_file *f, const char *name);
/* A __metadata__ value, or NULL. */
const char *avk_st_meta(const avk_st_file *f, const char *key);

/* Writing: collect tensors (pointers are borrowed until write), then write
 * to `path` through a temporary file and rename. Tensors are written in
 * the order added; dtype names follow the format ("F32", "BF16", ...). */
typedef struct avk_st_writer avk_st_writer;
avk_st_writer *avk_st_writer_new(void);
void avk_st_writer_meta(avk_st_writer *w, const char *key, const char *value);
void avk_st_writer_add(avk_st_writer *w, const char *name, int dtype, int ndim,
                       const int64_t *shape, const void *data);
/* 0 or -1; frees w in both cases. */
int avk_st_writer_write(avk_st_writer *w, const char *path);
void avk_st_writer_free(avk_st_writer *w);
/* Write the whole file image to an open stream (no temporary file, no
 * rename, no flush: the caller owns fp); `path` names it in errors. 0 or
 * -1; frees w in both cases. */
int avk_st_writer_write_fp(avk_st_writer *w, FILE *fp, const char *path);

#endif
