/* test_safetensors.c: the safetensors reader and writer: dtype conversions (F16 incl. subnormals,
 * inf and NaN; BF16; F64; I32), a write/read round trip, and rejection of malformed files, each
 * with its one-line message (exit 2). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"
#include "test.h"

/* Writes a safetensors file from a header text and data bytes; hlen_override != 0 replaces the
 * length field. */
static char *raw_file(const char *name, const char *header, const void *data, size_t dlen, uint64_t hlen_override) {
    char *p = t_path(name);
    FILE *f = fopen(p, "wb");
    uint64_t n = hlen_override ? hlen_override : strlen(header);
    uint8_t lb[8];
    for (int i = 0; i < 8; i++) lb[i] = (uint8_t)(n >> (8 * i));
    fwrite(lb, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    if (dlen) fwrite(data, 1, dlen, f);
    fclose(f);
    return p;
}

TEST(st_f16_bf16_conversion) {
    struct { uint16_t h; float f; } cases[] = {
        {0x0000, 0.0f}, {0x3C00, 1.0f}, {0xC000, -2.0f}, {0x3555, 0.333251953125f}, {0x7BFF, 65504.0f},
        {0x0001, 5.9604644775390625e-08f}, {0x03FF, 6.0975551605224609375e-05f}, {0x0400, 6.103515625e-05f},
        {0x8001, -5.9604644775390625e-08f}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_MSG(st_f16_to_f32(cases[i].h) == cases[i].f, "f16 0x%04x -> %.10g, expected %.10g", cases[i].h,
                  (double)st_f16_to_f32(cases[i].h), (double)cases[i].f);
    CHECK(isinf(st_f16_to_f32(0x7C00)) && st_f16_to_f32(0x7C00) > 0);
    CHECK(isinf(st_f16_to_f32(0xFC00)) && st_f16_to_f32(0xFC00) < 0);
    CHECK(isnan(st_f16_to_f32(0x7E00)));
    float nz = st_f16_to_f32(0x8000);
    CHECK(nz == 0.0f && signbit(nz));
    CHECK(st_bf16_to_f32(0x3F80) == 1.0f);
    CHECK(st_bf16_to_f32(0xC049) == -3.140625f);
    CHECK(isnan(st_bf16_to_f32(0x7FC0)));
}

TEST(st_round_trip_and_dtypes) {
    float w[6] = {1.5f, -2.25f, 3.0f, 0.0f, -0.0f, 1e-30f};
    int64_t nb = 12345678901LL;
    StOut t[2] = {{"a.weight", "F32", 2, {2, 3}, w}, {"a.num_batches_tracked", "I64", 0, {0}, &nb}};
    const char *meta[] = {"format", "pt", "k\"ey", "v\\al", NULL};
    char *p = t_path("rt.safetensors");
    st_write(p, t, 2, meta);
    StFile *f = st_open(p);
    REQUIRE(f->n == 2);
    CHECK_EQ_INT((f->data_start) % 8, 0);
    const StTensor *a = st_find(f, "a.weight");
    REQUIRE(a);
    CHECK_EQ_INT(a->ndim, 2);
    CHECK_EQ_INT(a->shape[1], 3);
    float back[6];
    st_read_f32(f, a, back);
    CHECK(memcmp(back, w, sizeof w) == 0);
    const StTensor *b = st_find(f, "a.num_batches_tracked");
    REQUIRE(b);
    CHECK_EQ_INT(b->ndim, 0);
    CHECK_EQ_INT(b->numel, 1);
    int64_t nb2 = 0;
    st_read_i64(f, b, &nb2);
    CHECK(nb2 == nb);
    CHECK_EQ_INT(f->nmeta, 2);
    CHECK_STR(f->meta_keys[1], "k\"ey");
    CHECK_STR(f->meta_vals[1], "v\\al");
    EXPECT_DIE(2, st_read_i64(f, a, &nb2), "expected an integer type");
    EXPECT_DIE(2, st_read_f32(f, b, back), "expected a float type");
    st_close(f);

    /* hand-made file with F16, BF16, F64, I32 and a \u escape in a name */
    uint8_t data[2 * 2 + 2 * 2 + 8 + 4];
    uint16_t h[2] = {0x3C00, 0xC000}, bf[2] = {0x3F80, 0x4049};
    double d = 0.1;
    int32_t i32 = -7;
    memcpy(data, h, 4);
    memcpy(data + 4, bf, 4);
    memcpy(data + 8, &d, 8);
    memcpy(data + 16, &i32, 4);
    const char *hdr = "{\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                      "\"b\\u00e9\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[4,8]},"
                      "\"d\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[8,16]},"
                      "\"i\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[16,20]}}   ";
    p = raw_file("mixed.safetensors", hdr, data, sizeof data, 0);
    f = st_open(p);
    float v[2];
    st_read_f32(f, st_find(f, "h"), v);
    CHECK(v[0] == 1.0f && v[1] == -2.0f);
    REQUIRE(st_find(f, "b\xc3\xa9"));
    st_read_f32(f, st_find(f, "b\xc3\xa9"), v);
    CHECK(v[0] == 1.0f && v[1] == 3.140625f);
    st_read_f32(f, st_find(f, "d"), v);
    CHECK(v[0] == 0.1f);
    int64_t iv;
    st_read_i64(f, st_find(f, "i"), &iv);
    CHECK_EQ_INT(iv, -7);
    st_close(f);
}

TEST(st_rejects_malformed_files) {
    uint8_t z[64] = {0};
    const char *ok_t = "\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
    char hdr[512];
    /* short file */
    char *p = t_path("short.safetensors");
    FILE *f = fopen(p, "wb");
    fwrite("abc", 1, 3, f);
    fclose(f);
    EXPECT_DIE(2, st_open(p), "shorter than the 8-byte header length");
    EXPECT_DIE(2, st_open(t_path("absent.safetensors")), "cannot open");
    snprintf(hdr, sizeof hdr, "{%s}", ok_t);
    EXPECT_DIE(2, st_open(raw_file("len.safetensors", hdr, z, 8, 1000)), "header length 1000 exceeds");
    EXPECT_DIE(2, st_open(raw_file("brace.safetensors", "[1, 2, 3]", z, 0, 0)), "does not start with '{'");
    EXPECT_DIE(2, st_open(raw_file("json1.safetensors", "{\"t\":{\"dtype\":\"F32\",}}", z, 0, 0)), "expected a string key");
    EXPECT_DIE(2, st_open(raw_file("json2.safetensors", "{\"t\":{\"dtype\":\"F32\"", z, 0, 0)), "unexpected end of header");
    EXPECT_DIE(2, st_open(raw_file("json3.safetensors", "{\"t\" 1}", z, 0, 0)), "expected ':'");
    EXPECT_DIE(2, st_open(raw_file("json4.safetensors", "{\"t\":\"x}", z, 0, 0)), "unterminated string");
    EXPECT_DIE(2, st_open(raw_file("json5.safetensors", "{} x", z, 0, 0)), "trailing characters");
    snprintf(hdr, sizeof hdr, "{%s,%s}", ok_t, ok_t);
    EXPECT_DIE(2, st_open(raw_file("dup.safetensors", hdr, z, 8, 0)), "duplicate key");
    EXPECT_DIE(2, st_open(raw_file("dtype.safetensors", "{\"t\":{\"dtype\":\"F24\",\"shape\":[2],\"data_offsets\":[0,6]}}", z, 6, 0)),
               "tensor 't' has unknown dtype 'F24'");
    EXPECT_DIE(2, st_open(raw_file("nodtype.safetensors", "{\"t\":{\"shape\":[2],\"data_offsets\":[0,8]}}", z, 8, 0)), "no dtype");
    EXPECT_DIE(2, st_open(raw_file("shape.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", z, 8, 0)),
               "not a non-negative integer");
    EXPECT_DIE(2, st_open(raw_file("shape2.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", z, 8, 0)),
               "not a non-negative integer");
    EXPECT_DIE(2, st_open(raw_file("off1.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", z, 8, 0)),
               "no data_offsets pair");
    EXPECT_DIE(2, st_open(raw_file("off2.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", z, 4, 0)),
               "ends at byte 8 of a data section of 4 bytes");
    EXPECT_DIE(2, st_open(raw_file("size.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", z, 8, 0)),
               "spans 8 bytes but its dtype and shape need 12");
    EXPECT_DIE(2, st_open(raw_file("gap.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", z, 12, 0)),
               "gap or overlap");
    EXPECT_DIE(2, st_open(raw_file("overlap.safetensors",
                                   "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", z, 12, 0)),
               "tensor 'b' starts at byte 4");
    EXPECT_DIE(2, st_open(raw_file("tail.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", z, 12, 0)),
               "cover 8 bytes of a data section of 12");
    EXPECT_DIE(2, st_open(raw_file("meta.safetensors", "{\"__metadata__\":{\"a\":1}}", z, 0, 0)), "entry 'a' is not a string");
    EXPECT_DIE(2, st_open(raw_file("deep.safetensors", "{\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}", z, 0, 0)), "nesting too deep");
    /* the message names the file */
    EXPECT_DIE(2, st_open(raw_file("named.safetensors", "{,}", z, 0, 0)), "named.safetensors");
    /* a well-formed file with no tensors is fine */
    StFile *e = st_open(raw_file("empty.safetensors", "{\"__metadata__\":{}}", z, 0, 0));
    CHECK_EQ_INT(e->n, 0);
    st_close(e);
}
