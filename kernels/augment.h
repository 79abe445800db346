/* augment.h: SimCLR view augmentation on uint8 RGB images, reproducing torchvision 0.14 on PIL
 * images (the VISSL pipeline of the paper, tdann-algorithm.md section 5.1), in this order:
 *   RandomResizedCrop(S, scale, ratio)  torchvision get_params: 10 tries, then the central fallback;
 *                                       crop + Pillow BILINEAR (antialiased) resize to S x S
 *   RandomHorizontalFlip(flip_p)
 *   RandomApply(ColorJitter(b, c, s, h), jitter_p)   the 4 adjustments in a random order, factors
 *                                       brightness/contrast/saturation ~ U[max(0, 1-x), 1+x], hue ~ U[-h, h]
 *   RandomGrayscale(gray_p)
 *   GaussianBlur(radius ~ U[blur_sigma_min, blur_sigma_max]) with probability blur_p
 *                                       (VISSL ImgPilGaussianBlur = Pillow's 3-pass extended box blur)
 * Normalisation (ImageNet mean/std) is left to the consumer: views stay uint8, [S][S][3].
 *
 * Arithmetic is Pillow 9.4's, operation for operation, so a view equals torchvision's for the same
 * crop box and factors: ImageEnhance blends in C float with truncation to uint8; L = (19595 R +
 * 38470 G + 7471 B + 0x8000) >> 16; the contrast mean is int(mean(L) + 0.5); hue goes through
 * Pillow's 8-bit HSV round trip with numpy's uint8 wrap-around (int(h * 255) mod 256); the blur is
 * the 22/24-bit fixed-point box filter applied 3x horizontally then 3x vertically.
 *
 * Randomness: augment_sample() draws every decision from one Philox stream (seed, stream) at fixed
 * word offsets, so a view is a pure function of (seed, stream) and the source size; the loader uses
 * stream = rng_stream(RNG_PURPOSE_AUGMENT, epoch, image index, view).
 */
#ifndef TDANN_AUGMENT_H
#define TDANN_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    float crop_scale_min, crop_scale_max;  /* area fraction of the source, 0.08 .. 1 */
    float crop_ratio_min, crop_ratio_max;  /* aspect w/h, 3/4 .. 4/3 (sampled log-uniform) */
    float flip_p;                          /* 0.5 */
    float jitter_p;                        /* 0.8 */
    float brightness, contrast, saturation, hue; /* 0.8 0.8 0.8 0.2 (0 = that adjustment off) */
    float gray_p;                          /* 0.2 */
    float blur_p;                          /* 0.5 */
    float blur_sigma_min, blur_sigma_max;  /* 0.1 .. 2.0 (Pillow radius = Gaussian sigma, pixels) */
} AugmentConfig;

/* The paper's defaults (VISSL simclr config). */
void augment_config_default(AugmentConfig *c);

enum { AUG_BRIGHTNESS = 0, AUG_CONTRAST = 1, AUG_SATURATION = 2, AUG_HUE = 3 };

typedef struct {
    int x0, y0, cw, ch;     /* crop box in source pixels: columns [x0, x0+cw), rows [y0, y0+ch) */
    int flip;               /* mirror left-right after the resize */
    int jitter;             /* colour jitter applied at all */
    int order[4];           /* adjustment ids (AUG_*) in the order applied */
    float factor[4];        /* indexed by AUG_*: brightness, contrast, saturation factors; hue shift */
    int use[4];             /* adjustment enabled in the config (range not degenerate) */
    int gray;               /* convert to grayscale (3 equal channels) */
    int blur;               /* Gaussian blur */
    float blur_radius;      /* Pillow radius (sigma) in output pixels */
} AugmentParams;

/* Draws a view's parameters for a src_w x src_h source. */
void augment_sample(AugmentParams *p, const AugmentConfig *c, int src_w, int src_h, uint64_t seed, uint64_t stream);

/* Just the crop box (RandomResizedCrop.get_params) from uniforms u[0..39] (4 per try:
 * scale, log-ratio, row, column); exposed for tests. */
void augment_crop_box(int *x0, int *y0, int *cw, int *ch, const AugmentConfig *c, int src_w, int src_h,
                      const double *u);

/* Smallest decode scale a view allows: the crop must still cover S x S pixels after scaling. */
double augment_min_scale(const AugmentParams *p, int S);

/* The decoded source a view is cut from: the image at `scale` of its full size (JPEG DCT scaling),
 * possibly only a region of it: px[0] is the pixel at scaled-source coordinate (ox, oy). */
typedef struct {
    const uint8_t *px; /* [h][stride bytes], RGB */
    int w, h;
    size_t stride;
    double scale;
    int ox, oy;
} AugmentSource;

/* Per-thread working memory for augment_apply (grows as needed). */
typedef struct AugmentScratch AugmentScratch;
AugmentScratch *augment_scratch_new(void);
void augment_scratch_free(AugmentScratch *s);

/* Makes the view dst [S][S][3]. At scale 1 the result is torchvision's for the same parameters;
 * at a smaller scale the crop box is scaled (fractional boxes are exact in the resampler) and the
 * view differs from torchvision's by what the reduced decode loses. Returns 0, or -1 when out of
 * memory or when the source region does not contain the crop box. Internally planar (one plane
 * per channel) so every step vectorises; results are identical to the interleaved definitions. */
int augment_apply(uint8_t *dst, int S, const AugmentSource *src, const AugmentParams *p, AugmentScratch *scratch);

/* The single steps, in place on an interleaved RGB image of n pixels (w x h for the blur); for tests
 * and for a GPU port (augment_apply runs the same arithmetic on planes). */
void augment_brightness(uint8_t *im, size_t n, float factor);
void augment_contrast(uint8_t *im, size_t n, float factor);
void augment_saturation(uint8_t *im, size_t n, float factor);
void augment_hue(uint8_t *im, size_t n, float shift);
void augment_grayscale(uint8_t *im, size_t n);
void augment_flip(uint8_t *im, int w, int h);
void augment_gaussian_blur(uint8_t *im, int w, int h, float radius);

/* ImageNet normalisation of uint8 NHWC views to float NCHW:
 * out[i][c][y][x] = (in[i][y][x][c] / 255 - mean[c]) / std[c]. */
void augment_normalize(float *out, const uint8_t *in, int n, int S, const float mean[3], const float std[3]);

#endif
