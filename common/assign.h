/* assign.h: minimum-cost assignment (linear sum assignment), the matching step of the wiring-length
 * analysis (tdann-algorithm.md §6.3; the official code calls scipy's linear_sum_assignment).
 *
 * Algorithm: shortest augmenting paths with dual potentials (the Jonker-Volgenant / Hungarian
 * family, O(r^2 c) for r <= c): rows are added one at a time and each is routed to a free column
 * along a Dijkstra-like shortest path of reduced costs. Rectangular problems are solved on the
 * orientation with fewer rows, so exactly min(rows, cols) pairs are matched, as scipy does.
 *
 * Conventions: cost is row-major double [rows][cols], every entry finite (non-finite -> die
 * EXIT_RUNTIME: that is a caller bug). row_to_col[i] receives the column matched to row i or -1.
 */
#ifndef TDANN_ASSIGN_H
#define TDANN_ASSIGN_H

/* Returns the total cost of the optimal matching. rows, cols >= 0; row_to_col may be NULL. */
double assign_solve(const double *cost, int rows, int cols, int *row_to_col);

/* Reference by exhaustive search over all injections (tests only; rows, cols <= 9). */
double assign_brute_force(const double *cost, int rows, int cols);

#endif
