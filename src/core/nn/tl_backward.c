/*
 * tl_backward.c — the backward pass of a runner.
 *
 * The gradient of a scalar target (a weighted sum of the model's outputs or
 * logits) flows from the output towards the input in reverse topological
 * order, for every sample of the last forward's batch at once.  Each output
 * buffer has a gradient buffer of the same size (aliasing layers share
 * their producer's, as they share its output); it is zeroed and every
 * consumer adds its part, so a layer that feeds several others receives the
 * sum the chain rule asks for.  The flow stops at Embedding outputs (token
 * ids have no gradient) and at the input of a model taking real numbers.
 */
#include <string.h>

#include "nn/tl_runner_int.h"

void
tl_backward_plan(tl_runner *r)
{
	const tl_model *m = r->m;

	/* the input carries a gradient unless it holds token ids */
	r->carries[0] = !m->takes_tokens;
	for (int i = 1; i < m->n_layers; i++)
	{
		const tl_layer *l = &m->layers[i];

		r->carries[i] = tl_layer_is(l, TL_LAYER_TOKENS);
		for (int k = 0; k < l->n_in; k++)
			r->carries[i] |= r->carries[l->in[k]];
	}
}

void
tl_runner_enable_backward(tl_runner *r)
{
	if (!r->backward)
	{
		r->backward = 1;
		r->planned = 0;			/* re-plan the buffers */
	}
}

float *
tl_exec_preact(tl_exec *ex)
{
	return ex->r->backward ? ex->r->pre[ex->layer] : NULL;
}

void
tl_exec_bias_act(tl_exec *ex, const tl_layer *l, const float *bias, float *out,
				 int64_t rows, int units)
{
	float	   *pre = tl_exec_preact(ex);

	if (bias)
		for (int64_t r = 0; r < rows; r++)
			for (int k = 0; k < units; k++)
				out[r * units + k] += bias[k];
	if (pre)
		memcpy(pre, out, sizeof(float) * rows * units);
	tl_act_apply(&l->act, out, rows, units, 1);
}

int
tl_exec_before_act(tl_exec *ex)
{
	return ex->layer == ex->r->before_act;
}

const float *
tl_exec_act_grad(tl_exec *ex, const tl_layer *l, const float *out,
				 const float *dout, int64_t rows, int64_t len, tl_status *st)
{
	tl_runner  *r = ex->r;
	size_t		total = (size_t) (rows * len);

	if (l->act.fn == TL_ACT_LINEAR || tl_exec_before_act(ex))
		return dout;
	if (r->pre[ex->layer] == NULL)
	{
		tl_fail(st, TL_ERR_ARG, "layer \"%s\": no pre-activation was kept for the backward pass",
				l->name);
		return NULL;
	}
	if (total > r->dz_n)
	{
		float	   *p = tl_realloc(r->dz, sizeof(float) * total);

		if (p == NULL)
		{
			tl_fail(st, TL_ERR_NOMEM, "out of memory (gradient of %zu floats)", total);
			return NULL;
		}
		r->dz = p;
		r->dz_n = total;
	}
	memset(r->dz, 0, sizeof(float) * total);
	tl_act_backward(&l->act, r->pre[ex->layer], out, dout, r->dz, rows, len, 1);
	return r->dz;
}

int
tl_runner_backward(tl_runner *r, const float *seed, int pre_activation, int n,
				   tl_status *st)
{
	const tl_model *m = r->m;
	int			out = r->alias[m->output];
	tl_exec		ex = {r, 0};

	if (!r->backward || r->allocated == 0)
		return tl_fail(st, TL_ERR_ARG, "the runner was not prepared for a backward pass");
	if (n != r->n_last)
		return tl_fail(st, TL_ERR_ARG, "backward pass over %d samples after a forward of %d",
					   n, r->n_last);
	if (!r->carries[out])
		return tl_fail(st, TL_ERR_UNSUPPORTED, "the model's output does not depend on a differentiable input");

	/* the layers on a path from the input to the output */
	memset(r->needed, 0, m->n_layers);
	r->needed[m->output] = 1;
	for (int i = m->output; i >= 1; i--)
		if (r->needed[i])
			for (int k = 0; k < m->layers[i].n_in; k++)
				r->needed[m->layers[i].in[k]] = 1;
	for (int i = 0; i <= m->output; i++)
		if (r->needed[i] && r->carries[i] && r->alias[i] == i)
			memset(r->grad[i], 0, sizeof(float) * r->sizes[i] * n);
	memcpy(r->grad[out], seed, sizeof(float) * r->sizes[out] * n);
	r->before_act = pre_activation ? out : -1;

	for (int i = m->output; i >= 1; i--)
	{
		const tl_layer *l = &m->layers[i];
		const float *ins[64];
		tl_shape	in_shapes[64];
		float	   *din[64];
		int			any = 0;

		if (!r->needed[i] || r->alias[i] != i || i == r->override)
			continue;
		for (int k = 0; k < l->n_in; k++)
		{
			int			src = l->in[k];

			ins[k] = r->ptr[src];
			in_shapes[k] = r->shapes[src];
			din[k] = r->carries[src] ? r->grad[r->alias[src]] : NULL;
			any |= din[k] != NULL;
		}
		if (!any)
			continue;
		if (l->ops->backward == NULL)
			return tl_fail(st, TL_ERR_UNSUPPORTED, "layer \"%s\" (%s) has no backward pass",
						   l->name, l->class_name);
		ex.layer = i;
		if (l->ops->backward(l, &ex, ins, in_shapes, r->ptr[i], &r->shapes[i],
							 r->grad[i], din, n, st) < 0)
			return -1;
		tl_check_interrupt();
	}
	r->grads_valid = 1;
	return 0;
}

const float *
tl_runner_grad(const tl_runner *r, int layer, tl_shape *shape)
{
	if (!r->grads_valid || layer < 0 || layer >= r->n_layers ||
		!r->needed[layer] || !r->carries[layer])
		return NULL;
	if (shape)
		*shape = r->shapes[layer];
	return r->grad[r->alias[layer]];
}

const float *
tl_runner_logits(const tl_runner *r, tl_shape *shape)
{
	const tl_model *m = r->m;
	int			out = r->alias[m->output];
	const tl_layer *l = &m->layers[out];

	if (shape)
		*shape = r->shapes[m->output];
	if (l->act.fn == TL_ACT_LINEAR)
		return r->ptr[out];
	if (tl_layer_is(l, TL_LAYER_ACTIVATION))
		return r->ptr[l->in[0]];
	return r->backward ? r->pre[out] : NULL;
}
