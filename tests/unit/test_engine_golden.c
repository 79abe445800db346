/* test_engine_golden.c: the CPU engine against PyTorch fixtures (tests/golden/gen_engine.py).
 *
 * engine_w0125.h5: SimCLR, ResNet-18 width 0.125 at 64 px, 4 images x 2 views, NT-Xent T 0.1,
 * SL_REL alpha 0.25 on all 8 layers, SGD lr 0.1 momentum 0.9 wd 1e-6 (not on BN), 3 steps.
 * engine_sup.h5: supervised, width 0.0625 at 32 px, cross-entropy with an ignored label, SL_ABS on
 * two layers, Nesterov, 2 steps.
 * The fixtures hold float64 PyTorch results (rounded to float32), so the errors below are this
 * engine's float32 rounding only. Checked per tensor within 1e-4 relative L2 (t_check_rel): the 8
 * block outputs, pooled features, head output, losses, every parameter gradient, the parameters
 * and BN running statistics after the SGD steps (and num_batches_tracked exactly). Within 1e-3:
 * the parameter updates (after - init) and the SGD momentum buffers (supervised file), which are
 * differences of nearly cancelling gradients (measured: up to 9e-5). The initial state is not stored:
 * hash_init() below computes it exactly as gen_engine.py does. The supervised file also holds
 * an eval-mode forward (running statistics) of PyTorch's final state.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "error.h"
#include "h5io.h"
#include "test.h"

#define TOL 1e-4

static double attr_f64(hid_t f, const char *name) {
    double v = 0;
    if (h5_attr_get_f64(f, "/", name, &v) != 0) die(EXIT_RUNTIME, "fixture lacks attribute %s", name);
    return v;
}

static void check_scalar(const char *what, double got, double ref) {
    int ok = fabs(got - ref) <= TOL * fabs(ref) + 1e-7;
    fprintf(stderr, "%-40s %.9g vs PyTorch %.9g %s\n", what, got, ref, ok ? "OK" : "NOT OK");
    if (!ok) t_fail_at(__FILE__, __LINE__, "%s = %.9g, PyTorch %.9g (rel %.2e)", what, got, ref, fabs(got - ref) / fabs(ref));
}

/* splitmix64 of (salt << 32) + i, top 24 bits, in [-1, 1): hash_uniform() of gen_engine.py */
static double hash_uniform(uint64_t salt, uint64_t i) {
    uint64_t z = (salt << 32) + i + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 40) / 8388608.0 - 1.0;
}

/* The fixtures' initial state: hash_init() of gen_engine.py. */
static void hash_init(const Model *m, float *params, float *bufs) {
    int fan_in = 1;
    for (int i = 0; i < m->nparams; i++) {
        const ParamInfo *p = &m->params[i];
        for (size_t j = 0; j < p->numel; j++) {
            double u = hash_uniform((uint64_t)i, j), v = 0;
            switch (p->kind) {
            case P_CONV_W: v = sqrt(3.0) * sqrt(2.0 / ((double)p->shape[0] * p->shape[2] * p->shape[3])) * u; break;
            case P_BN_W: v = 1.0 + 0.2 * u; break;
            case P_BN_B: v = 0.1 * u; break;
            case P_LIN_W: fan_in = p->shape[1]; v = u / sqrt((double)fan_in); break;
            case P_LIN_B: v = u / sqrt((double)fan_in); break;
            }
            params[p->offset + j] = (float)v;
        }
    }
    for (int b = 0; b < m->nbufs; b++) {
        const BufferInfo *bi = &m->bufs[b];
        for (size_t j = 0; j < bi->numel; j++) {
            double u = hash_uniform(1000 + (uint64_t)b, j);
            bufs[bi->offset + j] = (float)(bi->is_var ? 1.25 + 0.75 * u : 0.1 * u);
        }
    }
}

static void read_state(hid_t f, const char *group, const Model *m, float *params, float *bufs) {
    char path[256];
    for (int i = 0; params && i < m->nparams; i++) {
        snprintf(path, sizeof path, "%s/params/%s", group, m->params[i].name);
        h5_read_into(f, path, H5IO_F32, params + m->params[i].offset, m->params[i].numel);
    }
    for (int i = 0; bufs && i < m->nbufs; i++) {
        snprintf(path, sizeof path, "%s/buffers/%s", group, m->bufs[i].name);
        h5_read_into(f, path, H5IO_F32, bufs + m->bufs[i].offset, m->bufs[i].numel);
    }
}

static void run_golden(const char *file) {
    hid_t f = h5_open_any(t_src(file));
    char *task = h5_attr_get_str(f, "/", "task");
    REQUIRE(task);
    ModelConfig cfg = {(float)attr_f64(f, "width"), (int)attr_f64(f, "input_size"),
                       strcmp(task, "simclr") == 0 ? TASK_SIMCLR : TASK_SUPERVISED, (int)attr_f64(f, "proj_dim"),
                       (int)attr_f64(f, "num_classes")};
    free(task);
    Model m;
    model_init(&m, &cfg);
    const int steps = (int)attr_f64(f, "steps");
    SgdSpec sgd = {(float)attr_f64(f, "lr"), (float)attr_f64(f, "momentum"), (float)attr_f64(f, "weight_decay"),
                   (int)attr_f64(f, "nesterov")};

    float *params = xmalloc(sizeof(float) * m.params_numel), *bufs = xmalloc(sizeof(float) * m.bufs_numel);
    float *ref = xmalloc(sizeof(float) * m.params_numel), *got = xmalloc(sizeof(float) * m.params_numel);
    int64_t *nbt = xcalloc((size_t)m.nbn, sizeof(int64_t));
    hash_init(&m, params, bufs);
    int rank;
    hsize_t dims[H5IO_MAX_RANK];
    uint8_t *images = h5_read(f, "images", H5IO_U8, &rank, dims);
    const int n = (int)dims[0];
    REQUIRE(rank == 4 && (int)dims[1] == cfg.input_size && dims[3] == 3);
    int32_t *labels = cfg.task == TASK_SUPERVISED ? h5_read(f, "labels", H5IO_I32, NULL, NULL) : NULL;

    LossSpec ls;
    memset(&ls, 0, sizeof ls);
    ls.temperature = (float)attr_f64(f, "temperature");
    ls.labels = labels;
    int32_t *units[N_LAYERS] = {0};
    float *coords[N_LAYERS] = {0};
    for (int l = 0; l < N_LAYERS; l++) {
        char p[128];
        snprintf(p, sizeof p, "spatial/%s", LAYER_NAMES[l]);
        if (!h5_exists(f, p)) continue;
        snprintf(p, sizeof p, "spatial/%s/units", LAYER_NAMES[l]);
        units[l] = h5_read(f, p, H5IO_I32, &rank, dims);
        ls.spatial[l].k = (int)dims[0];
        snprintf(p, sizeof p, "spatial/%s/coords", LAYER_NAMES[l]);
        coords[l] = h5_read(f, p, H5IO_F32, NULL, NULL);
        snprintf(p, sizeof p, "spatial/%s", LAYER_NAMES[l]);
        double alpha;
        h5_attr_get_f64(f, p, "alpha", &alpha);
        char *kind = h5_attr_get_str(f, p, "kind");
        ls.spatial[l].kind = kind && strcmp(kind, "abs") == 0 ? SL_ABS : SL_REL;
        free(kind);
        ls.spatial[l].alpha = (float)alpha;
        ls.spatial[l].units = units[l];
        ls.spatial[l].coords = coords[l];
    }

    Device dev = {DEVICE_CPU, 0, "cpu"};
    EngineOptions opt = {n, PREC_FP32, 1, NULL};
    Engine *e = engine_create(&m, dev, &opt);
    engine_set_params(e, params, bufs, nbt);

    /* forward: block outputs, features, head output */
    engine_forward(e, images, n, 1);
    for (int l = 0; l < N_LAYERS; l++) {
        size_t cnt = (size_t)n * m.layer_units[l];
        float *a = xmalloc(cnt * sizeof(float)), *b = xmalloc(cnt * sizeof(float));
        char p[128];
        snprintf(p, sizeof p, "forward/layers/%s", LAYER_NAMES[l]);
        h5_read_into(f, p, H5IO_F32, b, cnt);
        engine_read_layer(e, l, a);
        t_check_rel(p, a, b, cnt, TOL);
        free(a);
        free(b);
    }
    size_t fc = (size_t)n * m.plan.feat_dim, oc = (size_t)n * m.plan.out_dim;
    float *a = xmalloc(sizeof(float) * (fc > oc ? fc : oc)), *b = xmalloc(sizeof(float) * (fc > oc ? fc : oc));
    h5_read_into(f, "forward/features", H5IO_F32, b, fc);
    engine_read_features(e, a);
    t_check_rel("forward/features", a, b, fc, TOL);
    h5_read_into(f, "forward/output", H5IO_F32, b, oc);
    engine_read_output(e, a);
    t_check_rel("forward/output", a, b, oc, TOL);

    /* losses and gradients */
    LossValues lv;
    engine_loss_backward(e, &ls, &lv);
    double task_ref, total_ref, sl_ref[N_LAYERS];
    h5_read_into(f, "loss/task", H5IO_F64, &task_ref, 1);
    h5_read_into(f, "loss/total", H5IO_F64, &total_ref, 1);
    h5_read_into(f, "loss/spatial", H5IO_F64, sl_ref, N_LAYERS);
    check_scalar("loss/task", lv.task, task_ref);
    check_scalar("loss/total", lv.total, total_ref);
    for (int l = 0; l < N_LAYERS; l++) {
        char w[64];
        snprintf(w, sizeof w, "loss/spatial %s", LAYER_NAMES[l]);
        if (isnan(sl_ref[l])) CHECK_MSG(isnan(lv.spatial[l]), "%s should be NaN (no term)", w);
        else check_scalar(w, lv.spatial[l], sl_ref[l]);
    }
    engine_get_grads(e, got);
    for (int i = 0; i < m.nparams; i++) {
        char p[128];
        snprintf(p, sizeof p, "grads/%s", m.params[i].name);
        h5_read_into(f, p, H5IO_F32, ref + m.params[i].offset, m.params[i].numel);
        t_check_rel(p, got + m.params[i].offset, ref + m.params[i].offset, m.params[i].numel, TOL);
    }

    /* SGD steps on the same batch */
    double *totals = xmalloc(sizeof(double) * (size_t)steps);
    h5_read_into(f, "steps/total_loss", H5IO_F64, totals, (size_t)steps);
    engine_sgd(e, &sgd);
    for (int s = 1; s < steps; s++) {
        engine_train_step(e, images, n, &ls, &sgd, &lv);
        char w[64];
        snprintf(w, sizeof w, "total loss before step %d", s + 1);
        check_scalar(w, lv.total, totals[s]);
    }
    float *bref = xmalloc(sizeof(float) * m.bufs_numel);
    read_state(f, "after", &m, ref, bref);
    engine_get_params(e, got, bufs, nbt);
    for (int i = 0; i < m.nparams; i++) {
        char p[128];
        snprintf(p, sizeof p, "after/params/%s", m.params[i].name);
        t_check_rel(p, got + m.params[i].offset, ref + m.params[i].offset, m.params[i].numel, TOL);
    }
    /* the updates themselves: after - init */
    for (size_t j = 0; j < m.params_numel; j++) { got[j] -= params[j]; ref[j] -= params[j]; }
    for (int i = 0; i < m.nparams; i++) {
        char p[128];
        snprintf(p, sizeof p, "update of %s", m.params[i].name);
        t_check_rel(p, got + m.params[i].offset, ref + m.params[i].offset, m.params[i].numel, 10 * TOL);
    }
    engine_get_momentum(e, got);
    for (int i = 0; h5_exists(f, "after/momentum") && i < m.nparams; i++) {
        char p[128];
        snprintf(p, sizeof p, "after/momentum/%s", m.params[i].name);
        h5_read_into(f, p, H5IO_F32, ref + m.params[i].offset, m.params[i].numel);
        t_check_rel(p, got + m.params[i].offset, ref + m.params[i].offset, m.params[i].numel, 10 * TOL);
    }
    for (int i = 0; i < m.nbufs; i++) {
        char p[128];
        snprintf(p, sizeof p, "after/buffers/%s", m.bufs[i].name);
        t_check_rel(p, bufs + m.bufs[i].offset, bref + m.bufs[i].offset, m.bufs[i].numel, TOL);
    }
    if (h5_exists(f, "eval")) {
        /* eval mode (BN with the running statistics) of PyTorch's final state, so that this checks
         * the eval forward itself, not the trajectory again */
        read_state(f, "after", &m, ref, bref);
        engine_set_params(e, ref, bref, NULL);
        engine_forward(e, images, n, 0);
        for (int l = 0; l < N_LAYERS; l++) {
            size_t cnt = (size_t)n * m.layer_units[l];
            float *x = xmalloc(cnt * sizeof(float)), *y = xmalloc(cnt * sizeof(float));
            char p[128];
            snprintf(p, sizeof p, "eval/layers/%s", LAYER_NAMES[l]);
            h5_read_into(f, p, H5IO_F32, y, cnt);
            engine_read_layer(e, l, x);
            t_check_rel(p, x, y, cnt, TOL);
            free(x);
            free(y);
        }
        h5_read_into(f, "eval/output", H5IO_F32, b, oc);
        engine_read_output(e, a);
        t_check_rel("eval/output", a, b, oc, TOL);
    }
    int64_t *nref = xmalloc(sizeof(int64_t) * (size_t)m.nbn);
    h5_read_into(f, "after/num_batches_tracked", H5IO_I64, nref, (size_t)m.nbn);
    for (int i = 0; i < m.nbn; i++) CHECK_EQ_INT(nbt[i], nref[i]);

    engine_free(e);
    for (int l = 0; l < N_LAYERS; l++) { free(units[l]); free(coords[l]); }
    free(params); free(bufs); free(ref); free(got); free(nbt); free(images); free(labels);
    free(a); free(b); free(totals); free(bref); free(nref);
    h5_close_file(f);
    model_free(&m);
}

TEST(engine_golden_simclr_w0125) { run_golden("tests/golden/engine_w0125.h5"); }
TEST(engine_golden_supervised) { run_golden("tests/golden/engine_sup.h5"); }
