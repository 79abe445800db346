/* linear_cpu.c: CPU reference of linear.h: OpenBLAS sgemm on row blocks, one block per OpenMP
 * thread (BLAS single-threaded, cpu_util.h). */
#include "linear.h"

#include <cblas.h>
#include <omp.h>

#include "cpu_util.h"

/* Block [*a, *b) of `total` rows for thread t of nt. */
static void block(int total, int t, int nt, int *a, int *b) {
    *a = (int)((long)total * t / nt);
    *b = (int)((long)total * (t + 1) / nt);
}

void linear_forward_cpu(int n, int in, int out, const float *x, const float *w, const float *b, float *y) {
    kcpu_init();
#pragma omp parallel
    {
        int r0, r1;
        block(n, omp_get_thread_num(), omp_get_num_threads(), &r0, &r1);
        if (r1 > r0) {
            if (b)
                for (int i = r0; i < r1; i++)
                    for (int o = 0; o < out; o++) y[(size_t)i * out + o] = b[o];
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, out, in, 1.0f, x + (size_t)r0 * in, in, w, in,
                        b ? 1.0f : 0.0f, y + (size_t)r0 * out, out);
        }
    }
}

void linear_backward_cpu(int n, int in, int out, const float *x, const float *w, const float *dy,
                         float *dx, float *dw, float *db) {
    kcpu_init();
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads(), a, b;
        block(out, t, nt, &a, &b); /* dW rows a..b = dy[:, a..b]^T x */
        if (b > a) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, b - a, in, n, 1.0f, dy + a, out, x, in, 0.0f, dw + (size_t)a * in, in);
            if (db)
                for (int o = a; o < b; o++) {
                    double s = 0;
                    for (int i = 0; i < n; i++) s += dy[(size_t)i * out + o];
                    db[o] = (float)s;
                }
        }
        if (dx) {
            block(n, t, nt, &a, &b); /* dx rows a..b = dy[a..b] W */
            if (b > a)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b - a, in, out, 1.0f, dy + (size_t)a * out, out, w, in,
                            0.0f, dx + (size_t)a * in, in);
        }
    }
}
