/* floc.c: see floc.h. */
#include "floc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "h5io.h"
#include "stats.h"
#include "util.h"

const char *const FLOC_DOMAINS[FLOC_N_DOMAINS] = {"faces", "bodies", "characters", "places", "objects"};
const char *const FLOC_DOMAIN_CATEGORIES[FLOC_N_DOMAINS][2] = {
    {"adult", "child"}, {"body", "limb"}, {"word", "number"}, {"house", "corridor"}, {"car", "instrument"}};

/* ---- design ------------------------------------------------------------------------------- */
static int find_name(char *const *names, int n, const char *want) {
    for (int i = 0; i < n; i++)
        if (names[i] && strcasecmp(names[i], want) == 0) return i;
    return -1;
}

FlocDesign *floc_design_from_labels(int64_t n, const int32_t *category, char *const *cat_names, int n_cat,
                                    char *const *domain_names, const int32_t *domain_categories, int nd, int k,
                                    const char *file) {
    FlocDesign *d = xcalloc(1, sizeof *d);
    d->n_images = n;
    d->n_cat = n_cat;
    d->cat_names = xcalloc((size_t)n_cat + 1, sizeof(char *));
    for (int c = 0; c < n_cat; c++) d->cat_names[c] = xstrdup(cat_names[c] ? cat_names[c] : "");
    d->on = xcalloc((size_t)FLOC_N_DOMAINS * (size_t)(n_cat ? n_cat : 1), 1);
    d->used = xcalloc((size_t)(n_cat ? n_cat : 1), 1);
    for (int dm = 0; dm < FLOC_N_DOMAINS; dm++) {
        int row = domain_names && domain_categories ? find_name(domain_names, nd, FLOC_DOMAINS[dm]) : -1;
        if (row >= 0) {
            for (int j = 0; j < k; j++) {
                int c = domain_categories[row * k + j];
                if (c < 0) continue;
                if (c >= n_cat)
                    die(EXIT_USAGE, "domain '%s' names category %d of %d in '%s'", FLOC_DOMAINS[dm], c, n_cat, file);
                d->on[dm * n_cat + c] = 1;
            }
        } else {
            for (int j = 0; j < 2; j++) {
                int c = find_name(cat_names, n_cat, FLOC_DOMAIN_CATEGORIES[dm][j]);
                if (c < 0)
                    die(EXIT_USAGE, "no category '%s' (domain %s) in the fLoc labels of '%s'",
                        FLOC_DOMAIN_CATEGORIES[dm][j], FLOC_DOMAINS[dm], file);
                d->on[dm * n_cat + c] = 1;
            }
        }
        for (int c = 0; c < n_cat; c++) d->used[c] |= d->on[dm * n_cat + c];
    }
    d->cat_of = xmalloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    d->cat_n = xcalloc((size_t)(n_cat ? n_cat : 1), sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) {
        int c = category[i];
        d->cat_of[i] = (c >= 0 && c < n_cat && d->used[c]) ? c : -1;
        if (d->cat_of[i] >= 0) d->cat_n[c]++;
    }
    for (int dm = 0; dm < FLOC_N_DOMAINS; dm++) {
        for (int c = 0; c < n_cat; c++) {
            if (!d->used[c]) continue;
            if (d->on[dm * n_cat + c]) d->n_on[dm] += d->cat_n[c];
            else d->n_off[dm] += d->cat_n[c];
        }
        if (d->n_on[dm] == 0 || d->n_off[dm] == 0)
            die(EXIT_USAGE, "domain '%s' has %lld on and %lld off images in '%s' (both must be > 0)", FLOC_DOMAINS[dm],
                (long long)d->n_on[dm], (long long)d->n_off[dm], file);
    }
    return d;
}

FlocDesign *floc_design_load(hid_t f, const char *file) {
    char *set = h5_attr_get_str(f, "/", "set");
    if (set && strcmp(set, "floc") != 0)
        die(EXIT_USAGE, "activations of the '%s' stimulus set, expected 'floc', in '%s'", set, file);
    free(set);
    if (!h5_exists(f, "/labels/category") || !h5_exists(f, "/labels/category_names")) {
        hint_next("probe-floc reads activations of the fLoc set (make-stimuli --set floc, then extract-activations)");
        die(EXIT_USAGE, "no fLoc category labels ('/labels/category', '/labels/category_names') in '%s'", file);
    }
    int rank, n_cat, nd = 0;
    hsize_t dims[H5IO_MAX_RANK];
    int32_t *cat = h5_read(f, "/labels/category", H5IO_I32, &rank, dims);
    if (rank != 1) die(EXIT_USAGE, "'/labels/category' is not 1-D in '%s'", file);
    char **names = h5_read_strings(f, "/labels/category_names", &n_cat);
    char **dnames = NULL;
    int32_t *dcat = NULL;
    int k = 0;
    if (h5_exists(f, "/labels/domain_names") && h5_exists(f, "/labels/domain_categories")) {
        dnames = h5_read_strings(f, "/labels/domain_names", &nd);
        hsize_t dd[H5IO_MAX_RANK];
        int r2;
        dcat = h5_read(f, "/labels/domain_categories", H5IO_I32, &r2, dd);
        if (r2 != 2 || (int)dd[0] != nd)
            die(EXIT_USAGE, "'/labels/domain_categories' is not (%d, k) in '%s'", nd, file);
        k = (int)dd[1];
    }
    FlocDesign *d = floc_design_from_labels((int64_t)dims[0], cat, names, n_cat, dnames, dcat, nd, k, file);
    free(cat);
    str_list_free(names);
    if (dnames) str_list_free(dnames);
    free(dcat);
    return d;
}

void floc_design_free(FlocDesign *d) {
    if (!d) return;
    for (int c = 0; c < d->n_cat; c++) free(d->cat_names[c]);
    free(d->cat_names);
    free(d->cat_of);
    free(d->on);
    free(d->used);
    free(d->cat_n);
    free(d);
}

/* ---- accumulation -------------------------------------------------------------------------- */
void floc_accum_init(FlocAccum *a, const FlocDesign *d, int64_t n_units) {
    memset(a, 0, sizeof *a);
    a->d = d;
    a->n_units = n_units;
    size_t sz = (size_t)(d->n_cat ? d->n_cat : 1) * (size_t)n_units;
    a->mean = xcalloc(sz, sizeof(double));
    a->m2 = xcalloc(sz, sizeof(double));
    a->seen = xcalloc((size_t)(d->n_cat ? d->n_cat : 1), sizeof(int64_t));
}

void floc_accum_add(FlocAccum *a, const float *resp, int64_t image0, int64_t nrows) {
    const FlocDesign *d = a->d;
    const int64_t U = a->n_units;
    /* the running count of each row's category after that row (shared by every unit) */
    double *cnt = xmalloc(sizeof(double) * (size_t)(nrows ? nrows : 1));
    for (int64_t i = 0; i < nrows; i++) {
        int c = d->cat_of[image0 + i];
        cnt[i] = c >= 0 ? (double)++a->seen[c] : 0;
    }
    int64_t bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad)
    for (int64_t u0 = 0; u0 < U; u0 += 1024) {
        int64_t u1 = u0 + 1024 < U ? u0 + 1024 : U;
        for (int64_t i = 0; i < nrows; i++) {
            int c = d->cat_of[image0 + i];
            if (c < 0) continue;
            const float *r = resp + (size_t)i * (size_t)U;
            double *mean = a->mean + (size_t)c * (size_t)U, *m2 = a->m2 + (size_t)c * (size_t)U;
            double inv = 1.0 / cnt[i];
            for (int64_t u = u0; u < u1; u++) {
                double x = r[u];
                if (!isfinite(x)) { bad++; continue; }
                double dd = x - mean[u];
                mean[u] += dd * inv;
                m2[u] += dd * (x - mean[u]);
            }
        }
    }
    a->nonfinite += bad;
    free(cnt);
}

void floc_compute(const FlocAccum *a, float *tstat, float *mean_response) {
    const FlocDesign *d = a->d;
    const int64_t U = a->n_units;
    const int nc = d->n_cat;
#pragma omp parallel for schedule(static)
    for (int64_t u = 0; u < U; u++) {
        Moments all = {0, 0, 0};
        for (int c = 0; c < nc; c++) {
            if (!d->used[c] || a->seen[c] == 0) continue;
            Moments m = {(double)a->seen[c], a->mean[(size_t)c * (size_t)U + (size_t)u], a->m2[(size_t)c * (size_t)U + (size_t)u]};
            all = moments_merge(all, m);
        }
        mean_response[u] = (float)all.mean;
        for (int dm = 0; dm < FLOC_N_DOMAINS; dm++) {
            Moments on = {0, 0, 0}, off = {0, 0, 0};
            for (int c = 0; c < nc; c++) {
                if (!d->used[c] || a->seen[c] == 0) continue;
                Moments m = {(double)a->seen[c], a->mean[(size_t)c * (size_t)U + (size_t)u], a->m2[(size_t)c * (size_t)U + (size_t)u]};
                if (d->on[dm * nc + c]) on = moments_merge(on, m);
                else off = moments_merge(off, m);
            }
            tstat[(size_t)dm * (size_t)U + (size_t)u] = (float)welch_t_moments(on, off);
        }
    }
}

void floc_accum_free(FlocAccum *a) {
    free(a->mean);
    free(a->m2);
    free(a->seen);
    memset(a, 0, sizeof *a);
}

/* ---- summary ------------------------------------------------------------------------------- */
void floc_print_summary(int level, const char *layer, const float *tstat, const float *mean_response, int64_t n_units) {
    if (g_verbose < level) return;
    static const double q[5] = {5, 25, 50, 75, 95};
    double v[5];
    double U = (double)(n_units ? n_units : 1);
    stats_percentiles(mean_response, (size_t)n_units, q, 5, v);
    info(level, "%s: %lld units; mean response p5/25/50/75/95 %.3g %.3g %.3g %.3g %.3g", layer, (long long)n_units,
         v[0], v[1], v[2], v[3], v[4]);
    for (int dm = 0; dm < FLOC_N_DOMAINS; dm++) {
        const float *t = tstat + (size_t)dm * (size_t)n_units;
        stats_percentiles(t, (size_t)n_units, q, 5, v);
        int64_t a2 = 0, a4 = 0, zero = 0;
        for (int64_t u = 0; u < n_units; u++) {
            a2 += t[u] > 2;
            a4 += t[u] > 4;
            zero += t[u] == 0;
        }
        info(level, "%s: %-10s t p5/25/50/75/95 %7.2f %7.2f %7.2f %7.2f %7.2f; t>2 %5.1f%%, t>4 %5.1f%%, t=0 %5.1f%%",
             layer, FLOC_DOMAINS[dm], v[0], v[1], v[2], v[3], v[4], 100.0 * (double)a2 / U, 100.0 * (double)a4 / U,
             100.0 * (double)zero / U);
    }
}
