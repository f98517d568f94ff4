/*
 * tl_cluster.h — k-means, and the summary of the failure clusters of a run.
 */
#ifndef TL_CLUSTER_H
#define TL_CLUSTER_H

#include "base/tl_core.h"

/*
 * k-means++ seeding from a fixed seed, then Lloyd iterations until no
 * assignment changes or the centres settle as scikit-learn's tolerance
 * (1e-4) has it (at most max_iter).  x: n × d; writes assign[n] and
 * centroids[k][d].  Requires 1 <= k <= n.
 */
int			tl_kmeans(const float *x, int n, int d, int k, int max_iter, uint64_t seed,
					  int32_t *assign, float *centroids, tl_status *st);

/* Samples named per cluster: its highest losses. */
#define TL_CLUSTER_WORST 5

typedef struct tl_cluster_summary
{
	int			size;
	int			labelled;		/* samples with a label */
	int			failures;		/* labelled samples whose prediction is not their label */
	int			with_loss;		/* samples with a loss */
	double		loss_sum;
	int			n_worst;
	int			worst[TL_CLUSTER_WORST];	/* sample indices, highest loss first */
	float		worst_loss[TL_CLUSTER_WORST];
} tl_cluster_summary;

/*
 * Per cluster (assign[i] in 0..k-1): size, labelled samples, failures,
 * losses and the samples with the highest losses (ties: the earlier sample
 * first).  labelled[i] is false for a sample without a label (never a
 * failure); labelled NULL: every sample has one.  loss[i] is NaN where a
 * sample has none.  Writes out[k].
 */
void		tl_cluster_summarise(const int32_t *assign, int n, int k, const bool *labelled,
								 const bool *failed,
								 const float *loss, tl_cluster_summary *out);

#endif							/* TL_CLUSTER_H */
