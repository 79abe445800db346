/* train-joint: trains ResNet-18 with SimCLR (or supervised cross-entropy) plus TDANN's spatial loss:
 * Stage 1 (the task-only network, alpha 0) and Stage 3 (the TDANN, alpha 0.25) of the pipeline.
 *
 *   train-joint --config C [--stage stage1|tdann] [--sheet S.h5] [--steps N] [--checkpoint-every N]
 *               [--resume] [--init-only] -o model.h5
 *
 * Reads the config sections `model`, `data` and the stage's own section (`stage1:` or `tdann:`,
 * same keys: common/trainer.h). Writes a checkpoint artifact (common/checkpoint.h) with the training
 * log in /log; intermediate checkpoints go to <model>.ckpt/. Under `mpirun -np K` (or srun) the
 * ranks train data-parallel and rank 0 writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "config.h"
#include "error.h"
#include "loader.h"
#include "model.h"
#include "trainer.h"

typedef struct {
    char *out;
    int resume, init_only;
    int stage; /* 0 stage1, 1 tdann */
} Cli;

static Cli cli;
static ModelConfig mc;
static DataConfig dc;
static TrainConfig tc;

static const Field CLI_FIELDS[] = {
    {NULL, "output", 'o', F_STRING, offsetof(Cli, out), "", 0, 0, NULL, "MODEL.h5", "the trained model (a checkpoint artifact)", 1},
    {NULL, "stage", 0, F_ENUM, offsetof(Cli, stage), "stage1", 0, 0, "stage1|tdann", NULL, "which config section to train with (stage1: task only; tdann: Stage 3)", 0},
    {NULL, "resume", 0, F_BOOL, offsetof(Cli, resume), "false", 0, 0, NULL, NULL, "continue from the newest complete checkpoint in MODEL.ckpt/ (from step 0 when there is none)", 0},
    {NULL, "init-only", 0, F_BOOL, offsetof(Cli, init_only), "false", 0, 0, NULL, NULL, "write the randomly initialised model without training (the 'unoptimized' control)", 0},
    FIELD_END};

/* --stage decides which section the table reads, so it is looked up before tool_setup. */
static const char *prescan_stage(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "--stage") == 0 && i + 1 < argc) return argv[i + 1];
        if (strncmp(argv[i], "--stage=", 8) == 0) return argv[i] + 8;
    }
    return "stage1";
}

int main(int argc, char **argv) {
    tool_init(argv[0], argc, argv);
    const char *stage = prescan_stage(argc, argv);
    if (strcmp(stage, "tdann") != 0) stage = "stage1"; /* a bad value is reported by tool_setup */
    ToolSpec spec = {
        .purpose = "train ResNet-18 with SimCLR (or supervised) plus the TDANN spatial loss",
        .usage = "train-joint --config C.yaml [--stage stage1|tdann] [--sheet S.h5] [--steps N] [--resume] -o MODEL.h5",
        .example = "train-joint --config configs/default.yaml --stage tdann --sheet runs/default/sheet.h5 -o runs/default/tdann/model.h5",
        .see_also = "make-sheet, swapopt, extract-activations, make-maps, h5-compare",
        .notes =
            "Sections: model, data, and the stage's own (stage1: alpha 0 by default; tdann: alpha 0.25); both take the\n"
            "keys listed above under stage1.*. loss = task + sum over the 8 layers of alpha * SL, SL on one random\n"
            "neighbourhood of the sheet per layer, step and rank; lr = base_lr * batch_size / 256, cosine to 0 per step.\n"
            "Checkpoints: MODEL.ckpt/step-N.h5 every checkpoint_every steps; the final model is MODEL.h5 (with the\n"
            "training log in /log). SIGINT/SIGTERM write a checkpoint and exit 1; --resume continues bit-identically\n"
            "on the CPU. A NaN or Inf loss stops with exit 1, naming the step and the layer.\n"
            "Data parallel: mpirun -np K train-joint ... (batch_size is the global batch; rank 0 writes).",
        .sections = {{"model", &mc, MODEL_FIELDS}, {"data", &dc, DATA_FIELDS}, {stage, &tc, train_fields(stage)}, {NULL, &cli, CLI_FIELDS}},
        .computes = 1,
        .uses_seed = 1,
    };
    tool_setup(&spec, argc, argv);
    if ((cli.stage == 1) != (strcmp(stage, "tdann") == 0)) die(EXIT_USAGE, "internal: stage prescan disagrees");
    Comm *comm = comm_world(&argc, &argv);
    TrainerArgs a = {.stage = stage, .out = cli.out, .resume = cli.resume, .init_only = cli.init_only,
                     .model = &mc, .data = &dc, .train = &tc, .comm = comm};
    int rc = trainer_run(&a);
    comm->finalize(comm);
    return rc;
}
