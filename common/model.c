/* model.c: parameter tables and layer plan of ResNet-18 + head. See model.h. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"

const Field MODEL_FIELDS[] = {
    {"width", "width", 0, F_FLOAT, offsetof(ModelConfig, width), "1.0", 0.01, 16, NULL, "W", "channel multiplier: stages have 64w, 128w, 256w, 512w channels", 0},
    {"input_size", "input-size", 0, F_INT, offsetof(ModelConfig, input_size), "224", 32, 4096, NULL, "PX", "input image side in pixels", 0},
    {"task", "task", 0, F_ENUM, offsetof(ModelConfig, task), "simclr", 0, 0, "simclr|supervised", NULL, "training objective and head", 0},
    {"proj_dim", NULL, 0, F_INT, offsetof(ModelConfig, proj_dim), "128", 1, 65536, NULL, NULL, "SimCLR embedding size", 0},
    {"num_classes", NULL, 0, F_INT, offsetof(ModelConfig, num_classes), "1000", 1, 1000000, NULL, NULL, "classes of the supervised head", 0},
    FIELD_END};

static int chan(float w, int base) {
    long c = lround((double)w * base);
    return c < 1 ? 1 : (int)c;
}

static int add_param(Model *m, int *cap, const char *name, int kind, int ndim, const int *shape, int is_head, int decay) {
    if (m->nparams == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        m->params = xrealloc(m->params, sizeof(ParamInfo) * (size_t)*cap);
    }
    ParamInfo *p = &m->params[m->nparams];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->kind = kind;
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) { p->shape[i] = shape[i]; p->numel *= (size_t)shape[i]; }
    p->offset = m->params_numel;
    p->is_head = is_head;
    p->decay = decay;
    m->params_numel += p->numel;
    return m->nparams++;
}

static int add_bn(Model *m, int *pcap, int *bcap, const char *prefix, int c, int *w_idx, int *b_idx) {
    char name[64];
    snprintf(name, sizeof name, "%s.weight", prefix);
    *w_idx = add_param(m, pcap, name, P_BN_W, 1, &c, 0, 0);
    snprintf(name, sizeof name, "%s.bias", prefix);
    *b_idx = add_param(m, pcap, name, P_BN_B, 1, &c, 0, 0);
    int bn = m->nbn++;
    m->bn_names = xrealloc(m->bn_names, sizeof(*m->bn_names) * (size_t)m->nbn);
    snprintf(m->bn_names[bn], 64, "%s", prefix);
    for (int v = 0; v < 2; v++) {
        if (m->nbufs == *bcap) { *bcap = *bcap ? 2 * *bcap : 64; m->bufs = xrealloc(m->bufs, sizeof(BufferInfo) * (size_t)*bcap); }
        BufferInfo *b = &m->bufs[m->nbufs++];
        snprintf(b->name, sizeof b->name, "%s.%s", prefix, v ? "running_var" : "running_mean");
        b->bn = bn;
        b->is_var = v;
        b->offset = m->bufs_numel;
        b->numel = (size_t)c;
        m->bufs_numel += (size_t)c;
    }
    return bn;
}

static ConvBN add_convbn(Model *m, int *pcap, int *bcap, const char *conv_name, const char *bn_prefix,
                         int cin, int cout, int k, int stride, int pad, int hin, int win) {
    ConvBN c;
    memset(&c, 0, sizeof c);
    int shape[4] = {cout, cin, k, k};
    c.conv = add_param(m, pcap, conv_name, P_CONV_W, 4, shape, 0, 1);
    c.bn = add_bn(m, pcap, bcap, bn_prefix, cout, &c.bn_w, &c.bn_b);
    c.cin = cin; c.cout = cout; c.k = k; c.stride = stride; c.pad = pad;
    c.hin = hin; c.win = win;
    c.hout = (hin + 2 * pad - k) / stride + 1;
    c.wout = (win + 2 * pad - k) / stride + 1;
    return c;
}

void model_init(Model *m, const ModelConfig *cfg) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    if (!(cfg->width > 0)) die(EXIT_USAGE, "model width must be positive (got %g)", (double)cfg->width);
    if (cfg->input_size < 32) die(EXIT_USAGE, "model input_size must be at least 32 px (got %d)", cfg->input_size);
    int pcap = 0, bcap = 0;
    NetPlan *p = &m->plan;
    int S = cfg->input_size;
    int c[4] = {chan(cfg->width, 64), chan(cfg->width, 128), chan(cfg->width, 256), chan(cfg->width, 512)};
    p->stem = add_convbn(m, &pcap, &bcap, "conv1.weight", "bn1", 3, c[0], 7, 2, 3, S, S);
    p->pool_h = (p->stem.hout + 2 - 3) / 2 + 1;
    p->pool_w = (p->stem.wout + 2 - 3) / 2 + 1;
    int h = p->pool_h, w = p->pool_w, cin = c[0];
    for (int stage = 0; stage < 4; stage++) {
        for (int bi = 0; bi < 2; bi++) {
            Block *b = &p->blocks[stage * 2 + bi];
            int stride = (stage > 0 && bi == 0) ? 2 : 1;
            char cn[64], bn[64];
            snprintf(cn, sizeof cn, "layer%d.%d.conv1.weight", stage + 1, bi);
            snprintf(bn, sizeof bn, "layer%d.%d.bn1", stage + 1, bi);
            b->c1 = add_convbn(m, &pcap, &bcap, cn, bn, cin, c[stage], 3, stride, 1, h, w);
            snprintf(cn, sizeof cn, "layer%d.%d.conv2.weight", stage + 1, bi);
            snprintf(bn, sizeof bn, "layer%d.%d.bn2", stage + 1, bi);
            b->c2 = add_convbn(m, &pcap, &bcap, cn, bn, c[stage], c[stage], 3, 1, 1, b->c1.hout, b->c1.wout);
            b->has_down = stride != 1 || cin != c[stage];
            if (b->has_down) {
                snprintf(cn, sizeof cn, "layer%d.%d.downsample.0.weight", stage + 1, bi);
                snprintf(bn, sizeof bn, "layer%d.%d.downsample.1", stage + 1, bi);
                b->down = add_convbn(m, &pcap, &bcap, cn, bn, cin, c[stage], 1, stride, 0, h, w);
            }
            h = b->c2.hout;
            w = b->c2.wout;
            cin = c[stage];
            int li = stage * 2 + bi;
            m->layer_c[li] = c[stage];
            m->layer_h[li] = h;
            m->layer_w[li] = w;
            m->layer_units[li] = (int64_t)c[stage] * h * w;
        }
    }
    p->feat_dim = c[3];
    p->head_w1 = p->head_b1 = p->head_w2 = p->head_b2 = p->fc_w = p->fc_b = -1;
    int F = c[3];
    if (cfg->task == TASK_SIMCLR) {
        int s1[2] = {F, F}, s2[2] = {cfg->proj_dim, F};
        p->head_w1 = add_param(m, &pcap, "head.0.weight", P_LIN_W, 2, s1, 1, 1);
        p->head_b1 = add_param(m, &pcap, "head.0.bias", P_LIN_B, 1, &F, 1, 1);
        p->head_w2 = add_param(m, &pcap, "head.2.weight", P_LIN_W, 2, s2, 1, 1);
        p->head_b2 = add_param(m, &pcap, "head.2.bias", P_LIN_B, 1, &cfg->proj_dim, 1, 1);
        p->out_dim = cfg->proj_dim;
    } else {
        int s[2] = {cfg->num_classes, F};
        p->fc_w = add_param(m, &pcap, "fc.weight", P_LIN_W, 2, s, 0, 1);
        p->fc_b = add_param(m, &pcap, "fc.bias", P_LIN_B, 1, &cfg->num_classes, 0, 1);
        p->out_dim = cfg->num_classes;
    }
}

void model_free(Model *m) {
    free(m->params);
    free(m->bufs);
    free(m->bn_names);
    memset(m, 0, sizeof *m);
}

int model_find_param(const Model *m, const char *name) {
    for (int i = 0; i < m->nparams; i++) if (strcmp(m->params[i].name, name) == 0) return i;
    return -1;
}

int model_find_buffer(const Model *m, const char *name) {
    for (int i = 0; i < m->nbufs; i++) if (strcmp(m->bufs[i].name, name) == 0) return i;
    return -1;
}

void model_init_params(const Model *m, uint64_t seed, float *params, float *bufs, int64_t *num_batches) {
    for (int i = 0; i < m->nparams; i++) {
        const ParamInfo *p = &m->params[i];
        float *t = params + p->offset;
        Rng r;
        rng_init(&r, seed, rng_stream(RNG_PURPOSE_INIT, (uint32_t)i, 0, 0));
        switch (p->kind) {
        case P_CONV_W: {
            double std = sqrt(2.0 / ((double)p->shape[0] * p->shape[2] * p->shape[3]));
            for (size_t j = 0; j < p->numel; j++) t[j] = (float)(std * rng_normal(&r));
            break;
        }
        case P_BN_W: for (size_t j = 0; j < p->numel; j++) t[j] = 1.0f; break;
        case P_BN_B: for (size_t j = 0; j < p->numel; j++) t[j] = 0.0f; break;
        case P_LIN_W: case P_LIN_B: {
            /* fan_in of the layer: for a bias, the in-features of the weight just before it */
            int fan_in = p->kind == P_LIN_W ? p->shape[1] : m->params[i - 1].shape[1];
            double bound = 1.0 / sqrt((double)fan_in);
            for (size_t j = 0; j < p->numel; j++) t[j] = (float)(bound * (2.0 * rng_uniform_double(&r) - 1.0));
            break;
        }
        }
    }
    for (int i = 0; i < m->nbufs; i++) {
        const BufferInfo *b = &m->bufs[i];
        for (size_t j = 0; j < b->numel; j++) bufs[b->offset + j] = b->is_var ? 1.0f : 0.0f;
    }
    if (num_batches) for (int i = 0; i < m->nbn; i++) num_batches[i] = 0;
}

void model_describe(const Model *m, char *buf, size_t n) {
    snprintf(buf, n, "ResNet-18 w=%g (%d..%d ch) %d px, %s head %d, %.3g M params", (double)m->cfg.width,
             m->layer_c[0], m->layer_c[7], m->cfg.input_size, m->cfg.task == TASK_SIMCLR ? "simclr" : "supervised",
             m->plan.out_dim, (double)m->params_numel / 1e6);
}
