/* loader.c: threads, queue and order of the training data path (contract in loader.h).
 *
 * Work is a sequence of tasks t = s * B + j: image j of batch s, where s counts batches from
 * (epoch 0, batch 0) (s = epoch * batches_per_epoch + batch). Batch s is written into queue slot
 * s % Q. Threads take tasks in order under one mutex, but only while the slot is free
 * (s < released + Q); each writes its image's views straight into the slot; the slot is ready when
 * all B tasks are done. The consumer waits for slot `cur`, copies or lends it, and releases it.
 * A seek pauses the pool, waits until no task is in flight, and restarts the sequence.
 * Pixels depend only on (seed, epoch, image, view), so none of this changes them.
 */
#include "loader.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "error.h"
#include "image.h"
#include "procedural.h"
#include "rng.h"
#include "util.h"

#if TDANN_CUDA
#include <cuda_runtime_api.h>
#endif

const Field DATA_FIELDS[] = {
    {"kind", "data-kind", 0, F_ENUM, offsetof(DataConfig, kind), "procedural", 0, 0, "procedural|folder", NULL,
     "training images: the embedded procedural set, or an image folder (data.path)", 0},
    {"path", "data-path", 0, F_STRING, offsetof(DataConfig, path), "", 0, 0, NULL, "DIR",
     "image folder: DIR/<class>/*.JPEG (ImageNet layout) or DIR/*.jpg|png", 0},
    {"index_cache", NULL, 0, F_STRING, offsetof(DataConfig, index_cache), "", 0, 0, NULL, "DIR",
     "where the folder's file index is cached (\"\" = $TDANN_CACHE or ~/.cache/tdann, \"off\")", 0},
    {"threads", "data-threads", 0, F_INT, offsetof(DataConfig, threads), "0", 0, 4096, NULL, "N",
     "decode threads (0 = online cores / ranks)", 0},
    {"queue", NULL, 0, F_INT, offsetof(DataConfig, queue), "4", 2, 64, NULL, "N", "batch buffers in the queue", 0},
    {"max_images", NULL, 0, F_INT64, offsetof(DataConfig, max_images), "0", 0, 1e15, NULL, "N",
     "use only the first N images of the folder (0 = all)", 0},
    {"procedural.count", NULL, 0, F_INT64, offsetof(DataConfig, procedural_count), "20000", 1, 16777216, NULL, "N",
     "images per epoch of the procedural set", 0},
    {"procedural.size", NULL, 0, F_INT, offsetof(DataConfig, procedural_size), "0", 0, 8192, NULL, "PX",
     "side of a procedural image (0 = 1.5 x the network input)", 0},
    {"procedural.seed", NULL, 0, F_INT64, offsetof(DataConfig, procedural_seed), "0", 0, 1e15, NULL, "N",
     "which procedural images (independent of the training seed)", 0},
    {"augment.enabled", NULL, 0, F_BOOL, offsetof(DataConfig, augment_enabled), "true", 0, 0, NULL, NULL,
     "SimCLR augmentation; false = Resize + CenterCrop", 0},
    {"augment.crop_scale_min", NULL, 0, F_FLOAT, offsetof(DataConfig, augment.crop_scale_min), "0.08", 0.0001, 1, NULL, "X",
     "RandomResizedCrop smallest area fraction", 0},
    {"augment.crop_scale_max", NULL, 0, F_FLOAT, offsetof(DataConfig, augment.crop_scale_max), "1.0", 0.0001, 1, NULL, "X",
     "RandomResizedCrop largest area fraction", 0},
    {"augment.crop_ratio_min", NULL, 0, F_FLOAT, offsetof(DataConfig, augment.crop_ratio_min), "0.75", 0.01, 100, NULL, "X",
     "RandomResizedCrop smallest aspect ratio w/h", 0},
    {"augment.crop_ratio_max", NULL, 0, F_FLOAT, offsetof(DataConfig, augment.crop_ratio_max), "1.3333333", 0.01, 100, NULL,
     "X", "RandomResizedCrop largest aspect ratio w/h", 0},
    {"augment.flip_p", NULL, 0, F_FLOAT, offsetof(DataConfig, augment.flip_p), "0.5", 0, 1, NULL, "P",
     "horizontal flip probability", 0},
    {"augment.jitter_p", NULL, 0, F_FLOAT, offsetof(DataConfig, augment.jitter_p), "0.8", 0, 1, NULL, "P",
     "colour jitter probability", 0},
    {"augment.brightness", NULL, 0, F_FLOAT, offsetof(DataConfig, augment.brightness), "0.8", 0, 10, NULL, "X",
     "brightness factor range 1 +- X", 0},
    {"augment.contrast", NULL, 0, F_FLOAT, offsetof(DataConfig, augment.contrast), "0.8", 0, 10, NULL, "X",
     "contrast factor range 1 +- X", 0},
    {"augment.saturation", NULL, 0, F_FLOAT, offsetof(DataConfig, augment.saturation), "0.8", 0, 10, NULL, "X",
     "saturation factor range 1 +- X", 0},
    {"augment.hue", NULL, 0, F_FLOAT, offsetof(DataConfig, augment.hue), "0.2", 0, 0.5, NULL, "X", "hue shift range +- X", 0},
    {"augment.gray_p", NULL, 0, F_FLOAT, offsetof(DataConfig, augment.gray_p), "0.2", 0, 1, NULL, "P",
     "grayscale probability", 0},
    {"augment.blur_p", NULL, 0, F_FLOAT, offsetof(DataConfig, augment.blur_p), "0.5", 0, 1, NULL, "P",
     "Gaussian blur probability", 0},
    {"augment.blur_sigma_min", NULL, 0, F_FLOAT, offsetof(DataConfig, augment.blur_sigma_min), "0.1", 0.001, 100, NULL, "PX",
     "blur sigma range, low", 0},
    {"augment.blur_sigma_max", NULL, 0, F_FLOAT, offsetof(DataConfig, augment.blur_sigma_max), "2.0", 0.001, 100, NULL, "PX",
     "blur sigma range, high", 0},
    {"mean", NULL, 0, F_FLOAT_LIST, offsetof(DataConfig, mean), "[0.485, 0.456, 0.406]", 0, 1, NULL, "R,G,B",
     "normalisation mean (of x / 255)", 0},
    {"std", NULL, 0, F_FLOAT_LIST, offsetof(DataConfig, std), "[0.229, 0.224, 0.225]", 0.0001, 10, NULL, "R,G,B",
     "normalisation standard deviation", 0},
    FIELD_END};

void data_config_default(DataConfig *c) {
    memset(c, 0, sizeof *c);
    Section s = {"data", c, DATA_FIELDS};
    cfg_apply_defaults(&s);
}

/* ---- order: a Feistel permutation keyed by Philox, cycle-walking into [0, n) ------------------- */
int64_t loader_permute(uint64_t seed, int64_t epoch, int64_t n, int64_t pos) {
    if (n <= 1) return 0;
    int bits = 2;
    while (((int64_t)1 << bits) < n) bits += 2;
    int half = bits / 2;
    uint64_t mask = ((uint64_t)1 << half) - 1, x = (uint64_t)pos;
    do {
        uint64_t L = x >> half, R = x & mask;
        for (uint32_t round = 0; round < 6; round++) {
            uint64_t f = philox_u32_at(seed, rng_stream(RNG_PURPOSE_DATA_ORDER, (uint32_t)epoch, round, 0), R) & mask;
            uint64_t t = L ^ f;
            L = R;
            R = t;
        }
        x = (L << half) | R;
    } while ((int64_t)x >= n);
    return (int64_t)x;
}

/* ---- the loader ----------------------------------------------------------------------------------- */
typedef struct {
    uint8_t *rows;
    int32_t *labels;
    int64_t seq;
    int done;
} Slot;

struct Loader {
    DataConfig cfg;
    int S, B, V, rank, nranks, pinned_ok, proc_size;
    uint64_t seed;
    Dataset *ds;
    int64_t N, bpe;
    int nclasses;
    size_t view_bytes, slot_bytes;
    int Q;
    Slot *slots;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    int64_t cur, released, next_task;
    int in_flight, stop, paused, lent;
    int nthreads;
    pthread_t *threads;
    /* skipped files */
    pthread_mutex_t bad_mu;
    uint8_t *bad;
    int64_t nbad;
};

static void mark_bad(Loader *l, int64_t idx, const char *why) {
    pthread_mutex_lock(&l->bad_mu);
    if (!l->bad[idx]) {
        l->bad[idx] = 1;
        l->nbad++;
        if (l->nbad <= 20) {
            char *p = dataset_path(l->ds, idx);
            warn("skipping unreadable image '%s': %s", p, why);
            free(p);
        } else if (l->nbad == 21) {
            warn("more unreadable images skipped; the count is reported at the end");
        }
    }
    pthread_mutex_unlock(&l->bad_mu);
}

static int is_bad(Loader *l, int64_t idx) {
    pthread_mutex_lock(&l->bad_mu);
    int b = l->bad[idx];
    pthread_mutex_unlock(&l->bad_mu);
    return b;
}

typedef struct {
    AugmentScratch *scratch;
    uint8_t *proc;  /* procedural source image */
} Worker;

/* Views of one image into dst (view v at dst + v * vstride), label into *label. */
static void make_views(Loader *l, Worker *w, int64_t epoch, int64_t idx, uint8_t *dst, size_t vstride, int32_t *label) {
    const int S = l->S, V = l->V;
    AugmentParams p[16];
    if (!l->ds) { /* procedural */
        int P = l->proc_size;
        procedural_image(w->proc, P, P, (uint64_t)l->cfg.procedural_seed, idx);
        *label = -1;
        if (!l->cfg.augment_enabled) {
            Image im = {P, P, w->proc};
            if (image_resize_center_crop(dst, S, &im) != 0) die(EXIT_RUNTIME, "out of memory in the data loader");
            for (int v = 1; v < V; v++) memcpy(dst + (size_t)v * vstride, dst, l->view_bytes);
            return;
        }
        AugmentSource src = {w->proc, P, P, (size_t)P * 3, 1.0, 0, 0};
        for (int v = 0; v < V; v++) {
            augment_sample(&p[v], &l->cfg.augment, P, P, l->seed, rng_stream(RNG_PURPOSE_AUGMENT, (uint32_t)epoch, (uint32_t)idx, (uint32_t)v));
            if (augment_apply(dst + (size_t)v * vstride, S, &src, &p[v], w->scratch) != 0)
                die(EXIT_RUNTIME, "out of memory in the data loader");
        }
        return;
    }
    /* a folder image; a bad file is replaced by the next readable one */
    int64_t use = idx;
    char err[256];
    for (int64_t tries = 0; tries < l->N; tries++, use = (use + 1) % l->N) {
        if (is_bad(l, use)) continue;
        char *path = dataset_path(l->ds, use);
        size_t len = 0;
        uint8_t *data = image_read_file(path, &len, err, sizeof err);
        free(path);
        int W, H;
        if (!data || image_probe(data, len, &W, &H, err, sizeof err) != 0) {
            free(data);
            mark_bad(l, use, err);
            continue;
        }
        Image *im;
        if (!l->cfg.augment_enabled) {
            im = image_decode(data, len, err, sizeof err);
            free(data);
            if (!im) { mark_bad(l, use, err); continue; }
            if (image_resize_center_crop(dst, S, im) != 0) die(EXIT_RUNTIME, "out of memory in the data loader");
            for (int v = 1; v < V; v++) memcpy(dst + (size_t)v * vstride, dst, l->view_bytes);
            image_free(im);
            *label = dataset_label(l->ds, use);
            return;
        }
        int ux0 = W, uy0 = H, ux1 = 0, uy1 = 0;
        double min_scale = 0;
        for (int v = 0; v < V; v++) {
            augment_sample(&p[v], &l->cfg.augment, W, H, l->seed, rng_stream(RNG_PURPOSE_AUGMENT, (uint32_t)epoch, (uint32_t)idx, (uint32_t)v));
            if (p[v].x0 < ux0) ux0 = p[v].x0;
            if (p[v].y0 < uy0) uy0 = p[v].y0;
            if (p[v].x0 + p[v].cw > ux1) ux1 = p[v].x0 + p[v].cw;
            if (p[v].y0 + p[v].ch > uy1) uy1 = p[v].y0 + p[v].ch;
            double m = augment_min_scale(&p[v], S);
            if (m > min_scale) min_scale = m;
        }
        double scale;
        int ox, oy;
        im = image_decode_region(data, len, min_scale, ux0, uy0, ux1, uy1, &scale, &ox, &oy, err, sizeof err);
        free(data);
        if (!im) { mark_bad(l, use, err); continue; }
        AugmentSource src = {im->px, im->w, im->h, (size_t)im->w * 3, scale, ox, oy};
        for (int v = 0; v < V; v++)
            if (augment_apply(dst + (size_t)v * vstride, S, &src, &p[v], w->scratch) != 0)
                die(EXIT_RUNTIME, "internal: view %d of '%s' failed (crop outside the decoded region?)", v, dataset_file(l->ds, use));
        image_free(im);
        *label = dataset_label(l->ds, use);
        return;
    }
    die(EXIT_RUNTIME, "no readable image left in dataset folder '%s'", dataset_root(l->ds));
}

static void *worker_main(void *arg) {
    Loader *l = arg;
    Worker w = {augment_scratch_new(), NULL};
    if (!l->ds) w.proc = xmalloc((size_t)l->proc_size * l->proc_size * 3);
    pthread_mutex_lock(&l->mu);
    for (;;) {
        if (l->stop) break;
        if (l->paused || l->next_task >= (l->released + l->Q) * (int64_t)l->B) {
            pthread_cond_wait(&l->cv_work, &l->mu);
            continue;
        }
        int64_t t = l->next_task++, s = t / l->B;
        int j = (int)(t % l->B);
        Slot *sl = &l->slots[s % l->Q];
        if (j == 0) {
            sl->seq = s;
            sl->done = 0;
        }
        l->in_flight++;
        pthread_mutex_unlock(&l->mu);

        int64_t epoch = s / l->bpe, batch = s % l->bpe;
        int64_t pos = batch * (int64_t)l->nranks * l->B + (int64_t)l->rank * l->B + j;
        int64_t idx = loader_permute(l->seed, epoch, l->N, pos);
        make_views(l, &w, epoch, idx, sl->rows + (size_t)j * l->view_bytes, (size_t)l->B * l->view_bytes, &sl->labels[j]);

        pthread_mutex_lock(&l->mu);
        l->in_flight--;
        if (++sl->done == l->B || (l->paused && l->in_flight == 0)) pthread_cond_broadcast(&l->cv_done);
    }
    pthread_mutex_unlock(&l->mu);
    augment_scratch_free(w.scratch);
    free(w.proc);
    return NULL;
}

static void *host_alloc(size_t n, int pinned, int *pinned_ok) {
#if TDANN_CUDA
    if (pinned) {
        void *p = NULL;
        if (cudaHostAlloc(&p, n, cudaHostAllocDefault) == cudaSuccess) return p;
        cudaGetLastError();
        if (*pinned_ok) info(0, "pinned host memory unavailable; the data loader uses pageable memory");
    }
#else
    (void)pinned;
#endif
    *pinned_ok = 0;
    return xmalloc(n);
}

static void host_free(void *p, int pinned_ok) {
#if TDANN_CUDA
    if (pinned_ok) {
        cudaFreeHost(p);
        return;
    }
#else
    (void)pinned_ok;
#endif
    free(p);
}

Loader *loader_create(const DataConfig *cfg, int S, int B, int V, int rank, int nranks, uint64_t seed, int pinned) {
    if (S < 1 || B < 1 || V < 1 || V > 16 || nranks < 1 || rank < 0 || rank >= nranks)
        die(EXIT_USAGE, "bad loader arguments (size %d, batch %d, views %d, rank %d of %d)", S, B, V, rank, nranks);
    Loader *l = xcalloc(1, sizeof *l);
    l->cfg = *cfg;
    l->cfg.path = xstrdup(cfg->path ? cfg->path : "");
    l->cfg.index_cache = xstrdup(cfg->index_cache ? cfg->index_cache : "");
    l->cfg.mean.n = l->cfg.std.n = 0; /* not used here; the caller owns the lists */
    l->cfg.mean.v = l->cfg.std.v = NULL;
    l->S = S;
    l->B = B;
    l->V = V;
    l->rank = rank;
    l->nranks = nranks;
    l->seed = seed;
    if (cfg->kind == DATA_FOLDER) {
        l->ds = dataset_open_folder(cfg->path, cfg->index_cache);
        dataset_truncate(l->ds, cfg->max_images);
        l->N = dataset_count(l->ds);
        l->nclasses = dataset_num_classes(l->ds);
    } else {
        l->N = cfg->procedural_count;
        l->proc_size = cfg->procedural_size > 0 ? cfg->procedural_size : (int)lround(1.5 * S);
    }
    if (l->N > (1 << 24))
        die(EXIT_USAGE, "dataset '%s' has %lld images; at most 16777216 are supported", cfg->path, (long long)l->N);
    int64_t G = (int64_t)nranks * B;
    l->bpe = l->N / G;
    if (l->bpe < 1)
        die(EXIT_USAGE, "dataset '%s' has %lld images, fewer than one global batch of %lld",
            cfg->kind == DATA_FOLDER ? cfg->path : "procedural", (long long)l->N, (long long)G);
    l->bad = xcalloc((size_t)l->N, 1);
    l->view_bytes = (size_t)S * S * 3;
    l->slot_bytes = (size_t)V * B * l->view_bytes;
    l->Q = cfg->queue >= 2 ? cfg->queue : 2;
    l->slots = xcalloc((size_t)l->Q, sizeof(Slot));
    l->pinned_ok = pinned;
    for (int q = 0; q < l->Q; q++) {
        l->slots[q].rows = host_alloc(l->slot_bytes, pinned, &l->pinned_ok);
        l->slots[q].labels = xcalloc((size_t)B, sizeof(int32_t));
        l->slots[q].seq = -1;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->bad_mu, NULL);
    pthread_cond_init(&l->cv_work, NULL);
    pthread_cond_init(&l->cv_done, NULL);
    int nt = cfg->threads;
    if (nt <= 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        nt = (int)(nc > 0 ? nc : 1) / nranks;
        if (nt < 1) nt = 1;
    }
    l->nthreads = nt;
    l->threads = xcalloc((size_t)nt, sizeof(pthread_t));
    for (int i = 0; i < nt; i++)
        if (pthread_create(&l->threads[i], NULL, worker_main, l) != 0) die(EXIT_RUNTIME, "cannot start data loader threads");
    return l;
}

/* Waits for batch `cur` and returns its slot (mutex held by the caller). */
static Slot *wait_ready(Loader *l) {
    if (l->lent) { /* the previously lent slot goes back */
        l->released++;
        l->lent = 0;
        pthread_cond_broadcast(&l->cv_work);
    }
    Slot *sl = &l->slots[l->cur % l->Q];
    while (!(sl->seq == l->cur && sl->done == l->B)) pthread_cond_wait(&l->cv_done, &l->mu);
    return sl;
}

void loader_next(Loader *l, uint8_t *rows, int32_t *labels) {
    pthread_mutex_lock(&l->mu);
    Slot *sl = wait_ready(l);
    pthread_mutex_unlock(&l->mu);
    memcpy(rows, sl->rows, l->slot_bytes);
    if (labels) memcpy(labels, sl->labels, sizeof(int32_t) * (size_t)l->B);
    pthread_mutex_lock(&l->mu);
    l->cur++;
    l->released++;
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
}

const uint8_t *loader_next_borrow(Loader *l, int32_t *labels) {
    pthread_mutex_lock(&l->mu);
    Slot *sl = wait_ready(l);
    l->cur++;
    l->lent = 1;
    pthread_mutex_unlock(&l->mu);
    if (labels) memcpy(labels, sl->labels, sizeof(int32_t) * (size_t)l->B);
    return sl->rows;
}

void loader_get_position(const Loader *l, int64_t *epoch, int64_t *batch) {
    Loader *m = (Loader *)l;
    pthread_mutex_lock(&m->mu);
    int64_t s = l->cur;
    pthread_mutex_unlock(&m->mu);
    if (epoch) *epoch = s / l->bpe;
    if (batch) *batch = s % l->bpe;
}

void loader_seek(Loader *l, int64_t epoch, int64_t batch) {
    if (epoch < 0 || batch < 0 || batch >= l->bpe)
        die(EXIT_USAGE, "cannot seek the data loader to epoch %lld batch %lld (%lld batches per epoch)", (long long)epoch,
            (long long)batch, (long long)l->bpe);
    pthread_mutex_lock(&l->mu);
    l->paused = 1;
    while (l->in_flight > 0) pthread_cond_wait(&l->cv_done, &l->mu);
    int64_t s = epoch * l->bpe + batch;
    l->cur = l->released = s;
    l->next_task = s * l->B;
    l->lent = 0;
    for (int q = 0; q < l->Q; q++) {
        l->slots[q].seq = -1;
        l->slots[q].done = 0;
    }
    l->paused = 0;
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
}

int64_t loader_batches_per_epoch(const Loader *l) { return l->bpe; }
int64_t loader_num_images(const Loader *l) { return l->N; }
int loader_num_classes(const Loader *l) { return l->nclasses; }
int loader_threads(const Loader *l) { return l->nthreads; }

int64_t loader_skipped_files(const Loader *l) {
    Loader *m = (Loader *)l;
    pthread_mutex_lock(&m->bad_mu);
    int64_t n = l->nbad;
    pthread_mutex_unlock(&m->bad_mu);
    return n;
}

void loader_free(Loader *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->nthreads; i++) pthread_join(l->threads[i], NULL);
    if (l->nbad) warn("%lld unreadable image file(s) were skipped in '%s'", (long long)l->nbad, dataset_root(l->ds));
    for (int q = 0; q < l->Q; q++) {
        host_free(l->slots[q].rows, l->pinned_ok);
        free(l->slots[q].labels);
    }
    free(l->slots);
    free(l->threads);
    free(l->bad);
    dataset_free(l->ds);
    free(l->cfg.path);
    free(l->cfg.index_cache);
    pthread_mutex_destroy(&l->mu);
    pthread_mutex_destroy(&l->bad_mu);
    pthread_cond_destroy(&l->cv_work);
    pthread_cond_destroy(&l->cv_done);
    free(l);
}
