/* ntxent_cpu.c: CPU reference of ntxent.h, in double, OpenMP over rows.
 * With s_ij = z_i.z_j / T and p_ij = softmax_{j != i}(s_i.), dloss/ds_ij = (p_ij - [j = pos(i)]) / N,
 * dloss/dz_i = sum_j (G_ij + G_ji) z_j / T, and through the normalisation
 * dh_i = (dz_i - z_i (z_i.dz_i)) / max(||h_i||, eps) (only the first term when ||h_i|| < eps). */
#include "ntxent.h"

#include <math.h>
#include <stdlib.h>

#include "error.h"

#define NORM_EPS 1e-12

double ntxent_cpu(const float *h, int N, int nr, int D, float temperature, float *dh) {
    if (nr < 2 || nr % 2 || N % nr || D < 1 || !(temperature > 0))
        die(EXIT_RUNTIME, "internal: NT-Xent of %d rows in blocks of %d (dim %d, T %g)", N, nr, D, (double)temperature);
    const double invT = 1.0 / temperature;
    double *z = xmalloc(sizeof(double) * (size_t)N * D), *nrm = xmalloc(sizeof(double) * (size_t)N);
    double *G = dh ? xmalloc(sizeof(double) * (size_t)N * N) : NULL;
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int d = 0; d < D; d++) s += (double)h[(size_t)i * D + d] * h[(size_t)i * D + d];
        nrm[i] = sqrt(s);
        double den = nrm[i] > NORM_EPS ? nrm[i] : NORM_EPS;
        for (int d = 0; d < D; d++) z[(size_t)i * D + d] = h[(size_t)i * D + d] / den;
    }
    double loss = 0;
#pragma omp parallel
    {
        double *s = xmalloc(sizeof(double) * (size_t)N);
#pragma omp for schedule(static) reduction(+ : loss)
        for (int i = 0; i < N; i++) {
            int blk = i / nr * nr, pos = blk + (i - blk + nr / 2) % nr;
            const double *zi = z + (size_t)i * D;
            double mx = -INFINITY;
            for (int j = 0; j < N; j++) {
                if (j == i) continue;
                const double *zj = z + (size_t)j * D;
                double dot = 0;
                for (int d = 0; d < D; d++) dot += zi[d] * zj[d];
                s[j] = dot * invT;
                if (s[j] > mx) mx = s[j];
            }
            double se = 0;
            for (int j = 0; j < N; j++) if (j != i) se += exp(s[j] - mx);
            double lse = mx + log(se);
            loss += lse - s[pos];
            if (G) {
                double *g = G + (size_t)i * N;
                for (int j = 0; j < N; j++) g[j] = j == i ? 0.0 : (exp(s[j] - lse) - (j == pos)) / N;
            }
        }
        free(s);
    }
    if (dh) {
#pragma omp parallel
        {
            double *dz = xmalloc(sizeof(double) * (size_t)D);
#pragma omp for schedule(static)
            for (int i = 0; i < N; i++) {
                for (int d = 0; d < D; d++) dz[d] = 0;
                for (int j = 0; j < N; j++) {
                    double c = (G[(size_t)i * N + j] + G[(size_t)j * N + i]) * invT;
                    if (c == 0) continue;
                    const double *zj = z + (size_t)j * D;
                    for (int d = 0; d < D; d++) dz[d] += c * zj[d];
                }
                const double *zi = z + (size_t)i * D;
                float *out = dh + (size_t)i * D;
                if (nrm[i] > NORM_EPS) {
                    double p = 0;
                    for (int d = 0; d < D; d++) p += zi[d] * dz[d];
                    for (int d = 0; d < D; d++) out[d] = (float)((dz[d] - zi[d] * p) / nrm[i]);
                } else {
                    for (int d = 0; d < D; d++) out[d] = (float)(dz[d] / NORM_EPS);
                }
            }
            free(dz);
        }
    }
    free(z);
    free(nrm);
    free(G);
    return loss / N;
}
