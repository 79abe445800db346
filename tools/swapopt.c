/* swapopt: SwapOpt (Stage 2): swap unit positions so that correlated units sit close together.
 *
 *   swapopt --sheet SHEET.h5 --activations ACTS.h5 [--layers L] [--attempts N] -o OUT.h5
 *
 * Reads the sheet (make-sheet) and the grating responses of the stage-1 network
 * (extract-activations, /layers/<layer> as (N,C,H,W)); optimises the selected layers, recomputes
 * their neighbourhoods with the sheet's own rule, and writes a complete sheet (unselected layers
 * copied unchanged). Per optimised layer the loss before/after and the acceptance counts are
 * printed and stored as layer attributes. One layer per job: run with --layers layerX.Y per job
 * and combine the outputs with swapopt-merge. Algorithm and determinism: kernels/swapopt.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "device.h"
#include "error.h"
#include "h5io.h"
#include "progress.h"
#include "sheet.h"
#include "swapopt.h"
#include "util.h"

#define ACTIVATIONS_MAX_SCHEMA 1

typedef struct { char *sheet, *acts, *out; } Opts;
static Opts o;
static SwapoptConfig sc;
static const Field FIELDS[] = {
    {NULL, "sheet", 0, F_STRING, offsetof(Opts, sheet), "", 0, 0, NULL, "FILE", "input sheet (make-sheet)", 1},
    {NULL, "activations", 0, F_STRING, offsetof(Opts, acts), "", 0, 0, NULL, "FILE",
     "grating responses of the stage-1 network (extract-activations)", 1},
    {NULL, "output", 'o', F_STRING, offsetof(Opts, out), "", 0, 0, NULL, "FILE", "the optimised sheet to write", 1},
    FIELD_END};

static const ToolSpec SPEC = {
    .purpose = "SwapOpt: greedy position swaps that bring correlated units together (Stage 2)",
    .usage = "swapopt [options] --sheet SHEET.h5 --activations ACTS.h5 -o OUT.h5",
    .example = "swapopt --config configs/paper.yaml --sheet sheet_init.h5 --activations stage1/acts_gratings.h5 --layers layer4.1 -o sheet.layer4.1.h5",
    .see_also = "make-sheet, swapopt-merge, extract-activations",
    .notes = "Windows of one neighbourhood width (lower-left corner uniform), windows under min_units skipped,\n"
             "at most max_units units each, attempts_per_window attempts per window; a swap is kept when the\n"
             "loss (1 - r)/2 of the two units' rows strictly decreases (r: Pearson correlation between response\n"
             "correlations and 1/(d+1)). The result is identical for a seed on any thread count and on CPU or\n"
             "CUDA. pair_rng = replay gives every window the same pair sequence, as the official code's\n"
             "re-seeding does. The reported loss is the mean (1 - r)/2 over eval_windows fixed windows.\n"
             "Per-layer jobs: swapopt --layers layer1.0 -o part1.h5 ... then swapopt-merge -o sheet.h5 part*.h5.",
    .sections = {{NULL, &o, FIELDS}, {"swapopt", &sc, SWAPOPT_FIELDS}},
    .computes = 1,
    .uses_seed = 1,
    .npos_min = 0, .npos_max = 0,
};

int main(int argc, char **argv) {
    tool_init(argv[0], argc, argv);
    tool_setup(&SPEC, argc, argv);
    if (sc.min_units > sc.max_units) die(EXIT_USAGE, "key 'swapopt.min_units' (%d) exceeds 'swapopt.max_units' (%d)", sc.min_units, sc.max_units);
    int order[N_LAYERS];
    int nsel = parse_layer_list(sc.layers, order);
    unsigned mask = 0;
    for (int i = 0; i < nsel; i++) mask |= 1u << order[i];
    Device dev = device_resolve(g_run.device_spec);
    if (*g_run.config_path) prov_add_input(g_run.config_path);

    hid_t fs = sheet_open(o.sheet);
    hid_t fa = h5_open_artifact(o.acts, "activations", ACTIVATIONS_MAX_SCHEMA, NULL);
    /* validate every selected layer before the long work */
    for (int l = 0; l < N_LAYERS; l++) {
        if (!(mask & (1u << l))) continue;
        if (!sheet_has_layer(fs, l)) die(EXIT_USAGE, "layer %s is missing from the sheet '%s'", LAYER_NAMES[l], o.sheet);
        SheetLayer *L = sheet_read_layer(fs, l, 0);
        char *path = xasprintf("/layers/%s", LAYER_NAMES[l]);
        if (!h5_exists(fa, path)) die(EXIT_USAGE, "layer %s is missing from the activations '%s'", LAYER_NAMES[l], o.acts);
        hsize_t d[H5IO_MAX_RANK];
        int rank = h5_shape(fa, path, d);
        if (rank != 4 || (int64_t)d[1] != L->dims[0] || (int64_t)d[2] != L->dims[1] || (int64_t)d[3] != L->dims[2])
            die(EXIT_USAGE, "unit count mismatch for %s: the activations hold %s%llux%llux%llu, the sheet %lldx%lldx%lld '%s'",
                LAYER_NAMES[l], rank == 4 ? "" : "a non-(N,C,H,W) array ", (unsigned long long)(rank > 1 ? d[1] : 0),
                (unsigned long long)(rank > 2 ? d[2] : 0), (unsigned long long)(rank > 3 ? d[3] : 0), (long long)L->dims[0],
                (long long)L->dims[1], (long long)L->dims[2], o.acts);
        free(path);
        sheet_layer_free(L);
    }
    char hex[17];
    uint64_t sz;
    if (hash_file(o.sheet, hex, &sz) != 0) die(EXIT_RUNTIME, "cannot read '%s'", o.sheet);

    H5Out *out = h5out_create(o.out, "sheet", SHEET_SCHEMA);
    int64_t iv;
    double dv;
    if (h5_attr_get_i64(fs, ".", "input_size", &iv) == 0) h5_attr_i64(out->file, ".", "input_size", iv);
    if (h5_attr_get_f64(fs, ".", "width", &dv) == 0) h5_attr_f64(out->file, ".", "width", dv);
    char *src = h5_attr_get_str(fs, ".", "swapopt_source");
    h5_attr_str(out->file, ".", "swapopt_source", src ? src : hex); /* the sheet the swaps started from */
    free(src);
    for (int l = 0; l < N_LAYERS; l++) {
        if (!sheet_has_layer(fs, l)) continue;
        if (!(mask & (1u << l))) { /* copied as stored */
            sheet_copy_layer(fs, out->file, l);
            continue;
        }
        SheetLayer *L = sheet_read_layer(fs, l, SHEET_ALL);
        {
            int N;
            float *z = sheet_read_responses(fa, l, L->dims, &N);
            uint8_t *dead = xmalloc((size_t)L->units);
            int64_t ndead = swapopt_standardize(z, L->units, N, dead);
            if (ndead == L->units) die(EXIT_USAGE, "every %s unit has constant responses in '%s'", LAYER_NAMES[l], o.acts);
            float *slots = L->positions;
            SwapoptProblem p = {.layer = l, .units = L->units, .n_images = N, .z = z, .dead = dead, .slot_xy = slots,
                                .width = L->neighborhood_width_mm, .seed = (uint64_t)g_run.seed};
            SwapoptPlan *plan = swapopt_plan(&p, &sc);
            int32_t *slot_of = xmalloc(sizeof(int32_t) * (size_t)L->units), *unit_at = xmalloc(sizeof(int32_t) * (size_t)L->units);
            for (int64_t u = 0; u < L->units; u++) slot_of[u] = unit_at[u] = (int32_t)u;
            double before = swapopt_eval_loss(&p, &sc, slot_of);
            char what[64];
            snprintf(what, sizeof what, "%s windows", LAYER_NAMES[l]);
            p.progress = progress_start(what, plan->n, "windows");
            SwapoptStats st;
#if TDANN_CUDA
            if (dev.kind == DEVICE_CUDA) swapopt_run_cuda(&p, &sc, plan, slot_of, unit_at, &st);
            else
#endif
                swapopt_run_cpu(&p, &sc, plan, slot_of, unit_at, &st, NULL);
            progress_end(p.progress, NULL);
            double after = swapopt_eval_loss(&p, &sc, slot_of);
            float *newpos = xmalloc(sizeof(float) * 2 * (size_t)L->units);
            for (int64_t u = 0; u < L->units; u++) {
                newpos[2 * u] = slots[2 * (int64_t)slot_of[u]];
                newpos[2 * u + 1] = slots[2 * (int64_t)slot_of[u] + 1];
            }
            free(L->positions);
            L->positions = newpos;
            free(L->neighborhoods);
            sheet_neighborhoods(L->positions, L->units, L->neighborhood_width_mm, &L->rule, (uint64_t)g_run.seed, l, 1,
                                &L->neighborhoods, &L->n_nb, &L->k);
            L->swapped = 1;
            L->loss_before = before;
            L->loss_after = after;
            L->attempts = st.attempts;
            L->accepted = st.accepted;
            L->windows = st.windows;
            L->windows_skipped = st.windows_skipped;
            snprintf(L->pair_rng, sizeof L->pair_rng, "%s", sc.pair_rng == SWAPOPT_PAIRS_REPLAY ? "replay" : "per_window");
            printf("%-9s %lld windows (%lld skipped, %lld levels), %lld attempts, %lld accepted (%.2f%%%s), "
                   "loss %.6f -> %.6f, %.1f s, %.3g attempts/s, %lld dead units, K=%lld\n",
                   LAYER_NAMES[l], (long long)st.windows, (long long)st.windows_skipped, (long long)st.levels,
                   (long long)st.attempts, (long long)st.accepted, st.attempts ? 100.0 * (double)st.accepted / (double)st.attempts : 0.0,
                   st.accepted_nan ? ", some between dead units" : "", before, after, st.seconds,
                   st.seconds > 0 ? (double)st.attempts / st.seconds : 0.0, (long long)ndead, (long long)L->k);
            fflush(stdout);
            swapopt_plan_free(plan);
            free(slot_of);
            free(unit_at);
            free(dead);
            free(z);
        }
        sheet_write_layer(out->file, L);
        sheet_layer_free(L);
    }
    h5_close_file(fa);
    h5_close_file(fs);
    h5out_commit(out);
    (void)dev;
    return 0;
}
