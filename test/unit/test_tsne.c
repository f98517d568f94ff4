/*
 * test_tsne.c — unit tests of Barnes–Hut t-SNE (src/core/analysis/tl_tsne.c).
 *
 * Independent truths: the entropy of the calibrated rows (log perplexity);
 * the exact t-SNE gradient computed here by brute force over all pairs
 * (van der Maaten 2014, eq. 2), against which the tree's gradient is
 * checked at θ = 0 (equal to rounding) and θ = 0.5 (close); planted blobs.
 * Prints one line per failed check and a final "N passed, N failed".
 */
#include <limits.h>
#include <stdio.h>

#include "base/tl_core.h"
#include "analysis/tl_map.h"
#include "analysis/tl_tsne.h"
#include "test_util.h"
#include "test_maps_util.h"

static void
test_conditional(void)
{
	float		d[90],
				p[90];
	uint64_t	s = 11;

	for (int j = 0; j < 90; j++)
		d[j] = (float) (1.0 + j * 0.05 + 0.01 * normal(&s));
	for (double perp = 5; perp <= 30; perp += 25)
	{
		double		h = 0,
					sum = 0;

		tl_tsne_conditional(d, 90, log(perp), p);
		for (int j = 0; j < 90; j++)
		{
			sum += p[j];
			h -= p[j] > 0 ? p[j] * log(p[j]) : 0;
		}
		CHECK_NEAR(sum, 1.0, 1e-5);
		CHECK_NEAR(h, log(perp), 1e-4);
	}
}

/* the exact gradient of KL(P||Q) over all pairs (P dense, n × n) */
static void
exact_gradient(const double *P, const float *y, int n, int dims, double *grad)
{
	double		z = 0;

	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
		{
			double		d2 = 0;

			if (i == j)
				continue;
			for (int c = 0; c < dims; c++)
				d2 += ((double) y[i * dims + c] - y[j * dims + c]) * ((double) y[i * dims + c] - y[j * dims + c]);
			z += 1.0 / (1.0 + d2);
		}
	for (int i = 0; i < n; i++)
		for (int c = 0; c < dims; c++)
		{
			double		g = 0;

			for (int j = 0; j < n; j++)
			{
				double		d2 = 0,
							w;

				if (i == j)
					continue;
				for (int e = 0; e < dims; e++)
					d2 += ((double) y[i * dims + e] - y[j * dims + e]) * ((double) y[i * dims + e] - y[j * dims + e]);
				w = 1.0 / (1.0 + d2);
				g += 4.0 * (P[i * n + j] - w / z) * w * ((double) y[i * dims + c] - y[j * dims + c]);
			}
			grad[i * dims + c] = g;
		}
}

/*
 * One step from y0 with learning rate 1: the gains become 0.8 (the update
 * was 0), so y1 = y0 − 0.8 · gradient.  Returns the relative error of the
 * tree's gradient against the exact one.
 */
static double
gradient_error(int n, int dims, double theta)
{
	int			width = 6,
				k = 20;
	float	   *x = make_blobs(3, n / 3, width, 5),
			   *y0 = malloc(sizeof(float) * n * dims),
			   *y1 = malloc(sizeof(float) * n * dims);
	double	   *P = calloc((size_t) n * n, sizeof(double)),
			   *grad = malloc(sizeof(double) * n * dims),
				err = 0,
				norm = 0;
	tl_map_graph g = {0};
	tl_sym_graph S = {0};
	tl_tsne_params p;
	tl_status	st = {0};
	uint64_t	s = 99;

	n = n / 3 * 3;
	tl_map_graph_build(x, n, width, k, INT_MAX, &g, &st);
	CHECK(tl_tsne_affinities(&g, 6.0, &S, &st) == 0, "affinities: %s", st.msg);
	for (int i = 0; i < n; i++)
		for (int64_t e = S.start[i]; e < S.start[i + 1]; e++)
			P[(size_t) i * n + S.col[e]] = S.w[e];
	for (int i = 0; i < n * dims; i++)
		y0[i] = y1[i] = (float) (3.0 * normal(&s));
	tl_tsne_defaults(&p);
	p.dims = dims;
	p.n_iter = 1;
	p.exaggeration_iter = 0;
	p.learning_rate = 1.0;
	p.theta = theta;
	CHECK(tl_tsne_optimize(&S, &p, NULL, NULL, y1, &st) == 0, "one step: %s", st.msg);
	exact_gradient(P, y0, n, dims, grad);
	for (int i = 0; i < n * dims; i++)
	{
		double		tree = ((double) y0[i] - y1[i]) / 0.8;

		err += (tree - grad[i]) * (tree - grad[i]);
		norm += grad[i] * grad[i];
	}
	tl_map_graph_free(&g);
	tl_sym_graph_free(&S);
	free(x);
	free(y0);
	free(y1);
	free(P);
	free(grad);
	return sqrt(err / norm);
}

static void
test_affinities(void)
{
	int			n = 90,
				width = 5;
	float	   *x = make_blobs(3, 30, width, 8);
	tl_map_graph g = {0};
	tl_sym_graph S = {0};
	tl_status	st = {0};
	double		sum = 0;
	int			asym = 0;

	CHECK(tl_map_graph_build(x, n, width, tl_tsne_neighbours(10, n), INT_MAX, &g, &st) == 0, "graph: %s", st.msg);
	CHECK(g.k == 30, "3 x perplexity neighbours, got %d", g.k);
	CHECK(tl_tsne_affinities(&g, 10, &S, &st) == 0, "affinities: %s", st.msg);
	for (int i = 0; i < n; i++)
		for (int64_t e = S.start[i]; e < S.start[i + 1]; e++)
		{
			int			j = S.col[e],
						found = 0;

			sum += S.w[e];
			for (int64_t f = S.start[j]; f < S.start[j + 1]; f++)
				found += S.col[f] == i && S.w[f] == S.w[e];
			asym += found != 1;
		}
	CHECK_NEAR(sum, 1.0, 1e-5);
	CHECK(asym == 0, "P is symmetric (%d entries without their mirror)", asym);
	CHECK(tl_tsne_neighbours(30, 50) == 49, "at most n - 1 neighbours");
	tl_map_graph_free(&g);
	tl_sym_graph_free(&S);
	free(x);
}

static tl_map_options
tsne_options(int dims)
{
	tl_map_options o = {0};

	o.method = TL_MAP_TSNE;
	o.dims = dims;
	o.perplexity = 15;
	return o;
}

static void
test_bad_input(void)
{
	float	   *x = calloc(200 * 4, sizeof(float)),
				y[400];
	tl_map_options o = tsne_options(2);
	tl_status	st = {0};

	CHECK(tl_map_embed(x, 10, 4, &o, y, NULL, NULL, &st) < 0 && st.code == TL_ERR_ARG,
		  "fewer samples than the perplexity is refused");
	o.perplexity = 0;
	tl_status_clear(&st);
	CHECK(tl_map_embed(x, 10, 4, &o, y, NULL, NULL, &st) < 0 && st.code == TL_ERR_ARG, "perplexity 0 is refused");
	o.perplexity = 5;
	o.dims = 1;
	tl_status_clear(&st);
	CHECK(tl_map_embed(x, 10, 4, &o, y, NULL, NULL, &st) < 0 && st.code == TL_ERR_ARG, "1 dimension is refused");
	/* 200 equal vectors: the tree cannot split them apart, the map stays finite */
	o.dims = 2;
	tl_status_clear(&st);
	CHECK(tl_map_embed(x, 200, 4, &o, y, NULL, NULL, &st) == 0, "equal vectors: %s", st.msg);
	for (int i = 0; i < 400; i++)
		CHECK(isfinite(y[i]), "equal vectors give finite coordinates");
	free(x);
}

int
main(void)
{
	double		e0,
				e5;

	test_conditional();
	test_affinities();
	e0 = gradient_error(150, 2, 0.0);
	e5 = gradient_error(150, 2, 0.5);
	printf("gradient relative error: θ = 0 %.2g, θ = 0.5 %.2g\n", e0, e5);
	CHECK(e0 < 1e-3, "θ = 0: the tree's gradient is the exact one up to the float rounding of the positions (relative error %g)", e0);
	CHECK(e5 < 0.05, "θ = 0.5: within 5%% of the exact gradient (relative error %g)", e5);
	e0 = gradient_error(150, 3, 0.0);
	CHECK(e0 < 1e-3, "3-D, θ = 0: the exact gradient (relative error %g)", e0);
	check_blobs(tsne_options(2), 1000, false);
	check_blobs(tsne_options(3), 1000, false);
	check_fixed_points(tsne_options(2));
	test_bad_input();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
