/*
 * tl_knn.c — exact k-NN by tiles of GEMM, approximate k-NN by NN-descent
 * (tl_knn.h).
 */
#include <float.h>
#include <math.h>
#include <string.h>
#include <cblas.h>

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

static uint64_t
splitmix64(uint64_t *s)
{
	uint64_t	z = (*s += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

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

/* Appends v to u's candidate list (forward part fixed, reverse part a reservoir of K). */
static void
reverse_add(int32_t *list, int *count, int *seen, int base, int K, int32_t v, uint64_t *rng)
{
	if (*count < base + K)
		list[(*count)++] = v;
	else
	{
		uint64_t	r = splitmix64(rng) % (uint64_t) (*seen + 1);

		if (r < (uint64_t) K)
			list[base + r] = v;
	}
	(*seen)++;
}

/*
 * (long function: the rounds of NN-descent — sample new/old candidates,
 * build the reverse lists, local joins, count updates — share the graph,
 * the candidate lists and the interrupt checks of one loop; split, each
 * step would take all of them as arguments.)
 */
int
tl_knn_descent(const float *x, int n, int d, int k, uint64_t seed, int max_iter,
			   int32_t *idx, float *dist, tl_status *st)
{
	descent		g = {x, n, d, 0, NULL, NULL, NULL};
	int			K = k > DESCENT_MIN_K ? k : DESCENT_MIN_K;
	int			C;
	int32_t    *cnew,
			   *cold;
	int		   *nnew,
			   *nold,
			   *fnew,
			   *fold,
			   *snew,
			   *sold;
	uint64_t	rng = seed;
	int			rc = 0;

	if (k < 1 || k >= n)
		return tl_fail(st, TL_ERR_ARG, "k must be between 1 and %d (the samples less one), not %d", n - 1, k);
	if (K > n - 1)
		K = n - 1;
	g.K = K;
	C = 2 * K;
	g.nd = tl_malloc(sizeof(float) * n * (size_t) K);
	g.ni = tl_malloc(sizeof(int32_t) * n * (size_t) K);
	g.nf = tl_malloc((size_t) n * K);
	cnew = tl_malloc(sizeof(int32_t) * n * (size_t) C);
	cold = tl_malloc(sizeof(int32_t) * n * (size_t) C);
	nnew = tl_malloc(sizeof(int) * n * (size_t) 6);
	if (!g.nd || !g.ni || !g.nf || !cnew || !cold || !nnew)
	{
		rc = tl_fail(st, TL_ERR_NOMEM, "out of memory for the approximate neighbours of %d samples", n);
		goto done;
	}
	nold = nnew + n;
	fnew = nold + n;
	fold = fnew + n;
	snew = fold + n;
	sold = snew + n;

	/* start: K distinct random neighbours each */
	for (int v = 0; v < n; v++)
	{
		float	   *ld = g.nd + (int64_t) v * K;
		int32_t    *li = g.ni + (int64_t) v * K;
		int			l = 0;

		while (l < K)
		{
			int32_t		u = (int32_t) (splitmix64(&rng) % (uint64_t) n);
			int			dup = u == v;

			for (int c = 0; c < l && !dup; c++)
				dup = li[c] == u;
			if (!dup)
				l = list_insert(ld, li, l, K, difference_distance(x + (int64_t) v * d, x + (int64_t) u * d, d), u);
		}
		memset(g.nf + (int64_t) v * K, 1, K);
		if ((v & 4095) == 0)
			tl_check_interrupt();
	}

	for (int iter = 0; iter < max_iter; iter++)
	{
		int64_t		changes = 0;

		/* forward candidates: new ones are joined once, then become old */
		for (int v = 0; v < n; v++)
		{
			int32_t    *li = g.ni + (int64_t) v * K;
			uint8_t    *lf = g.nf + (int64_t) v * K;

			nnew[v] = nold[v] = 0;
			for (int c = 0; c < K; c++)
			{
				if (lf[c])
				{
					cnew[(int64_t) v * C + nnew[v]++] = li[c];
					lf[c] = 0;
				}
				else
					cold[(int64_t) v * C + nold[v]++] = li[c];
			}
			fnew[v] = nnew[v];
			fold[v] = nold[v];
			snew[v] = sold[v] = 0;
		}
		/* reverse candidates: who lists v, sampled to K */
		for (int v = 0; v < n; v++)
		{
			for (int c = 0; c < fnew[v]; c++)
			{
				int32_t		u = cnew[(int64_t) v * C + c];

				reverse_add(cnew + (int64_t) u * C, &nnew[u], &snew[u], fnew[u], K, v, &rng);
			}
			for (int c = 0; c < fold[v]; c++)
			{
				int32_t		u = cold[(int64_t) v * C + c];

				reverse_add(cold + (int64_t) u * C, &nold[u], &sold[u], fold[u], K, v, &rng);
			}
		}
		/* local join: new with new, new with old */
		for (int v = 0; v < n; v++)
		{
			const int32_t *cn = cnew + (int64_t) v * C;
			const int32_t *co = cold + (int64_t) v * C;

			for (int a = 0; a < nnew[v]; a++)
			{
				for (int b = a + 1; b < nnew[v]; b++)
					changes += descent_join(&g, cn[a], cn[b]);
				for (int b = 0; b < nold[v]; b++)
					changes += descent_join(&g, cn[a], co[b]);
			}
			if ((v & 1023) == 0)
				tl_check_interrupt();
		}
		if (changes < (int64_t) (0.001 * n * K) + 1)
			break;
	}
	for (int v = 0; v < n; v++)
	{
		memcpy(idx + (int64_t) v * k, g.ni + (int64_t) v * K, sizeof(int32_t) * k);
		if (dist)
			for (int c = 0; c < k; c++)
				dist[(int64_t) v * k + c] = (float) tl_knn_distance(x + (int64_t) v * d, x + (int64_t) g.ni[(int64_t) v * K + c] * d, d);
	}
done:
	tl_free(g.nd);
	tl_free(g.ni);
	tl_free(g.nf);
	tl_free(cnew);
	tl_free(cold);
	tl_free(nnew);
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
