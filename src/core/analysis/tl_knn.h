/*
 * tl_knn.h — k nearest neighbours (Euclidean): exact by blocks of GEMM, or
 * approximate by NN-descent (Dong, Charikar, Li, WWW 2011) for large n.
 *
 * Every distance returned is recomputed from the differences of the two
 * vectors in double precision: the GEMM form |a|² + |b|² − 2a·b only picks
 * candidates (with TL_KNN_SPARE spares), so near-identical vectors get a
 * true, tiny distance instead of one lost to cancellation.
 */
#ifndef TL_KNN_H
#define TL_KNN_H

#include "base/tl_core.h"

/* Candidates kept beyond k before the exact recomputation. */
#define TL_KNN_SPARE 8

/*
 * For each of the nq rows of q (nq × d) the k nearest rows of x (n × d):
 * idx[nq][k] (nearest first; ties by index) and dist[nq][k] (may be NULL).
 * self = 1 when q is x itself: row i never lists itself.  Requires
 * 1 <= k <= n (k < n when self).  Memory: one tile of 256 × 16384 products
 * and the candidates of 256 rows.
 */
int			tl_knn_exact(const float *x, int n, const float *q, int nq, int d, int k,
						 int self, int32_t *idx, float *dist, tl_status *st);

/*
 * The approximate k-NN graph of x by NN-descent: random start (seed), local
 * joins over new/old and reverse candidate lists until fewer than
 * 0.1 % of the entries change in a round (at most max_iter rounds); built
 * with max(k, 20) neighbours per row, the k nearest kept.
 */
int			tl_knn_descent(const float *x, int n, int d, int k, uint64_t seed, int max_iter,
						   int32_t *idx, float *dist, tl_status *st);

/* The k-NN graph of x: exact up to exact_max rows, NN-descent above. */
int			tl_knn_graph(const float *x, int n, int d, int k, int exact_max,
						 int32_t *idx, float *dist, tl_status *st);

/* Euclidean distance from the differences, in double precision. */
double		tl_knn_distance(const float *a, const float *b, int d);

#endif							/* TL_KNN_H */
