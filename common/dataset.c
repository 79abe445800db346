/* dataset.c: image folders with a cached file index (see dataset.h).
 *
 * Names live in one growing character arena (offsets, not pointers), so a 1.28 M-file index is a
 * few allocations. Index file format (text, one record per line, TAB-separated):
 *   tdann-index 1
 *   root <absolute path>
 *   mtime <sec>.<nsec>            (the root's)
 *   layout classes|flat
 *   classes <n>                   then n lines: <sec>.<nsec> TAB <class name>
 *   files <m>                     then m lines: <label> TAB <path relative to the root>
 */
#include "dataset.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "progress.h"
#include "util.h"

typedef struct { char *buf; size_t len, cap; } Arena;

static size_t arena_add(Arena *a, const char *s) {
    size_t n = strlen(s) + 1;
    if (a->len + n > a->cap) {
        a->cap = (a->cap ? a->cap * 2 : 1 << 16) + n;
        a->buf = xrealloc(a->buf, a->cap);
    }
    memcpy(a->buf + a->len, s, n);
    a->len += n;
    return a->len - n;
}

struct Dataset {
    char *root;            /* absolute */
    int classes_layout;
    int nclasses;
    size_t *class_off;     /* into names */
    int64_t *class_mtime;  /* ns */
    int64_t n, cap;
    size_t *file_off;
    int32_t *label;
    Arena names;
    int from_cache;
};

int64_t dataset_count(const Dataset *d) { return d->n; }
int dataset_has_classes(const Dataset *d) { return d->classes_layout; }
int dataset_num_classes(const Dataset *d) { return d->nclasses; }
const char *dataset_class_name(const Dataset *d, int c) { return d->names.buf + d->class_off[c]; }
const char *dataset_root(const Dataset *d) { return d->root; }
const char *dataset_file(const Dataset *d, int64_t i) { return d->names.buf + d->file_off[i]; }
char *dataset_path(const Dataset *d, int64_t i) { return path_join(d->root, dataset_file(d, i)); }
int32_t dataset_label(const Dataset *d, int64_t i) { return d->label[i]; }
int dataset_index_was_cached(const Dataset *d) { return d->from_cache; }

void dataset_truncate(Dataset *d, int64_t n) {
    if (n > 0 && n < d->n) d->n = n;
}

void dataset_free(Dataset *d) {
    if (!d) return;
    free(d->root);
    free(d->class_off);
    free(d->class_mtime);
    free(d->file_off);
    free(d->label);
    free(d->names.buf);
    free(d);
}

static void add_file(Dataset *d, const char *rel, int32_t label) {
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 1024;
        d->file_off = xrealloc(d->file_off, sizeof(size_t) * (size_t)d->cap);
        d->label = xrealloc(d->label, sizeof(int32_t) * (size_t)d->cap);
    }
    d->file_off[d->n] = arena_add(&d->names, rel);
    d->label[d->n] = label;
    d->n++;
}

static int64_t mtime_ns(const struct stat *st) { return (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec; }

static int is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

/* ---- walking ------------------------------------------------------------------------------------ */
typedef struct { char **v; int n, cap; } Names;

static void names_push(Names *l, const char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = xrealloc(l->v, sizeof(char *) * (size_t)l->cap);
    }
    l->v[l->n++] = xstrdup(s);
}

static void names_free(Names *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Entries of dir (hidden ones skipped) split into subdirectories and image files, each sorted.
 * Returns -1 when the directory cannot be read. *other counts ignored non-image files. */
static int list_dir(const char *dir, Names *dirs, Names *files, int64_t *other) {
    DIR *dp = opendir(dir);
    if (!dp) return -1;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.') continue;
        int isdir = 0, isreg = 0;
        if (e->d_type == DT_DIR) isdir = 1;
        else if (e->d_type == DT_REG) isreg = 1;
        else { /* DT_UNKNOWN or a link: follow it, as os.walk(followlinks=True) and ImageFolder do */
            char *p = path_join(dir, e->d_name);
            struct stat st;
            if (stat(p, &st) == 0) {
                isdir = S_ISDIR(st.st_mode);
                isreg = S_ISREG(st.st_mode);
            }
            free(p);
        }
        if (isdir && dirs) names_push(dirs, e->d_name);
        else if (isreg && is_image_name(e->d_name)) names_push(files, e->d_name);
        else if (isreg && other) (*other)++;
    }
    closedir(dp);
    if (dirs) qsort(dirs->v, (size_t)dirs->n, sizeof(char *), cmp_str);
    qsort(files->v, (size_t)files->n, sizeof(char *), cmp_str);
    return 0;
}

/* Progress for long walks only: the line appears once a walk has taken 2 s. */
typedef struct { Progress *pr; double t0; } WalkProgress;

static void walk_progress(WalkProgress *w, int64_t n) {
    if (!w->pr && now_seconds() - w->t0 > 2.0) w->pr = progress_start("indexing images", 0, "files");
    if (w->pr) progress_update(w->pr, n, NULL);
}

/* All image files under dir (relative to the root via prefix), in torchvision's order: sorted by
 * (directory path, file name), i.e. sorted(os.walk(...)) then sorted(fnames). */
static void walk_class(Dataset *d, const char *abs, const char *prefix, int32_t label, int64_t *other,
                       WalkProgress *pr) {
    /* collect (dirpath, files) pairs recursively, then emit sorted by dirpath */
    typedef struct { char *dirrel; Names files; } DirFiles;
    DirFiles *all = NULL;
    int nall = 0, capall = 0;
    Names stack_abs = {0}, stack_rel = {0};
    names_push(&stack_abs, abs);
    names_push(&stack_rel, prefix);
    while (stack_abs.n) {
        char *a = stack_abs.v[--stack_abs.n], *r = stack_rel.v[--stack_rel.n];
        Names dirs = {0}, files = {0};
        if (list_dir(a, &dirs, &files, other) != 0) {
            warn("cannot read directory '%s': %s (skipped)", a, strerror(errno));
        } else {
            if (nall == capall) {
                capall = capall ? 2 * capall : 16;
                all = xrealloc(all, sizeof(DirFiles) * (size_t)capall);
            }
            all[nall].dirrel = xstrdup(r);
            all[nall].files = files;
            nall++;
            int depth = 0;
            for (const char *q = r; *q; q++) depth += *q == '/';
            for (int i = 0; i < dirs.n && depth < 32; i++) { /* depth guard: symlink loops */
                    char *na = path_join(a, dirs.v[i]), *nr = path_join(r, dirs.v[i]);
                    names_push(&stack_abs, na);
                    names_push(&stack_rel, nr);
                    free(na);
                    free(nr);
                }
        }
        names_free(&dirs);
        free(a);
        free(r);
    }
    free(stack_abs.v);
    free(stack_rel.v);
    /* sort directories by their path (os.walk tuples compare by root path first) */
    for (int i = 1; i < nall; i++)
        for (int j = i; j > 0 && strcmp(all[j - 1].dirrel, all[j].dirrel) > 0; j--) {
            DirFiles t = all[j];
            all[j] = all[j - 1];
            all[j - 1] = t;
        }
    for (int i = 0; i < nall; i++) {
        for (int k = 0; k < all[i].files.n; k++) {
            char *rel = path_join(all[i].dirrel, all[i].files.v[k]);
            add_file(d, rel, label);
            free(rel);
        }
        walk_progress(pr, d->n);
        free(all[i].dirrel);
        names_free(&all[i].files);
    }
    free(all);
}

static void walk(Dataset *d) {
    Names dirs = {0}, files = {0};
    int64_t other = 0;
    if (list_dir(d->root, &dirs, &files, &other) != 0)
        die(EXIT_USAGE, "cannot read dataset folder '%s': %s", d->root, strerror(errno));
    WalkProgress pr = {NULL, now_seconds()};
    /* class layout when any subdirectory holds an image somewhere below it */
    for (int c = 0; c < dirs.n; c++) {
        char *abs = path_join(d->root, dirs.v[c]);
        struct stat st;
        walk_class(d, abs, dirs.v[c], c, &other, &pr);
        if (stat(abs, &st) != 0) memset(&st, 0, sizeof st);
        d->class_off = xrealloc(d->class_off, sizeof(size_t) * (size_t)(c + 1));
        d->class_mtime = xrealloc(d->class_mtime, sizeof(int64_t) * (size_t)(c + 1));
        d->class_off[c] = arena_add(&d->names, dirs.v[c]);
        d->class_mtime[c] = mtime_ns(&st);
        free(abs);
    }
    d->nclasses = dirs.n;
    if (d->n > 0) {
        d->classes_layout = 1;
        if (files.n) info(1, "%d files directly in '%s' ignored (class-folder layout)", files.n, d->root);
    } else {
        d->classes_layout = 0;
        d->nclasses = 0;
        for (int i = 0; i < files.n; i++) add_file(d, files.v[i], -1);
    }
    if (pr.pr) progress_end(pr.pr, NULL);
    if (other) info(0, "%lld non-image files ignored under '%s' (only .jpg .jpeg .png are read)", (long long)other, d->root);
    names_free(&dirs);
    names_free(&files);
}

/* ---- the index cache ---------------------------------------------------------------------------- */
char *dataset_index_path(const char *root, const char *cache_dir) {
    if (cache_dir && !strcmp(cache_dir, "off")) return NULL;
    char *dir;
    if (cache_dir && cache_dir[0]) dir = xstrdup(cache_dir);
    else if (getenv("TDANN_CACHE") && getenv("TDANN_CACHE")[0]) dir = xstrdup(getenv("TDANN_CACHE"));
    else if (getenv("XDG_CACHE_HOME") && getenv("XDG_CACHE_HOME")[0]) dir = path_join(getenv("XDG_CACHE_HOME"), "tdann");
    else if (getenv("HOME") && getenv("HOME")[0]) dir = xasprintf("%s/.cache/tdann", getenv("HOME"));
    else return NULL;
    char abs[PATH_MAX];
    const char *key = realpath(root, abs) ? abs : root;
    char *p = xasprintf("%s/index-%016llx.txt", dir, (unsigned long long)hash_bytes(key, strlen(key), 0x7d));
    free(dir);
    return p;
}

static int read_index(Dataset *d, const char *path, int64_t root_mtime) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int ok = 0;
    long long sec, nsec, n;
    char layout[16];
#define NEXT() ((len = getline(&line, &cap, f)) > 0 ? (line[len - 1] == '\n' ? (line[--len] = 0) : 0, 1) : 0)
    if (!NEXT() || strcmp(line, "tdann-index 1")) goto out;
    if (!NEXT() || strncmp(line, "root ", 5) || strcmp(line + 5, d->root)) goto out;
    if (!NEXT() || sscanf(line, "mtime %lld.%lld", &sec, &nsec) != 2 || sec * 1000000000LL + nsec != root_mtime) goto out;
    if (!NEXT() || sscanf(line, "layout %15s", layout) != 1) goto out;
    d->classes_layout = !strcmp(layout, "classes");
    if (!NEXT() || sscanf(line, "classes %lld", &n) != 1 || n < 0 || n > 10000000) goto out;
    d->nclasses = (int)n;
    d->class_off = xcalloc((size_t)n + 1, sizeof(size_t));
    d->class_mtime = xcalloc((size_t)n + 1, sizeof(int64_t));
    for (int c = 0; c < d->nclasses; c++) {
        int pos = 0;
        if (!NEXT() || sscanf(line, "%lld.%lld\t%n", &sec, &nsec, &pos) != 2 || pos == 0) goto out;
        d->class_off[c] = arena_add(&d->names, line + pos);
        d->class_mtime[c] = sec * 1000000000LL + nsec;
        /* a changed class directory (files added or removed) invalidates the index */
        char *abs = path_join(d->root, line + pos);
        struct stat st;
        int same = stat(abs, &st) == 0 && mtime_ns(&st) == d->class_mtime[c];
        free(abs);
        if (!same) goto out;
    }
    if (!NEXT() || sscanf(line, "files %lld", &n) != 1 || n < 0) goto out;
    for (int64_t i = 0; i < n; i++) {
        char *tab;
        if (!NEXT() || !(tab = strchr(line, '\t'))) goto out;
        *tab = 0;
        long lab = strtol(line, NULL, 10);
        if (lab < -1 || lab >= d->nclasses) goto out;
        add_file(d, tab + 1, (int32_t)lab);
    }
    ok = 1;
out:
#undef NEXT
    free(line);
    fclose(f);
    if (!ok) { /* reset what was read */
        free(d->class_off);
        free(d->class_mtime);
        d->class_off = NULL;
        d->class_mtime = NULL;
        d->nclasses = 0;
        d->n = 0;
        d->names.len = 0;
        d->classes_layout = 0;
        return -1;
    }
    return 0;
}

static void write_index(const Dataset *d, const char *path, int64_t root_mtime) {
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    /* create the cache directory; failures only cost the next walk */
    for (char *s = dir + 1; *s; s++)
        if (*s == '/') { *s = 0; mkdir(dir, 0777); *s = '/'; }
    mkdir(dir, 0777);
    free(dir);
    char *tmp = xasprintf("%s.%d.tmp", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        warn("cannot write the file index '%s': %s (the folder will be walked again next time)", tmp, strerror(errno));
        free(tmp);
        return;
    }
    fprintf(f, "tdann-index 1\nroot %s\nmtime %lld.%09lld\nlayout %s\nclasses %d\n", d->root,
            (long long)(root_mtime / 1000000000LL), (long long)(root_mtime % 1000000000LL),
            d->classes_layout ? "classes" : "flat", d->nclasses);
    for (int c = 0; c < d->nclasses; c++)
        fprintf(f, "%lld.%09lld\t%s\n", (long long)(d->class_mtime[c] / 1000000000LL),
                (long long)(d->class_mtime[c] % 1000000000LL), dataset_class_name(d, c));
    fprintf(f, "files %lld\n", (long long)d->n);
    for (int64_t i = 0; i < d->n; i++) fprintf(f, "%d\t%s\n", d->label[i], dataset_file(d, i));
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        warn("cannot write the file index '%s': %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
}

Dataset *dataset_open_folder(const char *root, const char *cache_dir) {
    char abs[PATH_MAX];
    if (!root || !root[0]) die(EXIT_USAGE, "no dataset folder given (data.path)");
    if (!realpath(root, abs)) die(EXIT_USAGE, "cannot open dataset folder '%s': %s", root, strerror(errno));
    struct stat st;
    if (stat(abs, &st) != 0 || !S_ISDIR(st.st_mode)) die(EXIT_USAGE, "dataset path is not a folder '%s'", root);
    Dataset *d = xcalloc(1, sizeof *d);
    d->root = xstrdup(abs);
    int64_t mt = mtime_ns(&st);
    char *ipath = dataset_index_path(abs, cache_dir);
    if (ipath && read_index(d, ipath, mt) == 0) {
        d->from_cache = 1;
        info(1, "file index of '%s' read from '%s'", abs, ipath);
    } else {
        walk(d);
        if (ipath && d->n > 0) write_index(d, ipath, mt);
    }
    free(ipath);
    if (d->n == 0) {
        hint_next("a dataset folder holds .jpg/.jpeg/.png files, directly or in one subfolder per class");
        dataset_free(d);
        die(EXIT_USAGE, "no images in dataset folder '%s'", root);
    }
    return d;
}
