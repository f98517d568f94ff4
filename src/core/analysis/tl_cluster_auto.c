/*
 * tl_cluster_auto.c — k-means with k chosen by the silhouette of a sample.
 */
#include <math.h>
#include <string.h>

#include "analysis/tl_cluster.h"
#include "analysis/tl_cluster_auto.h"

int
tl_cluster_k_max(int n)
{
	int			k = (int) floor(sqrt(n / 2.0));

	return k < 1 ? 1 : k > TL_CLUSTER_K_MAX ? TL_CLUSTER_K_MAX : k;
}

double
tl_silhouette(const double *dist, int m, const int32_t *assign, int k)
{
	double	   *sum = tl_malloc(sizeof(double) * k);
	int		   *size = tl_malloc(sizeof(int) * k);
	double		total = 0;

	if (!sum || !size)
	{
		tl_free(sum);
		tl_free(size);
		return NAN;
	}
	memset(size, 0, sizeof(int) * k);
	for (int i = 0; i < m; i++)
		size[assign[i]]++;
	for (int i = 0; i < m; i++)
	{
		double		a,
					b = INFINITY;
		int			own = assign[i];

		if (size[own] < 2)
			continue;
		memset(sum, 0, sizeof(double) * k);
		for (int j = 0; j < m; j++)
			sum[assign[j]] += dist[(int64_t) i * m + j];
		a = sum[own] / (size[own] - 1);
		for (int c = 0; c < k; c++)
			if (c != own && size[c] > 0 && sum[c] / size[c] < b)
				b = sum[c] / size[c];
		if (isfinite(b) && (a > 0 || b > 0))
			total += (b - a) / (a > b ? a : b);
	}
	tl_free(sum);
	tl_free(size);
	return total / m;
}

/* Renumbers clusters by decreasing size (ties: first point first). */
static void
number_by_size(int32_t *assign, int n, int k)
{
	int		   *size = tl_malloc(sizeof(int) * k);
	int		   *first = tl_malloc(sizeof(int) * k);
	int		   *order = tl_malloc(sizeof(int) * k);
	int32_t    *to = tl_malloc(sizeof(int32_t) * k);

	if (!size || !first || !order || !to)
		goto done;				/* keep k-means' numbering */
	for (int c = 0; c < k; c++)
	{
		size[c] = 0;
		first[c] = n;
		order[c] = c;
	}
	for (int i = 0; i < n; i++)
	{
		size[assign[i]]++;
		if (first[assign[i]] == n)
			first[assign[i]] = i;
	}
	/* insertion sort: k is small */
	for (int a = 1; a < k; a++)
		for (int b = a; b > 0; b--)
		{
			int			p = order[b - 1],
						q = order[b];

			if (size[q] > size[p] || (size[q] == size[p] && first[q] < first[p]))
			{
				order[b - 1] = q;
				order[b] = p;
			}
		}
	for (int r = 0; r < k; r++)
		to[order[r]] = r;
	for (int i = 0; i < n; i++)
		assign[i] = to[assign[i]];
done:
	tl_free(size);
	tl_free(first);
	tl_free(order);
	tl_free(to);
}

int
tl_kmeans_auto(const float *x, int n, int d, int k_max, int32_t *assign,
			   tl_cluster_choice *choice, tl_status *st)
{
	int			m = n < TL_CLUSTER_SAMPLE ? n : TL_CLUSTER_SAMPLE;
	float	   *sample = NULL,
			   *centroids = NULL;
	double	   *dist = NULL;
	int32_t    *sample_assign = NULL;
	int			best_k = 1;
	double		best = -INFINITY;
	int			rc = -1;

	if (n < 1 || d < 1)
		return tl_fail(st, TL_ERR_ARG, "clustering needs at least one point of at least one value, not %d of %d", n, d);
	if (k_max <= 0)
		k_max = tl_cluster_k_max(n);
	if (k_max > m - 1)
		k_max = m - 1;
	memset(choice, 0, sizeof(*choice));
	choice->k = 1;
	choice->sample = m;
	if (n < 4 || k_max < 2)
	{
		memset(assign, 0, sizeof(int32_t) * n);
		return 0;
	}
	sample = tl_malloc(sizeof(float) * (size_t) m * d);
	dist = tl_malloc(sizeof(double) * (size_t) m * m);
	sample_assign = tl_malloc(sizeof(int32_t) * m);
	centroids = tl_malloc(sizeof(float) * (size_t) k_max * d);
	if (!sample || !dist || !sample_assign || !centroids)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory for clustering %d points", n);
		goto done;
	}
	/* an evenly spaced sample: deterministic, and covers every part of the input order */
	for (int i = 0; i < m; i++)
		memcpy(sample + (size_t) i * d, x + (size_t) ((int64_t) i * n / m) * d, sizeof(float) * d);
	for (int i = 0; i < m; i++)
	{
		dist[(size_t) i * m + i] = 0;
		for (int j = i + 1; j < m; j++)
		{
			double		s = 0;

			for (int c = 0; c < d; c++)
			{
				double		v = (double) sample[(size_t) i * d + c] - sample[(size_t) j * d + c];

				s += v * v;
			}
			dist[(size_t) i * m + j] = dist[(size_t) j * m + i] = sqrt(s);
		}
		if (i % 64 == 0)
			tl_check_interrupt();
	}
	for (int k = 2; k <= k_max; k++)
	{
		double		s;

		if (tl_kmeans(sample, m, d, k, 100, TL_CLUSTER_SEED, sample_assign, centroids, st) < 0)
			goto done;
		s = tl_silhouette(dist, m, sample_assign, k);
		if (isnan(s))
		{
			tl_fail(st, TL_ERR_NOMEM, "out of memory for the silhouette of %d points", m);
			goto done;
		}
		/* strictly better: ties keep the smaller k */
		if (s > best)
		{
			best = s;
			best_k = k;
		}
		tl_check_interrupt();
	}
	if (tl_kmeans(x, n, d, best_k, 100, TL_CLUSTER_SEED, assign, centroids, st) < 0)
		goto done;
	number_by_size(assign, n, best_k);
	choice->k = best_k;
	choice->silhouette = best;
	rc = 0;
done:
	tl_free(sample);
	tl_free(dist);
	tl_free(sample_assign);
	tl_free(centroids);
	return rc;
}
