/* test_image.c: JPEG/PNG decoding and Pillow-exact resampling against Pillow 9.4 / torchvision 0.14
 * references (tests/fixtures/data/image_expected.h5, made by tests/fixtures/data/make_fixtures.py).
 *
 * Tolerances: decoding 1 level (the reference used Debian's libjpeg-turbo 2.1.5 through Pillow; the
 * same library here gives 0, another libjpeg build may round its IDCT differently); resampling and
 * Resize+CenterCrop 0 (integer arithmetic reproduced exactly). Corrupt files must fail with a reason.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5io.h"
#include "image.h"
#include "test.h"
#include "util.h"

#define FIX "tests/fixtures/data/"

static uint8_t *expected(const char *name, int *h, int *w) {
    hid_t f = h5_open_any(t_src(FIX "image_expected.h5"));
    hsize_t d[H5IO_MAX_RANK];
    int rank;
    uint8_t *v = h5_read(f, name, H5IO_U8, &rank, d);
    h5_close_file(f);
    if (rank != 3 || d[2] != 3) return NULL;
    *h = (int)d[0];
    *w = (int)d[1];
    return v;
}

/* max |a - b| over n bytes; prints where the first difference is */
static int maxdiff(const char *what, const uint8_t *a, const uint8_t *b, size_t n) {
    int m = 0;
    size_t first = n;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d > m) m = d;
        if (d && first == n) first = i;
    }
    if (m) printf("%s: max diff %d, first at byte %zu (%d vs %d)\n", what, m, first, a[first], b[first]);
    return m;
}

static void check_decode(const char *file, int tol) {
    char err[256] = "", key[128];
    Image *im = image_load(t_src(xasprintf(FIX "%s", file)), err, sizeof err);
    CHECK_MSG(im != NULL, "%s: %s", file, err);
    if (!im) return;
    int h = 0, w = 0;
    snprintf(key, sizeof key, "decode/%s", file);
    uint8_t *ref = expected(key, &h, &w);
    REQUIRE(ref);
    CHECK_EQ_INT(im->w, w);
    CHECK_EQ_INT(im->h, h);
    if (im->w == w && im->h == h) {
        int m = maxdiff(file, im->px, ref, (size_t)w * h * 3);
        CHECK_MSG(m <= tol, "%s: max diff %d > %d", file, m, tol);
    }
    image_free(im);
    free(ref);
}

TEST(image_decode_matches_pillow) {
    const char *jpg[] = {"rgb420.jpg", "rgb444_q75.jpg", "progressive.jpg", "gray.jpg", "cmyk.jpg", "face320.jpg"};
    for (size_t i = 0; i < sizeof jpg / sizeof *jpg; i++) check_decode(jpg[i], 1);
    const char *png[] = {"palette.png", "rgba.png", "la.png", "gray1bit.png"};
    for (size_t i = 0; i < sizeof png / sizeof *png; i++) check_decode(png[i], 0);
}

TEST(image_decode_scaled_matches_pillow_draft) {
    size_t n;
    char err[256];
    uint8_t *data = image_read_file(t_src(FIX "face320.jpg"), &n, err, sizeof err);
    REQUIRE(data);
    int w, h;
    REQUIRE(image_probe(data, n, &w, &h, err, sizeof err) == 0);
    CHECK_EQ_INT(w, 320);
    CHECK_EQ_INT(h, 240);
    const int den[2] = {2, 4};
    for (int i = 0; i < 2; i++) {
        double scale = 0;
        Image *im = image_decode_scaled(data, n, 1.0 / den[i], &scale, err, sizeof err);
        REQUIRE(im);
        CHECK_NEAR(scale, 1.0 / den[i], 0);
        char key[64];
        snprintf(key, sizeof key, "decode_scaled/face320_%d", den[i]);
        int rh = 0, rw = 0;
        uint8_t *ref = expected(key, &rh, &rw);
        CHECK_EQ_INT(im->w, rw);
        CHECK_EQ_INT(im->h, rh);
        if (im->w == rw && im->h == rh) CHECK(maxdiff(key, im->px, ref, (size_t)rw * rh * 3) <= 1);
        image_free(im);
        free(ref);
    }
    /* a scale above one half decodes at full size; 0.3 picks 3/8 */
    double s;
    Image *im = image_decode_scaled(data, n, 0.6, &s, err, sizeof err);
    CHECK(im && im->w == 320 && s == 1.0);
    image_free(im);
    im = image_decode_scaled(data, n, 0.3, &s, err, sizeof err);
    CHECK(im && im->w == 120 && im->h == 90 && s == 0.375);
    image_free(im);
    free(data);
}

TEST(image_corrupt_files_fail_with_reason) {
    char err[256];
    const char *bad[][2] = {{"truncated.jpg", "truncated"}, {"garbage.jpg", "corrupt JPEG"},
                            {"make_fixtures.py", "not a JPEG or PNG"}, {"missing.jpg", "cannot open"}};
    for (int i = 0; i < 4; i++) {
        err[0] = 0;
        Image *im = image_load(t_src(xasprintf(FIX "%s", bad[i][0])), err, sizeof err);
        CHECK_MSG(im == NULL, "%s decoded", bad[i][0]);
        CHECK_MSG(strstr(err, bad[i][1]) != NULL, "%s: reason '%s' lacks '%s'", bad[i][0], err, bad[i][1]);
        image_free(im);
    }
    /* a PNG cut short, and an empty file */
    size_t n;
    uint8_t *png = image_read_file(t_src(FIX "rgba.png"), &n, err, sizeof err);
    REQUIRE(png);
    CHECK(image_decode(png, n / 2, err, sizeof err) == NULL && strstr(err, "PNG"));
    CHECK(image_decode(png, 0, err, sizeof err) == NULL);
    free(png);
    char *empty = t_path("empty.jpg");
    write_file_atomic(empty, "", 0);
    CHECK(image_load(empty, err, sizeof err) == NULL && strstr(err, "empty"));
}

TEST(image_resample_is_pillow_exact) {
    char err[256];
    Image *src = image_load(t_src(FIX "rgb420.jpg"), err, sizeof err);
    REQUIRE(src);
    hid_t f = h5_open_any(t_src(FIX "image_expected.h5"));
    float boxes[8][4];
    int32_t sizes[8][2];
    h5_read_into(f, "resample/boxes", H5IO_F32, boxes, 32);
    h5_read_into(f, "resample/sizes", H5IO_I32, sizes, 16);
    h5_close_file(f);
    for (int i = 0; i < 8; i++) {
        char key[32];
        snprintf(key, sizeof key, "resample/%d", i);
        int h = 0, w = 0;
        uint8_t *ref = expected(key, &h, &w);
        REQUIRE(ref && w == sizes[i][0] && h == sizes[i][1]);
        uint8_t *out = malloc((size_t)w * h * 3);
        CHECK(image_resample(out, w, h, src->px, src->w, src->h, (size_t)src->w * 3, boxes[i]) == 0);
        CHECK_MSG(maxdiff(key, out, ref, (size_t)w * h * 3) == 0, "%s (%dx%d from box %g,%g,%g,%g) differs", key, w, h,
                  boxes[i][0], boxes[i][1], boxes[i][2], boxes[i][3]);
        free(out);
        free(ref);
    }
    image_free(src);
}

static Image *transpose(const Image *a) {
    Image *t = image_new(a->h, a->w);
    for (int y = 0; y < a->h; y++)
        for (int x = 0; x < a->w; x++) memcpy(t->px + ((size_t)x * a->h + y) * 3, a->px + ((size_t)y * a->w + x) * 3, 3);
    return t;
}

TEST(image_resize_center_crop_matches_torchvision) {
    char err[256];
    Image *a = image_load(t_src(FIX "rgb420.jpg"), err, sizeof err);
    Image *b = image_load(t_src(FIX "face320.jpg"), err, sizeof err);
    REQUIRE(a && b);
    Image *t = transpose(a);
    struct { const char *name; Image *im; int S; } cases[] = {
        {"rgb420", a, 64}, {"rgb420", a, 45}, {"face320", b, 64}, {"face320", b, 97}, {"tall", t, 224}, {"tall", t, 45}};
    for (int i = 0; i < 6; i++) {
        char key[64];
        snprintf(key, sizeof key, "center_crop/%s_%d", cases[i].name, cases[i].S);
        int h = 0, w = 0, S = cases[i].S;
        uint8_t *ref = expected(key, &h, &w);
        REQUIRE(ref && h == S && w == S);
        uint8_t *out = malloc((size_t)S * S * 3);
        CHECK(image_resize_center_crop(out, S, cases[i].im) == 0);
        CHECK_MSG(maxdiff(key, out, ref, (size_t)S * S * 3) == 0, "%s differs", key);
        free(out);
        free(ref);
    }
}

TEST(image_png_round_trip) {
    Image *im = image_new(37, 21);
    for (int i = 0; i < 37 * 21 * 3; i++) im->px[i] = (uint8_t)(i * 7 + i / 5);
    char err[256], *path = t_path("x.png");
    REQUIRE(image_save_png(path, im, err, sizeof err) == 0);
    Image *back = image_load(path, err, sizeof err);
    REQUIRE(back);
    CHECK(back->w == 37 && back->h == 21 && memcmp(back->px, im->px, 37 * 21 * 3) == 0);
    CHECK(image_save_png(t_path("no/such/dir.png"), im, err, sizeof err) == -1 && strstr(err, "cannot create"));
}

/* Region decoding (jpeg_crop_scanline / jpeg_skip_scanlines) must equal the full decode inside the
 * requested region, for every chroma layout, at full and reduced scale. */
TEST(image_decode_region_equals_full_decode_inside) {
    const char *files[] = {"face320.jpg", "rgb420.jpg", "rgb444_q75.jpg", "progressive.jpg", "gray.jpg", "cmyk.jpg"};
    char err[256];
    uint32_t st = 12345;
    for (size_t fi = 0; fi < sizeof files / sizeof *files; fi++) {
        size_t n;
        uint8_t *data = image_read_file(t_src(xasprintf(FIX "%s", files[fi])), &n, err, sizeof err);
        REQUIRE(data);
        for (int scale_case = 0; scale_case < 2; scale_case++) {
            double min_scale = scale_case ? 0.5 : 1.0, s_full, s_reg;
            Image *full = image_decode_scaled(data, n, min_scale, &s_full, err, sizeof err);
            REQUIRE(full);
            int W = (int)ceil(full->w / s_full), H = (int)ceil(full->h / s_full);
            for (int t = 0; t < 25; t++) {
                st = st * 1103515245u + 12345u;
                int x0 = (int)(st >> 8) % W;
                st = st * 1103515245u + 12345u;
                int y0 = (int)(st >> 8) % H;
                st = st * 1103515245u + 12345u;
                int x1 = x0 + 1 + (int)(st >> 8) % (W - x0);
                st = st * 1103515245u + 12345u;
                int y1 = y0 + 1 + (int)(st >> 8) % (H - y0);
                int ox, oy;
                Image *r = image_decode_region(data, n, min_scale, x0, y0, x1, y1, &s_reg, &ox, &oy, err, sizeof err);
                REQUIRE(r);
                CHECK(s_reg == s_full);
                int sx0 = (int)floor(x0 * s_full), sy0 = (int)floor(y0 * s_full);
                int sx1 = (int)ceil(x1 * s_full), sy1 = (int)ceil(y1 * s_full);
                if (sx1 > full->w) sx1 = full->w;
                if (sy1 > full->h) sy1 = full->h;
                int bad = 0, covered = ox <= sx0 && oy <= sy0 && ox + r->w >= sx1 && oy + r->h >= sy1;
                CHECK_MSG(covered, "%s region %d,%d-%d,%d: result at %d,%d %dx%d does not cover it", files[fi], x0, y0,
                          x1, y1, ox, oy, r->w, r->h);
                for (int y = sy0; covered && y < sy1; y++)
                    for (int x = sx0; x < sx1; x++)
                        bad += memcmp(full->px + ((size_t)y * full->w + x) * 3,
                                      r->px + ((size_t)(y - oy) * r->w + (x - ox)) * 3, 3) != 0;
                CHECK_MSG(bad == 0, "%s scale %g region %d,%d-%d,%d: %d pixels differ from the full decode", files[fi],
                          s_full, x0, y0, x1, y1, bad);
                image_free(r);
            }
            image_free(full);
        }
        free(data);
    }
    /* a small region really decodes less: the crop is widened to iMCU columns plus the margin */
    size_t n;
    uint8_t *data = image_read_file(t_src(FIX "face320.jpg"), &n, err, sizeof err);
    int ox, oy;
    Image *r = image_decode_region(data, n, 1.0, 100, 100, 150, 150, NULL, &ox, &oy, err, sizeof err);
    REQUIRE(r);
    CHECK_MSG(r->w <= 50 + 2 * 16 + 32 && r->h == 50 + 2 * 16 && oy == 84, "region decode %dx%d at %d,%d", r->w, r->h, ox, oy);
    image_free(r);
    free(data);
}
