/* error.h: messages, exit codes and cleanup shared by every tool.
 *
 * Conventions (git style): diagnostics go to stderr as "<tool>: error: <what> '<subject>'",
 * lowercase, subject in single quotes, no full stop; an optional "hint: ..." line follows.
 * Exit codes: 0 success, 1 runtime failure, 2 usage error or bad input (config, arguments,
 * malformed input files). Library code calls die() directly: tools are short-lived processes.
 *
 * Cleanup: temporary output files registered with cleanup_add_file() are unlinked by die() and by
 * SIGINT/SIGTERM/SIGHUP, so an interrupted tool never leaves a half-written file behind. A tool that
 * must react to signals itself (train-joint writes a checkpoint) calls signals_graceful(): the
 * first signal then only sets the flag; a second one takes the default path.
 *
 * Tests: die_trap() makes die() longjmp back to the test instead of exiting (see tests/unit/test.h).
 */
#ifndef TDANN_ERROR_H
#define TDANN_ERROR_H

#include <setjmp.h>
#include <signal.h>
#include <stddef.h>

#ifdef __cplusplus
#ifndef _Noreturn
#define _Noreturn [[noreturn]]
#endif
extern "C" {
#endif

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

#define PRINTF_LIKE(a, b) __attribute__((format(printf, a, b)))

/* Sets the program name and remembers the command line (for provenance); installs the signal
 * handlers. Call first in main. */
void tool_init(const char *name, int argc, char **argv);
const char *tool_name(void);
const char *tool_command_line(void); /* shell-quoted argv joined by spaces */

extern int g_verbose; /* 0 = normal; --verbose raises it */

_Noreturn void die(int code, const char *fmt, ...) PRINTF_LIKE(2, 3);
void warn(const char *fmt, ...) PRINTF_LIKE(1, 2);
void hint(const char *fmt, ...) PRINTF_LIKE(1, 2);
/* Remembers a hint printed right after the error line of the next die(). */
void hint_next(const char *fmt, ...) PRINTF_LIKE(1, 2);
/* "<tool>: message" on stderr when g_verbose >= level (level 0 = always). */
void info(int level, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* Cleanup registry. Returns a handle for cleanup_forget(). */
int cleanup_add_file(const char *path);
void cleanup_forget(int handle);
void cleanup_run(void); /* unlink everything registered (called by die and the signal handler) */

/* After this, SIGINT/SIGTERM set *flag (to the signal number) instead of terminating. */
void signals_graceful(volatile sig_atomic_t *flag);

/* Test support: while a trap is set, die() stores its code and message and longjmps to *env
 * (setjmp returns the exit code + 1000, so a 0 code is still distinguishable). */
void die_trap(jmp_buf *env);
void die_untrap(void);
const char *die_last_message(void);

/* Checked allocation: die(EXIT_RUNTIME, "out of memory ...") on failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) PRINTF_LIKE(1, 2);

#ifdef __cplusplus
}
#endif
#endif
