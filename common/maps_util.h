/* maps_util.h: building blocks of the cortical-map analyses (tdann-algorithm.md §6): a spatial index
 * over unit positions, regular pixel grids, square-window and Gaussian smoothing, circular
 * statistics with scipy's conventions, connected components, percentiles, and |Δ value| vs
 * distance curves with their smoothness index.
 *
 * Conventions: positions xy are double [n][2] in mm (human scale; col 0 = x, col 1 = y). A grid is
 * row-major [ny][nx]; pixel (r, c) is centred at (x0 + c*dx, y0 + r*dy), so row index grows with y.
 * Per-unit values are float [n]; NaN marks "no value" and is skipped everywhere.
 * Circular statistics follow scipy.stats.circmean/circstd with low = 0 and a given `high`
 * (period): angles are mapped by 2*pi*x/high; circmean returns a value in [0, high);
 * circstd = sqrt(-2 ln R) * high / (2 pi) (R = mean resultant length).
 */
#ifndef TDANN_MAPS_UTIL_H
#define TDANN_MAPS_UTIL_H

#include <stdint.h>

typedef struct { int n, cap; int *v; } IntBuf;
void intbuf_push(IntBuf *b, int x);
void intbuf_free(IntBuf *b);

/* ---- spatial index ---------------------------------------------------------------------------- */
typedef struct {
    double x0, y0, cell;
    int nx, ny;
    int *start; /* [nx*ny + 1] offsets into idx */
    int *idx;   /* [n] unit indices bucketed by cell */
} UnitIndex;
void uindex_build(UnitIndex *ix, const double *xy, int n, double cell);
void uindex_free(UnitIndex *ix);
/* Appends (without clearing out) the units with x in [x0, x1] and y in [y0, y1]. */
void uindex_rect(const UnitIndex *ix, const double *xy, double x0, double x1, double y0, double y1, IntBuf *out);

/* Extent of positions: e[0] = xmin, e[1] = xmax, e[2] = ymin, e[3] = ymax (finite positions only). */
void xy_extent(const double *xy, int n, double e[4]);

/* ---- grids and smoothing ---------------------------------------------------------------------- */
typedef struct { int nx, ny; double x0, y0, dx, dy; } GridSpec;
/* Pixel centres from (xmin, ymin) in steps of stride up to xmax/ymax (inclusive within 1e-9). */
GridSpec grid_from_extent(const double e[4], double stride);
/* n x n pixels spanning [lo, hi] on both axes (numpy linspace(lo, hi, n)). */
GridSpec grid_linspace(double lo, double hi, int n);

typedef enum { SMOOTH_MEAN, SMOOTH_CIRC } SmoothKind;
/* Square windows of side `width` centred on each pixel. SMOOTH_MEAN: arithmetic mean;
 * SMOOTH_CIRC: scipy circmean with period `high` (and circstd into std_out when non-NULL).
 * count_out: units in each window. Empty windows give NaN. Outputs are [ny][nx]. */
void smooth_square(const double *xy, const float *val, int n, const GridSpec *g, double width, SmoothKind kind,
                   double high, float *mean_out, float *std_out, int *count_out);

/* Gaussian-weighted average sum_i w_i v_i / sum_i w_i with w_i = exp(-d^2 / (2 sigma^2)) at every
 * pixel, for nf value arrays at once (vals [nf][n], out [nf][ny][nx]). Units farther than 5 sigma
 * are skipped (for evenly spread units their total weight is e^-12.5 = 4e-6 of the whole); a
 * pixel with no unit within 5 sigma uses every unit (NaN if every weight underflows). */
void smooth_gaussian(const double *xy, const float *vals, int nf, int n, const GridSpec *g, double sigma, float *out);

/* ---- circular statistics (means/std of samples: stats.h circ_mean, circ_std) ----------------- */
/* |a - b| for orientations in degrees with period 180, in [0, 90]. */
double ori_diff(double a, double b);
/* Wraps d (degrees) into [-90, 90). */
double wrap90(double d);

/* ---- components (percentiles: stats.h stats_percentile) ---------------------------------------- */
/* Connected components of mask [ny][nx] (non-zero = foreground), connectivity 4 or 8 (8 is
 * skimage.measure.label's default in 2-D). labels [ny][nx]: 0 background, 1..N in raster order of
 * each component's first pixel. Returns N. */
int label_components(const unsigned char *mask, int ny, int nx, int connectivity, int *labels);

/* ---- |Δ value| vs distance ------------------------------------------------------------------------ */
typedef enum { DIFF_ABS, DIFF_ORI180 } DiffKind;
typedef struct {
    int nbins;          /* bins [k*w, (k+1)*w), w = max_dist / nbins */
    double max_dist;
    double *mean;       /* [nbins] mean over samples of each sample's mean |Δ| (NaN: no pairs) */
    double *sem;        /* [nbins] standard error over samples */
    double *chance_curve; /* [nbins] the same with values shuffled among the sampled units */
    double chance;      /* mean of the finite chance_curve bins: the chance level */
    double smoothness;  /* smoothness_index(mean) */
    int n_samples;      /* samples that had at least one pair */
} DistCurve;
void dist_curve_free(DistCurve *c);

/* Repeats n_samples times: draw min(sample_size, n_cands) distinct units from cands (uniformly,
 * Philox stream (seed, stream), sample s at word s * 2^32), drop those with post_keep[u] == 0 when
 * post_keep is non-NULL, and average |Δ vals[f]| over the unit pairs in each distance bin; the
 * chance curve uses the same pairs with the values permuted among the sampled units.
 * vals: nf arrays of [n_units]; out: [nf]. */
void dist_curves(const double *xy, const int *cands, int n_cands, const unsigned char *post_keep,
                 const float *const *vals, const DiffKind *kinds, int nf, double max_dist, int nbins,
                 int n_samples, int sample_size, uint64_t seed, uint64_t stream, DistCurve *out);

/* (max(c) - c[0]) / max(c) over c truncated at its first NaN (spatial_utils.smoothness);
 * NaN when nothing is left or max(c) <= 0. 1 = perfectly smooth. */
double smoothness_index(const double *c, int n);

#endif
