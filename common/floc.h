/* floc.h: category selectivity of units from their responses to fLoc images (the computation behind
 * probe-floc; TDANN algorithm notes §6.2).
 *
 * Domains, always in this order: faces (adult, child), bodies (body, limb), characters (word,
 * number), places (house, corridor), objects (car, instrument). For each unit and domain the
 * selectivity is Welch's t of the responses to the domain's images ("on") against the images of
 * every other category that belongs to some domain ("off": the other 8 of the 10 categories):
 *     t = (mean_on - mean_off) / sqrt(var_on / n_on + var_off / n_off),  var with ddof 0,
 * t = 0 where the denominator is 0 (constant responses, dead units). Images of categories in no
 * domain (e.g. scrambled) are ignored, also by mean_response (mean over the used images).
 *
 * Domain membership comes from the file's /labels/domain_names + /labels/domain_categories when
 * present (matched to the five names above, case-insensitively), otherwise from the category
 * names (/labels/category_names). Responses stream through a FlocAccum holding per category and
 * unit a running mean and sum of squared deviations (Welford, double), merged per domain at the
 * end (Chan's formula): memory O(U * n_categories); identical values give variance exactly 0.
 */
#ifndef TDANN_FLOC_H
#define TDANN_FLOC_H

#include <hdf5.h>
#include <stdint.h>

#define FLOC_N_DOMAINS 5
extern const char *const FLOC_DOMAINS[FLOC_N_DOMAINS];
extern const char *const FLOC_DOMAIN_CATEGORIES[FLOC_N_DOMAINS][2];

typedef struct {
    int64_t n_images;
    int n_cat;
    char **cat_names;      /* [n_cat] */
    int32_t *cat_of;       /* [n_images] category index, or -1 when the image is not used */
    uint8_t *on;           /* [FLOC_N_DOMAINS][n_cat] category belongs to the domain */
    uint8_t *used;         /* [n_cat] category belongs to some domain */
    int64_t *cat_n;        /* [n_cat] images per category */
    int64_t n_on[FLOC_N_DOMAINS], n_off[FLOC_N_DOMAINS];
} FlocDesign;

/* category[n] indices into cat_names[n_cat]; domain_names[nd] / domain_categories[nd][k] may be
 * NULL/0. Dies (exit 2) naming `file` when a domain cannot be resolved or has no on or off image. */
FlocDesign *floc_design_from_labels(int64_t n, const int32_t *category, char *const *cat_names, int n_cat,
                                    char *const *domain_names, const int32_t *domain_categories, int nd, int k,
                                    const char *file);
/* Reads /labels/category (+ category_names, domain_names, domain_categories). Dies (exit 2) naming
 * the file when the category labels are missing or the root attribute `set` names another set. */
FlocDesign *floc_design_load(hid_t f, const char *file);
void floc_design_free(FlocDesign *d);

typedef struct {
    const FlocDesign *d;
    int64_t n_units;
    double *mean, *m2;  /* [n_cat][U] running moments */
    int64_t *seen;      /* [n_cat] images accumulated per category */
    int64_t nonfinite;  /* non-finite responses seen (skipped) */
} FlocAccum;

void floc_accum_init(FlocAccum *a, const FlocDesign *d, int64_t n_units);
/* resp [nrows][n_units] for images image0 .. image0 + nrows - 1, each image once, in increasing
 * order. OpenMP over units. */
void floc_accum_add(FlocAccum *a, const float *resp, int64_t image0, int64_t nrows);
/* tstat [FLOC_N_DOMAINS][U], mean_response [U]. */
void floc_compute(const FlocAccum *a, float *tstat, float *mean_response);
void floc_accum_free(FlocAccum *a);

/* Per-domain t quartiles and shares above 2 and 4 on stderr via info(level). */
void floc_print_summary(int level, const char *layer, const float *tstat, const float *mean_response, int64_t n_units);

#endif
