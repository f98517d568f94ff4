/*
 * fuzz_forward.c — libFuzzer target: running fixed fixture models on
 * arbitrary inputs.
 *
 * Input: byte 0 picks the model, byte 1 the batch size (1-4), bytes 2-7
 * the lengths of the model's unknown input dimensions (1-64); the rest
 * fills the batch — raw float32 values (NaN and infinities included) for
 * float models, 16-bit token ids that may fall outside the vocabulary for
 * token models.  Every layer's output is then read in full, so a buffer
 * planned too small shows up under AddressSanitizer.
 *
 * The models are read once from TL_FUZZ_FIXTURES (default: the fixtures
 * directory next to this one, found from the binary's path).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/tl_core.h"

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const model_files[] = {
	"tiny_dense.h5",
	"layers/embedding_conv1d_gmp.h5",
	"layers/bidirectional_concat_lstm.h5",
	"layers/conv2d_same_s2.h5",
	"layers/keras3_zip_functional.keras",
	"layers/maxpool2d_valid_p3x2_s1x2.h5",
	"layers/layernorm_3d_axes.h5",
	"layers/gru_reset_after.h5",
};
#define N_MODELS (sizeof(model_files) / sizeof(model_files[0]))

static tl_model *models[N_MODELS];
static int	n_models;

typedef int (*step_fn) (tl_runner *r, const tl_model *m, const tl_shape *in,
						const float *x, int n, tl_status *st);

static int
step_forward(tl_runner *r, const tl_model *m, const tl_shape *in,
			 const float *x, int n, tl_status *st)
{
	volatile float sink = 0;

	if (tl_runner_forward(r, in, x, n, st) < 0)
		return -1;
	for (int i = 0; i < tl_model_n_layers(m); i++)
	{
		tl_shape	s;
		const float *y = tl_runner_output(r, i, &s);
		int64_t		count = tl_shape_count(&s) * n;

		for (int64_t k = 0; k < count; k++)
			sink += y[k];
	}
	(void) sink;
	return 0;
}

/* What runs on each input, in order; the backward pass joins as one entry. */
static const step_fn steps[] = {step_forward};

static tl_model *
load_fixture(const char *dir, const char *name)
{
	char		path[4096];
	FILE	   *f;
	char	   *buf;
	long		n;
	tl_limits	lim = {64 << 20, 64 << 20};
	tl_status	st = {0};
	tl_model   *m = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (f == NULL)
	{
		fprintf(stderr, "fuzz_forward: cannot open %s\n", path);
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n);
	if (buf && fread(buf, 1, n, f) == (size_t) n)
		m = tl_model_load(buf, n, &lim, &st);
	fclose(f);
	free(buf);
	if (m == NULL)
	{
		fprintf(stderr, "fuzz_forward: %s: %s\n", path, st.msg);
		exit(1);
	}
	return m;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("TL_FUZZ_FIXTURES");
	char		guess[4096];

	if (dir == NULL)
	{
		/* the binary lives in test/fuzz/build/ */
		const char *self = (*argv)[0];
		const char *slash = strrchr(self, '/');

		snprintf(guess, sizeof(guess), "%.*s/../../fixtures",
				 slash ? (int) (slash - self) : 1, slash ? self : ".");
		dir = guess;
	}
	(void) argc;
	for (size_t i = 0; i < N_MODELS; i++)
		models[n_models++] = load_fixture(dir, model_files[i]);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tl_model   *m;
	tl_shape	in;
	tl_status	st = {0};
	tl_runner  *r;
	float	   *x;
	int			n;
	int64_t		per,
				total;
	size_t		pos = 8;

	if (size < 8)
		return 0;
	m = models[data[0] % n_models];
	n = 1 + data[1] % 4;
	in = tl_model_input_shape(m);
	for (int i = 0; i < in.nd; i++)
		if (in.d[i] < 0)
			in.d[i] = 1 + data[2 + i] % 64;
	per = tl_shape_count(&in);
	total = per * n;
	x = calloc(total, sizeof(float));
	if (x == NULL)
		return 0;
	for (int64_t k = 0; k < total; k++)
	{
		if (tl_model_takes_tokens(m))
		{
			uint16_t	id = 0;

			if (pos + 2 <= size)
				memcpy(&id, data + pos, 2);
			pos += 2;
			x[k] = (float) (id % (tl_model_vocab_size(m) + 2)) - 1.0f;
		}
		else
		{
			if (pos + 4 <= size)
				memcpy(&x[k], data + pos, 4);
			pos += 4;
		}
	}
	r = tl_runner_new(m, 4 << 20, &st);
	for (size_t s = 0; r && s < sizeof(steps) / sizeof(steps[0]); s++)
		if (steps[s] (r, m, &in, x, n, &st) < 0)
			break;
	tl_runner_free(r);
	free(x);
	return 0;
}
