/* test_maps_vtc.c: VTC-like analyses. Ground truth (issue 8): a planted patch of known area is found
 * with that area. Units at the paper's layer4.1 density (25088 units on the 70 mm human-scale
 * sheet) carry t = 4 inside a planted shape (so the smoothed map crosses the t = 2 threshold at
 * its edge) plus unit-variance noise, 0 + noise outside.
 *
 * Tolerance: the method defines a patch as the units within 1 mm (patch_member_radius_mm) of the
 * above-threshold pixels, so its boundary can sit anywhere from one grid step (0.71 mm) inside to
 * 1 mm outside the planted edge; the found area may therefore differ from the planted one by at
 * most perimeter x 1 mm (13% for a 15 mm disk). We check that bound, and that the area is within
 * the dilation by 1 mm (the value it should approach), for a disk and a square. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "maps.h"
#include "maps_synth.h"
#include "rng.h"
#include "test.h"

typedef int (*Shape)(double x, double y);
static int disk15(double x, double y) { return hypot(x - 35, y - 35) < 15; }
static int square20(double x, double y) { return fabs(x - 25) < 10 && fabs(y - 45) < 10; }
static int disk4(double x, double y) { return hypot(x - 20, y - 20) < 4; }
static int disk45(double x, double y) { return hypot(x - 35, y - 35) < 45; }

static void planted(Shape s, uint64_t seed, double **xy, float **t, int *n) {
    *n = 512 * 7 * 7;
    *xy = xmalloc(sizeof(double) * 2 * (size_t)*n);
    *t = xmalloc(sizeof(float) * (size_t)*n);
    synth_uniform_positions(*xy, *n, 70.0, seed);
    Rng r;
    rng_init(&r, seed, rng_stream(RNG_PURPOSE_TEST, 40, 0, 0));
    for (int i = 0; i < *n; i++) (*t)[i] = (float)((s((*xy)[2 * i], (*xy)[2 * i + 1]) ? 4.0 : 0.0) + rng_normal(&r));
}

TEST(patch_planted_area_is_found) {
    MapsConfig cfg;
    maps_config_defaults(&cfg);
    struct { Shape s; double area, perim, cx, cy; const char *name; } cases[2] = {
        {disk15, M_PI * 225, 2 * M_PI * 15, 35, 35, "disk r=15"},
        {square20, 400, 80, 25, 45, "square 20x20"}};
    for (int c = 0; c < 2; c++) {
        double *xy;
        float *t;
        int n;
        planted(cases[c].s, 11 + (uint64_t)c, &xy, &t, &n);
        double cy[2];
        for (int q = 0; q < 2; q++) {
            cfg.quirks = q ? QUIRKS_FIXED : QUIRKS_OFFICIAL;
            Patch *p = NULL;
            int np = 0;
            int ncomp = vtc_find_patches(xy, t, n, 0, &cfg, NULL, &p, &np);
            CHECK_EQ_INT(np, 1);
            cy[q] = NAN;
            if (np == 1) {
                /* dilation of the planted shape by 1 mm: A + P*1 + pi*1^2 */
                double dil = cases[c].area + cases[c].perim + M_PI;
                printf("%s (%s quirks): planted %.1f mm^2, found %.1f mm^2 (%d units, %d components), 1 mm dilation %.1f, "
                       "centre (%.2f, %.2f)\n", cases[c].name, q ? "fixed" : "official", cases[c].area, p[0].area,
                       p[0].n_units, ncomp, dil, p[0].cx, p[0].cy);
                CHECK(fabs(p[0].area - cases[c].area) <= cases[c].perim * cfg.patch_member_radius_mm);
                CHECK(p[0].area <= dil);
                CHECK_NEAR(p[0].cx, cases[c].cx, 0.5); /* noise moves the contour by a fraction of a mm */
                cy[q] = p[0].cy;
                free(p[0].units);
            }
            free(p);
        }
        CHECK_NEAR(cy[1], cases[c].cy, 0.5);
        /* the official flip displaces the patch by one grid step (70/99 mm) towards -y */
        CHECK_NEAR(cy[0] - cy[1], -70.0 / 99, 0.15);
        free(xy);
        free(t);
    }
}

TEST(patch_area_limits_and_noise) {
    MapsConfig cfg;
    maps_config_defaults(&cfg);
    Shape s[3] = {disk4, disk45, NULL};
    for (int k = 0; k < 3; k++) {
        double *xy;
        float *t;
        int n;
        planted(s[k] ? s[k] : disk4, 21 + (uint64_t)k, &xy, &t, &n);
        if (!s[k]) for (int i = 0; i < n; i++) t[i] = (float)(t[i] - (hypot(xy[2 * i] - 20, xy[2 * i + 1] - 20) < 4 ? 4 : 0)); /* noise only */
        Patch *p = NULL;
        int np = 0;
        vtc_find_patches(xy, t, n, 0, &cfg, NULL, &p, &np);
        /* 50 mm^2 is below 100, 6362 mm^2 above 4500, and smoothed unit noise never reaches t = 2 */
        CHECK_EQ_INT(np, 0);
        for (int i = 0; i < np; i++) free(p[i].units);
        free(p);
        free(xy);
        free(t);
    }
}

TEST(vtc_rsm_and_smoothness) {
    MapsConfig cfg;
    maps_config_defaults(&cfg);
    double *xy;
    float *t1;
    int n;
    planted(disk15, 31, &xy, &t1, &n);
    LayerPos pos = {n, xy, 7.0, {512, 7, 7}};
    SelectivityData sel = {0};
    sel.n = n;
    sel.t = xmalloc(sizeof(float) * 5 * (size_t)n);
    char *names[5] = {"faces", "bodies", "characters", "places", "objects"};
    sel.domains = names;
    Rng r;
    rng_init(&r, 3, 3);
    for (int i = 0; i < n; i++) {
        sel.t[i] = t1[i];                            /* faces: planted disk */
        sel.t[n + i] = t1[i];                        /* bodies = faces */
        sel.t[2 * n + i] = -t1[i];                   /* characters = -faces */
        sel.t[3 * n + i] = (float)rng_normal(&r);    /* places: noise */
        sel.t[4 * n + i] = (float)(xy[2 * i] / 10);  /* objects: a smooth gradient */
    }
    VTCResult v;
    vtc_analyse(&pos, &sel, &cfg, 1, 0, &v);
    CHECK_NEAR(v.rsm[0 * 5 + 1], 1.0, 1e-6);
    CHECK_NEAR(v.rsm[0 * 5 + 2], -1.0, 1e-6);
    CHECK(fabs(v.rsm[0 * 5 + 3]) < 0.05);
    CHECK_NEAR(v.rsm[3 * 5 + 0], v.rsm[0 * 5 + 3], 1e-12);
    CHECK_EQ_INT(v.count[0], 1);
    CHECK_EQ_INT(v.count[3], 0);
    printf("category smoothness: faces %.3f places %.3f objects %.3f\n", v.cat[0].smoothness, v.cat[3].smoothness, v.cat[4].smoothness);
    CHECK(v.cat[4].smoothness > 0.8); /* |Δt| grows with distance from 0 */
    CHECK(v.cat[3].smoothness < 0.1);
    free(xy);
    free(t1);
    free(sel.t);
}
