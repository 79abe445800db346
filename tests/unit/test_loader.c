/* test_loader.c: image folders (layouts, order, the cached file index, empty folders), the
 * procedural set, and the loader contract (common/loader.h): identical batches for any thread
 * count, rank splits equal to one big batch, bit-identical resume via loader_seek, corrupt files
 * skipped and counted, views equal to augment_apply on the full decode.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "augment.h"
#include "dataset.h"
#include "image.h"
#include "loader.h"
#include "procedural.h"
#include "rng.h"
#include "test.h"
#include "util.h"

#define FIX "tests/fixtures/data/"

static void copy_file(const char *from, const char *to) {
    size_t n;
    char *d = read_text_file(from, &n);
    REQUIRE(d);
    write_file_atomic(to, d, n);
    free(d);
}

static void put_png(const char *path, int w, int h, int seed) {
    Image *im = image_new(w, h);
    procedural_image(im->px, w, h, 99, seed);
    char err[200];
    REQUIRE(image_save_png(path, im, err, sizeof err) == 0);
    image_free(im);
}

/* root/b/{x.png, sub/a.png}, root/a/{2.png, 10.png, c.jpg}, root/a/notes.txt, root/top.png */
static char *make_class_tree(void) {
    char *root = t_path("classes");
    mkdir_p(xasprintf("%s/b/sub", root));
    mkdir_p(xasprintf("%s/a", root));
    put_png(xasprintf("%s/b/x.png", root), 40, 30, 1);
    put_png(xasprintf("%s/b/sub/a.png", root), 40, 30, 2);
    put_png(xasprintf("%s/a/2.png", root), 40, 30, 3);
    put_png(xasprintf("%s/a/10.png", root), 40, 30, 4);
    copy_file(t_src(FIX "rgb420.jpg"), xasprintf("%s/a/c.JPG", root));
    write_file_atomic(xasprintf("%s/a/notes.txt", root), "x", 1);
    put_png(xasprintf("%s/top.png", root), 40, 30, 5);
    return root;
}

TEST(dataset_class_folders_follow_imagefolder_order) {
    char *root = make_class_tree(), *cache = t_path("cache");
    Dataset *d = dataset_open_folder(root, cache);
    CHECK(dataset_has_classes(d));
    CHECK_EQ_INT(dataset_num_classes(d), 2);
    CHECK_STR(dataset_class_name(d, 0), "a");
    CHECK_STR(dataset_class_name(d, 1), "b");
    /* torchvision: sorted(os.walk) by directory, then sorted names (bytes: "10" < "2" < "c.JPG") */
    const char *want[] = {"a/10.png", "a/2.png", "a/c.JPG", "b/x.png", "b/sub/a.png"};
    const int lab[] = {0, 0, 0, 1, 1};
    REQUIRE(dataset_count(d) == 5);
    for (int i = 0; i < 5; i++) {
        CHECK_STR(dataset_file(d, i), want[i]);
        CHECK_EQ_INT(dataset_label(d, i), lab[i]);
    }
    CHECK(!dataset_index_was_cached(d));
    dataset_free(d);
    /* second open reads the index */
    d = dataset_open_folder(root, cache);
    CHECK(dataset_index_was_cached(d));
    CHECK_EQ_INT(dataset_count(d), 5);
    CHECK_STR(dataset_file(d, 4), "b/sub/a.png");
    CHECK_EQ_INT(dataset_label(d, 4), 1);
    dataset_free(d);
    /* a file added to a class folder changes that folder's mtime: the index is rebuilt */
    put_png(xasprintf("%s/a/0.png", root), 40, 30, 6);
    t_sh("touch -d '+2 seconds' '%s/a'", root); /* make sure the mtime moves on coarse clocks */
    d = dataset_open_folder(root, cache);
    CHECK(!dataset_index_was_cached(d));
    CHECK_EQ_INT(dataset_count(d), 6);
    CHECK_STR(dataset_file(d, 0), "a/0.png");
    dataset_free(d);
    /* cache off: always walked */
    d = dataset_open_folder(root, "off");
    CHECK(!dataset_index_was_cached(d));
    dataset_free(d);
    CHECK(dataset_index_path(root, "off") == NULL);
}

TEST(dataset_flat_folder_and_errors) {
    char *root = t_path("flat");
    mkdir_p(xasprintf("%s/emptysub", root));
    put_png(xasprintf("%s/b.png", root), 20, 20, 1);
    put_png(xasprintf("%s/a.png", root), 20, 20, 2);
    put_png(xasprintf("%s/.hidden.png", root), 20, 20, 3);
    Dataset *d = dataset_open_folder(root, "off");
    CHECK(!dataset_has_classes(d));
    REQUIRE(dataset_count(d) == 2);
    CHECK_STR(dataset_file(d, 0), "a.png");
    CHECK_EQ_INT(dataset_label(d, 1), -1);
    dataset_free(d);
    char *empty = t_path("empty");
    mkdir_p(empty);
    write_file_atomic(xasprintf("%s/readme.txt", empty), "x", 1);
    EXPECT_DIE(EXIT_USAGE, dataset_open_folder(empty, "off"), "no images in dataset folder");
    EXPECT_DIE(EXIT_USAGE, dataset_open_folder(t_path("nope"), "off"), "cannot open dataset folder");
}

TEST(procedural_images_are_deterministic_and_natural_like) {
    uint8_t *a = xmalloc(64 * 64 * 3), *b = xmalloc(64 * 64 * 3), *c = xmalloc(128 * 128 * 3);
    procedural_image(a, 64, 64, 5, 17);
    procedural_image(b, 64, 64, 5, 17);
    CHECK(memcmp(a, b, 64 * 64 * 3) == 0);
    procedural_image(b, 64, 64, 5, 18);
    CHECK(memcmp(a, b, 64 * 64 * 3) != 0);
    procedural_image(b, 64, 64, 6, 17);
    CHECK(memcmp(a, b, 64 * 64 * 3) != 0);
    /* the same scene at another size: 128 px downsampled 2x stays close to the 64 px render */
    procedural_image(c, 128, 128, 5, 17);
    double d = 0, sd = 0, mean = 0;
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 64; x++)
            for (int ch = 0; ch < 3; ch++) {
                double v = 0;
                for (int k = 0; k < 4; k++) v += c[((size_t)(2 * y + k / 2) * 128 + 2 * x + k % 2) * 3 + ch];
                d += fabs(v / 4 - a[((size_t)y * 64 + x) * 3 + ch]);
                mean += a[((size_t)y * 64 + x) * 3 + ch];
            }
    d /= 64 * 64 * 3;
    mean /= 64 * 64 * 3;
    for (int i = 0; i < 64 * 64 * 3; i++) sd += (a[i] - mean) * (a[i] - mean);
    sd = sqrt(sd / (64 * 64 * 3));
    printf("64 vs 128/2: mean abs diff %.1f levels; image sd %.1f\n", d, sd);
    CHECK(d < 0.5 * sd);
    CHECK(sd > 20); /* not flat */
}

static void cfg_proc(DataConfig *c, int threads) {
    data_config_default(c);
    c->kind = DATA_PROCEDURAL;
    c->procedural_count = 26;
    c->procedural_size = 40;
    c->threads = threads;
    c->queue = 3;
}

/* n batches of a loader, concatenated */
static uint8_t *run_batches(Loader *l, int n, size_t bytes, int32_t *labels) {
    uint8_t *all = xmalloc(bytes * (size_t)n);
    for (int i = 0; i < n; i++) loader_next(l, all + bytes * (size_t)i, labels ? labels + i * 4 : NULL);
    return all;
}

TEST(loader_batches_do_not_depend_on_threads) {
    const int S = 24, B = 4, V = 2, NB = 14; /* 26 images: 6 batches per epoch; 14 crosses two epoch ends */
    size_t bytes = (size_t)V * B * S * S * 3;
    DataConfig c1, c3;
    cfg_proc(&c1, 1);
    cfg_proc(&c3, 3);
    Loader *l1 = loader_create(&c1, S, B, V, 0, 1, 42, 0), *l3 = loader_create(&c3, S, B, V, 0, 1, 42, 0);
    CHECK_EQ_INT(loader_batches_per_epoch(l1), 6);
    CHECK_EQ_INT(loader_threads(l3), 3);
    uint8_t *a = run_batches(l1, NB, bytes, NULL), *b = run_batches(l3, NB, bytes, NULL);
    CHECK(memcmp(a, b, bytes * NB) == 0);
    int64_t e, bt;
    loader_get_position(l3, &e, &bt);
    CHECK(e == 2 && bt == 2);
    /* the two views differ, and batches differ */
    CHECK(memcmp(a, a + bytes / 2, bytes / 2) != 0);
    CHECK(memcmp(a, a + bytes, bytes) != 0);
    loader_free(l1);
    loader_free(l3);
    /* another seed: other views */
    Loader *l4 = loader_create(&c1, S, B, V, 0, 1, 43, 0);
    uint8_t *d = run_batches(l4, 1, bytes, NULL);
    CHECK(memcmp(a, d, bytes) != 0);
    loader_free(l4);
}

TEST(loader_epoch_order_is_a_permutation) {
    for (int64_t n = 1; n < 300; n += 37) {
        uint8_t *seen = xcalloc((size_t)n, 1);
        for (int64_t p = 0; p < n; p++) {
            int64_t i = loader_permute(7, 3, n, p);
            REQUIRE(i >= 0 && i < n);
            seen[i]++;
        }
        for (int64_t i = 0; i < n; i++) CHECK(seen[i] == 1);
        free(seen);
    }
    /* epochs differ */
    int same = 0;
    for (int p = 0; p < 100; p++) same += loader_permute(7, 0, 1000, p) == loader_permute(7, 1, 1000, p);
    CHECK(same < 10);
}

TEST(loader_two_ranks_equal_one_double_batch) {
    const int S = 16, B = 2, V = 2;
    DataConfig c;
    cfg_proc(&c, 2);
    Loader *one = loader_create(&c, S, 2 * B, V, 0, 1, 9, 0);
    Loader *r0 = loader_create(&c, S, B, V, 0, 2, 9, 0), *r1 = loader_create(&c, S, B, V, 1, 2, 9, 0);
    CHECK_EQ_INT(loader_batches_per_epoch(one), loader_batches_per_epoch(r0));
    size_t view = (size_t)S * S * 3;
    uint8_t *big = xmalloc(view * V * 2 * B), *a = xmalloc(view * V * B), *b = xmalloc(view * V * B);
    for (int it = 0; it < 8; it++) {
        loader_next(one, big, NULL);
        loader_next(r0, a, NULL);
        loader_next(r1, b, NULL);
        for (int v = 0; v < V; v++) {
            CHECK(memcmp(big + (size_t)(v * 2 * B) * view, a + (size_t)(v * B) * view, view * B) == 0);
            CHECK(memcmp(big + (size_t)(v * 2 * B + B) * view, b + (size_t)(v * B) * view, view * B) == 0);
        }
    }
    loader_free(one);
    loader_free(r0);
    loader_free(r1);
}

TEST(loader_seek_resumes_bit_identically) {
    const int S = 16, B = 4, V = 2;
    size_t bytes = (size_t)V * B * S * S * 3;
    DataConfig c;
    cfg_proc(&c, 2);
    Loader *l = loader_create(&c, S, B, V, 0, 1, 5, 0);
    uint8_t *ref = run_batches(l, 12, bytes, NULL);
    /* a fresh loader resumed at (1, 1) = batch 7 */
    Loader *r = loader_create(&c, S, B, V, 0, 1, 5, 0);
    loader_seek(r, 1, 1);
    uint8_t *got = run_batches(r, 5, bytes, NULL);
    CHECK(memcmp(got, ref + 7 * bytes, 5 * bytes) == 0);
    /* seeking back on a running loader (threads busy ahead) */
    loader_seek(r, 0, 2);
    int64_t e, b;
    loader_get_position(r, &e, &b);
    CHECK(e == 0 && b == 2);
    uint8_t *again = run_batches(r, 3, bytes, NULL);
    CHECK(memcmp(again, ref + 2 * bytes, 3 * bytes) == 0);
    /* borrowing gives the same bytes */
    const uint8_t *bor = loader_next_borrow(r, NULL);
    CHECK(memcmp(bor, ref + 5 * bytes, bytes) == 0);
    bor = loader_next_borrow(r, NULL);
    CHECK(memcmp(bor, ref + 6 * bytes, bytes) == 0);
    loader_next(r, got, NULL);
    CHECK(memcmp(got, ref + 7 * bytes, bytes) == 0);
    loader_free(l);
    loader_free(r);
}

TEST(loader_folder_views_equal_augment_on_full_decode) {
    /* 6 copies of the 320x240 photo under names that sort in a known order, 2 classes */
    char *root = t_path("photos");
    for (int i = 0; i < 6; i++) {
        char *dir = xasprintf("%s/c%d", root, i % 2);
        mkdir_p(dir);
        copy_file(t_src(FIX "face320.jpg"), xasprintf("%s/img%d.jpg", dir, i));
    }
    DataConfig c;
    data_config_default(&c);
    c.kind = DATA_FOLDER;
    c.path = root;
    c.index_cache = "off";
    c.threads = 2;
    char err[200];
    Image *full = image_load(t_src(FIX "face320.jpg"), err, sizeof err);
    REQUIRE(full);
    AugmentScratch *sc = augment_scratch_new();
    int exact = 0, scaled = 0;
    double maxdev = 0;
    /* at 112 px most crops need the full-size decode; at 24 px most allow a k/8 <= 1/2 decode */
    const int sizes[2] = {112, 24};
    for (int si = 0; si < 2; si++) {
        const int S = sizes[si], B = 3, V = 2;
        Loader *l = loader_create(&c, S, B, V, 0, 1, 11, 0);
        CHECK_EQ_INT(loader_num_classes(l), 2);
        size_t view = (size_t)S * S * 3;
        uint8_t *rows = xmalloc(view * V * B), *want = xmalloc(view);
        int32_t lab[3];
        for (int bt = 0; bt < 2; bt++) {
            loader_next(l, rows, lab);
            for (int j = 0; j < B; j++) {
                int64_t idx = loader_permute(11, 0, 6, bt * B + j);
                /* index order: c0/img0, c0/img2, c0/img4, c1/img1, c1/img3, c1/img5 */
                CHECK_EQ_INT(lab[j], idx < 3 ? 0 : 1);
                AugmentParams p[2];
                double ms = 0;
                for (int v = 0; v < V; v++) {
                    augment_sample(&p[v], &c.augment, 320, 240, 11, rng_stream(RNG_PURPOSE_AUGMENT, 0, (uint32_t)idx, (uint32_t)v));
                    if (augment_min_scale(&p[v], S) > ms) ms = augment_min_scale(&p[v], S);
                }
                for (int v = 0; v < V; v++) {
                    AugmentSource src = {full->px, full->w, full->h, (size_t)full->w * 3, 1.0, 0, 0};
                    REQUIRE(augment_apply(want, S, &src, &p[v], sc) == 0);
                    const uint8_t *got = rows + (size_t)(v * B + j) * view;
                    if (ms > 0.5) {
                        CHECK_MSG(memcmp(got, want, view) == 0, "S %d batch %d image %d view %d differs from the full decode",
                                  S, bt, j, v);
                        exact++;
                    } else { /* decoded at k/8 <= 1/2: close to, not equal to, the full-size result */
                        double dev = 0;
                        for (size_t k = 0; k < view; k++) dev += abs((int)got[k] - (int)want[k]);
                        dev /= (double)view;
                        if (dev > maxdev) maxdev = dev;
                        scaled++;
                    }
                }
            }
        }
        loader_free(l);
        free(rows);
        free(want);
    }
    printf("views equal to the full decode's: %d; from a DCT-scaled decode: %d, mean abs deviation at most %.2f levels\n",
           exact, scaled, maxdev);
    CHECK(exact > 0 && scaled > 0);
    CHECK(maxdev < 4.0);
    augment_scratch_free(sc);
    image_free(full);
}

TEST(loader_skips_corrupt_files_and_counts_them) {
    char *root = t_path("withbad");
    mkdir_p(root);
    for (int i = 0; i < 5; i++) put_png(xasprintf("%s/ok%d.png", root, i), 30, 30, i);
    copy_file(t_src(FIX "truncated.jpg"), xasprintf("%s/bad1.jpg", root));
    write_file_atomic(xasprintf("%s/bad2.jpg", root), "not an image", 12);
    DataConfig c;
    data_config_default(&c);
    c.kind = DATA_FOLDER;
    c.path = root;
    c.index_cache = "off";
    c.threads = 2;
    Loader *l = loader_create(&c, 16, 7, 1, 0, 1, 3, 0);
    uint8_t *rows = xmalloc(16 * 16 * 3 * 7);
    int32_t lab[7];
    loader_next(l, rows, lab); /* all 7 positions: both bad files met */
    CHECK_EQ_INT(loader_skipped_files(l), 2);
    loader_free(l);
    /* an empty folder and a dataset smaller than one batch are errors */
    c.path = t_path("nothing");
    mkdir_p(c.path);
    EXPECT_DIE(EXIT_USAGE, loader_create(&c, 16, 2, 1, 0, 1, 3, 0), "no images");
    c.path = root;
    EXPECT_DIE(EXIT_USAGE, loader_create(&c, 16, 8, 1, 0, 1, 3, 0), "fewer than one global batch");
}
