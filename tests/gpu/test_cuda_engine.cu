/* test_cuda_engine.cu: the CUDA engine against the CPU engine (the reference) on a small network
 * (ResNet-18 width 0.25, 64 px, 8 images x 2 views), in fp32 and bf16, SimCLR and supervised: the 8
 * block outputs, pooled features and head output of a training-mode forward, the BN running
 * statistics it updates, the task and spatial losses (all 8 layers, SL_REL and SL_ABS), every
 * parameter gradient, one SGD update and momentum; then engine_train_step (eager warm-up, CUDA-graph
 * capture, replays with a new learning rate and new spatial coordinates), one replayed step compared
 * with the CPU from the GPU's state, eval-mode forwards at 6 and 16 rows (two sets of cuDNN plans)
 * from the GPU's state, a replay after them, and images passed as a device pointer. Also: each
 * engine_train_step (eager warm-up, capture, replays, a new shape) against the same step as separate
 * calls from the same state (bit-identical with deterministic algorithms), run-to-run determinism,
 * and an odd width (channel counts not multiples of 8). SKIP without a GPU.
 *
 * Why every comparison starts from the same state. This test problem is chaotic. On the CPU engine
 * alone (tests/bench/conditioning.c, `make bench-conditioning`, 24 seeds), perturbing the initial
 * parameters by 1e-8 (relative, random; the GPU's fp32 forward differs from the CPU's like a 1e-7
 * perturbation: 5e-7 at layer1.0 to 3e-6 at layer4.1) moves, with SGD lr 0.05, 0.03, 0.02 and
 * momentum 0.9: the step-3 task loss by 3.6e-4 (median; > 1e-3 in 9 of 24 seeds), the step-4 loss
 * by 1.6e-2, the parameters after 3 steps by 1.4e-3, their momentum by 5.9e-2 and an eval forward
 * after 4 steps by 5.7e-2 (SimCLR; supervised alike) -- the size of what the first GPU run of the
 * old 3-step comparison reported. A trajectory cannot be compared at 1e-3, so each comparison
 * with the CPU below loads the GPU's state into the CPU engines first and compares one step; the
 * multi-step path (eager, capture, replay) is checked against the GPU's own separate calls, bit for
 * bit (cuda_engine_graph_vs_eager).
 *
 * Tolerances: relative L2 error per tensor, fp32 1e-3, bf16 3e-2 (issue 3), raised to K x spread,
 * where spread is how far the reference itself moves under a perturbation of the GPU's size (each
 * line prints it):
 * - fp32: four probe CPU engines with the parameters perturbed by 5e-7 (relative, random), K = 1.5.
 *   Forward values and losses are continuous (spread ~1e-5: the tolerance stays 1e-3), but
 *   gradients jump when a rounding difference flips one ReLU or max-pool decision: one block-output
 *   element carries ~1/sqrt(32768) = 0.5% of a layer's gradient here. With a 1e-7 perturbation the
 *   step-1 gradients move by 4e-6..1.2e-5, but jump by 5e-4..2.2e-2 in 3 of 24 seeds (SimCLR) and 6
 *   of 24 (supervised); in all 9 the probes saw the jump, and max(1e-3, 1.5 x spread) covered it.
 * - bf16: the reference runs with the convolution weights rounded to bf16 (what the GPU's
 *   convolutions use); one probe with the fp32 weights measures what a single bf16 rounding does,
 *   K = 3 (the GPU also rounds every activation and gradient tensor). Rounding the weights alone
 *   moves layer1.0's output by 0.36% and layer4.1's by 2.1%, and the step-1 gradients by 24% (mean
 *   over tensors; largest 29%..75%; median over 48 seeds of both tasks), whatever the seed, width,
 *   batch or image statistics (tried once each: width 0.5, 64 rows, 128 px, noise images, BN 1/0): deep
 *   bf16 gradients of this network at random initialisation cannot be checked tighter than that
 *   here. After one SGD step with those gradients the step-2 spatial losses differ by 3.5%..13%
 *   (largest layer; 24 seeds of both tasks) -- the 3-5% the first GPU run reported for bf16 step 2
 *   is this rounding, not a defect. The bf16 kernels are checked one by one, with good
 *   conditioning, in test_cuda_kernels.cu (odd channel counts included).
 * With TDANN_GPU_RECORD=<file> each comparison is also appended to that file as
 * "test<TAB>precision<TAB>tensor<TAB>rel_err<TAB>tol<TAB>OK|FAIL<TAB>spread" for the repository's record.
 */
#include "gpu_test_util.h"

#include <math.h>
#include <string.h>

extern "C" {
#include "engine.h"
#include "engine_cuda.h"
#include "model.h"
}

#define MAX_PROBES 4
static const double TOL_FP32 = 1e-3, TOL_BF16 = 3e-2;
static const double FP32_PROBE_EPS = 5e-7, FP32_SPREAD_K = 1.5, BF16_SPREAD_K = 3.0;

static const char *g_test = "";

static void record(const char *prec, const char *what, double e, double tol, int ok, double spread) {
    const char *rp = getenv("TDANN_GPU_RECORD");
    if (!rp || !*rp) return;
    FILE *f = fopen(rp, "a");
    if (!f) return;
    fprintf(f, "%s\t%s\t%s\t%.3e\t%.1e\t%s\t%.1e\n", g_test, prec, what, e, tol, ok ? "OK" : "FAIL", spread);
    fclose(f);
}

/* got vs ref[0] over [off, off + len). spread = largest rel. L2 distance of ref[1..np] from ref[0];
 * passes within max(tol, K * spread). One printed (and recorded) line. */
static int cmp(const char *prec, const char *what, const float *got, float *const *ref, int np, size_t off, size_t len,
               double tol, double K) {
    double spread = 0;
    for (int k = 1; k <= np; k++) {
        double d = t_rel_l2(ref[k] + off, ref[0] + off, len);
        if (!(d <= spread)) spread = d;
    }
    double te = isfinite(spread) && K * spread > tol ? K * spread : tol;
    char w[384];
    if (np) snprintf(w, sizeof w, "%s %s [ref spread %.1e]", prec, what, spread);
    else snprintf(w, sizeof w, "%s %s", prec, what);
    double e = t_rel_l2(got + off, ref[0] + off, len);
    int ok = t_check_rel(w, got + off, ref[0] + off, len, te);
    record(prec, what, e, te, ok, spread);
    return ok;
}

/* Smooth random images [n][S][S][3] with noise; rows n/2.. are a shifted, brightened "view B". */
static uint8_t *make_images(int n, int S, Rng *r) {
    uint8_t *im = (uint8_t *)xmalloc((size_t)n * S * S * 3);
    int B = n / 2;
    for (int i = 0; i < B; i++) {
        double a[3], b[3], c[3];
        for (int ch = 0; ch < 3; ch++) { a[ch] = 255 * rng_uniform_double(r); b[ch] = 200 * (rng_uniform_double(r) - 0.5); c[ch] = 200 * (rng_uniform_double(r) - 0.5); }
        for (int v = 0; v < 2; v++)
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++)
                    for (int ch = 0; ch < 3; ch++) {
                        double xx = x + 3 * v, val = a[ch] + b[ch] * xx / S + c[ch] * y / S + 30 * rng_normal(r) + 10 * v;
                        im[((((size_t)(v * B + i)) * S + y) * S + x) * 3 + ch] = (uint8_t)(val < 0 ? 0 : val > 255 ? 255 : val);
                    }
    }
    return im;
}

static void random_state(const Model *m, uint64_t seed, float *params, float *bufs, Rng *r) {
    model_init_params(m, seed, params, bufs, NULL);
    for (int i = 0; i < m->nparams; i++) {
        const ParamInfo *p = &m->params[i];
        if (p->kind != P_BN_W && p->kind != P_BN_B) continue;
        for (size_t j = 0; j < p->numel; j++)
            params[p->offset + j] = (p->kind == P_BN_W ? 1.0f : 0.0f) + 0.2f * (float)rng_normal(r);
    }
    for (size_t j = 0; j < m->bufs_numel; j++) bufs[j] = 0.5f + (float)rng_uniform(r); /* positive: fine for means too */
}

/* k distinct units of layer l whose std over the rows is at least the layer's median std
 * (constant units make the spatial loss ill-conditioned, as in the CPU engine's own test) */
static void pick_units(const float *x, const Model *m, int l, int n, int32_t *units, int k, Rng *r) {
    size_t U = (size_t)m->layer_units[l];
    float *sd = (float *)xmalloc(sizeof(float) * U), *sorted = (float *)xmalloc(sizeof(float) * U);
    for (size_t u = 0; u < U; u++) {
        double s = 0, s2 = 0;
        for (int i = 0; i < n; i++) { s += x[i * U + u]; s2 += (double)x[i * U + u] * x[i * U + u]; }
        double v = s2 / n - (s / n) * (s / n);
        sd[u] = sorted[u] = (float)sqrt(v > 0 ? v : 0);
    }
    qsort(sorted, U, sizeof(float), [](const void *a, const void *b) {
        float fa = *(const float *)a, fb = *(const float *)b;
        return (fa > fb) - (fa < fb);
    });
    float median = sorted[U / 2];
    for (int a = 0; a < k;) {
        int32_t u = (int32_t)rng_below(r, (uint32_t)U), dup = 0;
        for (int b = 0; b < a; b++) dup |= units[b] == u;
        if (!dup && sd[u] >= median && sd[u] > 0) units[a++] = u;
    }
    free(sd);
    free(sorted);
}

typedef struct {
    Model m;
    int n, S;
    float *params, *bufs;
    uint8_t *images;
    int32_t units[N_LAYERS][64];
    float coords[N_LAYERS][128];
    int32_t labels[64];
    LossSpec ls;
} Case;

static void case_init(Case *c, float width, int task, int n, Rng *r) {
    ModelConfig cfg = {width, 64, task, 128, 10};
    model_init(&c->m, &cfg);
    c->n = n;
    c->S = 64;
    c->params = (float *)xmalloc(sizeof(float) * c->m.params_numel);
    c->bufs = (float *)xmalloc(sizeof(float) * c->m.bufs_numel);
    random_state(&c->m, 1 + rng_below(r, 1000), c->params, c->bufs, r);
    c->images = make_images(n, c->S, r);
    memset(&c->ls, 0, sizeof c->ls);
    c->ls.temperature = 0.1f;
    for (int i = 0; i < n; i++) c->labels[i] = (int32_t)rng_below(r, 10);
    c->labels[1] = -1;
    c->ls.labels = c->labels;
}

static void case_free(Case *c) {
    free(c->params);
    free(c->bufs);
    free(c->images);
    model_free(&c->m);
}

/* spatial terms on all 8 layers, units chosen from an engine's last forward */
static void case_spatial(Case *c, Engine *e, int k, Rng *r) {
    for (int l = 0; l < N_LAYERS; l++) {
        size_t U = (size_t)c->m.layer_units[l];
        float *x = (float *)xmalloc(sizeof(float) * U * c->n);
        engine_read_layer(e, l, x);
        int kk = k < (int)(U / 2) ? k : (int)(U / 2);
        pick_units(x, &c->m, l, c->n, c->units[l], kk, r);
        for (int j = 0; j < 2 * kk; j++) c->coords[l][j] = 4.0f * rng_uniform(r);
        c->ls.spatial[l].kind = (l == 2 || l == 5) ? SL_ABS : SL_REL;
        c->ls.spatial[l].alpha = 0.25f + 0.25f * (l % 3);
        c->ls.spatial[l].k = kk;
        c->ls.spatial[l].units = c->units[l];
        c->ls.spatial[l].coords = c->coords[l];
        free(x);
    }
}

/* new coordinates (same units and k): per-step inputs that a graph replay must pick up */
static void case_move_coords(Case *c, Rng *r) {
    for (int l = 0; l < N_LAYERS; l++)
        for (int j = 0; j < 2 * c->ls.spatial[l].k; j++) c->coords[l][j] = 4.0f * rng_uniform(r);
}

/* graphs: 1 forces CUDA graphs on, 0 off (TDANN_CUDA_GRAPH at creation), -1 leaves the environment */
static Engine *make_cuda(const Model *m, int n, int prec, int det, int graphs = -1) {
    const char *old = getenv("TDANN_CUDA_GRAPH");
    char *saved = old ? strdup(old) : NULL;
    if (graphs >= 0) setenv("TDANN_CUDA_GRAPH", graphs ? "1" : "0", 1);
    Device d;
    memset(&d, 0, sizeof d);
    d.kind = DEVICE_CUDA;
    d.index = 0;
    EngineOptions opt = {n, prec, det, NULL};
    Engine *e = engine_create(m, d, &opt);
    if (saved) setenv("TDANN_CUDA_GRAPH", saved, 1);
    else unsetenv("TDANN_CUDA_GRAPH");
    free(saved);
    fprintf(stderr, "engine: %s\n", engine_describe(e));
    return e;
}

static Engine *make_cpu(const Model *m, int n) {
    Device d;
    memset(&d, 0, sizeof d);
    d.kind = DEVICE_CPU;
    EngineOptions opt = {n, PREC_FP32, 1, NULL};
    return engine_create(m, d, &opt);
}

/* ---- engine state --------------------------------------------------------------------------------- */
typedef struct {
    float *p, *b, *m;
    int64_t nb[64];
} State;

static void state_init(State *s, const Model *m) {
    s->p = (float *)xcalloc(m->params_numel, sizeof(float));
    s->m = (float *)xcalloc(m->params_numel, sizeof(float));
    s->b = (float *)xcalloc(m->bufs_numel, sizeof(float));
    memset(s->nb, 0, sizeof s->nb);
}
static void state_free(State *s) {
    free(s->p);
    free(s->m);
    free(s->b);
}
static void state_get(Engine *e, State *s) {
    engine_get_params(e, s->p, s->b, s->nb);
    engine_get_momentum(e, s->m);
}

/* ---- CPU references ----------------------------------------------------------------------------- */
/* e[0] is the reference; e[1..np] the probes that measure its spread (see the top comment). */
typedef struct {
    Engine *e[1 + MAX_PROBES];
    int np, bf;
    const Model *m;
    uint64_t seed;
    int loads;
} Refs;

static void refs_init(Refs *R, const Model *m, int n, int bf, uint64_t seed) {
    R->m = m;
    R->bf = bf;
    R->np = bf ? 1 : MAX_PROBES;
    R->seed = seed;
    R->loads = 0;
    for (int k = 0; k <= R->np; k++) R->e[k] = make_cpu(m, n);
}
static void refs_free(Refs *R) {
    for (int k = 0; k <= R->np; k++) engine_free(R->e[k]);
}

static void round_conv_weights(const Model *m, float *params) {
    for (int i = 0; i < m->nparams; i++)
        if (m->params[i].kind == P_CONV_W) gt_round_all(params + m->params[i].offset, m->params[i].numel, 1);
}

/* One state into every reference: e[0] as the GPU computes with it (bf16: convolution weights
 * rounded), bf16 probe: as given, fp32 probes: perturbed (fresh draws at every load). */
static void refs_load(Refs *R, const float *params, const float *bufs, const int64_t *nb, const float *mom) {
    size_t P = R->m->params_numel;
    float *t = (float *)xmalloc(P * sizeof(float));
    R->loads++;
    for (int k = 0; k <= R->np; k++) {
        memcpy(t, params, P * sizeof(float));
        if (R->bf && k == 0) round_conv_weights(R->m, t);
        if (!R->bf && k > 0) {
            Rng q;
            rng_init(&q, R->seed, (uint64_t)(100 * R->loads + k));
            for (size_t j = 0; j < P; j++) t[j] *= (float)(1.0 + FP32_PROBE_EPS * rng_normal(&q));
        }
        engine_set_params(R->e[k], t, bufs, nb);
        if (mom) engine_set_momentum(R->e[k], mom);
    }
    free(t);
}

/* [1 + np] arrays of n floats */
static float **arrays(int count, size_t n) {
    float **a = (float **)xmalloc(sizeof(float *) * (size_t)count);
    for (int k = 0; k < count; k++) a[k] = (float *)xcalloc(n + 1, sizeof(float));
    return a;
}
static void arrays_free(float **a, int count) {
    for (int k = 0; k < count; k++) free(a[k]);
    free(a);
}

/* forward outputs as one array: layers 0..7, features, head output */
static size_t fwd_offset(const Model *m, int n, int idx) {
    size_t o = 0;
    for (int i = 0; i < idx; i++)
        o += (size_t)n * (i < N_LAYERS ? (size_t)m->layer_units[i] : i == N_LAYERS ? (size_t)m->plan.feat_dim : (size_t)m->plan.out_dim);
    return o;
}
static void fwd_read(Engine *e, const Model *m, int n, float *out) {
    for (int l = 0; l < N_LAYERS; l++) engine_read_layer(e, l, out + fwd_offset(m, n, l));
    engine_read_features(e, out + fwd_offset(m, n, N_LAYERS));
    engine_read_output(e, out + fwd_offset(m, n, N_LAYERS + 1));
}

static void compare_forward(const char *prec, const char *stage, Engine *g, Refs *R, int n, double tol, double K) {
    const Model *m = R->m;
    size_t N = fwd_offset(m, n, N_LAYERS + 2);
    float *got = (float *)xmalloc((N + 1) * sizeof(float));
    float **ref = arrays(1 + R->np, N);
    fwd_read(g, m, n, got);
    for (int k = 0; k <= R->np; k++) fwd_read(R->e[k], m, n, ref[k]);
    char w[128];
    for (int i = 0; i < N_LAYERS + 2; i++) {
        snprintf(w, sizeof w, "%s %s", stage, i < N_LAYERS ? LAYER_NAMES[i] : i == N_LAYERS ? "features" : "head output");
        cmp(prec, w, got, ref, R->np, fwd_offset(m, n, i), fwd_offset(m, n, i + 1) - fwd_offset(m, n, i), tol, K);
    }
    free(got);
    arrays_free(ref, 1 + R->np);
}

/* losses as [task, spatial 0..7, total] */
static void loss_vec(const LossValues *v, float *o) {
    o[0] = (float)v->task;
    for (int l = 0; l < N_LAYERS; l++) o[1 + l] = (float)v->spatial[l];
    o[1 + N_LAYERS] = (float)v->total;
}

static void compare_losses(const char *prec, const char *stage, const LossValues *got, const LossValues *ref, int np,
                           double tol, double K) {
    float g[N_LAYERS + 2];
    float **r = arrays(1 + np, N_LAYERS + 2);
    loss_vec(got, g);
    for (int k = 0; k <= np; k++) loss_vec(&ref[k], r[k]);
    char w[128];
    for (int i = 0; i < N_LAYERS + 2; i++) {
        if (i >= 1 && i <= N_LAYERS && isnan(r[0][i])) {
            CHECK_MSG(isnan(g[i]), "%s %s: spatial loss of %s is %g, reference has none", prec, stage, LAYER_NAMES[i - 1], g[i]);
            continue;
        }
        if (i == 0) snprintf(w, sizeof w, "%s task loss", stage);
        else if (i <= N_LAYERS) snprintf(w, sizeof w, "%s spatial loss %s", stage, LAYER_NAMES[i - 1]);
        else snprintf(w, sizeof w, "%s total loss", stage);
        cmp(prec, w, g, r, np, (size_t)i, 1, tol, K);
    }
    arrays_free(r, 1 + np);
}

/* per parameter tensor (canonical layout) */
static void compare_params(const char *prec, const char *what, const Model *m, const float *got, float *const *ref, int np,
                           double tol, double K) {
    char w[256];
    for (int i = 0; i < m->nparams; i++) {
        const ParamInfo *p = &m->params[i];
        snprintf(w, sizeof w, "%s %s", what, p->name);
        cmp(prec, w, got, ref, np, p->offset, p->numel, tol, K);
    }
}

static void compare_grads(const char *prec, const char *what, Engine *g, Refs *R, double tol, double K) {
    size_t P = R->m->params_numel;
    float *got = (float *)xmalloc(P * sizeof(float));
    float **ref = arrays(1 + R->np, P);
    engine_get_grads(g, got);
    for (int k = 0; k <= R->np; k++) engine_get_grads(R->e[k], ref[k]);
    compare_params(prec, what, R->m, got, ref, R->np, tol, K);
    free(got);
    arrays_free(ref, 1 + R->np);
}

/* BN running statistics and num_batches_tracked of the GPU vs the references */
static void compare_bufs(const char *prec, const char *what, Engine *g, Refs *R, double tol, double K) {
    const Model *m = R->m;
    float *got = (float *)xmalloc((m->bufs_numel + 1) * sizeof(float));
    float **ref = arrays(1 + R->np, m->bufs_numel);
    int64_t nbg[64], nbr[64];
    engine_get_params(g, NULL, got, nbg);
    for (int k = 0; k <= R->np; k++) engine_get_params(R->e[k], NULL, ref[k], k ? NULL : nbr);
    cmp(prec, what, got, ref, R->np, 0, m->bufs_numel, tol, K);
    for (int b = 0; b < m->nbn; b++)
        CHECK_MSG(nbg[b] == nbr[b], "%s %s: num_batches_tracked of BN %d is %lld, reference %lld", prec, what, b,
                  (long long)nbg[b], (long long)nbr[b]);
    free(got);
    arrays_free(ref, 1 + R->np);
}

/* One step from the same state: `before` = the GPU's state before it, ref_before[k] = each reference's
 * parameters before it. Compares the parameter update (after - before: learning rate, momentum and
 * weight decay as given for this step), the momentum and the BN running statistics. */
static void compare_update(const char *prec, const char *stage, Engine *g, Refs *R, const State *before,
                           float *const *ref_before, double tol, double K) {
    const Model *m = R->m;
    size_t P = m->params_numel;
    State after;
    state_init(&after, m);
    state_get(g, &after);
    float *du = (float *)xmalloc(P * sizeof(float));
    float **rdu = arrays(1 + R->np, P), **rm = arrays(1 + R->np, P);
    for (size_t j = 0; j < P; j++) du[j] = after.p[j] - before->p[j];
    for (int k = 0; k <= R->np; k++) {
        engine_get_params(R->e[k], rdu[k], NULL, NULL);
        for (size_t j = 0; j < P; j++) rdu[k][j] -= ref_before[k][j];
        engine_get_momentum(R->e[k], rm[k]);
    }
    char w[128];
    snprintf(w, sizeof w, "%s update", stage);
    compare_params(prec, w, m, du, rdu, R->np, tol, K);
    snprintf(w, sizeof w, "%s momentum", stage);
    compare_params(prec, w, m, after.m, rm, R->np, tol, K);
    snprintf(w, sizeof w, "%s BN running stats", stage);
    compare_bufs(prec, w, g, R, tol, K);
    free(du);
    arrays_free(rdu, 1 + R->np);
    arrays_free(rm, 1 + R->np);
    state_free(&after);
}

static float **refs_params(Refs *R) {
    float **a = arrays(1 + R->np, R->m->params_numel);
    for (int k = 0; k <= R->np; k++) engine_get_params(R->e[k], a[k], NULL, NULL);
    return a;
}

static void print_losses(const char *prec, const char *stage, const LossValues *v) {
    fprintf(stderr, "%s %-28s task %.6f total %.6f spatial", prec, stage, v->task, v->total);
    for (int l = 0; l < N_LAYERS; l++) fprintf(stderr, " %.4f", v->spatial[l]);
    fprintf(stderr, "\n");
}

static void engine_vs_cpu(int prec, int task) {
    const int bf = prec == PREC_BF16;
    const char *pn = bf ? "bf16" : "fp32";
    const double tol = bf ? TOL_BF16 : TOL_FP32, K = bf ? BF16_SPREAD_K : FP32_SPREAD_K;
    Rng r;
    rng_init(&r, gt_seed(g_test), 20 + prec * 2 + task);
    Case c;
    const int n = 16;
    case_init(&c, 0.25f, task, n, &r);
    const Model *m = &c.m;
    size_t P = m->params_numel, B = m->bufs_numel;
    Engine *gpu = make_cuda(m, n, prec, 0);
    Refs R;
    refs_init(&R, m, n, bf, rng_u64(&r));
    engine_set_params(gpu, c.params, c.bufs, NULL);
    refs_load(&R, c.params, c.bufs, NULL, NULL);
    State s0;
    state_init(&s0, m);
    LossValues lg, lr[1 + MAX_PROBES];

    /* 0. state round trip through the internal layout */
    state_get(gpu, &s0);
    CHECK_MSG(memcmp(s0.p, c.params, P * sizeof(float)) == 0, "%s: parameters do not survive set/get", pn);
    CHECK_MSG(memcmp(s0.b, c.bufs, B * sizeof(float)) == 0, "%s: BN buffers do not survive set/get", pn);

    /* 1. training-mode forward, and the running statistics it updated */
    engine_forward(gpu, c.images, n, 1);
    for (int k = 0; k <= R.np; k++) engine_forward(R.e[k], c.images, n, 1);
    compare_forward(pn, "train forward", gpu, &R, n, tol, K);
    compare_bufs(pn, "BN running stats after the train forward", gpu, &R, tol, K);

    /* 2. losses and gradients */
    case_spatial(&c, R.e[0], 40, &r);
    engine_loss_backward(gpu, &c.ls, &lg);
    for (int k = 0; k <= R.np; k++) engine_loss_backward(R.e[k], &c.ls, &lr[k]);
    compare_losses(pn, "step 1", &lg, lr, R.np, tol, K);
    compare_grads(pn, "grad", gpu, &R, tol, K);

    /* 3. SGD: update and momentum */
    SgdSpec s1 = {0.05f, 0.9f, 1e-3f, 0}, s2 = {0.03f, 0.9f, 1e-3f, 0}, s3 = {0.02f, 0.9f, 1e-3f, 0},
            s4 = {0.015f, 0.9f, 1e-3f, 0}, s5 = {0.01f, 0.8f, 2e-3f, 0}, s6 = {0.02f, 0.9f, 1e-3f, 1};
    state_get(gpu, &s0);
    float **rb = refs_params(&R);
    engine_sgd(gpu, &s1);
    for (int k = 0; k <= R.np; k++) engine_sgd(R.e[k], &s1);
    compare_update(pn, "step 1 SGD", gpu, &R, &s0, rb, tol, K);
    arrays_free(rb, 1 + R.np);

    /* 4. engine_train_step on the GPU alone: eager warm-up, capture, replay with a new learning rate.
     * Not compared with the CPU (a chaotic trajectory, see the top); cuda_engine_graph_vs_eager
     * compares these paths bit for bit. */
    engine_train_step(gpu, c.images, n, &c.ls, &s2, &lg);
    print_losses(pn, "step 2 (eager warm-up)", &lg);
    engine_train_step(gpu, c.images, n, &c.ls, &s3, &lg);
    print_losses(pn, "step 3 (graph capture)", &lg);
    CHECK_MSG(engine_cuda_graph_active(gpu), "%s: the training step is not replayed as a CUDA graph (see warnings above)", pn);
    engine_train_step(gpu, c.images, n, &c.ls, &s4, &lg);
    print_losses(pn, "step 4 (graph replay)", &lg);

    /* 5. a replayed step with new coordinates and new SGD settings, from the GPU's state */
    state_get(gpu, &s0);
    refs_load(&R, s0.p, s0.b, s0.nb, s0.m);
    rb = refs_params(&R);
    case_move_coords(&c, &r);
    engine_train_step(gpu, c.images, n, &c.ls, &s5, &lg);
    for (int k = 0; k <= R.np; k++) engine_train_step(R.e[k], c.images, n, &c.ls, &s5, &lr[k]);
    compare_losses(pn, "step 5 (graph replay)", &lg, lr, R.np, tol, K);
    compare_update(pn, "step 5 (graph replay)", gpu, &R, &s0, rb, tol, K);
    arrays_free(rb, 1 + R.np);

    /* 6. eval-mode forward from the GPU's state, on fewer rows than max_rows (a second set of cuDNN
     * plans) and on max_rows */
    state_get(gpu, &s0);
    refs_load(&R, s0.p, s0.b, s0.nb, s0.m);
    engine_forward(gpu, c.images, 6, 0);
    for (int k = 0; k <= R.np; k++) engine_forward(R.e[k], c.images, 6, 0);
    compare_forward(pn, "eval forward (6 rows)", gpu, &R, 6, tol, K);
    engine_forward(gpu, c.images, n, 0);
    for (int k = 0; k <= R.np; k++) engine_forward(R.e[k], c.images, n, 0);
    compare_forward(pn, "eval forward (16 rows)", gpu, &R, n, tol, K);

    /* 7. the graph replays correctly after those forwards (the 6-row plan search wrote into the
     * activation and scratch buffers the graph uses), with Nesterov momentum */
    rb = refs_params(&R);
    engine_train_step(gpu, c.images, n, &c.ls, &s6, &lg);
    for (int k = 0; k <= R.np; k++) engine_train_step(R.e[k], c.images, n, &c.ls, &s6, &lr[k]);
    CHECK_MSG(engine_cuda_graph_active(gpu), "%s: no graph replay after the eval forwards", pn);
    compare_losses(pn, "step 6 (replay after eval)", &lg, lr, R.np, tol, K);
    compare_update(pn, "step 6 (replay after eval)", gpu, &R, &s0, rb, tol, K);
    arrays_free(rb, 1 + R.np);

    /* 8. images already on the device give bit-identical results */
    size_t ib = (size_t)n * c.S * c.S * 3;
    uint8_t *dimg;
    CUDA_CHECK(cudaMalloc(&dimg, ib));
    CUDA_CHECK(cudaMemcpy(dimg, c.images, ib, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaDeviceSynchronize()); /* the engine's stream does not wait for the legacy stream */
    size_t U7 = (size_t)m->layer_units[7] * n;
    float *h1 = (float *)xmalloc(U7 * sizeof(float)), *h2 = (float *)xmalloc(U7 * sizeof(float));
    engine_forward(gpu, c.images, n, 0);
    engine_read_layer(gpu, 7, h1);
    engine_forward(gpu, dimg, n, 0);
    engine_read_layer(gpu, 7, h2);
    CHECK_MSG(memcmp(h1, h2, U7 * sizeof(float)) == 0, "%s: device-pointer images give different outputs", pn);
    CUDA_CHECK(cudaFree(dimg));
    free(h1);
    free(h2);

    engine_free(gpu);
    refs_free(&R);
    state_free(&s0);
    case_free(&c);
}

TEST(cuda_engine_vs_cpu_fp32) {
    NEED_GPU();
    g_test = "cuda_engine_vs_cpu_fp32";
    engine_vs_cpu(PREC_FP32, TASK_SIMCLR);
}

TEST(cuda_engine_vs_cpu_bf16) {
    NEED_GPU();
    g_test = "cuda_engine_vs_cpu_bf16";
    engine_vs_cpu(PREC_BF16, TASK_SIMCLR);
}

TEST(cuda_engine_vs_cpu_supervised) {
    NEED_GPU();
    g_test = "cuda_engine_vs_cpu_supervised";
    engine_vs_cpu(PREC_FP32, TASK_SUPERVISED);
    engine_vs_cpu(PREC_BF16, TASK_SUPERVISED);
}

/* ---- the three ways of running a training step ---------------------------------------------------- */
/* Difference of two float tensors: 0 when bit-identical, else the relative L2 difference (at least
 * 1e-30, so that a sign-of-zero or NaN-payload difference still counts). */
static double tensor_diff(const float *a, const float *b, size_t n) {
    if (memcmp(a, b, n * sizeof(float)) == 0) return 0;
    double d = t_rel_l2(a, b, n);
    return d > 1e-30 ? d : 1e-30;
}

/* Largest difference over the tensors of two states (0: bit-identical); *where names the tensor. */
static double state_diff(const Model *m, const State *a, const State *b, char *where, size_t wlen) {
    double worst = 0;
    snprintf(where, wlen, "-");
    for (int i = 0; i < m->nparams; i++) {
        const ParamInfo *p = &m->params[i];
        double dp = tensor_diff(a->p + p->offset, b->p + p->offset, p->numel);
        double dm = tensor_diff(a->m + p->offset, b->m + p->offset, p->numel);
        if (dp > worst) { worst = dp; snprintf(where, wlen, "%s", p->name); }
        if (dm > worst) { worst = dm; snprintf(where, wlen, "momentum of %s", p->name); }
    }
    double db = tensor_diff(a->b, b->b, m->bufs_numel);
    if (db > worst) { worst = db; snprintf(where, wlen, "BN running stats"); }
    for (int k = 0; k < m->nbn; k++)
        if (a->nb[k] != b->nb[k]) { worst = 1; snprintf(where, wlen, "num_batches_tracked"); }
    return worst;
}

static int losses_equal(const LossValues *a, const LossValues *b) {
    if (a->task != b->task || a->total != b->total) return 0;
    for (int l = 0; l < N_LAYERS; l++)
        if (!(a->spatial[l] == b->spatial[l] || (isnan(a->spatial[l]) && isnan(b->spatial[l])))) return 0;
    return 1;
}

/* One engine (deterministic algorithms, graphs on) runs 8 steps; each step runs twice from the same
 * state: as separate calls (engine_forward + engine_loss_backward + engine_sgd: the plain eager
 * path) and, after restoring the state, as engine_train_step, which warms up (eager), captures and
 * replays. The steps change the learning rate, momentum, weight decay, Nesterov, the coordinates,
 * the units' order and the labels (per-step inputs a replay must pick up), and step 6 changes the
 * shape (one layer's k), so the engine warms up, captures and replays a second graph. Expected:
 * bit-identical losses and states (parameters, momentum, BN running statistics, num_batches) after
 * every step. Both runs share the engine's cuDNN plans and cuBLAS handle; a difference names the
 * step and the kind of train_step call (a difference of ~1e-7 would mean that a library chose other
 * kernels under capture, not that the graph missed an input). Nothing compounds: each step starts
 * from one state. */
static void graph_vs_eager(int prec, int task, Rng *r) {
    const char *pn = prec == PREC_BF16 ? "bf16" : "fp32";
    const char *tn = task == TASK_SIMCLR ? "simclr" : "supervised";
    Case c;
    const int n = 16;
    case_init(&c, 0.25f, task, n, r);
    const Model *m = &c.m;
    Engine *cpu = make_cpu(m, n);
    engine_set_params(cpu, c.params, c.bufs, NULL);
    engine_forward(cpu, c.images, n, 1);
    case_spatial(&c, cpu, 24, r);
    engine_free(cpu);
    Engine *E = make_cuda(m, n, prec, 1, 1);
    engine_set_params(E, c.params, c.bufs, NULL);
    State s0, sa, st;
    state_init(&s0, m);
    state_init(&sa, m);
    state_init(&st, m);
    const char *mode[8] = {"eager warm-up", "capture", "replay", "replay", "replay, new inputs", "new shape: eager",
                           "new shape: capture", "replay"};
    for (int s = 0; s < 8; s++) {
        SgdSpec sg = {0.02f / (1 + s), s == 3 ? 0.8f : 0.9f, s == 2 ? 2e-3f : 1e-3f, s == 7};
        if (s == 4) {
            case_move_coords(&c, r);
            for (int l = 0; l < N_LAYERS; l++) /* reversed order: same set, no repeats, same shape */
                for (int a = 0, b = c.ls.spatial[l].k - 1; a < b; a++, b--) {
                    int32_t t = c.units[l][a];
                    c.units[l][a] = c.units[l][b];
                    c.units[l][b] = t;
                }
            for (int i = 0; i < n; i++) c.labels[i] = (int32_t)((c.labels[i] + 3) % 10);
            c.labels[5] = -1;
        }
        if (s == 5) c.ls.spatial[3].k -= 4; /* a new shape: warm-up and capture again */
        LossValues la, lt;
        state_get(E, &s0);
        engine_forward(E, c.images, n, 1);
        engine_loss_backward(E, &c.ls, &la);
        engine_sgd(E, &sg);
        state_get(E, &sa);
        engine_set_params(E, s0.p, s0.b, s0.nb);
        engine_set_momentum(E, s0.m);
        engine_train_step(E, c.images, n, &c.ls, &sg, &lt);
        state_get(E, &st);
        char where[96];
        double d = state_diff(m, &sa, &st, where, sizeof where);
        int leq = losses_equal(&la, &lt);
        double dl = fabs(lt.total - la.total) / fabs(la.total);
        fprintf(stderr, "%s %s step %d (train_step: %s) vs separate calls: losses %s (total rel diff %.1e), state ", pn, tn,
                s + 1, mode[s], leq ? "identical" : "differ", dl);
        if (d == 0) fprintf(stderr, "identical\n");
        else fprintf(stderr, "differs: max rel diff %.2e at %s\n", d, where);
        CHECK_MSG(leq && d == 0, "%s %s step %d (train_step: %s): not bit-identical to separate calls (losses %s, state max rel diff %.2e at %s)",
                  pn, tn, s + 1, mode[s], leq ? "identical" : "differ", d, where);
        if (s >= 1 && s != 5)
            CHECK_MSG(engine_cuda_graph_active(E), "%s %s step %d: no CUDA graph (see warnings above)", pn, tn, s + 1);
    }
    engine_free(E);
    state_free(&s0);
    state_free(&sa);
    state_free(&st);
    case_free(&c);
}

TEST(cuda_engine_graph_vs_eager) {
    NEED_GPU();
    g_test = "cuda_engine_graph_vs_eager";
    Rng r;
    rng_init(&r, gt_seed(g_test), 32);
    graph_vs_eager(PREC_FP32, TASK_SIMCLR, &r);
    graph_vs_eager(PREC_BF16, TASK_SIMCLR, &r);
    graph_vs_eager(PREC_BF16, TASK_SUPERVISED, &r);
}

/* TDANN_PROFILE=1 (engine_cuda.h): profiled training steps (mode 1: eager with category events;
 * mode 2: graph steps with an event pair) give the same bits as separate forward / loss_backward /
 * sgd calls (as in cuda_engine_graph_vs_eager), the category regions add up to the step, and the
 * report prints. Without the variable, profiling stays off. */
TEST(cuda_engine_profile) {
    NEED_GPU();
    g_test = "cuda_engine_profile";
    Rng r;
    rng_init(&r, gt_seed(g_test), 33);
    Case c;
    const int n = 16;
    case_init(&c, 0.25f, TASK_SIMCLR, n, &r);
    const Model *m = &c.m;
    Engine *cpu = make_cpu(m, n);
    engine_set_params(cpu, c.params, c.bufs, NULL);
    engine_forward(cpu, c.images, n, 1);
    case_spatial(&c, cpu, 24, &r);
    engine_free(cpu);
    unsetenv("TDANN_PROFILE");
    Engine *plain = make_cuda(m, n, PREC_BF16, 1, 1);
    CHECK_MSG(engine_cuda_profile_mode(plain, 1) == 0, "profiling is on without TDANN_PROFILE");
    engine_free(plain);
    setenv("TDANN_PROFILE", "1", 1);
    Engine *prof = make_cuda(m, n, PREC_BF16, 1, 1);
    unsetenv("TDANN_PROFILE");
    REQUIRE(engine_cuda_profile_mode(prof, 1) == 1);
    engine_set_params(prof, c.params, c.bufs, NULL);
    State s0, sa, st;
    state_init(&s0, m);
    state_init(&sa, m);
    state_init(&st, m);
    for (int s = 0; s < 6; s++) {
        int mode = s < 3 ? 1 : 2; /* mode 2: warm-up, capture, replay */
        SgdSpec sg = {0.02f / (1 + s), 0.9f, 1e-3f, 0};
        LossValues la, lt;
        engine_cuda_profile_mode(prof, 0); /* the separate calls are never profiled anyway */
        state_get(prof, &s0);
        engine_forward(prof, c.images, n, 1);
        engine_loss_backward(prof, &c.ls, &la);
        engine_sgd(prof, &sg);
        state_get(prof, &sa);
        engine_set_params(prof, s0.p, s0.b, s0.nb);
        engine_set_momentum(prof, s0.m);
        engine_cuda_profile_mode(prof, mode);
        engine_train_step(prof, c.images, n, &c.ls, &sg, &lt);
        state_get(prof, &st);
        char where[96];
        double d = state_diff(m, &sa, &st, where, sizeof where);
        int leq = losses_equal(&la, &lt);
        fprintf(stderr, "step %d (profile mode %d) vs separate calls: losses %s, state %s (max rel diff %.2e)\n", s + 1, mode,
                leq ? "identical" : "differ", d == 0 ? "identical" : "differs", d);
        CHECK_MSG(leq && d == 0, "step %d (profile mode %d): not bit-identical to separate calls (losses %s, state max rel diff %.2e at %s)",
                  s + 1, mode, leq ? "identical" : "differ", d, where);
    }
    CHECK_MSG(engine_cuda_graph_active(prof), "the profiled engine does not replay a graph in mode 2");
    int steps = 0, gsteps = 0;
    double step_ms = 0, sum_ms = 0, graph_ms = 0;
    REQUIRE(engine_cuda_profile_summary(prof, &steps, &step_ms, &sum_ms, &gsteps, &graph_ms) == 1);
    fprintf(stderr, "profile: %d eager steps, %.3f ms (categories %.3f ms); %d graph steps, %.3f ms\n", steps, step_ms, sum_ms,
            gsteps, graph_ms);
    CHECK_MSG(steps == 3 && gsteps == 3, "profiled steps: %d eager (3 expected), %d graph (3 expected)", steps, gsteps);
    CHECK_MSG(step_ms > 0 && graph_ms > 0, "step times %.4f / %.4f ms", step_ms, graph_ms);
    CHECK_MSG(fabs(sum_ms - step_ms) <= 0.01 * step_ms + 0.01, "categories add up to %.4f ms, the step took %.4f ms", sum_ms, step_ms);
    char *path = t_path("profile.txt");
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL);
    engine_cuda_profile_report(prof, f, 0);
    fclose(f);
    f = fopen(path, "r");
    REQUIRE(f != NULL);
    char line[512];
    int rows = 0, conv = 0;
    while (fgets(line, sizeof line, f)) {
        rows++;
        if (strncmp(line, "conv backward-filter", 20) == 0 && strstr(line, "layer4")) conv = 1;
        fputs(line, stderr);
    }
    fclose(f);
    free(path);
    CHECK_MSG(rows > 30 && conv, "the report has %d lines%s", rows, conv ? "" : ", no layer4 filter-gradient row");
    engine_cuda_profile_reset(prof);
    REQUIRE(engine_cuda_profile_summary(prof, &steps, NULL, NULL, &gsteps, NULL) == 1);
    CHECK_MSG(steps == 0 && gsteps == 0, "reset left %d / %d steps", steps, gsteps);
    engine_free(prof);
    state_free(&s0);
    state_free(&sa);
    state_free(&st);
    case_free(&c);
}

/* Same inputs twice with deterministic algorithms: identical bits (a differing bit is a race). */
TEST(cuda_engine_deterministic) {
    NEED_GPU();
    g_test = "cuda_engine_deterministic";
    Rng r;
    rng_init(&r, gt_seed(g_test), 30);
    for (int prec = 0; prec < 2; prec++) {
        Case c;
        const int n = 16;
        case_init(&c, 0.25f, TASK_SIMCLR, n, &r);
        Engine *cpu = make_cpu(&c.m, n);
        engine_set_params(cpu, c.params, c.bufs, NULL);
        engine_forward(cpu, c.images, n, 1);
        case_spatial(&c, cpu, 40, &r);
        engine_free(cpu);
        Engine *g = make_cuda(&c.m, n, prec, 1);
        size_t P = c.m.params_numel;
        float *g1 = (float *)xmalloc(P * sizeof(float)), *g2 = (float *)xmalloc(P * sizeof(float));
        LossValues l1, l2;
        for (int t = 0; t < 2; t++) {
            engine_set_params(g, c.params, c.bufs, NULL);
            engine_forward(g, c.images, n, 1);
            engine_loss_backward(g, &c.ls, t ? &l2 : &l1);
            engine_get_grads(g, t ? g2 : g1);
        }
        CHECK_MSG(l1.total == l2.total, "%s: total loss %.17g then %.17g", prec ? "fp32" : "bf16", l1.total, l2.total);
        size_t diff = 0;
        for (size_t i = 0; i < P; i++) diff += memcmp(&g1[i], &g2[i], sizeof(float)) != 0;
        CHECK_MSG(diff == 0, "%s: %zu of %zu gradient values differ between identical runs", prec ? "fp32" : "bf16", diff, P);
        engine_free(g);
        free(g1);
        free(g2);
        case_free(&c);
    }
}

/* Width 0.3: 19, 38, 77, 154 channels (vector widths 1 and 2 in the BN kernels, cuDNN with channel
 * counts that are not multiples of 8). */
TEST(cuda_engine_odd_width) {
    NEED_GPU();
    g_test = "cuda_engine_odd_width";
    Rng r;
    rng_init(&r, gt_seed(g_test), 31);
    for (int prec = 1; prec >= 0; prec--) {
        const int bf = prec == PREC_BF16;
        const char *pn = bf ? "bf16" : "fp32";
        const double tol = bf ? TOL_BF16 : TOL_FP32, K = bf ? BF16_SPREAD_K : FP32_SPREAD_K;
        Case c;
        const int n = 8;
        case_init(&c, 0.3f, TASK_SIMCLR, n, &r);
        Engine *g = make_cuda(&c.m, n, prec, 0);
        Refs R;
        refs_init(&R, &c.m, n, bf, rng_u64(&r));
        engine_set_params(g, c.params, c.bufs, NULL);
        refs_load(&R, c.params, c.bufs, NULL, NULL);
        engine_forward(g, c.images, n, 1);
        for (int k = 0; k <= R.np; k++) engine_forward(R.e[k], c.images, n, 1);
        compare_forward(pn, "odd width forward", g, &R, n, tol, K);
        case_spatial(&c, R.e[0], 20, &r);
        LossValues lg, lr[1 + MAX_PROBES];
        engine_loss_backward(g, &c.ls, &lg);
        for (int k = 0; k <= R.np; k++) engine_loss_backward(R.e[k], &c.ls, &lr[k]);
        compare_losses(pn, "odd width", &lg, lr, R.np, tol, K);
        compare_grads(pn, "odd width grad", g, &R, tol, K);
        engine_free(g);
        refs_free(&R);
        case_free(&c);
    }
}
