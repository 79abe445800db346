/* maps_v1.c: V1-like layer analyses (tdann-algorithm.md §6.1): % orientation-selective units,
 * smoothed preference maps, |Δ preference| vs distance curves with their smoothness index, and
 * pinwheels (winding numbers on the smoothed orientation map) with their density.
 *
 * Choices where the spec leaves room (documented in the report too):
 *   - smoothed maps: pixel centres from the sheet minimum to its maximum every stride, square
 *     windows of side `window` centred on them (edge windows are half empty), all units with a
 *     finite preference (no mask, as the pinwheel analysis "resets the mask");
 *   - smoothness curves: each sample draws smooth_sample_size units uniformly from the units whose
 *     peak-to-peak exceeds the smooth_ptp_percentile, over the whole sheet; pairs closer than
 *     sqrt(2) * (column spacing * 4/3) / 2 enter bins of linspace(0, that, 10); the curve is the
 *     mean over samples, the chance level the mean of the same with preferences shuffled among the
 *     sampled units; smoothness = (max - first) / max of the mean curve;
 *   - pinwheel density: count / (analysed area / column spacing^2), the analysed area being the
 *     pixels with a defined winding number times stride^2; the official normalisation by the whole
 *     sheet, (ptp_x * ptp_y) / spacing^2, is reported next to it (density_sheet).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "maps.h"
#include "stats.h"
#include "rng.h"

/* The 8 neighbours as {drow, dcol}, counter-clockwise in the x-y plane (rows grow with y): W, SW,
 * S, SE, E, NE, N, NW, i.e. the official NW, N, NE, E, SE, S, SW, W loop traversed the other way,
 * so a +1/2 pinwheel is one whose orientation turns counter-clockwise around it. */
static const int LOOP[8][2] = {{0, -1}, {-1, -1}, {-1, 0}, {-1, 1}, {0, 1}, {1, 1}, {1, 0}, {1, -1}};

void pinwheels_free(Pinwheels *p) {
    free(p->ori); free(p->std_norm); free(p->winding); free(p->pin_xy); free(p->pin_sign);
    memset(p, 0, sizeof *p);
}

void pinwheels_detect(const double *xy, const float *ori, int n, const MapsConfig *cfg, Pinwheels *out) {
    memset(out, 0, sizeof *out);
    double e[4];
    xy_extent(xy, n, e);
    GridSpec g = grid_from_extent(e, cfg->pinwheel_stride_mm);
    out->g = g;
    long np = (long)g.nx * g.ny;
    out->ori = xmalloc(sizeof(float) * (size_t)np);
    out->std_norm = xmalloc(sizeof(float) * (size_t)np);
    out->winding = xmalloc(sizeof(float) * (size_t)np);
    int *count = xmalloc(sizeof(int) * (size_t)np);
    smooth_square(xy, ori, n, &g, cfg->pinwheel_window_mm, SMOOTH_CIRC, maps_circ_high(cfg), out->ori, out->std_norm, count);
    for (long p = 0; p < np; p++) out->std_norm[p] = count[p] ? out->std_norm[p] / (float)count[p] : NAN;
    free(count);
    unsigned char *pos = xcalloc((size_t)np, 1), *neg = xcalloc((size_t)np, 1);
    long valid = 0;
    for (int r = 0; r < g.ny; r++)
        for (int c = 0; c < g.nx; c++) {
            long p = (long)r * g.nx + c;
            out->winding[p] = NAN;
            if (r == 0 || c == 0 || r == g.ny - 1 || c == g.nx - 1) continue;
            double sum = 0;
            int ok = 1;
            for (int k = 0; k < 8 && ok; k++) {
                const int *a = LOOP[k], *b = LOOP[(k + 1) % 8];
                float va = out->ori[(long)(r + a[0]) * g.nx + c + a[1]], vb = out->ori[(long)(r + b[0]) * g.nx + c + b[1]];
                if (!isfinite(va) || !isfinite(vb)) ok = 0;
                else sum += wrap90((double)vb - va);
            }
            if (!ok) continue;
            valid++;
            double w = sum / 360.0; /* degrees of orientation -> radians of doubled angle / 2 pi */
            out->winding[p] = (float)w;
            int low_std = out->std_norm[p] < cfg->pinwheel_std_threshold;
            if (w > cfg->pinwheel_winding_threshold && low_std) pos[p] = 1;
            if (w < -cfg->pinwheel_winding_threshold && low_std) neg[p] = 1;
        }
    int *lab = xmalloc(sizeof(int) * (size_t)np);
    int cap = 64;
    out->pin_xy = xmalloc(sizeof(double) * 2 * (size_t)cap);
    out->pin_sign = xmalloc(sizeof(int) * (size_t)cap);
    for (int sign = 1; sign >= -1; sign -= 2) {
        int nl = label_components(sign > 0 ? pos : neg, g.ny, g.nx, 8, lab);
        double *sx = xcalloc((size_t)nl + 1, sizeof(double)), *sy = xcalloc((size_t)nl + 1, sizeof(double));
        int *cnt = xcalloc((size_t)nl + 1, sizeof(int));
        for (long p = 0; p < np; p++)
            if (lab[p]) { cnt[lab[p]]++; sx[lab[p]] += g.x0 + (double)(p % g.nx) * g.dx; sy[lab[p]] += g.y0 + (double)(p / g.nx) * g.dy; }
        for (int l = 1; l <= nl; l++) {
            if (cnt[l] < cfg->pinwheel_min_pixels) continue;
            if (out->n_pin == cap) {
                cap *= 2;
                out->pin_xy = xrealloc(out->pin_xy, sizeof(double) * 2 * (size_t)cap);
                out->pin_sign = xrealloc(out->pin_sign, sizeof(int) * (size_t)cap);
            }
            out->pin_xy[2 * out->n_pin] = sx[l] / cnt[l];
            out->pin_xy[2 * out->n_pin + 1] = sy[l] / cnt[l];
            out->pin_sign[out->n_pin++] = sign;
            if (sign > 0) out->n_pos++; else out->n_neg++;
        }
        free(sx); free(sy); free(cnt);
    }
    free(lab); free(pos); free(neg);
    out->n_valid = valid;
    double L2 = cfg->column_spacing_mm * cfg->column_spacing_mm;
    out->area_mm2 = (double)valid * g.dx * g.dy;
    out->sheet_area_mm2 = (e[1] - e[0]) * (e[3] - e[2]);
    out->density = out->area_mm2 > 0 ? out->n_pin / (out->area_mm2 / L2) : NAN;
    out->density_sheet = out->sheet_area_mm2 > 0 ? out->n_pin / (out->sheet_area_mm2 / L2) : NAN;
}

void v1_analyse(const LayerPos *pos, const TuningData *tu, const MapsConfig *cfg, uint64_t seed, int model,
                V1Result *out) {
    memset(out, 0, sizeof *out);
    int n = pos->n;
    out->n = n;
    out->xy = xmalloc(sizeof(double) * 2 * (size_t)(n ? n : 1));
    memcpy(out->xy, pos->xy, sizeof(double) * 2 * (size_t)n);
    xy_extent(out->xy, n, out->ext);
    out->ori = tu->ori; out->cv = tu->cv; out->sf = tu->sf; out->color = tu->color;
    out->n_sf = tu->n_sf;
    out->sf_cpd = tu->sf_cpd;
    out->n_sf_cpd = tu->n_sf_cpd;

    /* % orientation-selective among responsive units with a defined CV */
    out->n_probe_selective = -1;
    for (int i = 0; i < n; i++) {
        if (!(tu->mresp[i] > cfg->min_mean_response) || !isfinite(tu->cv[i])) continue;
        out->n_responsive++;
        if (tu->cv[i] < cfg->cv_threshold) out->n_selective++;
    }
    out->pct_selective = out->n_responsive ? 100.0 * out->n_selective / out->n_responsive : NAN;
    if (tu->selective) {
        out->n_probe_selective = 0;
        for (int i = 0; i < n; i++) out->n_probe_selective += tu->selective[i];
    }

    /* smoothed maps */
    out->mapg = grid_from_extent(out->ext, cfg->map_stride_mm);
    long np = (long)out->mapg.nx * out->mapg.ny;
    out->ori_map = xmalloc(sizeof(float) * (size_t)np);
    out->sf_map = xmalloc(sizeof(float) * (size_t)np);
    out->color_map = xmalloc(sizeof(float) * (size_t)np);
    smooth_square(out->xy, tu->ori, n, &out->mapg, cfg->map_window_mm, SMOOTH_CIRC, maps_circ_high(cfg), out->ori_map, NULL, NULL);
    smooth_square(out->xy, tu->sf, n, &out->mapg, cfg->map_window_mm, SMOOTH_MEAN, 0, out->sf_map, NULL, NULL);
    smooth_square(out->xy, tu->color, n, &out->mapg, cfg->map_window_mm, SMOOTH_MEAN, 0, out->color_map, NULL, NULL);

    /* smoothness curves on units above the peak-to-peak percentile */
    double thr = stats_percentile(tu->ptp, (size_t)(n), cfg->smooth_ptp_percentile);
    IntBuf c = {0};
    for (int i = 0; i < n; i++)
        if (tu->ptp[i] > thr && isfinite(tu->ori[i])) intbuf_push(&c, i);
    out->n_smooth_units = c.n;
    out->hcw = cfg->column_spacing_mm;
    double maxd = sqrt(2.0) * cfg->column_spacing_mm * cfg->smooth_width_factor / 2;
    const float *vals[3] = {tu->ori, tu->sf, tu->color};
    const DiffKind kinds[3] = {DIFF_ORI180, DIFF_ABS, DIFF_ABS};
    dist_curves(out->xy, c.v, c.n, NULL, vals, kinds, 3, maxd, cfg->smooth_bin_edges - 1, cfg->smooth_samples,
                cfg->smooth_sample_size, seed, rng_stream(RNG_PURPOSE_MAPS, 1, (uint32_t)model, 0), out->curve);
    intbuf_free(&c);

    pinwheels_detect(out->xy, tu->ori, n, cfg, &out->pw);
}
