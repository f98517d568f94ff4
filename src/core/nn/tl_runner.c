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
 * for them.  A Conv1D that reads an Embedding runs from a table of
 * per-token products once the runner has run enough samples to pay for it
 * (tl_conv_token_table), or from the start when the model holds the table
 * (tl_model_prepare_fusion).  Fusion (doc/performance.md): layers reading an
 * Embedding may run from the token ids — Conv1D and recurrent layers from
 * per-token tables, GlobalAveragePooling1D by averaging the embedding rows —
 * and each forward computes only the outputs that the caller reads
 * (tl_runner_keep) or that a computed layer reads.
 */
#include <string.h>

#include "nn/tl_runner_int.h"

/* The largest token table a runner builds, in floats (16 MiB). */
#define TOKEN_TABLE_MAX (4 * 1024 * 1024)

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
	for (int i = 0; i < n; i++)
	{
		const tl_layer *l = &m->layers[i];
		int			src = i > 0 && l->n_in == 1 ? l->in[0] : 0;

		/* through Dropout and other aliases to the producer */
		while (src > 0 && m->layers[src].ops->aliases_input)
			src = m->layers[src].in[0];
		r->token_src[i] = -1;
		r->emb_src[i] = i > 0 && l->n_in == 1 && m->layers[src].ops == &tl_ops_embedding ? src : -1;
		if (l->ops == &tl_ops_conv && l->u.conv.rank == 1 &&
			m->layers[src].ops == &tl_ops_embedding &&
			(int64_t) m->layers[src].u.emb.input_dim * l->u.conv.k[1] *
			l->u.conv.filters <= TOKEN_TABLE_MAX)
			r->token_src[i] = src;
	}
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

/*
 * Whether the Conv1D i runs from its token table (1): the model's
 * (tl_model_prepare_fusion), or the runner's own, built once the samples
 * run so far have cost as many GEMM rows as the table has (one per token
 * id); or runs as usual (0); -1 on failure.
 */
static int
use_token_table(tl_runner *r, int i, int override, tl_status *st)
{
	const tl_layer *l = &r->m->layers[i];
	int			e = r->token_src[i];

	if (e < 0 || override == e || !r->fusion)
		return 0;
	if (l->fused)
		return 1;
	if (r->token_table[i] == NULL)
	{
		if (r->samples * (r->sizes[i] / l->u.conv.filters) < r->m->layers[e].u.emb.input_dim)
			return 0;
		r->token_table[i] = tl_conv_token_table(l, &r->m->layers[e], st);
		if (r->token_table[i] == NULL)
			return -1;
	}
	return 1;
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

	for (int i = 1; i < n; i++)
	{
		const tl_layer *l = &m->layers[i];
		int			e = r->emb_src[i];
		int			tok;

		r->mode[i] = TL_RUN_PLAIN;
		if (r->alias[i] != i || i == override)
			continue;
		tok = e >= 0 && override != e && r->fusion && !r->backward;
		switch (use_token_table(r, i, override, st))
		{
			case 1:
				r->mode[i] = TL_RUN_CONV_TOKENS;
				continue;
			case 0:
				break;
			default:
				return -1;
		}
		if (tok && l->ops == &tl_ops_rnn && l->fused)
			r->mode[i] = TL_RUN_RNN_TOKENS;
		else if (tok && l->ops == &tl_ops_global_pool && l->u.gpool.rank == 1 &&
				 !l->u.gpool.is_max)
			r->mode[i] = TL_RUN_GAP_TOKENS;
	}
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
		if (r->mode[i] >= TL_RUN_CONV_TOKENS)
			r->need[owner(r, m->layers[r->emb_src[i]].in[0])] = 1;
		else
			for (int k = 0; k < l->n_in; k++)
				r->need[owner(r, l->in[k])] = 1;
	}
	/* an Embedding whose only readers run from the ids: not computed */
	for (int i = 1; i < n; i++)
		if (!r->need[owner(r, i)])
			r->mode[i] = TL_RUN_SKIP;
	/* a GlobalAveragePooling1D over a computed Embedding reads it as usual */
	for (int i = 1; i < n; i++)
		if (r->mode[i] == TL_RUN_GAP_TOKENS && r->need[owner(r, r->emb_src[i])])
			r->mode[i] = TL_RUN_PLAIN;
	return 0;
}

/* Ids read by layer i from token ids (its Embedding's input), checked. */
static const float *
token_ids(tl_runner *r, int i, int n, const tl_shape **shape, tl_status *st)
{
	const tl_layer *e = &r->m->layers[r->emb_src[i]];
	const float *ids = r->ptr[e->in[0]];

	*shape = &r->shapes[e->in[0]];
	/* the Embedding checked them when it ran; else check them here */
	if (r->mode[r->emb_src[i]] == TL_RUN_SKIP &&
		tl_embedding_check_ids(e, ids, *shape, n, st) < 0)
		return NULL;
	return ids;
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
		const tl_shape *ids_shape;
		const float *ids;

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
		switch (r->mode[i])
		{
			case TL_RUN_CONV_TOKENS:
				ids = token_ids(r, i, n, &ids_shape, st);
				if (ids == NULL ||
					tl_conv_forward_tokens(l, &ex, l->fused ? l->fused : r->token_table[i], ids,
										   &in_shapes[0], r->buf[i], n, st) < 0)
					return -1;
				break;
			case TL_RUN_RNN_TOKENS:
				ids = token_ids(r, i, n, &ids_shape, st);
				if (ids == NULL ||
					tl_rnn_forward_tokens(l, &ex, l->fused, ids, ids_shape, r->buf[i],
										  &r->shapes[i], n, st) < 0)
					return -1;
				break;
			case TL_RUN_GAP_TOKENS:
				ids = token_ids(r, i, n, &ids_shape, st);
				if (ids == NULL ||
					tl_gpool_forward_embedding(l, &m->layers[r->emb_src[i]], ids, ids_shape,
											   r->buf[i], n, st) < 0)
					return -1;
				break;
			default:
				if (l->ops->forward(l, &ex, ins, in_shapes, r->buf[i], &r->shapes[i], n, st) < 0)
					return -1;
				break;
		}
		r->ptr[i] = r->buf[i];
		tl_check_interrupt();
	}
	r->samples += n;
	return 0;
}

void
tl_runner_set_fusion(tl_runner *r, int on)
{
	r->fusion = on != 0;
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
tl_runner_fused(const tl_runner *r, int layer)
{
	if (layer < 0)
		layer = r->m->output;
	return layer > 0 && layer < r->n_layers && r->mode[layer] >= TL_RUN_CONV_TOKENS;
}

int64_t
tl_model_prepare_fusion(tl_model *m, size_t max_bytes, tl_status *st)
{
	size_t		total = 0;
	int64_t		added = 0;

	for (int i = 1; i < m->n_layers; i++)
		total += m->layers[i].fused_bytes;
	for (int i = 1; i < m->n_layers; i++)
	{
		tl_layer   *l = &m->layers[i];
		int			src = l->n_in == 1 ? l->in[0] : 0;
		const tl_layer *e;
		size_t		bytes = 0;
		float	   *t = NULL;

		while (src > 0 && m->layers[src].ops->aliases_input)
			src = m->layers[src].in[0];
		e = &m->layers[src];
		if (l->fused || src == 0 || e->ops != &tl_ops_embedding)
			continue;
		if (l->ops == &tl_ops_conv && l->u.conv.rank == 1)
		{
			bytes = sizeof(float) * (size_t) e->u.emb.input_dim * l->u.conv.k[1] * l->u.conv.filters;
			if (total + bytes > max_bytes)
				continue;
			t = tl_conv_token_table(l, e, st);
		}
		else if (l->ops == &tl_ops_rnn)
		{
			for (int d = 0; d <= l->u.rnn.bidirectional; d++)
				bytes += sizeof(float) * (size_t) e->u.emb.input_dim *
					(l->u.rnn.dir[d].cell == TL_CELL_LSTM ? 4 :
					 l->u.rnn.dir[d].cell == TL_CELL_GRU ? 3 : 1) * l->u.rnn.dir[d].units;
			if (total + bytes > max_bytes)
				continue;
			t = tl_rnn_token_table(l, e, &bytes, st);
		}
		else
			continue;
		if (t == NULL)
			return -1;
		l->fused = t;
		l->fused_bytes = bytes;
		total += bytes;
		added += (int64_t) bytes;
	}
	return added;
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
