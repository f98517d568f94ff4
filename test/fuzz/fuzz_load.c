/*
 * fuzz_load.c — libFuzzer target: tl_model_load on a whole .h5/.keras image.
 *
 * Runs the loader in-process (HDF5, libzip, jansson and our code on the
 * bytes), then walks what a caller may ask of the model.  Seeds: the model
 * fixtures and the shared real models.  A crash inside libhdf5 itself is
 * kept in test/fuzz/hdf5_crashes/ (the isolated loader must turn it into a
 * clean error); a crash anywhere else is a bug to fix.
 */
#include <stdint.h>
#include <stddef.h>

#include "base/tl_core.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tl_limits	lim = {8 << 20, 16 << 20};
	tl_status	st = {0};
	tl_model   *m = tl_model_load(data, size, &lim, &st);

	if (m)
	{
		tl_shape	in = tl_model_input_shape(m);
		char		buf[128];

		tl_shape_format(&in, buf, sizeof(buf));
		for (int i = 0; i < tl_model_n_layers(m); i++)
		{
			tl_layer_info li;

			tl_model_layer_info(m, i, &li);
			tl_model_find_layer(m, li.name);
		}
		tl_model_free(m);
	}
	return 0;
}
