/*
 * tl_saliency.c — attribution methods for one sample (see tl_saliency.h).
 *
 * Everything is differentiated at a "leaf": the Embedding's output for a
 * token model, the input for a model taking real numbers.  A leaf value is
 * one of `width` numbers at one of `positions` positions (an embedding
 * vector per token; one number per input element).  Methods that need
 * many model runs (integrated gradients, occlusion) put them in batches of
 * the runner's capacity.
 */
#include <math.h>
#include <string.h>

#include "base/tl_random.h"
#include "analysis/tl_saliency.h"
#include "nn/tl_model_int.h"

static const struct
{
	const char *name;
	tl_sal_method method;
}			method_names[] =
{
	{"gradient", TL_SAL_GRADIENT},
	{"grad_input", TL_SAL_GRAD_INPUT},
	{"integrated_gradients", TL_SAL_INTEGRATED_GRADIENTS},
	{"occlusion", TL_SAL_OCCLUSION},
	{"grad_cam", TL_SAL_GRAD_CAM},
	{"layer_cam", TL_SAL_LAYER_CAM},
	{"random", TL_SAL_RANDOM},
};

int
tl_sal_method_parse(const char *name, tl_sal_method *out, tl_status *st)
{
	for (size_t i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++)
		if (strcmp(name, method_names[i].name) == 0)
		{
			*out = method_names[i].method;
			return 0;
		}
	return tl_fail(st, TL_ERR_ARG,
				   "unknown saliency method \"%s\" (known: gradient, grad_input, integrated_gradients, occlusion, grad_cam, layer_cam, random)",
				   name);
}

int
tl_sal_target(int units, int target, int *unit, float *sign, tl_status *st)
{
	if (units == 1)
	{
		/* one sigmoid (or linear) unit: class 1 is z, class 0 is -z */
		if (target != 0 && target != 1)
			return tl_fail(st, TL_ERR_RANGE,
						   "target class %d is out of range: a model with one output unit has classes 0 and 1",
						   target);
		*unit = 0;
		*sign = target == 1 ? 1.0f : -1.0f;
		return 0;
	}
	if (target < 0 || target >= units)
		return tl_fail(st, TL_ERR_RANGE,
					   "target class %d is out of range: the model has %d output units (classes 0 to %d)",
					   target, units, units - 1);
	*unit = target;
	*sign = 1.0f;
	return 0;
}

int
tl_sal_scores(tl_runner *r, const tl_shape *in, const float *x, int n,
			  int unit, float sign, double *out, tl_status *st)
{
	int			cap = tl_runner_batch_capacity(r, in, st);
	int64_t		per_in = tl_shape_count(in);

	if (cap < 0)
		return -1;
	for (int b0 = 0; b0 < n; b0 += cap)
	{
		int			m = n - b0 < cap ? n - b0 : cap;
		tl_shape	os;
		const float *z;

		if (tl_runner_forward(r, in, x + b0 * per_in, m, st) < 0)
			return -1;
		z = tl_runner_logits(r, &os);
		if (z == NULL)
			return tl_fail(st, TL_ERR_ARG, "the runner keeps no logits");
		for (int b = 0; b < m; b++)
			out[b0 + b] = sign * z[b * tl_shape_count(&os) + unit];
	}
	return 0;
}

static int
check_steps(int steps, tl_status *st)
{
	if (steps < 1 || steps > TL_SAL_MAX_STEPS)
		return tl_fail(st, TL_ERR_ARG, "steps must be between 1 and %d, not %d",
					   TL_SAL_MAX_STEPS, steps);
	return 0;
}

/* What the methods share for one call. */
typedef struct sal
{
	const tl_model *m;
	tl_runner  *r;
	const tl_shape *in;
	const float *x;
	int			leaf;			/* 0 (the input) or the Embedding */
	int64_t		n_in;			/* input values per sample */
	int64_t		positions;		/* positions per sample */
	int64_t		width;			/* leaf values per position */
	int64_t		n_out;			/* output units */
	int			unit;
	float		sign;
	float	   *seed;			/* n_out: the one-hot seed of the class */
} sal;

static int
sal_init(sal *c, const tl_model *m, tl_runner *r, const tl_shape *in,
		 const float *x, int target, tl_status *st)
{
	tl_shape	os = tl_model_output_shape(m);

	memset(c, 0, sizeof(*c));
	c->m = m;
	c->r = r;
	c->in = in;
	c->x = x;
	c->n_in = tl_shape_count(in);
	c->positions = c->n_in;
	c->width = 1;
	for (int i = 1; m->takes_tokens && i < m->n_layers; i++)
		if (tl_layer_is(&m->layers[i], TL_LAYER_TOKENS) && m->layers[i].in[0] == 0)
		{
			if (c->leaf != 0)
				return tl_fail(st, TL_ERR_UNSUPPORTED,
							   "several Embedding layers read the token ids; saliency supports one");
			c->leaf = i;
			c->width = m->layers[i].u.emb.output_dim;
		}
	c->n_out = tl_shape_count(&os);
	if (c->n_out < 1)
		return tl_fail(st, TL_ERR_UNSUPPORTED, "the model's output size is not fixed");
	if (tl_sal_target((int) c->n_out, target, &c->unit, &c->sign, st) < 0)
		return -1;
	c->seed = tl_calloc(c->n_out, sizeof(float));
	if (c->seed == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	c->seed[c->unit] = c->sign;
	tl_runner_enable_backward(r);
	return 0;
}

/* The sample forward and backward: the gradient of its class score. */
static int
grad_pass(sal *c, tl_status *st)
{
	if (tl_runner_forward(c->r, c->in, c->x, 1, st) < 0 ||
		tl_runner_backward(c->r, c->seed, 1, 1, st) < 0)
		return -1;
	return 0;
}

/* The leaf's values for the last forward (the input for layer 0). */
static const float *
leaf_values(sal *c)
{
	return c->leaf == 0 ? c->x : tl_runner_output(c->r, c->leaf, NULL);
}

static int
gradient_methods(sal *c, tl_sal_method method, float *scores, tl_status *st)
{
	const float *g,
			   *v;

	if (grad_pass(c, st) < 0)
		return -1;
	g = tl_runner_grad(c->r, c->leaf, NULL);
	v = method == TL_SAL_GRADIENT ? g : leaf_values(c);
	for (int64_t p = 0; p < c->positions; p++)
	{
		const float *gp = g + p * c->width,
				   *vp = v + p * c->width;
		float		acc = 0;

		/* float sums of one embedding vector vectorise; rounding is ~1e-7 */
		for (int64_t d = 0; d < c->width; d++)
			acc += gp[d] * vp[d];
		scores[p] = method == TL_SAL_GRADIENT ? sqrtf(acc) : acc;
	}
	return 0;
}

/*
 * Integrated gradients: the mean gradient at the midpoints alpha = (k +
 * 0.5) / steps of the path alpha * leaf (whose error falls as 1/steps^2 on
 * smooth stretches, against 1/steps for the end points), times the leaf.
 * The baseline (alpha = 0) rides in the last batch for its score.
 */
int
tl_integrated_gradients(const tl_model *m, tl_runner *r, const tl_shape *in,
						const float *x, const tl_sal_opts *o, float *scores,
						tl_ig_result *res, tl_status *st)
{
	sal			c;
	int			steps = o->steps;
	int			cap;
	int64_t		nl;
	float	   *v = NULL,
			   *vals = NULL,
			   *xs = NULL,
			   *seeds = NULL;
	double	   *acc = NULL;
	int			rc = -1;

	if (check_steps(steps, st) < 0)
		return -1;
	if (sal_init(&c, m, r, in, x, o->target, st) < 0)
		goto done;
	nl = c.positions * c.width;
	cap = tl_runner_batch_capacity(r, in, st);
	if (cap < 0)
		goto done;
	if (cap > steps + 1)
		cap = steps + 1;
	v = tl_malloc(sizeof(float) * nl);
	vals = tl_malloc(sizeof(float) * nl * cap);
	xs = tl_malloc(sizeof(float) * c.n_in * cap);
	seeds = tl_calloc((size_t) c.n_out * cap, sizeof(float));
	acc = tl_calloc(nl, sizeof(double));
	if (!v || !vals || !xs || !seeds || !acc)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory");
		goto done;
	}
	if (tl_sal_scores(r, in, x, 1, c.unit, c.sign, &res->score, st) < 0)
		goto done;
	memcpy(v, leaf_values(&c), sizeof(float) * nl);
	/* token ids only feed the Embedding, which the path values replace */
	for (int j = 0; j < cap; j++)
		memcpy(xs + j * c.n_in, x, sizeof(float) * c.n_in);

	for (int k0 = 0; k0 <= steps; k0 += cap)
	{
		int			n = steps + 1 - k0 < cap ? steps + 1 - k0 : cap;
		const float *g;
		tl_shape	os;
		const float *logits;

		for (int j = 0; j < n; j++)
		{
			int			k = k0 + j;
			float		alpha = k < steps ? (float) ((k + 0.5) / steps) : 0.0f;

			for (int64_t i = 0; i < nl; i++)
				vals[j * nl + i] = alpha * v[i];
			seeds[(int64_t) j * c.n_out + c.unit] = k < steps ? c.sign : 0.0f;
		}
		if ((c.leaf == 0 ? tl_runner_forward(r, in, vals, n, st)
			 : tl_runner_forward_with(r, in, xs, c.leaf, vals, n, st)) < 0 ||
			tl_runner_backward(r, seeds, 1, n, st) < 0)
			goto done;
		logits = tl_runner_logits(r, &os);
		g = tl_runner_grad(r, c.leaf, NULL);
		for (int j = 0; j < n; j++)
		{
			if (k0 + j == steps)
				res->baseline = c.sign * logits[j * tl_shape_count(&os) + c.unit];
			else
				for (int64_t i = 0; i < nl; i++)
					acc[i] += g[j * nl + i];
		}
	}
	res->sum = 0;
	for (int64_t p = 0; p < c.positions; p++)
	{
		double		a = 0;

		for (int64_t i = p * c.width; i < (p + 1) * c.width; i++)
			a += v[i] * acc[i] / steps;
		if (scores)
			scores[p] = (float) a;
		res->sum += a;
	}
	rc = 0;
done:
	tl_free(c.seed);
	tl_free(v);
	tl_free(vals);
	tl_free(xs);
	tl_free(seeds);
	tl_free(acc);
	return rc;
}

/*
 * Occlusion: the score drop when one position is blanked — a token replaced
 * by the OOV id, or every channel of an input element set to 0.
 */
static int
occlusion(sal *c, float *scores, tl_status *st)
{
	int			rank = c->in->nd;
	int64_t		ch = (c->leaf == 0 && rank >= 2) ? c->in->d[rank - 1] : 1;
	int64_t		npos = c->n_in / ch;
	int			cap = tl_runner_batch_capacity(c->r, c->in, st);
	float	   *variants;
	double	   *z,
				base;
	int64_t    *at;
	int			rc = -1;

	if (cap < 0)
		return -1;
	variants = tl_malloc(sizeof(float) * c->n_in * cap);
	z = tl_malloc(sizeof(double) * cap);
	at = tl_malloc(sizeof(int64_t) * cap);
	if (!variants || !z || !at)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory");
		goto done;
	}
	if (tl_sal_scores(c->r, c->in, c->x, 1, c->unit, c->sign, &base, st) < 0)
		goto done;
	memset(scores, 0, sizeof(float) * c->n_in);
	for (int64_t p0 = 0; p0 < npos;)
	{
		int			n = 0;

		/* the next positions whose blanking changes the input */
		for (; p0 < npos && n < cap; p0++)
		{
			float	   *var = variants + n * c->n_in;
			int			changes = 0;

			for (int64_t k = p0 * ch; k < (p0 + 1) * ch; k++)
				changes |= c->leaf ? c->x[k] != 0 && c->x[k] != TL_OOV_ID : c->x[k] != 0;
			if (!changes)
				continue;
			memcpy(var, c->x, sizeof(float) * c->n_in);
			for (int64_t k = p0 * ch; k < (p0 + 1) * ch; k++)
				var[k] = c->leaf ? TL_OOV_ID : 0.0f;
			at[n++] = p0;
		}
		if (n == 0)
			break;
		if (tl_sal_scores(c->r, c->in, variants, n, c->unit, c->sign, z, st) < 0)
			goto done;
		for (int j = 0; j < n; j++)
			for (int64_t k = at[j] * ch; k < (at[j] + 1) * ch; k++)
				scores[k] = (float) (base - z[j]);
	}
	rc = 0;
done:
	tl_free(variants);
	tl_free(z);
	tl_free(at);
	return rc;
}

/* ---- Grad-CAM ---------------------------------------------------------- */

/*
 * Checks that layer `cam` is a convolution reached from the leaf through
 * convolutions, pooling and position-wise layers only (so that its output
 * positions have receptive fields in the leaf's positions).
 */
/* A convolution: a learned sliding window. */
static int
is_convolution(const tl_layer *l, tl_window *w)
{
	return tl_layer_is(l, TL_LAYER_LEARNED) && tl_layer_window(l, w);
}

static int
cam_path(const sal *c, int cam, tl_status *st)
{
	const tl_layer *top = &c->m->layers[cam];
	tl_window	tw;
	int			rank;

	if (!is_convolution(top, &tw))
		return tl_fail(st, TL_ERR_ARG,
					   "layer \"%s\" is a %s layer, not a convolution: grad_cam and layer_cam work on Conv1D and Conv2D layers",
					   top->name, top->class_name);
	rank = tw.rank;
	for (int j = cam; j != c->leaf;)
	{
		const tl_layer *l = &c->m->layers[j];
		tl_window	w;
		int			ok = l->n_in == 1 &&
			((tl_layer_window(l, &w) && w.rank == rank) ||
			 tl_layer_is(l, TL_LAYER_POSITIONWISE));

		if (!ok || j == 0)
			return tl_fail(st, TL_ERR_UNSUPPORTED,
						   "layer \"%s\": the path from the %s to it passes through \"%s\" (%s); grad_cam needs convolutions, pooling and position-wise layers only",
						   top->name, c->leaf ? "Embedding" : "input", l->name, l->class_name);
		j = l->in[0];
	}
	if (c->leaf == 0 && c->in->nd != rank + 1)
		return tl_fail(st, TL_ERR_UNSUPPORTED,
					   "layer \"%s\": a %d-D convolution on an input of rank %d cannot be mapped back to it",
					   top->name, rank, c->in->nd + 1);
	return 0;
}

static int
cam_layer(const sal *c, int requested, tl_status *st)
{
	if (requested >= 0)
		return cam_path(c, requested, st) < 0 ? -1 : requested;
	for (int i = c->m->n_layers - 1; i >= 1; i--)
	{
		tl_status	probe = {0};
		tl_window	w;

		if (is_convolution(&c->m->layers[i], &w) && cam_path(c, i, &probe) == 0)
			return i;
	}
	return tl_fail(st, TL_ERR_ARG,
				   "the model has no convolution on a path from its %s: grad_cam and layer_cam need a Conv1D or Conv2D layer",
				   c->leaf ? "Embedding" : "input");
}

/* (h, w) of a per-sample shape whose last axis holds channels. */
static void
spatial(const tl_shape *s, int *h, int *w)
{
	*h = s->nd >= 3 ? s->d[0] : 1;
	*w = s->d[s->nd - 2];
}

/*
 * Widens the window [lo, hi] x [lo, hi] of positions of the output of
 * layers[cam] down to the positions of the leaf they are computed from.
 */
static void
receptive_field(const sal *c, int cam, int lo[2], int hi[2])
{
	for (int j = cam; j != c->leaf; j = c->m->layers[j].in[0])
	{
		const tl_layer *l = &c->m->layers[j];
		tl_shape	is;
		tl_window	w;
		int			len[2];

		if (!tl_layer_window(l, &w))
			continue;
		tl_runner_output(c->r, l->in[0], &is);
		spatial(&is, &len[0], &len[1]);
		for (int a = 0; a < 2; a++)
		{
			int			k = w.k[a];
			int			s = w.s[a];
			int			d = w.d[a];
			int			pad = tl_window_pad_before(len[a], k, s, d, w.pad);

			lo[a] = lo[a] * s - pad;
			hi[a] = hi[a] * s - pad + (k - 1) * d;
		}
	}
}

/*
 * Grad-CAM: relu(sum_f mean_q(G[q, f]) A[q, f]); LayerCAM:
 * relu(sum_f relu(G[q, f]) A[q, f]), A the convolution's output and G the
 * gradient of the class score at it.  A leaf position takes the mean of the
 * map over the output positions whose receptive field covers it.
 */
static int
grad_cam(sal *c, int requested, int layer_cam, float *scores, tl_status *st)
{
	int			cam = cam_layer(c, requested, st);
	tl_shape	as,
				ls;
	const float *a,
			   *g;
	int64_t		f,
				q_n;
	int			oh,
				ow,
				lh,
				lw;
	double	   *w = NULL,
			   *sum = NULL;
	int		   *cnt = NULL;
	int			rc = -1;

	if (cam < 0 || grad_pass(c, st) < 0)
		return -1;
	a = tl_runner_output(c->r, cam, &as);
	g = tl_runner_grad(c->r, cam, NULL);
	if (g == NULL)
		return tl_fail(st, TL_ERR_ARG, "layer \"%s\" does not lie on a path to the model's output",
					   c->m->layers[cam].name);
	f = as.d[as.nd - 1];
	q_n = tl_shape_count(&as) / f;
	spatial(&as, &oh, &ow);
	if (c->leaf)
		tl_runner_output(c->r, c->leaf, &ls);
	else
		ls = *c->in;
	spatial(&ls, &lh, &lw);
	w = tl_calloc(f, sizeof(double));
	sum = tl_calloc((size_t) lh * lw, sizeof(double));
	cnt = tl_calloc((size_t) lh * lw, sizeof(int));
	if (!w || !sum || !cnt)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (int64_t q = 0; q < q_n; q++)
		for (int64_t k = 0; k < f; k++)
			w[k] += g[q * f + k] / (double) q_n;
	for (int64_t q = 0; q < q_n; q++)
	{
		double		v = 0;
		int			lo[2] = {(int) (q / ow), (int) (q % ow)};
		int			hi[2] = {lo[0], lo[1]};

		for (int64_t k = 0; k < f; k++)
			v += (layer_cam ? fmax(g[q * f + k], 0.0) : w[k]) * a[q * f + k];
		v = fmax(v, 0.0);
		receptive_field(c, cam, lo, hi);
		for (int y = lo[0] < 0 ? 0 : lo[0]; y <= hi[0] && y < lh; y++)
			for (int x = lo[1] < 0 ? 0 : lo[1]; x <= hi[1] && x < lw; x++)
			{
				sum[(int64_t) y * lw + x] += v;
				cnt[(int64_t) y * lw + x]++;
			}
	}
	/* token positions, or every channel of an input position */
	for (int64_t p = 0; p < c->n_in; p++)
	{
		int64_t		q = p / (c->n_in / ((int64_t) lh * lw));

		scores[p] = cnt[q] ? (float) (sum[q] / cnt[q]) : 0.0f;
	}
	rc = 0;
done:
	tl_free(w);
	tl_free(sum);
	tl_free(cnt);
	return rc;
}

/* Uniform scores in [0, 1), a function of the seed and the input. */
static void
random_scores(const sal *c, uint64_t seed, float *scores)
{
	uint64_t	s = seed;

	for (int64_t i = 0; i < c->n_in; i++)
	{
		uint32_t	bits;

		memcpy(&bits, &c->x[i], sizeof(bits));
		s ^= bits + 0x632BE59BD9B4E019ULL + (s << 6) + (s >> 2);
	}
	for (int64_t p = 0; p < c->n_in; p++)
		scores[p] = (float) ((tl_random_next(&s) >> 40) / 16777216.0);
}

int
tl_saliency(const tl_model *m, tl_runner *r, const tl_shape *in,
			const float *x, const tl_sal_opts *o, float *scores, tl_status *st)
{
	sal			c;
	tl_ig_result ig;
	int			rc;

	if (o->method == TL_SAL_INTEGRATED_GRADIENTS)
		return tl_integrated_gradients(m, r, in, x, o, scores, &ig, st);
	/* checked for every method, so a bad value fails whatever the method */
	if (check_steps(o->steps, st) < 0)
		return -1;
	if (sal_init(&c, m, r, in, x, o->target, st) < 0)
	{
		tl_free(c.seed);
		return -1;
	}
	switch (o->method)
	{
		case TL_SAL_GRADIENT:
		case TL_SAL_GRAD_INPUT:
			rc = gradient_methods(&c, o->method, scores, st);
			break;
		case TL_SAL_OCCLUSION:
			rc = occlusion(&c, scores, st);
			break;
		case TL_SAL_GRAD_CAM:
		case TL_SAL_LAYER_CAM:
			rc = grad_cam(&c, o->layer, o->method == TL_SAL_LAYER_CAM, scores, st);
			break;
		case TL_SAL_RANDOM:
			random_scores(&c, o->seed, scores);
			rc = 0;
			break;
		default:
			rc = tl_fail(st, TL_ERR_ARG, "method %d is not a saliency method", (int) o->method);
			break;
	}
	tl_free(c.seed);
	return rc;
}
