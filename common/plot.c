/* plot.c: gnuplot figure writer (see plot.h). The script renders every format in one loop:
 *     do for [fmt in "png svg"] { <terminal for fmt>; reset; <body>; unset multiplot; set output }
 * so the body is written once and the PNG and vector files always agree. */
#include "plot.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

static int g_gnuplot_missing = 0;

Plot *plot_open(const char *dir, const char *name, const char *title, int w, int h, int vector) {
    Plot *p = xcalloc(1, sizeof *p);
    p->dir = xstrdup(dir);
    p->name = xstrdup(name);
    char *dp = xasprintf("%s/%s.dat", dir, name), *gp = xasprintf("%s/%s.gp", dir, name);
    p->dat = fopen(dp, "w");
    p->gp = fopen(gp, "w");
    if (!p->dat || !p->gp) die(EXIT_RUNTIME, "cannot write '%s': %s", !p->dat ? dp : gp, strerror(errno));
    fprintf(p->dat, "# %s.dat: data of %s.gp (%s)\n# blocks are separated by two blank lines; gnuplot selects one with `index N`\n", name, name, title);
    fprintf(p->gp, "# %s.gp: %s\n", name, title);
    fprintf(p->gp, "# Written by make-maps. Re-plot by hand:  cd <this directory> && gnuplot %s.gp\n", name);
    fprintf(p->gp, "# Data: %s.dat (blocks picked with `index N`; see the '# [index N]' lines there).\n", name);
    const char *formats = vector == 0 ? "png svg" : vector == 1 ? "png pdf" : "png";
    fprintf(p->gp, "do for [fmt in \"%s\"] {\n", formats);
    fprintf(p->gp, "  if (fmt eq \"png\") { set terminal pngcairo size %d,%d font 'sans,9'; set output '%s.png' }\n", w, h, name);
    fprintf(p->gp, "  if (fmt eq \"svg\") { set terminal svg size %d,%d font 'sans,9' background rgb 'white'; set output '%s.svg' }\n", w, h, name);
    fprintf(p->gp, "  if (fmt eq \"pdf\") { set terminal pdfcairo size %.2fin,%.2fin font 'sans,7'; set output '%s.pdf' }\n", w / 100.0, h / 100.0, name);
    fprintf(p->gp, "  reset\n");
    free(dp);
    free(gp);
    return p;
}

/* gnuplot does not count a block without data lines, which would shift every later `index`:
 * an empty block gets one "NaN" line (plotting it would only warn; callers skip empty blocks). */
static void end_block(Plot *p) {
    if (p->nblocks && !p->has_data) fprintf(p->dat, "NaN NaN NaN\n");
}

int plot_block(Plot *p, const char *fmt, ...) {
    end_block(p);
    p->has_data = 0;
    if (p->nblocks) fprintf(p->dat, "\n\n");
    fprintf(p->dat, "# [index %d] ", p->nblocks);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->dat, fmt, ap);
    va_end(ap);
    fprintf(p->dat, "\n");
    return p->nblocks++;
}

void plot_data(Plot *p, const char *fmt, ...) {
    p->has_data = 1;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->dat, fmt, ap);
    va_end(ap);
}

void plot_cmd(Plot *p, const char *fmt, ...) {
    fprintf(p->gp, "  ");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->gp, fmt, ap);
    va_end(ap);
    fprintf(p->gp, "\n");
}

const char *plot_num(char *buf, double v) {
    if (!isfinite(v)) return "NaN";
    snprintf(buf, 32, "%.6g", v);
    return buf;
}

const char *plot_q(const char *s, char *buf, size_t len) {
    size_t k = 0;
    for (; *s && k + 2 < len; s++) {
        if (*s == '"' || *s == '\\') buf[k++] = '\\';
        buf[k++] = *s;
    }
    buf[k] = 0;
    return buf;
}

int plot_close(Plot *p, const char *gnuplot_cmd) {
    end_block(p);
    fprintf(p->gp, "  unset multiplot\n  set output\n}\n");
    int bad = ferror(p->dat) || ferror(p->gp);
    bad |= fclose(p->dat) != 0;
    bad |= fclose(p->gp) != 0;
    if (bad) die(EXIT_RUNTIME, "cannot write the figure files of '%s' in '%s'", p->name, p->dir);
    int rc = 2;
    if (!g_gnuplot_missing) {
        char *log = xasprintf("%s/%s.gnuplot.log", p->dir, p->name), *script = xasprintf("%s.gp", p->name);
        pid_t pid = fork();
        if (pid < 0) die(EXIT_RUNTIME, "cannot start gnuplot: %s", strerror(errno));
        if (pid == 0) {
            int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); close(fd); }
            if (chdir(p->dir) != 0) _exit(126);
            execlp(gnuplot_cmd, gnuplot_cmd, script, (char *)NULL);
            _exit(127);
        }
        int st = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
        size_t len = 0;
        char *out = read_text_file(log, &len);
        if (code == 127) {
            g_gnuplot_missing = 1;
            warn("cannot run '%s': figures are not rendered; their data (.dat) and scripts (.gp) are written", gnuplot_cmd);
            unlink(log);
        } else if (code != 0 || len > 0) {
            char first[256] = "";
            if (out) {
                size_t i = 0;
                while (i < len && i < sizeof first - 1 && out[i] != '\n') { first[i] = out[i]; i++; }
                first[i] = 0;
            }
            warn("gnuplot %s on '%s.gp': %s (see '%s')", code ? "failed" : "complained", p->name, first, log);
            rc = code ? 1 : 0;
        } else {
            unlink(log);
            rc = 0;
        }
        free(out);
        free(log);
        free(script);
    }
    free(p->dir);
    free(p->name);
    free(p);
    return rc;
}
