/* swapopt_synth.c: synthetic grating-like activations for the SwapOpt benchmark (not a test, not a
 * product tool; built by tests/bench/swapopt.mk into build/bench/swapopt-synth).
 *
 *   swapopt-synth SHEET.h5 OUT.h5 N_IMAGES LAYERS
 *
 * For each listed layer of the sheet: a hidden map = the layer's positions shuffled; unit u responds
 * to image n with max(0, sum_f cos(2 pi k_f . h_u + phi_{n,f})) + noise, k_f at 0.5-1.5 cycles per
 * neighbourhood width, so correlations fall off over about one neighbourhood. Writes an
 * activations artifact (/layers/<layer> float32 (N,C,H,W), one image per chunk).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "h5io.h"
#include "rng.h"
#include "sheet.h"
#include "util.h"

int main(int argc, char **argv) {
    tool_init("swapopt-synth", argc, argv);
    if (argc != 5) die(EXIT_USAGE, "usage: swapopt-synth SHEET.h5 OUT.h5 N_IMAGES LAYERS");
    const int N = atoi(argv[3]);
    int order[N_LAYERS];
    int nl = parse_layer_list(argv[4], order);
    hid_t fs = sheet_open(argv[1]);
    H5Out *out = h5out_create(argv[2], "activations", 1);
    h5_attr_str(out->file, ".", "set", "synthetic");
    enum { F = 8 };
    for (int li = 0; li < nl; li++) {
        const int l = order[li];
        SheetLayer *L = sheet_read_layer(fs, l, SHEET_POSITIONS);
        const int64_t U = L->units;
        int32_t *perm = xmalloc(sizeof(int32_t) * (size_t)U);
        for (int64_t u = 0; u < U; u++) perm[u] = (int32_t)u;
        Rng r;
        rng_init(&r, 1, rng_stream(RNG_PURPOSE_TEST, 20, (uint32_t)l, 0));
        rng_shuffle_i32(&r, perm, U);
        double kx[F], ky[F];
        for (int f = 0; f < F; f++) {
            double ang = 6.283185307179586 * rng_uniform_double(&r);
            double k = (0.5 + rng_uniform_double(&r)) / L->neighborhood_width_mm;
            kx[f] = k * cos(ang);
            ky[f] = k * sin(ang);
        }
        double *base = xmalloc(sizeof(double) * (size_t)U * F); /* 2 pi k_f . h_u */
        for (int64_t u = 0; u < U; u++)
            for (int f = 0; f < F; f++)
                base[u * F + f] = 6.283185307179586 *
                                  (kx[f] * L->positions[2 * (int64_t)perm[u]] + ky[f] * L->positions[2 * (int64_t)perm[u] + 1]);
        char *path = xasprintf("/layers/%s", LAYER_NAMES[l]);
        hsize_t row[3] = {(hsize_t)L->dims[0], (hsize_t)L->dims[1], (hsize_t)L->dims[2]};
        H5Stream *st = h5_stream_create(out->file, path, H5IO_F32, 4, row, 1, "image,channel,row,col", "");
        float *img = xmalloc(sizeof(float) * (size_t)U);
        for (int n = 0; n < N; n++) {
            double ph[F];
            for (int f = 0; f < F; f++) ph[f] = 6.283185307179586 * rng_uniform_double(&r);
            Rng rn;
            rng_init(&rn, 2, rng_stream(RNG_PURPOSE_TEST, 21, (uint32_t)l, (uint32_t)n));
#pragma omp parallel for schedule(static)
            for (int64_t u = 0; u < U; u++) {
                double a = 0;
                for (int f = 0; f < F; f++) a += cos(base[u * F + f] + ph[f]);
                img[u] = (float)(a > 0 ? a : 0);
            }
            for (int64_t u = 0; u < U; u++) img[u] += 0.1f * (rng_uniform(&rn) - 0.5f);
            h5_stream_append(st, img, 1);
        }
        h5_stream_close(st);
        fprintf(stderr, "swapopt-synth: %s: %lld units x %d images\n", LAYER_NAMES[l], (long long)U, N);
        free(img);
        free(path);
        free(base);
        free(perm);
        sheet_layer_free(L);
    }
    h5_close_file(fs);
    h5out_commit(out);
    return 0;
}
