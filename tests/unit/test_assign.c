/* test_assign.c: the assignment solver (common/assign.c) against exhaustive search on small random
 * cost matrices (square and rectangular), plus a hand-checked 3x3 case. */
#include <math.h>
#include <stdlib.h>

#include "assign.h"
#include "rng.h"
#include "test.h"

TEST(assign_hand_3x3) {
    /* rows: workers, cols: jobs; optimum 0->1 (1), 1->0 (2), 2->2 (2) = 5 */
    const double c[9] = {4, 1, 3, 2, 0, 5, 3, 2, 2};
    int r2c[3];
    double t = assign_solve(c, 3, 3, r2c);
    CHECK_NEAR(t, 5.0, 1e-12);
    CHECK_EQ_INT(r2c[0], 1);
    CHECK_EQ_INT(r2c[1], 0);
    CHECK_EQ_INT(r2c[2], 2);
}

TEST(assign_matches_brute_force) {
    Rng r;
    rng_init(&r, 7, rng_stream(RNG_PURPOSE_TEST, 1, 0, 0));
    int worst = 0;
    for (int trial = 0; trial < 400; trial++) {
        int rows = 1 + (int)rng_below(&r, 7), cols = 1 + (int)rng_below(&r, 7);
        double c[49];
        int integer = trial % 3 == 0; /* many ties */
        for (int i = 0; i < rows * cols; i++) c[i] = integer ? (double)rng_below(&r, 4) : rng_uniform_double(&r) * 10 - 3;
        int r2c[7];
        double got = assign_solve(c, rows, cols, r2c);
        double ref = assign_brute_force(c, rows, cols);
        /* the returned matching is a valid injection of min(rows, cols) pairs with that total */
        int used[7] = {0}, pairs = 0;
        double sum = 0;
        for (int i = 0; i < rows; i++)
            if (r2c[i] >= 0) { CHECK(!used[r2c[i]]); used[r2c[i]] = 1; pairs++; sum += c[i * cols + r2c[i]]; }
        CHECK_EQ_INT(pairs, rows < cols ? rows : cols);
        CHECK_NEAR(sum, got, 1e-9);
        if (fabs(got - ref) > 1e-9) { worst++; CHECK_NEAR(got, ref, 1e-9); }
    }
    CHECK_EQ_INT(worst, 0);
}

TEST(assign_empty_and_single) {
    int r2c[1] = {7};
    CHECK_NEAR(assign_solve(NULL, 0, 3, NULL), 0, 0);
    const double c[3] = {5, 2, 9};
    CHECK_NEAR(assign_solve(c, 1, 3, r2c), 2, 0);
    CHECK_EQ_INT(r2c[0], 1);
    int r2[3];
    CHECK_NEAR(assign_solve(c, 3, 1, r2), 2, 0); /* 3 rows, 1 column: only row 1 matched */
    CHECK_EQ_INT(r2[0], -1);
    CHECK_EQ_INT(r2[1], 0);
    CHECK_EQ_INT(r2[2], -1);
}
