/* probe-floc: category selectivity (Welch's t per domain) of every unit from its responses to the
 * fLoc images (TDANN algorithm notes §6.2; the computation is in common/floc.h).
 *
 *   probe-floc --activations acts_floc.h5 [--layers layer4.1,...] -o selectivity.h5
 *
 * Input: an activations artifact of the fLoc set: /layers/<layer> float32 (N, C, H, W),
 * /labels/category int32 (N) and /labels/category_names (+ domain_names, domain_categories).
 * Output (selectivity artifact): /domains (5 strings: faces, bodies, characters, places, objects);
 * per layer /layers/<layer>/tstat f32 (5, U) in that domain order and /layers/<layer>/mean_response
 * f32 (U) (mean over the images used), unit order c*H*W + h*W + w; layer attrs dims, n_on, n_off.
 * Streams the activations one block of images at a time (memory ~ U x 2 x n_categories doubles).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actstream.h"
#include "config.h"
#include "error.h"
#include "floc.h"
#include "h5io.h"
#include "util.h"

typedef struct { char *activations, *output; } Io;
typedef struct { StrList layers; } Cfg;
static Io io;
static Cfg cfg;

static const Field IO_FIELDS[] = {
    {NULL, "activations", 0, F_STRING, offsetof(Io, activations), "", 0, 0, NULL, "FILE",
     "activations of the fLoc set (extract-activations)", 1},
    {NULL, "output", 'o', F_STRING, offsetof(Io, output), "", 0, 0, NULL, "FILE", "selectivity artifact to write", 1},
    FIELD_END};
static const Field CFG_FIELDS[] = {
    {"layers", "layers", 0, F_STRING_LIST, offsetof(Cfg, layers), "[layer4.1]", 0, 0, NULL, "L1,L2..",
     "layers to probe (layer1.0 ... layer4.1, or all)", 0},
    FIELD_END};

static const ToolSpec SPEC = {
    .purpose = "category selectivity (Welch's t per domain) of units from fLoc responses",
    .usage = "probe-floc [options] --activations ACTS.h5 -o SELECTIVITY.h5",
    .example = "probe-floc --activations runs/default/tdann/acts_floc.h5 --layers layer4.1 "
               "-o runs/default/tdann/selectivity.h5",
    .see_also = "extract-activations, make-stimuli, probe-gratings, make-maps",
    .notes =
        "Per unit and domain (TDANN §6.2): t = (mean_on - mean_off) / sqrt(var_on/n_on + var_off/n_off)\n"
        "over individual images, variances with ddof 0, t = 0 where the denominator is 0; on = the\n"
        "domain's 2 categories, off = the other 8. Domains: faces (adult, child), bodies (body, limb),\n"
        "characters (word, number), places (house, corridor), objects (car, instrument).\n"
        "--verbose prints per-domain t quartiles and the share of units with t > 2 and t > 4.",
    .sections = {{NULL, &io, IO_FIELDS}, {"probe_floc", &cfg, CFG_FIELDS}},
    .npos_min = 0, .npos_max = 0,
};

int main(int argc, char **argv) {
    tool_init(argv[0], argc, argv);
    tool_setup(&SPEC, argc, argv);
    int order[N_LAYERS], nl;
    {
        char *joined = xstrdup("");
        for (int i = 0; i < cfg.layers.n; i++) {
            char *t = xasprintf("%s%s%s", joined, i ? "," : "", cfg.layers.v[i]);
            free(joined);
            joined = t;
        }
        nl = parse_layer_list(joined, order);
        free(joined);
    }
    const char *file = io.activations;
    hid_t f = h5_open_artifact(file, "activations", 1, NULL);
    FlocDesign *d = floc_design_load(f, file);

    H5Out *out = h5out_create(io.output, "selectivity", 1);
    h5_write_strings(out->file, "/domains", (char *const *)FLOC_DOMAINS, FLOC_N_DOMAINS);
    for (int li = 0; li < nl; li++) {
        const char *layer = LAYER_NAMES[order[li]];
        ActReader *rd = act_reader_open(f, file, layer, 0);
        if (act_reader_images(rd) != d->n_images)
            die(EXIT_USAGE, "layer '%s' has %lld images but the labels describe %lld in '%s'", layer,
                (long long)act_reader_images(rd), (long long)d->n_images, file);
        int64_t udims[7];
        int nud = act_reader_unit_dims(rd, udims);
        int64_t U = act_reader_units(rd);
        FlocAccum acc;
        floc_accum_init(&acc, d, U);
        const float *rows;
        int64_t image0, n;
        while ((n = act_reader_next(rd, &rows, &image0)) > 0) floc_accum_add(&acc, rows, image0, n);
        act_reader_close(rd);
        if (acc.nonfinite)
            die(EXIT_USAGE, "%lld non-finite activations in layer '%s' of '%s'", (long long)acc.nonfinite, layer, file);
        float *t = xmalloc(sizeof(float) * (size_t)U * FLOC_N_DOMAINS);
        float *mean = xmalloc(sizeof(float) * (size_t)(U ? U : 1));
        floc_compute(&acc, t, mean);
        floc_print_summary(1, layer, t, mean, U);
        char *g = xasprintf("/layers/%s", layer), *pt = xasprintf("%s/tstat", g), *pm = xasprintf("%s/mean_response", g);
        hsize_t d2[2] = {FLOC_N_DOMAINS, (hsize_t)U}, d1 = (hsize_t)U;
        h5_write(out->file, pt, H5IO_F32, 2, d2, t, "domain,unit", "t");
        h5_write(out->file, pm, H5IO_F32, 1, &d1, mean, "unit", "activation");
        h5_attr_i64v(out->file, g, "dims", udims, nud);
        h5_attr_i64v(out->file, g, "n_on", d->n_on, FLOC_N_DOMAINS);
        h5_attr_i64v(out->file, g, "n_off", d->n_off, FLOC_N_DOMAINS);
        free(g); free(pt); free(pm);
        free(t);
        free(mean);
        floc_accum_free(&acc);
    }
    h5out_commit(out);
    info(1, "wrote '%s'", io.output);
    floc_design_free(d);
    h5_close_file(f);
    return 0;
}
