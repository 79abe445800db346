/* make-stimuli: write a stimuli artifact (/work/contracts.md "stimuli"; architecture.md section 2).
 *
 *   make-stimuli gratings [--size N] -o gratings.h5
 *   make-stimuli floc --dir FLOC_DIR | --procedural [--size N] -o floc.h5
 *   make-stimuli folder [--dir DIR] [-n N] [--size N] -o sample.h5
 *   ... [--png DIR]   also writes every image as a PNG file for a person to look at
 *
 * /images uint8 (N, S, S, 3) dims "image,row,col,channel"; root attribute `set`; /labels/...:
 *   gratings: orientation_deg, sf_cycles_per_image (attr degrees_per_image), phase_rad (f32), color
 *     (int32), color_names; side stimuli.grating_size (0 = size); frequencies = the paper's cycles/deg
 *     x stimuli.grating_field_deg (8 deg: the paper's cycles/image);
 *   floc: category (int32), category_names (10), domain_names (5), domain_categories (5, 2);
 *   folder: file_names (strings) and, for class folders, class (int32).
 * Conventions of each set: common/stimuli.h. Images from files are Resize(S) + CenterCrop(S)
 * (torchvision's, Pillow-exact: common/image.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dataset.h"
#include "error.h"
#include "h5io.h"
#include "image.h"
#include "loader.h"
#include "procedural.h"
#include "progress.h"
#include "rng.h"
#include "stimuli.h"
#include "util.h"

typedef struct {
    int size;
    int grating_size;
    double grating_field_deg;
    int floc_per_category;
    int64_t sample_count;
    int64_t seed;
} StimuliConfig;

static const Field STIMULI_FIELDS[] = {
    {"size", "size", 0, F_INT, offsetof(StimuliConfig, size), "224", 8, 4096, NULL, "PX", "image side in pixels", 0},
    {"grating_size", "grating-size", 0, F_INT, offsetof(StimuliConfig, grating_size), "0", 0, 4096, NULL, "PX",
     "side of the grating images (0 = size); set it to the network's input size so no resize blurs them", 0},
    {"grating_field_deg", "field-deg", 0, F_DOUBLE, offsetof(StimuliConfig, grating_field_deg), "8.0", 0.1, 180, NULL,
     "DEG", "visual angle one grating image spans: the paper's frequencies are fixed in cycles/deg "
     "(0.69-12.1), so cycles/image = cycles/deg x DEG (the paper: 8 deg at 224 px)", 0},
    {"floc_per_category", "per-category", 0, F_INT, offsetof(StimuliConfig, floc_per_category), "144", 1, 100000, NULL,
     "N", "images per category of the procedural fLoc stand-in", 0},
    {"sample_count", "count", 'n', F_INT64, offsetof(StimuliConfig, sample_count), "500", 1, 1e9, NULL, "N",
     "images in a folder sample", 0},
    {"seed", NULL, 0, F_INT64, offsetof(StimuliConfig, seed), "0", 0, 1e15, NULL, "N",
     "seed of the procedural fLoc stand-in and of the folder sample (not the training seed)", 0},
    FIELD_END};

typedef struct {
    char *out, *dir, *png;
    int procedural;
} Opts;

static const Field CLI_FIELDS[] = {
    {NULL, "output", 'o', F_STRING, offsetof(Opts, out), "", 0, 0, NULL, "FILE", "stimuli artifact to write", 1},
    {NULL, "dir", 0, F_STRING, offsetof(Opts, dir), "", 0, 0, NULL, "DIR",
     "floc: the fLoc stimuli folder; folder: the image folder (default: the data section)", 0},
    {NULL, "procedural", 0, F_BOOL, offsetof(Opts, procedural), "false", 0, 0, NULL, NULL,
     "floc: the built-in procedural stand-in instead of fLoc photographs", 0},
    {NULL, "png", 0, F_STRING, offsetof(Opts, png), "", 0, 0, NULL, "DIR", "also write every image as a PNG into DIR", 0},
    FIELD_END};

static StimuliConfig sc;
static DataConfig dc;
static Opts o;

static const ToolSpec SPEC = {
    .purpose = "write the analysis stimuli: sine gratings, fLoc categories, or a sample of a dataset",
    .usage = "make-stimuli [options] gratings|floc|folder -o OUT.h5",
    .example = "make-stimuli floc --procedural --size 224 --png runs/default/stimuli/floc_png -o runs/default/stimuli/floc.h5",
    .see_also = "extract-activations, probe-gratings, probe-floc",
    .notes =
        "gratings: the paper's 640 full-field sine gratings: 8 orientations 0..157.5 deg (wave-vector\n"
        "  direction, counterclockwise, 0 = vertical bars), 8 spatial frequencies linspace(5.5, 110, 9)[:-1]\n"
        "  cycles/image at the paper's 8 deg per image (0.69-12.1 cycles/deg), 5 phases, black/white and\n"
        "  red/cyan. A network with a smaller input sees the finest of them only above its Nyquist limit\n"
        "  (48 cycles/image at 96 px): then draw them at its size (--grating-size) over a proportionally\n"
        "  smaller field (--field-deg 8 x size/224), which keeps the paper's cycles/deg and cycles/pixel.\n"
        "floc: --dir takes the VPNL fLoc layout (<category>/<category>-<n>.jpg) or a flat folder whose file\n"
        "  names start with the category (adult-12.jpg); 'scrambled' is dropped; grayscale becomes 3 channels.\n"
        "  --procedural draws a built-in STAND-IN with the same 10 categories (schematic faces, bodies, limbs,\n"
        "  pseudowords, digit strings, cars, instruments, houses, corridors on noise), not the fLoc photographs.\n"
        "folder: a seeded random sample of -n images (in dataset order) of --dir, or of the training data\n"
        "  named by the data section (kind procedural: the embedded set), for the wiring-length analysis.\n"
        "Unreadable image files are skipped with a warning naming them.",
    .sections = {{"stimuli", &sc, STIMULI_FIELDS}, {"data", &dc, DATA_FIELDS}, {NULL, &o, CLI_FIELDS}},
    .uses_seed = 0,
    .npos_min = 1, .npos_max = 1, .pos_meta = "the set (gratings, floc or folder)",
};

/* ---- output ----------------------------------------------------------------------------------------- */
typedef struct {
    H5Out *h5;
    H5Stream *images;
    int S;
    int64_t n;
    const char *set;
} Writer;

static void writer_open(Writer *w, const char *set, int S) {
    w->set = set;
    w->S = S;
    w->n = 0;
    w->h5 = h5out_create(o.out, "stimuli", 1);
    hsize_t row[3] = {(hsize_t)S, (hsize_t)S, 3};
    w->images = h5_stream_create(w->h5->file, "/images", H5IO_U8, 4, row, 1, "image,row,col,channel", "intensity (0-255)");
    h5_attr_str(w->h5->file, "/", "set", set);
    if (o.png[0]) mkdir_p(o.png);
}

static void writer_add(Writer *w, const uint8_t *px, const char *tag) {
    h5_stream_append(w->images, px, 1);
    if (o.png[0]) {
        char err[256];
        char *p = xasprintf("%s/%s_%04lld%s%s.png", o.png, w->set, (long long)w->n, tag && *tag ? "_" : "", tag ? tag : "");
        Image im = {w->S, w->S, (uint8_t *)px};
        if (image_save_png(p, &im, err, sizeof err) != 0) die(EXIT_RUNTIME, "cannot write '%s': %s", p, err);
        free(p);
    }
    w->n++;
}

static void writer_commit(Writer *w) {
    h5_stream_close(w->images);
    h5out_commit(w->h5);
    info(0, "wrote %lld %s images (%d x %d) to '%s'%s%s", (long long)w->n, w->set, w->S, w->S, o.out,
         o.png[0] ? ", PNGs in " : "", o.png);
}

/* ---- gratings --------------------------------------------------------------------------------------- */
static void make_gratings(void) {
    int S = sc.grating_size > 0 ? sc.grating_size : sc.size;
    double k = sc.grating_field_deg / STIMULI_GRATING_FIELD_DEG; /* scale of the paper's cycles/image */
    float o0, sfmax, p0;
    int c0;
    stimuli_grating_params(STIMULI_GRATING_NSF * STIMULI_GRATING_NPHASE - 1, &o0, &sfmax, &p0, &c0);
    if (k * sfmax >= S / 2.0)
        warn("at %d px and %g deg per image the gratings above %d cycles/image alias (the finest is %.1f)", S,
             sc.grating_field_deg, S / 2, k * sfmax);
    Writer w;
    writer_open(&w, "gratings", S);
    float ori[STIMULI_GRATING_COUNT], sf[STIMULI_GRATING_COUNT], ph[STIMULI_GRATING_COUNT];
    int32_t col[STIMULI_GRATING_COUNT];
    uint8_t *px = xmalloc((size_t)S * S * 3);
    for (int i = 0; i < STIMULI_GRATING_COUNT; i++) {
        int c;
        stimuli_grating_params(i, &ori[i], &sf[i], &ph[i], &c);
        sf[i] = (float)(k * sf[i]);
        col[i] = c;
        stimuli_grating_image(px, S, ori[i], sf[i], ph[i], c);
        char tag[96];
        snprintf(tag, sizeof tag, "ori%.1f_sf%.2f_ph%.2f_%s", ori[i], sf[i], ph[i], c ? "redcyan" : "bw");
        writer_add(&w, px, tag);
    }
    hsize_t n = STIMULI_GRATING_COUNT;
    hid_t f = w.h5->file;
    h5_write(f, "/labels/orientation_deg", H5IO_F32, 1, &n, ori, "image",
             "deg (wave-vector direction, counterclockwise from +x, y up; 0 = vertical bars)");
    h5_write(f, "/labels/sf_cycles_per_image", H5IO_F32, 1, &n, sf, "image", "cycles/image");
    h5_attr_f64(f, "/labels/sf_cycles_per_image", "degrees_per_image", sc.grating_field_deg);
    h5_write(f, "/labels/phase_rad", H5IO_F32, 1, &n, ph, "image", "rad");
    h5_write(f, "/labels/color", H5IO_I32, 1, &n, col, "image", "index into color_names");
    char *names[2] = {"black/white", "red/cyan"};
    h5_write_strings(f, "/labels/color_names", names, 2);
    free(px);
    writer_commit(&w);
}

/* ---- fLoc --------------------------------------------------------------------------------------------- */
static void floc_labels(Writer *w, const int32_t *cat, int64_t n, const char *source) {
    hid_t f = w->h5->file;
    hsize_t hn = (hsize_t)n, d2[2] = {STIMULI_FLOC_NDOMAIN, 2};
    h5_write(f, "/labels/category", H5IO_I32, 1, &hn, cat, "image", "index into category_names");
    h5_write_strings(f, "/labels/category_names", (char *const *)STIMULI_FLOC_CATEGORIES, STIMULI_FLOC_NCAT);
    h5_write_strings(f, "/labels/domain_names", (char *const *)STIMULI_FLOC_DOMAINS, STIMULI_FLOC_NDOMAIN);
    h5_write(f, "/labels/domain_categories", H5IO_I32, 2, d2, STIMULI_FLOC_DOMAIN_CATEGORIES, "domain,member",
             "index into category_names");
    h5_attr_str(f, "/", "floc_source", source);
}

static void make_floc_procedural(void) {
    int S = sc.size, per = sc.floc_per_category;
    Writer w;
    writer_open(&w, "floc", S);
    int64_t n = (int64_t)STIMULI_FLOC_NCAT * per;
    int32_t *cat = xmalloc(sizeof(int32_t) * (size_t)n);
    uint8_t *px = xmalloc((size_t)S * S * 3);
    Progress *pr = progress_start("drawing procedural fLoc stand-in", n, "images");
    for (int c = 0; c < STIMULI_FLOC_NCAT; c++)
        for (int k = 0; k < per; k++) {
            stimuli_floc_procedural(px, S, c, (uint64_t)sc.seed, k);
            cat[w.n] = c;
            writer_add(&w, px, STIMULI_FLOC_CATEGORIES[c]);
            progress_update(pr, w.n, NULL);
        }
    progress_end(pr, NULL);
    floc_labels(&w, cat, n, "procedural stand-in (tdann built-in drawings, not the VPNL fLoc photographs)");
    free(px);
    free(cat);
    writer_commit(&w);
}

static void make_floc_dir(const char *dir) {
    Dataset *ds = dataset_open_folder(dir, "off");
    prov_add_input_nohash(dir);
    int64_t N = dataset_count(ds), scrambled = 0, unknown = 0;
    int32_t *catof = xmalloc(sizeof(int32_t) * (size_t)N);
    for (int64_t i = 0; i < N; i++) {
        char name[256];
        if (dataset_has_classes(ds)) {
            snprintf(name, sizeof name, "%s", dataset_class_name(ds, dataset_label(ds, i)));
        } else { /* flat: the file name up to the first '-' or '_' */
            const char *f = dataset_file(ds, i);
            size_t k = strcspn(f, "-_.");
            snprintf(name, sizeof name, "%.*s", (int)k, f);
        }
        catof[i] = stimuli_floc_category(name);
        if (catof[i] == -2) scrambled++;
        else if (catof[i] == -1) {
            if (unknown++ < 5) warn("ignoring '%s' in '%s': not an fLoc category name", dataset_file(ds, i), dir);
        }
    }
    if (scrambled) info(0, "dropped %lld scrambled images", (long long)scrambled);
    int S = sc.size;
    Writer w;
    writer_open(&w, "floc", S);
    int32_t *cat = xmalloc(sizeof(int32_t) * (size_t)N);
    int64_t per[STIMULI_FLOC_NCAT] = {0}, bad = 0;
    uint8_t *px = xmalloc((size_t)S * S * 3);
    Progress *pr = progress_start("reading fLoc images", N - scrambled - unknown, "images");
    for (int c = 0; c < STIMULI_FLOC_NCAT; c++) /* category-major, in the contract's order */
        for (int64_t i = 0; i < N; i++) {
            if (catof[i] != c) continue;
            char err[256], *path = dataset_path(ds, i);
            Image *im = image_load(path, err, sizeof err);
            if (!im) {
                warn("skipping unreadable image '%s': %s", path, err);
                bad++;
                free(path);
                continue;
            }
            if (image_resize_center_crop(px, S, im) != 0) die(EXIT_RUNTIME, "out of memory resizing '%s'", path);
            image_free(im);
            free(path);
            cat[w.n] = c;
            per[c]++;
            writer_add(&w, px, STIMULI_FLOC_CATEGORIES[c]);
            progress_update(pr, w.n, NULL);
        }
    progress_end(pr, NULL);
    if (w.n == 0) {
        h5out_discard(w.h5);
        die(EXIT_USAGE, "no fLoc images in '%s'", dir);
    }
    for (int c = 0; c < STIMULI_FLOC_NCAT; c++)
        if (!per[c]) warn("no images of category '%s' in '%s'", STIMULI_FLOC_CATEGORIES[c], dir);
    if (bad) warn("%lld unreadable image file(s) skipped in '%s'", (long long)bad, dir);
    char *src = xasprintf("fLoc folder %s", dataset_root(ds));
    floc_labels(&w, cat, w.n, src);
    free(src);
    free(px);
    free(cat);
    free(catof);
    dataset_free(ds);
    writer_commit(&w);
}

/* ---- folder sample ------------------------------------------------------------------------------------ */
/* k distinct indices of [0, n), sorted: a Philox Fisher-Yates prefix (k = n: all). */
static int64_t *sample_indices(int64_t n, int64_t k) {
    int64_t *all = xmalloc(sizeof(int64_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) all[i] = i;
    Rng r;
    rng_init(&r, (uint64_t)sc.seed, rng_stream(RNG_PURPOSE_STIMULI, 1, 0, 0));
    for (int64_t i = 0; i < k; i++) {
        int64_t j = i + (int64_t)(rng_uniform_double(&r) * (double)(n - i));
        if (j >= n) j = n - 1;
        int64_t t = all[i];
        all[i] = all[j];
        all[j] = t;
    }
    /* sort the chosen prefix (dataset order) */
    for (int64_t i = 1; i < k; i++)
        for (int64_t j = i; j > 0 && all[j - 1] > all[j]; j--) {
            int64_t t = all[j];
            all[j] = all[j - 1];
            all[j - 1] = t;
        }
    return all;
}

static void make_folder(void) {
    int S = sc.size;
    int use_dir = o.dir[0] || dc.kind == DATA_FOLDER;
    const char *dir = o.dir[0] ? o.dir : dc.path;
    Dataset *ds = NULL;
    int64_t N;
    if (use_dir) {
        ds = dataset_open_folder(dir, dc.index_cache);
        prov_add_input_nohash(dir);
        N = dataset_count(ds);
    } else {
        N = dc.procedural_count;
    }
    int64_t k = sc.sample_count;
    if (k > N) {
        warn("the dataset has %lld images; taking all of them instead of %lld", (long long)N, (long long)k);
        k = N;
    }
    int64_t *idx = sample_indices(N, k);
    Writer w;
    writer_open(&w, "folder", S);
    char **names = xcalloc((size_t)k + 1, sizeof(char *));
    int32_t *cls = xmalloc(sizeof(int32_t) * (size_t)k);
    uint8_t *px = xmalloc((size_t)S * S * 3);
    int64_t bad = 0;
    Progress *pr = progress_start("sampling images", k, "images");
    for (int64_t j = 0; j < k; j++) {
        if (!ds) {
            procedural_image(px, S, S, (uint64_t)dc.procedural_seed, idx[j]);
            names[w.n] = xasprintf("procedural:%lld/%lld", (long long)dc.procedural_seed, (long long)idx[j]);
            cls[w.n] = -1;
        } else {
            char err[256], *path = dataset_path(ds, idx[j]);
            Image *im = image_load(path, err, sizeof err);
            if (!im) {
                warn("skipping unreadable image '%s': %s", path, err);
                bad++;
                free(path);
                continue;
            }
            if (image_resize_center_crop(px, S, im) != 0) die(EXIT_RUNTIME, "out of memory resizing '%s'", path);
            image_free(im);
            free(path);
            names[w.n] = xstrdup(dataset_file(ds, idx[j]));
            cls[w.n] = dataset_label(ds, idx[j]);
        }
        writer_add(&w, px, NULL);
        progress_update(pr, w.n, NULL);
    }
    progress_end(pr, NULL);
    if (w.n == 0) {
        h5out_discard(w.h5);
        die(EXIT_USAGE, "no readable images in '%s'", dir);
    }
    if (bad) warn("%lld unreadable image file(s) skipped in '%s'", (long long)bad, dir);
    hsize_t hn = (hsize_t)w.n;
    h5_write_strings(w.h5->file, "/labels/file_names", names, (int)w.n);
    if (ds && dataset_has_classes(ds)) {
        h5_write(w.h5->file, "/labels/class", H5IO_I32, 1, &hn, cls, "image", "class index (sorted class folders)");
        char **cn = xcalloc((size_t)dataset_num_classes(ds) + 1, sizeof(char *));
        for (int c = 0; c < dataset_num_classes(ds); c++) cn[c] = (char *)dataset_class_name(ds, c);
        h5_write_strings(w.h5->file, "/labels/class_names", cn, dataset_num_classes(ds));
        free(cn);
    }
    h5_attr_str(w.h5->file, "/", "source", ds ? dataset_root(ds) : "procedural");
    for (int64_t j = 0; j < w.n; j++) free(names[j]);
    free(names);
    free(cls);
    free(px);
    free(idx);
    dataset_free(ds);
    writer_commit(&w);
}

int main(int argc, char **argv) {
    tool_init(argv[0], argc, argv);
    tool_setup(&SPEC, argc, argv);
    const char *set = g_run.pos[0];
    if (!strcmp(set, "gratings")) {
        if (o.dir[0] || o.procedural) die(EXIT_USAGE, "gratings are generated: --dir and --procedural do not apply");
        make_gratings();
    } else if (!strcmp(set, "floc")) {
        if (o.procedural && o.dir[0]) die(EXIT_USAGE, "give either --dir or --procedural for 'floc', not both");
        if (o.procedural) make_floc_procedural();
        else if (o.dir[0]) make_floc_dir(o.dir);
        else {
            hint_next("fLoc stimuli (VPNL): --dir DIR; the built-in stand-in: --procedural");
            die(EXIT_USAGE, "no fLoc source for 'floc'");
        }
    } else if (!strcmp(set, "folder")) {
        if (o.procedural) die(EXIT_USAGE, "--procedural is for 'floc'; 'folder' uses the data section (data.kind)");
        make_folder();
    } else {
        hint_next("sets: gratings, floc, folder");
        die(EXIT_USAGE, "unknown stimulus set '%s'", set);
    }
    return 0;
}
