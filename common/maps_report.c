/* maps_report.c: metrics.h5 (every number make-maps reports, each dataset with `units` and, where
 * the paper's code fixes one, `paper_reference`) and report.md (metrics table + figures).
 *
 * metrics.h5 layout (artifact "metrics", schema 1):
 *   /models (strings), /domains (strings, when a VTC analysis ran)
 *   /<model>/ attrs sheet, tuning, selectivity, log, activations (input paths)
 *   /<model>/v1/{percent_orientation_selective, n_responsive, n_selective, smoothness_orientation,
 *       smoothness_sf, smoothness_color, pinwheel_count, pinwheel_count_positive,
 *       pinwheel_count_negative, pinwheel_density, pinwheel_density_sheet, analysed_area_mm2,
 *       column_spacing_mm}
 *   /<model>/v1/smoothness_curve/{distance_mm, <feature>, <feature>_sem, <feature>_chance}
 *   /<model>/v1/pinwheels/{position_mm (P,2), sign (P)}
 *   /<model>/vtc/{patch_count (5), patch_mean_area_mm2 (5), n_components (5),
 *       category_smoothness (5), category_smoothness_mean, rsm (5,5)}
 *   /<model>/vtc/patches/{domain, area_mm2, n_units, centroid_mm (P,2)}
 *   /<model>/vtc/smoothness_curve/{distance_mm, <domain>, <domain>_sem, <domain>_chance}
 *   /<model>/wiring/{v1_mm, v1_sem_mm, v1_mean_k, v1_measures, vtc_mm, vtc_sem_mm, vtc_mean_k, vtc_measures}
 *   /<model>/training/{steps, final_task_loss, final_spatial_loss, final_total_loss}
 * Scalars are rank-0 datasets. NaN = not defined (e.g. no patch of that domain).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "h5io.h"
#include "maps.h"
#include "util.h"

#define REF_PINWHEEL "pi = 3.1416 pinwheels per column spacing^2 (macaque; the dashed line np.pi in the paper's Fig. 2 notebook)"
#define REF_PATCH_AREA "patches are kept only within 100-4500 mm^2 (the paper's selection window, tdann-algorithm.md section 6.2)"

static void scalar(hid_t f, const char *path, double v, const char *units, const char *ref) {
    h5_write(f, path, H5IO_F64, 0, NULL, &v, NULL, units);
    if (ref) h5_attr_str(f, path, "paper_reference", ref);
}

static void vec(hid_t f, const char *path, const double *v, int n, const char *dims, const char *units, const char *ref) {
    hsize_t d = (hsize_t)n;
    h5_write(f, path, H5IO_F64, 1, &d, v, dims, units);
    if (ref) h5_attr_str(f, path, "paper_reference", ref);
}

static void curves(hid_t f, const char *base, const DistCurve *c, char *const *names, int nf, const char *const *units) {
    if (!nf || !c[0].mean) return;
    int nb = c[0].nbins;
    double *x = xmalloc(sizeof(double) * (size_t)nb);
    for (int k = 0; k < nb; k++) x[k] = (k + 0.5) * c[0].max_dist / nb;
    char *p = xasprintf("%s/distance_mm", base);
    vec(f, p, x, nb, "bin", "mm", NULL);
    h5_attr_str(f, p, "description", "bin centres; bins are [k w, (k+1) w), w = max distance / bins");
    free(p);
    for (int i = 0; i < nf; i++) {
        p = xasprintf("%s/%s", base, names[i]);
        vec(f, p, c[i].mean, nb, "bin", units[i], NULL);
        free(p);
        p = xasprintf("%s/%s_sem", base, names[i]);
        vec(f, p, c[i].sem, nb, "bin", units[i], NULL);
        free(p);
        p = xasprintf("%s/%s_chance", base, names[i]);
        vec(f, p, c[i].chance_curve, nb, "bin", units[i], NULL);
        free(p);
    }
    free(x);
}

static double last_finite(const double *v, long n) {
    for (long k = n - 1; v && k >= 0; k--) if (isfinite(v[k])) return v[k];
    return NAN;
}

void maps_write_metrics(const char *path, const MapsModel *m, int nm, const MapsConfig *cfg) {
    H5Out *o = h5out_create(path, "metrics", 1);
    hid_t f = o->file;
    char *names[MAPS_MAX_MODELS];
    for (int i = 0; i < nm; i++) names[i] = m[i].name;
    h5_write_strings(f, "/models", names, nm);
    for (int i = 0; i < nm; i++) {
        if (m[i].has_vtc) { h5_write_strings(f, "/domains", (char *const *)m[i].vtc.domains, MAPS_N_DOMAINS); break; }
    }
    char p[512];
    for (int i = 0; i < nm; i++) {
        const MapsModel *mm = &m[i];
        const char *n = mm->name;
        snprintf(p, sizeof p, "/%s/model_index", n); /* also creates the group for the attributes below */
        scalar(f, p, i, "index into /models", NULL);
        snprintf(p, sizeof p, "/%s", n);
        h5_attr_str(f, p, "sheet", mm->sheet ? mm->sheet : "");
        h5_attr_str(f, p, "tuning", mm->tuning ? mm->tuning : "");
        h5_attr_str(f, p, "selectivity", mm->selectivity ? mm->selectivity : "");
        h5_attr_str(f, p, "log", mm->log_path ? mm->log_path : "");
        h5_attr_str(f, p, "activations", mm->acts ? mm->acts : "");
        if (mm->has_v1) {
            const V1Result *v = &mm->v1;
#define S(name, val, units, ref) do { snprintf(p, sizeof p, "/%s/v1/%s", n, name); scalar(f, p, val, units, ref); } while (0)
            S("percent_orientation_selective", v->pct_selective, "%", NULL);
            S("n_responsive", v->n_responsive, "units", NULL);
            S("n_selective", v->n_selective, "units", NULL);
            if (v->n_probe_selective >= 0) S("n_selective_probe_flag", v->n_probe_selective, "units", NULL);
            S("smoothness_orientation", v->curve[0].smoothness, "1", NULL);
            S("smoothness_sf", v->curve[1].smoothness, "1", NULL);
            S("smoothness_color", v->curve[2].smoothness, "1", NULL);
            S("chance_orientation_deg", v->curve[0].chance, "deg", NULL);
            S("n_smoothness_units", v->n_smooth_units, "units", NULL);
            S("pinwheel_count", v->pw.n_pin, "pinwheels", NULL);
            S("pinwheel_count_positive", v->pw.n_pos, "pinwheels", NULL);
            S("pinwheel_count_negative", v->pw.n_neg, "pinwheels", NULL);
            S("pinwheel_density", v->pw.density, "pinwheels per column_spacing_mm^2 (analysed area)", REF_PINWHEEL);
            S("pinwheel_density_sheet", v->pw.density_sheet, "pinwheels per column_spacing_mm^2 (whole sheet, official normalisation)", REF_PINWHEEL);
            S("analysed_area_mm2", v->pw.area_mm2, "mm^2", NULL);
            S("sheet_area_mm2", v->pw.sheet_area_mm2, "mm^2", NULL);
            S("column_spacing_mm", cfg->column_spacing_mm, "mm", NULL);
#undef S
            char *feat[3] = {"orientation", "sf", "color"};
            snprintf(p, sizeof p, "/%s/v1/smoothness_curve", n);
            const char *const fu[3] = {"deg (mean |orientation difference|)", "SF index steps (mean |difference|)", "fraction of pairs preferring different colours"};
            curves(f, p, v->curve, feat, 3, fu);
            if (v->pw.n_pin) {
                hsize_t d2[2] = {(hsize_t)v->pw.n_pin, 2}, d1 = (hsize_t)v->pw.n_pin;
                snprintf(p, sizeof p, "/%s/v1/pinwheels/position_mm", n);
                h5_write(f, p, H5IO_F64, 2, d2, v->pw.pin_xy, "pinwheel,xy", "mm");
                snprintf(p, sizeof p, "/%s/v1/pinwheels/sign", n);
                h5_write(f, p, H5IO_I32, 1, &d1, v->pw.pin_sign, "pinwheel", "+1 or -1 (half turns)");
            }
        }
        if (mm->has_vtc) {
            const VTCResult *v = &mm->vtc;
            double cnt[MAPS_N_DOMAINS], comp[MAPS_N_DOMAINS], cs[MAPS_N_DOMAINS];
            for (int d = 0; d < MAPS_N_DOMAINS; d++) { cnt[d] = v->count[d]; comp[d] = v->n_components[d]; cs[d] = v->cat[d].smoothness; }
            snprintf(p, sizeof p, "/%s/vtc/patch_count", n);
            vec(f, p, cnt, MAPS_N_DOMAINS, "domain", "patches", NULL);
            snprintf(p, sizeof p, "/%s/vtc/patch_mean_area_mm2", n);
            vec(f, p, v->mean_area, MAPS_N_DOMAINS, "domain", "mm^2", REF_PATCH_AREA);
            snprintf(p, sizeof p, "/%s/vtc/n_components", n);
            vec(f, p, comp, MAPS_N_DOMAINS, "domain", "components (before the unit and area filters)", NULL);
            snprintf(p, sizeof p, "/%s/vtc/category_smoothness", n);
            vec(f, p, cs, MAPS_N_DOMAINS, "domain", "1", NULL);
            snprintf(p, sizeof p, "/%s/vtc/category_smoothness_mean", n);
            scalar(f, p, v->cat_smoothness_mean, "1", NULL);
            snprintf(p, sizeof p, "/%s/vtc/n_category_smoothness_units", n);
            scalar(f, p, v->n_cat_units, "units", NULL);
            hsize_t d55[2] = {MAPS_N_DOMAINS, MAPS_N_DOMAINS};
            snprintf(p, sizeof p, "/%s/vtc/rsm", n);
            h5_write(f, p, H5IO_F64, 2, d55, v->rsm, "domain,domain", "Pearson r");
            if (v->n_patches) {
                int np = v->n_patches;
                int32_t *dom = xmalloc(sizeof(int32_t) * (size_t)np), *nu = xmalloc(sizeof(int32_t) * (size_t)np);
                double *ar = xmalloc(sizeof(double) * (size_t)np), *c = xmalloc(sizeof(double) * 2 * (size_t)np);
                for (int q = 0; q < np; q++) {
                    dom[q] = v->patches[q].domain; nu[q] = v->patches[q].n_units; ar[q] = v->patches[q].area;
                    c[2 * q] = v->patches[q].cx; c[2 * q + 1] = v->patches[q].cy;
                }
                hsize_t d1 = (hsize_t)np, d2[2] = {(hsize_t)np, 2};
                snprintf(p, sizeof p, "/%s/vtc/patches/domain", n);
                h5_write(f, p, H5IO_I32, 1, &d1, dom, "patch", "index into /domains");
                snprintf(p, sizeof p, "/%s/vtc/patches/area_mm2", n);
                h5_write(f, p, H5IO_F64, 1, &d1, ar, "patch", "mm^2");
                snprintf(p, sizeof p, "/%s/vtc/patches/n_units", n);
                h5_write(f, p, H5IO_I32, 1, &d1, nu, "patch", "units");
                snprintf(p, sizeof p, "/%s/vtc/patches/centroid_mm", n);
                h5_write(f, p, H5IO_F64, 2, d2, c, "patch,xy", "mm");
                free(dom); free(nu); free(ar); free(c);
            }
            snprintf(p, sizeof p, "/%s/vtc/smoothness_curve", n);
            const char *const tu[MAPS_N_DOMAINS] = {"t (mean |difference|)", "t (mean |difference|)", "t (mean |difference|)", "t (mean |difference|)", "t (mean |difference|)"};
            curves(f, p, v->cat, (char *const *)v->domains, MAPS_N_DOMAINS, tu);
        }
        if (mm->has_wv1 || mm->has_wvtc) {
            const WiringResult *w[2] = {&mm->wv1, &mm->wvtc};
            const char *tag[2] = {"v1", "vtc"};
            int has[2] = {mm->has_wv1, mm->has_wvtc};
            for (int k = 0; k < 2; k++) {
                if (!has[k]) continue;
                snprintf(p, sizeof p, "/%s/wiring/%s_mm", n, tag[k]);
                scalar(f, p, w[k]->mean, "mm", NULL);
                snprintf(p, sizeof p, "/%s/wiring/%s_sem_mm", n, tag[k]);
                scalar(f, p, w[k]->sem, "mm", NULL);
                snprintf(p, sizeof p, "/%s/wiring/%s_mean_k", n, tag[k]);
                scalar(f, p, w[k]->mean_k, "clusters", NULL);
                snprintf(p, sizeof p, "/%s/wiring/%s_measures", n, tag[k]);
                scalar(f, p, w[k]->n_measures, "(pattern, window, direction) triples", NULL);
            }
        }
        if (mm->has_log) {
            const TrainLog *l = &mm->train;
            double sp = NAN;
            if (l->spatial && l->n) {
                double s = 0;
                int c = 0;
                for (int j = 0; j < N_LAYERS; j++) if (isfinite(l->spatial[(l->n - 1) * N_LAYERS + j])) { s += l->spatial[(l->n - 1) * N_LAYERS + j]; c++; }
                sp = c ? s / c : NAN;
            }
            snprintf(p, sizeof p, "/%s/training/steps", n);
            scalar(f, p, l->n ? l->step[l->n - 1] : NAN, "steps", NULL);
            snprintf(p, sizeof p, "/%s/training/final_task_loss", n);
            scalar(f, p, last_finite(l->task, l->n), "1", NULL);
            snprintf(p, sizeof p, "/%s/training/final_spatial_loss", n);
            scalar(f, p, sp, "1 (mean over layers with a term)", NULL);
            snprintf(p, sizeof p, "/%s/training/final_total_loss", n);
            scalar(f, p, last_finite(l->total, l->n), "1", NULL);
        }
    }
    h5out_commit(o);
}

/* ---- report.md -------------------------------------------------------------------------------- */
static void cell(FILE *f, double v, const char *fmt) {
    if (!isfinite(v)) fprintf(f, " – |");
    else { fprintf(f, " "); fprintf(f, fmt, v); fprintf(f, " |"); }
}

typedef double (*Getter)(const MapsModel *m, int k);
static double g_pct(const MapsModel *m, int k) { (void)k; return m->has_v1 ? m->v1.pct_selective : NAN; }
static double g_smooth(const MapsModel *m, int k) { return m->has_v1 ? m->v1.curve[k].smoothness : NAN; }
static double g_pwn(const MapsModel *m, int k) { (void)k; return m->has_v1 ? m->v1.pw.n_pin : NAN; }
static double g_pwd(const MapsModel *m, int k) { (void)k; return m->has_v1 ? m->v1.pw.density : NAN; }
static double g_pwds(const MapsModel *m, int k) { (void)k; return m->has_v1 ? m->v1.pw.density_sheet : NAN; }
static double g_count(const MapsModel *m, int k) { return m->has_vtc ? m->vtc.count[k] : NAN; }
static double g_area(const MapsModel *m, int k) { return m->has_vtc ? m->vtc.mean_area[k] : NAN; }
static double g_cat(const MapsModel *m, int k) { (void)k; return m->has_vtc ? m->vtc.cat_smoothness_mean : NAN; }
static double g_fb(const MapsModel *m, int k) { (void)k; return m->has_vtc ? m->vtc.rsm[0 * MAPS_N_DOMAINS + 1] : NAN; }
static double g_wv1(const MapsModel *m, int k) { (void)k; return m->has_wv1 ? m->wv1.mean : NAN; }
static double g_wvtc(const MapsModel *m, int k) { (void)k; return m->has_wvtc ? m->wvtc.mean : NAN; }
static double g_task(const MapsModel *m, int k) { (void)k; return m->has_log ? last_finite(m->train.task, m->train.n) : NAN; }

static void row(FILE *f, const MapsModel *m, int nm, const char *label, Getter g, int k, const char *fmt, const char *ref) {
    fprintf(f, "| %s |", label);
    for (int i = 0; i < nm; i++) cell(f, g(&m[i], k), fmt);
    fprintf(f, " %s |\n", ref);
}

void maps_write_report(const char *dir, const MapsModel *m, int nm, const MapsConfig *cfg, const Figure *fig, int nf) {
    char *path = xasprintf("%s/report.md", dir), *tmp = xasprintf("%s/report.md.tmp", dir);
    FILE *f = fopen(tmp, "w");
    if (!f) die(EXIT_RUNTIME, "cannot write '%s': %s", tmp, strerror(errno));
    int h = cleanup_add_file(tmp);
    char ts[32];
    utc_timestamp(ts);
    fprintf(f, "# TDANN cortical maps\n\nWritten by `%s` on %s. Every number below is also in `metrics.h5` (with units and, where the paper's code "
               "fixes one, a `paper_reference` attribute); every figure has its data (`.dat`) and gnuplot script (`.gp`) beside it.\n\n",
            tool_name(), ts);
    fprintf(f, "## Inputs\n\n| model | sheet | tuning | selectivity | training log | activations |\n|---|---|---|---|---|---|\n");
    for (int i = 0; i < nm; i++)
        fprintf(f, "| %s | %s | %s | %s | %s | %s |\n", m[i].name, m[i].sheet, m[i].tuning ? m[i].tuning : "–", m[i].selectivity ? m[i].selectivity : "–",
                m[i].log_path ? m[i].log_path : "–", m[i].acts ? m[i].acts : "–");
    fprintf(f, "\n## Metrics\n\n| metric |");
    for (int i = 0; i < nm; i++) fprintf(f, " %s |", m[i].name);
    fprintf(f, " reference |\n|---|");
    for (int i = 0; i < nm; i++) fprintf(f, "---:|");
    fprintf(f, "---|\n");
    char lab[160];
    snprintf(lab, sizeof lab, "%s: orientation-selective units (%%, CV < %.2g)", cfg->v1_layer, cfg->cv_threshold);
    row(f, m, nm, lab, g_pct, 0, "%.1f", "–");
    row(f, m, nm, "orientation map smoothness", g_smooth, 0, "%.3f", "–");
    row(f, m, nm, "SF map smoothness", g_smooth, 1, "%.3f", "–");
    row(f, m, nm, "colour map smoothness", g_smooth, 2, "%.3f", "–");
    row(f, m, nm, "pinwheels", g_pwn, 0, "%.0f", "–");
    snprintf(lab, sizeof lab, "pinwheel density per (%.2g mm)² (analysed area)", cfg->column_spacing_mm);
    row(f, m, nm, lab, g_pwd, 0, "%.2f", "π ≈ 3.14 (macaque)");
    row(f, m, nm, "pinwheel density, whole-sheet normalisation (official)", g_pwds, 0, "%.2f", "π ≈ 3.14 (macaque)");
    const char *const *dn = NULL;
    for (int i = 0; i < nm; i++) if (m[i].has_vtc) { dn = (const char *const *)m[i].vtc.domains; break; }
    for (int d = 0; dn && d < MAPS_N_DOMAINS; d++) {
        snprintf(lab, sizeof lab, "%s: %s patches", cfg->vtc_layer, dn[d]);
        row(f, m, nm, lab, g_count, d, "%.0f", "–");
    }
    for (int d = 0; dn && d < MAPS_N_DOMAINS; d++) {
        snprintf(lab, sizeof lab, "%s: mean %s patch area (mm²)", cfg->vtc_layer, dn[d]);
        row(f, m, nm, lab, g_area, d, "%.0f", "kept only within 100–4500 mm²");
    }
    if (dn) {
        row(f, m, nm, "category-selectivity smoothness (mean of 5 domains)", g_cat, 0, "%.3f", "–");
        snprintf(lab, sizeof lab, "RSM: %s–%s correlation", dn[0], dn[1]);
        row(f, m, nm, lab, g_fb, 0, "%.3f", "–");
    }
    row(f, m, nm, "wiring length, V1-like (mm)", g_wv1, 0, "%.2f", "–");
    row(f, m, nm, "wiring length, VTC-like (mm)", g_wvtc, 0, "%.2f", "–");
    row(f, m, nm, "final task loss", g_task, 0, "%.3f", "–");
    fprintf(f, "\n– = not computed (input not given) or not defined (e.g. no patch of that domain). References are given only where the "
               "paper's code fixes a value; human NSD patch counts, areas, smoothness and RSMs need the NSD t-maps, which this run does not have.\n");
    fprintf(f, "\n## Figures\n\n");
    for (int k = 0; k < nf; k++) fprintf(f, "### %s\n\n![%s](%s.png)\n\n%s (`%s.dat`, `%s.gp`)\n\n", fig[k].name, fig[k].name, fig[k].name, fig[k].caption, fig[k].name, fig[k].name);
    fprintf(f, "## How the numbers are made\n\n"
               "All analyses use human-scale positions (training-scale sheet positions times each layer's `analysis_scale`).\n\n"
               "- **Quirks of the official code:** `quirks: %s`. With `official`, orientation circular means use scipy's `high = 179` and "
               "category patches are labelled on the smoothed grid shifted by one row (the official off-by-one flip: patches sit one grid "
               "step lower in y); `fixed` uses 180 and no shift. Both keep the pinwheel mask `circstd / window count < %.2g`, the "
               "official definition.\n"
               "- **Pinwheel density** = pinwheels / (analysed area / spacing²); the analysed area counts the map pixels that have a "
               "winding number. The official normalisation by the whole sheet is the second row. Measured on synthetic maps with "
               "known spacing: the %.2g mm window merges close pinwheel pairs, so a π map with spacing 3.5 mm reads about 14%% low and "
               "one with spacing 5 mm about 8%% low.\n"
               "- **Smoothness** = (max − first) / max of the mean |Δ| curve; curves are plotted relative to the shuffled chance level.\n"
               "- **Patch area** = alpha shape (α = %.2g /mm: Delaunay triangles with circumradius < %.3g mm, holes filled, as the "
               "`alphashape` package) of the units within %.2g mm of a component of the smoothed map.\n"
               "- **Wiring length**: k-means (k-means++, %d restarts) with the smallest k whose inertia ≤ n·thr², the same k on the "
               "target layer, then the minimum-cost matching (shortest augmenting paths) of centroids, averaged over 4 translations "
               "of the target sheet.\n",
            cfg->quirks == QUIRKS_OFFICIAL ? "official" : "fixed", cfg->pinwheel_std_threshold, cfg->pinwheel_window_mm, cfg->patch_alpha,
            cfg->patch_alpha > 0 ? 1 / cfg->patch_alpha : INFINITY, cfg->patch_member_radius_mm, cfg->kmeans_n_init);
    if (fclose(f) != 0) die(EXIT_RUNTIME, "cannot write '%s'", tmp);
    if (rename(tmp, path) != 0) die(EXIT_RUNTIME, "cannot rename '%s': %s", tmp, strerror(errno));
    cleanup_forget(h);
    free(path);
    free(tmp);
}
