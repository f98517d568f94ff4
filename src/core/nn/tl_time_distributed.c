/*
 * tl_time_distributed.c — TimeDistributed: the wrapped layer applied to
 * every step of the first axis.  Samples are batch-major, so n samples of
 * (T, ...) are n*T samples of (...) for the wrapped layer: forward and
 * backward are the wrapped layer's own over n*T.  The wrapped layer lives
 * in l->inner and shares the wrapper's weights (the file stores them under
 * the wrapper) and fused activation.
 */
#include <string.h>

#include "nn/tl_layer.h"

static int
td_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	json_t	   *entry = json_object_get(cfg, "layer");
	json_t	   *icfg = json_object_get(entry, "config");
	const char *cls = tl_cfg_str(entry, "class_name", NULL);
	const char *name = tl_cfg_str(icfg, "name", "inner");
	tl_layer   *in;

	if (cls == NULL || !json_is_object(icfg))
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (TimeDistributed): no wrapped layer in its config",
					   l->name);
	in = l->inner = tl_calloc(1, sizeof(tl_layer));
	if (in == NULL || (in->name = tl_strdup(name)) == NULL ||
		(in->class_name = tl_strdup(cls)) == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	in->ops = tl_layer_lookup(cls);
	if (in->ops == NULL || tl_layer_is(in, TL_LAYER_INPUT | TL_LAYER_TOKENS) ||
		in->ops == l->ops || in->ops->aliases_input)
		return tl_fail(st, TL_ERR_UNSUPPORTED,
					   "layer \"%s\" (TimeDistributed): wrapping %s is not supported", l->name, cls);
	tl_act_parse("linear", cx->keras_major, &in->act);
	if (in->ops->configure && in->ops->configure(in, icfg, cx, st) < 0)
		return -1;
	l->act = in->act;			/* the runner keeps the pre-activation for it */
	return 0;
}

/* The wrapped layer's per-step input shape. */
static int
step_shape(const tl_layer *l, const tl_shape *in, tl_shape *step, tl_status *st)
{
	if (in->nd < 2)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (TimeDistributed): expected an input of rank 3 or more",
					   l->name);
	step->nd = in->nd - 1;
	memcpy(step->d, in->d + 1, sizeof(int) * step->nd);
	return 0;
}

static int
td_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
		 tl_status *st)
{
	tl_shape	step,
				o;

	(void) n_in;
	if (step_shape(l, &in[0], &step, st) < 0 ||
		l->inner->ops->shape(l->inner, &step, 1, &o, st) < 0)
		return -1;
	if (o.nd + 1 > TL_MAX_DIMS)
		return tl_fail(st, TL_ERR_UNSUPPORTED, "layer \"%s\" (TimeDistributed): output rank too high", l->name);
	out->nd = o.nd + 1;
	out->d[0] = in[0].d[0];
	memcpy(out->d + 1, o.d, sizeof(int) * o.nd);
	return 0;
}

static int
td_n_weights(const tl_layer *l)
{
	return l->inner->ops->n_weights ? l->inner->ops->n_weights(l->inner) : 0;
}

static int
td_bind(tl_layer *l, const tl_shape *in, int n_in, tl_status *st)
{
	tl_shape	step;

	(void) n_in;
	if (step_shape(l, &in[0], &step, st) < 0)
		return -1;
	memcpy(l->inner->w, l->w, sizeof(l->w));
	l->inner->n_w = l->n_w;
	return l->inner->ops->bind ? l->inner->ops->bind(l->inner, &step, 1, st) : 0;
}

static int
td_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
		   const tl_shape *in_shape, float *out, const tl_shape *out_shape,
		   int n, tl_status *st)
{
	tl_shape	step,
				ostep;

	if (step_shape(l, &in_shape[0], &step, st) < 0 || step_shape(l, out_shape, &ostep, st) < 0)
		return -1;
	return l->inner->ops->forward(l->inner, ex, in, &step, out, &ostep,
								  n * in_shape[0].d[0], st);
}

static int
td_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
			const tl_shape *in_shape, const float *out,
			const tl_shape *out_shape, const float *dout,
			float *const *din, int n, tl_status *st)
{
	tl_shape	step,
				ostep;

	if (l->inner->ops->backward == NULL)
		return tl_fail(st, TL_ERR_UNSUPPORTED, "layer \"%s\" (TimeDistributed): %s has no backward pass",
					   l->name, l->inner->class_name);
	if (step_shape(l, &in_shape[0], &step, st) < 0 || step_shape(l, out_shape, &ostep, st) < 0)
		return -1;
	return l->inner->ops->backward(l->inner, ex, in, &step, out, &ostep, dout, din,
								   n * in_shape[0].d[0], st);
}

const tl_layer_ops tl_ops_time_distributed = {
	.family = "time_distributed",
	.configure = td_configure,
	.shape = td_shape,
	.n_weights = td_n_weights,
	.bind = td_bind,
	.forward = td_forward,
	.backward = td_backward,
	.flags = TL_LAYER_LEARNED,
	.mask_rule = tl_mask_keep,
};
