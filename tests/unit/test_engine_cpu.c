/* test_engine_cpu.c: the CPU engine as a whole.
 * - finite-difference check of engine_loss_backward: total loss (NT-Xent + SL_REL/SL_ABS terms on
 *   three layers, or cross-entropy + the same terms) against the parameter gradients, on
 *   coordinates of tensors across the network (stem, blocks, downsample, BN, head);
 * - data parallel: 2 ranks (2 engines in 2 threads, a pthread Comm) on halves of a batch give
 *   the 1-rank loss, gradients, parameters after SGD and BN running statistics on the whole batch
 *   (alpha = 0), within 1e-5;
 * - state round trips and the argument checks.
 */
#include <math.h>
#include <pthread.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "error.h"
#include "gradcheck.h"
#include "rng.h"
#include "test.h"

static const Device CPU = {DEVICE_CPU, 0, "cpu"};

/* Smooth random images [n][S][S][3]: a per-image colour gradient plus noise. */
static uint8_t *make_images(int n, int S, uint64_t seed) {
    uint8_t *im = xmalloc((size_t)n * S * S * 3);
    Rng r;
    rng_init(&r, seed, rng_stream(RNG_PURPOSE_TEST, 99, 0, 0));
    for (int i = 0; i < n; i++) {
        double a[3], b[3], c[3];
        for (int ch = 0; ch < 3; ch++) { a[ch] = 255 * rng_uniform_double(&r); b[ch] = 200 * (rng_uniform_double(&r) - 0.5); c[ch] = 200 * (rng_uniform_double(&r) - 0.5); }
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                for (int ch = 0; ch < 3; ch++) {
                    double v = a[ch] + b[ch] * x / S + c[ch] * y / S + 30 * rng_normal(&r);
                    im[(((size_t)i * S + y) * S + x) * 3 + ch] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
    }
    return im;
}

static void random_state(const Model *m, uint64_t seed, float *params, float *bufs) {
    model_init_params(m, seed, params, bufs, NULL);
    /* non-trivial BN affine parameters */
    for (int i = 0; i < m->nparams; i++) {
        const ParamInfo *p = &m->params[i];
        if (p->kind != P_BN_W && p->kind != P_BN_B) continue;
        float *t = params + p->offset;
        fill_normal(t, p->numel, 0.2f, seed * 100 + (uint64_t)i);
        if (p->kind == P_BN_W) for (size_t j = 0; j < p->numel; j++) t[j] += 1;
    }
}

/* ---- finite differences through the whole engine ------------------------------------------ */

typedef struct {
    Engine *e;
    const Model *m;
    float *params;
    const uint8_t *images;
    int n;
    const LossSpec *ls;
} EngCtx;

static double eng_obj(void *p) {
    EngCtx *c = p;
    engine_set_params(c->e, c->params, NULL, NULL);
    engine_forward(c->e, c->images, c->n, 1);
    LossValues lv;
    engine_loss_backward(c->e, c->ls, &lv);
    return lv.total;
}

/* k distinct units of layer l whose std over the n rows of the last forward is at least the
 * median std of the layer's units (random among those). */
static void pick_varying_units(Engine *e, const Model *m, int l, int n, int32_t *units, int k, uint64_t seed) {
    size_t U = (size_t)m->layer_units[l];
    float *x = xmalloc(sizeof(float) * U * n), *sd = xmalloc(sizeof(float) * U), *sorted = xmalloc(sizeof(float) * U);
    engine_read_layer(e, l, x);
    for (size_t u = 0; u < U; u++) {
        double s = 0, s2 = 0;
        for (int i = 0; i < n; i++) { s += x[i * U + u]; s2 += (double)x[i * U + u] * x[i * U + u]; }
        double v = s2 / n - (s / n) * (s / n);
        sd[u] = sorted[u] = (float)sqrt(v > 0 ? v : 0);
    }
    for (size_t a = 1; a < U; a++) /* insertion sort: U is small here */
        for (size_t b = a; b > 0 && sorted[b - 1] > sorted[b]; b--) { float t = sorted[b]; sorted[b] = sorted[b - 1]; sorted[b - 1] = t; }
    float median = sorted[U / 2];
    Rng r;
    rng_init(&r, 11, rng_stream(RNG_PURPOSE_TEST, 40, (uint32_t)seed, 0));
    for (int a = 0; a < k;) {
        int32_t u = (int32_t)rng_below(&r, (uint32_t)U), dup = 0;
        for (int b = 0; b < a; b++) dup |= units[b] == u;
        if (!dup && sd[u] >= median && sd[u] > 0) units[a++] = u;
    }
    free(x); free(sd); free(sorted);
}

static void engine_fd(int task) {
    omp_set_num_threads(1); /* tiny network: threads only add overhead (the golden tests use them) */
    ModelConfig cfg = {0.125f, 32, task, 16, 7};
    Model m;
    model_init(&m, &cfg);
    const int n = 8;
    float *params = xmalloc(sizeof(float) * m.params_numel), *bufs = xmalloc(sizeof(float) * m.bufs_numel);
    float *grads = xmalloc(sizeof(float) * m.params_numel);
    random_state(&m, 5 + (uint64_t)task, params, bufs);
    uint8_t *images = make_images(n, 32, 7);
    int32_t labels[8] = {0, 3, 6, 1, -1, 2, 2, 5};
    LossSpec ls;
    memset(&ls, 0, sizeof ls);
    ls.temperature = 0.2f;
    ls.labels = labels;
    EngineOptions opt = {n, PREC_FP32, 1, NULL};
    Engine *e = engine_create(&m, CPU, &opt);
    engine_set_params(e, params, bufs, NULL);
    engine_forward(e, images, n, 1);
    /* spatial terms on three layers (SL_REL, SL_REL, SL_ABS) over units that vary well across the
     * rows: a constant unit makes the loss jump under any perturbation, and a nearly constant
     * one divides by its tiny std */
    int32_t units[3][12];
    float coords[3][24];
    const int layers[3] = {1, 4, 7};
    for (int t = 0; t < 3; t++) {
        int l = layers[t];
        pick_varying_units(e, &m, l, n, units[t], 12, (uint64_t)t);
        fill_normal(coords[t], 24, 1, 50 + (uint64_t)t);
        ls.spatial[l] = (SpatialTerm){t == 2 ? SL_ABS : SL_REL, 0.5f, 12, units[t], coords[t]};
    }
    LossValues lv;
    engine_loss_backward(e, &ls, &lv);
    for (int t = 0; t < 3; t++) CHECK(isfinite(lv.spatial[layers[t]]));
    CHECK(isnan(lv.spatial[0]));
    engine_get_grads(e, grads);
    EngCtx c = {e, &m, params, images, n, &ls};
    const char *task_name = task == TASK_SIMCLR ? "simclr" : "supervised";
    char w[160];
    /* The loss is strongly curved and full of kinks (ReLU, max pool, |R - D|; BN over 8 rows,
     * T = 0.2), and float32 rounding of the loss (~1e-7) rules out tiny steps: per tensor, the 3
     * coordinates with the largest gradient, best of central/forward/backward differences with
     * steps 1e-3, 2.5e-4, 6.25e-5. Correct gradients land within ~3e-3 here; a 5% error in one
     * tensor's gradient fails. */
    const char *names[] = {"conv1.weight", "bn1.bias", "layer1.1.conv2.weight", "layer2.0.downsample.0.weight",
                           "layer3.0.bn1.weight", "layer4.1.conv1.weight", "layer4.1.bn2.bias",
                           task == TASK_SIMCLR ? "head.0.weight" : "fc.weight", task == TASK_SIMCLR ? "head.2.bias" : "fc.bias"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        int pi = model_find_param(&m, names[i]);
        REQUIRE(pi >= 0);
        const ParamInfo *p = &m.params[pi];
        snprintf(w, sizeof w, "engine %s: %s", task_name, names[i]);
        gradcheck_steps(w, eng_obj, &c, params + p->offset, p->numel, grads + p->offset, 1e-3, 3, 2e-2, 0, 3, 70 + i);
    }
    engine_free(e);
    free(params); free(bufs); free(grads); free(images);
    model_free(&m);
}

TEST(engine_gradcheck_simclr_spatial) { engine_fd(TASK_SIMCLR); }
TEST(engine_gradcheck_supervised_spatial) { engine_fd(TASK_SUPERVISED); }

/* ---- data parallel with an in-process Comm ------------------------------------------------- */

#define NR 2
typedef struct {
    pthread_barrier_t bar;
    const float *src[NR];
} Shared;

typedef struct {
    Comm c;
    Shared *sh;
} FakeComm;

static void fc_allreduce(Comm *c, float *buf, size_t n) {
    Shared *sh = ((FakeComm *)c)->sh;
    sh->src[c->rank] = buf;
    pthread_barrier_wait(&sh->bar);
    float *sum = xmalloc(n * sizeof(float));
    for (size_t j = 0; j < n; j++) {
        float s = 0;
        for (int r = 0; r < NR; r++) s += sh->src[r][j]; /* same order on every rank */
        sum[j] = s;
    }
    pthread_barrier_wait(&sh->bar); /* everyone has read every buffer */
    memcpy(buf, sum, n * sizeof(float));
    free(sum);
}

static void fc_allgather(Comm *c, const float *send, float *recv, size_t n) {
    Shared *sh = ((FakeComm *)c)->sh;
    sh->src[c->rank] = send;
    pthread_barrier_wait(&sh->bar);
    for (int r = 0; r < NR; r++) memcpy(recv + (size_t)r * n, sh->src[r], n * sizeof(float));
    pthread_barrier_wait(&sh->bar);
}

static void fc_barrier(Comm *c) { pthread_barrier_wait(&((FakeComm *)c)->sh->bar); }
static void fc_finalize(Comm *c) { (void)c; }

typedef struct {
    FakeComm comm;
    const Model *m;
    const float *params, *bufs;
    uint8_t *images; /* this rank's rows */
    int n;
    LossSpec ls;
    SgdSpec sgd;
    int steps;
    LossValues lv;
    float *grads, *after, *after_bufs;
} RankJob;

static void *rank_main(void *p) {
    RankJob *j = p;
    omp_set_num_threads(1);
    EngineOptions opt = {j->n, PREC_FP32, 1, &j->comm.c};
    Engine *e = engine_create(j->m, CPU, &opt);
    engine_set_params(e, j->params, j->bufs, NULL);
    for (int s = 0; s < j->steps; s++) {
        engine_forward(e, j->images, j->n, 1);
        engine_loss_backward(e, &j->ls, &j->lv);
        if (s == 0) engine_get_grads(e, j->grads);
        engine_sgd(e, &j->sgd);
    }
    engine_get_params(e, j->after, j->after_bufs, NULL);
    engine_free(e);
    return NULL;
}

TEST(engine_two_ranks_equal_one_rank) {
    ModelConfig cfg = {0.125f, 32, TASK_SIMCLR, 16, 10};
    Model m;
    model_init(&m, &cfg);
    const int B = 3, n = 2 * B * NR, S = 32; /* 6 images, 12 rows globally */
    const size_t row = (size_t)S * S * 3;
    float *params = xmalloc(sizeof(float) * m.params_numel), *bufs = xmalloc(sizeof(float) * m.bufs_numel);
    random_state(&m, 9, params, bufs);
    uint8_t *images = make_images(n, S, 3); /* rows 0..5 view A of images 0..5, rows 6..11 view B */
    SgdSpec sgd = {0.002f, 0.9f, 1e-4f, 0}; /* updates well below the weights: a well-conditioned comparison */
    LossSpec ls;
    memset(&ls, 0, sizeof ls);
    ls.temperature = 0.1f;
    const int steps = 2;

    /* one rank, whole batch */
    float *g1 = xmalloc(sizeof(float) * m.params_numel), *p1 = xmalloc(sizeof(float) * m.params_numel);
    float *b1 = xmalloc(sizeof(float) * m.bufs_numel);
    EngineOptions opt = {n, PREC_FP32, 1, NULL};
    Engine *e = engine_create(&m, CPU, &opt);
    engine_set_params(e, params, bufs, NULL);
    LossValues lv1;
    for (int s = 0; s < steps; s++) {
        engine_forward(e, images, n, 1);
        engine_loss_backward(e, &ls, &lv1);
        if (s == 0) engine_get_grads(e, g1);
        engine_sgd(e, &sgd);
    }
    engine_get_params(e, p1, b1, NULL);
    engine_free(e);

    /* two ranks: rank r gets images [r*B, (r+1)*B) of each view (the loader's split) */
    Shared sh;
    pthread_barrier_init(&sh.bar, NULL, NR);
    RankJob jobs[NR];
    pthread_t th[NR];
    for (int r = 0; r < NR; r++) {
        RankJob *j = &jobs[r];
        memset(j, 0, sizeof *j);
        j->comm.c = (Comm){r, NR, fc_allreduce, fc_allgather, NULL, NULL, fc_barrier, fc_finalize, NULL};
        j->comm.sh = &sh;
        j->m = &m;
        j->params = params;
        j->bufs = bufs;
        j->n = 2 * B;
        j->images = xmalloc(row * (size_t)j->n);
        for (int v = 0; v < 2; v++)
            memcpy(j->images + row * (size_t)(v * B), images + row * (size_t)(v * B * NR + r * B), row * B);
        j->ls = ls;
        j->sgd = sgd;
        j->steps = steps;
        j->grads = xmalloc(sizeof(float) * m.params_numel);
        j->after = xmalloc(sizeof(float) * m.params_numel);
        j->after_bufs = xmalloc(sizeof(float) * m.bufs_numel);
        REQUIRE(pthread_create(&th[r], NULL, rank_main, j) == 0);
    }
    for (int r = 0; r < NR; r++) pthread_join(th[r], NULL);
    pthread_barrier_destroy(&sh.bar);

    for (int r = 0; r < NR; r++) {
        char w[64];
        CHECK_NEAR(jobs[r].lv.task, lv1.task, 1e-5 * lv1.task);
        snprintf(w, sizeof w, "rank %d gradients (step 1)", r);
        t_check_rel(w, jobs[r].grads, g1, m.params_numel, 1e-5);
        snprintf(w, sizeof w, "rank %d parameters after %d steps", r, steps);
        t_check_close(w, jobs[r].after, p1, m.params_numel, 1e-5, 1e-5);
        snprintf(w, sizeof w, "rank %d BN running stats", r);
        t_check_close(w, jobs[r].after_bufs, b1, m.bufs_numel, 1e-5, 1e-5);
        free(jobs[r].images); free(jobs[r].grads); free(jobs[r].after); free(jobs[r].after_bufs);
    }
    free(params); free(bufs); free(images); free(g1); free(p1); free(b1);
    model_free(&m);
}

/* ---- state and checks ---------------------------------------------------------------------- */

TEST(engine_cpu_state_round_trip_and_checks) {
    ModelConfig cfg = {0.125f, 32, TASK_SIMCLR, 16, 10};
    Model m;
    model_init(&m, &cfg);
    float *p = xmalloc(sizeof(float) * m.params_numel), *q = xmalloc(sizeof(float) * m.params_numel);
    float *b = xmalloc(sizeof(float) * m.bufs_numel), *c = xmalloc(sizeof(float) * m.bufs_numel);
    int64_t nb[64] = {0}, nb2[64];
    random_state(&m, 1, p, b);
    for (int i = 0; i < m.nbn; i++) nb[i] = 10 + i;
    EngineOptions opt = {4, PREC_FP32, 1, NULL};
    Engine *e = engine_create(&m, CPU, &opt);
    CHECK(strstr(engine_describe(e), "cpu fp32") != NULL);
    engine_set_params(e, p, b, nb);
    engine_get_params(e, q, c, nb2);
    CHECK(memcmp(p, q, sizeof(float) * m.params_numel) == 0);
    CHECK(memcmp(b, c, sizeof(float) * m.bufs_numel) == 0);
    for (int i = 0; i < m.nbn; i++) CHECK_EQ_INT(nb2[i], nb[i]);
    fill_normal(q, m.params_numel, 1, 3);
    engine_set_momentum(e, q);
    engine_get_momentum(e, p);
    CHECK(memcmp(p, q, sizeof(float) * m.params_numel) == 0);
    uint8_t *im = make_images(4, 32, 1);
    /* train forward bumps num_batches_tracked; eval forward leaves the buffers alone */
    engine_forward(e, im, 4, 1);
    engine_get_params(e, NULL, c, nb2);
    CHECK_EQ_INT(nb2[0], nb[0] + 1);
    CHECK(memcmp(b, c, sizeof(float) * m.bufs_numel) != 0);
    engine_forward(e, im, 4, 0);
    engine_get_params(e, NULL, b, nb);
    CHECK(memcmp(b, c, sizeof(float) * m.bufs_numel) == 0);
    CHECK_EQ_INT(nb[0], nb2[0]);
    LossSpec ls;
    memset(&ls, 0, sizeof ls);
    ls.temperature = 0.1f;
    LossValues lv;
    EXPECT_DIE(EXIT_RUNTIME, engine_loss_backward(e, &ls, &lv), "eval-mode");
    EXPECT_DIE(EXIT_RUNTIME, engine_forward(e, im, 5, 1), "holds up to 4");
    engine_forward(e, im, 3, 1);
    EXPECT_DIE(EXIT_RUNTIME, engine_loss_backward(e, &ls, &lv), "even number");
    engine_forward(e, im, 4, 1);
    int32_t bad_unit = (int32_t)m.layer_units[2];
    float xy[2] = {0, 0};
    ls.spatial[2] = (SpatialTerm){SL_REL, 0.25f, 1, &bad_unit, xy};
    EXPECT_DIE(EXIT_RUNTIME, engine_loss_backward(e, &ls, &lv), "outside layer2.0");
    engine_free(e);
    free(p); free(q); free(b); free(c); free(im);
    model_free(&m);
}

