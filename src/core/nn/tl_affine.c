/*
 * tl_affine.c — Rescaling and Normalization: y = x * scale + offset with a
 * scale and an offset per channel (the last axis) or one for all.
 * Rescaling reads them from its config; Normalization computes them from
 * the mean and variance in its config or its weights, as Keras does:
 * (x - mean) / max(sqrt(variance), 1e-7), or the inverse with invert=True.
 * aux holds scale[n] then offset[n].  Backward: dx = dy * scale.
 */
#include <math.h>
#include <string.h>

#include "nn/tl_layer.h"

#define MAX_CHANNELS (1 << 20)

/* A number or a list of numbers: its length (1 for a number), or -1. */
static int
vec_len(json_t *v)
{
	if (v == NULL || json_is_null(v) || json_is_number(v))
		return 1;
	if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > MAX_CHANNELS)
		return -1;
	for (size_t i = 0; i < json_array_size(v); i++)
		if (!json_is_number(json_array_get(v, i)))
			return -1;
	return (int) json_array_size(v);
}

static float
vec_at(json_t *v, int i, float dflt)
{
	if (v == NULL || json_is_null(v))
		return dflt;
	if (json_is_number(v))
		return (float) json_number_value(v);
	return (float) json_number_value(json_array_get(v, i));
}

/* Sets aux from mean/variance (Normalization) or scale/offset (Rescaling). */
static int
set_affine(tl_layer *l, int n, const float *a, const float *b, int normalize, int invert,
		   tl_status *st)
{
	tl_free(l->aux);
	l->aux = tl_malloc(sizeof(float) * 2 * n);
	if (l->aux == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	l->u.affine.n = n;
	for (int i = 0; i < n; i++)
	{
		if (normalize)
		{
			float		sd = fmaxf(sqrtf(fmaxf(b[i], 0.0f)), 1e-7f);

			l->aux[i] = invert ? sd : 1.0f / sd;
			l->aux[n + i] = invert ? a[i] : -a[i] / sd;
		}
		else
		{
			l->aux[i] = a[i];
			l->aux[n + i] = b[i];
		}
	}
	return 0;
}

static int
affine_from_config(tl_layer *l, json_t *va, json_t *vb, float da, float db, int normalize,
				   int invert, tl_status *st)
{
	int			na = vec_len(va),
				nb = vec_len(vb),
				n = na > nb ? na : nb;
	float	   *a,
			   *b;
	int			rc;

	if (na < 0 || nb < 0 || (na != 1 && nb != 1 && na != nb))
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (%s): %s must be numbers or lists of equal length",
					   l->name, l->class_name, normalize ? "mean and variance" : "scale and offset");
	a = tl_malloc(sizeof(float) * 2 * n);
	if (a == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	b = a + n;
	for (int i = 0; i < n; i++)
	{
		a[i] = vec_at(va, na == 1 ? 0 : i, da);
		b[i] = vec_at(vb, nb == 1 ? 0 : i, db);
	}
	rc = set_affine(l, n, a, b, normalize, invert, st);
	tl_free(a);
	return rc;
}

static int
affine_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	json_t	   *axis = json_object_get(cfg, "axis");
	int			invert;

	(void) cx;
	if (strcmp(l->class_name, "Rescaling") == 0)
		return affine_from_config(l, json_object_get(cfg, "scale"), json_object_get(cfg, "offset"),
								  1.0f, 0.0f, 0, 0, st);
	if (json_is_array(axis) && json_array_size(axis) == 1)
		axis = json_array_get(axis, 0);
	if (!(json_is_integer(axis) && json_integer_value(axis) == -1) &&
		!(axis == NULL || json_is_null(axis)))
		return tl_fail(st, TL_ERR_UNSUPPORTED,
					   "layer \"%s\" (Normalization): only axis -1 or None is supported",
					   l->name);
	if (tl_cfg_bool(cfg, "invert", 0, &invert, l, st) < 0)
		return -1;
	l->u.affine.n = invert ? -1 : 0;	/* until bound: 0 weights to read, -1 inverted */
	if (json_object_get(cfg, "mean") == NULL || json_is_null(json_object_get(cfg, "mean")))
		return 0;
	return affine_from_config(l, json_object_get(cfg, "mean"), json_object_get(cfg, "variance"),
							  0.0f, 1.0f, 1, invert, st);
}

/* Normalization adapted on data keeps its mean and variance as weights. */
static int
affine_n_weights(const tl_layer *l)
{
	return l->aux == NULL ? 2 : 0;
}

static int
affine_bind(tl_layer *l, const tl_shape *in, int n_in, tl_status *st)
{
	int			c = in[0].d[in[0].nd - 1];

	(void) n_in;
	if (l->aux == NULL)
	{
		int			invert = l->u.affine.n < 0;

		if (tl_expect_weight(l, 0, "mean", 1, &c, st) < 0 ||
			tl_expect_weight(l, 1, "variance", 1, &c, st) < 0 ||
			set_affine(l, c, l->w[0].data, l->w[1].data, 1, invert, st) < 0)
			return -1;
	}
	if (l->u.affine.n != 1 && l->u.affine.n != c)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (%s): %d values for an input of %d channels",
					   l->name, l->class_name, l->u.affine.n, c);
	return 0;
}

static int
affine_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
			   const tl_shape *in_shape, float *out, const tl_shape *out_shape,
			   int n, tl_status *st)
{
	int			na = l->u.affine.n;
	int64_t		total = tl_shape_count(&in_shape[0]) * n;

	(void) ex;
	(void) out_shape;
	(void) st;
	for (int64_t i = 0; i < total; i++)
	{
		int			k = na == 1 ? 0 : (int) (i % na);

		out[i] = in[0][i] * l->aux[k] + l->aux[na + k];
	}
	return 0;
}

static int
affine_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
				const tl_shape *in_shape, const float *out,
				const tl_shape *out_shape, const float *dout,
				float *const *din, int n, tl_status *st)
{
	int			na = l->u.affine.n;
	int64_t		total = tl_shape_count(&in_shape[0]) * n;

	(void) ex;
	(void) in;
	(void) out;
	(void) out_shape;
	(void) st;
	for (int64_t i = 0; i < total; i++)
		din[0][i] += dout[i] * l->aux[na == 1 ? 0 : (int) (i % na)];
	return 0;
}

const tl_layer_ops tl_ops_affine = {
	.family = "affine",
	.configure = affine_configure,
	.shape = tl_shape_same_last_known,
	.n_weights = affine_n_weights,
	.bind = affine_bind,
	.forward = affine_forward,
	.backward = affine_backward,
	.flags = TL_LAYER_POSITIONWISE,
};
