/* trainer.c: the training loop behind train-joint (see trainer.h for the semantics).
 *
 * Files: the final model is args->out (a complete checkpoint). Intermediate checkpoints go to the
 * directory "<out minus .h5>.ckpt/" as step-<9 digits>.h5 (the newest keep_checkpoints are kept);
 * --resume continues from the complete checkpoint with the largest step there; a start without
 * --resume moves an earlier run's checkpoints to previous/ inside that directory. Every checkpoint
 * holds the weights, BN statistics and counters, SGD momentum, /state (step, epoch, lr, the data
 * loader's position, plus total_steps, batch_size and seed used to check a resume), and /log.
 * Only rank 0 writes; every rank reads the same checkpoint on resume.
 *
 * Bit-identical resume (CPU backend): the state after step k is a function of the checkpointed
 * tensors, the loader position and k only; the neighbourhood draws and the learning rate are pure
 * functions of the step, and the held-out evaluation does not change any state.
 *
 * Signals: SIGINT/SIGTERM set a flag; at the end of the current step the ranks agree (allreduce),
 * write a checkpoint and exit with status 1 (the run is not finished); a second signal kills.
 */
#include "trainer.h"

#include <dirent.h>
#include <glob.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "error.h"
#include "h5io.h"
#include "loader.h"
#include "progress.h"
#include "sheet.h"
#include "spatial_loss.h"
#include "train_log.h"
#include "util.h"

typedef struct {
    int64_t P;       /* neighbourhoods */
    int K;           /* units per neighbourhood */
    int32_t *nb;     /* [P][K] */
    float *pos;      /* [U][2] */
} LayerSheet;

typedef struct {
    const TrainerArgs *a;
    const TrainConfig *tc;
    Comm *comm;
    int rank, size;
    Device dev;
    Model m;
    Checkpoint ck;
    Engine *e;
    Loader *ld;
    int views, B;           /* views per image; images per rank per step */
    int64_t total, start;   /* steps */
    uint64_t seed;
    float alpha[N_LAYERS];
    int active[N_LAYERS];   /* layer has a spatial term in training */
    int have_sheet;
    LayerSheet sh[N_LAYERS];
    TrainLog log;
    char *ckdir;
    char *last_ckpt;        /* newest checkpoint written or resumed from */
    /* held-out evaluation */
    int eval_n;
    uint8_t *eval_img;
    float *eval_act;
    /* scratch for one step */
    uint8_t *rows;
    int32_t *labels;
    float *coords[N_LAYERS];
} Run;

static volatile sig_atomic_t g_signal = 0;

/* ---- sheet ------------------------------------------------------------------------------------ */

static void load_sheet(Run *r, const char *path) {
    Sheet *s = sheet_load(path, 0xFF, SHEET_ALL);
    for (int l = 0; l < N_LAYERS; l++) {
        const SheetLayer *L = s->layer[l];
        if (L->dims[0] != r->m.layer_c[l] || L->dims[1] != r->m.layer_h[l] || L->dims[2] != r->m.layer_w[l])
            die(EXIT_USAGE, "sheet layer %s is %lldx%lldx%lld, the model's %dx%dx%d: '%s'", LAYER_NAMES[l], (long long)L->dims[0],
                (long long)L->dims[1], (long long)L->dims[2], r->m.layer_c[l], r->m.layer_h[l], r->m.layer_w[l], path);
        if (L->n_nb < 1 || L->k < 2)
            die(EXIT_USAGE, "sheet layer %s has no neighbourhoods of 2 or more units: '%s'", LAYER_NAMES[l], path);
        LayerSheet *d = &r->sh[l];
        d->P = L->n_nb;
        d->K = (int)L->k;
        size_t nk = (size_t)L->n_nb * (size_t)L->k;
        d->nb = xmalloc(sizeof(int32_t) * nk);
        memcpy(d->nb, L->neighborhoods, sizeof(int32_t) * nk);
        d->pos = xmalloc(sizeof(float) * 2 * (size_t)L->units);
        memcpy(d->pos, L->positions, sizeof(float) * 2 * (size_t)L->units);
        for (size_t i = 0; i < nk; i++)
            if (d->nb[i] < 0 || d->nb[i] >= L->units)
                die(EXIT_USAGE, "sheet layer %s: neighbourhood unit %d out of range (%lld units): '%s'", LAYER_NAMES[l], d->nb[i],
                    (long long)L->units, path);
    }
    sheet_free(s);
    r->have_sheet = 1;
}

/* Fills term (units + coordinates) for neighbourhood p of layer l. */
static void fill_term(Run *r, int l, int64_t p, SpatialTerm *t, float alpha) {
    const LayerSheet *s = &r->sh[l];
    const int32_t *u = s->nb + p * s->K;
    float *c = r->coords[l];
    for (int i = 0; i < s->K; i++) {
        c[2 * i] = s->pos[2 * (size_t)u[i]];
        c[2 * i + 1] = s->pos[2 * (size_t)u[i] + 1];
    }
    t->kind = r->tc->spatial;
    t->alpha = alpha;
    t->k = s->K;
    t->units = u;
    t->coords = c;
}

/* ---- checkpoints ------------------------------------------------------------------------------ */

static void write_extra(hid_t f, void *ctx) {
    Run *r = ctx;
    int64_t v[3] = {r->total, r->tc->batch_size, (int64_t)r->seed};
    static const char *names[3] = {"state/total_steps", "state/batch_size", "state/seed"};
    for (int i = 0; i < 3; i++) h5_write(f, names[i], H5IO_I64, 0, NULL, &v[i], NULL, NULL);
    h5_attr_str(f, "state", "stage", r->a->stage);
    train_log_write(&r->log, f);
}

static void fill_ckpt(Run *r, int64_t done) {
    engine_get_params(r->e, r->ck.params, r->ck.bufs, r->ck.num_batches);
    engine_get_momentum(r->e, r->ck.momentum);
    r->ck.step = done;
    int64_t ep = 0, b = 0;
    if (r->ld) loader_get_position(r->ld, &ep, &b);
    r->ck.epoch = ep;
    r->ck.lr = train_lr(r->tc, done, r->total);
    r->ck.data_position[0] = ep;
    r->ck.data_position[1] = b;
}

static char *ckpt_path(const Run *r, int64_t step) { return xasprintf("%s/step-%09lld.h5", r->ckdir, (long long)step); }

/* Removes all intermediate checkpoints but the newest `keep`. */
static void prune_checkpoints(const Run *r, int keep) {
    char *pat = xasprintf("%s/step-*.h5", r->ckdir);
    glob_t g;
    if (glob(pat, 0, NULL, &g) == 0) {
        /* glob sorts names; the 9-digit step makes that step order */
        size_t n = g.gl_pathc, k = (size_t)keep;
        for (size_t i = 0; i + k < n; i++) unlink(g.gl_pathv[i]);
        globfree(&g);
    }
    free(pat);
}

/* A fresh start must not leave an earlier run's checkpoints where --resume would find them: they
 * move to <ckdir>/previous/ (replacing what was there), so one generation survives a forgotten
 * --resume. */
static void set_aside_checkpoints(const Run *r) {
    char *pat = xasprintf("%s/step-*.h5", r->ckdir);
    glob_t g;
    if (glob(pat, 0, NULL, &g) == 0) {
        char *prev = xasprintf("%s/previous", r->ckdir);
        char *old = xasprintf("%s/step-*.h5", prev);
        glob_t o;
        if (glob(old, 0, NULL, &o) == 0) {
            for (size_t i = 0; i < o.gl_pathc; i++) unlink(o.gl_pathv[i]);
            globfree(&o);
        }
        mkdir_p(prev);
        for (size_t i = 0; i < g.gl_pathc; i++) {
            const char *base = strrchr(g.gl_pathv[i], '/');
            char *to = xasprintf("%s%s", prev, base ? base : "/x");
            if (rename(g.gl_pathv[i], to) != 0) unlink(g.gl_pathv[i]);
            free(to);
        }
        info(0, "note: starting from step 0; the %zu checkpoint%s of an earlier run moved to '%s' (--resume continues a run)",
             g.gl_pathc, g.gl_pathc == 1 ? "" : "s", prev);
        free(prev);
        free(old);
        globfree(&g);
    }
    free(pat);
}

static void save_checkpoint(Run *r, int64_t done) {
    fill_ckpt(r, done);
    if (r->rank == 0) {
        mkdir_p(r->ckdir);
        char *p = ckpt_path(r, done);
        ckpt_save(p, &r->ck, write_extra, r);
        free(r->last_ckpt);
        r->last_ckpt = p;
        prune_checkpoints(r, r->tc->keep_checkpoints);
        info(1, "checkpoint at step %lld: %s", (long long)done, p);
    }
    r->comm->barrier(r->comm);
}

static int64_t read_i64(hid_t f, const char *path, const char *file) {
    if (!h5_exists(f, path)) die(EXIT_USAGE, "checkpoint has no %s (not written by train-joint?): '%s'", path, file);
    int64_t v;
    h5_read_into(f, path, H5IO_I64, &v, 1);
    return v;
}

/* Resumes from the newest complete checkpoint; returns 0 when there is none. */
static int resume(Run *r) {
    char *pat = xasprintf("%s/step-*.h5", r->ckdir);
    char *path = ckpt_find_latest(pat);
    free(pat);
    if (!path) return 0;
    Checkpoint c;
    memset(&c, 0, sizeof c);
    ckpt_load(path, &c, CKPT_LOAD_OPTIMIZER);
    char why[128];
    if (ckpt_config_differs(&c.model.cfg, &r->m.cfg, why, sizeof why))
        die(EXIT_USAGE, "cannot resume: the checkpoint's model differs from the config (%s): '%s'", why, path);
    if (!c.momentum) die(EXIT_USAGE, "cannot resume: the checkpoint has no optimizer state: '%s'", path);
    if (c.n_data_position < 2) die(EXIT_USAGE, "cannot resume: the checkpoint has no data position: '%s'", path);
    hid_t f = h5_open_artifact(path, CKPT_KIND, CKPT_SCHEMA, NULL);
    int64_t tot = read_i64(f, "state/total_steps", path), bs = read_i64(f, "state/batch_size", path),
            sd = read_i64(f, "state/seed", path);
    if (tot != r->total || bs != r->tc->batch_size || (uint64_t)sd != r->seed)
        die(EXIT_USAGE, "cannot resume: the checkpoint was made for %lld steps of %lld images with seed %lld, this run is %lld "
            "steps of %d with seed %llu: '%s'", (long long)tot, (long long)bs, (long long)sd, (long long)r->total,
            r->tc->batch_size, (unsigned long long)r->seed, path);
    train_log_read(&r->log, f, c.step);
    h5_close_file(f);
    memcpy(r->ck.params, c.params, sizeof(float) * r->m.params_numel);
    memcpy(r->ck.bufs, c.bufs, sizeof(float) * r->m.bufs_numel);
    memcpy(r->ck.num_batches, c.num_batches, sizeof(int64_t) * (size_t)r->m.nbn);
    memcpy(r->ck.momentum, c.momentum, sizeof(float) * r->m.params_numel);
    r->start = c.step;
    if (r->ld) loader_seek(r->ld, c.data_position[0], c.data_position[1]);
    if (r->rank == 0) info(0, "resuming at step %lld of %lld from '%s'", (long long)c.step, (long long)r->total, path);
    r->last_ckpt = path;
    ckpt_free(&c);
    return 1;
}

/* ---- held-out evaluation ---------------------------------------------------------------------- */

/* The held-out batch: eval_images images, one centre-cropped view each (no augmentation). Procedural
 * data: images of another procedural seed (never seen in training); folder data: the folder named
 * by heldout_path, else (with a note) the first images of the training folder's order. */
static void heldout_setup(Run *r, const DataConfig *dc) {
    r->eval_n = r->tc->eval_images;
    int S = r->m.cfg.input_size;
    r->eval_img = xmalloc((size_t)r->eval_n * S * S * 3);
    DataConfig h = *dc;
    h.augment_enabled = 0;
    h.threads = 1;
    if (h.kind == DATA_PROCEDURAL) {
        h.procedural_seed = dc->procedural_seed ^ 0x48454C44ll; /* "HELD" */
        if (h.procedural_count < r->eval_n) h.procedural_count = r->eval_n;
    } else if (*r->tc->heldout_path) {
        h.path = r->tc->heldout_path;
        h.max_images = 0;
    } else if (r->rank == 0) {
        info(0, "note: held-out spatial loss on training-folder images (set %s.heldout_path for a separate folder)", r->a->stage);
    }
    Loader *ld = loader_create(&h, S, r->eval_n, 1, 0, 1, r->seed, 0);
    loader_next(ld, r->eval_img, NULL);
    loader_free(ld);
    int64_t maxu = 0;
    for (int l = 0; l < N_LAYERS; l++)
        if (r->m.layer_units[l] > maxu) maxu = r->m.layer_units[l];
    r->eval_act = xmalloc(sizeof(float) * (size_t)r->eval_n * (size_t)maxu);
}

static void heldout_eval(Run *r, int64_t done) {
    engine_forward(r->e, r->eval_img, r->eval_n, 0);
    double sl[N_LAYERS];
    for (int l = 0; l < N_LAYERS; l++) {
        engine_read_layer(r->e, l, r->eval_act);
        const LayerSheet *s = &r->sh[l];
        double sum = 0;
        for (int j = 0; j < r->tc->eval_neighborhoods; j++) {
            int64_t p = trainer_heldout_neighborhood(r->seed, l, j, s->P);
            SpatialTerm t;
            fill_term(r, l, p, &t, 1);
            sum += spatial_loss_cpu(t.kind, r->eval_act, r->eval_n, (long)r->m.layer_units[l], t.units, t.k, t.coords, NULL, 0);
        }
        sl[l] = sum / r->tc->eval_neighborhoods;
    }
    train_log_append_heldout(&r->log, done, sl);
    if (r->rank == 0) {
        char line[256];
        int n = snprintf(line, sizeof line, "held-out spatial loss at step %lld:", (long long)done);
        for (int l = 0; l < N_LAYERS && n < (int)sizeof line; l++) n += snprintf(line + n, sizeof line - (size_t)n, " %.4f", sl[l]);
        info(1, "%s", line);
    }
}

/* ---- setup ------------------------------------------------------------------------------------ */

static void set_threads(const Run *r) {
    int t = r->tc->threads;
    if (t <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        int local = r->size > 1 ? comm_launch_local_size() : 1;
        t = (int)(cores / (local > 0 ? local : 1));
        if (t < 1) t = 1;
    }
    omp_set_num_threads(t);
}

static Device pick_device(const Run *r) {
    Device d = device_resolve(g_run.device_spec);
    if (d.kind == DEVICE_CUDA && r->size > 1 && !strchr(g_run.device_spec, ':')) {
        /* one GPU per rank by local rank */
        char spec[32];
        snprintf(spec, sizeof spec, "cuda:%d", comm_launch_local_rank() % cuda_device_count());
        d = device_resolve(spec);
    }
    return d;
}

static char *checkpoint_dir(const char *out) {
    size_t n = strlen(out);
    if (n > 3 && strcmp(out + n - 3, ".h5") == 0) n -= 3;
    return xasprintf("%.*s.ckpt", (int)n, out);
}

/* ---- the run ---------------------------------------------------------------------------------- */

int trainer_run(const TrainerArgs *a) {
    Run R, *r = &R;
    memset(r, 0, sizeof R);
    r->a = a;
    r->tc = a->train;
    r->comm = a->comm ? a->comm : comm_single();
    r->rank = r->comm->rank;
    r->size = r->comm->size;
    const TrainConfig *tc = r->tc;
    const DataConfig *dc = a->data;
    r->seed = (uint64_t)g_run.seed + (uint64_t)tc->seed_offset;
    set_threads(r);
    r->dev = pick_device(r);
    Comm *own = NULL; /* a communicator this function creates (and finalizes) */
    if (r->dev.kind == DEVICE_CUDA && r->size > 1) {
#if TDANN_NCCL
        own = r->comm = comm_nccl_create(r->comm, r->dev.index);
#else
        die(EXIT_USAGE, "%d ranks on CUDA devices need NCCL, and this build has none (install NCCL and 'make reconfigure')", r->size);
#endif
    }

    model_init(&r->m, a->model);
    int sup = a->model->task == TASK_SUPERVISED;
    r->views = sup ? 1 : 2;
    if (tc->batch_size % r->size)
        die(EXIT_USAGE, "%s.batch_size %d is not divisible by the %d ranks", a->stage, tc->batch_size, r->size);
    r->B = tc->batch_size / r->size;
    if (!sup && r->B < 1) die(EXIT_USAGE, "%s.batch_size too small", a->stage);
    train_alphas(tc, a->stage, r->alpha);
    int any_alpha = 0;
    for (int l = 0; l < N_LAYERS; l++) any_alpha |= r->alpha[l] > 0;
    if (any_alpha && !*tc->sheet)
        die(EXIT_USAGE, "%s.alpha > 0 needs a sheet (--sheet S.h5 from make-sheet or swapopt)", a->stage);
    if (*tc->sheet) load_sheet(r, tc->sheet);
    for (int l = 0; l < N_LAYERS; l++) {
        r->active[l] = r->alpha[l] > 0;
        if (r->have_sheet) r->coords[l] = xmalloc(sizeof(float) * 2 * (size_t)r->sh[l].K);
    }
    int eval = r->have_sheet && tc->eval_every > 0;

    /* data */
    int S = a->model->input_size;
    int64_t bpe = 0;
    if (!a->init_only) {
        r->ld = loader_create(dc, S, r->B, r->views, r->rank, r->size, r->seed, r->dev.kind == DEVICE_CUDA);
        bpe = loader_batches_per_epoch(r->ld);
    }
    if (a->init_only) r->total = 0;
    else if (tc->steps > 0) r->total = tc->steps;
    else {
        r->total = (int64_t)ceil(tc->epochs * (double)bpe);
        if (tc->epochs > 0 && bpe < 1)
            die(EXIT_USAGE, "the data holds fewer than one batch of %d images per rank", r->B);
    }

    /* state: fresh initialisation, or the newest checkpoint */
    ckpt_alloc(&r->ck, a->model);
    r->ck.momentum = xcalloc(r->m.params_numel, sizeof(float));
    r->ck.n_data_position = 2;
    r->ck.data_position = xcalloc(2, sizeof(int64_t));
    model_init_params(&r->m, r->seed, r->ck.params, r->ck.bufs, r->ck.num_batches);
    train_log_init(&r->log);
    r->ckdir = checkpoint_dir(a->out);
    if (!(a->resume && resume(r))) {
        if (a->resume && r->rank == 0) info(0, "no checkpoint in '%s': starting from step 0", r->ckdir);
        if (r->rank == 0) set_aside_checkpoints(r);
    }
    r->comm->barrier(r->comm);

    int max_rows = r->views * r->B;
    if (eval && tc->eval_images > max_rows) max_rows = tc->eval_images;
    EngineOptions eo = {.max_rows = max_rows, .precision = tc->precision, .deterministic = tc->deterministic,
                        .comm = r->size > 1 ? r->comm : NULL};
    r->e = engine_create(&r->m, r->dev, &eo);
    engine_set_params(r->e, r->ck.params, r->ck.bufs, r->ck.num_batches);
    engine_set_momentum(r->e, r->ck.momentum);
    if (r->rank == 0) {
        char desc[256];
        model_describe(&r->m, desc, sizeof desc);
        info(0, "%s: %s; %s; %lld steps of %d images (%d rank%s), lr %.4g, alpha %s%g%s", a->stage, desc, engine_describe(r->e),
             (long long)r->total, tc->batch_size, r->size, r->size == 1 ? "" : "s", train_lr(tc, 0, r->total),
             tc->alpha.n == 1 ? "" : "[", (double)r->alpha[0], tc->alpha.n == 1 ? "" : ", ...]");
    }
    if (eval) {
        heldout_setup(r, dc);
        if (r->start == 0) heldout_eval(r, 0);
    }

    /* the loop */
    signals_graceful(&g_signal);
    size_t img_bytes = (size_t)S * S * 3;
    r->rows = xmalloc(img_bytes * (size_t)max_rows);
    r->labels = xmalloc(sizeof(int32_t) * (size_t)r->B);
    int32_t *row_labels = sup ? xmalloc(sizeof(int32_t) * (size_t)r->B) : NULL;
    SgdSpec sgd = {0, tc->momentum, tc->weight_decay,
                   tc->nesterov == NESTEROV_ON || (tc->nesterov == NESTEROV_AUTO && sup)};
    char *what = r->start ? xasprintf("training (resumed at %lld)", (long long)r->start) : xstrdup("training");
    Progress *pg = r->rank == 0 ? progress_start(what, r->total - r->start, "steps") : NULL;
    double ips_sum = 0;
    int64_t ips_n = 0;
    char extra[160] = "";
    for (int64_t s = r->start; s < r->total; s++) {
        double t0 = now_seconds();
        loader_next(r->ld, r->rows, r->labels);
        LossSpec ls;
        memset(&ls, 0, sizeof ls);
        ls.temperature = tc->temperature;
        if (sup) {
            for (int i = 0; i < r->B; i++) {
                if (r->labels[i] < 0 || r->labels[i] >= a->model->num_classes)
                    die(EXIT_USAGE, "supervised training needs class labels in [0, %d), image %d of step %lld has %d "
                        "(data kind folder with one folder per class)", a->model->num_classes, i, (long long)s, r->labels[i]);
                row_labels[i] = r->labels[i];
            }
            ls.labels = row_labels;
        }
        for (int l = 0; l < N_LAYERS; l++)
            if (r->active[l]) fill_term(r, l, trainer_pick_neighborhood(r->seed, s, l, r->rank, r->sh[l].P), &ls.spatial[l], r->alpha[l]);
        sgd.lr = (float)train_lr(tc, s, r->total);
        LossValues v;
        engine_train_step(r->e, r->rows, r->views * r->B, &ls, &sgd, &v);

        /* mean over ranks of task, spatial (per layer) and total, plus the stop flag; each double
         * travels as two floats (hi + lo) so the mean keeps double precision */
        double vals[N_LAYERS + 2];
        vals[0] = v.task;
        for (int l = 0; l < N_LAYERS; l++) vals[1 + l] = r->active[l] ? v.spatial[l] : 0.0;
        vals[N_LAYERS + 1] = v.total;
        float red[2 * (N_LAYERS + 2) + 1];
        for (int i = 0; i < N_LAYERS + 2; i++) {
            red[2 * i] = (float)vals[i];
            red[2 * i + 1] = (float)(vals[i] - (double)red[2 * i]);
        }
        red[2 * (N_LAYERS + 2)] = g_signal ? 1.0f : 0.0f;
        if (r->size > 1) {
            r->comm->allreduce_sum(r->comm, red, 2 * (N_LAYERS + 2) + 1);
            for (int i = 0; i < N_LAYERS + 2; i++) vals[i] = ((double)red[2 * i] + (double)red[2 * i + 1]) / r->size;
            v.task = vals[0];
            for (int l = 0; l < N_LAYERS; l++) v.spatial[l] = vals[1 + l];
            v.total = vals[N_LAYERS + 1];
        }
        int stop = red[2 * (N_LAYERS + 2)] > 0;
        for (int l = 0; l < N_LAYERS; l++)
            if (!r->active[l]) v.spatial[l] = NAN;
        const char *bad = trainer_check_finite(&v, r->active);
        if (bad) {
            if (r->last_ckpt) hint_next("the last good checkpoint is '%s' (resume with --resume and a smaller learning rate)", r->last_ckpt);
            else hint_next("no checkpoint was written before it");
            die(EXIT_RUNTIME, "training diverged at step %lld: %s", (long long)s, bad);
        }
        double dt = now_seconds() - t0;
        double ips = dt > 0 ? tc->batch_size / dt : 0;
        ips_sum += ips;
        ips_n++;
        train_log_append(&r->log, s, v.task, v.spatial, v.total, sgd.lr, ips);
        int64_t done = s + 1;
        if (eval && (done % tc->eval_every == 0 || done == r->total)) heldout_eval(r, done);
        if (stop || (done < r->total && tc->checkpoint_every > 0 && done % tc->checkpoint_every == 0)) save_checkpoint(r, done);
        if (stop) {
            progress_end(pg, "interrupted");
            if (r->rank == 0)
                info(0, "interrupted by a signal after step %lld of %lld: checkpoint '%s'; continue with --resume", (long long)done,
                     (long long)r->total, r->last_ckpt);
            r->comm->finalize(r->comm);
            exit(EXIT_RUNTIME);
        }
        if (pg) {
            double msl = 0;
            int nsl = 0;
            for (int l = 0; l < N_LAYERS; l++)
                if (r->active[l]) { msl += v.spatial[l]; nsl++; }
            int n = snprintf(extra, sizeof extra, "%.0f img/s  loss %.4f", ips, v.task);
            if (nsl) snprintf(extra + n, sizeof extra - (size_t)n, "  spatial %.4f", msl / nsl);
            progress_update(pg, done - r->start, extra);
        }
    }
    if (pg) progress_end(pg, extra);
    free(what);

    /* the final model */
    fill_ckpt(r, r->total);
    if (r->rank == 0) {
        ckpt_save(a->out, &r->ck, write_extra, r);
        if (r->log.n > 0) {
            const double *sp0 = r->log.spatial, *sp1 = r->log.spatial + (r->log.n - 1) * N_LAYERS;
            int64_t n = r->log.n;
            double m0 = 0, m1 = 0;
            int k = 0;
            for (int l = 0; l < N_LAYERS; l++)
                if (r->active[l]) { m0 += sp0[l]; m1 += sp1[l]; k++; }
            char spl[96] = "";
            if (k) snprintf(spl, sizeof spl, ", mean spatial loss %.4f -> %.4f", m0 / k, m1 / k);
            info(0, "wrote '%s': task loss %.4f -> %.4f%s, %.0f images/s", a->out, r->log.task[0], r->log.task[n - 1], spl,
                 ips_n ? ips_sum / (double)ips_n : 0.0);
        } else {
            info(0, "wrote '%s' (step %lld, no training steps)", a->out, (long long)r->total);
        }
    }
    r->comm->barrier(r->comm);

    engine_free(r->e);
    if (own) own->finalize(own);
    if (r->ld) loader_free(r->ld);
    for (int l = 0; l < N_LAYERS; l++) {
        free(r->sh[l].nb);
        free(r->sh[l].pos);
        free(r->coords[l]);
    }
    free(r->eval_img);
    free(r->eval_act);
    free(r->rows);
    free(r->labels);
    free(row_labels);
    free(r->ckdir);
    free(r->last_ckpt);
    train_log_free(&r->log);
    ckpt_free(&r->ck);
    model_free(&r->m);
    return EXIT_OK;
}
