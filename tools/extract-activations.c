/* extract-activations: block outputs of a checkpoint's ResNet-18 on a stimulus set -> activations
 * artifact.
 *
 *   extract-activations --model M.h5 (--stimuli S.h5 | --images DIR) [--layers layer2.0,layer4.1]
 *                       [--batch N] [--device auto|cpu|cuda[:N]] -o A.h5
 *
 * Inputs: a stimuli artifact's /images uint8 (N,H,W,3), or the PNG/JPEG files of a folder (not
 * recursive; sorted by name; other files skipped). Images not already S x S (S = the model's
 * input size) are resized as torchvision's Resize(S) + CenterCrop(S) on PIL images (common/image.h).
 * The engine normalises with the ImageNet mean/std and runs in eval mode (BN running statistics).
 * Output (activations artifact, schema 1): /layers/<layer> float32 (N,C,H,W) "image,channel,row,col",
 * one image per gzip chunk, written batch by batch (memory does not grow with N); /labels copied
 * from the stimuli (or /labels/file_names for a folder); root attrs `set` and `input_size`.
 */
#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "checkpoint.h"
#include "config.h"
#include "device.h"
#include "engine.h"
#include "error.h"
#include "h5io.h"
#include "image.h"
#include "progress.h"
#include "util.h"

#define ACT_SCHEMA 1

typedef struct { char *model, *stimuli, *images, *out; } IoOpts;
typedef struct { StrList layers; int batch, precision; } ExtractOpts;
static IoOpts io;
static ExtractOpts ex;
static const Field IO_FIELDS[] = {
    {NULL, "model", 0, F_STRING, offsetof(IoOpts, model), "", 0, 0, NULL, "M.h5", "checkpoint (train-joint or import-weights)", 1},
    {NULL, "stimuli", 0, F_STRING, offsetof(IoOpts, stimuli), "", 0, 0, NULL, "S.h5", "stimuli artifact (make-stimuli)", 0},
    {NULL, "images", 0, F_STRING, offsetof(IoOpts, images), "", 0, 0, NULL, "DIR", "folder of PNG/JPEG images instead of --stimuli", 0},
    {NULL, "output", 'o', F_STRING, offsetof(IoOpts, out), "", 0, 0, NULL, "A.h5", "activations artifact to write", 1},
    FIELD_END};
static const Field EXTRACT_FIELDS[] = {
    {"layers", "layers", 0, F_STRING_LIST, offsetof(ExtractOpts, layers), "[all]", 0, 0, NULL, "LIST",
     "block outputs to keep: layer1.0 ... layer4.1, or all", 0},
    {"batch", "batch", 0, F_INT, offsetof(ExtractOpts, batch), "32", 1, 65536, NULL, "N", "images per forward pass", 0},
    {"precision", "precision", 0, F_ENUM, offsetof(ExtractOpts, precision), "bf16", 0, 0, "bf16|fp32", NULL,
     "CUDA storage precision (the CPU engine is always fp32)", 0},
    FIELD_END};

static const ToolSpec SPEC = {
    .purpose = "run a checkpoint's ResNet-18 on stimuli and store block outputs",
    .usage = "extract-activations [options] --model M.h5 (--stimuli S.h5 | --images DIR) -o A.h5",
    .example = "extract-activations --model runs/default/tdann/model.h5 --stimuli runs/default/stimuli/floc.h5 --layers layer4.1 -o acts.h5",
    .see_also = "make-stimuli, import-weights, probe-gratings, probe-floc, swapopt",
    .notes = "Images not at the model's input size S are resized like torchvision's Resize(S) + CenterCrop(S)\n"
             "on PIL images. --images DIR takes *.png, *.jpg, *.jpeg (any case), sorted by name, and writes\n"
             "/labels/file_names. BN uses its running statistics (eval mode). Output: /layers/<layer> float32\n"
             "(N,C,H,W), unit index c*H*W + h*W + w, one image per chunk.",
    .sections = {{NULL, &io, IO_FIELDS}, {"extract", &ex, EXTRACT_FIELDS}},
    .computes = 1,
    .npos_min = 0, .npos_max = 0,
};

/* ---- inputs ---------------------------------------------------------------------------------- */
typedef struct {
    hid_t stim;          /* stimuli file, or -1 */
    int h, w;            /* stimuli image size */
    char **files;        /* folder images (full paths), or NULL */
    char **names;        /* their file names */
    int64_t n;
} Source;

static int is_image_name(const char *s) {
    const char *dot = strrchr(s, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void open_folder(Source *s, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) die(EXIT_USAGE, "cannot open folder '%s'", dir);
    int cap = 64, n = 0, skipped = 0;
    char **names = xmalloc(sizeof(char *) * (size_t)cap);
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char *full = path_join(dir, e->d_name);
        int regular = file_exists(full);
        free(full);
        if (!regular) continue;
        if (!is_image_name(e->d_name)) { skipped++; continue; }
        if (n + 1 >= cap) { cap *= 2; names = xrealloc(names, sizeof(char *) * (size_t)cap); }
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    if (n == 0) die(EXIT_USAGE, "no PNG or JPEG images in folder '%s'", dir);
    qsort(names, (size_t)n, sizeof(char *), cmp_str);
    names[n] = NULL;
    s->names = names;
    s->files = xcalloc((size_t)n + 1, sizeof(char *));
    for (int i = 0; i < n; i++) s->files[i] = path_join(dir, names[i]);
    s->n = n;
    s->stim = -1;
    if (skipped) info(0, "skipping %d non-image file%s in '%s'", skipped, skipped == 1 ? "" : "s", dir);
    prov_add_input_nohash(dir);
}

static void open_stimuli(Source *s, const char *path) {
    s->stim = h5_open_artifact(path, "stimuli", 1, NULL);
    hsize_t d[H5IO_MAX_RANK];
    int r = h5_shape(s->stim, "/images", d);
    if (r != 4 || d[3] != 3) die(EXIT_USAGE, "stimuli '%s': /images must have shape (N,H,W,3)", path);
    if (d[0] == 0) die(EXIT_USAGE, "stimuli '%s' hold no images", path);
    s->n = (int64_t)d[0];
    s->h = (int)d[1];
    s->w = (int)d[2];
}

/* Fills imgs [b][S][S][3] with images i0 .. i0+b-1; raw is scratch of b*h*w*3 for stimuli. */
static void load_batch(const Source *s, int64_t i0, int b, int S, uint8_t *imgs, uint8_t **raw, size_t *raw_cap) {
    size_t img_bytes = (size_t)S * S * 3;
    if (s->stim >= 0) {
        size_t need = (size_t)b * s->h * s->w * 3;
        if (s->h == S && s->w == S) { h5_read_rows(s->stim, "/images", H5IO_U8, (hsize_t)i0, (hsize_t)b, imgs); return; }
        if (need > *raw_cap) { *raw = xrealloc(*raw, need); *raw_cap = need; }
        h5_read_rows(s->stim, "/images", H5IO_U8, (hsize_t)i0, (hsize_t)b, *raw);
        int oom = 0;
#pragma omp parallel for schedule(dynamic) reduction(| : oom)
        for (int k = 0; k < b; k++) {
            Image im = {s->w, s->h, *raw + (size_t)k * s->h * s->w * 3};
            oom |= image_resize_center_crop(imgs + (size_t)k * img_bytes, S, &im) != 0;
        }
        if (oom) die(EXIT_RUNTIME, "out of memory resizing stimuli");
        return;
    }
    char (*errs)[200] = xcalloc((size_t)b, sizeof(*errs));
#pragma omp parallel for schedule(dynamic)
    for (int k = 0; k < b; k++) {
        Image *im = image_load(s->files[i0 + k], errs[k], sizeof errs[k]);
        if (!im) { if (!errs[k][0]) snprintf(errs[k], sizeof errs[k], "cannot decode"); continue; }
        if (image_resize_center_crop(imgs + (size_t)k * img_bytes, S, im) != 0) snprintf(errs[k], sizeof errs[k], "out of memory");
        image_free(im);
    }
    for (int k = 0; k < b; k++)
        if (errs[k][0]) die(EXIT_USAGE, "cannot read image '%s': %s", s->files[i0 + k], errs[k]);
    free(errs);
}

/* ---- main ------------------------------------------------------------------------------------ */
int main(int argc, char **argv) {
    tool_init(argv[0], argc, argv);
    tool_setup(&SPEC, argc, argv);
    if (!!*io.stimuli == !!*io.images) die(EXIT_USAGE, "give exactly one of --stimuli S.h5 and --images DIR");
    char *joined = xstrdup("");
    for (int i = 0; i < ex.layers.n; i++) {
        if (!strcmp(ex.layers.v[i], "all")) { free(joined); joined = xstrdup("all"); break; }
        char *j = xasprintf("%s%s%s", joined, i ? "," : "", ex.layers.v[i]);
        free(joined);
        joined = j;
    }
    int order[N_LAYERS];
    int nl = parse_layer_list(joined, order);

    Checkpoint ck;
    ckpt_load(io.model, &ck, 0);
    const Model *m = &ck.model;
    int S = m->cfg.input_size;
    Source src = {0};
    if (*io.stimuli) open_stimuli(&src, io.stimuli); else open_folder(&src, io.images);
    if (src.stim >= 0 && (src.h != S || src.w != S))
        info(0, "stimuli are %dx%d px: resizing to %d px (shorter side, centre crop)", src.w, src.h, S);

    Device dev = device_resolve(g_run.device_spec);
    int batch = ex.batch < src.n ? ex.batch : (int)src.n;
    EngineOptions eo = {batch, ex.precision, 1, NULL};
    Engine *e = engine_create(m, dev, &eo);
    engine_set_params(e, ck.params, ck.bufs, ck.num_batches);
    char desc[200];
    model_describe(m, desc, sizeof desc);
    info(0, "%s; %s", desc, engine_describe(e));

    H5Out *o = h5out_create(io.out, "activations", ACT_SCHEMA);
    if (src.stim >= 0) {
        char *set = h5_attr_get_str(src.stim, ".", "set");
        h5_attr_str(o->file, ".", "set", set ? set : "unknown");
        free(set);
        if (h5_exists(src.stim, "/labels") &&
            H5Ocopy(src.stim, "/labels", o->file, "/labels", H5P_DEFAULT, H5P_DEFAULT) < 0)
            die(EXIT_RUNTIME, "cannot copy /labels from '%s' to '%s'", io.stimuli, io.out);
    } else {
        h5_attr_str(o->file, ".", "set", "folder");
        h5_write_strings(o->file, "/labels/file_names", src.names, (int)src.n);
    }
    h5_attr_i64(o->file, ".", "input_size", S);

    H5Stream *streams[N_LAYERS] = {0};
    int64_t max_units = 0;
    for (int i = 0; i < nl; i++) {
        int l = order[i];
        hsize_t row[3] = {(hsize_t)m->layer_c[l], (hsize_t)m->layer_h[l], (hsize_t)m->layer_w[l]};
        char *path = xasprintf("/layers/%s", LAYER_NAMES[l]);
        streams[i] = h5_stream_create(o->file, path, H5IO_F32, 4, row, 1, "image,channel,row,col", NULL);
        free(path);
        if (m->layer_units[l] > max_units) max_units = m->layer_units[l];
    }

    uint8_t *imgs = xmalloc((size_t)batch * S * S * 3), *raw = NULL;
    size_t raw_cap = 0;
    float *acts = xmalloc(sizeof(float) * (size_t)batch * (size_t)max_units);
    Progress *pr = progress_start("extracting", src.n, "img");
    for (int64_t i0 = 0; i0 < src.n; i0 += batch) {
        int b = (int)(src.n - i0 < batch ? src.n - i0 : batch);
        load_batch(&src, i0, b, S, imgs, &raw, &raw_cap);
        engine_forward(e, imgs, b, 0);
        for (int i = 0; i < nl; i++) {
            engine_read_layer(e, order[i], acts);
            h5_stream_append(streams[i], acts, (hsize_t)b);
        }
        progress_update(pr, i0 + b, NULL);
    }
    progress_end(pr, NULL);
    for (int i = 0; i < nl; i++) h5_stream_close(streams[i]);
    h5out_commit(o);
    info(0, "wrote '%s': %lld images, %d layer%s", io.out, (long long)src.n, nl, nl == 1 ? "" : "s");

    free(acts);
    free(imgs);
    free(raw);
    engine_free(e);
    if (src.stim >= 0) h5_close_file(src.stim);
    str_list_free(src.files);
    str_list_free(src.names);
    ckpt_free(&ck);
    free(joined);
    return 0;
}
