/* bench_gpu.c: GPU speed of the CUDA engine (issue 9), on synthetic uint8 images already on the GPU.
 *
 *   bench-gpu [--rows 512] [--size 224] [--width 1] [--k 500] [--steps 30] [--warmup 6]
 *             [--fwd-rows 512] [--fwd-iters 20] [--precision bf16|fp32] [--json FILE]
 *             [--profile [--profile-steps 5] [--no-stem-probe]]
 *
 * Times, with the host clock around calls that end in a device synchronisation, the median of
 *   train:   engine_train_step on `rows` rows (rows/2 images x 2 views), ResNet-18 + SimCLR head,
 *            NT-Xent T = 0.1, SGD (lr 0.6, momentum 0.9, wd 1e-6), SL_REL on all 8 layers with a
 *            new random neighbourhood of k units per layer every step (alpha 0.25);
 *   nospatial: the same step without the spatial terms (the spatial share is 1 - nospatial/train);
 *   forward: engine_forward of `fwd-rows` images in eval mode (activation extraction).
 * Reports images/s (rows per second; a view counts as an image, as PyTorch's figures do), the
 * device memory the engine allocated and the device-level growth (cudaMemGetInfo), and writes
 * the same as JSON when --json is given. Warm-up steps include the eager first step and the
 * CUDA-graph capture; the cuDNN algorithm search happens at engine creation and is timed apart.
 *
 * --profile (sets TDANN_PROFILE=1 for the engine, see engine_cuda.h) replaces the measurements above
 * with a breakdown of the spatial training step: the graph-replayed step by the host clock (median of
 * --steps after --warmup), 2 eager warm-up steps, --profile-steps eager steps with CUDA events at
 * every operation-category boundary, 10 graph-replayed steps bracketed by events; then (unless
 * --no-stem-probe) cudnnFind's times for the stem as built and as a space-to-depth 4x4/1 convolution
 * on 16 channels (engine_cuda_probe_stem: a candidate for a faster stem); then the table
 * (engine_cuda_profile_report), printed last.
 */
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "engine_cuda.h"
#include "error.h"
#include "model.h"
#include "rng.h"
#include "util.h"
#include "version.h"

#define CK(x) do { cudaError_t _e = (x); if (_e != cudaSuccess) die(EXIT_RUNTIME, "%s:%d: %s: %s", __FILE__, __LINE__, #x, cudaGetErrorString(_e)); } while (0)

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#define NSPEC 8 /* neighbourhood sets cycled through, like a new draw every step */

typedef struct {
    LossSpec ls;
    int32_t *units[N_LAYERS];
    float *coords[N_LAYERS];
} Spec;

static void make_spec(Spec *s, const Model *m, int k, float alpha, uint64_t seed, int idx) {
    memset(s, 0, sizeof *s);
    s->ls.temperature = 0.1f;
    Rng r;
    rng_init(&r, seed, rng_stream(RNG_PURPOSE_NEIGHBORHOOD, (uint32_t)idx, 0, 0));
    for (int l = 0; l < N_LAYERS; l++) {
        int64_t U = m->layer_units[l];
        int kk = k < U ? k : (int)U;
        s->units[l] = xmalloc(sizeof(int32_t) * (size_t)kk);
        s->coords[l] = xmalloc(sizeof(float) * 2 * (size_t)kk);
        /* k distinct units: a local window of a random permutation is overkill; rejection suffices */
        uint8_t *seen = xcalloc((size_t)U, 1);
        for (int j = 0; j < kk;) {
            uint32_t u = rng_below(&r, (uint32_t)U);
            if (seen[u]) continue;
            seen[u] = 1;
            s->units[l][j] = (int32_t)u;
            s->coords[l][2 * j] = 10.0f * rng_uniform(&r);
            s->coords[l][2 * j + 1] = 10.0f * rng_uniform(&r);
            j++;
        }
        free(seen);
        s->ls.spatial[l] = (SpatialTerm){SL_REL, alpha, kk, s->units[l], s->coords[l]};
    }
}

/* smooth-ish random images: a colour ramp per image plus noise (not constant, not pure noise) */
static uint8_t *make_images(int n, int S, uint64_t seed) {
    uint8_t *im = xmalloc((size_t)n * S * S * 3);
    Rng r;
    rng_init(&r, seed, rng_stream(RNG_PURPOSE_TEST, 7, 0, 0));
    for (int i = 0; i < n; i++) {
        float a[3], b[3];
        for (int c = 0; c < 3; c++) { a[c] = 255 * rng_uniform(&r); b[c] = 160 * (rng_uniform(&r) - 0.5f); }
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                for (int c = 0; c < 3; c++) {
                    float v = a[c] + b[c] * (float)(x + y) / (float)S + 40.0f * (rng_uniform(&r) - 0.5f);
                    im[(((size_t)i * S + y) * S + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
    }
    return im;
}

typedef struct { double med, mean, min; int n; } Timing;

static Timing time_steps(Engine *e, uint8_t **dimg, int nimg, int rows, Spec *specs, const SgdSpec *sgd, int warm,
                         int steps, LossValues *last) {
    double *t = xmalloc(sizeof(double) * (size_t)steps);
    for (int s = 0; s < warm + steps; s++) {
        engine_cuda_sync(e);
        double t0 = now_seconds();
        engine_train_step(e, dimg[s % nimg], rows, &specs[s % NSPEC].ls, sgd, last);
        double dt = now_seconds() - t0;
        if (s >= warm) t[s - warm] = dt;
        if (!isfinite(last->total)) die(EXIT_RUNTIME, "non-finite loss at step %d (task %g)", s, last->task);
    }
    Timing r = {0, 0, 1e30, steps};
    for (int i = 0; i < steps; i++) { r.mean += t[i] / steps; if (t[i] < r.min) r.min = t[i]; }
    r.med = median(t, steps);
    free(t);
    return r;
}

int main(int argc, char **argv) {
    tool_init("bench-gpu", argc, argv);
    int rows = 512, size = 224, k = 500, steps = 30, warm = 6, fwd_rows = 512, fwd_iters = 20, prec = PREC_BF16;
    float width = 1.0f;
    const char *json = NULL;
    int profile = 0, prof_steps = 5, stem_probe = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && (i++, 1))
        if (ARG("--rows")) rows = atoi(v);
        else if (ARG("--size")) size = atoi(v);
        else if (ARG("--width")) width = (float)atof(v);
        else if (ARG("--k")) k = atoi(v);
        else if (ARG("--steps")) steps = atoi(v);
        else if (ARG("--warmup")) warm = atoi(v);
        else if (ARG("--fwd-rows")) fwd_rows = atoi(v);
        else if (ARG("--fwd-iters")) fwd_iters = atoi(v);
        else if (ARG("--precision")) prec = strcmp(v, "fp32") == 0 ? PREC_FP32 : PREC_BF16;
        else if (ARG("--json")) json = v;
        else if (ARG("--profile-steps")) prof_steps = atoi(v);
        else if (strcmp(a, "--profile") == 0) profile = 1;
        else if (strcmp(a, "--no-stem-probe") == 0) stem_probe = 0;
        else if (strcmp(a, "--help") == 0) {
            printf("Usage: bench-gpu [--rows 512] [--size 224] [--width 1] [--k 500] [--steps 30] [--warmup 6]\n"
                   "                 [--fwd-rows 512] [--fwd-iters 20] [--precision bf16|fp32] [--json FILE]\n"
                   "                 [--profile [--profile-steps 5] [--no-stem-probe]]\n"
                   "--profile: time the spatial training step by operation category (CUDA events, eager) instead\n"
                   "e.g. bench-gpu --json out.json\n     bench-gpu --profile --steps 10\n"
                   "See also: tests/bench/gpu/run.sh, tests/gpu/profile-run.sh\n");
            return 0;
        } else die(EXIT_USAGE, "bad argument '%s' (see --help)", a);
#undef ARG
    }
    if (rows < 2 || rows % 2 || fwd_rows < 1 || steps < 1 || warm < 2) die(EXIT_USAGE, "bad sizes (rows even >= 2, warmup >= 2)");
    if (prof_steps < 1) die(EXIT_USAGE, "--profile-steps must be >= 1");
    /* the engine reads TDANN_PROFILE when it is created */
    if (profile && setenv("TDANN_PROFILE", "1", 1) != 0) die(EXIT_RUNTIME, "setenv TDANN_PROFILE failed");
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) die(EXIT_RUNTIME, "no CUDA device");
    struct cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    CK(cudaSetDevice(0));
    CK(cudaFree(NULL)); /* context */
    size_t free0, total;
    CK(cudaMemGetInfo(&free0, &total));

    ModelConfig cfg = {width, size, TASK_SIMCLR, 128, 1000};
    Model m;
    model_init(&m, &cfg);
    char md[256];
    model_describe(&m, md, sizeof md);
    float *params = xmalloc(sizeof(float) * m.params_numel), *bufs = xmalloc(sizeof(float) * m.bufs_numel);
    model_init_params(&m, 1, params, bufs, NULL);

    Device dev;
    memset(&dev, 0, sizeof dev);
    dev.kind = DEVICE_CUDA;
    int max_rows = rows > fwd_rows ? rows : fwd_rows;
    EngineOptions opt = {max_rows, prec, 0, NULL};
    double tc = now_seconds();
    Engine *e = engine_create(&m, dev, &opt);
    double create_s = now_seconds() - tc;
    engine_set_params(e, params, bufs, NULL);
    printf("bench-gpu %s on %s\n  model: %s\n  engine: %s\n  engine creation (cuDNN algorithm search): %.1f s\n",
           TDANN_VERSION, prop.name, md, engine_describe(e), create_s);

    /* two image sets on the device, alternated (77 MB each at 512 x 224 px: beyond the L2 cache anyway) */
    int nimg = 2;
    uint8_t *dimg[2];
    size_t ib = (size_t)max_rows * size * size * 3;
    for (int i = 0; i < nimg; i++) {
        uint8_t *h = make_images(max_rows, size, 100 + (uint64_t)i);
        CK(cudaMalloc((void **)&dimg[i], ib));
        CK(cudaMemcpy(dimg[i], h, ib, cudaMemcpyHostToDevice));
        free(h);
    }
    Spec *specs = xmalloc(sizeof(Spec) * NSPEC), *plain = xmalloc(sizeof(Spec) * NSPEC);
    for (int i = 0; i < NSPEC; i++) {
        make_spec(&specs[i], &m, k, 0.25f, 7, i);
        memset(&plain[i], 0, sizeof plain[i]);
        plain[i].ls.temperature = 0.1f;
    }
    SgdSpec sgd = {0.6f, 0.9f, 1e-6f, 0};
    LossValues lv;

    if (profile) {
        if (!engine_cuda_profile_mode(e, 0)) die(EXIT_RUNTIME, "the engine did not enable profiling (TDANN_PROFILE)");
        Timing tg = time_steps(e, dimg, nimg, rows, specs, &sgd, warm, steps, &lv);
        int graph = engine_cuda_graph_active(e);
        engine_cuda_profile_mode(e, 1); /* eager steps with category events */
        time_steps(e, dimg, nimg, rows, specs, &sgd, 2, 1, &lv); /* 3 eager warm-up steps */
        engine_cuda_profile_reset(e);
        Timing te = time_steps(e, dimg, nimg, rows, specs, &sgd, 0, prof_steps, &lv);
        engine_cuda_profile_mode(e, 2); /* graph replays bracketed by an event pair */
        time_steps(e, dimg, nimg, rows, specs, &sgd, 2, 10, &lv);
        engine_cuda_profile_mode(e, 0);
        printf("  CUDA graph replay: %s; losses at the end: task %.4f, total %.4f\n", graph ? "yes" : "NO (eager steps)",
               lv.task, lv.total);
        printf("  graph-replayed step (host clock): median %.3f ms, mean %.3f, min %.3f over %d steps\n", 1e3 * tg.med,
               1e3 * tg.mean, 1e3 * tg.min, tg.n);
        printf("  eager profiled step (host clock): median %.3f ms, min %.3f over %d steps\n", 1e3 * te.med, 1e3 * te.min, te.n);
        if (stem_probe) {
            fflush(stdout);
            double sm[2][2], t0 = now_seconds();
            engine_cuda_probe_stem(e, sm);
            /* the real stem: 2 * n * 112^2 * 64 * 7 * 7 * 3 FLOPs per direction */
            double real = 2.0 * max_rows * (size / 2) * (size / 2) * 64 * 147;
            printf("  stem probe (cudnnFind at %d rows, %.1f s): as built 7x7/2: fwd %.3f ms, wgrad %.3f ms (%.0f TFLOP/s on "
                   "the real 3-channel FLOPs);\n    space-to-depth 4x4/1 on 16 channels: fwd %.3f ms, wgrad %.3f ms (%.0f TFLOP/s "
                   "on the real FLOPs): saving %.2f ms per step\n",
                   max_rows, now_seconds() - t0, sm[0][0], sm[0][1], 2 * real / ((sm[0][0] + sm[0][1]) * 1e-3) / 1e12,
                   sm[1][0], sm[1][1], sm[1][0] + sm[1][1] > 0 ? 2 * real / ((sm[1][0] + sm[1][1]) * 1e-3) / 1e12 : 0.0,
                   sm[1][0] + sm[1][1] > 0 ? sm[0][0] + sm[0][1] - sm[1][0] - sm[1][1] : 0.0);
        }
        fflush(stdout);
        engine_cuda_profile_report(e, stdout, 1e3 * tg.med);
        engine_free(e);
        for (int i = 0; i < nimg; i++) cudaFree(dimg[i]);
        for (int i = 0; i < NSPEC; i++)
            for (int l = 0; l < N_LAYERS; l++) { free(specs[i].units[l]); free(specs[i].coords[l]); }
        free(specs); free(plain); free(params); free(bufs);
        model_free(&m);
        return 0;
    }

    Timing tr = time_steps(e, dimg, nimg, rows, specs, &sgd, warm, steps, &lv);
    int graph = engine_cuda_graph_active(e);
    LossValues lv_sp = lv;
    Timing tn = time_steps(e, dimg, nimg, rows, plain, &sgd, warm, steps, &lv);
    /* the spatial configuration once more after the plain one: the pair brackets drift (clocks, heat) */
    Timing tr2 = time_steps(e, dimg, nimg, rows, specs, &sgd, 2, steps, &lv_sp);
    double t_sp = tr.med < tr2.med ? tr.med : tr2.med;

    double *tf = xmalloc(sizeof(double) * (size_t)fwd_iters);
    for (int s = 0; s < 3 + fwd_iters; s++) {
        engine_cuda_sync(e);
        double t0 = now_seconds();
        engine_forward(e, dimg[s % nimg], fwd_rows, 0);
        double dt = now_seconds() - t0;
        if (s >= 3) tf[s - 3] = dt;
    }
    double t_fwd = median(tf, fwd_iters);
    size_t free1;
    CK(cudaMemGetInfo(&free1, &total));
    double eng_gib = (double)engine_cuda_device_bytes(e) / (1 << 30), dev_gib = (double)(free0 - free1) / (1 << 30);

    double ips = rows / t_sp, ips_n = rows / tn.med, ips_f = fwd_rows / t_fwd;
    double share = 1.0 - tn.med / t_sp;
    printf("  losses at the end: task %.4f, spatial layer1.0 %.4f ... layer4.1 %.4f, total %.4f\n", lv_sp.task,
           lv_sp.spatial[0], lv_sp.spatial[7], lv_sp.total);
    printf("  CUDA graph replay: %s\n", graph ? "yes" : "NO (eager steps)");
    printf("\n%-44s %12s %12s\n", "measurement", "time (ms)", "images/s");
    printf("%-44s %12.2f %12.0f\n", "train step + SL_REL 8 layers (median)", 1e3 * t_sp, ips);
    printf("%-44s %12.2f %12s\n", "  same, first / second run (median)", 1e3 * tr.med, "");
    printf("%-44s %12.2f %12s\n", "", 1e3 * tr2.med, "");
    printf("%-44s %12.2f %12.0f\n", "train step without spatial loss (median)", 1e3 * tn.med, ips_n);
    printf("%-44s %12.1f%% %11s\n", "spatial loss share of the step", 100 * share, "");
    printf("%-44s %12.2f %12.0f\n", "forward (eval, extraction), median", 1e3 * t_fwd, ips_f);
    printf("%-44s %12.2f GiB (device-level growth %.2f GiB)\n", "device memory allocated by the engine", eng_gib, dev_gib);

    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) die(EXIT_RUNTIME, "cannot write '%s'", json);
        fprintf(f, "{\n  \"impl\": \"tdann-cuda\",\n  \"version\": \"%s\",\n  \"card\": \"%s\",\n", TDANN_VERSION, prop.name);
        fprintf(f, "  \"engine\": \"%s\",\n", engine_describe(e));
        fprintf(f, "  \"config\": {\"rows\": %d, \"size\": %d, \"width\": %g, \"k\": %d, \"steps\": %d, \"fwd_rows\": %d, \"precision\": \"%s\"},\n",
                rows, size, (double)width, k, steps, fwd_rows, prec == PREC_BF16 ? "bf16" : "fp32");
        fprintf(f, "  \"create_s\": %.3f,\n  \"cuda_graph\": %d,\n", create_s, graph);
        fprintf(f, "  \"train_spatial_ms\": %.4f,\n  \"train_spatial_img_s\": %.1f,\n", 1e3 * t_sp, ips);
        fprintf(f, "  \"train_spatial_runs_ms\": [%.4f, %.4f],\n  \"train_spatial_mean_ms\": %.4f,\n  \"train_spatial_min_ms\": %.4f,\n",
                1e3 * tr.med, 1e3 * tr2.med, 1e3 * tr.mean, 1e3 * tr.min);
        fprintf(f, "  \"train_plain_ms\": %.4f,\n  \"train_plain_img_s\": %.1f,\n", 1e3 * tn.med, ips_n);
        fprintf(f, "  \"spatial_share\": %.4f,\n", share);
        fprintf(f, "  \"forward_ms\": %.4f,\n  \"forward_img_s\": %.1f,\n", 1e3 * t_fwd, ips_f);
        fprintf(f, "  \"engine_gib\": %.3f,\n  \"device_growth_gib\": %.3f,\n", eng_gib, dev_gib);
        fprintf(f, "  \"final_loss\": {\"task\": %.6f, \"total\": %.6f}\n}\n", lv_sp.task, lv_sp.total);
        fclose(f);
    }
    engine_free(e);
    for (int i = 0; i < nimg; i++) cudaFree(dimg[i]);
    for (int i = 0; i < NSPEC; i++)
        for (int l = 0; l < N_LAYERS; l++) { free(specs[i].units[l]); free(specs[i].coords[l]); }
    free(specs); free(plain); free(tf); free(params); free(bufs);
    model_free(&m);
    return 0;
}
