/* engine.h: runs the network on a device. Two implementations with identical semantics:
 * engine_cpu.c (fp32, NCHW, OpenMP + OpenBLAS; the reference) and engine_cuda.cu (NHWC, bf16
 * storage with fp32 accumulation and fp32 master weights by default, cuDNN + cuBLAS + own fused
 * kernels; precision fp32 for checks). engine_create() picks by device.
 *
 * Data in and out of the engine is always in the canonical host layouts of model.h:
 *   images   uint8  [n][S][S][3]  RGB, already at the model's input size; the engine converts to
 *                                 float and normalises with ImageNet mean (0.485, 0.456, 0.406) and
 *                                 std (0.229, 0.224, 0.225): x = (u / 255 - mean) / std
 *   params   float  canonical parameter buffer (model.h: torchvision order, OIHW)
 *   buffers  float  BN running mean/var;  num_batches int64 [nbn]
 *   layer l  float  [n][C*H*W]  torch flatten order (unit = c*H*W + h*W + w)
 * Internally an engine may use any layout or precision.
 *
 * Training semantics (must match PyTorch, see tests/golden):
 * - BN in train mode normalises with batch statistics over all n rows (and over all ranks when a
 *   Comm of size > 1 is set: SyncBN), biased variance, eps 1e-5; running stats updated with
 *   momentum 0.1 using the unbiased variance; num_batches_tracked += 1. Eval mode uses running stats.
 * - SimCLR (NT-Xent, temperature T): rows 0..n/2-1 are view A of images 0..n/2-1 and rows
 *   n/2..n-1 view B of the same images; z = head output L2-normalised; for each row i the logits
 *   are z_i . z_j / T over all j != i (across all ranks' rows when Comm size > 1), the positive
 *   is the other view of the same image; loss = mean over all rows of the cross-entropy.
 * - Supervised: cross-entropy of fc logits against labels, mean over rows.
 * - Spatial loss per layer l with term (units u[0..k), coords p[k][2], alpha): X = block output of
 *   layer l restricted to those units, shape (n rows, k) on this rank only; R = k x k Pearson
 *   correlation over the rows (a unit with zero variance gets std 1, i.e. correlation 0; R clamped to
 *   [-1, 1]); D = 1 / (1 + ||p_a - p_b||); over the strict lower triangle pairs:
 *     SL_REL = (1 - pearson(R_lt, D_lt)) / 2        SL_ABS = mean |R_lt - D_lt|
 *   total = task + sum_l alpha_l * SL_l. (Official code: spacetorch/losses/losses_torch.py.)
 * - Gradients: parameter gradients of the total loss; with Comm size > 1 engine_loss_backward
 *   leaves them averaged over ranks (sum / size), ready for the optimizer step.
 * - SGD (PyTorch semantics): g += wd * p for decay parameters (model.h decay flag);
 *   buf = momentum * buf + g (buf starts at 0); p -= lr * (nesterov ? g + momentum * buf : buf).
 */
#ifndef TDANN_ENGINE_H
#define TDANN_ENGINE_H

#include <stdint.h>

#include "comm.h"
#include "device.h"
#include "model.h"

typedef enum { PREC_BF16 = 0, PREC_FP32 = 1 } Precision;
typedef enum { SL_REL = 0, SL_ABS = 1 } SpatialKind;

typedef struct {
    int max_rows;      /* largest n passed to forward (views per step, or extraction batch) */
    int precision;     /* Precision; the CPU engine is always fp32 */
    int deterministic; /* CUDA: only deterministic cuDNN algorithms */
    Comm *comm;        /* NULL: one rank */
} EngineOptions;

typedef struct Engine Engine;

Engine *engine_create(const Model *m, Device dev, const EngineOptions *opt);
void engine_free(Engine *e);
/* One line for logs and provenance: "cpu fp32", "cuda:0 bf16, cuDNN 9.14, algos ..." */
const char *engine_describe(const Engine *e);

void engine_set_params(Engine *e, const float *params, const float *bufs, const int64_t *num_batches);
void engine_get_params(Engine *e, float *params, float *bufs, int64_t *num_batches);
void engine_set_momentum(Engine *e, const float *mom); /* canonical parameter layout */
void engine_get_momentum(Engine *e, float *mom);
void engine_get_grads(Engine *e, float *grads);        /* gradients of the last loss_backward */

/* Forward pass of n <= max_rows images. train = 1: BN batch statistics + running-stat update,
 * and everything backward needs is kept. */
void engine_forward(Engine *e, const uint8_t *images, int n, int train);
void engine_read_layer(Engine *e, int layer, float *out);  /* [n][C*H*W] of the last forward */
void engine_read_features(Engine *e, float *out);          /* pooled [n][F] */
void engine_read_output(Engine *e, float *out);            /* head output [n][out_dim], before normalisation */

typedef struct {
    int kind;             /* SpatialKind */
    float alpha;          /* weight; 0 or k == 0 skips the layer */
    int k;
    const int32_t *units; /* [k] unit indices of the layer */
    const float *coords;  /* [k][2] mm at training scale */
} SpatialTerm;

typedef struct {
    float temperature;       /* NT-Xent */
    const int32_t *labels;   /* supervised: [n] */
    SpatialTerm spatial[N_LAYERS];
} LossSpec;

typedef struct {
    double task;                /* NT-Xent or cross-entropy */
    double spatial[N_LAYERS];   /* unweighted SL per layer; NaN where not computed */
    double total;
} LossValues;

/* After engine_forward(train = 1): losses and all parameter gradients. */
void engine_loss_backward(Engine *e, const LossSpec *spec, LossValues *out);

typedef struct { float lr, momentum, weight_decay; int nesterov; } SgdSpec;
void engine_sgd(Engine *e, const SgdSpec *s);

/* forward(train) + loss_backward + gradient averaging over ranks + sgd, as one call (the CUDA
 * engine may replay it as a CUDA graph). */
void engine_train_step(Engine *e, const uint8_t *images, int n, const LossSpec *ls, const SgdSpec *ss, LossValues *out);

/* ---- for backends only ------------------------------------------------------------------------
 * Each backend's engine struct begins with `Engine base;` whose ops table engine.c dispatches to. */
typedef struct {
    void (*free)(Engine *e);
    const char *(*describe)(const Engine *e);
    void (*set_params)(Engine *e, const float *params, const float *bufs, const int64_t *num_batches);
    void (*get_params)(Engine *e, float *params, float *bufs, int64_t *num_batches);
    void (*set_momentum)(Engine *e, const float *mom);
    void (*get_momentum)(Engine *e, float *mom);
    void (*get_grads)(Engine *e, float *grads);
    void (*forward)(Engine *e, const uint8_t *images, int n, int train);
    void (*read_layer)(Engine *e, int layer, float *out);
    void (*read_features)(Engine *e, float *out);
    void (*read_output)(Engine *e, float *out);
    void (*loss_backward)(Engine *e, const LossSpec *spec, LossValues *out);
    void (*sgd)(Engine *e, const SgdSpec *s);
    /* optional: NULL -> engine.c composes forward + loss_backward + comm + sgd */
    void (*train_step)(Engine *e, const uint8_t *images, int n, const LossSpec *ls, const SgdSpec *ss, LossValues *out);
} EngineOps;

struct Engine {
    const EngineOps *ops;
    const Model *model;
    EngineOptions opt;
    int rows; /* n of the last forward */
};

/* Backend entry points (engine.c dispatches on the device). */
Engine *engine_cpu_create(const Model *m, const EngineOptions *opt);
#if TDANN_CUDA
Engine *engine_cuda_create(const Model *m, int device_index, const EngineOptions *opt);
#endif

#endif
