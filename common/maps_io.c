/* maps_io.c: the `maps:` config section (paper values as defaults, tdann-algorithm.md §6) and the
 * loaders of make-maps' inputs (sheet layer positions -> human scale, tuning, selectivity,
 * training log, sample activations). See maps.h. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "h5io.h"
#include "maps.h"
#include "util.h"

#define O(f) offsetof(MapsConfig, f)
const Field MAPS_FIELDS[] = {
    {"v1_layer", "v1-layer", 0, F_STRING, O(v1_layer), "layer2.0", 0, 0, NULL, "LAYER", "V1-like layer (tuning maps, pinwheels)", 0},
    {"vtc_layer", "vtc-layer", 0, F_STRING, O(vtc_layer), "layer4.1", 0, 0, NULL, "LAYER", "VTC-like layer (category patches, RSM)", 0},
    {"quirks", "quirks", 0, F_ENUM, O(quirks), "official", 0, 0, "official|fixed", NULL,
     "official: circmean high=179 and the patch-grid off-by-one flip, as the paper's code; fixed: high=180, no flip", 0},
    {"cv_threshold", NULL, 0, F_DOUBLE, O(cv_threshold), "0.6", 0, 1, NULL, NULL, "orientation-selective: circular variance below this", 0},
    {"min_mean_response", NULL, 0, F_DOUBLE, O(min_mean_response), "1.0", -1e30, 1e30, NULL, NULL, "units counted for % selective: tuning mean_response above this", 0},
    {"map_window_mm", NULL, 0, F_DOUBLE, O(map_window_mm), "1.5", 1e-6, 1e6, NULL, NULL, "smoothed preference maps: square window side (mm)", 0},
    {"map_stride_mm", NULL, 0, F_DOUBLE, O(map_stride_mm), "0.15", 1e-6, 1e6, NULL, NULL, "smoothed preference maps: pixel stride (mm)", 0},
    {"crop_fraction", NULL, 0, F_DOUBLE, O(crop_fraction), "0.15", 1e-3, 1, NULL, NULL, "unit scatter: central crop as a fraction of each sheet axis", 0},
    {"scatter_max_units", NULL, 0, F_INT, O(scatter_max_units), "4000", 100, 100000000, NULL, NULL, "at most this many units per scatter panel (random subset)", 0},
    {"column_spacing_mm", "column-spacing-mm", 0, F_DOUBLE, O(column_spacing_mm), "3.5", 1e-6, 1e6, NULL, "MM", "hypercolumn width / column spacing (pinwheel density unit, smoothness x axis)", 0},
    {"smooth_width_factor", NULL, 0, F_DOUBLE, O(smooth_width_factor), "1.3333333333333333", 1e-6, 1e6, NULL, NULL, "analysis width = column spacing * this; max distance = sqrt(2) * width / 2", 0},
    {"smooth_ptp_percentile", NULL, 0, F_DOUBLE, O(smooth_ptp_percentile), "75", 0, 100, NULL, NULL, "smoothness curves use units whose tuning peak-to-peak exceeds this percentile", 0},
    {"smooth_samples", NULL, 0, F_INT, O(smooth_samples), "20", 1, 100000, NULL, NULL, "smoothness curves: random samples", 0},
    {"smooth_sample_size", NULL, 0, F_INT, O(smooth_sample_size), "1000", 2, 10000000, NULL, NULL, "smoothness curves: units per sample", 0},
    {"smooth_bin_edges", NULL, 0, F_INT, O(smooth_bin_edges), "10", 2, 1000, NULL, NULL, "smoothness curves: linspace(0, max distance, this) bin edges", 0},
    {"pinwheel_window_mm", NULL, 0, F_DOUBLE, O(pinwheel_window_mm), "1.5", 1e-6, 1e6, NULL, NULL, "pinwheel map: square window side (mm)", 0},
    {"pinwheel_stride_mm", NULL, 0, F_DOUBLE, O(pinwheel_stride_mm), "0.45", 1e-6, 1e6, NULL, NULL, "pinwheel map: pixel stride (mm)", 0},
    {"pinwheel_winding_threshold", NULL, 0, F_DOUBLE, O(pinwheel_winding_threshold), "0.3", 0, 1, NULL, NULL, "|winding number| above this marks a pinwheel pixel", 0},
    {"pinwheel_std_threshold", NULL, 0, F_DOUBLE, O(pinwheel_std_threshold), "0.3", 0, 1e30, NULL, NULL, "pinwheel pixels need circstd / window count below this", 0},
    {"pinwheel_min_pixels", NULL, 0, F_INT, O(pinwheel_min_pixels), "2", 1, 1000000, NULL, NULL, "pinwheel islands need at least this many pixels", 0},
    {"patch_grid", NULL, 0, F_INT, O(patch_grid), "100", 2, 10000, NULL, NULL, "patches: smoothing grid is this many anchors per axis", 0},
    {"patch_sigma_mm", "patch-sigma-mm", 0, F_DOUBLE, O(patch_sigma_mm), "2.4", 1e-6, 1e6, NULL, "MM", "patches: Gaussian smoothing sigma (mm)", 0},
    {"patch_t_threshold", "patch-t-threshold", 0, F_DOUBLE, O(patch_t_threshold), "2", -1e30, 1e30, NULL, "T", "patches: smoothed t must reach this", 0},
    {"patch_member_radius_mm", NULL, 0, F_DOUBLE, O(patch_member_radius_mm), "1.0", 0, 1e6, NULL, NULL, "patches: units within this distance of a component pixel belong to it", 0},
    {"patch_min_component_units", NULL, 0, F_INT, O(patch_min_component_units), "3", 0, 100000000, NULL, NULL, "patches: components with fewer units are dropped before the area", 0},
    {"patch_alpha", NULL, 0, F_DOUBLE, O(patch_alpha), "0.1", 0, 1e6, NULL, NULL, "patches: alpha of the concave hull (1/mm; 0 = convex hull)", 0},
    {"patch_min_area_mm2", NULL, 0, F_DOUBLE, O(patch_min_area_mm2), "100", 0, 1e12, NULL, NULL, "patches: smallest kept area (mm^2)", 0},
    {"patch_max_area_mm2", NULL, 0, F_DOUBLE, O(patch_max_area_mm2), "4500", 0, 1e12, NULL, NULL, "patches: largest kept area (mm^2)", 0},
    {"patch_min_units", NULL, 0, F_INT, O(patch_min_units), "10", 0, 100000000, NULL, NULL, "patches: fewest member units of a kept patch", 0},
    {"cat_smooth_samples", NULL, 0, F_INT, O(cat_smooth_samples), "25", 1, 100000, NULL, NULL, "category smoothness: random samples", 0},
    {"cat_smooth_sample_size", NULL, 0, F_INT, O(cat_smooth_sample_size), "500", 2, 10000000, NULL, NULL, "category smoothness: units drawn per sample (before the response filter)", 0},
    {"cat_smooth_bin_edges", NULL, 0, F_INT, O(cat_smooth_bin_edges), "10", 2, 1000, NULL, NULL, "category smoothness: linspace(0, max distance, this) bin edges", 0},
    {"cat_smooth_min_response", NULL, 0, F_DOUBLE, O(cat_smooth_min_response), "0.5", -1e30, 1e30, NULL, NULL, "category smoothness: keep units whose mean fLoc response exceeds this", 0},
    {"cat_smooth_max_distance_mm", NULL, 0, F_DOUBLE, O(cat_smooth_max_distance_mm), "60", 1e-6, 1e6, NULL, NULL, "category smoothness: largest pair distance (mm)", 0},
    {"wiring_v1_source", NULL, 0, F_STRING, O(wiring_v1_source), "layer2.0", 0, 0, NULL, NULL, "wiring (V1): source layer", 0},
    {"wiring_v1_target", NULL, 0, F_STRING, O(wiring_v1_target), "layer2.1", 0, 0, NULL, NULL, "wiring (V1): target layer", 0},
    {"wiring_vtc_source", NULL, 0, F_STRING, O(wiring_vtc_source), "layer4.0", 0, 0, NULL, NULL, "wiring (VTC): source layer", 0},
    {"wiring_vtc_target", NULL, 0, F_STRING, O(wiring_vtc_target), "layer4.1", 0, 0, NULL, NULL, "wiring (VTC): target layer", 0},
    {"wiring_images", "wiring-images", 0, F_INT, O(wiring_images), "50", 1, 1000000, NULL, "N", "wiring: activation patterns (first N images)", 0},
    {"wiring_v1_windows", NULL, 0, F_INT, O(wiring_v1_windows), "20", 1, 100000, NULL, NULL, "wiring (V1): random square windows", 0},
    {"wiring_v1_window_mm", NULL, 0, F_DOUBLE, O(wiring_v1_window_mm), "3.5", 1e-6, 1e6, NULL, NULL, "wiring (V1): window side (mm)", 0},
    {"wiring_v1_percentile", NULL, 0, F_DOUBLE, O(wiring_v1_percentile), "95", 0, 100, NULL, NULL, "wiring (V1): active = response above this percentile in the window", 0},
    {"wiring_vtc_percentile", NULL, 0, F_DOUBLE, O(wiring_vtc_percentile), "99", 0, 100, NULL, NULL, "wiring (VTC): active = response above this percentile of the sheet", 0},
    {"wiring_v1_threshold_mm", NULL, 0, F_DOUBLE, O(wiring_v1_threshold_mm), "0.9", 1e-9, 1e6, NULL, NULL, "wiring (V1): smallest k with inertia <= n_active * thr^2", 0},
    {"wiring_vtc_threshold_mm", NULL, 0, F_DOUBLE, O(wiring_vtc_threshold_mm), "10", 1e-9, 1e6, NULL, NULL, "wiring (VTC): smallest k with inertia <= n_active * thr^2", 0},
    {"wiring_max_k", NULL, 0, F_INT, O(wiring_max_k), "99", 1, 100000, NULL, NULL, "wiring: largest k tried", 0},
    {"kmeans_n_init", NULL, 0, F_INT, O(kmeans_n_init), "10", 1, 1000, NULL, NULL, "wiring: k-means restarts (best inertia kept)", 0},
    {"kmeans_max_iter", NULL, 0, F_INT, O(kmeans_max_iter), "300", 1, 100000, NULL, NULL, "wiring: k-means Lloyd iterations at most", 0},
    {"vector_format", "vector-format", 0, F_ENUM, O(vector_format), "svg", 0, 0, "svg|pdf|none", NULL, "vector copy of every figure next to the PNG", 0},
    {"gnuplot", "gnuplot", 0, F_STRING, O(gnuplot), "gnuplot", 0, 0, NULL, "CMD", "gnuplot program (missing: data and scripts are written, figures are not)", 0},
    FIELD_END};
#undef O

void maps_config_defaults(MapsConfig *cfg) {
    memset(cfg, 0, sizeof *cfg);
    Section s = {"maps", cfg, MAPS_FIELDS};
    cfg_apply_defaults(&s);
}

double maps_circ_high(const MapsConfig *cfg) { return cfg->quirks == QUIRKS_OFFICIAL ? 179.0 : 180.0; }

/* ---- loaders ---------------------------------------------------------------------------------- */
static char *layer_path(const char *layer, const char *name) { return xasprintf("/layers/%s/%s", layer, name); }

static void need(hid_t f, const char *path, const char *file, const char *what) {
    if (!h5_exists(f, path)) die(EXIT_USAGE, "missing %s '%s' in '%s'", what, path, file);
}

/* Reads a 1-D dataset of exactly n values as float. */
static float *read_vec(hid_t f, const char *file, const char *path, int n) {
    need(f, path, file, "dataset");
    hsize_t d[H5IO_MAX_RANK];
    int r = h5_shape(f, path, d);
    if (r != 1 || (int)d[0] != n)
        die(EXIT_USAGE, "dataset '%s' has %llu values, expected %d (the sheet's unit count) in '%s'", path,
            r == 1 ? (unsigned long long)d[0] : 0ULL, n, file);
    float *v = xmalloc(sizeof(float) * (size_t)(n ? n : 1));
    h5_read_into(f, path, H5IO_F32, v, (size_t)n);
    return v;
}

void load_layer_pos(const char *sheet, const char *layer, LayerPos *out) {
    memset(out, 0, sizeof *out);
    if (layer_index(layer) < 0) die(EXIT_USAGE, "unknown layer '%s'", layer);
    hid_t f = h5_open_artifact(sheet, "sheet", 1, NULL);
    char *g = xasprintf("/layers/%s", layer), *p = layer_path(layer, "positions");
    if (!h5_exists(f, g)) die(EXIT_USAGE, "no layer '%s' in sheet '%s'", layer, sheet);
    need(f, p, sheet, "dataset");
    hsize_t d[H5IO_MAX_RANK];
    int r = h5_shape(f, p, d);
    if (r != 2 || d[1] != 2) die(EXIT_USAGE, "positions of %s must be (U,2) in '%s'", layer, sheet);
    out->n = (int)d[0];
    out->xy = h5_read(f, p, H5IO_F64, NULL, NULL);
    if (h5_attr_get_f64(f, g, "analysis_scale", &out->scale) != 0 || !(out->scale > 0))
        die(EXIT_USAGE, "missing or bad attribute 'analysis_scale' on %s in '%s'", g, sheet);
    for (int i = 0; i < 2 * out->n; i++) {
        if (!isfinite(out->xy[i])) die(EXIT_USAGE, "non-finite position in %s of '%s'", layer, sheet);
        out->xy[i] *= out->scale;
    }
    double dims[3];
    if (h5_attr_get_f64v(f, g, "dims", dims, 3) == 3)
        for (int i = 0; i < 3; i++) out->dims[i] = (int64_t)dims[i];
    free(g);
    free(p);
    h5_close_file(f);
}

void load_tuning(const char *path, const char *layer, int n, TuningData *out) {
    memset(out, 0, sizeof *out);
    hid_t f = h5_open_artifact(path, "tuning", 1, NULL);
    char *g = xasprintf("/layers/%s", layer);
    if (!h5_exists(f, g)) die(EXIT_USAGE, "no layer '%s' in tuning '%s'", layer, path);
    out->n = n;
    const char *names[6] = {"orientation_pref_deg", "circular_variance", "peak_to_peak", "mean_response", "sf_pref", "color_pref"};
    float **dst[6] = {&out->ori, &out->cv, &out->ptp, &out->mresp, &out->sf, &out->color};
    for (int i = 0; i < 6; i++) {
        char *p = layer_path(layer, names[i]);
        *dst[i] = read_vec(f, path, p, n);
        free(p);
    }
    out->n_sf = 0;
    for (int i = 0; i < n; i++) { /* negative indices (no preference) become NaN */
        if (out->sf[i] < 0) out->sf[i] = NAN;
        if (out->color[i] < 0) out->color[i] = NAN;
        if (isfinite(out->sf[i]) && out->sf[i] + 1 > out->n_sf) out->n_sf = (int)out->sf[i] + 1;
        if (isfinite(out->ori[i]) && (out->ori[i] < -1e-3 || out->ori[i] >= 180.001))
            die(EXIT_USAGE, "orientation preference %g outside [0, 180) in '%s'", out->ori[i], path);
    }
    if (h5_exists(f, "/sf_cpd")) { /* probe-gratings: the SF levels the indices refer to */
        hsize_t d[H5IO_MAX_RANK];
        if (h5_shape(f, "/sf_cpd", d) == 1 && d[0] > 0 && d[0] <= 64) {
            out->n_sf_cpd = (int)d[0];
            out->sf_cpd = h5_read(f, "/sf_cpd", H5IO_F32, NULL, NULL);
        }
    }
    char *p = layer_path(layer, "selective");
    if (h5_exists(f, p)) {
        float *s = read_vec(f, path, p, n);
        out->selective = xmalloc((size_t)(n ? n : 1));
        for (int i = 0; i < n; i++) out->selective[i] = s[i] != 0;
        free(s);
    }
    free(p);
    free(g);
    h5_close_file(f);
}

void load_selectivity(const char *path, const char *layer, int n, SelectivityData *out) {
    memset(out, 0, sizeof *out);
    hid_t f = h5_open_artifact(path, "selectivity", 1, NULL);
    char *p = layer_path(layer, "tstat");
    need(f, p, path, "dataset");
    hsize_t d[H5IO_MAX_RANK];
    int r = h5_shape(f, p, d);
    if (r != 2 || d[0] != MAPS_N_DOMAINS || (int)d[1] != n)
        die(EXIT_USAGE, "dataset '%s' must be (5,%d) (domains x the sheet's units) in '%s'", p, n, path);
    out->n = n;
    out->t = h5_read(f, p, H5IO_F32, NULL, NULL);
    free(p);
    need(f, "/domains", path, "dataset");
    int nd = 0;
    out->domains = h5_read_strings(f, "/domains", &nd);
    if (nd != MAPS_N_DOMAINS) die(EXIT_USAGE, "expected 5 domain names in /domains of '%s'", path);
    p = layer_path(layer, "mean_response");
    if (h5_exists(f, p)) out->mresp = read_vec(f, path, p, n);
    free(p);
    h5_close_file(f);
}

void load_train_log(const char *path, TrainLog *out) {
    memset(out, 0, sizeof *out);
    hid_t f = h5_open_artifact(path, NULL, 1, NULL);
    need(f, "/log/step", path, "dataset");
    hsize_t d[H5IO_MAX_RANK];
    if (h5_shape(f, "/log/step", d) != 1) die(EXIT_USAGE, "/log/step must be 1-D in '%s'", path);
    long n = (long)d[0];
    out->n = n;
    out->step = h5_read(f, "/log/step", H5IO_F64, NULL, NULL);
    const char *names[5] = {"/log/task_loss", "/log/total_loss", "/log/lr", "/log/images_per_s", "/log/spatial_loss"};
    double **dst[5] = {&out->task, &out->total, &out->lr, &out->ips, &out->spatial};
    for (int i = 0; i < 5; i++) {
        if (!h5_exists(f, names[i])) continue; /* optional curves */
        int r = h5_shape(f, names[i], d);
        long want = i == 4 ? n * N_LAYERS : n;
        long got = r == 1 ? (long)d[0] : r == 2 ? (long)(d[0] * d[1]) : -1;
        if (got != want || (i == 4 && (r != 2 || d[1] != N_LAYERS)))
            die(EXIT_USAGE, "dataset '%s' does not match /log/step (%ld steps%s) in '%s'", names[i], n, i == 4 ? " x 8 layers" : "", path);
        *dst[i] = h5_read(f, names[i], H5IO_F64, NULL, NULL);
    }
    h5_close_file(f);
}

void load_layer_acts(const char *path, const char *layer, int max_images, int n_units, LayerActs *out) {
    memset(out, 0, sizeof *out);
    hid_t f = h5_open_artifact(path, "activations", 1, NULL);
    char *p = xasprintf("/layers/%s", layer);
    need(f, p, path, "dataset");
    hsize_t d[H5IO_MAX_RANK];
    int r = h5_shape(f, p, d);
    if (r != 4) die(EXIT_USAGE, "dataset '%s' must be (N,C,H,W) in '%s'", p, path);
    long u = (long)(d[1] * d[2] * d[3]);
    if (u != n_units) die(EXIT_USAGE, "dataset '%s' has %ld units per image but the sheet has %d in '%s'", p, u, n_units, path);
    int ni = (int)d[0] < max_images ? (int)d[0] : max_images;
    out->n_images = ni;
    out->n_units = n_units;
    out->r = xmalloc(sizeof(float) * (size_t)ni * (size_t)(n_units ? n_units : 1));
    if (ni) h5_read_rows(f, p, H5IO_F32, 0, (hsize_t)ni, out->r);
    free(p);
    h5_close_file(f);
}
