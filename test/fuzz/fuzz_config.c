/*
 * fuzz_config.c — libFuzzer target: the Keras config parser without HDF5.
 *
 * Input: byte 0 picks the Keras major version (2 or 3) and the concrete
 * length given to unknown input dimensions; the rest is the model_config
 * JSON text.  It is parsed into a layer graph with shape inference
 * (tl_model_build), then every layer's shape is planned for a concrete
 * input (tl_runner_batch_capacity), as the runner does before a forward.
 * Seeds: the configs of the fixtures (test/fuzz/make_seeds).
 */
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include "format/tl_format.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tl_status	st = {0};
	tl_model   *m;

	if (size < 1)
		return 0;
	m = tl_calloc(1, sizeof(tl_model));
	if (m == NULL)
		return 0;
	m->format = (data[0] & 1) ? "keras_v3" : "keras_h5";
	m->keras_version = tl_strdup("");
	m->config_json = tl_malloc(size);
	if (m->keras_version == NULL || m->config_json == NULL)
	{
		tl_model_free(m);
		return 0;
	}
	memcpy(m->config_json, data + 1, size - 1);
	m->config_json[size - 1] = '\0';
	if (tl_model_build(m, &st) == 0)
	{
		tl_runner  *r = tl_runner_new(m, 1 << 20, &st);
		tl_shape	in = tl_model_input_shape(m);

		for (int i = 0; i < in.nd; i++)
			if (in.d[i] < 0)
				in.d[i] = 1 + (data[0] >> 1) % 40;
		if (r)
			tl_runner_batch_capacity(r, &in, &st);
		tl_runner_free(r);
	}
	tl_model_free(m);
	return 0;
}
