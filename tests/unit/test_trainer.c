/* test_trainer.c: the pure pieces of the trainer: the stage table (alpha default per stage), the
 * per-layer alphas, the cosine learning rate, the neighbourhood draws (pure function of seed, step,
 * layer, rank; uniform; different per rank), the divergence check, and the /log round trip. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "h5io.h"
#include "test.h"
#include "train_log.h"
#include "trainer.h"

TEST(trainer_stage_defaults) {
    TrainConfig a, b;
    Section s1 = {"stage1", &a, train_fields("stage1")}, s3 = {"tdann", &b, train_fields("tdann")};
    cfg_apply_defaults(&s1);
    cfg_apply_defaults(&s3);
    float al[N_LAYERS], bl[N_LAYERS];
    train_alphas(&a, "stage1", al);
    train_alphas(&b, "tdann", bl);
    for (int l = 0; l < N_LAYERS; l++) {
        CHECK(al[l] == 0.0f);
        CHECK(bl[l] == 0.25f);
    }
    CHECK_EQ_INT(a.batch_size, 512);
    CHECK_NEAR(a.base_lr, 0.3, 1e-7);
    CHECK_NEAR(a.temperature, 0.1, 1e-7);
    CHECK_NEAR(a.weight_decay, 1e-6, 1e-12);
    CHECK_EQ_INT(a.spatial, SL_REL);
    CHECK_EQ_INT(b.eval_neighborhoods, 10);
}

TEST(trainer_alphas_per_layer) {
    TrainConfig t;
    memset(&t, 0, sizeof t);
    float v8[N_LAYERS] = {0, 1, 2, 3, 4, 5, 6, 7}, out[N_LAYERS];
    t.alpha.n = N_LAYERS;
    t.alpha.v = v8;
    train_alphas(&t, "tdann", out);
    for (int l = 0; l < N_LAYERS; l++) CHECK(out[l] == (float)l);
    t.alpha.n = 3;
    EXPECT_DIE(EXIT_USAGE, train_alphas(&t, "tdann", out), "tdann.alpha needs 1 or 8 values");
}

TEST(trainer_cosine_lr) {
    TrainConfig t;
    memset(&t, 0, sizeof t);
    t.base_lr = 0.3f;
    t.batch_size = 512;
    CHECK_NEAR(train_lr(&t, 0, 100), 0.6, 1e-7);        /* 0.3 per 256 -> 0.6 at 512 (paper) */
    CHECK_NEAR(train_lr(&t, 50, 100), 0.3, 1e-7);
    CHECK_NEAR(train_lr(&t, 25, 100), 0.3 * (1 + cos(M_PI / 4)), 1e-7);
    CHECK_NEAR(train_lr(&t, 100, 100), 0, 0);
    double prev = 1e9;
    for (int s = 0; s < 100; s++) {
        double lr = train_lr(&t, s, 100);
        CHECK(lr < prev && lr > 0);
        prev = lr;
    }
}

TEST(trainer_neighborhood_draws) {
    const int64_t P = 37;
    int64_t count[37] = {0}, same_rank = 0;
    const int N = 37000;
    for (int s = 0; s < N; s++) {
        int64_t p = trainer_pick_neighborhood(5, s, 2, 0, P);
        REQUIRE(p >= 0 && p < P);
        CHECK(p == trainer_pick_neighborhood(5, s, 2, 0, P)); /* pure function */
        count[p]++;
        same_rank += p == trainer_pick_neighborhood(5, s, 2, 1, P);
    }
    double chi2 = 0;
    for (int i = 0; i < P; i++) chi2 += (count[i] - N / (double)P) * (count[i] - N / (double)P) / (N / (double)P);
    CHECK_MSG(chi2 < 80, "chi2 %.1f over %d bins", chi2, (int)P); /* df 36: p(chi2 > 80) ~ 3e-5 */
    CHECK_MSG(fabs(same_rank / (double)N - 1.0 / P) < 0.01, "ranks agree %.4f of the time", same_rank / (double)N);
    /* layers and seeds differ too */
    int same_layer = 0, same_seed = 0;
    for (int s = 0; s < 1000; s++) {
        same_layer += trainer_pick_neighborhood(5, s, 2, 0, P) == trainer_pick_neighborhood(5, s, 3, 0, P);
        same_seed += trainer_pick_neighborhood(5, s, 2, 0, P) == trainer_pick_neighborhood(6, s, 2, 0, P);
    }
    CHECK(same_layer < 80 && same_seed < 80);
    CHECK(trainer_heldout_neighborhood(5, 1, 3, P) == trainer_heldout_neighborhood(5, 1, 3, P));
}

TEST(trainer_divergence_message) {
    LossValues v = {1.5, {NAN, NAN, 0.3, NAN, NAN, NAN, NAN, NAN}, 2.0};
    int active[N_LAYERS] = {0, 0, 1, 0, 0, 0, 0, 0};
    CHECK(trainer_check_finite(&v, active) == NULL);
    active[0] = 1; /* a layer that had a term must not be NaN */
    CHECK_STR(trainer_check_finite(&v, active), "spatial loss of layer1.0 is nan");
    active[0] = 0;
    v.spatial[2] = INFINITY;
    CHECK_STR(trainer_check_finite(&v, active), "spatial loss of layer2.0 is inf");
    v.spatial[2] = 0.3;
    v.task = NAN;
    CHECK_STR(trainer_check_finite(&v, active), "task loss is nan");
    v.task = 1;
    v.total = -INFINITY;
    CHECK_STR(trainer_check_finite(&v, active), "total loss is inf");
}

TEST(train_log_round_trip) {
    TrainLog l;
    train_log_init(&l);
    for (int s = 0; s < 600; s++) {
        double sp[N_LAYERS];
        for (int k = 0; k < N_LAYERS; k++) sp[k] = k == 3 ? NAN : s * 0.01 + k;
        train_log_append(&l, s, 5.0 - s * 1e-3, sp, 6.0, 0.1 / (s + 1), 100 + s);
        if (s % 100 == 0) train_log_append_heldout(&l, s, sp);
    }
    char *path = t_path("log.h5");
    H5Out *o = h5out_create(path, "checkpoint", 1);
    train_log_write(&l, o->file);
    h5out_commit(o);
    hid_t f = h5_open_artifact(path, "checkpoint", 1, NULL);
    TrainLog r;
    train_log_init(&r);
    train_log_read(&r, f, 250);
    CHECK_EQ_INT(r.n, 250);
    CHECK_EQ_INT(r.nh, 3);
    CHECK_EQ_INT(r.step[249], 249);
    CHECK(r.task[10] == l.task[10] && r.lr[99] == l.lr[99] && r.images_per_s[7] == l.images_per_s[7]);
    CHECK(isnan(r.spatial[5 * N_LAYERS + 3]) && r.spatial[5 * N_LAYERS + 4] == l.spatial[5 * N_LAYERS + 4]);
    CHECK_EQ_INT(r.hstep[2], 200);
    train_log_read(&r, f, 1000);
    CHECK_EQ_INT(r.n, 600);
    CHECK_EQ_INT(r.nh, 6);
    h5_close_file(f);
    train_log_free(&l);
    train_log_free(&r);
}

/* Supervised training (cross-entropy on class-folder labels, Nesterov) through trainer_run on a
 * tiny 3-class folder of PNGs whose classes differ in colour: the loss must fall, the fc head is
 * in /params, and the log has one row per step. */
#include "checkpoint.h"
#include "image.h"
#include "loader.h"

TEST(trainer_supervised_class_folder) {
    char *root = t_path("imgs");
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 8; i++) {
            char *dir = xasprintf("%s/class%d", root, c);
            mkdir_p(dir);
            Image *im = image_new(48, 48);
            for (int p = 0; p < 48 * 48; p++)
                for (int k = 0; k < 3; k++)
                    im->px[3 * p + k] = (uint8_t)((k == c ? 200 : 40) + ((p * 7 + i * 13) % 40));
            char *f = xasprintf("%s/%02d.png", dir, i);
            char err[128];
            REQUIRE(image_save_png(f, im, err, sizeof err) == 0);
            image_free(im);
            free(f);
            free(dir);
        }
    ModelConfig mc = {0.0625f, 32, TASK_SUPERVISED, 128, 3};
    DataConfig dc;
    data_config_default(&dc);
    dc.kind = DATA_FOLDER;
    dc.path = root;
    dc.index_cache = "off";
    dc.threads = 1;
    dc.augment_enabled = 0; /* colour is the class cue: no jitter or grayscale */
    TrainConfig tc;
    Section s = {"stage1", &tc, train_fields("stage1")};
    cfg_apply_defaults(&s);
    tc.batch_size = 12;
    tc.steps = 24;
    tc.base_lr = 2.0f;
    tc.threads = 1;
    tc.eval_every = 0;
    tc.checkpoint_every = 0;
    g_run.seed = 1;
    g_run.device_spec = "cpu";
    g_run.config_yaml = "stage1: {}\n";
    char *out = t_path("sup.h5");
    TrainerArgs a = {.stage = "stage1", .out = out, .model = &mc, .data = &dc, .train = &tc};
    CHECK_EQ_INT(trainer_run(&a), 0);
    hid_t f = h5_open_artifact(out, CKPT_KIND, CKPT_SCHEMA, NULL);
    CHECK(h5_exists(f, "params/fc.weight"));
    CHECK(!h5_exists(f, "head"));
    TrainLog l;
    train_log_init(&l);
    train_log_read(&l, f, 1000);
    REQUIRE(l.n == 24);
    double first = (l.task[0] + l.task[1] + l.task[2]) / 3, last = (l.task[21] + l.task[22] + l.task[23]) / 3;
    CHECK_MSG(first > 0.9 && last < 0.6 * first, "cross-entropy %.3f -> %.3f (3 classes: chance 1.10)", first, last);
    CHECK(isnan(l.spatial[0]));
    h5_close_file(f);
    train_log_free(&l);
}
