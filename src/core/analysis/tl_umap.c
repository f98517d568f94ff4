/*
 * tl_umap.c — UMAP: fuzzy simplicial set of the neighbour graph, then
 * stochastic gradient descent with negative sampling (see tl_umap.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/tl_umap.h"
#include "base/tl_random.h"

#define SIGMA_ITERATIONS 64
#define SIGMA_TOLERANCE 1e-5
#define MIN_SIGMA_SCALE 1e-3	/* σ_i >= this × the mean distance */
#define GRADIENT_CLIP 4.0f

void
tl_umap_defaults(tl_umap_params *p)
{
	p->dims = 2;
	p->n_neighbors = 15;
	p->min_dist = 0.1;
	p->spread = 1.0;
	p->n_epochs = 0;
	p->negative_sample_rate = 5;
	p->learning_rate = 1.0;
	p->seed = 0;
	p->anchor_weight = 0;
}

/* ---- a and b of the low-dimensional similarity curve ------------------ */

#define AB_POINTS 300

static double
ab_sse(const double *x, const double *t, double a, double b)
{
	double		s = 0;

	for (int i = 0; i < AB_POINTS; i++)
	{
		double		r = 1.0 / (1.0 + a * pow(x[i], 2 * b)) - t[i];

		s += r * r;
	}
	return s;
}

int
tl_umap_fit_ab(double spread, double min_dist, double *a, double *b, tl_status *st)
{
	double		x[AB_POINTS],
				t[AB_POINTS],
				pa = 1.0,
				pb = 1.0,
				lambda = 1e-3,
				sse;

	if (!(spread > 0) || !(min_dist >= 0) || !(min_dist < spread) || !isfinite(spread))
		return tl_fail(st, TL_ERR_ARG, "min_dist must be at least 0 and below spread (%g), and spread above 0; min_dist is %g",
					   spread, min_dist);
	for (int i = 0; i < AB_POINTS; i++)
	{
		x[i] = 3.0 * spread * i / (AB_POINTS - 1);
		t[i] = x[i] < min_dist ? 1.0 : exp(-(x[i] - min_dist) / spread);
	}
	sse = ab_sse(x, t, pa, pb);
	/* Levenberg–Marquardt on the two parameters */
	for (int it = 0; it < 500; it++)
	{
		double		jtj[3] = {0, 0, 0},
					jtr[2] = {0, 0},
					det,
					da,
					db,
					next;

		for (int i = 0; i < AB_POINTS; i++)
		{
			double		p2b = x[i] > 0 ? pow(x[i], 2 * pb) : 0,
						den = 1.0 + pa * p2b,
						f = 1.0 / den,
						ja = -p2b / (den * den),
						jb = x[i] > 0 ? -pa * p2b * 2 * log(x[i]) / (den * den) : 0,
						r = f - t[i];

			jtj[0] += ja * ja;
			jtj[1] += ja * jb;
			jtj[2] += jb * jb;
			jtr[0] += ja * r;
			jtr[1] += jb * r;
		}
		for (;;)
		{
			double		m00 = jtj[0] * (1 + lambda),
						m11 = jtj[2] * (1 + lambda);

			det = m00 * m11 - jtj[1] * jtj[1];
			if (det == 0)
				break;
			da = -(m11 * jtr[0] - jtj[1] * jtr[1]) / det;
			db = -(m00 * jtr[1] - jtj[1] * jtr[0]) / det;
			next = ab_sse(x, t, pa + da, pb + db);
			if (next < sse && pa + da > 0 && pb + db > 0)
			{
				pa += da;
				pb += db;
				lambda = lambda > 1e-12 ? lambda / 10 : lambda;
				break;
			}
			lambda *= 10;
			if (lambda > 1e12)
				break;
		}
		if (lambda > 1e12 || det == 0 || fabs(sse - next) <= 1e-15 * (sse + 1e-300))
			break;
		sse = next < sse ? next : sse;
	}
	*a = pa;
	*b = pb;
	return 0;
}

/* ---- the fuzzy simplicial set ------------------------------------------ */

/* One point's memberships: ρ, then σ by bisection (tl_umap.h step 1). */
static void
memberships(const float *dist, int k, double target, double mean_all, float *w)
{
	double		rho = 0,
				lo = 0,
				hi = INFINITY,
				sigma = 1.0,
				mean = 0;

	for (int j = 0; j < k; j++)
	{
		mean += dist[j];
		if (rho == 0 && dist[j] > 0)
			rho = dist[j];
	}
	mean /= k;
	for (int it = 0; it < SIGMA_ITERATIONS; it++)
	{
		double		s = 0;

		for (int j = 0; j < k; j++)
		{
			double		d = dist[j] - rho;

			s += d > 0 ? exp(-d / sigma) : 1.0;
		}
		if (fabs(s - target) < SIGMA_TOLERANCE)
			break;
		if (s > target)
		{
			hi = sigma;
			sigma = (lo + hi) / 2;
		}
		else
		{
			lo = sigma;
			sigma = isinf(hi) ? sigma * 2 : (lo + hi) / 2;
		}
	}
	/* a floor: points in a crowd of equal distances would get σ → 0 */
	if (rho > 0)
		sigma = sigma > MIN_SIGMA_SCALE * mean ? sigma : MIN_SIGMA_SCALE * mean;
	else
		sigma = sigma > MIN_SIGMA_SCALE * mean_all ? sigma : MIN_SIGMA_SCALE * mean_all;
	for (int j = 0; j < k; j++)
	{
		double		d = dist[j] - rho;

		w[j] = (float) (d > 0 && sigma > 0 ? exp(-d / sigma) : 1.0);
	}
}

int
tl_umap_fuzzy_graph(const tl_map_graph *g, tl_sym_graph *s, tl_status *st)
{
	int64_t		nk = (int64_t) g->n * g->k;
	float	   *w = tl_malloc(sizeof(float) * nk);
	double		target = log2((double) g->k + 1),
				mean_all = 0;
	int			rc;

	if (w == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory for the fuzzy neighbour graph of %d points", g->n);
	for (int64_t i = 0; i < nk; i++)
		mean_all += g->dist[i];
	mean_all /= nk;
	for (int i = 0; i < g->n; i++)
		memberships(g->dist + (int64_t) i * g->k, g->k, target, mean_all, w + (int64_t) i * g->k);
	tl_check_interrupt();
	rc = tl_map_symmetrize(g, w, TL_SYM_FUZZY_UNION, s, st);
	tl_free(w);
	return rc;
}

/* ---- stochastic gradient descent (tl_umap.h step 3) -------------------- */

static inline float
clip(float v)
{
	return v > GRADIENT_CLIP ? GRADIENT_CLIP : v < -GRADIENT_CLIP ? -GRADIENT_CLIP : v;
}

/* what every edge sample needs */
typedef struct sgd_state
{
	int			n;
	int			dims;
	int			negative_sample_rate;
	float		a;
	float		b;
	const float *every;			/* epochs between samples of an edge; < 0: never */
	float	   *next;			/* the epoch of its next sample */
	float	   *next_neg;		/* … of its next negative samples */
	uint64_t	rng;
} sgd_state;

/* Edge i (head j, tail k) at an epoch: attraction, then negative samples. */
static inline void
sample_edge(sgd_state *sg, int32_t j, int32_t k, int64_t i, int epoch, float alpha,
			const unsigned char *fixed, float *y)
{
	int			dims = sg->dims,
				rate = sg->negative_sample_rate,
				n_neg;
	float	   *cur = y + (int64_t) j * dims,
			   *oth = y + (int64_t) k * dims;
	float		d2 = 0,
				coef = 0,
				every = sg->every[i];
	bool		move_cur = fixed == NULL || !fixed[j],
				move_oth = fixed == NULL || !fixed[k];

	if (every <= 0 || sg->next[i] > epoch)
		return;
	for (int c = 0; c < dims; c++)
		d2 += (cur[c] - oth[c]) * (cur[c] - oth[c]);
	/* attraction: the gradient of log(1/(1 + a d^2b)) */
	if (d2 > 0)
		coef = -2.0f * sg->a * sg->b * powf(d2, sg->b - 1.0f) / (sg->a * powf(d2, sg->b) + 1.0f);
	for (int c = 0; c < dims; c++)
	{
		float		gr = clip(coef * (cur[c] - oth[c]));

		if (move_cur)
			cur[c] += gr * alpha;
		if (move_oth)
			oth[c] -= gr * alpha;
	}
	sg->next[i] += every;
	if (rate == 0)
		return;
	n_neg = (int) ((epoch - sg->next_neg[i]) * rate / every);
	if (n_neg < 0)
		n_neg = 0;
	sg->next_neg[i] += n_neg * every / rate;
	if (!move_cur)
		return;
	for (int s = 0; s < n_neg; s++)
	{
		int32_t		o = (int32_t) tl_random_below(&sg->rng, (uint32_t) sg->n);
		const float *ot = y + (int64_t) o * dims;

		if (o == j)
			continue;
		d2 = 0;
		for (int c = 0; c < dims; c++)
			d2 += (cur[c] - ot[c]) * (cur[c] - ot[c]);
		if (d2 <= 0)
			continue;
		/* repulsion: the gradient of log(1 − 1/(1 + a d^2b)), softened by 0.001 */
		coef = 2.0f * sg->b / ((0.001f + d2) * (sg->a * powf(d2, sg->b) + 1.0f));
		for (int c = 0; c < dims; c++)
			cur[c] += clip(coef * (cur[c] - ot[c])) * alpha;
	}
}

int
tl_umap_optimize(const tl_map_graph *g, const tl_umap_params *p,
				 const unsigned char *fixed, const unsigned char *anchored,
				 float *y, tl_status *st)
{
	tl_sym_graph e = {0};
	int64_t		m;
	double		a,
				b,
				wmax = 0;
	int			n = g->n,
				dims = p->dims,
				n_epochs = p->n_epochs > 0 ? p->n_epochs : n <= 10000 ? 500 : 200;
	float	   *every = NULL,	/* epochs between samples of an edge */
			   *next = NULL,	/* the epoch of its next sample */
			   *next_neg = NULL,	/* … of its next negative samples */
			   *anchor = NULL;
	sgd_state	sg;

	if (dims < 2 || dims > 3)
		return tl_fail(st, TL_ERR_ARG, "a map has 2 or 3 dimensions, not %d", dims);
	if (g->k != p->n_neighbors - 1 || g->k < 1 || n < 2)
		return tl_fail(st, TL_ERR_ARG, "the graph must have n_neighbors - 1 = %d neighbours per point, not %d",
					   p->n_neighbors - 1, g->k);
	if (p->negative_sample_rate < 0 || !(p->learning_rate > 0))
		return tl_fail(st, TL_ERR_ARG, "negative_sample_rate must be >= 0 and learning_rate > 0");
	if (tl_umap_fit_ab(p->spread, p->min_dist, &a, &b, st) < 0)
		return -1;
	if (tl_umap_fuzzy_graph(g, &e, st) < 0)
		return -1;
	m = e.start[n];
	every = tl_malloc(sizeof(float) * m);
	next = tl_malloc(sizeof(float) * m);
	next_neg = tl_malloc(sizeof(float) * m);
	if (anchored && p->anchor_weight > 0)
	{
		anchor = tl_malloc(sizeof(float) * (size_t) n * dims);
		if (anchor)
			memcpy(anchor, y, sizeof(float) * (size_t) n * dims);
	}
	if (!every || !next || !next_neg || (anchored && p->anchor_weight > 0 && !anchor))
	{
		tl_free(anchor);
		tl_sym_graph_free(&e);
		tl_free(every);
		tl_free(next);
		tl_free(next_neg);
		return tl_fail(st, TL_ERR_NOMEM, "out of memory for the sampling schedule of %lld edges", (long long) m);
	}
	for (int64_t i = 0; i < m; i++)
		wmax = e.w[i] > wmax ? e.w[i] : wmax;
	for (int64_t i = 0; i < m; i++)
	{
		/* edges too weak to be sampled once in n_epochs are left out */
		every[i] = e.w[i] >= wmax / n_epochs ? (float) (wmax / e.w[i]) : -1.0f;
		next[i] = every[i];
		next_neg[i] = p->negative_sample_rate > 0 ? every[i] / p->negative_sample_rate : 0;
	}
	sg.n = n;
	sg.dims = dims;
	sg.negative_sample_rate = p->negative_sample_rate;
	sg.a = (float) a;
	sg.b = (float) b;
	sg.every = every;
	sg.next = next;
	sg.next_neg = next_neg;
	sg.rng = p->seed ^ UINT64_C(0x5eed0f0da7a5e7ed);

	for (int epoch = 0; epoch < n_epochs; epoch++)
	{
		float		alpha = (float) (p->learning_rate * (1.0 - (double) epoch / n_epochs));

		for (int32_t j = 0; j < n; j++)
			for (int64_t i = e.start[j]; i < e.start[j + 1]; i++)
				sample_edge(&sg, j, e.col[i], i, epoch, alpha, fixed, y);
		if (anchor)
		{
			float		pull = (float) p->anchor_weight * alpha;

			for (int i = 0; i < n; i++)
				if (anchored[i] && (fixed == NULL || !fixed[i]))
					for (int c = 0; c < dims; c++)
						y[(int64_t) i * dims + c] += pull * (anchor[(int64_t) i * dims + c] - y[(int64_t) i * dims + c]);
		}
		tl_check_interrupt();
	}
	tl_sym_graph_free(&e);
	tl_free(every);
	tl_free(next);
	tl_free(next_neg);
	tl_free(anchor);
	return 0;
}
