/* spatial_loss.h: TDANN's spatial correlation loss on one neighbourhood of one layer
 * (spacetorch/losses/losses_torch.py; /work/shared/design/tdann-algorithm.md section 4).
 *
 * Inputs: the layer's block output x, n rows of row_stride floats (NCHW flattened per row, i.e.
 * unit = c*H*W + h*W + w); units [k] unit indices; coords [k][2] positions in mm.
 *   X = x[:, units]  (n x k)
 *   R = k x k Pearson correlation of X's columns over the n rows; a column with zero variance gets
 *       std 1 (its correlations are 0); R clamped to [-1, 1]
 *   D_ab = 1 / (1 + ||coords_a - coords_b||)
 *   over the P = k(k-1)/2 strict-lower-triangle pairs (a > b):
 *     SL_REL = (1 - pearson(R_lt, D_lt)) / 2        SL_ABS = mean |R_lt - D_lt|
 * Returns SL (double; computed in double). Needs n >= 2 and k >= 2.
 * Gradient: when dx is not NULL, dx[i*row_stride + units[a]] += scale * dSL/dX_ia (accumulates,
 * so several layers' terms and repeated units add up; the caller passes scale = alpha).
 * Conventions at the edges (PyTorch would give NaN there): a zero-variance unit's std is the
 * constant 1 (no gradient through it); clamp passes the gradient where -1 <= R <= 1; when
 * R_lt or D_lt is constant the Pearson correlation is taken as 0 with zero gradient;
 * d|u|/du = sign(u) with sign(0) = 0.
 */
#ifndef TDANN_SPATIAL_LOSS_H
#define TDANN_SPATIAL_LOSS_H

#include <stdint.h>

enum { SPATIAL_REL = 0, SPATIAL_ABS = 1 }; /* same values as engine.h SpatialKind */

double spatial_loss_cpu(int kind, const float *x, int n, long row_stride, const int32_t *units, int k,
                        const float *coords, float *dx, float scale);

#endif
