/* augment_cpu.c: SimCLR view augmentation on the CPU, Pillow 9.4 / torchvision 0.14 arithmetic
 * reproduced step by step (see augment.h for the pipeline and its conventions).
 *
 * Pixel buffers are RGB uint8 [h][w][3]. Every step is in place on the S x S view. Floating-point
 * expressions mirror Pillow's C source types (float vs double) and must not be fused into FMAs,
 * hence fp-contract=off for this file.
 */
#pragma GCC optimize("fp-contract=off")

#include "augment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "rng.h"

void augment_config_default(AugmentConfig *c) {
    c->crop_scale_min = 0.08f;
    c->crop_scale_max = 1.0f;
    c->crop_ratio_min = 3.0f / 4.0f;
    c->crop_ratio_max = 4.0f / 3.0f;
    c->flip_p = 0.5f;
    c->jitter_p = 0.8f;
    c->brightness = c->contrast = c->saturation = 0.8f;
    c->hue = 0.2f;
    c->gray_p = 0.2f;
    c->blur_p = 0.5f;
    c->blur_sigma_min = 0.1f;
    c->blur_sigma_max = 2.0f;
}

/* ---- parameters --------------------------------------------------------------------------------- */
/* Uniform double in [0, 1) from words 2k and 2k+1 of the stream (53 bits). */
static double u_at(uint64_t seed, uint64_t stream, int k) {
    Philox4 b = philox_block(seed, stream, (uint64_t)k >> 1);
    uint32_t hi = b.v[(k & 1) * 2], lo = b.v[(k & 1) * 2 + 1];
    return (double)(((uint64_t)hi << 21) | (lo >> 11)) * (1.0 / 9007199254740992.0);
}

/* Word-pair offsets of each decision in the stream. */
enum { U_CROP = 0, U_FLIP = 40, U_JITTER = 41, U_PERM = 42, U_FACTOR = 45, U_GRAY = 49, U_BLUR = 50, U_RADIUS = 51 };

void augment_crop_box(int *x0, int *y0, int *cw, int *ch, const AugmentConfig *c, int W, int H, const double *u) {
    double area = (double)W * H;
    double lr0 = log((double)c->crop_ratio_min), lr1 = log((double)c->crop_ratio_max);
    for (int t = 0; t < 10; t++) {
        double target = area * (c->crop_scale_min + (c->crop_scale_max - c->crop_scale_min) * u[4 * t]);
        double ar = exp(lr0 + (lr1 - lr0) * u[4 * t + 1]);
        int w = (int)rint(sqrt(target * ar)), h = (int)rint(sqrt(target / ar));
        if (w > 0 && w <= W && h > 0 && h <= H) {
            *y0 = (int)floor(u[4 * t + 2] * (H - h + 1));
            *x0 = (int)floor(u[4 * t + 3] * (W - w + 1));
            *cw = w;
            *ch = h;
            return;
        }
    }
    /* torchvision's fallback: the central crop with the ratio clamped to the allowed range */
    double in_ratio = (double)W / H, rmin = c->crop_ratio_min, rmax = c->crop_ratio_max;
    int w = W, h = H;
    if (in_ratio < rmin) h = (int)rint(w / rmin);
    else if (in_ratio > rmax) w = (int)rint(h * rmax);
    if (w < 1) w = 1;
    if (h < 1) h = 1;
    *cw = w;
    *ch = h;
    *y0 = (H - h) / 2;
    *x0 = (W - w) / 2;
}

void augment_sample(AugmentParams *p, const AugmentConfig *c, int W, int H, uint64_t seed, uint64_t stream) {
    memset(p, 0, sizeof *p);
    double u[40];
    for (int i = 0; i < 40; i++) u[i] = u_at(seed, stream, U_CROP + i);
    augment_crop_box(&p->x0, &p->y0, &p->cw, &p->ch, c, W, H, u);
    p->flip = u_at(seed, stream, U_FLIP) < c->flip_p;
    p->jitter = u_at(seed, stream, U_JITTER) < c->jitter_p;
    int ord[4] = {0, 1, 2, 3};
    for (int i = 3; i > 0; i--) {
        int j = (int)(u_at(seed, stream, U_PERM + 3 - i) * (i + 1));
        int t = ord[i];
        ord[i] = ord[j];
        ord[j] = t;
    }
    memcpy(p->order, ord, sizeof ord);
    const float amount[3] = {c->brightness, c->contrast, c->saturation};
    for (int k = 0; k < 3; k++) {
        double lo = 1.0 - amount[k] > 0 ? 1.0 - amount[k] : 0.0, hi = 1.0 + amount[k];
        p->use[k] = amount[k] > 0;
        p->factor[k] = (float)(lo + (hi - lo) * u_at(seed, stream, U_FACTOR + k));
    }
    p->use[AUG_HUE] = c->hue > 0;
    p->factor[AUG_HUE] = (float)(-c->hue + 2.0 * c->hue * u_at(seed, stream, U_FACTOR + 3));
    p->gray = u_at(seed, stream, U_GRAY) < c->gray_p;
    p->blur = u_at(seed, stream, U_BLUR) < c->blur_p;
    p->blur_radius = (float)(c->blur_sigma_min + (c->blur_sigma_max - c->blur_sigma_min) * u_at(seed, stream, U_RADIUS));
}

double augment_min_scale(const AugmentParams *p, int S) {
    double a = (double)S / p->cw, b = (double)S / p->ch;
    return a > b ? a : b;
}

/* ---- colour steps (Pillow ImageEnhance = Image.blend in C float, truncated to uint8) ---------- */
static inline uint8_t blend8(int in1, int in2, float alpha) {
    float t = (float)in1 + alpha * (float)(in2 - in1);
    if (t <= 0.0f) return 0;
    if (t >= 255.0f) return 255;
    return (uint8_t)t;
}

static inline int luma(const uint8_t *p) { return (p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16; }

void augment_brightness(uint8_t *im, size_t n, float f) {
    uint8_t lut[256];
    for (int v = 0; v < 256; v++) lut[v] = blend8(0, v, f);
    for (size_t i = 0; i < n * 3; i++) im[i] = lut[im[i]];
}

void augment_contrast(uint8_t *im, size_t n, float f) {
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += (uint64_t)luma(im + 3 * i);
    int mean = (int)((double)sum / (double)n + 0.5);
    uint8_t lut[256];
    for (int v = 0; v < 256; v++) lut[v] = blend8(mean, v, f);
    for (size_t i = 0; i < n * 3; i++) im[i] = lut[im[i]];
}

void augment_saturation(uint8_t *im, size_t n, float f) {
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = im + 3 * i;
        int g = luma(p);
        float gf = (float)g;
        for (int c = 0; c < 3; c++) {
            float t = gf + f * (float)(p[c] - g);
            p[c] = t <= 0.0f ? 0 : t >= 255.0f ? 255 : (uint8_t)t;
        }
    }
}

void augment_grayscale(uint8_t *im, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = im + 3 * i;
        uint8_t g = (uint8_t)luma(p);
        p[0] = p[1] = p[2] = g;
    }
}

static inline uint8_t clip8i(int v) { return (uint8_t)(v <= 0 ? 0 : v < 256 ? v : 255); }

/* Pillow rgb2hsv_row / hsv2rgb (Convert.c), types as there. */
static inline void hue_pixel(uint8_t *px, uint8_t shift) {
    uint8_t r = px[0], g = px[1], b = px[2];
    uint8_t maxc = r > g ? (r > b ? r : b) : (g > b ? g : b);
    uint8_t minc = r < g ? (r < b ? r : b) : (g < b ? g : b);
    uint8_t uh, us, uv = maxc;
    if (minc == maxc) {
        uh = 0;
        us = 0;
    } else {
        float cr = (float)(maxc - minc);
        float s = cr / (float)maxc;
        float rc = ((float)(maxc - r)) / cr;
        float gc = ((float)(maxc - g)) / cr;
        float bc = ((float)(maxc - b)) / cr;
        float h;
        if (r == maxc) h = bc - gc;
        else if (g == maxc) h = 2.0 + rc - bc;
        else h = 4.0 + gc - rc;
        h = fmod((h / 6.0 + 1.0), 1.0);
        uh = clip8i((int)(h * 255.0));
        us = clip8i((int)(s * 255.0));
    }
    uh = (uint8_t)(uh + shift);
    if (us == 0) {
        px[0] = px[1] = px[2] = uv;
        return;
    }
    int i = (int)floor((float)uh * 6.0 / 255.0);
    float f = (float)uh * 6.0 / 255.0 - (float)i;
    float fs = ((float)us) / 255.0;
    uint8_t up = clip8i((int)round((float)uv * (1.0 - fs)));
    uint8_t uq = clip8i((int)round((float)uv * (1.0 - fs * f)));
    uint8_t ut = clip8i((int)round((float)uv * (1.0 - fs * (1.0 - f))));
    switch (i % 6) {
    case 0: px[0] = uv; px[1] = ut; px[2] = up; break;
    case 1: px[0] = uq; px[1] = uv; px[2] = up; break;
    case 2: px[0] = up; px[1] = uv; px[2] = ut; break;
    case 3: px[0] = up; px[1] = uq; px[2] = uv; break;
    case 4: px[0] = ut; px[1] = up; px[2] = uv; break;
    default: px[0] = uv; px[1] = up; px[2] = uq; break;
    }
}

void augment_hue(uint8_t *im, size_t n, float shift) {
    /* numpy: np.uint8(hue_factor * 255) truncates toward zero and wraps modulo 256 */
    uint8_t s = (uint8_t)(int)((double)shift * 255.0);
    for (size_t i = 0; i < n; i++) hue_pixel(im + 3 * i, s);
}

void augment_flip(uint8_t *im, int w, int h) {
    for (int y = 0; y < h; y++) {
        uint8_t *row = im + (size_t)y * w * 3;
        for (int a = 0, b = w - 1; a < b; a++, b--) {
            for (int c = 0; c < 3; c++) {
                uint8_t t = row[3 * a + c];
                row[3 * a + c] = row[3 * b + c];
                row[3 * b + c] = t;
            }
        }
    }
}

/* ---- Gaussian blur: Pillow's ImagingGaussianBlur (3 extended box passes per direction) -------- */
static float gaussian_blur_radius(float radius, int passes) {
    float sigma2, L, l, a;
    sigma2 = radius * radius / passes;
    L = sqrt(12.0 * sigma2 + 1.0);
    l = floor((L - 1.0) / 2.0);
    a = (2 * l + 1) * (l * (l + 1) - 3 * sigma2);
    a /= 6 * (sigma2 - (l + 1) * (l + 1));
    return l + a;
}

/* One extended box pass along the line index of in/out [L][n] (n interleaved values per position:
 * a whole image row, so the pass runs down the columns). Pillow's ImagingLineBoxBlur32 with the
 * per-channel scalar accumulators replaced by n of them. */
static void box_pass(uint8_t *out, const uint8_t *in, int L, int n, float fradius, uint32_t *acc) {
    int radius = (int)fradius;
    uint32_t ww = (uint32_t)((uint32_t)(1 << 24) / (fradius * 2 + 1));
    uint32_t fw = ((1 << 24) - (radius * 2 + 1) * ww) / 2;
    int lastx = L - 1;
    int edgeA = radius + 1 < L ? radius + 1 : L;
    int edgeB = L - radius - 1 > 0 ? L - radius - 1 : 0;
#define LN(x) (in + (size_t)(x) * n)
    const uint8_t *first = LN(0), *last = LN(lastx);
    for (int i = 0; i < n; i++) acc[i] = (uint32_t)first[i] * (uint32_t)(radius + 1);
    for (int x = 0; x < edgeA - 1; x++) {
        const uint8_t *l = LN(x);
        for (int i = 0; i < n; i++) acc[i] += l[i];
    }
    for (int i = 0; i < n; i++) acc[i] += (uint32_t)last[i] * (uint32_t)(radius - edgeA + 1);
    /* step: acc += in[add] - in[sub]; out[x] = (acc * ww + (in[left] + in[right]) * fw + 2^23) >> 24 */
#define STEP(x, sub, add, left, right) do { \
        const uint8_t *s_ = LN(sub), *a_ = LN(add), *l_ = LN(left), *r_ = LN(right); \
        uint8_t *o_ = out + (size_t)(x) * n; \
        for (int i = 0; i < n; i++) { \
            acc[i] += (uint32_t)((int)a_[i] - (int)s_[i]); \
            uint32_t bulk = acc[i] * ww + (uint32_t)(l_[i] + r_[i]) * fw; \
            o_[i] = (uint8_t)((bulk + (1u << 23)) >> 24); \
        } } while (0)
    if (edgeA <= edgeB) {
        for (int x = 0; x < edgeA; x++) STEP(x, 0, x + radius, 0, x + radius + 1);
        for (int x = edgeA; x < edgeB; x++) STEP(x, x - radius - 1, x + radius, x - radius - 1, x + radius + 1);
        for (int x = edgeB; x <= lastx; x++) STEP(x, x - radius - 1, lastx, x - radius - 1, lastx);
    } else {
        for (int x = 0; x < edgeB; x++) STEP(x, 0, x + radius, 0, x + radius + 1);
        for (int x = edgeB; x < edgeA; x++) STEP(x, 0, lastx, 0, lastx);
        for (int x = edgeA; x <= lastx; x++) STEP(x, x - radius - 1, lastx, x - radius - 1, lastx);
    }
#undef STEP
#undef LN
}

static void transpose3(uint8_t *dst, const uint8_t *src, int w, int h) { /* src [h][w][3] -> dst [w][h][3] */
    const int B = 16;
    for (int y0 = 0; y0 < h; y0 += B)
        for (int x0 = 0; x0 < w; x0 += B)
            for (int y = y0; y < y0 + B && y < h; y++)
                for (int x = x0; x < x0 + B && x < w; x++) {
                    const uint8_t *s = src + ((size_t)y * w + x) * 3;
                    uint8_t *d = dst + ((size_t)x * h + y) * 3;
                    d[0] = s[0];
                    d[1] = s[1];
                    d[2] = s[2];
                }
}

void augment_gaussian_blur(uint8_t *im, int w, int h, float radius, uint8_t *tmp) {
    float r = gaussian_blur_radius(radius, 3);
    size_t n = (size_t)w * h * 3;
    uint8_t *t1 = tmp, *t2 = tmp + n;
    int maxn = (w > h ? w : h) * 3;
    uint32_t accbuf[4096];
    uint32_t *acc = maxn <= 4096 ? accbuf : malloc(sizeof(uint32_t) * (size_t)maxn);
    if (!acc) return;
    /* horizontal: 3 passes along x = column passes on the transposed image [w][h][3] */
    transpose3(t1, im, w, h);
    box_pass(t2, t1, w, h * 3, r, acc);
    box_pass(t1, t2, w, h * 3, r, acc);
    box_pass(t2, t1, w, h * 3, r, acc);
    transpose3(t1, t2, h, w);
    /* vertical: 3 passes along y on [h][w][3] */
    box_pass(t2, t1, h, w * 3, r, acc);
    box_pass(t1, t2, h, w * 3, r, acc);
    box_pass(im, t1, h, w * 3, r, acc);
    if (acc != accbuf) free(acc);
}

/* ---- the whole view ------------------------------------------------------------------------------ */
size_t augment_scratch_bytes(int S) { return (size_t)2 * S * S * 3; }

int augment_apply(uint8_t *dst, int S, const uint8_t *src, int sw, int sh, size_t src_stride, double src_scale,
                  const AugmentParams *p, uint8_t *scratch) {
    /* torchvision crops first (img.crop) and resizes the crop, so the filter never reaches pixels
     * outside the box: resample the sub-image. On a down-scaled decode the box is fractional: take
     * the enclosing integer region and the box inside it. */
    double bx0 = p->x0 * src_scale, by0 = p->y0 * src_scale;
    double bx1 = (p->x0 + p->cw) * src_scale, by1 = (p->y0 + p->ch) * src_scale;
    int ix0 = (int)floor(bx0), iy0 = (int)floor(by0), ix1 = (int)ceil(bx1), iy1 = (int)ceil(by1);
    if (ix1 > sw) ix1 = sw;
    if (iy1 > sh) iy1 = sh;
    float box[4] = {(float)(bx0 - ix0), (float)(by0 - iy0), (float)(bx1 - ix0), (float)(by1 - iy0)};
    if (box[2] > (float)(ix1 - ix0)) box[2] = (float)(ix1 - ix0);
    if (box[3] > (float)(iy1 - iy0)) box[3] = (float)(iy1 - iy0);
    const uint8_t *sub = src + (size_t)iy0 * src_stride + (size_t)ix0 * 3;
    if (image_resample(dst, S, S, sub, ix1 - ix0, iy1 - iy0, src_stride, box) != 0) return -1;
    size_t n = (size_t)S * S;
    if (p->flip) augment_flip(dst, S, S);
    if (p->jitter) {
        for (int k = 0; k < 4; k++) {
            int op = p->order[k];
            if (!p->use[op]) continue;
            float f = p->factor[op];
            switch (op) {
            case AUG_BRIGHTNESS: augment_brightness(dst, n, f); break;
            case AUG_CONTRAST: augment_contrast(dst, n, f); break;
            case AUG_SATURATION: augment_saturation(dst, n, f); break;
            default: augment_hue(dst, n, f); break;
            }
        }
    }
    if (p->gray) augment_grayscale(dst, n);
    if (p->blur) augment_gaussian_blur(dst, S, S, p->blur_radius, scratch);
    return 0;
}

void augment_normalize(float *out, const uint8_t *in, int nimg, int S, const float mean[3], const float std[3]) {
    size_t hw = (size_t)S * S;
    float scale[3], shift[3];
    for (int c = 0; c < 3; c++) {
        scale[c] = 1.0f / (255.0f * std[c]);
        shift[c] = -mean[c] / std[c];
    }
    for (int i = 0; i < nimg; i++) {
        const uint8_t *s = in + (size_t)i * hw * 3;
        float *o = out + (size_t)i * hw * 3;
        for (int c = 0; c < 3; c++)
            for (size_t k = 0; k < hw; k++) o[c * hw + k] = s[3 * k + c] * scale[c] + shift[c];
    }
}
