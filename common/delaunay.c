/* delaunay.c: Bowyer-Watson triangulation and alpha-shape area (see delaunay.h).
 *
 * Working set: the input points followed by 3 "super" vertices of a triangle far outside them
 * (50x the larger of the extent and 1, so circumcircles of small triangles never reach it).
 * Triangles live in one growable array; dead slots go to a free list only after the insertion
 * that killed them (new triangles of an insertion never reuse its own cavity's slots, which keeps
 * the neighbour fix-up unambiguous). Triangle t: v[3] counter-clockwise, nb[i] across the edge
 * (v[i+1], v[i+2]).
 */
#include "delaunay.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

typedef struct { int v[3], nb[3], alive; } Tri;

typedef struct {
    const double *p; /* [n+3][2] */
    Tri *t;
    int nt, cap;
    int *freel, nfree, capfree;
} Mesh;

static double orient2(const double *a, const double *b, const double *c) {
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
}

/* > 0 when d lies inside the circumcircle of the counter-clockwise triangle abc. */
static double incircle(const double *a, const double *b, const double *c, const double *d) {
    double adx = a[0] - d[0], ady = a[1] - d[1], bdx = b[0] - d[0], bdy = b[1] - d[1];
    double cdx = c[0] - d[0], cdy = c[1] - d[1];
    double ad = adx * adx + ady * ady, bd = bdx * bdx + bdy * bdy, cd = cdx * cdx + cdy * cdy;
    return ad * (bdx * cdy - cdx * bdy) + bd * (cdx * ady - adx * cdy) + cd * (adx * bdy - bdx * ady);
}

double tri_circumradius(const double *a, const double *b, const double *c) {
    double ab = hypot(b[0] - a[0], b[1] - a[1]), bc = hypot(c[0] - b[0], c[1] - b[1]), ca = hypot(a[0] - c[0], a[1] - c[1]);
    double area2 = fabs(orient2(a, b, c));
    if (area2 <= 0) return INFINITY;
    return ab * bc * ca / (2.0 * area2);
}

static int new_tri(Mesh *m, int a, int b, int c) {
    int id;
    if (m->nfree) id = m->freel[--m->nfree];
    else {
        if (m->nt == m->cap) { m->cap = m->cap ? 2 * m->cap : 64; m->t = xrealloc(m->t, sizeof(Tri) * (size_t)m->cap); }
        id = m->nt++;
    }
    Tri *t = &m->t[id];
    t->v[0] = a; t->v[1] = b; t->v[2] = c;
    t->nb[0] = t->nb[1] = t->nb[2] = -1;
    t->alive = 1;
    return id;
}

static int contains(const Mesh *m, int ti, const double *q) {
    const Tri *t = &m->t[ti];
    for (int i = 0; i < 3; i++)
        if (orient2(m->p + 2 * t->v[(i + 1) % 3], m->p + 2 * t->v[(i + 2) % 3], q) < 0) return 0;
    return 1;
}

/* Visibility walk from start; brute-force scan as a fallback (never needed in practice). */
static int locate(const Mesh *m, int start, const double *q, int max_steps) {
    int ti = start, rot = 0;
    for (int step = 0; step < max_steps; step++) {
        const Tri *t = &m->t[ti];
        int moved = 0;
        for (int k = 0; k < 3; k++) {
            int i = (k + rot) % 3;
            if (orient2(m->p + 2 * t->v[(i + 1) % 3], m->p + 2 * t->v[(i + 2) % 3], q) < 0 && t->nb[i] >= 0) {
                ti = t->nb[i];
                moved = 1;
                break;
            }
        }
        rot = (rot + 1) % 3;
        if (!moved) return ti;
    }
    for (int i = 0; i < m->nt; i++)
        if (m->t[i].alive && contains(m, i, q)) return i;
    return -1;
}

typedef struct { int a, b, outer, old; } Edge;

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

int delaunay_triangulate(const double *xy, int n, Triangulation *out) {
    memset(out, 0, sizeof *out);
    if (n < 3) return 0;
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (!isfinite(xy[2 * i]) || !isfinite(xy[2 * i + 1])) die(EXIT_RUNTIME, "internal: non-finite point in triangulation");
        xmin = fmin(xmin, xy[2 * i]); xmax = fmax(xmax, xy[2 * i]);
        ymin = fmin(ymin, xy[2 * i + 1]); ymax = fmax(ymax, xy[2 * i + 1]);
    }
    double ext = fmax(fmax(xmax - xmin, ymax - ymin), 1.0) * 50.0;
    double cx = 0.5 * (xmin + xmax), cy = 0.5 * (ymin + ymax);
    double *p = xmalloc(sizeof(double) * 2 * ((size_t)n + 3));
    memcpy(p, xy, sizeof(double) * 2 * (size_t)n);
    p[2 * n] = cx - 2 * ext; p[2 * n + 1] = cy - ext;
    p[2 * n + 2] = cx + 2 * ext; p[2 * n + 3] = cy - ext;
    p[2 * n + 4] = cx; p[2 * n + 5] = cy + 2 * ext;
    Mesh m = {.p = p};
    int last = new_tri(&m, n, n + 1, n + 2);

    /* insertion order: snake over a g x g grid */
    int g = (int)ceil(sqrt(n / 4.0));
    if (g < 1) g = 1;
    int *order = xmalloc(sizeof(int) * (size_t)n);
    long *key = xmalloc(sizeof(long) * (size_t)n);
    double sx = (xmax - xmin) > 0 ? g / (xmax - xmin) * (1 - 1e-12) : 0, sy = (ymax - ymin) > 0 ? g / (ymax - ymin) * (1 - 1e-12) : 0;
    for (int i = 0; i < n; i++) {
        int gx = (int)((xy[2 * i] - xmin) * sx), gy = (int)((xy[2 * i + 1] - ymin) * sy);
        if (gx >= g) gx = g - 1;
        if (gy >= g) gy = g - 1;
        if (gy & 1) gx = g - 1 - gx;
        key[i] = ((long)gy * g + gx) * (long)n + i;
    }
    /* sort by key; the index is recovered from key % n */
    qsort(key, (size_t)n, sizeof(long), cmp_long);
    for (int i = 0; i < n; i++) order[i] = (int)(key[i] % n);
    free(key);

    int capmark = 256;
    int *mark = xcalloc((size_t)capmark, sizeof(int)); /* per-triangle visit stamp */
    int *by_a = xmalloc(sizeof(int) * ((size_t)n + 3)), *by_b = xmalloc(sizeof(int) * ((size_t)n + 3));
    int *stack = NULL, *bad = NULL;
    Edge *edges = NULL;
    int capstack = 0, capbad = 0, capedge = 0, epoch = 0;

    for (int oi = 0; oi < n; oi++) {
        int pi = order[oi];
        const double *q = p + 2 * pi;
        int t0 = locate(&m, last, q, 4 * n + 100);
        if (t0 < 0) continue;
        int dup = 0;
        for (int k = 0; k < 3; k++) {
            const double *v = p + 2 * m.t[t0].v[k];
            if (v[0] == q[0] && v[1] == q[1]) dup = 1;
        }
        if (dup) continue;
        if (m.cap > capmark) { mark = xrealloc(mark, sizeof(int) * (size_t)m.cap); memset(mark + capmark, 0, sizeof(int) * (size_t)(m.cap - capmark)); capmark = m.cap; }
        epoch++;
        /* cavity: triangles whose circumcircle contains q, connected to t0 */
        int nstack = 0, nbad = 0;
#define PUSH(arr, n_, cap_, val) do { if ((n_) == (cap_)) { (cap_) = (cap_) ? 2 * (cap_) : 64; (arr) = xrealloc((arr), sizeof(*(arr)) * (size_t)(cap_)); } (arr)[(n_)++] = (val); } while (0)
        PUSH(stack, nstack, capstack, t0);
        mark[t0] = epoch;
        while (nstack) {
            int ti = stack[--nstack];
            PUSH(bad, nbad, capbad, ti);
            for (int k = 0; k < 3; k++) {
                int nb = m.t[ti].nb[k];
                if (nb < 0 || mark[nb] == epoch) continue;
                const Tri *u = &m.t[nb];
                if (incircle(p + 2 * u->v[0], p + 2 * u->v[1], p + 2 * u->v[2], q) > 0) {
                    mark[nb] = epoch;
                    PUSH(stack, nstack, capstack, nb);
                }
            }
        }
        int nedge = 0;
        for (int bi = 0; bi < nbad; bi++) {
            const Tri *t = &m.t[bad[bi]];
            for (int k = 0; k < 3; k++) {
                int nb = t->nb[k];
                if (nb >= 0 && mark[nb] == epoch) continue;
                Edge e = {t->v[(k + 1) % 3], t->v[(k + 2) % 3], nb, bad[bi]};
                PUSH(edges, nedge, capedge, e);
            }
        }
        for (int bi = 0; bi < nbad; bi++) m.t[bad[bi]].alive = 0;
        for (int ei = 0; ei < nedge; ei++) {
            Edge e = edges[ei];
            int id = new_tri(&m, pi, e.a, e.b);
            m.t[id].nb[0] = e.outer;
            if (e.outer >= 0)
                for (int k = 0; k < 3; k++) if (m.t[e.outer].nb[k] == e.old) { m.t[e.outer].nb[k] = id; break; }
            by_a[e.a] = id;
            by_b[e.b] = id;
            edges[ei].old = id; /* reused: now the new triangle of this edge */
            last = id;
        }
        for (int ei = 0; ei < nedge; ei++) {
            Tri *t = &m.t[edges[ei].old];
            t->nb[1] = by_a[t->v[2]];
            t->nb[2] = by_b[t->v[1]];
        }
        for (int bi = 0; bi < nbad; bi++) {
            if (m.nfree == m.capfree) { m.capfree = m.capfree ? 2 * m.capfree : 64; m.freel = xrealloc(m.freel, sizeof(int) * (size_t)m.capfree); }
            m.freel[m.nfree++] = bad[bi];
        }
#undef PUSH
    }
    free(order); free(mark); free(by_a); free(by_b); free(stack); free(bad); free(edges);

    /* keep triangles without a super vertex; renumber */
    int *newid = xmalloc(sizeof(int) * (size_t)(m.nt ? m.nt : 1));
    int nreal = 0;
    for (int i = 0; i < m.nt; i++) {
        const Tri *t = &m.t[i];
        newid[i] = (t->alive && t->v[0] < n && t->v[1] < n && t->v[2] < n && orient2(p + 2 * t->v[0], p + 2 * t->v[1], p + 2 * t->v[2]) > 0) ? nreal++ : -1;
    }
    out->n_tri = nreal;
    out->v = xmalloc(sizeof(int) * 3 * (size_t)(nreal ? nreal : 1));
    out->nb = xmalloc(sizeof(int) * 3 * (size_t)(nreal ? nreal : 1));
    for (int i = 0; i < m.nt; i++) {
        if (newid[i] < 0) continue;
        for (int k = 0; k < 3; k++) {
            out->v[3 * newid[i] + k] = m.t[i].v[k];
            int nb = m.t[i].nb[k];
            out->nb[3 * newid[i] + k] = nb >= 0 ? newid[nb] : -1;
        }
    }
    free(newid); free(m.t); free(m.freel); free(p);
    return nreal;
}

void triangulation_free(Triangulation *t) {
    free(t->v);
    free(t->nb);
    memset(t, 0, sizeof *t);
}

double alpha_shape_area(const double *xy, int n, double alpha, int *n_kept) {
    Triangulation t;
    int nt = delaunay_triangulate(xy, n, &t);
    if (n_kept) *n_kept = 0;
    if (nt == 0) { triangulation_free(&t); return 0; }
    char *kept = xmalloc((size_t)nt), *outside = xcalloc((size_t)nt, 1);
    double *area = xmalloc(sizeof(double) * (size_t)nt);
    int nk = 0;
    for (int i = 0; i < nt; i++) {
        const double *a = xy + 2 * t.v[3 * i], *b = xy + 2 * t.v[3 * i + 1], *c = xy + 2 * t.v[3 * i + 2];
        area[i] = 0.5 * fabs(orient2(a, b, c));
        kept[i] = alpha <= 0 || tri_circumradius(a, b, c) < 1.0 / alpha;
        nk += kept[i];
    }
    /* flood the non-kept triangles reachable from the hull: they are outside the shape */
    int *stack = xmalloc(sizeof(int) * (size_t)nt), ns = 0;
    for (int i = 0; i < nt; i++)
        if (!kept[i] && (t.nb[3 * i] < 0 || t.nb[3 * i + 1] < 0 || t.nb[3 * i + 2] < 0)) { outside[i] = 1; stack[ns++] = i; }
    while (ns) {
        int i = stack[--ns];
        for (int k = 0; k < 3; k++) {
            int j = t.nb[3 * i + k];
            if (j >= 0 && !kept[j] && !outside[j]) { outside[j] = 1; stack[ns++] = j; }
        }
    }
    double total = 0;
    for (int i = 0; i < nt; i++) if (!outside[i]) total += area[i];
    if (n_kept) *n_kept = nk;
    free(kept); free(outside); free(area); free(stack);
    triangulation_free(&t);
    return total;
}
