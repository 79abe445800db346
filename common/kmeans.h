/* kmeans.h: k-means clustering (Lloyd's algorithm, k-means++ seeding, best of n_init runs), as
 * scikit-learn's KMeans(n_clusters=k, n_init=10) that the wiring-length analysis uses
 * (tdann-algorithm.md §6.3).
 *
 * Conventions: points x are row-major double [n][d]; centroids [k][d]; labels [n] in 0..k-1.
 * Inertia = sum over points of the squared Euclidean distance to the assigned centroid.
 * Seeding: the first centre uniformly at random, each next one with probability proportional to
 * D^2 (distance squared to the nearest chosen centre); when every D^2 is 0 (fewer distinct points
 * than k) uniformly. Lloyd iterations stop when labels no longer change, after max_iter, or when
 * the total squared centre shift is <= tol * (mean per-dimension variance of x) (sklearn's rule).
 * An empty cluster is moved to the point farthest from its centre. Random numbers: Philox stream
 * (seed, stream), run r uses words from position r * 2^32 (plus k * 2^40 in kmeans_smallest_k),
 * so results do not depend on threads.
 * k must satisfy 1 <= k <= n.
 */
#ifndef TDANN_KMEANS_H
#define TDANN_KMEANS_H

#include <stdint.h>

/* Returns the best inertia over n_init runs; writes that run's centroids and labels (either may
 * be NULL). */
double kmeans_fit(const double *x, int n, int d, int k, int n_init, int max_iter, double tol,
                  uint64_t seed, uint64_t stream, double *centroids, int *labels);

/* The smallest k in 1..max_k (capped at n) whose best inertia is <= limit; writes its centroids
 * (room for max_k * d) and returns k (max_k, or n, when no k reaches the limit). */
int kmeans_smallest_k(const double *x, int n, int d, int max_k, double limit, int n_init, int max_iter,
                      double tol, uint64_t seed, uint64_t stream, double *centroids);

#endif
