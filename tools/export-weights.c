/* export-weights: checkpoint artifact -> safetensors state dict for torchvision's resnet18.
 *
 *   export-weights M.h5 -o W.safetensors [--fc zeros|omit] [--head drop|keep]
 *
 * Tensor order, dtypes and metadata: common/weights.h.
 */
#include <stddef.h>
#include <stdio.h>

#include "checkpoint.h"
#include "config.h"
#include "error.h"
#include "weights.h"

typedef struct {
    char *out;
    int fc, head, num_classes;
} Opts;
static Opts o;
static const Field FIELDS[] = {
    {NULL, "output", 'o', F_STRING, offsetof(Opts, out), "", 0, 0, NULL, "W.safetensors", "file to write", 1},
    {NULL, "fc", 0, F_ENUM, offsetof(Opts, fc), "zeros", 0, 0, "zeros|omit", NULL,
     "for a model without a classifier (SimCLR): write an all-zero fc, or none", 0},
    {NULL, "head", 0, F_ENUM, offsetof(Opts, head), "drop", 0, 0, "drop|keep", NULL,
     "also write the SimCLR head as head.0.*, head.2.* (keep), or not", 0},
    {NULL, "num-classes", 0, F_INT, offsetof(Opts, num_classes), "1000", 1, 1000000, NULL, "N", "rows of the zero fc", 0},
    FIELD_END};

static const ToolSpec SPEC = {
    .purpose = "write a checkpoint's ResNet-18 as a safetensors state dict for PyTorch",
    .usage = "export-weights [options] M.h5 -o W.safetensors",
    .example = "export-weights runs/default/tdann/model.h5 -o tdann_resnet18.safetensors",
    .see_also = "import-weights, artifact-info",
    .notes = "Tensors use torchvision's names and state_dict order, float32 (num_batches_tracked int64).\n"
             "The absent fc of a SimCLR model: --fc zeros (default) writes fc.weight and fc.bias of zeros\n"
             "(meaningless logits, but a strict load works); --fc omit leaves them out: load with\n"
             "strict=False. --head keep adds the SimCLR head (unexpected keys: again strict=False).\n"
             "  import torchvision; from safetensors.torch import load_file\n"
             "  m = torchvision.models.resnet18(); m.load_state_dict(load_file('W.safetensors'))\n"
             "Width 1 matches torchvision.models.resnet18(); other widths need a ResNet-18 built with\n"
             "64w, 128w, 256w, 512w channels. Supervised models export their own fc.",
    .sections = {{NULL, &o, FIELDS}},
    .npos_min = 1, .npos_max = 1, .pos_meta = "M.h5",
};

int main(int argc, char **argv) {
    tool_init(argv[0], argc, argv);
    tool_setup(&SPEC, argc, argv);
    Checkpoint ck;
    ckpt_load(g_run.pos[0], &ck, 0);
    ExportOptions eo = {o.fc, o.head, o.num_classes};
    int n = weights_export(&ck, &eo, o.out);
    char desc[200];
    model_describe(&ck.model, desc, sizeof desc);
    info(0, "wrote '%s': %d tensors, %s", o.out, n, desc);
    ckpt_free(&ck);
    return 0;
}
