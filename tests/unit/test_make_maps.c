/* test_make_maps.c: make-maps end to end on a synthetic three-model input (tests/unit/maps_synth.c:
 * unoptimized = random preferences, task-only = weakly structured, tdann = smooth GRF maps with
 * Lambda = 3.5 mm and one planted patch per domain). Checks the outputs exist, metrics.h5 carries
 * units and references, and the numbers order the models as constructed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "h5io.h"
#include "maps.h"
#include "maps_synth.h"
#include "test.h"
#include "util.h"

static double metric(hid_t f, const char *path) {
    double v = NAN;
    if (h5_exists(f, path)) h5_read_into(f, path, H5IO_F64, &v, 1);
    else t_fail_at(__FILE__, __LINE__, "missing %s", path);
    return v;
}

TEST(make_maps_three_synthetic_models) {
    char *in = t_path("in"), *out = t_path("maps");
    maps_synth_write(in, 1.0, 2, 42);
    const char *M[3] = {"unoptimized", "task-only", "tdann"};
    char list[6][2048];
    const char *suffix[5] = {"sheet", "tuning", "selectivity", "model", "acts"};
    for (int k = 0; k < 5; k++) {
        list[k][0] = 0;
        for (int i = 0; i < 3; i++) {
            char one[600];
            if (k == 3 && i == 0) snprintf(one, sizeof one, "-");
            else snprintf(one, sizeof one, "%s/%s_%s.h5", in, M[i], suffix[k]);
            strcat(list[k], i ? "," : "");
            strcat(list[k], one);
        }
    }
    int rc = t_sh("%s/make-maps --name unoptimized,task-only,tdann --sheet %s --tuning %s --selectivity %s --log %s --acts %s "
                  "--wiring-images 2 -o %s 2> %s/stderr.txt", t_bin(), list[0], list[1], list[2], list[3], list[4], out, t_tmpdir());
    CHECK_EQ_INT(rc, 0);
    char *err = NULL;
    {
        char *ep = t_path("stderr.txt");
        size_t len;
        err = read_text_file(ep, &len);
        free(ep);
    }
    CHECK_MSG(!err || !strstr(err, "gnuplot"), "gnuplot complained: %s", err ? err : "");
    const char *figs[] = {"v1_orientation", "v1_sf", "v1_color", "v1_pinwheels", "v1_smoothness", "v1_summary", "vtc_selectivity",
                          "vtc_scatter", "vtc_patches", "vtc_patch_summary", "vtc_smoothness", "vtc_rsm", "wiring_length", "training_curves"};
    for (size_t k = 0; k < sizeof figs / sizeof *figs; k++) {
        const char *ext[4] = {"png", "svg", "dat", "gp"};
        for (int e = 0; e < 4; e++) {
            char *p = xasprintf("%s/%s.%s", out, figs[k], ext[e]);
            CHECK_MSG(file_exists(p), "missing %s", p);
            free(p);
        }
    }
    char *rp = xasprintf("%s/report.md", out);
    size_t len;
    char *rep = read_text_file(rp, &len);
    REQUIRE(rep);
    CHECK(strstr(rep, "![v1_orientation](v1_orientation.png)") != NULL);
    CHECK(strstr(rep, "| tdann |") != NULL);
    char *mp = xasprintf("%s/metrics.h5", out);
    hid_t f = h5_open_artifact(mp, "metrics", 1, NULL);
    double sm[3], pd[3], ws[3], cs[3], fp[3];
    for (int i = 0; i < 3; i++) {
        char p[256];
        snprintf(p, sizeof p, "/%s/v1/smoothness_orientation", M[i]); sm[i] = metric(f, p);
        snprintf(p, sizeof p, "/%s/v1/pinwheel_density", M[i]); pd[i] = metric(f, p);
        snprintf(p, sizeof p, "/%s/wiring/v1_mm", M[i]); ws[i] = metric(f, p);
        snprintf(p, sizeof p, "/%s/vtc/category_smoothness_mean", M[i]); cs[i] = metric(f, p);
        double pc[5];
        snprintf(p, sizeof p, "/%s/vtc/patch_count", M[i]);
        h5_read_into(f, p, H5IO_F64, pc, 5);
        fp[i] = pc[0];
        printf("%-12s orientation smoothness %.3f, pinwheel density %.2f, V1 wiring %.2f mm, category smoothness %.3f, face patches %.0f\n",
               M[i], sm[i], pd[i], ws[i], cs[i], fp[i]);
    }
    CHECK(sm[2] > sm[1] && sm[1] > sm[0]);
    CHECK(cs[2] > cs[0]);
    CHECK(ws[2] < ws[0]);
    CHECK_EQ_INT((int)fp[2], 1);
    CHECK_EQ_INT((int)fp[0], 0);
    /* TDANN map: GRF with Lambda 3.5 mm + 4 deg noise: pinwheels near pi (the detector reads ~14% low at 3.5 mm) */
    CHECK(pd[2] > 0.7 * M_PI && pd[2] < 1.15 * M_PI);
    char *u = h5_attr_get_str(f, "/tdann/v1/pinwheel_density", "units"), *r = h5_attr_get_str(f, "/tdann/v1/pinwheel_density", "paper_reference");
    CHECK(u && strstr(u, "column_spacing"));
    CHECK(r && strstr(r, "3.14"));
    CHECK(!h5_exists(f, "/unoptimized/training"));
    CHECK(h5_exists(f, "/tdann/training/final_task_loss"));
    h5_close_file(f);
    free(u); free(r); free(rep); free(rp); free(mp); free(err); free(in); free(out);
}

/* Inputs that do not fit: wrong artifact kind, unit counts that differ from the sheet, a missing
 * layer, all exit 2 with the file named; a missing gnuplot still writes data and scripts. */
TEST(make_maps_bad_inputs_and_no_gnuplot) {
    char *in = t_path("in"), *out = t_path("maps");
    maps_synth_write(in, 0.25, 1, 7);
    char *sheet = xasprintf("%s/tdann_sheet.h5", in), *tun = xasprintf("%s/tdann_tuning.h5", in);
    TuningData tu;
    EXPECT_DIE(2, load_tuning(sheet, "layer2.0", 25088, &tu), "expected a tuning artifact");
    EXPECT_DIE(2, load_tuning(tun, "layer2.0", 999, &tu), "expected 999");
    EXPECT_DIE(2, load_tuning(tun, "layer3.0", 999, &tu), "no layer 'layer3.0'");
    LayerPos pos;
    EXPECT_DIE(2, load_layer_pos(sheet, "layer1.0", &pos), "no layer 'layer1.0' in sheet");
    EXPECT_DIE(2, load_layer_pos(tun, "layer2.0", &pos), "expected a sheet artifact");
    int rc = t_sh("%s/make-maps --sheet %s --tuning %s --gnuplot /nonexistent/gnuplot -o %s 2> %s/err.txt", t_bin(), sheet, tun, out, t_tmpdir());
    CHECK_EQ_INT(rc, 0);
    char *ep = t_path("err.txt");
    size_t len;
    char *err = read_text_file(ep, &len);
    CHECK(err && strstr(err, "cannot run '/nonexistent/gnuplot'"));
    char *gp = xasprintf("%s/v1_orientation.gp", out), *dat = xasprintf("%s/v1_orientation.dat", out), *png = xasprintf("%s/v1_orientation.png", out);
    CHECK(file_exists(gp) && file_exists(dat) && !file_exists(png));
    char *vtc = xasprintf("%s/vtc_rsm.gp", out);
    CHECK(!file_exists(vtc)); /* no selectivity given: no VTC figure */
    /* a tuning file whose unit count does not match the sheet's layer */
    char *sheet2 = xasprintf("%s/unoptimized_sheet.h5", in);
    rc = t_sh("%s/make-maps --sheet %s --tuning %s --selectivity - -o %s 2> %s/err2.txt", t_bin(), sheet2, sheet2, out, t_tmpdir());
    CHECK_EQ_INT(rc, 2);
    free(in); free(out); free(sheet); free(tun); free(ep); free(err); free(gp); free(dat); free(png); free(vtc); free(sheet2);
}
