/* actstream.c: see actstream.h. */
#include "actstream.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "h5io.h"
#include "progress.h"
#include "util.h"

struct ActReader {
    hid_t f;
    char *path, *label;
    int64_t n_images, n_units, next, block;
    int rank;
    hsize_t dims[H5IO_MAX_RANK];
    float *buf;
    Progress *prog;
};

ActReader *act_reader_open(hid_t f, const char *file, const char *layer, size_t block_bytes) {
    char *path = xasprintf("/layers/%s", layer);
    if (!h5_exists(f, path)) {
        char *have = xstrdup("");
        for (int i = 0; i < N_LAYERS; i++) {
            char *p = xasprintf("/layers/%s", LAYER_NAMES[i]);
            if (h5_exists(f, p)) {
                char *t = xasprintf("%s%s%s", have, *have ? ", " : "", LAYER_NAMES[i]);
                free(have);
                have = t;
            }
            free(p);
        }
        hint_next("layers present: %s", *have ? have : "none");
        die(EXIT_USAGE, "no activations for layer '%s' in '%s'", layer, file);
    }
    ActReader *r = xcalloc(1, sizeof *r);
    r->f = f;
    r->path = path;
    r->label = xstrdup(layer);
    r->rank = h5_shape(f, path, r->dims);
    if (r->rank < 2) die(EXIT_USAGE, "activations '%s' have rank %d (expected image, unit dims...) in '%s'", path, r->rank, file);
    r->n_images = (int64_t)r->dims[0];
    r->n_units = 1;
    for (int i = 1; i < r->rank; i++) r->n_units *= (int64_t)r->dims[i];
    if (!block_bytes) block_bytes = (size_t)64 << 20;
    size_t per = sizeof(float) * (size_t)(r->n_units ? r->n_units : 1);
    r->block = (int64_t)(block_bytes / per);
    if (r->block < 1) r->block = 1;
    if (r->block > r->n_images) r->block = r->n_images ? r->n_images : 1;
    r->buf = xmalloc(per * (size_t)r->block);
    r->prog = progress_start(layer, r->n_images, "img");
    return r;
}

int64_t act_reader_images(const ActReader *r) { return r->n_images; }
int64_t act_reader_units(const ActReader *r) { return r->n_units; }

int act_reader_unit_dims(const ActReader *r, int64_t dims[7]) {
    for (int i = 1; i < r->rank && i < 8; i++) dims[i - 1] = (int64_t)r->dims[i];
    return r->rank - 1;
}

int64_t act_reader_next(ActReader *r, const float **rows, int64_t *image0) {
    if (r->next >= r->n_images) return 0;
    int64_t n = r->n_images - r->next;
    if (n > r->block) n = r->block;
    h5_read_rows(r->f, r->path, H5IO_F32, (hsize_t)r->next, (hsize_t)n, r->buf);
    *rows = r->buf;
    *image0 = r->next;
    r->next += n;
    progress_update(r->prog, r->next, NULL);
    return n;
}

void act_reader_close(ActReader *r) {
    if (!r) return;
    progress_end(r->prog, NULL);
    free(r->buf);
    free(r->path);
    free(r->label);
    free(r);
}
