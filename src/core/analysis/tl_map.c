/*
 * tl_map.c — the neighbour graph, reduced space, initial layout and
 * placement shared by UMAP and t-SNE (see tl_map.h).
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/tl_map.h"
#include "analysis/tl_knn.h"
#include "analysis/tl_pca.h"
#include "analysis/tl_tsne.h"
#include "analysis/tl_umap.h"
#include "base/tl_random.h"

/*
 * The pull of a warm start back to the previous map (tl_umap.h,
 * tl_tsne.h): chosen on planted blobs whose vectors change by up to 3 %
 * between epochs, where they cut the mean displacement from 0.37 to 0.10
 * (UMAP) and from 0.15 to 0.05 (t-SNE) of the map's spread with every
 * point still among its own blob; doc/maps.md has the measurement on a
 * real training run.
 */
#define TL_MAP_UMAP_ANCHOR_WEIGHT 0.3
#define TL_MAP_TSNE_ANCHOR_WEIGHT 0.01

void
tl_map_graph_free(tl_map_graph *g)
{
	tl_free(g->idx);
	tl_free(g->dist);
	g->idx = NULL;
	g->dist = NULL;
}

int
tl_map_graph_build(const float *x, int n, int d, int k, int exact_max, tl_map_graph *g,
				   tl_status *st)
{
	g->n = n;
	g->k = k;
	g->idx = tl_malloc(sizeof(int32_t) * (size_t) n * k);
	g->dist = tl_malloc(sizeof(float) * (size_t) n * k);
	if (g->idx == NULL || g->dist == NULL)
	{
		tl_map_graph_free(g);
		return tl_fail(st, TL_ERR_NOMEM, "out of memory for the %d-nearest-neighbour graph of %d points", k, n);
	}
	if (tl_knn_graph(x, n, d, k, exact_max, g->idx, g->dist, st) < 0)
	{
		tl_map_graph_free(g);
		return -1;
	}
	return 0;
}

void
tl_sym_graph_free(tl_sym_graph *s)
{
	tl_free(s->start);
	tl_free(s->col);
	tl_free(s->w);
	s->start = NULL;
	s->col = NULL;
	s->w = NULL;
}

/* a directed weight, keyed by its unordered pair */
typedef struct pair_entry
{
	uint64_t	key;			/* low index × 2^32 + high index */
	float		w;
} pair_entry;

static int
by_key(const void *a, const void *b)
{
	uint64_t	x = ((const pair_entry *) a)->key,
				y = ((const pair_entry *) b)->key;

	return x < y ? -1 : x > y;
}

int
tl_map_symmetrize(const tl_map_graph *g, const float *w, tl_sym_rule rule,
				  tl_sym_graph *out, tl_status *st)
{
	int64_t		nk = (int64_t) g->n * g->k,
				pairs = 0;
	pair_entry *pe = tl_malloc(sizeof(pair_entry) * (nk > 0 ? nk : 1));
	int64_t    *fill;

	out->n = g->n;
	out->start = tl_calloc((size_t) g->n + 1, sizeof(int64_t));
	out->col = NULL;
	out->w = NULL;
	if (!pe || !out->start)
	{
		tl_free(pe);
		tl_sym_graph_free(out);
		return tl_fail(st, TL_ERR_NOMEM, "out of memory for the symmetric graph of %d points", g->n);
	}
	for (int i = 0; i < g->n; i++)
		for (int r = 0; r < g->k; r++)
		{
			uint32_t	j = (uint32_t) g->idx[(int64_t) i * g->k + r],
						lo = (uint32_t) i < j ? (uint32_t) i : j,
						hi = (uint32_t) i < j ? j : (uint32_t) i;

			pe[(int64_t) i * g->k + r].key = ((uint64_t) lo << 32) | hi;
			pe[(int64_t) i * g->k + r].w = w[(int64_t) i * g->k + r];
		}
	/* each pair appears once or twice (once from each end); both rules are symmetric */
	qsort(pe, nk, sizeof(pair_entry), by_key);
	for (int64_t i = 0; i < nk; pairs++)
	{
		float		a = pe[i].w;
		uint64_t	key = pe[i].key;

		if (i + 1 < nk && pe[i + 1].key == key)
		{
			float		b = pe[i + 1].w;

			a = rule == TL_SYM_SUM ? a + b : a + b - a * b;
			i += 2;
		}
		else
			i++;
		pe[pairs].key = key;
		pe[pairs].w = a;
		out->start[(key >> 32) + 1]++;
		out->start[(key & 0xffffffffu) + 1]++;
	}
	for (int i = 0; i < g->n; i++)
		out->start[i + 1] += out->start[i];
	out->col = tl_malloc(sizeof(int32_t) * (2 * pairs > 0 ? 2 * pairs : 1));
	out->w = tl_malloc(sizeof(float) * (2 * pairs > 0 ? 2 * pairs : 1));
	fill = tl_malloc(sizeof(int64_t) * (g->n > 0 ? g->n : 1));
	if (!out->col || !out->w || !fill)
	{
		tl_free(pe);
		tl_free(fill);
		tl_sym_graph_free(out);
		return tl_fail(st, TL_ERR_NOMEM, "out of memory for the %lld edges of the symmetric graph",
					   (long long) (2 * pairs));
	}
	memcpy(fill, out->start, sizeof(int64_t) * g->n);
	/*
	 * pairs in key order fill each row in ascending column order: row r
	 * first receives its columns below r (pairs (c, r), c ascending), then
	 * those above (pairs (r, c))
	 */
	for (int64_t p = 0; p < pairs; p++)
	{
		int32_t		lo = (int32_t) (pe[p].key >> 32),
					hi = (int32_t) (pe[p].key & 0xffffffffu);

		out->col[fill[lo]] = hi;
		out->w[fill[lo]++] = pe[p].w;
		out->col[fill[hi]] = lo;
		out->w[fill[hi]++] = pe[p].w;
	}
	tl_free(pe);
	tl_free(fill);
	return 0;
}

int
tl_map_reduce(const float *x, int n, int width, float **out, int *d, tl_status *st)
{
	int			k = width < TL_MAP_PCA_DIMS ? width : TL_MAP_PCA_DIMS;
	tl_pca_acc *acc;
	tl_pca_model m = {0};
	int			rc = -1;

	*out = NULL;
	if (k > n)
		k = n;
	acc = tl_pca_acc_new(k, TL_PCA_AUTO, st);
	if (acc == NULL)
		return -1;
	for (int i = 0; i < n; i++)
	{
		if (tl_pca_acc_add(acc, x + (int64_t) i * width, width, st) < 0)
			goto done;
		if ((i & 4095) == 4095)
			tl_check_interrupt();
	}
	m.variance = tl_malloc(sizeof(double) * k);
	m.ratio = tl_malloc(sizeof(double) * k);
	m.mean = tl_malloc(sizeof(double) * width);
	m.components = tl_malloc(sizeof(double) * (size_t) k * width);
	*out = tl_malloc(sizeof(float) * (size_t) n * k);
	if (!m.variance || !m.ratio || !m.mean || !m.components || !*out)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory for the principal components of %d vectors", n);
		goto done;
	}
	if (tl_pca_acc_finish(acc, &m, st) < 0)
		goto done;
	for (int i = 0; i < n; i++)
		tl_pca_model_project(&m, x + (int64_t) i * width, *out + (int64_t) i * k);
	*d = k;
	rc = 0;
done:
	if (rc < 0)
	{
		tl_free(*out);
		*out = NULL;
	}
	tl_pca_acc_free(acc);
	tl_free(m.variance);
	tl_free(m.ratio);
	tl_free(m.mean);
	tl_free(m.components);
	return rc;
}

/* a deterministic offset in [-0.5, 0.5) per point and axis */
static double
jitter(int i, int j)
{
	uint64_t	s = ((uint64_t) i << 2) | (uint64_t) j;

	return (double) (tl_random_next(&s) >> 11) / 9007199254740992.0 - 0.5;
}

void
tl_map_initial(const float *reduced, int n, int d, int dims, double extent, float *y)
{
	double		scale0 = 1.0;

	if (extent < 0)
	{
		double		mean = 0,
					var = 0;

		for (int i = 0; i < n; i++)
			mean += reduced[(int64_t) i * d];
		mean /= n;
		for (int i = 0; i < n; i++)
		{
			double		t = reduced[(int64_t) i * d] - mean;

			var += t * t;
		}
		var = n > 1 ? var / (n - 1) : 0;
		scale0 = var > 0 ? -extent / sqrt(var) : 0;
	}
	for (int j = 0; j < dims; j++)
	{
		double		lo = INFINITY,
					hi = -INFINITY,
					scale,
					shift,
					noise;

		for (int i = 0; i < n; i++)
		{
			double		v = j < d ? reduced[(int64_t) i * d + j] : 0;

			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
		}
		if (extent > 0)
		{
			scale = hi > lo ? extent / (hi - lo) : 0;
			shift = lo;
			noise = 1e-4 * extent;
		}
		else
		{
			scale = scale0;
			shift = 0;
			noise = 1e-4 * -extent;
		}
		/*
		 * a tiny deterministic offset: points with equal vectors would
		 * otherwise feel the same forces forever and never part
		 */
		for (int i = 0; i < n; i++)
		{
			double		v = j < d ? reduced[(int64_t) i * d + j] : 0;

			y[(int64_t) i * dims + j] = (float) ((v - shift) * scale + noise * jitter(i, j));
		}
	}
}

void
tl_map_place(const tl_map_graph *g, int dims, float *y, unsigned char *placed)
{
	int			n = g->n,
				k = g->k,
				left = 0;
	unsigned char *next = tl_malloc(n);
	double		centre[3] = {0, 0, 0},
				spread = 0;
	int			n_placed = 0;

	for (int i = 0; i < n; i++)
		if (placed[i])
		{
			for (int j = 0; j < dims; j++)
				centre[j] += y[(int64_t) i * dims + j];
			n_placed++;
		}
		else
			left++;
	if (left == 0 || n_placed == 0)
	{
		tl_free(next);
		return;
	}
	for (int j = 0; j < dims; j++)
		centre[j] /= n_placed;
	for (int i = 0; i < n; i++)
		if (placed[i])
			for (int j = 0; j < dims; j++)
			{
				double		t = y[(int64_t) i * dims + j] - centre[j];

				spread += t * t;
			}
	spread = sqrt(spread / n_placed);
	/* passes: a point is placed from the points placed before the pass */
	while (left > 0 && next != NULL)
	{
		int			newly = 0;

		memcpy(next, placed, n);
		for (int i = 0; i < n; i++)
		{
			double		acc[3] = {0, 0, 0},
						wsum = 0;

			if (placed[i])
				continue;
			for (int r = 0; r < k; r++)
			{
				int32_t		o = g->idx[(int64_t) i * k + r];
				double		w;

				if (!placed[o])
					continue;
				w = 1.0 / (g->dist[(int64_t) i * k + r] + 1e-6 * spread + 1e-30);
				for (int j = 0; j < dims; j++)
					acc[j] += w * y[(int64_t) o * dims + j];
				wsum += w;
			}
			if (wsum == 0)
				continue;
			for (int j = 0; j < dims; j++)
				y[(int64_t) i * dims + j] = (float) (acc[j] / wsum + 1e-3 * spread * jitter(i, j));
			next[i] = 1;
			newly++;
		}
		memcpy(placed, next, n);
		left -= newly;
		if (newly == 0)
			break;
	}
	for (int i = 0; left > 0 && i < n; i++)
		if (!placed[i])
		{
			for (int j = 0; j < dims; j++)
				y[(int64_t) i * dims + j] = (float) (centre[j] + spread * jitter(i, j));
			placed[i] = 1;
			left--;
		}
	tl_free(next);
}

/* ---- the whole map ---------------------------------------------------------- */

int
tl_map_parse_method(const char *s, tl_map_method *m)
{
	if (strcmp(s, "umap") == 0)
		*m = TL_MAP_UMAP;
	else if (strcmp(s, "tsne") == 0)
		*m = TL_MAP_TSNE;
	else
		return -1;
	return 0;
}

static int
check_options(const tl_map_options *o, int n, int width, tl_status *st)
{
	if (o->dims < 2 || o->dims > 3)
		return tl_fail(st, TL_ERR_ARG, "a map has 2 or 3 dimensions, not %d", o->dims);
	if (n > TL_MAP_MAX_POINTS)
		return tl_fail(st, TL_ERR_LIMIT, "a map takes at most %d points, not %d", TL_MAP_MAX_POINTS, n);
	if (width < 1)
		return tl_fail(st, TL_ERR_ARG, "the vectors are empty");
	if (o->iterations < 0 || o->iterations > 100000)
		return tl_fail(st, TL_ERR_ARG, "iterations must be between 0 (the default) and 100000, not %d",
					   o->iterations);
	if (o->method == TL_MAP_UMAP)
	{
		if (o->n_neighbors < 2 || o->n_neighbors > 200)
			return tl_fail(st, TL_ERR_ARG, "n_neighbors must be between 2 and 200, not %d", o->n_neighbors);
		if (n < o->n_neighbors)
			return tl_fail(st, TL_ERR_ARG, "%d samples are fewer than the %d neighbours UMAP looks at (n_neighbors counts the sample itself)",
						   n, o->n_neighbors);
		if (!(o->min_dist >= 0 && o->min_dist < 1))
			return tl_fail(st, TL_ERR_ARG, "min_dist must be at least 0 and below 1, not %g", o->min_dist);
	}
	else if (o->method == TL_MAP_TSNE)
	{
		if (!(o->perplexity > 0 && o->perplexity <= 100))
			return tl_fail(st, TL_ERR_ARG, "perplexity must be above 0 and at most 100, not %g", o->perplexity);
		if (!(o->perplexity < n))
			return tl_fail(st, TL_ERR_ARG, "%d samples are too few for perplexity %g: t-SNE needs more samples than the perplexity",
						   n, o->perplexity);
	}
	else
		return tl_fail(st, TL_ERR_ARG, "unknown map method %d", (int) o->method);
	return 0;
}

int
tl_map_embed(const float *x, int n, int width, const tl_map_options *o, float *y,
			 const unsigned char *start, const unsigned char *fixed, tl_status *st)
{
	float	   *reduced = NULL;
	int			d,
				k,
				rc = -1,
				n_start = 0;
	tl_map_graph g = {0};
	unsigned char *placed = NULL;

	if (check_options(o, n, width, st) < 0)
		return -1;
	for (int i = 0; start && i < n; i++)
		n_start += start[i] != 0;
	k = o->method == TL_MAP_UMAP ? o->n_neighbors - 1 : tl_tsne_neighbours(o->perplexity, n);
	if (tl_map_reduce(x, n, width, &reduced, &d, st) < 0)
		return -1;
	if (tl_map_graph_build(reduced, n, d, k, o->knn_exact_max > 0 ? o->knn_exact_max : INT_MAX, &g, st) < 0)
		goto done;
	if (n_start == 0)
		tl_map_initial(reduced, n, d, o->dims, o->method == TL_MAP_UMAP ? 10.0 : -1e-4, y);
	else
	{
		placed = tl_malloc(n);
		if (placed == NULL)
		{
			tl_fail(st, TL_ERR_NOMEM, "out of memory placing %d points", n);
			goto done;
		}
		memcpy(placed, start, n);
		tl_map_place(&g, o->dims, y, placed);
	}
	tl_free(reduced);
	reduced = NULL;
	if (o->method == TL_MAP_UMAP)
	{
		tl_umap_params p;

		tl_umap_defaults(&p);
		p.dims = o->dims;
		p.n_neighbors = o->n_neighbors;
		p.min_dist = o->min_dist;
		p.seed = o->seed;
		p.n_epochs = o->iterations > 0 ? o->iterations : n <= 10000 ? 500 : 200;
		if (n_start > 0)
		{
			p.learning_rate = 0.25;
			p.anchor_weight = fixed ? 0 : TL_MAP_UMAP_ANCHOR_WEIGHT;
			if (o->iterations == 0)
				p.n_epochs /= 3;
		}
		rc = tl_umap_optimize(&g, &p, fixed, start, y, st);
	}
	else
	{
		tl_tsne_params p;
		tl_sym_graph P = {0};

		tl_tsne_defaults(&p);
		p.dims = o->dims;
		p.perplexity = o->perplexity;
		if (n_start > 0)
		{
			p.exaggeration_iter = 0;
			p.n_iter = 750;
			p.anchor_weight = fixed ? 0 : TL_MAP_TSNE_ANCHOR_WEIGHT;
		}
		if (o->iterations > 0)
			p.n_iter = o->iterations;
		if (tl_tsne_affinities(&g, o->perplexity, &P, st) == 0)
		{
			tl_map_graph_free(&g);
			rc = tl_tsne_optimize(&P, &p, fixed, start, y, st);
		}
		tl_sym_graph_free(&P);
	}
done:
	tl_free(reduced);
	tl_free(placed);
	tl_map_graph_free(&g);
	return rc;
}
