/* bench_data.c: the toolkit's data path on one core: read a JPEG, decode it once (only the region
 * the crops need), make two SimCLR views of S x S (default 224) with the paper's augmentation.
 *
 *   bench-data [--size S] [--seconds T] [--images N | --ops] FILE.jpg...
 *
 * Two measurements: "direct" calls the same functions as a loader worker in a loop on this thread;
 * "loader" runs common/loader.h with one decode thread over a flat folder of the same files (the
 * files' folder must hold only them) and borrows batches (no copies). Rates are images per second
 * of CPU time (per core) and of wall time; on a shared machine the CPU-time rate is the stable one.
 * --images N: exactly N images through the direct path and no loader run (a fixed amount of work,
 * for instruction counts: valgrind --tool=callgrind bench-data --images 256 FILE...).
 * --ops: instead, the per-step breakdown: each step's CPU time per view on the files' sampled crops
 * (a view with only that step, minus the crop + resize alone), decode time, and the expected cost
 * of an image at the paper's probabilities.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "augment.h"
#include "error.h"
#include "image.h"
#include "loader.h"
#include "rng.h"
#include "util.h"

static double thread_cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
/* CPU ms per view of augment_apply over all views with the given step switches (-1 = as sampled) */
enum { OP_NONE = -1, OP_GRAY = 4, OP_BLUR = 5, OP_ALL = 6 };
static double time_views(uint8_t *out, int S, const AugmentSource *src, const AugmentParams *pv, int nv, int op,
                         AugmentScratch *sc, int reps) {
    double t0 = thread_cpu();
    for (int r = 0; r < reps; r++)
        for (int v = 0; v < nv; v++) {
            AugmentParams p = pv[v];
            if (op != OP_ALL) {
                p.jitter = op >= 0 && op < 4;
                for (int k = 0; k < 4; k++) p.use[k] = k == op;
                p.gray = op == OP_GRAY;
                p.blur = op == OP_BLUR;
            }
            if (augment_apply(out, S, &src[v / 2], &p, sc) != 0) die(EXIT_RUNTIME, "augment_apply failed");
        }
    return 1e3 * (thread_cpu() - t0) / ((double)reps * nv);
}

static void ops_breakdown(int S, int nf, char **files, const AugmentConfig *ac, AugmentScratch *sc, uint8_t *out) {
    Image **im = xmalloc(sizeof(Image *) * nf);
    AugmentSource *src = xmalloc(sizeof(AugmentSource) * nf);
    AugmentParams *pv = xmalloc(sizeof(AugmentParams) * 2 * nf);
    char err[256];
    double tdec = thread_cpu();
    for (int i = 0; i < nf; i++) {
        size_t len;
        uint8_t *d = image_read_file(files[i], &len, err, sizeof err);
        if (!d || !(im[i] = image_decode(d, len, err, sizeof err))) die(EXIT_USAGE, "'%s': %s", files[i], err);
        free(d);
        src[i] = (AugmentSource){im[i]->px, im[i]->w, im[i]->h, (size_t)im[i]->w * 3, 1.0, 0, 0};
        for (int v = 0; v < 2; v++)
            augment_sample(&pv[2 * i + v], ac, im[i]->w, im[i]->h, 1, rng_stream(RNG_PURPOSE_AUGMENT, 0, (uint32_t)i, (uint32_t)v));
    }
    tdec = 1e3 * (thread_cpu() - tdec) / nf;
    int reps = 2000 / nf > 1 ? 2000 / nf : 1;
    static const char *name[] = {"brightness", "contrast", "saturation", "hue", "grayscale", "blur"};
    static const double prob[] = {0.8, 0.8, 0.8, 0.8, 0.2, 0.5};
    time_views(out, S, src, pv, 2 * nf, OP_ALL, sc, 1); /* warm up */
    double base = time_views(out, S, src, pv, 2 * nf, OP_NONE, sc, reps), expect = base;
    printf("ops (ms per view, %d views x %d): full decode %.3f per image; crop+resize+flip+interleave %.3f", 2 * nf, reps, tdec,
           base);
    for (int op = 0; op < 6; op++) {
        double t = time_views(out, S, src, pv, 2 * nf, op, sc, reps) - base;
        expect += prob[op] * t;
        printf("; %s %.3f", name[op], t);
    }
    double all = time_views(out, S, src, pv, 2 * nf, OP_ALL, sc, reps);
    printf("\nops: expected view %.3f ms at the paper's probabilities, measured %.3f ms (as sampled)\n", expect, all);
    for (int i = 0; i < nf; i++) image_free(im[i]);
    free(im);
    free(src);
    free(pv);
}

static double process_cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv) {
    tool_init("bench-data", argc, argv);
    int S = 224, first = 1;
    double secs = 5;
    long count = 0;
    int ops = 0;
    while (first < argc && argv[first][0] == '-') {
        if (!strcmp(argv[first], "--size") && first + 1 < argc) S = atoi(argv[first + 1]), first += 2;
        else if (!strcmp(argv[first], "--seconds") && first + 1 < argc) secs = atof(argv[first + 1]), first += 2;
        else if (!strcmp(argv[first], "--images") && first + 1 < argc) count = atol(argv[first + 1]), first += 2;
        else if (!strcmp(argv[first], "--ops")) ops = 1, first += 1;
        else die(EXIT_USAGE, "usage: bench-data [--size S] [--seconds T] [--images N | --ops] FILE.jpg...");
    }
    int nf = argc - first;
    if (nf < 1) die(EXIT_USAGE, "usage: bench-data [--size S] [--seconds T] [--images N | --ops] FILE.jpg...");
    AugmentConfig ac;
    augment_config_default(&ac);
    AugmentScratch *sc = augment_scratch_new();
    uint8_t *out = xmalloc((size_t)2 * S * S * 3);
    char err[256];
    if (ops) {
        ops_breakdown(S, nf, argv + first, &ac, sc, out);
        return 0;
    }
    /* direct: one thread, decode + 2 views */
    double w0 = now_seconds(), c0 = thread_cpu(), tdec = 0;
    long n = 0;
    while (count ? n < count : now_seconds() - w0 < secs) {
        for (int i = 0; i < nf && (!count || n < count); i++, n++) {
            double t0 = thread_cpu();
            size_t len;
            uint8_t *d = image_read_file(argv[first + i], &len, err, sizeof err);
            int W, H;
            if (!d || image_probe(d, len, &W, &H, err, sizeof err)) die(EXIT_USAGE, "'%s': %s", argv[first + i], err);
            AugmentParams p[2];
            int x0 = W, y0 = H, x1 = 0, y1 = 0;
            double ms = 0;
            for (int v = 0; v < 2; v++) {
                augment_sample(&p[v], &ac, W, H, 1, rng_stream(RNG_PURPOSE_AUGMENT, (uint32_t)(n / nf), (uint32_t)i, (uint32_t)v));
                if (p[v].x0 < x0) x0 = p[v].x0;
                if (p[v].y0 < y0) y0 = p[v].y0;
                if (p[v].x0 + p[v].cw > x1) x1 = p[v].x0 + p[v].cw;
                if (p[v].y0 + p[v].ch > y1) y1 = p[v].y0 + p[v].ch;
                if (augment_min_scale(&p[v], S) > ms) ms = augment_min_scale(&p[v], S);
            }
            double scale;
            int ox, oy;
            Image *im = image_decode_region(d, len, ms, x0, y0, x1, y1, &scale, &ox, &oy, err, sizeof err);
            if (!im) die(EXIT_USAGE, "'%s': %s", argv[first + i], err);
            tdec += thread_cpu() - t0;
            AugmentSource src = {im->px, im->w, im->h, (size_t)im->w * 3, scale, ox, oy};
            for (int v = 0; v < 2; v++) augment_apply(out + (size_t)v * S * S * 3, S, &src, &p[v], sc);
            image_free(im);
            free(d);
        }
    }
    double wall = now_seconds() - w0, cpu = thread_cpu() - c0;
    printf("toolkit direct   %8.1f images/s per core (CPU time), %8.1f by wall time, %ld images; decode %.2f ms, 2 views %.2f ms\n",
           n / cpu, n / wall, n, 1e3 * tdec / n, 1e3 * (cpu - tdec) / n);
    if (count) return 0;
    /* loader with one decode thread over the files' folder */
    char *dir = xstrdup(argv[first]);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else strcpy(dir, ".");
    DataConfig dc;
    data_config_default(&dc);
    dc.kind = DATA_FOLDER;
    dc.path = dir;
    dc.index_cache = "off";
    dc.threads = 1;
    const int B = 16;
    Loader *l = loader_create(&dc, S, B, 2, 0, 1, 1, 0);
    loader_next_borrow(l, NULL); /* warm up */
    w0 = now_seconds();
    c0 = process_cpu();
    n = 0;
    while (now_seconds() - w0 < secs) {
        loader_next_borrow(l, NULL);
        n += B;
    }
    wall = now_seconds() - w0;
    cpu = process_cpu() - c0;
    printf("toolkit loader   %8.1f images/s per core (CPU time), %8.1f by wall time, %ld images (1 decode thread)\n", n / cpu,
           n / wall, n);
    loader_free(l);
    return 0;
}
