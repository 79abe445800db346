/* sheet.c: retinotopic positions, neighbourhoods, spatial grid and the sheet artifact. See sheet.h
 * for the conventions and tdann-algorithm.md §2.2-2.3 for the algorithm. */
#include "sheet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actstream.h"
#include "error.h"
#include "h5io.h"
#include "rng.h"

/* ---- config ------------------------------------------------------------------------------------ */
const Field SHEET_FIELDS[] = {
    {"sides_mm", NULL, 0, F_FLOAT_LIST, offsetof(SheetConfig, sides_mm), "[4, 4, 24.5, 24.5, 20, 16, 10, 10]",
     0.001, 1e6, NULL, NULL, "sheet side per layer (layer1.0 ... layer4.1), mm at training scale", 0},
    {"rf_overlap", NULL, 0, F_FLOAT_LIST, offsetof(SheetConfig, rf_overlap), "[0.1, 0.1, 0.2, 0.2, 0.4, 0.4, 0.8, 0.8]",
     0, 1, NULL, NULL, "RF (hypercolumn) overlap fraction per layer", 0},
    {"analysis_scale", NULL, 0, F_FLOAT_LIST, offsetof(SheetConfig, analysis_scale),
     "[0.6, 0.6, 1.5, 1.5, 1.75, 1.4, 7, 7]", 1e-6, 1e6, NULL, NULL,
     "factor from training-scale to human-scale mm per layer (stored; used by the analyses)", 0},
    {"neighborhood_width_mm", NULL, 0, F_FLOAT_LIST, offsetof(SheetConfig, nb_width_mm), "", 1e-9, 1e6, NULL, NULL,
     "neighbourhood window side per layer; empty: one hypercolumn width", 0},
    {"jitter_mm", NULL, 0, F_DOUBLE, offsetof(SheetConfig, jitter_mm), "0.3", 0, 1e6, NULL, NULL,
     "sigma of the Gaussian position jitter (then each axis is restored to its range)", 0},
    {"windows", NULL, 0, F_INT, offsetof(SheetConfig, windows), "20000", 1, 100000000, NULL, NULL,
     "square windows drawn to build the neighbourhoods", 0},
    {"keep_percentile", NULL, 0, F_DOUBLE, offsetof(SheetConfig, keep_percentile), "5", 0, 100, NULL, NULL,
     "K = this percentile of the window sizes, bounded by k_min and k_max", 0},
    {"k_min", NULL, 0, F_INT, offsetof(SheetConfig, k_min), "25", 2, 1000000, NULL, NULL, "lower bound on K", 0},
    {"k_max", NULL, 0, F_INT, offsetof(SheetConfig, k_max), "500", 2, 1000000, NULL, NULL, "upper bound on K", 0},
    FIELD_END};

double sheet_cfg_value(const FloatList *l, int i) {
    char b[32];
    snprintf(b, sizeof b, "%.7g", (double)l->v[i]);
    return strtod(b, NULL);
}

void sheet_config_check(const SheetConfig *c) {
    if (c->sides_mm.n != N_LAYERS) die(EXIT_USAGE, "key 'sheet.sides_mm': expected %d values (one per layer), got %d", N_LAYERS, c->sides_mm.n);
    if (c->rf_overlap.n != N_LAYERS) die(EXIT_USAGE, "key 'sheet.rf_overlap': expected %d values (one per layer), got %d", N_LAYERS, c->rf_overlap.n);
    if (c->analysis_scale.n != N_LAYERS)
        die(EXIT_USAGE, "key 'sheet.analysis_scale': expected %d values (one per layer), got %d", N_LAYERS, c->analysis_scale.n);
    if (c->nb_width_mm.n != 0 && c->nb_width_mm.n != N_LAYERS)
        die(EXIT_USAGE, "key 'sheet.neighborhood_width_mm': expected %d values or none, got %d", N_LAYERS, c->nb_width_mm.n);
    if (c->k_min > c->k_max) die(EXIT_USAGE, "key 'sheet.k_min' (%d) is larger than 'sheet.k_max' (%d)", c->k_min, c->k_max);
}

/* ---- positions --------------------------------------------------------------------------------- */
double sheet_hypercolumn_mm(double side_mm, int n, double overlap) { return side_mm / (n - n * overlap + overlap); }

void sheet_positions_retinotopic(float *pos, int C, int H, int W, double side_mm, double overlap, double jitter_mm,
                                 uint64_t seed, int layer) {
    if (H != W) die(EXIT_USAGE, "the sheet needs square feature maps, got %dx%d", H, W);
    const int n = W;
    const double hc = sheet_hypercolumn_mm(side_mm, n, overlap), r = hc / 2;
    double *anchor = xmalloc(sizeof(double) * (size_t)n);
    for (int i = 0; i < n; i++) anchor[i] = n == 1 ? r : r + (side_mm - 2 * r) * i / (n - 1);
    if (n > 1) anchor[n - 1] = side_mm - r;
    const int64_t U = (int64_t)C * H * W;
    double *p = xmalloc(sizeof(double) * 2 * (size_t)U);
    Rng ro;
    rng_init(&ro, seed, rng_stream(RNG_PURPOSE_SHEET, (uint32_t)layer, 0, 0));
    for (int64_t u = 0; u < U; u++) {
        int w = (int)(u % W), h = (int)((u / W) % H);
        double ux = rng_uniform_double(&ro), uy = rng_uniform_double(&ro);
        p[2 * u] = anchor[w] + (2 * ux - 1) * r;
        p[2 * u + 1] = anchor[h] + (2 * uy - 1) * r;
    }
    if (jitter_mm > 0) {
        double lo0[2] = {INFINITY, INFINITY}, hi0[2] = {-INFINITY, -INFINITY};
        for (int64_t u = 0; u < U; u++)
            for (int a = 0; a < 2; a++) { double v = p[2 * u + a]; if (v < lo0[a]) lo0[a] = v; if (v > hi0[a]) hi0[a] = v; }
        Rng rj;
        rng_init(&rj, seed, rng_stream(RNG_PURPOSE_SHEET, (uint32_t)layer, 1, 0));
        for (int64_t u = 0; u < 2 * U; u++) p[u] += jitter_mm * rng_normal(&rj);
        double lo1[2] = {INFINITY, INFINITY}, hi1[2] = {-INFINITY, -INFINITY};
        for (int64_t u = 0; u < U; u++)
            for (int a = 0; a < 2; a++) { double v = p[2 * u + a]; if (v < lo1[a]) lo1[a] = v; if (v > hi1[a]) hi1[a] = v; }
        for (int a = 0; a < 2; a++) {
            double ptp0 = hi0[a] - lo0[a], ptp1 = hi1[a] - lo1[a];
            if (ptp0 <= 0 || ptp1 <= 0) continue;
            double ratio = ptp1 / ptp0, smin = lo1[a] / ratio;
            for (int64_t u = 0; u < U; u++) p[2 * u + a] = p[2 * u + a] / ratio - smin + lo0[a];
        }
    }
    for (int64_t u = 0; u < 2 * U; u++) pos[u] = (float)p[u];
    free(p);
    free(anchor);
}

/* ---- spatial grid ------------------------------------------------------------------------------ */
SheetGrid *sheet_grid_build(const float *pos, int64_t n, double cell) {
    SheetGrid *g = xcalloc(1, sizeof *g);
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    for (int64_t i = 0; i < n; i++)
        for (int a = 0; a < 2; a++) { double v = pos[2 * i + a]; if (v < lo[a]) lo[a] = v; if (v > hi[a]) hi[a] = v; }
    if (n == 0) lo[0] = lo[1] = hi[0] = hi[1] = 0;
    g->x0 = lo[0];
    g->y0 = lo[1];
    g->cell = cell > 0 ? cell : 1;
    /* keep the grid to a few cells per point at most */
    double need = (hi[0] - lo[0]) / g->cell * (hi[1] - lo[1]) / g->cell;
    if (need > 4.0 * (double)n + 16) g->cell *= sqrt(need / (4.0 * (double)n + 16));
    g->nx = (int)floor((hi[0] - lo[0]) / g->cell) + 1;
    g->ny = (int)floor((hi[1] - lo[1]) / g->cell) + 1;
    g->pos = pos;
    g->n = n;
    size_t nc = (size_t)g->nx * (size_t)g->ny;
    g->start = xcalloc(nc + 1, sizeof(int32_t));
    g->idx = xmalloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    g->xy = xmalloc(sizeof(float) * 2 * (size_t)(n ? n : 1));
    int32_t *cellof = xmalloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        int cx = (int)floor(((double)pos[2 * i] - g->x0) / g->cell), cy = (int)floor(((double)pos[2 * i + 1] - g->y0) / g->cell);
        if (cx >= g->nx) cx = g->nx - 1;
        if (cy >= g->ny) cy = g->ny - 1;
        cellof[i] = cy * g->nx + cx;
        g->start[cellof[i] + 1]++;
    }
    for (size_t c = 0; c < nc; c++) g->start[c + 1] += g->start[c];
    int32_t *fill = xmalloc(sizeof(int32_t) * nc);
    memcpy(fill, g->start, sizeof(int32_t) * nc);
    for (int64_t i = 0; i < n; i++) { /* ascending within a cell */
        int32_t k = fill[cellof[i]]++;
        g->idx[k] = (int32_t)i;
        g->xy[2 * k] = pos[2 * i];
        g->xy[2 * k + 1] = pos[2 * i + 1];
    }
    free(fill);
    free(cellof);
    g->bits = xcalloc((size_t)(n + 63) / 64 + 1, sizeof(uint64_t));
    return g;
}

int64_t sheet_grid_query_bits(const SheetGrid *g, double xlo, double xhi, double ylo, double yhi, int32_t *out,
                              uint64_t *bits) {
    int cx0 = (int)floor((xlo - g->x0) / g->cell), cx1 = (int)floor((xhi - g->x0) / g->cell);
    int cy0 = (int)floor((ylo - g->y0) / g->cell), cy1 = (int)floor((yhi - g->y0) / g->cell);
    if (cx0 < 0) cx0 = 0;
    if (cy0 < 0) cy0 = 0;
    if (cx1 >= g->nx) cx1 = g->nx - 1;
    if (cy1 >= g->ny) cy1 = g->ny - 1;
    int64_t cnt = 0, imin = INT64_MAX, imax = -1;
    for (int cy = cy0; cy <= cy1; cy++) {
        /* a cell strictly inside the window on an axis needs no test on that axis */
        const double eps = 1e-6 * g->cell;
        int yin = g->y0 + cy * g->cell - eps > ylo && g->y0 + (cy + 1) * g->cell + eps < yhi;
        for (int cx = cx0; cx <= cx1; cx++) {
            int c = cy * g->nx + cx;
            int xin = g->x0 + cx * g->cell - eps > xlo && g->x0 + (cx + 1) * g->cell + eps < xhi;
            int32_t k0 = g->start[c], k1 = g->start[c + 1];
            if (xin && yin && cx < g->nx - 1 && cy < g->ny - 1) { /* the last cells also hold clamped points */
                cnt += k1 - k0;
                if (out)
                    for (int32_t k = k0; k < k1; k++) {
                        int32_t i = g->idx[k];
                        bits[i >> 6] |= 1ull << (i & 63);
                        if (i < imin) imin = i;
                        if (i > imax) imax = i;
                    }
                continue;
            }
            for (int32_t k = k0; k < k1; k++) {
                double x = g->xy[2 * k], y = g->xy[2 * k + 1];
                if (x >= xlo && x <= xhi && y >= ylo && y <= yhi) {
                    cnt++;
                    if (out) {
                        int32_t i = g->idx[k];
                        bits[i >> 6] |= 1ull << (i & 63);
                        if (i < imin) imin = i;
                        if (i > imax) imax = i;
                    }
                }
            }
        }
    }
    if (out && cnt) {
        int64_t k = 0;
        for (int64_t w = imin >> 6; w <= imax >> 6; w++) {
            uint64_t b = bits[w];
            bits[w] = 0;
            while (b) {
                int t = __builtin_ctzll(b);
                out[k++] = (int32_t)(w * 64 + t);
                b &= b - 1;
            }
        }
    }
    return cnt;
}

int64_t sheet_grid_query(SheetGrid *g, double xlo, double xhi, double ylo, double yhi, int32_t *out) {
    return sheet_grid_query_bits(g, xlo, xhi, ylo, yhi, out, g->bits);
}

void sheet_grid_free(SheetGrid *g) {
    if (!g) return;
    free(g->start);
    free(g->idx);
    free(g->xy);
    free(g->bits);
    free(g);
}

/* ---- neighbourhoods ---------------------------------------------------------------------------- */
static void extent(const float *pos, int64_t U, double lo[2], double hi[2]) {
    lo[0] = lo[1] = INFINITY;
    hi[0] = hi[1] = -INFINITY;
    for (int64_t i = 0; i < U; i++)
        for (int a = 0; a < 2; a++) { double v = pos[2 * i + a]; if (v < lo[a]) lo[a] = v; if (v > hi[a]) hi[a] = v; }
}

/* Window centres: cx[w], cy[w] uniform in [min + r, max - r]. */
static void nb_centres(const float *pos, int64_t U, double width, const NbRule *rule, uint64_t seed, int layer,
                       int generation, double *cx, double *cy) {
    double lo[2], hi[2], r = width / 2;
    extent(pos, U, lo, hi);
    /* a window wider than the sheet (e.g. a 1x1 feature map) covers all of it: centre fixed */
    double span[2] = {hi[0] - lo[0] - width, hi[1] - lo[1] - width};
    for (int a = 0; a < 2; a++)
        if (span[a] < 0) { lo[a] = (lo[a] + hi[a]) / 2 - r; span[a] = 0; }
    Rng rc;
    rng_init(&rc, seed, rng_stream(RNG_PURPOSE_NEIGHBORHOOD, (uint32_t)(layer + 16 * generation), 0, 0));
    for (int64_t w = 0; w < rule->windows; w++) {
        cx[w] = lo[0] + r + span[0] * rng_uniform_double(&rc);
        cy[w] = lo[1] + r + span[1] * rng_uniform_double(&rc);
    }
}

void sheet_window_sizes(const float *pos, int64_t U, double width_mm, const NbRule *rule, uint64_t seed, int layer,
                        int generation, int64_t *sizes) {
    double *cx = xmalloc(sizeof(double) * (size_t)rule->windows), *cy = xmalloc(sizeof(double) * (size_t)rule->windows);
    nb_centres(pos, U, width_mm, rule, seed, layer, generation, cx, cy);
    SheetGrid *g = sheet_grid_build(pos, U, width_mm / 4);
    double r = width_mm / 2;
#pragma omp parallel for schedule(static)
    for (int64_t w = 0; w < rule->windows; w++)
        sizes[w] = sheet_grid_query_bits(g, cx[w] - r, cx[w] + r, cy[w] - r, cy[w] + r, NULL, NULL);
    sheet_grid_free(g);
    free(cx);
    free(cy);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}
static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int64_t sheet_nb_k(const int64_t *sizes, int64_t n, const NbRule *rule) {
    int64_t *s = xmalloc(sizeof(int64_t) * (size_t)n);
    memcpy(s, sizes, sizeof(int64_t) * (size_t)n);
    qsort(s, (size_t)n, sizeof(int64_t), cmp_i64);
    double at = (double)(n - 1) * rule->keep_percentile / 100.0;
    int64_t lo = (int64_t)floor(at);
    double frac = at - (double)lo, v = (double)s[lo];
    if (frac > 0 && lo + 1 < n) v = (double)s[lo] * (1 - frac) + (double)s[lo + 1] * frac;
    free(s);
    int64_t k = (int64_t)v; /* int() of a non-negative value */
    if (k < rule->k_min) k = rule->k_min;
    if (k > rule->k_max) k = rule->k_max;
    return k;
}

void sheet_neighborhoods(const float *pos, int64_t U, double width_mm, const NbRule *rule, uint64_t seed, int layer,
                         int generation, int32_t **nb_out, int64_t *P_out, int64_t *K_out) {
    const int64_t NW = rule->windows;
    int64_t *sizes = xmalloc(sizeof(int64_t) * (size_t)NW);
    sheet_window_sizes(pos, U, width_mm, rule, seed, layer, generation, sizes);
    int64_t K = sheet_nb_k(sizes, NW, rule);
    int64_t P = 0, maxsz = 0;
    for (int64_t w = 0; w < NW; w++)
        if (sizes[w] > maxsz) maxsz = sizes[w];
    if (maxsz < K) { /* a sheet too sparse for the rule (tiny models): keep the largest windows */
        if (maxsz < 2)
            die(EXIT_USAGE, "no %s neighbourhood window holds two units (width %g mm)", LAYER_NAMES[layer], width_mm);
        warn("%s: no neighbourhood window holds K = %lld units; K lowered to %lld", LAYER_NAMES[layer], (long long)K,
             (long long)maxsz);
        K = maxsz;
    }
    for (int64_t w = 0; w < NW; w++) P += sizes[w] >= K;
    double *cx = xmalloc(sizeof(double) * (size_t)NW), *cy = xmalloc(sizeof(double) * (size_t)NW);
    nb_centres(pos, U, width_mm, rule, seed, layer, generation, cx, cy);
    SheetGrid *g = sheet_grid_build(pos, U, width_mm / 4);
    int64_t *row = xmalloc(sizeof(int64_t) * (size_t)NW); /* output row of each kept window */
    for (int64_t w = 0, p = 0; w < NW; w++) row[w] = sizes[w] >= K ? p++ : -1;
    int32_t *nb = xmalloc(sizeof(int32_t) * (size_t)(P * K));
    const double r = width_mm / 2;
#pragma omp parallel
    {
        int32_t *list = xmalloc(sizeof(int32_t) * (size_t)(maxsz ? maxsz : 1));
        uint64_t *bits = xcalloc((size_t)(U + 63) / 64 + 1, sizeof(uint64_t));
#pragma omp for schedule(dynamic, 64)
        for (int64_t w = 0; w < NW; w++) {
            if (row[w] < 0) continue;
            int64_t n = sheet_grid_query_bits(g, cx[w] - r, cx[w] + r, cy[w] - r, cy[w] + r, list, bits);
            if (n != sizes[w]) die(EXIT_RUNTIME, "internal error: neighbourhood window %lld changed size", (long long)w);
            Rng rs; /* one stream per window: the result does not depend on the thread count */
            rng_init(&rs, seed, rng_stream(RNG_PURPOSE_NEIGHBORHOOD, (uint32_t)(layer + 16 * generation), (uint32_t)w, 1));
            rng_sample_i32(&rs, list, n, K); /* K of n without replacement */
            qsort(list, (size_t)K, sizeof(int32_t), cmp_i32);
            memcpy(nb + row[w] * K, list, sizeof(int32_t) * (size_t)K);
        }
        free(list);
        free(bits);
    }
    free(row);
    sheet_grid_free(g);
    free(cx);
    free(cy);
    free(sizes);
    *nb_out = nb;
    *P_out = P;
    *K_out = K;
}

SheetLayer *sheet_build_layer(const SheetConfig *cfg, int layer, int C, int H, int W, uint64_t seed) {
    SheetLayer *L = xcalloc(1, sizeof *L);
    L->layer = layer;
    L->dims[0] = C;
    L->dims[1] = H;
    L->dims[2] = W;
    L->units = (int64_t)C * H * W;
    L->sheet_mm = sheet_cfg_value(&cfg->sides_mm, layer);
    L->rf_overlap = sheet_cfg_value(&cfg->rf_overlap, layer);
    L->analysis_scale = sheet_cfg_value(&cfg->analysis_scale, layer);
    L->hypercolumn_mm = sheet_hypercolumn_mm(L->sheet_mm, W, L->rf_overlap);
    L->neighborhood_width_mm = cfg->nb_width_mm.n ? sheet_cfg_value(&cfg->nb_width_mm, layer) : L->hypercolumn_mm;
    L->rule.windows = cfg->windows;
    L->rule.keep_percentile = cfg->keep_percentile;
    L->rule.k_min = cfg->k_min;
    L->rule.k_max = cfg->k_max;
    L->positions = xmalloc(sizeof(float) * 2 * (size_t)L->units);
    sheet_positions_retinotopic(L->positions, C, H, W, L->sheet_mm, L->rf_overlap, cfg->jitter_mm, seed, layer);
    sheet_neighborhoods(L->positions, L->units, L->neighborhood_width_mm, &L->rule, seed, layer, 0, &L->neighborhoods,
                        &L->n_nb, &L->k);
    return L;
}

/* ---- artifact I/O ------------------------------------------------------------------------------ */
hid_t sheet_open(const char *path) { return h5_open_artifact(path, "sheet", SHEET_SCHEMA, NULL); }

static char *layer_group(int layer) { return xasprintf("/layers/%s", LAYER_NAMES[layer]); }

int sheet_has_layer(hid_t f, int layer) {
    char *g = layer_group(layer);
    char *p = xasprintf("%s/positions", g);
    int ok = h5_exists(f, p);
    free(p);
    free(g);
    return ok;
}

void sheet_write_layer(hid_t f, const SheetLayer *L) {
    char *g = layer_group(L->layer);
    char *pp = xasprintf("%s/positions", g), *pn = xasprintf("%s/neighborhoods", g);
    hsize_t dp[2] = {(hsize_t)L->units, 2}, dn[2] = {(hsize_t)L->n_nb, (hsize_t)L->k};
    h5_write(f, pp, H5IO_F32, 2, dp, L->positions, "unit,xy", "mm");
    h5_write(f, pn, H5IO_I32, 2, dn, L->neighborhoods, "neighborhood,member", "unit index");
    h5_attr_i64v(f, g, "dims", L->dims, 3);
    h5_attr_f64(f, g, "sheet_mm", L->sheet_mm);
    h5_attr_f64(f, g, "neighborhood_width_mm", L->neighborhood_width_mm);
    h5_attr_f64(f, g, "analysis_scale", L->analysis_scale);
    h5_attr_f64(f, g, "hypercolumn_mm", L->hypercolumn_mm);
    h5_attr_f64(f, g, "rf_overlap", L->rf_overlap);
    h5_attr_i64(f, g, "neighborhood_windows", L->rule.windows);
    h5_attr_f64(f, g, "neighborhood_keep_percentile", L->rule.keep_percentile);
    h5_attr_i64(f, g, "neighborhood_k_min", L->rule.k_min);
    h5_attr_i64(f, g, "neighborhood_k_max", L->rule.k_max);
    if (L->swapped) {
        h5_attr_f64(f, g, "swapopt_loss_before", L->loss_before);
        h5_attr_f64(f, g, "swapopt_loss_after", L->loss_after);
        h5_attr_i64(f, g, "swapopt_attempts", L->attempts);
        h5_attr_i64(f, g, "swapopt_accepted", L->accepted);
        h5_attr_i64(f, g, "swapopt_windows", L->windows);
        h5_attr_i64(f, g, "swapopt_windows_skipped", L->windows_skipped);
        h5_attr_str(f, g, "swapopt_pair_rng", L->pair_rng);
    }
    free(pp);
    free(pn);
    free(g);
}

static double need_f64(hid_t f, const char *g, const char *name) {
    double v;
    if (h5_attr_get_f64(f, g, name, &v) != 0) {
        char *fn = h5_file_name(f);
        die(EXIT_USAGE, "sheet layer '%s' lacks attribute '%s' '%s'", g, name, fn);
    }
    return v;
}

static int64_t opt_i64(hid_t f, const char *g, const char *name, int64_t def) {
    int64_t v;
    return h5_attr_get_i64(f, g, name, &v) == 0 ? v : def;
}

SheetLayer *sheet_read_layer(hid_t f, int layer, int what) {
    char *fn = h5_file_name(f);
    if (!sheet_has_layer(f, layer)) die(EXIT_USAGE, "no layer %s in sheet '%s'", LAYER_NAMES[layer], fn);
    char *g = layer_group(layer);
    SheetLayer *L = xcalloc(1, sizeof *L);
    L->layer = layer;
    double d[3];
    if (h5_attr_get_f64v(f, g, "dims", d, 3) != 3) die(EXIT_USAGE, "sheet layer '%s' lacks attribute 'dims' '%s'", g, fn);
    for (int i = 0; i < 3; i++) {
        L->dims[i] = (int64_t)d[i];
        if (L->dims[i] < 1) die(EXIT_USAGE, "sheet layer '%s' has bad dims '%s'", g, fn);
    }
    L->units = L->dims[0] * L->dims[1] * L->dims[2];
    L->sheet_mm = need_f64(f, g, "sheet_mm");
    L->neighborhood_width_mm = need_f64(f, g, "neighborhood_width_mm");
    L->analysis_scale = need_f64(f, g, "analysis_scale");
    if (h5_attr_get_f64(f, g, "hypercolumn_mm", &L->hypercolumn_mm) != 0) L->hypercolumn_mm = L->neighborhood_width_mm;
    if (h5_attr_get_f64(f, g, "rf_overlap", &L->rf_overlap) != 0) L->rf_overlap = NAN;
    L->rule.windows = opt_i64(f, g, "neighborhood_windows", 20000);
    if (h5_attr_get_f64(f, g, "neighborhood_keep_percentile", &L->rule.keep_percentile) != 0) L->rule.keep_percentile = 5;
    L->rule.k_min = opt_i64(f, g, "neighborhood_k_min", 25);
    L->rule.k_max = opt_i64(f, g, "neighborhood_k_max", 500);
    if (h5_attr_get_f64(f, g, "swapopt_loss_before", &L->loss_before) == 0) {
        L->swapped = 1;
        L->loss_after = need_f64(f, g, "swapopt_loss_after");
        L->attempts = opt_i64(f, g, "swapopt_attempts", 0);
        L->accepted = opt_i64(f, g, "swapopt_accepted", 0);
        L->windows = opt_i64(f, g, "swapopt_windows", 0);
        L->windows_skipped = opt_i64(f, g, "swapopt_windows_skipped", 0);
        char *s = h5_attr_get_str(f, g, "swapopt_pair_rng");
        if (s) { snprintf(L->pair_rng, sizeof L->pair_rng, "%s", s); free(s); }
    }
    hsize_t dims[H5IO_MAX_RANK];
    char *pp = xasprintf("%s/positions", g), *pn = xasprintf("%s/neighborhoods", g);
    if (what & SHEET_POSITIONS) {
        int rank = h5_shape(f, pp, dims);
        if (rank != 2 || dims[1] != 2 || (int64_t)dims[0] != L->units)
            die(EXIT_USAGE, "sheet '%s' has shape that does not match dims %lldx%lldx%lld (%lld units, 2 coordinates) '%s'", pp,
                (long long)L->dims[0], (long long)L->dims[1], (long long)L->dims[2], (long long)L->units, fn);
        L->positions = xmalloc(sizeof(float) * 2 * (size_t)L->units);
        h5_read_into(f, pp, H5IO_F32, L->positions, 2 * (size_t)L->units);
    }
    if (what & SHEET_NEIGHBORHOODS) {
        int rank = h5_shape(f, pn, dims);
        if (rank != 2 || dims[0] < 1 || dims[1] < 2) die(EXIT_USAGE, "sheet '%s' is not a (P,K) array '%s'", pn, fn);
        L->n_nb = (int64_t)dims[0];
        L->k = (int64_t)dims[1];
        L->neighborhoods = xmalloc(sizeof(int32_t) * (size_t)(L->n_nb * L->k));
        h5_read_into(f, pn, H5IO_I32, L->neighborhoods, (size_t)(L->n_nb * L->k));
        for (int64_t i = 0; i < L->n_nb * L->k; i++)
            if (L->neighborhoods[i] < 0 || L->neighborhoods[i] >= L->units)
                die(EXIT_USAGE, "sheet '%s' holds unit index %d outside [0, %lld) '%s'", pn, L->neighborhoods[i],
                    (long long)L->units, fn);
    }
    free(pp);
    free(pn);
    free(g);
    free(fn);
    return L;
}

void sheet_copy_layer(hid_t src, hid_t dst, int layer) {
    char *g = layer_group(layer);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    if (H5Ocopy(src, g, dst, g, H5P_DEFAULT, lcpl) < 0) {
        char *fn = h5_file_name(dst);
        die(EXIT_RUNTIME, "cannot copy sheet layer %s into '%s'", LAYER_NAMES[layer], fn);
    }
    H5Pclose(lcpl);
    free(g);
}

void sheet_layer_free(SheetLayer *L) {
    if (!L) return;
    free(L->positions);
    free(L->neighborhoods);
    free(L);
}

Sheet *sheet_load(const char *path, unsigned mask, int what) {
    hid_t f = sheet_open(path);
    Sheet *s = xcalloc(1, sizeof *s);
    for (int i = 0; i < N_LAYERS; i++)
        if (mask & (1u << i)) s->layer[i] = sheet_read_layer(f, i, what);
    h5_close_file(f);
    return s;
}

void sheet_free(Sheet *s) {
    if (!s) return;
    for (int i = 0; i < N_LAYERS; i++) sheet_layer_free(s->layer[i]);
    free(s);
}

/* ---- responses for SwapOpt ---------------------------------------------------------------------- */
float *sheet_read_responses(hid_t acts, int layer, const int64_t dims[3], int *N_out) {
    char *fn = h5_file_name(acts);
    ActReader *r = act_reader_open(acts, fn, LAYER_NAMES[layer], 0);
    int64_t d[7];
    int nd = act_reader_unit_dims(r, d);
    if (nd != 3 || d[0] != dims[0] || d[1] != dims[1] || d[2] != dims[2])
        die(EXIT_USAGE, "unit count mismatch for %s: the activations hold %lldx%lldx%lld%s, the sheet %lldx%lldx%lld '%s'",
            LAYER_NAMES[layer], (long long)d[0], (long long)(nd > 1 ? d[1] : 1), (long long)(nd > 2 ? d[2] : 1),
            nd > 3 ? "x..." : "", (long long)dims[0], (long long)dims[1], (long long)dims[2], fn);
    const int64_t U = act_reader_units(r), N = act_reader_images(r);
    if (N < 2) die(EXIT_USAGE, "activations of %s hold %lld image(s); correlations need at least 2 '%s'", LAYER_NAMES[layer], (long long)N, fn);
    float *a = xmalloc(sizeof(float) * (size_t)U * (size_t)N);
    const float *rows;
    int64_t i0, nb;
    while ((nb = act_reader_next(r, &rows, &i0)) > 0) {
#pragma omp parallel for schedule(static)
        for (int64_t u = 0; u < U; u++)
            for (int64_t i = 0; i < nb; i++) a[u * N + i0 + i] = rows[i * U + u];
    }
    act_reader_close(r);
    free(fn);
    *N_out = (int)N;
    return a;
}
