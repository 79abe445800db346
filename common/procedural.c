/* procedural.c: dead-leaves images with oriented textures (see procedural.h).
 *
 * Leaves are drawn front to back into a coverage mask: a pixel takes the colour of the first leaf
 * that covers it, and drawing stops when every pixel is covered (or after MAX_LEAVES; the rest get
 * a background). Leaf k reads 16 uniforms at words 16k.. of the image's Philox stream, so the scene
 * does not depend on the image size. Per-pixel sines come from a 4096-entry table.
 */
#include "procedural.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"

#define MAX_LEAVES 12000
#define RMIN 0.025
#define RMAX 0.8
#define SIN_N 4096

static float sin_tab[SIN_N];
static pthread_once_t sin_once = PTHREAD_ONCE_INIT;
static void sin_init(void) {
    for (int i = 0; i < SIN_N; i++) sin_tab[i] = (float)sin(2.0 * M_PI * i / SIN_N);
}
/* sin(2 pi t) for t in cycles */
static inline float sin_cyc(float t) {
    int i = (int)((t - floorf(t)) * SIN_N);
    return sin_tab[i & (SIN_N - 1)];
}

typedef struct { float r, g, b; } Rgb;

/* opponent colour (luminance L, red-green a, blue-yellow b) to RGB, clipped to [0, 1] */
static Rgb opp_rgb(float L, float a, float b) {
    Rgb c = {L + 0.6f * a + 0.25f * b, L - 0.45f * a + 0.25f * b, L - 0.1f * a - 0.8f * b};
    c.r = c.r < 0 ? 0 : c.r > 1 ? 1 : c.r;
    c.g = c.g < 0 ? 0 : c.g > 1 ? 1 : c.g;
    c.b = c.b < 0 ? 0 : c.b > 1 ? 1 : c.b;
    return c;
}

static float gauss(const float *u2) { /* Box-Muller from two uniforms */
    float a = u2[0] < 1e-7f ? 1e-7f : u2[0];
    return sqrtf(-2.0f * logf(a)) * cosf(6.2831853f * u2[1]);
}

static Rgb leaf_colour(const float *u) {
    float L = 0.08f + 0.84f * powf(u[0], 1.3f); /* a little skewed to dark, like natural scenes */
    float sat = 0.03f + 0.12f * u[1] * u[1];
    float a = sat * gauss(u + 2), b = sat * gauss(u + 4) + 0.03f; /* slight warm bias */
    return opp_rgb(L, a, b);
}

static inline uint8_t to8(float v) {
    int i = (int)(v * 255.0f + 0.5f);
    return (uint8_t)(i < 0 ? 0 : i > 255 ? 255 : i);
}

void procedural_image(uint8_t *px, int w, int h, uint64_t seed, int64_t index) {
    pthread_once(&sin_once, sin_init);
    uint64_t stream = rng_stream(RNG_PURPOSE_PROCEDURAL, (uint32_t)((uint64_t)index >> 24), (uint32_t)(index & 0xFFFFFF), 0);
    size_t n = (size_t)w * h;
    uint8_t *cover = calloc(n, 1);
    uint8_t *img = malloc(n * 3);
    if (!cover || !img) die(EXIT_RUNTIME, "out of memory making a procedural image");
    size_t left = n;
    float u[16];
    const float r2lo = (float)(1.0 / (RMIN * RMIN)), r2hi = (float)(1.0 / (RMAX * RMAX));
    Rgb bg = {0.5f, 0.5f, 0.5f};
    for (int k = 0; k < MAX_LEAVES && left > 0; k++) {
        for (int j = 0; j < 16; j += 4) {
            Philox4 b = philox_block(seed, stream, (uint64_t)k * 4 + (uint64_t)(j / 4));
            for (int q = 0; q < 4; q++) u[j + q] = (float)(b.v[q] >> 8) * (1.0f / 16777216.0f);
        }
        /* radius ~ r^-3 on [RMIN, RMAX] (inverse CDF), centre so the leaf can overlap the edge */
        float r = 1.0f / sqrtf(r2lo - u[0] * (r2lo - r2hi));
        float cx = -r + u[1] * (1 + 2 * r), cy = -r + u[2] * (1 + 2 * r);
        int shape = u[3] < 0.45f ? 0 : u[3] < 0.75f ? 1 : 2; /* disc, ellipse, rectangle */
        float ang = 3.14159265f * u[4], ca = cosf(ang), sa = sinf(ang);
        float aspect = shape == 0 ? 1.0f : 0.25f + 0.75f * u[5];
        Rgb c1 = leaf_colour(u + 6), c2 = leaf_colour(u + 10);
        int tex = u[12] < 0.4f ? 0 : u[12] < 0.62f ? 1 : u[12] < 0.88f ? 2 : 3; /* flat, lum grating, 2-colour, plaid */
        float tang = 3.14159265f * u[13];
        float freq = (1.5f + 10.0f * u[14] * u[14]) / r; /* cycles per image unit, ~ 1/size */
        freq = freq > 40.0f ? 40.0f : freq;
        float kx = freq * cosf(tang), ky = freq * sinf(tang);
        float k2x = freq * 0.8f * cosf(tang + 1.2f), k2y = freq * 0.8f * sinf(tang + 1.2f);
        float contrast = 0.15f + 0.5f * u[15], phase = u[5];
        if (k == 0) bg = c1;
        /* bounding box in pixels */
        float ext = r * 1.0001f;
        int x0 = (int)floorf((cx - ext) * w - 0.5f), x1 = (int)ceilf((cx + ext) * w - 0.5f);
        int y0 = (int)floorf((cy - ext) * h - 0.5f), y1 = (int)ceilf((cy + ext) * h - 0.5f);
        if (x0 < 0) x0 = 0;
        if (y0 < 0) y0 = 0;
        if (x1 > w - 1) x1 = w - 1;
        if (y1 > h - 1) y1 = h - 1;
        float ir2 = 1.0f / (r * r), iq2 = 1.0f / (r * r * aspect * aspect);
        for (int y = y0; y <= y1; y++) {
            float dy = (y + 0.5f) / h - cy;
            uint8_t *cv = cover + (size_t)y * w;
            for (int x = x0; x <= x1; x++) {
                if (cv[x]) continue;
                float dx = (x + 0.5f) / w - cx;
                float p = dx * ca + dy * sa, q = -dx * sa + dy * ca;
                int inside = shape == 2 ? (fabsf(p) <= r && fabsf(q) <= r * aspect) : (p * p * ir2 + q * q * iq2 <= 1.0f);
                if (!inside) continue;
                cv[x] = 1;
                left--;
                Rgb c = c1;
                if (tex == 1 || tex == 3) {
                    float s = sin_cyc(dx * kx + dy * ky + phase);
                    if (tex == 3) s = 0.5f * (s + sin_cyc(dx * k2x + dy * k2y));
                    float m = 1.0f + contrast * s;
                    c.r *= m;
                    c.g *= m;
                    c.b *= m;
                } else if (tex == 2) {
                    float s = 0.5f + 0.5f * sin_cyc(dx * kx + dy * ky + phase);
                    c.r += (c2.r - c1.r) * s;
                    c.g += (c2.g - c1.g) * s;
                    c.b += (c2.b - c1.b) * s;
                }
                uint8_t *o = img + ((size_t)y * w + x) * 3;
                o[0] = to8(c.r);
                o[1] = to8(c.g);
                o[2] = to8(c.b);
            }
        }
    }
    if (left)
        for (size_t i = 0; i < n; i++)
            if (!cover[i]) {
                img[3 * i] = to8(bg.r);
                img[3 * i + 1] = to8(bg.g);
                img[3 * i + 2] = to8(bg.b);
            }
    /* [1 2 1] / 4 blur in both directions (edges replicated), then up to +-3 levels of noise */
    free(cover);
    uint8_t *tmp = malloc(n * 3);
    if (!tmp) die(EXIT_RUNTIME, "out of memory making a procedural image");
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int xl = x > 0 ? x - 1 : 0, xr = x < w - 1 ? x + 1 : w - 1;
            const uint8_t *row = img + (size_t)y * w * 3;
            for (int c = 0; c < 3; c++)
                tmp[((size_t)y * w + x) * 3 + c] = (uint8_t)((row[3 * xl + c] + 2 * row[3 * x + c] + row[3 * xr + c] + 2) >> 2);
        }
    Philox4 nb = philox_block(seed, stream, (uint64_t)MAX_LEAVES * 4);
    uint64_t st = ((uint64_t)nb.v[0] << 32) | nb.v[1];
    for (int y = 0; y < h; y++) {
        int yu = y > 0 ? y - 1 : 0, yd = y < h - 1 ? y + 1 : h - 1;
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                size_t i = ((size_t)y * w + x) * 3 + c;
                int v = (tmp[((size_t)yu * w + x) * 3 + c] + 2 * tmp[i] + tmp[((size_t)yd * w + x) * 3 + c] + 2) >> 2;
                st = st * 6364136223846793005ULL + 1442695040888963407ULL;
                v += (int)((st >> 62) & 3) + (int)((st >> 60) & 3) - 3; /* triangular on [-3, 3] */
                px[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    }
    free(tmp);
    free(img);
}
