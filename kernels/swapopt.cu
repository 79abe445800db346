/* swapopt.cu: SwapOpt on CUDA. Same schedule, same window unit lists (host code shared with
 * swapopt_cpu.c), same arithmetic: the result is bit-identical to swapopt_run_cpu.
 *
 * Per dependency level (windows that do not intersect, see swapopt.h), in batches:
 *   host: unit lists of the batch's windows (current assignment), packed and copied to the device;
 *   corr_tiles_kernel: grid (tile, window): each block one 32x32 tile on or above the diagonal of
 *     a window's m x m correlation block (fp32, fma in image order, mirrored), into scratch memory;
 *   attempts_kernel: one block per window: positions in shared memory, every attempt's decision sum
 *     reduced exactly in int64 over the block, greedy accept; writes the window's final slots;
 *   host: applies the final slots to slot_of / unit_at.
 * Limits: max_units <= 1024 (four terms per thread of a 256-thread block).
 */
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

extern "C" {
#include "error.h"
#include "progress.h"
#include "sheet.h"
#include "swapopt.h"
#include "util.h"
}

#define CK(call) do { cudaError_t e_ = (call); if (e_ != cudaSuccess) \
    die(EXIT_RUNTIME, "CUDA error %s at %s:%d: %s", cudaGetErrorString(e_), __FILE__, __LINE__, #call); } while (0)

#define TT 32        /* correlation tile side */
#define NT 256       /* threads per block */
#define KMAX 4       /* terms per thread: m <= NT * KMAX */
#define PAIR_CHUNK 512

/* Window metadata of a batch. */
struct WinMeta {
    int m;           /* units */
    int ldc;         /* round up(m, 32) */
    long long uoff;  /* into units / slots / out */
    long long coff;  /* into the correlation scratch (ldc * ldc floats) */
    long long w;     /* window index (pair stream) */
};

__global__ void corr_tiles_kernel(const float *__restrict__ z, const unsigned char *__restrict__ dead, int N,
                                  const WinMeta *__restrict__ meta, const int *__restrict__ units, float *__restrict__ C) {
    const WinMeta wm = meta[blockIdx.y];
    const int nt = (wm.m + TT - 1) / TT;
    int t = blockIdx.x, ti = 0;
    while (ti < nt && t >= nt - ti) { t -= nt - ti; ti++; }
    if (ti >= nt) return;
    const int tj = ti + t;
    __shared__ float As[TT][TT + 1], Bs[TT][TT + 1];
    const int tx = threadIdx.x % TT, ty = threadIdx.x / TT; /* ty in 0..7 */
    const int *U = units + wm.uoff;
    float acc[4] = {0.f, 0.f, 0.f, 0.f};
    for (int n0 = 0; n0 < N; n0 += TT) {
        const int len = N - n0 < TT ? N - n0 : TT;
        for (int r = ty; r < TT; r += NT / TT) {
            int ra = ti * TT + r, rb = tj * TT + r;
            As[r][tx] = (ra < wm.m && tx < len) ? z[(size_t)U[ra] * N + n0 + tx] : 0.f;
            Bs[r][tx] = (rb < wm.m && tx < len) ? z[(size_t)U[rb] * N + n0 + tx] : 0.f;
        }
        __syncthreads();
        for (int nn = 0; nn < len; nn++) {
            const float b = Bs[tx][nn];
#pragma unroll
            for (int q = 0; q < 4; q++) acc[q] = __fmaf_rn(As[ty + 8 * q][nn], b, acc[q]);
        }
        __syncthreads();
    }
    float *Cw = C + wm.coff;
    const int col = tj * TT + tx;
#pragma unroll
    for (int q = 0; q < 4; q++) {
        const int row = ti * TT + ty + 8 * q;
        if (row >= wm.m || col >= wm.m) continue;
        float v = acc[q];
        if (row == col) v = dead[U[row]] ? 0.f : 1.f;
        Cw[(size_t)row * wm.ldc + col] = v;
        Cw[(size_t)col * wm.ldc + row] = v;
    }
}

__global__ void attempts_kernel(const float *__restrict__ slot_xy, const unsigned char *__restrict__ dead,
                                const WinMeta *__restrict__ meta, const int *__restrict__ units,
                                const int *__restrict__ slots, const float *__restrict__ C, int attempts, int layer,
                                int pair_rng, unsigned long long seed, int *__restrict__ out_slots,
                                long long *__restrict__ out_acc) {
    extern __shared__ unsigned char smem[];
    const WinMeta wm = meta[blockIdx.x];
    const int m = wm.m, tid = threadIdx.x;
    float *x = (float *)smem, *y = x + m;
    int *ls = (int *)(y + m);
    unsigned int *pairs = (unsigned int *)(ls + m);
    unsigned char *dl = (unsigned char *)(pairs + PAIR_CHUNK);
    __shared__ long long red[2][NT / 32];
    const int *U = units + wm.uoff, *S = slots + wm.uoff;
    for (int l = tid; l < m; l += NT) {
        int s = S[l];
        x[l] = slot_xy[2 * (size_t)s];
        y[l] = slot_xy[2 * (size_t)s + 1];
        ls[l] = s;
        dl[l] = dead[U[l]];
    }
    const unsigned long long stream = swapopt_pair_stream(layer, wm.w, pair_rng);
    const float *__restrict__ Cw = C + wm.coff;
    long long acc_n = 0, nan_n = 0;
    int buf = 0;
    for (int c0 = 0; c0 < attempts; c0 += PAIR_CHUNK) {
        const int cn = attempts - c0 < PAIR_CHUNK ? attempts - c0 : PAIR_CHUNK;
        __syncthreads(); /* previous chunk done with pairs[], setup done */
        for (int q = tid; q < cn; q += NT) {
            unsigned int i, j;
            swapopt_pair(seed, stream, (unsigned long long)(c0 + q), (unsigned int)m, &i, &j);
            pairs[q] = i | (j << 16);
        }
        __syncthreads();
        /* the correlation rows do not depend on the decisions: each thread loads its entries of
         * the next attempt's two rows while the current attempt is being reduced */
        float rci[KMAX], rcj[KMAX];
        {
            const int i = (int)(pairs[0] & 0xFFFF), j = (int)(pairs[0] >> 16);
#pragma unroll
            for (int r = 0; r < KMAX; r++) {
                const int k = tid + r * NT;
                rci[r] = k < m ? Cw[(size_t)i * wm.ldc + k] : 0.f;
                rcj[r] = k < m ? Cw[(size_t)j * wm.ldc + k] : 0.f;
            }
        }
        for (int q = 0; q < cn; q++) {
            const int i = (int)(pairs[q] & 0xFFFF), j = (int)(pairs[q] >> 16);
            const int nan_case = dl[i] && dl[j];
            long long s = 0;
            if (!nan_case) {
                const float xi = x[i], yi = y[i], xj = x[j], yj = y[j];
#pragma unroll
                for (int r = 0; r < KMAX; r++) {
                    const int k = tid + r * NT;
                    if (k < m && k != i && k != j) s += swapopt_term(rci[r], rcj[r], xi, yi, xj, yj, x[k], y[k]);
                }
            }
            if (q + 1 < cn) {
                const int i2 = (int)(pairs[q + 1] & 0xFFFF), j2 = (int)(pairs[q + 1] >> 16);
#pragma unroll
                for (int r = 0; r < KMAX; r++) {
                    const int k = tid + r * NT;
                    rci[r] = k < m ? Cw[(size_t)i2 * wm.ldc + k] : 0.f;
                    rcj[r] = k < m ? Cw[(size_t)j2 * wm.ldc + k] : 0.f;
                }
            }
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) s += __shfl_down_sync(0xffffffffu, s, o);
            if ((tid & 31) == 0) red[buf][tid >> 5] = s;
            __syncthreads();
            long long delta = 0;
#pragma unroll
            for (int w = 0; w < NT / 32; w++) delta += red[buf][w];
            buf ^= 1;
            if (nan_case || delta > 0) { /* block-uniform */
                if (tid == 0) {
                    float t = x[i]; x[i] = x[j]; x[j] = t;
                    t = y[i]; y[i] = y[j]; y[j] = t;
                    int u = ls[i]; ls[i] = ls[j]; ls[j] = u;
                }
                acc_n++;
                nan_n += nan_case;
                __syncthreads();
            }
        }
    }
    __syncthreads();
    for (int l = tid; l < m; l += NT) out_slots[wm.uoff + l] = ls[l];
    if (tid == 0) {
        out_acc[2 * blockIdx.x] = acc_n;
        out_acc[2 * blockIdx.x + 1] = nan_n;
    }
}

extern "C" void swapopt_run_cuda(const SwapoptProblem *p, const SwapoptConfig *c, const SwapoptPlan *plan,
                                 int32_t *slot_of, int32_t *unit_at, SwapoptStats *st) {
    const double t0 = now_seconds();
    if (c->max_units > NT * KMAX) die(EXIT_USAGE, "the CUDA SwapOpt supports max_units <= %d (got %d); use --device cpu", NT * KMAX, c->max_units);
    if (c->max_units > 65535) die(EXIT_USAGE, "max_units too large");
    const int64_t U = p->units;
    const int N = p->n_images;
    /* device copies of the fixed data */
    float *d_z, *d_xy, *d_C;
    unsigned char *d_dead;
    CK(cudaMalloc(&d_z, sizeof(float) * (size_t)U * N));
    CK(cudaMalloc(&d_xy, sizeof(float) * 2 * (size_t)U));
    CK(cudaMalloc(&d_dead, (size_t)U));
    CK(cudaMemcpy(d_z, p->z, sizeof(float) * (size_t)U * N, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_xy, p->slot_xy, sizeof(float) * 2 * (size_t)U, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_dead, p->dead, (size_t)U, cudaMemcpyHostToDevice));
    /* batch buffers: at most MAXB windows and SCRATCH floats of correlations per launch */
    const int MAXB = 4096;
    const int ldmax = (c->max_units + TT - 1) / TT * TT;
    size_t scratch = (size_t)256 << 20; /* 1 GiB of floats */
    if (scratch < (size_t)ldmax * ldmax) scratch = (size_t)ldmax * ldmax;
    const size_t maxu = (size_t)MAXB * c->max_units;
    CK(cudaMalloc(&d_C, sizeof(float) * scratch));
    WinMeta *h_meta, *d_meta;
    int *h_units, *h_slots, *h_out, *d_units, *d_slots, *d_out;
    long long *h_acc, *d_acc;
    CK(cudaMallocHost(&h_meta, sizeof(WinMeta) * MAXB));
    CK(cudaMallocHost(&h_units, sizeof(int) * maxu));
    CK(cudaMallocHost(&h_slots, sizeof(int) * maxu));
    CK(cudaMallocHost(&h_out, sizeof(int) * maxu));
    CK(cudaMallocHost(&h_acc, sizeof(long long) * 2 * MAXB));
    CK(cudaMalloc(&d_meta, sizeof(WinMeta) * MAXB));
    CK(cudaMalloc(&d_units, sizeof(int) * maxu));
    CK(cudaMalloc(&d_slots, sizeof(int) * maxu));
    CK(cudaMalloc(&d_out, sizeof(int) * maxu));
    CK(cudaMalloc(&d_acc, sizeof(long long) * 2 * MAXB));
    cudaStream_t sm;
    CK(cudaStreamCreate(&sm));

    const int nth = omp_get_max_threads();
    SheetGrid *g = sheet_grid_build(p->slot_xy, U, p->width / 4);
    SwapoptWindowScratch **ws = (SwapoptWindowScratch **)xmalloc(sizeof(void *) * (size_t)nth);
    int32_t **tu = (int32_t **)xmalloc(sizeof(void *) * (size_t)nth), **tsl = (int32_t **)xmalloc(sizeof(void *) * (size_t)nth);
    const int64_t cap = U > c->max_units ? U : c->max_units;
    for (int i = 0; i < nth; i++) {
        ws[i] = swapopt_scratch_new(p, g);
        tu[i] = (int32_t *)xmalloc(sizeof(int32_t) * (size_t)cap);
        tsl[i] = (int32_t *)xmalloc(sizeof(int32_t) * (size_t)cap);
    }
    int *mw = (int *)xmalloc(sizeof(int) * MAXB);
    memset(st, 0, sizeof *st);
    st->windows = plan->n;
    st->levels = plan->nlevels;
    const size_t smem = (size_t)c->max_units * (4 + 4 + 4 + 1) + PAIR_CHUNK * 4 + 16;
    if (smem > 48 * 1024) CK(cudaFuncSetAttribute(attempts_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));

    for (int64_t L = 0; L < plan->nlevels; L++) {
        int64_t q = plan->level_start[L];
        const int64_t qend = plan->level_start[L + 1];
        while (q < qend) {
            /* the batch: windows q .. q+nb-1 of this level (no two intersect) */
            int nb = (int)(qend - q < MAXB ? qend - q : MAXB);
            if ((size_t)nb * ldmax * ldmax > scratch) nb = (int)(scratch / ((size_t)ldmax * ldmax));
#pragma omp parallel for schedule(dynamic, 1) if (nb > 1)
            for (int b = 0; b < nb; b++) {
                int th = omp_get_thread_num();
                int64_t w = plan->order[q + b];
                int m = swapopt_window_units(p, c, plan, w, slot_of, unit_at, ws[th], tu[th], tsl[th]);
                mw[b] = m;
                if (m) {
                    memcpy(h_units + (size_t)b * c->max_units, tu[th], sizeof(int) * (size_t)m);
                    memcpy(h_slots + (size_t)b * c->max_units, tsl[th], sizeof(int) * (size_t)m);
                }
            }
            int nl = 0, mmax = 0;
            long long coff = 0;
            for (int b = 0; b < nb; b++) {
                if (!mw[b]) { st->windows_skipped++; continue; }
                WinMeta *wm = &h_meta[nl++];
                wm->m = mw[b];
                wm->ldc = (mw[b] + TT - 1) / TT * TT;
                wm->uoff = (long long)b * c->max_units;
                wm->coff = coff;
                wm->w = plan->order[q + b];
                coff += (long long)wm->ldc * wm->ldc;
                if (mw[b] > mmax) mmax = mw[b];
            }
            if (nl) {
                const size_t nu = (size_t)nb * c->max_units;
                CK(cudaMemcpyAsync(d_meta, h_meta, sizeof(WinMeta) * nl, cudaMemcpyHostToDevice, sm));
                CK(cudaMemcpyAsync(d_units, h_units, sizeof(int) * nu, cudaMemcpyHostToDevice, sm));
                CK(cudaMemcpyAsync(d_slots, h_slots, sizeof(int) * nu, cudaMemcpyHostToDevice, sm));
                const int nt = (mmax + TT - 1) / TT;
                dim3 grid((unsigned)(nt * (nt + 1) / 2), (unsigned)nl);
                corr_tiles_kernel<<<grid, NT, 0, sm>>>(d_z, d_dead, N, d_meta, d_units, d_C);
                CK(cudaGetLastError());
                attempts_kernel<<<nl, NT, smem, sm>>>(d_xy, d_dead, d_meta, d_units, d_slots, d_C, c->attempts_per_window,
                                                      p->layer, c->pair_rng, p->seed, d_out, d_acc);
                CK(cudaGetLastError());
                CK(cudaMemcpyAsync(h_out, d_out, sizeof(int) * nu, cudaMemcpyDeviceToHost, sm));
                CK(cudaMemcpyAsync(h_acc, d_acc, sizeof(long long) * 2 * nl, cudaMemcpyDeviceToHost, sm));
                CK(cudaStreamSynchronize(sm));
                for (int k = 0; k < nl; k++) {
                    const WinMeta *wm = &h_meta[k];
                    for (int l = 0; l < wm->m; l++) {
                        int32_t u = h_units[wm->uoff + l], s = h_out[wm->uoff + l];
                        slot_of[u] = s;
                        unit_at[s] = u;
                    }
                    st->accepted += h_acc[2 * k];
                    st->accepted_nan += h_acc[2 * k + 1];
                }
            }
            q += nb;
        }
        if (p->progress) progress_update(p->progress, qend, NULL);
    }
    st->attempts = (plan->n - st->windows_skipped) * (int64_t)c->attempts_per_window;
    for (int i = 0; i < nth; i++) {
        swapopt_scratch_free(ws[i]);
        free(tu[i]);
        free(tsl[i]);
    }
    free(ws);
    free(tu);
    free(tsl);
    free(mw);
    sheet_grid_free(g);
    cudaStreamDestroy(sm);
    cudaFree(d_z);
    cudaFree(d_xy);
    cudaFree(d_dead);
    cudaFree(d_C);
    cudaFree(d_meta);
    cudaFree(d_units);
    cudaFree(d_slots);
    cudaFree(d_out);
    cudaFree(d_acc);
    cudaFreeHost(h_meta);
    cudaFreeHost(h_units);
    cudaFreeHost(h_slots);
    cudaFreeHost(h_out);
    cudaFreeHost(h_acc);
    st->seconds = now_seconds() - t0;
}
