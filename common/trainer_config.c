/* trainer_config.c: the stage section's Field table and the small pure helpers of trainer.h. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "rng.h"
#include "trainer.h"

#define OFF(m) offsetof(TrainConfig, m)

static const Field FIELDS[] = {
    {"batch_size", "batch-size", 0, F_INT, OFF(batch_size), "512", 2, 1 << 24, NULL, "N", "images per step over all ranks (SimCLR: 2 views each)", 0},
    {"steps", "steps", 0, F_INT64, OFF(steps), "0", 0, 1e15, NULL, "N", "training steps (0: from epochs)", 0},
    {"epochs", "epochs", 0, F_DOUBLE, OFF(epochs), "200", 0, 1e6, NULL, "X", "passes over the data when steps is 0 (steps and epochs 0: initialise only)", 0},
    {"base_lr", "base-lr", 0, F_FLOAT, OFF(base_lr), "0.3", 0, 1e30, NULL, "X", "learning rate per 256 images (scaled by batch_size/256), cosine decay to 0 per step", 0},
    {"momentum", NULL, 0, F_FLOAT, OFF(momentum), "0.9", 0, 1, NULL, NULL, "SGD momentum", 0},
    {"nesterov", NULL, 0, F_ENUM, OFF(nesterov), "auto", 0, 0, "auto|on|off", NULL, "Nesterov momentum (auto: on for supervised, off for SimCLR)", 0},
    {"weight_decay", NULL, 0, F_FLOAT, OFF(weight_decay), "1e-6", 0, 1, NULL, NULL, "weight decay (not on BN weight/bias)", 0},
    {"temperature", NULL, 0, F_FLOAT, OFF(temperature), "0.1", 1e-4, 100, NULL, NULL, "NT-Xent temperature", 0},
    {"alpha", "alpha", 0, F_FLOAT_LIST, OFF(alpha), "0", 0, 1e6, NULL, "A[,A..]", "spatial-loss weight: one value for every layer or 8 (layer1.0 .. layer4.1)", 0},
    {"spatial", "spatial", 0, F_ENUM, OFF(spatial), "rel", 0, 0, "rel|abs", NULL, "spatial loss: rel = (1 - r)/2 (TDANN), abs = mean |R - D| (Lee et al.)", 0},
    {"sheet", "sheet", 0, F_STRING, OFF(sheet), "", 0, 0, NULL, "S.h5", "sheet artifact (positions + neighbourhoods); needed when alpha > 0, optional (held-out evaluation) otherwise", 0},
    {"checkpoint_every", "checkpoint-every", 0, F_INT64, OFF(checkpoint_every), "1000", 0, 1e15, NULL, "N", "write a checkpoint every N steps (0: only at the end)", 0},
    {"keep_checkpoints", NULL, 0, F_INT, OFF(keep_checkpoints), "2", 1, 1000000, NULL, NULL, "intermediate checkpoints kept (the newest)", 0},
    {"eval_every", "eval-every", 0, F_INT64, OFF(eval_every), "1000", 0, 1e15, NULL, "N", "held-out spatial loss every N steps, at the start and at the end (0: never; needs a sheet)", 0},
    {"eval_images", NULL, 0, F_INT, OFF(eval_images), "256", 2, 1 << 20, NULL, NULL, "held-out images (one fixed batch, eval mode)", 0},
    {"eval_neighborhoods", NULL, 0, F_INT, OFF(eval_neighborhoods), "10", 1, 100000, NULL, NULL, "fixed neighbourhoods per layer in the held-out evaluation", 0},
    {"heldout_path", NULL, 0, F_STRING, OFF(heldout_path), "", 0, 0, NULL, NULL, "image folder of the held-out batch for folder data (procedural data: images of another procedural seed)", 0},
    {"seed_offset", NULL, 0, F_INT, OFF(seed_offset), "0", 0, 1 << 30, NULL, NULL, "added to the run seed (weights, data order, augmentation, neighbourhoods)", 0},
    {"threads", "threads", 0, F_INT, OFF(threads), "0", 0, 4096, NULL, "N", "CPU threads per rank (0: the cores of this node divided among its ranks)", 0},
    {"precision", NULL, 0, F_ENUM, OFF(precision), "bf16", 0, 0, "bf16|fp32", NULL, "CUDA engine storage precision (the CPU engine is always fp32)", 0},
    {"deterministic", NULL, 0, F_BOOL, OFF(deterministic), "false", 0, 0, NULL, NULL, "CUDA: deterministic algorithms only", 0},
    FIELD_END};

const Field *train_fields(const char *stage) {
    static Field tdann[sizeof FIELDS / sizeof FIELDS[0]];
    if (strcmp(stage, "tdann") != 0) return FIELDS;
    memcpy(tdann, FIELDS, sizeof FIELDS);
    for (Field *f = tdann; f->key || f->flag; f++)
        if (f->key && strcmp(f->key, "alpha") == 0) f->def = "0.25";
    return tdann;
}

void train_alphas(const TrainConfig *tc, const char *section, float alpha[N_LAYERS]) {
    if (tc->alpha.n == 1) {
        for (int l = 0; l < N_LAYERS; l++) alpha[l] = tc->alpha.v[0];
    } else if (tc->alpha.n == N_LAYERS) {
        for (int l = 0; l < N_LAYERS; l++) alpha[l] = tc->alpha.v[l];
    } else {
        die(EXIT_USAGE, "%s.alpha needs 1 or %d values (layer1.0 .. layer4.1), got %d", section, N_LAYERS, tc->alpha.n);
    }
}

double train_lr(const TrainConfig *tc, int64_t step, int64_t total) {
    double base = (double)tc->base_lr * (double)tc->batch_size / 256.0;
    if (total <= 0) return base;
    if (step >= total) return 0;
    return base * 0.5 * (1.0 + cos(M_PI * (double)step / (double)total));
}

int64_t trainer_pick_neighborhood(uint64_t seed, int64_t step, int layer, int rank, int64_t P) {
    Rng r;
    rng_init(&r, seed, rng_stream(RNG_PURPOSE_NEIGHBORHOOD, (uint32_t)layer, (uint32_t)step, (uint32_t)rank));
    return (int64_t)rng_below(&r, (uint32_t)P);
}

int64_t trainer_heldout_neighborhood(uint64_t seed, int layer, int j, int64_t P) {
    /* a = layer + 256 keeps these streams apart from the training draws */
    Rng r;
    rng_init(&r, seed, rng_stream(RNG_PURPOSE_NEIGHBORHOOD, 256u + (uint32_t)layer, (uint32_t)j, 0xFFFFu));
    return (int64_t)rng_below(&r, (uint32_t)P);
}

const char *trainer_check_finite(const LossValues *v, const int active[N_LAYERS]) {
    static char msg[128];
    for (int l = 0; l < N_LAYERS; l++)
        if (active[l] && !isfinite(v->spatial[l])) {
            snprintf(msg, sizeof msg, "spatial loss of %s is %s", LAYER_NAMES[l], isnan(v->spatial[l]) ? "nan" : "inf");
            return msg;
        }
    if (!isfinite(v->task)) {
        snprintf(msg, sizeof msg, "task loss is %s", isnan(v->task) ? "nan" : "inf");
        return msg;
    }
    if (!isfinite(v->total)) {
        snprintf(msg, sizeof msg, "total loss is %s", isnan(v->total) ? "nan" : "inf");
        return msg;
    }
    return NULL;
}
