/* runner.c: the one test runner behind `make test`.
 *
 *   run-tests [-j N] [--list] [--keep] [PATTERN ...]
 *
 * Runs every registered TEST (unit, golden, GPU) and every tests/cli/t*.sh script, each in its own
 * forked process with its own temporary directory, prints "PASS|FAIL|SKIP name (time)" per test,
 * shows the captured output of failing tests only, and ends with the line
 * "N passed, N failed, N skipped". Exit status 1 if any test failed.
 * PATTERN selects tests whose name contains it. CLI scripts get TDANN_BIN (programs) and TESTS_TMP
 * (scratch directory) in the environment and run from the repository root; exit 77 means SKIP.
 * TDANN_TEST_TIMEOUT (seconds, default 900) bounds each test.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "util.h"

typedef struct { const char *name, *file; void (*fn)(void); } TestCase;
extern const TestCase TDANN_TESTS[];

enum { T_PASS = 0, T_FAIL = 1, T_SKIP = 77 };

/* ---- state of the test running in this (child) process ---- */
static int g_fail = 0, g_skip = 0;
static char g_tmp[4096];
static char g_skip_why[256];

void t_fail_at(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s:%d: FAIL: ", file, line);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    g_fail++;
}
void t_skip(const char *why) {
    g_skip = 1;
    snprintf(g_skip_why, sizeof g_skip_why, "%s", why);
    fprintf(stderr, "SKIP: %s\n", why);
}
int t_failed(void) { return g_fail; }
const char *t_tmpdir(void) { return g_tmp; }
char *t_path(const char *name) { return path_join(g_tmp, name); }
const char *t_bin(void) {
    const char *b = getenv("TDANN_BIN");
    return b ? b : "bin";
}
const char *t_src(const char *rel) { return rel; }

int t_sh(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *cmd = NULL;
    if (vasprintf(&cmd, fmt, ap) < 0) return -1;
    va_end(ap);
    fflush(stdout);
    fflush(stderr);
    int rc = system(cmd);
    free(cmd);
    if (rc == -1 || !WIFEXITED(rc)) return -1;
    return WEXITSTATUS(rc);
}

double t_rel_l2(const float *got, const float *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * (double)ref[i];
    }
    if (den == 0) return num == 0 ? 0 : INFINITY;
    return sqrt(num / den);
}

int t_check_rel(const char *what, const float *got, const float *ref, size_t n, double tol) {
    double e = t_rel_l2(got, ref, n);
    int nan = 0;
    for (size_t i = 0; i < n; i++) if (got[i] != got[i]) nan = 1;
    int ok = !nan && e <= tol;
    fprintf(stderr, "%-40s rel L2 err %.3e (tol %.1e, %5.1f%% used)%s %s\n", what, e, tol, 100 * e / tol,
            nan ? " NaN" : "", ok ? "OK" : "NOT OK");
    if (!ok) t_fail_at(__FILE__, __LINE__, "%s: relative error %.3e above %.1e%s", what, e, tol, nan ? " (NaN present)" : "");
    return ok;
}

int t_check_close(const char *what, const float *got, const float *ref, size_t n, double atol, double rtol) {
    double maxabs = 0, maxrel = 0, used = 0;
    size_t bad = 0, shown = 0;
    for (size_t i = 0; i < n; i++) {
        double g = got[i], r = ref[i], d = fabs(g - r), tol = atol + rtol * fabs(r);
        int ok = d <= tol && g == g;
        if (d > maxabs || g != g) maxabs = g != g ? INFINITY : d;
        if (fabs(r) > 0 && d / fabs(r) > maxrel) maxrel = d / fabs(r);
        if (tol > 0 && d / tol > used) used = d / tol;
        if (!ok) bad++;
        if (shown < 5 || (!ok && shown < 10)) {
            fprintf(stderr, "  %s[%zu] got %.7g ref %.7g %s\n", what, i, g, r, ok ? "OK" : "NOT OK");
            shown++;
        }
    }
    fprintf(stderr, "%-40s n=%zu max abs %.3e max rel %.3e, %.1f%% of tolerance used%s\n", what, n, maxabs, maxrel,
            100 * used, bad ? " -- MISMATCH" : "");
    if (bad) t_fail_at(__FILE__, __LINE__, "%s: %zu of %zu values outside atol %.1e + rtol %.1e", what, bad, n, atol, rtol);
    return bad == 0;
}

/* ---- the runner (parent) ---- */
typedef struct { char *name; const TestCase *unit; char *script; } Case;
typedef struct { pid_t pid; int idx; double t0; char log[4096]; } Running;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int collect_scripts(char ***out) {
    DIR *d = opendir("tests/cli");
    int n = 0, cap = 16;
    char **list = malloc(sizeof(char *) * (size_t)cap);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] != 't' || !str_ends(e->d_name, ".sh")) continue;
            if (n == cap) { cap *= 2; list = realloc(list, sizeof(char *) * (size_t)cap); }
            list[n++] = xasprintf("tests/cli/%s", e->d_name);
        }
        closedir(d);
    }
    qsort(list, (size_t)n, sizeof(char *), cmp_str);
    *out = list;
    return n;
}

static void print_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    /* the last 300 lines at most */
    char **lines = NULL;
    size_t n = 0, cap = 0;
    char buf[4096];
    while (fgets(buf, sizeof buf, f)) {
        if (n == cap) { cap = cap ? 2 * cap : 256; lines = realloc(lines, sizeof(char *) * cap); }
        lines[n++] = strdup(buf);
    }
    fclose(f);
    size_t start = n > 300 ? n - 300 : 0;
    if (start) printf("    ... (%zu earlier lines in %s)\n", start, path);
    for (size_t i = start; i < n; i++) printf("    %s", lines[i]);
    for (size_t i = 0; i < n; i++) free(lines[i]);
    free(lines);
}

static int matches(const char *name, char **pats, int npat) {
    if (npat == 0) return 1;
    for (int i = 0; i < npat; i++) if (strstr(name, pats[i])) return 1;
    return 0;
}

static pid_t launch(const Case *c, const char *base, char *log_out) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", base, c->name);
    for (char *p = dir + strlen(base) + 1; *p; p++) if (*p == '/') *p = '_';
    mkdir(dir, 0777);
    snprintf(log_out, 4096, "%s.log", dir);
    fflush(stdout);
    pid_t pid = fork();
    if (pid != 0) return pid;
    /* child */
    FILE *lf = freopen(log_out, "w", stdout);
    (void)lf;
    dup2(fileno(stdout), 2);
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *to = getenv("TDANN_TEST_TIMEOUT");
    alarm((unsigned)(to ? atoi(to) : 900));
    snprintf(g_tmp, sizeof g_tmp, "%s", dir);
    setenv("TESTS_TMP", dir, 1);
    if (c->script) {
        execl("/bin/bash", "bash", c->script, (char *)NULL);
        perror("exec bash");
        _exit(T_FAIL);
    }
    tool_init("test", 0, NULL);
    c->unit->fn();
    fflush(stdout);
    fflush(stderr);
    _exit(g_fail ? T_FAIL : g_skip ? T_SKIP : T_PASS);
}

int main(int argc, char **argv) {
    int jobs = 1, list = 0, keep = 0, npat = 0;
    char **pats = calloc((size_t)argc + 1, sizeof(char *));
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-j") == 0 && i + 1 < argc) jobs = atoi(argv[++i]);
        else if (strncmp(argv[i], "-j", 2) == 0 && argv[i][2]) jobs = atoi(argv[i] + 2);
        else if (strcmp(argv[i], "--list") == 0) list = 1;
        else if (strcmp(argv[i], "--keep") == 0) keep = 1;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("Usage: run-tests [-j N] [--list] [--keep] [PATTERN ...]\n");
            return 0;
        } else pats[npat++] = argv[i];
    }
    const char *ej = getenv("TDANN_TEST_JOBS");
    if (ej && jobs == 1) jobs = atoi(ej);
    if (jobs < 1) jobs = 1;

    char **scripts;
    int nscripts = collect_scripts(&scripts);
    int nunit = 0;
    while (TDANN_TESTS[nunit].name) nunit++;
    Case *cases = calloc((size_t)(nunit + nscripts), sizeof(Case));
    int n = 0;
    for (int i = 0; i < nunit; i++)
        if (matches(TDANN_TESTS[i].name, pats, npat)) { cases[n].name = (char *)TDANN_TESTS[i].name; cases[n].unit = &TDANN_TESTS[i]; n++; }
    for (int i = 0; i < nscripts; i++) {
        const char *b = strrchr(scripts[i], '/') + 1;
        char *name = xasprintf("cli/%.*s", (int)(strlen(b) - 3), b);
        if (!matches(name, pats, npat)) continue;
        cases[n].name = name;
        cases[n].script = scripts[i];
        n++;
    }
    if (list) {
        for (int i = 0; i < n; i++) printf("%s\n", cases[i].name);
        return 0;
    }

    const char *tmpdir = getenv("TMPDIR");
    char base[4096];
    snprintf(base, sizeof base, "%s/tdann-tests.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(base)) { perror("mkdtemp"); return 1; }

    int passed = 0, failed = 0, skipped = 0, next = 0, active = 0;
    Running *run = calloc((size_t)jobs, sizeof(Running));
    double t_all = now_seconds();
    while (next < n || active > 0) {
        while (active < jobs && next < n) {
            for (int s = 0; s < jobs; s++) {
                if (run[s].pid) continue;
                run[s].idx = next;
                run[s].t0 = now_seconds();
                run[s].pid = launch(&cases[next], base, run[s].log);
                next++;
                active++;
                break;
            }
        }
        int status;
        pid_t pid = wait(&status);
        if (pid < 0) { if (errno == EINTR) continue; break; }
        for (int s = 0; s < jobs; s++) {
            if (run[s].pid != pid) continue;
            double dt = now_seconds() - run[s].t0;
            const Case *c = &cases[run[s].idx];
            int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            if (code == T_PASS) { printf("PASS %s (%.2fs)\n", c->name, dt); passed++; }
            else if (code == T_SKIP) {
                char why[256] = "";
                FILE *f = fopen(run[s].log, "r");
                if (f) {
                    char line[512];
                    while (fgets(line, sizeof line, f))
                        if (strncmp(line, "SKIP: ", 6) == 0) { line[strcspn(line, "\n")] = 0; snprintf(why, sizeof why, " - %s", line + 6); }
                    fclose(f);
                }
                printf("SKIP %s (%.2fs)%s\n", c->name, dt, why);
                skipped++;
            } else {
                if (WIFSIGNALED(status)) printf("FAIL %s (%.2fs, killed by signal %d%s)\n", c->name, dt, WTERMSIG(status), WTERMSIG(status) == SIGALRM ? ": timeout" : "");
                else printf("FAIL %s (%.2fs, exit %d)\n", c->name, dt, code);
                print_file(run[s].log);
                failed++;
            }
            fflush(stdout);
            run[s].pid = 0;
            active--;
        }
    }
    if (!failed && !keep) {
        char *cmd = xasprintf("rm -rf '%s'", base);
        if (system(cmd) != 0) fprintf(stderr, "run-tests: could not remove %s\n", base);
        free(cmd);
    } else {
        printf("(test scratch directories kept in %s)\n", base);
    }
    printf("total time %.1fs\n", now_seconds() - t_all);
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
