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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "rng.h"

#include "augment_simd.h"

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
/* dst [w][h] = transpose of src [h][w] (bytes). */
static void transpose8(uint8_t *restrict dst, const uint8_t *restrict src, int w, int h) {
    int y0 = 0;
    for (; y0 + 16 <= h; y0 += 16) {
        int x0 = 0;
        for (; x0 + 16 * TILE_W <= w; x0 += 16 * TILE_W)
            tiles_rows_to_cols(dst + (size_t)x0 * h + y0, (size_t)h, src + (size_t)y0 * w + x0, (size_t)w);
        for (; x0 + 16 <= w; x0 += 16)
            tile1_rows_to_cols(dst + (size_t)x0 * h + y0, (size_t)h, src + (size_t)y0 * w + x0, (size_t)w);
        for (int y = y0; y < y0 + 16; y++)
            for (int x = x0; x < w; x++) dst[(size_t)x * h + y] = src[(size_t)y * w + x];
    }
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

/* ---- colour steps on planes (Pillow ImageEnhance = Image.blend in C float) ------------------------
 * VL pixels per register with exactly the scalar float operations (no FMA: fp-contract is off), the
 * ragged end with the scalar formulas. Luma in float is exact: every product and partial sum of
 * r 19595 + g 38470 + b 7471 + 32768 is an integer below 2^24, and the scaling by 2^-16 is exact. */
V_INLINE vi32 v_trunc8(vf32 t) { /* trunc8 on VL lanes */
    t = V_SELF(t < 0.0f, (vf32){0}, t);
    t = V_SELF(t > 255.0f, (vf32){0} + 255.0f, t);
    return V_F2I(t);
}

V_INLINE vf32 v_lumaf(const vf32 *r, const vf32 *g, const vf32 *b) { /* luma as a float integer */
    vf32 t = *r * 19595.0f + *g * 38470.0f + *b * 7471.0f + 32768.0f;
    return V_I2F(V_F2I(t * (1.0f / 65536.0f)));
}

/* brightness: blend(black, im, f) = 0 + f * v */
static void p_brightness(uint8_t *restrict pl, size_t n, float f) {
    size_t i = 0;
    for (; i + VL <= n; i += VL) {
        vi32 o = v_trunc8(f * V_I2F(v_load(pl + i)));
        v_store(pl + i, &o);
    }
    for (; i < n; i++) pl[i] = trunc8(f * (float)pl[i]);
}

static int p_mean_luma(const uint8_t *restrict r, const uint8_t *restrict g, const uint8_t *restrict b, size_t n) {
    uint64_t sum = 0;
    for (size_t i0 = 0; i0 < n; i0 += 65536) { /* int32 partial sums cannot overflow */
        size_t i1 = i0 + 65536 < n ? i0 + 65536 : n, i = i0;
        vi32 part = V_SPLAT(0);
        for (; i + VL <= i1; i += VL) {
            vf32 rf = V_I2F(v_load(r + i)), gf = V_I2F(v_load(g + i)), bf = V_I2F(v_load(b + i));
            part += V_F2I(v_lumaf(&rf, &gf, &bf));
        }
        for (int k = 0; k < VL; k++) sum += (uint32_t)part[k];
        for (; i < i1; i++) sum += (uint32_t)luma(r[i], g[i], b[i]);
    }
    return (int)((double)sum / (double)n + 0.5); /* ImageStat mean of convert("L"), int(m + 0.5) */
}

/* contrast: blend(mean grey, im, f) */
static void p_contrast_apply(uint8_t *restrict pl, size_t n, int mean, float f) {
    float m = (float)mean;
    size_t i = 0;
    for (; i + VL <= n; i += VL) {
        vi32 o = v_trunc8(m + f * V_I2F(v_load(pl + i) - mean));
        v_store(pl + i, &o);
    }
    for (; i < n; i++) pl[i] = trunc8(m + f * (float)((int)pl[i] - mean));
}

/* saturation: blend(convert("L"), im, f) per pixel */
static void p_saturation(uint8_t *restrict r, uint8_t *restrict g, uint8_t *restrict b, size_t n, float f) {
    size_t i = 0;
    for (; i + VL <= n; i += VL) {
        vf32 rf = V_I2F(v_load(r + i)), gf = V_I2F(v_load(g + i)), bf = V_I2F(v_load(b + i));
        vf32 L = v_lumaf(&rf, &gf, &bf);
        vi32 ro = v_trunc8(L + f * (rf - L)), go = v_trunc8(L + f * (gf - L)), bo = v_trunc8(L + f * (bf - L));
        v_store(r + i, &ro);
        v_store(g + i, &go);
        v_store(b + i, &bo);
    }
    for (; i < n; i++) {
        int L = luma(r[i], g[i], b[i]);
        float lf = (float)L;
        r[i] = trunc8(lf + f * (float)((int)r[i] - L));
        g[i] = trunc8(lf + f * (float)((int)g[i] - L));
        b[i] = trunc8(lf + f * (float)((int)b[i] - L));
    }
}

static void p_grayscale(uint8_t *restrict r, uint8_t *restrict g, uint8_t *restrict b, size_t n) {
    size_t i = 0;
    for (; i + VL <= n; i += VL) {
        vf32 rf = V_I2F(v_load(r + i)), gf = V_I2F(v_load(g + i)), bf = V_I2F(v_load(b + i));
        vi32 L = V_F2I(v_lumaf(&rf, &gf, &bf));
        v_store(r + i, &L);
        v_store(g + i, &L);
        v_store(b + i, &L);
    }
    for (; i < n; i++) {
        uint8_t L = (uint8_t)luma(r[i], g[i], b[i]);
        r[i] = g[i] = b[i] = L;
    }
}

/* hue: Pillow rgb2hsv_row, numpy's uint8 addition, Pillow hsv2rgb (Convert.c). Pillow computes
 *   cr = float(max - min); s = cr / max; rc, gc, bc = float(max - c) / cr;
 *   h = bc - gc (float) | 2.0 + rc - bc | 4.0 + gc - rc (double, stored as float);
 *   h = fmod(h / 6.0 + 1.0, 1.0); H = int(h * 255.0); S = int(s * 255.0); V = max
 *   H += shift (mod 256); if S == 0: grey V; else i = floor(H * 6.0 / 255.0),
 *   f = H * 6.0 / 255.0 - i, fs = S / 255.0 (floats), p = round(V (1 - fs)),
 *   q = round(V (1 - fs f)), t = round(V (1 - fs (1 - f))), picked by i % 6.
 * Computed here in float and int32 only, with results equal to Pillow's on every colour and shift
 * (tests/unit/test_augment.c checks all 2^24 colours against a literal transcription):
 *   H: of rc, gc, bc one is 0 (the max channel) and one is exactly 1 (the min channel), so h is
 *      (off + 1) - q or q + (off - 1), q = float(k / cr), k = max - mid: one float division and one
 *      correctly rounded float add, exactly Pillow's float h. Then hf = h / 6 (+ 1 when h < 0) and
 *      H = int(hf * 255) in float give Pillow's double chain's H on every colour (checked
 *      exhaustively when this was written; the float h / 6.0f matters, h * (1/6) does not match).
 *   S = floor(255 cr / max) (the float quotient cannot cross an integer: its error is < 1/255).
 *   p, q, t are the exact roundings of V (255 - S) / 255, V (65025 - S m) / 65025 and
 *      V (65025 - S (255 - m)) / 65025 with m = 6 H - 255 i (f = m / 255): the denominators are
 *      odd, so no exact half occurs, and Pillow's float/double rounding errors (< 5e-5) never move a
 *      value across a rounding boundary (exhaustive over all (V, S, H)). Integer forms:
 *      p = (x + 127) / 255, q = V - (y + 32512) / 65025 with y = V S m, divisions by constants
 *      done exactly (multiply-shift for / 255; float estimate + one integer correction for / 65025).
 * Grey pixels (cr = 0) get S = 0 and then p = q = t = V: no special case. One branch-free loop. */
static inline int div255(int x) { return (int)(((uint32_t)x * 32897u) >> 23); } /* exact for 0 <= x <= 65535 */

#define V_DIV255(x) ((vi32)(((vu32)(x) * 32897u) >> 23)) /* x / 255 for 0 <= x <= 65535, exactly */

/* round(y / 65025) for 0 <= y < 2^24 - 32512, exactly: float estimate (off by at most 1), corrected */
V_INLINE vi32 v_round_div65025(const vi32 *y) {
    vi32 z = *y + 32512;
    vi32 e = __builtin_convertvector(__builtin_convertvector(z, vf32) * (1.0f / 65025.0f), vi32);
    vi32 r = z - e * 65025;
    return e + (r < 0) - (r >= 65025); /* comparisons are -1 where true */
}

/* VL pixels of planes R, G, B (in place) */
V_INLINE void hue_block(uint8_t *R, uint8_t *G, uint8_t *B, int shift) {
    vi32 r = v_load(R), g = v_load(G), b = v_load(B);
    vi32 mx = V_MAX(V_MAX(r, g), b), mn = V_MIN(V_MIN(r, g), b), cr = mx - mn;
    vi32 rmax = r == mx, gmax = (g == mx) & ~rmax, bmax = ~(rmax | gmax);
    vi32 n1 = mx - V_SEL(rmax, b, V_SEL(gmax, r, g)); /* Pillow's first quotient's numerator */
    vi32 n2 = mx - V_SEL(rmax, g, V_SEL(gmax, b, r)); /* the subtracted one */
    vi32 off = (gmax & 2) | (bmax & 4);
    vi32 one = n1 == cr;
    vf32 q = __builtin_convertvector(V_SEL(one, n2, n1), vf32) / __builtin_convertvector(cr - (cr == 0), vf32);
    vf32 ha = __builtin_convertvector(off + 1, vf32) - q, hb = q + __builtin_convertvector(off - 1, vf32);
    vf32 h = V_SELF(one, ha, hb);
    vf32 h6 = h / 6.0f;
    vf32 hf = V_SELF(h < 0.0f, h6 + 1.0f, h6);
    vi32 H = (__builtin_convertvector(hf * 255.0f, vi32) + shift) & 255;
    vi32 S = __builtin_convertvector(__builtin_convertvector(255 * cr, vf32) / __builtin_convertvector(mx - (mx == 0), vf32), vi32);
    vi32 i = V_DIV255(6 * H), m = 6 * H - 255 * i;
    vi32 V = mx;
    vi32 p = V_DIV255(V * (255 - S) + 127);
    vi32 yq = V * S * m, yt = V * S * (255 - m);
    vi32 qv = V - v_round_div65025(&yq);
    vi32 t = V - v_round_div65025(&yt);
    /* sector i % 6: 0 (V, t, p) 1 (q, V, p) 2 (p, V, t) 3 (p, q, V) 4 (t, p, V) 5 (V, p, q) */
    vi32 s0 = (i == 0) | (i == 6), s1 = i == 1, s2 = i == 2, s3 = i == 3, s4 = i == 4, s5 = i == 5;
    vi32 ro = V_SEL(s0 | s5, V, V_SEL(s1, qv, V_SEL(s4, t, p)));
    vi32 go = V_SEL(s1 | s2, V, V_SEL(s0, t, V_SEL(s3, qv, p)));
    vi32 bo = V_SEL(s3 | s4, V, V_SEL(s2, t, V_SEL(s5, qv, p)));
    v_store(R, &ro);
    v_store(G, &go);
    v_store(B, &bo);
}

static void p_hue(uint8_t *restrict R, uint8_t *restrict G, uint8_t *restrict B, size_t n, uint8_t shift) {
    size_t k = 0;
    for (; k + VL <= n; k += VL) hue_block(R + k, G + k, B + k, shift);
    if (k < n) { /* tail through a padded block */
        uint8_t t[3][VL] = {{0}};
        memcpy(t[0], R + k, n - k);
        memcpy(t[1], G + k, n - k);
        memcpy(t[2], B + k, n - k);
        hue_block(t[0], t[1], t[2], shift);
        memcpy(R + k, t[0], n - k);
        memcpy(G + k, t[1], n - k);
        memcpy(B + k, t[2], n - k);
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

/* The fast form of the same passes, for radius <= BLUR_FAST_R and widths W16 .. BLUR_FAST_W: with
 * r = int(radius), Pillow's running sum is exactly the window sum acc[x] = sum_{|i| <= r} in[x + i]
 * with indices clamped to the line (its first accumulation and its edge loops are that, written
 * incrementally), and the two edge taps are in[clamp(x - r - 1)] and in[clamp(x + r + 1)]. Integer
 * sums, so evaluation order does not matter. Horizontal passes: whole window sums over a row copy
 * padded with r + 1 repeated edge bytes each side, W16 outputs per register (16-bit lanes); all
 * three passes stay in two row buffers. Vertical passes: W16 columns at a time, the running sum
 * down the rows kept in a register. No transposes. */
enum { BLUR_FAST_R = 8, BLUR_FAST_W = 2048 };
typedef struct { int r; uint32_t ww, fw; uint16_t wh, wl, fh, fl; } BoxK;

static BoxK box_k(float fradius) {
    BoxK k;
    k.r = (int)fradius;
    k.ww = (uint32_t)((uint32_t)(1 << 24) / (fradius * 2 + 1));
    k.fw = ((1 << 24) - (k.r * 2 + 1) * k.ww) / 2;
    k.wh = (uint16_t)(k.ww >> 16);
    k.wl = (uint16_t)k.ww;
    k.fh = (uint16_t)(k.fw >> 16);
    k.fl = (uint16_t)k.fw;
    return k;
}

/* Pillow's (acc * ww + e * fw + 2^23) >> 24 (uint32; below 2^32 since (2r + 1) ww + 2 fw <= 2^24)
 * in 16-bit lanes: with ww = wh 2^16 + wl and fw = fh 2^16 + fl, the sum shifted right by 16 is
 * acc wh + e fh + 128 + hi16(acc wl) + hi16(e fl) + the carry out of lo16(acc wl) + lo16(e fl),
 * each partial sum below 2^16 (the total is), and the result is that >> 8. acc <= 255 (2r + 1),
 * e <= 510 fit 16 bits for r <= BLUR_FAST_R. */
V_INLINE vu16 box_out16(const vu16 *acc, const vu16 *e, const BoxK *k) {
    vu16 wl = (vu16){0} + k->wl, fl = (vu16){0} + k->fl;
    vu16 a_lo = *acc * k->wl, s = a_lo + *e * k->fl;
    vu16 hi = *acc * k->wh + *e * k->fh + 128 + v16_mulhi(acc, &wl) + v16_mulhi(e, &fl);
    return (vu16)(hi - (vu16)(s < a_lo)) >> 8; /* the comparison is -1 where the low halves carried */
}

/* out[0..w) from the padded row in[-r-1 .. w+r] (pointers at element 0); w >= W16 */
static void box_row(uint8_t *restrict out, const uint8_t *restrict in, int w, const BoxK *k) {
    for (int x0 = 0;; x0 += W16) {
        if (x0 > w - W16) x0 = w - W16; /* the last block overlaps the previous one */
        vu16 acc = v16_load(in + x0 - k->r);
        for (int i = -k->r + 1; i <= k->r; i++) acc += v16_load(in + x0 + i);
        vu16 e = v16_load(in + x0 - k->r - 1) + v16_load(in + x0 + k->r + 1);
        vu16 o = box_out16(&acc, &e, k);
        v16_store(out + x0, &o);
        if (x0 == w - W16) break;
    }
}

static void pad_row(uint8_t *row, int w, int pad) { /* row[-pad..-1] = row[0], row[w..w+pad-1] = row[w-1] */
    memset(row - pad, row[0], (size_t)pad);
    memset(row + w, row[w - 1], (size_t)pad);
}

/* out [h][w] = one vertical pass over in [h][w]; w >= W16. The window sum runs down the rows in a
 * register (uint16 wrap-around in the update is harmless: the sum itself fits). */
static void box_cols(uint8_t *restrict out, const uint8_t *restrict in, int w, int h, const BoxK *k) {
#define ROW(y) (in + (size_t)((y) < 0 ? 0 : (y) > h - 1 ? h - 1 : (y)) * w + x0)
    for (int x0 = 0;; x0 += W16) {
        if (x0 > w - W16) x0 = w - W16;
        vu16 acc = (vu16){0}; /* window of output -1: rows -r-1 .. r-1 */
        for (int i = -k->r - 1; i <= k->r - 1; i++) acc += v16_load(ROW(i));
        for (int y = 0; y < h; y++) {
            vu16 left = v16_load(ROW(y - k->r - 1));
            acc += v16_load(ROW(y + k->r)) - left;
            vu16 e = left + v16_load(ROW(y + k->r + 1));
            vu16 o = box_out16(&acc, &e, k);
            v16_store(out + (size_t)y * w + x0, &o);
        }
        if (x0 == w - W16) break;
    }
#undef ROW
}

/* Blur one plane [h][w] in place; t1, t2: w * h bytes; acc: max(w, h) uint32. Pillow: 3 horizontal
 * passes, then 3 vertical ones, uint8 in between. */
static void p_blur(uint8_t *pl, int w, int h, float radius, uint8_t *t1, uint8_t *t2, uint32_t *acc) {
    float r = gaussian_blur_radius(radius, 3);
    BoxK k = box_k(r);
    if (k.r <= BLUR_FAST_R && w >= W16 && w <= BLUR_FAST_W && h >= 1) {
        uint8_t bufa[BLUR_FAST_W + 2 * BLUR_FAST_R + 2], bufb[BLUR_FAST_W + 2 * BLUR_FAST_R + 2];
        int pad = k.r + 1;
        uint8_t *ra = bufa + pad, *rb = bufb + pad;
        for (int y = 0; y < h; y++) {
            uint8_t *row = pl + (size_t)y * w;
            memcpy(ra, row, (size_t)w);
            pad_row(ra, w, pad);
            box_row(rb, ra, w, &k);
            pad_row(rb, w, pad);
            box_row(ra, rb, w, &k);
            pad_row(ra, w, pad);
            box_row(t1 + (size_t)y * w, ra, w, &k);
        }
        box_cols(t2, t1, w, h, &k);
        box_cols(t1, t2, w, h, &k);
        box_cols(pl, t1, w, h, &k);
        return;
    }
    /* general radius / tiny widths: Pillow's running-sum lines, the horizontal ones on the transpose */
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
    P->p[0] = calloc(n * 3 + 1, 1); /* calloc: GCC cannot see the deinterleave fill them */
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
    Planes P = {{NULL, NULL, NULL}, 0};
    if (planes_from(&P, im, n)) return;
    int m = p_mean_luma(P.p[0], P.p[1], P.p[2], n);
    planes_to(im, &P);
    p_contrast_apply(im, n * 3, m, f);
}

void augment_saturation(uint8_t *im, size_t n, float f) {
    Planes P = {{NULL, NULL, NULL}, 0};
    if (planes_from(&P, im, n)) return;
    p_saturation(P.p[0], P.p[1], P.p[2], n, f);
    planes_to(im, &P);
}

void augment_hue(uint8_t *im, size_t n, float shift) {
    Planes P = {{NULL, NULL, NULL}, 0};
    if (planes_from(&P, im, n)) return;
    p_hue(P.p[0], P.p[1], P.p[2], n, hue_shift_byte(shift));
    planes_to(im, &P);
}

void augment_grayscale(uint8_t *im, size_t n) {
    Planes P = {{NULL, NULL, NULL}, 0};
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
    Planes P = {{NULL, NULL, NULL}, 0};
    if (planes_from(&P, im, n)) return;
    uint8_t *t = malloc(2 * n + 1);
    uint32_t *acc = malloc(sizeof(uint32_t) * (size_t)(w > h ? w : h));
    if (t && acc)
        for (int c = 0; c < 3; c++) p_blur(P.p[c], w, h, radius, t, t + n, acc);
    free(t);
    free(acc);
    planes_to(im, &P);
}

/* ---- resampling into planes (Pillow BILINEAR) ------------------------------------------------------
 * Pillow's passes exactly: horizontal first (22-bit fixed point, accumulator from 2^21, clipped to
 * [0, 2^30) and shifted by 22), rounded to uint8, then vertical. Every sum is an exact int32, so
 * any evaluation order gives Pillow's numbers. The horizontal pass runs on bands of 16 source
 * rows: the band is deinterleaved and transposed into Tb [C][16] (all in L1), so that 16 / VL
 * registers accumulate one output column of the 16 rows over its taps; results [S][16] are
 * transposed back into rows. The vertical pass accumulates VL output pixels of a row in a register
 * over the taps (rows). */
#define V_CLIPACC(a) (V_MIN(V_MAX((a), V_SPLAT(0)), V_SPLAT((1 << 30) - 1)) >> 22)

static inline uint8_t clipacc(int32_t a) {
    a = a < 0 ? 0 : a;
    a = a > (1 << 30) - 1 ? (1 << 30) - 1 : a;
    return (uint8_t)(a >> 22);
}

/* Tb [C][16] = transpose of the band Db [16][C] */
static void band_to_columns(uint8_t *restrict Tb, const uint8_t *restrict Db, int C) {
    int x0 = 0;
    for (; x0 + 16 * TILE_W <= C; x0 += 16 * TILE_W) tiles_rows_to_cols(Tb + (size_t)x0 * 16, 16, Db + x0, (size_t)C);
    for (; x0 + 16 <= C; x0 += 16) tile1_rows_to_cols(Tb + (size_t)x0 * 16, 16, Db + x0, (size_t)C);
    for (int x = x0; x < C; x++)
        for (int j = 0; j < 16; j++) Tb[(size_t)x * 16 + j] = Db[(size_t)j * C + x];
}

/* rows [16][S] (stride S) = transpose of Ob [S][16] */
static void columns_to_band(uint8_t *restrict rows, const uint8_t *restrict Ob, int S) {
    int x0 = 0;
    for (; x0 + 16 * TILE_W <= S; x0 += 16 * TILE_W) tiles_cols_to_rows(rows + x0, (size_t)S, Ob + (size_t)x0 * 16, 16);
    for (; x0 + 16 <= S; x0 += 16) tile1_cols_to_rows(rows + x0, (size_t)S, Ob + (size_t)x0 * 16, 16);
    for (int x = x0; x < S; x++)
        for (int j = 0; j < 16; j++) rows[(size_t)j * S + x] = Ob[(size_t)x * 16 + j];
}

/* The horizontal taps of one band and channel: Ob[xo][0..16] for every output column, K taps each
 * (Pillow's weights are zero-padded to ksize, so a fixed K = ksize reads a few zero-weighted
 * columns past the last tap instead of branching on the tap count). */
V_INLINE void band_taps(uint8_t *restrict Ob, const uint8_t *restrict Tc, const int *bh, const int32_t *kh, int S, int K,
                        int xfirst, int flip) {
    for (int xx = 0; xx < S; xx++) {
        const int32_t *k = kh + (size_t)xx * K;
        const uint8_t *col = Tc + (size_t)(bh[2 * xx] - xfirst) * 16;
        uint8_t *o = Ob + (size_t)(flip ? S - 1 - xx : xx) * 16;
        for (int v = 0; v < 16; v += VL) { /* the 16 rows in 16 / VL registers */
            vi32 acc = V_SPLAT(1 << 21);
            for (int t = 0; t < K; t++) acc += v_load(col + 16 * t + v) * k[t];
            acc = V_CLIPACC(acc);
            v_store(o + v, &acc);
        }
    }
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
    size_t RS = (size_t)((R + 15) & ~15) * S; /* plane stride: whole bands (a partial one writes 16 rows) */
    uint8_t *Hr = scr(sc, BUF_HR, 3 * RS);
    if (!Hr) goto done;
    if (need_h) {
        int xfirst = bh[0], xlast = bh[2 * S - 2] + bh[2 * S - 1], C = xlast - xfirst;
        /* Tb per channel: C columns + ksh zero columns (read with weight 0 past the last tap) */
        size_t C16 = (size_t)16 * C, T16 = (size_t)16 * (C + ksh);
        uint8_t *Db = scr(sc, BUF_D, 3 * C16), *Tb = scr(sc, BUF_T, 3 * T16), *Ob = scr(sc, BUF_H, (size_t)16 * S);
        if (!Db || !Tb || !Ob) goto done;
        for (int c = 0; c < 3; c++) memset(Tb + c * T16 + C16, 0, T16 - C16);
        for (int r0 = 0; r0 < R; r0 += 16) {
            for (int j = 0; j < 16; j++) { /* rows past the end repeat the last one (results dropped) */
                int r = r0 + j < R ? r0 + j : R - 1;
                deinterleave(Db + (size_t)j * C, Db + C16 + (size_t)j * C, Db + 2 * C16 + (size_t)j * C,
                             src + (size_t)(yfirst + r) * stride + (size_t)xfirst * 3, (size_t)C);
            }
            for (int c = 0; c < 3; c++) {
                uint8_t *Tc = Tb + c * T16;
                band_to_columns(Tc, Db + c * C16, C);
                switch (ksh) { /* constant tap counts unroll */
                case 3: band_taps(Ob, Tc, bh, kh, S, 3, xfirst, flip); break;
                case 5: band_taps(Ob, Tc, bh, kh, S, 5, xfirst, flip); break;
                case 7: band_taps(Ob, Tc, bh, kh, S, 7, xfirst, flip); break;
                default: band_taps(Ob, Tc, bh, kh, S, ksh, xfirst, flip); break;
                }
                columns_to_band(Hr + c * RS + (size_t)r0 * S, Ob, S);
            }
        }
    } else {
        for (int r = 0; r < R; r++) {
            const uint8_t *s0 = src + (size_t)(yfirst + r) * stride;
            deinterleave(Hr + (size_t)r * S, Hr + RS + (size_t)r * S, Hr + 2 * RS + (size_t)r * S, s0, (size_t)S);
        }
    }
    for (int c = 0; c < 3; c++) {
        const uint8_t *Hc = Hr + c * RS;
        if (!need_v) {
            memcpy(P[c], Hc, (size_t)S * S);
            continue;
        }
        for (int yy = 0; yy < S; yy++) {
            const int32_t *k = kv + (size_t)yy * ksv;
            const uint8_t *base = Hc + (size_t)bv[2 * yy] * S;
            int yn = bv[2 * yy + 1];
            uint8_t *o = P[c] + (size_t)yy * S;
            int x = 0;
            for (; x + VL <= S; x += VL) {
                vi32 acc = V_SPLAT(1 << 21);
                for (int t = 0; t < yn; t++) acc += v_load(base + (size_t)t * S + x) * k[t];
                acc = V_CLIPACC(acc);
                v_store(o + x, &acc);
            }
            for (; x < S; x++) {
                int32_t a = 1 << 21;
                for (int t = 0; t < yn; t++) a += (int32_t)base[(size_t)t * S + x] * k[t];
                o[x] = clipacc(a);
            }
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
