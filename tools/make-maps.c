/* make-maps: cortical maps, metrics and a report for up to three models side by side
 * (tdann-algorithm.md §6; e.g. unoptimized, task-only and TDANN).
 *
 *   make-maps --name A,B,C --sheet S_A,S_B,S_C --tuning T_A,T_B,T_C --selectivity F_A,F_B,F_C
 *             [--log C_A,C_B,C_C] [--acts X_A,X_B,X_C] -o DIR
 *
 * Inputs are per-model lists in the same order; "-" stands for "none" (e.g. no training log for a
 * random-weights model). Per model: the sheet (positions, analysis_scale), the tuning file of the
 * V1-like layer (maps.v1_layer), the selectivity file of the VTC-like layer (maps.vtc_layer), a
 * checkpoint whose /log holds the training curves, and activations of sample images for the
 * wiring length. An analysis runs when its inputs are given. Outputs in DIR: metrics.h5, report.md
 * and, per figure, NAME.png, NAME.svg (or .pdf), NAME.dat and NAME.gp. All thresholds are in the
 * `maps:` config section (paper values by default); see common/maps.h.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "h5io.h"
#include "maps.h"
#include "progress.h"
#include "util.h"

typedef struct {
    StrList name, sheet, tuning, selectivity, log, acts;
    char *out;
} Io;
static Io io;
static MapsConfig cfg;

static const Field IO_FIELDS[] = {
    {NULL, "name", 0, F_STRING_LIST, offsetof(Io, name), "", 0, 0, NULL, "A,B..", "model names (default model1, model2, ...)", 0},
    {NULL, "sheet", 0, F_STRING_LIST, offsetof(Io, sheet), "", 0, 0, NULL, "S.h5,..", "sheet artifact of each model (positions)", 1},
    {NULL, "tuning", 0, F_STRING_LIST, offsetof(Io, tuning), "", 0, 0, NULL, "T.h5,..", "tuning artifact of each model (V1-like maps; - for none)", 0},
    {NULL, "selectivity", 0, F_STRING_LIST, offsetof(Io, selectivity), "", 0, 0, NULL, "F.h5,..", "selectivity artifact of each model (VTC-like maps; - for none)", 0},
    {NULL, "log", 0, F_STRING_LIST, offsetof(Io, log), "", 0, 0, NULL, "C.h5,..", "checkpoint with the training log /log of each model (- for none)", 0},
    {NULL, "acts", 0, F_STRING_LIST, offsetof(Io, acts), "", 0, 0, NULL, "A.h5,..", "activations of sample images for the wiring length (- for none)", 0},
    {NULL, "out", 'o', F_STRING, offsetof(Io, out), "", 0, 0, NULL, "DIR", "output directory (created)", 1},
    FIELD_END};

static const ToolSpec SPEC = {
    .purpose = "cortical maps, metrics (metrics.h5), figures and a report for up to three models side by side",
    .usage = "make-maps [options] --sheet S.h5[,..] [--tuning T.h5,..] [--selectivity F.h5,..] [--log C.h5,..] [--acts A.h5,..] -o DIR",
    .example = "make-maps --name unoptimized,task-only,tdann --sheet r/sheet_init.h5,r/sheet.h5,r/sheet.h5 "
               "--tuning r/init/tuning.h5,r/stage1/tuning.h5,r/tdann/tuning.h5 "
               "--selectivity r/init/selectivity.h5,r/stage1/selectivity.h5,r/tdann/selectivity.h5 "
               "--log -,r/stage1/model.h5,r/tdann/model.h5 -o r/maps",
    .see_also = "probe-gratings, probe-floc, extract-activations, make-sheet, gnuplot(1)",
    .notes = "Per-model inputs are comma-separated lists in model order; '-' means none. Positions are multiplied by each\n"
             "layer's analysis_scale (human-scale mm). Figures need gnuplot (pngcairo); without it the .dat and .gp files\n"
             "are still written. maps.quirks=official reproduces the official code's circmean high=179 and patch-grid\n"
             "off-by-one flip; fixed removes both.",
    .sections = {{"maps", &cfg, MAPS_FIELDS}, {NULL, &io, IO_FIELDS}},
    .uses_seed = 1,
    .npos_min = 0, .npos_max = 0,
};

/* The i-th entry of an optional per-model list, or NULL for "-" / an absent list. */
static char *entry(const StrList *l, int i) {
    if (!l->n || strcmp(l->v[i], "-") == 0) return NULL;
    return l->v[i];
}

static void check_list(const StrList *l, const char *flag, int n) {
    if (l->n && l->n != n) die(EXIT_USAGE, "--%s lists %d entries but --sheet lists %d models", flag, l->n, n);
}

static void check_name(const char *s) {
    if (!*s) die(EXIT_USAGE, "empty model name");
    for (const char *c = s; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("_-.+", *c)) die(EXIT_USAGE, "bad model name '%s' (letters, digits, _ - . + only)", s);
}

int main(int argc, char **argv) {
    tool_init(argv[0], argc, argv);
    tool_setup(&SPEC, argc, argv);
    int nm = io.sheet.n;
    if (nm < 1 || nm > MAPS_MAX_MODELS) die(EXIT_USAGE, "--sheet must list 1 to %d models, got %d", MAPS_MAX_MODELS, nm);
    check_list(&io.name, "name", nm);
    check_list(&io.tuning, "tuning", nm);
    check_list(&io.selectivity, "selectivity", nm);
    check_list(&io.log, "log", nm);
    check_list(&io.acts, "acts", nm);
    if (layer_index(cfg.v1_layer) < 0) die(EXIT_USAGE, "unknown layer '%s' (maps.v1_layer)", cfg.v1_layer);
    if (layer_index(cfg.vtc_layer) < 0) die(EXIT_USAGE, "unknown layer '%s' (maps.vtc_layer)", cfg.vtc_layer);
    if (cfg.patch_min_area_mm2 > cfg.patch_max_area_mm2) die(EXIT_USAGE, "maps.patch_min_area_mm2 exceeds maps.patch_max_area_mm2");

    MapsModel *m = xcalloc((size_t)nm, sizeof(MapsModel));
    for (int i = 0; i < nm; i++) {
        m[i].name = io.name.n ? io.name.v[i] : xasprintf("model%d", i + 1);
        check_name(m[i].name);
        for (int j = 0; j < i; j++) if (strcmp(m[i].name, m[j].name) == 0) die(EXIT_USAGE, "model name '%s' given twice", m[i].name);
        m[i].sheet = io.sheet.v[i];
        m[i].tuning = entry(&io.tuning, i);
        m[i].selectivity = entry(&io.selectivity, i);
        m[i].log_path = entry(&io.log, i);
        m[i].acts = entry(&io.acts, i);
    }
    /* open every input once now, so a wrong path or artifact kind fails before any work */
    int work = 0;
    for (int i = 0; i < nm; i++) {
        h5_close_file(h5_open_artifact(m[i].sheet, "sheet", 1, NULL));
        if (m[i].tuning) h5_close_file(h5_open_artifact(m[i].tuning, "tuning", 1, NULL));
        if (m[i].selectivity) h5_close_file(h5_open_artifact(m[i].selectivity, "selectivity", 1, NULL));
        if (m[i].log_path) h5_close_file(h5_open_artifact(m[i].log_path, NULL, 1, NULL));
        if (m[i].acts) h5_close_file(h5_open_artifact(m[i].acts, "activations", 1, NULL));
        work += !!m[i].tuning + !!m[i].selectivity + !!m[i].log_path + !!m[i].acts;
    }
    if (!work) die(EXIT_USAGE, "nothing to analyse: give --tuning, --selectivity, --log or --acts for at least one model");
    mkdir_p(io.out);

    uint64_t seed = (uint64_t)g_run.seed;
    Progress *pr = progress_start("analysing", (int64_t)nm * 4, "steps");
    for (int i = 0; i < nm; i++) {
        MapsModel *mm = &m[i];
        if (mm->tuning) {
            LayerPos pos;
            TuningData tu;
            load_layer_pos(mm->sheet, cfg.v1_layer, &pos);
            load_tuning(mm->tuning, cfg.v1_layer, pos.n, &tu);
            v1_analyse(&pos, &tu, &cfg, seed, i, &mm->v1); /* copies the positions, keeps the tuning arrays */
            free(pos.xy);
            mm->has_v1 = 1;
            info(1, "%s: %s: %.1f%% selective, %d pinwheels (%.2f per spacing^2), orientation smoothness %.3f", mm->name, cfg.v1_layer,
                 mm->v1.pct_selective, mm->v1.pw.n_pin, mm->v1.pw.density, mm->v1.curve[0].smoothness);
        }
        progress_update(pr, 4 * i + 1, mm->name);
        if (mm->selectivity) {
            LayerPos pos;
            SelectivityData sel;
            load_layer_pos(mm->sheet, cfg.vtc_layer, &pos);
            load_selectivity(mm->selectivity, cfg.vtc_layer, pos.n, &sel);
            vtc_analyse(&pos, &sel, &cfg, seed, i, &mm->vtc);
            free(pos.xy);
            mm->has_vtc = 1;
            info(1, "%s: %s: %d patches, category smoothness %.3f", mm->name, cfg.vtc_layer, mm->vtc.n_patches, mm->vtc.cat_smoothness_mean);
        }
        progress_update(pr, 4 * i + 2, mm->name);
        if (mm->acts) {
            const char *pairs[2][2] = {{cfg.wiring_v1_source, cfg.wiring_v1_target}, {cfg.wiring_vtc_source, cfg.wiring_vtc_target}};
            for (int k = 0; k < 2; k++) {
                LayerPos ps, pt;
                LayerActs as, at;
                load_layer_pos(mm->sheet, pairs[k][0], &ps);
                load_layer_pos(mm->sheet, pairs[k][1], &pt);
                load_layer_acts(mm->acts, pairs[k][0], cfg.wiring_images, ps.n, &as);
                load_layer_acts(mm->acts, pairs[k][1], cfg.wiring_images, pt.n, &at);
                wiring_analyse(&ps, &as, &pt, &at, k, &cfg, seed, i, k ? &mm->wvtc : &mm->wv1);
                if (k) mm->has_wvtc = 1; else mm->has_wv1 = 1;
                free(ps.xy); free(pt.xy); free(as.r); free(at.r);
            }
            info(1, "%s: wiring length V1 %.2f mm, VTC %.2f mm", mm->name, mm->wv1.mean, mm->wvtc.mean);
        }
        progress_update(pr, 4 * i + 3, mm->name);
        if (mm->log_path) {
            load_train_log(mm->log_path, &mm->train);
            mm->has_log = 1;
        }
        progress_update(pr, 4 * i + 4, mm->name);
    }
    progress_end(pr, NULL);

    Figure *figs = NULL;
    int nf = maps_figures(m, nm, &cfg, io.out, &figs);
    char *metrics = path_join(io.out, "metrics.h5");
    maps_write_metrics(metrics, m, nm, &cfg);
    maps_write_report(io.out, m, nm, &cfg, figs, nf);
    info(0, "wrote %d figures, %s and %s/report.md", nf, metrics, io.out);
    free(metrics);
    free(figs);
    return 0;
}
