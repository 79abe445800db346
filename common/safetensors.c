/* safetensors.c: safetensors reader and writer, with the small JSON parser the header needs.
 * See safetensors.h for the format and the rules enforced. Little-endian hosts only (x86-64,
 * AArch64), like the format itself. */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "util.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

#define ST_MAX_HEADER (100u << 20) /* the reference implementation's limit */
#define JSON_MAX_DEPTH 16

/* ---- JSON ------------------------------------------------------------------------------------ */
typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } JType;

typedef struct JNode {
    JType type;
    char *str;          /* J_STR */
    int is_uint;        /* J_NUM: a plain non-negative integer that fits in 63 bits */
    uint64_t u;
    int n;              /* J_ARR, J_OBJ: children */
    struct JNode *items;
    char **keys;        /* J_OBJ */
} JNode;

typedef struct {
    const char *s;
    size_t len, pos;
    const char *path;
} JParser;

static _Noreturn void jfail(const JParser *p, const char *what) {
    die(EXIT_USAGE, "malformed safetensors file '%s': %s at byte %zu of the header", p->path, what, p->pos);
}

static void jskip_ws(JParser *p) {
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static int jpeek(JParser *p) {
    jskip_ws(p);
    return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static void jexpect(JParser *p, char c) {
    if (jpeek(p) != (unsigned char)c) {
        char msg[40];
        snprintf(msg, sizeof msg, "expected '%c'", c);
        jfail(p, msg);
    }
    p->pos++;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static unsigned jhex4(JParser *p) {
    if (p->pos + 4 > p->len) jfail(p, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval((unsigned char)p->s[p->pos++]);
        if (h < 0) jfail(p, "bad \\u escape");
        v = v * 16 + (unsigned)h;
    }
    return v;
}

static char *jstring(JParser *p) {
    jexpect(p, '"');
    size_t cap = 32, n = 0;
    char *out = xmalloc(cap);
    for (;;) {
        if (p->pos >= p->len) jfail(p, "unterminated string");
        unsigned char c = (unsigned char)p->s[p->pos++];
        if (n + 5 > cap) { cap *= 2; out = xrealloc(out, cap); }
        if (c == '"') break;
        if (c < 0x20) jfail(p, "control character in string");
        if (c != '\\') { out[n++] = (char)c; continue; }
        if (p->pos >= p->len) jfail(p, "unterminated string");
        char e = p->s[p->pos++];
        switch (e) {
        case '"': out[n++] = '"'; break;
        case '\\': out[n++] = '\\'; break;
        case '/': out[n++] = '/'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u': {
            unsigned cp = jhex4(p);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (p->pos + 2 > p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') jfail(p, "unpaired surrogate");
                p->pos += 2;
                unsigned lo = jhex4(p);
                if (lo < 0xDC00 || lo > 0xDFFF) jfail(p, "unpaired surrogate");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) jfail(p, "unpaired surrogate");
            if (cp == 0) jfail(p, "NUL character in string");
            if (cp < 0x80) out[n++] = (char)cp;
            else if (cp < 0x800) { out[n++] = (char)(0xC0 | (cp >> 6)); out[n++] = (char)(0x80 | (cp & 0x3F)); }
            else if (cp < 0x10000) {
                out[n++] = (char)(0xE0 | (cp >> 12)); out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[n++] = (char)(0x80 | (cp & 0x3F));
            } else {
                out[n++] = (char)(0xF0 | (cp >> 18)); out[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[n++] = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: jfail(p, "bad escape in string");
        }
    }
    out[n] = 0;
    return out;
}

static void jnumber(JParser *p, JNode *nd) {
    size_t start = p->pos;
    int neg = 0, plain = 1;
    if (p->s[p->pos] == '-') { neg = 1; p->pos++; }
    if (p->pos >= p->len || !(p->s[p->pos] >= '0' && p->s[p->pos] <= '9')) jfail(p, "bad number");
    if (p->s[p->pos] == '0' && p->pos + 1 < p->len && p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '9')
        jfail(p, "number with a leading zero");
    uint64_t u = 0;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        unsigned d = (unsigned)(p->s[p->pos++] - '0');
        if (u > (UINT64_C(1) << 62) / 10) plain = 0; /* too large for an index: not "plain" */
        else u = u * 10 + d;
    }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        plain = 0;
        p->pos++;
        if (p->pos >= p->len || !(p->s[p->pos] >= '0' && p->s[p->pos] <= '9')) jfail(p, "bad number");
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        plain = 0;
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (p->pos >= p->len || !(p->s[p->pos] >= '0' && p->s[p->pos] <= '9')) jfail(p, "bad number");
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    }
    (void)start;
    nd->type = J_NUM;
    nd->is_uint = plain && !neg;
    nd->u = u;
}

static void jvalue(JParser *p, JNode *nd, int depth);

static void jpush(JNode *nd, int *cap) {
    if (nd->n == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        nd->items = xrealloc(nd->items, sizeof(JNode) * (size_t)*cap);
        if (nd->type == J_OBJ) nd->keys = xrealloc(nd->keys, sizeof(char *) * (size_t)*cap);
    }
}

static void jvalue(JParser *p, JNode *nd, int depth) {
    memset(nd, 0, sizeof *nd);
    if (depth > JSON_MAX_DEPTH) jfail(p, "nesting too deep");
    int c = jpeek(p);
    if (c < 0) jfail(p, "unexpected end of header");
    if (c == '{') {
        p->pos++;
        nd->type = J_OBJ;
        int cap = 0;
        if (jpeek(p) == '}') { p->pos++; return; }
        for (;;) {
            if (jpeek(p) != '"') jfail(p, "expected a string key");
            char *key = jstring(p);
            for (int i = 0; i < nd->n; i++)
                if (strcmp(nd->keys[i], key) == 0) jfail(p, "duplicate key");
            jexpect(p, ':');
            jpush(nd, &cap);
            nd->keys[nd->n] = key;
            jvalue(p, &nd->items[nd->n], depth + 1);
            nd->n++;
            c = jpeek(p);
            if (c == ',') { p->pos++; continue; }
            if (c == '}') { p->pos++; return; }
            jfail(p, c < 0 ? "unexpected end of header" : "expected ',' or '}'");
        }
    } else if (c == '[') {
        p->pos++;
        nd->type = J_ARR;
        int cap = 0;
        if (jpeek(p) == ']') { p->pos++; return; }
        for (;;) {
            jpush(nd, &cap);
            jvalue(p, &nd->items[nd->n], depth + 1);
            nd->n++;
            c = jpeek(p);
            if (c == ',') { p->pos++; continue; }
            if (c == ']') { p->pos++; return; }
            jfail(p, c < 0 ? "unexpected end of header" : "expected ',' or ']'");
        }
    } else if (c == '"') {
        nd->type = J_STR;
        nd->str = jstring(p);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        jnumber(p, nd);
    } else if (p->len - p->pos >= 4 && memcmp(p->s + p->pos, "true", 4) == 0) {
        nd->type = J_BOOL; p->pos += 4;
    } else if (p->len - p->pos >= 5 && memcmp(p->s + p->pos, "false", 5) == 0) {
        nd->type = J_BOOL; p->pos += 5;
    } else if (p->len - p->pos >= 4 && memcmp(p->s + p->pos, "null", 4) == 0) {
        nd->type = J_NULL; p->pos += 4;
    } else jfail(p, "unexpected character");
}

static void jfree(JNode *nd) {
    free(nd->str);
    for (int i = 0; i < nd->n; i++) {
        jfree(&nd->items[i]);
        if (nd->keys) free(nd->keys[i]);
    }
    free(nd->items);
    free(nd->keys);
}

static const JNode *jget(const JNode *obj, const char *key) {
    for (int i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    return NULL;
}

/* ---- dtypes ---------------------------------------------------------------------------------- */
static const struct { const char *name; int size; } DTYPES[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2}, {"I8", 1},
    {"U64", 8}, {"U32", 4}, {"U16", 2}, {"U8", 1}, {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}, {NULL, 0}};

static int dtype_size(const char *d) {
    for (int i = 0; DTYPES[i].name; i++)
        if (strcmp(DTYPES[i].name, d) == 0) return DTYPES[i].size;
    return 0;
}

int st_dtype_is_float(const char *d) {
    return !strcmp(d, "F32") || !strcmp(d, "F16") || !strcmp(d, "BF16") || !strcmp(d, "F64");
}
int st_dtype_is_int(const char *d) { return !strcmp(d, "I64") || !strcmp(d, "I32"); }

float st_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else { /* subnormal: shift the mantissa up until the implicit bit appears */
            uint32_t e = 0;
            do { e++; man <<= 1; } while (!(man & 0x400u));
            bits = sign | ((113u - e) << 23) | ((man & 0x3FFu) << 13);
        }
    } else if (exp == 31) bits = sign | 0x7F800000u | (man << 13);
    else bits = sign | ((exp + 112u) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float st_bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* ---- reading --------------------------------------------------------------------------------- */
static _Noreturn void stfail(const char *path, const char *fmt, const char *a, uint64_t x, uint64_t y) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, a, (unsigned long long)x, (unsigned long long)y);
    die(EXIT_USAGE, "malformed safetensors file '%s': %s", path, msg);
}

static int cmp_begin(const void *a, const void *b) {
    const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end < y->end ? -1 : x->end > y->end);
}

static void pread_all(const StFile *f, void *buf, size_t n, uint64_t off) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(f->fd, (char *)buf + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) die(EXIT_RUNTIME, "cannot read '%s': %s", f->path, r < 0 ? strerror(errno) : "unexpected end of file");
        done += (size_t)r;
    }
}

StFile *st_open(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) die(EXIT_USAGE, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) { close(fd); die(EXIT_USAGE, "cannot open '%s': not a regular file", path); }
    StFile *f = xcalloc(1, sizeof *f);
    f->path = xstrdup(path);
    f->fd = fd;
    f->file_size = (uint64_t)sb.st_size;
    if (f->file_size < 8) stfail(path, "%sfile of %llu bytes is shorter than the 8-byte header length", "", f->file_size, 0);
    uint8_t lb[8];
    pread_all(f, lb, 8, 0);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | lb[i];
    if (hlen > f->file_size - 8)
        stfail(path, "%sheader length %llu exceeds the %llu bytes after the length field", "", hlen, f->file_size - 8);
    if (hlen > ST_MAX_HEADER) stfail(path, "%sheader length %llu exceeds the limit of %llu bytes", "", hlen, ST_MAX_HEADER);
    if (hlen < 2) stfail(path, "%sheader length %llu is too small for a JSON object", "", hlen, 0);
    char *hdr = xmalloc((size_t)hlen + 1);
    pread_all(f, hdr, (size_t)hlen, 8);
    hdr[hlen] = 0;
    if (hdr[0] != '{') stfail(path, "%sheader does not start with '{'", "", 0, 0);
    f->data_start = 8 + hlen;
    f->data_len = f->file_size - f->data_start;

    JParser p = {hdr, (size_t)hlen, 0, path};
    JNode root;
    jvalue(&p, &root, 0);
    if (jpeek(&p) >= 0) jfail(&p, "trailing characters after the header object");
    if (root.type != J_OBJ) stfail(path, "%sheader is not a JSON object", "", 0, 0);

    f->t = xcalloc((size_t)root.n + 1, sizeof(StTensor));
    for (int i = 0; i < root.n; i++) {
        const char *key = root.keys[i];
        const JNode *v = &root.items[i];
        if (strcmp(key, "__metadata__") == 0) {
            if (v->type != J_OBJ) stfail(path, "%s__metadata__ is not an object", "", 0, 0);
            f->meta_keys = xcalloc((size_t)v->n + 1, sizeof(char *));
            f->meta_vals = xcalloc((size_t)v->n + 1, sizeof(char *));
            for (int j = 0; j < v->n; j++) {
                if (v->items[j].type != J_STR) stfail(path, "__metadata__ entry '%s' is not a string", v->keys[j], 0, 0);
                f->meta_keys[j] = xstrdup(v->keys[j]);
                f->meta_vals[j] = xstrdup(v->items[j].str);
            }
            f->nmeta = v->n;
            continue;
        }
        if (v->type != J_OBJ) stfail(path, "entry '%s' is not an object", key, 0, 0);
        StTensor *t = &f->t[f->n];
        const JNode *dt = jget(v, "dtype"), *sh = jget(v, "shape"), *off = jget(v, "data_offsets");
        if (!dt || dt->type != J_STR) stfail(path, "tensor '%s' has no dtype string", key, 0, 0);
        if (!sh || sh->type != J_ARR) stfail(path, "tensor '%s' has no shape array", key, 0, 0);
        if (!off || off->type != J_ARR || off->n != 2) stfail(path, "tensor '%s' has no data_offsets pair", key, 0, 0);
        int dsize = dtype_size(dt->str);
        if (!dsize) {
            char msg[200];
            snprintf(msg, sizeof msg, "tensor '%s' has unknown dtype '%.40s'", key, dt->str);
            die(EXIT_USAGE, "malformed safetensors file '%s': %s", path, msg);
        }
        if (sh->n > ST_MAX_DIMS) stfail(path, "tensor '%s' has %llu dimensions (at most %llu supported)", key, (uint64_t)sh->n, ST_MAX_DIMS);
        t->name = xstrdup(key);
        snprintf(t->dtype, sizeof t->dtype, "%s", dt->str);
        t->ndim = sh->n;
        uint64_t numel = 1;
        for (int d = 0; d < sh->n; d++) {
            if (sh->items[d].type != J_NUM || !sh->items[d].is_uint) stfail(path, "tensor '%s' has a shape entry that is not a non-negative integer", key, 0, 0);
            uint64_t s = sh->items[d].u;
            if (s && numel > (UINT64_C(1) << 60) / s) stfail(path, "tensor '%s' is too large", key, 0, 0);
            numel *= s;
            t->shape[d] = (int64_t)s;
        }
        t->numel = (int64_t)numel;
        for (int d = 0; d < 2; d++)
            if (off->items[d].type != J_NUM || !off->items[d].is_uint) stfail(path, "tensor '%s' has data_offsets that are not non-negative integers", key, 0, 0);
        t->begin = off->items[0].u;
        t->end = off->items[1].u;
        if (t->end < t->begin) stfail(path, "tensor '%s' has data_offsets [%llu, %llu] in the wrong order", key, t->begin, t->end);
        if (t->end > f->data_len) stfail(path, "tensor '%s' ends at byte %llu of a data section of %llu bytes", key, t->end, f->data_len);
        if (t->end - t->begin != numel * (uint64_t)dsize)
            stfail(path, "tensor '%s' spans %llu bytes but its dtype and shape need %llu", key, t->end - t->begin, numel * (uint64_t)dsize);
        f->n++;
    }
    /* the tensors must tile the data section exactly */
    StTensor **order = xmalloc(sizeof(StTensor *) * ((size_t)f->n + 1));
    for (int i = 0; i < f->n; i++) order[i] = &f->t[i];
    qsort(order, (size_t)f->n, sizeof *order, cmp_begin);
    uint64_t at = 0;
    for (int i = 0; i < f->n; i++) {
        if (order[i]->begin != at)
            stfail(path, "tensor '%s' starts at byte %llu of the data section, expected %llu (gap or overlap)", order[i]->name, order[i]->begin, at);
        at = order[i]->end;
    }
    if (at != f->data_len) stfail(path, "%sthe tensors cover %llu bytes of a data section of %llu bytes", "", at, f->data_len);
    free(order);
    jfree(&root);
    free(hdr);
    return f;
}

void st_close(StFile *f) {
    if (!f) return;
    close(f->fd);
    for (int i = 0; i < f->n; i++) free(f->t[i].name);
    for (int i = 0; i < f->nmeta; i++) { free(f->meta_keys[i]); free(f->meta_vals[i]); }
    free(f->meta_keys);
    free(f->meta_vals);
    free(f->t);
    free(f->path);
    free(f);
}

const StTensor *st_find(const StFile *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

void st_read_f32(const StFile *f, const StTensor *t, float *out) {
    if (!st_dtype_is_float(t->dtype))
        die(EXIT_USAGE, "tensor '%s' in '%s' has dtype %s; expected a float type (F32, F16, BF16, F64)", t->name, f->path, t->dtype);
    size_t n = (size_t)t->numel, bytes = (size_t)(t->end - t->begin);
    if (!strcmp(t->dtype, "F32")) { pread_all(f, out, bytes, f->data_start + t->begin); return; }
    void *raw = xmalloc(bytes ? bytes : 1);
    pread_all(f, raw, bytes, f->data_start + t->begin);
    if (!strcmp(t->dtype, "F64")) {
        const double *d = raw;
        for (size_t i = 0; i < n; i++) out[i] = (float)d[i];
    } else {
        const uint16_t *h = raw;
        int bf = !strcmp(t->dtype, "BF16");
        for (size_t i = 0; i < n; i++) out[i] = bf ? st_bf16_to_f32(h[i]) : st_f16_to_f32(h[i]);
    }
    free(raw);
}

void st_read_i64(const StFile *f, const StTensor *t, int64_t *out) {
    if (!st_dtype_is_int(t->dtype))
        die(EXIT_USAGE, "tensor '%s' in '%s' has dtype %s; expected an integer type (I64, I32)", t->name, f->path, t->dtype);
    size_t n = (size_t)t->numel, bytes = (size_t)(t->end - t->begin);
    if (!strcmp(t->dtype, "I64")) { pread_all(f, out, bytes, f->data_start + t->begin); return; }
    int32_t *raw = xmalloc(bytes ? bytes : 1);
    pread_all(f, raw, bytes, f->data_start + t->begin);
    for (size_t i = 0; i < n; i++) out[i] = raw[i];
    free(raw);
}

/* ---- writing --------------------------------------------------------------------------------- */
static char *json_escape_cat(char *acc, size_t *len, size_t *cap, const char *s) {
    for (; *s; s++) {
        char tmp[8];
        const char *piece = tmp;
        unsigned char c = (unsigned char)*s;
        if (c == '"') piece = "\\\"";
        else if (c == '\\') piece = "\\\\";
        else if (c < 0x20) snprintf(tmp, sizeof tmp, "\\u%04x", c);
        else { tmp[0] = (char)c; tmp[1] = 0; }
        size_t k = strlen(piece);
        if (*len + k + 1 > *cap) { *cap = 2 * (*len + k + 1); acc = xrealloc(acc, *cap); }
        memcpy(acc + *len, piece, k + 1);
        *len += k;
    }
    return acc;
}

static char *raw_cat(char *acc, size_t *len, size_t *cap, const char *s) {
    size_t k = strlen(s);
    if (*len + k + 1 > *cap) { *cap = 2 * (*len + k + 1); acc = xrealloc(acc, *cap); }
    memcpy(acc + *len, s, k + 1);
    *len += k;
    return acc;
}

void st_write(const char *path, const StOut *t, int n, const char *const *meta) {
    size_t len = 0, cap = 256;
    char *h = xmalloc(cap);
    h[0] = 0;
    h = raw_cat(h, &len, &cap, "{");
    int first = 1;
    if (meta && meta[0]) {
        h = raw_cat(h, &len, &cap, "\"__metadata__\":{");
        for (int i = 0; meta[i] && meta[i + 1]; i += 2) {
            if (i) h = raw_cat(h, &len, &cap, ",");
            h = raw_cat(h, &len, &cap, "\"");
            h = json_escape_cat(h, &len, &cap, meta[i]);
            h = raw_cat(h, &len, &cap, "\":\"");
            h = json_escape_cat(h, &len, &cap, meta[i + 1]);
            h = raw_cat(h, &len, &cap, "\"");
        }
        h = raw_cat(h, &len, &cap, "}");
        first = 0;
    }
    uint64_t off = 0;
    size_t *bytes = xmalloc(sizeof(size_t) * ((size_t)n + 1));
    for (int i = 0; i < n; i++) {
        int es = !strcmp(t[i].dtype, "F32") ? 4 : !strcmp(t[i].dtype, "I64") ? 8 : 0;
        if (!es) die(EXIT_RUNTIME, "internal: st_write of dtype %s", t[i].dtype);
        uint64_t numel = 1;
        char num[64];
        if (!first) h = raw_cat(h, &len, &cap, ",");
        first = 0;
        h = raw_cat(h, &len, &cap, "\"");
        h = json_escape_cat(h, &len, &cap, t[i].name);
        h = raw_cat(h, &len, &cap, "\":{\"dtype\":\"");
        h = raw_cat(h, &len, &cap, t[i].dtype);
        h = raw_cat(h, &len, &cap, "\",\"shape\":[");
        for (int d = 0; d < t[i].ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
            h = raw_cat(h, &len, &cap, num);
            numel *= (uint64_t)t[i].shape[d];
        }
        bytes[i] = (size_t)(numel * (uint64_t)es);
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + bytes[i]));
        h = raw_cat(h, &len, &cap, num);
        off += bytes[i];
    }
    h = raw_cat(h, &len, &cap, "}");
    while (len % 8) h = raw_cat(h, &len, &cap, " ");

    char *tmp = xasprintf("%s.tmp", path);
    int handle = cleanup_add_file(tmp);
    FILE *fp = fopen(tmp, "wb");
    if (!fp) die(EXIT_RUNTIME, "cannot create '%s': %s", tmp, strerror(errno));
    uint8_t lb[8];
    for (int i = 0; i < 8; i++) lb[i] = (uint8_t)((uint64_t)len >> (8 * i));
    int ok = fwrite(lb, 1, 8, fp) == 8 && fwrite(h, 1, len, fp) == len;
    for (int i = 0; ok && i < n; i++) ok = bytes[i] == 0 || fwrite(t[i].data, 1, bytes[i], fp) == bytes[i];
    if (fclose(fp) != 0) ok = 0;
    if (!ok) die(EXIT_RUNTIME, "cannot write '%s': %s", path, strerror(errno));
    if (rename(tmp, path) != 0) die(EXIT_RUNTIME, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    cleanup_forget(handle);
    free(tmp);
    free(bytes);
    free(h);
}
