/* procedural.h: the embedded, natural-image-like training set (data kind "procedural"), so the
 * whole pipeline runs with no download. Not ImageNet: a stand-in with the statistics that make a
 * network grow orientation-, frequency- and colour-tuned units.
 *
 * Model: "dead leaves" (occluding shapes whose radii follow p(r) ~ r^-3 between 0.025 and 0.8 of
 * the image, which makes the ensemble scale-invariant with an approximately 1/f amplitude
 * spectrum), each leaf a disc, an ellipse or a rotated rectangle, filled with a flat colour, an
 * oriented grating (luminance or two-colour, frequency proportional to 1/size), or a plaid; colours
 * drawn in an opponent space with natural-image-like low saturation; a [1 2 1] blur and a little
 * pixel noise at the end. Coordinates are fractions of the image, so the same (seed, index) gives
 * the same scene at any size.
 *
 * Deterministic: pixels are a pure function of (seed, index, w, h) (Philox stream
 * rng_stream(RNG_PURPOSE_PROCEDURAL, index >> 24, index & 0xFFFFFF, 0)), independent of threads.
 */
#ifndef TDANN_PROCEDURAL_H
#define TDANN_PROCEDURAL_H

#include <stdint.h>

/* px [h][w][3] RGB. Thread-safe; uses about w*h bytes of stack-free heap scratch. */
void procedural_image(uint8_t *px, int w, int h, uint64_t seed, int64_t index);

#endif
