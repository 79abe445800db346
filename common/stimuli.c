/* stimuli.c: gratings and the fLoc category tables (see stimuli.h). */
#include "stimuli.h"

#include <math.h>
#include <string.h>
#include <strings.h>

void stimuli_grating_params(int i, float *ori, float *sf, float *phase, int *color) {
    int p = i % STIMULI_GRATING_NPHASE, f = (i / STIMULI_GRATING_NPHASE) % STIMULI_GRATING_NSF, o = (i / (STIMULI_GRATING_NPHASE * STIMULI_GRATING_NSF)) % STIMULI_GRATING_NORI;
    int c = i / (STIMULI_GRATING_NPHASE * STIMULI_GRATING_NSF * STIMULI_GRATING_NORI);
    *ori = 22.5f * (float)o;
    *sf = (float)(5.5 + (110.0 - 5.5) * f / 8.0);        /* linspace(5.5, 110, 9)[:-1] */
    *phase = (float)(2.0 * M_PI * p / 5.0);               /* linspace(0, 2 pi, 6)[:-1] */
    *color = c;
}

void stimuli_grating_image(uint8_t *px, int N, float ori_deg, float sf, float phase, int color) {
    double t = ori_deg * M_PI / 180.0, ct = cos(t), st = sin(t);
    for (int row = 0; row < N; row++) {
        double y = 0.5 - (row + 0.5) / N;
        for (int col = 0; col < N; col++) {
            double x = (col + 0.5) / N - 0.5;
            double s = sin(2.0 * M_PI * sf * (x * ct + y * st) + phase);
            uint8_t hi = (uint8_t)lrint(127.5 * (1.0 + s)), lo = (uint8_t)lrint(127.5 * (1.0 - s));
            uint8_t *o = px + ((size_t)row * N + col) * 3;
            o[0] = hi;
            o[1] = color ? lo : hi;
            o[2] = color ? lo : hi;
        }
    }
}

const char *const STIMULI_FLOC_CATEGORIES[STIMULI_FLOC_NCAT] = {"number", "word",  "limb", "body",  "adult",
                                                "child",  "car",   "instrument", "house", "corridor"};
const char *const STIMULI_FLOC_DOMAINS[STIMULI_FLOC_NDOMAIN] = {"faces", "bodies", "characters", "places", "objects"};
const int32_t STIMULI_FLOC_DOMAIN_CATEGORIES[STIMULI_FLOC_NDOMAIN][2] = {{4, 5}, {3, 2}, {1, 0}, {8, 9}, {6, 7}};

int stimuli_floc_category(const char *name) {
    if (!strcasecmp(name, "scrambled")) return -2;
    for (int i = 0; i < STIMULI_FLOC_NCAT; i++)
        if (!strcasecmp(name, STIMULI_FLOC_CATEGORIES[i])) return i;
    return -1;
}
