/* engine.c: dispatch of the engine API to the CPU or CUDA backend. See engine.h. */
#include "engine.h"

#include "error.h"

Engine *engine_create(const Model *m, Device dev, const EngineOptions *opt) {
    if (opt->max_rows < 1) die(EXIT_RUNTIME, "internal: engine max_rows must be positive");
    if (dev.kind == DEVICE_CPU) return engine_cpu_create(m, opt);
#if TDANN_CUDA
    return engine_cuda_create(m, dev.index, opt);
#else
    die(EXIT_USAGE, "this build has no CUDA engine");
#endif
}

void engine_free(Engine *e) { if (e) e->ops->free(e); }
const char *engine_describe(const Engine *e) { return e->ops->describe(e); }
void engine_set_params(Engine *e, const float *p, const float *b, const int64_t *nb) { e->ops->set_params(e, p, b, nb); }
void engine_get_params(Engine *e, float *p, float *b, int64_t *nb) { e->ops->get_params(e, p, b, nb); }
void engine_set_momentum(Engine *e, const float *m) { e->ops->set_momentum(e, m); }
void engine_get_momentum(Engine *e, float *m) { e->ops->get_momentum(e, m); }
void engine_get_grads(Engine *e, float *g) { e->ops->get_grads(e, g); }

void engine_forward(Engine *e, const uint8_t *images, int n, int train) {
    if (n < 1 || n > e->opt.max_rows) die(EXIT_RUNTIME, "internal: forward of %d rows (engine holds up to %d)", n, e->opt.max_rows);
    e->ops->forward(e, images, n, train);
    e->rows = n;
}

void engine_read_layer(Engine *e, int layer, float *out) {
    if (layer < 0 || layer >= N_LAYERS) die(EXIT_RUNTIME, "internal: no layer %d", layer);
    e->ops->read_layer(e, layer, out);
}
void engine_read_features(Engine *e, float *out) { e->ops->read_features(e, out); }
void engine_read_output(Engine *e, float *out) { e->ops->read_output(e, out); }
void engine_loss_backward(Engine *e, const LossSpec *s, LossValues *out) { e->ops->loss_backward(e, s, out); }
void engine_sgd(Engine *e, const SgdSpec *s) { e->ops->sgd(e, s); }

void engine_train_step(Engine *e, const uint8_t *images, int n, const LossSpec *ls, const SgdSpec *ss, LossValues *out) {
    if (e->ops->train_step) {
        if (n < 1 || n > e->opt.max_rows) die(EXIT_RUNTIME, "internal: step of %d rows (engine holds up to %d)", n, e->opt.max_rows);
        e->ops->train_step(e, images, n, ls, ss, out);
        e->rows = n;
        return;
    }
    engine_forward(e, images, n, 1);
    engine_loss_backward(e, ls, out);
    /* gradient averaging over ranks is the backend's job inside loss_backward (it owns the
     * gradient buffer); see engine.h */
    engine_sgd(e, ss);
}
