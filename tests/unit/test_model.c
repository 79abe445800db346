/* test_model.c: the parameter table matches torchvision's ResNet-18 (names, order, counts) and
 * the block output shapes follow the input size. */
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "test.h"

TEST(model_resnet18_tables) {
    ModelConfig c = {1.0f, 224, TASK_SUPERVISED, 128, 1000};
    Model m;
    model_init(&m, &c);
    /* torchvision resnet18: 11,689,512 parameters including fc */
    CHECK_EQ_INT(m.params_numel, 11689512);
    CHECK_EQ_INT(m.nparams, 62);
    CHECK_EQ_INT(m.nbn, 20);
    CHECK_STR(m.params[0].name, "conv1.weight");
    CHECK_STR(m.params[3].name, "layer1.0.conv1.weight");
    int d = model_find_param(&m, "layer2.0.downsample.0.weight");
    REQUIRE(d >= 0);
    CHECK_EQ_INT(m.params[d].shape[0], 128);
    CHECK_EQ_INT(m.params[d].shape[1], 64);
    CHECK_EQ_INT(m.params[d].shape[2], 1);
    CHECK_STR(m.params[m.nparams - 1].name, "fc.bias");
    CHECK(model_find_buffer(&m, "layer4.1.bn2.running_var") >= 0);
    int h[8] = {56, 56, 28, 28, 14, 14, 7, 7}, ch[8] = {64, 64, 128, 128, 256, 256, 512, 512};
    for (int l = 0; l < 8; l++) { CHECK_EQ_INT(m.layer_h[l], h[l]); CHECK_EQ_INT(m.layer_c[l], ch[l]); }
    CHECK_EQ_INT(m.layer_units[2], 100352);
    model_free(&m);

    ModelConfig s = {0.125f, 64, TASK_SIMCLR, 128, 1000};
    model_init(&m, &s);
    CHECK_EQ_INT(m.layer_c[0], 8);
    CHECK_EQ_INT(m.layer_c[7], 64);
    CHECK_EQ_INT(m.layer_h[0], 16);
    CHECK_EQ_INT(m.layer_h[7], 2);
    CHECK_EQ_INT(m.plan.out_dim, 128);
    CHECK(model_find_param(&m, "head.2.weight") >= 0);
    CHECK(m.params[model_find_param(&m, "head.0.weight")].is_head);
    CHECK(!m.params[model_find_param(&m, "bn1.weight")].decay);
    model_free(&m);
    ModelConfig bad = {1.0f, 16, TASK_SIMCLR, 128, 1000};
    EXPECT_DIE(EXIT_USAGE, model_init(&m, &bad), "at least 32 px");
}

TEST(model_init_params_statistics) {
    ModelConfig c = {0.5f, 64, TASK_SIMCLR, 128, 1000};
    Model m;
    model_init(&m, &c);
    float *p = xmalloc(m.params_numel * sizeof(float)), *b = xmalloc(m.bufs_numel * sizeof(float));
    int64_t nb[64];
    model_init_params(&m, 3, p, b, nb);
    int i = model_find_param(&m, "layer3.0.conv1.weight");
    const ParamInfo *pi = &m.params[i];
    double s2 = 0;
    for (size_t j = 0; j < pi->numel; j++) s2 += (double)p[pi->offset + j] * p[pi->offset + j];
    double want = 2.0 / (pi->shape[0] * 9.0);
    CHECK_NEAR(s2 / (double)pi->numel, want, 0.05 * want);
    CHECK_NEAR(b[m.bufs[1].offset], 1.0, 0);
    free(p);
    free(b);
    model_free(&m);
}
