/* weights.h: moving ResNet-18 weights between safetensors files (PyTorch's world) and checkpoint
 * artifacts (checkpoint.h). Used by import-weights and export-weights.
 *
 * Tensor names. The canonical names are torchvision's resnet18 state_dict names (conv1.weight,
 * bn1.running_mean, layer2.0.downsample.1.weight, fc.bias, ...) plus the SimCLR head head.0.*,
 * head.2.* (model.h). timm's resnet18 uses exactly these names. Also recognised on import:
 * - wrapper prefixes, stripped (repeatedly): module. base_model. model. trunk. _feature_blocks.
 *   backbone.  (DataParallel, VISSL trunks, the official TDANN checkpoints flattened to
 *   safetensors: "trunk._feature_blocks.layer1.0.conv1.weight" -> "layer1.0.conv1.weight");
 * - VISSL's MLP heads: heads.0.clf.0.* -> head.0.*, heads.1.clf.0.* -> head.2.*;
 * - Hugging Face transformers' ResNet (microsoft/resnet-18): resnet.embedder.embedder.
 *   {convolution,normalization} -> conv1 / bn1; resnet.encoder.stages.S.layers.B.layer.L.
 *   {convolution,normalization} -> layer{S+1}.B.conv{L+1} / bn{L+1}; ...shortcut.{convolution,
 *   normalization} -> downsample.0 / downsample.1; classifier.1 -> fc.
 *
 * Import: the width is conv1.weight's output channels / 64; every other tensor must then have
 * exactly the shape of that width's ResNet-18. Float dtypes F32, F16, BF16, F64 become float32;
 * num_batches_tracked (I64 or I32) may be absent (then 0). The task head: task auto picks simclr
 * when head.* tensors are present, else supervised when fc.* is, else simclr. A head the file
 * does not hold is initialised as PyTorch does (seeded), with a note on stderr; tensors of the
 * other task's head are ignored with a note. Anything else unrecognised is an error unless
 * ignore_unknown. Every error is one line naming the tensor and the file (exit 2), raised before
 * anything is written.
 *
 * Export: F32 tensors (num_batches_tracked I64, shape []) in torchvision's state_dict order, and
 * __metadata__ {"format": "pt", "tdann_input_size": "<S>", "tdann_width": "<w>"}; import reads
 * tdann_input_size back when no input size is given, so import -> export -> import is bit-exact.
 */
#ifndef TDANN_WEIGHTS_H
#define TDANN_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"

/* Maps a tensor name from any recognised convention to the canonical one (out, size n). */
void weights_canonical_name(const char *in, char *out, size_t n);

typedef struct {
    int task;            /* -1 auto, TASK_SIMCLR, TASK_SUPERVISED */
    int input_size;      /* 0: the file's tdann_input_size metadata, else 224 */
    int proj_dim;        /* size of a freshly initialised SimCLR head */
    int num_classes;     /* size of a freshly initialised fc */
    int ignore_unknown;  /* drop unrecognised tensors instead of failing */
    uint64_t seed;       /* for freshly initialised heads */
} ImportOptions;

/* Reads a safetensors file into ck (allocated here; free with ckpt_free). */
void weights_import(const char *path, const ImportOptions *o, Checkpoint *ck);

typedef enum { FC_ZEROS = 0, FC_OMIT = 1 } FcMode;
typedef struct {
    int fc;              /* FcMode, for models without a supervised fc */
    int keep_head;       /* also write head.* (load with strict=False) */
    int num_classes;     /* rows of the zero fc */
} ExportOptions;

/* Writes ck's network as a safetensors file (atomically). Returns the number of tensors. */
int weights_export(const Checkpoint *ck, const ExportOptions *o, const char *path);

#endif
