/* util.c: see util.h. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"

const char *const LAYER_NAMES[N_LAYERS] = {"layer1.0", "layer1.1", "layer2.0", "layer2.1",
                                           "layer3.0", "layer3.1", "layer4.0", "layer4.1"};

int layer_index(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < N_LAYERS; i++) {
        const char *l = LAYER_NAMES[i];
        if (strlen(name) != strlen(l)) continue;
        int ok = 1;
        for (size_t k = 0; l[k]; k++)
            if (!(name[k] == l[k] || (l[k] == '.' && name[k] == '_'))) ok = 0;
        if (ok) return i;
    }
    return -1;
}

int parse_layer_list(const char *list, int order[N_LAYERS]) {
    if (!list || !*list) die(EXIT_USAGE, "empty layer list");
    if (strcmp(list, "all") == 0) {
        for (int i = 0; i < N_LAYERS; i++) order[i] = i;
        return N_LAYERS;
    }
    int n = 0, seen[N_LAYERS] = {0};
    char **items = str_split(list, ',', NULL);
    for (char **it = items; *it; it++) {
        int li = layer_index(*it);
        if (li < 0) die(EXIT_USAGE, "unknown layer '%s' (layers are layer1.0 ... layer4.1)", *it);
        if (seen[li]) continue;
        seen[li] = 1;
        order[n++] = li;
    }
    str_list_free(items);
    if (n == 0) die(EXIT_USAGE, "empty layer list");
    return n;
}

char **str_split(const char *s, char sep, int *n) {
    int cap = 8, cnt = 0;
    char **out = xmalloc(sizeof(char *) * (size_t)cap);
    const char *p = s ? s : "";
    while (1) {
        const char *e = strchr(p, sep);
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && isspace((unsigned char)*p)) { p++; len--; }
        while (len && isspace((unsigned char)p[len - 1])) len--;
        if (len) {
            if (cnt + 2 > cap) { cap *= 2; out = xrealloc(out, sizeof(char *) * (size_t)cap); }
            out[cnt] = xmalloc(len + 1);
            memcpy(out[cnt], p, len);
            out[cnt][len] = 0;
            cnt++;
        }
        if (!e) break;
        p = e + 1;
    }
    out[cnt] = NULL;
    if (n) *n = cnt;
    return out;
}

void str_list_free(char **list) {
    if (!list) return;
    for (char **p = list; *p; p++) free(*p);
    free(list);
}

int str_starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }
int str_ends(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}
int dir_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

void mkdir_p(const char *path) {
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) die(EXIT_RUNTIME, "cannot create directory '%s': %s", p, strerror(errno));
        *s = '/';
    }
    if (mkdir(p, 0777) != 0 && errno != EEXIST) die(EXIT_RUNTIME, "cannot create directory '%s': %s", p, strerror(errno));
    free(p);
}

char *read_text_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 >= cap) { cap *= 2; buf = xrealloc(buf, cap); }
    }
    int err = ferror(f);
    fclose(f);
    if (err) { free(buf); return NULL; }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

char *path_join(const char *a, const char *b) {
    if (!a || !*a) return xstrdup(b);
    if (b[0] == '/') return xstrdup(b);
    size_t la = strlen(a);
    return xasprintf("%s%s%s", a, a[la - 1] == '/' ? "" : "/", b);
}

void write_file_atomic(const char *path, const void *data, size_t len) {
    char *tmp = xasprintf("%s.tmp", path);
    int h = cleanup_add_file(tmp);
    FILE *f = fopen(tmp, "wb");
    if (!f) die(EXIT_RUNTIME, "cannot write '%s': %s", tmp, strerror(errno));
    if (fwrite(data, 1, len, f) != len || fclose(f) != 0) die(EXIT_RUNTIME, "cannot write '%s': %s", tmp, strerror(errno));
    if (rename(tmp, path) != 0) die(EXIT_RUNTIME, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    cleanup_forget(h);
    free(tmp);
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void utc_timestamp(char buf[32]) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void format_duration(double s, char buf[32]) {
    if (s < 0 || s != s) { snprintf(buf, 32, "?"); return; }
    if (s < 60) snprintf(buf, 32, "%.1fs", s);
    else if (s < 3600) snprintf(buf, 32, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else if (s < 86400 * 2) snprintf(buf, 32, "%dh%02dm", (int)(s / 3600), ((int)s % 3600) / 60);
    else snprintf(buf, 32, "%.1fd", s / 86400);
}

/* 64-bit mix over 8-byte little-endian words: h = rotl(h ^ (w * P1), 31) * P2, then a final
 * avalanche. Constants are odd 64-bit numbers with well-spread bits. */
#define HP1 0x9E3779B97F4A7C15ull
#define HP2 0xC2B2AE3D27D4EB4Full
static uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static uint64_t hash_step(uint64_t h, uint64_t w) { return rotl64(h ^ (w * HP1), 31) * HP2; }
static uint64_t hash_final(uint64_t h, uint64_t len) {
    h ^= len;
    h ^= h >> 33; h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33; h *= 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 33;
    return h;
}
static uint64_t hash_block(uint64_t h, const unsigned char *p, size_t len) {
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = hash_step(h, w);
    }
    if (i < len) {
        uint64_t w = 0;
        memcpy(&w, p + i, len - i);
        h = hash_step(h, w);
    }
    return h;
}

uint64_t hash_bytes(const void *data, size_t len, uint64_t seed) {
    return hash_final(hash_block(seed ^ HP2, data, len), len);
}

int hash_file(const char *path, char hex[17], uint64_t *size) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    enum { CHUNK = 1 << 20 }; /* multiple of 8 so words never straddle reads */
    unsigned char *buf = xmalloc(CHUNK);
    uint64_t h = HP2, total = 0;
    ssize_t r;
    size_t fill = 0;
    while ((r = read(fd, buf + fill, CHUNK - fill)) > 0) {
        fill += (size_t)r;
        total += (uint64_t)r;
        if (fill == CHUNK) { h = hash_block(h, buf, fill); fill = 0; }
    }
    int err = r < 0;
    if (fill) h = hash_block(h, buf, fill);
    free(buf);
    close(fd);
    if (err) return -1;
    snprintf(hex, 17, "%016llx", (unsigned long long)hash_final(h, total));
    if (size) *size = total;
    return 0;
}
