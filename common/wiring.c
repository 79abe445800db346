/* wiring.c: wiring length (tdann-algorithm.md §6.3, Figure 7 of the paper).
 *
 * For each activation pattern (sample image): the active units of the source layer (response above
 * a percentile) are clustered by k-means with the smallest k whose inertia is <= n_active * thr^2;
 * the target layer's active units are clustered with the same k; the target sheet is translated by
 * the source x-extent in each of 4 directions (+x, -x, +y, -y: the target area lies next to the
 * source area), and the wiring length is the total length of a minimum-cost matching of source to
 * target centroids (assign.h). V1 (layer2.0 -> layer2.1): 20 random 3.5 mm windows (lower-left
 * corner uniform in [min, max - 3.5] of the source sheet, the same windows for every pattern), both
 * layers restricted to the window, activity percentile 95 within the window, x-extent = ptp of the
 * source units' x in the window, thr 0.9 mm. VTC (layer4.0 -> layer4.1): the whole sheets,
 * percentile 99, x-extent of the whole source sheet, thr 10 mm. The result is the mean over
 * patterns, windows and directions (one model seed here; the paper also averages seeds).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "assign.h"
#include "error.h"
#include "kmeans.h"
#include "maps.h"
#include "stats.h"
#include "rng.h"

/* Positions of the units of idx (n) whose response exceeds the pct percentile of r over idx. */
static int active_points(const double *xy, const float *r, const int *idx, int n, double pct, double *pts) {
    float *v = xmalloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) v[i] = r[idx ? idx[i] : i];
    double thr = stats_percentile(v, (size_t)(n), pct);
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (!(v[i] > thr)) continue;
        int u = idx ? idx[i] : i;
        pts[2 * m] = xy[2 * u];
        pts[2 * m + 1] = xy[2 * u + 1];
        m++;
    }
    free(v);
    return m;
}

int wiring_pattern(const double *sxy, const float *sr, int ns, const double *txy, const float *tr, int nt,
                   double pct, double thr, double ext, const MapsConfig *cfg, uint64_t seed, uint64_t stream,
                   double len[4]) {
    double *sp = xmalloc(sizeof(double) * 2 * (size_t)(ns ? ns : 1)), *tp = xmalloc(sizeof(double) * 2 * (size_t)(nt ? nt : 1));
    int na = active_points(sxy, sr, NULL, ns, pct, sp), nb = active_points(txy, tr, NULL, nt, pct, tp);
    int k = 0;
    if (na > 0 && nb > 0) {
        int kmax = cfg->wiring_max_k;
        double *cs = xmalloc(sizeof(double) * 2 * (size_t)kmax), *ct = xmalloc(sizeof(double) * 2 * (size_t)kmax);
        k = kmeans_smallest_k(sp, na, 2, kmax, na * thr * thr, cfg->kmeans_n_init, cfg->kmeans_max_iter, 1e-4, seed, stream, cs);
        int kt = k < nb ? k : nb;
        kmeans_fit(tp, nb, 2, kt, cfg->kmeans_n_init, cfg->kmeans_max_iter, 1e-4, seed, stream ^ 0x8000u, ct, NULL);
        const double shift[4][2] = {{ext, 0}, {-ext, 0}, {0, ext}, {0, -ext}};
        double *cost = xmalloc(sizeof(double) * (size_t)k * (size_t)kt);
        for (int d = 0; d < 4; d++) {
            for (int i = 0; i < k; i++)
                for (int j = 0; j < kt; j++)
                    cost[(long)i * kt + j] = hypot(cs[2 * i] - ct[2 * j] - shift[d][0], cs[2 * i + 1] - ct[2 * j + 1] - shift[d][1]);
            len[d] = assign_solve(cost, k, kt, NULL);
        }
        free(cost); free(cs); free(ct);
    }
    free(sp);
    free(tp);
    return k;
}

typedef struct { int ns, nt; int *si, *ti; double ext; } Window;

void wiring_analyse(const LayerPos *src, const LayerActs *sa, const LayerPos *tgt, const LayerActs *ta, int vtc,
                    const MapsConfig *cfg, uint64_t seed, int model, WiringResult *out) {
    memset(out, 0, sizeof *out);
    int ni = sa->n_images < ta->n_images ? sa->n_images : ta->n_images;
    double e[4];
    xy_extent(src->xy, src->n, e);
    int nw = vtc ? 1 : cfg->wiring_v1_windows;
    Window *w = xcalloc((size_t)nw, sizeof(Window));
    if (vtc) {
        w[0].ns = src->n;
        w[0].nt = tgt->n;
        w[0].ext = e[1] - e[0];
    } else {
        double W = cfg->wiring_v1_window_mm;
        UnitIndex is, it;
        uindex_build(&is, src->xy, src->n, W);
        uindex_build(&it, tgt->xy, tgt->n, W);
        Rng r;
        rng_init(&r, seed, rng_stream(RNG_PURPOSE_MAPS, 3, (uint32_t)model, 0));
        for (int k = 0; k < nw; k++) {
            double x0 = e[0] + rng_uniform_double(&r) * fmax(0, e[1] - e[0] - W);
            double y0 = e[2] + rng_uniform_double(&r) * fmax(0, e[3] - e[2] - W);
            IntBuf bs = {0}, bt = {0};
            uindex_rect(&is, src->xy, x0, x0 + W, y0, y0 + W, &bs);
            uindex_rect(&it, tgt->xy, x0, x0 + W, y0, y0 + W, &bt);
            w[k].ns = bs.n; w[k].si = bs.v;
            w[k].nt = bt.n; w[k].ti = bt.v;
            double lo = INFINITY, hi = -INFINITY;
            for (int i = 0; i < bs.n; i++) { lo = fmin(lo, src->xy[2 * bs.v[i]]); hi = fmax(hi, src->xy[2 * bs.v[i]]); }
            w[k].ext = bs.n ? hi - lo : 0;
        }
        uindex_free(&is);
        uindex_free(&it);
    }
    int ntask = nw * ni;
    double *len = xmalloc(sizeof(double) * 4 * (size_t)(ntask ? ntask : 1));
    int *ks = xcalloc((size_t)(ntask ? ntask : 1), sizeof(int));
    double pct = vtc ? cfg->wiring_vtc_percentile : cfg->wiring_v1_percentile;
    double thr = vtc ? cfg->wiring_vtc_threshold_mm : cfg->wiring_v1_threshold_mm;
#pragma omp parallel for schedule(dynamic, 1)
    for (int task = 0; task < ntask; task++) {
        int k = task % nw, im = task / nw;
        const Window *win = &w[k];
        double *sxy = xmalloc(sizeof(double) * 2 * (size_t)(win->ns ? win->ns : 1)), *txy = xmalloc(sizeof(double) * 2 * (size_t)(win->nt ? win->nt : 1));
        float *sr = xmalloc(sizeof(float) * (size_t)(win->ns ? win->ns : 1)), *tr = xmalloc(sizeof(float) * (size_t)(win->nt ? win->nt : 1));
        const float *ra = sa->r + (size_t)im * sa->n_units, *rb = ta->r + (size_t)im * ta->n_units;
        for (int i = 0; i < win->ns; i++) {
            int u = win->si ? win->si[i] : i;
            sxy[2 * i] = src->xy[2 * u]; sxy[2 * i + 1] = src->xy[2 * u + 1]; sr[i] = ra[u];
        }
        for (int i = 0; i < win->nt; i++) {
            int u = win->ti ? win->ti[i] : i;
            txy[2 * i] = tgt->xy[2 * u]; txy[2 * i + 1] = tgt->xy[2 * u + 1]; tr[i] = rb[u];
        }
        uint64_t stream = rng_stream(RNG_PURPOSE_MAPS, 4 + (uint32_t)vtc, ((uint32_t)model << 20) | (uint32_t)im, (uint32_t)k);
        ks[task] = wiring_pattern(sxy, sr, win->ns, txy, tr, win->nt, pct, thr, win->ext, cfg, seed, stream, len + 4 * task);
        free(sxy); free(txy); free(sr); free(tr);
    }
    double s = 0, s2 = 0, sk = 0;
    int m = 0, mk = 0;
    for (int task = 0; task < ntask; task++) {
        if (!ks[task]) continue;
        sk += ks[task];
        mk++;
        for (int d = 0; d < 4; d++) { s += len[4 * task + d]; s2 += len[4 * task + d] * len[4 * task + d]; m++; }
    }
    out->n_measures = m;
    out->mean = m ? s / m : NAN;
    out->sem = m > 1 ? sqrt(fmax(0, (s2 - s * s / m) / (m - 1)) / m) : NAN;
    out->mean_k = mk ? sk / mk : NAN;
    out->n_images = ni;
    out->n_windows = nw;
    for (int k = 0; k < nw; k++) { free(w[k].si); free(w[k].ti); }
    free(w);
    free(len);
    free(ks);
}
