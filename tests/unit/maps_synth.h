/* maps_synth.h: synthetic inputs for the make-maps tests (no TEST functions here).
 *
 * Orientation field: a band-pass Gaussian random field z(x) = sum_j a_j exp(i k_j . x) with
 * |k_j| = 2 pi / Lambda * (1 + u_j * band), u_j uniform in [-1, 1], directions uniform, a_j complex
 * normal; preference = arg(z) / 2 in degrees [0, 180). For such a field the expected pinwheel
 * density is pi per Lambda^2 (Wolf & Geisel 1998), up to the factor <k^2>/<k>^2 = 1 + band^2/3.
 * maps_synth_write() writes a full three-model make-maps input (sheet, tuning, selectivity, log,
 * activations) with h5io; see maps_synth.c.
 */
#ifndef TDANN_TEST_MAPS_SYNTH_H
#define TDANN_TEST_MAPS_SYNTH_H

#include <stdint.h>

typedef struct { int nw; double *kx, *ky, *ar, *ai; } OriField;
void orifield_init(OriField *f, double lambda, int nwaves, double band, uint64_t seed);
double orifield_eval(const OriField *f, double x, double y); /* degrees in [0, 180) */
/* Complex value (re, im) of the field (for smooth scalar maps: use re). */
void orifield_eval_z(const OriField *f, double x, double y, double *re, double *im);
void orifield_free(OriField *f);

/* n positions uniform in [0, L]^2 (Philox stream from seed). */
void synth_uniform_positions(double *xy, int n, double L, uint64_t seed);

/* Writes into dir: for m in {unoptimized, task-only, tdann}: m_sheet.h5, m_tuning.h5,
 * m_selectivity.h5, m_model.h5 (training log), m_acts.h5. Units per layer follow a ResNet-18 at
 * width `width` (1 = paper: layer2 128x28x28, layer4 512x7x7); n_images activation patterns.
 * tdann: orientation GRF with Lambda = 3.5 mm human scale, smooth SF/colour maps, one planted
 * patch per domain; task-only: the same fields heavily mixed with per-unit noise; unoptimized:
 * random preferences. */
void maps_synth_write(const char *dir, double width, int n_images, uint64_t seed);

#endif
