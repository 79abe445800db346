/* h5-compare: compare numeric datasets of two HDF5 files within a tolerance.
 *
 *   h5-compare A.h5[:/path] B.h5[:/path] [--atol X] [--rtol Y]
 *
 * With paths, compares those two datasets; without, every dataset of A against the dataset of the
 * same path in B (a dataset missing from B counts as a difference). Values agree when
 * |a - b| <= atol + rtol * |b| (NaN agrees only with NaN). String datasets must match exactly.
 * Attributes (provenance) are not compared. Prints one line per dataset; exit 0 when everything
 * agrees, 1 when anything differs, 2 on bad input.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "h5io.h"
#include "util.h"

typedef struct { double atol, rtol; int quiet; } Opts;
static Opts o;
static const Field FIELDS[] = {
    {NULL, "atol", 0, F_DOUBLE, offsetof(Opts, atol), "0", 0, 1e300, NULL, "X", "absolute tolerance", 0},
    {NULL, "rtol", 0, F_DOUBLE, offsetof(Opts, rtol), "0", 0, 1e300, NULL, "X", "relative tolerance (of |B|)", 0},
    {NULL, "quiet", 'q', F_BOOL, offsetof(Opts, quiet), "false", 0, 0, NULL, NULL, "print only differences and the verdict", 0},
    FIELD_END};

static const ToolSpec SPEC = {
    .purpose = "compare numeric datasets of two HDF5 files within a tolerance",
    .usage = "h5-compare [options] A.h5[:/path] B.h5[:/path]",
    .example = "h5-compare --rtol 1e-4 runs/a/tdann/tuning.h5 runs/b/tdann/tuning.h5",
    .see_also = "artifact-info, h5dump(1)",
    .notes = "Without paths every dataset of A is compared with the same path in B. Values agree when\n"
             "|a - b| <= atol + rtol * |b|. Exit status: 0 all agree, 1 some differ, 2 bad input.",
    .sections = {{NULL, &o, FIELDS}},
    .npos_min = 2, .npos_max = 2, .pos_meta = "two files",
};

typedef struct { char **names; int n, cap; } NameList;

static herr_t visit(hid_t obj, const char *name, const H5O_info_t *info, void *data) {
    (void)obj;
    NameList *l = data;
    if (info->type != H5O_TYPE_DATASET) return 0;
    if (l->n == l->cap) { l->cap = l->cap ? 2 * l->cap : 32; l->names = xrealloc(l->names, sizeof(char *) * (size_t)l->cap); }
    l->names[l->n++] = xasprintf("/%s", name);
    return 0;
}

static int is_string(hid_t f, const char *path) {
    hid_t ds = H5Dopen2(f, path, H5P_DEFAULT);
    hid_t t = H5Dget_type(ds);
    int s = H5Tget_class(t) == H5T_STRING;
    H5Tclose(t);
    H5Dclose(ds);
    return s;
}

/* Returns 1 when the datasets agree. */
static int compare(hid_t fa, const char *pa, hid_t fb, const char *pb, const char *label) {
    if (!h5_exists(fb, pb)) { printf("%-40s missing in B  DIFF\n", label); return 0; }
    hsize_t da[H5IO_MAX_RANK], db[H5IO_MAX_RANK];
    int ra = h5_shape(fa, pa, da), rb = h5_shape(fb, pb, db);
    int same_shape = ra == rb;
    for (int i = 0; same_shape && i < ra; i++) same_shape = da[i] == db[i];
    if (!same_shape) { printf("%-40s shapes differ  DIFF\n", label); return 0; }
    if (is_string(fa, pa) || is_string(fb, pb)) {
        int na, nb, ok = 1;
        char **sa = h5_read_strings(fa, pa, &na), **sb = h5_read_strings(fb, pb, &nb);
        for (int i = 0; i < na && ok; i++) ok = strcmp(sa[i], sb[i]) == 0;
        if (!ok || !o.quiet) printf("%-40s %d strings %s\n", label, na, ok ? "OK" : "DIFF");
        str_list_free(sa);
        str_list_free(sb);
        return ok;
    }
    hsize_t n = 1;
    for (int i = 0; i < ra; i++) n *= da[i];
    double *a = h5_read(fa, pa, H5IO_F64, NULL, NULL), *b = h5_read(fb, pb, H5IO_F64, NULL, NULL);
    double maxabs = 0, maxrel = 0;
    hsize_t bad = 0;
    for (hsize_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i])) {
            if (!(isnan(a[i]) && isnan(b[i]))) { bad++; maxabs = INFINITY; }
            continue;
        }
        double d = fabs(a[i] - b[i]);
        if (d > maxabs) maxabs = d;
        if (b[i] != 0 && d / fabs(b[i]) > maxrel) maxrel = d / fabs(b[i]);
        if (d > o.atol + o.rtol * fabs(b[i])) bad++;
    }
    if (bad || !o.quiet)
        printf("%-40s n=%llu max abs %.3e max rel %.3e  %s\n", label, (unsigned long long)n, maxabs, maxrel,
               bad ? "DIFF" : "OK");
    free(a);
    free(b);
    return bad == 0;
}

int main(int argc, char **argv) {
    tool_init(argv[0], argc, argv);
    tool_setup(&SPEC, argc, argv);
    char *fa_name, *pa, *fb_name, *pb;
    h5_split_addr(g_run.pos[0], &fa_name, &pa);
    h5_split_addr(g_run.pos[1], &fb_name, &pb);
    hid_t fa = h5_open_any(fa_name), fb = h5_open_any(fb_name);
    int ok = 1, n = 0;
    if (*pa || *pb) {
        const char *a = *pa ? pa : pb, *b = *pb ? pb : pa;
        if (!h5_exists(fa, a)) die(EXIT_USAGE, "no dataset '%s' in '%s'", a, fa_name);
        ok = compare(fa, a, fb, b, a);
        n = 1;
    } else {
        NameList l = {0};
        H5Ovisit(fa, H5_INDEX_NAME, H5_ITER_INC, visit, &l);
        for (int i = 0; i < l.n; i++) { ok &= compare(fa, l.names[i], fb, l.names[i], l.names[i]); n++; }
    }
    printf("%s: %d dataset%s compared, %s\n", tool_name(), n, n == 1 ? "" : "s", ok ? "all within tolerance" : "DIFFERENCES FOUND");
    return ok ? 0 : 1;
}
