/*
 * keras_load.c — loading a Keras model file into a runnable layer graph.
 *
 * Two containers are read: the legacy HDF5 file of model.save('x.h5')
 * (Keras 2 and Keras 3: root attribute model_config, weights under
 * model_weights/) and the Keras 3 .keras zip (config.json, metadata.json,
 * model.weights.h5 with weights under layers/<name>/vars/).
 */
#include <stdlib.h>
#include <string.h>

#include "format/tl_format.h"

/* The major version of "2.3.1"; dflt when it is missing or absurd. */
static int
keras_major_of(const char *version, int dflt)
{
	long		v = strtol(version, NULL, 10);

	return v >= 1 && v <= 99 ? (int) v : dflt;
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
	if (rc < 0)
		return -1;
	return tl_model_finish_graph(m, st);
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
