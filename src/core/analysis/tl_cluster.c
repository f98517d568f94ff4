/*
 * tl_cluster.c — k-means, and what the failure clusters of a run say.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "analysis/tl_cluster.h"
#include "base/tl_random.h"

static double
sq_dist(const float *a, const float *b, int d)
{
	double		s = 0;

	for (int j = 0; j < d; j++)
		s += ((double) a[j] - b[j]) * ((double) a[j] - b[j]);
	return s;
}

/*
 * Lloyd's iterations stop when no assignment changes or, as scikit-learn's
 * KMeans does (tol = 1e-4), when the centres move by less than KMEANS_TOL
 * times the data's mean variance (squared, summed): on a million points the
 * last few boundary points keep flipping for dozens of rounds that move no
 * centre visibly.
 */
#define KMEANS_TOL 1e-4

static double
mean_variance(const float *x, int n, int d)
{
	double		total = 0;

	for (int j = 0; j < d; j++)
	{
		double		s = 0,
					s2 = 0;

		for (int i = 0; i < n; i++)
		{
			s += x[(int64_t) i * d + j];
			s2 += (double) x[(int64_t) i * d + j] * x[(int64_t) i * d + j];
		}
		total += s2 / n - (s / n) * (s / n);
	}
	return d > 0 ? total / d : 0;
}

int
tl_kmeans(const float *x, int n, int d, int k, int max_iter, uint64_t seed,
		  int32_t *assign, float *centroids, tl_status *st)
{
	double		tol,
				shift;
	double	   *dist2 = tl_malloc(sizeof(double) * n);
	double	   *sums = tl_malloc(sizeof(double) * (size_t) k * d);
	int64_t    *counts = tl_malloc(sizeof(int64_t) * k);

	if (k < 1 || k > n)
	{
		tl_free(dist2);
		tl_free(sums);
		tl_free(counts);
		return tl_fail(st, TL_ERR_ARG, "the number of clusters must be between 1 and %d (the samples), not %d", n, k);
	}
	if (!dist2 || !sums || !counts)
	{
		tl_free(dist2);
		tl_free(sums);
		tl_free(counts);
		return tl_fail(st, TL_ERR_NOMEM, "out of memory for k-means");
	}
	/* k-means++: each next centre drawn with probability ∝ squared distance */
	memcpy(centroids, x + (int64_t) (tl_random_next(&seed) % n) * d, sizeof(float) * d);
	for (int i = 0; i < n; i++)
		dist2[i] = sq_dist(x + (int64_t) i * d, centroids, d);
	for (int c = 1; c < k; c++)
	{
		double		total = 0,
					target;
		int			pick = n - 1;

		for (int i = 0; i < n; i++)
			total += dist2[i];
		target = (double) (tl_random_next(&seed) >> 11) / 9007199254740992.0 * total;
		for (int i = 0; i < n; i++)
		{
			target -= dist2[i];
			if (target < 0)
			{
				pick = i;
				break;
			}
		}
		memcpy(centroids + (int64_t) c * d, x + (int64_t) pick * d, sizeof(float) * d);
		for (int i = 0; i < n; i++)
		{
			double		dd = sq_dist(x + (int64_t) i * d, centroids + (int64_t) c * d, d);

			if (dd < dist2[i])
				dist2[i] = dd;
		}
	}
	for (int i = 0; i < n; i++)
		assign[i] = -1;
	tol = KMEANS_TOL * mean_variance(x, n, d);
	for (int it = 0, settled = 0; it < max_iter; it++)
	{
		int			changed = 0;

		for (int i = 0; i < n; i++)
		{
			int			best = 0;
			double		bd = DBL_MAX;

			for (int c = 0; c < k; c++)
			{
				double		dd = sq_dist(x + (int64_t) i * d, centroids + (int64_t) c * d, d);

				if (dd < bd)
				{
					bd = dd;
					best = c;
				}
			}
			changed += assign[i] != best;
			assign[i] = best;
		}
		if (!changed || settled)
			break;
		memset(sums, 0, sizeof(double) * (size_t) k * d);
		memset(counts, 0, sizeof(int64_t) * k);
		for (int i = 0; i < n; i++)
		{
			counts[assign[i]]++;
			for (int j = 0; j < d; j++)
				sums[(int64_t) assign[i] * d + j] += x[(int64_t) i * d + j];
		}
		shift = 0;
		for (int c = 0; c < k; c++)
			if (counts[c] > 0)	/* an emptied cluster keeps its centre */
				for (int j = 0; j < d; j++)
				{
					float		m = (float) (sums[(int64_t) c * d + j] / counts[c]);
					float	   *cj = centroids + (int64_t) c * d + j;

					shift += ((double) m - *cj) * ((double) m - *cj);
					*cj = m;
				}
		/* the centres have stopped moving: one more assignment to match them */
		settled = shift <= tol;
		tl_check_interrupt();
	}
	tl_free(dist2);
	tl_free(sums);
	tl_free(counts);
	return 0;
}

/*
 * Keeps the TL_CLUSTER_WORST highest losses of a cluster, highest first;
 * on equal losses the sample seen first stays ahead.
 */
static void
keep_worst(tl_cluster_summary *c, int i, float l)
{
	int			p;

	if (c->n_worst == TL_CLUSTER_WORST && !(l > c->worst_loss[c->n_worst - 1]))
		return;
	p = c->n_worst < TL_CLUSTER_WORST ? c->n_worst++ : TL_CLUSTER_WORST - 1;
	while (p > 0 && c->worst_loss[p - 1] < l)
	{
		c->worst_loss[p] = c->worst_loss[p - 1];
		c->worst[p] = c->worst[p - 1];
		p--;
	}
	c->worst_loss[p] = l;
	c->worst[p] = i;
}

void
tl_cluster_summarise(const int32_t *assign, int n, int k, const bool *labelled,
					 const bool *failed, const float *loss, tl_cluster_summary *out)
{
	memset(out, 0, sizeof(tl_cluster_summary) * k);
	for (int i = 0; i < n; i++)
	{
		tl_cluster_summary *c = &out[assign[i]];

		c->size++;
		if (labelled == NULL || labelled[i])
		{
			c->labelled++;
			c->failures += failed[i];
		}
		if (isnan(loss[i]))
			continue;
		c->loss_sum += loss[i];
		c->with_loss++;
		keep_worst(c, i, loss[i]);
	}
}
