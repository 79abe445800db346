/* test_maps_v1.c: V1-like analyses. Ground truth: a band-pass Gaussian random orientation field
 * with column spacing Lambda has pi pinwheels per Lambda^2; make-maps' detector (paper parameters:
 * 1.5 mm windows, 0.45 mm stride, circstd/count mask) must measure it within 15% on units scattered
 * at the paper's layer2.0 density. Plus single-pinwheel winding signs, scipy circular statistics
 * (fixture from scipy.stats), smoothness curves of smooth vs shuffled maps. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "maps.h"
#include "maps_synth.h"
#include "rng.h"
#include "stats.h"
#include "test.h"

/* Units at the paper's layer2.0 density (100352 units on 36.75 x 36.75 mm = 74.3 per mm^2) on an
 * L x L sheet, preferences from a band-pass GRF with spacing lambda. */
static void grf_sheet(double lambda, double L, uint64_t seed, double **xy, float **ori, int *n, OriField *f) {
    *n = (int)(100352.0 / (36.75 * 36.75) * L * L);
    *xy = xmalloc(sizeof(double) * 2 * (size_t)*n);
    *ori = xmalloc(sizeof(float) * (size_t)*n);
    synth_uniform_positions(*xy, *n, L, seed);
    orifield_init(f, lambda, 96, 0.05, seed + 17);
    for (int i = 0; i < *n; i++) (*ori)[i] = (float)orifield_eval(f, (*xy)[2 * i], (*xy)[2 * i + 1]);
}

/* The realisation's own pinwheels: phase singularities of the exact field, counted by the winding
 * of the 4 corners of every cell of a fine grid (step lambda / 50), per lambda^2. */
static double exact_density(const OriField *f, double lambda, double L) {
    double st = lambda / 50;
    int m = (int)(L / st) + 1;
    float *g = xmalloc(sizeof(float) * (size_t)m * (size_t)m);
    for (int r = 0; r < m; r++)
        for (int c = 0; c < m; c++) g[(long)r * m + c] = (float)orifield_eval(f, c * st, r * st);
    int z = 0;
    for (int r = 0; r < m - 1; r++)
        for (int c = 0; c < m - 1; c++) {
            double a = g[(long)r * m + c], b = g[(long)r * m + c + 1], cc = g[(long)(r + 1) * m + c + 1], d = g[(long)(r + 1) * m + c];
            if (fabs(wrap90(b - a) + wrap90(cc - b) + wrap90(d - cc) + wrap90(a - d)) > 90) z++;
        }
    free(g);
    double side = (m - 1) * st;
    return z / (side * side / (lambda * lambda));
}

/* Ground truth (issue 8): a GRF map with column spacing Lambda has ~pi pinwheels per Lambda^2 and
 * make-maps, with the paper's detector (1.5 mm windows, 0.45 mm stride, circstd/count < 0.3,
 * islands >= 2 px, both signs), measures it within 15%. Lambda = 5 mm and a 60 mm sheet (about
 * 450 pinwheels) keep the realisation's own fluctuation small; both quirk modes. */
TEST(pinwheel_density_of_grf_is_pi) {
    MapsConfig cfg;
    maps_config_defaults(&cfg);
    double lambda = 5.0, L = 60.0;
    cfg.column_spacing_mm = lambda;
    for (int trial = 0; trial < 2; trial++) {
        double *xy;
        float *ori;
        int n;
        OriField f;
        grf_sheet(lambda, L, 1000 + (uint64_t)trial, &xy, &ori, &n, &f);
        double ex = exact_density(&f, lambda, L);
        CHECK_MSG(fabs(ex - M_PI) <= 0.10 * M_PI, "the synthetic field itself has %.3f pinwheels per Lambda^2", ex);
        for (int q = 0; q < 2; q++) {
            cfg.quirks = q ? QUIRKS_FIXED : QUIRKS_OFFICIAL;
            Pinwheels pw;
            pinwheels_detect(xy, ori, n, &cfg, &pw);
            printf("Lambda %.1f trial %d quirks %-8s: field %.3f, measured %d pinwheels (+%d -%d) = %.3f per Lambda^2 "
                   "(whole-sheet normalisation %.3f); pi = 3.142\n", lambda, trial, q ? "fixed" : "official", ex, pw.n_pin,
                   pw.n_pos, pw.n_neg, pw.density, pw.density_sheet);
            CHECK_MSG(fabs(pw.density - M_PI) <= 0.15 * M_PI, "density %.3f not within 15%% of pi", pw.density);
            CHECK(abs(pw.n_pos - pw.n_neg) <= 0.15 * pw.n_pin); /* charges balance */
            pinwheels_free(&pw);
        }
        orifield_free(&f);
        free(xy);
        free(ori);
    }
}

/* At the paper's own spacing (3.5 mm) the 1.5 mm window merges close pinwheel pairs: measured on
 * 4 seeds x 60 mm sheets, the detector finds 0.86 of the field's pinwheels (2.66 vs 3.09 per
 * Lambda^2; 0.90 without the circstd mask); at 5 mm 0.92, at 6 mm 0.93. This pins that bias down. */
TEST(pinwheel_detector_bias_at_paper_spacing) {
    MapsConfig cfg;
    maps_config_defaults(&cfg);
    double *xy;
    float *ori;
    int n;
    OriField f;
    grf_sheet(3.5, 36.75, 1000, &xy, &ori, &n, &f);
    double ex = exact_density(&f, 3.5, 36.75);
    Pinwheels pw;
    pinwheels_detect(xy, ori, n, &cfg, &pw);
    double eff = pw.density / ex;
    printf("Lambda 3.5: field %.3f, measured %.3f per Lambda^2 (efficiency %.3f)\n", ex, pw.density, eff);
    CHECK(eff > 0.75 && eff < 1.0);
    pinwheels_free(&pw);
    orifield_free(&f);
    free(xy);
    free(ori);
}

TEST(pinwheel_density_scales_with_spacing) {
    /* the same map analysed with spacing 5 or 3.5 mm: density scales by (3.5/5)^2 exactly */
    MapsConfig cfg;
    maps_config_defaults(&cfg);
    double *xy;
    float *ori;
    int n;
    OriField f;
    grf_sheet(5.0, 36.75, 77, &xy, &ori, &n, &f);
    cfg.column_spacing_mm = 5.0;
    Pinwheels pw;
    pinwheels_detect(xy, ori, n, &cfg, &pw);
    double d5 = pw.density;
    CHECK(pw.n_pin > 100);
    pinwheels_free(&pw);
    cfg.column_spacing_mm = 3.5;
    pinwheels_detect(xy, ori, n, &cfg, &pw);
    CHECK_NEAR(pw.density, d5 * 0.49, 1e-9 * d5);
    pinwheels_free(&pw);
    orifield_free(&f);
    free(xy);
    free(ori);
}

TEST(pinwheel_single_charges) {
    /* theta = +/- atan2(y - 10, x - 10) / 2 around one point: exactly one pinwheel of that sign */
    MapsConfig cfg;
    maps_config_defaults(&cfg);
    int n = 40000;
    double *xy = xmalloc(sizeof(double) * 2 * (size_t)n);
    float *ori = xmalloc(sizeof(float) * (size_t)n);
    synth_uniform_positions(xy, n, 20.0, 5);
    for (int sign = -1; sign <= 1; sign += 2) {
        for (int i = 0; i < n; i++) {
            double a = sign * atan2(xy[2 * i + 1] - 10.2, xy[2 * i] - 9.9) * 90 / M_PI;
            ori[i] = (float)(a < 0 ? a + 180 : a);
        }
        Pinwheels pw;
        pinwheels_detect(xy, ori, n, &cfg, &pw);
        CHECK_EQ_INT(pw.n_pin, 1);
        if (pw.n_pin == 1) {
            CHECK_EQ_INT(pw.pin_sign[0], sign);
            CHECK_NEAR(pw.pin_xy[0], 9.9, 0.5);
            CHECK_NEAR(pw.pin_xy[1], 10.2, 0.5);
        }
        pinwheels_free(&pw);
    }
    /* a smooth map with no singularity has none */
    for (int i = 0; i < n; i++) ori[i] = (float)fmod(4.0 * xy[2 * i] + 1.0 * xy[2 * i + 1], 180.0);
    Pinwheels pw;
    pinwheels_detect(xy, ori, n, &cfg, &pw);
    CHECK_EQ_INT(pw.n_pin, 0);
    pinwheels_free(&pw);
    free(xy);
    free(ori);
}

/* scipy.stats.circmean / circstd (tests/fixtures/maps/circstats.txt) against common/stats.h, which
 * make-maps shares with the probes (the smoothers use the same formulas inline) */
TEST(circular_stats_match_scipy) {
    FILE *f = fopen(t_src("tests/fixtures/maps/circstats.txt"), "r");
    REQUIRE(f);
    double high, mean, sd;
    int n, cases = 0;
    while (fscanf(f, " circ %lf %d %lf %lf", &high, &n, &mean, &sd) == 4) {
        double *x = xmalloc(sizeof(double) * (size_t)n);
        for (int i = 0; i < n; i++) REQUIRE(fscanf(f, "%lf", &x[i]) == 1);
        double m = circ_mean(x, NULL, (size_t)n, high), s = circ_std(x, NULL, (size_t)n, high);
        double dm = fabs(m - mean);
        if (dm > high / 2) dm = high - dm;
        CHECK_MSG(dm < 1e-3, "circmean high %g n %d: %.6f vs scipy %.6f", high, n, m, mean);
        CHECK_MSG(fabs(s - sd) < 1e-3 * (1 + sd), "circstd high %g n %d: %.6f vs scipy %.6f", high, n, s, sd);
        /* the square-window smoother's own circular mean/std: all units in one window */
        double *xy = xcalloc(2 * (size_t)n, sizeof(double));
        float *xf = xmalloc(sizeof(float) * (size_t)n), mo, so;
        for (int i = 0; i < n; i++) xf[i] = (float)x[i];
        GridSpec g = {1, 1, 0, 0, 1, 1};
        int cnt;
        smooth_square(xy, xf, n, &g, 1.0, SMOOTH_CIRC, high, &mo, &so, &cnt);
        CHECK_EQ_INT(cnt, n);
        dm = fabs(mo - mean);
        if (dm > high / 2) dm = high - dm;
        CHECK_MSG(dm < 1e-3, "smoother circmean high %g n %d: %.6f vs scipy %.6f", high, n, mo, mean);
        CHECK_MSG(fabs(so - sd) < 1e-3 * (1 + sd), "smoother circstd high %g n %d: %.6f vs scipy %.6f", high, n, so, sd);
        free(xy);
        free(xf);
        free(x);
        cases++;
    }
    fclose(f);
    CHECK_EQ_INT(cases, 12);
    CHECK_NEAR(ori_diff(5, 175), 10, 1e-12);
    CHECK_NEAR(ori_diff(0, 90), 90, 1e-12);
    CHECK_NEAR(wrap90(100), -80, 1e-12);
}

TEST(smoothness_of_smooth_and_random_maps) {
    MapsConfig cfg;
    maps_config_defaults(&cfg);
    double *xy;
    float *ori;
    int n;
    OriField f;
    grf_sheet(3.5, 36.75, 9, &xy, &ori, &n, &f);
    orifield_free(&f);
    float *rnd = xmalloc(sizeof(float) * (size_t)n);
    Rng r;
    rng_init(&r, 1, 2);
    for (int i = 0; i < n; i++) rnd[i] = 180 * rng_uniform(&r);
    int *cands = xmalloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) cands[i] = i;
    const float *vals[2] = {ori, rnd};
    DiffKind kinds[2] = {DIFF_ORI180, DIFF_ORI180};
    DistCurve c[2];
    dist_curves(xy, cands, n, NULL, vals, kinds, 2, 3.3, 9, 20, 1000, 3, 4, c);
    printf("smooth map: curve %.1f %.1f ... %.1f (chance %.1f), smoothness %.3f; random: %.1f ... %.1f, smoothness %.3f\n",
           c[0].mean[0], c[0].mean[1], c[0].mean[8], c[0].chance, c[0].smoothness, c[1].mean[0], c[1].mean[8], c[1].smoothness);
    CHECK(c[0].smoothness > 0.5);
    CHECK(c[1].smoothness < 0.1);
    CHECK_NEAR(c[1].chance, 45, 2); /* mean |Δ| of uniform orientations is 45 deg */
    CHECK_NEAR(c[0].chance, 45, 3);
    CHECK(c[0].mean[0] < 15);
    /* smoothness index by hand */
    double curve[4] = {1, 3, 4, NAN};
    CHECK_NEAR(smoothness_index(curve, 4), 0.75, 1e-12);
    double flat[2] = {NAN, 2};
    CHECK(isnan(smoothness_index(flat, 2)));
    for (int k = 0; k < 2; k++) dist_curve_free(&c[k]);
    free(xy); free(ori); free(rnd); free(cands);
}
