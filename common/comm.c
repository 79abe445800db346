/* comm.c: the one-rank communicator (every collective is the identity). See comm.h. */
#include "comm.h"

#include <string.h>

static void ar(Comm *c, float *b, size_t n) { (void)c; (void)b; (void)n; }
static void ag(Comm *c, const float *s, float *r, size_t n) {
    (void)c;
    if (r != s) memmove(r, s, n * sizeof(float));
}
static void nop(Comm *c) { (void)c; }

Comm *comm_single(void) {
    static Comm one = {0, 1, ar, ag, NULL, NULL, nop, nop, NULL};
    return &one;
}
