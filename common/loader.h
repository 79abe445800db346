/* loader.h: training batches of augmented views (the `data:` config section).
 *
 * A loader owns a dataset (an image folder, or the embedded procedural set), a pool of decode
 * threads and a bounded queue of `queue` batch buffers. Each image is decoded once and cut into
 * `views` augmented views (kernels/augment.h); batches come out in a fixed order.
 *
 * Batch layout: rows uint8 [views*B][S][S][3] (RGB, not normalised: consumers apply
 * (x / 255 - mean) / std with DataConfig.mean/std, e.g. augment_normalize()); rows [v*B, (v+1)*B)
 * are view v of the batch's B images; labels [B] are class indices (class-folder datasets) or -1.
 *
 * Order: epoch e visits positions 0 .. N-1 through a Philox-keyed Feistel permutation of (seed, e)
 * (stateless: any thread maps a position to an image index). Global batch b of an epoch holds
 * positions [b*G, (b+1)*G), G = nranks*B; rank r takes [b*G + r*B, b*G + (r+1)*B). So 2 ranks x B
 * equal 1 rank x 2B image for image. drop_last: batches_per_epoch = N / G.
 *
 * Determinism: view v of image i in epoch e is a pure function of (seed, e, i, v) and the data:
 * augmentation parameters come from rng_stream(RNG_PURPOSE_AUGMENT, e, i, v). Thread count and
 * timing never change a pixel; loader_seek() resumes bit-identically.
 *
 * Unreadable or corrupt files: skipped, counted and named in a warning (the first 20 by name),
 * never fatal. A skipped image's slot is filled by the next readable image of the dataset order
 * (i + 1, i + 2, ... modulo N), with the views drawn from the skipped image's stream: deterministic
 * given the set of bad files. An empty dataset, or one smaller than a global batch, is an error.
 *
 * Decoding: JPEG regions covering the views' crop boxes only (image_decode_region), at a DCT scale
 * k/8 when every view's crop still covers S x S after scaling by at most one half
 * (augment_min_scale); full-size decodes give torchvision's pixels exactly.
 *
 * Pinned memory: with `pinned` and a CUDA build, the queue's buffers come from cudaHostAlloc
 * (falling back to malloc with a note when that fails); loader_next_borrow() hands out the pinned
 * buffer itself so a trainer can cudaMemcpyAsync from it without a host copy.
 */
#ifndef TDANN_LOADER_H
#define TDANN_LOADER_H

#include <stdint.h>

#include "augment.h"
#include "config.h"

typedef enum { DATA_PROCEDURAL = 0, DATA_FOLDER = 1 } DataKind;

typedef struct {
    int kind;                 /* DataKind ("procedural|folder") */
    char *path;               /* image folder (kind folder) */
    char *index_cache;        /* file-index directory; "" = default (dataset.h), "off" = none */
    int threads;              /* decode threads; 0 = online cores / nranks */
    int queue;                /* batch buffers (prepared ahead + the one being consumed) */
    int64_t max_images;       /* use only the first N images of the folder order (0 = all) */
    int64_t procedural_count; /* images per epoch of the procedural set */
    int procedural_size;      /* their side in pixels; 0 = 1.5 x the output size */
    int64_t procedural_seed;  /* which procedural images (independent of the training seed) */
    int augment_enabled;      /* false: every view = Resize(S) + CenterCrop(S) (evaluation) */
    AugmentConfig augment;    /* augment.* keys, the paper's defaults */
    FloatList mean, std;      /* normalisation for consumers (ImageNet's) */
} DataConfig;

extern const Field DATA_FIELDS[];

/* Fills a DataConfig with the table's defaults (for tests and tools that build one by hand). */
void data_config_default(DataConfig *c);

typedef struct Loader Loader;

/* out_size S; images_per_batch B (per rank); views 1..16; seed: the training seed. Dies (exit 2)
 * on a bad dataset (empty, smaller than a global batch, more than 2^24 images). */
Loader *loader_create(const DataConfig *cfg, int out_size, int images_per_batch, int views, int rank, int nranks,
                      uint64_t seed, int pinned);

/* Copies the next batch into rows [views*B][S][S][3] and labels [B] (labels may be NULL). */
void loader_next(Loader *l, uint8_t *rows, int32_t *labels);

/* The next batch in the loader's own (pinned) buffer, valid until the next call to loader_next,
 * loader_next_borrow, loader_seek or loader_free. */
const uint8_t *loader_next_borrow(Loader *l, int32_t *labels);

/* Position of the batch the next call returns. */
void loader_get_position(const Loader *l, int64_t *epoch, int64_t *batch);
/* Continue from (epoch, batch): the following batches equal those of an uninterrupted run. */
void loader_seek(Loader *l, int64_t epoch, int64_t batch);

int64_t loader_batches_per_epoch(const Loader *l);
int64_t loader_num_images(const Loader *l);     /* N */
int loader_num_classes(const Loader *l);        /* 0 when unlabelled */
int64_t loader_skipped_files(const Loader *l);  /* corrupt/unreadable files met so far */
int loader_threads(const Loader *l);

/* Stops the threads, frees everything; prints a summary warning if files were skipped. */
void loader_free(Loader *l);

/* The image index at position pos of epoch's order (exposed for tests). */
int64_t loader_permute(uint64_t seed, int64_t epoch, int64_t n, int64_t pos);

#endif
