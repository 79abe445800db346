/* test_swapopt.c: SwapOpt on synthetic responses with a known ideal layout.
 *
 * The synthetic problem: slots = a retinotopic layer (16 x 8 x 8 units on a 10 mm sheet); a hidden
 * permutation puts unit u's ideal place at slot pi(u); responses vary smoothly over the hidden map
 * (sums of rectified plane waves with random phases per image), so units that are hidden neighbours
 * correlate. The sheet starts in the identity assignment, i.e. shuffled w.r.t. the hidden map.
 * Checks: exact decision arithmetic, never accepting an increase, lowering the loss, pulling hidden
 * neighbours together, thread-count independence, level schedule == one-by-one order, the
 * official quirks (dead pairs, replayed pair sequences), correlations vs double precision.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "sheet.h"
#include "swapopt.h"
#include "test.h"

typedef struct {
    int64_t U;
    int N;
    float *z, *xy;
    uint8_t *dead;
    int32_t *hidden; /* [U] ideal slot of each unit */
    double width;
    SwapoptProblem p;
} Synth;

/* ndead: units 0..ndead-1 get constant responses. */
static Synth *synth_new(int C, int n, int N, int ndead, uint64_t seed) {
    Synth *s = calloc(1, sizeof *s);
    s->U = (int64_t)C * n * n;
    s->N = N;
    s->xy = malloc(sizeof(float) * 2 * (size_t)s->U);
    sheet_positions_retinotopic(s->xy, C, n, n, 10.0, 0.4, 0.3, seed, 5);
    s->width = sheet_hypercolumn_mm(10.0, n, 0.4);
    s->hidden = malloc(sizeof(int32_t) * (size_t)s->U);
    for (int64_t u = 0; u < s->U; u++) s->hidden[u] = (int32_t)u;
    Rng r;
    rng_init(&r, seed, rng_stream(RNG_PURPOSE_TEST, 1, 0, 0));
    rng_shuffle_i32(&r, s->hidden, s->U);
    enum { F = 8 };
    double kx[F], ky[F];
    for (int f = 0; f < F; f++) {
        double ang = 6.283185307 * rng_uniform_double(&r), k = 0.10 + 0.1 * rng_uniform_double(&r); /* cycles/mm */
        kx[f] = k * cos(ang);
        ky[f] = k * sin(ang);
    }
    double *ph = malloc(sizeof(double) * (size_t)N * F);
    for (int i = 0; i < N * F; i++) ph[i] = 6.283185307 * rng_uniform_double(&r);
    s->z = malloc(sizeof(float) * (size_t)s->U * N);
    for (int64_t u = 0; u < s->U; u++) {
        double hx = s->xy[2 * (int64_t)s->hidden[u]], hy = s->xy[2 * (int64_t)s->hidden[u] + 1];
        for (int im = 0; im < N; im++) {
            double a = 0;
            for (int f = 0; f < F; f++) a += cos(6.283185307 * (kx[f] * hx + ky[f] * hy) + ph[im * F + f]);
            a = a > 0 ? a : 0;
            s->z[u * N + im] = u < ndead ? 0.5f : (float)(a + 0.05 * rng_normal(&r));
        }
    }
    free(ph);
    s->dead = malloc((size_t)s->U);
    swapopt_standardize(s->z, s->U, N, s->dead);
    s->p = (SwapoptProblem){.layer = 5, .units = s->U, .n_images = N, .z = s->z, .dead = s->dead, .slot_xy = s->xy,
                            .width = s->width, .seed = seed};
    return s;
}

static void synth_free(Synth *s) {
    free(s->z);
    free(s->xy);
    free(s->dead);
    free(s->hidden);
    free(s);
}

static SwapoptConfig cfg(int64_t attempts) {
    SwapoptConfig c = {.attempts = attempts, .attempts_per_window = 500, .max_units = 500, .min_units = 5,
                       .pair_rng = SWAPOPT_PAIRS_PER_WINDOW, .eval_windows = 100, .layers = "all"};
    return c;
}

static void identity(int64_t U, int32_t *a, int32_t *b) {
    for (int64_t u = 0; u < U; u++) a[u] = b[u] = (int32_t)u;
}

/* Mean hidden-map distance between the units in each slot and its sheet-nearest slot. */
/* A run on the identity assignment: its plan, assignment arrays and (optionally) the per-attempt trace. */
typedef struct {
    SwapoptPlan *plan;
    int32_t *slot_of, *unit_at;
    SwapoptTraceEntry *tr; /* plan->n x attempts_per_window entries, or NULL */
    SwapoptStats st;
} Run;

static void run_init(Run *r, const Synth *s, const SwapoptConfig *c, int trace) {
    r->plan = swapopt_plan(&s->p, c);
    r->slot_of = malloc(sizeof(int32_t) * (size_t)s->U);
    r->unit_at = malloc(sizeof(int32_t) * (size_t)s->U);
    identity(s->U, r->slot_of, r->unit_at);
    r->tr = trace ? calloc((size_t)r->plan->n * (size_t)c->attempts_per_window, sizeof *r->tr) : NULL;
}

static void run_go(Run *r, const Synth *s, const SwapoptConfig *c) {
    swapopt_run_cpu(&s->p, c, r->plan, r->slot_of, r->unit_at, &r->st, r->tr);
}

static void run_free(Run *r) {
    free(r->tr);
    free(r->slot_of);
    free(r->unit_at);
    swapopt_plan_free(r->plan);
}

static double sheet_neighbour_hidden_distance(const Synth *s, const int32_t *slot_of) {
    int32_t *unit_at = malloc(sizeof(int32_t) * (size_t)s->U);
    for (int64_t u = 0; u < s->U; u++) unit_at[slot_of[u]] = (int32_t)u;
    double tot = 0;
    for (int64_t a = 0; a < s->U; a++) {
        double best = INFINITY;
        int64_t bb = -1;
        for (int64_t b = 0; b < s->U; b++) {
            if (a == b) continue;
            double dx = s->xy[2 * a] - s->xy[2 * b], dy = s->xy[2 * a + 1] - s->xy[2 * b + 1], d = dx * dx + dy * dy;
            if (d < best) { best = d; bb = b; }
        }
        const float *hu = s->xy + 2 * (int64_t)s->hidden[unit_at[a]], *hv = s->xy + 2 * (int64_t)s->hidden[unit_at[bb]];
        tot += sqrt((hu[0] - hv[0]) * (hu[0] - hv[0]) + (hu[1] - hv[1]) * (hu[1] - hv[1]));
    }
    free(unit_at);
    return tot / (double)s->U;
}

/* Mean sheet distance between each unit and its hidden nearest neighbour. */
static double hidden_neighbour_distance(const Synth *s, const int32_t *slot_of) {
    double tot = 0;
    for (int64_t u = 0; u < s->U; u++) {
        const float *hu = s->xy + 2 * (int64_t)s->hidden[u];
        double best = INFINITY;
        int64_t bv = -1;
        for (int64_t v = 0; v < s->U; v++) {
            if (v == u) continue;
            const float *hv = s->xy + 2 * (int64_t)s->hidden[v];
            double d = (hu[0] - hv[0]) * (hu[0] - hv[0]) + (hu[1] - hv[1]) * (hu[1] - hv[1]);
            if (d < best) { best = d; bv = v; }
        }
        const float *pu = s->xy + 2 * (int64_t)slot_of[u], *pv = s->xy + 2 * (int64_t)slot_of[bv];
        tot += sqrt((pu[0] - pv[0]) * (pu[0] - pv[0]) + (pu[1] - pv[1]) * (pu[1] - pv[1]));
    }
    return tot / (double)s->U;
}

TEST(swapopt_delta_exact_and_matches_scalar_terms) {
    /* the (possibly SIMD) decision sum equals the scalar sum of swapopt_term, bit for bit */
    Rng r;
    rng_init(&r, 3, rng_stream(RNG_PURPOSE_TEST, 2, 0, 0));
    int ms[] = {2, 5, 16, 17, 100, 500};
    for (int t = 0; t < 6; t++) {
        int m = ms[t];
        float ci[500], cj[500], x[500], y[500];
        for (int k = 0; k < m; k++) {
            ci[k] = 2 * rng_uniform(&r) - 1;
            cj[k] = 2 * rng_uniform(&r) - 1;
            x[k] = 10 * rng_uniform(&r);
            y[k] = 10 * rng_uniform(&r);
        }
        for (int rep = 0; rep < 20; rep++) {
            int i = (int)rng_below(&r, (uint32_t)m), j = (int)rng_below(&r, (uint32_t)m - 1);
            if (j >= i) j++;
            int64_t ref = 0;
            for (int k = 0; k < m; k++)
                if (k != i && k != j) ref += swapopt_term(ci[k], cj[k], x[i], y[i], x[j], y[j], x[k], y[k]);
            CHECK_EQ_INT(swapopt_delta(ci, cj, x, y, m, i, j), ref);
        }
    }
}

TEST(swapopt_pairs_distinct_uniform_and_replayed) {
    uint32_t m = 7;
    int count[7][7] = {{0}};
    uint64_t st = swapopt_pair_stream(3, 11, SWAPOPT_PAIRS_PER_WINDOW);
    for (int t = 0; t < 42000; t++) {
        uint32_t i, j;
        swapopt_pair(5, st, (uint64_t)t, m, &i, &j);
        REQUIRE(i < m && j < m && i != j);
        count[i][j]++;
    }
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < 7; j++)
            if (i != j) CHECK_MSG(count[i][j] > 800 && count[i][j] < 1200, "pair (%d,%d) drawn %d times of ~1000", i, j, count[i][j]);
    CHECK(swapopt_pair_stream(3, 1, SWAPOPT_PAIRS_REPLAY) == swapopt_pair_stream(3, 99, SWAPOPT_PAIRS_REPLAY));
    CHECK(swapopt_pair_stream(3, 1, SWAPOPT_PAIRS_PER_WINDOW) != swapopt_pair_stream(3, 99, SWAPOPT_PAIRS_PER_WINDOW));
}

TEST(swapopt_corr_block_matches_double_pearson) {
    Synth *s = synth_new(16, 8, 40, 3, 1);
    int32_t units[70];
    for (int k = 0; k < 70; k++) units[k] = (int32_t)((k * 13) % s->U);
    units[5] = 0; /* a dead unit */
    float *C = malloc(sizeof(float) * 72 * 96);
    swapopt_corr_block(&s->p, units, 70, C, 96, 1);
    float *C2 = malloc(sizeof(float) * 72 * 96);
    swapopt_corr_block(&s->p, units, 70, C2, 96, 2);
    double maxerr = 0;
    int same = 1;
    for (int a = 0; a < 70; a++)
        for (int b = 0; b < 70; b++) {
            same &= memcmp(&C[a * 96 + b], &C2[a * 96 + b], sizeof(float)) == 0;
            double ref;
            if (s->dead[units[a]] || s->dead[units[b]]) ref = 0; /* NaN -> 0 */
            else if (a == b) ref = 1;
            else {
                const float *za = s->z + (int64_t)units[a] * s->N, *zb = s->z + (int64_t)units[b] * s->N;
                double sab = 0, saa = 0, sbb = 0;
                for (int n = 0; n < s->N; n++) { sab += (double)za[n] * zb[n]; saa += (double)za[n] * za[n]; sbb += (double)zb[n] * zb[n]; }
                ref = sab / sqrt(saa * sbb);
            }
            double e = fabs(C[a * 96 + b] - ref);
            if (e > maxerr) maxerr = e;
            CHECK(C[a * 96 + b] == C[b * 96 + a]);
        }
    CHECK_MSG(maxerr < 2e-6, "max |corr - double pearson| = %g (tolerance 2e-6: fp32 sums of 40 products)", maxerr);
    CHECK_MSG(same, "correlation block differs between 1 and 2 threads");
    free(C);
    free(C2);
    synth_free(s);
}

TEST(swapopt_never_accepts_an_increase) {
    Synth *s = synth_new(16, 8, 48, 0, 2);
    SwapoptConfig c = cfg(60 * 500);
    Run run;
    run_init(&run, s, &c, 1);
    run_go(&run, s, &c);
    const SwapoptTraceEntry *tr = run.tr;
    int64_t acc = 0, checked = 0, bad = 0;
    for (int64_t e = 0; e < run.plan->n * 500; e++) {
        if (tr[e].unit_i == tr[e].unit_j) continue; /* skipped window (zeroed entries) */
        checked++;
        acc += tr[e].accepted;
        double lb = tr[e].loss_before, la = tr[e].loss_after;
        REQUIRE(!isnan(lb) && !isnan(la) && !tr[e].nan_case);
        if (tr[e].accepted && !(la < lb + 1e-12)) bad++;          /* accepted: the loss went down */
        if (!tr[e].accepted && la < lb - 1e-9) bad++;             /* rejected: it would not have */
        if ((tr[e].delta > 0) != (tr[e].accepted != 0)) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(acc, run.st.accepted);
    CHECK(checked == run.st.attempts);
    CHECK_MSG(acc > 100, "only %lld of %lld attempts accepted", (long long)acc, (long long)checked);
    /* the final assignment is a permutation consistent with unit_at */
    int ok = 1;
    for (int64_t u = 0; u < s->U; u++) ok &= run.unit_at[run.slot_of[u]] == u;
    CHECK(ok);
    run_free(&run);
    synth_free(s);
}

TEST(swapopt_lowers_loss_and_pulls_hidden_neighbours_together) {
    Synth *s = synth_new(16, 8, 48, 0, 3);
    SwapoptConfig c = cfg(1000 * 500);
    Run run;
    run_init(&run, s, &c, 0);
    const int32_t *slot_of = run.slot_of;
    double l0 = swapopt_eval_loss(&s->p, &c, slot_of), d0 = hidden_neighbour_distance(s, slot_of);
    double e0 = sheet_neighbour_hidden_distance(s, slot_of);
    run_go(&run, s, &c);
    const SwapoptStats st = run.st;
    double l1 = swapopt_eval_loss(&s->p, &c, slot_of), d1 = hidden_neighbour_distance(s, slot_of);
    double e1 = sheet_neighbour_hidden_distance(s, slot_of);
    printf("  loss %.4f -> %.4f; sheet neighbours' hidden distance %.3f -> %.3f mm; hidden nearest neighbours' sheet "
           "distance %.3f -> %.3f mm; %lld accepted, %lld levels\n", l0, l1, e0, e1, d0, d1, (long long)st.accepted,
           (long long)st.levels);
    CHECK_MSG(l1 < l0 - 0.1, "loss %.4f -> %.4f: expected a drop of at least 0.1", l0, l1);
    /* Windows are ~2 mm wide on a 10 mm sheet, so SwapOpt orders the map locally (patches of units
     * that are close on the hidden map), not globally: sheet neighbours become hidden neighbours
     * (about halves here); a unit's single hidden nearest neighbour comes only a little closer. */
    CHECK_MSG(e1 < 0.7 * e0, "sheet neighbours' hidden distance %.3f -> %.3f mm: expected at least 30%% closer", e0, e1);
    CHECK_MSG(d1 < 0.97 * d0, "hidden nearest neighbours %.3f -> %.3f mm: expected them closer", d0, d1);
    run_free(&run);
    synth_free(s);
}

/* Runs with a given thread count (0: one level per window, i.e. strictly one window after another). */
static void run_with(Synth *s, const SwapoptConfig *c, int threads, int32_t *slot_of, SwapoptStats *st) {
    SwapoptPlan *plan = swapopt_plan(&s->p, c);
    if (threads == 0) { /* sequential schedule: window w alone in level w */
        free(plan->level_start);
        plan->nlevels = plan->n;
        plan->level_start = malloc(sizeof(int64_t) * (size_t)(plan->n + 1));
        for (int64_t w = 0; w <= plan->n; w++) plan->level_start[w] = w;
        for (int64_t w = 0; w < plan->n; w++) plan->order[w] = (int32_t)w;
    }
    int32_t *unit_at = malloc(sizeof(int32_t) * (size_t)s->U);
    identity(s->U, slot_of, unit_at);
    int old = omp_get_max_threads();
    omp_set_num_threads(threads ? threads : 2);
    swapopt_run_cpu(&s->p, c, plan, slot_of, unit_at, st, NULL);
    omp_set_num_threads(old);
    free(unit_at);
    swapopt_plan_free(plan);
}

TEST(swapopt_same_result_for_any_thread_count_and_schedule) {
    Synth *s = synth_new(16, 8, 32, 4, 4);
    SwapoptConfig c = cfg(300 * 500);
    int32_t *a = malloc(sizeof(int32_t) * (size_t)s->U), *b = malloc(sizeof(int32_t) * (size_t)s->U),
            *q = malloc(sizeof(int32_t) * (size_t)s->U);
    SwapoptStats sa, sb, sq;
    run_with(s, &c, 1, a, &sa);
    run_with(s, &c, 2, b, &sb);
    run_with(s, &c, 0, q, &sq);
    CHECK(memcmp(a, b, sizeof(int32_t) * (size_t)s->U) == 0);
    CHECK(memcmp(a, q, sizeof(int32_t) * (size_t)s->U) == 0);
    CHECK_EQ_INT(sa.accepted, sb.accepted);
    CHECK_EQ_INT(sa.accepted, sq.accepted);
    CHECK_MSG(sa.levels < sa.windows, "expected parallel levels (%lld levels for %lld windows)", (long long)sa.levels,
              (long long)sa.windows);
    /* a different seed gives a different result */
    s->p.seed = 99;
    run_with(s, &c, 2, q, &sq);
    CHECK(memcmp(a, q, sizeof(int32_t) * (size_t)s->U) != 0);
    free(a);
    free(b);
    free(q);
    synth_free(s);
}

TEST(swapopt_dead_pairs_are_kept_as_the_official_nan_comparison) {
    /* 60 of 1024 units are dead: pairs of two dead units have an undefined loss (NaN), and the
     * official `NaN >= NaN` test keeps the swap */
    Synth *s = synth_new(16, 8, 32, 60, 5);
    SwapoptConfig c = cfg(200 * 500);
    Run run;
    run_init(&run, s, &c, 1);
    run_go(&run, s, &c);
    const SwapoptTraceEntry *tr = run.tr;
    int64_t nan_cases = 0, bad = 0;
    for (int64_t e = 0; e < run.plan->n * 500; e++) {
        if (tr[e].unit_i == tr[e].unit_j) continue;
        int both_dead = tr[e].unit_i < 60 && tr[e].unit_j < 60;
        if (both_dead != tr[e].nan_case) bad++;
        if (tr[e].nan_case) {
            nan_cases++;
            if (!tr[e].accepted || !isnan(tr[e].loss_before)) bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(nan_cases > 0);
    CHECK_EQ_INT(nan_cases, run.st.accepted_nan);
    run_free(&run);
    synth_free(s);
}

TEST(swapopt_replay_mode_differs_and_is_deterministic) {
    Synth *s = synth_new(16, 8, 32, 0, 6);
    SwapoptConfig c = cfg(100 * 500);
    int32_t *a = malloc(sizeof(int32_t) * (size_t)s->U), *b = malloc(sizeof(int32_t) * (size_t)s->U),
            *q = malloc(sizeof(int32_t) * (size_t)s->U);
    SwapoptStats sa, sb, sq;
    c.pair_rng = SWAPOPT_PAIRS_REPLAY;
    run_with(s, &c, 1, a, &sa);
    run_with(s, &c, 2, b, &sb);
    c.pair_rng = SWAPOPT_PAIRS_PER_WINDOW;
    run_with(s, &c, 2, q, &sq);
    CHECK(memcmp(a, b, sizeof(int32_t) * (size_t)s->U) == 0);
    CHECK(memcmp(a, q, sizeof(int32_t) * (size_t)s->U) != 0);
    free(a);
    free(b);
    free(q);
    synth_free(s);
}

TEST(swapopt_window_units_inside_sorted_and_subsampled) {
    Synth *s = synth_new(16, 8, 8, 0, 7);
    SwapoptConfig c = cfg(50 * 500);
    c.max_units = 30; /* windows hold ~38 units on average: many are subsampled */
    SwapoptPlan *plan = swapopt_plan(&s->p, &c);
    int32_t *slot_of = malloc(sizeof(int32_t) * (size_t)s->U), *unit_at = malloc(sizeof(int32_t) * (size_t)s->U);
    identity(s->U, slot_of, unit_at);
    Rng r; /* a shuffled assignment, so unit and slot order differ */
    rng_init(&r, 1, rng_stream(RNG_PURPOSE_TEST, 3, 0, 0));
    rng_shuffle_i32(&r, unit_at, s->U);
    for (int64_t k = 0; k < s->U; k++) slot_of[unit_at[k]] = (int32_t)k;
    SheetGrid *g = sheet_grid_build(s->xy, s->U, s->width / 4);
    SwapoptWindowScratch *sc = swapopt_scratch_new(&s->p, g);
    int32_t *units = malloc(sizeof(int32_t) * (size_t)s->U), *slots = malloc(sizeof(int32_t) * (size_t)s->U);
    int subsampled = 0, full = 0;
    for (int64_t w = 0; w < plan->n; w++) {
        int m = swapopt_window_units(&s->p, &c, plan, w, slot_of, unit_at, sc, units, slots);
        int64_t inside = 0; /* brute force */
        for (int64_t u = 0; u < s->U; u++) {
            double x = s->xy[2 * (int64_t)slot_of[u]], y = s->xy[2 * (int64_t)slot_of[u] + 1];
            inside += x >= plan->x0[w] && x <= plan->x0[w] + s->width && y >= plan->y0[w] && y <= plan->y0[w] + s->width;
        }
        if (inside < c.min_units) { CHECK_EQ_INT(m, 0); continue; }
        CHECK_EQ_INT(m, inside >= c.max_units ? c.max_units : inside);
        for (int k = 0; k < m; k++) {
            double x = s->xy[2 * (int64_t)slots[k]], y = s->xy[2 * (int64_t)slots[k] + 1];
            CHECK(slots[k] == slot_of[units[k]]);
            CHECK(x >= plan->x0[w] && x <= plan->x0[w] + s->width && y >= plan->y0[w] && y <= plan->y0[w] + s->width);
            for (int l = 0; l < k; l++) CHECK(units[l] != units[k]);
            if (inside < c.max_units && k) CHECK(units[k - 1] < units[k]); /* ascending unit index */
        }
        if (inside >= c.max_units) subsampled++; else full++;
    }
    CHECK(subsampled > 0 && full > 0);
    swapopt_scratch_free(sc);
    sheet_grid_free(g);
    free(units);
    free(slots);
    free(slot_of);
    free(unit_at);
    swapopt_plan_free(plan);
    synth_free(s);
}

TEST(swapopt_eval_loss_matches_naive_formula) {
    Synth *s = synth_new(16, 8, 24, 0, 8);
    SwapoptConfig c = cfg(500);
    c.eval_windows = 1;
    int32_t *slot_of = malloc(sizeof(int32_t) * (size_t)s->U), *unit_at = malloc(sizeof(int32_t) * (size_t)s->U);
    identity(s->U, slot_of, unit_at);
    double got = swapopt_eval_loss(&s->p, &c, slot_of);
    /* the single eval window: same centre draw as the implementation */
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    for (int64_t u = 0; u < s->U; u++)
        for (int a = 0; a < 2; a++) { double v = s->xy[2 * u + a]; lo[a] = v < lo[a] ? v : lo[a]; hi[a] = v > hi[a] ? v : hi[a]; }
    Rng rc;
    rng_init(&rc, s->p.seed, rng_stream(RNG_PURPOSE_SWAPOPT, (uint32_t)s->p.layer, 0, 4));
    double r = s->width / 2, cx = lo[0] + r + (hi[0] - lo[0] - s->width) * rng_uniform_double(&rc);
    double cy = lo[1] + r + (hi[1] - lo[1] - s->width) * rng_uniform_double(&rc);
    int64_t in[1024], m = 0;
    for (int64_t u = 0; u < s->U; u++)
        if (s->xy[2 * u] >= cx - r && s->xy[2 * u] <= cx + r && s->xy[2 * u + 1] >= cy - r && s->xy[2 * u + 1] <= cy + r) in[m++] = u;
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, np_ = 0;
    for (int64_t a = 0; a < m; a++)
        for (int64_t b = 0; b < a; b++) {
            const float *za = s->z + in[a] * s->N, *zb = s->z + in[b] * s->N;
            double v = 0;
            for (int n = 0; n < s->N; n++) v += (double)za[n] * zb[n];
            double dx = s->xy[2 * in[a]] - s->xy[2 * in[b]], dy = s->xy[2 * in[a] + 1] - s->xy[2 * in[b] + 1];
            double f = 1 / (sqrt(dx * dx + dy * dy) + 1);
            sx += v; sy += f; sxx += v * v; syy += f * f; sxy += v * f; np_++;
        }
    double rr = (sxy - sx * sy / np_) / sqrt((sxx - sx * sx / np_) * (syy - sy * sy / np_));
    REQUIRE(m >= 5);
    CHECK_NEAR(got, (1 - rr) / 2, 1e-5);
    free(slot_of);
    free(unit_at);
    synth_free(s);
}
