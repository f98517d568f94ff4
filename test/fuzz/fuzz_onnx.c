/*
 * fuzz_onnx.c — libFuzzer target: the ONNX reader on a whole file.
 *
 * Runs tl_onnx_load in-process (protobuf-c decoding, constant folding,
 * pattern matching, op mapping, then the model built from the generated
 * config and its weights bound), and when a model comes out, one forward
 * pass of two samples of zeros with unknown dimensions set to 3 (token ids
 * 0), every layer's output kept, so that the shapes the importer declared
 * are checked against what the layers compute.  Seeds: the PyTorch
 * fixtures, the hostile files beside them, and the model.onnx files of the
 * ONNX backend test data (run_fuzz.sh); dictionary onnx.dict.
 */
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include "format/tl_format.h"
#include "nn/tl_model_int.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tl_limits	lim = {4 << 20, 16 << 20};
	tl_status	st = {0};
	tl_model   *m = tl_onnx_load(data, size, &lim, &st);
	tl_runner  *r;
	tl_shape	in;
	float	   *x;

	if (m == NULL)
		return 0;
	in = tl_model_input_shape(m);
	for (int i = 0; i < in.nd; i++)
		if (in.d[i] < 0)
			in.d[i] = 3;
	r = tl_runner_new(m, 64 << 20, &st);
	x = tl_calloc(2 * (tl_shape_count(&in) > 0 ? tl_shape_count(&in) : 1), sizeof(float));
	if (r && x && tl_runner_batch_capacity(r, &in, &st) >= 2)
		tl_runner_forward(r, &in, x, 2, &st);
	tl_free(x);
	tl_runner_free(r);
	tl_model_free(m);
	return 0;
}
