/*
 * tl_tsne.c — Barnes–Hut t-SNE (see tl_tsne.h): input similarities,
 * the space-partitioning tree and the gradient descent.
 */
#include <math.h>
#include <string.h>

#include "analysis/tl_tsne.h"

#define BETA_ITERATIONS 100
#define ENTROPY_TOLERANCE 1e-5
#define MIN_GAIN 0.01
#define LEAF_POINTS 4			/* a cell with more points is split */
#define MAX_DEPTH 40			/* deeper cells are leaves (equal points) */

void
tl_tsne_defaults(tl_tsne_params *p)
{
	p->dims = 2;
	p->perplexity = 30.0;
	p->n_iter = 1000;
	p->exaggeration_iter = 250;
	p->exaggeration = 12.0;
	p->learning_rate = 0;
	p->theta = 0.5;
	p->anchor_weight = 0;
}

int
tl_tsne_neighbours(double perplexity, int n)
{
	double		k = floor(3.0 * perplexity);

	return k < n - 1 ? (k < 1 ? 1 : (int) k) : n - 1;
}

/* ---- input similarities (step 1) --------------------------------------- */

/* Distances are shifted by the smallest squared one: p is unchanged and exp() does not underflow. */
void
tl_tsne_conditional(const float *d, int k, double log_perplexity, float *p)
{
	double		beta = 1.0,
				lo = -INFINITY,
				hi = INFINITY,
				d0 = (double) d[0] * d[0],
				sum = 0;

	for (int it = 0; it < BETA_ITERATIONS; it++)
	{
		double		sdp = 0,
					entropy;

		sum = 0;
		for (int j = 0; j < k; j++)
		{
			double		dj = (double) d[j] * d[j] - d0;
			double		e = exp(-dj * beta);

			sum += e;
			sdp += dj * e;
		}
		entropy = log(sum) + beta * sdp / sum;
		if (fabs(entropy - log_perplexity) <= ENTROPY_TOLERANCE)
			break;
		if (entropy > log_perplexity)
		{
			lo = beta;
			beta = isinf(hi) ? beta * 2 : (beta + hi) / 2;
		}
		else
		{
			hi = beta;
			beta = isinf(lo) ? beta / 2 : (beta + lo) / 2;
		}
	}
	sum = 0;
	for (int j = 0; j < k; j++)
		sum += exp(-((double) d[j] * d[j] - d0) * beta);
	for (int j = 0; j < k; j++)
		p[j] = (float) (exp(-((double) d[j] * d[j] - d0) * beta) / sum);
}

int
tl_tsne_affinities(const tl_map_graph *g, double perplexity, tl_sym_graph *P, tl_status *st)
{
	int64_t		nk = (int64_t) g->n * g->k;
	float	   *p;
	double		total = 0;
	int			rc;

	if (!(perplexity > 0) || !(perplexity < g->n))
		return tl_fail(st, TL_ERR_ARG, "the perplexity must be above 0 and below the %d points, not %g",
					   g->n, perplexity);
	p = tl_malloc(sizeof(float) * (nk > 0 ? nk : 1));
	if (p == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory for the similarities of %d points", g->n);
	for (int i = 0; i < g->n; i++)
		tl_tsne_conditional(g->dist + (int64_t) i * g->k, g->k, log(perplexity), p + (int64_t) i * g->k);
	tl_check_interrupt();
	rc = tl_map_symmetrize(g, p, TL_SYM_SUM, P, st);
	tl_free(p);
	if (rc < 0)
		return -1;
	for (int64_t i = 0; i < P->start[g->n]; i++)
		total += P->w[i];
	for (int64_t i = 0; i < P->start[g->n]; i++)
		P->w[i] = (float) (P->w[i] / total);
	return 0;
}

/* ---- the space-partitioning tree ---------------------------------------- */

typedef struct cell
{
	double		com[3];			/* centre of mass */
	double		width;			/* side of the cube */
	int32_t		count;			/* points inside */
	int32_t		child;			/* first of 2^dims children (contiguous), -1: a leaf */
	int32_t		start;			/* leaf: its points are order[start .. start + count) */
} cell;

typedef struct tree
{
	int			dims;
	const double *y;
	int32_t    *order;			/* point indices, cell by cell */
	int32_t    *scratch;
	unsigned char *quadrant;	/* per slot of order, while splitting */
	cell	   *cells;
	int32_t		n_cells;
	int32_t		cap;
	bool		failed;
} tree;

static int32_t
new_cells(tree *t, int count)
{
	int32_t		first = t->n_cells;

	if (t->n_cells + count > t->cap)
	{
		int32_t		cap = t->cap * 2 + count;
		cell	   *c = tl_realloc(t->cells, sizeof(cell) * cap);

		if (c == NULL)
		{
			t->failed = true;
			return -1;
		}
		t->cells = c;
		t->cap = cap;
	}
	t->n_cells += count;
	return first;
}

/* Fills cell c with the points order[start .. start + count) inside the cube at centre. */
static void
build(tree *t, int32_t c, int32_t start, int32_t count, const double *centre, double width, int depth)
{
	int			dims = t->dims,
				nch = 1 << dims;
	double		com[3] = {0, 0, 0};
	int32_t		bucket[9] = {0},
				first;

	for (int32_t i = start; i < start + count; i++)
		for (int j = 0; j < dims; j++)
			com[j] += t->y[(int64_t) t->order[i] * dims + j];
	for (int j = 0; j < 3; j++)
		t->cells[c].com[j] = j < dims ? com[j] / count : 0;
	t->cells[c].width = width;
	t->cells[c].count = count;
	t->cells[c].start = start;
	t->cells[c].child = -1;
	if (count <= LEAF_POINTS || depth >= MAX_DEPTH)
		return;
	/* a stable counting sort of the points into the 2^dims sub-cubes */
	for (int32_t i = start; i < start + count; i++)
	{
		const double *p = t->y + (int64_t) t->order[i] * dims;
		int			q = 0;

		for (int j = 0; j < dims; j++)
			q |= (p[j] >= centre[j]) << j;
		t->quadrant[i] = (unsigned char) q;
		bucket[q + 1]++;
	}
	for (int q = 0; q < nch; q++)
		bucket[q + 1] += bucket[q];
	{
		int32_t		fill[8];

		for (int q = 0; q < nch; q++)
			fill[q] = start + bucket[q];
		for (int32_t i = start; i < start + count; i++)
			t->scratch[fill[t->quadrant[i]]++] = t->order[i];
		memcpy(t->order + start, t->scratch + start, sizeof(int32_t) * count);
	}
	first = new_cells(t, nch);
	if (first < 0)
		return;
	t->cells[c].child = first;
	for (int q = 0; q < nch; q++)
	{
		double		sub[3];
		int32_t		n_q = bucket[q + 1] - bucket[q];

		for (int j = 0; j < dims; j++)
			sub[j] = centre[j] + ((q >> j) & 1 ? width / 4 : -width / 4);
		if (n_q == 0)
		{
			t->cells[first + q].count = 0;
			t->cells[first + q].child = -1;
			continue;
		}
		build(t, first + q, start + bucket[q], n_q, sub, width / 2, depth + 1);
		if (t->failed)
			return;
	}
}

/* The tree of the n points y (n × dims); cells in t->cells, root at 0. */
static int
tree_build(tree *t, const double *y, int n, int dims, tl_status *st)
{
	double		lo[3] = {INFINITY, INFINITY, INFINITY},
				hi[3] = {-INFINITY, -INFINITY, -INFINITY},
				centre[3] = {0, 0, 0},
				width = 0;

	t->dims = dims;
	t->y = y;
	t->n_cells = 0;
	t->failed = false;
	for (int i = 0; i < n; i++)
	{
		t->order[i] = i;
		for (int j = 0; j < dims; j++)
		{
			double		v = y[(int64_t) i * dims + j];

			lo[j] = v < lo[j] ? v : lo[j];
			hi[j] = v > hi[j] ? v : hi[j];
		}
	}
	for (int j = 0; j < dims; j++)
	{
		centre[j] = (lo[j] + hi[j]) / 2;
		width = hi[j] - lo[j] > width ? hi[j] - lo[j] : width;
	}
	if (!isfinite(width))
		return tl_fail(st, TL_ERR_NAN, "the t-SNE layout diverged (a coordinate is not finite)");
	/* a little wider, so that points on the upper faces fall inside */
	width = width * (1 + 1e-6) + 1e-300;
	if (new_cells(t, 1) < 0)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory for the t-SNE tree of %d points", n);
	build(t, 0, 0, n, centre, width, 0);
	if (t->failed)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory for the t-SNE tree of %d points", n);
	return 0;
}

/*
 * The repulsive force on point i, Σ_j q_ij² (y_i − y_j) with unnormalised
 * q_ij = 1/(1 + |y_i − y_j|²), into f[dims]; returns Σ_j q_ij.  A cell is
 * one body at its centre of mass when its width < θ · distance.
 */
static double
repulsion(const tree *t, int32_t i, double theta2, int32_t *stack, double *f)
{
	int			dims = t->dims,
				top = 0,
				nch = 1 << dims;
	const double *yi = t->y + (int64_t) i * dims;
	double		z = 0,
				acc[3] = {0, 0, 0};

	stack[top++] = 0;
	while (top > 0)
	{
		const cell *c = &t->cells[stack[--top]];
		double		diff[3],
					d2 = 0;

		for (int j = 0; j < dims; j++)
		{
			diff[j] = yi[j] - c->com[j];
			d2 += diff[j] * diff[j];
		}
		if (c->width * c->width < theta2 * d2)
		{
			double		q = 1.0 / (1.0 + d2),
						mq2 = c->count * q * q;

			z += c->count * q;
			for (int j = 0; j < dims; j++)
				acc[j] += mq2 * diff[j];
		}
		else if (c->child < 0)
		{
			for (int32_t s = c->start; s < c->start + c->count; s++)
			{
				int32_t		o = t->order[s];
				const double *yo = t->y + (int64_t) o * dims;
				double		q;

				if (o == i)
					continue;
				d2 = 0;
				for (int j = 0; j < dims; j++)
				{
					diff[j] = yi[j] - yo[j];
					d2 += diff[j] * diff[j];
				}
				q = 1.0 / (1.0 + d2);
				z += q;
				for (int j = 0; j < dims; j++)
					acc[j] += q * q * diff[j];
			}
		}
		else
			for (int q = nch - 1; q >= 0; q--)
				if (t->cells[c->child + q].count > 0)
					stack[top++] = c->child + q;
	}
	for (int j = 0; j < dims; j++)
		f[j] = acc[j];
	return z;
}

/* ---- gradient descent (steps 2 and 3) ----------------------------------- */

int
tl_tsne_optimize(const tl_sym_graph *P, const tl_tsne_params *p,
				 const unsigned char *fixed, const unsigned char *anchored,
				 float *yout, tl_status *st)
{
	int			n = P->n,
				dims = p->dims,
				rc = -1;
	size_t		nd = (size_t) n * dims;
	double	   *y,
			   *grad,
			   *update,
			   *gains,
			   *rep;
	int32_t    *stack;
	tree		t = {0};
	double		lr = p->learning_rate > 0 ? p->learning_rate :
		(n / p->exaggeration / 4 > 50 ? n / p->exaggeration / 4 : 50),
				theta2 = p->theta * p->theta;

	if (dims < 2 || dims > 3)
		return tl_fail(st, TL_ERR_ARG, "a map has 2 or 3 dimensions, not %d", dims);
	if (n < 2 || p->n_iter < 0 || p->exaggeration_iter < 0 || !(p->exaggeration > 0) || !(p->theta >= 0))
		return tl_fail(st, TL_ERR_ARG, "t-SNE needs at least 2 points, n_iter >= 0, exaggeration > 0 and theta >= 0");
	y = tl_malloc(sizeof(double) * nd);
	grad = tl_malloc(sizeof(double) * nd);
	update = tl_calloc(nd, sizeof(double));
	gains = tl_malloc(sizeof(double) * nd);
	rep = tl_malloc(sizeof(double) * nd);
	stack = tl_malloc(sizeof(int32_t) * (MAX_DEPTH + 2) * 8);
	t.order = tl_malloc(sizeof(int32_t) * n);
	t.scratch = tl_malloc(sizeof(int32_t) * n);
	t.quadrant = tl_malloc(n);
	t.cap = 2 * n / LEAF_POINTS + 64;
	t.cells = tl_malloc(sizeof(cell) * t.cap);
	if (!y || !grad || !update || !gains || !rep || !stack || !t.order || !t.scratch || !t.quadrant || !t.cells)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory for t-SNE on %d points", n);
		goto done;
	}
	for (size_t i = 0; i < nd; i++)
	{
		y[i] = yout[i];
		gains[i] = 1.0;
	}
	for (int it = 0; it < p->n_iter; it++)
	{
		bool		exaggerated = it < p->exaggeration_iter;
		double		exag = exaggerated ? p->exaggeration : 1.0,
					momentum = exaggerated ? 0.5 : 0.8,
					z = 0;

		if (tree_build(&t, y, n, dims, st) < 0)
			goto done;
		/* repulsion of every point (fixed ones too: they count in Z), in tree order */
		for (int s = 0; s < n; s++)
		{
			int32_t		i = t.order[s];

			z += repulsion(&t, i, theta2, stack, rep + (size_t) i * dims);
			if ((s & 16383) == 16383)
				tl_check_interrupt();
		}
		for (int i = 0; i < n; i++)
		{
			double		attr[3] = {0, 0, 0};
			const double *yi = y + (size_t) i * dims;

			if (fixed && fixed[i])
				continue;
			for (int64_t e = P->start[i]; e < P->start[i + 1]; e++)
			{
				const double *yj = y + (size_t) P->col[e] * dims;
				double		d2 = 0,
							diff[3],
							pq;

				for (int j = 0; j < dims; j++)
				{
					diff[j] = yi[j] - yj[j];
					d2 += diff[j] * diff[j];
				}
				pq = P->w[e] / (1.0 + d2);
				for (int j = 0; j < dims; j++)
					attr[j] += pq * diff[j];
			}
			for (int j = 0; j < dims; j++)
				grad[(size_t) i * dims + j] = 4.0 * (exag * attr[j] - rep[(size_t) i * dims + j] / z);
		}
		for (int i = 0; i < n; i++)
		{
			if (fixed && fixed[i])
				continue;
			for (int j = 0; j < dims; j++)
			{
				size_t		c = (size_t) i * dims + j;

				gains[c] = update[c] * grad[c] < 0 ? gains[c] + 0.2 : gains[c] * 0.8;
				if (gains[c] < MIN_GAIN)
					gains[c] = MIN_GAIN;
				update[c] = momentum * update[c] - lr * gains[c] * grad[c];
				y[c] += update[c];
				if (anchored && anchored[i])
					y[c] += p->anchor_weight * ((double) yout[c] - y[c]);
			}
		}
		tl_check_interrupt();
	}
	for (size_t i = 0; i < nd; i++)
		yout[i] = (float) y[i];
	rc = 0;
done:
	tl_free(y);
	tl_free(grad);
	tl_free(update);
	tl_free(gains);
	tl_free(rep);
	tl_free(stack);
	tl_free(t.order);
	tl_free(t.scratch);
	tl_free(t.quadrant);
	tl_free(t.cells);
	return rc;
}
