/* test_config.c: strict YAML configs: values of every type, nesting, each error kind with
 * FILE:LINE:COL and the key, command-line overrides, canonical section extraction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "test.h"
#include "util.h"

typedef struct {
    int steps; int64_t big; float alpha; double lr; int flag; char *name; int mode;
    FloatList scale; IntList ks; StrList layers; float blur_p;
} Cfg;
static Cfg c;
static const Field F[] = {
    {"steps", "steps", 0, F_INT, offsetof(Cfg, steps), "10", 1, 1000, NULL, "N", "steps", 0},
    {"big", NULL, 0, F_INT64, offsetof(Cfg, big), "50000000", 0, 0, NULL, NULL, "big", 0},
    {"alpha", "alpha", 0, F_FLOAT, offsetof(Cfg, alpha), "0.25", 0, 100, NULL, NULL, "alpha", 0},
    {"lr", NULL, 0, F_DOUBLE, offsetof(Cfg, lr), "0.3", 0, 0, NULL, NULL, "lr", 0},
    {"flag", "flag", 0, F_BOOL, offsetof(Cfg, flag), "false", 0, 0, NULL, NULL, "flag", 0},
    {"name", NULL, 0, F_STRING, offsetof(Cfg, name), "abc", 0, 0, NULL, NULL, "name", 0},
    {"mode", "mode", 0, F_ENUM, offsetof(Cfg, mode), "rel", 0, 0, "rel|abs", NULL, "mode", 0},
    {"scale", NULL, 0, F_FLOAT_LIST, offsetof(Cfg, scale), "[0.08, 1.0]", 0, 10, NULL, NULL, "scale", 0},
    {"ks", NULL, 0, F_INT_LIST, offsetof(Cfg, ks), "", 0, 0, NULL, NULL, "ks", 0},
    {"layers", "layers", 0, F_STRING_LIST, offsetof(Cfg, layers), "[layer2.0, layer4.1]", 0, 0, NULL, NULL, "layers", 0},
    {"augment.blur_p", NULL, 0, F_FLOAT, offsetof(Cfg, blur_p), "0.5", 0, 1, NULL, NULL, "blur", 0},
    FIELD_END};
static const Section S = {"train", &c, F};

static char *write_yaml(const char *name, const char *text) {
    char *p = t_path(name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    return p;
}

TEST(config_defaults_and_values) {
    cfg_apply_defaults(&S);
    CHECK_EQ_INT(c.steps, 10);
    CHECK_EQ_INT(c.big, 50000000);
    CHECK_NEAR(c.alpha, 0.25, 0);
    CHECK_STR(c.name, "abc");
    CHECK_EQ_INT(c.scale.n, 2);
    CHECK_EQ_INT(c.layers.n, 2);
    CHECK_STR(c.layers.v[1], "layer4.1");
    char *p = write_yaml("a.yaml",
        "seed: 7\n"
        "train:\n"
        "  steps: 20\n"
        "  big: 5e7\n"
        "  alpha: 0.5\n"
        "  flag: yes\n"
        "  name: \"x y\"\n"
        "  mode: abs\n"
        "  scale: [0.2, 0.9]\n"
        "  ks:\n    - 1\n    - 2\n    - 3\n"
        "  layers: layer1.0\n"
        "  augment:\n    blur_p: 0.1\n"
        "probe_floc: {anything: 1}\n");
    cfg_load_file(p, &S, 1);
    CHECK_EQ_INT(c.steps, 20);
    CHECK_EQ_INT(c.big, 50000000);
    CHECK_NEAR(c.alpha, 0.5, 0);
    CHECK_EQ_INT(c.flag, 1);
    CHECK_STR(c.name, "x y");
    CHECK_EQ_INT(c.mode, 1);
    CHECK_EQ_INT(c.scale.n, 2);
    CHECK_NEAR(c.scale.v[1], 0.9, 1e-7);
    CHECK_EQ_INT(c.ks.n, 3);
    CHECK_EQ_INT(c.ks.v[2], 3);
    CHECK_EQ_INT(c.layers.n, 1);
    CHECK_NEAR(c.blur_p, 0.1, 1e-7);
    CHECK_EQ_INT(g_run.seed, 7);
    /* the dump re-nests dotted keys and parses back to the same values */
    char *dump = cfg_dump_section(&S, NULL);
    CHECK(strstr(dump, "  augment:\n    blur_p: 0.1\n") != NULL);
    char *p2 = write_yaml("b.yaml", dump);
    Cfg saved = c;
    cfg_apply_defaults(&S);
    cfg_load_file(p2, &S, 1);
    CHECK_EQ_INT(c.steps, saved.steps);
    CHECK_NEAR(c.alpha, saved.alpha, 0);
    CHECK_STR(c.name, saved.name);
    CHECK_EQ_INT(c.ks.n, 3);
    CHECK_NEAR(c.blur_p, saved.blur_p, 0);
}

TEST(config_unknown_key_names_file_line_col) {
    cfg_apply_defaults(&S);
    char *p = write_yaml("bad.yaml", "train:\n  steps: 3\n  setps: 4\n");
    char *want = xasprintf("%s:3:3: unknown key 'setps' in section 'train'", p);
    EXPECT_DIE(EXIT_USAGE, cfg_load_file(p, &S, 1), want);
}

TEST(config_unknown_nested_key) {
    cfg_apply_defaults(&S);
    char *p = write_yaml("bad.yaml", "train:\n  augment:\n    blurp: 1\n");
    EXPECT_DIE(EXIT_USAGE, cfg_load_file(p, &S, 1), "bad.yaml:3:5: unknown key 'augment.blurp'");
}

TEST(config_wrong_type) {
    cfg_apply_defaults(&S);
    char *p = write_yaml("bad.yaml", "train:\n  steps: ten\n");
    EXPECT_DIE(EXIT_USAGE, cfg_load_file(p, &S, 1), "bad.yaml:2:10: key 'train.steps': expected an integer, got 'ten'");
    p = write_yaml("bad2.yaml", "train:\n  steps: [1, 2]\n");
    EXPECT_DIE(EXIT_USAGE, cfg_load_file(p, &S, 1), "key 'train.steps': expected a single value, got a list");
    p = write_yaml("bad3.yaml", "train:\n  mode: relative\n");
    EXPECT_DIE(EXIT_USAGE, cfg_load_file(p, &S, 1), "expected one of rel|abs, got 'relative'");
    p = write_yaml("bad4.yaml", "train:\n  flag: maybe\n");
    EXPECT_DIE(EXIT_USAGE, cfg_load_file(p, &S, 1), "expected true or false");
}

TEST(config_out_of_range) {
    cfg_apply_defaults(&S);
    char *p = write_yaml("bad.yaml", "train:\n  steps: 0\n");
    EXPECT_DIE(EXIT_USAGE, cfg_load_file(p, &S, 1), "bad.yaml:2:10: key 'train.steps': 0 is out of range [1, 1000]");
    p = write_yaml("bad2.yaml", "train:\n  scale: [0.5, 11]\n");
    EXPECT_DIE(EXIT_USAGE, cfg_load_file(p, &S, 1), "bad2.yaml:2:16: key 'train.scale': 11 is out of range [0, 10]");
}

TEST(config_unknown_section_and_bad_yaml) {
    cfg_apply_defaults(&S);
    char *p = write_yaml("bad.yaml", "trian:\n  steps: 3\n");
    EXPECT_DIE(EXIT_USAGE, cfg_load_file(p, &S, 1), "bad.yaml:1:1: unknown section 'trian'");
    p = write_yaml("bad2.yaml", "train:\n  steps: [1, 2\n");
    EXPECT_DIE(EXIT_USAGE, cfg_load_file(p, &S, 1), "bad2.yaml:");
    EXPECT_DIE(EXIT_USAGE, cfg_load_file("/nonexistent/x.yaml", &S, 1), "cannot open config '/nonexistent/x.yaml'");
}

static const ToolSpec SPEC = {
    .purpose = "test", .usage = "t [options]", .sections = {{"train", &c, F}}, .uses_seed = 1, .computes = 1,
    .npos_min = 0, .npos_max = 1,
};

TEST(config_cli_overrides_config) {
    char *p = write_yaml("a.yaml", "seed: 3\ntrain:\n  steps: 20\n  alpha: 0.5\n");
    char *argv[] = {"t", "--config", p, "--steps", "30", "--layers=layer3.0,layer3.1", "--no-flag", "--seed", "9", "pos", NULL};
    tool_setup(&SPEC, 10, argv);
    CHECK_EQ_INT(c.steps, 30);
    CHECK_NEAR(c.alpha, 0.5, 0);
    CHECK_EQ_INT(c.layers.n, 2);
    CHECK_STR(c.layers.v[1], "layer3.1");
    CHECK_EQ_INT(c.flag, 0);
    CHECK_EQ_INT(g_run.seed, 9);
    CHECK_EQ_INT(g_run.npos, 1);
    CHECK(strstr(g_run.config_yaml, "seed: 9\n") != NULL);
    CHECK(strstr(g_run.config_yaml, "  steps: 30\n") != NULL);
    char *bad[] = {"t", "--steps", "5000", NULL};
    EXPECT_DIE(EXIT_USAGE, tool_setup(&SPEC, 3, bad), "option '--steps': 5000 is out of range");
    char *bad2[] = {"t", "--nope", NULL};
    EXPECT_DIE(EXIT_USAGE, tool_setup(&SPEC, 2, bad2), "unknown option '--nope'");
    char *bad3[] = {"t", "a", "b", NULL};
    EXPECT_DIE(EXIT_USAGE, tool_setup(&SPEC, 3, bad3), "got 2 arguments");
}

TEST(config_canonical_extraction_ignores_layout) {
    char *a = write_yaml("a.yaml", "# comment\ntrain: {steps: 3, augment: {blur_p: 0.5}}\nprobe_floc:\n  x: 1\n");
    char *b = write_yaml("b.yaml", "probe_floc: {x: 2}\ntrain:\n  steps: 3   # same\n  augment:\n    blur_p: 0.5\n");
    char *names[] = {"train"};
    char *ta = cfg_extract_canonical(a, names, 1), *tb = cfg_extract_canonical(b, names, 1);
    CHECK_STR(ta, tb);
    char *names2[] = {"probe_floc"};
    char *pa = cfg_extract_canonical(a, names2, 1), *pb = cfg_extract_canonical(b, names2, 1);
    CHECK(strcmp(pa, pb) != 0);
}
