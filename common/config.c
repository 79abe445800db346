/* config.c: YAML (libyaml document API) and command line into typed structs. See config.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "error.h"
#include "util.h"
#include "version.h"

RunArgs g_run;

/* Every top-level section any tool reads. A key outside this list (and outside name/seed/device)
 * is a typo and an error for every tool. */
static const char *const KNOWN_SECTIONS[] = {
    "model", "data", "sheet", "swapopt", "train", "stage1", "tdann", "extract",
    "stimuli", "probe_gratings", "probe_floc", "maps", "pipeline", NULL};
static const char *const RUN_KEYS[] = {"name", "seed", "device", NULL};

int cfg_is_known_section(const char *name) {
    for (int i = 0; KNOWN_SECTIONS[i]; i++)
        if (strcmp(KNOWN_SECTIONS[i], name) == 0) return 1;
    return 0;
}

static int is_run_key(const char *name) {
    for (int i = 0; RUN_KEYS[i]; i++)
        if (strcmp(RUN_KEYS[i], name) == 0) return 1;
    return 0;
}

/* ---- fields that have been given a value (config or command line) ---------------------------- */
static const Field **g_set = NULL;
static int g_nset = 0, g_capset = 0;
static void mark_set(const Field *f) {
    for (int i = 0; i < g_nset; i++) if (g_set[i] == f) return;
    if (g_nset == g_capset) { g_capset = g_capset ? 2 * g_capset : 32; g_set = xrealloc(g_set, sizeof *g_set * (size_t)g_capset); }
    g_set[g_nset++] = f;
}
static int is_set(const Field *f) {
    for (int i = 0; i < g_nset; i++) if (g_set[i] == f) return 1;
    return 0;
}

/* ---- scalar parsing ---------------------------------------------------------------------------- */
static void *field_ptr(const Section *s, const Field *f) { return (char *)s->base + f->offset; }

static int parse_bool(const char *t, int *out) {
    static const char *yes[] = {"true", "yes", "on", "1", NULL}, *no[] = {"false", "no", "off", "0", NULL};
    for (int i = 0; yes[i]; i++) if (strcasecmp(t, yes[i]) == 0) { *out = 1; return 0; }
    for (int i = 0; no[i]; i++) if (strcasecmp(t, no[i]) == 0) { *out = 0; return 0; }
    return -1;
}

static int parse_int64(const char *t, int64_t *out) {
    if (!*t) return -1;
    errno = 0;
    char *end;
    long long v = strtoll(t, &end, 10);
    if (errno || *end) {
        /* accept integral floats written as 5e7 or 1.0e6 */
        double d = strtod(t, &end);
        if (*end || !isfinite(d) || d != floor(d) || fabs(d) > 9.2e18) return -1;
        v = (long long)d;
    }
    *out = v;
    return 0;
}

static int parse_double(const char *t, double *out) {
    if (!*t) return -1;
    char *end;
    errno = 0;
    double v = strtod(t, &end);
    if (errno == ERANGE || *end || !isfinite(v)) {
        if (strcasecmp(t, ".inf") == 0) { *out = INFINITY; return 0; }
        return -1;
    }
    *out = v;
    return 0;
}

static int range_ok(const Field *f, double v, char *err, size_t errlen) {
    if (f->min < f->max && (v < f->min || v > f->max)) {
        snprintf(err, errlen, "%g is out of range [%g, %g]", v, f->min, f->max);
        return -1;
    }
    return 0;
}

static int enum_index(const char *choices, const char *t) {
    int n = 0, idx = 0;
    char **items = str_split(choices, '|', &n);
    int found = -1;
    for (idx = 0; idx < n; idx++) if (strcmp(items[idx], t) == 0) found = idx;
    str_list_free(items);
    return found;
}

static char *enum_name(const char *choices, int i) {
    int n = 0;
    char **items = str_split(choices, '|', &n);
    char *r = xstrdup(i >= 0 && i < n ? items[i] : "?");
    str_list_free(items);
    return r;
}

/* One list item or scalar into a temporary; kind: 0 int, 1 float, 2 string. */
static int parse_item(const Field *f, int kind, const char *t, double *num, char *err, size_t errlen) {
    if (kind == 2) return 0;
    if (kind == 0) {
        int64_t v;
        if (parse_int64(t, &v) != 0) { snprintf(err, errlen, "expected an integer, got '%s'", t); return -1; }
        *num = (double)v;
    } else {
        if (parse_double(t, num) != 0) { snprintf(err, errlen, "expected a number, got '%s'", t); return -1; }
    }
    return range_ok(f, *num, err, errlen);
}

static int list_kind(FieldType t) { return t == F_INT_LIST ? 0 : t == F_FLOAT_LIST ? 1 : 2; }
static int is_list(FieldType t) { return t == F_INT_LIST || t == F_FLOAT_LIST || t == F_STRING_LIST; }

static void list_clear(const Section *s, const Field *f) {
    void *p = field_ptr(s, f);
    if (f->type == F_FLOAT_LIST) { FloatList *l = p; free(l->v); l->v = NULL; l->n = 0; }
    if (f->type == F_INT_LIST) { IntList *l = p; free(l->v); l->v = NULL; l->n = 0; }
    if (f->type == F_STRING_LIST) {
        StrList *l = p;
        for (int i = 0; i < l->n; i++) free(l->v[i]);
        free(l->v); l->v = NULL; l->n = 0;
    }
}

static int list_append(const Section *s, const Field *f, const char *t, char *err, size_t errlen) {
    double num = 0;
    if (parse_item(f, list_kind(f->type), t, &num, err, errlen) != 0) return -1;
    void *p = field_ptr(s, f);
    if (f->type == F_FLOAT_LIST) { FloatList *l = p; l->v = xrealloc(l->v, sizeof(float) * (size_t)(l->n + 1)); l->v[l->n++] = (float)num; }
    if (f->type == F_INT_LIST) { IntList *l = p; l->v = xrealloc(l->v, sizeof(int) * (size_t)(l->n + 1)); l->v[l->n++] = (int)num; }
    if (f->type == F_STRING_LIST) { StrList *l = p; l->v = xrealloc(l->v, sizeof(char *) * (size_t)(l->n + 1)); l->v[l->n++] = xstrdup(t); }
    return 0;
}

int cfg_set_from_text(const Section *s, const Field *f, const char *text, char *err, size_t errlen) {
    void *p = field_ptr(s, f);
    const char *t = text ? text : "";
    if (is_list(f->type)) {
        /* "[a, b]", "a,b" or a single item */
        size_t n = strlen(t);
        char *inner = xstrdup(t);
        if (n >= 2 && t[0] == '[' && t[n - 1] == ']') { memmove(inner, t + 1, n - 2); inner[n - 2] = 0; }
        list_clear(s, f);
        int cnt = 0;
        char **items = str_split(inner, ',', &cnt);
        int rc = 0;
        for (int i = 0; i < cnt && rc == 0; i++) {
            char *it = items[i];
            size_t il = strlen(it);
            if (il >= 2 && (it[0] == '"' || it[0] == '\'') && it[il - 1] == it[0]) { it[il - 1] = 0; it++; }
            rc = list_append(s, f, it, err, errlen);
        }
        str_list_free(items);
        free(inner);
        return rc;
    }
    double num = 0;
    switch (f->type) {
    case F_BOOL: {
        int b;
        if (parse_bool(t, &b) != 0) { snprintf(err, errlen, "expected true or false, got '%s'", t); return -1; }
        *(int *)p = b;
        return 0;
    }
    case F_INT: case F_INT64:
        if (parse_item(f, 0, t, &num, err, errlen) != 0) return -1;
        if (f->type == F_INT) {
            if (fabs(num) > 2147483647.0) { snprintf(err, errlen, "%s does not fit in a 32-bit integer", t); return -1; }
            *(int *)p = (int)num;
        } else {
            int64_t v; parse_int64(t, &v); *(int64_t *)p = v;
        }
        return 0;
    case F_FLOAT: case F_DOUBLE:
        if (parse_item(f, 1, t, &num, err, errlen) != 0) return -1;
        if (f->type == F_FLOAT) *(float *)p = (float)num; else *(double *)p = num;
        return 0;
    case F_STRING: {
        char **sp = p;
        free(*sp);
        *sp = xstrdup(t);
        return 0;
    }
    case F_ENUM: {
        int i = enum_index(f->choices, t);
        if (i < 0) { snprintf(err, errlen, "expected one of %s, got '%s'", f->choices, t); return -1; }
        *(int *)p = i;
        return 0;
    }
    default:
        snprintf(err, errlen, "internal: unhandled field type");
        return -1;
    }
}

void cfg_apply_defaults(const Section *s) {
    for (const Field *f = s->fields; f->key || f->flag; f++) {
        void *p = field_ptr(s, f);
        if (f->type == F_STRING) { char **sp = p; *sp = NULL; }
        if (is_list(f->type)) memset(p, 0, f->type == F_STRING_LIST ? sizeof(StrList) : f->type == F_INT_LIST ? sizeof(IntList) : sizeof(FloatList));
        char err[256];
        const char *d = f->def ? f->def : "";
        if (!*d && f->type != F_STRING && !is_list(f->type)) {
            memset(p, 0, f->type == F_INT64 ? 8 : f->type == F_DOUBLE ? 8 : 4);
            continue;
        }
        if (cfg_set_from_text(s, f, d, err, sizeof err) != 0)
            die(EXIT_RUNTIME, "internal: bad default for '%s': %s", f->key ? f->key : f->flag, err);
    }
}

void cfg_free_lists(const Section *s) {
    for (const Field *f = s->fields; f->key || f->flag; f++) {
        if (is_list(f->type)) list_clear(s, f);
        if (f->type == F_STRING) { char **sp = field_ptr(s, f); free(*sp); *sp = NULL; }
    }
}

/* ---- YAML ------------------------------------------------------------------------------------ */
typedef struct { yaml_document_t doc; const char *path; } Yaml;

static _Noreturn void yaml_fail(const char *path, const yaml_node_t *n, const char *fmt, ...) PRINTF_LIKE(3, 4);
static void yaml_fail(const char *path, const yaml_node_t *n, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n) die(EXIT_USAGE, "%s:%zu:%zu: %s", path, n->start_mark.line + 1, n->start_mark.column + 1, msg);
    die(EXIT_USAGE, "%s: %s", path, msg);
}

static void yaml_open(Yaml *y, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) die(EXIT_USAGE, "cannot open config '%s': %s", path, strerror(errno));
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &y->doc)) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", parser.problem ? parser.problem : "malformed YAML");
        size_t line = parser.problem_mark.line + 1, col = parser.problem_mark.column + 1;
        yaml_parser_delete(&parser);
        fclose(f);
        die(EXIT_USAGE, "%s:%zu:%zu: %s", path, line, col, msg);
    }
    yaml_parser_delete(&parser);
    fclose(f);
    y->path = path;
}

static const char *scalar(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static int scalar_is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *t = scalar(n);
    return !*t || strcmp(t, "~") == 0 || strcmp(t, "null") == 0;
}

static void assign_node(Yaml *y, const Section *s, const Field *f, const char *fullkey, yaml_node_t *v) {
    char err[256];
    if (is_list(f->type)) {
        list_clear(s, f);
        if (v->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
                yaml_node_t *e = yaml_document_get_node(&y->doc, *it);
                if (e->type != YAML_SCALAR_NODE) yaml_fail(y->path, e, "key '%s.%s': list items must be plain values", s->name, fullkey);
                if (list_append(s, f, scalar(e), err, sizeof err) != 0) yaml_fail(y->path, e, "key '%s.%s': %s", s->name, fullkey, err);
            }
        } else if (v->type == YAML_SCALAR_NODE) {
            if (!scalar_is_null(v) && cfg_set_from_text(s, f, scalar(v), err, sizeof err) != 0)
                yaml_fail(y->path, v, "key '%s.%s': %s", s->name, fullkey, err);
        } else {
            yaml_fail(y->path, v, "key '%s.%s': expected a list", s->name, fullkey);
        }
        mark_set(f);
        return;
    }
    if (v->type != YAML_SCALAR_NODE) yaml_fail(y->path, v, "key '%s.%s': expected a single value, got a %s", s->name, fullkey,
                                               v->type == YAML_SEQUENCE_NODE ? "list" : "mapping");
    if (scalar_is_null(v) && f->type != F_STRING) yaml_fail(y->path, v, "key '%s.%s': missing value", s->name, fullkey);
    if (cfg_set_from_text(s, f, scalar_is_null(v) ? "" : scalar(v), err, sizeof err) != 0)
        yaml_fail(y->path, v, "key '%s.%s': %s", s->name, fullkey, err);
    mark_set(f);
}

static const Field *find_field(const Section *s, const char *key) {
    for (const Field *f = s->fields; f->key || f->flag; f++)
        if (f->key && strcmp(f->key, key) == 0) return f;
    return NULL;
}

static int field_has_prefix(const Section *s, const char *prefix) {
    size_t n = strlen(prefix);
    for (const Field *f = s->fields; f->key || f->flag; f++)
        if (f->key && strncmp(f->key, prefix, n) == 0 && f->key[n] == '.') return 1;
    return 0;
}

static void load_mapping(Yaml *y, const Section *s, yaml_node_t *map, const char *prefix) {
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&y->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&y->doc, p->value);
        if (k->type != YAML_SCALAR_NODE) yaml_fail(y->path, k, "section '%s': keys must be plain names", s->name);
        char *full = *prefix ? xasprintf("%s.%s", prefix, scalar(k)) : xstrdup(scalar(k));
        const Field *f = find_field(s, full);
        if (f) assign_node(y, s, f, full, v);
        else if (v->type == YAML_MAPPING_NODE && field_has_prefix(s, full)) load_mapping(y, s, v, full);
        else yaml_fail(y->path, k, "unknown key '%s' in section '%s'", full, s->name);
        free(full);
    }
}

static void set_run_key(Yaml *y, const char *key, yaml_node_t *v) {
    if (v->type != YAML_SCALAR_NODE) yaml_fail(y->path, v, "key '%s': expected a single value", key);
    const char *t = scalar(v);
    if (strcmp(key, "seed") == 0) {
        int64_t s;
        if (parse_int64(t, &s) != 0 || s < 0) yaml_fail(y->path, v, "key 'seed': expected a non-negative integer, got '%s'", t);
        g_run.seed = s;
    } else if (strcmp(key, "device") == 0) {
        free(g_run.device_spec);
        g_run.device_spec = xstrdup(t);
    } else if (strcmp(key, "name") == 0) {
        free(g_run.run_name);
        g_run.run_name = xstrdup(t);
    }
}

void cfg_load_file(const char *path, const Section *secs, int nsec) {
    Yaml y;
    yaml_open(&y, path);
    yaml_node_t *root = yaml_document_get_root_node(&y.doc);
    if (!root) { yaml_document_delete(&y.doc); return; } /* empty file */
    if (root->type != YAML_MAPPING_NODE) yaml_fail(path, root, "the top level must be a mapping of sections");
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&y.doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&y.doc, p->value);
        if (k->type != YAML_SCALAR_NODE) yaml_fail(path, k, "top-level keys must be plain names");
        const char *name = scalar(k);
        if (is_run_key(name)) { set_run_key(&y, name, v); continue; }
        if (!cfg_is_known_section(name)) yaml_fail(path, k, "unknown section '%s'", name);
        for (int i = 0; i < nsec; i++) {
            if (!secs[i].name || strcmp(secs[i].name, name) != 0) continue;
            if (v->type == YAML_MAPPING_NODE) load_mapping(&y, &secs[i], v, "");
            else if (!scalar_is_null(v)) yaml_fail(path, v, "section '%s' must be a mapping", name);
        }
    }
    yaml_document_delete(&y.doc);
}

/* ---- dumping ----------------------------------------------------------------------------------- */
static char *cat(char *acc, const char *s) {
    size_t a = acc ? strlen(acc) : 0, b = strlen(s);
    acc = xrealloc(acc, a + b + 1);
    memcpy(acc + a, s, b + 1);
    return acc;
}

static int needs_quotes(const char *s) {
    if (!*s) return 1;
    if (strchr("-?:,[]{}#&*!|>'\"%@` ", s[0])) return 1;
    for (const char *p = s; *p; p++) if (strchr(":#\"\\\n\t", *p) || (unsigned char)*p < 32) return 1;
    int b;
    double d;
    if (parse_bool(s, &b) == 0 || parse_double(s, &d) == 0 || strcmp(s, "null") == 0 || strcmp(s, "~") == 0) return 1;
    return 0;
}

static char *quote(const char *s) {
    if (!needs_quotes(s)) return xstrdup(s);
    size_t n = strlen(s);
    char *o = xmalloc(n * 2 + 3), *q = o;
    *q++ = '"';
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\') *q++ = '\\';
        if (*p == '\n') { *q++ = '\\'; *q++ = 'n'; continue; }
        *q++ = *p;
    }
    *q++ = '"';
    *q = 0;
    return o;
}

/* Shortest %g text that reads back as the same float / double. */
static void fmt_float(char *buf, size_t n, double v, int is_float) {
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        double back = strtod(buf, NULL);
        if (is_float ? (float)back == (float)v : back == v) return;
    }
}

static char *value_text(const Section *s, const Field *f) {
    void *p = field_ptr(s, f);
    char buf[64];
    switch (f->type) {
    case F_BOOL: return xstrdup(*(int *)p ? "true" : "false");
    case F_INT: snprintf(buf, sizeof buf, "%d", *(int *)p); return xstrdup(buf);
    case F_INT64: snprintf(buf, sizeof buf, "%lld", (long long)*(int64_t *)p); return xstrdup(buf);
    case F_FLOAT: fmt_float(buf, sizeof buf, (double)*(float *)p, 1); return xstrdup(buf);
    case F_DOUBLE: fmt_float(buf, sizeof buf, *(double *)p, 0); return xstrdup(buf);
    case F_STRING: return quote(*(char **)p ? *(char **)p : "");
    case F_ENUM: return enum_name(f->choices, *(int *)p);
    default: break;
    }
    char *acc = xstrdup("[");
    int n = f->type == F_FLOAT_LIST ? ((FloatList *)p)->n : f->type == F_INT_LIST ? ((IntList *)p)->n : ((StrList *)p)->n;
    for (int i = 0; i < n; i++) {
        if (i) acc = cat(acc, ", ");
        if (f->type == F_FLOAT_LIST) { fmt_float(buf, sizeof buf, (double)((FloatList *)p)->v[i], 1); acc = cat(acc, buf); }
        else if (f->type == F_INT_LIST) { snprintf(buf, sizeof buf, "%d", ((IntList *)p)->v[i]); acc = cat(acc, buf); }
        else { char *q = quote(((StrList *)p)->v[i]); acc = cat(acc, q); free(q); }
    }
    return cat(acc, "]");
}

char *cfg_dump_section(const Section *s, char *acc) {
    if (!s->name) return acc;
    if (!acc) acc = xstrdup("");
    acc = cat(acc, s->name);
    acc = cat(acc, ":\n");
    char prev[256] = "";
    for (const Field *f = s->fields; f->key || f->flag; f++) {
        if (!f->key) continue;
        /* re-nest dotted keys: emit mapping headers for components that differ from prev */
        char key[256];
        snprintf(key, sizeof key, "%s", f->key);
        char *comps[16];
        int nc = 0;
        for (char *tok = strtok(key, "."); tok && nc < 16; tok = strtok(NULL, ".")) comps[nc++] = tok;
        char pk[256];
        snprintf(pk, sizeof pk, "%s", prev);
        char *pcomps[16];
        int np = 0;
        for (char *tok = strtok(pk, "."); tok && np < 16; tok = strtok(NULL, ".")) pcomps[np++] = tok;
        int common = 0;
        while (common < nc - 1 && common < np - 1 && strcmp(comps[common], pcomps[common]) == 0) common++;
        for (int d = common; d < nc - 1; d++) {
            for (int i = 0; i <= d; i++) acc = cat(acc, "  ");
            acc = cat(acc, comps[d]);
            acc = cat(acc, ":\n");
        }
        for (int i = 0; i < nc; i++) acc = cat(acc, "  ");
        acc = cat(acc, comps[nc - 1]);
        acc = cat(acc, ": ");
        char *v = value_text(s, f);
        acc = cat(acc, v);
        free(v);
        acc = cat(acc, "\n");
        snprintf(prev, sizeof prev, "%s", f->key);
    }
    return acc;
}

/* ---- canonical extraction (config-section) ---------------------------------------------------- */
static char *emit_node(Yaml *y, yaml_node_t *n, int indent, char *acc) {
    char pad[64];
    int w = indent * 2 < 62 ? indent * 2 : 62;
    memset(pad, ' ', (size_t)w);
    pad[w] = 0;
    if (n->type == YAML_SCALAR_NODE) {
        char *q = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? xstrdup(scalar(n)) : quote(scalar(n));
        acc = cat(acc, " ");
        acc = cat(acc, q);
        acc = cat(acc, "\n");
        free(q);
    } else if (n->type == YAML_SEQUENCE_NODE) {
        acc = cat(acc, " [");
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(&y->doc, *it);
            if (it != n->data.sequence.items.start) acc = cat(acc, ", ");
            if (e->type == YAML_SCALAR_NODE) {
                char *q = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? xstrdup(scalar(e)) : quote(scalar(e));
                acc = cat(acc, q);
                free(q);
            }
            else acc = cat(acc, "<nested>");
        }
        acc = cat(acc, "]\n");
    } else {
        acc = cat(acc, "\n");
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(&y->doc, p->key);
            acc = cat(acc, pad);
            acc = cat(acc, k->type == YAML_SCALAR_NODE ? scalar(k) : "?");
            acc = cat(acc, ":");
            acc = emit_node(y, yaml_document_get_node(&y->doc, p->value), indent + 1, acc);
        }
    }
    return acc;
}

char *cfg_extract_canonical(const char *path, char **names, int nnames) {
    Yaml y;
    yaml_open(&y, path);
    char *acc = xstrdup("");
    yaml_node_t *root = yaml_document_get_root_node(&y.doc);
    for (int i = 0; i < nnames; i++) {
        if (!cfg_is_known_section(names[i]) && !is_run_key(names[i]))
            die(EXIT_USAGE, "unknown section '%s'", names[i]);
        if (!root || root->type != YAML_MAPPING_NODE) continue;
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(&y.doc, p->key);
            if (k->type != YAML_SCALAR_NODE || strcmp(scalar(k), names[i]) != 0) continue;
            acc = cat(acc, names[i]);
            acc = cat(acc, ":");
            acc = emit_node(&y, yaml_document_get_node(&y.doc, p->value), 1, acc);
        }
    }
    yaml_document_delete(&y.doc);
    return acc;
}

/* ---- command line ------------------------------------------------------------------------------ */
static void usage_line(FILE *out, const char *s, const char *l, const char *meta, const char *help, const char *dflt, const char *key) {
    char left[96];
    if (s && *s) snprintf(left, sizeof left, "  -%s, --%s%s%s", s, l, meta ? " " : "", meta ? meta : "");
    else snprintf(left, sizeof left, "      --%s%s%s", l, meta ? " " : "", meta ? meta : "");
    fprintf(out, "%-30s %s", left, help ? help : "");
    if (key || (dflt && *dflt)) {
        fprintf(out, " [");
        if (key) fprintf(out, "config %s", key);
        if (key && dflt && *dflt) fprintf(out, "; ");
        if (dflt && *dflt) fprintf(out, "default %s", dflt);
        fprintf(out, "]");
    }
    fprintf(out, "\n");
}

static const char *type_meta(const Field *f) {
    if (f->meta) return f->meta;
    switch (f->type) {
    case F_BOOL: return NULL;
    case F_INT: case F_INT64: return "N";
    case F_FLOAT: case F_DOUBLE: return "X";
    case F_ENUM: return f->choices;
    case F_FLOAT_LIST: return "X,X..";
    case F_INT_LIST: return "N,N..";
    case F_STRING_LIST: return "A,B..";
    default: return "S";
    }
}

void tool_usage(const ToolSpec *spec, FILE *out) {
    fprintf(out, "%s: %s\n\n", tool_name(), spec->purpose);
    fprintf(out, "Usage: %s\n", spec->usage);
    if (spec->example) fprintf(out, "e.g.:  %s\n", spec->example);
    fprintf(out, "\nOptions:\n");
    for (int i = 0; i < MAX_SECTIONS; i++) {
        const Section *s = &spec->sections[i];
        if (!s->fields) continue;
        for (const Field *f = s->fields; f->key || f->flag; f++) {
            if (!f->flag) continue;
            char sh[2] = {f->shortc, 0};
            char key[128];
            if (f->key && s->name) snprintf(key, sizeof key, "%s.%s", s->name, f->key);
            usage_line(out, sh, f->flag, type_meta(f), f->help, f->required ? "(required)" : f->def, f->key && s->name ? key : NULL);
        }
    }
    int any_cfg = 0;
    for (int i = 0; i < MAX_SECTIONS; i++) {
        const Section *s = &spec->sections[i];
        if (!s->fields || !s->name) continue;
        for (const Field *f = s->fields; f->key || f->flag; f++) {
            if (f->flag || !f->key) continue;
            if (!any_cfg) { fprintf(out, "\nConfig keys (in the --config file only):\n"); any_cfg = 1; }
            char left[96];
            snprintf(left, sizeof left, "  %s.%s", s->name, f->key);
            fprintf(out, "%-30s %s", left, f->help ? f->help : "");
            if (f->def && *f->def) fprintf(out, " [default %s]", f->def);
            fprintf(out, "\n");
        }
    }
    fprintf(out, "\nStandard options:\n");
    usage_line(out, NULL, "config", "FILE", "YAML run configuration; command-line options override its keys", NULL, NULL);
    if (spec->computes) usage_line(out, NULL, "device", "DEV", "auto|cpu|cuda[:N] (auto: CUDA when a GPU is present)", "auto", "device");
    if (spec->uses_seed) usage_line(out, NULL, "seed", "N", "random seed", "0", "seed");
    usage_line(out, "v", "verbose", NULL, "print the resolved configuration and more progress (repeat for more)", NULL, NULL);
    usage_line(out, NULL, "version", NULL, "print the version and exit", NULL, NULL);
    usage_line(out, "h", "help", NULL, "print this help and exit", NULL, NULL);
    if (spec->notes) fprintf(out, "\n%s\n", spec->notes);
    if (spec->see_also) fprintf(out, "\nSee also: %s\n", spec->see_also);
}

static _Noreturn void usage_error(const char *fmt, ...) PRINTF_LIKE(1, 2);
static void usage_error(const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    hint_next("'%s --help' lists the options", tool_name());
    die(EXIT_USAGE, "%s", msg);
}

/* Finds an option by long name or short letter among the sections. */
static int find_option(const ToolSpec *spec, const char *name, char shortc, const Section **sec, const Field **fld) {
    for (int i = 0; i < MAX_SECTIONS; i++) {
        const Section *s = &spec->sections[i];
        if (!s->fields) continue;
        for (const Field *f = s->fields; f->key || f->flag; f++) {
            if (!f->flag) continue;
            if ((name && strcmp(f->flag, name) == 0) || (shortc && f->shortc == shortc)) { *sec = s; *fld = f; return 1; }
        }
    }
    return 0;
}

void tool_setup(const ToolSpec *spec, int argc, char **argv) {
    memset(&g_run, 0, sizeof g_run);
    g_run.device_spec = xstrdup("auto");
    g_run.run_name = xstrdup("");
    g_run.config_path = "";
    int nsec = 0;
    for (int i = 0; i < MAX_SECTIONS; i++)
        if (spec->sections[i].fields) { cfg_apply_defaults(&spec->sections[i]); nsec = i + 1; }

    /* pass 1: --help, --version, --config, --verbose */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) break;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { tool_usage(spec, stdout); exit(EXIT_OK); }
        if (strcmp(a, "--version") == 0) { printf("%s (tdann) %s\n", tool_name(), TDANN_VERSION); exit(EXIT_OK); }
        if (strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) usage_error("option '--config' needs a value");
            g_run.config_path = argv[++i];
        } else if (str_starts(a, "--config=")) g_run.config_path = a + 9;
    }
    if (*g_run.config_path) cfg_load_file(g_run.config_path, spec->sections, nsec);

    /* pass 2: everything else */
    g_run.pos = xcalloc((size_t)argc + 1, sizeof(char *));
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || strcmp(a, "-") == 0) { g_run.pos[g_run.npos++] = a; continue; }
        if (strcmp(a, "--") == 0) { only_pos = 1; continue; }
        char name[128] = "", shortc = 0;
        const char *val = NULL;
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            if (n >= sizeof name) usage_error("unknown option '%s'", a);
            memcpy(name, a + 2, n);
            name[n] = 0;
            if (eq) val = eq + 1;
        } else {
            if (a[2] != 0) usage_error("unknown option '%s' (long options start with --)", a);
            shortc = a[1];
        }
        if (strcmp(name, "config") == 0) { if (!val) i++; continue; }
        if (strcmp(name, "verbose") == 0 || shortc == 'v') { g_verbose++; continue; }
        if ((spec->computes && strcmp(name, "device") == 0) || (spec->uses_seed && strcmp(name, "seed") == 0)) {
            if (!val) { if (i + 1 >= argc) usage_error("option '--%s' needs a value", name); val = argv[++i]; }
            if (name[0] == 'd') { free(g_run.device_spec); g_run.device_spec = xstrdup(val); }
            else {
                int64_t s;
                if (parse_int64(val, &s) != 0 || s < 0) usage_error("option '--seed': expected a non-negative integer, got '%s'", val);
                g_run.seed = s;
            }
            continue;
        }
        const Section *s;
        const Field *f;
        int neg = 0;
        if (!find_option(spec, shortc ? NULL : name, shortc, &s, &f)) {
            if (str_starts(name, "no-") && find_option(spec, name + 3, 0, &s, &f) && f->type == F_BOOL) neg = 1;
            else usage_error("unknown option '%s'", a);
        }
        char label[160];
        if (shortc) snprintf(label, sizeof label, "-%c", shortc); else snprintf(label, sizeof label, "--%s", f->flag);
        if (f->type == F_BOOL && !val) val = neg ? "false" : "true";
        if (!val) {
            if (i + 1 >= argc) usage_error("option '%s' needs a value", label);
            val = argv[++i];
        }
        char err[256];
        if (cfg_set_from_text(s, f, val, err, sizeof err) != 0) usage_error("option '%s': %s", label, err);
        mark_set(f);
    }

    for (int i = 0; i < nsec; i++) {
        const Section *s = &spec->sections[i];
        if (!s->fields) continue;
        for (const Field *f = s->fields; f->key || f->flag; f++) {
            if (!f->required || is_set(f)) continue;
            if (f->flag) usage_error("missing required option '--%s'", f->flag);
            die(EXIT_USAGE, "missing required config key '%s.%s'%s%s", s->name, f->key,
                *g_run.config_path ? " in " : " (no --config given)", g_run.config_path);
        }
    }
    if (g_run.npos < spec->npos_min || g_run.npos > spec->npos_max) {
        if (spec->npos_max == 0) usage_error("unexpected argument '%s'", g_run.pos[0]);
        usage_error("expected %s%s, got %d argument%s", spec->npos_min == spec->npos_max ? "" : "up to ",
                    spec->pos_meta ? spec->pos_meta : "arguments", g_run.npos, g_run.npos == 1 ? "" : "s");
    }

    char *acc = xstrdup("");
    if (spec->uses_seed) { char b[64]; snprintf(b, sizeof b, "seed: %lld\n", (long long)g_run.seed); acc = cat(acc, b); }
    if (spec->computes) { char *q = quote(g_run.device_spec); acc = cat(acc, "device: "); acc = cat(acc, q); acc = cat(acc, "\n"); free(q); }
    for (int i = 0; i < nsec; i++) acc = cfg_dump_section(&spec->sections[i], acc);
    g_run.config_yaml = acc;
    if (g_verbose) fprintf(stderr, "%s: resolved configuration%s%s:\n%s", tool_name(), *g_run.config_path ? " from " : "", g_run.config_path, acc);
}
