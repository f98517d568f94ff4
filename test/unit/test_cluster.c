/*
 * test_cluster.c — unit tests of k-means and the failure-cluster summary
 * (analysis/tl_cluster.c).
 *
 * Usage: test_cluster.  Blobs planted far apart (the truth: which blob a
 * point was drawn in) and summaries counted by hand.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "test_util.h"
#include "analysis/tl_cluster.h"

static void
test_kmeans_blobs(void)
{
	enum {PER = 40, K = 3, D = 2, NPTS = PER * K};
	const float centre[K][D] = {{0, 0}, {50, 0}, {0, 50}};
	float		x[NPTS * D],
				c[K * D],
				c2[K * D];
	int32_t		assign[NPTS],
				again[NPTS];
	tl_status	st = {0};
	int			same_blob_same_cluster = 1;

	for (int i = 0; i < NPTS; i++)
		for (int j = 0; j < D; j++)
			x[i * D + j] = centre[i / PER][j] + (float) sin(i * 7.1 + j * 3.3);
	CHECK(tl_kmeans(x, NPTS, D, K, 100, 42, assign, c, &st) == 0, "%s", st.msg);
	for (int i = 0; i < NPTS; i++)
		same_blob_same_cluster &= assign[i] == assign[(i / PER) * PER];
	CHECK(same_blob_same_cluster, "a blob was split");
	CHECK(assign[0] != assign[PER] && assign[0] != assign[2 * PER] && assign[PER] != assign[2 * PER],
		  "two blobs share a cluster");
	/* each centre is its blob's mean: within the unit noise of the planted one */
	for (int b = 0; b < K; b++)
		for (int j = 0; j < D; j++)
			CHECK_NEAR(c[assign[b * PER] * D + j], centre[b][j], 1.0);
	/* a fixed seed gives the same clustering */
	CHECK(tl_kmeans(x, NPTS, D, K, 100, 42, again, c2, &st) == 0, "%s", st.msg);
	CHECK(memcmp(assign, again, sizeof(assign)) == 0 && memcmp(c, c2, sizeof(c)) == 0,
		  "the same seed gave another clustering");
}

static void
test_summaries(void)
{
	/* cluster 0: samples 0, 1, 5; cluster 1: samples 2, 3, 4 */
	const int32_t assign[6] = {0, 0, 1, 1, 1, 0};
	const bool	fails[6] = {true, false, false, true, true, false};
	const float loss[6] = {0.5f, NAN, 2.0f, 1.0f, 3.0f, 0.5f};
	tl_cluster_summary s[2];

	tl_cluster_summarise(assign, 6, 2, NULL, fails, loss, s);
	CHECK(s[0].size == 3 && s[0].failures == 1 && s[0].with_loss == 2, "cluster 0 counts");
	CHECK_NEAR(s[0].loss_sum, 1.0, 1e-12);
	/* equal losses: the earlier sample first */
	CHECK(s[0].n_worst == 2 && s[0].worst[0] == 0 && s[0].worst[1] == 5, "cluster 0 worst");
	CHECK(s[1].size == 3 && s[1].failures == 2 && s[1].with_loss == 3, "cluster 1 counts");
	CHECK_NEAR(s[1].loss_sum, 6.0, 1e-12);
	CHECK(s[1].n_worst == 3 && s[1].worst[0] == 4 && s[1].worst[1] == 2 && s[1].worst[2] == 3,
		  "cluster 1 worst: %d %d %d", s[1].worst[0], s[1].worst[1], s[1].worst[2]);

	/* an unlabelled sample is never a failure, whatever it was predicted */
	{
		const bool	labelled[6] = {false, true, true, false, true, true};

		tl_cluster_summarise(assign, 6, 2, labelled, fails, loss, s);
		CHECK(s[0].size == 3 && s[0].labelled == 2 && s[0].failures == 0, "cluster 0 labelled counts");
		CHECK(s[1].size == 3 && s[1].labelled == 2 && s[1].failures == 1, "cluster 1 labelled counts");
	}
}

static void
test_summary_keeps_five(void)
{
	enum {N = 9};
	int32_t		assign[N] = {0};
	bool		fails[N] = {0};
	float		loss[N] = {3, 9, 1, 7, 5, 8, 2, 6, 4};
	tl_cluster_summary s;
	/* the five highest, highest first: 9 (1), 8 (5), 7 (3), 6 (7), 5 (4) */
	const int	want[5] = {1, 5, 3, 7, 4};

	tl_cluster_summarise(assign, N, 1, NULL, fails, loss, &s);
	CHECK(s.n_worst == TL_CLUSTER_WORST, "kept %d", s.n_worst);
	for (int w = 0; w < TL_CLUSTER_WORST; w++)
		CHECK(s.worst[w] == want[w], "worst[%d] = %d, expected %d", w, s.worst[w], want[w]);
}

int
main(void)
{
	test_kmeans_blobs();
	test_summaries();
	test_summary_keeps_five();
	return test_summary();
}
