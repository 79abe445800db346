/* h5io.c: see h5io.h. HDF5's own error stack printing is switched off; every failure is reported
 * here as one line naming the file and the object (set TDANN_H5_ERRORS=1 to see HDF5's stack). */
#include "h5io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "util.h"
#include "version.h"

static void h5_init(void) {
    static int done = 0;
    if (done) return;
    done = 1;
    const char *e = getenv("TDANN_H5_ERRORS");
    if (!e || strcmp(e, "1") != 0) H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

size_t h5io_type_size(H5ioType t) {
    switch (t) {
    case H5IO_U8: return 1;
    case H5IO_I32: case H5IO_F32: return 4;
    default: return 8;
    }
}
static hid_t mem_type(H5ioType t) {
    switch (t) {
    case H5IO_U8: return H5T_NATIVE_UINT8;
    case H5IO_I32: return H5T_NATIVE_INT32;
    case H5IO_I64: return H5T_NATIVE_INT64;
    case H5IO_F32: return H5T_NATIVE_FLOAT;
    default: return H5T_NATIVE_DOUBLE;
    }
}
static hid_t file_type(H5ioType t) {
    switch (t) {
    case H5IO_U8: return H5T_STD_U8LE;
    case H5IO_I32: return H5T_STD_I32LE;
    case H5IO_I64: return H5T_STD_I64LE;
    case H5IO_F32: return H5T_IEEE_F32LE;
    default: return H5T_IEEE_F64LE;
    }
}

char *h5_file_name(hid_t loc) {
    ssize_t n = H5Fget_name(loc, NULL, 0);
    if (n <= 0) return xstrdup("?");
    char *s = xmalloc((size_t)n + 1);
    H5Fget_name(loc, s, (size_t)n + 1);
    /* the temporary name is an implementation detail: report the target */
    if (str_ends(s, ".tmp")) s[strlen(s) - 4] = 0;
    return s;
}

static _Noreturn void h5_fail(int code, hid_t loc, const char *what, const char *obj) {
    char *f = h5_file_name(loc);
    die(code, "%s '%s' in '%s'", what, obj, f);
}

/* ---- provenance ------------------------------------------------------------------------------- */
typedef struct { char *path; int hash; char *history; } ProvInput;
static ProvInput *g_inputs = NULL;
static int g_ninputs = 0;
static char *g_device = NULL;

static void add_input(const char *path, int hash, const char *history) {
    for (int i = 0; i < g_ninputs; i++)
        if (strcmp(g_inputs[i].path, path) == 0) return;
    g_inputs = xrealloc(g_inputs, sizeof *g_inputs * (size_t)(g_ninputs + 1));
    g_inputs[g_ninputs].path = xstrdup(path);
    g_inputs[g_ninputs].hash = hash;
    g_inputs[g_ninputs].history = history ? xstrdup(history) : NULL;
    g_ninputs++;
}
void prov_add_input(const char *path) { add_input(path, 1, NULL); }
void prov_add_input_nohash(const char *path) { add_input(path, 0, NULL); }
void prov_set_device(const char *d) { free(g_device); g_device = xstrdup(d); }

static char *cat(char *acc, const char *s) {
    size_t a = acc ? strlen(acc) : 0, b = strlen(s);
    acc = xrealloc(acc, a + b + 1);
    memcpy(acc + a, s, b + 1);
    return acc;
}

/* history: the inputs' history lines (each once, in order), then this tool's line. */
static char *build_history(const char *created) {
    char *acc = xstrdup("");
    for (int i = 0; i < g_ninputs; i++) {
        if (!g_inputs[i].history) continue;
        char **lines = str_split(g_inputs[i].history, '\n', NULL);
        for (char **l = lines; *l; l++) {
            if (strstr(acc, *l)) continue;
            acc = cat(acc, *l);
            acc = cat(acc, "\n");
        }
        str_list_free(lines);
    }
    char *mine = xasprintf("%s %s", created, tool_command_line());
    acc = cat(acc, mine);
    free(mine);
    return acc;
}

static void write_provenance(hid_t f, const char *artifact, int schema) {
    char created[32];
    utc_timestamp(created);
    h5_attr_str(f, ".", "artifact", artifact);
    h5_attr_i64(f, ".", "schema_version", schema);
    h5_attr_str(f, ".", "tool", tool_name());
    h5_attr_str(f, ".", "tool_version", TDANN_VERSION);
    h5_attr_str(f, ".", "command_line", tool_command_line());
    h5_attr_str(f, ".", "created_utc", created);
    h5_attr_str(f, ".", "config_yaml", g_run.config_yaml ? g_run.config_yaml : "");
    h5_attr_i64(f, ".", "seed", g_run.seed);
    h5_attr_str(f, ".", "device", g_device ? g_device : "cpu");
    char *inputs = xstrdup("");
    for (int i = 0; i < g_ninputs; i++) {
        char hex[17] = "-";
        uint64_t size = 0;
        char line[4200];
        if (g_inputs[i].hash && hash_file(g_inputs[i].path, hex, &size) == 0)
            snprintf(line, sizeof line, "%s\thash64:%s\t%llu\n", g_inputs[i].path, hex, (unsigned long long)size);
        else
            snprintf(line, sizeof line, "%s\t-\t-\n", g_inputs[i].path);
        inputs = cat(inputs, line);
    }
    h5_attr_str(f, ".", "inputs", inputs);
    free(inputs);
    char *hist = build_history(created);
    h5_attr_str(f, ".", "history", hist);
    free(hist);
}

/* ---- files ------------------------------------------------------------------------------------ */
H5Out *h5out_create(const char *path, const char *artifact, int schema_version) {
    h5_init();
    H5Out *o = xcalloc(1, sizeof *o);
    o->path = xstrdup(path);
    o->tmp = xasprintf("%s.tmp", path);
    o->cleanup = cleanup_add_file(o->tmp);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_EARLIEST, H5F_LIBVER_LATEST);
    o->file = H5Fcreate(o->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (o->file < 0) die(EXIT_RUNTIME, "cannot create '%s': %s", o->tmp, errno ? strerror(errno) : "HDF5 error");
    write_provenance(o->file, artifact, schema_version);
    return o;
}

void h5out_commit(H5Out *o) {
    if (H5Fflush(o->file, H5F_SCOPE_GLOBAL) < 0 || H5Fclose(o->file) < 0)
        die(EXIT_RUNTIME, "cannot finish writing '%s'", o->path);
    if (rename(o->tmp, o->path) != 0) die(EXIT_RUNTIME, "cannot rename '%s' to '%s': %s", o->tmp, o->path, strerror(errno));
    cleanup_forget(o->cleanup);
    free(o->path);
    free(o->tmp);
    free(o);
}

void h5out_discard(H5Out *o) {
    H5Fclose(o->file);
    unlink(o->tmp);
    cleanup_forget(o->cleanup);
    free(o->path);
    free(o->tmp);
    free(o);
}

hid_t h5_open_any(const char *path) {
    h5_init();
    if (!file_exists(path)) die(EXIT_USAGE, "cannot open '%s': %s", path, access(path, F_OK) == 0 ? "not a regular file" : "No such file or directory");
    #if H5_VERSION_GE(1, 12, 0)
    htri_t is_h5 = H5Fis_accessible(path, H5P_DEFAULT);
#else
    htri_t is_h5 = H5Fis_hdf5(path);
#endif
    if (is_h5 <= 0) die(EXIT_USAGE, "not an HDF5 file '%s'", path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) die(EXIT_USAGE, "cannot open HDF5 file '%s'", path);
    return f;
}

hid_t h5_open_artifact(const char *path, const char *kind, int max_schema, int *schema_out) {
    hid_t f = h5_open_any(path);
    char *art = h5_attr_get_str(f, ".", "artifact");
    if (!art) die(EXIT_USAGE, "not a TDANN artifact (no 'artifact' attribute) '%s'", path);
    if (kind && strcmp(art, kind) != 0) die(EXIT_USAGE, "expected a %s artifact, got a %s artifact '%s'", kind, art, path);
    int64_t sv = 0;
    if (h5_attr_get_i64(f, ".", "schema_version", &sv) != 0) die(EXIT_USAGE, "artifact without 'schema_version' '%s'", path);
    if (sv > max_schema) {
        hint_next("it was written by a newer toolkit; this %s reads %s schema up to %d", tool_name(), art, max_schema);
        die(EXIT_USAGE, "unsupported %s schema version %lld '%s'", art, (long long)sv, path);
    }
    if (schema_out) *schema_out = (int)sv;
    char *hist = h5_attr_get_str(f, ".", "history");
    add_input(path, 1, hist);
    free(hist);
    free(art);
    return f;
}

void h5_close_file(hid_t f) { H5Fclose(f); }

/* ---- datasets --------------------------------------------------------------------------------- */
int h5_exists(hid_t loc, const char *path) {
    h5_init();
    if (strcmp(path, "/") == 0 || strcmp(path, ".") == 0) return 1;
    char *p = xstrdup(path);
    int ok = 1;
    for (char *s = p + 1; ok; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (H5Lexists(loc, p, H5P_DEFAULT) <= 0) ok = 0;
            *s = c;
            if (!c) break;
        }
    }
    free(p);
    return ok;
}

static hid_t lcpl_intermediate(void) {
    hid_t l = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(l, 1);
    return l;
}

static void set_dims_units(hid_t ds, const char *dims_label, const char *units) {
    if (dims_label && *dims_label) h5_attr_str(ds, ".", "dims", dims_label);
    if (units && *units) h5_attr_str(ds, ".", "units", units);
}

static int gzip_level(void) {
    const char *e = getenv("TDANN_GZIP");
    int l = e ? atoi(e) : 4;
    return l < 0 ? 0 : l > 9 ? 9 : l;
}

void h5_write(hid_t loc, const char *path, H5ioType t, int rank, const hsize_t *dims, const void *data,
              const char *dims_label, const char *units) {
    h5_init();
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t total = 1;
    for (int i = 0; i < rank; i++) total *= dims[i];
    if (rank >= 1 && total >= 4096 && gzip_level() > 0) {
        hsize_t chunk[H5IO_MAX_RANK];
        hsize_t row = h5io_type_size(t);
        for (int i = 1; i < rank; i++) { chunk[i] = dims[i]; row *= dims[i]; }
        hsize_t rows = row ? (1u << 20) / row : 1;
        chunk[0] = rows < 1 ? 1 : rows > dims[0] ? dims[0] : rows;
        if (chunk[0] == 0) chunk[0] = 1;
        H5Pset_chunk(dcpl, rank, chunk);
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, (unsigned)gzip_level());
    }
    hid_t lcpl = lcpl_intermediate();
    hid_t ds = H5Dcreate2(loc, path, file_type(t), space, lcpl, dcpl, H5P_DEFAULT);
    if (ds < 0) h5_fail(EXIT_RUNTIME, loc, "cannot create dataset", path);
    if (total && H5Dwrite(ds, mem_type(t), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) h5_fail(EXIT_RUNTIME, loc, "cannot write dataset", path);
    set_dims_units(ds, dims_label, units);
    H5Dclose(ds);
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    H5Sclose(space);
}

void h5_write_strings(hid_t loc, const char *path, char *const *strings, int n) {
    h5_init();
    hsize_t d = (hsize_t)n;
    hid_t space = H5Screate_simple(1, &d, NULL);
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, H5T_VARIABLE);
    H5Tset_cset(st, H5T_CSET_UTF8);
    hid_t lcpl = lcpl_intermediate();
    hid_t ds = H5Dcreate2(loc, path, st, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (ds < 0) h5_fail(EXIT_RUNTIME, loc, "cannot create dataset", path);
    if (n && H5Dwrite(ds, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, strings) < 0) h5_fail(EXIT_RUNTIME, loc, "cannot write dataset", path);
    H5Dclose(ds);
    H5Pclose(lcpl);
    H5Tclose(st);
    H5Sclose(space);
}

struct H5Stream {
    hid_t ds, loc;
    H5ioType t;
    int rank;
    hsize_t dims[H5IO_MAX_RANK];
    char *path;
};

H5Stream *h5_stream_create(hid_t loc, const char *path, H5ioType t, int rank, const hsize_t *row_dims,
                           hsize_t chunk_rows, const char *dims_label, const char *units) {
    h5_init();
    H5Stream *s = xcalloc(1, sizeof *s);
    s->t = t;
    s->rank = rank;
    s->loc = loc;
    s->path = xstrdup(path);
    hsize_t maxd[H5IO_MAX_RANK], chunk[H5IO_MAX_RANK];
    s->dims[0] = 0;
    maxd[0] = H5S_UNLIMITED;
    chunk[0] = chunk_rows ? chunk_rows : 1;
    for (int i = 1; i < rank; i++) { s->dims[i] = maxd[i] = chunk[i] = row_dims[i - 1]; }
    hid_t space = H5Screate_simple(rank, s->dims, maxd);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, rank, chunk);
    if (gzip_level() > 0) { H5Pset_shuffle(dcpl); H5Pset_deflate(dcpl, (unsigned)gzip_level()); }
    hid_t lcpl = lcpl_intermediate();
    s->ds = H5Dcreate2(loc, path, file_type(t), space, lcpl, dcpl, H5P_DEFAULT);
    if (s->ds < 0) h5_fail(EXIT_RUNTIME, loc, "cannot create dataset", path);
    set_dims_units(s->ds, dims_label, units);
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    H5Sclose(space);
    return s;
}

void h5_stream_append(H5Stream *s, const void *data, hsize_t nrows) {
    if (!nrows) return;
    hsize_t start[H5IO_MAX_RANK] = {0}, count[H5IO_MAX_RANK];
    start[0] = s->dims[0];
    s->dims[0] += nrows;
    if (H5Dset_extent(s->ds, s->dims) < 0) h5_fail(EXIT_RUNTIME, s->loc, "cannot extend dataset", s->path);
    count[0] = nrows;
    for (int i = 1; i < s->rank; i++) count[i] = s->dims[i];
    hid_t fs = H5Dget_space(s->ds);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t ms = H5Screate_simple(s->rank, count, NULL);
    if (H5Dwrite(s->ds, mem_type(s->t), ms, fs, H5P_DEFAULT, data) < 0) h5_fail(EXIT_RUNTIME, s->loc, "cannot write dataset", s->path);
    H5Sclose(ms);
    H5Sclose(fs);
}

hsize_t h5_stream_rows(const H5Stream *s) { return s->dims[0]; }

void h5_stream_close(H5Stream *s) {
    H5Dclose(s->ds);
    free(s->path);
    free(s);
}

static hid_t open_dataset(hid_t loc, const char *path) {
    h5_init();
    if (!h5_exists(loc, path)) h5_fail(EXIT_USAGE, loc, "missing dataset", path);
    hid_t ds = H5Dopen2(loc, path, H5P_DEFAULT);
    if (ds < 0) h5_fail(EXIT_USAGE, loc, "not a dataset", path);
    return ds;
}

int h5_shape(hid_t loc, const char *path, hsize_t dims[H5IO_MAX_RANK]) {
    hid_t ds = open_dataset(loc, path);
    hid_t sp = H5Dget_space(ds);
    int rank = H5Sget_simple_extent_ndims(sp);
    if (rank > H5IO_MAX_RANK) h5_fail(EXIT_USAGE, loc, "dataset of too many dimensions", path);
    if (dims) H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    H5Dclose(ds);
    return rank;
}

void *h5_read(hid_t loc, const char *path, H5ioType t, int *rank_out, hsize_t dims_out[H5IO_MAX_RANK]) {
    hid_t ds = open_dataset(loc, path);
    hid_t sp = H5Dget_space(ds);
    int rank = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[H5IO_MAX_RANK];
    if (rank > H5IO_MAX_RANK) h5_fail(EXIT_USAGE, loc, "dataset of too many dimensions", path);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    hsize_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    hid_t ft = H5Dget_type(ds);
    H5T_class_t cls = H5Tget_class(ft);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) h5_fail(EXIT_USAGE, loc, "not a numeric dataset", path);
    H5Tclose(ft);
    void *buf = xmalloc((size_t)n * h5io_type_size(t));
    if (n && H5Dread(ds, mem_type(t), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) h5_fail(EXIT_RUNTIME, loc, "cannot read dataset", path);
    H5Sclose(sp);
    H5Dclose(ds);
    if (rank_out) *rank_out = rank;
    if (dims_out) memcpy(dims_out, dims, sizeof(hsize_t) * (size_t)rank);
    return buf;
}

void h5_read_into(hid_t loc, const char *path, H5ioType t, void *buf, size_t n) {
    hsize_t dims[H5IO_MAX_RANK];
    int rank = h5_shape(loc, path, dims);
    size_t total = 1;
    for (int i = 0; i < rank; i++) total *= (size_t)dims[i];
    if (total != n) {
        char *f = h5_file_name(loc);
        die(EXIT_USAGE, "dataset '%s' holds %zu values, expected %zu, in '%s'", path, total, n, f);
    }
    hid_t ds = open_dataset(loc, path);
    if (n && H5Dread(ds, mem_type(t), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) h5_fail(EXIT_RUNTIME, loc, "cannot read dataset", path);
    H5Dclose(ds);
}

void h5_read_rows(hid_t loc, const char *path, H5ioType t, hsize_t row0, hsize_t nrows, void *buf) {
    hid_t ds = open_dataset(loc, path);
    hid_t fs = H5Dget_space(ds);
    int rank = H5Sget_simple_extent_ndims(fs);
    hsize_t dims[H5IO_MAX_RANK], start[H5IO_MAX_RANK] = {0}, count[H5IO_MAX_RANK];
    H5Sget_simple_extent_dims(fs, dims, NULL);
    if (row0 + nrows > dims[0]) h5_fail(EXIT_USAGE, loc, "row range beyond the end of dataset", path);
    start[0] = row0;
    count[0] = nrows;
    for (int i = 1; i < rank; i++) count[i] = dims[i];
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t ms = H5Screate_simple(rank, count, NULL);
    if (nrows && H5Dread(ds, mem_type(t), ms, fs, H5P_DEFAULT, buf) < 0) h5_fail(EXIT_RUNTIME, loc, "cannot read dataset", path);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(ds);
}

char **h5_read_strings(hid_t loc, const char *path, int *n_out) {
    hid_t ds = open_dataset(loc, path);
    hid_t sp = H5Dget_space(ds);
    if (H5Sget_simple_extent_ndims(sp) != 1) h5_fail(EXIT_USAGE, loc, "expected a 1-D string dataset", path);
    hsize_t n;
    H5Sget_simple_extent_dims(sp, &n, NULL);
    hid_t ft = H5Dget_type(ds);
    if (H5Tget_class(ft) != H5T_STRING) h5_fail(EXIT_USAGE, loc, "not a string dataset", path);
    char **out = xcalloc((size_t)n + 1, sizeof(char *));
    if (H5Tis_variable_str(ft) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char **tmp = xcalloc((size_t)n + 1, sizeof(char *));
        if (n && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) < 0) h5_fail(EXIT_RUNTIME, loc, "cannot read dataset", path);
        for (hsize_t i = 0; i < n; i++) out[i] = xstrdup(tmp[i] ? tmp[i] : "");
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, tmp);
        free(tmp);
        H5Tclose(mt);
    } else {
        size_t len = H5Tget_size(ft);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, len + 1);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char *flat = xcalloc((size_t)n, len + 1);
        if (n && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, flat) < 0) h5_fail(EXIT_RUNTIME, loc, "cannot read dataset", path);
        for (hsize_t i = 0; i < n; i++) out[i] = xstrdup(flat + i * (len + 1));
        free(flat);
        H5Tclose(mt);
    }
    H5Tclose(ft);
    H5Sclose(sp);
    H5Dclose(ds);
    if (n_out) *n_out = (int)n;
    return out;
}

/* ---- attributes ------------------------------------------------------------------------------- */
static hid_t attr_create(hid_t loc, const char *obj, const char *name, hid_t type, hid_t space) {
    h5_init();
    if (H5Aexists_by_name(loc, obj, name, H5P_DEFAULT) > 0) H5Adelete_by_name(loc, obj, name, H5P_DEFAULT);
    hid_t a = H5Acreate_by_name(loc, obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) h5_fail(EXIT_RUNTIME, loc, "cannot write attribute", name);
    return a;
}

void h5_attr_str(hid_t loc, const char *obj, const char *name, const char *value) {
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, H5T_VARIABLE);
    H5Tset_cset(st, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = attr_create(loc, obj, name, st, sp);
    const char *v = value ? value : "";
    H5Awrite(a, st, &v);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(st);
}

static void attr_num(hid_t loc, const char *obj, const char *name, hid_t ft, hid_t mt, const void *v, int n, int scalar) {
    hsize_t d = (hsize_t)n;
    hid_t sp = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &d, NULL);
    hid_t a = attr_create(loc, obj, name, ft, sp);
    H5Awrite(a, mt, v);
    H5Aclose(a);
    H5Sclose(sp);
}
void h5_attr_i64(hid_t loc, const char *obj, const char *name, int64_t v) { attr_num(loc, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v, 1, 1); }
void h5_attr_f64(hid_t loc, const char *obj, const char *name, double v) { attr_num(loc, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v, 1, 1); }
void h5_attr_f64v(hid_t loc, const char *obj, const char *name, const double *v, int n) { attr_num(loc, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, v, n, 0); }
void h5_attr_i64v(hid_t loc, const char *obj, const char *name, const int64_t *v, int n) { attr_num(loc, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, v, n, 0); }

static hid_t attr_open(hid_t loc, const char *obj, const char *name) {
    h5_init();
    if (!h5_exists(loc, obj)) return -1;
    if (H5Aexists_by_name(loc, obj, name, H5P_DEFAULT) <= 0) return -1;
    return H5Aopen_by_name(loc, obj, name, H5P_DEFAULT, H5P_DEFAULT);
}

char *h5_attr_get_str(hid_t loc, const char *obj, const char *name) {
    hid_t a = attr_open(loc, obj, name);
    if (a < 0) return NULL;
    hid_t ft = H5Aget_type(a);
    char *out = NULL;
    if (H5Tget_class(ft) == H5T_STRING) {
        if (H5Tis_variable_str(ft) > 0) {
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5Tget_cset(ft));
            char *v = NULL;
            if (H5Aread(a, mt, &v) >= 0 && v) { out = xstrdup(v); H5free_memory(v); }
            H5Tclose(mt);
        } else {
            size_t len = H5Tget_size(ft);
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, len + 1);
            H5Tset_cset(mt, H5Tget_cset(ft));
            out = xcalloc(len + 2, 1);
            if (H5Aread(a, mt, out) < 0) { free(out); out = NULL; }
            H5Tclose(mt);
        }
    }
    H5Tclose(ft);
    H5Aclose(a);
    return out;
}

int h5_attr_get_i64(hid_t loc, const char *obj, const char *name, int64_t *v) {
    hid_t a = attr_open(loc, obj, name);
    if (a < 0) return -1;
    hid_t sp = H5Aget_space(a);
    int ok = H5Sget_simple_extent_npoints(sp) == 1 && H5Aread(a, H5T_NATIVE_INT64, v) >= 0;
    H5Sclose(sp);
    H5Aclose(a);
    return ok ? 0 : -1;
}

int h5_attr_get_f64(hid_t loc, const char *obj, const char *name, double *v) {
    return h5_attr_get_f64v(loc, obj, name, v, 1) == 1 ? 0 : -1;
}

int h5_attr_get_f64v(hid_t loc, const char *obj, const char *name, double *v, int max) {
    hid_t a = attr_open(loc, obj, name);
    if (a < 0) return -1;
    hid_t sp = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    int rc = -1;
    if (n >= 1 && n <= max && H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0) rc = (int)n;
    H5Sclose(sp);
    H5Aclose(a);
    return rc;
}

void h5_split_addr(const char *addr, char **file, char **path) {
    /* the last ':' followed by '/' separates the path (file names may contain ':') */
    const char *c = NULL;
    for (const char *p = addr; *p; p++) if (p[0] == ':' && p[1] == '/') c = p;
    if (c) {
        *file = xmalloc((size_t)(c - addr) + 1);
        memcpy(*file, addr, (size_t)(c - addr));
        (*file)[c - addr] = 0;
        *path = xstrdup(c + 1);
    } else {
        *file = xstrdup(addr);
        *path = xstrdup("");
    }
}
