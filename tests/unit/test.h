/* test.h: the unit-test API. A test is `TEST(name) { ... }` in any tests/unit/ .c file (or, in CUDA
 * builds, tests/gpu/ (.cu files)); tools/build/gen-tests.sh finds them. Each test runs in its own forked
 * process with its own temporary directory (t_path), so a crash or a die() fails only that test.
 *
 * Checks record a failure and go on (CHECK*); REQUIRE* return from the test on failure; SKIP
 * returns and reports SKIP (e.g. "no CUDA device"). t_check_close follows the project rule for
 * tensors: prints the first pairs marked OK / NOT OK, the max abs and rel error and the share of the
 * tolerance used; passes iff every |got - ref| <= atol + rtol * |ref| and nothing is NaN.
 */
#ifndef TDANN_TEST_H
#define TDANN_TEST_H

#include <setjmp.h>
#include <stddef.h>
#include <string.h>

#include "error.h"

#ifdef __cplusplus
#define TEST(name) extern "C" void test_##name(void); extern "C" void test_##name(void)
extern "C" {
#else
#define TEST(name) void test_##name(void)
#endif

void t_fail_at(const char *file, int line, const char *fmt, ...) PRINTF_LIKE(3, 4);
void t_skip(const char *why);
int t_failed(void);
const char *t_tmpdir(void);
char *t_path(const char *name); /* heap string: <tmpdir>/<name> */
int t_check_close(const char *what, const float *got, const float *ref, size_t n, double atol, double rtol);
double t_rel_l2(const float *got, const float *ref, size_t n); /* ||got-ref|| / ||ref|| */
int t_check_rel(const char *what, const float *got, const float *ref, size_t n, double tol);
/* Runs a shell command (sh -c) and returns its exit status (or -1). */
int t_sh(const char *fmt, ...) PRINTF_LIKE(1, 2);
const char *t_bin(void); /* directory of the built programs (TDANN_BIN) */
/* Path of a file in the source tree (tests run from the repository root). */
const char *t_src(const char *rel);

#ifdef __cplusplus
}
#endif

#define CHECK(c) do { if (!(c)) t_fail_at(__FILE__, __LINE__, "CHECK(%s)", #c); } while (0)
#define CHECK_MSG(c, ...) do { if (!(c)) t_fail_at(__FILE__, __LINE__, __VA_ARGS__); } while (0)
#define CHECK_EQ_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); \
    if (_a != _b) t_fail_at(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, _a, #b, _b); } while (0)
#define CHECK_NEAR(a, b, tol) do { double _a = (double)(a), _b = (double)(b); \
    if (!(_a - _b <= (tol) && _b - _a <= (tol))) t_fail_at(__FILE__, __LINE__, "%s = %.9g, expected %s = %.9g within %g", #a, _a, #b, _b, (double)(tol)); } while (0)
#define CHECK_STR(a, b) do { const char *_a = (a), *_b = (b); \
    if (!_a || !_b || strcmp(_a, _b) != 0) t_fail_at(__FILE__, __LINE__, "%s = '%s', expected '%s'", #a, _a ? _a : "(null)", _b ? _b : "(null)"); } while (0)
#define REQUIRE(c) do { if (!(c)) { t_fail_at(__FILE__, __LINE__, "REQUIRE(%s)", #c); return; } } while (0)
#define SKIP(why) do { t_skip(why); return; } while (0)

/* EXPECT_DIE(code, statement, "substring"): the statement must call die(code, ...) with a message
 * containing the substring (NULL: any message). */
#define EXPECT_DIE(code, stmt, substr) do { \
    jmp_buf _jb; int _r = setjmp(_jb); \
    if (_r == 0) { die_trap(&_jb); stmt; die_untrap(); \
        t_fail_at(__FILE__, __LINE__, "expected die(%d) from %s", (int)(code), #stmt); } \
    else { int _c = _r - 1000; const char *_m = die_last_message(); \
        if (_c != (code)) t_fail_at(__FILE__, __LINE__, "%s died with %d (expected %d): %s", #stmt, _c, (int)(code), _m); \
        else if ((substr) && !strstr(_m, (const char *)(substr) ? (const char *)(substr) : "")) \
            t_fail_at(__FILE__, __LINE__, "message '%s' lacks '%s'", _m, (const char *)(substr)); } \
} while (0)

#endif
