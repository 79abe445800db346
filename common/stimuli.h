/* stimuli.h: the analysis stimulus sets (tdann-algorithm.md 6.1, 6.2) and their artifact labels
 * (/work/contracts.md "stimuli").
 *
 * Gratings: the paper's 640 full-field sine gratings, image i = ((color * 8 + o) * 8 + f) * 5 + p:
 *   orientation_deg = 22.5 o (o = 0..7): the direction of the wave vector (perpendicular to the
 *     bars), counterclockwise from the image's +x axis with y pointing up; 0 = vertical bars,
 *     90 = horizontal bars;
 *   sf_cycles_per_image = linspace(5.5, 110, 9)[f] (cycles across the image width);
 *   phase_rad = linspace(0, 2 pi, 6)[p]; color 0 = black/white, 1 = red/cyan.
 *   Pixel (row, col) of an N x N image, x = (col + 0.5) / N - 0.5, y = 0.5 - (row + 0.5) / N:
 *   s = sin(2 pi sf (x cos t + y sin t) + phase); black/white: R = G = B = 255 (1 + s) / 2;
 *   red/cyan: R = 255 (1 + s) / 2, G = B = 255 (1 - s) / 2 (rounded). Full contrast, full field.
 *
 * fLoc: 10 categories in the contract's order (number, word, limb, body, adult, child, car,
 * instrument, house, corridor) and 5 domains (faces = adult + child, bodies = body + limb,
 * characters = word + number, places = house + corridor, objects = car + instrument).
 * stimuli_floc_procedural() draws the built-in stand-in (see floc_procedural.c): grayscale schematic
 * drawings on low-contrast 1/f-noise backgrounds, NOT the VPNL fLoc photographs.
 */
#ifndef TDANN_STIMULI_H
#define TDANN_STIMULI_H

#include <stdint.h>

#define STIMULI_GRATING_COUNT 640
#define STIMULI_GRATING_NORI 8
#define STIMULI_GRATING_NSF 8
#define STIMULI_GRATING_NPHASE 5
#define STIMULI_GRATING_FIELD_DEG 8.0 /* visual angle of the paper's 224-px grating images */

void stimuli_grating_params(int i, float *orientation_deg, float *sf_cycles_per_image, float *phase_rad, int *color);
/* px [N][N][3] */
void stimuli_grating_image(uint8_t *px, int N, float orientation_deg, float sf_cycles_per_image, float phase_rad, int color);

#define STIMULI_FLOC_NCAT 10
#define STIMULI_FLOC_NDOMAIN 5
extern const char *const STIMULI_FLOC_CATEGORIES[STIMULI_FLOC_NCAT];
extern const char *const STIMULI_FLOC_DOMAINS[STIMULI_FLOC_NDOMAIN];
extern const int32_t STIMULI_FLOC_DOMAIN_CATEGORIES[STIMULI_FLOC_NDOMAIN][2];
/* Category of a folder name or file-name prefix (case-insensitive; "bodies" etc. are not
 * accepted, only the VPNL names); -1 when unknown; -2 for "scrambled" (dropped). */
int stimuli_floc_category(const char *name);

/* One procedural stand-in image of `category`, px [N][N][3] (R = G = B), a pure function of
 * (seed, category, index, N). */
void stimuli_floc_procedural(uint8_t *px, int N, int category, uint64_t seed, int64_t index);

#endif
