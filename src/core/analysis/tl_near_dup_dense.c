/*
 * tl_near_dup_dense.c — near-duplicate dense inputs (tl_near_dup.h):
 * centred, pooled signatures for the candidates (k-NN, tl_knn.h), the
 * relative distance at the best small shift for the verdict.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/tl_knn.h"
#include "analysis/tl_near_dup.h"

/* Signature cells per spatial axis of an image; along a signal; of a flat vector. */
#define IMAGE_CELLS 7
#define SIGNAL_CELLS 49
#define FLAT_CELLS 64
/* The largest shift tried along each spatial axis. */
#define MAX_SHIFT 1

void
tl_ndup_geometry_of(const tl_shape *shape, tl_ndup_geometry *g)
{
	int64_t		count = tl_shape_count(shape);

	memset(g, 0, sizeof(*g));
	g->h = 1;
	g->c = 1;
	g->w = (int) (count > 0 ? count : 1);
	if (shape->nd == 3 && count > 0)
	{
		g->spatial = 1;
		g->channels_first = shape->d[0] <= 4 && shape->d[2] > 4;
		g->h = g->channels_first ? shape->d[1] : shape->d[0];
		g->w = g->channels_first ? shape->d[2] : shape->d[1];
		g->c = g->channels_first ? shape->d[0] : shape->d[2];
	}
	else if (shape->nd == 2 && count > 0)
	{
		g->spatial = 1;
		if (shape->d[0] >= 8 && shape->d[1] >= 8)
		{
			g->h = shape->d[0];	/* a grey image without a channel axis */
			g->w = shape->d[1];
		}
		else
		{
			g->w = shape->d[0];	/* a signal: positions × channels */
			g->c = shape->d[1];
		}
	}
}

static void
cells_of(const tl_ndup_geometry *g, int *gh, int *gw)
{
	*gh = g->h < IMAGE_CELLS ? g->h : IMAGE_CELLS;
	if (!g->spatial)
		*gw = g->w < FLAT_CELLS ? g->w : FLAT_CELLS;
	else if (g->h == 1)
		*gw = g->w < SIGNAL_CELLS ? g->w : SIGNAL_CELLS;
	else
		*gw = g->w < IMAGE_CELLS ? g->w : IMAGE_CELLS;
}

int
tl_ndup_signature_size(const tl_ndup_geometry *g)
{
	int			gh,
				gw;

	cells_of(g, &gh, &gw);
	return gh * gw * g->c;
}

static inline int64_t
at(const tl_ndup_geometry *g, int y, int x, int ch)
{
	return g->channels_first ? ((int64_t) ch * g->h + y) * g->w + x : ((int64_t) y * g->w + x) * g->c + ch;
}

/* Adds v to cell (cy, cx) of channel ch when it is on the grid. */
static inline void
splat(float *sig, int gh, int gw, int c, int cy, int cx, int ch, double v)
{
	if (cy >= 0 && cy < gh && cx >= 0 && cx < gw)
		sig[((int64_t) cy * gw + cx) * c + ch] += (float) v;
}

/*
 * The values above the input's minimum, spread bilinearly over the cells
 * of a grid placed on the centre of mass (spatial inputs) or on the input
 * (flat vectors): a one-pixel shift moves the centre with the content.
 */
void
tl_ndup_signature(const float *x, const tl_ndup_geometry *g, float *sig)
{
	int			gh,
				gw,
				size;
	double		lo = DBL_MAX,
				mass = 0,
				cy = 0,
				cx = 0,
				norm = 0;
	int64_t		count = (int64_t) g->h * g->w * g->c;

	cells_of(g, &gh, &gw);
	size = gh * gw * g->c;
	memset(sig, 0, sizeof(float) * size);
	for (int64_t i = 0; i < count; i++)
		lo = x[i] < lo ? x[i] : lo;
	for (int y = 0; y < g->h; y++)
		for (int xx = 0; xx < g->w; xx++)
			for (int ch = 0; ch < g->c; ch++)
			{
				double		v = x[at(g, y, xx, ch)] - lo;

				mass += v;
				cy += v * (y + 0.5);
				cx += v * (xx + 0.5);
			}
	cy = g->spatial && mass > 0 ? cy / mass : g->h / 2.0;
	cx = g->spatial && mass > 0 ? cx / mass : g->w / 2.0;
	for (int y = 0; y < g->h; y++)
	{
		double		py = (y + 0.5 - cy + g->h / 2.0) * gh / g->h - 0.5;
		int			y0 = (int) floor(py);
		double		fy = py - y0;

		for (int xx = 0; xx < g->w; xx++)
		{
			double		px = (xx + 0.5 - cx + g->w / 2.0) * gw / g->w - 0.5;
			int			x0 = (int) floor(px);
			double		fx = px - x0;

			for (int ch = 0; ch < g->c; ch++)
			{
				double		v = x[at(g, y, xx, ch)] - lo;

				if (v == 0)
					continue;
				splat(sig, gh, gw, g->c, y0, x0, ch, v * (1 - fy) * (1 - fx));
				splat(sig, gh, gw, g->c, y0, x0 + 1, ch, v * (1 - fy) * fx);
				splat(sig, gh, gw, g->c, y0 + 1, x0, ch, v * fy * (1 - fx));
				splat(sig, gh, gw, g->c, y0 + 1, x0 + 1, ch, v * fy * fx);
			}
		}
	}
	for (int i = 0; i < size; i++)
		norm += (double) sig[i] * sig[i];
	if (norm > 0)
		for (int i = 0; i < size; i++)
			sig[i] = (float) (sig[i] / sqrt(norm));
}

/* Squared relative distance of a and b shifted by (dy, dx) over their overlap. */
static double
shifted_distance2(const float *a, const float *b, const tl_ndup_geometry *g, int dy, int dx)
{
	double		diff = 0,
				na = 0,
				nb = 0;

	for (int y = dy > 0 ? dy : 0; y < g->h + (dy < 0 ? dy : 0); y++)
		for (int xx = dx > 0 ? dx : 0; xx < g->w + (dx < 0 ? dx : 0); xx++)
			for (int ch = 0; ch < g->c; ch++)
			{
				double		u = a[at(g, y, xx, ch)],
							v = b[at(g, y - dy, xx - dx, ch)];

				diff += (u - v) * (u - v);
				na += u * u;
				nb += v * v;
			}
	return na + nb > 0 ? diff / ((na + nb) / 2) : 0;
}

double
tl_ndup_shift_distance(const float *a, const float *b, const tl_ndup_geometry *g)
{
	int			sy = g->spatial && g->h > 1 ? MAX_SHIFT : 0,
				sx = g->spatial && g->w > 1 ? MAX_SHIFT : 0;
	double		best = DBL_MAX;

	for (int dy = -sy; dy <= sy; dy++)
		for (int dx = -sx; dx <= sx; dx++)
		{
			double		d = shifted_distance2(a, b, g, dy, dx);

			best = d < best ? d : best;
		}
	return sqrt(best);
}

static int
by_float(const void *a, const void *b)
{
	float		x = *(const float *) a,
				y = *(const float *) b;

	return x < y ? -1 : x > y;
}

/*
 * Within items [first, first + m): the candidates of each (k nearest
 * signatures), verified; pairs (i < j, first-based indices) go to out,
 * each item's nearest verified distance to best[0 … m).
 */
static int
within(const float *x, int64_t per, const float *sig, int d, int first, int m,
	   const tl_ndup_geometry *g, int exact_max, tl_ndup_pairs *out, float *best, tl_status *st)
{
	int			k = m - 1 < TL_NDUP_DENSE_K ? m - 1 : TL_NDUP_DENSE_K;
	int32_t    *idx = tl_malloc(sizeof(int32_t) * (size_t) m * (k > 0 ? k : 1));
	float	   *dist = tl_malloc(sizeof(float) * (size_t) m * (k > 0 ? k : 1));
	int			rc = 0;

	if (idx == NULL || dist == NULL)
		rc = tl_fail(st, TL_ERR_NOMEM, "out of memory for the candidates of %d samples", m);
	else if (k > 0)
		rc = tl_knn_graph(sig + (int64_t) first * d, m, d, k, exact_max, idx, dist, st);
	for (int i = 0; i < m; i++)
		best[i] = FLT_MAX;
	for (int i = 0; i < m && rc == 0 && k > 0; i++)
	{
		for (int c = 0; c < k; c++)
		{
			int			j = idx[(int64_t) i * k + c];
			int			mutual = 0;
			float		v;

			if (j < 0)
				continue;
			for (int e = 0; e < k; e++)
				mutual |= idx[(int64_t) j * k + e] == i;
			if (mutual && j < i)
				continue;		/* verified from j's side */
			v = (float) tl_ndup_shift_distance(x + (first + i) * per, x + (first + j) * per, g);
			best[i] = v < best[i] ? v : best[i];
			best[j] = v < best[j] ? v : best[j];
			if (tl_ndup_pairs_push(out, first + (i < j ? i : j), first + (i < j ? j : i), v, st) < 0)
				rc = -1;
		}
		if ((i & 63) == 0)
			tl_check_interrupt();
	}
	tl_free(idx);
	tl_free(dist);
	return rc;
}

/* The median of the finite values of v[0 … m) (0 when none). */
static double
median_finite(const float *v, int m, tl_status *st, int *rc)
{
	float	   *c = tl_malloc(sizeof(float) * (size_t) (m > 0 ? m : 1));
	int			f = 0;
	double		med = 0;

	if (c == NULL)
	{
		*rc = tl_fail(st, TL_ERR_NOMEM, "out of memory for %d distances", m);
		return 0;
	}
	for (int i = 0; i < m; i++)
		if (v[i] < FLT_MAX)
			c[f++] = v[i];
	qsort(c, f, sizeof(float), by_float);
	if (f > 0)
		med = f % 2 ? c[f / 2] : (c[f / 2 - 1] + (double) c[f / 2]) / 2;
	tl_free(c);
	return med;
}

/* Each item of the first run against its candidates in the other, the nearest kept within the threshold. */
static int
across(const float *x, int64_t per, const float *sig, int d, int n, int n_a,
	   const tl_ndup_geometry *g, double threshold, tl_ndup_pairs *out, tl_status *st)
{
	int			m = n - n_a,
				k = m < TL_NDUP_DENSE_K ? m : TL_NDUP_DENSE_K,
				rc = 0;
	int32_t    *idx = tl_malloc(sizeof(int32_t) * (size_t) n_a * k);

	if (idx == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory for the candidates of %d samples", n_a);
	rc = tl_knn_exact(sig + (int64_t) n_a * d, m, sig, n_a, d, k, 0, idx, NULL, st);
	for (int a = 0; a < n_a && rc == 0; a++)
	{
		double		best = DBL_MAX;
		int			bj = -1;

		for (int c = 0; c < k; c++)
		{
			int			j = n_a + idx[(int64_t) a * k + c];
			double		v = tl_ndup_shift_distance(x + a * per, x + j * per, g);

			if (v < best)
			{
				best = v;
				bj = j;
			}
		}
		if (bj >= 0 && best <= threshold)
			rc = tl_ndup_pairs_push(out, a, bj, (float) best, st);
		if ((a & 63) == 0)
			tl_check_interrupt();
	}
	tl_free(idx);
	return rc;
}

int
tl_ndup_dense_pairs(const float *x, int n, int n_a, const tl_ndup_geometry *g,
					double threshold, int exact_max, tl_ndup_pairs *out,
					double *used, tl_status *st)
{
	int64_t		per = (int64_t) g->h * g->w * g->c;
	int			d = tl_ndup_signature_size(g),
				cross = n_a < n,
				first = cross ? n_a : 0,
				m = cross ? n - n_a : n,
				rc = 0;
	float	   *sig,
			   *best;
	tl_ndup_pairs cand = {0};

	if (n_a < 1 || n_a > n)
		return tl_fail(st, TL_ERR_ARG, "the first run's items (%d) must be between 1 and %d", n_a, n);
	if (!(threshold <= 0 || isfinite(threshold)))
		return tl_fail(st, TL_ERR_ARG, "the threshold must be a finite distance, not %g", threshold);
	sig = tl_malloc(sizeof(float) * (size_t) n * d);
	best = tl_malloc(sizeof(float) * (size_t) m);
	if (sig == NULL || best == NULL)
	{
		rc = tl_fail(st, TL_ERR_NOMEM, "out of memory for the signatures of %d samples", n);
		goto done;
	}
	for (int i = 0; i < n; i++)
	{
		tl_ndup_signature(x + i * per, g, sig + (int64_t) i * d);
		if ((i & 255) == 0)
			tl_check_interrupt();
	}
	if (!cross || threshold <= 0)
		rc = within(x, per, sig, d, first, m, g, exact_max, &cand, best, st);
	if (rc == 0 && threshold <= 0)
		threshold = TL_NDUP_DENSE_SHARE * median_finite(best, m, st, &rc);
	*used = threshold;
	if (rc == 0 && !cross)
		for (int64_t p = 0; p < cand.n && rc == 0; p++)
			if (cand.p[p].distance <= threshold)
				rc = tl_ndup_pairs_push(out, cand.p[p].a, cand.p[p].b, cand.p[p].distance, st);
	if (rc == 0 && cross)
		rc = across(x, per, sig, d, n, n_a, g, threshold, out, st);
done:
	tl_ndup_pairs_free(&cand);
	tl_free(sig);
	tl_free(best);
	return rc;
}
