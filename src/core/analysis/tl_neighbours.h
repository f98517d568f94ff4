/*
 * tl_neighbours.h — exact k nearest neighbours by blocks of GEMM.
 */
#ifndef TL_NEIGHBOURS_H
#define TL_NEIGHBOURS_H

#include "base/tl_core.h"

/*
 * For each of the n rows of x (n × d, row-major) finds the k nearest other
 * rows (Euclidean); writes their indices to idx[n][k], nearest first (ties
 * by index).  Requires 1 <= k < n.  Squared distances come from
 * |a|² + |b|² − 2 a·b, the products a·b from one sgemm per block of rows.
 */
int			tl_knn(const float *x, int n, int d, int k, int32_t *idx, tl_status *st);

#endif							/* TL_NEIGHBOURS_H */
