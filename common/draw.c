/* draw.c: signed-distance rasteriser and the built-in 5 x 7 glyph set (see draw.h). */
#include "draw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

Canvas *canvas_new(int n, float value) {
    Canvas *c = xmalloc(sizeof *c);
    c->n = n;
    c->p = xmalloc(sizeof(float) * (size_t)n * n);
    for (size_t i = 0; i < (size_t)n * n; i++) c->p[i] = value;
    return c;
}

void canvas_free(Canvas *c) {
    if (!c) return;
    free(c->p);
    free(c);
}

void canvas_to_rgb(const Canvas *c, uint8_t *px) {
    for (size_t i = 0; i < (size_t)c->n * c->n; i++) {
        float v = c->p[i];
        int q = (int)lrintf((v < 0 ? 0 : v > 1 ? 1 : v) * 255.0f);
        px[3 * i] = px[3 * i + 1] = px[3 * i + 2] = (uint8_t)q;
    }
}

float draw_rand(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}

/* Composite a shape given by its signed distance function over the pixel box [x0, x1] x [y0, y1]
 * (fractions of the side). sd returns distance in image units (negative inside). */
typedef float (*SdfFn)(const void *shape, float x, float y);

static void fill_sdf(Canvas *c, float bx0, float by0, float bx1, float by1, SdfFn sd, const void *shape, float value,
                     float a) {
    int n = c->n;
    int x0 = (int)floorf(bx0 * n) - 1, x1 = (int)ceilf(bx1 * n) + 1;
    int y0 = (int)floorf(by0 * n) - 1, y1 = (int)ceilf(by1 * n) + 1;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > n - 1) x1 = n - 1;
    if (y1 > n - 1) y1 = n - 1;
    for (int y = y0; y <= y1; y++) {
        float fy = (y + 0.5f) / n;
        float *row = c->p + (size_t)y * n;
        for (int x = x0; x <= x1; x++) {
            float d = sd(shape, (x + 0.5f) / n, fy) * n; /* pixels */
            float cov = 0.5f - d;
            if (cov <= 0) continue;
            if (cov > 1) cov = 1;
            row[x] += cov * a * (value - row[x]);
        }
    }
}

typedef struct { float cx, cy, rx, ry, ca, sa; } Ell;

static float sd_ellipse(const void *s, float x, float y) {
    const Ell *e = s;
    float dx = x - e->cx, dy = y - e->cy;
    float u = dx * e->ca + dy * e->sa, v = -dx * e->sa + dy * e->ca;
    float k = sqrtf((u / e->rx) * (u / e->rx) + (v / e->ry) * (v / e->ry));
    /* first-order distance: (k - 1) / |grad k| */
    float gx = u / (e->rx * e->rx), gy = v / (e->ry * e->ry);
    float g = sqrtf(gx * gx + gy * gy);
    if (k < 1e-6f) return -fminf(e->rx, e->ry);
    return (k - 1.0f) * k / (g > 1e-9f ? g : 1e-9f);
}

void draw_ellipse(Canvas *c, float cx, float cy, float rx, float ry, float angle, float value, float a) {
    if (rx <= 0 || ry <= 0) return;
    Ell e = {cx, cy, rx, ry, cosf(angle), sinf(angle)};
    float r = fmaxf(rx, ry);
    fill_sdf(c, cx - r, cy - r, cx + r, cy + r, sd_ellipse, &e, value, a);
}

typedef struct { float x0, y0, x1, y1, r; } Cap;

static float sd_capsule(const void *s, float x, float y) {
    const Cap *k = s;
    float px = x - k->x0, py = y - k->y0, bx = k->x1 - k->x0, by = k->y1 - k->y0;
    float bb = bx * bx + by * by;
    float h = bb > 0 ? (px * bx + py * by) / bb : 0;
    h = h < 0 ? 0 : h > 1 ? 1 : h;
    float dx = px - bx * h, dy = py - by * h;
    return sqrtf(dx * dx + dy * dy) - k->r;
}

void draw_capsule(Canvas *c, float x0, float y0, float x1, float y1, float r, float value, float a) {
    Cap k = {x0, y0, x1, y1, r};
    fill_sdf(c, fminf(x0, x1) - r, fminf(y0, y1) - r, fmaxf(x0, x1) + r, fmaxf(y0, y1) + r, sd_capsule, &k, value, a);
}

typedef struct { const float *xy; int n; } Poly;

static float sd_polygon(const void *s, float x, float y) {
    const Poly *p = s;
    float d = 1e30f;
    int inside = 0;
    for (int i = 0, j = p->n - 1; i < p->n; j = i++) {
        float xi = p->xy[2 * i], yi = p->xy[2 * i + 1], xj = p->xy[2 * j], yj = p->xy[2 * j + 1];
        float ex = xj - xi, ey = yj - yi, wx = x - xi, wy = y - yi;
        float ee = ex * ex + ey * ey;
        float h = ee > 0 ? (wx * ex + wy * ey) / ee : 0;
        h = h < 0 ? 0 : h > 1 ? 1 : h;
        float dx = wx - ex * h, dy = wy - ey * h;
        float dd = dx * dx + dy * dy;
        if (dd < d) d = dd;
        if (((yi > y) != (yj > y)) && (x < (xj - xi) * (y - yi) / (yj - yi) + xi)) inside = !inside;
    }
    d = sqrtf(d);
    return inside ? -d : d;
}

void draw_polygon(Canvas *c, const float *xy, int npts, float value, float a) {
    if (npts < 3) return;
    float bx0 = 1e30f, by0 = 1e30f, bx1 = -1e30f, by1 = -1e30f;
    for (int i = 0; i < npts; i++) {
        bx0 = fminf(bx0, xy[2 * i]);
        bx1 = fmaxf(bx1, xy[2 * i]);
        by0 = fminf(by0, xy[2 * i + 1]);
        by1 = fmaxf(by1, xy[2 * i + 1]);
    }
    Poly p = {xy, npts};
    fill_sdf(c, bx0, by0, bx1, by1, sd_polygon, &p, value, a);
}

void draw_rect(Canvas *c, float cx, float cy, float w, float h, float angle, float value, float a) {
    float ca = cosf(angle), sa = sinf(angle), xy[8];
    const float ux[4] = {-0.5f, 0.5f, 0.5f, -0.5f}, uy[4] = {-0.5f, -0.5f, 0.5f, 0.5f};
    for (int i = 0; i < 4; i++) {
        float px = ux[i] * w, py = uy[i] * h;
        xy[2 * i] = cx + px * ca - py * sa;
        xy[2 * i + 1] = cy + px * sa + py * ca;
    }
    draw_polygon(c, xy, 4, value, a);
}

/* 5 x 7 glyphs, one byte per row, bit 4 = leftmost column */
static const uint8_t DIGITS[10][7] = {
    {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E},
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}};
static const uint8_t LETTERS[26][7] = {
    {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F}, /* a */ {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E}, /* b */
    {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E}, /* c */ {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F}, /* d */
    {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E}, /* e */ {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08}, /* f */
    {0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E}, /* g */ {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}, /* h */
    {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E}, /* i */ {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C}, /* j */
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}, /* k */ {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, /* l */
    {0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11}, /* m */ {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}, /* n */
    {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E}, /* o */ {0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10}, /* p */
    {0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01}, /* q */ {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}, /* r */
    {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E}, /* s */ {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06}, /* t */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D}, /* u */ {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04}, /* v */
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A}, /* w */ {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11}, /* x */
    {0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E}, /* y */ {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F}, /* z */
};

int draw_glyph(Canvas *c, char ch, float x, float y, float w, float slant, float r, float value, float a) {
    const uint8_t *g;
    if (ch >= '0' && ch <= '9') g = DIGITS[ch - '0'];
    else if (ch >= 'a' && ch <= 'z') g = LETTERS[ch - 'a'];
    else return -1;
    float cell = w / 5.0f, rad = r * w;
#define ON(rr, cc) ((rr) >= 0 && (rr) < 7 && (cc) >= 0 && (cc) < 5 && (g[rr] >> (4 - (cc)) & 1))
#define PX(rr, cc) (x + ((cc) + 0.5f) * cell + slant * (7 - (rr) - 0.5f) * cell)
#define PY(rr) (y + ((rr) + 0.5f) * cell)
    for (int rr = 0; rr < 7; rr++)
        for (int cc = 0; cc < 5; cc++) {
            if (!ON(rr, cc)) continue;
            int any = 0;
            /* strokes to the right, down, and diagonally down when no orthogonal path exists */
            if (ON(rr, cc + 1)) { draw_capsule(c, PX(rr, cc), PY(rr), PX(rr, cc + 1), PY(rr), rad, value, a); any = 1; }
            if (ON(rr + 1, cc)) { draw_capsule(c, PX(rr, cc), PY(rr), PX(rr + 1, cc), PY(rr + 1), rad, value, a); any = 1; }
            if (ON(rr + 1, cc + 1) && !ON(rr, cc + 1) && !ON(rr + 1, cc)) {
                draw_capsule(c, PX(rr, cc), PY(rr), PX(rr + 1, cc + 1), PY(rr + 1), rad, value, a);
                any = 1;
            }
            if (ON(rr + 1, cc - 1) && !ON(rr, cc - 1) && !ON(rr + 1, cc)) {
                draw_capsule(c, PX(rr, cc), PY(rr), PX(rr + 1, cc - 1), PY(rr + 1), rad, value, a);
                any = 1;
            }
            if (!any) draw_ellipse(c, PX(rr, cc), PY(rr), rad, rad, 0, value, a);
        }
#undef ON
#undef PX
#undef PY
    return 0;
}

void draw_background(Canvas *c, uint64_t *st, float mean, float amp, float noise) {
    int n = c->n;
    enum { W = 6 };
    float kx[W], ky[W], ph[W], am[W], tot = 0;
    for (int i = 0; i < W; i++) {
        float f = 1.0f + 7.0f * draw_rand(st), t = 6.2831853f * draw_rand(st);
        kx[i] = f * cosf(t);
        ky[i] = f * sinf(t);
        ph[i] = draw_rand(st);
        am[i] = 1.0f / f; /* 1/f amplitudes */
        tot += am[i];
    }
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            float u = (x + 0.5f) / n, v = (y + 0.5f) / n, s = 0;
            for (int i = 0; i < W; i++) s += am[i] * sinf(6.2831853f * (kx[i] * u + ky[i] * v + ph[i]));
            c->p[(size_t)y * n + x] = mean + amp * s / tot + noise * (draw_rand(st) * 2 - 1);
        }
}
