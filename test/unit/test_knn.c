/*
 * test_knn.c — neighbours (analysis/tl_knn.h): exact k-NN against brute
 * force in double precision, near-identical vectors keep their true tiny
 * distance, NN-descent reaches recall@10 >= 0.95 against the exact graph.
 */
#include <string.h>

#include "analysis/tl_knn.h"
#include "test_util.h"

static uint64_t rng_state = 42;

/* clusters of points in d dimensions, like perception vectors on their principal components */
static float *
clustered(int n, int d, int clusters)
{
	float	   *x = malloc(sizeof(float) * n * d);
	float	   *c = malloc(sizeof(float) * clusters * d);

	for (int i = 0; i < clusters * d; i++)
		c[i] = (float) (3 * test_gauss(&rng_state));
	for (int i = 0; i < n; i++)
		for (int j = 0; j < d; j++)
			x[i * d + j] = c[(i % clusters) * d + j] + (float) test_gauss(&rng_state);
	free(c);
	return x;
}

static void
test_exact(void)
{
	int			n = 700,
				d = 16,
				k = 5;
	float	   *x = clustered(n, d, 7);
	int32_t    *idx = malloc(sizeof(int32_t) * n * k);
	float	   *dist = malloc(sizeof(float) * n * k);
	tl_status	st = {0};
	int			wrong = 0;

	CHECK(tl_knn_exact(x, n, x, n, d, k, 1, idx, dist, &st) == 0, "exact: %s", st.msg);
	for (int i = 0; i < n; i++)
	{
		/* brute force in double: the k-th distance must match, no self */
		double		best[5] = {1e300, 1e300, 1e300, 1e300, 1e300};

		for (int j = 0; j < n; j++)
		{
			double		dd;
			int			p;

			if (j == i)
				continue;
			dd = tl_knn_distance(x + i * d, x + j * d, d);
			for (p = k - 1; p >= 0 && best[p] > dd; p--)
				if (p < k - 1)
					best[p + 1] = best[p];
			if (p < k - 1)
				best[p + 1] = dd;
		}
		for (int r = 0; r < k; r++)
			wrong += idx[i * k + r] == i || fabs(dist[i * k + r] - best[r]) > 1e-5 * (1 + best[r]);
	}
	CHECK(wrong == 0, "exact k-NN differs from brute force in %d places", wrong);
	CHECK(tl_knn_exact(x, n, x, n, d, n, 1, idx, dist, &st) < 0 && st.code == TL_ERR_ARG, "k >= n refused");
	tl_status_clear(&st);
	CHECK(tl_knn_exact(x, n, x, n, d, 0, 1, idx, dist, &st) < 0 && st.code == TL_ERR_ARG, "k = 0 refused");
	free(x);
	free(idx);
	free(dist);
}

static void
test_near_identical(void)
{
	/* large norms, a difference of 1e-3 in one coordinate: |a|²+|b|²−2ab loses it in float */
	int			n = 50,
				d = 8;
	float	   *x = malloc(sizeof(float) * n * d);
	int32_t		idx[50];
	float		dist[50];
	tl_status	st = {0};

	for (int i = 0; i < n * d; i++)
		x[i] = (float) (1000 + 10 * test_gauss(&rng_state));
	memcpy(x + 7 * d, x + 3 * d, sizeof(float) * d);
	x[7 * d + 2] += 1e-3f;
	CHECK(tl_knn_exact(x, n, x, n, d, 1, 1, idx, dist, &st) == 0, "exact");
	CHECK(idx[3] == 7 && idx[7] == 3, "the near copy is the nearest neighbour (%d, %d)", idx[3], idx[7]);
	CHECK_NEAR(dist[3], (double) x[7 * d + 2] - (double) x[3 * d + 2], 1e-6);
	CHECK(dist[3] > 0, "a near copy is not at distance 0");
	free(x);
}

static void
test_descent(void)
{
	int			n = 10000,
				d = 32,
				k = 10,
				hits = 0;
	float	   *x = clustered(n, d, 50);
	int32_t    *exact = malloc(sizeof(int32_t) * n * k);
	int32_t    *approx = malloc(sizeof(int32_t) * n * k);
	float	   *dist = malloc(sizeof(float) * n * k);
	tl_status	st = {0};

	CHECK(tl_knn_exact(x, n, x, n, d, k, 1, exact, NULL, &st) == 0, "exact");
	CHECK(tl_knn_descent(x, n, d, k, 7, 30, approx, dist, &st) == 0, "descent: %s", st.msg);
	for (int i = 0; i < n; i++)
		for (int a = 0; a < k; a++)
			for (int b = 0; b < k; b++)
				hits += approx[i * k + a] == exact[i * k + b];
	printf("NN-descent recall@10 on %d clustered points in %d dimensions: %.4f\n", n, d, (double) hits / (n * k));
	CHECK((double) hits / (n * k) >= 0.95, "recall@10 = %.4f, below 0.95", (double) hits / (n * k));
	{
		int			unsorted = 0;

		for (int i = 0; i < n; i++)
			for (int r = 1; r < k; r++)
				unsorted += dist[i * k + r - 1] > dist[i * k + r];
		CHECK(unsorted == 0, "%d neighbour lists out of order", unsorted);
	}
	free(x);
	free(exact);
	free(approx);
	free(dist);
}

int
main(void)
{
	test_exact();
	test_near_identical();
	test_descent();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
