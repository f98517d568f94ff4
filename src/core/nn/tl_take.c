/*
 * tl_take.c — Take: the entries of one per-sample axis at given indices,
 * in that order (numpy.take).  ONNX Gather by constant indices and Slice of
 * a computed tensor (the last step of a recurrent output, the first token
 * of a Transformer) are imported as this layer.  Config: "axis" (Keras
 * numbering, the batch is 0) and "indices" (non-negative, below the axis
 * length, at most 65536 of them).  Backward: each output's gradient is
 * added back to the entry it was taken from.
 */
#include <string.h>

#include "nn/tl_layer.h"

#define TAKE_MAX 65536

static int
take_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	json_t	   *idx = json_object_get(cfg, "indices");
	int			n = (int) json_array_size(idx);
	int		   *v;

	(void) cx;
	if (tl_cfg_int(cfg, "axis", 1, &l->u.take.axis, l, st) < 0)
		return -1;
	if (!json_is_array(idx) || n < 1 || n > TAKE_MAX)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (Take): indices must list 1 to %d integers",
					   l->name, TAKE_MAX);
	v = tl_malloc(sizeof(int) * n);
	if (v == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	for (int k = 0; k < n; k++)
	{
		json_t	   *e = json_array_get(idx, k);

		if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) >= (1 << 30))
		{
			tl_free(v);
			return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (Take): indices must be non-negative integers",
						   l->name);
		}
		v[k] = (int) json_integer_value(e);
	}
	/* the indices live in aux, freed with the model */
	l->aux = (float *) v;
	l->u.take.n = n;
	return 0;
}

static int
take_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
		   tl_status *st)
{
	int			axis;
	const int  *idx = (const int *) l->aux;

	(void) n_in;
	if (tl_keras_axis(l->u.take.axis, in[0].nd, &axis, l, st) < 0)
		return -1;
	for (int k = 0; in[0].d[axis] >= 0 && k < l->u.take.n; k++)
		if (idx[k] >= in[0].d[axis])
			return tl_fail(st, TL_ERR_INPUT,
						   "layer \"%s\" (Take): index %d is outside an axis of length %d",
						   l->name, idx[k], in[0].d[axis]);
	*out = in[0];
	out->d[axis] = l->u.take.n;
	return 0;
}

/*
 * Walks the taken entries of n samples: the forward copies them from x to
 * y; given dy, the backward adds each back onto dx.
 */
static void
take_walk(const tl_layer *l, const tl_shape *in, const float *x, float *y,
		  const float *dy, float *dx, int n)
{
	int			axis = l->u.take.axis - 1,
				m = l->u.take.n;
	const int  *idx = (const int *) l->aux;
	int64_t		outer = 1,
				inner = 1,
				len = in->d[axis];

	for (int k = 0; k < axis; k++)
		outer *= in->d[k];
	for (int k = axis + 1; k < in->nd; k++)
		inner *= in->d[k];
	for (int64_t o = 0; o < outer * n; o++)
		for (int k = 0; k < m; k++)
		{
			int64_t		to = (o * m + k) * inner,
						from = (o * len + idx[k]) * inner;

			if (dy == NULL)
				memcpy(y + to, x + from, sizeof(float) * inner);
			else
				for (int64_t j = 0; j < inner; j++)
					dx[from + j] += dy[to + j];
		}
}

static int
take_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
			 const tl_shape *in_shape, float *out, const tl_shape *out_shape,
			 int n, tl_status *st)
{
	(void) ex;
	(void) out_shape;
	(void) st;
	take_walk(l, &in_shape[0], in[0], out, NULL, NULL, n);
	return 0;
}

static int
take_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
			  const tl_shape *in_shape, const float *out,
			  const tl_shape *out_shape, const float *dout,
			  float *const *din, int n, tl_status *st)
{
	(void) ex;
	(void) in;
	(void) out;
	(void) out_shape;
	(void) st;
	take_walk(l, &in_shape[0], NULL, NULL, dout, din[0], n);
	return 0;
}

const tl_layer_ops tl_ops_take = {
	.family = "take",
	.configure = take_configure,
	.shape = take_shape,
	.forward = take_forward,
	.backward = take_backward,
};
