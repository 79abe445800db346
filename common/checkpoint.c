/* checkpoint.c: writing and validated loading of checkpoint artifacts. See checkpoint.h. */
#include "checkpoint.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "h5io.h"

static const char *TASK_NAMES[] = {"simclr", "supervised"};

void ckpt_alloc(Checkpoint *ck, const ModelConfig *cfg) {
    memset(ck, 0, sizeof *ck);
    model_init(&ck->model, cfg);
    ck->params = xcalloc(ck->model.params_numel, sizeof(float));
    ck->bufs = xcalloc(ck->model.bufs_numel ? ck->model.bufs_numel : 1, sizeof(float));
    ck->num_batches = xcalloc((size_t)ck->model.nbn + 1, sizeof(int64_t));
}

void ckpt_free(Checkpoint *ck) {
    free(ck->params);
    free(ck->bufs);
    free(ck->num_batches);
    free(ck->momentum);
    free(ck->data_position);
    free(ck->rng);
    model_free(&ck->model);
    memset(ck, 0, sizeof *ck);
}

/* ---- names and shapes ------------------------------------------------------------------------ */
static char *param_path(const ParamInfo *p, const char *group) {
    return xasprintf("%s/%s", group ? group : p->is_head ? "/head" : "/params", p->name);
}

static const char *param_dims_label(const ParamInfo *p) {
    switch (p->kind) {
    case P_CONV_W: return "out,in,row,col";
    case P_LIN_W: return "out,in";
    case P_LIN_B: return "out";
    default: return "channel";
    }
}

static void fmt_shape(char *buf, size_t n, int rank, const hsize_t *d) {
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < rank && k < n; i++) k += (size_t)snprintf(buf + k, n - k, "%s%llu", i ? "," : "", (unsigned long long)d[i]);
    if (k < n) snprintf(buf + k, n - k, "%s)", rank == 1 ? "," : "");
}

/* Checks that dataset `path` exists with exactly the given shape, then reads it. */
static void read_checked(hid_t f, const char *file, const char *path, H5ioType t, int rank, const hsize_t *want, void *dst) {
    if (!h5_exists(f, path)) die(EXIT_USAGE, "checkpoint '%s' lacks tensor '%s'", file, path);
    hsize_t got[H5IO_MAX_RANK];
    int r = h5_shape(f, path, got);
    int same = r == rank;
    for (int i = 0; same && i < rank; i++) same = got[i] == want[i];
    if (!same) {
        char a[128], b[128];
        fmt_shape(a, sizeof a, r, got);
        fmt_shape(b, sizeof b, rank, want);
        die(EXIT_USAGE, "checkpoint '%s': tensor '%s' has shape %s, expected %s", file, path, a, b);
    }
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)want[i];
    h5_read_into(f, path, t, dst, n);
}

static void param_dims(const ParamInfo *p, hsize_t *d) {
    for (int i = 0; i < p->ndim; i++) d[i] = (hsize_t)p->shape[i];
}

/* ---- config ---------------------------------------------------------------------------------- */
static void write_config(hid_t f, const ModelConfig *c) {
    h5_attr_f64(f, ".", "width", (double)c->width);
    h5_attr_i64(f, ".", "input_size", c->input_size);
    h5_attr_str(f, ".", "task", TASK_NAMES[c->task == TASK_SUPERVISED]);
    h5_attr_i64(f, ".", "proj_dim", c->proj_dim);
    h5_attr_i64(f, ".", "num_classes", c->num_classes);
}

static int64_t need_i64_attr(hid_t f, const char *path, const char *name, int64_t lo, int64_t hi) {
    int64_t v;
    if (h5_attr_get_i64(f, ".", name, &v) != 0) die(EXIT_USAGE, "checkpoint '%s' lacks the model attribute '%s'", path, name);
    if (v < lo || v > hi) die(EXIT_USAGE, "checkpoint '%s': model attribute '%s' = %lld is out of range [%lld, %lld]", path, name,
                              (long long)v, (long long)lo, (long long)hi);
    return v;
}

void ckpt_read_config(hid_t f, const char *path, ModelConfig *cfg) {
    memset(cfg, 0, sizeof *cfg);
    double w;
    if (h5_attr_get_f64(f, ".", "width", &w) != 0) die(EXIT_USAGE, "checkpoint '%s' lacks the model attribute 'width'", path);
    if (!(w > 0 && w <= 16)) die(EXIT_USAGE, "checkpoint '%s': model attribute 'width' = %g is out of range (0, 16]", path, w);
    cfg->width = (float)w;
    cfg->input_size = (int)need_i64_attr(f, path, "input_size", 32, 4096);
    cfg->proj_dim = (int)need_i64_attr(f, path, "proj_dim", 1, 65536);
    cfg->num_classes = (int)need_i64_attr(f, path, "num_classes", 1, 1000000);
    char *task = h5_attr_get_str(f, ".", "task");
    if (!task) die(EXIT_USAGE, "checkpoint '%s' lacks the model attribute 'task'", path);
    if (!strcmp(task, "simclr")) cfg->task = TASK_SIMCLR;
    else if (!strcmp(task, "supervised")) cfg->task = TASK_SUPERVISED;
    else die(EXIT_USAGE, "checkpoint '%s': unknown task '%s' (expected simclr or supervised)", path, task);
    free(task);
}

int ckpt_config_differs(const ModelConfig *a, const ModelConfig *b, char *why, size_t n) {
    if (a->width != b->width) { snprintf(why, n, "width %g vs %g", (double)a->width, (double)b->width); return 1; }
    if (a->input_size != b->input_size) { snprintf(why, n, "input_size %d vs %d", a->input_size, b->input_size); return 1; }
    if (a->task != b->task) { snprintf(why, n, "task %s vs %s", TASK_NAMES[a->task != 0], TASK_NAMES[b->task != 0]); return 1; }
    if (a->task == TASK_SIMCLR && a->proj_dim != b->proj_dim) { snprintf(why, n, "proj_dim %d vs %d", a->proj_dim, b->proj_dim); return 1; }
    if (a->task == TASK_SUPERVISED && a->num_classes != b->num_classes) {
        snprintf(why, n, "num_classes %d vs %d", a->num_classes, b->num_classes);
        return 1;
    }
    if (n) why[0] = 0;
    return 0;
}

/* ---- save ------------------------------------------------------------------------------------ */
void ckpt_save(const char *path, const Checkpoint *ck, CkptExtraFn extra, void *ctx) {
    const Model *m = &ck->model;
    H5Out *o = h5out_create(path, CKPT_KIND, CKPT_SCHEMA);
    hid_t f = o->file;
    write_config(f, &m->cfg);
    hsize_t d[4];
    for (int i = 0; i < m->nparams; i++) {
        const ParamInfo *p = &m->params[i];
        param_dims(p, d);
        char *ds = param_path(p, NULL);
        h5_write(f, ds, H5IO_F32, p->ndim, d, ck->params + p->offset, param_dims_label(p), NULL);
        free(ds);
    }
    for (int i = 0; i < m->nbufs; i++) {
        const BufferInfo *b = &m->bufs[i];
        char *ds = xasprintf("/buffers/%s", b->name);
        d[0] = b->numel;
        h5_write(f, ds, H5IO_F32, 1, d, ck->bufs + b->offset, "channel", NULL);
        free(ds);
    }
    for (int i = 0; i < m->nbn; i++) {
        char *ds = xasprintf("/buffers/%s.num_batches_tracked", m->bn_names[i]);
        h5_write(f, ds, H5IO_I64, 0, d, &ck->num_batches[i], NULL, NULL);
        free(ds);
    }
    if (ck->momentum) {
        for (int i = 0; i < m->nparams; i++) {
            const ParamInfo *p = &m->params[i];
            param_dims(p, d);
            char *ds = param_path(p, "/optimizer/momentum");
            h5_write(f, ds, H5IO_F32, p->ndim, d, ck->momentum + p->offset, param_dims_label(p), NULL);
            free(ds);
        }
    }
    h5_write(f, "/state/step", H5IO_I64, 0, d, &ck->step, NULL, "steps");
    h5_write(f, "/state/epoch", H5IO_I64, 0, d, &ck->epoch, NULL, "epochs");
    h5_write(f, "/state/lr", H5IO_F64, 0, d, &ck->lr, NULL, NULL);
    int64_t none = 0;
    d[0] = (hsize_t)ck->n_data_position;
    h5_write(f, "/state/data_position", H5IO_I64, 1, d, ck->n_data_position ? ck->data_position : &none, NULL, NULL);
    d[0] = (hsize_t)ck->n_rng;
    h5_write(f, "/state/rng", H5IO_I64, 1, d, ck->n_rng ? ck->rng : &none, NULL, NULL);
    if (extra) extra(f, ctx);
    h5_attr_i64(f, ".", "complete", 1);
    h5out_commit(o);
}

/* ---- load ------------------------------------------------------------------------------------ */
typedef struct { const Model *m; const char *group, *file; int buffers; } UnexpectedCtx;

#if H5_VERSION_GE(1, 12, 0)
typedef H5L_info2_t LinkInfo;
#define LINK_ITERATE H5Literate2
#else
typedef H5L_info_t LinkInfo;
#define LINK_ITERATE H5Literate
#endif

static herr_t check_member(hid_t g, const char *name, const LinkInfo *info, void *data) {
    (void)g;
    (void)info;
    const UnexpectedCtx *c = data;
    int known;
    if (c->buffers) {
        known = model_find_buffer(c->m, name) >= 0;
        for (int i = 0; !known && i < c->m->nbn; i++) {
            size_t k = strlen(c->m->bn_names[i]);
            known = !strncmp(name, c->m->bn_names[i], k) && !strcmp(name + k, ".num_batches_tracked");
        }
    } else {
        int pi = model_find_param(c->m, name);
        int want_head = !strcmp(c->group, "/head");
        known = pi >= 0 && (!strcmp(c->group, "/optimizer/momentum") || c->m->params[pi].is_head == want_head);
    }
    if (!known) {
        die(EXIT_USAGE, "checkpoint '%s' has unexpected tensor '%s/%s' (model: %s w=%g)", c->file, c->group, name,
            TASK_NAMES[c->m->cfg.task != 0], (double)c->m->cfg.width);
    }
    return 0;
}

static void check_no_unexpected(hid_t f, const Model *m, const char *file, const char *group, int buffers) {
    if (!h5_exists(f, group)) return;
    hid_t g = H5Gopen2(f, group, H5P_DEFAULT);
    if (g < 0) die(EXIT_USAGE, "checkpoint '%s': '%s' is not a group", file, group);
    UnexpectedCtx c = {m, group, file, buffers};
    LINK_ITERATE(g, H5_INDEX_NAME, H5_ITER_INC, NULL, check_member, &c);
    H5Gclose(g);
}

void ckpt_load(const char *path, Checkpoint *ck, int flags) {
    hid_t f = h5_open_artifact(path, CKPT_KIND, CKPT_SCHEMA, NULL);
    int64_t complete = 0;
    if (h5_attr_get_i64(f, ".", "complete", &complete) != 0 || complete != 1) {
        hint_next("the run that wrote it stopped before finishing it; use an earlier checkpoint");
        die(EXIT_USAGE, "incomplete checkpoint '%s' (no attribute complete = 1)", path);
    }
    ModelConfig cfg;
    ckpt_read_config(f, path, &cfg);
    ckpt_alloc(ck, &cfg);
    const Model *m = &ck->model;
    hsize_t d[4];
    for (int i = 0; i < m->nparams; i++) {
        const ParamInfo *p = &m->params[i];
        param_dims(p, d);
        char *ds = param_path(p, NULL);
        read_checked(f, path, ds, H5IO_F32, p->ndim, d, ck->params + p->offset);
        free(ds);
    }
    for (int i = 0; i < m->nbufs; i++) {
        const BufferInfo *b = &m->bufs[i];
        char *ds = xasprintf("/buffers/%s", b->name);
        d[0] = b->numel;
        read_checked(f, path, ds, H5IO_F32, 1, d, ck->bufs + b->offset);
        free(ds);
    }
    for (int i = 0; i < m->nbn; i++) {
        char *ds = xasprintf("/buffers/%s.num_batches_tracked", m->bn_names[i]);
        read_checked(f, path, ds, H5IO_I64, 0, d, &ck->num_batches[i]);
        free(ds);
    }
    check_no_unexpected(f, m, path, "/params", 0);
    check_no_unexpected(f, m, path, "/head", 0);
    check_no_unexpected(f, m, path, "/buffers", 1);
    if ((flags & CKPT_LOAD_OPTIMIZER) && h5_exists(f, "/optimizer/momentum")) {
        ck->momentum = xmalloc(sizeof(float) * m->params_numel);
        for (int i = 0; i < m->nparams; i++) {
            const ParamInfo *p = &m->params[i];
            param_dims(p, d);
            char *ds = param_path(p, "/optimizer/momentum");
            read_checked(f, path, ds, H5IO_F32, p->ndim, d, ck->momentum + p->offset);
            free(ds);
        }
        check_no_unexpected(f, m, path, "/optimizer/momentum", 0);
    }
    read_checked(f, path, "/state/step", H5IO_I64, 0, d, &ck->step);
    read_checked(f, path, "/state/epoch", H5IO_I64, 0, d, &ck->epoch);
    read_checked(f, path, "/state/lr", H5IO_F64, 0, d, &ck->lr);
    int r;
    hsize_t dd[H5IO_MAX_RANK];
    if (!h5_exists(f, "/state/data_position")) die(EXIT_USAGE, "checkpoint '%s' lacks tensor '/state/data_position'", path);
    if (!h5_exists(f, "/state/rng")) die(EXIT_USAGE, "checkpoint '%s' lacks tensor '/state/rng'", path);
    int64_t *dp = h5_read(f, "/state/data_position", H5IO_I64, &r, dd);
    if (r != 1) die(EXIT_USAGE, "checkpoint '%s': '/state/data_position' must be one-dimensional", path);
    ck->n_data_position = (int)dd[0];
    if (ck->n_data_position) ck->data_position = dp; else free(dp);
    int64_t *rg = h5_read(f, "/state/rng", H5IO_I64, &r, dd);
    if (r != 1) die(EXIT_USAGE, "checkpoint '%s': '/state/rng' must be one-dimensional", path);
    ck->n_rng = (int)dd[0];
    if (ck->n_rng) ck->rng = rg; else free(rg);
    h5_close_file(f);
}

/* ---- --resume -------------------------------------------------------------------------------- */
/* 0 and the step when path is a complete checkpoint; -1 otherwise (quietly). */
static int probe_checkpoint(const char *path, int64_t *step) {
#if H5_VERSION_GE(1, 12, 0)
    htri_t ok = H5Fis_accessible(path, H5P_DEFAULT);
#else
    htri_t ok = H5Fis_hdf5(path);
#endif
    if (ok <= 0) return -1;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return -1;
    int rc = -1;
    char *art = h5_attr_get_str(f, ".", "artifact");
    int64_t complete = 0;
    if (art && !strcmp(art, CKPT_KIND) && h5_attr_get_i64(f, ".", "complete", &complete) == 0 && complete == 1 &&
        h5_exists(f, "/state/step")) {
        hid_t ds = H5Dopen2(f, "/state/step", H5P_DEFAULT);
        if (ds >= 0 && H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, step) >= 0) rc = 0;
        if (ds >= 0) H5Dclose(ds);
    }
    free(art);
    H5Fclose(f);
    return rc;
}

char *ckpt_find_latest(const char *pattern) {
    const char *e = getenv("TDANN_H5_ERRORS");
    if (!e || strcmp(e, "1") != 0) H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    glob_t g;
    memset(&g, 0, sizeof g);
    if (glob(pattern, 0, NULL, &g) != 0) { globfree(&g); return NULL; }
    char *best = NULL;
    int64_t best_step = -1;
    double best_mtime = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *p = g.gl_pathv[i];
        int64_t step;
        struct stat sb;
        if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        if (probe_checkpoint(p, &step) != 0) {
            info(1, "skipping '%s': not a complete checkpoint", p);
            continue;
        }
        double mt = (double)sb.st_mtim.tv_sec + 1e-9 * (double)sb.st_mtim.tv_nsec;
        if (!best || step > best_step || (step == best_step && mt > best_mtime)) {
            free(best);
            best = xstrdup(p);
            best_step = step;
            best_mtime = mt;
        }
    }
    globfree(&g);
    return best;
}
