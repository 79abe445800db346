/* make-sheet: retinotopic unit positions and neighbourhoods for the 8 ResNet-18 block outputs.
 *
 *   make-sheet --config C.yaml -o sheet.h5
 *
 * Reads the `model:` section (input size and width multiplier give every layer's C x H x W) and
 * the `sheet:` section (sides, overlaps, jitter, neighbourhood rule, analysis scales); writes the
 * sheet artifact described in common/sheet.h. Deterministic for a seed.
 */
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "error.h"
#include "h5io.h"
#include "model.h"
#include "sheet.h"
#include "util.h"

typedef struct { char *out; } Opts;
static Opts o;
static ModelConfig mc;
static SheetConfig sc;
static const Field FIELDS[] = {
    {NULL, "output", 'o', F_STRING, offsetof(Opts, out), "", 0, 0, NULL, "FILE", "the sheet artifact to write", 1},
    FIELD_END};

static const ToolSpec SPEC = {
    .purpose = "retinotopic cortical-sheet positions and neighbourhoods for the 8 ResNet-18 layers",
    .usage = "make-sheet [options] --config C.yaml -o SHEET.h5",
    .example = "make-sheet --config configs/paper.yaml -o runs/paper/sheet_init.h5",
    .see_also = "swapopt, swapopt-merge, artifact-info",
    .notes = "Positions are mm at training scale (x follows the feature-map column, y the row); multiply by a\n"
             "layer's analysis_scale attribute for human-scale analyses. Each layer's neighbourhood width is\n"
             "one hypercolumn width S / (n - n*o + o) unless sheet.neighborhood_width_mm overrides it; K =\n"
             "min(max(percentile of window sizes, k_min), k_max) and every kept neighbourhood has exactly K units.",
    .sections = {{NULL, &o, FIELDS}, {"model", &mc, MODEL_FIELDS}, {"sheet", &sc, SHEET_FIELDS}},
    .uses_seed = 1,
    .npos_min = 0, .npos_max = 0,
};

int main(int argc, char **argv) {
    tool_init(argv[0], argc, argv);
    tool_setup(&SPEC, argc, argv);
    sheet_config_check(&sc);
    if (*g_run.config_path) prov_add_input(g_run.config_path);
    Model m;
    model_init(&m, &mc);
    char desc[256];
    model_describe(&m, desc, sizeof desc);
    info(1, "%s", desc);
    H5Out *out = h5out_create(o.out, "sheet", SHEET_SCHEMA);
    h5_attr_i64(out->file, ".", "input_size", mc.input_size);
    h5_attr_f64(out->file, ".", "width", mc.width);
    for (int l = 0; l < N_LAYERS; l++) {
        SheetLayer *L = sheet_build_layer(&sc, l, m.layer_c[l], m.layer_h[l], m.layer_w[l], (uint64_t)g_run.seed);
        printf("%-9s %4lldx%3lldx%-3lld %7lld units  sheet %6.3f mm  hypercolumn %.4f mm  neighbourhoods %lld x K=%lld\n",
               LAYER_NAMES[l], (long long)L->dims[0], (long long)L->dims[1], (long long)L->dims[2], (long long)L->units,
               L->sheet_mm, L->neighborhood_width_mm, (long long)L->n_nb, (long long)L->k);
        sheet_write_layer(out->file, L);
        sheet_layer_free(L);
    }
    h5out_commit(out);
    model_free(&m);
    return 0;
}
