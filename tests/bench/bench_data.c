/* bench_data.c: the toolkit's data path on one core: read a JPEG, decode it once (only the region
 * the crops need), make two SimCLR views of S x S (default 224) with the paper's augmentation.
 *
 *   bench-data [--size S] [--seconds T] FILE.jpg...
 *
 * Two measurements: "direct" calls the same functions as a loader worker in a loop on this thread;
 * "loader" runs common/loader.h with one decode thread over a flat folder of the same files (the
 * files' folder must hold only them) and borrows batches (no copies). Rates are images per second
 * of CPU time (per core) and of wall time; on a shared machine the CPU-time rate is the stable one.
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
static double process_cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv) {
    tool_init("bench-data", argc, argv);
    int S = 224, first = 1;
    double secs = 5;
    while (first < argc && argv[first][0] == '-') {
        if (!strcmp(argv[first], "--size") && first + 1 < argc) S = atoi(argv[first + 1]), first += 2;
        else if (!strcmp(argv[first], "--seconds") && first + 1 < argc) secs = atof(argv[first + 1]), first += 2;
        else die(EXIT_USAGE, "usage: bench-data [--size S] [--seconds T] FILE.jpg...");
    }
    int nf = argc - first;
    if (nf < 1) die(EXIT_USAGE, "usage: bench-data [--size S] [--seconds T] FILE.jpg...");
    AugmentConfig ac;
    augment_config_default(&ac);
    AugmentScratch *sc = augment_scratch_new();
    uint8_t *out = xmalloc((size_t)2 * S * S * 3);
    char err[256];
    /* direct: one thread, decode + 2 views */
    double w0 = now_seconds(), c0 = thread_cpu(), tdec = 0;
    long n = 0;
    while (now_seconds() - w0 < secs) {
        for (int i = 0; i < nf; i++, n++) {
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
