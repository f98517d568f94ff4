/*
 * tl_runner.c — running a model on batches of samples.
 *
 * A runner owns the buffers of one model run: every layer's output for the
 * current batch (kept so that activations can be read back) and a scratch
 * area the kernels share.  Buffers are planned for an input shape and reused
 * across batches; layers that only reinterpret their input (Dropout,
 * Flatten, Reshape) share their producer's buffer.  A runner prepared for
 * the backward pass (tl_backward.c) also holds a gradient buffer per output
 * buffer and the pre-activations of fused activations, and sizes its batches
 * for them.  Layers reading an Embedding may run from the token ids
 * (tl_fusion.c decides), and each forward computes only the outputs that
 * the caller reads (tl_runner_keep) or that a computed layer reads.
 */
#include <string.h>

#include "nn/tl_runner_int.h"

float *
tl_scratch(tl_exec *ex, size_t n, tl_status *st)
{
	tl_runner  *r = ex->r;

	if (n > r->scratch_n)
	{
		float	   *p = tl_realloc(r->scratch, sizeof(float) * n);

		if (p == NULL)
		{
			tl_fail(st, TL_ERR_NOMEM, "out of memory (scratch of %zu floats)", n);
			return NULL;
		}
		r->scratch = p;
		r->scratch_n = n;
	}
	return r->scratch;
}

tl_runner *
tl_runner_new(const tl_model *m, size_t max_batch_bytes, tl_status *st)
{
	tl_runner  *r = tl_calloc(1, sizeof(tl_runner));
	int			n = m->n_layers;

	if (r == NULL)
		goto nomem;
	r->m = m;
	r->n_layers = n;
	r->max_bytes = max_batch_bytes;
	r->shapes = tl_calloc(n, sizeof(tl_shape));
	r->sizes = tl_calloc(n, sizeof(int64_t));
	r->alias = tl_calloc(n, sizeof(int));
	r->buf = tl_calloc(n, sizeof(float *));
	r->ptr = tl_calloc(n, sizeof(float *));
	r->carries = tl_calloc(n, 1);
	r->needed = tl_calloc(n, 1);
	r->grad = tl_calloc(n, sizeof(float *));
	r->pre = tl_calloc(n, sizeof(float *));
	r->token_src = tl_calloc(n, sizeof(int));
	r->token_table = tl_calloc(n, sizeof(float *));
	r->emb_src = tl_calloc(n, sizeof(int));
	r->keep = tl_calloc(n, 1);
	r->mode = tl_calloc(n, 1);
	r->need = tl_calloc(n, 1);
	if (!r->shapes || !r->sizes || !r->alias || !r->buf || !r->ptr ||
		!r->carries || !r->needed || !r->grad || !r->pre || !r->token_src ||
		!r->token_table || !r->emb_src || !r->keep || !r->mode || !r->need)
		goto nomem;
	r->override = -1;
	r->before_act = -1;
	r->fusion = 1;
	r->keep_all = 1;
	tl_fusion_sources(r);
	return r;
nomem:
	tl_runner_free(r);
	tl_fail(st, TL_ERR_NOMEM, "out of memory");
	return NULL;
}

static void
free_buffers(tl_runner *r)
{
	for (int i = 0; i < r->n_layers; i++)
	{
		tl_free(r->buf[i]);
		r->buf[i] = NULL;
		if (r->grad)
		{
			tl_free(r->grad[i]);
			r->grad[i] = NULL;
		}
		if (r->pre)
		{
			tl_free(r->pre[i]);
			r->pre[i] = NULL;
		}
	}
	r->allocated = 0;
	r->grads_valid = 0;
}

void
tl_runner_free(tl_runner *r)
{
	if (r == NULL)
		return;
	if (r->buf)
		free_buffers(r);
	tl_free(r->shapes);
	tl_free(r->sizes);
	tl_free(r->alias);
	tl_free(r->buf);
	tl_free(r->ptr);
	tl_free(r->carries);
	tl_free(r->needed);
	tl_free(r->grad);
	tl_free(r->pre);
	if (r->token_table)
		for (int i = 0; i < r->n_layers; i++)
			tl_free(r->token_table[i]);
	tl_free(r->token_src);
	tl_free(r->token_table);
	tl_free(r->emb_src);
	tl_free(r->keep);
	tl_free(r->mode);
	tl_free(r->need);
	tl_free(r->scratch);
	for (int k = 0; k < 4; k++)
		tl_free(r->mask[k]);
	tl_free(r->dz);
	tl_free(r);
}

/* Works out every layer's concrete shape for this input shape. */
static int
plan(tl_runner *r, const tl_shape *in, tl_status *st)
{
	const tl_model *m = r->m;

	if (r->planned && tl_shape_equal(&r->in_shape, in))
		return 0;
	r->planned = 0;
	free_buffers(r);
	r->shapes[0] = *in;
	r->sizes[0] = tl_shape_count(in);
	r->alias[0] = 0;
	r->bytes_per_sample = 0;
	for (int i = 1; i < m->n_layers; i++)
	{
		const tl_layer *l = &m->layers[i];
		tl_shape	ins[64];

		for (int k = 0; k < l->n_in; k++)
			ins[k] = r->shapes[l->in[k]];
		if (l->ops->shape(l, ins, l->n_in, &r->shapes[i], st) < 0 ||
			tl_shape_check(&r->shapes[i], l->name, st) < 0)
			return -1;
		r->sizes[i] = tl_shape_count(&r->shapes[i]);
		if (r->sizes[i] <= 0)
			return tl_fail(st, TL_ERR_INPUT, "layer \"%s\" would produce an empty output for this input",
						   l->name);
		r->alias[i] = l->ops->aliases_input ? r->alias[l->in[0]] : i;
		if (r->alias[i] == i)
			r->bytes_per_sample += r->sizes[i] * (int64_t) sizeof(float);
	}
	if (r->backward)
	{
		tl_backward_plan(r);
		for (int i = 0; i < m->n_layers; i++)
		{
			int64_t		per = 0;

			if (r->alias[i] == i && r->carries[i])
				per += r->sizes[i];
			if (i > 0 && tl_fused_act(&m->layers[i]))
				per += r->sizes[i];
			r->bytes_per_sample += per * (int64_t) sizeof(float);
		}
	}
	r->in_shape = *in;
	r->planned = 1;
	return 0;
}

int
tl_runner_batch_capacity(tl_runner *r, const tl_shape *in, tl_status *st)
{
	int64_t		cap;

	if (plan(r, in, st) < 0)
		return -1;
	if ((size_t) r->bytes_per_sample > r->max_bytes)
		return tl_fail(st, TL_ERR_LIMIT,
					   "one sample needs %lld kB of layer outputs, above the limit of %zu kB (tensorlens.max_batch_memory)",
					   (long long) (r->bytes_per_sample / 1024), r->max_bytes / 1024);
	cap = (int64_t) r->max_bytes / (r->bytes_per_sample > 0 ? r->bytes_per_sample : 1);
	return cap > 65536 ? 65536 : (int) cap;
}

/* Allocates every buffer the batch needs, for n samples. */
static int
allocate(tl_runner *r, int n, tl_status *st)
{
	const tl_model *m = r->m;

	free_buffers(r);
	for (int i = 0; i < m->n_layers; i++)
	{
		size_t		bytes = sizeof(float) * r->sizes[i] * n;
		int			own = r->alias[i] == i;

		if ((i > 0 && own && (r->buf[i] = tl_malloc(bytes)) == NULL) ||
			(r->backward && own && r->carries[i] &&
			 (r->grad[i] = tl_malloc(bytes)) == NULL) ||
			(r->backward && i > 0 && tl_fused_act(&m->layers[i]) &&
			 (r->pre[i] = tl_malloc(bytes)) == NULL))
		{
			free_buffers(r);
			return tl_fail(st, TL_ERR_NOMEM, "out of memory for layer outputs");
		}
	}
	r->allocated = n;
	return 0;
}

/* The layer whose buffer holds layer i's output. */
static inline int
owner(const tl_runner *r, int i)
{
	return r->alias[i];
}

/*
 * Decides how every layer runs in this forward (r->mode) and which outputs
 * are computed (r->need): the model output, what the caller keeps, and
 * what a computed layer reads — a layer running from token ids reads the
 * ids, not its Embedding's output.
 */
static int
plan_modes(tl_runner *r, int override, tl_status *st)
{
	const tl_model *m = r->m;
	int			n = m->n_layers;
	int			all = r->keep_all || r->backward;

	if (tl_fusion_modes(r, override, st) < 0)
		return -1;
	memset(r->need, all, n);
	r->need[0] = 1;
	r->need[owner(r, m->output)] = 1;
	for (int i = 0; i < n && !all; i++)
		if (r->keep[i])
			r->need[owner(r, i)] = 1;
	for (int i = n - 1; i > 0; i--)
	{
		const tl_layer *l = &m->layers[i];

		if (!r->need[owner(r, i)] && !(r->alias[i] != i && r->need[i]))
			continue;
		if (r->alias[i] != i)
		{
			r->need[owner(r, l->in[0])] = 1;
			continue;
		}
		if (r->mode[i] == TL_RUN_TOKENS)
			r->need[owner(r, m->layers[r->emb_src[i]].in[0])] = 1;
		else
			for (int k = 0; k < l->n_in; k++)
				r->need[owner(r, l->in[k])] = 1;
	}
	/* an Embedding whose only readers run from the ids: not computed */
	for (int i = 1; i < n; i++)
		if (!r->need[owner(r, i)])
			r->mode[i] = TL_RUN_SKIP;
	tl_fusion_settle(r);
	return 0;
}

static int
run(tl_runner *r, const tl_shape *in, const float *x, int override,
	const float *values, int n, tl_status *st)
{
	const tl_model *m = r->m;
	tl_exec		ex = {r, 0};
	int			cap = tl_runner_batch_capacity(r, in, st);

	if (cap < 0)
		return -1;
	if (n < 1 || n > cap)
		return tl_fail(st, TL_ERR_ARG, "batch of %d samples outside 1..%d", n, cap);
	if (n > r->allocated && allocate(r, n, st) < 0)
		return -1;
	if (plan_modes(r, override, st) < 0)
		return -1;
	r->n_last = n;
	r->override = override;
	r->grads_valid = 0;
	r->ptr[0] = x;
	for (int i = 1; i < m->n_layers; i++)
	{
		const tl_layer *l = &m->layers[i];
		const float *ins[64];
		tl_shape	in_shapes[64];

		if (r->alias[i] != i)
		{
			r->ptr[i] = r->ptr[l->in[0]];
			continue;
		}
		if (i == override)
		{
			r->ptr[i] = values;
			continue;
		}
		r->ptr[i] = NULL;
		if (r->mode[i] == TL_RUN_SKIP)
			continue;
		for (int k = 0; k < l->n_in; k++)
		{
			ins[k] = r->ptr[l->in[k]];
			in_shapes[k] = r->shapes[l->in[k]];
		}
		ex.layer = i;
		if (r->mode[i] == TL_RUN_TOKENS)
		{
			if (tl_fusion_forward(r, &ex, &in_shapes[0], n, st) < 0)
				return -1;
		}
		else if (l->ops->forward(l, &ex, ins, in_shapes, r->buf[i], &r->shapes[i], n, st) < 0)
			return -1;
		r->ptr[i] = r->buf[i];
		tl_check_interrupt();
	}
	r->samples += n;
	return 0;
}

int
tl_runner_keep(tl_runner *r, const int *layers, int n, tl_status *st)
{
	if (n < 0)
	{
		r->keep_all = 1;
		return 0;
	}
	memset(r->keep, 0, r->n_layers);
	for (int k = 0; k < n; k++)
	{
		if (layers[k] < 0 || layers[k] >= r->n_layers)
			return tl_fail(st, TL_ERR_ARG, "layer index %d is out of range", layers[k]);
		r->keep[layers[k]] = 1;
	}
	r->keep_all = 0;
	return 0;
}

int
tl_runner_forward(tl_runner *r, const tl_shape *in, const float *x, int n,
				  tl_status *st)
{
	return run(r, in, x, -1, NULL, n, st);
}

int
tl_runner_forward_with(tl_runner *r, const tl_shape *in, const float *x,
					   int layer, const float *values, int n, tl_status *st)
{
	if (layer < 1 || layer >= r->m->n_layers || r->m->layers[layer].ops->aliases_input)
		return tl_fail(st, TL_ERR_ARG, "layer %d cannot be given its output", layer);
	return run(r, in, x, layer, values, n, st);
}

const float *
tl_runner_output(const tl_runner *r, int layer, tl_shape *shape)
{
	if (layer < 0)
		layer = r->m->output;
	if (shape)
		*shape = r->shapes[layer];
	return r->ptr[layer];
}
