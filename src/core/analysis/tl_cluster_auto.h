/*
 * tl_cluster_auto.h — regions of perception space: k-means with the number
 * of clusters chosen from the data.
 *
 * k is the one of 2..k_max whose k-means clustering of an evenly spaced
 * sample of at most TL_CLUSTER_SAMPLE points has the highest mean
 * silhouette (Rousseeuw 1987); then k-means++ with that k runs on all
 * points.  Everything is seeded: the same points in the same order give
 * the same clusters.  Clusters are numbered from 0 by decreasing size
 * (ties: the cluster holding the earlier point first).
 */
#ifndef TL_CLUSTER_AUTO_H
#define TL_CLUSTER_AUTO_H

#include "base/tl_core.h"

#define TL_CLUSTER_SAMPLE 2000
#define TL_CLUSTER_K_MAX 20
#define TL_CLUSTER_SEED UINT64_C(20261203)

typedef struct tl_cluster_choice
{
	int			k;				/* clusters found */
	double		silhouette;		/* mean silhouette of k on the sample (0 if k = 1) */
	int			sample;			/* points the choice was made on */
} tl_cluster_choice;

/* The largest k tried for n points: min(TL_CLUSTER_K_MAX, floor(sqrt(n / 2))), at least 1. */
int			tl_cluster_k_max(int n);

/*
 * x: n × d.  Writes assign[n] (0..k−1) and *choice.  k_max <= 0 means
 * tl_cluster_k_max(n).  Fewer than 4 points, or k_max < 2: one cluster.
 */
int			tl_kmeans_auto(const float *x, int n, int d, int k_max, int32_t *assign,
						   tl_cluster_choice *choice, tl_status *st);

/*
 * Mean silhouette of a labelling of m points given their m × m distance
 * matrix (row-major); points alone in their cluster count 0.
 */
double		tl_silhouette(const double *dist, int m, const int32_t *assign, int k);

#endif							/* TL_CLUSTER_AUTO_H */
