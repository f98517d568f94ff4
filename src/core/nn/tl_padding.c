/*
 * tl_padding.c — ZeroPadding1D/2D (channels last): a border around the
 * steps (1-D) or rows and columns (2-D).  ONNX explicit padding before a
 * convolution or pooling is imported as this layer; its config may then
 * carry "pad_value" (-FLT_MAX before a max pooling, which ignores it).
 * Backward: the gradient of the inner part, the border dropped.
 */
#include <string.h>

#include "nn/tl_layer.h"

/* Reads padding: an int, [a, b] or (2-D) [[top, bottom], [left, right]]. */
static int
pad_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	json_t	   *p = json_object_get(cfg, "padding");
	int			rank = strstr(l->class_name, "1D") ? 1 : 2;
	int			v[4] = {0, 0, 0, 0};

	(void) cx;
	if (tl_cfg_channels_last(cfg, l, st) < 0 ||
		tl_cfg_float(cfg, "pad_value", 0.0f, &l->u.pad.value, l, st) < 0)
		return -1;
	if (p == NULL || json_is_integer(p))
	{
		int			n = p ? (int) json_integer_value(p) : 1;

		v[0] = v[1] = rank == 2 ? n : 0;
		v[2] = v[3] = n;
	}
	else if (json_is_array(p) && rank == 1 && json_array_size(p) == 2)
	{
		v[2] = (int) json_integer_value(json_array_get(p, 0));
		v[3] = (int) json_integer_value(json_array_get(p, 1));
	}
	else if (json_is_array(p) && rank == 2 && json_array_size(p) == 2)
	{
		for (int a = 0; a < 2; a++)
		{
			json_t	   *e = json_array_get(p, a);

			if (json_is_integer(e))
				v[2 * a] = v[2 * a + 1] = (int) json_integer_value(e);
			else if (json_is_array(e) && json_array_size(e) == 2)
			{
				v[2 * a] = (int) json_integer_value(json_array_get(e, 0));
				v[2 * a + 1] = (int) json_integer_value(json_array_get(e, 1));
			}
			else
				goto bad;
		}
	}
	else
		goto bad;
	for (int k = 0; k < 4; k++)
		if (v[k] < 0 || v[k] > (1 << 20))
			goto bad;
	l->u.pad.rank = rank;
	memcpy(l->u.pad.h, v, sizeof(l->u.pad.h));
	memcpy(l->u.pad.w, v + 2, sizeof(l->u.pad.w));
	return 0;
bad:
	return tl_fail(st, TL_ERR_MODEL,
				   "layer \"%s\" (%s): padding must be a non-negative int or pairs of them",
				   l->name, l->class_name);
}

static int
pad_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
		  tl_status *st)
{
	int			h,
				w,
				c;

	(void) n_in;
	if (tl_window_dims(l, l->u.pad.rank, &in[0], &h, &w, &c, st) < 0)
		return -1;
	*out = in[0];
	if (l->u.pad.rank == 2 && h >= 0)
		out->d[0] = h + l->u.pad.h[0] + l->u.pad.h[1];
	if (w >= 0)
		out->d[l->u.pad.rank - 1] = w + l->u.pad.w[0] + l->u.pad.w[1];
	return 0;
}

/* Copies the inner block between x (unpadded) and y (padded), either way. */
static void
pad_walk(const tl_layer *l, const tl_shape *is, const tl_shape *os, float *x,
		 float *y, int to_padded, int n)
{
	int			rank = l->u.pad.rank;
	int			h = rank == 2 ? is->d[0] : 1,
				w = is->d[rank - 1],
				c = is->d[rank];
	int			ow = os->d[rank - 1],
				oh = rank == 2 ? os->d[0] : 1;
	int			top = rank == 2 ? l->u.pad.h[0] : 0,
				left = l->u.pad.w[0];

	for (int b = 0; b < n; b++)
		for (int r = 0; r < h; r++)
		{
			float	   *xr = x + (((int64_t) b * h + r) * w) * c;
			float	   *yr = y + (((int64_t) b * oh + r + top) * ow + left) * c;

			if (to_padded)
				memcpy(yr, xr, sizeof(float) * w * c);
			else
				for (int64_t k = 0; k < (int64_t) w * c; k++)
					xr[k] += yr[k];
		}
}

static int
pad_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
			const tl_shape *in_shape, float *out, const tl_shape *out_shape,
			int n, tl_status *st)
{
	float		value = l->u.pad.value;
	int64_t		total = tl_shape_count(out_shape) * n;

	(void) ex;
	(void) st;
	for (int64_t k = 0; k < total; k++)
		out[k] = value;
	pad_walk(l, &in_shape[0], out_shape, (float *) in[0], out, 1, n);
	return 0;
}

static int
pad_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
			 const tl_shape *in_shape, const float *out,
			 const tl_shape *out_shape, const float *dout,
			 float *const *din, int n, tl_status *st)
{
	(void) ex;
	(void) in;
	(void) out;
	(void) st;
	pad_walk(l, &in_shape[0], out_shape, din[0], (float *) dout, 0, n);
	return 0;
}

const tl_layer_ops tl_ops_padding = {
	.family = "padding",
	.configure = pad_configure,
	.shape = pad_shape,
	.forward = pad_forward,
	.backward = pad_backward,
};
