/*
 * tl_resize.c — Cropping1D/2D, UpSampling1D/2D (nearest) and RepeatVector:
 * layers where every output value is one input value.  A sample is viewed
 * as (h, w, c), h = 1 for the 1-D layers; forward copies each output
 * position's source position, backward adds its gradient back there.
 */
#include <string.h>

#include "nn/tl_layer.h"

enum
{
	RESIZE_CROP, RESIZE_UPSAMPLE, RESIZE_REPEAT
};

/* A Keras cropping: an int, (a, b), or per axis an int or (a, b). */
static int
read_cropping(tl_layer *l, json_t *cfg, int rank, tl_status *st)
{
	json_t	   *v = json_object_get(cfg, "cropping");
	int		   *a = l->u.resize.a,
			   *b = l->u.resize.b;

	if (v == NULL || json_is_null(v) || json_is_integer(v))
	{
		int			n = v && json_is_integer(v) ? (int) json_integer_value(v) : rank == 1;

		for (int k = 0; k < rank; k++)
			a[k] = b[k] = n;
	}
	else if (json_is_array(v) && rank == 1 && json_array_size(v) == 2)
	{
		a[0] = (int) json_integer_value(json_array_get(v, 0));
		b[0] = (int) json_integer_value(json_array_get(v, 1));
	}
	else if (json_is_array(v) && rank == 2 && json_array_size(v) == 2)
		for (int k = 0; k < 2; k++)
		{
			json_t	   *e = json_array_get(v, k);

			a[k] = (int) json_integer_value(json_is_array(e) ? json_array_get(e, 0) : e);
			b[k] = (int) json_integer_value(json_is_array(e) ? json_array_get(e, 1) : e);
		}
	else
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (%s): cropping must be an integer or pairs of integers",
					   l->name, l->class_name);
	for (int k = 0; k < rank; k++)
		if (a[k] < 0 || b[k] < 0 || a[k] > (1 << 24) || b[k] > (1 << 24))
			return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (%s): cropping must be 0..16777216",
						   l->name, l->class_name);
	return 0;
}

static int
resize_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	const char *cls = l->class_name;
	int			rank = strstr(cls, "2D") ? 2 : 1;

	(void) cx;
	l->u.resize.rank = rank;
	if (strncmp(cls, "Cropping", 8) == 0)
	{
		l->u.resize.kind = RESIZE_CROP;
		return tl_cfg_channels_last(cfg, l, st) < 0 ? -1 : read_cropping(l, cfg, rank, st);
	}
	if (strncmp(cls, "UpSampling", 10) == 0)
	{
		const char *interp = tl_cfg_str(cfg, "interpolation", "nearest");

		l->u.resize.kind = RESIZE_UPSAMPLE;
		if (strcmp(interp, "nearest") != 0)
			return tl_fail(st, TL_ERR_UNSUPPORTED,
						   "layer \"%s\" (%s): interpolation \"%s\" is not supported (nearest is)",
						   l->name, cls, interp);
		return tl_cfg_channels_last(cfg, l, st) < 0 ? -1 :
			tl_cfg_ints(cfg, "size", rank, 2, l->u.resize.a, l, st);
	}
	l->u.resize.kind = RESIZE_REPEAT;
	l->u.resize.rank = 1;
	if (tl_cfg_int(cfg, "n", 0, &l->u.resize.a[0], l, st) < 0)
		return -1;
	if (l->u.resize.a[0] < 1 || l->u.resize.a[0] > (1 << 24))
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (RepeatVector): n must be 1..16777216", l->name);
	return 0;
}

static int
resize_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
			 tl_status *st)
{
	int			rank = l->u.resize.rank;

	(void) n_in;
	if (l->u.resize.kind == RESIZE_REPEAT)
	{
		if (in[0].nd != 1)
			return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (RepeatVector): expected an input of rank 2, got %d",
						   l->name, in[0].nd + 1);
		out->nd = 2;
		out->d[0] = l->u.resize.a[0];
		out->d[1] = in[0].d[0];
		return 0;
	}
	if (in[0].nd != rank + 1)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (%s): expected an input of rank %d, got %d",
					   l->name, l->class_name, rank + 2, in[0].nd + 1);
	*out = in[0];
	for (int k = 0; k < rank; k++)
	{
		int64_t		d = in[0].d[k];

		if (d < 0)
			continue;
		d = l->u.resize.kind == RESIZE_CROP ? d - l->u.resize.a[k] - l->u.resize.b[k]
			: d * l->u.resize.a[k];
		if (d < 1 || d > (1 << 30))
			return tl_fail(st, TL_ERR_INPUT, "layer \"%s\" (%s): the output would have %lld positions along axis %d",
						   l->name, l->class_name, (long long) d, k + 1);
		out->d[k] = (int) d;
	}
	return 0;
}

/* (h, w, c) views of a sample; the source row and column of an output's. */
static void
hwc(const tl_layer *l, const tl_shape *s, int *h, int *w, int *c)
{
	if (l->u.resize.kind == RESIZE_REPEAT && s->nd == 1)
	{
		*h = *w = 1;
		*c = s->d[0];
		return;
	}
	*h = s->nd == 3 ? s->d[0] : 1;
	*w = s->d[s->nd - 2];
	*c = s->d[s->nd - 1];
}

static inline int
source(const tl_layer *l, int axis, int o)
{
	int			k = l->u.resize.rank == 2 ? axis : 0;

	switch (l->u.resize.kind)
	{
		case RESIZE_CROP:
			return axis == 0 && l->u.resize.rank == 1 ? 0 : o + l->u.resize.a[k];
		case RESIZE_UPSAMPLE:
			return axis == 0 && l->u.resize.rank == 1 ? 0 : o / l->u.resize.a[k];
		default:
			return 0;
	}
}

/* forward (dir 0): out = in at the source; backward (dir 1): din += dout there */
static void
resize_run(const tl_layer *l, const tl_shape *in_shape, const tl_shape *out_shape,
		   const float *x, float *y, int n, int dir)
{
	int			ih,
				iw,
				c,
				oh,
				ow;

	hwc(l, in_shape, &ih, &iw, &c);
	hwc(l, out_shape, &oh, &ow, &c);
	for (int b = 0; b < n; b++)
		for (int i = 0; i < oh; i++)
			for (int j = 0; j < ow; j++)
			{
				int64_t		si = (((int64_t) b * ih + source(l, 0, i)) * iw + source(l, 1, j)) * c;
				int64_t		so = (((int64_t) b * oh + i) * ow + j) * c;

				if (dir == 0)
					memcpy(y + so, x + si, sizeof(float) * c);
				else
					for (int k = 0; k < c; k++)
						y[si + k] += x[so + k];
			}
}

static int
resize_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
			   const tl_shape *in_shape, float *out, const tl_shape *out_shape,
			   int n, tl_status *st)
{
	(void) ex;
	(void) st;
	resize_run(l, &in_shape[0], out_shape, in[0], out, n, 0);
	return 0;
}

static int
resize_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
				const tl_shape *in_shape, const float *out,
				const tl_shape *out_shape, const float *dout,
				float *const *din, int n, tl_status *st)
{
	(void) ex;
	(void) in;
	(void) out;
	(void) st;
	resize_run(l, &in_shape[0], out_shape, dout, din[0], n, 1);
	return 0;
}

const tl_layer_ops tl_ops_resize = {
	.family = "resize",
	.configure = resize_configure,
	.shape = resize_shape,
	.forward = resize_forward,
	.backward = resize_backward,
};
