/*
 * test_neighbours.c — unit tests of exact k nearest neighbours
 * (analysis/tl_neighbours.c).
 *
 * Usage: test_neighbours.  Truths: distances worked out by hand on a line,
 * and the definition itself (all pairs, in double) on random points.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "test_util.h"
#include "analysis/tl_neighbours.h"

static void
test_line(void)
{
	/* 0, 1, 3, 7, 15: each one's two nearest, by hand */
	const float x[5] = {0, 1, 3, 7, 15};
	const int32_t want[5][2] = {{1, 2}, {0, 2}, {1, 0}, {2, 1}, {3, 2}};
	int32_t		idx[10];
	tl_status	st = {0};

	CHECK(tl_knn(x, 5, 1, 2, idx, &st) == 0, "%s", st.msg);
	for (int i = 0; i < 5; i++)
		CHECK(idx[i * 2] == want[i][0] && idx[i * 2 + 1] == want[i][1],
			  "neighbours of %g: %d %d, expected %d %d", x[i], idx[i * 2], idx[i * 2 + 1],
			  want[i][0], want[i][1]);
}

static void
test_ties(void)
{
	/* 0 has 1 and -1 at the same distance: the lower index first */
	const float x[3] = {0, 1, -1};
	int32_t		idx[3];
	tl_status	st = {0};

	CHECK(tl_knn(x, 3, 1, 1, idx, &st) == 0, "%s", st.msg);
	CHECK(idx[0] == 1, "tie broken towards index %d", idx[0]);
}

/* The k nearest by the definition: all pairs, double, ties by index. */
static void
brute_force(const float *x, int n, int d, int k, int i, int32_t *out)
{
	double	   *dist = malloc(sizeof(double) * n);

	for (int j = 0; j < n; j++)
	{
		double		s = 0;

		for (int q = 0; q < d; q++)
			s += ((double) x[i * d + q] - x[j * d + q]) * ((double) x[i * d + q] - x[j * d + q]);
		dist[j] = j == i ? INFINITY : s;
	}
	for (int m = 0; m < k; m++)
	{
		int			best = -1;

		for (int j = 0; j < n; j++)
			if (dist[j] < INFINITY && (best < 0 || dist[j] < dist[best]))
				best = j;
		out[m] = best;
		dist[best] = INFINITY;
	}
	free(dist);
}

static void
test_random(void)
{
	enum {N = 300, D = 16, K = 5};
	float	   *x = malloc(sizeof(float) * N * D);
	int32_t    *idx = malloc(sizeof(int32_t) * N * K);
	int32_t		want[K];
	tl_status	st = {0};
	int			wrong = 0;

	srand(7);
	for (int i = 0; i < N * D; i++)
		x[i] = (float) (rand() / (RAND_MAX + 1.0));
	CHECK(tl_knn(x, N, D, K, idx, &st) == 0, "%s", st.msg);
	for (int i = 0; i < N; i++)
	{
		brute_force(x, N, D, K, i, want);
		for (int m = 0; m < K; m++)
			wrong += idx[i * K + m] != want[m];
	}
	CHECK(wrong == 0, "%d of %d neighbours differ from all-pairs distances", wrong, N * K);
	free(x);
	free(idx);
}

static void
test_errors(void)
{
	const float x[3] = {0, 1, 2};
	int32_t		idx[9];
	tl_status	st = {0};

	CHECK(tl_knn(x, 3, 1, 3, idx, &st) < 0, "k = n accepted");
	tl_status_clear(&st);
	CHECK(tl_knn(x, 3, 1, 0, idx, &st) < 0, "k = 0 accepted");
}

int
main(void)
{
	test_line();
	test_ties();
	test_random();
	test_errors();
	return test_summary();
}
