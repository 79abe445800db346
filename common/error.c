/* error.c: see error.h. */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int g_verbose = 0;

static const char *g_tool = "tdann";
static char *g_cmdline = NULL;
static jmp_buf *g_trap = NULL;
static char g_last[1024];
static char g_hint[1024];

#define MAX_CLEANUP 64
static char *g_cleanup[MAX_CLEANUP];
static volatile sig_atomic_t *g_graceful = NULL;

const char *tool_name(void) { return g_tool; }
const char *tool_command_line(void) { return g_cmdline ? g_cmdline : ""; }

/* Quote an argument for a POSIX shell only when it needs it. */
static void append_quoted(char **buf, size_t *len, size_t *cap, const char *a) {
    int plain = *a != 0;
    for (const char *p = a; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=,+@%", *p)) plain = 0;
    size_t need = strlen(a) * 4 + 4;
    if (*len + need + 2 > *cap) {
        *cap = (*len + need + 2) * 2;
        *buf = xrealloc(*buf, *cap);
    }
    char *o = *buf + *len;
    if (*len) *o++ = ' ';
    if (plain) {
        o += sprintf(o, "%s", a);
    } else {
        *o++ = '\'';
        for (const char *p = a; *p; p++) {
            if (*p == '\'') { memcpy(o, "'\\''", 4); o += 4; }
            else *o++ = *p;
        }
        *o++ = '\'';
        *o = 0;
    }
    *len = (size_t)(o - *buf);
}

static void on_signal(int sig) {
    if (g_graceful && *g_graceful == 0) {
        *g_graceful = sig;
        return;
    }
    cleanup_run();
    signal(sig, SIG_DFL);
    raise(sig);
}

void tool_init(const char *name, int argc, char **argv) {
    const char *slash = strrchr(name, '/');
    g_tool = slash ? slash + 1 : name;
    size_t len = 0, cap = 256;
    char *buf = xmalloc(cap);
    buf[0] = 0;
    for (int i = 0; i < argc; i++) append_quoted(&buf, &len, &cap, i == 0 ? g_tool : argv[i]);
    free(g_cmdline);
    g_cmdline = buf;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

void signals_graceful(volatile sig_atomic_t *flag) { g_graceful = flag; }

static void vreport(const char *kind, const char *fmt, va_list ap) {
    char msg[sizeof g_last];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (kind && strcmp(kind, "error") == 0) snprintf(g_last, sizeof g_last, "%s", msg);
    if (g_trap && kind && strcmp(kind, "error") == 0) return; /* tests look at die_last_message() */
    if (kind) fprintf(stderr, "%s: %s: %s\n", g_tool, kind, msg);
    else fprintf(stderr, "%s: %s\n", g_tool, msg);
}

void die(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport("error", fmt, ap);
    va_end(ap);
    if (g_hint[0] && !g_trap) fprintf(stderr, "hint: %s\n", g_hint);
    g_hint[0] = 0;
    if (g_trap) {
        jmp_buf *env = g_trap;
        g_trap = NULL;
        longjmp(*env, code + 1000);
    }
    cleanup_run();
    fflush(stdout);
    exit(code);
}

void warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport("warning", fmt, ap);
    va_end(ap);
}

void hint(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!g_trap) fprintf(stderr, "hint: %s\n", msg);
}

void hint_next(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_hint, sizeof g_hint, fmt, ap);
    va_end(ap);
}

void info(int level, const char *fmt, ...) {
    if (g_verbose < level) return;
    va_list ap;
    va_start(ap, fmt);
    vreport(NULL, fmt, ap);
    va_end(ap);
}

int cleanup_add_file(const char *path) {
    for (int i = 0; i < MAX_CLEANUP; i++)
        if (!g_cleanup[i]) {
            g_cleanup[i] = xstrdup(path);
            return i;
        }
    die(EXIT_RUNTIME, "too many temporary files open at once (limit %d)", MAX_CLEANUP);
}

void cleanup_forget(int handle) {
    if (handle < 0 || handle >= MAX_CLEANUP || !g_cleanup[handle]) return;
    char *p = g_cleanup[handle];
    g_cleanup[handle] = NULL;
    free(p);
}

void cleanup_run(void) {
    /* async-signal-safe enough: unlink() only, no allocation */
    for (int i = 0; i < MAX_CLEANUP; i++)
        if (g_cleanup[i]) unlink(g_cleanup[i]);
}

void die_trap(jmp_buf *env) {
    g_trap = env;
    g_last[0] = 0;
}
void die_untrap(void) { g_trap = NULL; }
const char *die_last_message(void) { return g_last; }

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die(EXIT_RUNTIME, "out of memory allocating %zu bytes", n);
    return p;
}
void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) die(EXIT_RUNTIME, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}
void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) die(EXIT_RUNTIME, "out of memory reallocating %zu bytes", n);
    return q;
}
char *xstrdup(const char *s) {
    char *p = strdup(s ? s : "");
    if (!p) die(EXIT_RUNTIME, "out of memory");
    return p;
}
char *xasprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *p = NULL;
    if (vasprintf(&p, fmt, ap) < 0) die(EXIT_RUNTIME, "out of memory");
    va_end(ap);
    return p;
}
