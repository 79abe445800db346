/* maps_vtc.c: VTC-like layer analyses (tdann-algorithm.md §6.2): category patches per domain,
 * category-selectivity smoothness and the 5x5 representational similarity matrix.
 *
 * Patches (ITMap.find_patches): a patch_grid x patch_grid grid of anchors spanning
 * [min, max] of all coordinates (the global min/max of both axes, so the grid is square);
 * Gaussian-weighted mean of the units' t at each anchor (sigma 2.4 mm); pixels with smoothed
 * t >= threshold form 8-connected components (skimage.measure.label's default); every unit within
 * 1 mm of a component pixel belongs to it; components with < 3 units are dropped; the patch area is
 * the alpha-shape area of its units (delaunay.h); a patch is kept when 100 <= area <= 4500 mm^2
 * and it has >= 10 units. With quirks = official the components are labelled on the grid shifted
 * by one row (row k holds anchor row (k + 1) mod N), reproducing the official off-by-one flip.
 * The smoothed maps stored for figures are the unshifted ones.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "delaunay.h"
#include "error.h"
#include "maps.h"
#include "rng.h"

static GridSpec patch_grid(const double *xy, int n, const MapsConfig *cfg) {
    double e[4];
    xy_extent(xy, n, e);
    return grid_linspace(fmin(e[0], e[2]), fmax(e[1], e[3]), cfg->patch_grid);
}

/* Components of one domain's smoothed map sm [N][N] on grid g -> kept patches. */
static int patches_from_smooth(const double *xy, int n, int domain, const MapsConfig *cfg, const GridSpec *gp,
                               const float *sm, Patch **out, int *n_out) {
    int N = gp->nx;
    double lo = gp->x0;
    long np = (long)N * N;
    GridSpec g = *gp;
    unsigned char *mask = xmalloc((size_t)np);
    for (int k = 0; k < N; k++) {
        int src = cfg->quirks == QUIRKS_OFFICIAL ? (k + 1) % N : k;
        for (int c = 0; c < N; c++) mask[(long)k * N + c] = sm[(long)src * N + c] >= cfg->patch_t_threshold;
    }
    int *lab = xmalloc(sizeof(int) * (size_t)np);
    int nl = label_components(mask, N, N, 8, lab);
    IntBuf *mem = xcalloc((size_t)nl + 1, sizeof(IntBuf));
    int *lastu = xmalloc(sizeof(int) * ((size_t)nl + 1));
    for (int l = 0; l <= nl; l++) lastu[l] = -1;
    double rad = cfg->patch_member_radius_mm, step = g.dx > 0 ? g.dx : 1;
    for (int u = 0; nl && u < n; u++) {
        double x = xy[2 * u], y = xy[2 * u + 1];
        int c0 = (int)ceil((x - rad - lo) / step - 1e-9), c1 = (int)floor((x + rad - lo) / step + 1e-9);
        int r0 = (int)ceil((y - rad - lo) / step - 1e-9), r1 = (int)floor((y + rad - lo) / step + 1e-9);
        if (c0 < 0) c0 = 0;
        if (r0 < 0) r0 = 0;
        if (c1 > N - 1) c1 = N - 1;
        if (r1 > N - 1) r1 = N - 1;
        for (int r = r0; r <= r1; r++)
            for (int c = c0; c <= c1; c++) {
                int l = lab[(long)r * N + c];
                if (!l || lastu[l] == u) continue;
                double dx = lo + c * step - x, dy = lo + r * step - y;
                if (dx * dx + dy * dy <= rad * rad) { intbuf_push(&mem[l], u); lastu[l] = u; }
            }
    }
    for (int l = 1; l <= nl; l++) {
        IntBuf *b = &mem[l];
        if (b->n < cfg->patch_min_component_units || b->n < 3) { intbuf_free(b); continue; }
        double *p = xmalloc(sizeof(double) * 2 * (size_t)b->n);
        double cx = 0, cy = 0;
        for (int i = 0; i < b->n; i++) {
            p[2 * i] = xy[2 * b->v[i]];
            p[2 * i + 1] = xy[2 * b->v[i] + 1];
            cx += p[2 * i];
            cy += p[2 * i + 1];
        }
        double area = alpha_shape_area(p, b->n, cfg->patch_alpha, NULL);
        free(p);
        if (area >= cfg->patch_min_area_mm2 && area <= cfg->patch_max_area_mm2 && b->n >= cfg->patch_min_units) {
            *out = xrealloc(*out, sizeof(Patch) * (size_t)(*n_out + 1));
            Patch *q = &(*out)[(*n_out)++];
            q->domain = domain;
            q->n_units = b->n;
            q->units = b->v; /* ownership moves to the patch */
            q->area = area;
            q->cx = cx / b->n;
            q->cy = cy / b->n;
        } else
            intbuf_free(b);
    }
    free(mem);
    free(lastu);
    free(lab);
    free(mask);
    return nl;
}

int vtc_find_patches(const double *xy, const float *t, int n, int domain, const MapsConfig *cfg,
                     float *smooth_out, Patch **out, int *n_out) {
    GridSpec g = patch_grid(xy, n, cfg);
    long np = (long)g.nx * g.ny;
    float *sm = smooth_out ? smooth_out : xmalloc(sizeof(float) * (size_t)np);
    smooth_gaussian(xy, t, 1, n, &g, cfg->patch_sigma_mm, sm);
    int nl = patches_from_smooth(xy, n, domain, cfg, &g, sm, out, n_out);
    if (!smooth_out) free(sm);
    return nl;
}

static double pearson(const float *a, const float *b, int n) {
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) continue;
        sa += a[i]; sb += b[i]; saa += (double)a[i] * a[i]; sbb += (double)b[i] * b[i]; sab += (double)a[i] * b[i];
        m++;
    }
    if (m < 2) return NAN;
    double va = saa - sa * sa / m, vb = sbb - sb * sb / m;
    if (!(va > 0) || !(vb > 0)) return NAN;
    return (sab - sa * sb / m) / sqrt(va * vb);
}

void vtc_analyse(const LayerPos *pos, const SelectivityData *sel, const MapsConfig *cfg, uint64_t seed, int model,
                 VTCResult *out) {
    memset(out, 0, sizeof *out);
    int n = pos->n, N = cfg->patch_grid;
    out->n = n;
    out->xy = xmalloc(sizeof(double) * 2 * (size_t)(n ? n : 1));
    memcpy(out->xy, pos->xy, sizeof(double) * 2 * (size_t)n);
    out->t = sel->t;
    for (int d = 0; d < MAPS_N_DOMAINS; d++) out->domains[d] = sel->domains[d];
    out->g = patch_grid(out->xy, n, cfg);
    out->smooth = xmalloc(sizeof(float) * MAPS_N_DOMAINS * (size_t)N * (size_t)N);
    smooth_gaussian(out->xy, sel->t, MAPS_N_DOMAINS, n, &out->g, cfg->patch_sigma_mm, out->smooth);
    for (int d = 0; d < MAPS_N_DOMAINS; d++) {
        int before = out->n_patches;
        out->n_components[d] = patches_from_smooth(out->xy, n, d, cfg, &out->g, out->smooth + (long)d * N * N,
                                                   &out->patches, &out->n_patches);
        out->count[d] = out->n_patches - before;
        double s = 0;
        for (int i = before; i < out->n_patches; i++) s += out->patches[i].area;
        out->mean_area[d] = out->count[d] ? s / out->count[d] : NAN;
    }
    /* category-selectivity smoothness */
    int *cands = xmalloc(sizeof(int) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) cands[i] = i;
    unsigned char *keep = NULL;
    out->n_cat_units = n;
    if (sel->mresp) {
        keep = xmalloc((size_t)(n ? n : 1));
        out->n_cat_units = 0;
        for (int i = 0; i < n; i++) { keep[i] = sel->mresp[i] > cfg->cat_smooth_min_response; out->n_cat_units += keep[i]; }
    }
    const float *vals[MAPS_N_DOMAINS];
    DiffKind kinds[MAPS_N_DOMAINS];
    for (int d = 0; d < MAPS_N_DOMAINS; d++) { vals[d] = sel->t + (long)d * n; kinds[d] = DIFF_ABS; }
    dist_curves(out->xy, cands, n, keep, vals, kinds, MAPS_N_DOMAINS, cfg->cat_smooth_max_distance_mm,
                cfg->cat_smooth_bin_edges - 1, cfg->cat_smooth_samples, cfg->cat_smooth_sample_size, seed,
                rng_stream(RNG_PURPOSE_MAPS, 2, (uint32_t)model, 0), out->cat);
    double s = 0;
    int m = 0;
    for (int d = 0; d < MAPS_N_DOMAINS; d++) if (isfinite(out->cat[d].smoothness)) { s += out->cat[d].smoothness; m++; }
    out->cat_smoothness_mean = m ? s / m : NAN;
    free(cands);
    free(keep);
    /* RSM: correlation of the domain t-maps across units */
    for (int a = 0; a < MAPS_N_DOMAINS; a++)
        for (int b = 0; b < MAPS_N_DOMAINS; b++)
            out->rsm[a * MAPS_N_DOMAINS + b] = a == b ? 1.0 : pearson(sel->t + (long)a * n, sel->t + (long)b * n, n);
}
