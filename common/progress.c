/* progress.c: see progress.h. */
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "util.h"

struct Progress {
    char what[128], unit[32];
    int64_t total, done;
    double t0, last;
    int tty;
    double interval;
};

Progress *progress_start(const char *what, int64_t total, const char *unit) {
    Progress *p = xcalloc(1, sizeof *p);
    snprintf(p->what, sizeof p->what, "%s", what);
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "items");
    p->total = total;
    p->t0 = p->last = now_seconds();
    p->tty = isatty(2);
    const char *e = getenv("TDANN_PROGRESS_SECONDS");
    p->interval = p->tty ? 0.1 : (e ? atof(e) : 10.0);
    return p;
}

static void print_line(Progress *p, const char *extra, int final) {
    double el = now_seconds() - p->t0;
    double rate = el > 0 ? (double)p->done / el : 0;
    char line[512], eta[32], tot[32];
    int n = snprintf(line, sizeof line, "%s: %s %lld", tool_name(), p->what, (long long)p->done);
    if (p->total > 0) n += snprintf(line + n, sizeof line - (size_t)n, "/%lld (%.0f%%)", (long long)p->total, 100.0 * (double)p->done / (double)p->total);
    n += snprintf(line + n, sizeof line - (size_t)n, " %.3g %s/s", rate, p->unit);
    if (final) {
        format_duration(el, tot);
        n += snprintf(line + n, sizeof line - (size_t)n, ", done in %s", tot);
    } else if (p->total > 0 && rate > 0) {
        format_duration((double)(p->total - p->done) / rate, eta);
        n += snprintf(line + n, sizeof line - (size_t)n, ", ETA %s", eta);
    }
    if (extra && *extra) snprintf(line + n, sizeof line - (size_t)n, "  %s", extra);
    if (p->tty) fprintf(stderr, "\r\033[K%s%s", line, final ? "\n" : "");
    else fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

void progress_update(Progress *p, int64_t done, const char *extra) {
    p->done = done;
    double t = now_seconds();
    if (t - p->last < p->interval) return;
    p->last = t;
    print_line(p, extra, 0);
}

void progress_end(Progress *p, const char *extra) {
    if (!p) return;
    print_line(p, extra, 1);
    free(p);
}
