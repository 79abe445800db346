/* util.h: small helpers every module needs: string lists, paths, files, clocks, hashing, the
 * names of the 8 ResNet-18 block outputs.
 *
 * Layer names follow torchvision module names: layer1.0 layer1.1 layer2.0 ... layer4.1 (index 0..7).
 * The official configs spell them with underscores (layer1_0); layer_index() accepts both.
 */
#ifndef TDANN_UTIL_H
#define TDANN_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define N_LAYERS 8
extern const char *const LAYER_NAMES[N_LAYERS];
int layer_index(const char *name); /* -1 if unknown */
/* Parses "layer2.0,layer4.1" (or "all") into a mask of layer indices; dies (exit 2) naming the
 * bad entry. Returns the number of layers selected; order[] receives them in list order. */
int parse_layer_list(const char *list, int order[N_LAYERS]);

/* Splits s at sep into a NULL-terminated array of trimmed copies (empty items dropped). */
char **str_split(const char *s, char sep, int *n);
void str_list_free(char **list);
int str_starts(const char *s, const char *prefix);
int str_ends(const char *s, const char *suffix);

/* Files and paths. */
int file_exists(const char *path);
int dir_exists(const char *path);
void mkdir_p(const char *path);                 /* dies on failure */
char *read_text_file(const char *path, size_t *len); /* NULL if unreadable */
char *path_join(const char *a, const char *b);
/* Writes data to path atomically (tmp + rename); dies on failure. */
void write_file_atomic(const char *path, const void *data, size_t len);

/* Clocks. */
double now_seconds(void);                 /* monotonic */
void utc_timestamp(char buf[32]);         /* 2026-11-26T16:38:33Z */
void format_duration(double s, char buf[32]); /* 1h02m, 3m05s, 12.3s */

/* Content hash of a file: 64-bit, word-wise multiply-rotate mix (not cryptographic; identifies
 * inputs in provenance). Returns 0 and writes 16 hex digits to hex on success, -1 if unreadable. */
int hash_file(const char *path, char hex[17], uint64_t *size);
uint64_t hash_bytes(const void *data, size_t len, uint64_t seed);

#endif
