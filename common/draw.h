/* draw.h: a small antialiased rasteriser for procedural stimuli (the built-in fLoc stand-in).
 *
 * Canvas: grayscale float values in [0, 1], n x n pixels, row-major, row 0 at the top.
 * Coordinates are fractions of the image side: (0, 0) top-left corner, (1, 1) bottom-right, y down;
 * angles in radians, counterclockwise on screen. Every shape is drawn from its signed distance,
 * with a one-pixel linear ramp at the edge (antialiasing), and composited "over" with opacity a:
 * pixel = pixel + cover * a * (value - pixel).
 *
 * Glyphs: a built-in 5 x 7 font for the digits 0-9 and the lowercase letters a-z, drawn as strokes
 * (a disc per lit cell, capsules between lit neighbours).
 */
#ifndef TDANN_DRAW_H
#define TDANN_DRAW_H

#include <stdint.h>

typedef struct {
    int n;
    float *p; /* [n][n] */
} Canvas;

Canvas *canvas_new(int n, float value);
void canvas_free(Canvas *c);
/* RGB uint8 [n][n][3] with R = G = B = round(255 * clamp(value)). */
void canvas_to_rgb(const Canvas *c, uint8_t *px);

void draw_ellipse(Canvas *c, float cx, float cy, float rx, float ry, float angle, float value, float a);
void draw_capsule(Canvas *c, float x0, float y0, float x1, float y1, float r, float value, float a);
/* Filled polygon (even-odd rule), xy = x0, y0, x1, y1, ... */
void draw_polygon(Canvas *c, const float *xy, int npts, float value, float a);
void draw_rect(Canvas *c, float cx, float cy, float w, float h, float angle, float value, float a);
/* A glyph '0'-'9' or 'a'-'z' in the box of width w (height 1.4 w) at top-left (x, y), with slant
 * (x shear per unit height) and stroke radius r (fraction of w). Returns 0, -1 for no glyph. */
int draw_glyph(Canvas *c, char ch, float x, float y, float w, float slant, float r, float value, float a);

/* Adds low-contrast texture: `waves` random low-frequency sinusoids of total amplitude amp plus
 * white noise of amplitude noise, from a deterministic generator state. */
void draw_background(Canvas *c, uint64_t *state, float mean, float amp, float noise);

/* Small deterministic generator for the drawing code (splitmix64). */
float draw_rand(uint64_t *state); /* uniform [0, 1) */

#endif
