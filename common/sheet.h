/* sheet.h: the cortical sheet: unit positions and precomputed neighbourhoods for the 8 ResNet-18
 * block outputs (tdann-algorithm.md §2), and the reader/writer of the sheet artifact.
 *
 * Conventions
 * - Coordinates are mm at TRAINING scale (col 0 = x, col 1 = y); multiply by analysis_scale for the
 *   human-scale analyses. Unit index u = c*H*W + h*W + w (PyTorch flatten order); x follows the
 *   feature-map column w, y the row h.
 * - Retinotopic placement of a layer with C channels on an n x n map (n = H = W) and side S:
 *   hypercolumn width hc = S / (n - n*o + o) for RF overlap o; anchors linspace(hc/2, S - hc/2, n);
 *   each unit = its anchor + U(-hc/2, hc/2) per axis; then N(0, jitter) on every coordinate and
 *   each axis rescaled/shifted back to its pre-jitter range (min and max).
 * - Neighbourhoods: `windows` square windows of side = neighborhood width (default: one hypercolumn),
 *   centres uniform in [min + w/2, max - w/2] per axis of the positions, members = units inside
 *   (bounds inclusive). K = min(max(int(percentile(sizes, keep_percentile)), k_min), k_max) (linear
 *   interpolation between order statistics, as numpy); windows with fewer than K members are dropped,
 *   the others subsampled to exactly K members without replacement (stored sorted ascending). When
 *   no window reaches K (a tiny model's sparse sheet) K is lowered to the largest window, with a warning.
 * - Random numbers: Philox streams; positions (seed, RNG_PURPOSE_SHEET, layer, 0|1 = offsets|jitter),
 *   window centres (seed, RNG_PURPOSE_NEIGHBORHOOD, layer + 16*generation, 0, 0) and each window's
 *   subsample (..., window, 1); generation 0 is make-sheet, 1 the recomputation after swapopt.
 *   Same seed and config -> identical sheet, whatever the thread count.
 *
 * Artifact "sheet" (schema 1): /layers/<layer>/positions f32 (U,2) "unit,xy" mm;
 * /layers/<layer>/neighborhoods int32 (P,K) "neighborhood,member" unit index; attributes on the
 * layer group: dims int64[3] (C,H,W), sheet_mm, neighborhood_width_mm, analysis_scale,
 * hypercolumn_mm, rf_overlap (f64), the neighbourhood rule (neighborhood_windows int64,
 * neighborhood_keep_percentile f64, neighborhood_k_min, neighborhood_k_max int64), and after
 * swapopt: swapopt_loss_before, swapopt_loss_after (f64), swapopt_attempts, swapopt_accepted,
 * swapopt_windows, swapopt_windows_skipped (int64), swapopt_pair_rng (string).
 */
#ifndef TDANN_SHEET_H
#define TDANN_SHEET_H

#include <hdf5.h>
#include <stdint.h>

#include "config.h"
#include "util.h"

#define SHEET_SCHEMA 1

/* ---- the `sheet:` config section ------------------------------------------------------------- */
typedef struct {
    FloatList sides_mm;        /* [8] sheet side per layer, training scale */
    FloatList rf_overlap;      /* [8] RF overlap fraction per layer */
    FloatList analysis_scale;  /* [8] training -> human scale factor per layer */
    FloatList nb_width_mm;     /* [8] or empty: neighbourhood width = one hypercolumn width */
    double jitter_mm;          /* sigma of the Gaussian jitter */
    int windows;               /* neighbourhood windows drawn per layer */
    double keep_percentile;    /* size percentile that sets K */
    int k_min, k_max;          /* bounds on K */
} SheetConfig;
extern const Field SHEET_FIELDS[];

/* Checks list lengths and ranges; dies (exit 2) naming the key. */
void sheet_config_check(const SheetConfig *c);
/* A config list value as double, re-rounded to 7 significant digits (so 0.1f reads as 0.1). */
double sheet_cfg_value(const FloatList *l, int i);

/* The neighbourhood rule (stored with each layer, so swapopt recomputes with the same rule). */
typedef struct {
    int64_t windows;
    double keep_percentile;
    int64_t k_min, k_max;
} NbRule;

/* ---- one layer --------------------------------------------------------------------------------- */
typedef struct {
    int layer;                 /* 0..7 (LAYER_NAMES) */
    int64_t dims[3];           /* C, H, W */
    int64_t units;             /* C*H*W */
    float *positions;          /* [units][2] mm, training scale; NULL when not loaded */
    int64_t n_nb, k;           /* P neighbourhoods of K members */
    int32_t *neighborhoods;    /* [n_nb][k] unit indices; NULL when not loaded */
    double sheet_mm, neighborhood_width_mm, analysis_scale, hypercolumn_mm, rf_overlap;
    NbRule rule;
    /* swapopt results (swapped = 0 when the layer was never optimised) */
    int swapped;
    double loss_before, loss_after;
    int64_t attempts, accepted, windows, windows_skipped;
    char pair_rng[16];
} SheetLayer;

/* Hypercolumn width S / (n - n*o + o). */
double sheet_hypercolumn_mm(double side_mm, int n, double overlap);

/* Retinotopic positions of one layer (see top comment). pos: O [C*H*W][2]. H must equal W. */
void sheet_positions_retinotopic(float *pos, int C, int H, int W, double side_mm, double overlap,
                                 double jitter_mm, uint64_t seed, int layer);

/* Neighbourhoods of positions pos [U][2] (I) for square windows of side width_mm.
 * *nb: O [*P][*K] (malloc'd, each row sorted ascending). */
void sheet_neighborhoods(const float *pos, int64_t U, double width_mm, const NbRule *rule, uint64_t seed,
                         int layer, int generation, int32_t **nb, int64_t *P, int64_t *K);

/* Sizes of the neighbourhood windows before trimming (for tests and reports): sizes O [rule->windows]. */
void sheet_window_sizes(const float *pos, int64_t U, double width_mm, const NbRule *rule, uint64_t seed,
                        int layer, int generation, int64_t *sizes);

/* K from window sizes (sizes are not modified). */
int64_t sheet_nb_k(const int64_t *sizes, int64_t n, const NbRule *rule);

/* Builds a full layer (positions + neighbourhoods) from the config for map dims C x H x W. */
SheetLayer *sheet_build_layer(const SheetConfig *cfg, int layer, int C, int H, int W, uint64_t seed);

/* ---- spatial index over fixed points (neighbourhoods, swapopt windows) ----------------------- */
typedef struct SheetGrid {
    double x0, y0, cell;       /* origin and cell side */
    int nx, ny;
    int32_t *start;            /* [nx*ny + 1] offsets into idx */
    int32_t *idx;              /* [n] point indices, ascending within a cell */
    float *xy;                 /* [n][2] the points' coordinates in idx order */
    const float *pos;          /* [n][2] the points (not owned) */
    int64_t n;
    uint64_t *bits;            /* [(n + 63) / 64] scratch bitmap (one query at a time per grid) */
} SheetGrid;
/* cell: grid cell side (about a quarter of the query window side is a good choice). */
SheetGrid *sheet_grid_build(const float *pos, int64_t n, double cell);
/* Points with xlo <= x <= xhi and ylo <= y <= yhi (compared in double), written to out in
 * ascending index order; returns their count. With out == NULL only counts. Not thread-safe for
 * one grid when out != NULL (the bitmap is shared): use sheet_grid_query_bits with private bits. */
int64_t sheet_grid_query(SheetGrid *g, double xlo, double xhi, double ylo, double yhi, int32_t *out);
int64_t sheet_grid_query_bits(const SheetGrid *g, double xlo, double xhi, double ylo, double yhi, int32_t *out,
                              uint64_t *bits);
void sheet_grid_free(SheetGrid *g);

/* ---- artifact I/O ------------------------------------------------------------------------------- */
enum { SHEET_POSITIONS = 1, SHEET_NEIGHBORHOODS = 2, SHEET_ALL = 3 };

/* The responses of one layer's units for SwapOpt: /layers/<layer> of an activations artifact
 * (N,C,H,W) streamed in blocks of images (actstream.h) and transposed to a [U][N] array (returned;
 * *N_out set): memory = the result plus one block.
 * Dies (exit 2) naming the file when the layer is missing or its C,H,W differ from dims. */
float *sheet_read_responses(hid_t acts, int layer, const int64_t dims[3], int *N_out);

/* Opens a sheet artifact (validates kind and schema; records it as an input). */
hid_t sheet_open(const char *path);
int sheet_has_layer(hid_t f, int layer);
/* Reads one layer (what: SHEET_POSITIONS | SHEET_NEIGHBORHOODS); dies (exit 2) naming the file
 * when it is missing or malformed. */
SheetLayer *sheet_read_layer(hid_t f, int layer, int what);
/* Writes /layers/<layer>/... with every attribute. */
void sheet_write_layer(hid_t f, const SheetLayer *L);
/* Copies /layers/<layer> (datasets as stored, compressed chunks included, and attributes). */
void sheet_copy_layer(hid_t src, hid_t dst, int layer);
void sheet_layer_free(SheetLayer *L);

/* All layers in one go: layer[i] is NULL where the file lacks layer i or (mask bit i) = 0. */
typedef struct { SheetLayer *layer[N_LAYERS]; } Sheet;
/* mask: bit i selects layer i (0xFF: all); a selected layer missing from the file is an error. */
Sheet *sheet_load(const char *path, unsigned mask, int what);
void sheet_free(Sheet *s);

#endif
