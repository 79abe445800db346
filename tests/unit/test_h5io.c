/* test_h5io.c: HDF5 round trip of every type, provenance attributes, artifact validation,
 * streaming, and atomic writes (a writer killed mid-write leaves no file at the target path). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "h5io.h"
#include "test.h"
#include "util.h"

TEST(h5io_round_trip_and_provenance) {
    char *path = t_path("a.h5");
    g_run.config_yaml = "train:\n  steps: 3\n";
    g_run.seed = 11;
    H5Out *o = h5out_create(path, "tuning", 1);
    float f[6000];
    for (int i = 0; i < 6000; i++) f[i] = (float)i * 0.5f - 7;
    hsize_t d2[2] = {60, 100};
    h5_write(o->file, "/layers/layer2.0/x", H5IO_F32, 2, d2, f, "unit,thing", "mm");
    int32_t ints[5] = {1, -2, 3, -4, 5};
    hsize_t d1 = 5;
    h5_write(o->file, "ints", H5IO_I32, 1, &d1, ints, NULL, NULL);
    char *names[] = {"faces", "bodies", "characters"};
    h5_write_strings(o->file, "/domains", names, 3);
    h5_attr_f64(o->file, "/layers/layer2.0", "scale", 1.5);
    double v[3] = {1, 2, 3};
    h5_attr_f64v(o->file, "/layers/layer2.0/x", "v", v, 3);
    CHECK(!file_exists(path)); /* nothing at the target before commit */
    h5out_commit(o);
    CHECK(file_exists(path));
    CHECK(!file_exists(t_path("a.h5.tmp")));

    int schema;
    hid_t h = h5_open_artifact(path, "tuning", 1, &schema);
    CHECK_EQ_INT(schema, 1);
    int rank;
    hsize_t dims[8];
    float *back = h5_read(h, "/layers/layer2.0/x", H5IO_F32, &rank, dims);
    CHECK_EQ_INT(rank, 2);
    CHECK_EQ_INT(dims[0], 60);
    CHECK(memcmp(back, f, sizeof f) == 0);
    double *asd = h5_read(h, "ints", H5IO_F64, NULL, NULL);
    CHECK_NEAR(asd[3], -4, 0);
    int n;
    char **s = h5_read_strings(h, "/domains", &n);
    CHECK_EQ_INT(n, 3);
    CHECK_STR(s[2], "characters");
    double sc;
    CHECK(h5_attr_get_f64(h, "/layers/layer2.0", "scale", &sc) == 0);
    CHECK_NEAR(sc, 1.5, 0);
    CHECK_EQ_INT(h5_attr_get_f64v(h, "/layers/layer2.0/x", "v", v, 3), 3);
    char *units = h5_attr_get_str(h, "/layers/layer2.0/x", "units");
    CHECK_STR(units, "mm");
    static const char *prov[] = {"artifact", "schema_version", "tool", "tool_version", "command_line", "created_utc",
                                 "config_yaml", "seed", "device", "inputs", "history", NULL};
    for (int i = 0; prov[i]; i++) CHECK_MSG(H5Aexists(h, prov[i]) > 0, "missing provenance attribute %s", prov[i]);
    char *cfg = h5_attr_get_str(h, ".", "config_yaml");
    CHECK_STR(cfg, "train:\n  steps: 3\n");
    int64_t seed;
    CHECK(h5_attr_get_i64(h, ".", "seed", &seed) == 0 && seed == 11);
    float rows[200];
    h5_read_rows(h, "/layers/layer2.0/x", H5IO_F32, 10, 2, rows);
    CHECK(memcmp(rows, f + 1000, sizeof rows) == 0);
    EXPECT_DIE(EXIT_USAGE, h5_shape(h, "/nope", dims), "missing dataset '/nope' in");
    EXPECT_DIE(EXIT_USAGE, h5_read_into(h, "ints", H5IO_I32, ints, 4), "holds 5 values, expected 4");
    h5_close_file(h);

    EXPECT_DIE(EXIT_USAGE, h5_open_artifact(path, "sheet", 1, NULL), "expected a sheet artifact, got a tuning artifact");
    EXPECT_DIE(EXIT_USAGE, h5_open_artifact(path, "tuning", 0, NULL), "unsupported tuning schema version 1");
    EXPECT_DIE(EXIT_USAGE, h5_open_artifact(t_path("none.h5"), NULL, 1, NULL), "No such file");
    char *txt = t_path("text.h5");
    write_file_atomic(txt, "hello", 5);
    EXPECT_DIE(EXIT_USAGE, h5_open_artifact(txt, NULL, 1, NULL), "not an HDF5 file");
}

TEST(h5io_inputs_and_history_carry_forward) {
    char *a = t_path("a.h5"), *b = t_path("b.h5");
    H5Out *o = h5out_create(a, "stimuli", 1);
    h5out_commit(o);
    hid_t h = h5_open_artifact(a, "stimuli", 1, NULL);
    h5_close_file(h);
    o = h5out_create(b, "activations", 1);
    h5out_commit(o);
    h = h5_open_any(b);
    char *inputs = h5_attr_get_str(h, ".", "inputs");
    CHECK(inputs && strstr(inputs, a) && strstr(inputs, "hash64:"));
    char *hist = h5_attr_get_str(h, ".", "history");
    CHECK(hist && strchr(hist, '\n')); /* the input's line, then ours */
    h5_close_file(h);
}

TEST(h5io_stream_append) {
    char *path = t_path("s.h5");
    H5Out *o = h5out_create(path, "activations", 1);
    hsize_t row[3] = {2, 3, 4};
    H5Stream *s = h5_stream_create(o->file, "/layers/layer1.0", H5IO_F32, 4, row, 1, "image,channel,row,col", "a.u.");
    float buf[3 * 24];
    for (int i = 0; i < 72; i++) buf[i] = (float)i;
    h5_stream_append(s, buf, 1);
    h5_stream_append(s, buf + 24, 2);
    CHECK_EQ_INT(h5_stream_rows(s), 3);
    h5_stream_close(s);
    h5out_commit(o);
    hid_t h = h5_open_artifact(path, "activations", 1, NULL);
    hsize_t dims[8];
    CHECK_EQ_INT(h5_shape(h, "/layers/layer1.0", dims), 4);
    CHECK_EQ_INT(dims[0], 3);
    float *back = h5_read(h, "/layers/layer1.0", H5IO_F32, NULL, NULL);
    CHECK(memcmp(back, buf, sizeof buf) == 0);
    h5_close_file(h);
}

/* A child writes a large file and is killed before committing: the target never appears. With
 * SIGTERM the temporary is removed as well; with SIGKILL only the .tmp can remain. */
static void killed_writer(int sig) {
    char *path = t_path(sig == SIGKILL ? "k.h5" : "t.h5");
    int fd[2];
    REQUIRE(pipe(fd) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        tool_init("writer", 0, NULL);
        H5Out *o = h5out_create(path, "tuning", 1);
        float *big = calloc(1 << 20, sizeof(float));
        hsize_t d = 1 << 20;
        h5_write(o->file, "x", H5IO_F32, 1, &d, big, NULL, NULL);
        H5Fflush(o->file, H5F_SCOPE_GLOBAL);
        if (write(fd[1], "w", 1) != 1) _exit(3);
        pause(); /* killed here, mid-write */
        h5out_commit(o);
        _exit(0);
    }
    char c;
    REQUIRE(read(fd[0], &c, 1) == 1);
    char *tmp = xasprintf("%s.tmp", path);
    CHECK(file_exists(tmp));
    kill(pid, sig);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st));
    CHECK(!file_exists(path));
    if (sig == SIGTERM) CHECK(!file_exists(tmp));
}
TEST(h5io_killed_writer_leaves_no_target_sigkill) { killed_writer(SIGKILL); }
TEST(h5io_killed_writer_leaves_no_target_sigterm) { killed_writer(SIGTERM); }

TEST(h5io_split_addr) {
    char *f, *p;
    h5_split_addr("a/b.h5:/layers/x", &f, &p);
    CHECK_STR(f, "a/b.h5");
    CHECK_STR(p, "/layers/x");
    h5_split_addr("c:d.h5", &f, &p);
    CHECK_STR(f, "c:d.h5");
    CHECK_STR(p, "");
}
