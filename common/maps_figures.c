/* maps_figures.c: the make-maps figures (plot.h: NAME.dat + NAME.gp + NAME.png/.svg per figure).
 *
 * Figures (each skipped when no model has its inputs), models side by side in columns:
 *   v1_orientation, v1_sf, v1_color  smoothed preference maps (top) and units of a central crop
 *                                    (bottom; orientation points sized by 1 - circular variance)
 *   v1_pinwheels        the pinwheel-resolution orientation map with detected pinwheels
 *   v1_smoothness       |Δ preference| vs distance / chance, orientation, SF, colour
 *   v1_summary          pinwheel density (dashed: pi) and % orientation-selective
 *   vtc_selectivity     smoothed t maps per domain (rows: models) with kept patch centroids
 *   vtc_scatter         unit t values per domain
 *   vtc_patches         patch member units coloured by domain
 *   vtc_patch_summary   patch count and mean area per domain (dashed: 100 and 4500 mm^2)
 *   vtc_smoothness      |Δt| vs distance / chance per domain
 *   vtc_rsm             5x5 correlation of the domain t maps
 *   wiring_length       V1 and VTC wiring length (mean +- s.e.m.)
 *   training_curves     task loss, mean spatial loss, learning rate vs step
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "maps.h"
#include "stats.h"
#include "plot.h"
#include "rng.h"
#include "util.h"

static const char *MCOL[MAPS_MAX_MODELS] = {"#7f7f7f", "#e69f00", "#0072b2"};
static const char *DCOL[MAPS_N_DOMAINS] = {"#d62728", "#2ca02c", "#9467bd", "#1f77b4", "#ff7f0e"};

typedef struct {
    Figure *f;
    int n;
} FigList;

static void add_fig(FigList *l, const char *name, const char *caption) {
    l->f = xrealloc(l->f, sizeof(Figure) * (size_t)(l->n + 1));
    snprintf(l->f[l->n].name, sizeof l->f[l->n].name, "%s", name);
    snprintf(l->f[l->n].caption, sizeof l->f[l->n].caption, "%s", caption);
    l->n++;
}

static void dat_image(Plot *p, const GridSpec *g, const float *v) {
    char b[32], c[32], d[32];
    for (int r = 0; r < g->ny; r++) {
        for (int k = 0; k < g->nx; k++)
            plot_data(p, "%s %s %s\n", plot_num(b, g->x0 + k * g->dx), plot_num(c, g->y0 + r * g->dy), plot_num(d, v[(long)r * g->nx + k]));
        plot_data(p, "\n");
    }
}

/* Indices of units inside [x0,x1]x[y0,y1] (all when x0 > x1), at most max (a random subset). */
static int pick_units(const double *xy, int n, double x0, double x1, double y0, double y1, int max, uint64_t stream, int *out) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (x0 <= x1 && (xy[2 * i] < x0 || xy[2 * i] > x1 || xy[2 * i + 1] < y0 || xy[2 * i + 1] > y1)) continue;
        out[m++] = i;
    }
    if (m > max) {
        Rng r;
        rng_init(&r, 0, stream);
        rng_shuffle_i32(&r, out, m);
        m = max;
    }
    return m;
}

/* PNG width of a figure with n panel columns: at least 760 px so the titles fit. */
static int fig_w(int n, int per) { return n * per > 760 ? n * per : 760; }

static void set_xy_range(Plot *p, double x0, double x1, double y0, double y1) {
    plot_cmd(p, "set xrange [%g:%g]; set yrange [%g:%g]", x0, x1, y0, y1);
}

/* ---- V1 ------------------------------------------------------------------------------------- */
static void fig_v1_feature(const MapsModel *m, int nm, const MapsConfig *cfg, const char *dir, int which, FigList *fl) {
    int nv = 0;
    for (int i = 0; i < nm; i++) nv += m[i].has_v1;
    if (!nv) return;
    const char *names[3] = {"v1_orientation", "v1_sf", "v1_color"};
    const char *what[3] = {"orientation preference", "spatial-frequency preference", "colour preference"};
    Plot *p = plot_open(dir, names[which], what[which], fig_w(nv, 380), 760, cfg->vector_format);
    int img[MAPS_MAX_MODELS], pts[MAPS_MAX_MODELS];
    double crop[MAPS_MAX_MODELS][4];
    int nsf = 1;
    for (int i = 0; i < nm; i++) if (m[i].has_v1 && m[i].v1.n_sf > nsf) nsf = m[i].v1.n_sf;
    for (int i = 0; i < nm; i++) {
        if (!m[i].has_v1) continue;
        const V1Result *v = &m[i].v1;
        const float *map = which == 0 ? v->ori_map : which == 1 ? v->sf_map : v->color_map;
        img[i] = plot_block(p, "%s: smoothed %s map: x_mm y_mm value", m[i].name, what[which]);
        dat_image(p, &v->mapg, map);
        double cx = 0.5 * (v->ext[0] + v->ext[1]), cy = 0.5 * (v->ext[2] + v->ext[3]);
        double hw = 0.5 * cfg->crop_fraction * (v->ext[1] - v->ext[0]), hh = 0.5 * cfg->crop_fraction * (v->ext[3] - v->ext[2]);
        crop[i][0] = cx - hw; crop[i][1] = cx + hw; crop[i][2] = cy - hh; crop[i][3] = cy + hh;
        int *idx = xmalloc(sizeof(int) * (size_t)(v->n ? v->n : 1));
        int k = pick_units(v->xy, v->n, crop[i][0], crop[i][1], crop[i][2], crop[i][3], cfg->scatter_max_units,
                           rng_stream(RNG_PURPOSE_MAPS, 10, (uint32_t)i, (uint32_t)which), idx);
        pts[i] = plot_block(p, "%s: units in the central %.0f%% crop: x_mm y_mm value point_size", m[i].name, 100 * cfg->crop_fraction);
        char b[32], c[32], d[32], e[32];
        for (int j = 0; j < k; j++) {
            int u = idx[j];
            float val = which == 0 ? v->ori[u] : which == 1 ? v->sf[u] : v->color[u];
            if (!isfinite(val)) continue;
            double size = which == 0 ? 0.25 + 1.0 * fmax(0, 1 - (isfinite(v->cv[u]) ? v->cv[u] : 1)) : 0.6;
            plot_data(p, "%s %s %s %s\n", plot_num(b, v->xy[2 * u]), plot_num(c, v->xy[2 * u + 1]), plot_num(d, val), plot_num(e, size));
        }
        free(idx);
    }
    char t1[256], t2[160];
    const float *cpd = NULL;
    for (int i = 0; i < nm; i++) if (m[i].has_v1 && m[i].v1.sf_cpd && m[i].v1.n_sf_cpd >= nsf) { cpd = m[i].v1.sf_cpd; break; }
    const char *unit[3] = {"preferred orientation, deg", cpd ? "preferred SF, cycles/deg" : "preferred SF, index 0 = lowest",
                           "fraction of units preferring colour"};
    plot_cmd(p, "set multiplot layout 2,%d title \"%s (%s)\\nsmoothed map (%.2g mm windows, top) and units of a central %.0f%% crop (bottom)\"",
             nv, plot_q(what[which], t2, sizeof t2), unit[which], cfg->map_window_mm, 100 * cfg->crop_fraction);
    if (which == 0) plot_cmd(p, "set palette model HSV defined (0 0 1 1, 1 1 1 1); set cbrange [0:180]; set cbtics 45");
    if (which == 1) {
        plot_cmd(p, "set palette defined (0 '#440154', 1 '#3b528b', 2 '#21908d', 3 '#5dc963', 4 '#fde725'); set cbrange [0:%d]; set cbtics 1", nsf - 1 > 0 ? nsf - 1 : 1);
        if (cpd) {
            char tics[1024];
            int k = snprintf(tics, sizeof tics, "set cbtics (");
            for (int q = 0; q < nsf && k < (int)sizeof tics - 32; q++) k += snprintf(tics + k, sizeof tics - (size_t)k, "%s\"%.2g\" %d", q ? ", " : "", cpd[q], q);
            snprintf(tics + k, sizeof tics - (size_t)k, ")");
            plot_cmd(p, "%s", tics);
        }
    }
    if (which == 2) plot_cmd(p, "set palette defined (0 'black', 0.5 'gray60', 1 'red'); set cbrange [0:1]");
    plot_cmd(p, "set size ratio -1; set xlabel 'x (mm)'; set ylabel 'y (mm)'; set tics out");
    for (int i = 0; i < nm; i++) {
        if (!m[i].has_v1) continue;
        const V1Result *v = &m[i].v1;
        set_xy_range(p, v->ext[0], v->ext[1], v->ext[2], v->ext[3]);
        plot_cmd(p, "set title \"%s\"", plot_q(m[i].name, t1, sizeof t1));
        plot_cmd(p, "plot '%s.dat' index %d using 1:2:3 with image notitle", names[which], img[i]);
    }
    for (int i = 0; i < nm; i++) {
        if (!m[i].has_v1) continue;
        set_xy_range(p, crop[i][0], crop[i][1], crop[i][2], crop[i][3]);
        plot_cmd(p, "set title \"%s: units\"", plot_q(m[i].name, t1, sizeof t1));
        plot_cmd(p, "plot '%s.dat' index %d using 1:2:4:3 with points pt 7 ps variable lc palette notitle", names[which], pts[i]);
    }
    plot_close(p, cfg->gnuplot);
    char cap[512];
    snprintf(cap, sizeof cap,
             "%s of the V1-like layer (%s, human-scale mm). Top: smoothed map (%s in %.2g mm square windows every %.2g mm). "
             "Bottom: units of a central %.0f%% x %.0f%% crop%s.",
             which == 0 ? "Orientation preference" : which == 1 ? "Spatial-frequency preference" : "Colour preference",
             cfg->v1_layer, which == 0 ? "circular mean" : "mean", cfg->map_window_mm, cfg->map_stride_mm,
             100 * cfg->crop_fraction, 100 * cfg->crop_fraction, which == 0 ? ", point size growing with 1 - circular variance" : "");
    add_fig(fl, names[which], cap);
}

static void fig_v1_pinwheels(const MapsModel *m, int nm, const MapsConfig *cfg, const char *dir, FigList *fl) {
    int nv = 0;
    for (int i = 0; i < nm; i++) nv += m[i].has_v1;
    if (!nv) return;
    Plot *p = plot_open(dir, "v1_pinwheels", "pinwheels", fig_w(nv, 420), 420, cfg->vector_format);
    int img[MAPS_MAX_MODELS], pos[MAPS_MAX_MODELS], neg[MAPS_MAX_MODELS];
    for (int i = 0; i < nm; i++) {
        if (!m[i].has_v1) continue;
        const Pinwheels *w = &m[i].v1.pw;
        img[i] = plot_block(p, "%s: pinwheel-resolution orientation map: x_mm y_mm deg", m[i].name);
        dat_image(p, &w->g, w->ori);
        char b[32], c[32];
        pos[i] = plot_block(p, "%s: +1/2 pinwheels: x_mm y_mm", m[i].name);
        for (int k = 0; k < w->n_pin; k++) if (w->pin_sign[k] > 0) plot_data(p, "%s %s\n", plot_num(b, w->pin_xy[2 * k]), plot_num(c, w->pin_xy[2 * k + 1]));
        neg[i] = plot_block(p, "%s: -1/2 pinwheels: x_mm y_mm", m[i].name);
        for (int k = 0; k < w->n_pin; k++) if (w->pin_sign[k] < 0) plot_data(p, "%s %s\n", plot_num(b, w->pin_xy[2 * k]), plot_num(c, w->pin_xy[2 * k + 1]));
    }
    plot_cmd(p, "set multiplot layout 1,%d title \"Pinwheels on the orientation map (deg) smoothed in %.2g mm windows every %.2g mm\"", nv,
             cfg->pinwheel_window_mm, cfg->pinwheel_stride_mm);
    plot_cmd(p, "set palette model HSV defined (0 0 1 1, 1 1 1 1); set cbrange [0:180]; set cbtics 45");
    plot_cmd(p, "set size ratio -1; set xlabel 'x (mm)'; set ylabel 'y (mm)'; set tics out; set key outside bottom center horizontal; set bmargin 5");
    char t[256];
    for (int i = 0; i < nm; i++) {
        if (!m[i].has_v1) continue;
        const Pinwheels *w = &m[i].v1.pw;
        set_xy_range(p, m[i].v1.ext[0], m[i].v1.ext[1], m[i].v1.ext[2], m[i].v1.ext[3]);
        plot_cmd(p, "set title \"%s: %d pinwheels, %.2f per (%.2g mm)^2\"", plot_q(m[i].name, t, sizeof t), w->n_pin, w->density, cfg->column_spacing_mm);
        char cmd[512];
        int k = snprintf(cmd, sizeof cmd, "plot 'v1_pinwheels.dat' index %d using 1:2:3 with image notitle", img[i]);
        if (w->n_pos) k += snprintf(cmd + k, sizeof cmd - (size_t)k, ", '' index %d using 1:2 with points pt 7 ps 0.9 lc rgb 'white' notitle, '' index %d using 1:2 with points pt 6 ps 0.9 lc rgb 'black' title '+1/2'", pos[i], pos[i]);
        if (w->n_neg) snprintf(cmd + k, sizeof cmd - (size_t)k, ", '' index %d using 1:2 with points pt 5 ps 0.8 lc rgb 'black' title '-1/2'", neg[i]);
        plot_cmd(p, "%s", cmd);
    }
    plot_close(p, cfg->gnuplot);
    char cap[512];
    snprintf(cap, sizeof cap,
             "Pinwheels on the orientation map smoothed with %.2g mm windows every %.2g mm: islands (>= %d px) of winding number "
             "beyond +-%.2g where circstd/count < %.2g; white = +1/2, black squares = -1/2. Density per (%.2g mm)^2 over the analysed area.",
             cfg->pinwheel_window_mm, cfg->pinwheel_stride_mm, cfg->pinwheel_min_pixels, cfg->pinwheel_winding_threshold,
             cfg->pinwheel_std_threshold, cfg->column_spacing_mm);
    add_fig(fl, "v1_pinwheels", cap);
}

/* Curves block: x, mean/chance, sem/chance. */
static int dat_curve(Plot *p, const DistCurve *c, double xscale, const char *label) {
    int b = plot_block(p, "%s: distance_x mean_over_chance sem_over_chance (raw mean, chance %.6g)", label, c->chance);
    char s1[32], s2[32], s3[32];
    double w = c->max_dist / c->nbins;
    for (int k = 0; k < c->nbins; k++)
        plot_data(p, "%s %s %s\n", plot_num(s1, (k + 0.5) * w * xscale), plot_num(s2, c->mean[k] / c->chance), plot_num(s3, c->sem[k] / c->chance));
    return b;
}

static int curve_has_data(const DistCurve *c) {
    if (!c->mean || !(c->chance > 0)) return 0;
    for (int k = 0; k < c->nbins; k++) if (isfinite(c->mean[k])) return 1;
    return 0;
}

/* One panel of a smoothness figure: the chance line, then model i's curve from block blk[i] of
 * `dat` (-1 = none), keyed by its smoothness index sm[i]. */
static void plot_smoothness_panel(Plot *p, const char *dat, const int *blk, const double *sm, const MapsModel *m, int nm,
                                  double ps) {
    char cmd[2048], t[160];
    int k = snprintf(cmd, sizeof cmd, "plot 1 with lines dt 2 lc rgb 'black' title 'chance'");
    for (int i = 0; i < nm; i++) {
        if (blk[i] < 0) continue;
        k += snprintf(cmd + k, sizeof cmd - (size_t)k, ", '%s' index %d using 1:2:3 with yerrorlines pt 7 ps %g lc rgb '%s' title \"%s (%.2f)\"",
                      dat, blk[i], ps, MCOL[i], plot_q(m[i].name, t, sizeof t), sm[i]);
    }
    plot_cmd(p, "%s", cmd);
}

static void fig_v1_smoothness(const MapsModel *m, int nm, const MapsConfig *cfg, const char *dir, FigList *fl) {
    int nv = 0;
    for (int i = 0; i < nm; i++) nv += m[i].has_v1;
    if (!nv) return;
    Plot *p = plot_open(dir, "v1_smoothness", "smoothness", 1200, 400, cfg->vector_format);
    const char *feat[3] = {"orientation", "SF", "colour"};
    int blk[3][MAPS_MAX_MODELS];
    char lab[128];
    for (int f = 0; f < 3; f++)
        for (int i = 0; i < nm; i++) {
            blk[f][i] = -1;
            if (!m[i].has_v1 || !curve_has_data(&m[i].v1.curve[f])) continue;
            snprintf(lab, sizeof lab, "%s %s", m[i].name, feat[f]);
            blk[f][i] = dat_curve(p, &m[i].v1.curve[f], 100.0 / cfg->column_spacing_mm, lab);
        }
    plot_cmd(p, "set multiplot layout 1,3 title \"Map smoothness: mean |Δ preference| between units vs distance, relative to shuffled (chance = 1)\"");
    plot_cmd(p, "set xlabel 'distance (%% of column spacing %.2g mm)'; set ylabel '|Δ preference| / chance'; set key bottom right; set tics out", cfg->column_spacing_mm);
    double xmax = 100.0 * sqrt(2.0) * cfg->smooth_width_factor / 2, sm[MAPS_MAX_MODELS];
    for (int f = 0; f < 3; f++) {
        plot_cmd(p, "set title '%s'; set xrange [0:%g]; set yrange [0:*]", feat[f], xmax);
        for (int i = 0; i < nm; i++) sm[i] = m[i].v1.curve[f].smoothness;
        plot_smoothness_panel(p, "v1_smoothness.dat", blk[f], sm, m, nm, 0.6);
    }
    plot_close(p, cfg->gnuplot);
    char cap[512];
    snprintf(cap, sizeof cap,
             "Smoothness of the V1-like maps: mean |Δ preference| of unit pairs by distance (units above the %.0fth percentile of "
             "tuning peak-to-peak, %d samples of %d units), divided by the shuffled chance level; error bars s.e.m. over samples; "
             "the key gives the smoothness index (max - first)/max.",
             cfg->smooth_ptp_percentile, cfg->smooth_samples, cfg->smooth_sample_size);
    add_fig(fl, "v1_smoothness", cap);
}

static unsigned hexcol(const char *c) { return (unsigned)strtoul(c + 1, NULL, 16); }

static void fig_v1_summary(const MapsModel *m, int nm, const MapsConfig *cfg, const char *dir, FigList *fl) {
    int nv = 0;
    for (int i = 0; i < nm; i++) nv += m[i].has_v1;
    if (!nv) return;
    Plot *p = plot_open(dir, "v1_summary", "V1 summary", 900, 400, cfg->vector_format);
    int b = plot_block(p, "x pinwheel_density percent_selective colour model");
    char s1[32], s2[32];
    double ymax = M_PI;
    for (int i = 0; i < nm; i++) if (m[i].has_v1 && isfinite(m[i].v1.pw.density) && m[i].v1.pw.density > ymax) ymax = m[i].v1.pw.density;
    for (int i = 0; i < nm; i++)
        if (m[i].has_v1) plot_data(p, "%d %s %s %u \"%s\"\n", i, plot_num(s1, m[i].v1.pw.density), plot_num(s2, m[i].v1.pct_selective), hexcol(MCOL[i]), m[i].name);
    plot_cmd(p, "set multiplot layout 1,2 title \"V1-like layer summary\"");
    plot_cmd(p, "set style fill solid 0.8 border -1; set boxwidth 0.6; set xrange [-0.6:%d.6]; set tics out", nm - 1);
    plot_cmd(p, "set title 'pinwheel density'; set ylabel 'pinwheels per (%.2g mm)^2'; set yrange [0:%g]", cfg->column_spacing_mm, 1.2 * ymax);
    plot_cmd(p, "set arrow 1 from graph 0, first pi to graph 1, first pi nohead dt 2 lc rgb 'black'; set label 1 'dashed: pi (macaque reference)' at graph 0.02, graph 0.94");
    plot_cmd(p, "plot 'v1_summary.dat' index %d using 1:2:4:xtic(5) with boxes lc rgb variable notitle", b);
    plot_cmd(p, "unset arrow 1; unset label 1");
    plot_cmd(p, "set title 'orientation-selective units'; set ylabel '%% of responsive units (CV < %.2g)'; set yrange [0:100]", cfg->cv_threshold);
    plot_cmd(p, "plot 'v1_summary.dat' index %d using 1:3:4:xtic(5) with boxes lc rgb variable notitle", b);
    plot_close(p, cfg->gnuplot);
    add_fig(fl, "v1_summary", "Pinwheel density per column spacing squared (dashed: pi, the macaque reference used by the paper) and the share of "
                              "responsive units that are orientation-selective.");
}

/* ---- VTC ------------------------------------------------------------------------------------ */
static double vtc_abs_max(const MapsModel *m, int nm, int smoothed, const MapsConfig *cfg) {
    double mx = 0;
    for (int i = 0; i < nm; i++) {
        if (!m[i].has_vtc) continue;
        const VTCResult *v = &m[i].vtc;
        if (smoothed) {
            long np = (long)MAPS_N_DOMAINS * cfg->patch_grid * cfg->patch_grid;
            for (long k = 0; k < np; k++) if (isfinite(v->smooth[k]) && fabs(v->smooth[k]) > mx) mx = fabs(v->smooth[k]);
        } else {
            float *a = xmalloc(sizeof(float) * MAPS_N_DOMAINS * (size_t)(v->n ? v->n : 1));
            for (long k = 0; k < (long)MAPS_N_DOMAINS * v->n; k++) a[k] = fabsf(v->t[k]);
            double q = stats_percentile(a, (size_t)(MAPS_N_DOMAINS * v->n), 99);
            if (q > mx) mx = q;
            free(a);
        }
    }
    return mx > 0 ? mx : 1;
}

static void fig_vtc_maps(const MapsModel *m, int nm, const MapsConfig *cfg, const char *dir, int scatter, FigList *fl) {
    int nv = 0;
    for (int i = 0; i < nm; i++) nv += m[i].has_vtc;
    if (!nv) return;
    const char *name = scatter ? "vtc_scatter" : "vtc_selectivity";
    Plot *p = plot_open(dir, name, scatter ? "unit selectivity" : "smoothed selectivity", 5 * 270, 270 * nv + 40, cfg->vector_format);
    int blk[MAPS_MAX_MODELS][MAPS_N_DOMAINS], pb[MAPS_MAX_MODELS][MAPS_N_DOMAINS];
    int N = cfg->patch_grid;
    for (int i = 0; i < nm; i++) {
        if (!m[i].has_vtc) continue;
        const VTCResult *v = &m[i].vtc;
        int *idx = xmalloc(sizeof(int) * (size_t)(v->n ? v->n : 1));
        int k = scatter ? pick_units(v->xy, v->n, 1, 0, 0, 0, cfg->scatter_max_units, rng_stream(RNG_PURPOSE_MAPS, 11, (uint32_t)i, 0), idx) : 0;
        for (int d = 0; d < MAPS_N_DOMAINS; d++) {
            char s1[32], s2[32], s3[32];
            pb[i][d] = -1;
            if (scatter) {
                blk[i][d] = plot_block(p, "%s %s: units x_mm y_mm t", m[i].name, v->domains[d]);
                for (int j = 0; j < k; j++)
                    plot_data(p, "%s %s %s\n", plot_num(s1, v->xy[2 * idx[j]]), plot_num(s2, v->xy[2 * idx[j] + 1]), plot_num(s3, v->t[(long)d * v->n + idx[j]]));
            } else {
                blk[i][d] = plot_block(p, "%s %s: smoothed t (sigma %.2g mm): x_mm y_mm t", m[i].name, v->domains[d], cfg->patch_sigma_mm);
                dat_image(p, &v->g, v->smooth + (long)d * N * N);
                int np = 0;
                for (int q = 0; q < v->n_patches; q++) np += v->patches[q].domain == d;
                if (np) {
                    pb[i][d] = plot_block(p, "%s %s: kept patches: centroid_x centroid_y area_mm2", m[i].name, v->domains[d]);
                    for (int q = 0; q < v->n_patches; q++)
                        if (v->patches[q].domain == d)
                            plot_data(p, "%s %s %.0f\n", plot_num(s1, v->patches[q].cx), plot_num(s2, v->patches[q].cy), v->patches[q].area);
                }
            }
        }
        free(idx);
    }
    double mx = vtc_abs_max(m, nm, !scatter, cfg);
    plot_cmd(p, "set multiplot layout %d,5 title \"%s\"", nv,
             scatter ? "Category selectivity (t) of every unit, per domain" : "Smoothed category selectivity (t) per domain; + = kept patches (area in mm^2)");
    plot_cmd(p, "set palette defined (-1 '#2166ac', 0 'white', 1 '#b2182b'); set cbrange [%g:%g]; set size ratio -1; set tics out; unset xlabel; unset ylabel", -mx, mx);
    char t[256];
    for (int i = 0; i < nm; i++) {
        if (!m[i].has_vtc) continue;
        const VTCResult *v = &m[i].vtc;
        double lo = v->g.x0, hi = v->g.x0 + (N - 1) * v->g.dx;
        set_xy_range(p, lo, hi, lo, hi);
        for (int d = 0; d < MAPS_N_DOMAINS; d++) {
            char nm2[128];
            snprintf(nm2, sizeof nm2, "%s: %s", m[i].name, v->domains[d]);
            plot_cmd(p, "set title \"%s\"", plot_q(nm2, t, sizeof t));
            if (scatter) plot_cmd(p, "plot '%s.dat' index %d using 1:2:3 with points pt 7 ps 0.35 lc palette notitle", name, blk[i][d]);
            else if (pb[i][d] < 0) plot_cmd(p, "plot '%s.dat' index %d using 1:2:3 with image notitle", name, blk[i][d]);
            else
                plot_cmd(p, "plot '%s.dat' index %d using 1:2:3 with image notitle, '' index %d using 1:2 with points pt 1 ps 1.5 lw 2 lc rgb 'black' notitle, "
                            "'' index %d using 1:2:3 with labels offset 0,1 font ',8' notitle", name, blk[i][d], pb[i][d], pb[i][d]);
        }
    }
    plot_close(p, cfg->gnuplot);
    char cap[512];
    if (scatter)
        snprintf(cap, sizeof cap, "Category selectivity (Welch t, domain vs the other categories) of the units of %s (up to %d units per panel), rows = models.",
                 cfg->vtc_layer, cfg->scatter_max_units);
    else
        snprintf(cap, sizeof cap, "Selectivity maps of %s smoothed with a %.2g mm Gaussian on a %dx%d grid; crosses mark kept patches "
                                  "(smoothed t >= %.2g, %.0f-%.0f mm^2, >= %d units) labelled with their area.",
                 cfg->vtc_layer, cfg->patch_sigma_mm, N, N, cfg->patch_t_threshold, cfg->patch_min_area_mm2, cfg->patch_max_area_mm2, cfg->patch_min_units);
    add_fig(fl, name, cap);
}

static void fig_vtc_patches(const MapsModel *m, int nm, const MapsConfig *cfg, const char *dir, FigList *fl) {
    int nv = 0;
    for (int i = 0; i < nm; i++) nv += m[i].has_vtc;
    if (!nv) return;
    Plot *p = plot_open(dir, "vtc_patches", "patches", fig_w(nv, 420), 460, cfg->vector_format);
    int bg[MAPS_MAX_MODELS], blk[MAPS_MAX_MODELS][MAPS_N_DOMAINS];
    char s1[32], s2[32];
    for (int i = 0; i < nm; i++) {
        if (!m[i].has_vtc) continue;
        const VTCResult *v = &m[i].vtc;
        int *idx = xmalloc(sizeof(int) * (size_t)(v->n ? v->n : 1));
        int k = pick_units(v->xy, v->n, 1, 0, 0, 0, cfg->scatter_max_units, rng_stream(RNG_PURPOSE_MAPS, 12, (uint32_t)i, 0), idx);
        bg[i] = plot_block(p, "%s: all units x_mm y_mm", m[i].name);
        for (int j = 0; j < k; j++) plot_data(p, "%s %s\n", plot_num(s1, v->xy[2 * idx[j]]), plot_num(s2, v->xy[2 * idx[j] + 1]));
        free(idx);
        for (int d = 0; d < MAPS_N_DOMAINS; d++) {
            blk[i][d] = -1;
            if (!v->count[d]) continue;
            blk[i][d] = plot_block(p, "%s %s: patch member units x_mm y_mm (at most %d per panel)", m[i].name, v->domains[d], cfg->scatter_max_units);
            long tot = 0;
            for (int q = 0; q < v->n_patches; q++) if (v->patches[q].domain == d) tot += v->patches[q].n_units;
            long every = tot > cfg->scatter_max_units ? (tot + cfg->scatter_max_units - 1) / cfg->scatter_max_units : 1, c = 0;
            for (int q = 0; q < v->n_patches; q++) {
                const Patch *pa = &v->patches[q];
                if (pa->domain != d) continue;
                for (int j = 0; j < pa->n_units; j++, c++)
                    if (c % every == 0) plot_data(p, "%s %s\n", plot_num(s1, v->xy[2 * pa->units[j]]), plot_num(s2, v->xy[2 * pa->units[j] + 1]));
            }
        }
    }
    plot_cmd(p, "set multiplot layout 1,%d title \"Category patches (units of kept patches, coloured by domain)\"", nv);
    plot_cmd(p, "set size ratio -1; set tics out; set xlabel 'x (mm)'; set ylabel 'y (mm)'; set key outside bottom center horizontal");
    char t[256];
    for (int i = 0; i < nm; i++) {
        if (!m[i].has_vtc) continue;
        const VTCResult *v = &m[i].vtc;
        int tot = 0;
        for (int d = 0; d < MAPS_N_DOMAINS; d++) tot += v->count[d];
        double lo = v->g.x0, hi = v->g.x0 + (cfg->patch_grid - 1) * v->g.dx;
        set_xy_range(p, lo, hi, lo, hi);
        plot_cmd(p, "set title \"%s: %d patches\"", plot_q(m[i].name, t, sizeof t), tot);
        char cmd[2048];
        int k = snprintf(cmd, sizeof cmd, "plot 'vtc_patches.dat' index %d using 1:2 with points pt 7 ps 0.2 lc rgb 'gray80' notitle", bg[i]);
        for (int d = 0; d < MAPS_N_DOMAINS; d++)
            if (blk[i][d] >= 0)
                k += snprintf(cmd + k, sizeof cmd - (size_t)k, ", '' index %d using 1:2 with points pt 7 ps 0.3 lc rgb '%s' title '%s'", blk[i][d], DCOL[d], v->domains[d]);
        plot_cmd(p, "%s", cmd);
    }
    plot_close(p, cfg->gnuplot);
    add_fig(fl, "vtc_patches", "Units belonging to kept category patches, coloured by domain, on the VTC-like sheet (grey: all units).");
}

static void fig_vtc_patch_summary(const MapsModel *m, int nm, const MapsConfig *cfg, const char *dir, FigList *fl) {
    int nv = 0, first = -1;
    for (int i = 0; i < nm; i++) if (m[i].has_vtc) { nv++; if (first < 0) first = i; }
    if (!nv) return;
    Plot *p = plot_open(dir, "vtc_patch_summary", "patch summary", 1000, 400, cfg->vector_format);
    int blk[MAPS_MAX_MODELS];
    double bw = 0.8 / nv;
    int slot = 0;
    char s1[32];
    for (int i = 0; i < nm; i++) {
        if (!m[i].has_vtc) continue;
        blk[i] = plot_block(p, "%s: x count mean_area_mm2 domain", m[i].name);
        for (int d = 0; d < MAPS_N_DOMAINS; d++)
            plot_data(p, "%.4f %d %s \"%s\"\n", d + (slot - (nv - 1) / 2.0) * bw, m[i].vtc.count[d], plot_num(s1, m[i].vtc.mean_area[d]), m[i].vtc.domains[d]);
        slot++;
    }
    plot_cmd(p, "set multiplot layout 1,2 title \"Category patches per domain\"");
    int cmax = 1;
    for (int i = 0; i < nm; i++)
        for (int d = 0; m[i].has_vtc && d < MAPS_N_DOMAINS; d++) if (m[i].vtc.count[d] > cmax) cmax = m[i].vtc.count[d];
    plot_cmd(p, "set style fill solid 0.8 border -1; set boxwidth %g; set xrange [-0.6:4.6]; set tics out; set key outside bottom center horizontal", bw);
    const VTCResult *v0 = &m[first].vtc;
    plot_cmd(p, "set xtics ('%s' 0, '%s' 1, '%s' 2, '%s' 3, '%s' 4)", v0->domains[0], v0->domains[1], v0->domains[2], v0->domains[3], v0->domains[4]);
    char t[160];
    for (int panel = 0; panel < 2; panel++) {
        if (panel == 0) plot_cmd(p, "set title 'patch count'; set ylabel 'patches'; set yrange [0:%d]; set ytics %d", cmax + 1, cmax > 10 ? (cmax + 9) / 10 : 1);
        else {
            plot_cmd(p, "set title 'mean patch area'; set ylabel 'mm^2'; set yrange [0:%g]; set ytics autofreq", cfg->patch_max_area_mm2 * 1.1);
            plot_cmd(p, "set arrow 1 from graph 0, first %g to graph 1, first %g nohead dt 2; set arrow 2 from graph 0, first %g to graph 1, first %g nohead dt 2",
                     cfg->patch_min_area_mm2, cfg->patch_min_area_mm2, cfg->patch_max_area_mm2, cfg->patch_max_area_mm2);
        }
        char cmd[2048];
        int k = snprintf(cmd, sizeof cmd, "plot");
        int any = 0;
        for (int i = 0; i < nm; i++) {
            if (!m[i].has_vtc) continue;
            k += snprintf(cmd + k, sizeof cmd - (size_t)k, "%s 'vtc_patch_summary.dat' index %d using 1:%d with boxes lc rgb '%s' title \"%s\"",
                          any ? "," : "", blk[i], panel ? 3 : 2, MCOL[i], plot_q(m[i].name, t, sizeof t));
            any = 1;
        }
        plot_cmd(p, "%s", cmd);
    }
    plot_close(p, cfg->gnuplot);
    char cap[512];
    snprintf(cap, sizeof cap, "Number of kept patches and their mean area per domain (missing bar: no patch); dashed lines: the %.0f-%.0f mm^2 "
                              "window a patch must fall in.", cfg->patch_min_area_mm2, cfg->patch_max_area_mm2);
    add_fig(fl, "vtc_patch_summary", cap);
}

static void fig_vtc_smoothness(const MapsModel *m, int nm, const MapsConfig *cfg, const char *dir, FigList *fl) {
    int nv = 0, first = -1;
    for (int i = 0; i < nm; i++) if (m[i].has_vtc) { nv++; if (first < 0) first = i; }
    if (!nv) return;
    Plot *p = plot_open(dir, "vtc_smoothness", "category smoothness", 5 * 300, 380, cfg->vector_format);
    int blk[MAPS_N_DOMAINS][MAPS_MAX_MODELS];
    char lab[128];
    for (int d = 0; d < MAPS_N_DOMAINS; d++)
        for (int i = 0; i < nm; i++) {
            blk[d][i] = -1;
            if (!m[i].has_vtc || !curve_has_data(&m[i].vtc.cat[d])) continue;
            snprintf(lab, sizeof lab, "%s %s", m[i].name, m[i].vtc.domains[d]);
            blk[d][i] = dat_curve(p, &m[i].vtc.cat[d], 1.0, lab);
        }
    plot_cmd(p, "set multiplot layout 1,5 title \"Category-selectivity smoothness: mean |Δt| of unit pairs vs distance, relative to shuffled (chance = 1)\"");
    plot_cmd(p, "set xlabel 'distance (mm)'; set ylabel '|Δt| / chance'; set key bottom right font ',8'; set tics out; set xrange [0:%g]; set yrange [0:*]",
             cfg->cat_smooth_max_distance_mm);
    double sm[MAPS_MAX_MODELS];
    for (int d = 0; d < MAPS_N_DOMAINS; d++) {
        plot_cmd(p, "set title '%s'", m[first].vtc.domains[d]);
        for (int i = 0; i < nm; i++) sm[i] = m[i].vtc.cat[d].smoothness;
        plot_smoothness_panel(p, "vtc_smoothness.dat", blk[d], sm, m, nm, 0.5);
    }
    plot_close(p, cfg->gnuplot);
    char cap[512];
    snprintf(cap, sizeof cap, "Smoothness of the category-selectivity maps: mean |Δt| by pair distance (%d samples of %d units, kept when the mean "
                              "fLoc response exceeds %.2g) over the shuffled level; the key gives the smoothness index.",
             cfg->cat_smooth_samples, cfg->cat_smooth_sample_size, cfg->cat_smooth_min_response);
    add_fig(fl, "vtc_smoothness", cap);
}

static void fig_vtc_rsm(const MapsModel *m, int nm, const MapsConfig *cfg, const char *dir, FigList *fl) {
    int nv = 0, first = -1;
    for (int i = 0; i < nm; i++) if (m[i].has_vtc) { nv++; if (first < 0) first = i; }
    if (!nv) return;
    Plot *p = plot_open(dir, "vtc_rsm", "RSM", fig_w(nv, 400), 400, cfg->vector_format);
    int blk[MAPS_MAX_MODELS];
    char s1[32];
    for (int i = 0; i < nm; i++) {
        if (!m[i].has_vtc) continue;
        blk[i] = plot_block(p, "%s: column row correlation", m[i].name);
        for (int a = 0; a < MAPS_N_DOMAINS; a++) {
            for (int b = 0; b < MAPS_N_DOMAINS; b++) plot_data(p, "%d %d %s\n", b, a, plot_num(s1, m[i].vtc.rsm[a * MAPS_N_DOMAINS + b]));
            plot_data(p, "\n");
        }
    }
    const VTCResult *v0 = &m[first].vtc;
    plot_cmd(p, "set multiplot layout 1,%d title \"Correlation between the domains' selectivity maps across units (RSM)\"", nv);
    plot_cmd(p, "set palette defined (-1 '#2166ac', 0 'white', 1 '#b2182b'); set cbrange [-1:1]; set size ratio -1; set tics out");
    plot_cmd(p, "set xrange [-0.5:4.5]; set yrange [4.5:-0.5]");
    plot_cmd(p, "set xtics ('%s' 0, '%s' 1, '%s' 2, '%s' 3, '%s' 4) rotate by 30 right; set ytics ('%s' 0, '%s' 1, '%s' 2, '%s' 3, '%s' 4)",
             v0->domains[0], v0->domains[1], v0->domains[2], v0->domains[3], v0->domains[4], v0->domains[0], v0->domains[1], v0->domains[2],
             v0->domains[3], v0->domains[4]);
    char t[160];
    for (int i = 0; i < nm; i++) {
        if (!m[i].has_vtc) continue;
        plot_cmd(p, "set title \"%s\"", plot_q(m[i].name, t, sizeof t));
        plot_cmd(p, "plot 'vtc_rsm.dat' index %d using 1:2:3 with image notitle, '' index %d using 1:2:(sprintf('%%.2f', $3)) with labels font ',8' notitle", blk[i], blk[i]);
    }
    plot_close(p, cfg->gnuplot);
    add_fig(fl, "vtc_rsm", "Representational similarity: Pearson correlation across units between the five domains' t maps.");
}

/* ---- wiring and training ---------------------------------------------------------------------- */
static void fig_wiring(const MapsModel *m, int nm, const MapsConfig *cfg, const char *dir, FigList *fl) {
    int any = 0;
    for (int i = 0; i < nm; i++) any |= m[i].has_wv1 || m[i].has_wvtc;
    if (!any) return;
    Plot *p = plot_open(dir, "wiring_length", "wiring length", 900, 400, cfg->vector_format);
    int b = plot_block(p, "x v1_mm v1_sem vtc_mm vtc_sem colour model");
    char s1[32], s2[32], s3[32], s4[32];
    for (int i = 0; i < nm; i++)
        plot_data(p, "%d %s %s %s %s %u \"%s\"\n", i, plot_num(s1, m[i].has_wv1 ? m[i].wv1.mean : NAN), plot_num(s2, m[i].has_wv1 ? m[i].wv1.sem : NAN),
                  plot_num(s3, m[i].has_wvtc ? m[i].wvtc.mean : NAN), plot_num(s4, m[i].has_wvtc ? m[i].wvtc.sem : NAN), hexcol(MCOL[i]), m[i].name);
    plot_cmd(p, "set multiplot layout 1,2 title \"Wiring length: minimum-cost matching of source to target cluster centroids\"");
    plot_cmd(p, "set style fill solid 0.8 border -1; set boxwidth 0.6; set xrange [-0.6:%d.6]; set yrange [0:*]; set tics out; set ylabel 'mm'", nm - 1);
    plot_cmd(p, "set title 'V1-like (%s -> %s)'", cfg->wiring_v1_source, cfg->wiring_v1_target);
    plot_cmd(p, "plot 'wiring_length.dat' index %d using 1:2:6:xtic(7) with boxes lc rgb variable notitle, '' index %d using 1:2:3 with yerrorbars pt 7 ps 0.3 lc rgb 'black' notitle", b, b);
    plot_cmd(p, "set title 'VTC-like (%s -> %s)'", cfg->wiring_vtc_source, cfg->wiring_vtc_target);
    plot_cmd(p, "plot 'wiring_length.dat' index %d using 1:4:6:xtic(7) with boxes lc rgb variable notitle, '' index %d using 1:4:5 with yerrorbars pt 7 ps 0.3 lc rgb 'black' notitle", b, b);
    plot_close(p, cfg->gnuplot);
    char cap[512];
    snprintf(cap, sizeof cap, "Wiring length (mean +- s.e.m. over patterns, windows and the 4 translations): k-means of the active units (V1: >%.0fth "
                              "percentile in %d windows of %.2g mm; VTC: >%.0fth percentile of the sheet), matched to the target layer's clusters.",
             cfg->wiring_v1_percentile, cfg->wiring_v1_windows, cfg->wiring_v1_window_mm, cfg->wiring_vtc_percentile);
    add_fig(fl, "wiring_length", cap);
}

static void fig_training(const MapsModel *m, int nm, const MapsConfig *cfg, const char *dir, FigList *fl) {
    int any = 0;
    for (int i = 0; i < nm; i++) any |= m[i].has_log;
    if (!any) return;
    Plot *p = plot_open(dir, "training_curves", "training curves", 1200, 380, cfg->vector_format);
    int blk[MAPS_MAX_MODELS];
    char s[5][32];
    for (int i = 0; i < nm; i++) {
        if (!m[i].has_log) continue;
        const TrainLog *l = &m[i].train;
        blk[i] = plot_block(p, "%s: step task_loss mean_spatial_loss total_loss lr", m[i].name);
        long stride = l->n > 4000 ? l->n / 4000 : 1;
        for (long k = 0; k < l->n; k += stride) {
            double sp = 0;
            int c = 0;
            if (l->spatial)
                for (int j = 0; j < N_LAYERS; j++) if (isfinite(l->spatial[k * N_LAYERS + j])) { sp += l->spatial[k * N_LAYERS + j]; c++; }
            plot_data(p, "%s %s %s %s %s\n", plot_num(s[0], l->step[k]), plot_num(s[1], l->task ? l->task[k] : NAN), plot_num(s[2], c ? sp / c : NAN),
                      plot_num(s[3], l->total ? l->total[k] : NAN), plot_num(s[4], l->lr ? l->lr[k] : NAN));
        }
    }
    plot_cmd(p, "set multiplot layout 1,3 title \"Training curves (from each checkpoint's /log)\"");
    plot_cmd(p, "unset xlabel; set tics out; set xtics rotate by 30 right; set key outside bottom center horizontal");
    const char *titles[3] = {"task loss vs step", "spatial loss (mean over layers) vs step", "learning rate vs step"};
    const int cols[3] = {2, 3, 5};
    char t[160];
    for (int q = 0; q < 3; q++) {
        plot_cmd(p, "set title '%s'; set ylabel '%s'", titles[q], q == 2 ? "lr" : "loss");
        char cmd[2048];
        int k = snprintf(cmd, sizeof cmd, "plot");
        int n = 0;
        for (int i = 0; i < nm; i++) {
            if (!m[i].has_log) continue;
            const TrainLog *l = &m[i].train;
            int has = q == 0 ? l->task != NULL : q == 1 ? l->spatial != NULL : l->lr != NULL;
            if (!has) continue;
            k += snprintf(cmd + k, sizeof cmd - (size_t)k, "%s 'training_curves.dat' index %d using 1:%d with lines lw 1.5 lc rgb '%s' title \"%s\"",
                          n ? "," : "", blk[i], cols[q], MCOL[i], plot_q(m[i].name, t, sizeof t));
            n++;
        }
        if (n) plot_cmd(p, "%s", cmd);
        else plot_cmd(p, "set label 9 'no data' at graph 0.5, graph 0.5 center; plot [0:1] NaN notitle; unset label 9");
    }
    plot_close(p, cfg->gnuplot);
    add_fig(fl, "training_curves", "Training curves read from each model's checkpoint /log: task loss, spatial loss averaged over the layers that have "
                                   "a term, and the learning rate.");
}

int maps_figures(const MapsModel *m, int nm, const MapsConfig *cfg, const char *dir, Figure **out) {
    FigList fl = {0};
    for (int w = 0; w < 3; w++) fig_v1_feature(m, nm, cfg, dir, w, &fl);
    fig_v1_pinwheels(m, nm, cfg, dir, &fl);
    fig_v1_smoothness(m, nm, cfg, dir, &fl);
    fig_v1_summary(m, nm, cfg, dir, &fl);
    fig_vtc_maps(m, nm, cfg, dir, 0, &fl);
    fig_vtc_maps(m, nm, cfg, dir, 1, &fl);
    fig_vtc_patches(m, nm, cfg, dir, &fl);
    fig_vtc_patch_summary(m, nm, cfg, dir, &fl);
    fig_vtc_smoothness(m, nm, cfg, dir, &fl);
    fig_vtc_rsm(m, nm, cfg, dir, &fl);
    fig_wiring(m, nm, cfg, dir, &fl);
    fig_training(m, nm, cfg, dir, &fl);
    *out = fl.f;
    return fl.n;
}
