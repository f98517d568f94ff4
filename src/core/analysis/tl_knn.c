/*
 * tl_knn.c — exact k-NN by tiles of GEMM, approximate k-NN by NN-descent
 * (tl_knn.h).
 */
#include <float.h>
#include <math.h>
#include <string.h>
#include <cblas.h>

#include "base/tl_random.h"
#include "analysis/tl_knn.h"

#define ROW_BLOCK 256
#define COL_BLOCK 2048
#define DESCENT_MIN_K 20

double
tl_knn_distance(const float *a, const float *b, int d)
{
	double		s = 0;

	for (int j = 0; j < d; j++)
	{
		double		t = (double) a[j] - b[j];

		s += t * t;
	}
	return sqrt(s);
}

/* Inserts (d, j) into the sorted list (len entries, room for cap): ties by index. */
static int
list_insert(float *ld, int32_t *li, int len, int cap, float d, int32_t j)
{
	int			p;

	if (len == cap && (d > ld[cap - 1] || (d == ld[cap - 1] && j > li[cap - 1])))
		return len;
	p = len < cap ? len++ : cap - 1;
	while (p > 0 && (ld[p - 1] > d || (ld[p - 1] == d && li[p - 1] > j)))
	{
		ld[p] = ld[p - 1];
		li[p] = li[p - 1];
		p--;
	}
	ld[p] = d;
	li[p] = j;
	return len;
}

int
tl_knn_exact(const float *x, int n, const float *q, int nq, int d, int k,
			 int self, int32_t *idx, float *dist, tl_status *st)
{
	int			cap = k + TL_KNN_SPARE;
	float	   *xnorm,
			   *qnorm,
			   *dots,
			   *cd;
	int32_t    *ci;
	int		   *len;
	float	   *exact_d;
	int32_t    *exact_i;

	if (k < 1 || k > n - (self ? 1 : 0))
		return tl_fail(st, TL_ERR_ARG, "k must be between 1 and %d (the %s), not %d",
					   n - (self ? 1 : 0), self ? "samples less one" : "reference samples", k);
	if (cap > n)
		cap = n;
	xnorm = tl_malloc(sizeof(float) * n);
	qnorm = tl_malloc(sizeof(float) * ROW_BLOCK);
	dots = tl_malloc(sizeof(float) * ROW_BLOCK * COL_BLOCK);
	cd = tl_malloc(sizeof(float) * ROW_BLOCK * cap);
	ci = tl_malloc(sizeof(int32_t) * ROW_BLOCK * cap);
	len = tl_malloc(sizeof(int) * ROW_BLOCK);
	exact_d = tl_malloc(sizeof(float) * cap);
	exact_i = tl_malloc(sizeof(int32_t) * cap);
	if (!xnorm || !qnorm || !dots || !cd || !ci || !len || !exact_d || !exact_i)
	{
		tl_free(exact_d);
		tl_free(exact_i);
		tl_free(xnorm);
		tl_free(qnorm);
		tl_free(dots);
		tl_free(cd);
		tl_free(ci);
		tl_free(len);
		return tl_fail(st, TL_ERR_NOMEM, "out of memory for the %d nearest neighbours of %d samples", k, nq);
	}
	for (int i = 0; i < n; i++)
	{
		double		s = 0;

		for (int j = 0; j < d; j++)
			s += (double) x[(int64_t) i * d + j] * x[(int64_t) i * d + j];
		xnorm[i] = (float) s;
	}
	for (int r0 = 0; r0 < nq; r0 += ROW_BLOCK)
	{
		int			m = nq - r0 < ROW_BLOCK ? nq - r0 : ROW_BLOCK;

		for (int r = 0; r < m; r++)
		{
			double		s = 0;
			const float *qr = q + (int64_t) (r0 + r) * d;

			for (int j = 0; j < d; j++)
				s += (double) qr[j] * qr[j];
			qnorm[r] = (float) s;
			len[r] = 0;
		}
		for (int c0 = 0; c0 < n; c0 += COL_BLOCK)
		{
			int			w = n - c0 < COL_BLOCK ? n - c0 : COL_BLOCK;

			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, w, d, 1.0f,
						q + (int64_t) r0 * d, d, x + (int64_t) c0 * d, d, 0.0f, dots, w);
			for (int r = 0; r < m; r++)
			{
				/* squared-distance estimates, in place of the products (a loop the
				 * compiler vectorises); they only choose candidates */
				float	   *er = dots + (int64_t) r * w;
				const float *xn = xnorm + c0;
				float		qn = qnorm[r];
				float	   *ld = cd + r * cap;
				int32_t    *li = ci + r * cap;
				int			l = len[r];
				float		worst = l == cap ? ld[cap - 1] : FLT_MAX;

				for (int j = 0; j < w; j++)
					er[j] = qn + xn[j] - 2.0f * er[j];
				if (self && r0 + r >= c0 && r0 + r < c0 + w)
					er[r0 + r - c0] = FLT_MAX;
				for (int j = 0; j < w; j++)
				{
					if (er[j] >= worst)
						continue;
					l = list_insert(ld, li, l, cap, er[j], c0 + j);
					if (l == cap)
						worst = ld[cap - 1];
				}
				len[r] = l;
			}
			tl_check_interrupt();
		}
		/* the candidates again, by their exact distances */
		for (int r = 0; r < m; r++)
		{
			const float *qr = q + (int64_t) (r0 + r) * d;
			const int32_t *li = ci + r * cap;
			int32_t    *oi = idx + (int64_t) (r0 + r) * k;
			float	   *od = exact_d;
			int			l = 0;

			for (int c = 0; c < len[r]; c++)
				l = list_insert(od, exact_i, l, len[r], (float) tl_knn_distance(qr, x + (int64_t) li[c] * d, d), li[c]);
			memcpy(oi, exact_i, sizeof(int32_t) * k);
			if (dist)
				memcpy(dist + (int64_t) (r0 + r) * k, od, sizeof(float) * k);
		}
	}
	tl_free(xnorm);
	tl_free(qnorm);
	tl_free(dots);
	tl_free(cd);
	tl_free(ci);
	tl_free(len);
	tl_free(exact_d);
	tl_free(exact_i);
	return 0;
}

/* ---- NN-descent ------------------------------------------------------------ */
typedef struct descent
{
	const float *x;
	int			n,
				d,
				K;
	float	   *nd;				/* n × K distances, ascending */
	int32_t    *ni;				/* n × K neighbours */
	uint8_t    *nf;				/* n × K: 1 = new (not yet joined) */
} descent;

/* Offers w as a neighbour of u at distance dist: 1 if u's list changed. */
static int
descent_offer(descent *g, int u, int32_t w, float dist)
{
	float	   *ld = g->nd + (int64_t) u * g->K;
	int32_t    *li = g->ni + (int64_t) u * g->K;
	uint8_t    *lf = g->nf + (int64_t) u * g->K;
	int			K = g->K,
				p;

	if (dist > ld[K - 1] || (dist == ld[K - 1] && w >= li[K - 1]))
		return 0;
	for (int c = 0; c < K; c++)
		if (li[c] == w)
			return 0;
	p = K - 1;
	while (p > 0 && (ld[p - 1] > dist || (ld[p - 1] == dist && li[p - 1] > w)))
	{
		ld[p] = ld[p - 1];
		li[p] = li[p - 1];
		lf[p] = lf[p - 1];
		p--;
	}
	ld[p] = dist;
	li[p] = w;
	lf[p] = 1;
	return 1;
}

/*
 * The distance from the differences (no cancellation), in float with eight
 * partial sums so that the loop vectorises: the descent computes hundreds
 * of millions of them.
 */
static float
difference_distance(const float *a, const float *b, int d)
{
	float		part[8] = {0};
	float		s = 0;
	int			j = 0;

	for (; j + 8 <= d; j += 8)
		for (int u = 0; u < 8; u++)
		{
			float		t = a[j + u] - b[j + u];

			part[u] += t * t;
		}
	for (; j < d; j++)
		s += (a[j] - b[j]) * (a[j] - b[j]);
	for (int u = 0; u < 8; u++)
		s += part[u];
	return sqrtf(s);
}

static int
descent_join(descent *g, int a, int b)
{
	float		dist;

	if (a == b)
		return 0;
	dist = difference_distance(g->x + (int64_t) a * g->d, g->x + (int64_t) b * g->d, g->d);
	return descent_offer(g, a, b, dist) + descent_offer(g, b, a, dist);
}

/*
 * The candidate lists of one round, packed: v's new candidates at
 * list + offn[v] (nnew[v] of them: its neighbours flagged new, then a
 * sample of at most K of those who list v as new), its old ones at
 * list + offo[v] (nold[v]).  Forward entries number n·K in all and reverse
 * ones no more, so 2·n·K entries hold every list (rows of 2·K new and 2·K
 * old, fixed, took twice that: 320 MB at a million samples).
 */
typedef struct candidates
{
	int32_t    *list;			/* 2·n·K */
	int64_t    *offn,			/* n each */
			   *offo;
	int		   *nnew,			/* n each */
			   *nold,
			   *fnew,			/* the forward part of each list */
			   *fold,
			   *snew,			/* reverse entries offered (the reservoir's count) */
			   *sold;
} candidates;

static int
candidates_alloc(candidates *c, int n, int K)
{
	c->list = tl_malloc(sizeof(int32_t) * 2 * (size_t) n * K);
	c->offn = tl_malloc(sizeof(int64_t) * 2 * (size_t) n);
	c->nnew = tl_malloc(sizeof(int) * 6 * (size_t) n);
	if (!c->list || !c->offn || !c->nnew)
		return -1;
	c->offo = c->offn + n;
	c->nold = c->nnew + n;
	c->fnew = c->nold + n;
	c->fold = c->fnew + n;
	c->snew = c->fold + n;
	c->sold = c->snew + n;
	return 0;
}

static void
candidates_free(candidates *c)
{
	tl_free(c->list);
	tl_free(c->offn);
	tl_free(c->nnew);
}

/* Appends v to a list (forward part fixed, reverse part a reservoir of K). */
static void
reverse_add(int32_t *list, int *count, int *seen, int base, int K, int32_t v, uint64_t *rng)
{
	if (*count < base + K)
		list[(*count)++] = v;
	else
	{
		uint64_t	r = tl_random_next(rng) % (uint64_t) (*seen + 1);

		if (r < (uint64_t) K)
			list[base + r] = v;
	}
	(*seen)++;
}

/* Where each list goes: its forward entries and its reverse ones, at most K. */
static void
candidates_place(const descent *g, candidates *c)
{
	int			K = g->K;
	int64_t		at = 0;

	for (int v = 0; v < g->n; v++)
		c->fnew[v] = c->fold[v] = c->snew[v] = c->sold[v] = 0;
	for (int64_t e = 0; e < (int64_t) g->n * K; e++)
	{
		if (g->nf[e])
		{
			c->fnew[e / K]++;
			c->snew[g->ni[e]]++;
		}
		else
		{
			c->fold[e / K]++;
			c->sold[g->ni[e]]++;
		}
	}
	for (int v = 0; v < g->n; v++)
	{
		c->offn[v] = at;
		at += c->fnew[v] + (c->snew[v] < K ? c->snew[v] : K);
		c->offo[v] = at;
		at += c->fold[v] + (c->sold[v] < K ? c->sold[v] : K);
	}
}

/*
 * This round's candidates: every neighbour, new or old (the new ones are
 * flagged old now: each pair is joined once), and the reverse lists
 * sampled to K.
 */
static void
candidates_build(descent *g, candidates *c, uint64_t *rng)
{
	int			K = g->K;

	candidates_place(g, c);
	for (int v = 0; v < g->n; v++)
	{
		c->nnew[v] = c->nold[v] = c->snew[v] = c->sold[v] = 0;
		for (int64_t e = (int64_t) v * K; e < (int64_t) (v + 1) * K; e++)
		{
			if (g->nf[e])
				c->list[c->offn[v] + c->nnew[v]++] = g->ni[e];
			else
				c->list[c->offo[v] + c->nold[v]++] = g->ni[e];
			g->nf[e] = 0;
		}
	}
	for (int v = 0; v < g->n; v++)
	{
		for (int j = 0; j < c->fnew[v]; j++)
		{
			int32_t		u = c->list[c->offn[v] + j];

			reverse_add(c->list + c->offn[u], &c->nnew[u], &c->snew[u], c->fnew[u], K, v, rng);
		}
		for (int j = 0; j < c->fold[v]; j++)
		{
			int32_t		u = c->list[c->offo[v] + j];

			reverse_add(c->list + c->offo[u], &c->nold[u], &c->sold[u], c->fold[u], K, v, rng);
		}
	}
}

/* The local joins of a round: new with new, new with old.  Returns the updates. */
static int64_t
candidates_join(descent *g, const candidates *c)
{
	int64_t		changes = 0;

	for (int v = 0; v < g->n; v++)
	{
		const int32_t *cn = c->list + c->offn[v];
		const int32_t *co = c->list + c->offo[v];

		for (int a = 0; a < c->nnew[v]; a++)
		{
			for (int b = a + 1; b < c->nnew[v]; b++)
				changes += descent_join(g, cn[a], cn[b]);
			for (int b = 0; b < c->nold[v]; b++)
				changes += descent_join(g, cn[a], co[b]);
		}
		if ((v & 1023) == 0)
			tl_check_interrupt();
	}
	return changes;
}

/* Start: K distinct random neighbours each, all new. */
static void
descent_start(descent *g, uint64_t *rng)
{
	int			K = g->K;

	for (int v = 0; v < g->n; v++)
	{
		float	   *ld = g->nd + (int64_t) v * K;
		int32_t    *li = g->ni + (int64_t) v * K;
		const float *xv = g->x + (int64_t) v * g->d;
		int			l = 0;

		while (l < K)
		{
			int32_t		u = (int32_t) (tl_random_next(rng) % (uint64_t) g->n);
			int			dup = u == v;

			for (int c = 0; c < l && !dup; c++)
				dup = li[c] == u;
			if (!dup)
				l = list_insert(ld, li, l, K, difference_distance(xv, g->x + (int64_t) u * g->d, g->d), u);
		}
		memset(g->nf + (int64_t) v * K, 1, K);
		if ((v & 4095) == 0)
			tl_check_interrupt();
	}
}

int
tl_knn_descent(const float *x, int n, int d, int k, uint64_t seed, int max_iter,
			   int32_t *idx, float *dist, tl_status *st)
{
	descent		g = {x, n, d, 0, NULL, NULL, NULL};
	candidates	c = {0};
	uint64_t	rng = seed;
	int			rc = 0;

	if (k < 1 || k >= n)
		return tl_fail(st, TL_ERR_ARG, "k must be between 1 and %d (the samples less one), not %d", n - 1, k);
	g.K = k > DESCENT_MIN_K ? k : DESCENT_MIN_K;
	if (g.K > n - 1)
		g.K = n - 1;
	g.nd = tl_malloc(sizeof(float) * n * (size_t) g.K);
	g.ni = tl_malloc(sizeof(int32_t) * n * (size_t) g.K);
	g.nf = tl_malloc((size_t) n * g.K);
	if (!g.nd || !g.ni || !g.nf || candidates_alloc(&c, n, g.K) < 0)
	{
		rc = tl_fail(st, TL_ERR_NOMEM, "out of memory for the approximate neighbours of %d samples", n);
		goto done;
	}
	descent_start(&g, &rng);
	for (int iter = 0; iter < max_iter; iter++)
	{
		candidates_build(&g, &c, &rng);
		if (candidates_join(&g, &c) < (int64_t) (0.001 * n * g.K) + 1)
			break;
	}
	for (int v = 0; v < n; v++)
	{
		memcpy(idx + (int64_t) v * k, g.ni + (int64_t) v * g.K, sizeof(int32_t) * k);
		if (dist)
			for (int j = 0; j < k; j++)
				dist[(int64_t) v * k + j] = (float) tl_knn_distance(x + (int64_t) v * d, x + (int64_t) g.ni[(int64_t) v * g.K + j] * d, d);
	}
done:
	tl_free(g.nd);
	tl_free(g.ni);
	tl_free(g.nf);
	candidates_free(&c);
	return rc;
}

int
tl_knn_graph(const float *x, int n, int d, int k, int exact_max,
			 int32_t *idx, float *dist, tl_status *st)
{
	if (n <= exact_max)
		return tl_knn_exact(x, n, x, n, d, k, 1, idx, dist, st);
	return tl_knn_descent(x, n, d, k, UINT64_C(20261203), 30, idx, dist, st);
}
