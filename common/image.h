/* image.h: decode JPEG and PNG files to RGB uint8, write PNG, and PIL-compatible resampling.
 *
 * Pixels: Image.px is RGB interleaved, row-major, no padding: px[(y * w + x) * 3 + c], c = 0 R,
 * 1 G, 2 B; w = columns, h = rows. Decoders never exit and never crash on bad input: they return
 * NULL (or -1) and write a one-line reason (lowercase, no file name) into err[errlen].
 *
 * Decoding follows Pillow's Image.open(f).convert("RGB") so images equal what torchvision sees:
 *   JPEG (libjpeg API, libjpeg-turbo here; integer slow DCT, fancy upsampling, as Pillow):
 *     YCbCr/RGB -> RGB; grayscale -> R = G = B; CMYK and YCCK are taken as Adobe-inverted (what
 *     Pillow assumes for every CMYK JPEG) and converted with Pillow's cmyk->rgb formula.
 *     A truncated file is an error (Pillow raises "image file is truncated"); other libjpeg
 *     warnings (extraneous bytes) are ignored, as Pillow does.
 *   PNG (libpng): palette, grayscale, 16-bit (high byte kept) expanded to RGB; alpha and tRNS are
 *     dropped without compositing, as convert("RGB") does.
 *   Format is detected from the first bytes, not from the file name.
 * DCT-domain down-scaling (image_decode_scaled): a JPEG may be decoded at k/8 of its size
 * (k = 1..8) when even the k/8 image still covers what the caller needs; see there.
 *
 * Resampling: image_resample() is Pillow's Image.resize(size, Image.BILINEAR, box) for 8-bit RGB,
 * reproduced operation for operation (triangle filter widened by the downscale factor, i.e.
 * antialiasing; coefficients in 22-bit fixed point; horizontal pass first with the intermediate
 * rounded to uint8; only the source rows the box needs). torchvision's Resize and
 * RandomResizedCrop on PIL images call exactly this, so results are bit-identical to Pillow 9.x.
 */
#ifndef TDANN_IMAGE_H
#define TDANN_IMAGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int w, h;      /* columns, rows */
    uint8_t *px;   /* [h][w][3] RGB */
} Image;

/* Largest image the decoders accept (pixels); bigger files are refused with a reason. */
#define IMAGE_MAX_PIXELS ((int64_t)1 << 28)

Image *image_new(int w, int h);   /* uninitialised pixels; NULL when out of memory */
void image_free(Image *im);       /* NULL is fine */

/* ---- decoding --------------------------------------------------------------------------------- */
/* Reads a whole file into memory (malloc). NULL + reason when unreadable or empty. */
uint8_t *image_read_file(const char *path, size_t *len, char *err, size_t errlen);

/* Size of an encoded image from its header only (cheap). 0, or -1 + reason. */
int image_probe(const uint8_t *data, size_t len, int *w, int *h, char *err, size_t errlen);

/* Full-resolution decode of an encoded image in memory. */
Image *image_decode(const uint8_t *data, size_t len, char *err, size_t errlen);

/* Decode, allowing JPEG DCT-domain down-scaling: picks the smallest k/8 (k = 1..8) with
 * k/8 >= min_scale, but only when min_scale <= 0.5 (otherwise, and for PNG, full size).
 * *scale_out receives the factor used (k/8 or 1): a point at source coordinate x lies at
 * x * scale_out in the result. The result is ceil(w * k / 8) x ceil(h * k / 8). */
Image *image_decode_scaled(const uint8_t *data, size_t len, double min_scale, double *scale_out,
                           char *err, size_t errlen);

/* Decodes only what covers the region [rx0, rx1) x [ry0, ry1) of the full-size image (source pixel
 * coordinates), at the scale image_decode_scaled would pick. JPEG: libjpeg-turbo's
 * jpeg_crop_scanline / jpeg_skip_scanlines, with a 16-pixel margin around the region so chroma
 * upsampling at the cut edges never reaches it: inside the region the pixels equal a full decode's
 * (tests/unit/test_image.c checks this); rows below the region are not decoded at all. PNG: the
 * whole image. *ox, *oy receive the scaled-source coordinate of the result's top-left pixel. */
Image *image_decode_region(const uint8_t *data, size_t len, double min_scale, int rx0, int ry0, int rx1, int ry1,
                           double *scale_out, int *ox, int *oy, char *err, size_t errlen);

/* image_read_file + image_decode. */
Image *image_load(const char *path, char *err, size_t errlen);

/* Writes an 8-bit RGB PNG (compression level 6). 0, or -1 + reason. */
int image_save_png(const char *path, const Image *im, char *err, size_t errlen);

/* ---- resampling (Pillow-exact) ------------------------------------------------------------------ */
/* dst [dh][dw][3] = src [sh][sw][3] region box (x0, y0, x1, y1) in source pixel coordinates
 * (floats; (0, 0, sw, sh) = whole image) resized to dw x dh with Pillow's BILINEAR filter.
 * src_stride = bytes between source rows (sw * 3 when packed). Scratch memory is allocated
 * internally; returns 0, or -1 when out of memory. Thread-safe. */
int image_resample(uint8_t *dst, int dw, int dh, const uint8_t *src, int sw, int sh,
                   size_t src_stride, const float box[4]);

/* Pillow's resampling coefficients for one axis (precompute_coeffs + normalize_coeffs_8bpc), for
 * vectorised resamplers elsewhere: output i reads inputs bounds[2i] .. bounds[2i] + bounds[2i+1] - 1
 * with weights kk[i * ksize + k] (22-bit fixed point; accumulate from 1 << 21, then clip to
 * [0, 2^30) and shift right by 22). Returns ksize, or 0 when out of memory; free() both arrays. */
int image_bilinear_coeffs(int in_size, float in0, float in1, int out_size, int **bounds, int32_t **kk);

/* torchvision Resize(S) (shorter side to S, longer side int(S * long / short)) followed by
 * CenterCrop(S) (offsets int(round((len - S) / 2)), Python's round-half-even), on RGB.
 * dst [S][S][3]. Returns 0, or -1 when out of memory. When the image is already S x S this copies. */
int image_resize_center_crop(uint8_t *dst, int S, const Image *src);

/* Whole-image resize to w x h (Pillow BILINEAR); NULL when out of memory. */
Image *image_resize(const Image *src, int w, int h);

#endif
