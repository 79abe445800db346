/* cross_entropy.h: softmax cross-entropy of logits against class labels (supervised task;
 * PyTorch F.cross_entropy with ignore_index = -1, reduction mean).
 *
 * logits [n][k] float32 row-major, labels [n] int32 in [0, k) or -1 (ignored).
 * loss = mean over non-ignored rows of -log softmax(logits_i)[label_i] (0 when every row is
 * ignored). Returned in double. dlogits [n][k] (may be NULL) = dloss/dlogits (overwritten; zero rows
 * for ignored labels). A label outside [-1, k) is a runtime error.
 */
#ifndef TDANN_CROSS_ENTROPY_H
#define TDANN_CROSS_ENTROPY_H

#include <stdint.h>

double cross_entropy_cpu(const float *logits, const int32_t *labels, int n, int k, float *dlogits);

#endif
