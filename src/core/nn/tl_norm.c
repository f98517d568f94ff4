/*
 * tl_norm.c — BatchNormalization (inference form) and LayerNormalization.
 *
 * Backward: BatchNormalization at inference is a fixed per-channel affine
 * map.  LayerNormalization's statistics depend on the row: with
 * xhat = (x - mean) / sigma and g = dy * gamma,
 * dx = (g - mean(g) - xhat * mean(g * xhat)) / sigma.
 */
#include <math.h>
#include <string.h>

#include "nn/tl_layer.h"

static int
norm_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	json_t	   *ax = json_object_get(cfg, "axis");
	int			is_bn = strcmp(l->class_name, "BatchNormalization") == 0;

	(void) cx;
	if (tl_cfg_bool(cfg, "center", 1, &l->u.norm.center, l, st) < 0 ||
		tl_cfg_bool(cfg, "scale", 1, &l->u.norm.scale, l, st) < 0 ||
		tl_cfg_float(cfg, "epsilon", 1e-3f, &l->u.norm.eps, l, st) < 0)
		return -1;
	if (ax == NULL || json_is_null(ax))
	{
		l->u.norm.n_axes = 1;
		l->u.norm.axes[0] = -1;
	}
	else if (json_is_integer(ax))
	{
		l->u.norm.n_axes = 1;
		l->u.norm.axes[0] = (int) json_integer_value(ax);
	}
	else if (json_is_array(ax) && json_array_size(ax) >= 1 &&
			 json_array_size(ax) <= TL_MAX_DIMS)
	{
		l->u.norm.n_axes = (int) json_array_size(ax);
		for (int i = 0; i < l->u.norm.n_axes; i++)
		{
			json_t	   *e = json_array_get(ax, i);

			if (!json_is_integer(e))
				goto bad;
			l->u.norm.axes[i] = (int) json_integer_value(e);
		}
	}
	else
		goto bad;
	if (is_bn && l->u.norm.n_axes != 1)
		return tl_fail(st, TL_ERR_UNSUPPORTED,
					   "layer \"%s\" (BatchNormalization): only a single axis is supported",
					   l->name);
	return 0;
bad:
	return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (%s): axis must be an integer or a list of integers",
				   l->name, l->class_name);
}

/*
 * Resolves the axes against the input rank.  The runtime supports axes that
 * are the trailing ones (the channel axis, or e.g. [1, 2] of a rank-3 input),
 * which is how these layers are used; *inner receives how many values
 * follow the normalised block.
 */
static int
norm_axes(const tl_layer *l, const tl_shape *s, int *first, int *inner_dims,
		  tl_status *st)
{
	int			axes[TL_MAX_DIMS];
	int			n = l->u.norm.n_axes;

	for (int i = 0; i < n; i++)
		if (tl_keras_axis(l->u.norm.axes[i], s->nd, &axes[i], l, st) < 0)
			return -1;
	for (int i = 1; i < n; i++)
		if (axes[i] != axes[i - 1] + 1)
			return tl_fail(st, TL_ERR_UNSUPPORTED,
						   "layer \"%s\" (%s): axes must be consecutive",
						   l->name, l->class_name);
	*first = axes[0];
	*inner_dims = s->nd - 1 - axes[n - 1];
	if (strcmp(l->class_name, "LayerNormalization") == 0 && *inner_dims != 0)
		return tl_fail(st, TL_ERR_UNSUPPORTED,
					   "layer \"%s\" (LayerNormalization): only normalisation over the last axes is supported",
					   l->name);
	return 0;
}

static int
norm_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
		   tl_status *st)
{
	int			first,
				inner;

	(void) n_in;
	if (norm_axes(l, &in[0], &first, &inner, st) < 0)
		return -1;
	*out = in[0];
	return 0;
}

static int
norm_n_weights(const tl_layer *l)
{
	int			n = l->u.norm.center + l->u.norm.scale;

	return strcmp(l->class_name, "BatchNormalization") == 0 ? n + 2 : n;
}

static int
norm_bind(tl_layer *l, const tl_shape *in, int n_in, tl_status *st)
{
	int			first,
				inner,
				dims[TL_MAX_DIMS],
				nd = l->u.norm.n_axes;
	int64_t		c = 1;
	int			i = 0;
	static const char *const names[] = {"gamma", "beta", "moving_mean", "moving_variance"};
	int			present[4];

	(void) n_in;
	if (norm_axes(l, &in[0], &first, &inner, st) < 0)
		return -1;
	for (int k = 0; k < nd; k++)
	{
		dims[k] = in[0].d[first + k];
		if (dims[k] < 1)
			return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (%s): the normalised axes must have a known size",
						   l->name, l->class_name);
		c *= dims[k];
	}
	present[0] = l->u.norm.scale;
	present[1] = l->u.norm.center;
	present[2] = present[3] = strcmp(l->class_name, "BatchNormalization") == 0;
	for (int k = 0; k < 4; k++)
		if (present[k] && tl_expect_weight(l, i++, names[k], nd, dims, st) < 0)
			return -1;

	if (present[2])
	{
		/* fold gamma / sqrt(var + eps) and beta - mean * that into one affine */
		const float *gamma = l->u.norm.scale ? l->w[0].data : NULL;
		const float *beta = l->u.norm.center ? l->w[l->u.norm.scale].data : NULL;
		const float *mean = l->w[i - 2].data;
		const float *var = l->w[i - 1].data;

		l->aux = tl_malloc(sizeof(float) * 2 * c);
		if (l->aux == NULL)
			return tl_fail(st, TL_ERR_NOMEM, "out of memory");
		for (int64_t k = 0; k < c; k++)
		{
			double		mul = (gamma ? gamma[k] : 1.0) / sqrt((double) var[k] + l->u.norm.eps);

			l->aux[k] = (float) mul;
			l->aux[c + k] = (float) ((beta ? beta[k] : 0.0) - mean[k] * mul);
		}
	}
	return 0;
}

/* The elements normalised together (block, along the axes) and the stride
 * after them (inner). */
static int
norm_extent(const tl_layer *l, const tl_shape *in, int64_t *block, int64_t *inner,
			tl_status *st)
{
	int			first,
				inner_dims;

	if (norm_axes(l, in, &first, &inner_dims, st) < 0)
		return -1;
	*block = 1;
	*inner = 1;
	for (int k = 0; k < l->u.norm.n_axes; k++)
		*block *= in->d[first + k];
	for (int k = in->nd - inner_dims; k < in->nd; k++)
		*inner *= in->d[k];
	return 0;
}

static int
norm_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
			 const tl_shape *in_shape, float *out, const tl_shape *out_shape,
			 int n, tl_status *st)
{
	int64_t		block,
				inner,
				total = tl_shape_count(&in_shape[0]) * n;

	(void) ex;
	(void) out_shape;
	if (norm_extent(l, &in_shape[0], &block, &inner, st) < 0)
		return -1;

	if (l->aux)
	{
		/* BatchNormalization: per-channel affine along the axis */
		const float *mul = l->aux,
				   *add = l->aux + block;

		for (int64_t i = 0; i < total; i++)
		{
			int64_t		k = (i / inner) % block;

			out[i] = in[0][i] * mul[k] + add[k];
		}
		return 0;
	}
	else
	{
		/* LayerNormalization over the trailing `block` values of each row */
		const float *gamma = l->u.norm.scale ? l->w[0].data : NULL;
		const float *beta = l->u.norm.center ? l->w[l->u.norm.scale].data : NULL;

		for (int64_t r = 0; r < total / block; r++)
		{
			const float *x = in[0] + r * block;
			float	   *y = out + r * block;
			double		mean = 0,
						var = 0,
						inv;

			for (int64_t k = 0; k < block; k++)
				mean += x[k];
			mean /= block;
			for (int64_t k = 0; k < block; k++)
				var += (x[k] - mean) * (x[k] - mean);
			var /= block;
			inv = 1.0 / sqrt(var + l->u.norm.eps);
			for (int64_t k = 0; k < block; k++)
				y[k] = (float) ((x[k] - mean) * inv * (gamma ? gamma[k] : 1.0) +
								(beta ? beta[k] : 0.0));
		}
	}
	return 0;
}

static int
norm_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
			  const tl_shape *in_shape, const float *out,
			  const tl_shape *out_shape, const float *dout,
			  float *const *din, int n, tl_status *st)
{
	int64_t		block,
				inner,
				total = tl_shape_count(&in_shape[0]) * n;
	float	   *dx = din[0];

	(void) ex;
	(void) out;
	(void) out_shape;
	if (norm_extent(l, &in_shape[0], &block, &inner, st) < 0)
		return -1;

	if (l->aux)
	{
		const float *mul = l->aux;

		for (int64_t i = 0; i < total; i++)
			dx[i] += dout[i] * mul[(i / inner) % block];
		return 0;
	}
	else
	{
		const float *gamma = l->u.norm.scale ? l->w[0].data : NULL;

		for (int64_t r = 0; r < total / block; r++)
		{
			const float *x = in[0] + r * block;
			const float *dy = dout + r * block;
			float	   *d = dx + r * block;
			double		mean = 0,
						var = 0,
						inv,
						mg = 0,
						mgx = 0;

			for (int64_t k = 0; k < block; k++)
				mean += x[k];
			mean /= block;
			for (int64_t k = 0; k < block; k++)
				var += (x[k] - mean) * (x[k] - mean);
			var /= block;
			inv = 1.0 / sqrt(var + l->u.norm.eps);
			for (int64_t k = 0; k < block; k++)
			{
				double		g = dy[k] * (gamma ? gamma[k] : 1.0);

				mg += g;
				mgx += g * (x[k] - mean) * inv;
			}
			mg /= block;
			mgx /= block;
			for (int64_t k = 0; k < block; k++)
			{
				double		g = dy[k] * (gamma ? gamma[k] : 1.0);

				d[k] += (float) (inv * (g - mg - (x[k] - mean) * inv * mgx));
			}
		}
	}
	return 0;
}

/* Both normalisations: one implementation, two names. */
#define NORM_OPS(name) { \
	.family = name, \
	.configure = norm_configure, \
	.shape = norm_shape, \
	.n_weights = norm_n_weights, \
	.bind = norm_bind, \
	.forward = norm_forward, \
	.backward = norm_backward, \
	.flags = TL_LAYER_LEARNED | TL_LAYER_POSITIONWISE, \
	.mask_rule = tl_mask_keep, \
}
const tl_layer_ops tl_ops_batchnorm = NORM_OPS("batchnorm");
const tl_layer_ops tl_ops_layernorm = NORM_OPS("layernorm");
