/* artifact-info: summarise TDANN artifacts: kind, provenance, datasets with shapes, types, dims
 * and units.
 *
 *   artifact-info [--config] [--history] FILE.h5 ...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "h5io.h"
#include "util.h"

typedef struct { int show_config, show_history; } Opts;
static Opts o;
static const Field FIELDS[] = {
    {NULL, "show-config", 'c', F_BOOL, offsetof(Opts, show_config), "false", 0, 0, NULL, NULL, "also print the resolved configuration stored in the file", 0},
    {NULL, "history", 0, F_BOOL, offsetof(Opts, show_history), "false", 0, 0, NULL, NULL, "also print the history (every command that led to the file)", 0},
    FIELD_END};

static const ToolSpec SPEC = {
    .purpose = "summarise TDANN artifacts: kind, provenance, datasets with shapes and units",
    .usage = "artifact-info [options] FILE.h5 ...",
    .example = "artifact-info runs/default/sheet.h5",
    .see_also = "h5-compare, h5dump(1), h5ls(1)",
    .sections = {{NULL, &o, FIELDS}},
    .npos_min = 1, .npos_max = 1000, .pos_meta = "one or more files",
};

static const char *type_name(hid_t t) {
    switch (H5Tget_class(t)) {
    case H5T_INTEGER: {
        size_t s = H5Tget_size(t);
        int sg = H5Tget_sign(t) == H5T_SGN_2;
        return s == 1 ? (sg ? "int8" : "uint8") : s == 2 ? (sg ? "int16" : "uint16") : s == 4 ? (sg ? "int32" : "uint32") : (sg ? "int64" : "uint64");
    }
    case H5T_FLOAT: return H5Tget_size(t) == 4 ? "float32" : "float64";
    case H5T_STRING: return "string";
    default: return "other";
    }
}

static herr_t visit(hid_t obj, const char *name, const H5O_info_t *info, void *data) {
    (void)data;
    if (info->type != H5O_TYPE_DATASET) return 0;
    hid_t ds = H5Dopen2(obj, name, H5P_DEFAULT);
    hid_t sp = H5Dget_space(ds), t = H5Dget_type(ds);
    hsize_t dims[H5IO_MAX_RANK];
    int r = H5Sget_simple_extent_ndims(sp);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    char shape[128] = "";
    int n = 0;
    for (int i = 0; i < r; i++) n += snprintf(shape + n, sizeof shape - (size_t)n, "%s%llu", i ? "," : "", (unsigned long long)dims[i]);
    char *dl = h5_attr_get_str(ds, ".", "dims"), *un = h5_attr_get_str(ds, ".", "units");
    printf("  /%-38s %-8s (%s)%s%s%s%s%s\n", name, type_name(t), shape, dl ? "  dims " : "", dl ? dl : "",
           un ? "  units " : "", un ? un : "", "");
    free(dl);
    free(un);
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(ds);
    return 0;
}

int main(int argc, char **argv) {
    tool_init(argv[0], argc, argv);
    tool_setup(&SPEC, argc, argv);
    for (int i = 0; i < g_run.npos; i++) {
        hid_t f = h5_open_any(g_run.pos[i]);
        char *art = h5_attr_get_str(f, ".", "artifact");
        int64_t sv = 0, seed = 0;
        h5_attr_get_i64(f, ".", "schema_version", &sv);
        h5_attr_get_i64(f, ".", "seed", &seed);
        printf("%s: %s artifact, schema %lld\n", g_run.pos[i], art ? art : "(not a TDANN artifact)", (long long)sv);
        static const char *keys[] = {"tool", "tool_version", "created_utc", "device", "command_line", NULL};
        for (int k = 0; keys[k]; k++) {
            char *v = h5_attr_get_str(f, ".", keys[k]);
            if (v) printf("  %-13s %s\n", keys[k], v);
            free(v);
        }
        if (art) printf("  %-13s %lld\n", "seed", (long long)seed);
        char *in = h5_attr_get_str(f, ".", "inputs");
        if (in && *in) {
            char **lines = str_split(in, '\n', NULL);
            for (char **l = lines; *l; l++) printf("  %-13s %s\n", l == lines ? "inputs" : "", *l);
            str_list_free(lines);
        }
        free(in);
        printf("  datasets:\n");
        H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, visit, NULL);
        if (o.show_config) {
            char *c = h5_attr_get_str(f, ".", "config_yaml");
            printf("  config:\n%s\n", c ? c : "(none)");
            free(c);
        }
        if (o.show_history) {
            char *h = h5_attr_get_str(f, ".", "history");
            printf("  history:\n%s\n", h ? h : "(none)");
            free(h);
        }
        free(art);
        h5_close_file(f);
    }
    return 0;
}
