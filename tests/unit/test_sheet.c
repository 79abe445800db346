/* test_sheet.c: cortical-sheet geometry at the paper's settings (training scale, 224 px, width 1),
 * the neighbourhood rule, the spatial grid and the artifact round trip. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "h5io.h"
#include "model.h"
#include "rng.h"
#include "sheet.h"
#include "test.h"

static SheetConfig default_config(void) {
    static SheetConfig c;
    Section s = {"sheet", &c, SHEET_FIELDS};
    cfg_apply_defaults(&s);
    return c;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* numpy-style linear-interpolation percentile, written independently of sheet.c */
static double percentile(int64_t *v, int64_t n, double q) {
    qsort(v, (size_t)n, sizeof(int64_t), cmp_i64);
    double pos = q / 100.0 * (double)(n - 1);
    int64_t i = (int64_t)pos;
    return i + 1 < n ? (double)v[i] + (pos - (double)i) * (double)(v[i + 1] - v[i]) : (double)v[i];
}

static double corr(const double *a, const double *b, int64_t n) {
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    for (int64_t i = 0; i < n; i++) { sa += a[i]; sb += b[i]; saa += a[i] * a[i]; sbb += b[i] * b[i]; sab += a[i] * b[i]; }
    return (sab - sa * sb / n) / sqrt((saa - sa * sa / n) * (sbb - sb * sb / n));
}

/* One paper layer: unit count, extent, hypercolumn width, retinotopy, neighbourhoods and K. */
static void check_paper_layer(int layer, int64_t want_units, double want_side, double want_hc, int want_k) {
    SheetConfig c = default_config();
    ModelConfig mc = {.width = 1.0f, .input_size = 224, .task = TASK_SIMCLR, .proj_dim = 128, .num_classes = 1000};
    Model m;
    model_init(&m, &mc);
    const int C = m.layer_c[layer], H = m.layer_h[layer], W = m.layer_w[layer];
    model_free(&m);
    SheetLayer *L = sheet_build_layer(&c, layer, C, H, W, 0);
    CHECK_EQ_INT(L->units, want_units);
    CHECK_NEAR(L->sheet_mm, want_side, 1e-12);
    CHECK_NEAR(L->hypercolumn_mm, want_hc, 5e-5);
    CHECK_NEAR(L->neighborhood_width_mm, L->hypercolumn_mm, 0);
    /* extent: inside [0, S], spanning nearly all of it */
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    for (int64_t u = 0; u < L->units; u++)
        for (int a = 0; a < 2; a++) {
            double v = L->positions[2 * u + a];
            lo[a] = v < lo[a] ? v : lo[a];
            hi[a] = v > hi[a] ? v : hi[a];
        }
    for (int a = 0; a < 2; a++) {
        CHECK_MSG(lo[a] >= -1e-5 && hi[a] <= want_side + 1e-5, "%s axis %d spans [%g, %g], sheet is [0, %g]", LAYER_NAMES[layer], a, lo[a], hi[a], want_side);
        CHECK_MSG(hi[a] - lo[a] > 0.99 * want_side, "%s axis %d spans only %g of %g mm", LAYER_NAMES[layer], a, hi[a] - lo[a], want_side);
    }
    /* retinotopy: x follows the column, y the row; x does not follow the row */
    double *x = malloc(sizeof(double) * (size_t)L->units), *y = malloc(sizeof(double) * (size_t)L->units);
    double *col = malloc(sizeof(double) * (size_t)L->units), *row = malloc(sizeof(double) * (size_t)L->units);
    for (int64_t u = 0; u < L->units; u++) {
        x[u] = L->positions[2 * u];
        y[u] = L->positions[2 * u + 1];
        col[u] = (double)(u % W);
        row[u] = (double)((u / W) % H);
    }
    double cx = corr(x, col, L->units), cy = corr(y, row, L->units), cxr = corr(x, row, L->units);
    /* layer4's hypercolumns overlap by 80%, so even there corr ~ 0.8; layers 1-3 ~ 0.95+ */
    CHECK_MSG(cx > 0.75 && cy > 0.75 && fabs(cxr) < 0.05, "%s retinotopy: corr(x,col) %.3f corr(y,row) %.3f corr(x,row) %.3f",
              LAYER_NAMES[layer], cx, cy, cxr);
    double *mean_x = calloc((size_t)W, sizeof(double)); /* column means strictly increase */
    for (int64_t u = 0; u < L->units; u++) mean_x[u % W] += x[u] / ((double)L->units / W);
    for (int w = 1; w < W; w++) CHECK_MSG(mean_x[w] > mean_x[w - 1], "%s: column %d mean x %.4f <= column %d %.4f", LAYER_NAMES[layer], w, mean_x[w], w - 1, mean_x[w - 1]);
    free(mean_x);
    /* neighbourhoods: exactly K members, sorted, distinct, inside one window (<= one hypercolumn) */
    int bad = 0;
    for (int64_t p = 0; p < L->n_nb && !bad; p++) {
        const int32_t *nb = L->neighborhoods + p * L->k;
        double mn[2] = {INFINITY, INFINITY}, mx[2] = {-INFINITY, -INFINITY};
        for (int64_t k = 0; k < L->k; k++) {
            if (nb[k] < 0 || nb[k] >= L->units || (k && nb[k] <= nb[k - 1])) bad = 1;
            for (int a = 0; a < 2; a++) {
                double v = L->positions[2 * (int64_t)nb[k] + a];
                mn[a] = v < mn[a] ? v : mn[a];
                mx[a] = v > mx[a] ? v : mx[a];
            }
        }
        if (mx[0] - mn[0] > L->hypercolumn_mm + 1e-9 || mx[1] - mn[1] > L->hypercolumn_mm + 1e-9) bad = 2;
    }
    CHECK_MSG(bad == 0, "%s: a neighbourhood is malformed (%d)", LAYER_NAMES[layer], bad);
    /* K rule, recomputed from the window sizes */
    int64_t *sizes = malloc(sizeof(int64_t) * (size_t)L->rule.windows);
    sheet_window_sizes(L->positions, L->units, L->neighborhood_width_mm, &L->rule, 0, layer, 0, sizes);
    int64_t kept = 0;
    for (int64_t w = 0; w < L->rule.windows; w++) kept += sizes[w] >= L->k;
    int64_t k = (int64_t)percentile(sizes, L->rule.windows, 5);
    k = k < 25 ? 25 : k > 500 ? 500 : k;
    CHECK_EQ_INT(L->k, k);
    CHECK_EQ_INT(L->n_nb, kept);
    if (want_k) CHECK_EQ_INT(L->k, want_k);
    printf("  %s: %lld units, hypercolumn %.4f mm, K = %lld, %lld neighbourhoods\n", LAYER_NAMES[layer], (long long)L->units,
           L->hypercolumn_mm, (long long)L->k, (long long)L->n_nb);
    free(sizes);
    free(x);
    free(y);
    free(col);
    free(row);
    sheet_layer_free(L);
}

/* tdann-algorithm.md §2.3: 4 / 24.5 / 20 / 16 / 10 mm, hypercolumns S / (n - n*o + o) */
TEST(sheet_paper_layer1) { check_paper_layer(0, 200704, 4.0, 4.0 / 50.5, 0); }
TEST(sheet_paper_layer2) { check_paper_layer(2, 100352, 24.5, 24.5 / 22.6, 0); }
TEST(sheet_paper_layer3_0) { check_paper_layer(4, 50176, 20.0, 20.0 / 8.8, 0); }
TEST(sheet_paper_layer3_1) { check_paper_layer(5, 50176, 16.0, 16.0 / 8.8, 0); }
TEST(sheet_paper_layer4) { check_paper_layer(7, 25088, 10.0, 10.0 / 2.2, 500); }

TEST(sheet_units_stay_in_their_hypercolumn_without_jitter) {
    int C = 32, n = 14;
    double S = 20, o = 0.4, hc = sheet_hypercolumn_mm(S, n, o), r = hc / 2;
    float *pos = malloc(sizeof(float) * 2 * (size_t)C * n * n);
    sheet_positions_retinotopic(pos, C, n, n, S, o, 0.0, 1, 4);
    int bad = 0;
    for (int64_t u = 0; u < (int64_t)C * n * n; u++) {
        int w = (int)(u % n), h = (int)((u / n) % n);
        double ax = r + (S - 2 * r) * w / (n - 1), ay = r + (S - 2 * r) * h / (n - 1);
        if (fabs(pos[2 * u] - ax) > r + 1e-5 || fabs(pos[2 * u + 1] - ay) > r + 1e-5) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    free(pos);
}

TEST(sheet_k_rule_percentile) {
    NbRule r = {.windows = 0, .keep_percentile = 5, .k_min = 25, .k_max = 500};
    int64_t v[21];
    for (int i = 0; i < 21; i++) v[i] = 100 + 10 * (20 - i); /* 100..300, 5th pct = 110 exactly */
    CHECK_EQ_INT(sheet_nb_k(v, 21, &r), 110);
    int64_t w[4] = {30, 40, 50, 60}; /* pos 0.15: 30 + 0.15*10 = 31.5 -> 31 */
    CHECK_EQ_INT(sheet_nb_k(w, 4, &r), 31);
    int64_t s[3] = {3, 4, 5};
    CHECK_EQ_INT(sheet_nb_k(s, 3, &r), 25);
    int64_t b[3] = {900, 1000, 1100};
    CHECK_EQ_INT(sheet_nb_k(b, 3, &r), 500);
}

TEST(sheet_grid_query_matches_brute_force) {
    Rng r;
    rng_init(&r, 2, rng_stream(RNG_PURPOSE_TEST, 4, 0, 0));
    int64_t n = 5000;
    float *p = malloc(sizeof(float) * 2 * (size_t)n);
    for (int64_t i = 0; i < 2 * n; i++) p[i] = 7 * rng_uniform(&r);
    for (int64_t i = 0; i < 50; i++) p[2 * i] = p[2 * (i + 100)]; /* shared x coordinates (boundary ties) */
    SheetGrid *g = sheet_grid_build(p, n, 0.3);
    int32_t *out = malloc(sizeof(int32_t) * (size_t)n);
    int bad = 0;
    for (int q = 0; q < 300; q++) {
        double x0 = 8 * rng_uniform_double(&r) - 0.5, y0 = 8 * rng_uniform_double(&r) - 0.5, w = 2 * rng_uniform_double(&r);
        if (q < 50) x0 = p[2 * (q + 100)]; /* a window edge exactly on a point */
        int64_t m = sheet_grid_query(g, x0, x0 + w, y0, y0 + w, out), k = 0;
        for (int64_t i = 0; i < n; i++)
            if (p[2 * i] >= x0 && p[2 * i] <= x0 + w && p[2 * i + 1] >= y0 && p[2 * i + 1] <= y0 + w) {
                if (k >= m || out[k] != i) bad++;
                k++;
            }
        if (k != m) bad++;
        if (sheet_grid_query(g, x0, x0 + w, y0, y0 + w, NULL) != m) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    sheet_grid_free(g);
    free(out);
    free(p);
}

TEST(sheet_deterministic_for_a_seed) {
    SheetConfig c = default_config();
    SheetLayer *a = sheet_build_layer(&c, 2, 32, 8, 8, 5), *b = sheet_build_layer(&c, 2, 32, 8, 8, 5), *d = sheet_build_layer(&c, 2, 32, 8, 8, 6);
    CHECK(memcmp(a->positions, b->positions, sizeof(float) * 2 * (size_t)a->units) == 0);
    CHECK(a->n_nb == b->n_nb && a->k == b->k && memcmp(a->neighborhoods, b->neighborhoods, sizeof(int32_t) * (size_t)(a->n_nb * a->k)) == 0);
    CHECK(memcmp(a->positions, d->positions, sizeof(float) * 2 * (size_t)a->units) != 0);
    sheet_layer_free(a);
    sheet_layer_free(b);
    sheet_layer_free(d);
}

TEST(sheet_window_wider_than_the_sheet_covers_it) {
    SheetConfig c = default_config();
    SheetLayer *L = sheet_build_layer(&c, 7, 64, 1, 1, 1); /* 1x1 map: hypercolumn = the whole sheet */
    CHECK_NEAR(L->hypercolumn_mm, 10.0, 1e-12);
    CHECK_EQ_INT(L->k, 64);
    CHECK_EQ_INT(L->n_nb, c.windows);
    sheet_layer_free(L);
}

TEST(sheet_artifact_round_trip) {
    SheetConfig c = default_config();
    SheetLayer *L = sheet_build_layer(&c, 3, 16, 8, 8, 2);
    L->swapped = 1;
    L->loss_before = 0.4;
    L->loss_after = 0.3;
    L->attempts = 1000;
    L->accepted = 10;
    snprintf(L->pair_rng, sizeof L->pair_rng, "replay");
    char *path = t_path("s.h5");
    H5Out *o = h5out_create(path, "sheet", SHEET_SCHEMA);
    sheet_write_layer(o->file, L);
    h5out_commit(o);
    Sheet *s = sheet_load(path, 1u << 3, SHEET_ALL);
    SheetLayer *R = s->layer[3];
    REQUIRE(R);
    CHECK_EQ_INT(R->units, L->units);
    CHECK_EQ_INT(R->dims[0], 16);
    CHECK(memcmp(R->positions, L->positions, sizeof(float) * 2 * (size_t)L->units) == 0);
    CHECK(R->n_nb == L->n_nb && R->k == L->k);
    CHECK(memcmp(R->neighborhoods, L->neighborhoods, sizeof(int32_t) * (size_t)(L->n_nb * L->k)) == 0);
    CHECK_NEAR(R->sheet_mm, 24.5, 0);
    CHECK_NEAR(R->analysis_scale, 1.5, 0);
    CHECK_NEAR(R->neighborhood_width_mm, L->neighborhood_width_mm, 0);
    CHECK(R->swapped && R->attempts == 1000 && R->accepted == 10);
    CHECK_NEAR(R->loss_after, 0.3, 0);
    CHECK_STR(R->pair_rng, "replay");
    CHECK(R->rule.windows == 20000 && R->rule.k_max == 500);
    sheet_free(s);
    EXPECT_DIE(EXIT_USAGE, sheet_load(path, 1u << 4, SHEET_ALL), "no layer layer3.0 in sheet");
    sheet_layer_free(L);
    free(path);
}
