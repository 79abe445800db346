/* test_wiring.c: wiring length of a known configuration against the hand-computed value.
 *
 * Source: 10 active units at (0,0) and 10 at (10,0); target: 10 at (0,5) and 10 at (10,5); 380
 * silent units per layer fill x in [0, 10], y in [20, 30] (so the source x-extent is 10 mm and the
 * 95th/99th percentile of the responses is below 1: exactly the 20 units are active).
 * k: one cluster has inertia 20 * 5^2 = 500 > 20 * 0.9^2, two clusters 0 -> k = 2 (and 2 for the
 * target). Target shifted by +-10 mm:
 *   +x: centroids (10,5), (20,5): best matching (0,0)-(10,5), (10,0)-(20,5) = 2 sqrt(125) = 22.3607
 *   -x: (-10,5), (0,5): (0,0)-(-10,5), (10,0)-(0,5) = 2 sqrt(125) = 22.3607 (the crossed pairing
 *       costs 5 + sqrt(425) = 25.6155)
 *   +y: (0,15), (10,15): 15 + 15 = 30        -y: (0,-5), (10,-5): 5 + 5 = 10
 * mean over directions = (44.7214 + 40) / 4 = 21.1803 mm.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "maps.h"
#include "rng.h"
#include "test.h"

static void config(double *xy, float *r, int target, Rng *rng) {
    for (int i = 0; i < 400; i++) {
        if (i < 20) {
            xy[2 * i] = i < 10 ? 0 : 10;
            xy[2 * i + 1] = target ? 5 : 0;
            r[i] = 1.0f;
        } else {
            xy[2 * i] = 10 * rng_uniform_double(rng);
            xy[2 * i + 1] = 20 + 10 * rng_uniform_double(rng);
            r[i] = 0.0f;
        }
    }
    xy[2 * 20] = 0; /* pin the extent to exactly [0, 10] */
    xy[2 * 21] = 10;
}

TEST(wiring_known_configuration) {
    MapsConfig cfg;
    maps_config_defaults(&cfg);
    Rng rng;
    rng_init(&rng, 1, rng_stream(RNG_PURPOSE_TEST, 50, 0, 0));
    double sxy[800], txy[800], len[4];
    float sr[400], tr[400];
    config(sxy, sr, 0, &rng);
    config(txy, tr, 1, &rng);
    int k = wiring_pattern(sxy, sr, 400, txy, tr, 400, 95, 0.9, 10.0, &cfg, 3, 4, len);
    CHECK_EQ_INT(k, 2);
    CHECK_NEAR(len[0], 2 * sqrt(125.0), 1e-9);
    CHECK_NEAR(len[1], 2 * sqrt(125.0), 1e-9);
    CHECK_NEAR(len[2], 30, 1e-9);
    CHECK_NEAR(len[3], 10, 1e-9);

    /* the whole VTC procedure (whole sheet, thr 10 mm: one cluster suffices, inertia 500 <=
     * 20 * 100) on 3 identical patterns; 5% of the units are active, so the percentile is 95 */
    LayerPos sp = {400, sxy, 1, {0}}, tp = {400, txy, 1, {0}};
    float ra[1200], rb[1200];
    for (int im = 0; im < 3; im++)
        for (int i = 0; i < 400; i++) { ra[im * 400 + i] = sr[i]; rb[im * 400 + i] = tr[i]; }
    LayerActs sa = {3, 400, ra}, ta = {3, 400, rb};
    WiringResult w;
    cfg.wiring_vtc_percentile = 95;
    wiring_analyse(&sp, &sa, &tp, &ta, 1, &cfg, 7, 0, &w);
    /* k = 1: centroids (5,0) and (5,5): +-x: 2 * sqrt(100 + 25); +y: 15; -y: 5 -> mean (2*11.1803 + 20)/4 */
    CHECK_EQ_INT(w.n_measures, 12);
    CHECK_NEAR(w.mean_k, 1, 0);
    CHECK_NEAR(w.mean, (2 * sqrt(125.0) + 20) / 4, 1e-9);
    /* with the V1 threshold (0.9 mm) on the whole sheet: k = 2 and the hand value above */
    cfg.wiring_vtc_threshold_mm = 0.9;
    wiring_analyse(&sp, &sa, &tp, &ta, 1, &cfg, 7, 0, &w);
    CHECK_NEAR(w.mean_k, 2, 0);
    CHECK_NEAR(w.mean, (4 * sqrt(125.0) + 40) / 4, 1e-9);
    printf("hand-computed wiring length %.4f mm, measured %.4f mm\n", (4 * sqrt(125.0) + 40) / 4, w.mean);
}

TEST(wiring_clustered_beats_scattered) {
    /* V1 mode on random windows: activity in tight blobs needs fewer, closer clusters than
     * salt-and-pepper activity, so its wiring is shorter */
    MapsConfig cfg;
    maps_config_defaults(&cfg);
    int n = 20000;
    double *xy = xmalloc(sizeof(double) * 2 * (size_t)n), *txy = xmalloc(sizeof(double) * 2 * (size_t)n);
    Rng r;
    rng_init(&r, 5, rng_stream(RNG_PURPOSE_TEST, 51, 0, 0));
    for (int i = 0; i < 2 * n; i++) { xy[i] = 36.75 * rng_uniform_double(&r); txy[i] = 36.75 * rng_uniform_double(&r); }
    float *rs = xmalloc(sizeof(float) * 2 * (size_t)n), *rt = xmalloc(sizeof(float) * 2 * (size_t)n);
    for (int i = 0; i < n; i++) {
        /* image 0: clustered (a periodic blob pattern of period 3 mm); image 1: random */
        rs[i] = (float)(cos(2 * M_PI * xy[2 * i] / 3) + cos(2 * M_PI * xy[2 * i + 1] / 3));
        rt[i] = (float)(cos(2 * M_PI * txy[2 * i] / 3) + cos(2 * M_PI * txy[2 * i + 1] / 3));
        rs[n + i] = rng_uniform(&r);
        rt[n + i] = rng_uniform(&r);
    }
    LayerPos sp = {n, xy, 1, {0}}, tp = {n, txy, 1, {0}};
    LayerActs a1 = {1, n, rs}, b1 = {1, n, rt}, a2 = {1, n, rs + n}, b2 = {1, n, rt + n};
    WiringResult wc, wr;
    wiring_analyse(&sp, &a1, &tp, &b1, 0, &cfg, 1, 0, &wc);
    wiring_analyse(&sp, &a2, &tp, &b2, 0, &cfg, 1, 0, &wr);
    printf("clustered: %.2f mm (k %.1f); scattered: %.2f mm (k %.1f)\n", wc.mean, wc.mean_k, wr.mean, wr.mean_k);
    CHECK_EQ_INT(wc.n_measures, 80);
    CHECK(wc.mean < wr.mean);
    CHECK(wc.mean_k < wr.mean_k);
    free(xy); free(txy); free(rs); free(rt);
}
