/* weights.c: safetensors <-> checkpoint for ResNet-18. See weights.h for the naming rules. */
#include "weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "safetensors.h"

/* ---- names ----------------------------------------------------------------------------------- */
static const char *const WRAPPER_PREFIXES[] = {"module.", "base_model.", "model.", "trunk.", "_feature_blocks.",
                                               "backbone.", NULL};

/* Hugging Face transformers ResNet names (after "resnet."), -> canonical; 0 if not one of them. */
static int map_hf(const char *s, char *out, size_t n) {
    const char *rest;
    if (str_starts(s, "embedder.embedder.convolution.")) {
        snprintf(out, n, "conv1.%s", s + strlen("embedder.embedder.convolution."));
        return 1;
    }
    if (str_starts(s, "embedder.embedder.normalization.")) {
        snprintf(out, n, "bn1.%s", s + strlen("embedder.embedder.normalization."));
        return 1;
    }
    if (str_starts(s, "classifier.1.")) {
        snprintf(out, n, "fc.%s", s + strlen("classifier.1."));
        return 1;
    }
    int st, bl, ly, k = 0;
    if (sscanf(s, "encoder.stages.%d.layers.%d.%n", &st, &bl, &k) == 2 && k > 0) {
        rest = s + k;
        if (sscanf(rest, "layer.%d.%n", &ly, &k) == 1 && k > 0) {
            const char *r2 = rest + k;
            if (str_starts(r2, "convolution.")) { snprintf(out, n, "layer%d.%d.conv%d.%s", st + 1, bl, ly + 1, r2 + 12); return 1; }
            if (str_starts(r2, "normalization.")) { snprintf(out, n, "layer%d.%d.bn%d.%s", st + 1, bl, ly + 1, r2 + 14); return 1; }
        }
        if (str_starts(rest, "shortcut.convolution.")) { snprintf(out, n, "layer%d.%d.downsample.0.%s", st + 1, bl, rest + 21); return 1; }
        if (str_starts(rest, "shortcut.normalization.")) { snprintf(out, n, "layer%d.%d.downsample.1.%s", st + 1, bl, rest + 23); return 1; }
    }
    return 0;
}

void weights_canonical_name(const char *in, char *out, size_t n) {
    const char *s = in;
    for (int again = 1; again;) {
        again = 0;
        for (int i = 0; WRAPPER_PREFIXES[i]; i++)
            if (str_starts(s, WRAPPER_PREFIXES[i])) { s += strlen(WRAPPER_PREFIXES[i]); again = 1; }
    }
    if (str_starts(s, "resnet.") && map_hf(s + 7, out, n)) return;
    if (map_hf(s, out, n)) return;
    if (str_starts(s, "heads.0.clf.0.")) { snprintf(out, n, "head.0.%s", s + 14); return; }
    if (str_starts(s, "heads.1.clf.0.")) { snprintf(out, n, "head.2.%s", s + 14); return; }
    snprintf(out, n, "%s", s);
}

/* ---- import ---------------------------------------------------------------------------------- */
typedef struct {
    const StFile *st;
    char (*canon)[128];   /* canonical name per file tensor */
    int *used;            /* 1 once consumed */
} NameMap;

static int find_canon(const NameMap *nm, const char *name) {
    for (int i = 0; i < nm->st->n; i++)
        if (!strcmp(nm->canon[i], name)) return i;
    return -1;
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *s) {
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < ndim && k < n; i++) k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "," : "", (long long)s[i]);
    if (k < n) snprintf(buf + k, n - k, "%s)", ndim == 1 ? "," : "");
}

static const char *src_name(const NameMap *nm, int i) { return nm->st->t[i].name; }

static void check_shape(const NameMap *nm, int i, int ndim, const int64_t *want, const char *why) {
    const StTensor *t = &nm->st->t[i];
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == want[d];
    if (!same) {
        char a[128], b[128];
        shape_str(a, sizeof a, t->ndim, t->shape);
        shape_str(b, sizeof b, ndim, want);
        die(EXIT_USAGE, "tensor '%s' in '%s' has shape %s, expected %s%s", t->name, nm->st->path, a, b, why);
    }
}

static int is_head_name(const char *c) { return str_starts(c, "head."); }
static int is_fc_name(const char *c) { return str_starts(c, "fc."); }

void weights_import(const char *path, const ImportOptions *o, Checkpoint *ck) {
    StFile *st = st_open(path);
    NameMap nm = {st, xcalloc((size_t)st->n + 1, sizeof(*nm.canon)), xcalloc((size_t)st->n + 1, sizeof(int))};
    for (int i = 0; i < st->n; i++) {
        weights_canonical_name(st->t[i].name, nm.canon[i], sizeof nm.canon[i]);
        for (int j = 0; j < i; j++)
            if (!strcmp(nm.canon[i], nm.canon[j]))
                die(EXIT_USAGE, "tensors '%s' and '%s' in '%s' both name '%s'", st->t[j].name, st->t[i].name, path, nm.canon[i]);
    }

    /* width from conv1 */
    int c1 = find_canon(&nm, "conv1.weight");
    if (c1 < 0) {
        hint_next("expected torchvision/timm resnet18 names such as 'conv1.weight', 'layer1.0.conv1.weight'");
        die(EXIT_USAGE, "no tensor 'conv1.weight' in '%s': not a ResNet-18 state dict", path);
    }
    const StTensor *t1 = &st->t[c1];
    if (t1->ndim != 4 || t1->shape[1] != 3 || t1->shape[2] != 7 || t1->shape[3] != 7 || t1->shape[0] < 1) {
        char a[128];
        shape_str(a, sizeof a, t1->ndim, t1->shape);
        die(EXIT_USAGE, "tensor '%s' in '%s' has shape %s, expected (C,3,7,7) for a ResNet-18 stem", t1->name, path, a);
    }

    if (t1->shape[0] > 1024)
        die(EXIT_USAGE, "tensor '%s' in '%s' has %lld channels: width %g is above the supported 16", t1->name, path,
            (long long)t1->shape[0], (double)t1->shape[0] / 64.0);
    int has_head = 0, has_fc = 0;
    for (int i = 0; i < st->n; i++) {
        has_head |= is_head_name(nm.canon[i]);
        has_fc |= is_fc_name(nm.canon[i]);
    }
    ModelConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.width = (float)((double)t1->shape[0] / 64.0);
    cfg.task = o->task >= 0 ? o->task : has_head ? TASK_SIMCLR : has_fc ? TASK_SUPERVISED : TASK_SIMCLR;
    cfg.proj_dim = o->proj_dim;
    cfg.num_classes = o->num_classes;
    int h2 = find_canon(&nm, "head.2.weight"), fcw = find_canon(&nm, "fc.weight");
    if (cfg.task == TASK_SIMCLR && h2 >= 0 && st->t[h2].ndim == 2 && st->t[h2].shape[0] >= 1) cfg.proj_dim = (int)st->t[h2].shape[0];
    if (cfg.task == TASK_SUPERVISED && fcw >= 0 && st->t[fcw].ndim == 2 && st->t[fcw].shape[0] >= 1)
        cfg.num_classes = (int)st->t[fcw].shape[0];
    cfg.input_size = o->input_size;
    if (!cfg.input_size) {
        cfg.input_size = 224;
        for (int i = 0; i < st->nmeta; i++)
            if (!strcmp(st->meta_keys[i], "tdann_input_size")) {
                char *end;
                long v = strtol(st->meta_vals[i], &end, 10);
                if (*end || v < 32 || v > 4096)
                    die(EXIT_USAGE, "metadata tdann_input_size = '%s' in '%s' is not a size in [32, 4096]", st->meta_vals[i], path);
                cfg.input_size = (int)v;
            }
    }

    ckpt_alloc(ck, &cfg);
    const Model *m = &ck->model;
    model_init_params(m, o->seed, ck->params, ck->bufs, ck->num_batches);
    char why[96];
    snprintf(why, sizeof why, " (ResNet-18 of width %g, from conv1.weight)", (double)cfg.width);

    /* parameters; a missing head is initialised instead when the file has none of it */
    int head_present = cfg.task == TASK_SIMCLR ? has_head : has_fc;
    int fresh_head = 0;
    for (int p = 0; p < m->nparams; p++) {
        const ParamInfo *pi = &m->params[p];
        int is_task_head = pi->is_head || is_fc_name(pi->name);
        int i = find_canon(&nm, pi->name);
        if (i < 0) {
            if (is_task_head && !head_present) { fresh_head = 1; continue; }
            die(EXIT_USAGE, "missing tensor '%s' in '%s'", pi->name, path);
        }
        int64_t want[4];
        for (int d = 0; d < pi->ndim; d++) want[d] = pi->shape[d];
        check_shape(&nm, i, pi->ndim, want, is_task_head ? "" : why);
        st_read_f32(st, &st->t[i], ck->params + pi->offset);
        nm.used[i] = 1;
    }
    if (fresh_head)
        warn("'%s' holds no %s: initialised randomly (seed %llu)", path,
             cfg.task == TASK_SIMCLR ? "SimCLR head (head.*)" : "classifier (fc.*)", (unsigned long long)o->seed);

    /* BN buffers */
    for (int b = 0; b < m->nbufs; b++) {
        const BufferInfo *bi = &m->bufs[b];
        int i = find_canon(&nm, bi->name);
        if (i < 0) die(EXIT_USAGE, "missing tensor '%s' in '%s'", bi->name, path);
        int64_t want = (int64_t)bi->numel;
        check_shape(&nm, i, 1, &want, why);
        st_read_f32(st, &st->t[i], ck->bufs + bi->offset);
        nm.used[i] = 1;
    }
    for (int b = 0; b < m->nbn; b++) {
        char name[96];
        snprintf(name, sizeof name, "%s.num_batches_tracked", m->bn_names[b]);
        int i = find_canon(&nm, name);
        if (i < 0) continue; /* optional: stays 0 */
        const StTensor *t = &st->t[i];
        if (t->numel != 1) die(EXIT_USAGE, "tensor '%s' in '%s' holds %lld values, expected one", t->name, path, (long long)t->numel);
        st_read_i64(st, t, &ck->num_batches[b]);
        nm.used[i] = 1;
    }

    /* leftovers */
    int ignored_other_head = 0;
    for (int i = 0; i < st->n; i++) {
        if (nm.used[i]) continue;
        const char *c = nm.canon[i];
        if ((cfg.task == TASK_SIMCLR && is_fc_name(c)) || (cfg.task == TASK_SUPERVISED && is_head_name(c))) {
            ignored_other_head++;
            continue;
        }
        if (o->ignore_unknown) { info(1, "ignoring tensor '%s' of '%s'", src_name(&nm, i), path); continue; }
        hint_next("it is not part of a ResNet-18 of width %g; --ignore-unknown drops such tensors", (double)cfg.width);
        die(EXIT_USAGE, "unexpected tensor '%s' in '%s'", src_name(&nm, i), path);
    }
    if (ignored_other_head)
        warn("ignoring %d %s tensor%s of '%s' (task %s)", ignored_other_head, cfg.task == TASK_SIMCLR ? "fc.*" : "head.*",
             ignored_other_head == 1 ? "" : "s", path, cfg.task == TASK_SIMCLR ? "simclr" : "supervised");
    free(nm.canon);
    free(nm.used);
    st_close(st);
}

/* ---- export ---------------------------------------------------------------------------------- */
int weights_export(const Checkpoint *ck, const ExportOptions *o, const char *path) {
    const Model *m = &ck->model;
    int cap = m->nparams + 3 * m->nbn + 4, n = 0;
    StOut *t = xcalloc((size_t)cap, sizeof(StOut));
    char (*names)[96] = xcalloc((size_t)cap, sizeof(*names));
    int bn = 0;
    for (int p = 0; p < m->nparams; p++) {
        const ParamInfo *pi = &m->params[p];
        if (pi->is_head) continue; /* appended at the end when asked */
        t[n].name = pi->name;
        t[n].dtype = "F32";
        t[n].ndim = pi->ndim;
        for (int d = 0; d < pi->ndim; d++) t[n].shape[d] = pi->shape[d];
        t[n].data = ck->params + pi->offset;
        n++;
        if (pi->kind == P_BN_B) { /* state_dict order: a BN's buffers follow its bias */
            for (int v = 0; v < 2; v++) {
                const BufferInfo *bi = &m->bufs[2 * bn + v];
                t[n].name = bi->name;
                t[n].dtype = "F32";
                t[n].ndim = 1;
                t[n].shape[0] = (int64_t)bi->numel;
                t[n].data = ck->bufs + bi->offset;
                n++;
            }
            snprintf(names[n], sizeof names[n], "%s.num_batches_tracked", m->bn_names[bn]);
            t[n].name = names[n];
            t[n].dtype = "I64";
            t[n].ndim = 0;
            t[n].data = &ck->num_batches[bn];
            n++;
            bn++;
        }
    }
    float *zeros = NULL;
    int F = m->plan.feat_dim;
    if (m->cfg.task != TASK_SUPERVISED && o->fc == FC_ZEROS) {
        zeros = xcalloc((size_t)o->num_classes * (size_t)F, sizeof(float));
        t[n] = (StOut){"fc.weight", "F32", 2, {o->num_classes, F}, zeros};
        n++;
        t[n] = (StOut){"fc.bias", "F32", 1, {o->num_classes}, zeros};
        n++;
    }
    if (o->keep_head) {
        for (int p = 0; p < m->nparams; p++) {
            const ParamInfo *pi = &m->params[p];
            if (!pi->is_head) continue;
            t[n] = (StOut){pi->name, "F32", pi->ndim, {0}, ck->params + pi->offset};
            for (int d = 0; d < pi->ndim; d++) t[n].shape[d] = pi->shape[d];
            n++;
        }
    }
    char size[32], width[32];
    snprintf(size, sizeof size, "%d", m->cfg.input_size);
    snprintf(width, sizeof width, "%.9g", (double)m->cfg.width);
    const char *meta[] = {"format", "pt", "tdann_input_size", size, "tdann_width", width, NULL};
    st_write(path, t, n, meta);
    free(zeros);
    free(names);
    free(t);
    return n;
}
