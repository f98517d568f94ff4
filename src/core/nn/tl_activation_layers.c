/*
 * tl_activation_layers.c — Activation, ReLU, LeakyReLU, ELU, Softmax and
 * ThresholdedReLU: an activation function as a layer of its own.  Its
 * backward pass is the activation's (tl_act_backward), or the identity
 * when the target is taken before the model's final activation.
 */
#include <string.h>

#include "nn/tl_layer.h"

static int
act_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	const char *cls = l->class_name;
	tl_act	   *a = &l->act;

	if (strcmp(cls, "Activation") == 0)
		return tl_cfg_activation(cfg, "activation", "linear", cx, a, l, st);

	tl_act_parse("linear", cx->keras_major, a);
	if (strcmp(cls, "ReLU") == 0)
	{
		a->fn = TL_ACT_RELU;
		if (tl_cfg_float(cfg, "negative_slope", 0.0f, &a->alpha, l, st) < 0 ||
			tl_cfg_float(cfg, "threshold", 0.0f, &a->threshold, l, st) < 0 ||
			tl_cfg_float(cfg, "max_value", -1.0f, &a->max_value, l, st) < 0)
			return -1;
	}
	else if (strcmp(cls, "LeakyReLU") == 0)
	{
		/* Keras 2 calls the slope "alpha", Keras 3 "negative_slope". */
		a->fn = TL_ACT_RELU;
		if (tl_cfg_float(cfg, "alpha", 0.3f, &a->alpha, l, st) < 0 ||
			tl_cfg_float(cfg, "negative_slope", a->alpha, &a->alpha, l, st) < 0)
			return -1;
	}
	else if (strcmp(cls, "ELU") == 0)
	{
		a->fn = TL_ACT_ELU;
		if (tl_cfg_float(cfg, "alpha", 1.0f, &a->alpha, l, st) < 0)
			return -1;
	}
	else if (strcmp(cls, "ThresholdedReLU") == 0)
	{
		a->fn = TL_ACT_THRESHOLDED;
		if (tl_cfg_float(cfg, "theta", 1.0f, &a->threshold, l, st) < 0)
			return -1;
	}
	else if (strcmp(cls, "Softmax") == 0)
	{
		json_t	   *ax = json_object_get(cfg, "axis");

		a->fn = TL_ACT_SOFTMAX;
		if (json_is_array(ax) && json_array_size(ax) == 1)
			ax = json_array_get(ax, 0);
		if (ax != NULL && !json_is_null(ax) && !json_is_integer(ax))
			return tl_fail(st, TL_ERR_UNSUPPORTED,
						   "layer \"%s\" (Softmax): only a single axis is supported",
						   l->name);
		/* kept in Keras numbering until the input rank is known (bind) */
		a->axis = ax ? (int) json_integer_value(ax) : -1;
	}
	return 0;
}

static int
act_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
		  tl_status *st)
{
	(void) n_in;
	if (tl_act_along_axis(&l->act))
	{
		int			axis;

		if (tl_keras_axis(l->act.axis, in[0].nd, &axis, l, st) < 0)
			return -1;
	}
	*out = in[0];
	return 0;
}

/* [outer][len][inner] view of a sample for a softmax along Keras axis `axis`. */
static void
axis_view(const tl_shape *s, int axis, int64_t *outer, int64_t *len, int64_t *inner)
{
	*outer = 1;
	*inner = 1;
	for (int i = 0; i < axis; i++)
		*outer *= s->d[i];
	*len = s->d[axis];
	for (int i = axis + 1; i < s->nd; i++)
		*inner *= s->d[i];
}

static int
act_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
			const tl_shape *in_shape, float *out, const tl_shape *out_shape,
			int n, tl_status *st)
{
	int64_t		count = tl_shape_count(&in_shape[0]);

	(void) ex;
	(void) out_shape;
	memcpy(out, in[0], sizeof(float) * count * n);
	if (tl_act_along_axis(&l->act))
	{
		int			axis;
		int64_t		outer,
					len,
					inner;

		if (tl_keras_axis(l->act.axis, in_shape[0].nd, &axis, l, st) < 0)
			return -1;
		axis_view(&in_shape[0], axis, &outer, &len, &inner);
		tl_act_apply(&l->act, out, outer * n, len, inner);
	}
	else
		tl_act_apply(&l->act, out, n, count, 1);
	return 0;
}

static int
act_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
			 const tl_shape *in_shape, const float *out,
			 const tl_shape *out_shape, const float *dout,
			 float *const *din, int n, tl_status *st)
{
	int64_t		count = tl_shape_count(&in_shape[0]);
	int64_t		outer = n,
				len = count,
				inner = 1;

	(void) out_shape;
	if (tl_exec_before_act(ex))
	{
		/* the target is this layer's input: the logits */
		for (int64_t i = 0; i < count * n; i++)
			din[0][i] += dout[i];
		return 0;
	}
	if (tl_act_along_axis(&l->act))
	{
		int			axis;

		if (tl_keras_axis(l->act.axis, in_shape[0].nd, &axis, l, st) < 0)
			return -1;
		axis_view(&in_shape[0], axis, &outer, &len, &inner);
		outer *= n;
	}
	tl_act_backward(&l->act, in[0], out, dout, din[0], outer, len, inner);
	return 0;
}

const tl_layer_ops tl_ops_activation = {
	.family = "activation",
	.configure = act_configure,
	.shape = act_shape,
	.forward = act_forward,
	.backward = act_backward,
	.flags = TL_LAYER_ACTIVATION | TL_LAYER_POSITIONWISE,
	.mask_rule = tl_mask_keep,
};
