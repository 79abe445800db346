/* batchnorm.h: batch normalisation (BatchNorm2d semantics) fused with an optional residual add
 * and ReLU:  y = relu?( gamma * (x - mean) * invstd + beta  (+ res) ).
 *
 * Layout: NCHW float32; x, res, y [n][c][hw] (hw = H*W); gamma, beta, mean, invstd [c].
 * count = number of values per channel that the statistics cover: n*hw on one rank, the sum over
 * ranks with SyncBN.
 *
 * Every direction is a per-channel sums pass, then an apply pass, so that SyncBN can all-reduce
 * the sums (float, summed over ranks) in between:
 *   training forward:
 *     bn_sum_cpu(x -> s1[c] = sum x)                 all-reduce s1; mean = s1 / count
 *     bn_sqdev_cpu(x, mean -> s2[c] = sum (x-mean)^2)  all-reduce s2
 *     bn_train_stats_cpu: var = s2 / count (biased, used to normalise), invstd = 1/sqrt(var + eps);
 *       running_mean = (1-m) running_mean + m mean, running_var = (1-m) running_var
 *       + m * var * count/(count-1) (unbiased), m = momentum (0.1); caller bumps num_batches_tracked
 *     bn_apply_cpu(...)
 *   eval forward: bn_eval_stats_cpu(running stats -> mean, invstd), then bn_apply_cpu.
 *   backward (training statistics; dz = dy masked by y > 0 when relu, else dy):
 *     bn_backward_sums_cpu -> sums[0..c) = sum dz, sums[c..2c) = sum dz * xhat   (local: these
 *       are also dL/dbeta and dL/dgamma of this rank); all-reduce a copy for SyncBN
 *     bn_backward_apply_cpu(global sums, count) ->
 *       dx = gamma * invstd * (dz - sum_dz / count - xhat * sum_dzxhat / count),
 *       dres = dz (the residual branch's gradient; NULL when there is no residual)
 * xhat = (x - mean) * invstd. Two-pass variance (no E[x^2] - E[x]^2 cancellation); sums are
 * accumulated in double inside a rank.
 * Gradient convention: see conv2d.h (dx, dres overwritten unless accumulate).
 */
#ifndef TDANN_BATCHNORM_H
#define TDANN_BATCHNORM_H

#define BN_EPS 1e-5f
#define BN_MOMENTUM 0.1f

typedef struct { int n, c, hw; } BnShape;

void bn_sum_cpu(const BnShape *s, const float *x, float *sum);
void bn_sqdev_cpu(const BnShape *s, const float *x, const float *mean, float *sq);
/* From the (global) sums: mean = s1 / count, invstd; updates the running stats in place (both
 * may be NULL to skip the update). mean may alias s1. */
void bn_train_stats_cpu(int c, double count, const float *s1, const float *s2, float eps, float momentum,
                        float *mean, float *invstd, float *running_mean, float *running_var);
void bn_eval_stats_cpu(int c, const float *running_mean, const float *running_var, float eps,
                       float *mean, float *invstd);
/* y = relu?(gamma * (x - mean) * invstd + beta + res?); res may be NULL; y may alias x. */
void bn_apply_cpu(const BnShape *s, const float *x, const float *mean, const float *invstd,
                  const float *gamma, const float *beta, const float *res, int relu, float *y);

/* y: the forward output (needed for the ReLU mask; ignored when relu is 0). sums [2c]. */
void bn_backward_sums_cpu(const BnShape *s, const float *dy, const float *y, int relu, const float *x,
                          const float *mean, const float *invstd, float *sums);
void bn_backward_apply_cpu(const BnShape *s, const float *dy, const float *y, int relu, const float *x,
                           const float *mean, const float *invstd, const float *gamma,
                           const float *sums, double count, float *dx, float *dres, int accumulate);

#endif
