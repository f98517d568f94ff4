/*
 * tl_runner.c — running a model on batches of samples.
 *
 * A runner owns the buffers of one model run: every layer's output for the
 * current batch (kept so that activations can be read back) and a scratch
 * area the kernels share.  Buffers are planned for an input shape and reused
 * across batches; layers that only reinterpret their input (Dropout,
 * Flatten, Reshape) share their producer's buffer.
 */
#include <string.h>

#include "tl_model_int.h"

struct tl_exec
{
	tl_runner  *r;
};

struct tl_runner
{
	const tl_model *m;
	int			n_layers;		/* kept: freeing must not touch the model */
	size_t		max_bytes;
	int			planned;
	tl_shape	in_shape;
	tl_shape   *shapes;			/* per layer, for the planned input */
	int64_t    *sizes;			/* per-sample floats per layer */
	int		   *alias;			/* layer whose buffer this layer uses */
	float	  **buf;			/* owned output buffers */
	int			allocated;		/* samples the buffers hold */
	const float **ptr;			/* outputs of the last forward */
	float	   *scratch;
	size_t		scratch_n;
	int64_t		bytes_per_sample;
};

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
	if (!r->shapes || !r->sizes || !r->alias || !r->buf || !r->ptr)
		goto nomem;
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
	}
	r->allocated = 0;
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
	tl_free(r->scratch);
	tl_free(r);
}

static int
same_shape(const tl_shape *a, const tl_shape *b)
{
	if (a->nd != b->nd)
		return 0;
	for (int i = 0; i < a->nd; i++)
		if (a->d[i] != b->d[i])
			return 0;
	return 1;
}

/* Works out every layer's concrete shape for this input shape. */
static int
plan(tl_runner *r, const tl_shape *in, tl_status *st)
{
	const tl_model *m = r->m;

	if (r->planned && same_shape(&r->in_shape, in))
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

int
tl_runner_forward(tl_runner *r, const tl_shape *in, const float *x, int n,
				  tl_status *st)
{
	const tl_model *m = r->m;
	tl_exec		ex = {r};
	int			cap = tl_runner_batch_capacity(r, in, st);

	if (cap < 0)
		return -1;
	if (n < 1 || n > cap)
		return tl_fail(st, TL_ERR_ARG, "batch of %d samples outside 1..%d", n, cap);
	if (n > r->allocated)
	{
		free_buffers(r);
		for (int i = 1; i < m->n_layers; i++)
			if (r->alias[i] == i)
			{
				r->buf[i] = tl_malloc(sizeof(float) * r->sizes[i] * n);
				if (r->buf[i] == NULL)
				{
					free_buffers(r);
					return tl_fail(st, TL_ERR_NOMEM, "out of memory for layer outputs");
				}
			}
		r->allocated = n;
	}
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
		for (int k = 0; k < l->n_in; k++)
		{
			ins[k] = r->ptr[l->in[k]];
			in_shapes[k] = r->shapes[l->in[k]];
		}
		if (l->ops->forward(l, &ex, ins, in_shapes, r->buf[i], &r->shapes[i], n, st) < 0)
			return -1;
		r->ptr[i] = r->buf[i];
		tl_check_interrupt();
	}
	return 0;
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
