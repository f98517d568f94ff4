/*
 * test_cluster.c — k-means and orthogonal Procrustes (analysis/tl_cluster.h)
 * on cases with a known answer.
 */
#include "analysis/tl_cluster.h"
#include "test_util.h"

static void
test_kmeans(void)
{
	/* three well separated blobs of 100 points: each blob one cluster */
	float		x[300 * 2],
				centroids[3 * 2];
	int32_t		assign[300];
	tl_status	st = {0};
	int			mixed = 0;
	uint64_t	s = 1;

	for (int i = 0; i < 300; i++)
	{
		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		x[i * 2] = (float) (20 * (i / 100) + (double) (s >> 40) / (1 << 24));
		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		x[i * 2 + 1] = (float) ((double) (s >> 40) / (1 << 24));
	}
	CHECK(tl_kmeans(x, 300, 2, 3, 100, 1, assign, centroids, &st) == 0, "kmeans: %s", st.msg);
	for (int i = 0; i < 300; i++)
		mixed += assign[i] != assign[(i / 100) * 100];
	CHECK(mixed == 0, "%d points in another blob's cluster", mixed);
	for (int c = 0; c < 3; c++)
		CHECK(fmod(centroids[c * 2] + 0.5, 20.0) < 1.5, "centroid %d at x = %g, a blob's centre", c, centroids[c * 2]);
	CHECK(tl_kmeans(x, 300, 2, 301, 100, 1, assign, centroids, &st) < 0, "more clusters than points refused");
}

static void
test_procrustes(void)
{
	/* M = Aᵀ B for B = A R with R a rotation by 30°: R comes back */
	double		a[4 * 2] = {1, 0, 0, 2, -1, 0, 0, -2},
				c30 = cos(M_PI / 6),
				s30 = sin(M_PI / 6),
				rot[4] = {c30, s30, -s30, c30},
				m[4] = {0},
				r[4];
	tl_status	st = {0};

	for (int i = 0; i < 4; i++)
		for (int p = 0; p < 2; p++)
			for (int q = 0; q < 2; q++)
			{
				double		b = a[i * 2] * rot[q] + a[i * 2 + 1] * rot[2 + q];

				m[p * 2 + q] += a[i * 2 + p] * b;
			}
	CHECK(tl_procrustes(m, 2, r, &st) == 0, "procrustes");
	for (int i = 0; i < 4; i++)
		CHECK_NEAR(r[i], rot[i], 1e-9);
}

int
main(void)
{
	test_kmeans();
	test_procrustes();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
