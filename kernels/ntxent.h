/* ntxent.h: SimCLR's NT-Xent loss (VISSL SimclrInfoNCECriterion) over the rows of all ranks.
 *
 * Input h [N][D] float32: unnormalised head outputs of all N rows, rank-major: rows
 * [r*nr, (r+1)*nr) belong to rank r (nr = rows per rank, even; N = ranks*nr; one rank: nr = N).
 * Inside a rank's block the first nr/2 rows are view A of its images and the last nr/2 rows view B
 * of the same images in the same order, so the positive of block row i is row (i + nr/2) mod nr of
 * the same block.
 *   z_i = h_i / max(||h_i||, 1e-12)                      (F.normalize)
 *   l_i = -log( exp(z_i.z_p(i)/T) / sum_{j != i} exp(z_i.z_j/T) )
 *   loss = (1/N) sum_i l_i
 * Returned in double; computed with max-subtracted log-sum-exp in double.
 * Gradient: dh [N][D] (may be NULL) = dloss/dh for every row (overwritten). In data-parallel
 * training each rank computes the global loss on the gathered rows and keeps its own block of dh
 * (scaled by the number of ranks when the parameter gradients are later averaged over ranks).
 */
#ifndef TDANN_NTXENT_H
#define TDANN_NTXENT_H

double ntxent_cpu(const float *h, int N, int rows_per_rank, int D, float temperature, float *dh);

#endif
