/* h5io.h: HDF5 artifacts.
 *
 * Every file a tool writes is an artifact: root attributes `artifact` (kind), `schema_version`,
 * `tool`, `tool_version`, `command_line`, `created_utc`, `config_yaml` (resolved config of the
 * sections the tool read), `seed`, `device`, `inputs` (one line per input: path, TAB,
 * "hash64:<16 hex>", TAB, bytes) and `history` (the inputs' history lines, then this command).
 * Datasets carry `dims` ("image,channel,row,col") and `units` attributes.
 *
 * Writes are atomic: h5out_create() writes to "<path>.tmp" (removed on die or a signal) and
 * h5out_commit() renames it; an interrupted tool never leaves a file at the target path.
 * Datasets of 4096 elements or more are chunked along the first dimension with shuffle + gzip
 * (readable by h5py and MATLAB everywhere).
 *
 * Addressing: "file.h5:/group/dataset" (h5_split_addr). Dataset and attribute paths inside a file
 * are absolute or relative to the given location; missing groups are created on write.
 * Errors name the file and the object and exit (1 on I/O failure, 2 on malformed or wrong input).
 */
#ifndef TDANN_H5IO_H
#define TDANN_H5IO_H

#include <hdf5.h>
#include <stdint.h>

typedef enum { H5IO_U8, H5IO_I32, H5IO_I64, H5IO_F32, H5IO_F64 } H5ioType;

#define H5IO_MAX_RANK 8

/* ---- provenance ---------------------------------------------------------------------------- */
/* Records an input file (hashed when the next output is created). h5_open_artifact records its
 * file itself; call this for other inputs (configs, images folders are not hashed: pass the path
 * with hash=0). */
void prov_add_input(const char *path);
void prov_add_input_nohash(const char *path);
void prov_set_device(const char *description); /* default "cpu" */

/* ---- writing ---------------------------------------------------------------------------------- */
typedef struct {
    hid_t file;
    char *path, *tmp;
    int cleanup;
} H5Out;

H5Out *h5out_create(const char *path, const char *artifact, int schema_version);
void h5out_commit(H5Out *o);  /* close + rename; frees o */
void h5out_discard(H5Out *o); /* close + unlink the temporary; frees o */

void h5_write(hid_t loc, const char *path, H5ioType t, int rank, const hsize_t *dims, const void *data,
              const char *dims_label, const char *units);
void h5_write_strings(hid_t loc, const char *path, char *const *strings, int n);

/* Appendable dataset growing along dimension 0, chunked by chunk_rows rows. */
typedef struct H5Stream H5Stream;
H5Stream *h5_stream_create(hid_t loc, const char *path, H5ioType t, int rank, const hsize_t *row_dims,
                           hsize_t chunk_rows, const char *dims_label, const char *units);
void h5_stream_append(H5Stream *s, const void *data, hsize_t nrows);
hsize_t h5_stream_rows(const H5Stream *s);
void h5_stream_close(H5Stream *s);

/* Attributes on the object at objpath ("." or "/" for loc itself). */
void h5_attr_str(hid_t loc, const char *objpath, const char *name, const char *value);
void h5_attr_i64(hid_t loc, const char *objpath, const char *name, int64_t value);
void h5_attr_f64(hid_t loc, const char *objpath, const char *name, double value);
void h5_attr_f64v(hid_t loc, const char *objpath, const char *name, const double *v, int n);
void h5_attr_i64v(hid_t loc, const char *objpath, const char *name, const int64_t *v, int n);

/* ---- reading ---------------------------------------------------------------------------------- */
/* Opens an artifact read-only and validates it: HDF5 at all, `artifact` == kind (NULL: any),
 * schema_version <= max_schema. Dies with a one-line message naming the file (exit 2). */
hid_t h5_open_artifact(const char *path, const char *kind, int max_schema, int *schema_out);
hid_t h5_open_any(const char *path); /* read-only, no validation (h5-compare, artifact-info) */
void h5_close_file(hid_t f);
char *h5_file_name(hid_t loc); /* the file an object lives in (for messages) */

int h5_exists(hid_t loc, const char *path); /* 1 if a link path exists (each component checked) */
/* Rank and dims of a dataset; dies (exit 2) "missing dataset" naming the file if absent. */
int h5_shape(hid_t loc, const char *path, hsize_t dims[H5IO_MAX_RANK]);
/* Reads a whole dataset converted to type t; allocates; fills rank/dims when non-NULL. */
void *h5_read(hid_t loc, const char *path, H5ioType t, int *rank, hsize_t dims[H5IO_MAX_RANK]);
/* Reads exactly n elements (dies if the dataset holds a different count). */
void h5_read_into(hid_t loc, const char *path, H5ioType t, void *buf, size_t n);
/* Reads rows [row0, row0+nrows) along dimension 0 into buf. */
void h5_read_rows(hid_t loc, const char *path, H5ioType t, hsize_t row0, hsize_t nrows, void *buf);
char **h5_read_strings(hid_t loc, const char *path, int *n); /* NULL-terminated, str_list_free() */

char *h5_attr_get_str(hid_t loc, const char *objpath, const char *name); /* NULL if absent */
int h5_attr_get_i64(hid_t loc, const char *objpath, const char *name, int64_t *v);   /* 0 or -1 */
int h5_attr_get_f64(hid_t loc, const char *objpath, const char *name, double *v);    /* 0 or -1 */
int h5_attr_get_f64v(hid_t loc, const char *objpath, const char *name, double *v, int max); /* n or -1 */

/* "file.h5:/path" -> file and path (path "" when absent). Returned strings are heap copies. */
void h5_split_addr(const char *addr, char **file, char **path);

size_t h5io_type_size(H5ioType t);

#endif
