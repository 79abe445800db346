/* maps.h: the make-maps analyses (tdann-algorithm.md §6) on up to MAPS_MAX_MODELS models side by
 * side: the `maps:` config section, the loaded inputs, the results, and the writers of figures,
 * metrics.h5 and report.md.
 *
 * Inputs per model (artifact contracts in /work/contracts.md): a sheet (positions at training
 * scale, multiplied here by the layer's analysis_scale attribute: every analysis is on human-scale
 * mm), a tuning file (V1-like layer, default layer2.0), a selectivity file (VTC-like layer, default
 * layer4.1), optionally a checkpoint whose /log holds the training curves, and optionally an
 * activations file of sample images (layers layer2.0, layer2.1, layer4.0, layer4.1) for the wiring
 * length. Each analysis runs when its inputs are present.
 *
 * Official quirks (maps.quirks, default "official", reproduced because they change numbers):
 *   - circmean/circstd of orientations with high = 179 instead of 180 (Smoother uses metric.high-1):
 *     shifts smoothed preferences slightly and the pinwheel map with them;
 *   - ITMap.find_patches' off-by-one flip (smoothed[-row] then flipud): components are labelled on
 *     the smoothed map shifted by one grid row (label row k holds anchor row k+1, anchor row 0 wraps
 *     to the top), i.e. patches are displaced by one grid step in y (0.7 mm on a 70 mm sheet) and
 *     the bottom and top rows touch;
 *   "fixed" uses high = 180 and no flip. Kept in both modes because it defines the threshold: the
 *   pinwheel mask compares circstd / (units in the window) with 0.3, as the official code does.
 * Randomness (smoothness samples, wiring windows, k-means seeding) comes from Philox streams of the
 * run seed, so results are reproducible and independent of the thread count.
 */
#ifndef TDANN_MAPS_H
#define TDANN_MAPS_H

#include <stdint.h>

#include "config.h"
#include "maps_util.h"

#define MAPS_MAX_MODELS 3
#define MAPS_N_DOMAINS 5

enum { QUIRKS_OFFICIAL = 0, QUIRKS_FIXED = 1 };
enum { VEC_SVG = 0, VEC_PDF = 1, VEC_NONE = 2 };

typedef struct {
    char *v1_layer, *vtc_layer;
    int quirks;
    /* V1-like layer */
    double cv_threshold, min_mean_response;
    double map_window_mm, map_stride_mm, crop_fraction;
    int scatter_max_units;
    double column_spacing_mm, smooth_width_factor, smooth_ptp_percentile;
    int smooth_samples, smooth_sample_size, smooth_bin_edges;
    double pinwheel_window_mm, pinwheel_stride_mm, pinwheel_winding_threshold, pinwheel_std_threshold;
    int pinwheel_min_pixels;
    /* VTC-like layer */
    int patch_grid;
    double patch_sigma_mm, patch_t_threshold, patch_member_radius_mm;
    int patch_min_component_units;
    double patch_alpha, patch_min_area_mm2, patch_max_area_mm2;
    int patch_min_units;
    int cat_smooth_samples, cat_smooth_sample_size, cat_smooth_bin_edges;
    double cat_smooth_min_response, cat_smooth_max_distance_mm;
    /* wiring length */
    char *wiring_v1_source, *wiring_v1_target, *wiring_vtc_source, *wiring_vtc_target;
    int wiring_images, wiring_v1_windows, wiring_max_k, kmeans_n_init, kmeans_max_iter;
    double wiring_v1_window_mm, wiring_v1_percentile, wiring_vtc_percentile;
    double wiring_v1_threshold_mm, wiring_vtc_threshold_mm;
    /* figures */
    int vector_format;
    char *gnuplot;
} MapsConfig;
extern const Field MAPS_FIELDS[];
/* Defaults of MAPS_FIELDS into cfg (tests). */
void maps_config_defaults(MapsConfig *cfg);
double maps_circ_high(const MapsConfig *cfg); /* 179 (official) or 180 */

/* ---- inputs ------------------------------------------------------------------------------------ */
typedef struct {
    int n;          /* units U */
    double *xy;     /* [U][2] human-scale mm */
    double scale;   /* analysis_scale applied */
    int64_t dims[3];/* C, H, W (0 when absent) */
} LayerPos;

typedef struct {
    int n;
    float *ori, *cv, *ptp, *mresp; /* [U] */
    float *sf, *color;             /* [U] preference indices as floats (NaN: none) */
    unsigned char *selective;      /* [U] or NULL when the dataset is absent */
    int n_sf;                      /* number of SF levels (max index + 1) */
    float *sf_cpd;                 /* [n_sf_cpd] cycles/deg of each SF index (root /sf_cpd), or NULL */
    int n_sf_cpd;
} TuningData;

typedef struct {
    int n;
    float *t;     /* [5][U] */
    float *mresp; /* [U] or NULL */
    char **domains; /* 5 names */
} SelectivityData;

typedef struct {
    long n;
    double *step, *task, *spatial /* [n][8] */, *total, *lr, *ips;
} TrainLog;

typedef struct {
    int n_images, n_units;
    float *r; /* [n_images][U] */
} LayerActs;

/* Loaders: die (exit 2) naming the file on a missing dataset, attribute or a size mismatch. */
void load_layer_pos(const char *sheet, const char *layer, LayerPos *out);
void load_tuning(const char *path, const char *layer, int expect_units, TuningData *out);
void load_selectivity(const char *path, const char *layer, int expect_units, SelectivityData *out);
void load_train_log(const char *path, TrainLog *out);
void load_layer_acts(const char *path, const char *layer, int max_images, int expect_units, LayerActs *out);

/* ---- V1-like layer ----------------------------------------------------------------------------- */
typedef struct {
    GridSpec g;
    float *ori;      /* [ny][nx] circular mean */
    float *std_norm; /* [ny][nx] circstd / count (the mask map) */
    float *winding;  /* [ny][nx] NaN where not all 8 neighbours are defined */
    int n_pos, n_neg, n_pin;
    double *pin_xy;  /* [n_pin][2] island centroids */
    int *pin_sign;   /* [n_pin] +1 / -1 */
    long n_valid;    /* pixels with a winding number */
    double area_mm2, sheet_area_mm2;
    double density;       /* pinwheels per column spacing^2 over the analysed area */
    double density_sheet; /* official normalisation: whole sheet area (ptp_x * ptp_y) */
} Pinwheels;

typedef struct {
    int n;
    double *xy;      /* [U][2] human scale (owned) */
    double ext[4];
    int n_responsive, n_selective, n_probe_selective; /* -1: probe flag absent */
    double pct_selective;
    GridSpec mapg;
    float *ori_map, *sf_map, *color_map; /* [ny][nx] */
    int n_sf;
    int n_smooth_units;                  /* units above the peak-to-peak percentile */
    double hcw;
    DistCurve curve[3];                  /* orientation, SF, colour */
    Pinwheels pw;
    /* kept for figures */
    float *ori, *cv, *sf, *color;
    const float *sf_cpd;                 /* SF levels in cycles/deg (NULL when the tuning file has none) */
    int n_sf_cpd;
} V1Result;

void pinwheels_detect(const double *xy, const float *ori, int n, const MapsConfig *cfg, Pinwheels *out);
void pinwheels_free(Pinwheels *p);
void v1_analyse(const LayerPos *pos, const TuningData *tu, const MapsConfig *cfg, uint64_t seed, int model,
                V1Result *out);

/* ---- VTC-like layer ---------------------------------------------------------------------------- */
typedef struct {
    int domain, n_units;
    int *units;
    double area, cx, cy;
} Patch;

typedef struct {
    int n;
    double *xy;       /* [U][2] human scale (owned) */
    float *t;         /* [5][U] */
    char *domains[MAPS_N_DOMAINS];
    GridSpec g;
    float *smooth;    /* [5][grid][grid], rows = y */
    int n_patches;
    Patch *patches;   /* kept patches (all domains) */
    int count[MAPS_N_DOMAINS], n_components[MAPS_N_DOMAINS];
    double mean_area[MAPS_N_DOMAINS];
    DistCurve cat[MAPS_N_DOMAINS];
    double cat_smoothness_mean;
    int n_cat_units;  /* units passing the mean-response filter */
    double rsm[MAPS_N_DOMAINS * MAPS_N_DOMAINS];
} VTCResult;

/* Patches of one domain's t-map (t [U]); appends kept patches to *out / *n_out; returns the number
 * of connected components before the unit and area filters. smooth_out [grid][grid] optional. */
int vtc_find_patches(const double *xy, const float *t, int n, int domain, const MapsConfig *cfg,
                     float *smooth_out, Patch **out, int *n_out);
void vtc_analyse(const LayerPos *pos, const SelectivityData *sel, const MapsConfig *cfg, uint64_t seed, int model,
                 VTCResult *out);

/* ---- wiring length ----------------------------------------------------------------------------- */
typedef struct {
    int n_measures;   /* (pattern, window, direction) triples averaged */
    double mean, sem; /* mm */
    double mean_k;    /* mean number of source clusters */
    int n_images, n_windows;
} WiringResult;

/* One pattern: active units = response > percentile pct of the given units; k-means of the source
 * active positions with the smallest k (<= max_k) whose inertia <= n_active * thr^2, the target
 * with the same k (capped at its active count); the target centroids are shifted by ext in the 4
 * directions (+x, -x, +y, -y) and len[d] = minimum-cost matching total of centroid distances.
 * Returns k, or 0 when either side has no active unit (len untouched). */
int wiring_pattern(const double *sxy, const float *sr, int ns, const double *txy, const float *tr, int nt,
                   double pct, double thr, double ext, const MapsConfig *cfg, uint64_t seed, uint64_t stream,
                   double len[4]);
/* The whole procedure: vtc = 0 uses random windows (V1), 1 the whole sheet (VTC). */
void wiring_analyse(const LayerPos *src, const LayerActs *sa, const LayerPos *tgt, const LayerActs *ta, int vtc,
                    const MapsConfig *cfg, uint64_t seed, int model, WiringResult *out);

/* ---- models and outputs ------------------------------------------------------------------------ */
typedef struct {
    char *name;
    char *sheet, *tuning, *selectivity, *log_path, *acts; /* NULL: not given */
    int has_v1, has_vtc, has_wv1, has_wvtc, has_log;
    V1Result v1;
    VTCResult vtc;
    WiringResult wv1, wvtc;
    TrainLog train;
} MapsModel;

typedef struct {
    char name[64];      /* file stem */
    char caption[512];  /* one sentence for the report */
} Figure;

/* Writes every figure (data + .gp + rendered files) into dir; returns the count, figures in *out. */
int maps_figures(const MapsModel *m, int nm, const MapsConfig *cfg, const char *dir, Figure **out);
void maps_write_metrics(const char *path, const MapsModel *m, int nm, const MapsConfig *cfg);
void maps_write_report(const char *dir, const MapsModel *m, int nm, const MapsConfig *cfg, const Figure *f, int nf);

#endif
