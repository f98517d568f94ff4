/*
 * tl_masking.c — Masking: a step whose features all equal mask_value is
 * padding.  The output is the input with those steps zeroed, and carries
 * the mask (tl_mask.c) to the layers that honour it.  Backward: the
 * gradient of the real steps.
 */
#include <string.h>

#include "nn/tl_layer.h"

static int
masking_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	(void) cx;
	return tl_cfg_float(cfg, "mask_value", 0.0f, &l->u.masking.value, l, st);
}

static tl_mask_rule
masking_mask_rule(const tl_layer *l)
{
	(void) l;
	return TL_MASK_MAKE;
}

/* 1 for a step with a feature other than mask_value, per step */
static void
masking_make_mask(const tl_layer *l, const float *in, const tl_shape *in_shape, int n,
				  float *mask)
{
	int			c = in_shape->d[in_shape->nd - 1];
	int64_t		steps = tl_shape_count(in_shape) / c * n;

	for (int64_t t = 0; t < steps; t++)
	{
		mask[t] = 0.0f;
		for (int k = 0; k < c; k++)
			if (in[t * c + k] != l->u.masking.value)
			{
				mask[t] = 1.0f;
				break;
			}
	}
}

static int
masking_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
				const tl_shape *in_shape, float *out, const tl_shape *out_shape,
				int n, tl_status *st)
{
	int			c = in_shape[0].d[in_shape[0].nd - 1];
	int64_t		steps = tl_shape_count(&in_shape[0]) / c * n;
	float	   *mask = tl_scratch(ex, (size_t) steps, st);

	(void) out_shape;
	if (mask == NULL)
		return -1;
	masking_make_mask(l, in[0], &in_shape[0], n, mask);
	for (int64_t t = 0; t < steps; t++)
		for (int k = 0; k < c; k++)
			out[t * c + k] = mask[t] != 0.0f ? in[0][t * c + k] : 0.0f;
	return 0;
}

static int
masking_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
				 const tl_shape *in_shape, const float *out,
				 const tl_shape *out_shape, const float *dout,
				 float *const *din, int n, tl_status *st)
{
	int			c = in_shape[0].d[in_shape[0].nd - 1];
	int64_t		steps = tl_shape_count(&in_shape[0]) / c * n;
	float	   *mask = tl_scratch(ex, (size_t) steps, st);

	(void) out;
	(void) out_shape;
	if (mask == NULL)
		return -1;
	masking_make_mask(l, in[0], &in_shape[0], n, mask);
	for (int64_t t = 0; t < steps; t++)
		if (mask[t] != 0.0f)
			for (int k = 0; k < c; k++)
				din[0][t * c + k] += dout[t * c + k];
	return 0;
}

const tl_layer_ops tl_ops_masking = {
	.family = "masking",
	.configure = masking_configure,
	.shape = tl_shape_same_last_known,
	.forward = masking_forward,
	.backward = masking_backward,
	.flags = TL_LAYER_POSITIONWISE,
	.mask_rule = masking_mask_rule,
	.make_mask = masking_make_mask,
};
