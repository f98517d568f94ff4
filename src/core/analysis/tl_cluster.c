/*
 * tl_cluster.c — k-means and orthogonal Procrustes.
 */
#include <float.h>
#include <string.h>

#include "analysis/tl_cluster.h"

/* LAPACK (OpenBLAS ships the Fortran symbols, no LAPACKE) */
extern void dgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n,
					double *a, const int *lda, double *s, double *u, const int *ldu,
					double *vt, const int *ldvt, double *work, const int *lwork, int *info);

static uint64_t
next_random(uint64_t *s)
{
	/* splitmix64 */
	uint64_t	z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static double
sq_dist(const float *a, const float *b, int d)
{
	double		s = 0;

	for (int j = 0; j < d; j++)
		s += ((double) a[j] - b[j]) * ((double) a[j] - b[j]);
	return s;
}

int
tl_kmeans(const float *x, int n, int d, int k, int max_iter, uint64_t seed,
		  int32_t *assign, float *centroids, tl_status *st)
{
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
	memcpy(centroids, x + (int64_t) (next_random(&seed) % n) * d, sizeof(float) * d);
	for (int i = 0; i < n; i++)
		dist2[i] = sq_dist(x + (int64_t) i * d, centroids, d);
	for (int c = 1; c < k; c++)
	{
		double		total = 0,
					target;
		int			pick = n - 1;

		for (int i = 0; i < n; i++)
			total += dist2[i];
		target = (double) (next_random(&seed) >> 11) / 9007199254740992.0 * total;
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
	for (int it = 0; it < max_iter; it++)
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
		if (!changed)
			break;
		memset(sums, 0, sizeof(double) * (size_t) k * d);
		memset(counts, 0, sizeof(int64_t) * k);
		for (int i = 0; i < n; i++)
		{
			counts[assign[i]]++;
			for (int j = 0; j < d; j++)
				sums[(int64_t) assign[i] * d + j] += x[(int64_t) i * d + j];
		}
		for (int c = 0; c < k; c++)
			if (counts[c] > 0)	/* an emptied cluster keeps its centre */
				for (int j = 0; j < d; j++)
					centroids[(int64_t) c * d + j] = (float) (sums[(int64_t) c * d + j] / counts[c]);
		tl_check_interrupt();
	}
	tl_free(dist2);
	tl_free(sums);
	tl_free(counts);
	return 0;
}

int
tl_procrustes(const double *m, int d, double *r, tl_status *st)
{
	double		a[9],
				s[3],
				u[9],
				vt[9],
				work[64];
	int			lwork = 64,
				info;

	if (d < 1 || d > 3)
		return tl_fail(st, TL_ERR_ARG, "alignment works in 1 to 3 dimensions, not %d", d);
	/* LAPACK is column-major: pass Mᵀ, get back Vᵀ... handled by swapping roles */
	for (int i = 0; i < d; i++)
		for (int j = 0; j < d; j++)
			a[j * d + i] = m[i * d + j];
	dgesvd_("A", "A", &d, &d, a, &d, s, u, &d, vt, &d, work, &lwork, &info);
	if (info != 0)
		return tl_fail(st, TL_ERR_ARG, "the alignment SVD did not converge (info %d)", info);
	/* R = U Vᵀ; u and vt are column-major */
	for (int i = 0; i < d; i++)
		for (int j = 0; j < d; j++)
		{
			double		sum = 0;

			for (int q = 0; q < d; q++)
				sum += u[q * d + i] * vt[j * d + q];
			r[i * d + j] = sum;
		}
	return 0;
}
