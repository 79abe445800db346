/* dataset.h: image datasets as an ordered list of items: image folders (with a cached file index)
 * and the embedded procedural set.
 *
 * Folder layouts (decided by what the root holds):
 *   class folders  root/<class>/.../<name>.{jpg,jpeg,png}  (ImageNet's train/<wnid>/<name>.JPEG): torchvision
 *                  ImageFolder order: classes = sorted subdirectory names (label = their index),
 *                  files per class walked recursively, sorted by (directory, name); files directly
 *                  in root are ignored. Chosen when some subdirectory holds an image.
 *   flat           root/<name>.{jpg,jpeg,png}, sorted by name, label -1.
 * Extensions are matched case-insensitively; other files are ignored (counted in an info line).
 * Sorting is by bytes (Python's sorted() on names). Hidden entries (".*") are skipped.
 *
 * File index: the walk of a 1.28 M-file tree takes minutes on network storage, so the list is
 * cached in a text file <cache_dir>/index-<hash of the root's absolute path>.txt whose header
 * records the root's path, its mtime and the mtime of every class directory; any change
 * (a file added to a class changes that directory's mtime) triggers a new walk. cache_dir "" =
 * $TDANN_CACHE, else $XDG_CACHE_HOME/tdann, else ~/.cache/tdann; "off" disables the cache. A cache
 * that cannot be written is a warning, never an error.
 *
 * Errors: a missing or unreadable root, or a root without images, is a usage error (die, exit 2)
 * naming the root.
 */
#ifndef TDANN_DATASET_H
#define TDANN_DATASET_H

#include <stddef.h>
#include <stdint.h>

typedef struct Dataset Dataset;

/* Opens (walks or reads the index of) an image folder. */
Dataset *dataset_open_folder(const char *root, const char *cache_dir);

int64_t dataset_count(const Dataset *d);
int dataset_has_classes(const Dataset *d);      /* class-folder layout */
int dataset_num_classes(const Dataset *d);      /* 0 for flat */
const char *dataset_class_name(const Dataset *d, int c);
const char *dataset_root(const Dataset *d);
const char *dataset_file(const Dataset *d, int64_t i); /* path relative to the root */
char *dataset_path(const Dataset *d, int64_t i);       /* root/file, heap string */
int32_t dataset_label(const Dataset *d, int64_t i);    /* class index, or -1 */
int dataset_index_was_cached(const Dataset *d);        /* 1 when read from the index cache */

/* Keeps only the first n items (n <= 0 or >= count: no change). */
void dataset_truncate(Dataset *d, int64_t n);

void dataset_free(Dataset *d);

/* The cache file a root would use (heap string), or NULL when the cache is off. */
char *dataset_index_path(const char *root, const char *cache_dir);

#endif
