/*
 * tl_cluster.h — k-means (for failure clusters) and orthogonal Procrustes
 * (for aligning a run's coordinates to the previous epoch's).
 */
#ifndef TL_CLUSTER_H
#define TL_CLUSTER_H

#include "base/tl_core.h"

/*
 * k-means++ seeding from a fixed seed, then Lloyd iterations until no
 * assignment changes (at most max_iter).  x: n × d; writes assign[n] and
 * centroids[k][d].  Requires 1 <= k <= n.
 */
int			tl_kmeans(const float *x, int n, int d, int k, int max_iter, uint64_t seed,
					  int32_t *assign, float *centroids, tl_status *st);

/*
 * The orthogonal matrix R (d × d, row-major, reflections allowed) that best
 * maps centred points A onto centred points B, given M = Aᵀ B (d × d,
 * row-major): R = U Vᵀ from the SVD M = U Σ Vᵀ (Schönemann 1966).
 */
int			tl_procrustes(const double *m, int d, double *r, tl_status *st);

#endif							/* TL_CLUSTER_H */
