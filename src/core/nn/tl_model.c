/*
 * tl_model.c — loading a Keras model file into a runnable layer graph, and
 * what the rest of the system may ask of a loaded model.
 *
 * Two containers are read: the legacy HDF5 file of model.save('x.h5')
 * (Keras 2 and Keras 3: root attribute model_config, weights under
 * model_weights/) and the Keras 3 .keras zip (config.json, metadata.json,
 * model.weights.h5 with weights under layers/<name>/vars/).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/tl_model_int.h"

/* The major version of "2.3.1"; dflt when it is missing or absurd. */
static int
keras_major_of(const char *version, int dflt)
{
	long		v = strtol(version, NULL, 10);

	return v >= 1 && v <= 99 ? (int) v : dflt;
}

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
				if (m->layers[i].ops == &tl_ops_embedding)
				{
					embeddings++;
					if (m->vocab == 0 || m->layers[i].u.emb.input_dim < m->vocab)
						m->vocab = m->layers[i].u.emb.input_dim;
				}
			}
	m->takes_tokens = consumers > 0 && consumers == embeddings;
}

int
tl_model_build(tl_model *m, tl_status *st)
{
	json_error_t jerr;
	json_t	   *root;
	int			rc;

	json_set_alloc_funcs(tl_malloc, tl_free);
	m->keras_major = keras_major_of(m->keras_version,
									strcmp(m->format, "keras_v3") == 0 ? 3 : 2);
	if (strlen(m->config_json) > TL_MAX_CONFIG_BYTES)
		return tl_fail(st, TL_ERR_LIMIT, "the model config is %zu bytes (at most %d supported)",
					   strlen(m->config_json), TL_MAX_CONFIG_BYTES);
	root = json_loads(m->config_json, 0, &jerr);
	if (root == NULL)
		return tl_fail(st, TL_ERR_FORMAT, "the model config is not valid JSON: %s (line %d)",
					   jerr.text, jerr.line);
	rc = tl_graph_build(m, root, st);
	json_decref(root);
	if (rc < 0 || infer_shapes(m, st) < 0)
		return -1;
	find_token_input(m);
	return 0;
}

tl_model *
tl_model_load(const void *data, size_t len, const tl_limits *lim, tl_status *st)
{
	tl_model   *m = NULL;
	tl_h5	   *h5 = NULL;
	char	   *config = NULL,
			   *meta = NULL,
			   *weights = NULL;
	size_t		config_len,
				meta_len,
				weights_len;
	json_error_t jerr;
	int			v3 = 0;

	json_set_alloc_funcs(tl_malloc, tl_free);
	if (len == 0)
	{
		tl_fail(st, TL_ERR_FORMAT, "the model file is empty");
		return NULL;
	}
	if (len > lim->max_file_bytes)
	{
		tl_fail(st, TL_ERR_LIMIT, "the model file is %zu bytes, above the limit of %zu (tensorlens.max_model_size)",
				len, lim->max_file_bytes);
		return NULL;
	}
	m = tl_calloc(1, sizeof(tl_model));
	if (m == NULL)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory");
		return NULL;
	}

	if (tl_zip_is_zip(data, len))
	{
		v3 = 1;
		m->format = "keras_v3";
		if (tl_zip_read(data, len, "config.json", lim->max_file_bytes, &config, &config_len, st) == 0)
			tl_fail(st, TL_ERR_FORMAT, "the zip archive is not a .keras model: it has no config.json");
		if (st->code == TL_OK &&
			tl_zip_read(data, len, "model.weights.h5", lim->max_file_bytes, &weights, &weights_len, st) == 0)
			tl_fail(st, TL_ERR_FORMAT, "the .keras archive has no model.weights.h5");
		if (st->code == TL_OK &&
			tl_zip_read(data, len, "metadata.json", 1 << 20, &meta, &meta_len, st) == 1)
		{
			json_t	   *mj = json_loads(meta, 0, &jerr);
			const char *v = json_is_object(mj) ? tl_cfg_str(mj, "keras_version", "") : "";

			m->keras_version = tl_strdup(v);
			json_decref(mj);
		}
		if (st->code != TL_OK)
			goto fail;
		h5 = tl_h5_open(weights, weights_len, st);
		if (h5 == NULL)
			goto fail;
	}
	else if (tl_h5_is_hdf5(data, len))
	{
		m->format = "keras_h5";
		h5 = tl_h5_open(data, len, st);
		if (h5 == NULL)
			goto fail;
		config = tl_h5_root_attr(h5, "model_config", st);
		if (config == NULL)
		{
			tl_fail(st, TL_ERR_FORMAT,
					"the HDF5 file is not a Keras model: it has no model_config attribute "
					"(files written by save_weights hold no architecture)");
			goto fail;
		}
		m->training_json = tl_h5_root_attr(h5, "training_config", st);
		m->keras_version = tl_h5_root_attr(h5, "keras_version", st);
		if (st->code != TL_OK)
			goto fail;
	}
	else if (tl_onnx_is_onnx(data, len))
	{
		tl_model_free(m);
		return tl_onnx_load(data, len, lim, st);
	}
	else
	{
		tl_fail(st, TL_ERR_FORMAT,
				"not a model file: expected a Keras HDF5 .h5 file, a .keras zip archive or an ONNX model");
		goto fail;
	}
	if (m->keras_version == NULL && (m->keras_version = tl_strdup("")) == NULL)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory");
		goto fail;
	}
	m->config_json = config;
	config = NULL;
	if (tl_model_build(m, st) < 0 ||
		tl_h5_read_weights(h5, m, v3, lim->max_weight_bytes, st) < 0 ||
		tl_model_bind_weights(m, st) < 0)
		goto fail;

	tl_h5_close(h5);
	tl_free(meta);
	tl_free(weights);
	return m;

fail:
	tl_h5_close(h5);
	tl_free(config);
	tl_free(meta);
	tl_free(weights);
	tl_model_free(m);
	return NULL;
}

void
tl_model_free(tl_model *m)
{
	if (m == NULL)
		return;
	for (int i = 0; m->layers && i < m->n_layers; i++)
	{
		tl_layer   *l = &m->layers[i];

		tl_free(l->name);
		tl_free(l->class_name);
		tl_free(l->store_name);
		tl_free(l->in);
		tl_free(l->aux);
		tl_free(l->fused);
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
