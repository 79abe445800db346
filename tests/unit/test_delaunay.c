/* test_delaunay.c: Delaunay triangulation (empty-circumcircle property, Euler count, hull area) and
 * alpha-shape areas of shapes with known area (square, L shape, annulus with a filled hole, two
 * separated squares). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "delaunay.h"
#include "error.h"
#include "rng.h"
#include "test.h"

static double cross(const double *o, const double *a, const double *b) {
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
}

TEST(delaunay_random_points) {
    enum { N = 300 };
    double xy[2 * N];
    Rng r;
    rng_init(&r, 1, rng_stream(RNG_PURPOSE_TEST, 3, 0, 0));
    for (int i = 0; i < 2 * N; i++) xy[i] = rng_uniform_double(&r) * 50;
    Triangulation t;
    int nt = delaunay_triangulate(xy, N, &t);
    /* hull size by gift wrapping to check Euler: triangles = 2n - 2 - h */
    int h = 0, start = 0;
    for (int i = 1; i < N; i++) if (xy[2 * i] < xy[2 * start]) start = i;
    int cur = start;
    do {
        int nxt = (cur + 1) % N;
        for (int i = 0; i < N; i++) if (cross(xy + 2 * cur, xy + 2 * nxt, xy + 2 * i) < 0) nxt = i;
        cur = nxt;
        h++;
    } while (cur != start && h <= N);
    CHECK_EQ_INT(nt, 2 * N - 2 - h);
    int bad = 0, hullsides = 0;
    for (int k = 0; k < nt; k++) {
        const double *a = xy + 2 * t.v[3 * k], *b = xy + 2 * t.v[3 * k + 1], *c = xy + 2 * t.v[3 * k + 2];
        CHECK(cross(a, b, c) > 0);
        for (int e = 0; e < 3; e++) {
            int nb = t.nb[3 * k + e];
            if (nb < 0) { hullsides++; continue; }
            int back = 0;
            for (int f = 0; f < 3; f++) back += t.nb[3 * nb + f] == k;
            CHECK_EQ_INT(back, 1);
        }
        double ax = a[0], ay = a[1], bx = b[0], by = b[1], cx = c[0], cy = c[1];
        double dd = 2 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by));
        double ux = ((ax * ax + ay * ay) * (by - cy) + (bx * bx + by * by) * (cy - ay) + (cx * cx + cy * cy) * (ay - by)) / dd;
        double uy = ((ax * ax + ay * ay) * (cx - bx) + (bx * bx + by * by) * (ax - cx) + (cx * cx + cy * cy) * (bx - ax)) / dd;
        double rr = hypot(ax - ux, ay - uy);
        for (int i = 0; i < N; i++)
            if (hypot(xy[2 * i] - ux, xy[2 * i + 1] - uy) < rr * (1 - 1e-9)) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(hullsides, h);
    triangulation_free(&t);
}

/* n x n jittered grid points filling [x0, x0+L] x [y0, y0+L] */
static int grid_fill(double *xy, int off, double x0, double y0, double L, int n, Rng *r,
                     int (*keep)(double, double)) {
    int m = off;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double x = x0 + L * i / (n - 1), y = y0 + L * j / (n - 1);
            if (i > 0 && i < n - 1 && j > 0 && j < n - 1) { x += (rng_uniform_double(r) - 0.5) * 0.2 * L / n; y += (rng_uniform_double(r) - 0.5) * 0.2 * L / n; }
            if (keep && !keep(x - x0, y - y0)) continue;
            xy[2 * m] = x; xy[2 * m + 1] = y; m++;
        }
    return m;
}
static int in_L(double x, double y) { return x <= 20.0001 || y <= 20.0001; }       /* L of 40x40 minus 20x20 */
static int in_ring(double x, double y) { double d = hypot(x - 40, y - 40); return d <= 40 && d >= 15; }

TEST(alpha_shape_known_areas) {
    Rng r;
    rng_init(&r, 2, rng_stream(RNG_PURPOSE_TEST, 4, 0, 0));
    double *xy = xmalloc(sizeof(double) * 2 * 20000);
    /* square 30 x 30, spacing 1 mm: alpha 0.1 keeps everything, area 900 */
    int n = grid_fill(xy, 0, 5, 5, 30, 31, &r, NULL);
    CHECK_NEAR(alpha_shape_area(xy, n, 0.1, NULL), 900, 1e-6);
    CHECK_NEAR(alpha_shape_area(xy, n, 0.0, NULL), 900, 1e-6); /* convex hull */
    /* L shape: 40x40 minus the 20x20 upper-right quadrant = 1200 (convex hull would be 1400) */
    n = grid_fill(xy, 0, 0, 0, 40, 41, &r, in_L);
    double aL = alpha_shape_area(xy, n, 0.1, NULL);
    /* the 10 mm circumradius filter fills part of the concave corner (alphashape does the same:
     * 1254 for the same shape in tests/fixtures/maps/alpha_shapes.txt), never the whole notch */
    CHECK(aL > 1200 && aL < 1260);
    CHECK(alpha_shape_area(xy, n, 0.0, NULL) > 1390);
    /* annulus 15..40 mm around (40,40): the hole (30 mm across > 2/alpha) is filled: pi 40^2 */
    n = grid_fill(xy, 0, 0, 0, 80, 121, &r, in_ring);
    double aR = alpha_shape_area(xy, n, 0.1, NULL);
    CHECK_NEAR(aR, M_PI * 1600, 0.01 * M_PI * 1600); /* polygonal boundary on a 0.67 mm grid */
    /* two 10x10 squares 50 mm apart: sum 200 (no bridge: long triangles have R > 10) */
    n = grid_fill(xy, 0, 0, 0, 10, 11, &r, NULL);
    n = grid_fill(xy, n, 60, 0, 10, 11, &r, NULL);
    CHECK_NEAR(alpha_shape_area(xy, n, 0.1, NULL), 200, 1e-6);
    /* degenerate inputs */
    double line[8] = {0, 0, 1, 1, 2, 2, 3, 3};
    CHECK_NEAR(alpha_shape_area(line, 4, 0.1, NULL), 0, 0);
    CHECK_NEAR(alpha_shape_area(line, 2, 0.1, NULL), 0, 0);
    double dup[8] = {0, 0, 0, 0, 1, 0, 0, 1};
    CHECK_NEAR(alpha_shape_area(dup, 4, 0.1, NULL), 0.5, 1e-12);
    free(xy);
}

TEST(delaunay_large_is_fast_enough) {
    enum { N = 30000 };
    double *xy = xmalloc(sizeof(double) * 2 * N);
    Rng r;
    rng_init(&r, 9, rng_stream(RNG_PURPOSE_TEST, 5, 0, 0));
    for (int i = 0; i < 2 * N; i++) xy[i] = rng_uniform_double(&r) * 70;
    Triangulation t;
    int nt = delaunay_triangulate(xy, N, &t);
    CHECK(nt > 2 * N - 200 && nt < 2 * N);
    double sum = 0;
    for (int k = 0; k < nt; k++) sum += 0.5 * cross(xy + 2 * t.v[3 * k], xy + 2 * t.v[3 * k + 1], xy + 2 * t.v[3 * k + 2]);
    CHECK(sum > 4800 && sum <= 4900.0001);
    triangulation_free(&t);
    free(xy);
}

/* Same point sets as alphashape 1.3.1 + shapely (tests/fixtures/maps/gen_fixtures.py). */
TEST(alpha_shape_matches_python_alphashape) {
    FILE *f = fopen(t_src("tests/fixtures/maps/alpha_shapes.txt"), "r");
    REQUIRE(f);
    char name[64];
    int n, sets = 0;
    double alpha, area;
    while (fscanf(f, " set %63s %d %lf %lf", name, &n, &alpha, &area) == 4) {
        double *xy = xmalloc(sizeof(double) * 2 * (size_t)n);
        for (int i = 0; i < 2 * n; i++) REQUIRE(fscanf(f, "%lf", &xy[i]) == 1);
        double got = alpha_shape_area(xy, n, alpha, NULL);
        CHECK_MSG(fabs(got - area) <= 1e-6 * area, "%s: area %.9g, alphashape %.9g", name, got, area);
        free(xy);
        sets++;
    }
    fclose(f);
    CHECK_EQ_INT(sets, 5);
}
