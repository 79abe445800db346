/* config.h: one table per config section drives YAML parsing, command-line parsing, the usage text
 * and the resolved-config dump stored in every output's provenance.
 *
 * A run configuration is one YAML file with top-level keys `name`, `seed`, `device` and one mapping
 * per stage section (`model:`, `data:`, `train:`, `probe_floc:` ...; KNOWN_SECTIONS in config.c).
 * A tool declares the sections it reads as {name, struct pointer, Field table}. Values resolve in
 * this order: the field's default, the YAML file given with --config, the command line.
 *
 * Strictness: in a section the tool reads, an unknown key, a value of the wrong type or out of range
 * is an error "FILE:LINE:COL: ..." naming the key (exit 2). Unknown top-level keys are errors for
 * every tool. Nested mappings are addressed with dotted keys: the field "augment.blur_p" matches
 *     data:
 *       augment: {blur_p: 0.5}
 * (a literal dotted key "augment.blur_p: 0.5" is accepted too).
 *
 * Field storage types (at base + offset):
 *   F_BOOL int   F_INT int   F_INT64 int64_t   F_FLOAT float   F_DOUBLE double   F_STRING char*
 *   F_ENUM int (index into choices "a|b|c")   F_FLOAT_LIST FloatList   F_INT_LIST IntList
 *   F_STRING_LIST StrList. Lists accept a YAML sequence, a single scalar, or "a,b" on the CLI.
 * Strings are heap copies owned by the struct ("" when unset, never NULL).
 */
#ifndef TDANN_CONFIG_H
#define TDANN_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    F_BOOL, F_INT, F_INT64, F_FLOAT, F_DOUBLE, F_STRING, F_ENUM,
    F_FLOAT_LIST, F_INT_LIST, F_STRING_LIST
} FieldType;

typedef struct { int n; float *v; } FloatList;
typedef struct { int n; int *v; } IntList;
typedef struct { int n; char **v; } StrList;

typedef struct {
    const char *key;     /* YAML key within the section (dotted for nesting); NULL: CLI only */
    const char *flag;    /* long option name without "--"; NULL: config only */
    char shortc;         /* one-letter option, or 0 */
    FieldType type;
    size_t offset;       /* offsetof(struct, member) */
    const char *def;     /* default as YAML text ("0.25", "[a, b]", "" = empty/none) */
    double min, max;     /* inclusive range for numbers and list items, checked when min < max */
    const char *choices; /* F_ENUM: "auto|cpu|cuda" */
    const char *meta;    /* metavariable in the usage text: N, X, FILE */
    const char *help;
    int required;        /* must be given (on the command line or in the config) */
} Field;
#define FIELD_END {0}

typedef struct {
    const char *name;     /* YAML section name; NULL for a CLI-only group (outputs, inputs) */
    void *base;           /* the struct the fields point into */
    const Field *fields;  /* terminated by FIELD_END (key == NULL && flag == NULL) */
} Section;

#define MAX_SECTIONS 8
typedef struct {
    const char *purpose;   /* one line: what the tool does */
    const char *usage;     /* "swapopt [options] --sheet S.h5 --activations A.h5 -o OUT.h5" */
    const char *example;   /* a real command line */
    const char *see_also;  /* "make-sheet, extract-activations" */
    const char *notes;     /* optional paragraphs printed after the options */
    Section sections[MAX_SECTIONS]; /* unused slots are zero */
    int computes;          /* adds --device auto|cpu|cuda[:N] */
    int uses_seed;         /* adds --seed N */
    int npos_min, npos_max;/* positional arguments allowed */
    const char *pos_meta;  /* how positionals are named in errors: "A.h5 B.h5" */
} ToolSpec;

/* What every tool knows after tool_setup(). */
typedef struct {
    char **pos;            /* positional arguments */
    int npos;
    const char *config_path; /* "" when none */
    char *config_yaml;     /* resolved values of every section the tool read (YAML text) */
    int64_t seed;          /* top-level `seed` (default 0), --seed */
    char *device_spec;     /* top-level `device` (default "auto"), --device */
    char *run_name;        /* top-level `name` */
} RunArgs;
extern RunArgs g_run;

/* Parses the command line and the config, fills every section, handles --help/--version (exit 0)
 * and errors (exit 2). Call after tool_init(). */
void tool_setup(const ToolSpec *spec, int argc, char **argv);

/* Prints the usage text (to stdout for --help). */
void tool_usage(const ToolSpec *spec, FILE *out);

/* Lower-level pieces, used by tool_setup, the tests and config-section. */
void cfg_apply_defaults(const Section *s);
/* Reads the sections listed in secs[0..nsec-1] from a YAML file; strict as described above.
 * Top-level run keys go to g_run. Dies (exit 2) with FILE:LINE:COL on any error. */
void cfg_load_file(const char *path, const Section *secs, int nsec);
/* Parses one value given as text into a field (used for defaults and CLI values). Returns 0, or -1
 * with a message in err. */
int cfg_set_from_text(const Section *s, const Field *f, const char *text, char *err, size_t errlen);
/* Appends "section:\n  key: value\n..." for a section's current values to a growing string. */
char *cfg_dump_section(const Section *s, char *acc);
/* Canonical YAML text of the named top-level entries of a config file, for config-section: the
 * values re-emitted from the parsed tree, so comments and formatting do not matter. Dies on error. */
char *cfg_extract_canonical(const char *path, char **names, int nnames);

int cfg_is_known_section(const char *name);
void cfg_free_lists(const Section *s);

#endif
