/* engine_cuda.cu: the CUDA backend of engine.h (and engine_cuda.h). Same semantics as the CPU
 * reference; internally:
 *
 * - Activations NHWC, bf16 storage with float32 arithmetic (precision bf16), or float32 throughout
 *   (precision fp32: no TF32 anywhere, for checks). The input is uploaded as uint8 and normalised on
 *   the GPU into cpad channels (3 real + zeros: 8 in bf16, 4 in fp32) so the stem convolution runs on
 *   aligned NHWC data; the stem's filter carries matching zero channels.
 * - Parameters: one float32 buffer in an internal order: all convolution weights first (KRSC,
 *   "NHWC" filters), then the head / fc (these two groups take weight decay), then BN weights and
 *   biases. Gradients and momentum use the same layout, so SGD is one kernel over one buffer, and the
 *   gradient all-reduce (several ranks) is one call. In bf16 mode the convolution weights also have a
 *   bf16 copy (written by the SGD kernel) and cuDNN writes bf16 weight gradients that one cast kernel
 *   turns into the float gradient buffer. set/get_params convert from/to the canonical OIHW layout.
 * - Convolutions: cuDNN, algorithms chosen by timing at the first use of each batch size (plans are
 *   cached for a few sizes), deterministic-only when asked; see kernels/conv_cudnn.h.
 * - Batch norm: batch statistics by deterministic per-channel reductions, fused with ReLU, the
 *   residual add (and the downsample branch's BN) in one pass; the stem's BN + ReLU + max pool is one
 *   kernel. Backward: one reduction pass and one apply pass per BN (kernels/batchnorm.cu). Gradients
 *   of a block output arrive as a pair of tensors (dyA + dyB) so no convolution accumulates in place.
 * - Losses: NT-Xent (cuBLAS similarity GEMMs + row kernels), supervised cross-entropy, and the
 *   spatial loss of all layers as one gather, two batched GEMMs and a few small kernels
 *   (kernels/spatial_loss.cu); its gradient is added into each block output's gradient during the
 *   backward pass.
 * - A training step (forward, losses, backward, gradient averaging, SGD) runs on one stream and is
 *   captured as a CUDA graph after one eager step (engine_cuda.h).
 * - Several ranks: BN sums, NT-Xent embeddings and gradients go through comm->*_dev (NCCL); hooks
 *   are marked "comm:" below. One rank needs none of them.
 *
 * Gradient buffers in the backward pass (G[0..2], each sized for the largest block tensor):
 *   block input/output gradients always travel as the pair (G[0], G[1]); G[2] is scratch.
 */
#include "cuda_kernels.h"
#include "conv_cudnn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "engine.h"
#include "engine_cuda.h"
#include "model.h"
}

namespace {

const float BN_EPS = 1e-5f, BN_MOMENTUM = 0.1f;
const int MAX_CONV = 20; /* ResNet-18: 20 convolutions, each followed by its own BN */
const int MAX_PLANS = 4;

struct BNRec {
    const ConvBN *cb;        /* the convolution feeding this BN */
    int stage;               /* 0 stem, 1..4 layer1..layer4 (for the profile) */
    int C, H, W;             /* conv output */
    int cin_store;           /* conv input channels as stored (stem: padded) */
    size_t w_off, w_numel;   /* conv weight, internal offset and size (padding included) */
    size_t g_off, b_off;     /* BN weight / bias, internal offsets */
    size_t rm_off, rv_off;   /* running mean / var in the buffer array */
    float *mean, *invstd, *scale, *shift, *coef; /* device: [C] x 4, coef [3][C] */
};

struct BlockAct {
    void *x1, *a1, *x2, *xd, *y; /* conv1 out, relu(bn1), conv2 out, downsample conv out, block out */
};

struct NPlan {
    int n;
    ConvPlan *conv[MAX_CONV];
};

/* Everything that shapes the captured graph of a step (memcmp-compared: zero it first). */
struct StepCtx {
    int n, task, nranks;
    float temperature;
    SpatialShape sp;
    int layer_of[N_LAYERS];  /* compact index -> layer */
    int idx_of[N_LAYERS];    /* layer -> compact index or -1 */
    int serial[N_LAYERS];    /* units of that compact layer repeat */
    int has_spatial;
};

struct Prof; /* TDANN_PROFILE=1, see "profiling" below */

struct EngineCuda {
    Engine base;
    const Model *m;
    int dev, is_bf16, cpad, N;
    int graphs_enabled, graph_warned;
    size_t tsize; /* bytes per activation element */
    Comm *comm;
    int nranks, rank;
    cudaStream_t st;
    cudnnHandle_t dnn;
    cublasHandle_t blas;
    void *ws;
    size_t ws_bytes;
    void *blas_ws;
    size_t dev_bytes;
    void **allocs;
    int nallocs, cap_allocs;

    /* parameters */
    size_t P, n_conv, n_decay;
    size_t *int_off; /* [nparams] internal offset of each canonical parameter */
    float *params, *grads, *mom, *bufs;
    bf16 *convw16, *gconv16;
    int64_t *num_batches;
    float *h_tmp; /* host [max(P, bufs)] */
    void *wscratch; /* Find's weight-gradient scratch */

    int nbn;
    BNRec bn[MAX_CONV];
    int pool_h, pool_w;

    /* activations */
    uint8_t *img_u8;
    void *img, *x0, *pool;
    uint8_t *argmax;
    BlockAct blk[N_LAYERS];
    void *G[3], *S;
    float *parts;
    size_t parts_cap;
    float *bn_sums;

    /* head */
    int F, D;
    float *feat, *h1, *out, *zn, *norms, *sim, *dsim, *rowloss, *dout, *dzn, *dh1, *dfeat;
    float *zn_all, *dzn_all;

    /* spatial */
    int kcap;
    SpatialBufs sp;
    int32_t *units_d;
    float *coords_d;

    /* per-step data */
    CudaSgdParams *sgd_d, *sgd_h;
    float *ce_scale_d, *ce_scale_h;
    int32_t *labels_d, *labels_h;
    int32_t *units_h;
    float *coords_h;
    double *loss_d, *loss_h; /* [1 + N_LAYERS]: task, spatial per compact layer */

    NPlan plans[MAX_PLANS];
    int nplans, plan_next;

    /* graph */
    cudaGraphExec_t gexec;
    int have_graph, have_warm;
    StepCtx gkey, warm_key;

    int last_train; /* the last forward ran in training mode (loss_backward needs its batch statistics) */

    float *stage;
    size_t stage_floats;
    double stem_t4, stem_t8; /* bf16 stem probe: fwd + wgrad ms with 4 / 8 input channels (0: not probed) */
    Prof *prof;     /* NULL unless TDANN_PROFILE=1 at creation */
    int prof_rec;   /* PROF marks record events (only inside an eager profiled training step) */
    int prof_step;  /* this training step is profiled (mode 1 or 2) */
    char desc[8192];
};

EngineCuda *EC(Engine *e) { return (EngineCuda *)e; }
const EngineCuda *ECc(const Engine *e) { return (const EngineCuda *)e; }

/* ---- memory ----------------------------------------------------------------------------------- */
void *dalloc(EngineCuda *e, size_t bytes) {
    if (bytes == 0) bytes = 256;
    bytes = (bytes + 255) & ~(size_t)255;
    void *p = NULL;
    cudaError_t r = cudaMalloc(&p, bytes);
    if (r != cudaSuccess) {
        size_t fr = 0, tot = 0;
        cudaGetLastError();
        cudaMemGetInfo(&fr, &tot);
        die(EXIT_RUNTIME, "out of GPU memory allocating %.1f MiB (engine holds %.1f MiB, %.1f of %.1f MiB free): %s",
            bytes / 1048576.0, e->dev_bytes / 1048576.0, fr / 1048576.0, tot / 1048576.0, cudaGetErrorString(r));
    }
    if (e->nallocs == e->cap_allocs) {
        e->cap_allocs = e->cap_allocs ? 2 * e->cap_allocs : 64;
        e->allocs = (void **)xrealloc(e->allocs, sizeof(void *) * (size_t)e->cap_allocs);
    }
    e->allocs[e->nallocs++] = p;
    e->dev_bytes += bytes;
    return p;
}

void dfree(EngineCuda *e, void *p, size_t bytes) {
    if (!p) return;
    for (int i = 0; i < e->nallocs; i++)
        if (e->allocs[i] == p) {
            e->allocs[i] = e->allocs[--e->nallocs];
            break;
        }
    if (bytes == 0) bytes = 256;
    bytes = (bytes + 255) & ~(size_t)255;
    e->dev_bytes -= bytes;
    CUDA_CHECK(cudaFree(p));
}

template <typename T> T *hpinned(size_t count) {
    void *p = NULL;
    CUDA_CHECK(cudaMallocHost(&p, count * sizeof(T) + 16));
    memset(p, 0, count * sizeof(T) + 16);
    return (T *)p;
}

void sync(EngineCuda *e) { CUDA_CHECK(cudaStreamSynchronize(e->st)); }

int is_device_ptr(const void *p) {
    cudaPointerAttributes a;
    cudaError_t r = cudaPointerGetAttributes(&a, p);
    if (r != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}

/* ---- parameter layout ---------------------------------------------------------------------------- */
void build_layout(EngineCuda *e) {
    const Model *m = e->m;
    e->int_off = (size_t *)xcalloc((size_t)m->nparams, sizeof(size_t));
    size_t off = 0;
    /* group 1: convolution weights, in BN order (= model order) */
    for (int b = 0; b < e->nbn; b++) {
        BNRec *r = &e->bn[b];
        const ParamInfo *pi = &m->params[r->cb->conv];
        if (!pi->decay) die(EXIT_RUNTIME, "internal: convolution weight without weight decay");
        r->w_off = off;
        r->w_numel = (size_t)r->C * r->cb->k * r->cb->k * r->cin_store;
        e->int_off[r->cb->conv] = off;
        off += r->w_numel;
    }
    e->n_conv = off;
    /* group 2: linear weights and biases (decay) */
    for (int p = 0; p < m->nparams; p++) {
        const ParamInfo *pi = &m->params[p];
        if (pi->kind != P_LIN_W && pi->kind != P_LIN_B) continue;
        if (!pi->decay) die(EXIT_RUNTIME, "internal: linear parameter '%s' without weight decay", pi->name);
        e->int_off[p] = off;
        off += pi->numel;
    }
    e->n_decay = off;
    /* group 3: BN weights and biases (no decay) */
    for (int p = 0; p < m->nparams; p++) {
        const ParamInfo *pi = &m->params[p];
        if (pi->kind != P_BN_W && pi->kind != P_BN_B) continue;
        if (pi->decay) die(EXIT_RUNTIME, "internal: BN parameter '%s' with weight decay", pi->name);
        e->int_off[p] = off;
        off += pi->numel;
    }
    e->P = off;
    for (int b = 0; b < e->nbn; b++) {
        e->bn[b].g_off = e->int_off[e->bn[b].cb->bn_w];
        e->bn[b].b_off = e->int_off[e->bn[b].cb->bn_b];
    }
}

/* canonical (model.h) -> internal; `in` has e->P floats */
void canon_to_internal(const EngineCuda *e, const float *can, float *in) {
    const Model *m = e->m;
    memset(in, 0, e->P * sizeof(float));
    for (int p = 0; p < m->nparams; p++) {
        const ParamInfo *pi = &m->params[p];
        const float *src = can + pi->offset;
        float *dst = in + e->int_off[p];
        if (pi->kind == P_CONV_W) {
            int O = pi->shape[0], I = pi->shape[1], K = pi->shape[2];
            int Is = I;
            for (int b = 0; b < e->nbn; b++) if (e->bn[b].cb->conv == p) Is = e->bn[b].cin_store;
            for (int o = 0; o < O; o++)
                for (int i = 0; i < I; i++)
                    for (int kh = 0; kh < K; kh++)
                        for (int kw = 0; kw < K; kw++)
                            dst[(((size_t)o * K + kh) * K + kw) * Is + i] = src[(((size_t)o * I + i) * K + kh) * K + kw];
        } else {
            memcpy(dst, src, pi->numel * sizeof(float));
        }
    }
}

void internal_to_canon(const EngineCuda *e, const float *in, float *can) {
    const Model *m = e->m;
    for (int p = 0; p < m->nparams; p++) {
        const ParamInfo *pi = &m->params[p];
        float *dst = can + pi->offset;
        const float *src = in + e->int_off[p];
        if (pi->kind == P_CONV_W) {
            int O = pi->shape[0], I = pi->shape[1], K = pi->shape[2];
            int Is = I;
            for (int b = 0; b < e->nbn; b++) if (e->bn[b].cb->conv == p) Is = e->bn[b].cin_store;
            for (int o = 0; o < O; o++)
                for (int i = 0; i < I; i++)
                    for (int kh = 0; kh < K; kh++)
                        for (int kw = 0; kw < K; kw++)
                            dst[(((size_t)o * I + i) * K + kh) * K + kw] = src[(((size_t)o * K + kh) * K + kw) * Is + i];
        } else {
            memcpy(dst, src, pi->numel * sizeof(float));
        }
    }
}

const void *conv_w(const EngineCuda *e, int b) {
    return e->is_bf16 ? (const void *)(e->convw16 + e->bn[b].w_off) : (const void *)(e->params + e->bn[b].w_off);
}
void *conv_dw(EngineCuda *e, int b) {
    return e->is_bf16 ? (void *)(e->gconv16 + e->bn[b].w_off) : (void *)(e->grads + e->bn[b].w_off);
}

/* ---- plans ---------------------------------------------------------------------------------------- */
/* input and output buffers of convolution b (for Find) */
void conv_io(EngineCuda *e, int b, void **x, void **y) {
    if (b == 0) { *x = e->img; *y = e->x0; return; }
    const NetPlan *np = &e->m->plan;
    for (int l = 0; l < N_LAYERS; l++) {
        const Block *bl = &np->blocks[l];
        void *xin = l == 0 ? e->pool : e->blk[l - 1].y;
        if (e->bn[b].cb == &bl->c1) { *x = xin; *y = e->blk[l].x1; return; }
        if (e->bn[b].cb == &bl->c2) { *x = e->blk[l].a1; *y = e->blk[l].x2; return; }
        if (bl->has_down && e->bn[b].cb == &bl->down) { *x = xin; *y = e->blk[l].xd; return; }
    }
    die(EXIT_RUNTIME, "internal: convolution %d not in the plan", b);
}

void update_describe(EngineCuda *e);

NPlan *get_plan(EngineCuda *e, int n) {
    for (int i = 0; i < e->nplans; i++)
        if (e->plans[i].n == n) return &e->plans[i];
    NPlan *p;
    if (e->nplans < MAX_PLANS) p = &e->plans[e->nplans++];
    else {
        /* evict round robin, but never the max_rows plan (slot 0) */
        int s = 1 + e->plan_next++ % (MAX_PLANS - 1);
        p = &e->plans[s];
        for (int b = 0; b < e->nbn; b++) conv_plan_free(p->conv[b]);
    }
    memset(p, 0, sizeof *p);
    p->n = n;
    double t0 = now_seconds();
    for (int b = 0; b < e->nbn; b++) {
        const ConvBN *cb = e->bn[b].cb;
        ConvShape s;
        s.n = n;
        s.cin = e->bn[b].cin_store;
        s.h = cb->hin;
        s.w = cb->win;
        s.cout = cb->cout;
        s.k = cb->k;
        s.stride = cb->stride;
        s.pad = cb->pad;
        s.hout = cb->hout;
        s.wout = cb->wout;
        s.is_bf16 = e->is_bf16;
        s.need_dgrad = b != 0;
        void *x, *y;
        conv_io(e, b, &x, &y);
        p->conv[b] = conv_plan_create(e->dnn, &s, e->base.opt.deterministic, e->ws, e->ws_bytes, x,
                                      (void *)conv_w(e, b), y, e->G[2], e->wscratch);
    }
    CUDA_CHECK(cudaStreamSynchronize(e->st));
    info(1, "cuDNN algorithms for %d rows chosen in %.1f s", n, now_seconds() - t0);
    /* Keep only the workspace the first (max_rows) plan needs; later plans search within it. */
    if (p == &e->plans[0]) {
        size_t need = 0;
        for (int b = 0; b < e->nbn; b++) {
            size_t w = conv_plan_ws_bytes(p->conv[b]);
            if (w > need) need = w;
        }
        if (need < e->ws_bytes) {
            dfree(e, e->ws, e->ws_bytes);
            e->ws_bytes = need;
            e->ws = dalloc(e, need);
        }
    }
    update_describe(e);
    return p;
}

void update_describe(EngineCuda *e) {
    int rt = 0, dnn = (int)cudnnGetVersion();
    cudaRuntimeGetVersion(&rt);
    int blv = 0;
    cublasGetVersion(e->blas, &blv);
    struct cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, e->dev));
    int o = snprintf(e->desc, sizeof e->desc,
                     "cuda:%d %s, %s, CUDA runtime %d.%d, cuDNN %d.%d.%d, cuBLAS %d, %s, graphs %s, workspace %.0f MiB",
                     e->dev, prop.name, e->is_bf16 ? "bf16" : "fp32", rt / 1000, (rt % 1000) / 10, dnn / 10000,
                     (dnn % 10000) / 100, dnn % 100, blv, e->base.opt.deterministic ? "deterministic" : "fastest algorithms",
                     e->graphs_enabled ? "on" : "off", e->ws_bytes / 1048576.0);
    if (o < (int)sizeof e->desc) {
        if (e->stem_t4 > 0)
            o += snprintf(e->desc + o, sizeof e->desc - (size_t)o, ", stem input %d channels (%.2f ms with 4, %.2f with 8)",
                          e->cpad, e->stem_t4, e->stem_t8);
        else
            o += snprintf(e->desc + o, sizeof e->desc - (size_t)o, ", stem input %d channels", e->cpad);
    }
    if (e->nplans > 0 && o < (int)sizeof e->desc) {
        const NPlan *p = &e->plans[0];
        o += snprintf(e->desc + o, sizeof e->desc - (size_t)o, ", algos (n=%d):", p->n);
        for (int b = 0; b < e->nbn && o < (int)sizeof e->desc; b++) {
            char a[64];
            conv_plan_describe(p->conv[b], a, sizeof a);
            o += snprintf(e->desc + o, sizeof e->desc - (size_t)o, "%s %s", b ? "," : "", a);
        }
    }
}

/* ---- profiling (TDANN_PROFILE=1; engine_cuda.h) -------------------------------------------------
 * Mode 1: the training step runs eagerly (never captured) and PROF(cat, stage, bytes, flops) records
 * one CUDA event on the engine's stream at every category boundary: the step's GPU timeline is cut
 * into contiguous regions, each labelled with the category of the work enqueued after its mark
 * (what runs between that event and the next). The regions add up to the whole step, launch gaps
 * included. Bytes (reads + writes of each kernel's tensors, at the storage type; the cuDNN rows count
 * x + w + y once) and FLOPs (2 x MACs) are estimates from the shapes, added at enqueue time.
 * Mode 2: one event pair around an ordinary (graph-replayed) step. The events are read after the
 * step's existing synchronisation (read_losses). Without TDANN_PROFILE, PROF is one untaken branch
 * on e->prof_rec, and no event, synchronisation or allocation is added anywhere. */
enum {
    PC_INPUT, PC_CONV_F, PC_CONV_D, PC_CONV_W, PC_BN_STATS, PC_BN_FIN, PC_BN_APPLY, PC_BN_BRED, PC_BN_BFIN,
    PC_BN_BAPPLY, PC_MAXPOOL_F, PC_MAXPOOL_BRED, PC_MAXPOOL_BAPPLY, PC_AVGPOOL, PC_HEAD, PC_NTXENT, PC_SPATIAL,
    PC_SGD, PC_OTHER, PC_N
};
const char *const PC_NAMES[PC_N] = {
    "input upload + normalise", "conv forward", "conv backward-data", "conv backward-filter",
    "BN fwd statistics (reduce)", "BN fwd finalize (all stages)", "BN(+add)+ReLU fwd apply",
    "BN bwd reduce (+ReLU mask)", "BN bwd finalize (all stages)", "BN bwd apply (+ReLU mask)",
    "stem BN+ReLU+max pool fwd", "stem max pool+BN bwd reduce", "stem max pool+BN bwd apply",
    "avg pool fwd + bwd", "head (GEMMs, bias, ReLU)", "NT-Xent (GEMMs + rows)", "spatial loss fwd+bwd+scatter",
    "SGD (+ bf16 weight copy)", "other (uploads, grad cast, loss copy)"};
/* categories printed per stage; the others as one row */
const int PC_BY_STAGE[PC_N] = {0, 1, 1, 1, 1, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
const int PROF_STAGES = 5; /* 0 stem (or none), 1..4 layer1..layer4 */
const char *const PROF_STAGE_NAMES[PROF_STAGES] = {"stem", "layer1", "layer2", "layer3", "layer4"};
const int PROF_KEYS = PC_N * PROF_STAGES;
const int PROF_MAX_EVENTS = 1024; /* a ResNet-18 step makes about 300 marks */

struct Prof {
    int mode;                         /* 0 off, 1 eager with category events, 2 graph step bracketed */
    cudaEvent_t ev[PROF_MAX_EVENTS];
    int key[PROF_MAX_EVENTS];         /* key = cat * PROF_STAGES + stage of the region after ev[i] */
    int nev;                          /* events recorded in the current step (the end event excluded) */
    int pending;                      /* the end event of a step is recorded, not yet read */
    int n;                            /* rows of the profiled steps */
    double ms[PROF_KEYS], bytes[PROF_KEYS], flops[PROF_KEYS];
    long marks[PROF_KEYS];
    double step_ms, step_min;         /* mode 1: first to last event, sum and min over steps */
    int steps, events_per_step;
    double graph_ms, graph_min;       /* mode 2 */
    int graph_steps;
    int reported;
};

void prof_create(EngineCuda *e) {
    Prof *p = (Prof *)xcalloc(1, sizeof *p);
    for (int i = 0; i < PROF_MAX_EVENTS; i++) CUDA_CHECK(cudaEventCreate(&p->ev[i]));
    p->mode = 1;
    e->prof = p;
}

void prof_destroy(EngineCuda *e) {
    if (!e->prof) return;
    for (int i = 0; i < PROF_MAX_EVENTS; i++) cudaEventDestroy(e->prof->ev[i]);
    free(e->prof);
    e->prof = NULL;
}

void prof_mark(EngineCuda *e, int cat, int stage, double bytes, double flops) {
    Prof *p = e->prof;
    if (p->nev >= PROF_MAX_EVENTS - 1)
        die(EXIT_RUNTIME, "internal: more than %d profiling marks in one training step", PROF_MAX_EVENTS - 1);
    int k = cat * PROF_STAGES + stage;
    CUDA_CHECK(cudaEventRecord(p->ev[p->nev], e->st));
    p->key[p->nev++] = k;
    p->bytes[k] += bytes;
    p->flops[k] += flops;
    p->marks[k]++;
}
#define PROF(cat, stage, bytes, flops) \
    do { if (e->prof_rec) prof_mark(e, (cat), (stage), (double)(bytes), (double)(flops)); } while (0)

/* estimated bytes (x + w + y, storage type) and FLOPs (2 x MACs, padded stem channels included) of
 * one pass of convolution b on n rows: forward, data and filter gradient move and compute the same */
void conv_cost(const EngineCuda *e, int b, int n, double *bytes, double *flops) {
    const BNRec *r = &e->bn[b];
    const ConvBN *cb = r->cb;
    double x = (double)n * cb->hin * cb->win * r->cin_store, y = (double)n * cb->hout * cb->wout * cb->cout;
    *bytes = (x + y + (double)r->w_numel) * (double)e->tsize;
    *flops = 2.0 * y * cb->k * cb->k * r->cin_store;
}
#define PROF_CONV(cat, b, n) \
    do { if (e->prof_rec) { double by_, fl_; conv_cost(e, (b), (n), &by_, &fl_); prof_mark(e, (cat), e->bn[b].stage, by_, fl_); } } while (0)

/* a training step begins (before its first upload) */
void prof_step_begin(EngineCuda *e, int n) {
    Prof *p = e->prof;
    p->nev = 0;
    p->n = n;
    e->prof_step = 1;
    if (p->mode == 1) {
        e->prof_rec = 1;
    } else {
        CUDA_CHECK(cudaEventRecord(p->ev[0], e->st));
        p->key[0] = -1;
        p->nev = 1;
    }
}

/* the step's last work (the loss copy) is enqueued: the end event, before the step's synchronisation */
void prof_step_end(EngineCuda *e) {
    Prof *p = e->prof;
    CUDA_CHECK(cudaEventRecord(p->ev[p->nev], e->st));
    e->prof_rec = 0;
    p->pending = 1;
}

/* after the step's synchronisation: read the events */
void prof_step_collect(EngineCuda *e) {
    Prof *p = e->prof;
    e->prof_step = 0;
    e->prof_rec = 0;
    if (!p->pending) return;
    p->pending = 0;
    if (p->nev < 1) return;
    CUDA_CHECK(cudaEventSynchronize(p->ev[p->nev])); /* already complete: the step was synchronised */
    float t = 0.f;
    CUDA_CHECK(cudaEventElapsedTime(&t, p->ev[0], p->ev[p->nev]));
    if (p->mode == 1) {
        for (int i = 0; i < p->nev; i++) {
            float d = 0.f;
            CUDA_CHECK(cudaEventElapsedTime(&d, p->ev[i], p->ev[i + 1]));
            p->ms[p->key[i]] += d;
        }
        p->step_ms += t;
        if (p->steps == 0 || t < p->step_min) p->step_min = t;
        p->steps++;
        p->events_per_step = p->nev + 1;
    } else {
        p->graph_ms += t;
        if (p->graph_steps == 0 || t < p->graph_min) p->graph_min = t;
        p->graph_steps++;
    }
}

void prof_reset(Prof *p) {
    memset(p->ms, 0, sizeof p->ms);
    memset(p->bytes, 0, sizeof p->bytes);
    memset(p->flops, 0, sizeof p->flops);
    memset(p->marks, 0, sizeof p->marks);
    p->step_ms = p->step_min = p->graph_ms = p->graph_min = 0;
    p->steps = p->graph_steps = p->events_per_step = 0;
    p->reported = 0;
}

/* cudnnFind's time (ms) of the chosen algorithms of direction dir (0 fwd, 1 data, 2 filter), summed
 * over the convolutions of a stage, for the plan of n rows (0 when there is none) */
double prof_find_ms(const EngineCuda *e, int n, int dir, int stage) {
    for (int i = 0; i < e->nplans; i++) {
        if (e->plans[i].n != n) continue;
        double t = 0;
        for (int b = 0; b < e->nbn; b++)
            if (e->bn[b].stage == stage) t += conv_plan_dir_ms(e->plans[i].conv[b], dir);
        return t;
    }
    return 0;
}

int prof_is_conv(int cat) { return cat == PC_CONV_F || cat == PC_CONV_D || cat == PC_CONV_W; }
int prof_is_mem(int cat) { return !prof_is_conv(cat) && cat != PC_HEAD && cat != PC_NTXENT && cat != PC_SPATIAL; }

struct ProfSum { double ms, bytes, flops, find; };

void prof_row(FILE *f, const char *name, const char *stage, const ProfSum &r, double step, int mem, int conv) {
    char gbs[32] = "", tfl[32] = "", fnd[32] = "", mb[32] = "", gfl[32] = "";
    if (r.bytes > 0) snprintf(mb, sizeof mb, "%.0f", r.bytes / 1e6);
    if (mem && r.bytes > 0 && r.ms > 0) snprintf(gbs, sizeof gbs, "%.0f", r.bytes / (r.ms * 1e-3) / 1e9);
    if (r.flops > 0) snprintf(gfl, sizeof gfl, "%.1f", r.flops / 1e9);
    if (r.flops > 0 && r.ms > 0 && !mem) snprintf(tfl, sizeof tfl, "%.1f", r.flops / (r.ms * 1e-3) / 1e12);
    if (conv && r.find > 0) snprintf(fnd, sizeof fnd, "%.2f", r.find);
    fprintf(f, "%-38s %-7s %8.3f %6.1f %9s %7s %8s %8s %9s\n", name, stage, r.ms, step > 0 ? 100.0 * r.ms / step : 0.0, mb,
            gbs, gfl, tfl, fnd);
}

void prof_report(EngineCuda *e, FILE *f, double host_graph_ms) {
    Prof *p = e->prof;
    p->reported = 1;
    if (p->steps == 0) {
        fprintf(f, "profile: no eager profiled training step recorded (TDANN_PROFILE mode 1)\n");
        return;
    }
    double inv = 1.0 / p->steps, step = p->step_ms * inv;
    fprintf(f, "\nprofile of one training step: %d rows, mean of %d eager steps (CUDA events at %d category "
               "boundaries, no graph)\n", p->n, p->steps, p->events_per_step);
    fprintf(f, "  MB = estimated bytes read + written (storage type; convolutions: x + w + y once); GB/s for the "
               "memory-bound rows, TFLOP/s (2 x MACs) for the GEMM rows;\n  cudnnFind = the chosen algorithms' "
               "times measured by cudnnFind*AlgorithmEx at engine creation (same shapes, in isolation)\n\n");
    fprintf(f, "%-38s %-7s %8s %6s %9s %7s %8s %8s %9s\n", "category", "stage", "ms/step", "%step", "MB/step", "GB/s",
            "GFLOP", "TFLOP/s", "cudnnFind");
    ProfSum conv = {0, 0, 0, 0}, mem = {0, 0, 0, 0}, fin = {0, 0, 0, 0}, loss = {0, 0, 0, 0}, all = {0, 0, 0, 0};
    for (int c = 0; c < PC_N; c++) {
        ProfSum merged = {0, 0, 0, 0};
        long mk = 0;
        for (int sgi = 0; sgi < PROF_STAGES; sgi++) {
            int k = c * PROF_STAGES + sgi;
            mk += p->marks[k];
            ProfSum r = {p->ms[k] * inv, p->bytes[k] * inv, p->flops[k] * inv, 0};
            if (prof_is_conv(c)) r.find = prof_find_ms(e, p->n, c - PC_CONV_F, sgi);
            ProfSum *grp = prof_is_conv(c) ? &conv : (c == PC_BN_FIN || c == PC_BN_BFIN) ? &fin : prof_is_mem(c) ? &mem : &loss;
            grp->ms += r.ms; grp->bytes += r.bytes; grp->flops += r.flops; grp->find += r.find;
            all.ms += r.ms; all.bytes += r.bytes; all.flops += r.flops;
            merged.ms += r.ms; merged.bytes += r.bytes; merged.flops += r.flops; merged.find += r.find;
            if (PC_BY_STAGE[c] && p->marks[k] > 0)
                prof_row(f, PC_NAMES[c], PROF_STAGE_NAMES[sgi], r, step, prof_is_mem(c), prof_is_conv(c));
        }
        if (!PC_BY_STAGE[c] && mk > 0) prof_row(f, PC_NAMES[c], "-", merged, step, prof_is_mem(c), prof_is_conv(c));
    }
    fprintf(f, "%s\n", "-------------------------------------------------------------------------------------------------------");
    prof_row(f, "convolutions (all directions)", "", conv, step, 0, 1);
    prof_row(f, "memory-bound passes (no finalize)", "", mem, step, 1, 0);
    prof_row(f, "BN finalize kernels (fwd + bwd)", "", fin, step, 1, 0);
    prof_row(f, "head + NT-Xent + spatial loss", "", loss, step, 0, 0);
    prof_row(f, "sum of categories", "", all, step, 0, 0);
    fprintf(f, "  memory-bound passes at 3.0 TB/s would take %.2f ms (achieved %.0f GB/s)\n", mem.bytes / 3.0e12 * 1e3,
            mem.ms > 0 ? mem.bytes / (mem.ms * 1e-3) / 1e9 : 0.0);
    fprintf(f, "%-46s %8.3f ms  (min %.3f) %9.0f img/s\n", "eager step, first to last event (mean)", step, p->step_min,
            p->n / (step * 1e-3));
    if (p->graph_steps > 0) {
        double g = p->graph_ms / p->graph_steps;
        fprintf(f, "%-46s %8.3f ms  (min %.3f) %9.0f img/s  (mean of %d)\n", "graph-replayed step, CUDA events", g,
                p->graph_min, p->n / (g * 1e-3), p->graph_steps);
        fprintf(f, "%-46s %8.3f ms  (%.1f%% of the eager step)\n", "eager - graph (launch gaps the graph removes)", step - g,
                100.0 * (step - g) / step);
    }
    if (host_graph_ms > 0)
        fprintf(f, "%-46s %8.3f ms  %19.0f img/s\n", "graph-replayed step, host clock (median)", host_graph_ms,
                p->n / (host_graph_ms * 1e-3));
}

/* ---- forward -------------------------------------------------------------------------------------- */
void check_parts(EngineCuda *e, long M, int C, int ns) {
    size_t need = cuk_bn_parts_floats(M, C, e->is_bf16, ns);
    if (need > e->parts_cap) die(EXIT_RUNTIME, "internal: BN partial buffer too small (%zu < %zu)", e->parts_cap, need);
}

/* batch statistics of BN b over x ([M][C]) -> its scale/shift (and running stats) */
void bn_train_stats(EngineCuda *e, int b, const void *x, long M) {
    BNRec *r = &e->bn[b];
    check_parts(e, M, r->C, 2);
    double pb = 4.0 * (double)cuk_bn_parts_floats(M, r->C, e->is_bf16, 2);
    PROF(PC_BN_STATS, r->stage, (double)M * r->C * e->tsize + pb, 0);
    int np = cuk_bn_stats(e->st, e->parts, x, e->is_bf16, M, r->C);
    PROF(PC_BN_FIN, r->stage, pb, 0);
    const float *g = e->params + r->g_off, *be = e->params + r->b_off;
    float *rm = e->bufs + r->rm_off, *rv = e->bufs + r->rv_off;
    double Mtot = (double)M * e->nranks;
    if (e->nranks > 1) {
        /* comm: SyncBN, sums over all ranks */
        cuk_bn_fwd_finalize(e->st, e->parts, np, r->C, Mtot, BN_EPS, BN_MOMENTUM, g, be, rm, rv, r->mean, r->invstd,
                            r->scale, r->shift, e->bn_sums);
        e->comm->allreduce_sum_dev(e->comm, e->bn_sums, 2 * (size_t)r->C, (void *)e->st);
        cuk_bn_fwd_finalize(e->st, e->bn_sums, 1, r->C, Mtot, BN_EPS, BN_MOMENTUM, g, be, rm, rv, r->mean, r->invstd,
                            r->scale, r->shift, NULL);
    } else {
        cuk_bn_fwd_finalize(e->st, e->parts, np, r->C, Mtot, BN_EPS, BN_MOMENTUM, g, be, rm, rv, r->mean, r->invstd,
                            r->scale, r->shift, NULL);
    }
}

void enqueue_forward(EngineCuda *e, const NPlan *p, const uint8_t *img_u8, int n, int train) {
    const NetPlan *np = &e->m->plan;
    int bf = e->is_bf16;
    const ConvBN *st = &np->stem;
    const double ts = (double)e->tsize;
    PROF(PC_INPUT, 0, (double)n * st->hin * st->win * (3 + e->cpad * ts), 0);
    cuk_normalize_input(e->st, e->img, bf, e->cpad, img_u8, (size_t)n * st->hin * st->win);
    if (!train)
        for (int b = 0; b < e->nbn; b++) {
            BNRec *r = &e->bn[b];
            cuk_bn_eval_coef(e->st, r->C, BN_EPS, e->params + r->g_off, e->params + r->b_off, e->bufs + r->rm_off,
                             e->bufs + r->rv_off, r->scale, r->shift);
        }
    /* stem */
    PROF_CONV(PC_CONV_F, 0, n);
    conv_forward(p->conv[0], e->dnn, e->img, conv_w(e, 0), e->x0, e->ws, e->ws_bytes);
    long M0 = (long)n * st->hout * st->wout;
    if (train) bn_train_stats(e, 0, e->x0, M0);
    PROF(PC_MAXPOOL_F, 0, (double)M0 * st->cout * ts + (double)n * e->pool_h * e->pool_w * st->cout * (ts + 1), 0);
    cuk_bn_relu_maxpool(e->st, e->pool, e->argmax, e->x0, bf, n, st->hout, st->wout, st->cout, e->pool_h, e->pool_w,
                        e->bn[0].scale, e->bn[0].shift);
    /* blocks */
    for (int l = 0; l < N_LAYERS; l++) {
        const Block *bl = &np->blocks[l];
        BlockAct *a = &e->blk[l];
        const void *xin = l == 0 ? e->pool : e->blk[l - 1].y;
        int b1 = bl->c1.bn, b2 = bl->c2.bn, bd = bl->has_down ? bl->down.bn : -1;
        long M = (long)n * bl->c1.hout * bl->c1.wout;
        int sg = e->bn[b1].stage;
        double mc = (double)M * bl->c1.cout * ts; /* bytes of one block tensor */
        PROF_CONV(PC_CONV_F, b1, n);
        conv_forward(p->conv[b1], e->dnn, xin, conv_w(e, b1), a->x1, e->ws, e->ws_bytes);
        if (train) bn_train_stats(e, b1, a->x1, M);
        PROF(PC_BN_APPLY, sg, 2 * mc, 0);
        cuk_bn_apply(e->st, a->a1, a->x1, bf, M, bl->c1.cout, e->bn[b1].scale, e->bn[b1].shift, 0, NULL, NULL, NULL, 1);
        PROF_CONV(PC_CONV_F, b2, n);
        conv_forward(p->conv[b2], e->dnn, a->a1, conv_w(e, b2), a->x2, e->ws, e->ws_bytes);
        if (train) bn_train_stats(e, b2, a->x2, M);
        if (bd >= 0) {
            PROF_CONV(PC_CONV_F, bd, n);
            conv_forward(p->conv[bd], e->dnn, xin, conv_w(e, bd), a->xd, e->ws, e->ws_bytes);
            if (train) bn_train_stats(e, bd, a->xd, M);
            PROF(PC_BN_APPLY, sg, 3 * mc, 0);
            cuk_bn_apply(e->st, a->y, a->x2, bf, M, bl->c2.cout, e->bn[b2].scale, e->bn[b2].shift, 2, a->xd,
                         e->bn[bd].scale, e->bn[bd].shift, 1);
        } else {
            PROF(PC_BN_APPLY, sg, 3 * mc, 0);
            cuk_bn_apply(e->st, a->y, a->x2, bf, M, bl->c2.cout, e->bn[b2].scale, e->bn[b2].shift, 1, xin, NULL, NULL, 1);
        }
    }
    /* pool + head */
    int HW7 = e->m->layer_h[7] * e->m->layer_w[7];
    PROF(PC_AVGPOOL, 0, (double)n * HW7 * e->F * ts + 4.0 * n * e->F, 0);
    cuk_avgpool_fwd(e->st, e->feat, e->blk[7].y, bf, n, HW7, e->F);
    const float *P = e->params;
    PROF(PC_HEAD, 0, 4.0 * ((double)e->F * (e->F + e->D) + 4.0 * n * (e->F + e->D)),
         2.0 * n * e->F * (e->m->cfg.task == TASK_SIMCLR ? e->F + e->D : e->D));
    if (e->m->cfg.task == TASK_SIMCLR) {
        cuk_gemm(e->blas, 0, 1, n, e->F, e->F, 1.0f, e->feat, P + e->int_off[np->head_w1], 0.0f, e->h1);
        cuk_bias_act(e->st, e->h1, P + e->int_off[np->head_b1], n, e->F, 1);
        cuk_gemm(e->blas, 0, 1, n, e->D, e->F, 1.0f, e->h1, P + e->int_off[np->head_w2], 0.0f, e->out);
        cuk_bias_act(e->st, e->out, P + e->int_off[np->head_b2], n, e->D, 0);
    } else {
        cuk_gemm(e->blas, 0, 1, n, e->D, e->F, 1.0f, e->feat, P + e->int_off[np->fc_w], 0.0f, e->out);
        cuk_bias_act(e->st, e->out, P + e->int_off[np->fc_b], n, e->D, 0);
    }
}

/* ---- loss + backward ------------------------------------------------------------------------------ */
/* BN backward for one block's second BN (+ downsample BN): reduce, finalize (grads, coefs) */
void bn_bwd_coefs(EngineCuda *e, int b, int bd, long M, const void *dyA, const void *dyB, const void *y, const void *x,
                  const void *xd) {
    BNRec *r = &e->bn[b], *rd = bd >= 0 ? &e->bn[bd] : NULL;
    int ns = rd ? 3 : 2;
    check_parts(e, M, r->C, ns);
    double pb = 4.0 * (double)cuk_bn_parts_floats(M, r->C, e->is_bf16, ns);
    PROF(PC_BN_BRED, r->stage, (double)M * r->C * e->tsize * (3 + (dyB != NULL) + (xd != NULL)) + pb, 0);
    int np = cuk_bn_bwd_reduce(e->st, e->parts, e->is_bf16, M, r->C, dyA, dyB, y, x, r->mean, r->invstd, xd,
                               rd ? rd->mean : NULL, rd ? rd->invstd : NULL);
    PROF(PC_BN_BFIN, r->stage, pb, 0);
    double Mtot = (double)M * e->nranks;
    float *G = e->grads;
    const float *P = e->params;
    if (e->nranks > 1) {
        /* comm: local sums give this rank's dgamma/dbeta (averaged with all gradients later); the
         * input gradient needs the sums over all ranks */
        cuk_bn_bwd_finalize(e->st, e->parts, np, ns, r->C, Mtot, P + r->g_off, r->mean, r->invstd,
                            rd ? P + rd->g_off : NULL, rd ? rd->mean : NULL, rd ? rd->invstd : NULL, G + r->g_off,
                            G + r->b_off, rd ? G + rd->g_off : NULL, rd ? G + rd->b_off : NULL, NULL, NULL, e->bn_sums);
        e->comm->allreduce_sum_dev(e->comm, e->bn_sums, (size_t)ns * r->C, (void *)e->st);
        cuk_bn_bwd_finalize(e->st, e->bn_sums, 1, ns, r->C, Mtot, P + r->g_off, r->mean, r->invstd,
                            rd ? P + rd->g_off : NULL, rd ? rd->mean : NULL, rd ? rd->invstd : NULL, NULL, NULL, NULL,
                            NULL, r->coef, rd ? rd->coef : NULL, NULL);
    } else {
        cuk_bn_bwd_finalize(e->st, e->parts, np, ns, r->C, Mtot, P + r->g_off, r->mean, r->invstd,
                            rd ? P + rd->g_off : NULL, rd ? rd->mean : NULL, rd ? rd->invstd : NULL, G + r->g_off,
                            G + r->b_off, rd ? G + rd->g_off : NULL, rd ? G + rd->b_off : NULL, r->coef,
                            rd ? rd->coef : NULL, NULL);
    }
}

void enqueue_task_loss(EngineCuda *e, const StepCtx *c) {
    int n = c->n, D = e->D;
    if (c->task == TASK_SIMCLR) {
        float invT = 1.0f / c->temperature;
        cuk_l2_normalize(e->st, e->zn, e->norms, e->out, n, D);
        if (e->nranks > 1) {
            /* comm: similarities against every rank's embeddings */
            int Nall = n * e->nranks;
            e->comm->allgather_dev(e->comm, e->zn, e->zn_all, (size_t)n * D, (void *)e->st);
            cuk_gemm(e->blas, 0, 1, n, Nall, D, invT, e->zn, e->zn_all, 0.0f, e->sim);
            cuk_ntxent_rows(e->st, e->rowloss, e->dsim, e->sim, n, Nall, e->rank * n, 1.0f / n);
            cuk_sum_to_double(e->st, &e->loss_d[0], e->rowloss, n, 1.0 / n);
            cuk_gemm(e->blas, 0, 0, n, D, Nall, invT, e->dsim, e->zn_all, 0.0f, e->dzn);
            cuk_gemm(e->blas, 1, 0, Nall, D, n, invT, e->dsim, e->zn, 0.0f, e->dzn_all);
            e->comm->allreduce_sum_dev(e->comm, e->dzn_all, (size_t)Nall * D, (void *)e->st);
            cuk_add_f32(e->st, e->dzn, e->dzn_all + (size_t)e->rank * n * D, (size_t)n * D);
        } else {
            cuk_gemm(e->blas, 0, 1, n, n, D, invT, e->zn, e->zn, 0.0f, e->sim);
            cuk_ntxent_rows(e->st, e->rowloss, e->dsim, e->sim, n, n, 0, 1.0f / n);
            cuk_sum_to_double(e->st, &e->loss_d[0], e->rowloss, n, 1.0 / n);
            cuk_gemm(e->blas, 0, 0, n, D, n, invT, e->dsim, e->zn, 0.0f, e->dzn);
            cuk_gemm(e->blas, 1, 0, n, D, n, invT, e->dsim, e->zn, 1.0f, e->dzn);
        }
        cuk_l2_normalize_bwd(e->st, e->dout, e->dzn, e->zn, e->norms, n, D);
    } else {
        cuk_softmax_ce_rows(e->st, e->rowloss, e->dout, e->out, e->labels_d, n, D, e->ce_scale_d);
        /* loss = sum of rowloss * (1/count): ce_scale is on the device; rows were already scaled in
         * the gradient, the loss sum is scaled on the host (loss_h) */
        cuk_sum_to_double(e->st, &e->loss_d[0], e->rowloss, n, 1.0);
    }
}

void enqueue_head_backward(EngineCuda *e, int n) {
    const NetPlan *np = &e->m->plan;
    const float *P = e->params;
    float *G = e->grads;
    int F = e->F, D = e->D;
    if (e->m->cfg.task == TASK_SIMCLR) {
        cuk_gemm(e->blas, 1, 0, D, F, n, 1.0f, e->dout, e->h1, 0.0f, G + e->int_off[np->head_w2]);
        cuk_colsum(e->st, G + e->int_off[np->head_b2], e->dout, n, D);
        cuk_gemm(e->blas, 0, 0, n, F, D, 1.0f, e->dout, P + e->int_off[np->head_w2], 0.0f, e->dh1);
        cuk_relu_mask(e->st, e->dh1, e->h1, (size_t)n * F);
        cuk_gemm(e->blas, 1, 0, F, F, n, 1.0f, e->dh1, e->feat, 0.0f, G + e->int_off[np->head_w1]);
        cuk_colsum(e->st, G + e->int_off[np->head_b1], e->dh1, n, F);
        cuk_gemm(e->blas, 0, 0, n, F, F, 1.0f, e->dh1, P + e->int_off[np->head_w1], 0.0f, e->dfeat);
    } else {
        cuk_gemm(e->blas, 1, 0, D, F, n, 1.0f, e->dout, e->feat, 0.0f, G + e->int_off[np->fc_w]);
        cuk_colsum(e->st, G + e->int_off[np->fc_b], e->dout, n, D);
        cuk_gemm(e->blas, 0, 0, n, F, D, 1.0f, e->dout, P + e->int_off[np->fc_w], 0.0f, e->dfeat);
    }
}

void enqueue_loss_backward(EngineCuda *e, const NPlan *p, const StepCtx *c) {
    const NetPlan *np = &e->m->plan;
    int n = c->n, bf = e->is_bf16;
    const double ts = (double)e->tsize;
    if (c->has_spatial) {
        /* per layer: the gather (32-byte sectors), Z, R, G, dZ written and read a few times; 2 GEMMs */
        double nk = (double)n * c->sp.kmax, kk = (double)c->sp.kmax * c->sp.kmax;
        PROF(PC_SPATIAL, 0, c->sp.nl * (nk * (32 + 4 * 5) + kk * 4 * 5), c->sp.nl * 4.0 * kk * n);
        cuk_spatial_forward_backward(e->st, e->blas, &c->sp, e->units_d, e->coords_d, &e->sp, e->loss_d + 1);
    }
    /* NT-Xent: similarity GEMM + 2 gradient GEMMs; S and dS written and read */
    PROF(PC_NTXENT, 0, 4.0 * ((double)n * n * e->nranks * 4 + 8.0 * n * e->D), 6.0 * n * (double)n * e->nranks * e->D);
    enqueue_task_loss(e, c);
    PROF(PC_HEAD, 0, 4.0 * (2.0 * e->F * (e->F + e->D) + 6.0 * n * (e->F + e->D)),
         4.0 * n * e->F * (e->m->cfg.task == TASK_SIMCLR ? e->F + e->D : e->D));
    enqueue_head_backward(e, n);
    int HW7 = e->m->layer_h[7] * e->m->layer_w[7];
    PROF(PC_AVGPOOL, 0, (double)n * HW7 * e->F * ts + 4.0 * n * e->F, 0);
    cuk_avgpool_bwd(e->st, e->G[0], e->dfeat, bf, n, HW7, e->F);
    void *G0 = e->G[0], *G1 = e->G[1], *G2 = e->G[2];
    const void *dyB = NULL; /* layer 7's gradient is a single tensor */
    for (int l = N_LAYERS - 1; l >= 0; l--) {
        const Block *bl = &np->blocks[l];
        BlockAct *a = &e->blk[l];
        const void *xin = l == 0 ? e->pool : e->blk[l - 1].y;
        int b1 = bl->c1.bn, b2 = bl->c2.bn, bd = bl->has_down ? bl->down.bn : -1;
        long M = (long)n * bl->c1.hout * bl->c1.wout;
        int sg = e->bn[b1].stage;
        double mc = (double)M * bl->c1.cout * ts; /* bytes of one block tensor */
        int ci = c->idx_of[l];
        if (ci >= 0) {
            PROF(PC_SPATIAL, 0, (double)n * c->sp.k[ci] * (4 + 64), 0); /* read dZ; read-modify-write sectors */
            cuk_spatial_scatter(e->st, &c->sp, ci, e->units_d, e->sp.dZ, G0, c->serial[ci]);
        }
        /* BN2 (+ downsample BN) */
        bn_bwd_coefs(e, b2, bd, M, G0, dyB, a->y, a->x2, bd >= 0 ? a->xd : NULL);
        /* reads dyA, dyB, y, x (, xd); writes dx and dz (identity) or dxd */
        PROF(PC_BN_BAPPLY, sg, mc * (3 + (dyB != NULL) + (bd >= 0) + 2), 0);
        if (bd >= 0)
            cuk_bn_bwd_apply(e->st, bf, M, bl->c2.cout, G0, dyB, a->y, a->x2, e->bn[b2].coef, G1, NULL, a->xd,
                             e->bn[bd].coef, G0); /* G1 = dx2, G0 = dxd */
        else
            cuk_bn_bwd_apply(e->st, bf, M, bl->c2.cout, G0, dyB, a->y, a->x2, e->bn[b2].coef, G1, G0, NULL, NULL,
                             NULL); /* G1 = dx2, G0 = dz (identity path) */
        PROF_CONV(PC_CONV_W, b2, n);
        conv_backward_filter(p->conv[b2], e->dnn, a->a1, G1, conv_dw(e, b2), e->ws, e->ws_bytes);
        PROF_CONV(PC_CONV_D, b2, n);
        conv_backward_data(p->conv[b2], e->dnn, G1, conv_w(e, b2), G2, e->ws, e->ws_bytes); /* G2 = da1 */
        /* BN1 + ReLU, in place on G2 */
        bn_bwd_coefs(e, b1, -1, M, G2, NULL, a->a1, a->x1, NULL);
        PROF(PC_BN_BAPPLY, sg, 4 * mc, 0);
        cuk_bn_bwd_apply(e->st, bf, M, bl->c1.cout, G2, NULL, a->a1, a->x1, e->bn[b1].coef, G2, NULL, NULL, NULL, NULL);
        PROF_CONV(PC_CONV_W, b1, n);
        conv_backward_filter(p->conv[b1], e->dnn, xin, G2, conv_dw(e, b1), e->ws, e->ws_bytes);
        if (bd >= 0) {
            PROF_CONV(PC_CONV_W, bd, n);
            conv_backward_filter(p->conv[bd], e->dnn, xin, G0, conv_dw(e, bd), e->ws, e->ws_bytes);
            PROF_CONV(PC_CONV_D, bd, n);
            conv_backward_data(p->conv[bd], e->dnn, G0, conv_w(e, bd), G1, e->ws, e->ws_bytes); /* G1 = d(xin) part */
            PROF_CONV(PC_CONV_D, b1, n);
            conv_backward_data(p->conv[b1], e->dnn, G2, conv_w(e, b1), G0, e->ws, e->ws_bytes); /* G0 = d(xin) part */
        } else {
            PROF_CONV(PC_CONV_D, b1, n);
            conv_backward_data(p->conv[b1], e->dnn, G2, conv_w(e, b1), G1, e->ws, e->ws_bytes); /* G1 = d(xin) part; G0 = dz */
        }
        dyB = G1;
    }
    /* stem: max pool, ReLU, BN backward into S, then the filter gradient */
    const ConvBN *sc = &np->stem;
    BNRec *r0 = &e->bn[0];
    long M0 = (long)n * sc->hout * sc->wout;
    check_parts(e, M0, r0->C, 2);
    /* reads dpA, dpB (pool size), argmax (1 byte), x0 (conv size) once each if the caches serve the
       window overlaps; the apply also writes dx (conv size) */
    double pool_b = (double)n * e->pool_h * e->pool_w * sc->cout * (2 * ts + 1), x0_b = (double)M0 * sc->cout * ts;
    double spb = 4.0 * (double)cuk_bn_parts_floats(M0, r0->C, bf, 2);
    PROF(PC_MAXPOOL_BRED, 0, pool_b + x0_b + spb, 0);
    int nparts = cuk_stem_bwd_reduce(e->st, e->parts, bf, n, sc->hout, sc->wout, sc->cout, e->pool_h, e->pool_w, G0, G1,
                                     e->argmax, e->x0, r0->scale, r0->shift, r0->mean, r0->invstd);
    PROF(PC_BN_BFIN, 0, spb, 0);
    double Mtot = (double)M0 * e->nranks;
    if (e->nranks > 1) {
        cuk_bn_bwd_finalize(e->st, e->parts, nparts, 2, r0->C, Mtot, e->params + r0->g_off, r0->mean, r0->invstd, NULL,
                            NULL, NULL, e->grads + r0->g_off, e->grads + r0->b_off, NULL, NULL, NULL, NULL, e->bn_sums);
        e->comm->allreduce_sum_dev(e->comm, e->bn_sums, 2 * (size_t)r0->C, (void *)e->st);
        cuk_bn_bwd_finalize(e->st, e->bn_sums, 1, 2, r0->C, Mtot, e->params + r0->g_off, r0->mean, r0->invstd, NULL,
                            NULL, NULL, NULL, NULL, NULL, NULL, r0->coef, NULL, NULL);
    } else {
        cuk_bn_bwd_finalize(e->st, e->parts, nparts, 2, r0->C, Mtot, e->params + r0->g_off, r0->mean, r0->invstd, NULL,
                            NULL, NULL, e->grads + r0->g_off, e->grads + r0->b_off, NULL, NULL, r0->coef, NULL, NULL);
    }
    PROF(PC_MAXPOOL_BAPPLY, 0, pool_b + 2 * x0_b, 0);
    cuk_stem_bwd_apply(e->st, e->S, bf, n, sc->hout, sc->wout, sc->cout, e->pool_h, e->pool_w, G0, G1, e->argmax, e->x0,
                       r0->scale, r0->shift, r0->coef);
    PROF_CONV(PC_CONV_W, 0, n);
    conv_backward_filter(p->conv[0], e->dnn, e->img, e->S, conv_dw(e, 0), e->ws, e->ws_bytes);
    PROF(PC_OTHER, 0, bf ? 6.0 * e->n_conv : 0, 0); /* the bf16 -> float weight-gradient cast */
    if (bf) cuk_bf16_to_f32(e->st, e->grads, e->gconv16, e->n_conv);
    if (e->nranks > 1) {
        /* comm: average the gradients over ranks */
        e->comm->allreduce_sum_dev(e->comm, e->grads, e->P, (void *)e->st);
        float inv = 1.0f / (float)e->nranks;
        CUBLAS_CHECK(cublasSscal(e->blas, (int)e->P, &inv, e->grads, 1));
    }
}

void enqueue_sgd(EngineCuda *e) {
    /* reads p, mom, g; writes p, mom (float); writes the bf16 copy of the convolution weights */
    PROF(PC_SGD, 0, 20.0 * e->P + (e->is_bf16 ? 2.0 * e->n_conv : 0), 0);
    cuk_sgd(e->st, e->params, e->mom, e->grads, e->P, e->n_decay, e->sgd_d, e->is_bf16 ? e->convw16 : NULL, e->n_conv);
}

/* ---- per-step data ------------------------------------------------------------------------------- */
void ensure_spatial(EngineCuda *e, int kmax) {
    if (kmax <= e->kcap) return;
    int nl = N_LAYERS, n = e->N;
    if (e->kcap) {
        dfree(e, e->sp.Z, sizeof(float) * (size_t)nl * n * e->kcap);
        dfree(e, e->sp.dinv, sizeof(float) * (size_t)nl * e->kcap * 2);
        dfree(e, e->sp.R, sizeof(float) * (size_t)nl * e->kcap * e->kcap);
        dfree(e, e->sp.G, sizeof(float) * (size_t)nl * e->kcap * e->kcap);
        dfree(e, e->sp.dZ, sizeof(float) * (size_t)nl * n * e->kcap);
        dfree(e, e->units_d, sizeof(int32_t) * (size_t)nl * e->kcap);
        dfree(e, e->coords_d, sizeof(float) * (size_t)nl * e->kcap * 2);
        CUDA_CHECK(cudaFreeHost(e->units_h));
        CUDA_CHECK(cudaFreeHost(e->coords_h));
    }
    e->kcap = kmax;
    e->sp.Z = (float *)dalloc(e, sizeof(float) * (size_t)nl * n * kmax);
    e->sp.dinv = (float *)dalloc(e, sizeof(float) * (size_t)nl * kmax * 2);
    e->sp.R = (float *)dalloc(e, sizeof(float) * (size_t)nl * kmax * kmax);
    e->sp.G = (float *)dalloc(e, sizeof(float) * (size_t)nl * kmax * kmax);
    e->sp.dZ = (float *)dalloc(e, sizeof(float) * (size_t)nl * n * kmax);
    if (!e->sp.part) e->sp.part = (double *)dalloc(e, sizeof(double) * (size_t)nl * SPATIAL_PAIR_BLOCKS * 6);
    if (!e->sp.coef) e->sp.coef = (float *)dalloc(e, sizeof(float) * (size_t)nl * 4);
    e->units_d = (int32_t *)dalloc(e, sizeof(int32_t) * (size_t)nl * kmax);
    e->coords_d = (float *)dalloc(e, sizeof(float) * (size_t)nl * kmax * 2);
    e->units_h = hpinned<int32_t>((size_t)nl * kmax);
    e->coords_h = hpinned<float>((size_t)nl * kmax * 2);
    if (e->have_graph) CUDA_CHECK(cudaGraphExecDestroy(e->gexec)); /* buffers moved */
    e->have_graph = 0;
    e->have_warm = 0;
}

/* Validates the loss spec and fills the step context and the host staging buffers. */
void make_ctx(EngineCuda *e, const LossSpec *ls, int n, StepCtx *c) {
    memset(c, 0, sizeof *c);
    c->n = n;
    c->task = e->m->cfg.task;
    c->nranks = e->nranks;
    c->temperature = ls->temperature;
    if (c->task == TASK_SIMCLR) {
        if (!(ls->temperature > 0)) die(EXIT_RUNTIME, "internal: NT-Xent temperature must be positive (got %g)", (double)ls->temperature);
        if (n % 2) die(EXIT_RUNTIME, "internal: SimCLR needs an even number of rows (got %d)", n);
    } else {
        c->temperature = 0;
        if (!ls->labels) die(EXIT_RUNTIME, "internal: supervised loss without labels");
    }
    SpatialShape *sp = &c->sp;
    sp->n = n;
    sp->is_bf16 = e->is_bf16;
    int kmax = 0;
    for (int l = 0; l < N_LAYERS; l++) {
        c->idx_of[l] = -1;
        const SpatialTerm *t = &ls->spatial[l];
        if (t->alpha == 0.0f || t->k <= 0) continue;
        if (t->k < 2) die(EXIT_RUNTIME, "internal: spatial loss of %s needs at least 2 units (got %d)", LAYER_NAMES[l], t->k);
        if (!t->units || !t->coords) die(EXIT_RUNTIME, "internal: spatial term of %s without units or coordinates", LAYER_NAMES[l]);
        if (t->kind != SL_REL && t->kind != SL_ABS) die(EXIT_RUNTIME, "internal: spatial loss kind %d", t->kind);
        int li = sp->nl++;
        c->idx_of[l] = li;
        c->layer_of[li] = l;
        sp->k[li] = t->k;
        sp->kind[li] = t->kind;
        sp->alpha[li] = t->alpha;
        sp->act[li] = e->blk[l].y;
        sp->C[li] = e->m->layer_c[l];
        sp->HW[li] = e->m->layer_h[l] * e->m->layer_w[l];
        if (t->k > kmax) kmax = t->k;
    }
    c->has_spatial = sp->nl > 0;
    if (c->has_spatial) {
        kmax = (kmax + 3) & ~3;
        sp->kmax = kmax;
        ensure_spatial(e, kmax);
        memset(e->units_h, 0, sizeof(int32_t) * (size_t)N_LAYERS * kmax);
        memset(e->coords_h, 0, sizeof(float) * (size_t)N_LAYERS * kmax * 2);
        for (int li = 0; li < sp->nl; li++) {
            int l = c->layer_of[li];
            const SpatialTerm *t = &ls->spatial[l];
            int64_t U = e->m->layer_units[l];
            uint8_t *seen = (uint8_t *)xcalloc((size_t)U, 1);
            for (int j = 0; j < t->k; j++) {
                int32_t u = t->units[j];
                if (u < 0 || u >= U) die(EXIT_RUNTIME, "internal: spatial unit %d out of range for %s (%lld units)", u, LAYER_NAMES[l], (long long)U);
                if (seen[u]) c->serial[li] = 1;
                seen[u] = 1;
                e->units_h[(size_t)li * kmax + j] = u;
                e->coords_h[((size_t)li * kmax + j) * 2] = t->coords[2 * j];
                e->coords_h[((size_t)li * kmax + j) * 2 + 1] = t->coords[2 * j + 1];
            }
            free(seen);
        }
    }
    if (c->task == TASK_SUPERVISED) {
        int cnt = 0;
        for (int i = 0; i < n; i++) {
            if (ls->labels[i] < -1 || ls->labels[i] >= e->D)
                die(EXIT_RUNTIME, "internal: label %d of row %d outside [-1, %d)", ls->labels[i], i, e->D);
            e->labels_h[i] = ls->labels[i];
            if (ls->labels[i] >= 0 && ls->labels[i] < e->D) cnt++;
        }
        *e->ce_scale_h = cnt ? 1.0f / (float)cnt : 0.0f;
    }
}

void upload_ctx(EngineCuda *e, const StepCtx *c) {
    if (c->has_spatial) {
        CUDA_CHECK(cudaMemcpyAsync(e->units_d, e->units_h, sizeof(int32_t) * (size_t)c->sp.nl * c->sp.kmax,
                                   cudaMemcpyHostToDevice, e->st));
        CUDA_CHECK(cudaMemcpyAsync(e->coords_d, e->coords_h, sizeof(float) * (size_t)c->sp.nl * c->sp.kmax * 2,
                                   cudaMemcpyHostToDevice, e->st));
    }
    if (c->task == TASK_SUPERVISED) {
        CUDA_CHECK(cudaMemcpyAsync(e->labels_d, e->labels_h, sizeof(int32_t) * (size_t)c->n, cudaMemcpyHostToDevice, e->st));
        CUDA_CHECK(cudaMemcpyAsync(e->ce_scale_d, e->ce_scale_h, sizeof(float), cudaMemcpyHostToDevice, e->st));
    }
}

void upload_sgd(EngineCuda *e, const SgdSpec *s) {
    e->sgd_h->lr = s->lr;
    e->sgd_h->momentum = s->momentum;
    e->sgd_h->weight_decay = s->weight_decay;
    e->sgd_h->nesterov = s->nesterov ? 1 : 0;
    CUDA_CHECK(cudaMemcpyAsync(e->sgd_d, e->sgd_h, sizeof(CudaSgdParams), cudaMemcpyHostToDevice, e->st));
}

/* images (host or device pointer) -> img_u8 (always copied there, so a graph sees fixed addresses) */
void upload_images(EngineCuda *e, const uint8_t *images, int n) {
    const ConvBN *st = &e->m->plan.stem;
    size_t bytes = (size_t)n * st->hin * st->win * 3;
    CUDA_CHECK(cudaMemcpyAsync(e->img_u8, images, bytes, is_device_ptr(images) ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice,
                               e->st));
}

void read_losses(EngineCuda *e, const StepCtx *c, const LossSpec *ls, LossValues *out) {
    PROF(PC_OTHER, 0, 8.0 * (1 + N_LAYERS), 0);
    CUDA_CHECK(cudaMemcpyAsync(e->loss_h, e->loss_d, sizeof(double) * (1 + N_LAYERS), cudaMemcpyDeviceToHost, e->st));
    if (e->prof_step) prof_step_end(e);
    sync(e);
    double task = e->loss_h[0];
    if (c->task == TASK_SUPERVISED) task *= (double)*e->ce_scale_h;
    if (e->nranks > 1 && e->comm->allreduce_sum) {
        /* comm: report the mean task loss over ranks (the spatial terms stay per rank) */
        float t = (float)task;
        e->comm->allreduce_sum(e->comm, &t, 1);
        task = (double)t / e->nranks;
    }
    if (!out) return;
    out->task = task;
    out->total = task;
    for (int l = 0; l < N_LAYERS; l++) {
        int li = c->idx_of[l];
        if (li < 0) { out->spatial[l] = NAN; continue; }
        out->spatial[l] = e->loss_h[1 + li];
        out->total += (double)ls->spatial[l].alpha * out->spatial[l];
    }
}

/* ---- EngineOps ----------------------------------------------------------------------------------- */
void ec_free(Engine *eb) {
    EngineCuda *e = EC(eb);
    if (!e) return;
    cudaStreamSynchronize(e->st);
    if (e->prof) {
        if (e->prof->steps > 0 && !e->prof->reported) prof_report(e, stderr, 0);
        prof_destroy(e);
    }
    if (e->have_graph) cudaGraphExecDestroy(e->gexec);
    for (int i = 0; i < e->nplans; i++)
        for (int b = 0; b < e->nbn; b++) conv_plan_free(e->plans[i].conv[b]);
    for (int i = 0; i < e->nallocs; i++) cudaFree(e->allocs[i]);
    free(e->allocs);
    void *hp[] = {e->sgd_h, e->ce_scale_h, e->labels_h, e->units_h, e->coords_h, e->loss_h};
    for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++) if (hp[i]) cudaFreeHost(hp[i]);
    cudnnDestroy(e->dnn);
    cublasDestroy(e->blas);
    cudaStreamDestroy(e->st);
    free(e->int_off);
    free(e->num_batches);
    free(e->h_tmp);
    free(e);
}

const char *ec_describe(const Engine *eb) { return ECc(eb)->desc; }

/* State uploads go through the engine's stream: a plain cudaMemcpy runs on the legacy default
 * stream, which does not order against e->st (created non-blocking), and from pageable memory it
 * may return before the data has landed, so the bf16 weight copy below could read stale values. */
void ec_set_params(Engine *eb, const float *params, const float *bufs, const int64_t *nb) {
    EngineCuda *e = EC(eb);
    sync(e);
    if (params) {
        canon_to_internal(e, params, e->h_tmp);
        CUDA_CHECK(cudaMemcpyAsync(e->params, e->h_tmp, e->P * sizeof(float), cudaMemcpyHostToDevice, e->st));
        if (e->is_bf16) cuk_f32_to_bf16(e->st, e->convw16, e->params, e->n_conv);
    }
    if (bufs)
        CUDA_CHECK(cudaMemcpyAsync(e->bufs, bufs, e->m->bufs_numel * sizeof(float), cudaMemcpyHostToDevice, e->st));
    if (nb) memcpy(e->num_batches, nb, sizeof(int64_t) * (size_t)e->m->nbn);
    sync(e);
}

void ec_get_params(Engine *eb, float *params, float *bufs, int64_t *nb) {
    EngineCuda *e = EC(eb);
    sync(e);
    if (params) {
        CUDA_CHECK(cudaMemcpy(e->h_tmp, e->params, e->P * sizeof(float), cudaMemcpyDeviceToHost));
        internal_to_canon(e, e->h_tmp, params);
    }
    if (bufs) CUDA_CHECK(cudaMemcpy(bufs, e->bufs, e->m->bufs_numel * sizeof(float), cudaMemcpyDeviceToHost));
    if (nb) memcpy(nb, e->num_batches, sizeof(int64_t) * (size_t)e->m->nbn);
}

void ec_set_momentum(Engine *eb, const float *mom) {
    EngineCuda *e = EC(eb);
    sync(e);
    canon_to_internal(e, mom, e->h_tmp);
    CUDA_CHECK(cudaMemcpyAsync(e->mom, e->h_tmp, e->P * sizeof(float), cudaMemcpyHostToDevice, e->st));
    sync(e);
}

void ec_get_momentum(Engine *eb, float *mom) {
    EngineCuda *e = EC(eb);
    sync(e);
    CUDA_CHECK(cudaMemcpy(e->h_tmp, e->mom, e->P * sizeof(float), cudaMemcpyDeviceToHost));
    internal_to_canon(e, e->h_tmp, mom);
}

void ec_get_grads(Engine *eb, float *grads) {
    EngineCuda *e = EC(eb);
    sync(e);
    CUDA_CHECK(cudaMemcpy(e->h_tmp, e->grads, e->P * sizeof(float), cudaMemcpyDeviceToHost));
    internal_to_canon(e, e->h_tmp, grads);
}

void count_batch(EngineCuda *e) {
    for (int b = 0; b < e->m->nbn; b++) e->num_batches[b]++;
}

void ec_forward(Engine *eb, const uint8_t *images, int n, int train) {
    EngineCuda *e = EC(eb);
    NPlan *p = get_plan(e, n);
    const uint8_t *src = images;
    if (!is_device_ptr(images)) { /* device images are read in place (no graph here) */
        upload_images(e, images, n);
        src = e->img_u8;
    }
    enqueue_forward(e, p, src, n, train);
    if (train) count_batch(e);
    e->last_train = train;
    sync(e);
}

void ec_read_layer(Engine *eb, int layer, float *out) {
    EngineCuda *e = EC(eb);
    int n = eb->rows;
    int C = e->m->layer_c[layer], HW = e->m->layer_h[layer] * e->m->layer_w[layer];
    size_t per = (size_t)C * HW;
    if (!e->stage) {
        e->stage_floats = (size_t)16 << 20;
        if (e->stage_floats < per) e->stage_floats = per;
        e->stage = (float *)dalloc(e, e->stage_floats * sizeof(float));
    }
    int chunk = (int)(e->stage_floats / per);
    if (chunk < 1) chunk = 1;
    for (int r0 = 0; r0 < n; r0 += chunk) {
        int nr = n - r0 < chunk ? n - r0 : chunk;
        const char *src = (const char *)e->blk[layer].y + (size_t)r0 * per * e->tsize;
        cuk_nhwc_to_nchw(e->st, e->stage, src, e->is_bf16, nr, HW, C);
        CUDA_CHECK(cudaMemcpyAsync(out + (size_t)r0 * per, e->stage, (size_t)nr * per * sizeof(float), cudaMemcpyDeviceToHost,
                                   e->st));
        sync(e);
    }
}

void ec_read_features(Engine *eb, float *out) {
    EngineCuda *e = EC(eb);
    sync(e);
    CUDA_CHECK(cudaMemcpy(out, e->feat, sizeof(float) * (size_t)eb->rows * e->F, cudaMemcpyDeviceToHost));
}

void ec_read_output(Engine *eb, float *out) {
    EngineCuda *e = EC(eb);
    sync(e);
    CUDA_CHECK(cudaMemcpy(out, e->out, sizeof(float) * (size_t)eb->rows * e->D, cudaMemcpyDeviceToHost));
}

void ec_loss_backward(Engine *eb, const LossSpec *spec, LossValues *out) {
    EngineCuda *e = EC(eb);
    int n = eb->rows;
    /* an eval-mode forward has replaced the batch statistics (scale/shift) the backward reads */
    if (!e->last_train) die(EXIT_RUNTIME, "internal: loss_backward after an eval-mode forward");
    StepCtx c;
    make_ctx(e, spec, n, &c);
    NPlan *p = get_plan(e, n);
    upload_ctx(e, &c);
    enqueue_loss_backward(e, p, &c);
    read_losses(e, &c, spec, out);
}

void ec_sgd(Engine *eb, const SgdSpec *s) {
    EngineCuda *e = EC(eb);
    upload_sgd(e, s);
    enqueue_sgd(e);
    sync(e);
}

void enqueue_step(EngineCuda *e, const NPlan *p, const StepCtx *c) {
    enqueue_forward(e, p, e->img_u8, c->n, 1);
    enqueue_loss_backward(e, p, c);
    enqueue_sgd(e);
}

void ec_train_step(Engine *eb, const uint8_t *images, int n, const LossSpec *ls, const SgdSpec *ss, LossValues *out) {
    EngineCuda *e = EC(eb);
    StepCtx c;
    make_ctx(e, ls, n, &c);
    NPlan *p = get_plan(e, n);
    int prof_mode = e->prof ? e->prof->mode : 0;
    if (prof_mode) prof_step_begin(e, n);
    PROF(PC_INPUT, 0, 2.0 * n * e->m->plan.stem.hin * e->m->plan.stem.win * 3, 0); /* copy of the uint8 images */
    upload_images(e, images, n);
    PROF(PC_OTHER, 0, 0, 0);
    upload_ctx(e, &c);
    upload_sgd(e, ss);
    if (!e->graphs_enabled || prof_mode == 1) {
        enqueue_step(e, p, &c); /* profile mode 1: always eager, so the marks land between the kernels */
    } else if (e->have_graph && memcmp(&c, &e->gkey, sizeof c) == 0) {
        CUDA_CHECK(cudaGraphLaunch(e->gexec, e->st));
    } else if (!e->have_warm || memcmp(&c, &e->warm_key, sizeof c) != 0) {
        /* first step of this shape: eager (libraries and kernels warm up outside any capture) */
        enqueue_step(e, p, &c);
        e->warm_key = c;
        e->have_warm = 1;
    } else {
        /* second step of this shape: capture it, then replay */
        sync(e);
        if (e->have_graph) {
            CUDA_CHECK(cudaGraphExecDestroy(e->gexec));
            e->have_graph = 0;
        }
        cudaGraph_t g = NULL;
        CUDA_CHECK(cudaStreamBeginCapture(e->st, cudaStreamCaptureModeThreadLocal));
        cu_capture_begin();
        enqueue_step(e, p, &c);
        char msg[1024];
        int failed = cu_capture_end(msg, sizeof msg);
        cudaError_t er = cudaStreamEndCapture(e->st, &g);
        if (!failed && er == cudaSuccess && g) {
            er = cudaGraphInstantiate(&e->gexec, g, 0);
            if (er != cudaSuccess) {
                failed = 1;
                snprintf(msg, sizeof msg, "cudaGraphInstantiate: %s", cudaGetErrorString(er));
            }
        } else if (!failed) {
            failed = 1;
            snprintf(msg, sizeof msg, "cudaStreamEndCapture: %s", cudaGetErrorString(er));
        }
        if (g) cudaGraphDestroy(g);
        cudaGetLastError(); /* clear any sticky capture error */
        if (failed) {
            warn("CUDA graph capture of the training step failed (%s); running steps without a graph", msg);
            e->graphs_enabled = 0;
            update_describe(e);
            enqueue_step(e, p, &c);
        } else {
            e->have_graph = 1;
            e->gkey = c;
            CUDA_CHECK(cudaGraphLaunch(e->gexec, e->st));
        }
    }
    count_batch(e);
    e->last_train = 1;
    read_losses(e, &c, ls, out);
    if (prof_mode) prof_step_collect(e);
}

const EngineOps CUDA_OPS = {ec_free,         ec_describe,   ec_set_params,       ec_get_params,  ec_set_momentum,
                            ec_get_momentum, ec_get_grads,  ec_forward,          ec_read_layer,  ec_read_features,
                            ec_read_output,  ec_loss_backward, ec_sgd,           ec_train_step};

size_t tensor_elems(int n, int h, int w, int c) { return (size_t)n * h * w * c; }

} /* namespace */

/* bf16: time the stem convolution (forward + filter gradient, batch max_rows) with the input padded
 * to 4 and to 8 channels and keep the faster (cuDNN's NHWC kernels for the first layer differ) */
int probe_stem_cpad(EngineCuda *e, double *t4, double *t8) {
    const ConvBN *st = &e->m->plan.stem;
    int N = e->N;
    size_t nx = (size_t)N * st->hin * st->win * 8, ny = (size_t)N * st->hout * st->wout * st->cout;
    size_t nw = (size_t)st->cout * st->k * st->k * 8;
    void *x = dalloc(e, nx * e->tsize), *y = dalloc(e, ny * e->tsize), *w = dalloc(e, nw * e->tsize),
         *dw = dalloc(e, nw * e->tsize);
    cuk_fill_uniform(e->st, x, e->is_bf16, nx, 777, -1.f, 1.f);
    cuk_fill_uniform(e->st, w, e->is_bf16, nw, 778, -0.1f, 0.1f);
    sync(e);
    double t[2];
    for (int i = 0; i < 2; i++) {
        ConvShape s;
        s.n = N;
        s.cin = i ? 8 : 4;
        s.h = st->hin;
        s.w = st->win;
        s.cout = st->cout;
        s.k = st->k;
        s.stride = st->stride;
        s.pad = st->pad;
        s.hout = st->hout;
        s.wout = st->wout;
        s.is_bf16 = e->is_bf16;
        s.need_dgrad = 0;
        ConvPlan *p = conv_plan_create(e->dnn, &s, e->base.opt.deterministic, e->ws, e->ws_bytes, x, w, y, NULL, dw);
        t[i] = conv_plan_time_ms(p);
        conv_plan_free(p);
    }
    dfree(e, x, nx * e->tsize);
    dfree(e, y, ny * e->tsize);
    dfree(e, w, nw * e->tsize);
    dfree(e, dw, nw * e->tsize);
    *t4 = t[0];
    *t8 = t[1];
    return t[0] <= t[1] ? 4 : 8;
}

/* ---- creation ------------------------------------------------------------------------------------ */
extern "C" Engine *engine_cuda_create(const Model *m, int device_index, const EngineOptions *opt) {
    EngineCuda *e = (EngineCuda *)xcalloc(1, sizeof *e);
    e->base.ops = &CUDA_OPS;
    e->base.model = m;
    e->base.opt = *opt;
    e->m = m;
    e->dev = device_index;
    e->is_bf16 = opt->precision == PREC_BF16;
    e->tsize = e->is_bf16 ? sizeof(bf16) : sizeof(float);
    e->cpad = e->is_bf16 ? 8 : 4;
    e->N = opt->max_rows;
    e->comm = opt->comm;
    e->nranks = opt->comm ? opt->comm->size : 1;
    e->rank = opt->comm ? opt->comm->rank : 0;
    if (e->nranks > 1 && (!e->comm->allreduce_sum_dev || !e->comm->allgather_dev))
        die(EXIT_RUNTIME, "the CUDA engine needs device collectives (NCCL) for %d ranks", e->nranks);
    const char *g = getenv("TDANN_CUDA_GRAPH");
    e->graphs_enabled = !(g && strcmp(g, "0") == 0);
    const char *pe = getenv("TDANN_PROFILE");
    int want_prof = pe && *pe && strcmp(pe, "0") != 0;

    CUDA_CHECK(cudaSetDevice(device_index));
    CUDA_CHECK(cudaStreamCreateWithFlags(&e->st, cudaStreamNonBlocking));
    CUDNN_CHECK(cudnnCreate(&e->dnn));
    CUDNN_CHECK(cudnnSetStream(e->dnn, e->st));
    CUBLAS_CHECK(cublasCreate(&e->blas));
    CUBLAS_CHECK(cublasSetStream(e->blas, e->st));
    CUBLAS_CHECK(cublasSetMathMode(e->blas, CUBLAS_DEFAULT_MATH)); /* no TF32 */
    CUBLAS_CHECK(cublasSetPointerMode(e->blas, CUBLAS_POINTER_MODE_HOST));
    size_t blas_ws = (size_t)32 << 20;
    e->blas_ws = dalloc(e, blas_ws);
    CUBLAS_CHECK(cublasSetWorkspace(e->blas, e->blas_ws, blas_ws));
    if (want_prof) prof_create(e);
    /* cuDNN workspace bound (shrunk to what the chosen algorithms need once they are known) */
    long ws_mb = 256;
    const char *wsenv = getenv("TDANN_CUDNN_WS_MB");
    if (wsenv && *wsenv) ws_mb = strtol(wsenv, NULL, 10);
    if (ws_mb < 0) ws_mb = 0;
    e->ws_bytes = (size_t)ws_mb << 20;
    e->ws = dalloc(e, e->ws_bytes);
    /* input channels of the stem: 3 + zero padding */
    const char *cp = getenv("TDANN_STEM_CPAD");
    if (cp && *cp) {
        e->cpad = atoi(cp);
        if (e->cpad != 4 && e->cpad != 8) die(EXIT_USAGE, "TDANN_STEM_CPAD must be 4 or 8 (got '%s')", cp);
    } else if (e->is_bf16) {
        e->cpad = probe_stem_cpad(e, &e->stem_t4, &e->stem_t8);
    }

    /* BN / convolution table, in model BN order */
    const NetPlan *np = &m->plan;
    if (m->nbn > MAX_CONV) die(EXIT_RUNTIME, "internal: %d BN layers (at most %d)", m->nbn, MAX_CONV);
    const ConvBN *list[MAX_CONV];
    int stage_of[MAX_CONV];
    int nl = 0;
    stage_of[nl] = 0;
    list[nl++] = &np->stem;
    for (int l = 0; l < N_LAYERS; l++) {
        int sg = 1 + l / 2; /* layer1.0, layer1.1 -> stage 1 ... */
        stage_of[nl] = sg;
        list[nl++] = &np->blocks[l].c1;
        stage_of[nl] = sg;
        list[nl++] = &np->blocks[l].c2;
        if (np->blocks[l].has_down) {
            stage_of[nl] = sg;
            list[nl++] = &np->blocks[l].down;
        }
    }
    if (nl != m->nbn) die(EXIT_RUNTIME, "internal: %d convolutions but %d BN layers", nl, m->nbn);
    e->nbn = nl;
    for (int b = 0; b < nl; b++) {
        BNRec *r = &e->bn[b];
        if (list[b]->bn != b) die(EXIT_RUNTIME, "internal: BN order differs from convolution order");
        r->cb = list[b];
        r->stage = stage_of[b];
        r->C = list[b]->cout;
        r->H = list[b]->hout;
        r->W = list[b]->wout;
        r->cin_store = b == 0 ? e->cpad : list[b]->cin;
        r->rm_off = m->bufs[2 * b].offset;
        r->rv_off = m->bufs[2 * b + 1].offset;
        if (m->bufs[2 * b].is_var || !m->bufs[2 * b + 1].is_var || m->bufs[2 * b].bn != b)
            die(EXIT_RUNTIME, "internal: unexpected BN buffer order");
    }
    if (np->stem.cin != 3) die(EXIT_RUNTIME, "internal: the stem takes %d channels (3 expected)", np->stem.cin);
    build_layout(e);
    e->pool_h = np->pool_h;
    e->pool_w = np->pool_w;
    e->F = np->feat_dim;
    e->D = np->out_dim;

    /* parameters */
    e->params = (float *)dalloc(e, e->P * sizeof(float));
    e->grads = (float *)dalloc(e, e->P * sizeof(float));
    e->mom = (float *)dalloc(e, e->P * sizeof(float));
    e->bufs = (float *)dalloc(e, m->bufs_numel * sizeof(float));
    CUDA_CHECK(cudaMemset(e->params, 0, e->P * sizeof(float)));
    CUDA_CHECK(cudaMemset(e->grads, 0, e->P * sizeof(float)));
    CUDA_CHECK(cudaMemset(e->mom, 0, e->P * sizeof(float)));
    CUDA_CHECK(cudaMemset(e->bufs, 0, m->bufs_numel * sizeof(float)));
    if (e->is_bf16) {
        e->convw16 = (bf16 *)dalloc(e, e->n_conv * sizeof(bf16));
        e->gconv16 = (bf16 *)dalloc(e, e->n_conv * sizeof(bf16));
    }
    e->num_batches = (int64_t *)xcalloc((size_t)m->nbn, sizeof(int64_t));
    size_t ht = e->P > m->bufs_numel ? e->P : m->bufs_numel;
    e->h_tmp = (float *)xmalloc(ht * sizeof(float));
    size_t wmax = 0;
    for (int b = 0; b < e->nbn; b++) if (e->bn[b].w_numel > wmax) wmax = e->bn[b].w_numel;
    e->wscratch = dalloc(e, wmax * e->tsize);
    int Cmax = 0;
    for (int b = 0; b < e->nbn; b++) {
        BNRec *r = &e->bn[b];
        if (r->C > Cmax) Cmax = r->C;
        float *f = (float *)dalloc(e, sizeof(float) * 7 * (size_t)r->C);
        r->mean = f;
        r->invstd = f + r->C;
        r->scale = f + 2 * r->C;
        r->shift = f + 3 * r->C;
        r->coef = f + 4 * r->C;
    }
    e->bn_sums = (float *)dalloc(e, sizeof(float) * 3 * (size_t)Cmax);

    /* activations for max_rows */
    int N = e->N;
    const ConvBN *st = &np->stem;
    e->img_u8 = (uint8_t *)dalloc(e, tensor_elems(N, st->hin, st->win, 3));
    e->img = dalloc(e, tensor_elems(N, st->hin, st->win, e->cpad) * e->tsize);
    e->x0 = dalloc(e, tensor_elems(N, st->hout, st->wout, st->cout) * e->tsize);
    size_t pool_el = tensor_elems(N, e->pool_h, e->pool_w, st->cout);
    e->pool = dalloc(e, pool_el * e->tsize);
    e->argmax = (uint8_t *)dalloc(e, pool_el);
    size_t gmax = pool_el;
    for (int l = 0; l < N_LAYERS; l++) {
        const Block *bl = &np->blocks[l];
        size_t el = tensor_elems(N, bl->c1.hout, bl->c1.wout, bl->c1.cout);
        size_t in_el = tensor_elems(N, bl->c1.hin, bl->c1.win, bl->c1.cin);
        if (el > gmax) gmax = el;
        if (in_el > gmax) gmax = in_el;
        e->blk[l].x1 = dalloc(e, el * e->tsize);
        e->blk[l].a1 = dalloc(e, el * e->tsize);
        e->blk[l].x2 = dalloc(e, el * e->tsize);
        e->blk[l].xd = bl->has_down ? dalloc(e, el * e->tsize) : NULL;
        e->blk[l].y = dalloc(e, el * e->tsize);
    }
    for (int i = 0; i < 3; i++) e->G[i] = dalloc(e, gmax * e->tsize);
    e->S = dalloc(e, tensor_elems(N, st->hout, st->wout, st->cout) * e->tsize);
    size_t pc = 0;
    for (int b = 0; b < e->nbn; b++) {
        size_t need = cuk_bn_parts_floats((long)N * e->bn[b].H * e->bn[b].W, e->bn[b].C, e->is_bf16, 3);
        if (need > pc) pc = need;
    }
    e->parts_cap = pc;
    e->parts = (float *)dalloc(e, pc * sizeof(float));

    /* head and task loss */
    int F = e->F, D = e->D, Nall = N * e->nranks;
    e->feat = (float *)dalloc(e, sizeof(float) * (size_t)N * F);
    e->h1 = (float *)dalloc(e, sizeof(float) * (size_t)N * F);
    e->dh1 = (float *)dalloc(e, sizeof(float) * (size_t)N * F);
    e->dfeat = (float *)dalloc(e, sizeof(float) * (size_t)N * F);
    e->out = (float *)dalloc(e, sizeof(float) * (size_t)N * D);
    e->dout = (float *)dalloc(e, sizeof(float) * (size_t)N * D);
    e->zn = (float *)dalloc(e, sizeof(float) * (size_t)N * D);
    e->dzn = (float *)dalloc(e, sizeof(float) * (size_t)N * D);
    e->norms = (float *)dalloc(e, sizeof(float) * (size_t)N);
    e->rowloss = (float *)dalloc(e, sizeof(float) * (size_t)N);
    if (m->cfg.task == TASK_SIMCLR) {
        e->sim = (float *)dalloc(e, sizeof(float) * (size_t)N * Nall);
        e->dsim = (float *)dalloc(e, sizeof(float) * (size_t)N * Nall);
        if (e->nranks > 1) {
            e->zn_all = (float *)dalloc(e, sizeof(float) * (size_t)Nall * D);
            e->dzn_all = (float *)dalloc(e, sizeof(float) * (size_t)Nall * D);
        }
    }
    e->labels_d = (int32_t *)dalloc(e, sizeof(int32_t) * (size_t)N);
    e->ce_scale_d = (float *)dalloc(e, sizeof(float));
    e->sgd_d = (CudaSgdParams *)dalloc(e, sizeof(CudaSgdParams));
    e->loss_d = (double *)dalloc(e, sizeof(double) * (1 + N_LAYERS));
    CUDA_CHECK(cudaMemset(e->loss_d, 0, sizeof(double) * (1 + N_LAYERS)));
    e->sgd_h = hpinned<CudaSgdParams>(1);
    e->ce_scale_h = hpinned<float>(1);
    e->labels_h = hpinned<int32_t>((size_t)N);
    e->loss_h = hpinned<double>(1 + N_LAYERS);

    /* fill everything the algorithm search reads with random values (timing on zeros flatters),
     * and plan for max_rows */
    uint64_t seed = 12345;
    cuk_fill_uniform(e->st, e->img, e->is_bf16, tensor_elems(N, st->hin, st->win, e->cpad), seed++, -1.f, 1.f);
    cuk_fill_uniform(e->st, e->x0, e->is_bf16, tensor_elems(N, st->hout, st->wout, st->cout), seed++, -1.f, 1.f);
    cuk_fill_uniform(e->st, e->pool, e->is_bf16, pool_el, seed++, 0.f, 1.f);
    for (int l = 0; l < N_LAYERS; l++) {
        const Block *bl = &np->blocks[l];
        size_t el = tensor_elems(N, bl->c1.hout, bl->c1.wout, bl->c1.cout);
        void *ts[5] = {e->blk[l].x1, e->blk[l].a1, e->blk[l].x2, e->blk[l].xd, e->blk[l].y};
        for (int i = 0; i < 5; i++) if (ts[i]) cuk_fill_uniform(e->st, ts[i], e->is_bf16, el, seed++, 0.f, 1.f);
    }
    for (int i = 0; i < 3; i++) cuk_fill_uniform(e->st, e->G[i], e->is_bf16, gmax, seed++, -1.f, 1.f);
    if (e->is_bf16) cuk_fill_uniform(e->st, e->convw16, 1, e->n_conv, seed++, -0.1f, 0.1f);
    else cuk_fill_uniform(e->st, e->params, 0, e->n_conv, seed++, -0.1f, 0.1f);
    sync(e);
    update_describe(e);
    get_plan(e, N);
    /* the random weights used for timing are not the model's: start from zeros like set_params would overwrite */
    CUDA_CHECK(cudaMemset(e->params, 0, e->P * sizeof(float)));
    if (e->is_bf16) CUDA_CHECK(cudaMemset(e->convw16, 0, e->n_conv * sizeof(bf16)));
    sync(e);
    info(1, "engine: %s; %.1f MiB on the device", e->desc, e->dev_bytes / 1048576.0);
    return &e->base;
}

extern "C" size_t engine_cuda_device_bytes(const Engine *e) { return ECc(e)->dev_bytes; }
extern "C" int engine_cuda_graph_active(const Engine *e) { return ECc(e)->have_graph && ECc(e)->graphs_enabled; }
extern "C" void engine_cuda_sync(Engine *e) { sync(EC(e)); }

extern "C" int engine_cuda_profile_mode(Engine *eb, int mode) {
    EngineCuda *e = EC(eb);
    if (!e->prof) return 0;
    if (mode < 0 || mode > 2) die(EXIT_RUNTIME, "internal: profile mode %d", mode);
    e->prof->mode = mode;
    return 1;
}

extern "C" void engine_cuda_profile_reset(Engine *eb) {
    EngineCuda *e = EC(eb);
    if (e->prof) prof_reset(e->prof);
}

/* cudnnFind's times (ms) of the forward and filter-gradient algorithms it would choose for one
 * convolution shape (need_dgrad 0), on random data, with a 256 MiB workspace of its own */
static void probe_conv_shape(EngineCuda *e, const ConvShape *s, double *fwd_ms, double *wgrad_ms) {
    size_t nx = (size_t)s->n * s->h * s->w * s->cin, ny = (size_t)s->n * s->hout * s->wout * s->cout;
    size_t nw = (size_t)s->cout * s->k * s->k * s->cin, wsb = (size_t)256 << 20;
    void *x = dalloc(e, nx * e->tsize), *y = dalloc(e, ny * e->tsize), *w = dalloc(e, nw * e->tsize),
         *dw = dalloc(e, nw * e->tsize), *ws = dalloc(e, wsb);
    cuk_fill_uniform(e->st, x, e->is_bf16, nx, 991, -1.f, 1.f);
    cuk_fill_uniform(e->st, w, e->is_bf16, nw, 992, -0.1f, 0.1f);
    sync(e);
    ConvPlan *p = conv_plan_create(e->dnn, s, e->base.opt.deterministic, ws, wsb, x, w, y, NULL, dw);
    *fwd_ms = conv_plan_dir_ms(p, 0);
    *wgrad_ms = conv_plan_dir_ms(p, 2);
    conv_plan_free(p);
    sync(e);
    dfree(e, x, nx * e->tsize);
    dfree(e, y, ny * e->tsize);
    dfree(e, w, nw * e->tsize);
    dfree(e, dw, nw * e->tsize);
    dfree(e, ws, wsb);
}

extern "C" void engine_cuda_probe_stem(Engine *eb, double ms[2][2]) {
    EngineCuda *e = EC(eb);
    const ConvBN *st = &e->m->plan.stem;
    sync(e);
    ConvShape s;
    memset(&s, 0, sizeof s);
    s.n = e->N;
    s.cin = e->cpad;
    s.h = st->hin;
    s.w = st->win;
    s.cout = st->cout;
    s.k = st->k;
    s.stride = st->stride;
    s.pad = st->pad;
    s.hout = st->hout;
    s.wout = st->wout;
    s.is_bf16 = e->is_bf16;
    s.need_dgrad = 0;
    probe_conv_shape(e, &s, &ms[0][0], &ms[0][1]);
    /* space to depth: x'[p][q][(dy, dx, c)] = x[2p + dy - 4][2q + dx - 4] (zero outside) turns the
     * 7x7/2 pad-3 convolution into a 4x4/1 pad-0 one on (Hout + 3)^2 pixels of 4 * 3 -> 16 channels */
    if (st->k == 7 && st->stride == 2 && st->pad == 3) {
        s.cin = 16;
        s.h = st->hout + 3;
        s.w = st->wout + 3;
        s.k = 4;
        s.stride = 1;
        s.pad = 0;
        probe_conv_shape(e, &s, &ms[1][0], &ms[1][1]);
    } else {
        ms[1][0] = ms[1][1] = 0;
    }
}

extern "C" int engine_cuda_profile_summary(const Engine *eb, int *steps, double *step_ms, double *category_sum_ms,
                                           int *graph_steps, double *graph_ms) {
    const Prof *p = ECc(eb)->prof;
    if (!p) return 0;
    double sum = 0;
    for (int k = 0; k < PROF_KEYS; k++) sum += p->ms[k];
    if (steps) *steps = p->steps;
    if (step_ms) *step_ms = p->steps ? p->step_ms / p->steps : 0;
    if (category_sum_ms) *category_sum_ms = p->steps ? sum / p->steps : 0;
    if (graph_steps) *graph_steps = p->graph_steps;
    if (graph_ms) *graph_ms = p->graph_steps ? p->graph_ms / p->graph_steps : 0;
    return 1;
}

extern "C" void engine_cuda_profile_report(Engine *eb, FILE *f, double host_graph_ms) {
    EngineCuda *e = EC(eb);
    if (!e->prof) {
        fprintf(f, "profile: not enabled (set TDANN_PROFILE=1 before the engine is created)\n");
        return;
    }
    prof_report(e, f, host_graph_ms);
}
