/* augment_driver.c: prints one 64-bit FNV-1a hash of many augmentation outputs, so that builds of
 * kernels/augment_cpu.c for different instruction sets (SSE2, AVX2, AVX-512: augment_simd.h picks
 * the vector width at compile time) can be compared bit for bit (tests/cli/t0105-augment-isa.sh).
 * The native build is checked against torchvision by tests/unit/test_augment.c; equal hashes carry
 * that check over to the other builds.
 *
 * Covered: every single step on interleaved RGB images of odd and even sizes (1x1 .. 67x45), the
 * blur at radii 0.1 .. 12 (both of its code paths), and whole views (augment_apply) with the
 * paper's parameters at S = 17, 32 and 96 from sources of several sizes. Inputs are Philox noise
 * plus smooth gradients (so hue and saturation see grey, saturated and in-between pixels).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "rng.h"

static uint64_t H = 1469598103934665603ull;
static void hash(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) H = (H ^ p[i]) * 1099511628211ull;
}

static void fill(uint8_t *im, int w, int h, uint64_t seed) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            Philox4 ph = philox_block(seed, 7, i);
            const uint32_t *r = ph.v;
            int smooth = (int)(255.0 * (x + 0.5) / w), smooth2 = (int)(255.0 * (y + 0.5) / h);
            int mix = r[3] % 4; /* 0: noise, 1: gradient, 2: grey, 3: noisy gradient */
            for (int c = 0; c < 3; c++) {
                int v = mix == 0 ? (int)(r[c] & 255)
                      : mix == 1 ? (c == 0 ? smooth : c == 1 ? smooth2 : 255 - smooth)
                      : mix == 2 ? smooth
                                 : (smooth + (int)(r[c] % 41) - 20);
                im[3 * i + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
}

int main(void) {
    static const int sizes[][2] = {{1, 1}, {2, 3}, {7, 5}, {16, 16}, {17, 9}, {31, 33}, {64, 48}, {67, 45}};
    static const float radii[] = {0.1f, 0.5f, 1.0f, 1.7f, 2.0f, 3.3f, 8.0f, 8.5f, 12.0f};
    static const float factors[] = {0.0f, 0.2f, 0.77f, 1.0f, 1.31f, 1.8f};
    static const float shifts[] = {-0.5f, -0.2f, -0.03f, 0.0f, 0.11f, 0.2f, 0.5f};
    int ns = (int)(sizeof sizes / sizeof sizes[0]);
    uint8_t *a = malloc(3 * 67 * 48), *b = malloc(3 * 67 * 48);
    for (int k = 0; k < ns; k++) {
        int w = sizes[k][0], h = sizes[k][1];
        size_t n = (size_t)w * h, bytes = 3 * n;
        fill(a, w, h, (uint64_t)k);
        for (size_t f = 0; f < sizeof factors / sizeof factors[0]; f++) {
            memcpy(b, a, bytes); augment_brightness(b, n, factors[f]); hash(b, bytes);
            memcpy(b, a, bytes); augment_contrast(b, n, factors[f]); hash(b, bytes);
            memcpy(b, a, bytes); augment_saturation(b, n, factors[f]); hash(b, bytes);
        }
        for (size_t s = 0; s < sizeof shifts / sizeof shifts[0]; s++) {
            memcpy(b, a, bytes); augment_hue(b, n, shifts[s]); hash(b, bytes);
        }
        memcpy(b, a, bytes); augment_grayscale(b, n); hash(b, bytes);
        memcpy(b, a, bytes); augment_flip(b, w, h); hash(b, bytes);
        for (size_t r = 0; r < sizeof radii / sizeof radii[0]; r++) {
            memcpy(b, a, bytes); augment_gaussian_blur(b, w, h, radii[r]); hash(b, bytes);
        }
    }
    /* whole views */
    static const int src[][2] = {{120, 90}, {97, 131}, {250, 187}};
    static const int outs[] = {17, 32, 96};
    AugmentConfig cfg;
    augment_config_default(&cfg);
    AugmentScratch *sc = augment_scratch_new();
    uint8_t *img = malloc(3 * 250 * 187), *view = malloc(3 * 96 * 96);
    int views = 0;
    for (int k = 0; k < 3; k++) {
        int w = src[k][0], h = src[k][1];
        fill(img, w, h, 100 + (uint64_t)k);
        AugmentSource s = {img, w, h, (size_t)w * 3, 1.0, 0, 0};
        for (int o = 0; o < 3; o++)
            for (uint64_t v = 0; v < 40; v++) {
                AugmentParams p;
                augment_sample(&p, &cfg, w, h, 42, v + 1000 * (uint64_t)(3 * k + o));
                if (augment_apply(view, outs[o], &s, &p, sc) != 0) { fprintf(stderr, "augment_apply failed\n"); return 1; }
                hash(view, (size_t)3 * outs[o] * outs[o]);
                views++;
            }
    }
    augment_scratch_free(sc);
    free(a); free(b); free(img); free(view);
    printf("%016llx %d views\n", (unsigned long long)H, views);
    return 0;
}
