/* safetensors.h: reading and writing the safetensors format (Hugging Face; what PyTorch users
 * exchange weights in), with no dependency: a small JSON parser lives in safetensors.c.
 *
 * Format: 8-byte little-endian header length N; N bytes of JSON (UTF-8, may be padded with spaces)
 *   {"__metadata__": {"k": "v", ...},
 *    "<name>": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ...}
 * then the data section: each tensor's bytes, row-major, little-endian, at [begin, end) relative
 * to the start of the data section. As in the reference implementation, the tensors must cover
 * the data section exactly, without gaps or overlaps, and end - begin = numel * dtype size.
 *
 * Reading validates all of this at st_open(); any violation is a one-line error naming the file
 * (exit 2). Float tensors (F32, F16, BF16, F64) are read converted to float32 (F16 and BF16
 * exactly, F64 rounded to nearest); integer tensors (I64, I32) read as int64. Other known dtypes
 * (BOOL, U8, I8, I16, U16, U32, U64, F8_E4M3, F8_E5M2) are accepted in a file but cannot be read as
 * numbers; an unknown dtype string is an error at st_open().
 *
 * Writing (st_write) is atomic: "<path>.tmp", removed on error or a signal, renamed at the end.
 * The header is padded with spaces to a multiple of 8 bytes; tensors are laid out in the order
 * given. Only F32 and I64 are written.
 */
#ifndef TDANN_SAFETENSORS_H
#define TDANN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8

typedef struct {
    char *name;
    char dtype[12];
    int ndim;                     /* 0 for a scalar */
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    uint64_t begin, end;          /* byte range in the data section */
} StTensor;

typedef struct {
    char *path;
    int fd;
    uint64_t file_size, data_start, data_len;
    int n;                        /* tensors, in header order */
    StTensor *t;
    int nmeta;                    /* __metadata__ entries */
    char **meta_keys, **meta_vals;
} StFile;

StFile *st_open(const char *path);           /* dies (exit 2) on a malformed file */
void st_close(StFile *f);
const StTensor *st_find(const StFile *f, const char *name); /* NULL if absent */
int st_dtype_is_float(const char *dtype);    /* F32 F16 BF16 F64 */
int st_dtype_is_int(const char *dtype);      /* I64 I32 */
void st_read_f32(const StFile *f, const StTensor *t, float *out);   /* [numel]; dies on other dtypes */
void st_read_i64(const StFile *f, const StTensor *t, int64_t *out); /* [numel]; dies on other dtypes */

/* Conversions (exposed for the tests). */
float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t b);

typedef struct {
    const char *name;
    const char *dtype;            /* "F32" or "I64" */
    int ndim;
    int64_t shape[4];
    const void *data;             /* numel values of that dtype */
} StOut;

/* Writes n tensors; meta is NULL or a NULL-terminated list key, value, key, value, ... */
void st_write(const char *path, const StOut *t, int n, const char *const *meta);

#endif
