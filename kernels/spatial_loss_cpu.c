/* spatial_loss_cpu.c: CPU reference of spatial_loss.h, in double (OpenBLAS dgemm for the k x k
 * correlation and its gradient).
 *
 * Forward: Xc = X - column means; sigma_a = ||Xc_a|| (sqrt(n-1) for a zero-variance column, i.e.
 * std 1); Y = Xc / sigma; R = Y^T Y (= corrcoef), clamped; pairs a > b.
 * Backward: g_p = dSL/dR_p (times the clamp mask); S = symmetric k x k with S_ab = S_ba = g_p and a
 * zero diagonal; dY = Y S; dXc_a = (dY_a - Y_a (Y_a.dY_a)) / sigma_a (dY_a / sigma_a for a
 * zero-variance column); dX_a = dXc_a - mean(dXc_a).
 */
#include "spatial_loss.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "cpu_util.h"
#include "error.h"

double spatial_loss_cpu(int kind, const float *x, int n, long row_stride, const int32_t *units, int k,
                        const float *coords, float *dx, float scale) {
    if (n < 2 || k < 2 || (kind != SPATIAL_REL && kind != SPATIAL_ABS))
        die(EXIT_RUNTIME, "internal: spatial loss of kind %d on %d rows x %d units", kind, n, k);
    kcpu_init();
    const size_t P = (size_t)k * (k - 1) / 2;
    double *Y = xmalloc(sizeof(double) * (size_t)n * k);
    double *sig = xmalloc(sizeof(double) * (size_t)k);
    unsigned char *zero = xmalloc((size_t)k);
    double *R = xmalloc(sizeof(double) * (size_t)k * k);
    double *Rv = xmalloc(sizeof(double) * P), *Dv = xmalloc(sizeof(double) * P);
#pragma omp parallel for schedule(static)
    for (int a = 0; a < k; a++) {
        double m = 0;
        for (int i = 0; i < n; i++) m += x[i * row_stride + units[a]];
        m /= n;
        double ss = 0;
        for (int i = 0; i < n; i++) {
            double v = x[i * row_stride + units[a]] - m;
            Y[(size_t)i * k + a] = v;
            ss += v * v;
        }
        zero[a] = ss == 0;
        sig[a] = zero[a] ? sqrt((double)(n - 1)) : sqrt(ss);
        for (int i = 0; i < n; i++) Y[(size_t)i * k + a] /= sig[a];
    }
    /* R = Y^T Y, rows of R split over the threads (BLAS is single-threaded, cpu_util.h) */
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int a0 = (int)((long)k * t / nt), a1 = (int)((long)k * (t + 1) / nt);
        if (a1 > a0) cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, a1 - a0, k, n, 1.0, Y + a0, k, Y, k, 0.0, R + (size_t)a0 * k, k);
    }
    size_t p = 0;
    double mR = 0, mD = 0;
    for (int a = 1; a < k; a++)
        for (int b = 0; b < a; b++, p++) {
            double r = R[(size_t)a * k + b];
            Rv[p] = r < -1 ? -1 : r > 1 ? 1 : r;
            double ddx = (double)coords[2 * a] - coords[2 * b], ddy = (double)coords[2 * a + 1] - coords[2 * b + 1];
            Dv[p] = 1.0 / (1.0 + sqrt(ddx * ddx + ddy * ddy));
            mR += Rv[p];
            mD += Dv[p];
        }
    mR /= (double)P;
    mD /= (double)P;
    double loss, sR = 0, sD = 0, num = 0, r = 0;
    if (kind == SPATIAL_REL) {
        for (p = 0; p < P; p++) {
            double u = Rv[p] - mR, v = Dv[p] - mD;
            num += u * v;
            sR += u * u;
            sD += v * v;
        }
        sR = sqrt(sR);
        sD = sqrt(sD);
        r = (sR > 0 && sD > 0) ? num / (sR * sD) : 0.0;
        loss = (1.0 - r) / 2.0;
    } else {
        loss = 0;
        for (p = 0; p < P; p++) loss += fabs(Rv[p] - Dv[p]);
        loss /= (double)P;
    }
    if (dx) {
        /* S in R's storage: S_ab = S_ba = dSL/dR_p, zero diagonal */
        p = 0;
        for (int a = 0; a < k; a++) R[(size_t)a * k + a] = 0;
        for (int a = 1; a < k; a++)
            for (int b = 0; b < a; b++, p++) {
                double raw = R[(size_t)a * k + b], g;
                if (kind == SPATIAL_REL)
                    g = (sR > 0 && sD > 0) ? -0.5 * ((Dv[p] - mD) / (sR * sD) - r * (Rv[p] - mR) / (sR * sR)) : 0.0;
                else {
                    double d = Rv[p] - Dv[p];
                    g = (d > 0) - (d < 0);
                    g /= (double)P;
                }
                if (raw < -1 || raw > 1) g = 0;
                R[(size_t)a * k + b] = R[(size_t)b * k + a] = g;
            }
        double *dY = xmalloc(sizeof(double) * (size_t)n * k), *cmean = xmalloc(sizeof(double) * (size_t)k);
#pragma omp parallel
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads();
            int i0 = (int)((long)n * t / nt), i1 = (int)((long)n * (t + 1) / nt);
            if (i1 > i0) cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, i1 - i0, k, k, 1.0, Y + (size_t)i0 * k, k, R, k, 0.0, dY + (size_t)i0 * k, k);
#pragma omp barrier
#pragma omp for schedule(static)
            for (int a = 0; a < k; a++) { /* dY column a -> centred dXc column a */
                double dot = 0;
                if (!zero[a])
                    for (int i = 0; i < n; i++) dot += Y[(size_t)i * k + a] * dY[(size_t)i * k + a];
                double mean = 0;
                for (int i = 0; i < n; i++) {
                    double v = (dY[(size_t)i * k + a] - Y[(size_t)i * k + a] * dot) / sig[a];
                    dY[(size_t)i * k + a] = v;
                    mean += v;
                }
                cmean[a] = mean / n;
            }
            /* rows split over threads, units in order inside a row: repeated units add up safely */
#pragma omp for schedule(static)
            for (int i = 0; i < n; i++)
                for (int a = 0; a < k; a++) dx[i * row_stride + units[a]] += (float)(scale * (dY[(size_t)i * k + a] - cmean[a]));
        }
        free(dY);
        free(cmean);
    }
    free(Y);
    free(sig);
    free(zero);
    free(R);
    free(Rv);
    free(Dv);
    return loss;
}
