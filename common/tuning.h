/* tuning.h: orientation, spatial-frequency and colour tuning of units from their responses to sine
 * gratings (the computation behind probe-gratings; TDANN algorithm notes §6.1).
 *
 * Data flow: grating_design_* reads the per-image labels; a GratingAccum is fed blocks of images
 * (rows of U responses, any order, each image once) and keeps per unit only sums per orientation,
 * SF and colour plus the unit's max and the global min, so a layer of any size streams through
 * in O(U * (n_ori + n_sf + n_color)) memory; tuning_compute() then derives, per unit:
 *
 * 1. Preprocessing (params.normalize): if the global min response m < 0, shift every response by
 *    -m; then scale every response by s = median_peak_rate / median_u(max_i r_ui) (the median
 *    over units of each unit's maximum response, after the shift), so that median equals the
 *    macaque V1 median peak rate. If that median is 0 (most units silent), s = 1 and `scaled` = 0.
 *    Both are affine, so they are applied to the sums at the end: r' = (r + shift) * scale.
 * 2. Orientation tuning curve R(theta_k) = mean of r' over the images of orientation k (i.e. over
 *    SF, phase and colour). SF and colour curves likewise.
 * 3. Circular variance CV = 1 - |sum_k R_k e^{2 i theta_k}| / sum_k R_k. Where sum_k R_k <= 0
 *    (a silent unit; the official code gives NaN) CV = 1 and the unit is not selective.
 * 4. selective = CV < cv_threshold && mean response > response_threshold && sum_k R_k > 0.
 * 5. Orientation preference: the curve with R(theta_0) repeated at theta_0 + 180 is linearly
 *    interpolated (periodically) onto dense_points angles linspace(0, 180, dense_points); those
 *    are placed at x = linspace(-pi, pi, dense_points) and fitted with a von Mises (vonmises.h);
 *    the preference is the dense angle at the first maximum of the fitted curve, in [0, 180]
 *    (180 can occur and means the same as 0, as in the official code). A flat curve gives 0.
 * 6. sf_pref / color_pref = index of the first maximum of the SF / colour curve (levels sorted
 *    ascending: SF index 0 = lowest SF; colour index = position among the sorted colour codes,
 *    which for the contract's 0 = black/white, 1 = red/cyan is the code itself).
 * 7. peak_to_peak = max - min of the orientation curve (also of the SF and colour curves);
 *    mean_response = mean of r' over all images.
 * Outputs are finite for every unit (no NaN), given finite inputs.
 */
#ifndef TDANN_TUNING_H
#define TDANN_TUNING_H

#include <hdf5.h>
#include <stdint.h>

typedef struct {
    int64_t n_images;
    int n_ori, n_sf, n_color;
    double *ori_deg;                   /* [n_ori] sorted distinct orientations, in [0, 180) */
    double *sf;                        /* [n_sf] sorted distinct SFs (cycles/image) */
    double *color;                     /* [n_color] sorted distinct colour codes */
    int32_t *ori_of, *sf_of, *color_of;/* [n_images] level index of each image */
    int64_t *ori_n, *sf_n, *color_n;   /* images per level */
} GratingDesign;

/* From label arrays (orientations are taken modulo 180; values within 1e-3 are one level).
 * Dies (exit 2) naming `file` with fewer than 3 orientations. */
GratingDesign *grating_design_from_labels(int64_t n, const float *ori_deg, const float *sf, const int32_t *color,
                                          const char *file);
/* Reads /labels/{orientation_deg, sf_cycles_per_image, color} of an activations file. Dies
 * (exit 2) naming the file when they are missing, or when the root attribute `set` names another
 * stimulus set. */
GratingDesign *grating_design_load(hid_t f, const char *file);
void grating_design_free(GratingDesign *d);

typedef struct {
    const GratingDesign *d;
    int64_t n_units, images;
    double *ori_sum;   /* [n_ori][U] sum of raw responses per orientation */
    double *sf_sum;    /* [n_sf][U] */
    double *color_sum; /* [n_color][U] */
    float *max;        /* [U] raw max */
    double min;        /* raw min over all responses seen */
    int64_t nonfinite; /* non-finite responses seen (they are skipped) */
} GratingAccum;

void grating_accum_init(GratingAccum *a, const GratingDesign *d, int64_t n_units);
/* resp [nrows][n_units]: responses to images image0 .. image0 + nrows - 1. OpenMP over units. */
void grating_accum_add(GratingAccum *a, const float *resp, int64_t image0, int64_t nrows);
void grating_accum_free(GratingAccum *a);

typedef struct {
    int normalize;             /* 1: shift and scale as in step 1 */
    double median_peak_rate;   /* target of the median per-unit max (spikes/s) */
    double cv_threshold;       /* 0.6 */
    double response_threshold; /* 1.0 */
    int dense_points;          /* 50 */
    double kappa_max;          /* upper bound of the von Mises concentration */
} TuningParams;

typedef struct {
    int64_t n_units;
    int n_ori, n_sf, n_color;
    float *orientation_pref_deg, *circular_variance, *peak_to_peak, *mean_response; /* [U] */
    float *sf_peak_to_peak, *color_peak_to_peak, *kappa;                            /* [U] */
    int32_t *sf_pref, *color_pref;                                                  /* [U] */
    uint8_t *selective;                                                             /* [U] */
    float *ori_curve;   /* [U][n_ori] after preprocessing */
    float *sf_curve;    /* [U][n_sf] */
    float *color_curve; /* [U][n_color] */
    double shift, scale, median_max; /* median_max: median per-unit max after the shift, before scaling */
    int scaled;                      /* 0 when normalization was off or impossible (median max 0) */
    int64_t n_responsive, n_selective, n_flat; /* mean > threshold; selective; flat orientation curve */
} TuningResult;

void tuning_compute(const GratingAccum *a, const TuningParams *p, TuningResult *r);
void tuning_result_free(TuningResult *r);
/* Short distribution summary on stderr via info(level): % responsive/selective, CV quartiles,
 * preference histograms. */
void tuning_print_summary(int level, const char *layer, const TuningResult *r, const TuningParams *p,
                          const GratingDesign *d);

/* Per-unit pieces (steps 3 and 5), exposed for tests. curve[n] over ori_deg[n] (sorted, [0,180)). */
double tuning_circular_variance(const double *curve, const double *ori_deg, int n);
double tuning_orientation_pref(const double *curve, const double *ori_deg, int n, int dense_points,
                               double kappa_max, double *kappa_out);

#endif
