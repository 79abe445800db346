/* test_stimuli.c: the gratings carry, measured by FFT, the orientation and spatial frequency their
 * labels say; colour conditions; the fLoc tables; the procedural fLoc stand-in's categories differ
 * from one another. make-stimuli's artifacts are checked by tests/cli/t010*-make-stimuli-*.sh.
 *
 * Measurement: the red channel minus its mean, zero-padded to 256 x 256, radix-2 FFT; the peak bin
 * is then refined by evaluating the continuous DFT magnitude on grids around it (+-1 bin in 1/8-bin
 * steps, then +-1/8 bin in 1/64-bin steps).
 * Orientation = atan2(fy_up, fx) mod 180 deg (row frequencies flipped to y up); SF = |f| in
 * cycles per image. Tolerances: 0.5 deg and 1% (the refinement resolves ~0.1 deg and 0.03 cycles).
 */
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "stimuli.h"
#include "test.h"

static void fft(double complex *a, int n, int stride) { /* in place, radix 2 */
    for (int i = 1, j = 0; i < n; i++) {
        int bit = n >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) {
            double complex t = a[i * stride];
            a[i * stride] = a[j * stride];
            a[j * stride] = t;
        }
    }
    for (int len = 2; len <= n; len <<= 1) {
        double complex w = cexp(-2.0 * I * M_PI / len);
        for (int i = 0; i < n; i += len) {
            double complex wk = 1;
            for (int k = 0; k < len / 2; k++, wk *= w) {
                double complex u = a[(i + k) * stride], v = a[(i + k + len / 2) * stride] * wk;
                a[(i + k) * stride] = u + v;
                a[(i + k + len / 2) * stride] = u - v;
            }
        }
    }
}

/* rows[k][y] = sum_x img[y][x] exp(-2 pi i fx_k (x + 0.5) / N) for the candidate column frequencies */
static void row_sums(double complex *rows, const double *img, int N, const double *fx, int nf) {
    double complex *e = xmalloc(sizeof(double complex) * N);
    for (int k = 0; k < nf; k++) {
        for (int x = 0; x < N; x++) e[x] = cexp(-2.0 * I * M_PI * fx[k] * (x + 0.5) / N);
        for (int y = 0; y < N; y++) {
            double complex s = 0;
            for (int x = 0; x < N; x++) s += img[y * N + x] * e[x];
            rows[k * N + y] = s;
        }
    }
    free(e);
}

static void measure(const uint8_t *px, int N, double *ori, double *sf) {
    const int P = 256;
    double *img = xmalloc(sizeof(double) * N * N), mean = 0;
    for (int i = 0; i < N * N; i++) mean += px[3 * i];
    mean /= N * N;
    for (int i = 0; i < N * N; i++) img[i] = px[3 * i] - mean;
    double complex *a = xcalloc((size_t)P * P, sizeof(double complex));
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++) a[y * P + x] = img[y * N + x];
    for (int y = 0; y < P; y++) fft(a + y * P, P, 1);
    for (int x = 0; x < P; x++) fft(a + x, P, P);
    int by = 0, bx = 0;
    double best = -1;
    for (int y = 0; y < P; y++)
        for (int x = 0; x < P / 2; x++) { /* half plane: the spectrum of a real image is symmetric */
            double m = cabs(a[y * P + x]);
            if (m > best) { best = m; by = y; bx = x; }
        }
    double fy0 = (by < P / 2 ? by : by - P) * (double)N / P, fx0 = bx * (double)N / P, step = (double)N / P;
    /* continuous DFT magnitude on a grid around the peak: coarse (+-1 bin, 1/8 bin) then fine */
    enum { G = 17 };
    double complex *rows = xmalloc(sizeof(double complex) * G * N), *ey = xmalloc(sizeof(double complex) * N);
    double bfx = fx0, bfy = fy0;
    for (int pass = 0; pass < 2; pass++) {
        double span = pass ? step / 8 : step, cx = bfx, cy = bfy, fx[G];
        for (int k = 0; k < G; k++) fx[k] = cx - span + 2 * span * k / (G - 1);
        row_sums(rows, img, N, fx, G);
        best = -1;
        for (int j = 0; j < G; j++) {
            double fy = cy - span + 2 * span * j / (G - 1);
            for (int y = 0; y < N; y++) ey[y] = cexp(-2.0 * I * M_PI * fy * (y + 0.5) / N);
            for (int k = 0; k < G; k++) {
                double complex t = 0;
                for (int y = 0; y < N; y++) t += rows[k * N + y] * ey[y];
                if (cabs(t) > best) { best = cabs(t); bfx = fx[k]; bfy = fy; }
            }
        }
    }
    free(rows);
    free(ey);
    *sf = hypot(bfx, bfy);
    double o = atan2(-bfy, bfx) * 180.0 / M_PI; /* rows point down: y up = -row */
    o = fmod(o + 360.0, 180.0);
    *ori = o;
    free(img);
    free(a);
}

/* Draws grating i of the set at N px with its frequency scaled by k (make-stimuli --field-deg:
 * k = deg / 8) and measures it; returns 0 when orientation and frequency are within tol_o degrees
 * and tol_f relative, and keeps the worst errors. */
static int check_grating(int i, int N, double k, double tol_o, double tol_f, uint8_t *px, double *worst_o, double *worst_f) {
    float ori, sf, ph;
    int col;
    stimuli_grating_params(i, &ori, &sf, &ph, &col);
    sf = (float)(k * sf);
    stimuli_grating_image(px, N, ori, sf, ph, col);
    double mo, mf;
    measure(px, N, &mo, &mf);
    double dori = fabs(mo - ori);
    if (dori > 90) dori = 180 - dori;
    double dsf = fabs(mf - sf) / sf;
    if (dori > *worst_o) *worst_o = dori;
    if (dsf > *worst_f) *worst_f = dsf;
    if (dori <= tol_o && dsf <= tol_f) return 0;
    fprintf(stderr, "grating %d at %d px (ori %.1f sf %.2f ph %.2f col %d): measured ori %.2f sf %.2f\n", i, N, ori, sf, ph,
            col, mo, mf);
    return -1;
}

TEST(gratings_fft_orientation_and_sf_match_labels) {
    const int N = 224;
    uint8_t *px = xmalloc((size_t)N * N * 3);
    double worst_o = 0, worst_f = 0;
    int tested = 0;
    for (int i = 0; i < STIMULI_GRATING_COUNT; i++) {
        int p = i % STIMULI_GRATING_NPHASE, col = i / (STIMULI_GRATING_COUNT / 2);
        /* all orientations x SFs at one phase in black/white; a diagonal of the rest */
        if (!((col == 0 && p == 1) || (i % 37 == 0))) continue;
        CHECK(check_grating(i, N, 1.0, 0.5, 0.01, px, &worst_o, &worst_f) == 0);
        tested++;
    }
    printf("%d gratings measured by FFT: worst orientation error %.3f deg, worst SF error %.3f%%\n", tested, worst_o,
           100 * worst_f);
    CHECK(tested >= 64);
    free(px);
}

/* The default config draws the gratings at the network's 96 px over 8 x 96/224 deg (make-stimuli
 * --grating-size 96 --field-deg 3.43): the paper's frequencies scaled by 96/224, all below 48
 * cycles/image. They too must carry the labelled orientation and frequency. The lowest has only
 * 2.4 cycles across the image: its negative-frequency peak shifts the maximum by ~2%. */
TEST(gratings_fft_at_96_px_scaled_frequencies) {
    const int N = 96;
    const double k = 96.0 / 224.0;
    uint8_t *px = xmalloc((size_t)N * N * 3);
    double worst_o = 0, worst_f = 0;
    int tested = 0;
    for (int i = 0; i < STIMULI_GRATING_COUNT / 2; i++) {
        if (i % STIMULI_GRATING_NPHASE != 1) continue;
        CHECK(check_grating(i, N, k, 1.0, 0.025, px, &worst_o, &worst_f) == 0);
        tested++;
    }
    printf("%d gratings at 96 px measured by FFT: worst orientation error %.3f deg, worst SF error %.3f%%\n", tested,
           worst_o, 100 * worst_f);
    CHECK(tested == 64);
    CHECK(k * (5.5 + (110.0 - 5.5) * 7 / 8.0) < N / 2.0);
    free(px);
}

TEST(gratings_grid_colour_and_range) {
    float ori, sf, ph;
    int col;
    stimuli_grating_params(0, &ori, &sf, &ph, &col);
    CHECK(ori == 0 && col == 0 && ph == 0);
    CHECK_NEAR(sf, 5.5, 1e-6);
    stimuli_grating_params(639, &ori, &sf, &ph, &col);
    CHECK_NEAR(ori, 157.5, 1e-6);
    CHECK_NEAR(sf, 96.9375, 1e-4);
    CHECK_NEAR(ph, 2 * M_PI * 4 / 5, 1e-6);
    CHECK_EQ_INT(col, 1);
    stimuli_grating_params(5, &ori, &sf, &ph, &col);
    CHECK_NEAR(sf, 18.5625, 1e-4); /* linspace(5.5, 110, 9)[1] */
    uint8_t px[32 * 32 * 3];
    stimuli_grating_image(px, 32, 45, 3, 0.3f, 1);
    int lo = 255, hi = 0;
    for (int i = 0; i < 32 * 32; i++) {
        CHECK(px[3 * i + 1] == px[3 * i + 2] && abs(px[3 * i] + px[3 * i + 1] - 255) <= 1); /* red vs cyan */
        if (px[3 * i] < lo) lo = px[3 * i];
        if (px[3 * i] > hi) hi = px[3 * i];
    }
    CHECK(lo < 5 && hi > 250); /* full contrast */
    stimuli_grating_image(px, 32, 45, 3, 0.3f, 0);
    for (int i = 0; i < 32 * 32; i++) CHECK(px[3 * i] == px[3 * i + 1] && px[3 * i] == px[3 * i + 2]);
}

TEST(floc_tables_follow_the_contract) {
    const char *cats[] = {"number", "word", "limb", "body", "adult", "child", "car", "instrument", "house", "corridor"};
    for (int i = 0; i < 10; i++) CHECK_STR(STIMULI_FLOC_CATEGORIES[i], cats[i]);
    CHECK_STR(STIMULI_FLOC_DOMAINS[0], "faces");
    CHECK_STR(STIMULI_FLOC_DOMAINS[4], "objects");
    /* faces = adult + child, bodies = body + limb, characters = word + number, places = house + corridor,
     * objects = car + instrument */
    const char *members[5][2] = {{"adult", "child"}, {"body", "limb"}, {"word", "number"}, {"house", "corridor"}, {"car", "instrument"}};
    for (int d = 0; d < 5; d++)
        for (int k = 0; k < 2; k++) CHECK_STR(STIMULI_FLOC_CATEGORIES[STIMULI_FLOC_DOMAIN_CATEGORIES[d][k]], members[d][k]);
    CHECK_EQ_INT(stimuli_floc_category("Adult"), 4);
    CHECK_EQ_INT(stimuli_floc_category("scrambled"), -2);
    CHECK_EQ_INT(stimuli_floc_category("faces"), -1);
}

/* The stand-in's categories must be structurally distinct: a nearest-centroid classifier on simple
 * image features (8-orientation gradient-energy histograms in 4 x 4 cells, plus 4 x 4 block means),
 * z-scored, trained on 20 images per category and tested on 10 others, must beat chance (10%) by
 * far. */
enum { FN = 64, FCELL = 4, FBINS = 8, NFEAT = FCELL * FCELL * (FBINS + 1) };

static void floc_features(double *feat, int cat, int idx) {
    uint8_t px[FN * FN * 3];
    stimuli_floc_procedural(px, FN, cat, 0, idx);
    memset(feat, 0, sizeof(double) * NFEAT);
    int cs = FN / FCELL;
    for (int y = 1; y < FN - 1; y++)
        for (int x = 1; x < FN - 1; x++) {
            double gx = px[(y * FN + x + 1) * 3] - px[(y * FN + x - 1) * 3];
            double gy = px[((y + 1) * FN + x) * 3] - px[((y - 1) * FN + x) * 3];
            double a = atan2(gy, gx);
            if (a < 0) a += M_PI;
            int b = (int)(a / M_PI * FBINS) % FBINS, cell = (y / cs) * FCELL + x / cs;
            feat[cell * (FBINS + 1) + b] += sqrt(gx * gx + gy * gy);
            feat[cell * (FBINS + 1) + FBINS] += px[(y * FN + x) * 3];
        }
}

TEST(floc_procedural_categories_are_distinguishable) {
    const int TR = 20, TE = 10;
    double (*tr)[NFEAT] = xmalloc(sizeof(double) * NFEAT * 10 * TR), mu[NFEAT] = {0}, sd[NFEAT] = {0};
    double cent[10][NFEAT] = {{0}}, f[NFEAT];
    for (int c = 0; c < 10; c++)
        for (int k = 0; k < TR; k++) floc_features(tr[c * TR + k], c, k);
    for (int i = 0; i < 10 * TR; i++)
        for (int j = 0; j < NFEAT; j++) mu[j] += tr[i][j] / (10 * TR);
    for (int i = 0; i < 10 * TR; i++)
        for (int j = 0; j < NFEAT; j++) sd[j] += (tr[i][j] - mu[j]) * (tr[i][j] - mu[j]) / (10 * TR);
    for (int j = 0; j < NFEAT; j++) sd[j] = sqrt(sd[j]) + 1e-9;
    for (int c = 0; c < 10; c++)
        for (int k = 0; k < TR; k++)
            for (int j = 0; j < NFEAT; j++) cent[c][j] += (tr[c * TR + k][j] - mu[j]) / sd[j] / TR;
    int right = 0;
    for (int c = 0; c < 10; c++)
        for (int k = TR; k < TR + TE; k++) {
            floc_features(f, c, k);
            int best = -1;
            double bd = 1e300;
            for (int d = 0; d < 10; d++) {
                double s = 0;
                for (int j = 0; j < NFEAT; j++) {
                    double z = (f[j] - mu[j]) / sd[j] - cent[d][j];
                    s += z * z;
                }
                if (s < bd) { bd = s; best = d; }
            }
            right += best == c;
        }
    printf("nearest-centroid accuracy on the procedural fLoc stand-in: %d / %d (chance 10%%)\n", right, 10 * TE);
    CHECK(right >= 50);
    free(tr);
    /* deterministic, and R = G = B */
    uint8_t *p = xmalloc(FN * FN * 3), *q = xmalloc(FN * FN * 3);
    stimuli_floc_procedural(p, FN, 4, 3, 7);
    stimuli_floc_procedural(q, FN, 4, 3, 7);
    CHECK(memcmp(p, q, FN * FN * 3) == 0);
    for (int i = 0; i < FN * FN; i++) CHECK(p[3 * i] == p[3 * i + 1] && p[3 * i] == p[3 * i + 2]);
}
