/* image.c: JPEG (libjpeg API) and PNG (libpng) decoding to RGB uint8, PNG writing, and
 * Pillow-exact BILINEAR resampling. Conventions and the Pillow behaviour reproduced: image.h.
 *
 * Nothing here calls die(): decoders report failures through err[] so a dataset reader can skip a
 * corrupt file. libjpeg and libpng report fatal errors by longjmp out of their error handlers.
 */
#include "image.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h> /* before jpeglib.h, which needs FILE */
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

static void seterr(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

Image *image_new(int w, int h) {
    if (w <= 0 || h <= 0 || (int64_t)w * h > IMAGE_MAX_PIXELS) return NULL;
    Image *im = malloc(sizeof *im);
    if (!im) return NULL;
    im->w = w;
    im->h = h;
    im->px = malloc((size_t)w * (size_t)h * 3);
    if (!im->px) { free(im); return NULL; }
    return im;
}

void image_free(Image *im) {
    if (!im) return;
    free(im->px);
    free(im);
}

uint8_t *image_read_file(const char *path, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) { seterr(err, errlen, "cannot open (%s)", strerror(errno)); return NULL; }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) { fclose(f); seterr(err, errlen, "out of memory"); return NULL; }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        uint8_t *nb = realloc(buf, cap * 2);
        if (!nb) free(buf);
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); seterr(err, errlen, "read error"); return NULL; }
    if (n == 0) { free(buf); seterr(err, errlen, "empty file"); return NULL; }
    *len = n;
    return buf;
}

static int is_jpeg(const uint8_t *d, size_t n) { return n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF; }
static int is_png(const uint8_t *d, size_t n) { return n >= 8 && png_sig_cmp((png_const_bytep)d, 0, 8) == 0; }

/* ---- JPEG ------------------------------------------------------------------------------------- */
typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    int truncated;
    char msg[JMSG_LENGTH_MAX];
} JErr;

static void jerr_exit(j_common_ptr c) {
    JErr *e = (JErr *)c->err;
    (*c->err->format_message)(c, e->msg);
    longjmp(e->jb, 1);
}

static void jerr_emit(j_common_ptr c, int level) {
    JErr *e = (JErr *)c->err;
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) e->truncated = 1;
}

static void jerr_output(j_common_ptr c) { (void)c; }

/* Decodes a JPEG at scale k/8 (k = 8: full size); header-only when probe != NULL. region (scaled
 * coordinates x0, y0, x1, y1) limits the decode when non-NULL; org receives the result's origin. */
static Image *jpeg_decode(const uint8_t *data, size_t len, int k, int *probe_wh, const int *region, int *org,
                          char *err, size_t errlen) {
    struct jpeg_decompress_struct ci;
    JErr je;
    memset(&je, 0, sizeof je);
    ci.err = jpeg_std_error(&je.pub);
    je.pub.error_exit = jerr_exit;
    je.pub.emit_message = jerr_emit;
    je.pub.output_message = jerr_output;
    Image *volatile im = NULL;
    uint8_t *volatile row4 = NULL;
    if (setjmp(je.jb)) {
        seterr(err, errlen, "corrupt JPEG (%s)", je.msg);
        jpeg_destroy_decompress(&ci);
        image_free(im);
        free(row4);
        return NULL;
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, data, (unsigned long)len);
    jpeg_read_header(&ci, TRUE);
    if (probe_wh) {
        probe_wh[0] = (int)ci.image_width;
        probe_wh[1] = (int)ci.image_height;
        jpeg_destroy_decompress(&ci);
        return NULL;
    }
    if ((int64_t)ci.image_width * ci.image_height > IMAGE_MAX_PIXELS) {
        seterr(err, errlen, "image too large (%ux%u)", ci.image_width, ci.image_height);
        jpeg_destroy_decompress(&ci);
        return NULL;
    }
    int cmyk = ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK;
    ci.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    ci.scale_num = (unsigned)k;
    ci.scale_denom = 8;
    ci.dct_method = JDCT_ISLOW;
    ci.do_fancy_upsampling = TRUE;
    jpeg_start_decompress(&ci);
    int w = (int)ci.output_width, h = (int)ci.output_height, y0 = 0, y1 = h;
    if (org) org[0] = org[1] = 0;
    if (region) {
        const int M = 16; /* margin: chroma upsampling context at the cut edges stays outside */
        int x0 = region[0] - M, x1 = region[2] + M;
        y0 = region[1] - M;
        y1 = region[3] + M;
        if (x0 < 0) x0 = 0;
        if (y0 < 0) y0 = 0;
        if (x1 > w) x1 = w;
        if (y1 > h) y1 = h;
        if (x1 <= x0 || y1 <= y0) { x0 = 0; x1 = w; y0 = 0; y1 = h; }
        if (x0 > 0 || x1 < w) {
            JDIMENSION xo = (JDIMENSION)x0, cw = (JDIMENSION)(x1 - x0);
            jpeg_crop_scanline(&ci, &xo, &cw); /* widens to iMCU boundaries */
            x0 = (int)xo;
            w = (int)ci.output_width;
        }
        if (org) { org[0] = x0; org[1] = y0; }
    }
    h = y1 - y0;
    im = image_new(w, h);
    if (!im) {
        seterr(err, errlen, "out of memory");
        jpeg_destroy_decompress(&ci);
        return NULL;
    }
    if (cmyk) row4 = malloc((size_t)w * 4);
    if (cmyk && !row4) { jerr_exit((j_common_ptr)&ci); }
    if (y0 > 0) jpeg_skip_scanlines(&ci, (JDIMENSION)y0);
    while ((int)ci.output_scanline < y1) {
        int y = (int)ci.output_scanline - y0;
        if (!cmyk) {
            JSAMPROW r = im->px + (size_t)y * w * 3;
            jpeg_read_scanlines(&ci, &r, 1);
        } else {
            JSAMPROW r = row4;
            jpeg_read_scanlines(&ci, &r, 1);
            /* Pillow: rawmode "CMYK;I" (Adobe inverted) then cmyk2rgb:
             * out = CLIP8(nk - MULDIV255(c, nk)), nk = 255 - k, with c = 255 - raw. */
            uint8_t *o = im->px + (size_t)y * w * 3;
            for (int x = 0; x < w; x++) {
                int nk = row4[4 * x + 3]; /* 255 - (255 - raw k) */
                for (int c = 0; c < 3; c++) {
                    int cc = 255 - row4[4 * x + c];
                    int t = cc * nk + 128;
                    int v = nk - (((t >> 8) + t) >> 8);
                    o[3 * x + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
            }
        }
        if (je.truncated) break;
    }
    if (je.truncated) {
        seterr(err, errlen, "truncated JPEG (premature end of data)");
        jpeg_destroy_decompress(&ci);
        image_free(im);
        free(row4);
        return NULL;
    }
    if (y1 < (int)ci.output_height) jpeg_abort_decompress(&ci); /* rows below the region: not decoded */
    else jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    free(row4);
    if (je.truncated) {
        seterr(err, errlen, "truncated JPEG (premature end of data)");
        image_free(im);
        return NULL;
    }
    return im;
}

/* ---- PNG -------------------------------------------------------------------------------------- */
typedef struct { const uint8_t *d; size_t n, pos; char msg[200]; } PngSrc;

static void png_read_mem(png_structp p, png_bytep out, png_size_t n) {
    PngSrc *s = png_get_io_ptr(p);
    if (s->pos + n > s->n) png_error(p, "truncated PNG (premature end of data)");
    memcpy(out, s->d + s->pos, n);
    s->pos += n;
}

static void png_err_fn(png_structp p, png_const_charp msg) {
    PngSrc *s = png_get_error_ptr(p);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(p, 1);
}

static void png_warn_fn(png_structp p, png_const_charp msg) { (void)p; (void)msg; }

static Image *png_decode(const uint8_t *data, size_t len, int *probe_wh, char *err, size_t errlen) {
    PngSrc src = {data, len, 0, ""};
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_err_fn, png_warn_fn);
    if (!p) { seterr(err, errlen, "out of memory"); return NULL; }
    png_infop info = png_create_info_struct(p);
    Image *volatile im = NULL;
    png_bytep *volatile rows = NULL;
    if (!info || setjmp(png_jmpbuf(p))) {
        seterr(err, errlen, "corrupt PNG (%s)", src.msg[0] ? src.msg : "out of memory");
        png_destroy_read_struct(&p, info ? &info : NULL, NULL);
        image_free(im);
        free(rows);
        return NULL;
    }
    png_set_read_fn(p, &src, png_read_mem);
    png_read_info(p, info);
    png_uint_32 w, h;
    int depth, ctype, interlace;
    png_get_IHDR(p, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    if (probe_wh) {
        probe_wh[0] = (int)w;
        probe_wh[1] = (int)h;
        png_destroy_read_struct(&p, &info, NULL);
        return NULL;
    }
    if ((int64_t)w * h > IMAGE_MAX_PIXELS) {
        snprintf(src.msg, sizeof src.msg, "image too large (%ux%u)", (unsigned)w, (unsigned)h);
        seterr(err, errlen, "%s", src.msg);
        png_destroy_read_struct(&p, &info, NULL);
        return NULL;
    }
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(p);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(p);
    if (depth == 16) png_set_strip_16(p);
    if ((ctype & PNG_COLOR_MASK_ALPHA) || png_get_valid(p, info, PNG_INFO_tRNS)) png_set_strip_alpha(p);
    if (ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(p);
    png_set_interlace_handling(p);
    png_read_update_info(p, info);
    if (png_get_rowbytes(p, info) != (size_t)w * 3) png_error(p, "unsupported PNG layout");
    im = image_new((int)w, (int)h);
    rows = malloc(sizeof(png_bytep) * h);
    if (!im || !rows) png_error(p, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = im->px + (size_t)y * w * 3;
    png_read_image(p, rows);
    png_read_end(p, NULL);
    png_destroy_read_struct(&p, &info, NULL);
    free(rows);
    return im;
}

int image_save_png(const char *path, const Image *im, char *err, size_t errlen) {
    FILE *f = fopen(path, "wb");
    if (!f) { seterr(err, errlen, "cannot create (%s)", strerror(errno)); return -1; }
    PngSrc st = {0};
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, &st, png_err_fn, png_warn_fn);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    if (!p || !info || setjmp(png_jmpbuf(p))) {
        seterr(err, errlen, "cannot write PNG (%s)", st.msg[0] ? st.msg : "out of memory");
        if (p) png_destroy_write_struct(&p, info ? &info : NULL);
        fclose(f);
        remove(path);
        return -1;
    }
    png_init_io(p, f);
    png_set_compression_level(p, 6);
    png_set_IHDR(p, info, (png_uint_32)im->w, (png_uint_32)im->h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(p, info);
    for (int y = 0; y < im->h; y++) png_write_row(p, im->px + (size_t)y * im->w * 3);
    png_write_end(p, NULL);
    png_destroy_write_struct(&p, &info);
    if (fclose(f) != 0) { seterr(err, errlen, "write error"); remove(path); return -1; }
    return 0;
}

/* ---- dispatch --------------------------------------------------------------------------------- */
int image_probe(const uint8_t *data, size_t len, int *w, int *h, char *err, size_t errlen) {
    int wh[2] = {0, 0};
    char e[256] = "";
    if (is_jpeg(data, len)) jpeg_decode(data, len, 8, wh, NULL, NULL, e, sizeof e);
    else if (is_png(data, len)) png_decode(data, len, wh, e, sizeof e);
    else { seterr(err, errlen, "not a JPEG or PNG file"); return -1; }
    if (wh[0] <= 0 || wh[1] <= 0) { seterr(err, errlen, "%s", e[0] ? e : "bad image header"); return -1; }
    *w = wh[0];
    *h = wh[1];
    return 0;
}

static int pick_k(double min_scale) {
    int k = 8;
    if (min_scale <= 0.5) {
        k = (int)ceil(min_scale * 8.0 - 1e-9);
        if (k < 1) k = 1;
        if (k > 8) k = 8;
    }
    return k;
}

Image *image_decode_region(const uint8_t *data, size_t len, double min_scale, int rx0, int ry0, int rx1, int ry1,
                           double *scale_out, int *ox, int *oy, char *err, size_t errlen) {
    if (scale_out) *scale_out = 1.0;
    if (ox) *ox = 0;
    if (oy) *oy = 0;
    if (!data || len == 0) { seterr(err, errlen, "empty file"); return NULL; }
    if (is_jpeg(data, len)) {
        int k = pick_k(min_scale), org[2] = {0, 0};
        int region[4] = {(int)floor(rx0 * k / 8.0), (int)floor(ry0 * k / 8.0), (int)ceil(rx1 * k / 8.0),
                         (int)ceil(ry1 * k / 8.0)};
        int whole = rx0 <= 0 && ry0 <= 0 && rx1 == INT32_MAX && ry1 == INT32_MAX;
        Image *im = jpeg_decode(data, len, k, NULL, whole ? NULL : region, org, err, errlen);
        if (im) {
            if (scale_out) *scale_out = k / 8.0;
            if (ox) *ox = org[0];
            if (oy) *oy = org[1];
        }
        return im;
    }
    if (is_png(data, len)) return png_decode(data, len, NULL, err, errlen);
    seterr(err, errlen, "not a JPEG or PNG file");
    return NULL;
}

Image *image_decode_scaled(const uint8_t *data, size_t len, double min_scale, double *scale_out,
                           char *err, size_t errlen) {
    return image_decode_region(data, len, min_scale, 0, 0, INT32_MAX, INT32_MAX, scale_out, NULL, NULL, err, errlen);
}

Image *image_decode(const uint8_t *data, size_t len, char *err, size_t errlen) {
    return image_decode_scaled(data, len, 1.0, NULL, err, errlen);
}

Image *image_load(const char *path, char *err, size_t errlen) {
    size_t n;
    uint8_t *d = image_read_file(path, &n, err, errlen);
    if (!d) return NULL;
    Image *im = image_decode(d, n, err, errlen);
    free(d);
    return im;
}

/* ---- Pillow BILINEAR resampling --------------------------------------------------------------- */
#define PRECISION_BITS (32 - 8 - 2)

static double bilinear_filter(double x) {
    if (x < 0.0) x = -x;
    if (x < 1.0) return 1.0 - x;
    return 0.0;
}

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc: for each output index, the first input index
 * (bounds[2i]), the tap count (bounds[2i+1]) and ksize fixed-point weights. Returns ksize or 0. */
int image_bilinear_coeffs(int in_size, float in0, float in1, int out_size, int **boundsp, int32_t **kkp) {
    double scale, filterscale, support;
    filterscale = scale = (double)(in1 - in0) / out_size;
    if (filterscale < 1.0) filterscale = 1.0;
    support = 1.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *kk = malloc(sizeof(double) * (size_t)out_size * (size_t)ksize);
    int *bounds = malloc(sizeof(int) * (size_t)out_size * 2);
    int32_t *ik = malloc(sizeof(int32_t) * (size_t)out_size * (size_t)ksize);
    if (!kk || !bounds || !ik) { free(kk); free(bounds); free(ik); return 0; }
    for (int xx = 0; xx < out_size; xx++) {
        double center = in0 + (xx + 0.5) * scale;
        double ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double *k = &kk[(size_t)xx * ksize];
        int x;
        for (x = 0; x < xmax; x++) {
            double w = bilinear_filter((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0) k[x] /= ww;
        for (; x < ksize; x++) k[x] = 0;
        bounds[xx * 2 + 0] = xmin;
        bounds[xx * 2 + 1] = xmax;
    }
    for (size_t i = 0; i < (size_t)out_size * ksize; i++)
        ik[i] = kk[i] < 0 ? (int32_t)(-0.5 + kk[i] * (1 << PRECISION_BITS))
                          : (int32_t)(0.5 + kk[i] * (1 << PRECISION_BITS));
    free(kk);
    *boundsp = bounds;
    *kkp = ik;
    return ksize;
}

static inline uint8_t clip8(int32_t in) {
    if (in >= (1 << PRECISION_BITS << 8)) return 255;
    if (in <= 0) return 0;
    return (uint8_t)(in >> PRECISION_BITS);
}

/* out [rows][dw][3] from in rows (stride in bytes), horizontal taps. */
static void resample_h(uint8_t *out, int dw, int rows, const uint8_t *in, size_t stride, int ksize,
                       const int *bounds, const int32_t *kk) {
    for (int y = 0; y < rows; y++) {
        const uint8_t *src = in + (size_t)y * stride;
        uint8_t *o = out + (size_t)y * dw * 3;
        for (int xx = 0; xx < dw; xx++) {
            int xmin = bounds[2 * xx], xmax = bounds[2 * xx + 1];
            const int32_t *k = kk + (size_t)xx * ksize;
            const uint8_t *s = src + (size_t)xmin * 3;
            int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
            for (int x = 0; x < xmax; x++) {
                s0 += s[3 * x + 0] * k[x];
                s1 += s[3 * x + 1] * k[x];
                s2 += s[3 * x + 2] * k[x];
            }
            o[3 * xx + 0] = clip8(s0);
            o[3 * xx + 1] = clip8(s1);
            o[3 * xx + 2] = clip8(s2);
        }
    }
}

/* out [dh][w][3] from in rows (stride), vertical taps; acc holds w*3 int32. */
static void resample_v(uint8_t *out, int w, int dh, const uint8_t *in, size_t stride, int ksize,
                       const int *bounds, const int32_t *kk, int32_t *acc) {
    int n = w * 3;
    for (int yy = 0; yy < dh; yy++) {
        int ymin = bounds[2 * yy], ymax = bounds[2 * yy + 1];
        const int32_t *k = kk + (size_t)yy * ksize;
        for (int i = 0; i < n; i++) acc[i] = 1 << (PRECISION_BITS - 1);
        for (int y = 0; y < ymax; y++) {
            const uint8_t *s = in + (size_t)(ymin + y) * stride;
            int32_t ky = k[y];
            for (int i = 0; i < n; i++) acc[i] += s[i] * ky;
        }
        uint8_t *o = out + (size_t)yy * n;
        for (int i = 0; i < n; i++) o[i] = clip8(acc[i]);
    }
}

int image_resample(uint8_t *dst, int dw, int dh, const uint8_t *src, int sw, int sh, size_t src_stride,
                   const float box[4]) {
    int need_h = dw != sw || box[0] != 0 || box[2] != (float)dw;
    int need_v = dh != sh || box[1] != 0 || box[3] != (float)dh;
    int *bh = NULL, *bv = NULL;
    int32_t *kh = NULL, *kv = NULL, *acc = NULL;
    uint8_t *tmp = NULL;
    int ret = -1;
    int ksh = image_bilinear_coeffs(sw, box[0], box[2], dw, &bh, &kh);
    int ksv = image_bilinear_coeffs(sh, box[1], box[3], dh, &bv, &kv);
    if (!ksh || !ksv) goto done;
    int yfirst = bv[0], ylast = bv[dh * 2 - 2] + bv[dh * 2 - 1];
    const uint8_t *vin = src;
    size_t vstride = src_stride;
    int vw = sw;
    if (need_h) {
        for (int i = 0; i < dh; i++) bv[i * 2] -= yfirst;
        tmp = malloc((size_t)dw * 3 * (size_t)(ylast - yfirst > 0 ? ylast - yfirst : 1));
        if (!tmp) goto done;
        resample_h(tmp, dw, ylast - yfirst, src + (size_t)yfirst * src_stride, src_stride, ksh, bh, kh);
        vin = tmp;
        vstride = (size_t)dw * 3;
        vw = dw;
    }
    if (need_v) {
        acc = malloc(sizeof(int32_t) * (size_t)vw * 3);
        if (!acc) goto done;
        resample_v(dst, vw, dh, vin, vstride, ksv, bv, kv, acc);
    } else {
        for (int y = 0; y < dh; y++) memcpy(dst + (size_t)y * dw * 3, vin + (size_t)y * vstride, (size_t)dw * 3);
    }
    ret = 0;
done:
    free(bh); free(bv); free(kh); free(kv); free(acc); free(tmp);
    return ret;
}

Image *image_resize(const Image *src, int w, int h) {
    Image *o = image_new(w, h);
    if (!o) return NULL;
    float box[4] = {0, 0, (float)src->w, (float)src->h};
    if (image_resample(o->px, w, h, src->px, src->w, src->h, (size_t)src->w * 3, box) != 0) {
        image_free(o);
        return NULL;
    }
    return o;
}

int image_resize_center_crop(uint8_t *dst, int S, const Image *src) {
    int w = src->w, h = src->h, nw, nh;
    /* torchvision _compute_resized_output_size: short side -> S, long side int(S * long / short) */
    if (w <= h) { nw = S; nh = (int)((double)S * h / w); }
    else { nh = S; nw = (int)((double)S * w / h); }
    Image *r;
    if (nw == w && nh == h) r = (Image *)src;
    else if (!(r = image_resize(src, nw, nh))) return -1;
    int top = (int)rint((nh - S) / 2.0), left = (int)rint((nw - S) / 2.0); /* round half to even */
    for (int y = 0; y < S; y++) {
        int sy = top + y;
        if (sy < 0 || sy >= nh) { memset(dst + (size_t)y * S * 3, 0, (size_t)S * 3); continue; }
        for (int x = 0; x < S; x++) {
            int sx = left + x;
            uint8_t *o = dst + ((size_t)y * S + x) * 3;
            if (sx < 0 || sx >= nw) { o[0] = o[1] = o[2] = 0; continue; }
            const uint8_t *s = r->px + ((size_t)sy * nw + sx) * 3;
            o[0] = s[0]; o[1] = s[1]; o[2] = s[2];
        }
    }
    if (r != src) image_free(r);
    return 0;
}
