/* floc_procedural.c: the built-in stand-in for the fLoc stimuli (see stimuli.h): 10 categories of
 * schematic grayscale drawings, each on a low-contrast 1/f-noise background, built so that the
 * categories differ in structure the way fLoc's do:
 *   adult/child  face ovals with hair, ears, eyes, brows, nose and mouth; children have rounder
 *                heads, lower and larger eyes, small noses and mouths, narrow shoulders;
 *   body         whole standing figures (head without a face), posed arms and legs;
 *   limb         close-ups of one arm with a hand and fingers, or one leg with a foot;
 *   word/number  pseudowords (consonant-vowel strings) and digit strings from the 5 x 7 glyph set;
 *   car          side views: body, cabin with windows, two wheels;
 *   instrument   guitar, violin, trumpet, drum or keyboard;
 *   house        facades in two-point perspective with roof, windows and a door;
 *   corridor     one-point perspective interiors with doors and ceiling lights.
 * Position, size, pose and grey levels vary per image; everything comes from a splitmix64 state
 * seeded by (seed, category, index), so an image is a pure function of those and its size.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "draw.h"
#include "error.h"
#include "stimuli.h"

#define R(st) draw_rand(st)
#define U(st, a, b) ((a) + ((b) - (a)) * draw_rand(st))

/* rotate point (x, y) about (cx, cy) by angle a */
static void rot(float *x, float *y, float cx, float cy, float a) {
    float dx = *x - cx, dy = *y - cy, c = cosf(a), s = sinf(a);
    *x = cx + dx * c - dy * s;
    *y = cy + dx * s + dy * c;
}

/* ---- faces ---------------------------------------------------------------------------------------- */
static void face(Canvas *c, uint64_t *st, int child) {
    float s = U(st, 0.85f, 1.1f);
    float cx = 0.5f + U(st, -0.06f, 0.06f), cy = 0.47f + U(st, -0.05f, 0.05f);
    float W = (child ? 0.205f : 0.19f) * s, H = W * (child ? U(st, 1.08f, 1.16f) : U(st, 1.32f, 1.45f));
    float skin = U(st, 0.55f, 0.82f), hair = R(st) < 0.75f ? U(st, 0.08f, 0.35f) : U(st, 0.6f, 0.85f);
    float cloth = U(st, 0.15f, 0.85f), yaw = U(st, -0.18f, 0.18f) * W;
    /* shoulders and neck */
    draw_ellipse(c, cx, cy + H * 1.75f, W * (child ? 1.55f : 2.3f), H * 0.75f, 0, cloth, 1);
    draw_rect(c, cx, cy + H * 1.0f, W * (child ? 0.5f : 0.62f), H * 0.8f, 0, skin * 0.9f, 1);
    /* hair behind the head */
    int longhair = R(st) < 0.4f;
    draw_ellipse(c, cx, cy - H * 0.12f + (longhair ? H * 0.25f : 0), W * 1.12f, H * (longhair ? 1.15f : 0.92f), 0, hair, 1);
    /* ears */
    float ear_y = cy + (child ? 0.1f : 0.02f) * H;
    draw_ellipse(c, cx - W * 0.97f + yaw * 0.3f, ear_y, W * 0.15f, W * 0.27f, 0, skin * 0.9f, 1);
    draw_ellipse(c, cx + W * 0.97f + yaw * 0.3f, ear_y, W * 0.15f, W * 0.27f, 0, skin * 0.9f, 1);
    /* face */
    draw_ellipse(c, cx, cy, W, H, 0, skin, 1);
    /* fringe: children have a larger forehead, i.e. the hairline sits relatively higher */
    draw_ellipse(c, cx + yaw * 0.3f, cy - H * (child ? 0.98f : 0.86f), W * 0.98f, H * (child ? 0.3f : 0.36f),
                 U(st, -0.2f, 0.2f), hair, 1);
    /* eyes: adults at mid-height, children lower and larger */
    float ey = cy + (child ? 0.12f : -0.06f) * H, ex = W * (child ? 0.4f : 0.42f);
    float erx = W * (child ? 0.21f : 0.17f), ery = W * (child ? 0.14f : 0.085f), ir = W * (child ? 0.105f : 0.075f);
    for (int k = -1; k <= 1; k += 2) {
        float x = cx + k * ex + yaw;
        draw_ellipse(c, x, ey, erx, ery, 0, 0.93f, 1);
        draw_ellipse(c, x + yaw * 0.2f, ey, ir, ir, 0, U(st, 0.05f, 0.3f), 1);
        draw_ellipse(c, x + yaw * 0.2f - ir * 0.3f, ey - ir * 0.3f, ir * 0.25f, ir * 0.25f, 0, 1.0f, 0.9f);
        /* brows */
        float by = ey - ery - W * (child ? 0.16f : 0.1f);
        draw_capsule(c, x - erx * 0.9f, by + W * 0.02f, x + erx * 0.9f, by - W * 0.02f * k, W * (child ? 0.025f : 0.045f),
                     child ? hair * 0.5f + skin * 0.5f : hair * 0.8f, 1);
    }
    /* nose */
    if (child) {
        draw_ellipse(c, cx + yaw * 1.1f, ey + H * 0.28f, W * 0.1f, W * 0.065f, 0, skin * 0.78f, 1);
    } else {
        draw_capsule(c, cx + yaw * 1.1f, ey + H * 0.06f, cx + yaw * 1.2f, ey + H * 0.4f, W * 0.055f, skin * 0.85f, 1);
        draw_ellipse(c, cx + yaw * 1.2f - W * 0.07f, ey + H * 0.42f, W * 0.05f, W * 0.03f, 0, skin * 0.5f, 1);
        draw_ellipse(c, cx + yaw * 1.2f + W * 0.07f, ey + H * 0.42f, W * 0.05f, W * 0.03f, 0, skin * 0.5f, 1);
    }
    /* mouth */
    float my = child ? cy + H * 0.62f : cy + H * 0.58f;
    draw_ellipse(c, cx + yaw, my, W * (child ? 0.2f : 0.33f), W * U(st, 0.04f, 0.09f), 0, U(st, 0.2f, 0.4f), 1);
    /* some adults: moustache or beard */
    if (!child && R(st) < 0.35f) {
        if (R(st) < 0.5f) draw_capsule(c, cx + yaw - W * 0.3f, my - W * 0.12f, cx + yaw + W * 0.3f, my - W * 0.12f, W * 0.06f, hair, 1);
        else draw_ellipse(c, cx + yaw, cy + H * 0.78f, W * 0.65f, H * 0.3f, 0, hair, 0.75f);
    }
}

/* ---- bodies and limbs ------------------------------------------------------------------------------ */
static void limb_chain(Canvas *c, float x0, float y0, float a0, float l0, float a1, float l1, float r0, float r1, float v,
                       float *ex, float *ey) {
    float x1 = x0 + l0 * sinf(a0), y1 = y0 + l0 * cosf(a0);
    float x2 = x1 + l1 * sinf(a0 + a1), y2 = y1 + l1 * cosf(a0 + a1);
    draw_capsule(c, x0, y0, x1, y1, r0, v, 1);
    draw_capsule(c, x1, y1, x2, y2, r1, v, 1);
    *ex = x2;
    *ey = y2;
}

static void body(Canvas *c, uint64_t *st) {
    float Hb = U(st, 0.72f, 0.9f), cx = 0.5f + U(st, -0.08f, 0.08f), top = (1 - Hb) * 0.5f + U(st, -0.03f, 0.03f);
    float skin = U(st, 0.55f, 0.8f), shirt = U(st, 0.1f, 0.9f), pants = U(st, 0.1f, 0.7f);
    float hr = Hb * 0.065f, sh_y = top + Hb * 0.17f, hip_y = top + Hb * 0.5f;
    float shw = Hb * U(st, 0.1f, 0.13f), hipw = Hb * U(st, 0.07f, 0.09f);
    float lean = U(st, -0.08f, 0.08f);
    /* legs (behind the torso) */
    for (int k = -1; k <= 1; k += 2) {
        float ex, ey;
        limb_chain(c, cx + k * hipw * 0.6f, hip_y, k * U(st, 0.0f, 0.35f) + lean, Hb * 0.25f, U(st, -0.5f, 0.2f) * k, Hb * 0.24f,
                   Hb * 0.045f, Hb * 0.036f, pants, &ex, &ey);
        draw_ellipse(c, ex + k * Hb * 0.02f, ey + Hb * 0.01f, Hb * 0.05f, Hb * 0.022f, 0, U(st, 0.05f, 0.3f), 1);
    }
    /* torso */
    float t[8] = {cx - shw + lean * 0.1f, sh_y, cx + shw + lean * 0.1f, sh_y, cx + hipw, hip_y + Hb * 0.03f, cx - hipw, hip_y + Hb * 0.03f};
    draw_polygon(c, t, 4, shirt, 1);
    draw_ellipse(c, cx, sh_y + Hb * 0.01f, shw, Hb * 0.035f, 0, shirt, 1);
    /* arms */
    for (int k = -1; k <= 1; k += 2) {
        float ex, ey;
        limb_chain(c, cx + k * shw * 0.92f, sh_y + Hb * 0.02f, k * U(st, 0.05f, 1.6f), Hb * 0.17f, k * U(st, -0.2f, 1.4f),
                   Hb * 0.16f, Hb * 0.032f, Hb * 0.026f, shirt * 0.7f + skin * 0.3f, &ex, &ey);
        draw_ellipse(c, ex, ey, Hb * 0.026f, Hb * 0.032f, 0, skin, 1);
    }
    /* neck and a featureless head */
    draw_capsule(c, cx, sh_y - Hb * 0.04f, cx, sh_y, Hb * 0.025f, skin * 0.9f, 1);
    draw_ellipse(c, cx + lean * 0.1f, top + hr * 1.2f, hr * 0.85f, hr, 0, skin * U(st, 0.85f, 1.0f), 1);
    draw_ellipse(c, cx + lean * 0.1f, top + hr * 0.7f, hr * 0.9f, hr * 0.6f, 0, U(st, 0.05f, 0.4f), 1);
}

static void limb(Canvas *c, uint64_t *st) {
    float skin = U(st, 0.55f, 0.85f), ang = U(st, 0, 6.2831853f), cx = 0.5f, cy = 0.5f;
    int leg = R(st) < 0.5f;
    /* build in a canonical frame (limb pointing down from the top), then rotate */
    enum { MAXP = 64 };
    float seg[4][5]; /* x0 y0 x1 y1 r */
    int nseg = 0;
    float x0 = 0.5f + U(st, -0.1f, 0.1f), y0 = -0.05f, bend = U(st, -0.6f, 0.6f);
    float l0 = U(st, 0.3f, 0.38f), l1 = U(st, 0.25f, 0.33f), r0 = leg ? 0.085f : 0.065f, r1 = leg ? 0.065f : 0.05f;
    float x1 = x0, y1 = y0 + l0, x2 = x1 + l1 * sinf(bend), y2 = y1 + l1 * cosf(bend);
    float v = leg && R(st) < 0.6f ? U(st, 0.1f, 0.5f) : skin; /* trousers on some legs */
    seg[nseg][0] = x0; seg[nseg][1] = y0; seg[nseg][2] = x1; seg[nseg][3] = y1; seg[nseg][4] = r0; nseg++;
    seg[nseg][0] = x1; seg[nseg][1] = y1; seg[nseg][2] = x2; seg[nseg][3] = y2; seg[nseg][4] = r1; nseg++;
    for (int i = 0; i < nseg; i++) {
        rot(&seg[i][0], &seg[i][1], cx, cy, ang);
        rot(&seg[i][2], &seg[i][3], cx, cy, ang);
        draw_capsule(c, seg[i][0], seg[i][1], seg[i][2], seg[i][3], seg[i][4], i ? (leg ? v : skin) : v, 1);
    }
    float dx = sinf(bend), dy = cosf(bend); /* direction of the lower segment, canonical frame */
    if (leg) { /* foot or shoe: a sole polygon at the end, toes forward */
        float side = R(st) < 0.5f ? -1.0f : 1.0f, shoe = U(st, 0.05f, 0.6f);
        float px = -dy * side, py = dx * side; /* forward */
        float f[8] = {x2 - dx * 0.02f - px * 0.04f, y2 - dy * 0.02f - py * 0.04f, x2 + px * 0.16f, y2 + py * 0.16f,
                      x2 + px * 0.16f + dx * 0.06f, y2 + py * 0.16f + dy * 0.06f, x2 - px * 0.05f + dx * 0.07f,
                      y2 - py * 0.05f + dy * 0.07f};
        for (int i = 0; i < 4; i++) rot(&f[2 * i], &f[2 * i + 1], cx, cy, ang);
        draw_polygon(c, f, 4, shoe, 1);
    } else { /* hand: palm and five fingers */
        float hx = x2 + dx * 0.05f, hy = y2 + dy * 0.05f, rx = hx, ry = hy;
        rot(&rx, &ry, cx, cy, ang);
        draw_ellipse(c, rx, ry, 0.055f, 0.065f, atan2f(-dx, dy) + ang, skin, 1);
        float spread = U(st, 0.1f, 0.35f);
        for (int k = 0; k < 5; k++) {
            float a = bend + (k - 2) * spread * 0.5f + (k == 0 ? -0.7f : 0);
            float len = k == 0 ? 0.06f : (k == 2 ? 0.1f : 0.085f);
            float bx = hx + dx * 0.04f + (k - 2) * 0.018f * dy, by = hy + dy * 0.04f - (k - 2) * 0.018f * dx;
            float tx = bx + len * sinf(a), ty = by + len * cosf(a);
            rot(&bx, &by, cx, cy, ang);
            rot(&tx, &ty, cx, cy, ang);
            draw_capsule(c, bx, by, tx, ty, 0.014f, skin * 0.95f, 1);
        }
    }
}

/* ---- characters ------------------------------------------------------------------------------------ */
static void text(Canvas *c, uint64_t *st, int digits) {
    static const char cons[] = "bcdfghjklmnprstvwz", vow[] = "aeiou";
    char s[8];
    int n = digits ? 2 + (int)(R(st) * 4) : 3 + (int)(R(st) * 4);
    for (int i = 0; i < n; i++) {
        if (digits) s[i] = (char)('0' + (int)(R(st) * 10));
        else s[i] = (i % 2 == (R(st) < 0.3f)) ? cons[(int)(R(st) * 18)] : vow[(int)(R(st) * 5)];
    }
    float total = U(st, 0.5f, 0.8f), w = total / (n + (n - 1) * 0.3f);
    if (w > 0.16f) w = 0.16f;
    float x = 0.5f - (n * w + (n - 1) * 0.3f * w) / 2 + U(st, -0.05f, 0.05f);
    float y = 0.5f - 0.7f * w + U(st, -0.12f, 0.12f);
    float slant = R(st) < 0.3f ? U(st, 0.1f, 0.25f) : 0, r = U(st, 0.08f, 0.13f);
    float ink = R(st) < 0.8f ? U(st, 0.0f, 0.2f) : U(st, 0.85f, 1.0f);
    for (int i = 0; i < n; i++) draw_glyph(c, s[i], x + i * 1.3f * w, y, w, slant, r, ink, 1);
}

/* ---- objects ---------------------------------------------------------------------------------------- */
static void car(Canvas *c, uint64_t *st) {
    float L = U(st, 0.62f, 0.8f), x0 = 0.5f - L / 2 + U(st, -0.05f, 0.05f), yb = 0.62f + U(st, -0.06f, 0.06f);
    float hb = L * U(st, 0.16f, 0.22f), hc = L * U(st, 0.14f, 0.22f), paint = U(st, 0.1f, 0.9f);
    int flip = R(st) < 0.5f, suv = R(st) < 0.3f;
#define FX(x) (flip ? 1.0f - (x) : (x))
    float body[12] = {FX(x0), yb, FX(x0 + L), yb, FX(x0 + L), yb - hb * 0.8f, FX(x0 + L * 0.93f), yb - hb,
                      FX(x0 + L * 0.05f), yb - hb * (suv ? 1.0f : 0.95f), FX(x0), yb - hb * 0.7f};
    draw_polygon(c, body, 6, paint, 1);
    float c0 = x0 + L * (suv ? 0.12f : 0.22f), c1 = x0 + L * (suv ? 0.9f : 0.75f);
    float cabin[8] = {FX(c0), yb - hb + 0.005f, FX(c1), yb - hb + 0.005f, FX(c1 - L * 0.08f), yb - hb - hc,
                      FX(c0 + L * (suv ? 0.03f : 0.1f)), yb - hb - hc};
    draw_polygon(c, cabin, 4, paint, 1);
    float glass = paint < 0.5f ? U(st, 0.6f, 0.85f) : U(st, 0.1f, 0.35f), m = (c0 + c1) / 2;
    float w1[8] = {FX(c0 + L * 0.03f), yb - hb - 0.01f, FX(m - 0.01f), yb - hb - 0.01f, FX(m - 0.01f), yb - hb - hc * 0.85f,
                   FX(c0 + L * (suv ? 0.05f : 0.11f)), yb - hb - hc * 0.85f};
    float w2[8] = {FX(m + 0.01f), yb - hb - 0.01f, FX(c1 - L * 0.03f), yb - hb - 0.01f, FX(c1 - L * 0.09f), yb - hb - hc * 0.85f,
                   FX(m + 0.01f), yb - hb - hc * 0.85f};
    draw_polygon(c, w1, 4, glass, 1);
    draw_polygon(c, w2, 4, glass, 1);
    float wr = L * U(st, 0.1f, 0.12f);
    for (int k = 0; k < 2; k++) {
        float wx = FX(x0 + L * (k ? 0.8f : 0.2f));
        draw_ellipse(c, wx, yb, wr, wr, 0, U(st, 0.02f, 0.12f), 1);
        draw_ellipse(c, wx, yb, wr * 0.5f, wr * 0.5f, 0, U(st, 0.55f, 0.85f), 1);
    }
    draw_ellipse(c, FX(x0 + L * 0.985f), yb - hb * 0.6f, L * 0.02f, hb * 0.12f, 0, 0.95f, 1); /* headlight */
#undef FX
}

static void instrument(Canvas *c, uint64_t *st) {
    int type = (int)(R(st) * 5);
    float ang = U(st, -0.9f, 0.9f), cx = 0.5f + U(st, -0.05f, 0.05f), cy = 0.5f + U(st, -0.05f, 0.05f);
    float wood = U(st, 0.25f, 0.7f);
    if (type <= 1) { /* guitar (0) or violin (1): two-lobed body along an axis, neck, strings */
        float sz = type ? 0.75f : 1.0f, ca = sinf(ang), sa = cosf(ang); /* axis direction (down = +) */
        float bx = cx - ca * 0.12f * sz, by = cy + sa * 0.12f * sz;
        draw_capsule(c, bx, by, bx + ca * 0.62f * sz, by - sa * 0.62f * sz, 0.03f * sz, wood * 0.6f, 1); /* neck */
        draw_ellipse(c, bx, by, 0.17f * sz, 0.15f * sz, -ang, wood, 1);
        draw_ellipse(c, bx + ca * 0.17f * sz, by - sa * 0.17f * sz, 0.12f * sz, 0.11f * sz, -ang, wood, 1);
        if (type == 0) draw_ellipse(c, bx + ca * 0.1f, by - sa * 0.1f, 0.05f, 0.05f, 0, 0.05f, 1);
        else
            for (int k = -1; k <= 1; k += 2)
                draw_capsule(c, bx + k * sa * 0.07f + ca * 0.06f, by + k * ca * 0.07f - sa * 0.06f, bx + k * sa * 0.07f - ca * 0.04f,
                             by + k * ca * 0.07f + sa * 0.04f, 0.008f, 0.05f, 1);
        float hx = bx + ca * 0.62f * sz, hy = by - sa * 0.62f * sz;
        draw_rect(c, hx + ca * 0.04f, hy - sa * 0.04f, 0.07f * sz, 0.1f * sz, -ang, wood * 0.5f, 1); /* head */
        for (int k = -2; k <= 2; k++) { /* strings */
            float o = k * 0.008f * sz;
            draw_capsule(c, bx - ca * 0.1f * sz + sa * o, by + sa * 0.1f * sz + ca * o, hx + sa * o, hy + ca * o, 0.0022f, 0.92f, 0.9f);
        }
    } else if (type == 2) { /* trumpet: tube, flared bell, three valves */
        float L = U(st, 0.55f, 0.7f), x0 = cx - L / 2, metal = U(st, 0.55f, 0.85f);
        float pts[6] = {x0 + L * 0.7f, cy, x0 + L, cy - 0.11f, x0 + L, cy + 0.11f};
        for (int i = 0; i < 3; i++) rot(&pts[2 * i], &pts[2 * i + 1], cx, cy, ang * 0.4f);
        float a0x = x0, a0y = cy, a1x = x0 + L * 0.75f, a1y = cy;
        rot(&a0x, &a0y, cx, cy, ang * 0.4f);
        rot(&a1x, &a1y, cx, cy, ang * 0.4f);
        draw_capsule(c, a0x, a0y, a1x, a1y, 0.018f, metal, 1);
        draw_polygon(c, pts, 3, metal * 0.9f, 1);
        for (int k = 0; k < 3; k++) {
            float vx = x0 + L * (0.35f + 0.08f * k), vy = cy - 0.05f;
            rot(&vx, &vy, cx, cy, ang * 0.4f);
            draw_rect(c, vx, vy, 0.025f, 0.09f, ang * 0.4f, metal * 0.7f, 1);
        }
        float lx = x0 + L * 0.2f, ly = cy + 0.05f, rx2 = x0 + L * 0.6f, ry2 = cy + 0.05f;
        rot(&lx, &ly, cx, cy, ang * 0.4f);
        rot(&rx2, &ry2, cx, cy, ang * 0.4f);
        draw_capsule(c, lx, ly, rx2, ry2, 0.014f, metal * 0.8f, 1);
    } else if (type == 3) { /* drum: cylinder with rods, two sticks */
        float rw = U(st, 0.22f, 0.3f), rh = rw * 0.35f, hgt = U(st, 0.18f, 0.28f), shell = U(st, 0.1f, 0.6f);
        draw_rect(c, cx, cy + hgt / 2, rw * 2, hgt, 0, shell, 1);
        draw_ellipse(c, cx, cy + hgt, rw, rh, 0, shell * 0.8f, 1);
        draw_ellipse(c, cx, cy, rw, rh, 0, U(st, 0.8f, 0.95f), 1);
        for (int k = -3; k <= 3; k++) draw_capsule(c, cx + k * rw * 0.28f, cy + rh * 0.6f, cx + k * rw * 0.28f, cy + hgt + rh * 0.5f, 0.004f, 0.9f, 1);
        draw_capsule(c, cx - rw * 0.9f, cy - rw * 0.9f, cx - rw * 0.1f, cy - rh * 0.2f, 0.008f, wood, 1);
        draw_capsule(c, cx + rw * 0.9f, cy - rw * 0.8f, cx + rw * 0.2f, cy - rh * 0.1f, 0.008f, wood, 1);
    } else { /* keyboard: white keys with black keys */
        int nk = 10 + (int)(R(st) * 6);
        float kw = U(st, 0.045f, 0.06f), kh = kw * U(st, 4.0f, 5.5f), x0 = cx - nk * kw / 2, y0 = cy - kh / 2;
        draw_rect(c, cx, y0 - kh * 0.12f, nk * kw + 0.04f, kh * 0.3f, 0, U(st, 0.05f, 0.3f), 1);
        for (int k = 0; k < nk; k++) draw_rect(c, x0 + (k + 0.5f) * kw, cy, kw * 0.92f, kh, 0, 0.95f, 1);
        for (int k = 0; k < nk - 1; k++) {
            int m = k % 7;
            if (m == 2 || m == 6) continue;
            draw_rect(c, x0 + (k + 1) * kw, y0 + kh * 0.3f, kw * 0.55f, kh * 0.6f, 0, 0.05f, 1);
        }
    }
}

/* ---- places ----------------------------------------------------------------------------------------- */
/* point at (u, v) in [0,1]^2 of a quad p0 p1 p2 p3 (bilinear) */
static void quad_pt(const float *q, float u, float v, float *x, float *y) {
    *x = (1 - u) * (1 - v) * q[0] + u * (1 - v) * q[2] + u * v * q[4] + (1 - u) * v * q[6];
    *y = (1 - u) * (1 - v) * q[1] + u * (1 - v) * q[3] + u * v * q[5] + (1 - u) * v * q[7];
}

static void sub_quad(Canvas *c, const float *q, float u0, float v0, float u1, float v1, float value) {
    float p[8];
    quad_pt(q, u0, v0, &p[0], &p[1]);
    quad_pt(q, u1, v0, &p[2], &p[3]);
    quad_pt(q, u1, v1, &p[4], &p[5]);
    quad_pt(q, u0, v1, &p[6], &p[7]);
    draw_polygon(c, p, 4, value, 1);
}

static void house(Canvas *c, uint64_t *st) {
    float ground = U(st, 0.72f, 0.85f), sky = U(st, 0.65f, 0.95f);
    draw_rect(c, 0.5f, ground / 2, 1.2f, ground, 0, sky, 0.7f);
    draw_rect(c, 0.5f, (1 + ground) / 2, 1.2f, 1 - ground, 0, U(st, 0.2f, 0.5f), 1);
    /* two-point perspective: the corner edge at xc, walls receding to both sides */
    float xc = U(st, 0.35f, 0.65f), hwall = U(st, 0.25f, 0.35f), wl = U(st, 0.25f, 0.4f), wr = U(st, 0.2f, 0.35f);
    float dl = U(st, 0.04f, 0.09f), dr = U(st, 0.03f, 0.08f); /* how much far edges shrink */
    float yb = ground + 0.02f, yt = yb - hwall;
    float L[8] = {xc - wl, yt + dl, xc, yt, xc, yb, xc - wl, yb - dl * 0.3f};   /* left wall: far top, near top, near bottom, far bottom */
    float Rr[8] = {xc, yt, xc + wr, yt + dr, xc + wr, yb - dr * 0.3f, xc, yb};
    float wall = U(st, 0.45f, 0.85f);
    draw_polygon(c, L, 4, wall, 1);
    draw_polygon(c, Rr, 4, wall * 0.75f, 1);
    /* gable roof over the left wall, sloped roof plane over the right */
    float apex_x = xc - wl / 2, apex_y = yt - hwall * U(st, 0.35f, 0.6f), roof = U(st, 0.1f, 0.4f);
    float g[6] = {xc - wl - 0.01f, yt + dl, xc + 0.01f, yt, apex_x, apex_y};
    draw_polygon(c, g, 3, wall * 0.9f, 1);
    float rp[8] = {apex_x, apex_y, xc, yt, xc + wr, yt + dr, apex_x + wr, apex_y + dr};
    draw_polygon(c, rp, 4, roof, 1);
    draw_capsule(c, xc - wl - 0.01f, yt + dl, apex_x, apex_y, 0.008f, roof, 1);
    /* windows in a grid on both walls, a door on the left wall */
    float glass = U(st, 0.05f, 0.35f);
    int nl = 2 + (int)(R(st) * 2), nr = 1 + (int)(R(st) * 2);
    for (int i = 0; i < nl; i++) {
        float u0 = (i + 0.25f) / nl, u1 = (i + 0.75f) / nl;
        sub_quad(c, L, u0, 0.15f, u1, 0.4f, glass);
        if (i != nl / 2) sub_quad(c, L, u0, 0.55f, u1, 0.8f, glass);
    }
    sub_quad(c, L, (nl / 2 + 0.3f) / nl, 0.55f, (nl / 2 + 0.7f) / nl, 1.0f, U(st, 0.05f, 0.3f));
    for (int i = 0; i < nr; i++) {
        float u0 = (i + 0.25f) / nr, u1 = (i + 0.75f) / nr;
        sub_quad(c, Rr, u0, 0.15f, u1, 0.4f, glass);
        sub_quad(c, Rr, u0, 0.55f, u1, 0.8f, glass);
    }
}

static void corridor(Canvas *c, uint64_t *st) {
    float vx = 0.5f + U(st, -0.12f, 0.12f), vy = 0.48f + U(st, -0.08f, 0.08f), bw = U(st, 0.08f, 0.14f), bh = bw * U(st, 1.3f, 1.8f);
    float bx0 = vx - bw / 2, bx1 = vx + bw / 2, by0 = vy - bh / 2, by1 = vy + bh / 2;
    float floor_v = U(st, 0.2f, 0.45f), ceil_v = U(st, 0.7f, 0.9f), wl = U(st, 0.45f, 0.7f), wr = wl * U(st, 0.75f, 0.95f);
    float F[8] = {-0.05f, 1.05f, 1.05f, 1.05f, bx1, by1, bx0, by1};
    float C[8] = {-0.05f, -0.05f, 1.05f, -0.05f, bx1, by0, bx0, by0};
    float Lw[8] = {-0.05f, -0.05f, bx0, by0, bx0, by1, -0.05f, 1.05f};
    float Rw[8] = {1.05f, -0.05f, bx1, by0, bx1, by1, 1.05f, 1.05f};
    draw_polygon(c, F, 4, floor_v, 1);
    draw_polygon(c, C, 4, ceil_v, 1);
    draw_polygon(c, Lw, 4, wl, 1);
    draw_polygon(c, Rw, 4, wr, 1);
    draw_rect(c, vx, vy, bw, bh, 0, U(st, 0.3f, 0.95f), 1); /* end wall */
    /* doors: on each side wall, at depths t (0 near .. 1 far), perspective-shrunk */
    float door = U(st, 0.1f, 0.4f);
    for (int side = 0; side < 2; side++) {
        const float *W = side ? Rw : Lw;
        /* wall quad as (near-top, far-top, far-bottom, near-bottom) in u = depth, v = height */
        float q[8] = {W[0], W[1], W[2], W[3], W[4], W[5], W[6], W[7]};
        int nd = 1 + (int)(R(st) * 3);
        for (int k = 0; k < nd; k++) {
            float t0 = U(st, 0.15f, 0.75f), t1 = t0 + 0.06f + 0.05f * (1 - t0);
            float u0 = 1 - powf(1 - t0, 0.6f), u1 = 1 - powf(1 - (t1 > 0.97f ? 0.97f : t1), 0.6f);
            sub_quad(c, q, u0, 0.35f, u1, 1.0f, door);
        }
    }
    /* ceiling lights along the centre line, floor tile lines to the vanishing point */
    for (int k = 0; k < 4; k++) {
        float t = 0.25f + 0.18f * k, s = 1 - t;
        float lx = vx, ly = vy - (vy - by0) - (vy + 0.05f) * s * 0.9f;
        draw_rect(c, lx, ly, 0.25f * s + 0.02f, 0.03f * s + 0.005f, 0, 0.98f, 1);
    }
    for (int k = 1; k < 6; k++) draw_capsule(c, k / 6.0f, 1.05f, bx0 + bw * k / 6.0f, by1, 0.002f, floor_v * 0.6f, 1);
}

void stimuli_floc_procedural(uint8_t *px, int N, int cat, uint64_t seed, int64_t index) {
    uint64_t st = seed * 0x9E3779B97F4A7C15ULL ^ ((uint64_t)cat << 56) ^ (uint64_t)index * 0xD1B54A32D192ED03ULL;
    draw_rand(&st);
    Canvas *c = canvas_new(N, 0.5f);
    draw_background(c, &st, U(&st, 0.4f, 0.6f), 0.14f, 0.03f);
    switch (cat) {
    case 0: text(c, &st, 1); break;
    case 1: text(c, &st, 0); break;
    case 2: limb(c, &st); break;
    case 3: body(c, &st); break;
    case 4: face(c, &st, 0); break;
    case 5: face(c, &st, 1); break;
    case 6: car(c, &st); break;
    case 7: instrument(c, &st); break;
    case 8: house(c, &st); break;
    case 9: corridor(c, &st); break;
    default: die(EXIT_RUNTIME, "internal: fLoc category %d", cat);
    }
    canvas_to_rgb(c, px);
    canvas_free(c);
}
