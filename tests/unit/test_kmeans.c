/* test_kmeans.c: k-means (common/kmeans.c) on separated clusters with known centres and inertia,
 * reproducibility, and the smallest-k search used by the wiring-length analysis. */
#include <math.h>
#include <stdlib.h>

#include "kmeans.h"
#include "rng.h"
#include "test.h"

/* 3 clusters of 40 points, offsets uniform in [-0.5, 0.5]^2 around (0,0), (10,0), (0,10). */
static void clusters(double *x, double *true_inertia) {
    const double c[3][2] = {{0, 0}, {10, 0}, {0, 10}};
    Rng r;
    rng_init(&r, 3, rng_stream(RNG_PURPOSE_TEST, 2, 0, 0));
    double in = 0;
    for (int q = 0; q < 3; q++) {
        double m[2] = {0, 0}, pts[40][2];
        for (int i = 0; i < 40; i++) {
            pts[i][0] = c[q][0] + rng_uniform_double(&r) - 0.5;
            pts[i][1] = c[q][1] + rng_uniform_double(&r) - 0.5;
            m[0] += pts[i][0] / 40; m[1] += pts[i][1] / 40;
        }
        for (int i = 0; i < 40; i++) {
            x[2 * (q * 40 + i)] = pts[i][0];
            x[2 * (q * 40 + i) + 1] = pts[i][1];
            in += pow(pts[i][0] - m[0], 2) + pow(pts[i][1] - m[1], 2);
        }
    }
    *true_inertia = in;
}

TEST(kmeans_separated_clusters) {
    double x[240], ref;
    clusters(x, &ref);
    double cen[6];
    int lab[120];
    double in = kmeans_fit(x, 120, 2, 3, 10, 300, 1e-4, 11, 0, cen, lab);
    CHECK_NEAR(in, ref, 1e-9 * ref);
    for (int q = 0; q < 3; q++) /* each cluster gets one label */
        for (int i = 1; i < 40; i++) CHECK_EQ_INT(lab[q * 40 + i], lab[q * 40]);
    CHECK(lab[0] != lab[40] && lab[0] != lab[80] && lab[40] != lab[80]);
    double in2 = kmeans_fit(x, 120, 2, 3, 10, 300, 1e-4, 11, 0, NULL, NULL);
    CHECK(in2 == in); /* reproducible */
    double in1 = kmeans_fit(x, 120, 2, 1, 1, 300, 1e-4, 11, 0, cen, NULL);
    double mx = 0, my = 0;
    for (int i = 0; i < 120; i++) { mx += x[2 * i] / 120; my += x[2 * i + 1] / 120; }
    CHECK_NEAR(cen[0], mx, 1e-9);
    CHECK_NEAR(cen[1], my, 1e-9);
    CHECK(in1 > 100 * in);
}

TEST(kmeans_smallest_k_rule) {
    /* inertia <= n * thr^2: with thr 1 mm the 3 clusters (per-point variance ~1/6) need k = 3 */
    double x[240], ref;
    clusters(x, &ref);
    double cen[2 * 99];
    int k = kmeans_smallest_k(x, 120, 2, 99, 120 * 1.0, 10, 300, 1e-4, 5, 0, cen);
    CHECK_EQ_INT(k, 3);
    /* thr 20 mm: one cluster suffices (variance about 2 * 22 mm^2 < 400) */
    k = kmeans_smallest_k(x, 120, 2, 99, 120 * 400.0, 10, 300, 1e-4, 5, 0, cen);
    CHECK_EQ_INT(k, 1);
    /* duplicate points: 5 identical points need k = 1 for any threshold */
    double d[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK_EQ_INT(kmeans_smallest_k(d, 5, 2, 99, 0.0, 10, 300, 1e-4, 5, 0, cen), 1);
}
