/* train_log.h: the training log that train-joint keeps in memory and stores in every checkpoint
 * (contracts: /log inside the checkpoint file; make-maps plots it).
 *
 * Per training step s (0-based; one row per step actually taken):
 *   /log/step int64 (S)            /log/task_loss f64 (S)      /log/spatial_loss f64 (S,8)
 *   /log/total_loss f64 (S)        /log/lr f64 (S)             /log/images_per_s f64 (S)
 * spatial_loss is the unweighted SL of each layer (layer1.0 .. layer4.1), NaN where a layer had no
 * term; with several ranks every value is the mean over ranks.
 * Held-out evaluation (a fixed held-out batch in eval mode, the mean SL over a fixed set of
 * neighbourhoods per layer), after heldout_step steps (0 = before training):
 *   /log/heldout_step int64 (S')   /log/heldout_spatial_loss f64 (S',8)
 */
#ifndef TDANN_TRAIN_LOG_H
#define TDANN_TRAIN_LOG_H

#include <hdf5.h>
#include <stdint.h>

#include "util.h"

typedef struct {
    int64_t n, cap;
    int64_t *step;
    double *task, *spatial, *total, *lr, *images_per_s; /* spatial: [n][N_LAYERS] */
    int64_t nh, hcap;
    int64_t *hstep;
    double *hspatial; /* [nh][N_LAYERS] */
} TrainLog;

void train_log_init(TrainLog *l);
void train_log_free(TrainLog *l);
void train_log_append(TrainLog *l, int64_t step, double task, const double spatial[N_LAYERS], double total,
                      double lr, double images_per_s);
void train_log_append_heldout(TrainLog *l, int64_t step, const double spatial[N_LAYERS]);
/* Writes the group "log" under loc (the checkpoint file's root). */
void train_log_write(const TrainLog *l, hid_t loc);
/* Reads /log from loc (replacing l's contents), keeping only training rows with step < upto and
 * held-out rows with heldout_step <= upto. A file without /log gives an empty log. */
void train_log_read(TrainLog *l, hid_t loc, int64_t upto);

#endif
