/* swapopt-merge: combine per-layer swapopt outputs into one sheet.
 *
 *   swapopt-merge -o SHEET.h5 PART.h5...
 *
 * Every part is a complete sheet written by swapopt from the same input sheet (root attribute
 * swapopt_source, the input's content hash). Each layer is taken from the part that optimised it;
 * a layer optimised in two parts is an error; a layer optimised in none is copied from the first
 * part (with a warning). The merged file equals a single swapopt run over all those layers with
 * the same seed and config, because every layer's random streams are keyed by the layer alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "h5io.h"
#include "sheet.h"
#include "util.h"

typedef struct { char *out; } Opts;
static Opts o;
static const Field FIELDS[] = {
    {NULL, "output", 'o', F_STRING, offsetof(Opts, out), "", 0, 0, NULL, "FILE", "the merged sheet to write", 1},
    FIELD_END};

static const ToolSpec SPEC = {
    .purpose = "combine per-layer swapopt outputs into one sheet",
    .usage = "swapopt-merge [options] -o SHEET.h5 PART.h5...",
    .example = "swapopt-merge -o runs/paper/sheet.h5 runs/paper/swapopt/layer*.h5",
    .see_also = "swapopt, make-sheet",
    .notes = "Each layer comes from the part whose swapopt optimised it (layer attribute swapopt_attempts);\n"
             "parts must come from the same input sheet. Exit status 2 when two parts optimised the same layer.",
    .sections = {{NULL, &o, FIELDS}},
    .npos_min = 1, .npos_max = 4096, .pos_meta = "one or more swapopt outputs",
};

int main(int argc, char **argv) {
    tool_init(argv[0], argc, argv);
    tool_setup(&SPEC, argc, argv);
    const int np = g_run.npos;
    hid_t *f = xmalloc(sizeof(hid_t) * (size_t)np);
    char *source = NULL;
    int from[N_LAYERS];
    for (int l = 0; l < N_LAYERS; l++) from[l] = -1;
    for (int i = 0; i < np; i++) {
        f[i] = sheet_open(g_run.pos[i]);
        char *src = h5_attr_get_str(f[i], ".", "swapopt_source");
        if (!src) die(EXIT_USAGE, "not a swapopt output (no 'swapopt_source' attribute) '%s'", g_run.pos[i]);
        if (!source) source = src;
        else if (strcmp(source, src) != 0) {
            hint_next("every part must be optimised from the same make-sheet output");
            die(EXIT_USAGE, "'%s' was optimised from a different sheet than '%s'", g_run.pos[i], g_run.pos[0]);
        } else free(src);
        for (int l = 0; l < N_LAYERS; l++) {
            if (!sheet_has_layer(f[i], l)) continue;
            SheetLayer *L = sheet_read_layer(f[i], l, 0);
            if (L->swapped) {
                if (from[l] >= 0)
                    die(EXIT_USAGE, "layer %s was optimised in both '%s' and '%s'", LAYER_NAMES[l], g_run.pos[from[l]], g_run.pos[i]);
                from[l] = i;
            }
            sheet_layer_free(L);
        }
    }
    H5Out *out = h5out_create(o.out, "sheet", SHEET_SCHEMA);
    int64_t iv;
    double dv;
    if (h5_attr_get_i64(f[0], ".", "input_size", &iv) == 0) h5_attr_i64(out->file, ".", "input_size", iv);
    if (h5_attr_get_f64(f[0], ".", "width", &dv) == 0) h5_attr_f64(out->file, ".", "width", dv);
    h5_attr_str(out->file, ".", "swapopt_source", source);
    for (int l = 0; l < N_LAYERS; l++) {
        int i = from[l] >= 0 ? from[l] : 0;
        if (!sheet_has_layer(f[i], l)) continue;
        if (from[l] < 0) warn("layer %s was not optimised in any part; copied from '%s'", LAYER_NAMES[l], g_run.pos[0]);
        SheetLayer *L = sheet_read_layer(f[i], l, 0);
        sheet_copy_layer(f[i], out->file, l);
        if (L->swapped)
            printf("%-9s from %s: loss %.6f -> %.6f, %lld of %lld attempts accepted\n", LAYER_NAMES[l], g_run.pos[i],
                   L->loss_before, L->loss_after, (long long)L->accepted, (long long)L->attempts);
        sheet_layer_free(L);
    }
    for (int i = 0; i < np; i++) h5_close_file(f[i]);
    h5out_commit(out);
    free(source);
    free(f);
    return 0;
}
