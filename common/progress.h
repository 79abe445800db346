/* progress.h: progress reporting on stderr for long work.
 * When stderr is a terminal: one line rewritten in place at most 10 times a second
 * ("<tool>: <what> 1200/5000 (24%) 312 img/s, ETA 12.2s  <extra>"). Otherwise: one plain line
 * every TDANN_PROGRESS_SECONDS seconds (default 10), so logs stay readable. progress_end prints
 * the final line with the total time. */
#ifndef TDANN_PROGRESS_H
#define TDANN_PROGRESS_H

#include <stdint.h>

typedef struct Progress Progress;

Progress *progress_start(const char *what, int64_t total, const char *unit);
void progress_update(Progress *p, int64_t done, const char *extra);
void progress_end(Progress *p, const char *extra);

#endif
