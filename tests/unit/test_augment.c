/* test_augment.c: SimCLR augmentation against torchvision 0.14 on PIL images (fixtures:
 * tests/fixtures/data/augment_expected.h5, made by tests/fixtures/data/make_fixtures.py), plus the
 * sampling rules (torchvision's RandomResizedCrop fallback, probabilities, Philox reproducibility).
 *
 * Tolerance: 2 intensity levels for every pixel (the bar). The implementation reproduces
 * Pillow's arithmetic, hue's 8-bit HSV round trip included, so the measured deviation is printed
 * and expected to be 0; a non-zero maximum that is still <= 2 passes but shows in the log.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "h5io.h"
#include "image.h"
#include "rng.h"
#include "test.h"

#define FIX "tests/fixtures/data/"
static const char *OPS[] = {"brightness", "contrast", "saturation", "hue", "gray", "blur"};

static uint8_t *read_u8(hid_t f, const char *name, int *h, int *w) {
    hsize_t d[H5IO_MAX_RANK];
    int rank;
    uint8_t *v = h5_read(f, name, H5IO_U8, &rank, d);
    *h = (int)d[0];
    *w = (int)d[1];
    return v;
}

static int maxdiff(const uint8_t *a, const uint8_t *b, size_t n, size_t *ndiff) {
    int m = 0;
    *ndiff = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d > m) m = d;
        if (d) (*ndiff)++;
    }
    return m;
}

TEST(augment_single_steps_match_torchvision) {
    hid_t f = h5_open_any(t_src(FIX "augment_expected.h5"));
    int ph, pw, nh, nw;
    uint8_t *in[2] = {read_u8(f, "input/photo", &ph, &pw), read_u8(f, "input/noise", &nh, &nw)};
    int hh[2] = {ph, nh}, ww[2] = {pw, nw};
    hsize_t d[H5IO_MAX_RANK];
    h5_shape(f, "single/factor", d);
    int n = (int)d[0];
    int32_t *idx = xmalloc(sizeof(int32_t) * 2 * n);
    float *fac = xmalloc(sizeof(float) * n);
    h5_read_into(f, "single/index", H5IO_I32, idx, 2 * (size_t)n);
    h5_read_into(f, "single/factor", H5IO_F32, fac, (size_t)n);
    int worst[6] = {0};
    for (int k = 0; k < n; k++) {
        int s = idx[2 * k], op = idx[2 * k + 1], h = hh[s], w = ww[s];
        size_t np = (size_t)w * h;
        uint8_t *im = xmalloc(np * 3);
        memcpy(im, in[s], np * 3);
        switch (op) {
        case 0: augment_brightness(im, np, fac[k]); break;
        case 1: augment_contrast(im, np, fac[k]); break;
        case 2: augment_saturation(im, np, fac[k]); break;
        case 3: augment_hue(im, np, fac[k]); break;
        case 4: augment_grayscale(im, np); break;
        default: augment_gaussian_blur(im, w, h, fac[k]); break;
        }
        char key[32];
        snprintf(key, sizeof key, "single/%d", k);
        int rh, rw;
        uint8_t *ref = read_u8(f, key, &rh, &rw);
        REQUIRE(rh == h && rw == w);
        size_t nd;
        int m = maxdiff(im, ref, np * 3, &nd);
        if (m > worst[op]) worst[op] = m;
        if (m) printf("%s %s %g: max diff %d in %zu of %zu values\n", s ? "noise" : "photo", OPS[op], fac[k], m, nd, np * 3);
        CHECK_MSG(m <= 2, "%s(%g) on %s: max diff %d > 2", OPS[op], fac[k], s ? "noise" : "photo", m);
        free(im);
        free(ref);
    }
    printf("max deviation from torchvision per step:");
    for (int i = 0; i < 6; i++) printf(" %s %d", OPS[i], worst[i]);
    printf("\n");
    h5_close_file(f);
}

TEST(augment_views_match_torchvision) {
    char err[256];
    Image *src = image_load(t_src(FIX "face320.jpg"), err, sizeof err);
    REQUIRE(src);
    hid_t f = h5_open_any(t_src(FIX "augment_expected.h5"));
    hsize_t d[H5IO_MAX_RANK];
    h5_shape(f, "view/params", d);
    int n = (int)d[0], nc = (int)d[1];
    REQUIRE(nc == 18);
    double *P = xmalloc(sizeof(double) * (size_t)n * nc);
    h5_read_into(f, "view/params", H5IO_F64, P, (size_t)n * nc);
    int worst = 0;
    for (int k = 0; k < n; k++) {
        const double *q = P + (size_t)k * nc;
        int S = (int)q[0];
        AugmentParams p;
        memset(&p, 0, sizeof p);
        p.x0 = (int)q[1]; p.y0 = (int)q[2]; p.cw = (int)q[3]; p.ch = (int)q[4];
        p.flip = (int)q[5];
        p.jitter = (int)q[6];
        for (int i = 0; i < 4; i++) {
            p.order[i] = (int)q[7 + i];
            p.factor[i] = (float)q[11 + i];
            p.use[i] = 1;
        }
        p.gray = (int)q[15];
        p.blur = (int)q[16];
        p.blur_radius = (float)q[17];
        uint8_t *out = xmalloc((size_t)S * S * 3);
        AugmentScratch *scratch = augment_scratch_new();
        AugmentSource as = {src->px, src->w, src->h, (size_t)src->w * 3, 1.0, 0, 0};
        CHECK(augment_apply(out, S, &as, &p, scratch) == 0);
        char key[32];
        snprintf(key, sizeof key, "view/%d", k);
        int rh, rw;
        uint8_t *ref = read_u8(f, key, &rh, &rw);
        REQUIRE(rh == S && rw == S);
        size_t nd;
        int m = maxdiff(out, ref, (size_t)S * S * 3, &nd);
        if (m > worst) worst = m;
        if (m) printf("view %d: max diff %d in %zu values\n", k, m, nd);
        CHECK_MSG(m <= 2, "view %d (S %d, box %d,%d %dx%d): max diff %d > 2", k, S, p.x0, p.y0, p.cw, p.ch, m);
        free(out);
        augment_scratch_free(scratch);
        free(ref);
    }
    printf("%d views: max deviation from torchvision %d\n", n, worst);
    h5_close_file(f);
}

TEST(augment_crop_box_follows_torchvision) {
    AugmentConfig c;
    augment_config_default(&c);
    double u[40];
    /* every try fails on a 1000 x 10 strip: torchvision falls back to h = 10, w = round(10 * 4/3) = 13,
     * centred: j = (1000 - 13) // 2 = 493 */
    for (int i = 0; i < 40; i++) u[i] = (i * 0.37 + 0.11) - floor(i * 0.37 + 0.11);
    int x0, y0, cw, ch;
    augment_crop_box(&x0, &y0, &cw, &ch, &c, 1000, 10, u);
    CHECK(x0 == 493 && y0 == 0 && cw == 13 && ch == 10);
    /* a tall strip: w = 10, h = round(10 / (3/4)) = 13 */
    augment_crop_box(&x0, &y0, &cw, &ch, &c, 10, 1000, u);
    CHECK(x0 == 0 && y0 == 493 && cw == 10 && ch == 13);
    /* the first try succeeds: scale u0 = 0.5, ratio u1 = 0.5 (ratio 1): area 0.08 + 0.46 = 0.54 of 400x300 */
    u[0] = 0.5; u[1] = 0.5; u[2] = 0.0; u[3] = 0.999999;
    augment_crop_box(&x0, &y0, &cw, &ch, &c, 400, 300, u);
    int side = (int)rint(sqrt(0.54 * 120000));
    CHECK_EQ_INT(cw, side);
    CHECK_EQ_INT(ch, side);
    CHECK_EQ_INT(y0, 0);
    CHECK_EQ_INT(x0, 400 - side);
    /* a try that does not fit is skipped: scale 1 with ratio 4/3 on a square image */
    u[0] = 0.999999; u[1] = 0.999999; u[4] = 0.0; u[5] = 0.5; u[6] = 0.5; u[7] = 0.5;
    augment_crop_box(&x0, &y0, &cw, &ch, &c, 100, 100, u);
    side = (int)rint(sqrt(0.08 * 10000));
    CHECK(cw == side && ch == side);
}

TEST(augment_sampling_is_reproducible_with_paper_rates) {
    AugmentConfig c;
    augment_config_default(&c);
    AugmentParams a, b;
    augment_sample(&a, &c, 500, 375, 7, rng_stream(RNG_PURPOSE_AUGMENT, 3, 12345, 1));
    augment_sample(&b, &c, 500, 375, 7, rng_stream(RNG_PURPOSE_AUGMENT, 3, 12345, 1));
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    int n = 20000, flips = 0, jit = 0, gray = 0, blur = 0, first[4] = {0};
    double area = 0, rmin = 1e9, rmax = 0, logr = 0;
    for (int i = 0; i < n; i++) {
        augment_sample(&a, &c, 500, 375, 7, rng_stream(RNG_PURPOSE_AUGMENT, 0, (uint32_t)i, 0));
        CHECK(a.x0 >= 0 && a.y0 >= 0 && a.x0 + a.cw <= 500 && a.y0 + a.ch <= 375);
        flips += a.flip;
        jit += a.jitter;
        gray += a.gray;
        blur += a.blur;
        first[a.order[0]]++;
        area += (double)a.cw * a.ch / (500.0 * 375.0);
        double r = (double)a.cw / a.ch;
        logr += log(r);
        if (r < rmin) rmin = r;
        if (r > rmax) rmax = r;
        CHECK(a.factor[0] >= 0.2f && a.factor[0] <= 1.8f && a.factor[3] >= -0.2f && a.factor[3] <= 0.2f);
        CHECK(a.blur_radius >= 0.1f && a.blur_radius <= 2.0f);
    }
    printf("rates: flip %.3f jitter %.3f gray %.3f blur %.3f; mean crop area %.3f; ratio %.3f..%.3f\n",
           (double)flips / n, (double)jit / n, (double)gray / n, (double)blur / n, area / n, rmin, rmax);
    /* binomial standard error at n = 20000 is <= 0.0036; 0.015 is > 4 sigma */
    CHECK_NEAR((double)flips / n, 0.5, 0.015);
    CHECK_NEAR((double)jit / n, 0.8, 0.015);
    CHECK_NEAR((double)gray / n, 0.2, 0.015);
    CHECK_NEAR((double)blur / n, 0.5, 0.015);
    for (int k = 0; k < 4; k++) CHECK_NEAR(first[k] / (double)n, 0.25, 0.015);
    /* large areas fit a 4:3 image only at wide ratios and are retried otherwise, so the mean area is
     * well under 0.54 and the mean log ratio positive; torchvision's get_params over 40,000 draws
     * gives 0.4342 and 0.0317 (standard errors 0.0014 and 0.0011 at n = 20,000) */
    CHECK_NEAR(area / n, 0.4342, 0.007);
    CHECK_NEAR(logr / n, 0.0317, 0.0055);
    CHECK(rmin > 0.74 && rmax < 1.345);
}

TEST(augment_normalize_imagenet) {
    uint8_t in[2 * 2 * 2 * 3];
    for (int i = 0; i < 24; i++) in[i] = (uint8_t)(i * 11);
    float out[24];
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    augment_normalize(out, in, 2, 2, mean, std);
    for (int i = 0; i < 2; i++)
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 4; k++) {
                float ref = ((float)in[i * 12 + k * 3 + c] / 255.0f - mean[c]) / std[c];
                CHECK_NEAR(out[i * 12 + c * 4 + k], ref, 1e-5);
            }
}

/* Pillow 9.4's rgb2hsv_row and hsv2rgb (libImaging/Convert.c), transcribed literally with their
 * float/double types, plus numpy's uint8 addition of the hue shift: the reference for the
 * vectorised augment_hue, which rewrites the divisions (see augment_cpu.c). */
static uint8_t clip8ref(int v) { return (uint8_t)(v <= 0 ? 0 : v < 256 ? v : 255); }
static void hue_ref(uint8_t *px, uint8_t shift) {
    float h, s, rc, gc, bc, cr;
    uint8_t maxc, minc, r = px[0], g = px[1], b = px[2], uh, us, uv;
    maxc = r > g ? (r > b ? r : b) : (g > b ? g : b);
    minc = r < g ? (r < b ? r : b) : (g < b ? g : b);
    uv = maxc;
    if (minc == maxc) {
        uh = 0;
        us = 0;
    } else {
        cr = (float)(maxc - minc);
        s = cr / (float)maxc;
        rc = ((float)(maxc - r)) / cr;
        gc = ((float)(maxc - g)) / cr;
        bc = ((float)(maxc - b)) / cr;
        if (r == maxc) h = bc - gc;
        else if (g == maxc) h = 2.0 + rc - bc;
        else h = 4.0 + gc - rc;
        h = fmod((h / 6.0 + 1.0), 1.0);
        uh = clip8ref((int)(h * 255.0));
        us = clip8ref((int)(s * 255.0));
    }
    uh = (uint8_t)(uh + shift);
    if (us == 0) {
        px[0] = px[1] = px[2] = uv;
        return;
    }
    int i = floor((float)uh * 6.0 / 255.0);
    float f = (float)uh * 6.0 / 255.0 - (float)i;
    float fs = ((float)us) / 255.0;
    int p = round((float)uv * (1.0 - fs)), q = round((float)uv * (1.0 - fs * f)),
        t = round((float)uv * (1.0 - fs * (1.0 - f)));
    uint8_t up = clip8ref(p), uq = clip8ref(q), ut = clip8ref(t);
    switch (i % 6) {
    case 0: px[0] = uv; px[1] = ut; px[2] = up; break;
    case 1: px[0] = uq; px[1] = uv; px[2] = up; break;
    case 2: px[0] = up; px[1] = uv; px[2] = ut; break;
    case 3: px[0] = up; px[1] = uq; px[2] = uv; break;
    case 4: px[0] = ut; px[1] = up; px[2] = uv; break;
    default: px[0] = uv; px[1] = up; px[2] = uq; break;
    }
}

TEST(augment_hue_equals_pillow_transcription_on_every_colour) {
    /* all 2^24 colours for hue factor -0.05 (shift 244), every 11th colour for 3 more */
    const float factors[] = {-0.05f, 0.0f, 0.2f, -0.2f};
    const size_t N = (size_t)1 << 24;
    uint8_t *im = xmalloc(N * 3), *ref = xmalloc(N * 3);
    for (int fi = 0; fi < 4; fi++) {
        size_t step = fi < 1 ? 1 : 11, n = 0;
        for (size_t c = 0; c < N; c += step, n++) {
            im[3 * n] = (uint8_t)(c >> 16);
            im[3 * n + 1] = (uint8_t)(c >> 8);
            im[3 * n + 2] = (uint8_t)c;
        }
        memcpy(ref, im, n * 3);
        uint8_t shift = (uint8_t)(int)((double)factors[fi] * 255.0);
        for (size_t k = 0; k < n; k++) hue_ref(ref + 3 * k, shift);
        augment_hue(im, n, factors[fi]);
        size_t bad = 0, first = 0;
        for (size_t k = 0; k < n * 3; k++)
            if (im[k] != ref[k] && !bad++) first = k / 3;
        CHECK_MSG(bad == 0, "hue %g: %zu values differ from the transcription, first at rgb %d,%d,%d", factors[fi], bad,
                  ref[3 * first], ref[3 * first + 1], ref[3 * first + 2]);
    }
    free(im);
    free(ref);
}
