/* tuning.c: see tuning.h. */
#include "tuning.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "h5io.h"
#include "stats.h"
#include "vonmises.h"

#define LEVEL_TOL 1e-3
#define MAX_DENSE 4096
#define MAX_LEVELS 64

/* ---- design ------------------------------------------------------------------------------- */
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Distinct sorted levels of v[n] (within LEVEL_TOL) and the level of each entry. */
static int make_levels(const double *v, int64_t n, double **levels_out, int32_t **of_out, int64_t **count_out) {
    double *s = xmalloc(sizeof(double) * (size_t)(n ? n : 1));
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    int nl = 0;
    for (int64_t i = 0; i < n; i++)
        if (nl == 0 || s[i] - s[nl - 1] > LEVEL_TOL) s[nl++] = s[i];
    int32_t *of = xmalloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    int64_t *cnt = xcalloc((size_t)(nl ? nl : 1), sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) {
        int lo = 0, hi = nl - 1; /* last level <= v + tol */
        while (lo < hi) {
            int mid = (lo + hi + 1) / 2;
            if (s[mid] <= v[i] + LEVEL_TOL) lo = mid; else hi = mid - 1;
        }
        of[i] = lo;
        cnt[lo]++;
    }
    *levels_out = s;
    *of_out = of;
    *count_out = cnt;
    return nl;
}

GratingDesign *grating_design_from_labels(int64_t n, const float *ori_deg, const float *sf, const int32_t *color,
                                          const char *file) {
    GratingDesign *d = xcalloc(1, sizeof *d);
    d->n_images = n;
    double *v = xmalloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(ori_deg[i]) || !isfinite(sf[i]))
            die(EXIT_USAGE, "non-finite grating label for image %lld in '%s'", (long long)i, file);
        double o = fmod((double)ori_deg[i], 180.0);
        if (o < 0) o += 180.0;
        if (o > 180.0 - LEVEL_TOL) o = 0; /* 179.9999 is 0 */
        v[i] = o;
    }
    d->n_ori = make_levels(v, n, &d->ori_deg, &d->ori_of, &d->ori_n);
    for (int64_t i = 0; i < n; i++) v[i] = sf[i];
    d->n_sf = make_levels(v, n, &d->sf, &d->sf_of, &d->sf_n);
    for (int64_t i = 0; i < n; i++) v[i] = color[i];
    d->n_color = make_levels(v, n, &d->color, &d->color_of, &d->color_n);
    free(v);
    if (d->n_ori < 3)
        die(EXIT_USAGE, "%d distinct grating orientation%s in '%s' (an orientation tuning curve needs at least 3)",
            d->n_ori, d->n_ori == 1 ? "" : "s", file);
    if (d->n_ori > MAX_LEVELS || d->n_sf > MAX_LEVELS || d->n_color > MAX_LEVELS)
        die(EXIT_USAGE, "too many distinct grating levels (%d orientations, %d SFs, %d colours; at most %d each) in '%s'",
            d->n_ori, d->n_sf, d->n_color, MAX_LEVELS, file);
    return d;
}

GratingDesign *grating_design_load(hid_t f, const char *file) {
    char *set = h5_attr_get_str(f, "/", "set");
    if (set && strcmp(set, "gratings") != 0)
        die(EXIT_USAGE, "activations of the '%s' stimulus set, expected 'gratings', in '%s'", set, file);
    free(set);
    static const char *need[] = {"/labels/orientation_deg", "/labels/sf_cycles_per_image", "/labels/color"};
    for (int i = 0; i < 3; i++)
        if (!h5_exists(f, need[i])) {
            hint_next("probe-gratings reads activations of the grating set (make-stimuli --set gratings, then "
                      "extract-activations)");
            die(EXIT_USAGE, "no grating labels ('%s' missing) in '%s'", need[i], file);
        }
    int rank;
    hsize_t dims[H5IO_MAX_RANK];
    float *ori = h5_read(f, need[0], H5IO_F32, &rank, dims);
    int64_t n = (int64_t)dims[0];
    if (rank != 1) die(EXIT_USAGE, "'%s' is not 1-D in '%s'", need[0], file);
    float *sf = xmalloc(sizeof(float) * (size_t)(n ? n : 1));
    int32_t *col = xmalloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    h5_read_into(f, need[1], H5IO_F32, sf, (size_t)n);
    h5_read_into(f, need[2], H5IO_I32, col, (size_t)n);
    GratingDesign *d = grating_design_from_labels(n, ori, sf, col, file);
    free(ori);
    free(sf);
    free(col);
    return d;
}

void grating_design_free(GratingDesign *d) {
    if (!d) return;
    free(d->ori_deg); free(d->sf); free(d->color);
    free(d->ori_of); free(d->sf_of); free(d->color_of);
    free(d->ori_n); free(d->sf_n); free(d->color_n);
    free(d);
}

/* ---- accumulation -------------------------------------------------------------------------- */
void grating_accum_init(GratingAccum *a, const GratingDesign *d, int64_t n_units) {
    memset(a, 0, sizeof *a);
    a->d = d;
    a->n_units = n_units;
    size_t u = (size_t)n_units;
    a->ori_sum = xcalloc((size_t)d->n_ori * u, sizeof(double));
    a->sf_sum = xcalloc((size_t)d->n_sf * u, sizeof(double));
    a->color_sum = xcalloc((size_t)d->n_color * u, sizeof(double));
    a->max = xmalloc(sizeof(float) * u);
    for (size_t i = 0; i < u; i++) a->max[i] = -INFINITY;
    a->min = INFINITY;
}

void grating_accum_add(GratingAccum *a, const float *resp, int64_t image0, int64_t nrows) {
    const GratingDesign *d = a->d;
    const int64_t U = a->n_units;
    double gmin = a->min;
    int64_t bad = 0;
#pragma omp parallel for schedule(static) reduction(min : gmin) reduction(+ : bad)
    for (int64_t u0 = 0; u0 < U; u0 += 1024) {
        int64_t u1 = u0 + 1024 < U ? u0 + 1024 : U;
        for (int64_t i = 0; i < nrows; i++) {
            int64_t img = image0 + i;
            const float *r = resp + (size_t)i * (size_t)U;
            double *os = a->ori_sum + (size_t)d->ori_of[img] * (size_t)U;
            double *ss = a->sf_sum + (size_t)d->sf_of[img] * (size_t)U;
            double *cs = a->color_sum + (size_t)d->color_of[img] * (size_t)U;
            for (int64_t u = u0; u < u1; u++) {
                float x = r[u];
                if (!isfinite(x)) { bad++; continue; }
                os[u] += x;
                ss[u] += x;
                cs[u] += x;
                if (x > a->max[u]) a->max[u] = x;
                if (x < gmin) gmin = x;
            }
        }
    }
    a->min = gmin;
    a->nonfinite += bad;
    a->images += nrows;
}

void grating_accum_free(GratingAccum *a) {
    free(a->ori_sum);
    free(a->sf_sum);
    free(a->color_sum);
    free(a->max);
    memset(a, 0, sizeof *a);
}

/* ---- per-unit pieces ----------------------------------------------------------------------- */
double tuning_circular_variance(const double *curve, const double *ori_deg, int n) {
    double c = 0, s = 0, t = 0;
    for (int k = 0; k < n; k++) {
        double th = 2 * ori_deg[k] * M_PI / 180.0;
        c += curve[k] * cos(th);
        s += curve[k] * sin(th);
        t += curve[k];
    }
    if (!(t > 0)) return 1.0;
    double cv = 1.0 - hypot(c, s) / t;
    return cv < 0 ? 0 : cv;
}

double tuning_orientation_pref(const double *curve, const double *ori_deg, int n, int dense, double kappa_max,
                               double *kappa_out) {
    double x[MAX_DENSE] = {0}, y[MAX_DENSE] = {0};
    if (dense > MAX_DENSE) dense = MAX_DENSE;
    for (int j = 0; j < dense; j++) {
        double t = 180.0 * j / (dense - 1);
        if (t < ori_deg[0]) t += 180.0;
        int k = 0; /* segment [theta_k, theta_{k+1}], theta_n = theta_0 + 180 */
        while (k < n - 1 && ori_deg[k + 1] <= t) k++;
        double t0 = ori_deg[k], t1 = k + 1 < n ? ori_deg[k + 1] : ori_deg[0] + 180.0;
        double y0 = curve[k], y1 = k + 1 < n ? curve[k + 1] : curve[0];
        double f = t1 > t0 ? (t - t0) / (t1 - t0) : 0;
        y[j] = y0 + f * (y1 - y0);
        x[j] = -M_PI + 2 * M_PI * j / (dense - 1);
    }
    VmFit fit;
    vm_fit(x, y, dense, kappa_max, &fit);
    if (kappa_out) *kappa_out = fit.kappa;
    int best = 0;
    double bv = vm_eval(&fit, x[0]);
    for (int j = 1; j < dense; j++) {
        double v = vm_eval(&fit, x[j]);
        if (v > bv) { bv = v; best = j; }
    }
    return 180.0 * best / (dense - 1);
}

/* ---- per layer ----------------------------------------------------------------------------- */
static int argmax_first(const double *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

static double ptp(const double *v, int n) {
    double lo = v[0], hi = v[0];
    for (int i = 1; i < n; i++) { if (v[i] < lo) lo = v[i]; if (v[i] > hi) hi = v[i]; }
    return hi - lo;
}

void tuning_compute(const GratingAccum *a, const TuningParams *p, TuningResult *r) {
    const GratingDesign *d = a->d;
    const int64_t U = a->n_units;
    const int no = d->n_ori, ns = d->n_sf, nc = d->n_color;
    memset(r, 0, sizeof *r);
    r->n_units = U;
    r->n_ori = no; r->n_sf = ns; r->n_color = nc;
    size_t u = (size_t)U;
    r->orientation_pref_deg = xmalloc(sizeof(float) * u);
    r->circular_variance = xmalloc(sizeof(float) * u);
    r->peak_to_peak = xmalloc(sizeof(float) * u);
    r->mean_response = xmalloc(sizeof(float) * u);
    r->sf_peak_to_peak = xmalloc(sizeof(float) * u);
    r->color_peak_to_peak = xmalloc(sizeof(float) * u);
    r->kappa = xmalloc(sizeof(float) * u);
    r->sf_pref = xmalloc(sizeof(int32_t) * u);
    r->color_pref = xmalloc(sizeof(int32_t) * u);
    r->selective = xmalloc(u);
    r->ori_curve = xmalloc(sizeof(float) * u * (size_t)no);
    r->sf_curve = xmalloc(sizeof(float) * u * (size_t)ns);
    r->color_curve = xmalloc(sizeof(float) * u * (size_t)nc);

    /* step 1: shift and scale */
    r->shift = 0;
    r->scale = 1;
    if (p->normalize) {
        if (a->min < 0 && isfinite(a->min)) r->shift = -a->min;
        float *mx = xmalloc(sizeof(float) * (u ? u : 1));
        for (size_t i = 0; i < u; i++) mx[i] = (float)((double)a->max[i] + r->shift);
        r->median_max = stats_percentile(mx, u, 50);
        free(mx);
        if (r->median_max > 0) {
            r->scale = p->median_peak_rate / r->median_max;
            r->scaled = 1;
        }
    } else {
        float *mx = xmalloc(sizeof(float) * (u ? u : 1));
        memcpy(mx, a->max, sizeof(float) * u);
        r->median_max = stats_percentile(mx, u, 50);
        free(mx);
    }
    if (!isfinite(r->median_max)) r->median_max = 0;
    const double shift = r->shift, scale = r->scale;
    int64_t n_resp = 0, n_sel = 0, n_flat = 0;

#pragma omp parallel for schedule(dynamic, 256) reduction(+ : n_resp, n_sel, n_flat)
    for (int64_t i = 0; i < U; i++) {
        double oc[MAX_LEVELS], sc[MAX_LEVELS], cc[MAX_LEVELS], tot = 0;
        for (int k = 0; k < no; k++) {
            double s = a->ori_sum[(size_t)k * u + (size_t)i];
            tot += s;
            oc[k] = (s / (double)d->ori_n[k] + shift) * scale;
            r->ori_curve[(size_t)i * (size_t)no + (size_t)k] = (float)oc[k];
        }
        for (int k = 0; k < ns; k++) {
            sc[k] = (a->sf_sum[(size_t)k * u + (size_t)i] / (double)d->sf_n[k] + shift) * scale;
            r->sf_curve[(size_t)i * (size_t)ns + (size_t)k] = (float)sc[k];
        }
        for (int k = 0; k < nc; k++) {
            cc[k] = (a->color_sum[(size_t)k * u + (size_t)i] / (double)d->color_n[k] + shift) * scale;
            r->color_curve[(size_t)i * (size_t)nc + (size_t)k] = (float)cc[k];
        }
        double mean = (tot / (double)d->n_images + shift) * scale;
        double sum_curve = 0;
        for (int k = 0; k < no; k++) sum_curve += oc[k];
        double cv = tuning_circular_variance(oc, d->ori_deg, no);
        double pp = ptp(oc, no), kappa = 0;
        double pref = pp > 0 ? tuning_orientation_pref(oc, d->ori_deg, no, p->dense_points, p->kappa_max, &kappa) : 0;
        if (!(pp > 0)) n_flat++;
        int resp = mean > p->response_threshold;
        int sel = cv < p->cv_threshold && resp && sum_curve > 0;
        n_resp += resp;
        n_sel += sel;
        r->orientation_pref_deg[i] = (float)pref;
        r->circular_variance[i] = (float)cv;
        r->peak_to_peak[i] = (float)pp;
        r->mean_response[i] = (float)mean;
        r->kappa[i] = (float)kappa;
        r->sf_pref[i] = argmax_first(sc, ns);
        r->color_pref[i] = argmax_first(cc, nc);
        r->sf_peak_to_peak[i] = (float)ptp(sc, ns);
        r->color_peak_to_peak[i] = (float)ptp(cc, nc);
        r->selective[i] = (uint8_t)sel;
    }
    r->n_responsive = n_resp;
    r->n_selective = n_sel;
    r->n_flat = n_flat;
}

void tuning_result_free(TuningResult *r) {
    free(r->orientation_pref_deg); free(r->circular_variance); free(r->peak_to_peak); free(r->mean_response);
    free(r->sf_peak_to_peak); free(r->color_peak_to_peak); free(r->kappa);
    free(r->sf_pref); free(r->color_pref); free(r->selective);
    free(r->ori_curve); free(r->sf_curve); free(r->color_curve);
    memset(r, 0, sizeof *r);
}

/* ---- summary ------------------------------------------------------------------------------- */
void tuning_print_summary(int level, const char *layer, const TuningResult *r, const TuningParams *p,
                          const GratingDesign *d) {
    if (g_verbose < level) return;
    double U = (double)(r->n_units ? r->n_units : 1);
    info(level, "%s: %lld units; shift %.4g, scale %.4g (median unit max %.4g -> %.4g)%s", layer,
         (long long)r->n_units, r->shift, r->scale, r->median_max, r->median_max * r->scale,
         p->normalize && !r->scaled ? " [not scaled: median unit max is 0]" : "");
    info(level, "%s: responsive (mean > %.3g) %.1f%%; selective (CV < %.3g) %.1f%% of responsive, %.1f%% of all; "
         "flat orientation curves %.1f%%", layer, p->response_threshold, 100.0 * (double)r->n_responsive / U,
         p->cv_threshold, r->n_responsive ? 100.0 * (double)r->n_selective / (double)r->n_responsive : 0.0,
         100.0 * (double)r->n_selective / U, 100.0 * (double)r->n_flat / U);
    static const double q[5] = {5, 25, 50, 75, 95};
    double v[5];
    stats_percentiles(r->circular_variance, (size_t)r->n_units, q, 5, v);
    info(level, "%s: CV p5/25/50/75/95 %.3f %.3f %.3f %.3f %.3f", layer, v[0], v[1], v[2], v[3], v[4]);
    stats_percentiles(r->mean_response, (size_t)r->n_units, q, 5, v);
    info(level, "%s: mean response p5/25/50/75/95 %.3g %.3g %.3g %.3g %.3g", layer, v[0], v[1], v[2], v[3], v[4]);
    stats_percentiles(r->peak_to_peak, (size_t)r->n_units, q, 5, v);
    info(level, "%s: orientation peak-to-peak p5/25/50/75/95 %.3g %.3g %.3g %.3g %.3g", layer, v[0], v[1], v[2], v[3],
         v[4]);
    /* preference histogram: 8 bins of 22.5 deg centred on the grating orientations (180 folds to 0) */
    int64_t h[8] = {0};
    for (int64_t i = 0; i < r->n_units; i++) {
        double a = fmod(r->orientation_pref_deg[i] + 11.25, 180.0);
        int b = (int)(a / 22.5);
        h[b < 8 ? b : 7]++;
    }
    char line[512];
    int n = snprintf(line, sizeof line, "%s: orientation preference %% (bins centred 0,22.5,...,157.5):", layer);
    for (int b = 0; b < 8; b++) n += snprintf(line + n, sizeof line - (size_t)n, " %.1f", 100.0 * (double)h[b] / U);
    info(level, "%s", line);
    int64_t *hs = xcalloc((size_t)d->n_sf + (size_t)d->n_color, sizeof(int64_t));
    for (int64_t i = 0; i < r->n_units; i++) {
        hs[r->sf_pref[i]]++;
        hs[d->n_sf + r->color_pref[i]]++;
    }
    n = snprintf(line, sizeof line, "%s: SF preference %% (low to high):", layer);
    for (int b = 0; b < d->n_sf && n < (int)sizeof line - 16; b++)
        n += snprintf(line + n, sizeof line - (size_t)n, " %.1f", 100.0 * (double)hs[b] / U);
    info(level, "%s", line);
    n = snprintf(line, sizeof line, "%s: colour preference %% (by code):", layer);
    for (int b = 0; b < d->n_color && n < (int)sizeof line - 24; b++)
        n += snprintf(line + n, sizeof line - (size_t)n, " %g:%.1f", d->color[b], 100.0 * (double)hs[d->n_sf + b] / U);
    info(level, "%s", line);
    free(hs);
}
