/* trainer.h: joint training of ResNet-18 on the task objective plus TDANN's spatial loss
 * (tdann-algorithm.md sections 4 and 5): the loop behind train-joint, its config section and the
 * small pure pieces the tests check.
 *
 * One config table (TRAIN_FIELDS) serves both stage sections: `stage1:` (the task-only network,
 * alpha 0 by default) and `tdann:` (Stage 3, alpha 0.25 by default); train-joint --stage picks the
 * section, so editing `tdann:` reruns only Stage 3.
 *
 * Step s (0-based) of T: one global batch of batch_size images (2 augmented views each for SimCLR,
 * 1 for supervised) split evenly over the ranks; lr_s = base_lr * batch_size / 256 *
 * 0.5 * (1 + cos(pi * s / T)); loss = task + sum_l alpha_l * SL_l, where each rank draws, per layer,
 * one precomputed neighbourhood p = trainer_pick_neighborhood(seed, s, l, rank, P) and computes
 * SL on its own rows (the official per-replica rule, tdann-algorithm.md section 9 item 6).
 * Seeds: seed = run seed + seed_offset drives the initial weights (RNG_PURPOSE_INIT), the data
 * (loader), the neighbourhood draws (RNG_PURPOSE_NEIGHBORHOOD) and the held-out batch.
 */
#ifndef TDANN_TRAINER_H
#define TDANN_TRAINER_H

#include <stdint.h>

#include "comm.h"
#include "config.h"
#include "engine.h"
#include "model.h"

typedef enum { NESTEROV_AUTO = 0, NESTEROV_ON = 1, NESTEROV_OFF = 2 } NesterovMode;

typedef struct {
    int batch_size;            /* images per step, all ranks together */
    int64_t steps;             /* > 0: number of steps; 0: from epochs */
    double epochs;             /* used when steps == 0; both 0: initialisation only */
    float base_lr;             /* per 256 images */
    float momentum;
    int nesterov;              /* NesterovMode; auto: on for supervised, off for SimCLR */
    float weight_decay;        /* not on BN weight/bias */
    float temperature;         /* NT-Xent */
    FloatList alpha;           /* 1 value (every layer) or 8 (layer1.0 .. layer4.1) */
    int spatial;               /* SpatialKind: rel | abs */
    char *sheet;               /* positions + neighbourhoods (sheet artifact) */
    int64_t checkpoint_every;  /* steps; 0: only at the end (and on a signal) */
    int keep_checkpoints;      /* intermediate checkpoints kept (the newest) */
    int64_t eval_every;        /* held-out spatial loss every N steps (and at 0 and the end); 0: never */
    int eval_images;           /* held-out batch size */
    int eval_neighborhoods;    /* neighbourhoods per layer averaged in the held-out evaluation */
    char *heldout_path;        /* image folder for the held-out batch (folder data; "" = training folder) */
    int seed_offset;           /* added to the run seed */
    int threads;               /* CPU threads per rank; 0: cores / ranks on this node */
    int precision;             /* Precision (CUDA engine) */
    int deterministic;         /* CUDA: deterministic algorithms only */
} TrainConfig;

/* The Field table of a stage section; alpha's default depends on the stage ("stage1" or "tdann"). */
const Field *train_fields(const char *stage);

/* Per-layer alpha from the config list (1 or 8 values); dies (exit 2) otherwise. */
void train_alphas(const TrainConfig *tc, const char *section, float alpha[N_LAYERS]);

/* lr of step s out of T (cosine to 0, per step; T <= 0: constant). */
double train_lr(const TrainConfig *tc, int64_t step, int64_t total);

/* Index in [0, P) of the neighbourhood used by `rank` for `layer` at `step`: a pure function of
 * (seed, step, layer, rank) (Philox stream RNG_PURPOSE_NEIGHBORHOOD, layer, step mod 2^24, rank). */
int64_t trainer_pick_neighborhood(uint64_t seed, int64_t step, int layer, int rank, int64_t P);
/* The fixed neighbourhoods of the held-out evaluation: j-th of layer `layer` (independent of step
 * and rank). */
int64_t trainer_heldout_neighborhood(uint64_t seed, int layer, int j, int64_t P);

/* NULL when the losses are finite (spatial only where active[l], i.e. the layer had a term); else
 * a message naming what diverged, layers first: "spatial loss of layer2.0 is nan", "task loss is
 * inf" (static buffer). */
const char *trainer_check_finite(const LossValues *v, const int active[N_LAYERS]);

typedef struct {
    const char *stage;         /* section name: "stage1" or "tdann" */
    const char *out;           /* final checkpoint path */
    int resume, init_only;
    const ModelConfig *model;
    const void *data;          /* DataConfig (loader.h) */
    const TrainConfig *train;
    Comm *comm;
} TrainerArgs;

/* Trains (or, with 0 steps, only initialises) and writes args->out; exit status for main. */
int trainer_run(const TrainerArgs *args);

#endif
