/* import-weights: a ResNet-18 state dict in safetensors format -> checkpoint artifact.
 *
 *   import-weights W.safetensors -o M.h5 [--input-size N] [--task auto|simclr|supervised]
 *
 * Names, dtypes, width inference and head handling: common/weights.h. Nothing is written unless
 * every tensor is recognised and well-shaped.
 */
#include <stddef.h>
#include <stdio.h>

#include "checkpoint.h"
#include "config.h"
#include "error.h"
#include "h5io.h"
#include "weights.h"

typedef struct {
    char *out;
    int task, input_size, proj_dim, num_classes, ignore_unknown;
} Opts;
static Opts o;
static const Field FIELDS[] = {
    {NULL, "output", 'o', F_STRING, offsetof(Opts, out), "", 0, 0, NULL, "M.h5", "checkpoint to write", 1},
    {NULL, "task", 0, F_ENUM, offsetof(Opts, task), "auto", 0, 0, "auto|simclr|supervised", NULL,
     "head to keep: auto = simclr when head.* is present, else supervised when fc.* is, else simclr", 0},
    {NULL, "input-size", 0, F_INT, offsetof(Opts, input_size), "0", 0, 4096, NULL, "PX",
     "input size recorded in the model (0: the file's tdann_input_size metadata, else 224)", 0},
    {NULL, "proj-dim", 0, F_INT, offsetof(Opts, proj_dim), "128", 1, 65536, NULL, "N",
     "embedding size of a SimCLR head the file lacks (initialised randomly)", 0},
    {NULL, "num-classes", 0, F_INT, offsetof(Opts, num_classes), "1000", 1, 1000000, NULL, "N",
     "classes of an fc the file lacks (initialised randomly)", 0},
    {NULL, "ignore-unknown", 0, F_BOOL, offsetof(Opts, ignore_unknown), "false", 0, 0, NULL, NULL,
     "drop tensors that are not part of ResNet-18 instead of failing", 0},
    FIELD_END};

static const ToolSpec SPEC = {
    .purpose = "convert a ResNet-18 state dict (safetensors) to a checkpoint artifact",
    .usage = "import-weights [options] W.safetensors -o M.h5",
    .example = "import-weights resnet18.safetensors -o runs/imported/model.h5 --input-size 224",
    .see_also = "export-weights, extract-activations, train-joint",
    .notes = "Accepts torchvision and timm resnet18 names (identical), the SimCLR head head.0.*/head.2.*,\n"
             "wrapper prefixes module./base_model./model./trunk./_feature_blocks./backbone. (VISSL and the\n"
             "official TDANN checkpoints), VISSL heads heads.0.clf.0/heads.1.clf.0, and Hugging Face\n"
             "transformers ResNet names. The width is conv1.weight's channels / 64. Dtypes F32, F16,\n"
             "BF16, F64 become float32; a missing num_batches_tracked becomes 0. A head the file lacks\n"
             "is initialised randomly from --seed (with a note). From PyTorch:\n"
             "  from safetensors.torch import save_file; save_file(model.state_dict(), 'w.safetensors')\n"
             "Errors (malformed header, unknown dtype, wrong shape, missing tensor) exit 2 and write nothing.",
    .sections = {{NULL, &o, FIELDS}},
    .uses_seed = 1,
    .npos_min = 1, .npos_max = 1, .pos_meta = "W.safetensors",
};

int main(int argc, char **argv) {
    tool_init(argv[0], argc, argv);
    tool_setup(&SPEC, argc, argv);
    if (o.input_size != 0 && o.input_size < 32) die(EXIT_USAGE, "option '--input-size': must be at least 32 (got %d)", o.input_size);
    const char *in = g_run.pos[0];
    ImportOptions io = {o.task - 1, o.input_size, o.proj_dim, o.num_classes, o.ignore_unknown, (uint64_t)g_run.seed};
    Checkpoint ck;
    weights_import(in, &io, &ck);
    prov_add_input(in);
    ckpt_save(o.out, &ck, NULL, NULL);
    char desc[200];
    model_describe(&ck.model, desc, sizeof desc);
    info(0, "wrote '%s': %s", o.out, desc);
    ckpt_free(&ck);
    return 0;
}
