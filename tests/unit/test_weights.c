/* test_weights.c: safetensors <-> checkpoint: name mapping (torchvision/timm, wrapper prefixes,
 * VISSL heads, Hugging Face ResNet), export -> import bit-exactness, width inference, head
 * handling, and errors naming the tensor and the file for missing, mis-shaped, unknown tensors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"
#include "test.h"
#include "weights.h"

TEST(weights_canonical_names) {
    const char *cases[][2] = {
        {"conv1.weight", "conv1.weight"},
        {"layer2.0.downsample.1.running_var", "layer2.0.downsample.1.running_var"},
        {"module.layer1.0.bn1.weight", "layer1.0.bn1.weight"},
        {"base_model.model.trunk._feature_blocks.layer4.1.conv2.weight", "layer4.1.conv2.weight"},
        {"trunk._feature_blocks.bn1.num_batches_tracked", "bn1.num_batches_tracked"},
        {"heads.0.clf.0.weight", "head.0.weight"},
        {"heads.1.clf.0.bias", "head.2.bias"},
        {"resnet.embedder.embedder.convolution.weight", "conv1.weight"},
        {"resnet.embedder.embedder.normalization.running_mean", "bn1.running_mean"},
        {"resnet.encoder.stages.0.layers.1.layer.0.convolution.weight", "layer1.1.conv1.weight"},
        {"resnet.encoder.stages.3.layers.0.layer.1.normalization.bias", "layer4.0.bn2.bias"},
        {"resnet.encoder.stages.1.layers.0.shortcut.convolution.weight", "layer2.0.downsample.0.weight"},
        {"resnet.encoder.stages.2.layers.0.shortcut.normalization.num_batches_tracked", "layer3.0.downsample.1.num_batches_tracked"},
        {"classifier.1.weight", "fc.weight"},
        {"fc.bias", "fc.bias"},
        {"something.else", "something.else"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[128];
        weights_canonical_name(cases[i][0], out, sizeof out);
        CHECK_MSG(!strcmp(out, cases[i][1]), "%s -> %s, expected %s", cases[i][0], out, cases[i][1]);
    }
}

static void random_ckpt(Checkpoint *ck, float width, int task) {
    ModelConfig cfg = {width, 64, task, 32, 7};
    ckpt_alloc(ck, &cfg);
    model_init_params(&ck->model, 3, ck->params, ck->bufs, ck->num_batches);
    for (size_t i = 0; i < ck->model.bufs_numel; i++) ck->bufs[i] = 0.5f + 0.001f * (float)i;
    for (int i = 0; i < ck->model.nbn; i++) ck->num_batches[i] = 77 + i;
}

static ImportOptions defaults(void) {
    ImportOptions o = {-1, 0, 128, 1000, 0, 0};
    return o;
}

TEST(weights_export_import_bit_exact) {
    Checkpoint a, b;
    random_ckpt(&a, 0.125f, TASK_SIMCLR);
    ExportOptions eo = {FC_OMIT, 1, 1000};
    char *p = t_path("w.safetensors");
    int n = weights_export(&a, &eo, p);
    CHECK_EQ_INT(n, a.model.nparams + 3 * a.model.nbn);
    ImportOptions io = defaults();
    weights_import(p, &io, &b);
    CHECK_EQ_INT(b.model.cfg.task, TASK_SIMCLR);
    CHECK(b.model.cfg.width == 0.125f);
    CHECK_EQ_INT(b.model.cfg.input_size, 64); /* from the metadata */
    CHECK_EQ_INT(b.model.cfg.proj_dim, 32);   /* from head.2.weight */
    REQUIRE(b.model.params_numel == a.model.params_numel);
    CHECK(memcmp(a.params, b.params, sizeof(float) * a.model.params_numel) == 0);
    CHECK(memcmp(a.bufs, b.bufs, sizeof(float) * a.model.bufs_numel) == 0);
    CHECK(memcmp(a.num_batches, b.num_batches, sizeof(int64_t) * (size_t)a.model.nbn) == 0);
    ckpt_free(&b);

    /* default export: zero fc of num_classes rows, no head -> imports as supervised, same trunk */
    ExportOptions ez = {FC_ZEROS, 0, 5};
    weights_export(&a, &ez, p);
    StFile *f = st_open(p);
    const StTensor *fc = st_find(f, "fc.weight");
    REQUIRE(fc);
    CHECK_EQ_INT(fc->shape[0], 5);
    CHECK_EQ_INT(fc->shape[1], 8 * 8);
    CHECK(st_find(f, "head.0.weight") == NULL);
    CHECK_STR(f->t[0].name, "conv1.weight");
    CHECK_STR(f->t[5].name, "bn1.num_batches_tracked");
    st_close(f);
    weights_import(p, &io, &b);
    CHECK_EQ_INT(b.model.cfg.task, TASK_SUPERVISED);
    CHECK_EQ_INT(b.model.cfg.num_classes, 5);
    for (int i = 0; i < a.model.nparams; i++) {
        const ParamInfo *pa = &a.model.params[i];
        if (pa->is_head) continue;
        int j = model_find_param(&b.model, pa->name);
        REQUIRE(j >= 0);
        CHECK_MSG(memcmp(a.params + pa->offset, b.params + b.model.params[j].offset, sizeof(float) * pa->numel) == 0, "%s differs", pa->name);
    }
    ckpt_free(&b);
    ckpt_free(&a);
}

/* Writes the tensors of ck's export under other names / shapes / dtypes. */
typedef struct { const char *from, *to; } Rename;

static char *export_variant(const Checkpoint *a, const char *file, const char *prefix, const char *drop, const char *reshape,
                            int add_unknown) {
    char *p = t_path(file);
    ExportOptions eo = {FC_OMIT, 1, 1000};
    weights_export(a, &eo, p);
    StFile *f = st_open(p);
    StOut *t = calloc((size_t)f->n + 1, sizeof(StOut));
    char (*names)[160] = calloc((size_t)f->n + 1, sizeof(*names));
    float **data = calloc((size_t)f->n + 1, sizeof(float *));
    int n = 0;
    for (int i = 0; i < f->n; i++) {
        const StTensor *s = &f->t[i];
        if (drop && !strcmp(s->name, drop)) continue;
        snprintf(names[n], sizeof names[n], "%s%s", prefix, s->name);
        t[n].name = names[n];
        t[n].dtype = s->dtype[0] == 'I' ? "I64" : "F32";
        t[n].ndim = s->ndim;
        for (int d = 0; d < s->ndim; d++) t[n].shape[d] = s->shape[d];
        data[n] = malloc((size_t)(s->end - s->begin) + 8);
        if (s->dtype[0] == 'I') st_read_i64(f, s, (int64_t *)data[n]); else st_read_f32(f, s, data[n]);
        if (reshape && !strcmp(s->name, reshape)) { t[n].ndim = 2; t[n].shape[0] = 1; t[n].shape[1] = s->numel; }
        t[n].data = data[n];
        n++;
    }
    static float junk[3];
    if (add_unknown) { t[n] = (StOut){"layer1.0.conv3.weight", "F32", 1, {3}, junk}; n++; }
    st_close(f);
    st_write(p, t, n, NULL);
    for (int i = 0; i < n; i++) if (t[i].data != junk) free((void *)t[i].data);
    free(t);
    free(names);
    free(data);
    return p;
}

TEST(weights_import_variants_and_errors) {
    Checkpoint a, b;
    random_ckpt(&a, 0.25f, TASK_SIMCLR);
    ImportOptions io = defaults();

    /* DataParallel prefix; no metadata -> 224 px, or --input-size */
    char *p = export_variant(&a, "mod.safetensors", "module.", NULL, NULL, 0);
    weights_import(p, &io, &b);
    CHECK(b.model.cfg.width == 0.25f);
    CHECK_EQ_INT(b.model.cfg.input_size, 224);
    CHECK(memcmp(a.params, b.params, sizeof(float) * a.model.params_numel) == 0);
    ckpt_free(&b);
    io.input_size = 96;
    weights_import(p, &io, &b);
    CHECK_EQ_INT(b.model.cfg.input_size, 96);
    ckpt_free(&b);
    io = defaults();

    /* missing num_batches_tracked -> 0 */
    p = export_variant(&a, "nbt.safetensors", "", "layer1.0.bn1.num_batches_tracked", NULL, 0);
    weights_import(p, &io, &b);
    int bn = -1;
    for (int i = 0; i < b.model.nbn; i++) if (!strcmp(b.model.bn_names[i], "layer1.0.bn1")) bn = i;
    REQUIRE(bn >= 0);
    CHECK_EQ_INT(b.num_batches[bn], 0);
    CHECK_EQ_INT(b.num_batches[bn + 1], a.num_batches[bn + 1]);
    ckpt_free(&b);

    /* errors: each names the tensor and the file */
    p = export_variant(&a, "miss.safetensors", "", "layer3.0.downsample.1.running_mean", NULL, 0);
    EXPECT_DIE(2, weights_import(p, &io, &b), "missing tensor 'layer3.0.downsample.1.running_mean' in");
    EXPECT_DIE(2, weights_import(p, &io, &b), "miss.safetensors");
    p = export_variant(&a, "shape.safetensors", "", NULL, "layer2.1.conv1.weight", 0);
    EXPECT_DIE(2, weights_import(p, &io, &b), "tensor 'layer2.1.conv1.weight' in");
    EXPECT_DIE(2, weights_import(p, &io, &b), "has shape (1,9216), expected (32,32,3,3)");
    p = export_variant(&a, "unk.safetensors", "", NULL, NULL, 1);
    EXPECT_DIE(2, weights_import(p, &io, &b), "unexpected tensor 'layer1.0.conv3.weight'");
    io.ignore_unknown = 1;
    weights_import(p, &io, &b);
    ckpt_free(&b);
    io = defaults();
    p = export_variant(&a, "noconv1.safetensors", "", "conv1.weight", NULL, 0);
    EXPECT_DIE(2, weights_import(p, &io, &b), "no tensor 'conv1.weight'");
    /* a partial head is an error, a wholly absent one is initialised */
    p = export_variant(&a, "halfhead.safetensors", "", "head.2.bias", NULL, 0);
    EXPECT_DIE(2, weights_import(p, &io, &b), "missing tensor 'head.2.bias'");
    ckpt_free(&a);

    /* a trunk-only file imported as simclr gets a fresh head; as auto it is simclr too */
    random_ckpt(&a, 0.125f, TASK_SUPERVISED);
    p = export_variant(&a, "trunk.safetensors", "", "fc.weight", NULL, 0);
    EXPECT_DIE(2, weights_import(p, &io, &b), "missing tensor 'fc.weight'"); /* fc.bias present: partial */
    ExportOptions eo = {FC_OMIT, 0, 1000};
    Checkpoint c;
    ModelConfig cs = {0.125f, 64, TASK_SIMCLR, 128, 1000};
    ckpt_alloc(&c, &cs);
    memcpy(c.params, a.params, sizeof(float) * 10); /* any content */
    weights_export(&c, &eo, t_path("trunkonly.safetensors"));
    weights_import(t_path("trunkonly.safetensors"), &io, &b);
    CHECK_EQ_INT(b.model.cfg.task, TASK_SIMCLR);
    CHECK(b.model.plan.head_w1 >= 0);
    ckpt_free(&b);
    io.task = TASK_SUPERVISED;
    io.num_classes = 3;
    weights_import(t_path("trunkonly.safetensors"), &io, &b);
    CHECK_EQ_INT(b.model.cfg.num_classes, 3);
    ckpt_free(&b);
    ckpt_free(&c);
    ckpt_free(&a);
}

TEST(weights_import_f16) {
    /* a width-1/64 model (1 channel stem) stored as F16 converts exactly */
    Checkpoint a, b;
    random_ckpt(&a, 1.0f / 64, TASK_SUPERVISED);
    /* round every value to f16 first so the comparison is exact */
    size_t n = a.model.params_numel;
    for (size_t i = 0; i < n; i++) a.params[i] = (float)(_Float16)a.params[i];
    for (size_t i = 0; i < a.model.bufs_numel; i++) a.bufs[i] = (float)(_Float16)a.bufs[i];
    char *p = t_path("h.safetensors");
    ExportOptions eo = {FC_OMIT, 0, 1000};
    weights_export(&a, &eo, p);
    /* rewrite every F32 tensor as F16 */
    StFile *f = st_open(p);
    StOut *t = calloc((size_t)f->n, sizeof(StOut));
    void **bufs = calloc((size_t)f->n, sizeof(void *));
    for (int i = 0; i < f->n; i++) {
        const StTensor *s = &f->t[i];
        t[i].name = s->name;
        t[i].ndim = s->ndim;
        for (int d = 0; d < s->ndim; d++) t[i].shape[d] = s->shape[d];
        bufs[i] = malloc((size_t)(s->end - s->begin) + 8);
        if (s->dtype[0] == 'I') { st_read_i64(f, s, bufs[i]); t[i].dtype = "I64"; }
        else { st_read_f32(f, s, bufs[i]); t[i].dtype = "F32"; }
        t[i].data = bufs[i];
    }
    /* st_write only writes F32/I64: build the F16 file by hand from the F32 one */
    char *h = t_path("h16.safetensors");
    FILE *out = fopen(h, "wb");
    char hdr[65536];
    size_t k = (size_t)snprintf(hdr, sizeof hdr, "{");
    uint64_t off = 0;
    for (int i = 0; i < f->n; i++) {
        const StTensor *s = &f->t[i];
        int is_f = s->dtype[0] == 'F';
        uint64_t bytes = (uint64_t)s->numel * (is_f ? 2 : 8);
        k += (size_t)snprintf(hdr + k, sizeof hdr - k, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "", s->name, is_f ? "F16" : "I64");
        for (int d = 0; d < s->ndim; d++) k += (size_t)snprintf(hdr + k, sizeof hdr - k, "%s%lld", d ? "," : "", (long long)s->shape[d]);
        k += (size_t)snprintf(hdr + k, sizeof hdr - k, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + bytes));
        off += bytes;
    }
    k += (size_t)snprintf(hdr + k, sizeof hdr - k, "}");
    uint64_t hl = k;
    fwrite(&hl, 8, 1, out);
    fwrite(hdr, 1, k, out);
    for (int i = 0; i < f->n; i++) {
        const StTensor *s = &f->t[i];
        if (s->dtype[0] == 'I') { fwrite(bufs[i], 8, (size_t)s->numel, out); continue; }
        for (int64_t j = 0; j < s->numel; j++) {
            _Float16 v = (_Float16)((float *)bufs[i])[j];
            fwrite(&v, 2, 1, out);
        }
    }
    fclose(out);
    st_close(f);
    ImportOptions io = defaults();
    weights_import(h, &io, &b);
    REQUIRE(b.model.params_numel == n);
    CHECK(memcmp(a.params, b.params, sizeof(float) * n) == 0);
    ckpt_free(&a);
    ckpt_free(&b);
}
