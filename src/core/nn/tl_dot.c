/*
 * tl_dot.c — Dot: per sample, the dot products of two tensors of rank 1 or
 * 2 along one axis of each (Keras batch_dot), optionally of their L2
 * normalised forms (normalize=True: cosine similarities).  Each input is
 * viewed as rows x contracted length; out[r][q] = sum_k a[r][k] b[q][k],
 * shaped as a's remaining axis then b's ((1) when none remain).
 */
#include <math.h>
#include <string.h>

#include "nn/tl_layer.h"

#define NORM_EPS 1e-12

static int
dot_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	json_t	   *axes = json_object_get(cfg, "axes");

	(void) cx;
	if (json_is_integer(axes))
		l->u.dot.axes[0] = l->u.dot.axes[1] = (int) json_integer_value(axes);
	else if (json_is_array(axes) && json_array_size(axes) == 2 &&
			 json_is_integer(json_array_get(axes, 0)) && json_is_integer(json_array_get(axes, 1)))
	{
		l->u.dot.axes[0] = (int) json_integer_value(json_array_get(axes, 0));
		l->u.dot.axes[1] = (int) json_integer_value(json_array_get(axes, 1));
	}
	else
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (Dot): axes must be an integer or two", l->name);
	return tl_cfg_bool(cfg, "normalize", 0, &l->u.dot.normalize, l, st);
}

/* Input k as rows x len with strides: the per-sample contracted axis. */
typedef struct dview
{
	int			rows,
				len;
	int64_t		rs,
				ks;
} dview;

static int
dot_view(const tl_layer *l, const tl_shape *s, int k, dview *v, tl_status *st)
{
	int			ax;

	if (s->nd < 1 || s->nd > 2)
		return tl_fail(st, TL_ERR_UNSUPPORTED, "layer \"%s\" (Dot): inputs of rank 2 or 3 are supported, got %d",
					   l->name, s->nd + 1);
	if (tl_keras_axis(l->u.dot.axes[k], s->nd, &ax, l, st) < 0)
		return -1;
	v->len = s->d[ax];
	v->rows = s->nd == 2 ? s->d[1 - ax] : 1;
	v->ks = s->nd == 2 && ax == 0 ? s->d[1] : 1;
	v->rs = s->nd == 2 && ax == 0 ? 1 : v->len;
	return 0;
}

static int
dot_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
		  tl_status *st)
{
	dview		a = {0},
				b = {0};

	if (n_in != 2)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (Dot): expected 2 inputs, got %d", l->name, n_in);
	if (dot_view(l, &in[0], 0, &a, st) < 0 || dot_view(l, &in[1], 1, &b, st) < 0)
		return -1;
	if (a.len != b.len || a.len < 1)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (Dot): the axes have lengths %d and %d",
					   l->name, a.len, b.len);
	out->nd = 0;
	if (in[0].nd == 2)
		out->d[out->nd++] = a.rows;
	if (in[1].nd == 2)
		out->d[out->nd++] = b.rows;
	if (out->nd == 0)
		out->d[out->nd++] = 1;
	return 0;
}

/* Copies input x of one sample into rows x len, normalised when asked; norms[r] kept. */
static void
gather(const tl_layer *l, const float *x, const dview *v, float *m, float *norms)
{
	for (int r = 0; r < v->rows; r++)
	{
		double		s = 0;

		for (int k = 0; k < v->len; k++)
		{
			m[(int64_t) r * v->len + k] = x[r * v->rs + k * v->ks];
			s += (double) m[(int64_t) r * v->len + k] * m[(int64_t) r * v->len + k];
		}
		norms[r] = l->u.dot.normalize ? (float) sqrt(fmax(s, NORM_EPS)) : 1.0f;
		for (int k = 0; k < v->len; k++)
			m[(int64_t) r * v->len + k] /= (float) norms[r];
	}
}

/* Scratch: both inputs as matrices, their gradients, the norms. */
static float *
dot_scratch(tl_exec *ex, const dview *a, const dview *b, tl_status *st)
{
	size_t		na = (size_t) a->rows * a->len,
				nb = (size_t) b->rows * b->len;

	return tl_scratch(ex, 2 * (na + nb) + 2 * ((size_t) a->rows + b->rows), st);
}

static int
dot_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
			const tl_shape *in_shape, float *out, const tl_shape *out_shape,
			int n, tl_status *st)
{
	dview		a = {0},
				b = {0};
	float	   *ma,
			   *mb;
	float	   *na,
			   *nb;

	(void) out_shape;
	if (dot_view(l, &in_shape[0], 0, &a, st) < 0 || dot_view(l, &in_shape[1], 1, &b, st) < 0 ||
		(ma = dot_scratch(ex, &a, &b, st)) == NULL)
		return -1;
	mb = ma + (int64_t) a.rows * a.len;
	na = mb + 2 * (int64_t) b.rows * b.len + (int64_t) a.rows * a.len;
	nb = na + a.rows;
	for (int s = 0; s < n; s++)
	{
		float	   *o = out + (int64_t) s * a.rows * b.rows;

		gather(l, in[0] + s * tl_shape_count(&in_shape[0]), &a, ma, na);
		gather(l, in[1] + s * tl_shape_count(&in_shape[1]), &b, mb, nb);
		for (int r = 0; r < a.rows; r++)
			for (int q = 0; q < b.rows; q++)
			{
				double		acc = 0;

				for (int k = 0; k < a.len; k++)
					acc += (double) ma[(int64_t) r * a.len + k] * mb[(int64_t) q * b.len + k];
				o[(int64_t) r * b.rows + q] = (float) acc;
			}
	}
	return 0;
}

/* dx += the gradient of one input from that of its (normalised) matrix. */
static void
scatter(const tl_layer *l, const dview *v, const float *m, const float *dm,
		const float *norms, float *dx)
{
	for (int r = 0; r < v->rows; r++)
	{
		double		dot = 0;

		if (l->u.dot.normalize)
			for (int k = 0; k < v->len; k++)
				dot += (double) m[(int64_t) r * v->len + k] * dm[(int64_t) r * v->len + k];
		/* d(x/|x|) = (dm - m (m . dm)) / |x|; the clamp below 1e-12 is a constant */
		if (!l->u.dot.normalize || norms[r] <= (float) sqrt(NORM_EPS))
			dot = 0;
		for (int k = 0; k < v->len; k++)
			dx[r * v->rs + k * v->ks] += (float) ((dm[(int64_t) r * v->len + k] -
												   m[(int64_t) r * v->len + k] * dot) / norms[r]);
	}
}

static int
dot_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
			 const tl_shape *in_shape, const float *out,
			 const tl_shape *out_shape, const float *dout,
			 float *const *din, int n, tl_status *st)
{
	dview		a = {0},
				b = {0};
	float	   *ma,
			   *mb,
			   *dma,
			   *dmb;
	float	   *na,
			   *nb;

	(void) out;
	(void) out_shape;
	if (dot_view(l, &in_shape[0], 0, &a, st) < 0 || dot_view(l, &in_shape[1], 1, &b, st) < 0 ||
		(ma = dot_scratch(ex, &a, &b, st)) == NULL)
		return -1;
	mb = ma + (int64_t) a.rows * a.len;
	dma = mb + (int64_t) b.rows * b.len;
	dmb = dma + (int64_t) a.rows * a.len;
	na = dmb + (int64_t) b.rows * b.len;
	nb = na + a.rows;
	for (int s = 0; s < n; s++)
	{
		const float *d = dout + (int64_t) s * a.rows * b.rows;

		gather(l, in[0] + s * tl_shape_count(&in_shape[0]), &a, ma, na);
		gather(l, in[1] + s * tl_shape_count(&in_shape[1]), &b, mb, nb);
		memset(dma, 0, sizeof(float) * a.rows * a.len);
		memset(dmb, 0, sizeof(float) * b.rows * b.len);
		for (int r = 0; r < a.rows; r++)
			for (int q = 0; q < b.rows; q++)
			{
				float		g = d[(int64_t) r * b.rows + q];

				for (int k = 0; k < a.len; k++)
				{
					dma[(int64_t) r * a.len + k] += g * mb[(int64_t) q * b.len + k];
					dmb[(int64_t) q * b.len + k] += g * ma[(int64_t) r * a.len + k];
				}
			}
		if (din[0])
			scatter(l, &a, ma, dma, na, din[0] + s * tl_shape_count(&in_shape[0]));
		if (din[1])
			scatter(l, &b, mb, dmb, nb, din[1] + s * tl_shape_count(&in_shape[1]));
	}
	return 0;
}

const tl_layer_ops tl_ops_dot = {
	.family = "dot",
	.configure = dot_configure,
	.shape = dot_shape,
	.forward = dot_forward,
	.backward = dot_backward,
};
