/* cpu_step.c: CPU training-step benchmark of the native engine (not a test; see cpu_step.mk).
 *
 *   cpu-step [--width W] [--size S] [--images N] [--k K] [--steps T] [--threads P]
 *
 * One SimCLR training step = forward (train) of N images x 2 views, NT-Xent (T 0.1), SL_REL
 * (alpha 0.25) on one neighbourhood of K random units (fewer if the layer is smaller) in each of the
 * 8 layers, backward, SGD (momentum 0.9, wd 1e-6). Random weights and images (fixed seeds), one
 * warm-up step, then T timed steps; prints each step's wall and CPU time (CPU time is the steadier
 * number on a shared machine), the median wall time and images/s, counting every view as an image
 * (as ../shared/design/anchors.md does), and a last line `native_images_per_s=<v>`.
 */
#include <omp.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "error.h"
#include "rng.h"
#include "util.h"

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    tool_init("cpu-step", argc, argv);
    float width = 1.0f;
    int size = 64, images = 64, k = 500, steps = 3, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) die(EXIT_USAGE, "option '%s' needs a value", a);
        if (!strcmp(a, "--width")) width = (float)atof(v);
        else if (!strcmp(a, "--size")) size = atoi(v);
        else if (!strcmp(a, "--images")) images = atoi(v);
        else if (!strcmp(a, "--k")) k = atoi(v);
        else if (!strcmp(a, "--steps")) steps = atoi(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else die(EXIT_USAGE, "unknown option '%s'", a);
        i++;
    }
    if (threads > 0) omp_set_num_threads(threads);
    if (steps < 1 || images < 1) die(EXIT_USAGE, "need --steps >= 1 and --images >= 1");
    ModelConfig cfg = {width, size, TASK_SIMCLR, 128, 1000};
    Model m;
    model_init(&m, &cfg);
    const int n = 2 * images;
    float *params = xmalloc(sizeof(float) * m.params_numel), *bufs = xmalloc(sizeof(float) * m.bufs_numel);
    model_init_params(&m, 1, params, bufs, NULL);
    uint8_t *im = xmalloc((size_t)n * size * size * 3);
    Rng r;
    rng_init(&r, 2, rng_stream(RNG_PURPOSE_GENERIC, 1, 0, 0));
    for (size_t i = 0; i < (size_t)n * size * size * 3; i++) im[i] = (uint8_t)rng_below(&r, 256);
    LossSpec ls;
    memset(&ls, 0, sizeof ls);
    ls.temperature = 0.1f;
    int32_t *units[N_LAYERS];
    float *coords[N_LAYERS];
    for (int l = 0; l < N_LAYERS; l++) {
        int kl = k < m.layer_units[l] ? k : (int)m.layer_units[l];
        units[l] = xmalloc(sizeof(int32_t) * (size_t)kl);
        coords[l] = xmalloc(sizeof(float) * 2 * (size_t)kl);
        for (int a = 0; a < kl; a++) { /* distinct units */
            int32_t u;
            int dup;
            do {
                u = (int32_t)rng_below(&r, (uint32_t)m.layer_units[l]);
                dup = 0;
                for (int b = 0; b < a; b++) dup |= units[l][b] == u;
            } while (dup);
            units[l][a] = u;
            coords[l][2 * a] = 5 * rng_uniform(&r);
            coords[l][2 * a + 1] = 5 * rng_uniform(&r);
        }
        ls.spatial[l] = (SpatialTerm){SL_REL, 0.25f, kl, units[l], coords[l]};
    }
    SgdSpec sgd = {0.1f, 0.9f, 1e-6f, 0};
    Device dev = {DEVICE_CPU, 0, "cpu"};
    EngineOptions opt = {n, PREC_FP32, 1, NULL};
    Engine *e = engine_create(&m, dev, &opt);
    engine_set_params(e, params, bufs, NULL);
    char desc[256];
    model_describe(&m, desc, sizeof desc);
    printf("native: %s; %d images x 2 views; SL_REL on 8 layers (k <= %d); %s\n", desc, images, k, engine_describe(e));
    LossValues lv;
    engine_train_step(e, im, n, &ls, &sgd, &lv); /* warm-up: page faults, scratch growth */
    double *t = xmalloc(sizeof(double) * (size_t)steps);
    for (int s = 0; s < steps; s++) {
        double t0 = now_seconds(), c0 = cpu_seconds();
        engine_train_step(e, im, n, &ls, &sgd, &lv);
        t[s] = now_seconds() - t0;
        printf("native: step %d %.3f s, cpu %.3f s (loss %.4f)\n", s + 1, t[s], cpu_seconds() - c0, lv.total);
    }
    qsort(t, (size_t)steps, sizeof *t, cmp_double);
    double med = t[steps / 2];
    printf("native: median step %.3f s, %.1f images/s (%d threads)\n", med, n / med, omp_get_max_threads());
    printf("native_images_per_s=%.2f\n", n / med);
    engine_free(e);
    return 0;
}
