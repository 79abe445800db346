/* maps_synth.c: synthetic make-maps inputs for the tests (see maps_synth.h). All artifacts are
 * written with h5io so they carry the same attributes as the real tools' outputs. */
#include "maps_synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "h5io.h"
#include "rng.h"
#include "util.h"

void orifield_init(OriField *f, double lambda, int nwaves, double band, uint64_t seed) {
    Rng r;
    rng_init(&r, seed, rng_stream(RNG_PURPOSE_TEST, 100, 0, 0));
    f->nw = nwaves;
    f->kx = malloc(sizeof(double) * (size_t)nwaves);
    f->ky = malloc(sizeof(double) * (size_t)nwaves);
    f->ar = malloc(sizeof(double) * (size_t)nwaves);
    f->ai = malloc(sizeof(double) * (size_t)nwaves);
    double k0 = 2 * M_PI / lambda;
    for (int j = 0; j < nwaves; j++) {
        double k = k0 * (1 + band * (2 * rng_uniform_double(&r) - 1));
        double a = 2 * M_PI * rng_uniform_double(&r);
        f->kx[j] = k * cos(a);
        f->ky[j] = k * sin(a);
        f->ar[j] = rng_normal(&r);
        f->ai[j] = rng_normal(&r);
    }
}

void orifield_eval_z(const OriField *f, double x, double y, double *re, double *im) {
    double sr = 0, si = 0;
    for (int j = 0; j < f->nw; j++) {
        double ph = f->kx[j] * x + f->ky[j] * y, c = cos(ph), s = sin(ph);
        sr += f->ar[j] * c - f->ai[j] * s;
        si += f->ar[j] * s + f->ai[j] * c;
    }
    *re = sr / sqrt((double)f->nw);
    *im = si / sqrt((double)f->nw);
}

double orifield_eval(const OriField *f, double x, double y) {
    double re, im;
    orifield_eval_z(f, x, y, &re, &im);
    double a = atan2(im, re) * 90.0 / M_PI; /* (-90, 90] */
    if (a < 0) a += 180.0;
    if (a >= 180.0) a -= 180.0;
    return a;
}

void orifield_free(OriField *f) {
    free(f->kx); free(f->ky); free(f->ar); free(f->ai);
    memset(f, 0, sizeof *f);
}

void synth_uniform_positions(double *xy, int n, double L, uint64_t seed) {
    Rng r;
    rng_init(&r, seed, rng_stream(RNG_PURPOSE_TEST, 101, 0, 0));
    for (int i = 0; i < 2 * n; i++) xy[i] = L * rng_uniform_double(&r);
}

/* ---- the three-model input -------------------------------------------------------------------- */
typedef struct { const char *name; int kind; } SynthModel; /* kind: 0 unoptimized, 1 task-only, 2 tdann */

static const char *LAYERS4[4] = {"layer2.0", "layer2.1", "layer4.0", "layer4.1"};

static void layer_geom(const char *layer, double width, int *C, int *H, double *S, double *scale) {
    int stage = layer[5] - '0';
    *C = (int)lround((stage == 2 ? 128 : 512) * width);
    *H = stage == 2 ? 28 : 7;
    *S = stage == 2 ? 24.5 : 10.0;
    *scale = stage == 2 ? 1.5 : 7.0;
}

/* Domain patch centres/radii in human-scale mm on the 70 mm VTC sheet (tdann). */
static const double PATCH[5][3] = {{20, 20, 11}, {32, 24, 9}, {50, 50, 10}, {15, 55, 12}, {55, 15, 8}};

void maps_synth_write(const char *dir, double width, int n_images, uint64_t seed) {
    mkdir_p(dir);
    const SynthModel models[3] = {{"unoptimized", 0}, {"task-only", 1}, {"tdann", 2}};
    OriField ofield, sffield, colfield;
    orifield_init(&ofield, 3.5, 96, 0.05, seed + 1);
    orifield_init(&sffield, 7.0, 24, 0.1, seed + 2);
    orifield_init(&colfield, 6.0, 24, 0.1, seed + 3);
    for (int mi = 0; mi < 3; mi++) {
        const SynthModel *m = &models[mi];
        Rng r;
        rng_init(&r, seed, rng_stream(RNG_PURPOSE_TEST, 102, (uint32_t)mi, 0));
        double *pos[4];
        int nu[4];
        /* sheet */
        char *path = xasprintf("%s/%s_sheet.h5", dir, m->name);
        H5Out *o = h5out_create(path, "sheet", 1);
        for (int li = 0; li < 4; li++) {
            int C, H;
            double S, scale;
            layer_geom(LAYERS4[li], width, &C, &H, &S, &scale);
            int n = C * H * H;
            nu[li] = n;
            float *p = malloc(sizeof(float) * 2 * (size_t)n);
            pos[li] = malloc(sizeof(double) * 2 * (size_t)n);
            for (int i = 0; i < n; i++) { /* uniform on the training-scale sheet */
                p[2 * i] = (float)(S * rng_uniform_double(&r));
                p[2 * i + 1] = (float)(S * rng_uniform_double(&r));
                pos[li][2 * i] = p[2 * i] * scale;
                pos[li][2 * i + 1] = p[2 * i + 1] * scale;
            }
            char *ds = xasprintf("/layers/%s/positions", LAYERS4[li]);
            hsize_t d[2] = {(hsize_t)n, 2};
            h5_write(o->file, ds, H5IO_F32, 2, d, p, "unit,xy", "mm");
            char *g = xasprintf("/layers/%s", LAYERS4[li]);
            int64_t dims[3] = {C, H, H};
            h5_attr_i64v(o->file, g, "dims", dims, 3);
            h5_attr_f64(o->file, g, "sheet_mm", S);
            h5_attr_f64(o->file, g, "analysis_scale", scale);
            free(ds); free(g); free(p);
        }
        h5out_commit(o);
        free(path);

        /* tuning of layer2.0 */
        int n = nu[0];
        float *ori = malloc(sizeof(float) * (size_t)n), *cv = malloc(sizeof(float) * (size_t)n);
        float *ptp = malloc(sizeof(float) * (size_t)n), *mr = malloc(sizeof(float) * (size_t)n);
        int32_t *sf = malloc(sizeof(int32_t) * (size_t)n), *col = malloc(sizeof(int32_t) * (size_t)n);
        uint8_t *sel = malloc((size_t)n);
        double *fo = malloc(sizeof(double) * (size_t)n), *fs = malloc(sizeof(double) * (size_t)n), *fc = malloc(sizeof(double) * (size_t)n);
#pragma omp parallel for
        for (int i = 0; i < n; i++) { /* the fields (pure functions of position), in parallel */
            double x = pos[0][2 * i], y = pos[0][2 * i + 1], im;
            fo[i] = orifield_eval(&ofield, x, y);
            orifield_eval_z(&sffield, x, y, &fs[i], &im);
            orifield_eval_z(&colfield, x, y, &fc[i], &im);
        }
        for (int i = 0; i < n; i++) {
            int structured = m->kind == 2 || (m->kind == 1 && rng_uniform_double(&r) < 0.35);
            double o_ = structured ? fo[i] + 4 * rng_normal(&r) : 180 * rng_uniform_double(&r);
            o_ = fmod(o_, 180.0);
            if (o_ < 0) o_ += 180;
            ori[i] = (float)o_;
            int s = structured ? (int)lround(3.5 + 2.5 * fs[i]) : (int)rng_below(&r, 8);
            sf[i] = s < 0 ? 0 : s > 7 ? 7 : s;
            col[i] = structured ? (fc[i] > 0.4) : (rng_uniform_double(&r) < 0.3);
            cv[i] = (float)(0.15 + 0.8 * rng_uniform_double(&r));
            ptp[i] = (float)(0.2 + 2 * rng_uniform_double(&r));
            mr[i] = (float)(0.3 + 2.5 * rng_uniform_double(&r));
            sel[i] = mr[i] > 1.0f && cv[i] < 0.6f;
        }
        free(fo); free(fs); free(fc);
        path = xasprintf("%s/%s_tuning.h5", dir, m->name);
        o = h5out_create(path, "tuning", 1);
        hsize_t d1 = (hsize_t)n;
        h5_write(o->file, "/layers/layer2.0/orientation_pref_deg", H5IO_F32, 1, &d1, ori, "unit", "deg");
        h5_write(o->file, "/layers/layer2.0/circular_variance", H5IO_F32, 1, &d1, cv, "unit", "1");
        h5_write(o->file, "/layers/layer2.0/sf_pref", H5IO_I32, 1, &d1, sf, "unit", "index");
        h5_write(o->file, "/layers/layer2.0/color_pref", H5IO_I32, 1, &d1, col, "unit", "index");
        h5_write(o->file, "/layers/layer2.0/peak_to_peak", H5IO_F32, 1, &d1, ptp, "unit", "response");
        h5_write(o->file, "/layers/layer2.0/mean_response", H5IO_F32, 1, &d1, mr, "unit", "response");
        h5_write(o->file, "/layers/layer2.0/selective", H5IO_U8, 1, &d1, sel, "unit", "bool");
        h5out_commit(o);
        free(path);
        free(ori); free(cv); free(ptp); free(mr); free(sf); free(col); free(sel);

        /* selectivity of layer4.1 */
        n = nu[3];
        float *t = malloc(sizeof(float) * 5 * (size_t)n), *vm = malloc(sizeof(float) * (size_t)n);
        for (int i = 0; i < n; i++) {
            double x = pos[3][2 * i], y = pos[3][2 * i + 1];
            vm[i] = (float)(2 * rng_uniform_double(&r));
            for (int dd = 0; dd < 5; dd++) {
                double v = rng_normal(&r);
                double rad = m->kind == 2 ? PATCH[dd][2] : m->kind == 1 ? 3.0 : 0;
                if (rad > 0 && hypot(x - PATCH[dd][0], y - PATCH[dd][1]) < rad) v += 6;
                if (m->kind == 2 && dd == 1 && hypot(x - PATCH[0][0], y - PATCH[0][1]) < PATCH[0][2]) v += 2; /* bodies near faces */
                t[(long)dd * n + i] = (float)v;
            }
        }
        path = xasprintf("%s/%s_selectivity.h5", dir, m->name);
        o = h5out_create(path, "selectivity", 1);
        hsize_t d2[2] = {5, (hsize_t)n};
        h5_write(o->file, "/layers/layer4.1/tstat", H5IO_F32, 2, d2, t, "domain,unit", "t");
        d1 = (hsize_t)n;
        h5_write(o->file, "/layers/layer4.1/mean_response", H5IO_F32, 1, &d1, vm, "unit", "response");
        char *dn[5] = {"faces", "bodies", "characters", "places", "objects"};
        h5_write_strings(o->file, "/domains", dn, 5);
        h5out_commit(o);
        free(path);
        free(t); free(vm);

        /* training log (not for the unoptimized model: it was never trained) */
        if (m->kind > 0) {
            path = xasprintf("%s/%s_model.h5", dir, m->name);
            o = h5out_create(path, "checkpoint", 1);
            int S = 200;
            int64_t *step = malloc(sizeof(int64_t) * (size_t)S);
            double *task = malloc(sizeof(double) * (size_t)S), *tot = malloc(sizeof(double) * (size_t)S);
            double *lr = malloc(sizeof(double) * (size_t)S), *ips = malloc(sizeof(double) * (size_t)S);
            double *spl = malloc(sizeof(double) * 8 * (size_t)S);
            double alpha = m->kind == 2 ? 0.25 : 0;
            for (int s = 0; s < S; s++) {
                step[s] = s * 10;
                task[s] = 6.0 * exp(-s / 60.0) + 2.0 + 0.05 * rng_normal(&r) + (m->kind == 2 ? 0.1 : 0);
                double sum = 0;
                for (int l = 0; l < 8; l++) {
                    spl[s * 8 + l] = 0.45 * exp(-s / (m->kind == 2 ? 40.0 : 1e9)) + 0.05 + 0.01 * l + 0.005 * rng_normal(&r);
                    sum += spl[s * 8 + l];
                }
                tot[s] = task[s] + alpha * sum;
                lr[s] = 0.6 * 0.5 * (1 + cos(M_PI * s / S));
                ips[s] = 900 + 30 * rng_normal(&r);
            }
            hsize_t ds = (hsize_t)S, ds2[2] = {(hsize_t)S, 8};
            h5_write(o->file, "/log/step", H5IO_I64, 1, &ds, step, "step", "1");
            h5_write(o->file, "/log/task_loss", H5IO_F64, 1, &ds, task, "step", "1");
            h5_write(o->file, "/log/spatial_loss", H5IO_F64, 2, ds2, spl, "step,layer", "1");
            h5_write(o->file, "/log/total_loss", H5IO_F64, 1, &ds, tot, "step", "1");
            h5_write(o->file, "/log/lr", H5IO_F64, 1, &ds, lr, "step", "1");
            h5_write(o->file, "/log/images_per_s", H5IO_F64, 1, &ds, ips, "step", "1/s");
            h5_attr_i64(o->file, ".", "complete", 1);
            h5out_commit(o);
            free(path);
            free(step); free(task); free(tot); free(lr); free(ips); free(spl);
        }

        /* activations of sample images: smooth blobs for tdann, noise otherwise */
        path = xasprintf("%s/%s_acts.h5", dir, m->name);
        o = h5out_create(path, "activations", 1);
        h5_attr_str(o->file, ".", "set", "folder");
        for (int li = 0; li < 4; li++) {
            int C, H;
            double S, scale;
            layer_geom(LAYERS4[li], width, &C, &H, &S, &scale);
            int nl = nu[li];
            float *a = malloc(sizeof(float) * (size_t)n_images * (size_t)nl);
            double *fv = malloc(sizeof(double) * (size_t)nl);
            for (int im = 0; im < n_images; im++) {
                OriField fld;
                orifield_init(&fld, li < 2 ? 4.0 : 25.0, 12, 0.2, seed * 1000 + (uint64_t)im);
#pragma omp parallel for
                for (int i = 0; i < nl; i++) {
                    double imv;
                    orifield_eval_z(&fld, pos[li][2 * i], pos[li][2 * i + 1], &fv[i], &imv);
                }
                for (int i = 0; i < nl; i++) {
                    double re = fv[i];
                    double v = m->kind == 2 ? re + 0.2 * rng_normal(&r) : m->kind == 1 ? 0.4 * re + rng_normal(&r) : rng_normal(&r);
                    a[(size_t)im * nl + i] = (float)(v > 0 ? v : 0);
                }
                orifield_free(&fld);
            }
            free(fv);
            char *ds = xasprintf("/layers/%s", LAYERS4[li]);
            hsize_t d4[4] = {(hsize_t)n_images, (hsize_t)C, (hsize_t)H, (hsize_t)H};
            h5_write(o->file, ds, H5IO_F32, 4, d4, a, "image,channel,row,col", "response");
            free(ds);
            free(a);
        }
        h5out_commit(o);
        free(path);
        for (int li = 0; li < 4; li++) free(pos[li]);
    }
    orifield_free(&ofield);
    orifield_free(&sffield);
    orifield_free(&colfield);
}
