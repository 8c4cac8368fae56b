/* NumPy .npy files (format 1.0 written; 1.0, 2.0 and 3.0 read) for the
 * tensor stream's tools: export a tensor, build a tensor from a file.
 * bf16 has no NumPy dtype: it is written widened to '<f4' (exact). */
#ifndef AVKIT_AVT_NPY_H
#define AVKIT_AVT_NPY_H

#include "avkit/io/avt.h"

/* The NumPy descr of a dtype ("<f4", "|u1", ...); bf16 gives "<f4". */
const char *avt_npy_descr(int dtype);
/* Write tensor t to `path` ("-" is stdout) as a .npy file, through a
 * temporary file. 0 or -1 (error set). */
int avt_npy_write(const char *path, const avt_tensor *t);
/* Read a .npy file (C order, little-endian, a dtype avt knows) and add it
 * to r as tensor `name`. 0 or -1 (error names the file). */
int avt_npy_read(const char *path, avt_record *r, const char *name);

#endif
