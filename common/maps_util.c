/* maps_util.c: spatial index, smoothing, circular statistics, components, distance curves
 * (see maps_util.h). */
#include "maps_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"

void intbuf_push(IntBuf *b, int x) {
    if (b->n == b->cap) { b->cap = b->cap ? 2 * b->cap : 64; b->v = xrealloc(b->v, sizeof(int) * (size_t)b->cap); }
    b->v[b->n++] = x;
}
void intbuf_free(IntBuf *b) { free(b->v); memset(b, 0, sizeof *b); }

/* ---- spatial index ---------------------------------------------------------------------------- */
void xy_extent(const double *xy, int n, double e[4]) {
    e[0] = e[2] = INFINITY;
    e[1] = e[3] = -INFINITY;
    for (int i = 0; i < n; i++) {
        double x = xy[2 * i], y = xy[2 * i + 1];
        if (!isfinite(x) || !isfinite(y)) continue;
        if (x < e[0]) e[0] = x;
        if (x > e[1]) e[1] = x;
        if (y < e[2]) e[2] = y;
        if (y > e[3]) e[3] = y;
    }
    if (!(e[0] <= e[1])) e[0] = e[1] = e[2] = e[3] = 0;
}

void uindex_build(UnitIndex *ix, const double *xy, int n, double cell) {
    double e[4];
    xy_extent(xy, n, e);
    if (!(cell > 0)) cell = 1;
    /* at most ~4M cells */
    while ((e[1] - e[0]) / cell * (e[3] - e[2]) / cell > 4e6) cell *= 2;
    ix->cell = cell;
    ix->x0 = e[0];
    ix->y0 = e[2];
    ix->nx = (int)floor((e[1] - e[0]) / cell) + 1;
    ix->ny = (int)floor((e[3] - e[2]) / cell) + 1;
    size_t nc = (size_t)ix->nx * (size_t)ix->ny;
    ix->start = xcalloc(nc + 1, sizeof(int));
    ix->idx = xmalloc(sizeof(int) * (size_t)(n ? n : 1));
    int *cellof = xmalloc(sizeof(int) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        double x = xy[2 * i], y = xy[2 * i + 1];
        if (!isfinite(x) || !isfinite(y)) { cellof[i] = -1; continue; }
        int cx = (int)floor((x - ix->x0) / cell), cy = (int)floor((y - ix->y0) / cell);
        if (cx >= ix->nx) cx = ix->nx - 1;
        if (cy >= ix->ny) cy = ix->ny - 1;
        cellof[i] = cy * ix->nx + cx;
        ix->start[cellof[i] + 1]++;
    }
    for (size_t c = 0; c < nc; c++) ix->start[c + 1] += ix->start[c];
    int *fill = xmalloc(sizeof(int) * nc);
    memcpy(fill, ix->start, sizeof(int) * nc);
    for (int i = 0; i < n; i++) if (cellof[i] >= 0) ix->idx[fill[cellof[i]]++] = i;
    free(fill);
    free(cellof);
}

void uindex_free(UnitIndex *ix) {
    free(ix->start);
    free(ix->idx);
    memset(ix, 0, sizeof *ix);
}

void uindex_rect(const UnitIndex *ix, const double *xy, double x0, double x1, double y0, double y1, IntBuf *out) {
    int cx0 = (int)floor((x0 - ix->x0) / ix->cell), cx1 = (int)floor((x1 - ix->x0) / ix->cell);
    int cy0 = (int)floor((y0 - ix->y0) / ix->cell), cy1 = (int)floor((y1 - ix->y0) / ix->cell);
    if (cx0 < 0) cx0 = 0;
    if (cy0 < 0) cy0 = 0;
    if (cx1 >= ix->nx) cx1 = ix->nx - 1;
    if (cy1 >= ix->ny) cy1 = ix->ny - 1;
    for (int cy = cy0; cy <= cy1; cy++)
        for (int cx = cx0; cx <= cx1; cx++) {
            int c = cy * ix->nx + cx;
            for (int k = ix->start[c]; k < ix->start[c + 1]; k++) {
                int u = ix->idx[k];
                double x = xy[2 * u], y = xy[2 * u + 1];
                if (x >= x0 && x <= x1 && y >= y0 && y <= y1) intbuf_push(out, u);
            }
        }
}

/* ---- grids and smoothing ---------------------------------------------------------------------- */
GridSpec grid_from_extent(const double e[4], double stride) {
    GridSpec g;
    g.x0 = e[0];
    g.y0 = e[2];
    g.dx = g.dy = stride;
    g.nx = (int)floor((e[1] - e[0]) / stride + 1e-9) + 1;
    g.ny = (int)floor((e[3] - e[2]) / stride + 1e-9) + 1;
    return g;
}

GridSpec grid_linspace(double lo, double hi, int n) {
    GridSpec g;
    g.nx = g.ny = n;
    g.x0 = g.y0 = lo;
    g.dx = g.dy = n > 1 ? (hi - lo) / (n - 1) : 0;
    return g;
}

static void circ_accumulate(double x, double high, double *s, double *c) {
    double a = 2 * M_PI * x / high;
    *s += sin(a);
    *c += cos(a);
}
static double circ_mean_sc(double s, double c, double high) {
    double r = atan2(s, c);
    if (r < 0) r += 2 * M_PI;
    double m = r * high / (2 * M_PI);
    return m >= high ? m - high : m;
}
static double circ_std_sc(double s, double c, int n, double high) {
    double R = hypot(s / n, c / n);
    if (R > 1) R = 1;
    return sqrt(-2 * log(R)) * high / (2 * M_PI);
}

/* Units reaching each pixel row: unit u covers columns [c0[u], c1[u]] and rows [r0[u], r1[u]]
 * (pixel centres within hx / hy of it); rows[r] lists those units in increasing index, so every
 * pixel sums its units in the same order whatever the thread count. */
typedef struct { int *c0, *c1, *start, *list; } RowLists;

static void rowlists_build(RowLists *rl, const double *xy, int n, const GridSpec *g, double hx, double hy) {
    rl->c0 = xmalloc(sizeof(int) * (size_t)(n ? n : 1));
    rl->c1 = xmalloc(sizeof(int) * (size_t)(n ? n : 1));
    int *r0 = xmalloc(sizeof(int) * (size_t)(n ? n : 1)), *r1 = xmalloc(sizeof(int) * (size_t)(n ? n : 1));
    rl->start = xcalloc((size_t)g->ny + 1, sizeof(int));
    for (int u = 0; u < n; u++) {
        double x = xy[2 * u], y = xy[2 * u + 1];
        int a = 0, b = -1, c = 0, d = -1;
        if (isfinite(x) && isfinite(y)) {
            a = g->dx > 0 ? (int)ceil((x - hx - g->x0) / g->dx - 1e-9) : 0;
            b = g->dx > 0 ? (int)floor((x + hx - g->x0) / g->dx + 1e-9) : 0;
            c = g->dy > 0 ? (int)ceil((y - hy - g->y0) / g->dy - 1e-9) : 0;
            d = g->dy > 0 ? (int)floor((y + hy - g->y0) / g->dy + 1e-9) : 0;
            if (a < 0) a = 0;
            if (c < 0) c = 0;
            if (b > g->nx - 1) b = g->nx - 1;
            if (d > g->ny - 1) d = g->ny - 1;
        }
        rl->c0[u] = a; rl->c1[u] = b; r0[u] = c; r1[u] = d;
        for (int r = c; r <= d; r++) rl->start[r + 1]++;
    }
    for (int r = 0; r < g->ny; r++) rl->start[r + 1] += rl->start[r];
    rl->list = xmalloc(sizeof(int) * (size_t)(rl->start[g->ny] ? rl->start[g->ny] : 1));
    int *fill = xmalloc(sizeof(int) * (size_t)(g->ny ? g->ny : 1));
    memcpy(fill, rl->start, sizeof(int) * (size_t)g->ny);
    for (int u = 0; u < n; u++)
        for (int r = r0[u]; r <= r1[u]; r++) rl->list[fill[r]++] = u;
    free(fill); free(r0); free(r1);
}

static void rowlists_free(RowLists *rl) { free(rl->c0); free(rl->c1); free(rl->start); free(rl->list); }

void smooth_square(const double *xy, const float *val, int n, const GridSpec *g, double width, SmoothKind kind,
                   double high, float *mean_out, float *std_out, int *count_out) {
    double h = width / 2;
    RowLists rl;
    rowlists_build(&rl, xy, n, g, h, h);
    double *su = xmalloc(sizeof(double) * (size_t)(n ? n : 1)), *cu = xmalloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int u = 0; u < n; u++) {
        su[u] = cu[u] = NAN;
        if (!isfinite(val[u])) continue;
        if (kind == SMOOTH_CIRC) { su[u] = 0; cu[u] = 0; circ_accumulate(val[u], high, &su[u], &cu[u]); }
        else su[u] = val[u];
    }
#pragma omp parallel
    {
        double *s = xmalloc(sizeof(double) * (size_t)g->nx), *c = xmalloc(sizeof(double) * (size_t)g->nx);
        int *cnt = xmalloc(sizeof(int) * (size_t)g->nx);
#pragma omp for schedule(dynamic, 4)
        for (int r = 0; r < g->ny; r++) {
            memset(s, 0, sizeof(double) * (size_t)g->nx);
            memset(c, 0, sizeof(double) * (size_t)g->nx);
            memset(cnt, 0, sizeof(int) * (size_t)g->nx);
            for (int k = rl.start[r]; k < rl.start[r + 1]; k++) {
                int u = rl.list[k];
                if (!isfinite(su[u])) continue;
                for (int q = rl.c0[u]; q <= rl.c1[u]; q++) { s[q] += su[u]; if (kind == SMOOTH_CIRC) c[q] += cu[u]; cnt[q]++; }
            }
            for (int q = 0; q < g->nx; q++) {
                long p = (long)r * g->nx + q;
                if (count_out) count_out[p] = cnt[q];
                if (cnt[q] == 0) {
                    mean_out[p] = NAN;
                    if (std_out) std_out[p] = NAN;
                } else if (kind == SMOOTH_CIRC) {
                    mean_out[p] = (float)circ_mean_sc(s[q], c[q], high);
                    if (std_out) std_out[p] = (float)circ_std_sc(s[q], c[q], cnt[q], high);
                } else {
                    mean_out[p] = (float)(s[q] / cnt[q]);
                    if (std_out) std_out[p] = NAN;
                }
            }
        }
        free(s); free(c); free(cnt);
    }
    free(su); free(cu);
    rowlists_free(&rl);
}

void smooth_gaussian(const double *xy, const float *vals, int nf, int n, const GridSpec *g, double sigma, float *out) {
    double cut = 5 * sigma, cut2 = cut * cut, inv2s2 = 1.0 / (2 * sigma * sigma);
    RowLists rl;
    rowlists_build(&rl, xy, n, g, cut, cut);
    /* per-unit x weights for its columns, flat with offsets */
    long *off = xmalloc(sizeof(long) * ((size_t)n + 1));
    off[0] = 0;
    for (int u = 0; u < n; u++) off[u + 1] = off[u] + (rl.c1[u] >= rl.c0[u] ? rl.c1[u] - rl.c0[u] + 1 : 0);
    double *wx = xmalloc(sizeof(double) * (size_t)(off[n] ? off[n] : 1));
    for (int u = 0; u < n; u++)
        for (int q = rl.c0[u]; q <= rl.c1[u]; q++) {
            double dx = g->x0 + q * g->dx - xy[2 * u];
            wx[off[u] + q - rl.c0[u]] = exp(-dx * dx * inv2s2);
        }
    long npx = (long)g->nx * g->ny;
#pragma omp parallel
    {
        double *acc = xmalloc(sizeof(double) * (size_t)g->nx * (size_t)(nf + 1));
#pragma omp for schedule(dynamic, 1)
        for (int r = 0; r < g->ny; r++) {
            double cy = g->y0 + r * g->dy;
            memset(acc, 0, sizeof(double) * (size_t)g->nx * (size_t)(nf + 1));
            for (int k = rl.start[r]; k < rl.start[r + 1]; k++) {
                int u = rl.list[k];
                double dy = xy[2 * u + 1] - cy, wy = exp(-dy * dy * inv2s2);
                for (int q = rl.c0[u]; q <= rl.c1[u]; q++) {
                    double dx = g->x0 + q * g->dx - xy[2 * u];
                    if (dx * dx + dy * dy > cut2) continue;
                    double w = wy * wx[off[u] + q - rl.c0[u]];
                    double *a = acc + (long)q * (nf + 1);
                    a[nf] += w;
                    for (int f = 0; f < nf; f++) a[f] += w * vals[(long)f * n + u];
                }
            }
            for (int q = 0; q < g->nx; q++) {
                double *a = acc + (long)q * (nf + 1);
                long p = (long)r * g->nx + q;
                if (a[nf] > 0) { for (int f = 0; f < nf; f++) out[(long)f * npx + p] = (float)(a[f] / a[nf]); continue; }
                /* nothing within 5 sigma: every unit */
                double cx = g->x0 + q * g->dx, ws = 0;
                for (int f = 0; f < nf; f++) a[f] = 0;
                for (int u = 0; u < n; u++) {
                    double dx = xy[2 * u] - cx, d2 = dx * dx + (xy[2 * u + 1] - cy) * (xy[2 * u + 1] - cy);
                    if (!isfinite(d2)) continue;
                    double w = exp(-d2 * inv2s2);
                    ws += w;
                    for (int f = 0; f < nf; f++) a[f] += w * vals[(long)f * n + u];
                }
                for (int f = 0; f < nf; f++) out[(long)f * npx + p] = ws > 0 ? (float)(a[f] / ws) : NAN;
            }
        }
        free(acc);
    }
    free(off); free(wx);
    rowlists_free(&rl);
}

/* ---- circular statistics ---------------------------------------------------------------------- */
double wrap90(double d) {
    d = fmod(d + 90.0, 180.0);
    if (d < 0) d += 180.0;
    return d - 90.0;
}
double ori_diff(double a, double b) { return fabs(wrap90(a - b)); }

/* ---- components, percentiles ------------------------------------------------------------------ */
int label_components(const unsigned char *mask, int ny, int nx, int connectivity, int *labels) {
    long np = (long)ny * nx;
    for (long p = 0; p < np; p++) labels[p] = 0;
    int *stack = xmalloc(sizeof(int) * (size_t)(np ? np : 1));
    int nl = 0;
    for (long p0 = 0; p0 < np; p0++) {
        if (!mask[p0] || labels[p0]) continue;
        nl++;
        int ns = 0;
        stack[ns++] = (int)p0;
        labels[p0] = nl;
        while (ns) {
            int p = stack[--ns], r = p / nx, c = p % nx;
            for (int dr = -1; dr <= 1; dr++)
                for (int dc = -1; dc <= 1; dc++) {
                    if (!dr && !dc) continue;
                    if (connectivity == 4 && dr && dc) continue;
                    int rr = r + dr, cc = c + dc;
                    if (rr < 0 || rr >= ny || cc < 0 || cc >= nx) continue;
                    long q = (long)rr * nx + cc;
                    if (mask[q] && !labels[q]) { labels[q] = nl; stack[ns++] = (int)q; }
                }
        }
    }
    free(stack);
    return nl;
}

/* ---- distance curves -------------------------------------------------------------------------- */
void dist_curve_free(DistCurve *c) {
    free(c->mean);
    free(c->sem);
    free(c->chance_curve);
    memset(c, 0, sizeof *c);
}

double smoothness_index(const double *c, int n) {
    int m = 0;
    while (m < n && isfinite(c[m])) m++;
    if (m == 0) return NAN;
    double mx = c[0];
    for (int i = 1; i < m; i++) if (c[i] > mx) mx = c[i];
    if (!(mx > 0)) return NAN;
    return (mx - c[0]) / mx;
}

static double vdiff(DiffKind k, float a, float b) {
    return k == DIFF_ORI180 ? ori_diff(a, b) : fabs((double)a - b);
}

void dist_curves(const double *xy, const int *cands, int n_cands, const unsigned char *post_keep,
                 const float *const *vals, const DiffKind *kinds, int nf, double max_dist, int nbins,
                 int n_samples, int sample_size, uint64_t seed, uint64_t stream, DistCurve *out) {
    int nb = nbins;
    double w = max_dist / nb, max2 = max_dist * max_dist;
    /* per sample, per feature, per bin: mean (real and shuffled) */
    double *sm = xmalloc(sizeof(double) * (size_t)n_samples * nf * nb);
    double *sc = xmalloc(sizeof(double) * (size_t)n_samples * nf * nb);
    int m = sample_size < n_cands ? sample_size : n_cands;
#pragma omp parallel
    {
        int *pool = xmalloc(sizeof(int) * (size_t)(n_cands ? n_cands : 1));
        int *perm = xmalloc(sizeof(int) * (size_t)(m ? m : 1));
        double *sum = xmalloc(sizeof(double) * (size_t)nf * nb), *sumc = xmalloc(sizeof(double) * (size_t)nf * nb);
        long *cnt = xmalloc(sizeof(long) * (size_t)nf * nb), *cntc = xmalloc(sizeof(long) * (size_t)nf * nb);
#pragma omp for schedule(dynamic, 1)
        for (int s = 0; s < n_samples; s++) {
            Rng r;
            rng_init(&r, seed, stream);
            r.pos = (uint64_t)s << 32;
            memcpy(pool, cands, sizeof(int) * (size_t)n_cands);
            rng_sample_i32(&r, pool, n_cands, m); /* pool[0..m) is the sample */
            int k = 0;
            for (int i = 0; i < m; i++) if (!post_keep || post_keep[pool[i]]) pool[k++] = pool[i];
            for (int i = 0; i < k; i++) perm[i] = pool[i];
            rng_shuffle_i32(&r, perm, k);
            memset(sum, 0, sizeof(double) * (size_t)nf * nb);
            memset(sumc, 0, sizeof(double) * (size_t)nf * nb);
            memset(cnt, 0, sizeof(long) * (size_t)nf * nb);
            memset(cntc, 0, sizeof(long) * (size_t)nf * nb);
            for (int i = 0; i < k; i++) {
                int a = pool[i];
                for (int j = i + 1; j < k; j++) {
                    int b = pool[j];
                    double ddx = xy[2 * a] - xy[2 * b], ddy = xy[2 * a + 1] - xy[2 * b + 1], d2 = ddx * ddx + ddy * ddy;
                    if (!(d2 < max2)) continue;
                    double d = sqrt(d2);
                    int bin = (int)(d / w);
                    if (bin >= nb) bin = nb - 1;
                    for (int f = 0; f < nf; f++) {
                        float va = vals[f][a], vb = vals[f][b], pa = vals[f][perm[i]], pb = vals[f][perm[j]];
                        if (isfinite(va) && isfinite(vb)) { sum[f * nb + bin] += vdiff(kinds[f], va, vb); cnt[f * nb + bin]++; }
                        if (isfinite(pa) && isfinite(pb)) { sumc[f * nb + bin] += vdiff(kinds[f], pa, pb); cntc[f * nb + bin]++; }
                    }
                }
            }
            for (int q = 0; q < nf * nb; q++) {
                sm[(long)s * nf * nb + q] = cnt[q] ? sum[q] / cnt[q] : NAN;
                sc[(long)s * nf * nb + q] = cntc[q] ? sumc[q] / cntc[q] : NAN;
            }
        }
        free(pool); free(perm); free(sum); free(sumc); free(cnt); free(cntc);
    }
    for (int f = 0; f < nf; f++) {
        DistCurve *c = &out[f];
        c->nbins = nb;
        c->max_dist = max_dist;
        c->mean = xmalloc(sizeof(double) * (size_t)nb);
        c->sem = xmalloc(sizeof(double) * (size_t)nb);
        c->chance_curve = xmalloc(sizeof(double) * (size_t)nb);
        c->n_samples = 0;
        for (int s = 0; s < n_samples; s++) {
            int any = 0;
            for (int b = 0; b < nb; b++) any |= isfinite(sm[((long)s * nf + f) * nb + b]);
            c->n_samples += any;
        }
        double chs = 0;
        int chn = 0;
        for (int b = 0; b < nb; b++) {
            double s1 = 0, s2 = 0, cs = 0;
            int n1 = 0, nc = 0;
            for (int s = 0; s < n_samples; s++) {
                double v = sm[((long)s * nf + f) * nb + b], vc = sc[((long)s * nf + f) * nb + b];
                if (isfinite(v)) { s1 += v; s2 += v * v; n1++; }
                if (isfinite(vc)) { cs += vc; nc++; }
            }
            c->mean[b] = n1 ? s1 / n1 : NAN;
            c->sem[b] = n1 > 1 ? sqrt(fmax(0, (s2 - s1 * s1 / n1) / (n1 - 1)) / n1) : NAN;
            c->chance_curve[b] = nc ? cs / nc : NAN;
            if (nc) { chs += c->chance_curve[b]; chn++; }
        }
        c->chance = chn ? chs / chn : NAN;
        c->smoothness = smoothness_index(c->mean, nb);
    }
    free(sm);
    free(sc);
}
