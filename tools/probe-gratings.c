/* probe-gratings: orientation, spatial-frequency and colour tuning of every unit from its responses
 * to the sine gratings (TDANN algorithm notes §6.1; the computation is in common/tuning.h).
 *
 *   probe-gratings --activations acts_gratings.h5 [--layers layer2.0,...] -o tuning.h5
 *
 * Input: an activations artifact of the grating set: /layers/<layer> float32 (N, C, H, W) and
 * /labels/{orientation_deg, sf_cycles_per_image, color} (N) (phase is averaged over implicitly).
 * Output (tuning artifact), per layer group /layers/<layer>, every dataset (U) in unit order
 * c*H*W + h*W + w: orientation_pref_deg f32, circular_variance f32, sf_pref i32, color_pref i32,
 * peak_to_peak f32, mean_response f32, selective u8; also sf_peak_to_peak, color_peak_to_peak,
 * kappa (von Mises concentration of the preference fit) and the curves orientation_curve (U,
 * n_ori), sf_curve (U, n_sf), color_curve (U, n_color). Layer attrs: dims, shift, scale,
 * median_unit_max, n_responsive, n_selective and the thresholds used. Root datasets
 * /orientations_deg, /sf_cycles_per_image, /sf_cpd (SF / the stimuli's degrees_per_image attribute,
 * 8 when absent), /color_codes give the
 * levels that the curves and the sf_pref / color_pref indices refer to.
 * Streams the activations one block of images at a time (memory ~ U x 22 doubles + 64 MiB).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actstream.h"
#include "config.h"
#include "error.h"
#include "h5io.h"
#include "tuning.h"
#include "util.h"

#define DVA_PER_IMAGE 8.0 /* when the stimuli do not say (the paper's value) */

typedef struct { char *activations, *output; } Io;
typedef struct {
    StrList layers;
    int normalize;
    double median_peak_rate, cv_threshold, response_threshold, kappa_max;
    int interp_points;
} Cfg;
static Io io;
static Cfg cfg;

static const Field IO_FIELDS[] = {
    {NULL, "activations", 0, F_STRING, offsetof(Io, activations), "", 0, 0, NULL, "FILE",
     "activations of the grating set (extract-activations)", 1},
    {NULL, "output", 'o', F_STRING, offsetof(Io, output), "", 0, 0, NULL, "FILE", "tuning artifact to write", 1},
    FIELD_END};
static const Field CFG_FIELDS[] = {
    {"layers", "layers", 0, F_STRING_LIST, offsetof(Cfg, layers), "[layer2.0]", 0, 0, NULL, "L1,L2..",
     "layers to probe (layer1.0 ... layer4.1, or all)", 0},
    {"normalize", "normalize", 0, F_BOOL, offsetof(Cfg, normalize), "true", 0, 0, NULL, NULL,
     "shift responses to >= 0, then scale them so the median unit max equals median_peak_rate", 0},
    {"median_peak_rate", "median-peak-rate", 0, F_DOUBLE, offsetof(Cfg, median_peak_rate), "15.0", 1e-6, 1e6, NULL,
     "X", "median peak rate (maxdc, spikes/s) of the Ringach et al. 2002 macaque V1 database; the default is "
     "UNVERIFIED (the database was not available to us)", 0},
    {"cv_threshold", "cv-threshold", 0, F_DOUBLE, offsetof(Cfg, cv_threshold), "0.6", 0, 1, NULL, "X",
     "selective: circular variance below this", 0},
    {"response_threshold", "response-threshold", 0, F_DOUBLE, offsetof(Cfg, response_threshold), "1.0", -1e30, 1e30,
     NULL, "X", "selective: mean response (after scaling) above this", 0},
    {"interp_points", NULL, 0, F_INT, offsetof(Cfg, interp_points), "50", 3, 4096, NULL, NULL,
     "points on [0, 180] deg the tuning curve is interpolated to before the von Mises fit", 0},
    {"kappa_max", NULL, 0, F_DOUBLE, offsetof(Cfg, kappa_max), "1000", 1, 1e6, NULL, NULL,
     "upper bound of the von Mises concentration in the fit", 0},
    FIELD_END};

static const ToolSpec SPEC = {
    .purpose = "orientation, spatial-frequency and colour tuning of units from grating responses",
    .usage = "probe-gratings [options] --activations ACTS.h5 -o TUNING.h5",
    .example = "probe-gratings --activations runs/default/tdann/acts_gratings.h5 --layers layer2.0 "
               "-o runs/default/tdann/tuning.h5",
    .see_also = "extract-activations, make-stimuli, probe-floc, make-maps",
    .notes =
        "Per unit (TDANN §6.1): responses are shifted to >= 0 (if any is negative) and scaled so the\n"
        "median over units of each unit's max equals median_peak_rate; the orientation tuning curve is\n"
        "the mean response per orientation; circular variance CV = 1 - |sum R e^(2i theta)| / sum R;\n"
        "selective = CV < cv_threshold and mean response > response_threshold; the orientation\n"
        "preference is the argmax of a von Mises fitted (Levenberg-Marquardt) to the curve interpolated\n"
        "to interp_points angles on [0, 180]; sf_pref / color_pref = argmax index of the SF / colour\n"
        "curve. Silent units get CV 1, preference 0 and are never selective (no NaN is written).\n"
        "--verbose prints the distributions (% selective, CV quartiles, preference histograms).",
    .sections = {{NULL, &io, IO_FIELDS}, {"probe_gratings", &cfg, CFG_FIELDS}},
    .npos_min = 0, .npos_max = 0,
};

static void write_layer(hid_t out, const char *layer, const TuningResult *r, const int64_t *udims, int nud) {
    char *g = xasprintf("/layers/%s", layer);
    hsize_t u = (hsize_t)r->n_units;
    struct { const char *name; H5ioType t; const void *data; const char *units; } one[] = {
        {"orientation_pref_deg", H5IO_F32, r->orientation_pref_deg, "deg"},
        {"circular_variance", H5IO_F32, r->circular_variance, "1"},
        {"sf_pref", H5IO_I32, r->sf_pref, "index into /sf_cycles_per_image"},
        {"color_pref", H5IO_I32, r->color_pref, "index into /color_codes"},
        {"peak_to_peak", H5IO_F32, r->peak_to_peak, "spikes/s (scaled response)"},
        {"mean_response", H5IO_F32, r->mean_response, "spikes/s (scaled response)"},
        {"selective", H5IO_U8, r->selective, "bool"},
        {"sf_peak_to_peak", H5IO_F32, r->sf_peak_to_peak, "spikes/s (scaled response)"},
        {"color_peak_to_peak", H5IO_F32, r->color_peak_to_peak, "spikes/s (scaled response)"},
        {"kappa", H5IO_F32, r->kappa, "1"},
    };
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        char *p = xasprintf("%s/%s", g, one[i].name);
        h5_write(out, p, one[i].t, 1, &u, one[i].data, "unit", one[i].units);
        free(p);
    }
    struct { const char *name; const float *data; int n; const char *dims; } two[] = {
        {"orientation_curve", r->ori_curve, r->n_ori, "unit,orientation"},
        {"sf_curve", r->sf_curve, r->n_sf, "unit,sf"},
        {"color_curve", r->color_curve, r->n_color, "unit,color"},
    };
    for (size_t i = 0; i < sizeof two / sizeof two[0]; i++) {
        char *p = xasprintf("%s/%s", g, two[i].name);
        hsize_t d2[2] = {u, (hsize_t)two[i].n};
        h5_write(out, p, H5IO_F32, 2, d2, two[i].data, two[i].dims, "spikes/s (scaled response)");
        free(p);
    }
    h5_attr_i64v(out, g, "dims", udims, nud);
    h5_attr_f64(out, g, "shift", r->shift);
    h5_attr_f64(out, g, "scale", r->scale);
    h5_attr_f64(out, g, "median_unit_max", r->median_max);
    h5_attr_i64(out, g, "scaled", r->scaled);
    h5_attr_i64(out, g, "n_responsive", r->n_responsive);
    h5_attr_i64(out, g, "n_selective", r->n_selective);
    h5_attr_f64(out, g, "cv_threshold", cfg.cv_threshold);
    h5_attr_f64(out, g, "response_threshold", cfg.response_threshold);
    h5_attr_f64(out, g, "median_peak_rate", cfg.median_peak_rate);
    free(g);
}

int main(int argc, char **argv) {
    tool_init(argv[0], argc, argv);
    tool_setup(&SPEC, argc, argv);
    int order[N_LAYERS], nl = 0;
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
    GratingDesign *d = grating_design_load(f, file);
    TuningParams tp = {cfg.normalize, cfg.median_peak_rate, cfg.cv_threshold, cfg.response_threshold,
                       cfg.interp_points, cfg.kappa_max};

    H5Out *out = h5out_create(io.output, "tuning", 1);
    hsize_t no = (hsize_t)d->n_ori, ns = (hsize_t)d->n_sf, nc = (hsize_t)d->n_color;
    float *lv = xmalloc(sizeof(float) * (size_t)(no + ns + nc + ns));
    double dva = DVA_PER_IMAGE;
    if (h5_attr_get_f64(f, "/labels/sf_cycles_per_image", "degrees_per_image", &dva) != 0 || !(dva > 0))
        dva = DVA_PER_IMAGE;
    for (int i = 0; i < d->n_ori; i++) lv[i] = (float)d->ori_deg[i];
    for (int i = 0; i < d->n_sf; i++) lv[no + (hsize_t)i] = (float)d->sf[i];
    for (int i = 0; i < d->n_sf; i++) lv[no + ns + nc + (hsize_t)i] = (float)(d->sf[i] / dva);
    int32_t *codes = xmalloc(sizeof(int32_t) * (size_t)nc);
    for (int i = 0; i < d->n_color; i++) codes[i] = (int32_t)d->color[i];
    h5_write(out->file, "/orientations_deg", H5IO_F32, 1, &no, lv, "orientation", "deg");
    h5_write(out->file, "/sf_cycles_per_image", H5IO_F32, 1, &ns, lv + no, "sf", "cycles/image");
    h5_write(out->file, "/sf_cpd", H5IO_F32, 1, &ns, lv + no + ns + nc, "sf", "cycles/deg");
    h5_attr_f64(out->file, "/sf_cpd", "degrees_per_image", dva);
    h5_write(out->file, "/color_codes", H5IO_I32, 1, &nc, codes, "color", "label code (0 black/white, 1 red/cyan)");
    free(lv);
    free(codes);

    for (int li = 0; li < nl; li++) {
        const char *layer = LAYER_NAMES[order[li]];
        ActReader *rd = act_reader_open(f, file, layer, 0);
        if (act_reader_images(rd) != d->n_images)
            die(EXIT_USAGE, "layer '%s' has %lld images but the labels describe %lld in '%s'", layer,
                (long long)act_reader_images(rd), (long long)d->n_images, file);
        int64_t udims[7];
        int nud = act_reader_unit_dims(rd, udims);
        GratingAccum acc;
        grating_accum_init(&acc, d, act_reader_units(rd));
        const float *rows;
        int64_t image0, n;
        while ((n = act_reader_next(rd, &rows, &image0)) > 0) grating_accum_add(&acc, rows, image0, n);
        act_reader_close(rd);
        if (acc.nonfinite)
            die(EXIT_USAGE, "%lld non-finite activations in layer '%s' of '%s'", (long long)acc.nonfinite, layer, file);
        TuningResult r;
        tuning_compute(&acc, &tp, &r);
        if (tp.normalize && !r.scaled)
            warn("layer '%s': the median unit max response is 0 (most units silent); responses left unscaled", layer);
        tuning_print_summary(1, layer, &r, &tp, d);
        write_layer(out->file, layer, &r, udims, nud);
        tuning_result_free(&r);
        grating_accum_free(&acc);
    }
    h5out_commit(out);
    info(1, "wrote '%s'", io.output);
    grating_design_free(d);
    h5_close_file(f);
    return 0;
}
