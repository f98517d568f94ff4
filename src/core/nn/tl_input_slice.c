/*
 * tl_input_slice.c — one input of a model with several (TLInputSlice, made
 * by format/keras_nested.c): the model takes one flat input holding its
 * inputs' values one after the other, and this layer is the `shape`-shaped
 * part starting at `offset`.  Backward: the gradient goes back to its part.
 */
#include <string.h>

#include "nn/tl_layer.h"

static int
slice_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	json_t	   *shape = json_object_get(cfg, "shape");

	(void) cx;
	if (tl_cfg_int(cfg, "offset", 0, &l->u.slice.offset, l, st) < 0)
		return -1;
	if (l->u.slice.offset < 0 || !json_is_array(shape) || json_array_size(shape) < 1 ||
		json_array_size(shape) > TL_MAX_DIMS)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (TLInputSlice): needs an offset >= 0 and a shape",
					   l->name);
	l->u.slice.shape.nd = (int) json_array_size(shape);
	for (int k = 0; k < l->u.slice.shape.nd; k++)
	{
		json_t	   *d = json_array_get(shape, k);

		if (!json_is_integer(d) || json_integer_value(d) < 1 || json_integer_value(d) > (1 << 30))
			return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (TLInputSlice): shape entries must be positive",
						   l->name);
		l->u.slice.shape.d[k] = (int) json_integer_value(d);
	}
	return 0;
}

static int
slice_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
			tl_status *st)
{
	int64_t		count = tl_shape_count(&l->u.slice.shape);

	(void) n_in;
	if (in[0].nd != 1 || count < 1 || l->u.slice.offset + count > in[0].d[0])
		return tl_fail(st, TL_ERR_INPUT, "layer \"%s\": its input does not fit in the model's inputs",
					   l->name);
	*out = l->u.slice.shape;
	return 0;
}

static int
slice_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
			  const tl_shape *in_shape, float *out, const tl_shape *out_shape,
			  int n, tl_status *st)
{
	int64_t		count = tl_shape_count(out_shape),
				all = tl_shape_count(&in_shape[0]);

	(void) ex;
	(void) st;
	for (int b = 0; b < n; b++)
		memcpy(out + b * count, in[0] + b * all + l->u.slice.offset, sizeof(float) * count);
	return 0;
}

static int
slice_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
			   const tl_shape *in_shape, const float *out,
			   const tl_shape *out_shape, const float *dout,
			   float *const *din, int n, tl_status *st)
{
	int64_t		count = tl_shape_count(out_shape),
				all = tl_shape_count(&in_shape[0]);

	(void) ex;
	(void) in;
	(void) out;
	(void) st;
	for (int b = 0; b < n; b++)
		for (int64_t k = 0; k < count; k++)
			din[0][b * all + l->u.slice.offset + k] += dout[b * count + k];
	return 0;
}

const tl_layer_ops tl_ops_input_slice = {
	.family = "input_slice",
	.configure = slice_configure,
	.shape = slice_shape,
	.forward = slice_forward,
	.backward = slice_backward,
	.flags = TL_LAYER_POSITIONWISE,
};
