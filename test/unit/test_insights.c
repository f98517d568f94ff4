/*
 * test_insights.c — unit tests of the significance tests and the automatic
 * clustering behind tl_insights.  Expected p-values are SciPy 1.10's
 * (scipy.stats.hypergeom.sf, fisher_exact, binom.sf, mannwhitneyu
 * asymptotic with continuity, and a numpy convolution of hypergeometric
 * pmfs for the stratified test), computed apart from this code; the
 * adjusted p-values are derived by hand.
 */
#include <string.h>

#include "analysis/tl_cluster_auto.h"
#include "analysis/tl_insights_stats.h"
#include "test_util.h"

static void
test_tails(void)
{
	tl_stratum one = {50, 10, 15};
	tl_stratum three[3] = {{100, 10, 20}, {50, 25, 10}, {30, 3, 6}};
	tl_stratum four[4] = {{400, 40, 60}, {300, 150, 50}, {200, 20, 40}, {100, 50, 30}};
	tl_stratum bad = {10, 11, 2};
	tl_status	st = {0};
	double		expected;

	/* Fisher's exact test, one-sided: the table [[7, 3], [8, 32]] */
	CHECK_NEAR(tl_hypergeom_sf(7, 50, 10, 15), 0.004490150795828771, 1e-12);
	CHECK_NEAR(tl_hypergeom_sf(30, 1000, 100, 100), 1.8838095431238297e-09, 1e-17);
	CHECK_NEAR(tl_hypergeom_sf(2, 20, 5, 5), 0.36609907120743035, 1e-12);
	CHECK_NEAR(tl_hypergeom_sf(0, 10, 3, 4), 1.0, 0);
	CHECK_NEAR(tl_hypergeom_sf(580, 9000, 1500, 733), 0.0, 1e-300);
	CHECK_NEAR(tl_hypergeom_sf(5, 10, 3, 4), 0.0, 0);	/* above the support */
	/* one stratum = Fisher */
	CHECK_NEAR(tl_excess_sf(&one, 1, 7, &expected, &st), 0.004490150795828771, 1e-12);
	CHECK_NEAR(expected, 3.0, 1e-12);
	/* strata: exact convolution */
	CHECK_NEAR(tl_excess_sf(three, 3, 9, &expected, &st), 0.3187906364819429, 1e-12);
	CHECK_NEAR(expected, 7.6, 1e-12);
	CHECK_NEAR(tl_excess_sf(four, 4, 60, &expected, &st), 0.02514421021693786, 1e-12);
	CHECK_NEAR(expected, 50.0, 1e-12);
	/* more than TL_EXACT_MAX_DRAWN: the normal approximation, close to exact */
	{
		tl_stratum big[2] = {{40000, 4000, 6000}, {30000, 6000, 3000}};
		double		p = tl_excess_sf(big, 2, 1300, &expected, &st);

		CHECK_NEAR(expected, 1200.0, 1e-9);
		/* z = (1300 - 0.5 - 1200) / sd; sd² = 6000·.1·.9·34000/39999 + 3000·.2·.8·27000/29999 */
		CHECK_NEAR(p, 0.5 * erfc((99.5 / sqrt(6000 * 0.09 * 34000.0 / 39999 + 3000 * 0.16 * 27000.0 / 29999)) / sqrt(2.0)), 1e-12);
	}
	CHECK(isnan(tl_excess_sf(&bad, 1, 1, &expected, &st)) && st.code == TL_ERR_ARG,
		  "more events than samples is an argument error: %s", st.msg);

	CHECK_NEAR(tl_binomial_sf(8, 10, 0.5), 0.0546875, 1e-14);
	CHECK_NEAR(tl_binomial_sf(30, 100, 0.2), 0.01124897872099165, 1e-12);
	CHECK_NEAR(tl_binomial_sf(0, 5, 0.3), 1.0, 0);

	/* a = {3.1, 2.2, 5.0, 4.4, 4.4, 6.1} against b = {1.0, 2.2, 0.5, 3.3, 1.1, 4.4, 0.7, 2.0} */
	CHECK_NEAR(tl_rank_sum_sf(63.5, 6, 8, 30), 0.009728323387268452, 1e-12);
	CHECK_NEAR(tl_rank_sum_sf(10, 0, 8, 0), 1.0, 0);
}

static void
test_adjust(void)
{
	double		p[5] = {0.01, 0.04, 0.03, 0.005, NAN};
	double		q[5];
	double		one = 0.2,
				q1;
	tl_p_adjust_method m;
	tl_status	st = {0};

	/* Holm by hand: sorted .005 .01 .03 .04 times 4 3 2 1 = .02 .03 .06 .04, running max */
	CHECK(tl_p_adjust(p, 5, TL_P_HOLM, q, &st) == 0, "holm: %s", st.msg);
	CHECK_NEAR(q[0], 0.03, 1e-15);
	CHECK_NEAR(q[1], 0.06, 1e-15);
	CHECK_NEAR(q[2], 0.06, 1e-15);
	CHECK_NEAR(q[3], 0.02, 1e-15);
	CHECK(isnan(q[4]), "NaN stays NaN");
	/* BH by hand: p·4/rank = .02 .02 .04 .04, running min from the top */
	CHECK(tl_p_adjust(p, 5, TL_P_BH, q, &st) == 0, "bh: %s", st.msg);
	CHECK_NEAR(q[0], 0.02, 1e-15);
	CHECK_NEAR(q[1], 0.04, 1e-15);
	CHECK_NEAR(q[2], 0.04, 1e-15);
	CHECK_NEAR(q[3], 0.02, 1e-15);
	CHECK(tl_p_adjust(&one, 1, TL_P_HOLM, &q1, &st) == 0 && q1 == 0.2, "one p-value is its own q");
	p[1] = 1.5;
	CHECK(tl_p_adjust(p, 4, TL_P_HOLM, q, &st) < 0 && st.code == TL_ERR_ARG, "a p-value above 1 is refused");
	CHECK(tl_p_adjust_parse("holm", &m) == 0 && m == TL_P_HOLM, "holm parses");
	CHECK(tl_p_adjust_parse("bonferroni", &m) < 0, "unknown methods are refused");
}

/* splitmix64, for test points */
static double
uniform(uint64_t *s)
{
	uint64_t	z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return ((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static void
test_clusters(void)
{
	enum {N = 900, D = 6, BLOBS = 4};
	static float x[N * D];
	static int32_t assign[N],
				again[N];
	int			truth[N],
				map[BLOBS];
	int			agree = 0,
				sizes[BLOBS] = {0};
	uint64_t	seed = 42;
	tl_cluster_choice choice;
	tl_status	st = {0};
	double		dist[16];
	int32_t		two[4] = {0, 0, 1, 1};

	/* four blobs of unequal size, 10 standard deviations apart */
	for (int i = 0; i < N; i++)
	{
		double		u = uniform(&seed);

		truth[i] = u < 0.4 ? 0 : u < 0.7 ? 1 : u < 0.9 ? 2 : 3;
		for (int j = 0; j < D; j++)
			x[i * D + j] = (float) ((j == truth[i] ? 10.0 : 0.0) + (uniform(&seed) + uniform(&seed) + uniform(&seed) - 1.5));
	}
	CHECK(tl_kmeans_auto(x, N, D, 0, assign, &choice, &st) == 0, "clustering: %s", st.msg);
	CHECK(choice.k == BLOBS, "k chosen = %d, expected %d", choice.k, BLOBS);
	CHECK(choice.sample == N && choice.silhouette > 0.7, "silhouette %g on %d", choice.silhouette, choice.sample);
	/* every blob is one cluster: map each blob to the cluster of its first point */
	for (int b = 0; b < BLOBS; b++)
		map[b] = -1;
	for (int i = 0; i < N; i++)
	{
		if (map[truth[i]] < 0)
			map[truth[i]] = assign[i];
		agree += assign[i] == map[truth[i]];
		if (assign[i] >= 0 && assign[i] < BLOBS)
			sizes[assign[i]]++;
	}
	CHECK(agree == N, "%d of %d points in their blob's cluster", agree, N);
	CHECK(sizes[0] >= sizes[1] && sizes[1] >= sizes[2] && sizes[2] >= sizes[3], "numbered by decreasing size");
	/* deterministic */
	CHECK(tl_kmeans_auto(x, N, D, 0, again, &choice, &st) == 0 && memcmp(assign, again, sizeof(assign)) == 0,
		  "the same points give the same clusters");
	/* k_max caps the choice; tiny inputs are one cluster */
	CHECK(tl_kmeans_auto(x, N, D, 2, assign, &choice, &st) == 0 && choice.k == 2, "k_max 2 gives %d", choice.k);
	CHECK(tl_kmeans_auto(x, 3, D, 0, assign, &choice, &st) == 0 && choice.k == 1 && assign[2] == 0, "3 points: one cluster");
	CHECK(tl_kmeans_auto(x, 0, D, 0, assign, &choice, &st) < 0 && st.code == TL_ERR_ARG, "no points: an error");
	CHECK(tl_cluster_k_max(100) == 7 && tl_cluster_k_max(1000000) == TL_CLUSTER_K_MAX && tl_cluster_k_max(1) == 1,
		  "k_max(100) = %d", tl_cluster_k_max(100));

	/* silhouette by hand: points 0, 1 | 10, 12 on a line */
	{
		double		pos[4] = {0, 1, 10, 12};

		for (int i = 0; i < 4; i++)
			for (int j = 0; j < 4; j++)
				dist[i * 4 + j] = fabs(pos[i] - pos[j]);
		/* s0 = 1 - 1/11, s1 = 1 - 1/10, s2 = 1 - 2/9.5, s3 = 1 - 2/11.5 */
		CHECK_NEAR(tl_silhouette(dist, 4, two, 2),
				   ((1 - 1.0 / 11) + (1 - 1.0 / 10) + (1 - 2 / 9.5) + (1 - 2 / 11.5)) / 4, 1e-12);
	}
}

int
main(void)
{
	test_tails();
	test_adjust();
	test_clusters();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
