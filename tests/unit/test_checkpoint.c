/* test_checkpoint.c: checkpoint save/load round trip (parameters, buffers, num_batches_tracked,
 * momentum, state, an extra /log group, `complete` last), refusal of incomplete checkpoints, a
 * one-line error naming a missing, mis-shaped or unexpected tensor, and ckpt_find_latest. */
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "h5io.h"
#include "test.h"

static void small_ckpt(Checkpoint *ck, int task, int with_momentum) {
    ModelConfig cfg = {0.125f, 40, task, 16, 10};
    ckpt_alloc(ck, &cfg);
    model_init_params(&ck->model, 7, ck->params, ck->bufs, ck->num_batches);
    for (size_t i = 0; i < ck->model.bufs_numel; i++) ck->bufs[i] += 0.01f * (float)i;
    for (int i = 0; i < ck->model.nbn; i++) ck->num_batches[i] = 1000 + i;
    if (with_momentum) {
        ck->momentum = malloc(sizeof(float) * ck->model.params_numel);
        for (size_t i = 0; i < ck->model.params_numel; i++) ck->momentum[i] = (float)sin((double)i);
    }
    ck->step = 123;
    ck->epoch = 4;
    ck->lr = 0.0375;
    ck->n_data_position = 2;
    ck->data_position = malloc(2 * sizeof(int64_t));
    ck->data_position[0] = 4;
    ck->data_position[1] = 17;
    ck->n_rng = 3;
    ck->rng = malloc(3 * sizeof(int64_t));
    ck->rng[0] = -1;
    ck->rng[1] = INT64_MAX;
    ck->rng[2] = 5;
}

static int g_extra_called = 0;
static void write_log(hid_t f, void *ctx) {
    int64_t *steps = ctx;
    hsize_t d = 3;
    h5_write(f, "/log/step", H5IO_I64, 1, &d, steps, "step", NULL);
    /* complete must not be set yet */
    int64_t c;
    CHECK(h5_attr_get_i64(f, ".", "complete", &c) != 0);
    g_extra_called = 1;
}

TEST(ckpt_round_trip) {
    Checkpoint a, b;
    small_ckpt(&a, TASK_SIMCLR, 1);
    char *p = t_path("c.h5");
    int64_t steps[3] = {1, 2, 3};
    ckpt_save(p, &a, write_log, steps);
    CHECK(g_extra_called);
    ckpt_load(p, &b, CKPT_LOAD_OPTIMIZER);
    char why[100];
    CHECK(!ckpt_config_differs(&a.model.cfg, &b.model.cfg, why, sizeof why));
    CHECK_EQ_INT(b.model.cfg.input_size, 40);
    CHECK_EQ_INT(b.model.cfg.proj_dim, 16);
    CHECK(memcmp(a.params, b.params, sizeof(float) * a.model.params_numel) == 0);
    CHECK(memcmp(a.bufs, b.bufs, sizeof(float) * a.model.bufs_numel) == 0);
    CHECK(memcmp(a.num_batches, b.num_batches, sizeof(int64_t) * (size_t)a.model.nbn) == 0);
    REQUIRE(b.momentum);
    CHECK(memcmp(a.momentum, b.momentum, sizeof(float) * a.model.params_numel) == 0);
    CHECK_EQ_INT(b.step, 123);
    CHECK_EQ_INT(b.epoch, 4);
    CHECK(b.lr == 0.0375);
    REQUIRE(b.n_data_position == 2 && b.n_rng == 3);
    CHECK_EQ_INT(b.data_position[1], 17);
    CHECK(b.rng[1] == INT64_MAX && b.rng[0] == -1);
    ckpt_free(&b);

    /* without the optimizer flag momentum stays NULL */
    ckpt_load(p, &b, 0);
    CHECK(b.momentum == NULL);
    ckpt_free(&b);

    hid_t f = h5_open_artifact(p, "checkpoint", 1, NULL);
    CHECK(h5_exists(f, "/head/head.2.weight"));
    CHECK(h5_exists(f, "/params/layer4.1.bn2.bias"));
    CHECK(h5_exists(f, "/buffers/layer2.0.downsample.1.num_batches_tracked"));
    CHECK(h5_exists(f, "/optimizer/momentum/head.0.bias"));
    CHECK(h5_exists(f, "/log/step"));
    char *task = h5_attr_get_str(f, ".", "task");
    CHECK_STR(task, "simclr");
    h5_close_file(f);

    /* supervised: fc lives in /params; empty state arrays are fine */
    Checkpoint s, s2;
    small_ckpt(&s, TASK_SUPERVISED, 0);
    s.n_rng = 0;
    s.n_data_position = 0;
    ckpt_save(t_path("s.h5"), &s, NULL, NULL);
    ckpt_load(t_path("s.h5"), &s2, CKPT_LOAD_OPTIMIZER);
    CHECK(s2.momentum == NULL);
    CHECK_EQ_INT(s2.model.cfg.task, TASK_SUPERVISED);
    CHECK_EQ_INT(s2.model.cfg.num_classes, 10);
    CHECK_EQ_INT(s2.n_rng, 0);
    CHECK(memcmp(s.params, s2.params, sizeof(float) * s.model.params_numel) == 0);
    f = h5_open_artifact(t_path("s.h5"), "checkpoint", 1, NULL);
    CHECK(h5_exists(f, "/params/fc.weight"));
    CHECK(!h5_exists(f, "/head"));
    h5_close_file(f);
    ckpt_free(&a);
}

/* Opens a saved checkpoint read-write for surgery. */
static hid_t open_rw(const char *p) {
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    return f;
}

TEST(ckpt_load_errors) {
    Checkpoint a, b;
    small_ckpt(&a, TASK_SIMCLR, 0);
    const char *names[] = {"inc.h5", "missing.h5", "shape.h5", "extra.h5", "attr.h5", "nbt.h5"};
    for (int i = 0; i < 6; i++) ckpt_save(t_path(names[i]), &a, NULL, NULL);

    hid_t f = open_rw(t_path("inc.h5"));
    int64_t zero = 0;
    hid_t at = H5Aopen(f, "complete", H5P_DEFAULT);
    H5Awrite(at, H5T_NATIVE_INT64, &zero);
    H5Aclose(at);
    H5Fclose(f);
    EXPECT_DIE(2, ckpt_load(t_path("inc.h5"), &b, 0), "incomplete checkpoint");

    f = open_rw(t_path("missing.h5"));
    H5Ldelete(f, "/params/layer3.1.conv2.weight", H5P_DEFAULT);
    H5Fclose(f);
    EXPECT_DIE(2, ckpt_load(t_path("missing.h5"), &b, 0), "lacks tensor '/params/layer3.1.conv2.weight'");

    f = open_rw(t_path("shape.h5"));
    H5Ldelete(f, "/buffers/layer2.0.bn1.running_var", H5P_DEFAULT);
    float v[5] = {0};
    hsize_t d = 5;
    h5_write(f, "/buffers/layer2.0.bn1.running_var", H5IO_F32, 1, &d, v, NULL, NULL);
    H5Fclose(f);
    EXPECT_DIE(2, ckpt_load(t_path("shape.h5"), &b, 0), "tensor '/buffers/layer2.0.bn1.running_var' has shape (5,), expected (16,)");

    f = open_rw(t_path("extra.h5"));
    h5_write(f, "/params/layer5.0.conv1.weight", H5IO_F32, 1, &d, v, NULL, NULL);
    H5Fclose(f);
    EXPECT_DIE(2, ckpt_load(t_path("extra.h5"), &b, 0), "unexpected tensor '/params/layer5.0.conv1.weight'");

    f = open_rw(t_path("attr.h5"));
    H5Adelete(f, "width");
    H5Fclose(f);
    EXPECT_DIE(2, ckpt_load(t_path("attr.h5"), &b, 0), "lacks the model attribute 'width'");

    f = open_rw(t_path("nbt.h5"));
    H5Ldelete(f, "/buffers/bn1.num_batches_tracked", H5P_DEFAULT);
    H5Fclose(f);
    EXPECT_DIE(2, ckpt_load(t_path("nbt.h5"), &b, 0), "lacks tensor '/buffers/bn1.num_batches_tracked'");

    EXPECT_DIE(2, ckpt_load(t_path("none.h5"), &b, 0), "none.h5");
    ckpt_free(&a);
}

TEST(ckpt_find_latest) {
    Checkpoint a;
    small_ckpt(&a, TASK_SIMCLR, 0);
    CHECK(ckpt_find_latest(t_path("ck_*.h5")) == NULL);
    int64_t steps[3] = {100, 300, 200};
    const char *names[3] = {"ck_a.h5", "ck_b.h5", "ck_c.h5"};
    for (int i = 0; i < 3; i++) {
        a.step = steps[i];
        ckpt_save(t_path(names[i]), &a, NULL, NULL);
    }
    char *best = ckpt_find_latest(t_path("ck_*.h5"));
    CHECK_STR(best, t_path("ck_b.h5"));
    /* the highest step becomes incomplete: the next one wins; junk files are skipped */
    hid_t f = open_rw(t_path("ck_b.h5"));
    H5Adelete(f, "complete");
    H5Fclose(f);
    FILE *j = fopen(t_path("ck_junk.h5"), "w");
    fputs("not hdf5", j);
    fclose(j);
    best = ckpt_find_latest(t_path("ck_*.h5"));
    CHECK_STR(best, t_path("ck_c.h5"));
    ckpt_free(&a);
}
