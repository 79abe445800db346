/* model.h: ResNet-18 (torchvision topology) with a width multiplier, plus the task head, as tables:
 * every parameter and BN buffer with its torchvision name, shape and offset into one flat buffer,
 * and the layer plan (shapes of every convolution) that the engines execute.
 *
 * Conventions
 * - Canonical parameter buffer: all trainable tensors in torchvision's named_parameters() order,
 *   trunk first (conv1.weight, bn1.weight, bn1.bias, layer1.0.conv1.weight, ...), then the head.
 *   Convolution weights are OIHW, linear weights (out, in), all float32.
 * - BN buffers: running_mean then running_var per BN layer, in order, float32; num_batches_tracked
 *   is one int64 per BN layer (nbn of them), kept apart.
 * - Channels: stage widths c1..c4 = max(1, round(64w)), round(128w), round(256w), round(512w);
 *   feature dim F = c4. Input: square, S >= 32 px.
 * - Head: task simclr  -> head.0 Linear(F, F), ReLU, head.2 Linear(F, proj_dim) (VISSL "mlp");
 *         task supervised -> fc Linear(F, num_classes) (torchvision name, so weights move to PyTorch).
 *   Head tensors have is_head = 1 (stored under /head in checkpoints, except the supervised fc,
 *   which lives in /params like torchvision's).
 * - Block outputs ("layers" 0..7 = layer1.0 ... layer4.1) are taken after each BasicBlock's final
 *   ReLU; unit index = c*H*W + h*W + w (PyTorch flatten order).
 * - Weight decay applies to conv and linear weights and biases, not to BN weight/bias (decay flag).
 */
#ifndef TDANN_MODEL_H
#define TDANN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "util.h"

typedef enum { TASK_SIMCLR = 0, TASK_SUPERVISED = 1 } Task;

typedef struct {
    float width;     /* channel multiplier w */
    int input_size;  /* S, pixels (square) */
    int task;        /* Task */
    int proj_dim;    /* SimCLR embedding size (128) */
    int num_classes; /* supervised head size (1000) */
} ModelConfig;

/* The `model:` config section (keys width, input_size, task, proj_dim, num_classes). */
extern const Field MODEL_FIELDS[];

typedef enum { P_CONV_W, P_BN_W, P_BN_B, P_LIN_W, P_LIN_B } ParamKind;

typedef struct {
    char name[64];   /* torchvision name, e.g. "layer2.0.downsample.0.weight", "head.0.weight" */
    int kind;        /* ParamKind */
    int ndim;
    int shape[4];    /* conv: O,I,kh,kw; linear: out,in; bn and bias: C */
    size_t offset;   /* into the canonical parameter buffer */
    size_t numel;
    int is_head;     /* 1: /head in checkpoints */
    int decay;       /* 1: weight decay applies */
} ParamInfo;

typedef struct {
    char name[64];   /* "bn1.running_mean", "layer1.0.bn2.running_var" */
    int bn;          /* BN layer index 0..nbn-1 */
    int is_var;      /* 0 running_mean, 1 running_var */
    size_t offset;   /* into the buffer array */
    size_t numel;
} BufferInfo;

/* One convolution followed by its BN. */
typedef struct {
    int conv;        /* parameter index of the conv weight */
    int bn_w, bn_b;  /* parameter indices of the BN weight and bias */
    int bn;          /* BN layer index (buffers: running_mean = 2*bn, running_var = 2*bn + 1) */
    int cin, cout, k, stride, pad;
    int hin, win, hout, wout;
} ConvBN;

/* A BasicBlock: out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)),
 * shortcut = downsample (1x1 conv stride 2 + BN) when has_down, else x. */
typedef struct {
    ConvBN c1, c2;
    int has_down;
    ConvBN down;
} Block;

typedef struct {
    ConvBN stem;          /* conv1 7x7/2 pad 3 + bn1, then ReLU */
    int pool_h, pool_w;   /* after max pool 3x3/2 pad 1 */
    Block blocks[N_LAYERS];
    int feat_dim;         /* F after global average pooling */
    /* head parameter indices (-1 when absent) */
    int head_w1, head_b1, head_w2, head_b2; /* simclr */
    int fc_w, fc_b;                         /* supervised */
    int out_dim;          /* proj_dim or num_classes */
} NetPlan;

typedef struct {
    ModelConfig cfg;
    int nparams;
    ParamInfo *params;
    size_t params_numel;
    int nbufs;
    BufferInfo *bufs;
    size_t bufs_numel;
    int nbn;                       /* BN layers (num_batches_tracked counters) */
    char (*bn_names)[64];          /* "layer1.0.bn1" for each BN layer */
    NetPlan plan;
    int layer_c[N_LAYERS], layer_h[N_LAYERS], layer_w[N_LAYERS];
    int64_t layer_units[N_LAYERS]; /* C*H*W */
} Model;

/* Builds the tables; dies (exit 2) on an invalid config (width <= 0, input < 32). */
void model_init(Model *m, const ModelConfig *cfg);
void model_free(Model *m);
int model_find_param(const Model *m, const char *name);  /* -1 if absent */
int model_find_buffer(const Model *m, const char *name); /* -1 if absent */

/* torchvision's initialisation, drawn from Philox streams (seed, RNG_PURPOSE_INIT, param index):
 * conv: N(0, sqrt(2 / (cout*k*k))) (kaiming normal, fan_out, relu); BN weight 1, bias 0;
 * linear weight and bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's default). Running mean 0,
 * running var 1, num_batches_tracked 0. */
void model_init_params(const Model *m, uint64_t seed, float *params, float *bufs, int64_t *num_batches);

/* Human-readable one-line summary: "ResNet-18 w=0.25 (16..128 ch) 64 px simclr head 128, 0.70 M params". */
void model_describe(const Model *m, char *buf, size_t n);

#endif
