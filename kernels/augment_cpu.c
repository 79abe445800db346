/* augment_cpu.c: SimCLR view augmentation on the CPU, Pillow 9.4 / torchvision 0.14 arithmetic
 * reproduced step by step (see augment.h for the pipeline and its conventions).
 *
 * Layout: a view is worked on as three planes (R, G, B), each [S][S] uint8, so that every loop runs
 * over contiguous bytes and vectorises; the interleaved [S][S][3] result is written at the end.
 * The resampler transposes its input so that both of Pillow's passes (horizontal first, then
 * vertical, uint8 in between) become loops over contiguous rows; the blur does the same.
 * Floating-point expressions mirror Pillow's C source types (float vs double) and must not be fused
 * into FMAs, hence fp-contract=off for this file; no-trapping-math (results unchanged: only FP
 * exception flags are ignored) lets conditional float code vectorise. Per-pixel loops are branch-free.
 */
#pragma GCC optimize("fp-contract=off", "no-trapping-math")

#include "augment.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
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

/* ---- scratch memory ------------------------------------------------------------------------------ */
enum { BUF_D, BUF_T, BUF_H, BUF_HR, BUF_P, BUF_B1, BUF_B2, BUF_ACC, NBUF };
struct AugmentScratch { void *buf[NBUF]; size_t cap[NBUF]; };

AugmentScratch *augment_scratch_new(void) { return calloc(1, sizeof(AugmentScratch)); }

void augment_scratch_free(AugmentScratch *s) {
    if (!s) return;
    for (int i = 0; i < NBUF; i++) free(s->buf[i]);
    free(s);
}

static void *scr(AugmentScratch *s, int which, size_t bytes) {
    if (s->cap[which] < bytes) {
        free(s->buf[which]);
        s->buf[which] = malloc(bytes + 64);
        s->cap[which] = s->buf[which] ? bytes : 0;
    }
    return s->buf[which];
}

/* ---- plane helpers ------------------------------------------------------------------------------- */
#ifdef __SSE2__
#include <emmintrin.h>
/* 16 x 16 byte block: four rounds of "interleave row i with row i + 8" are a transpose. */
static inline void transpose16(uint8_t *dst, size_t ds, const uint8_t *src, size_t ss) {
    __m128i a[16], b[16];
    for (int i = 0; i < 16; i++) a[i] = _mm_loadu_si128((const __m128i *)(src + i * ss));
    for (int r = 0; r < 4; r++) {
        for (int i = 0; i < 8; i++) {
            b[2 * i] = _mm_unpacklo_epi8(a[i], a[i + 8]);
            b[2 * i + 1] = _mm_unpackhi_epi8(a[i], a[i + 8]);
        }
        memcpy(a, b, sizeof a);
    }
    for (int i = 0; i < 16; i++) _mm_storeu_si128((__m128i *)(dst + i * ds), a[i]);
}
#endif

/* dst [w][h] = transpose of src [h][w] (bytes). */
static void transpose8(uint8_t *restrict dst, const uint8_t *restrict src, int w, int h) {
    int y0 = 0, x0 = 0;
#ifdef __SSE2__
    for (y0 = 0; y0 + 16 <= h; y0 += 16)
        for (x0 = 0; x0 + 16 <= w; x0 += 16)
            transpose16(dst + (size_t)x0 * h + y0, (size_t)h, src + (size_t)y0 * w + x0, (size_t)w);
    /* edges: rows y0.. (all columns) and columns x0.. of the blocked rows */
    for (int y = 0; y < y0; y++)
        for (int x = x0; x < w; x++) dst[(size_t)x * h + y] = src[(size_t)y * w + x];
#endif
    for (int y = y0; y < h; y++)
        for (int x = 0; x < w; x++) dst[(size_t)x * h + y] = src[(size_t)y * w + x];
}

static void deinterleave(uint8_t *restrict r, uint8_t *restrict g, uint8_t *restrict b, const uint8_t *restrict im,
                         size_t n) {
    for (size_t i = 0; i < n; i++) {
        r[i] = im[3 * i];
        g[i] = im[3 * i + 1];
        b[i] = im[3 * i + 2];
    }
}

static void interleave(uint8_t *restrict im, const uint8_t *restrict r, const uint8_t *restrict g,
                       const uint8_t *restrict b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        im[3 * i] = r[i];
        im[3 * i + 1] = g[i];
        im[3 * i + 2] = b[i];
    }
}

static inline int luma(int r, int g, int b) { return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16; }

/* float -> uint8 as Pillow's blend: <= 0 -> 0, >= 255 -> 255, else truncation (branch-free form) */
static inline uint8_t trunc8(float t) {
    t = t < 0.0f ? 0.0f : t;
    t = t > 255.0f ? 255.0f : t;
    return (uint8_t)(int)t;
}

/* ---- colour steps on planes (Pillow ImageEnhance = Image.blend in C float) ------------------------ */
/* brightness: blend(black, im, f) = 0 + f * v */
static void p_brightness(uint8_t *restrict pl, size_t n, float f) {
    for (size_t i = 0; i < n; i++) pl[i] = trunc8(f * (float)pl[i]);
}

static int p_mean_luma(const uint8_t *restrict r, const uint8_t *restrict g, const uint8_t *restrict b, size_t n) {
    uint64_t sum = 0;
    for (size_t i0 = 0; i0 < n; i0 += 65536) { /* int32 partial sums cannot overflow */
        size_t i1 = i0 + 65536 < n ? i0 + 65536 : n;
        uint32_t part = 0;
        for (size_t i = i0; i < i1; i++) part += (uint32_t)luma(r[i], g[i], b[i]);
        sum += part;
    }
    return (int)((double)sum / (double)n + 0.5); /* ImageStat mean of convert("L"), int(m + 0.5) */
}

/* contrast: blend(mean grey, im, f) */
static void p_contrast_apply(uint8_t *restrict pl, size_t n, int mean, float f) {
    float m = (float)mean;
    for (size_t i = 0; i < n; i++) pl[i] = trunc8(m + f * (float)((int)pl[i] - mean));
}

/* saturation: blend(convert("L"), im, f) per pixel */
static void p_saturation(uint8_t *restrict r, uint8_t *restrict g, uint8_t *restrict b, size_t n, float f) {
    for (size_t i = 0; i < n; i++) {
        int L = luma(r[i], g[i], b[i]);
        float lf = (float)L;
        r[i] = trunc8(lf + f * (float)((int)r[i] - L));
        g[i] = trunc8(lf + f * (float)((int)g[i] - L));
        b[i] = trunc8(lf + f * (float)((int)b[i] - L));
    }
}

static void p_grayscale(uint8_t *restrict r, uint8_t *restrict g, uint8_t *restrict b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint8_t L = (uint8_t)luma(r[i], g[i], b[i]);
        r[i] = g[i] = b[i] = L;
    }
}

/* round() (half away from zero) for 0 <= x < 2^31, exactly: x - (int)x is exact */
static inline int round_pos(double x) {
    int ti = (int)x;
    return ti + (x - (double)ti >= 0.5);
}

#define SEL8(m, a, b) ((uint8_t)(((m) & (a)) | (~(m) & (b))))

/* hue: Pillow rgb2hsv_row, numpy's uint8 addition, Pillow hsv2rgb (Convert.c), types as there:
 *   cr = float(max - min); s = cr / max; rc, gc, bc = float(max - c) / cr;
 *   h = bc - gc (float) | 2.0 + rc - bc | 4.0 + gc - rc (double, stored as float);
 *   h = fmod(h / 6.0 + 1.0, 1.0); H = int(h * 255.0); S = int(s * 255.0); V = max
 *   H += shift (mod 256); if S == 0: grey V; else i = floor(H * 6.0 / 255.0),
 *   f = H * 6.0 / 255.0 - i, fs = S / 255.0 (floats), p = round(V (1 - fs)),
 *   q = round(V (1 - fs f)), t = round(V (1 - fs (1 - f))), picked by i % 6.
 * Grey pixels (max == min) have S = 0 and stay grey. Three branch-free loops over blocks of
 * pixels (to HSV; p, q, t and the sector; the pick) so that each one vectorises. Casts Pillow makes
 * through float are dropped where they are exact (small integers). fmod(x, 1) for x in [5/6, 11/6]
 * is x - 1 when x >= 1 (exact). */
/* f = float(uh * 6.0 / 255.0 - i) and fs = float(us / 255.0), tabulated (exactly Pillow's values) */
static float hue_f[256], hue_fs[256];
static pthread_once_t hue_once = PTHREAD_ONCE_INIT;
static void hue_tables(void) {
    for (int u = 0; u < 256; u++) {
        double hx = (double)u * 6.0 / 255.0;
        hue_f[u] = (float)(hx - floor(hx));
        hue_fs[u] = (float)((double)u / 255.0);
    }
}

static void p_hue(uint8_t *restrict R, uint8_t *restrict G, uint8_t *restrict B, size_t n, uint8_t shift) {
    pthread_once(&hue_once, hue_tables);
    enum { BLK = 512 };
    uint8_t Hb[BLK], Sb[BLK], Vb[BLK], Pb[BLK], Qb[BLK], Tb[BLK], Ib[BLK];
    for (size_t k0 = 0; k0 < n; k0 += BLK) {
        size_t m = n - k0 < BLK ? n - k0 : BLK;
        const uint8_t *restrict r_ = R + k0, *restrict g_ = G + k0, *restrict b_ = B + k0;
        for (size_t k = 0; k < m; k++) {
            int r = r_[k], g = g_[k], b = b_[k];
            int maxc = r > g ? r : g;
            maxc = maxc > b ? maxc : b;
            int minc = r < g ? r : g;
            minc = minc < b ? minc : b;
            int grey = maxc == minc;
            float cr = (float)(grey ? 1 : maxc - minc);
            float s = cr / (float)(maxc ? maxc : 1);
            /* Pillow: r max: h = bc - gc; g max: 2 + rc - bc; else 4 + gc - rc, rc = (max - r) / cr
             * etc. (float quotients). One of rc, gc, bc is 0; the other two are A and B below, and
             * h = off + A - B in double rounded to float (A - B is exact in double, so for r max
             * this equals Pillow's float subtraction). */
            int rmax = r == maxc, gmax = !rmax && g == maxc;
            int n1 = rmax ? maxc - b : gmax ? maxc - r : maxc - g;
            int n2 = rmax ? maxc - g : gmax ? maxc - b : maxc - r;
            double off = rmax ? 0.0 : gmax ? 2.0 : 4.0;
            float A = (float)n1 / cr, B = (float)n2 / cr;
            float h = (float)(off + (double)A - (double)B);
            double x = (double)h / 6.0 + 1.0;
            float hf = (float)(x >= 1.0 ? x - 1.0 : x);
            int uh = (int)((double)hf * 255.0);
            int us = (int)((double)s * 255.0);
            Hb[k] = (uint8_t)(uh + shift);
            Sb[k] = (uint8_t)(grey ? 0 : us);
            Vb[k] = (uint8_t)maxc;
        }
        for (size_t k = 0; k < m; k++) {
            int uh = Hb[k], us = Sb[k];
            int i = (uh * 6) / 255; /* = floor(uh * 6.0 / 255.0): non-integer quotients are >= 1/255 off */
            float f = hue_f[uh];
            float fs = hue_fs[us];
            double vd = (double)Vb[k];
            Pb[k] = (uint8_t)round_pos(vd * (1.0 - (double)fs));
            Qb[k] = (uint8_t)round_pos(vd * (1.0 - (double)(fs * f)));
            Tb[k] = (uint8_t)round_pos(vd * (1.0 - (double)fs * (1.0 - (double)f)));
            Ib[k] = (uint8_t)(us == 0 ? 7 : i == 6 ? 0 : i); /* 7: grey */
        }
        uint8_t *restrict ro_ = R + k0, *restrict go_ = G + k0, *restrict bo_ = B + k0;
        for (size_t k = 0; k < m; k++) {
            uint8_t v = Vb[k], p = Pb[k], q = Qb[k], t = Tb[k], sel = Ib[k];
            uint8_t m0 = (uint8_t)-(sel == 0), m1 = (uint8_t)-(sel == 1), m2 = (uint8_t)-(sel == 2);
            uint8_t m3 = (uint8_t)-(sel == 3), m4 = (uint8_t)-(sel == 4), m5 = (uint8_t)-(sel == 5);
            uint8_t m7 = (uint8_t)-(sel == 7);
            ro_[k] = SEL8(m0 | m5 | m7, v, SEL8(m1, q, SEL8(m2 | m3, p, t)));
            go_[k] = SEL8(m1 | m2 | m7, v, SEL8(m0, t, SEL8(m3, q, p)));
            bo_[k] = SEL8(m3 | m4 | m7, v, SEL8(m0 | m1, p, SEL8(m2, t, q)));
        }
    }
}

static uint8_t hue_shift_byte(float shift) {
    /* numpy: np.uint8(hue_factor * 255) truncates toward zero and wraps modulo 256 */
    return (uint8_t)(int)((double)shift * 255.0);
}

static void p_flip(uint8_t *pl, int w, int h) {
    for (int y = 0; y < h; y++) {
        uint8_t *row = pl + (size_t)y * w;
        for (int a = 0, b = w - 1; a < b; a++, b--) {
            uint8_t t = row[a];
            row[a] = row[b];
            row[b] = t;
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

/* One extended box pass along the line index of in/out [L][n] (n values per position, e.g. a whole
 * image row, so the pass runs down the columns). Pillow's ImagingLineBoxBlur32 with its scalar
 * per-channel accumulators replaced by n of them. */
static void box_pass(uint8_t *restrict out, const uint8_t *restrict in, int L, int n, float fradius,
                     uint32_t *restrict acc) {
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
        const uint8_t *restrict s_ = LN(sub), *restrict a_ = LN(add), *restrict l_ = LN(left), *restrict r_ = LN(right); \
        uint8_t *restrict o_ = out + (size_t)(x) * n; \
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

/* Blur one plane [h][w] in place; t1, t2: w * h bytes; acc: max(w, h) uint32. Pillow: 3 horizontal
 * passes, then 3 vertical ones, uint8 in between; the horizontal ones run on the transpose. */
static void p_blur(uint8_t *pl, int w, int h, float radius, uint8_t *t1, uint8_t *t2, uint32_t *acc) {
    float r = gaussian_blur_radius(radius, 3);
    transpose8(t1, pl, w, h);         /* [w][h] */
    box_pass(t2, t1, w, h, r, acc);
    box_pass(t1, t2, w, h, r, acc);
    box_pass(t2, t1, w, h, r, acc);
    transpose8(t1, t2, h, w);         /* back to [h][w] */
    box_pass(t2, t1, h, w, r, acc);
    box_pass(t1, t2, h, w, r, acc);
    box_pass(pl, t1, h, w, r, acc);
}

/* ---- interleaved single steps (tests, reference) ---------------------------------------------- */
typedef struct { uint8_t *p[3]; size_t n; } Planes;

static int planes_from(Planes *P, const uint8_t *im, size_t n) {
    P->n = n;
    P->p[0] = malloc(n * 3 + 1);
    if (!P->p[0]) return -1;
    P->p[1] = P->p[0] + n;
    P->p[2] = P->p[0] + 2 * n;
    deinterleave(P->p[0], P->p[1], P->p[2], im, n);
    return 0;
}

static void planes_to(uint8_t *im, Planes *P) {
    interleave(im, P->p[0], P->p[1], P->p[2], P->n);
    free(P->p[0]);
}

void augment_brightness(uint8_t *im, size_t n, float f) { p_brightness(im, n * 3, f); }

void augment_contrast(uint8_t *im, size_t n, float f) {
    Planes P;
    if (planes_from(&P, im, n)) return;
    int m = p_mean_luma(P.p[0], P.p[1], P.p[2], n);
    planes_to(im, &P);
    p_contrast_apply(im, n * 3, m, f);
}

void augment_saturation(uint8_t *im, size_t n, float f) {
    Planes P;
    if (planes_from(&P, im, n)) return;
    p_saturation(P.p[0], P.p[1], P.p[2], n, f);
    planes_to(im, &P);
}

void augment_hue(uint8_t *im, size_t n, float shift) {
    Planes P;
    if (planes_from(&P, im, n)) return;
    p_hue(P.p[0], P.p[1], P.p[2], n, hue_shift_byte(shift));
    planes_to(im, &P);
}

void augment_grayscale(uint8_t *im, size_t n) {
    Planes P;
    if (planes_from(&P, im, n)) return;
    p_grayscale(P.p[0], P.p[1], P.p[2], n);
    planes_to(im, &P);
}

void augment_flip(uint8_t *im, int w, int h) {
    for (int y = 0; y < h; y++) {
        uint8_t *row = im + (size_t)y * w * 3;
        for (int a = 0, b = w - 1; a < b; a++, b--)
            for (int c = 0; c < 3; c++) {
                uint8_t t = row[3 * a + c];
                row[3 * a + c] = row[3 * b + c];
                row[3 * b + c] = t;
            }
    }
}

void augment_gaussian_blur(uint8_t *im, int w, int h, float radius) {
    size_t n = (size_t)w * h;
    Planes P;
    if (planes_from(&P, im, n)) return;
    uint8_t *t = malloc(2 * n + 1);
    uint32_t *acc = malloc(sizeof(uint32_t) * (size_t)(w > h ? w : h));
    if (t && acc)
        for (int c = 0; c < 3; c++) p_blur(P.p[c], w, h, radius, t, t + n, acc);
    free(t);
    free(acc);
    planes_to(im, &P);
}

/* ---- resampling into planes (Pillow BILINEAR, transposed horizontal pass) ---------------------- */
static inline uint8_t clipacc(int32_t a) {
    a = a < 0 ? 0 : a;
    a = a > (1 << 30) - 1 ? (1 << 30) - 1 : a;
    return (uint8_t)(a >> 22);
}

/* out planes P[c] [S][S] from the interleaved sub-image src [sh][sw] (stride bytes), box inside it;
 * flip mirrors the result left-right (folded into the horizontal pass: output column xx is stored
 * at S - 1 - xx, which equals flipping afterwards since every column is computed independently). */
static int resample_planar(uint8_t *P[3], int S, const uint8_t *src, int sw, int sh, size_t stride,
                           const float box[4], int flip, AugmentScratch *sc) {
    int need_h = S != sw || box[0] != 0 || box[2] != (float)S;
    int need_v = S != sh || box[1] != 0 || box[3] != (float)S;
    int *bh = NULL, *bv = NULL;
    int32_t *kh = NULL, *kv = NULL;
    int ret = -1;
    int ksh = image_bilinear_coeffs(sw, box[0], box[2], S, &bh, &kh);
    int ksv = image_bilinear_coeffs(sh, box[1], box[3], S, &bv, &kv);
    if (!ksh || !ksv) goto done;
    int yfirst = bv[0], ylast = bv[2 * S - 2] + bv[2 * S - 1], R = ylast - yfirst;
    for (int i = 0; i < S; i++) bv[2 * i] -= yfirst;
    int maxn = R > S ? R : S;
    int32_t *acc = scr(sc, BUF_ACC, sizeof(int32_t) * (size_t)maxn);
    uint8_t *Hr = scr(sc, BUF_HR, (size_t)3 * R * S);
    if (!acc || !Hr) goto done;
    if (need_h) {
        int xfirst = bh[0], xlast = bh[2 * S - 2] + bh[2 * S - 1], C = xlast - xfirst;
        uint8_t *T = scr(sc, BUF_T, (size_t)3 * C * R), *H = scr(sc, BUF_H, (size_t)3 * S * R);
        if (!T || !H) goto done;
        /* T[c] [C][R]: the needed block, deinterleaved (D[c] [R][C]) and transposed */
        uint8_t *D = scr(sc, BUF_D, (size_t)3 * C * R);
        if (!D) goto done;
        size_t CR = (size_t)C * R;
        for (int r = 0; r < R; r++)
            deinterleave(D + (size_t)r * C, D + CR + (size_t)r * C, D + 2 * CR + (size_t)r * C,
                         src + (size_t)(yfirst + r) * stride + (size_t)xfirst * 3, (size_t)C);
        for (int c = 0; c < 3; c++) transpose8(T + c * CR, D + c * CR, C, R);
        /* horizontal pass: H[c][xx][r] = sum_k kh[xx][k] * T[c][xmin + k][r] */
        for (int c = 0; c < 3; c++) {
            const uint8_t *Tc = T + (size_t)c * C * R;
            uint8_t *Hc = H + (size_t)c * S * R;
            for (int xx = 0; xx < S; xx++) {
                const int32_t *k = kh + (size_t)xx * ksh;
                int xmin = bh[2 * xx] - xfirst, xn = bh[2 * xx + 1];
                for (int r = 0; r < R; r++) acc[r] = 1 << 21;
                for (int t = 0; t < xn; t++) {
                    const uint8_t *restrict row = Tc + (size_t)(xmin + t) * R;
                    int32_t kt = k[t];
                    for (int r = 0; r < R; r++) acc[r] += (int32_t)row[r] * kt;
                }
                uint8_t *restrict o = Hc + (size_t)(flip ? S - 1 - xx : xx) * R;
                for (int r = 0; r < R; r++) o[r] = clipacc(acc[r]);
            }
            transpose8(Hr + (size_t)c * R * S, Hc, R, S); /* [S][R] -> [R][S] */
        }
    } else {
        for (int r = 0; r < R; r++) {
            const uint8_t *s0 = src + (size_t)(yfirst + r) * stride;
            deinterleave(Hr + (size_t)r * S, Hr + (size_t)R * S + (size_t)r * S, Hr + (size_t)2 * R * S + (size_t)r * S,
                         s0, (size_t)S);
        }
    }
    for (int c = 0; c < 3; c++) {
        const uint8_t *Hc = Hr + (size_t)c * R * S;
        if (!need_v) {
            memcpy(P[c], Hc, (size_t)S * S);
            continue;
        }
        for (int yy = 0; yy < S; yy++) {
            const int32_t *k = kv + (size_t)yy * ksv;
            int ymin = bv[2 * yy], yn = bv[2 * yy + 1];
            for (int x = 0; x < S; x++) acc[x] = 1 << 21;
            for (int t = 0; t < yn; t++) {
                const uint8_t *restrict row = Hc + (size_t)(ymin + t) * S;
                int32_t kt = k[t];
                for (int x = 0; x < S; x++) acc[x] += (int32_t)row[x] * kt;
            }
            uint8_t *restrict o = P[c] + (size_t)yy * S;
            for (int x = 0; x < S; x++) o[x] = clipacc(acc[x]);
        }
    }
    if (flip && !need_h)
        for (int c = 0; c < 3; c++) p_flip(P[c], S, S);
    ret = 0;
done:
    free(bh); free(bv); free(kh); free(kv);
    return ret;
}

/* ---- the whole view ------------------------------------------------------------------------------ */
int augment_apply(uint8_t *dst, int S, const AugmentSource *src, const AugmentParams *p, AugmentScratch *sc) {
    /* torchvision crops first (img.crop) and resizes the crop, so the filter never reaches pixels
     * outside the box: resample the sub-image. On a down-scaled decode the box is fractional: take
     * the enclosing integer region and the box inside it. Coordinates relative to src->px. */
    double sc_ = src->scale;
    double bx0 = p->x0 * sc_ - src->ox, by0 = p->y0 * sc_ - src->oy;
    double bx1 = (p->x0 + p->cw) * sc_ - src->ox, by1 = (p->y0 + p->ch) * sc_ - src->oy;
    int ix0 = (int)floor(bx0), iy0 = (int)floor(by0), ix1 = (int)ceil(bx1), iy1 = (int)ceil(by1);
    if (ix1 > src->w) ix1 = src->w;
    if (iy1 > src->h) iy1 = src->h;
    if (ix0 < 0 || iy0 < 0 || ix1 <= ix0 || iy1 <= iy0) return -1;
    float box[4] = {(float)(bx0 - ix0), (float)(by0 - iy0), (float)(bx1 - ix0), (float)(by1 - iy0)};
    if (box[2] > (float)(ix1 - ix0)) box[2] = (float)(ix1 - ix0);
    if (box[3] > (float)(iy1 - iy0)) box[3] = (float)(iy1 - iy0);
    size_t n = (size_t)S * S;
    uint8_t *Pb = scr(sc, BUF_P, 3 * n);
    if (!Pb) return -1;
    uint8_t *P[3] = {Pb, Pb + n, Pb + 2 * n};
    const uint8_t *sub = src->px + (size_t)iy0 * src->stride + (size_t)ix0 * 3;
    if (resample_planar(P, S, sub, ix1 - ix0, iy1 - iy0, src->stride, box, p->flip, sc) != 0) return -1;
    if (p->jitter) {
        for (int k = 0; k < 4; k++) {
            int op = p->order[k];
            if (!p->use[op]) continue;
            float f = p->factor[op];
            switch (op) {
            case AUG_BRIGHTNESS:
                for (int c = 0; c < 3; c++) p_brightness(P[c], n, f);
                break;
            case AUG_CONTRAST: {
                int m = p_mean_luma(P[0], P[1], P[2], n);
                for (int c = 0; c < 3; c++) p_contrast_apply(P[c], n, m, f);
                break;
            }
            case AUG_SATURATION: p_saturation(P[0], P[1], P[2], n, f); break;
            default: p_hue(P[0], P[1], P[2], n, hue_shift_byte(f)); break;
            }
        }
    }
    if (p->gray) p_grayscale(P[0], P[1], P[2], n);
    if (p->blur) {
        uint8_t *t1 = scr(sc, BUF_B1, n), *t2 = scr(sc, BUF_B2, n);
        uint32_t *acc = scr(sc, BUF_ACC, sizeof(uint32_t) * (size_t)S);
        if (!t1 || !t2 || !acc) return -1;
        if (p->gray) {
            p_blur(P[0], S, S, p->blur_radius, t1, t2, acc); /* equal planes blur equally */
            memcpy(P[1], P[0], n);
            memcpy(P[2], P[0], n);
        } else {
            for (int c = 0; c < 3; c++) p_blur(P[c], S, S, p->blur_radius, t1, t2, acc);
        }
    }
    interleave(dst, P[0], P[1], P[2], n);
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
