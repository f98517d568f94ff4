/*
 * tl_model.c — a loaded model's layer graph: finishing it once a reader
 * (format/) has built it, and what the rest of the system may ask of it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/tl_model_int.h"

static int
infer_shapes(tl_model *m, tl_status *st)
{
	if (tl_shape_check(&m->layers[0].out, m->layers[0].name, st) < 0)
		return -1;
	for (int i = 1; i < m->n_layers; i++)
	{
		tl_layer   *l = &m->layers[i];
		tl_shape	in[64];

		if (l->n_in > 64)
			return tl_fail(st, TL_ERR_LIMIT, "layer \"%s\" has too many inputs", l->name);
		for (int k = 0; k < l->n_in; k++)
			in[k] = m->layers[l->in[k]].out;
		if (l->ops->shape(l, in, l->n_in, &l->out, st) < 0 ||
			tl_shape_check(&l->out, l->name, st) < 0)
			return -1;
	}
	return 0;
}

int
tl_model_bind_weights(tl_model *m, tl_status *st)
{
	for (int i = 1; i < m->n_layers; i++)
	{
		tl_layer   *l = &m->layers[i];
		tl_shape	in[64];

		for (int k = 0; k < l->n_in; k++)
			in[k] = m->layers[l->in[k]].out;
		if (l->ops->bind && l->ops->bind(l, in, l->n_in, st) < 0)
			return -1;
		for (int k = 0; k < l->n_w; k++)
			l->params += l->w[k].n;
	}
	return 0;
}

static void
find_token_input(tl_model *m)
{
	int			consumers = 0,
				embeddings = 0;

	for (int i = 1; i < m->n_layers; i++)
		for (int k = 0; k < m->layers[i].n_in; k++)
			if (m->layers[i].in[k] == 0)
			{
				consumers++;
				if (tl_layer_is(&m->layers[i], TL_LAYER_TOKENS))
				{
					embeddings++;
					if (m->vocab == 0 || m->layers[i].u.emb.input_dim < m->vocab)
						m->vocab = m->layers[i].u.emb.input_dim;
				}
			}
	m->takes_tokens = consumers > 0 && consumers == embeddings;
}

int
tl_model_finish_graph(tl_model *m, tl_status *st)
{
	if (infer_shapes(m, st) < 0 || tl_model_find_masks(m, st) < 0)
		return -1;
	find_token_input(m);
	return 0;
}

/* What a layer owns but its weights. */
static void
free_layer_parts(tl_layer *l)
{
	tl_free(l->name);
	tl_free(l->class_name);
	tl_free(l->store_name);
	tl_free(l->weight_group);
	tl_free(l->weight_key);
	tl_free(l->in);
	tl_free(l->aux);
	tl_free(l->fused);
	if (l->inner)
	{
		free_layer_parts(l->inner);
		tl_free(l->inner);
	}
}

void
tl_model_free(tl_model *m)
{
	if (m == NULL)
		return;
	for (int i = 0; m->layers && i < m->n_layers; i++)
	{
		tl_layer   *l = &m->layers[i];

		free_layer_parts(l);
		for (int k = 0; k < TL_MAX_WEIGHTS; k++)
			tl_free(l->w[k].data);
	}
	tl_free(m->layers);
	tl_free(m->keras_version);
	tl_free(m->config_json);
	tl_free(m->training_json);
	tl_free(m);
}

const char *
tl_model_format(const tl_model *m)
{
	return m->format;
}

const char *
tl_model_keras_version(const tl_model *m)
{
	return m->keras_version;
}

const char *
tl_model_config_json(const tl_model *m)
{
	return m->config_json;
}

const char *
tl_model_training_config_json(const tl_model *m)
{
	return m->training_json;
}

size_t
tl_model_bytes(const tl_model *m)
{
	return m->weight_bytes + sizeof(tl_layer) * m->n_layers + strlen(m->config_json) +
		(m->training_json ? strlen(m->training_json) : 0);
}

int
tl_model_takes_tokens(const tl_model *m)
{
	return m->takes_tokens;
}

int
tl_model_vocab_size(const tl_model *m)
{
	return m->vocab;
}

tl_shape
tl_model_input_shape(const tl_model *m)
{
	return m->layers[0].out;
}

tl_shape
tl_model_output_shape(const tl_model *m)
{
	return m->layers[m->output].out;
}

int
tl_model_n_layers(const tl_model *m)
{
	return m->n_layers;
}

int
tl_model_output_layer(const tl_model *m)
{
	return m->output;
}

void
tl_model_layer_info(const tl_model *m, int i, tl_layer_info *info)
{
	const tl_layer *l = &m->layers[i];

	info->name = l->name;
	info->class_name = l->class_name;
	info->out_shape = l->out;
	info->params = l->params;
	info->n_inputs = l->n_in;
	info->inputs = l->in;
}

int
tl_model_find_layer(const tl_model *m, const char *name)
{
	for (int i = 0; i < m->n_layers; i++)
		if (strcmp(m->layers[i].name, name) == 0)
			return i;
	return -1;
}

int
tl_model_fit_input(const tl_model *m, const int *dims, int ndim, int64_t n_elems,
				   tl_shape *out, tl_status *st)
{
	const tl_shape *want = &m->layers[0].out;
	int64_t		known = 1;
	int			unknown = 0;
	char		wbuf[128];

	tl_shape_format(want, wbuf, sizeof(wbuf));
	if (n_elems == 0)
		return tl_fail(st, TL_ERR_INPUT, "the input is empty; the model expects shape %s", wbuf);
	*out = *want;
	for (int i = 0; i < want->nd; i++)
	{
		if (want->d[i] < 0)
			unknown++;
		else
			known *= want->d[i];
	}
	if (ndim <= 1)
	{
		/* a flat array: at most one dimension can be inferred from its length */
		if (unknown == 0 && n_elems == known)
			return 0;
		if (unknown == 1 && n_elems % known == 0)
		{
			for (int i = 0; i < want->nd; i++)
				if (want->d[i] < 0)
					out->d[i] = (int) (n_elems / known);
			return 0;
		}
		if (unknown > 1)
			return tl_fail(st, TL_ERR_INPUT,
						   "a flat array cannot be fitted to shape %s; pass an array with %d dimensions",
						   wbuf, want->nd);
		return tl_fail(st, TL_ERR_INPUT,
					   "the input has %lld values; the model expects shape %s (%s%lld values per sample)",
					   (long long) n_elems, wbuf, unknown ? "a multiple of " : "", (long long) known);
	}
	else
	{
		/* match the non-1 dimensions of both shapes, in order */
		int			gi = 0,
					wi = 0;

		for (;;)
		{
			while (gi < ndim && dims[gi] == 1)
				gi++;
			while (wi < want->nd && want->d[wi] == 1)
				wi++;
			if (gi == ndim || wi == want->nd)
				break;
			if (want->d[wi] >= 0 && want->d[wi] != dims[gi])
				break;
			out->d[wi++] = dims[gi++];
		}
		if (gi == ndim && wi == want->nd)
			return 0;
		{
			char		gbuf[128];
			size_t		o = 0;

			for (int i = 0; i < ndim && o < sizeof(gbuf); i++)
				o += snprintf(gbuf + o, sizeof(gbuf) - o, "[%d]", dims[i]);
			return tl_fail(st, TL_ERR_INPUT,
						   "the input has dimensions %s; the model expects shape %s",
						   gbuf, wbuf);
		}
	}
}

void
tl_fit_tokens(const int64_t *ids, int n, float *out, int len)
{
	/* pad_sequences defaults: keep the last len ids, zeros in front */
	int			skip = n > len ? n - len : 0;
	int			pad = n < len ? len - n : 0;

	for (int i = 0; i < pad; i++)
		out[i] = 0.0f;
	for (int i = skip; i < n; i++)
		out[pad + i - skip] = (float) ids[i];
}
