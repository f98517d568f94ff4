/*
 * test_umap.c — unit tests of UMAP (src/core/analysis/tl_umap.c) and of
 * the map pipeline it shares with t-SNE (tl_map.c).
 *
 * Independent truths: a and b for min_dist 0.1, spread 1 as the UMAP
 * paper's reference implementation (umap-learn) documents them; fuzzy
 * memberships derived by hand below; planted blobs that must stay apart.
 * Prints one line per failed check and a final "N passed, N failed".
 */
#include <stdio.h>

#include "base/tl_core.h"
#include "analysis/tl_map.h"
#include "analysis/tl_umap.h"
#include "test_util.h"
#include "test_maps_util.h"

static void
test_ab(void)
{
	double		a,
				b;
	tl_status	st = {0};

	/* umap-learn's find_ab_params(1.0, 0.1) = (1.5769…, 0.8950…) */
	CHECK(tl_umap_fit_ab(1.0, 0.1, &a, &b, &st) == 0, "fit_ab: %s", st.msg);
	CHECK_NEAR(a, 1.5769, 2e-3);
	CHECK_NEAR(b, 0.8951, 2e-3);
	/* min_dist 0: the curve is exp(-x); a and b still fit it */
	CHECK(tl_umap_fit_ab(1.0, 0.0, &a, &b, &st) == 0, "fit_ab(1, 0): %s", st.msg);
	CHECK(tl_umap_fit_ab(1.0, 1.5, &a, &b, &st) < 0 && st.code == TL_ERR_ARG, "min_dist above spread is refused");
}

/*
 * Four points on a line at 0, 1, 3, 7 with 2 neighbours each
 * (n_neighbors 3): the nearest neighbour has membership 1 (d = ρ), the
 * second exp(−(d2 − ρ)/σ) with 1 + that = log2(3), i.e. log2(3) − 1 =
 * 0.5849625 whatever the distances.  Directed:
 *   0→1 1, 0→2 m;  1→0 1, 1→2 m;  2→1 1, 2→0 m;  3→2 1, 3→1 m
 * fuzzy union a + b − ab:
 *   (0,1) = 1, (0,2) = 2m − m², (1,2) = 1, (1,3) = m, (2,3) = 1.
 */
static void
test_fuzzy_graph(void)
{
	int32_t		idx[8] = {1, 2, 0, 2, 1, 0, 2, 1};
	float		dist[8] = {1, 3, 1, 2, 2, 3, 4, 6};
	tl_map_graph g = {4, 2, idx, dist};
	tl_sym_graph s = {0};
	tl_status	st = {0};
	double		m = log2(3.0) - 1;
	double		want[4][4] = {{0, 1, 2 * m - m * m, 0}, {1, 0, 1, m}, {2 * m - m * m, 1, 0, 1}, {0, m, 1, 0}};
	int			entries = 0;

	CHECK(tl_umap_fuzzy_graph(&g, &s, &st) == 0, "fuzzy graph: %s", st.msg);
	for (int i = 0; i < 4; i++)
		for (int64_t e = s.start[i]; e < s.start[i + 1]; e++)
		{
			CHECK(e == s.start[i] || s.col[e] > s.col[e - 1], "row %d ascending", i);
			CHECK(fabs(s.w[e] - want[i][s.col[e]]) < 1e-4, "w(%d,%d) = %g, expected %g", i, s.col[e],
				  s.w[e], want[i][s.col[e]]);
			entries++;
		}
	CHECK(entries == 10, "5 pairs stored both ways, got %d entries", entries);
	tl_sym_graph_free(&s);
}

static tl_map_options
umap_options(int dims)
{
	tl_map_options o = {0};

	o.method = TL_MAP_UMAP;
	o.dims = dims;
	o.n_neighbors = 15;
	o.min_dist = 0.1;
	o.iterations = 200;
	o.seed = 7;
	return o;
}

static void
test_bad_input(void)
{
	float		x[40] = {0},
				y[60];
	tl_map_options o = umap_options(2);
	tl_status	st = {0};

	CHECK(tl_map_embed(x, 10, 4, &o, y, NULL, NULL, &st) < 0 && st.code == TL_ERR_ARG,
		  "fewer samples than neighbours is refused");
	CHECK(strstr(st.msg, "fewer than the 15 neighbours") != NULL, "message: %s", st.msg);
	o.n_neighbors = 5;
	o.dims = 4;
	tl_status_clear(&st);
	CHECK(tl_map_embed(x, 10, 4, &o, y, NULL, NULL, &st) < 0 && st.code == TL_ERR_ARG, "4 dimensions are refused");
	o.dims = 2;
	o.min_dist = -1;
	tl_status_clear(&st);
	CHECK(tl_map_embed(x, 10, 4, &o, y, NULL, NULL, &st) < 0 && st.code == TL_ERR_ARG, "negative min_dist is refused");
	/* ten equal vectors: a degenerate but valid map (no NaN) */
	o.min_dist = 0.1;
	tl_status_clear(&st);
	CHECK(tl_map_embed(x, 10, 4, &o, y, NULL, NULL, &st) == 0, "equal vectors: %s", st.msg);
	for (int i = 0; i < 20; i++)
		CHECK(isfinite(y[i]), "equal vectors give finite coordinates");
}

int
main(void)
{
	test_ab();
	test_fuzzy_graph();
	check_blobs(umap_options(2), 200, true);
	check_blobs(umap_options(3), 200, true);
	check_fixed_points(umap_options(2));
	test_bad_input();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
