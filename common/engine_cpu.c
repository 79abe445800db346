/* engine_cpu.c: the CPU engine (engine.h), fp32 NCHW, built from the kernels/ CPU references;
 * the reference every other backend is checked against.
 *
 * Network (model.h plan): input -> stem conv 7x7/2 + BN + ReLU -> max pool 3x3/2 -> 8 BasicBlocks
 * -> global average pool -> head (SimCLR: Linear, ReLU, Linear; supervised: fc).
 * Each conv+BN is a Stage that keeps its conv output x (pre-BN), the batch mean/invstd and its
 * output y (after the fused residual add and ReLU), which is all that backward needs:
 *   block: h1 = relu(bn1(conv1(in)));  sc = down ? bn_d(conv_d(in)) : in;
 *          out = relu(bn2(conv2(h1)) + sc)           (out is the layer's block output)
 * Backward walks the blocks from layer4.1 down with two ping-pong gradient buffers (gradient of
 * the current block output / of its input) and two more for the inner branch; BN backward runs
 * in place on the incoming gradient. Spatial-loss gradients are added to a block output's gradient
 * just before that block is back-propagated.
 *
 * Data parallel (Comm of size S > 1): BN statistics and BN backward sums are all-reduced (SyncBN);
 * NT-Xent runs on the all-gathered head outputs and each rank keeps S x its block of the
 * gradient, so that after loss_backward's all-reduce / S the gradients are those of
 * global-mean task loss + mean over ranks of the (rank-local) spatial losses.
 */
#include "engine.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchnorm.h"
#include "conv2d.h"
#include "cross_entropy.h"
#include "error.h"
#include "linear.h"
#include "ntxent.h"
#include "optim.h"
#include "pool.h"
#include "relu.h"
#include "spatial_loss.h"

static const float IMAGENET_MEAN[3] = {0.485f, 0.456f, 0.406f};
static const float IMAGENET_STD[3] = {0.229f, 0.224f, 0.225f};

typedef struct {
    const ConvBN *cb;
    float *x;             /* conv output [n][cout][hout][wout] */
    float *y;             /* BN (+res, ReLU) output, same shape */
    float *mean, *invstd; /* [cout] statistics used by the last forward */
    int relu;
} Stage;

typedef struct {
    Stage c1, c2, down;
} BlockState;

typedef struct {
    Engine base;
    char desc[160];
    Comm *comm;
    float *params, *grads, *mom, *bufs;
    int64_t *nbt;
    int train;     /* mode of the last forward */
    float *input;  /* [n][3][S][S] normalised */
    Stage stem;
    float *pool;   /* [n][c1][ph][pw] */
    int32_t *pool_arg;
    BlockState blk[N_LAYERS];
    float *feat;   /* [n][F] */
    float *hid;    /* SimCLR head hidden after ReLU [n][F] */
    float *out;    /* head output [n][out_dim] */
    /* backward scratch */
    size_t act_max;                 /* floats per buffer below */
    float *g_a, *g_b, *g_h, *g_t;
    float *sums;                    /* [2 * max channels] */
    float *d_out, *d_hid, *d_feat;  /* head gradients */
    float *gathered, *d_gathered;   /* NT-Xent over ranks */
} CpuEngine;

static CpuEngine *E(Engine *e) { return (CpuEngine *)e; }
static const Model *M(CpuEngine *e) { return e->base.model; }
static int nranks(CpuEngine *e) { return e->comm->size; }
static float *P(CpuEngine *e, int idx) { return e->params + M(e)->params[idx].offset; }
static float *G(CpuEngine *e, int idx) { return e->grads + M(e)->params[idx].offset; }

static size_t out_numel(const ConvBN *cb) { return (size_t)cb->cout * cb->hout * cb->wout; }

static void stage_alloc(Stage *s, const ConvBN *cb, int rows, int relu) {
    s->cb = cb;
    s->relu = relu;
    s->x = xmalloc(sizeof(float) * out_numel(cb) * rows);
    s->y = xmalloc(sizeof(float) * out_numel(cb) * rows);
    s->mean = xmalloc(sizeof(float) * cb->cout);
    s->invstd = xmalloc(sizeof(float) * cb->cout);
}

static void stage_free(Stage *s) {
    free(s->x);
    free(s->y);
    free(s->mean);
    free(s->invstd);
}

static Conv2dShape stage_conv(const Stage *s, int n) {
    const ConvBN *c = s->cb;
    return conv2d_shape(n, c->cin, c->hin, c->win, c->cout, c->k, c->stride, c->pad);
}

/* y = relu?(bn(conv(in)) + res?), batch statistics (train, all-reduced over ranks) or running ones. */
static void stage_forward(CpuEngine *e, Stage *s, const float *in, const float *res, int n, int train) {
    const ConvBN *c = s->cb;
    Conv2dShape cs = stage_conv(s, n);
    conv2d_forward_cpu(&cs, in, P(e, c->conv), s->x);
    BnShape bs = {n, c->cout, c->hout * c->wout};
    float *rm = e->bufs + M(e)->bufs[2 * c->bn].offset, *rv = e->bufs + M(e)->bufs[2 * c->bn + 1].offset;
    if (train) {
        double count = (double)n * bs.hw * nranks(e);
        float *s1 = e->sums, *s2 = e->sums + c->cout;
        bn_sum_cpu(&bs, s->x, s1);
        if (nranks(e) > 1) e->comm->allreduce_sum(e->comm, s1, (size_t)c->cout);
        for (int ch = 0; ch < c->cout; ch++) s->mean[ch] = (float)(s1[ch] / count);
        bn_sqdev_cpu(&bs, s->x, s->mean, s2);
        if (nranks(e) > 1) e->comm->allreduce_sum(e->comm, s2, (size_t)c->cout);
        bn_train_stats_cpu(c->cout, count, s1, s2, BN_EPS, BN_MOMENTUM, s->mean, s->invstd, rm, rv);
        e->nbt[c->bn]++;
    } else {
        bn_eval_stats_cpu(c->cout, rm, rv, BN_EPS, s->mean, s->invstd);
    }
    bn_apply_cpu(&bs, s->x, s->mean, s->invstd, P(e, c->bn_w), P(e, c->bn_b), res, s->relu, s->y);
}

/* dy: gradient of s->y, overwritten with the gradient of the conv output. Writes the BN and conv
 * parameter gradients; dres (may be NULL) = gradient of the residual input; din (may be NULL)
 * (+)= gradient of the conv input. */
static void stage_backward(CpuEngine *e, Stage *s, const float *in, float *dy, float *dres, float *din, int din_accumulate, int n) {
    const ConvBN *c = s->cb;
    BnShape bs = {n, c->cout, c->hout * c->wout};
    float *sums = e->sums;
    bn_backward_sums_cpu(&bs, dy, s->y, s->relu, s->x, s->mean, s->invstd, sums);
    memcpy(G(e, c->bn_b), sums, sizeof(float) * c->cout);
    memcpy(G(e, c->bn_w), sums + c->cout, sizeof(float) * c->cout);
    if (nranks(e) > 1) e->comm->allreduce_sum(e->comm, sums, 2 * (size_t)c->cout);
    double count = (double)n * bs.hw * nranks(e);
    bn_backward_apply_cpu(&bs, dy, s->y, s->relu, s->x, s->mean, s->invstd, P(e, c->bn_w), sums, count, dy, dres, 0);
    Conv2dShape cs = stage_conv(s, n);
    conv2d_backward_filter_cpu(&cs, in, dy, G(e, c->conv), 0);
    if (din) conv2d_backward_data_cpu(&cs, dy, P(e, c->conv), din, din_accumulate);
}

static const float *block_input(CpuEngine *e, int l) { return l == 0 ? e->pool : e->blk[l - 1].c2.y; }

/* ---- forward ------------------------------------------------------------------------------- */

static void load_images(CpuEngine *e, const uint8_t *images, int n) {
    const int S = M(e)->cfg.input_size;
    const size_t plane = (size_t)S * S;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < 3; ch++) {
            const uint8_t *src = images + (size_t)i * plane * 3 + ch;
            float *dst = e->input + ((size_t)i * 3 + ch) * plane;
            for (size_t p = 0; p < plane; p++) dst[p] = ((float)src[3 * p] / 255.0f - IMAGENET_MEAN[ch]) / IMAGENET_STD[ch];
        }
}

static void cpu_forward(Engine *eng, const uint8_t *images, int n, int train) {
    CpuEngine *e = E(eng);
    const NetPlan *pl = &M(e)->plan;
    e->train = train;
    load_images(e, images, n);
    stage_forward(e, &e->stem, e->input, NULL, n, train);
    PoolShape ps = pool_shape(n, pl->stem.cout, pl->stem.hout, pl->stem.wout, 3, 2, 1);
    maxpool_forward_cpu(&ps, e->stem.y, e->pool, e->pool_arg);
    for (int l = 0; l < N_LAYERS; l++) {
        BlockState *b = &e->blk[l];
        const float *in = block_input(e, l);
        stage_forward(e, &b->c1, in, NULL, n, train);
        const float *res = in;
        if (pl->blocks[l].has_down) {
            stage_forward(e, &b->down, in, NULL, n, train);
            res = b->down.y;
        }
        stage_forward(e, &b->c2, b->c1.y, res, n, train);
    }
    const int F = pl->feat_dim;
    avgpool_global_forward_cpu(n, F, M(e)->layer_h[7] * M(e)->layer_w[7], e->blk[7].c2.y, e->feat);
    if (M(e)->cfg.task == TASK_SIMCLR) {
        linear_forward_cpu(n, F, F, e->feat, P(e, pl->head_w1), P(e, pl->head_b1), e->hid);
        relu_forward_cpu((size_t)n * F, e->hid, e->hid);
        linear_forward_cpu(n, F, pl->out_dim, e->hid, P(e, pl->head_w2), P(e, pl->head_b2), e->out);
    } else {
        linear_forward_cpu(n, F, pl->out_dim, e->feat, P(e, pl->fc_w), P(e, pl->fc_b), e->out);
    }
}

static void cpu_read_layer(Engine *eng, int layer, float *out) {
    CpuEngine *e = E(eng);
    memcpy(out, e->blk[layer].c2.y, sizeof(float) * (size_t)M(e)->layer_units[layer] * eng->rows);
}
static void cpu_read_features(Engine *eng, float *out) {
    CpuEngine *e = E(eng);
    memcpy(out, e->feat, sizeof(float) * (size_t)M(e)->plan.feat_dim * eng->rows);
}
static void cpu_read_output(Engine *eng, float *out) {
    CpuEngine *e = E(eng);
    memcpy(out, e->out, sizeof(float) * (size_t)M(e)->plan.out_dim * eng->rows);
}

/* ---- losses and backward ------------------------------------------------------------------- */

/* Task loss and the gradient of the head output into e->d_out (already scaled by the number of
 * ranks for NT-Xent, see the top comment). */
static double task_loss(CpuEngine *e, const LossSpec *spec, int n) {
    const NetPlan *pl = &M(e)->plan;
    const int D = pl->out_dim, S = nranks(e);
    if (M(e)->cfg.task == TASK_SUPERVISED) {
        if (!spec->labels) die(EXIT_RUNTIME, "internal: supervised loss without labels");
        return cross_entropy_cpu(e->out, spec->labels, n, D, e->d_out);
    }
    if (n % 2) die(EXIT_RUNTIME, "internal: SimCLR needs an even number of rows (two views), got %d", n);
    if (S == 1) return ntxent_cpu(e->out, n, n, D, spec->temperature, e->d_out);
    e->comm->allgather(e->comm, e->out, e->gathered, (size_t)n * D);
    double loss = ntxent_cpu(e->gathered, S * n, n, D, spec->temperature, e->d_gathered);
    const float *mine = e->d_gathered + (size_t)e->comm->rank * n * D;
    for (size_t j = 0; j < (size_t)n * D; j++) e->d_out[j] = mine[j] * (float)S;
    return loss;
}

static void head_backward(CpuEngine *e, int n) {
    const NetPlan *pl = &M(e)->plan;
    const int F = pl->feat_dim, D = pl->out_dim;
    if (M(e)->cfg.task == TASK_SIMCLR) {
        linear_backward_cpu(n, F, D, e->hid, P(e, pl->head_w2), e->d_out, e->d_hid, G(e, pl->head_w2), G(e, pl->head_b2));
        relu_backward_cpu((size_t)n * F, e->hid, e->d_hid, e->d_hid);
        linear_backward_cpu(n, F, F, e->feat, P(e, pl->head_w1), e->d_hid, e->d_feat, G(e, pl->head_w1), G(e, pl->head_b1));
    } else {
        linear_backward_cpu(n, F, D, e->feat, P(e, pl->fc_w), e->d_out, e->d_feat, G(e, pl->fc_w), G(e, pl->fc_b));
    }
}

static void cpu_loss_backward(Engine *eng, const LossSpec *spec, LossValues *out) {
    CpuEngine *e = E(eng);
    const Model *m = M(e);
    const NetPlan *pl = &m->plan;
    const int n = eng->rows;
    if (!e->train) die(EXIT_RUNTIME, "internal: loss_backward after an eval-mode forward");
    out->task = task_loss(e, spec, n);
    out->total = out->task;
    for (int l = 0; l < N_LAYERS; l++) {
        out->spatial[l] = NAN;
        const SpatialTerm *t = &spec->spatial[l];
        if (t->alpha == 0 || t->k == 0) continue;
        for (int a = 0; a < t->k; a++)
            if (t->units[a] < 0 || t->units[a] >= m->layer_units[l])
                die(EXIT_RUNTIME, "internal: spatial unit %d outside %s (%lld units)", t->units[a], LAYER_NAMES[l], (long long)m->layer_units[l]);
    }
    head_backward(e, n);
    const int F = pl->feat_dim;
    float *gcur = e->g_a, *gnext = e->g_b;
    avgpool_global_backward_cpu(n, F, m->layer_h[7] * m->layer_w[7], e->d_feat, gcur);
    for (int l = N_LAYERS - 1; l >= 0; l--) {
        BlockState *b = &e->blk[l];
        const SpatialTerm *t = &spec->spatial[l];
        if (t->alpha != 0 && t->k > 0) {
            out->spatial[l] = spatial_loss_cpu(t->kind, b->c2.y, n, (long)m->layer_units[l], t->units, t->k, t->coords, gcur, t->alpha);
            out->total += t->alpha * out->spatial[l];
        }
        const float *in = block_input(e, l);
        if (pl->blocks[l].has_down) {
            stage_backward(e, &b->c2, b->c1.y, gcur, e->g_t, e->g_h, 0, n);
            stage_backward(e, &b->c1, in, e->g_h, NULL, gnext, 0, n);
            stage_backward(e, &b->down, in, e->g_t, NULL, gnext, 1, n);
        } else {
            stage_backward(e, &b->c2, b->c1.y, gcur, gnext, e->g_h, 0, n);
            stage_backward(e, &b->c1, in, e->g_h, NULL, gnext, 1, n);
        }
        float *t2 = gcur;
        gcur = gnext;
        gnext = t2;
    }
    PoolShape ps = pool_shape(n, pl->stem.cout, pl->stem.hout, pl->stem.wout, 3, 2, 1);
    maxpool_backward_cpu(&ps, gcur, e->pool_arg, gnext);
    stage_backward(e, &e->stem, e->input, gnext, NULL, NULL, 0, n);
    if (nranks(e) > 1) {
        e->comm->allreduce_sum(e->comm, e->grads, m->params_numel);
        float inv = 1.0f / (float)nranks(e);
        for (size_t j = 0; j < m->params_numel; j++) e->grads[j] *= inv;
    }
}

static void cpu_sgd(Engine *eng, const SgdSpec *s) {
    CpuEngine *e = E(eng);
    const Model *m = M(e);
    for (int i = 0; i < m->nparams; i++) {
        const ParamInfo *p = &m->params[i];
        sgd_step_cpu(p->numel, e->params + p->offset, e->grads + p->offset, e->mom + p->offset, s->lr, s->momentum,
                     p->decay ? s->weight_decay : 0.0f, s->nesterov);
    }
}

/* ---- state in and out ---------------------------------------------------------------------- */

static void cpu_set_params(Engine *eng, const float *p, const float *b, const int64_t *nb) {
    CpuEngine *e = E(eng);
    if (p) memcpy(e->params, p, sizeof(float) * M(e)->params_numel);
    if (b) memcpy(e->bufs, b, sizeof(float) * M(e)->bufs_numel);
    if (nb) memcpy(e->nbt, nb, sizeof(int64_t) * M(e)->nbn);
}
static void cpu_get_params(Engine *eng, float *p, float *b, int64_t *nb) {
    CpuEngine *e = E(eng);
    if (p) memcpy(p, e->params, sizeof(float) * M(e)->params_numel);
    if (b) memcpy(b, e->bufs, sizeof(float) * M(e)->bufs_numel);
    if (nb) memcpy(nb, e->nbt, sizeof(int64_t) * M(e)->nbn);
}
static void cpu_set_momentum(Engine *eng, const float *m) { memcpy(E(eng)->mom, m, sizeof(float) * M(E(eng))->params_numel); }
static void cpu_get_momentum(Engine *eng, float *m) { memcpy(m, E(eng)->mom, sizeof(float) * M(E(eng))->params_numel); }
static void cpu_get_grads(Engine *eng, float *g) { memcpy(g, E(eng)->grads, sizeof(float) * M(E(eng))->params_numel); }
static const char *cpu_describe(const Engine *eng) { return ((const CpuEngine *)eng)->desc; }

static void cpu_free(Engine *eng) {
    CpuEngine *e = E(eng);
    free(e->params); free(e->grads); free(e->mom); free(e->bufs); free(e->nbt);
    free(e->input);
    stage_free(&e->stem);
    free(e->pool); free(e->pool_arg);
    for (int l = 0; l < N_LAYERS; l++) {
        stage_free(&e->blk[l].c1);
        stage_free(&e->blk[l].c2);
        if (e->blk[l].down.cb) stage_free(&e->blk[l].down);
    }
    free(e->feat); free(e->hid); free(e->out);
    free(e->g_a); free(e->g_b); free(e->g_h); free(e->g_t); free(e->sums);
    free(e->d_out); free(e->d_hid); free(e->d_feat); free(e->gathered); free(e->d_gathered);
    free(e);
}

static const EngineOps CPU_OPS = {
    cpu_free, cpu_describe, cpu_set_params, cpu_get_params, cpu_set_momentum, cpu_get_momentum, cpu_get_grads,
    cpu_forward, cpu_read_layer, cpu_read_features, cpu_read_output, cpu_loss_backward, cpu_sgd, NULL};

Engine *engine_cpu_create(const Model *m, const EngineOptions *opt) {
    CpuEngine *e = xcalloc(1, sizeof *e);
    e->base.ops = &CPU_OPS;
    e->base.model = m;
    e->base.opt = *opt;
    e->comm = opt->comm ? opt->comm : comm_single();
    const int rows = opt->max_rows, S = m->cfg.input_size;
    const NetPlan *pl = &m->plan;
    e->params = xcalloc(m->params_numel, sizeof(float));
    e->grads = xcalloc(m->params_numel, sizeof(float));
    e->mom = xcalloc(m->params_numel, sizeof(float));
    e->bufs = xcalloc(m->bufs_numel, sizeof(float));
    e->nbt = xcalloc((size_t)m->nbn, sizeof(int64_t));
    e->input = xmalloc(sizeof(float) * (size_t)rows * 3 * S * S);
    stage_alloc(&e->stem, &pl->stem, rows, 1);
    size_t pool_n = (size_t)rows * pl->stem.cout * pl->pool_h * pl->pool_w;
    e->pool = xmalloc(sizeof(float) * pool_n);
    e->pool_arg = xmalloc(sizeof(int32_t) * pool_n);
    size_t act_max = out_numel(&pl->stem) * rows;
    int cmax = pl->stem.cout;
    for (int l = 0; l < N_LAYERS; l++) {
        const Block *b = &pl->blocks[l];
        stage_alloc(&e->blk[l].c1, &b->c1, rows, 1);
        stage_alloc(&e->blk[l].c2, &b->c2, rows, 1);
        if (b->has_down) stage_alloc(&e->blk[l].down, &b->down, rows, 0);
        if (out_numel(&b->c1) * rows > act_max) act_max = out_numel(&b->c1) * rows;
        if (b->c2.cout > cmax) cmax = b->c2.cout;
    }
    e->act_max = act_max;
    e->g_a = xmalloc(sizeof(float) * act_max);
    e->g_b = xmalloc(sizeof(float) * act_max);
    e->g_h = xmalloc(sizeof(float) * act_max);
    e->g_t = xmalloc(sizeof(float) * act_max);
    e->sums = xmalloc(sizeof(float) * 2 * (size_t)cmax);
    const int F = pl->feat_dim, D = pl->out_dim;
    e->feat = xmalloc(sizeof(float) * (size_t)rows * F);
    e->hid = xmalloc(sizeof(float) * (size_t)rows * F);
    e->out = xmalloc(sizeof(float) * (size_t)rows * D);
    e->d_out = xmalloc(sizeof(float) * (size_t)rows * D);
    e->d_hid = xmalloc(sizeof(float) * (size_t)rows * F);
    e->d_feat = xmalloc(sizeof(float) * (size_t)rows * F);
    if (e->comm->size > 1) {
        e->gathered = xmalloc(sizeof(float) * (size_t)rows * D * e->comm->size);
        e->d_gathered = xmalloc(sizeof(float) * (size_t)rows * D * e->comm->size);
    }
    snprintf(e->desc, sizeof e->desc, "cpu fp32, %d threads, OpenBLAS%s", omp_get_max_threads(),
             e->comm->size > 1 ? ", SyncBN over ranks" : "");
    return &e->base;
}
