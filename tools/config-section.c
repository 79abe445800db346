/* config-section: write the named top-level entries of a run config to a file, in a canonical
 * form (re-emitted from the parsed YAML, so comments and layout do not matter), and only when the
 * text changed. The pipeline makes each stage depend on the section files it reads, so editing one
 * section reruns only the stages that read it.
 *
 *   config-section CONFIG.yaml SECTION[,SECTION...] -o OUT.yaml
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "util.h"

typedef struct { char *out; } Opts;
static Opts o;
static const Field FIELDS[] = {
    {NULL, "output", 'o', F_STRING, offsetof(Opts, out), "", 0, 0, NULL, "FILE", "where to write the section text", 1},
    FIELD_END};

static const ToolSpec SPEC = {
    .purpose = "extract config sections canonically; rewrite the output only when it changed",
    .usage = "config-section [options] CONFIG.yaml SECTION[,SECTION...] -o OUT.yaml",
    .example = "config-section configs/default.yaml probe_floc -o runs/default/cfg/probe_floc.yaml",
    .see_also = "pipelines/full.mk",
    .notes = "An absent section is written as nothing (its defaults apply). Unknown section names are an error.",
    .sections = {{NULL, &o, FIELDS}},
    .npos_min = 2, .npos_max = 2, .pos_meta = "CONFIG.yaml and SECTION list",
};

int main(int argc, char **argv) {
    tool_init(argv[0], argc, argv);
    tool_setup(&SPEC, argc, argv);
    int n = 0;
    char **names = str_split(g_run.pos[1], ',', &n);
    char *text = cfg_extract_canonical(g_run.pos[0], names, n);
    size_t old_len = 0;
    char *old = read_text_file(o.out, &old_len);
    if (old && strcmp(old, text) == 0) {
        info(1, "'%s' unchanged", o.out);
        return 0;
    }
    write_file_atomic(o.out, text, strlen(text));
    info(1, "wrote '%s'", o.out);
    free(old);
    free(text);
    str_list_free(names);
    return 0;
}
