/* checkpoint.h: the checkpoint artifact (kind "checkpoint", schema 1): a model's weights, BN
 * statistics, optimizer state and training position in one HDF5 file.
 *
 * Layout (names are torchvision's, shapes those of model.h; float32 unless said):
 *   root attrs   width (f64), input_size, proj_dim, num_classes (int64), task ("simclr" |
 *                "supervised"), and `complete` = 1 (int64), written last
 *   /params/<name>              trunk parameters (OIHW convs) and, for task supervised, fc.*
 *   /head/<name>                SimCLR head: head.0.weight (F,F), head.0.bias, head.2.weight
 *                               (proj_dim,F), head.2.bias
 *   /buffers/<bn>.running_mean, /buffers/<bn>.running_var   (C)
 *   /buffers/<bn>.num_batches_tracked                       int64 scalar (as in a state_dict)
 *   /optimizer/momentum/<name>  SGD momentum of every parameter (same shapes); optional
 *   /state/step, /state/epoch   int64 scalars;  /state/lr  f64 scalar
 *   /state/data_position        int64 (K) opaque to this module (the data loader's position)
 *   /state/rng                  int64 (K) opaque (RNG state the trainer needs to resume)
 * A caller may add more groups (e.g. the training /log) through the `extra` callback, which runs
 * after everything above and before `complete` is set. The file is written to "<path>.tmp" and
 * renamed by h5out_commit, so a checkpoint at its final path is always whole; `complete` guards
 * files copied by other means.
 *
 * Loading rebuilds the ModelConfig from the root attributes, checks that every tensor the model
 * needs exists with the right shape and that no unexpected one is present, and refuses a file
 * without complete = 1. Every problem is one line naming the tensor and the file (exit 2).
 */
#ifndef TDANN_CHECKPOINT_H
#define TDANN_CHECKPOINT_H

#include <hdf5.h>
#include <stdint.h>

#include "model.h"

#define CKPT_KIND "checkpoint"
#define CKPT_SCHEMA 1

typedef struct {
    Model model;              /* tables of the stored config */
    float *params;            /* [model.params_numel] canonical order (model.h) */
    float *bufs;              /* [model.bufs_numel] running_mean / running_var */
    int64_t *num_batches;     /* [model.nbn] */
    float *momentum;          /* [model.params_numel], or NULL: no optimizer state */
    int64_t step, epoch;
    double lr;
    int n_data_position;
    int64_t *data_position;   /* [n_data_position], may be NULL when 0 */
    int n_rng;
    int64_t *rng;             /* [n_rng], may be NULL when 0 */
} Checkpoint;

/* Builds the model tables for cfg and allocates params, bufs, num_batches (zeroed); momentum,
 * data_position and rng stay NULL; step = epoch = 0, lr = 0. */
void ckpt_alloc(Checkpoint *ck, const ModelConfig *cfg);
void ckpt_free(Checkpoint *ck);

typedef void (*CkptExtraFn)(hid_t file, void *ctx);

/* Writes the checkpoint atomically (h5out_create / h5out_commit, provenance included). extra may
 * be NULL. */
void ckpt_save(const char *path, const Checkpoint *ck, CkptExtraFn extra, void *ctx);

enum { CKPT_LOAD_OPTIMIZER = 1 }; /* also read /optimizer/momentum when the file has it */

/* Loads a checkpoint (dies with exit 2 on anything missing, mis-shaped or incomplete). */
void ckpt_load(const char *path, Checkpoint *ck, int flags);

/* Reads only the model config of an open checkpoint file (exit 2 on bad attributes). */
void ckpt_read_config(hid_t f, const char *path, ModelConfig *cfg);

/* 0 when a and b describe the same network; else 1 and a short description of the first
 * difference ("width 0.25 vs 0.5") in why. */
int ckpt_config_differs(const ModelConfig *a, const ModelConfig *b, char *why, size_t n);

/* The complete checkpoint with the largest /state/step among the files matching a glob pattern
 * (ties: the newest file); files that are not complete checkpoints are skipped (with a note at
 * --verbose). Returns a heap string, or NULL when none qualifies. */
char *ckpt_find_latest(const char *pattern);

#endif
