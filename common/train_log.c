/* train_log.c: see train_log.h. */
#include "train_log.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "h5io.h"

void train_log_init(TrainLog *l) { memset(l, 0, sizeof *l); }

void train_log_free(TrainLog *l) {
    free(l->step);
    free(l->task);
    free(l->spatial);
    free(l->total);
    free(l->lr);
    free(l->images_per_s);
    free(l->hstep);
    free(l->hspatial);
    train_log_init(l);
}

static void grow(TrainLog *l, int64_t need) {
    if (need <= l->cap) return;
    int64_t c = l->cap ? 2 * l->cap : 256;
    while (c < need) c *= 2;
    size_t n = (size_t)c;
    l->step = xrealloc(l->step, n * sizeof *l->step);
    l->task = xrealloc(l->task, n * sizeof *l->task);
    l->spatial = xrealloc(l->spatial, n * N_LAYERS * sizeof *l->spatial);
    l->total = xrealloc(l->total, n * sizeof *l->total);
    l->lr = xrealloc(l->lr, n * sizeof *l->lr);
    l->images_per_s = xrealloc(l->images_per_s, n * sizeof *l->images_per_s);
    l->cap = c;
}

static void grow_h(TrainLog *l, int64_t need) {
    if (need <= l->hcap) return;
    int64_t c = l->hcap ? 2 * l->hcap : 16;
    while (c < need) c *= 2;
    l->hstep = xrealloc(l->hstep, (size_t)c * sizeof *l->hstep);
    l->hspatial = xrealloc(l->hspatial, (size_t)c * N_LAYERS * sizeof *l->hspatial);
    l->hcap = c;
}

void train_log_append(TrainLog *l, int64_t step, double task, const double spatial[N_LAYERS], double total,
                      double lr, double images_per_s) {
    grow(l, l->n + 1);
    int64_t i = l->n++;
    l->step[i] = step;
    l->task[i] = task;
    memcpy(l->spatial + i * N_LAYERS, spatial, N_LAYERS * sizeof(double));
    l->total[i] = total;
    l->lr[i] = lr;
    l->images_per_s[i] = images_per_s;
}

void train_log_append_heldout(TrainLog *l, int64_t step, const double spatial[N_LAYERS]) {
    grow_h(l, l->nh + 1);
    int64_t i = l->nh++;
    l->hstep[i] = step;
    memcpy(l->hspatial + i * N_LAYERS, spatial, N_LAYERS * sizeof(double));
}

void train_log_write(const TrainLog *l, hid_t loc) {
    hsize_t d1 = (hsize_t)l->n, d2[2] = {(hsize_t)l->n, N_LAYERS};
    h5_write(loc, "log/step", H5IO_I64, 1, &d1, l->step, "step", "steps");
    h5_write(loc, "log/task_loss", H5IO_F64, 1, &d1, l->task, "step", "nats");
    h5_write(loc, "log/spatial_loss", H5IO_F64, 2, d2, l->spatial, "step,layer", "1");
    h5_write(loc, "log/total_loss", H5IO_F64, 1, &d1, l->total, "step", "1");
    h5_write(loc, "log/lr", H5IO_F64, 1, &d1, l->lr, "step", "1");
    h5_write(loc, "log/images_per_s", H5IO_F64, 1, &d1, l->images_per_s, "step", "images/s");
    hsize_t h1 = (hsize_t)l->nh, h2[2] = {(hsize_t)l->nh, N_LAYERS};
    h5_write(loc, "log/heldout_step", H5IO_I64, 1, &h1, l->hstep, "evaluation", "steps");
    h5_write(loc, "log/heldout_spatial_loss", H5IO_F64, 2, h2, l->hspatial, "evaluation,layer", "1");
    char *names = xstrdup("");
    for (int i = 0; i < N_LAYERS; i++) {
        char *t = xasprintf("%s%s%s", names, i ? "," : "", LAYER_NAMES[i]);
        free(names);
        names = t;
    }
    h5_attr_str(loc, "log", "layers", names);
    free(names);
}

/* Reads a dataset of n rows x w columns, or nothing when it has no rows. */
static void *read_rows(hid_t loc, const char *path, H5ioType t, int64_t *n, int w) {
    hsize_t dims[H5IO_MAX_RANK];
    int rank = h5_shape(loc, path, dims);
    if (rank < 1 || (rank == 2 && dims[1] != (hsize_t)w) || (rank == 1 && w != 1) || rank > 2) {
        char *f = h5_file_name(loc);
        die(EXIT_USAGE, "dataset %s has an unexpected shape in '%s'", path, f);
    }
    *n = (int64_t)dims[0];
    if (!*n) return NULL;
    return h5_read(loc, path, t, NULL, NULL);
}

static void same_rows(hid_t loc, const char *path, int64_t got, int64_t want) {
    if (got == want) return;
    char *f = h5_file_name(loc);
    die(EXIT_USAGE, "%s has %lld rows, /log/step %lld in '%s'", path, (long long)got, (long long)want, f);
}

void train_log_read(TrainLog *l, hid_t loc, int64_t upto) {
    train_log_free(l);
    if (!h5_exists(loc, "log/step")) return;
    int64_t n = 0, m;
    int64_t *step = read_rows(loc, "log/step", H5IO_I64, &n, 1);
    double *task = read_rows(loc, "log/task_loss", H5IO_F64, &m, 1);
    same_rows(loc, "/log/task_loss", m, n);
    double *sp = read_rows(loc, "log/spatial_loss", H5IO_F64, &m, N_LAYERS);
    same_rows(loc, "/log/spatial_loss", m, n);
    double *tot = read_rows(loc, "log/total_loss", H5IO_F64, &m, 1);
    same_rows(loc, "/log/total_loss", m, n);
    double *lr = read_rows(loc, "log/lr", H5IO_F64, &m, 1);
    same_rows(loc, "/log/lr", m, n);
    double *ips = read_rows(loc, "log/images_per_s", H5IO_F64, &m, 1);
    same_rows(loc, "/log/images_per_s", m, n);
    for (int64_t i = 0; i < n; i++)
        if (step[i] < upto) train_log_append(l, step[i], task[i], sp + i * N_LAYERS, tot[i], lr[i], ips[i]);
    free(step); free(task); free(sp); free(tot); free(lr); free(ips);
    if (h5_exists(loc, "log/heldout_step")) {
        int64_t nh = 0;
        int64_t *hs = read_rows(loc, "log/heldout_step", H5IO_I64, &nh, 1);
        double *hsp = read_rows(loc, "log/heldout_spatial_loss", H5IO_F64, &m, N_LAYERS);
        same_rows(loc, "/log/heldout_spatial_loss", m, nh);
        for (int64_t i = 0; i < nh; i++)
            if (hs[i] <= upto) train_log_append_heldout(l, hs[i], hsp + i * N_LAYERS);
        free(hs);
        free(hsp);
    }
}
