/* assign.c: minimum-cost assignment by shortest augmenting paths with potentials (see assign.h).
 *
 * Internally 1-based arrays as in the classic formulation: u[0..n] row potentials, v[0..m] column
 * potentials, p[j] = row matched to column j (0 = free), way[j] = previous column on the path.
 * Works for n <= m; a problem with more rows than columns is transposed first.
 */
#include "assign.h"

#include <math.h>
#include <stdlib.h>

#include "error.h"

/* Solves n x m (n <= m) with cost accessor c(i, j) = a[(i)*stride_i + (j)*stride_j]. */
static double solve_wide(const double *a, int n, int m, long si, long sj, int *row_to_col) {
    double *u = xcalloc((size_t)n + 1, sizeof(double)), *v = xcalloc((size_t)m + 1, sizeof(double));
    double *minv = xmalloc(sizeof(double) * ((size_t)m + 1));
    int *p = xcalloc((size_t)m + 1, sizeof(int)), *way = xcalloc((size_t)m + 1, sizeof(int));
    char *used = xmalloc((size_t)m + 1);
    for (int i = 1; i <= n; i++) {
        p[0] = i;
        int j0 = 0;
        for (int j = 0; j <= m; j++) { minv[j] = INFINITY; used[j] = 0; }
        do {
            used[j0] = 1;
            int i0 = p[j0], j1 = 0;
            double delta = INFINITY;
            for (int j = 1; j <= m; j++) {
                if (used[j]) continue;
                double cur = a[(long)(i0 - 1) * si + (long)(j - 1) * sj] - u[i0] - v[j];
                if (cur < minv[j]) { minv[j] = cur; way[j] = j0; }
                if (minv[j] < delta) { delta = minv[j]; j1 = j; }
            }
            for (int j = 0; j <= m; j++) {
                if (used[j]) { u[p[j]] += delta; v[j] -= delta; }
                else minv[j] -= delta;
            }
            j0 = j1;
        } while (p[j0] != 0);
        do { /* augment along the path */
            int j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
    double total = 0;
    for (int i = 0; i < n; i++) row_to_col[i] = -1;
    for (int j = 1; j <= m; j++)
        if (p[j]) { row_to_col[p[j] - 1] = j - 1; total += a[(long)(p[j] - 1) * si + (long)(j - 1) * sj]; }
    free(u); free(v); free(minv); free(p); free(way); free(used);
    return total;
}

double assign_solve(const double *cost, int rows, int cols, int *row_to_col) {
    for (long k = 0; k < (long)rows * cols; k++)
        if (!isfinite(cost[k])) die(EXIT_RUNTIME, "internal: non-finite cost in assignment at %ld", k);
    if (rows == 0 || cols == 0) {
        for (int i = 0; row_to_col && i < rows; i++) row_to_col[i] = -1;
        return 0;
    }
    if (rows <= cols) {
        int *r2c = row_to_col ? row_to_col : xmalloc(sizeof(int) * (size_t)rows);
        double t = solve_wide(cost, rows, cols, cols, 1, r2c);
        if (!row_to_col) free(r2c);
        return t;
    }
    /* transpose: columns become rows */
    int *c2r = xmalloc(sizeof(int) * (size_t)cols);
    double t = solve_wide(cost, cols, rows, 1, cols, c2r);
    if (row_to_col) {
        for (int i = 0; i < rows; i++) row_to_col[i] = -1;
        for (int j = 0; j < cols; j++) if (c2r[j] >= 0) row_to_col[c2r[j]] = j;
    }
    free(c2r);
    return t;
}

/* ---- brute force (tests) ---------------------------------------------------------------------- */
static void bf_rec(const double *c, int rows, int cols, int i, unsigned used, double acc, double *best) {
    if (i == rows) { if (acc < *best) *best = acc; return; } /* no pruning: costs may be negative */
    for (int j = 0; j < cols; j++)
        if (!(used & (1u << j))) bf_rec(c, rows, cols, i + 1, used | (1u << j), acc + c[(long)i * cols + j], best);
}

double assign_brute_force(const double *cost, int rows, int cols) {
    if (rows > 9 || cols > 9) die(EXIT_RUNTIME, "internal: brute-force assignment limited to 9x9");
    if (rows == 0 || cols == 0) return 0;
    if (rows > cols) { /* transpose so that every row is matched */
        double *t = xmalloc(sizeof(double) * (size_t)rows * (size_t)cols);
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) t[(long)j * rows + i] = cost[(long)i * cols + j];
        double r = assign_brute_force(t, cols, rows);
        free(t);
        return r;
    }
    double best = INFINITY;
    bf_rec(cost, rows, cols, 0, 0, 0, &best);
    return best;
}
