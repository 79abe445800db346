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

void smooth_square(const double *xy, const float *val, int n, const GridSpec *g, double width, SmoothKind kind,
                   double high, float *mean_out, float *std_out, int *count_out) {
    UnitIndex ix;
    uindex_build(&ix, xy, n, width > 0 ? width : 1);
    double h = width / 2;
#pragma omp parallel
    {
        IntBuf b = {0};
#pragma omp for schedule(dynamic, 4)
        for (int r = 0; r < g->ny; r++) {
            for (int c = 0; c < g->nx; c++) {
                double cx = g->x0 + c * g->dx, cy = g->y0 + r * g->dy;
                b.n = 0;
                uindex_rect(&ix, xy, cx - h, cx + h, cy - h, cy + h, &b);
                double s = 0, co = 0, sum = 0;
                int cnt = 0;
                for (int k = 0; k < b.n; k++) {
                    float v = val[b.v[k]];
                    if (!isfinite(v)) continue;
                    cnt++;
                    if (kind == SMOOTH_CIRC) circ_accumulate(v, high, &s, &co);
                    else sum += v;
                }
                long p = (long)r * g->nx + c;
                if (count_out) count_out[p] = cnt;
                if (cnt == 0) {
                    mean_out[p] = NAN;
                    if (std_out) std_out[p] = NAN;
                    continue;
                }
                if (kind == SMOOTH_CIRC) {
                    mean_out[p] = (float)circ_mean_sc(s, co, high);
                    if (std_out) std_out[p] = (float)circ_std_sc(s, co, cnt, high);
                } else {
                    mean_out[p] = (float)(sum / cnt);
                    if (std_out) std_out[p] = NAN;
                }
            }
        }
        intbuf_free(&b);
    }
    uindex_free(&ix);
}

void smooth_gaussian(const double *xy, const float *vals, int nf, int n, const GridSpec *g, double sigma, float *out) {
    double cut = 5 * sigma, cut2 = cut * cut;
    UnitIndex ix;
    uindex_build(&ix, xy, n, cut / 4);
    long npx = (long)g->nx * g->ny;
    double inv2s2 = 1.0 / (2 * sigma * sigma);
#pragma omp parallel
    {
        IntBuf b = {0};
        double *acc = xmalloc(sizeof(double) * (size_t)nf);
#pragma omp for schedule(dynamic, 64)
        for (long p = 0; p < npx; p++) {
            int r = (int)(p / g->nx), c = (int)(p % g->nx);
            double cx = g->x0 + c * g->dx, cy = g->y0 + r * g->dy;
            b.n = 0;
            uindex_rect(&ix, xy, cx - cut, cx + cut, cy - cut, cy + cut, &b);
            int all = 0;
            for (int pass = 0; pass < 2; pass++) {
                double wsum = 0;
                for (int f = 0; f < nf; f++) acc[f] = 0;
                int cnt = all ? n : b.n;
                for (int k = 0; k < cnt; k++) {
                    int u = all ? k : b.v[k];
                    double dx = xy[2 * u] - cx, dy = xy[2 * u + 1] - cy, d2 = dx * dx + dy * dy;
                    if (!isfinite(d2) || (!all && d2 > cut2)) continue;
                    double w = exp(-d2 * inv2s2);
                    wsum += w;
                    for (int f = 0; f < nf; f++) acc[f] += w * vals[(long)f * n + u];
                }
                if (wsum > 0 || all) {
                    for (int f = 0; f < nf; f++) out[(long)f * npx + p] = wsum > 0 ? (float)(acc[f] / wsum) : NAN;
                    break;
                }
                all = 1;
            }
        }
        free(acc);
        intbuf_free(&b);
    }
    uindex_free(&ix);
}

/* ---- circular statistics ---------------------------------------------------------------------- */
double circ_mean(const float *x, int n, double high) {
    double s = 0, c = 0;
    for (int i = 0; i < n; i++) circ_accumulate(x[i], high, &s, &c);
    return n ? circ_mean_sc(s, c, high) : NAN;
}
double circ_std(const float *x, int n, double high) {
    double s = 0, c = 0;
    for (int i = 0; i < n; i++) circ_accumulate(x[i], high, &s, &c);
    return n ? circ_std_sc(s, c, n, high) : NAN;
}
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

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

double percentile(const float *x, int n, double q) {
    float *v = xmalloc(sizeof(float) * (size_t)(n ? n : 1));
    int m = 0;
    for (int i = 0; i < n; i++) if (isfinite(x[i])) v[m++] = x[i];
    if (m == 0) { free(v); return NAN; }
    qsort(v, (size_t)m, sizeof(float), cmp_float);
    double pos = q / 100.0 * (m - 1);
    int lo = (int)floor(pos);
    if (lo >= m - 1) { double r = v[m - 1]; free(v); return r; }
    double r = v[lo] + (pos - lo) * ((double)v[lo + 1] - v[lo]);
    free(v);
    return r;
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
    double w = max_dist / nb;
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
            for (int i = 0; i < m; i++) { /* partial Fisher-Yates: pool[0..m) is the sample */
                int j = i + (int)rng_below(&r, (uint32_t)(n_cands - i));
                int t = pool[i]; pool[i] = pool[j]; pool[j] = t;
            }
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
                    double d = hypot(xy[2 * a] - xy[2 * b], xy[2 * a + 1] - xy[2 * b + 1]);
                    if (!(d < max_dist)) continue;
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
