/*
 * test_model.c — unit tests of loading and running a model: window
 * geometry, fitting inputs, a tiny Dense model by hand, bad files, file
 * and weight limits (format/keras_load.c, nn/tl_model.c, nn/tl_runner.c).
 *
 * Usage: test_model FIXTURE_DIR.  Every expected number here is derived by
 * hand (in the comment beside it).
 */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/tl_core.h"
#include "test_util.h"
#include "nn/tl_layer.h"

static void
test_windows(void)
{
	/* valid: (10 - 3) / 1 + 1 = 8; dilation 2 spans 5: (10 - 5) / 1 + 1 = 6 */
	CHECK(tl_window_out(10, 3, 1, 1, TL_PAD_VALID) == 8, "valid window");
	CHECK(tl_window_out(10, 3, 1, 2, TL_PAD_VALID) == 6, "dilated window");
	/* same: ceil(10 / 3) = 4; total pad = (4-1)*3 + 4 - 10 = 3, 1 before */
	CHECK(tl_window_out(10, 4, 3, 1, TL_PAD_SAME) == 4, "same window");
	CHECK(tl_window_pad_before(10, 4, 3, 1, TL_PAD_SAME) == 1, "same padding");
	/* causal: (k - 1) * d zeros before, output ceil(len / s) */
	CHECK(tl_window_pad_before(16, 3, 1, 2, TL_PAD_CAUSAL) == 4, "causal padding");
	CHECK(tl_window_out(16, 3, 2, 1, TL_PAD_CAUSAL) == 8, "causal output");
	CHECK(tl_window_out(2, 3, 1, 1, TL_PAD_VALID) == 0, "too short");
}

static void
test_fit(void)
{
	int64_t		ids[5] = {1, 2, 3, 4, 5};
	float		out[3];
	float		pad[7];

	/* pad_sequences defaults: pre-truncation keeps the last ids */
	tl_fit_tokens(ids, 5, out, 3);
	CHECK(out[0] == 3 && out[1] == 4 && out[2] == 5, "pre-truncation");
	tl_fit_tokens(ids, 5, pad, 7);
	CHECK(pad[0] == 0 && pad[1] == 0 && pad[2] == 1 && pad[6] == 5, "pre-padding");
}

static void
test_tiny_dense(void)
{
	tl_status	st;
	tl_model   *m = load_fixture("tiny_dense.h5", &st);
	tl_runner  *r;
	tl_shape	in,
				os;
	int			dims[2] = {1, 3};
	float		x[6] = {1, 0, -1, 0, 0, 0};
	const float *y;

	CHECK(m != NULL, "tiny_dense.h5 does not load: %s", st.msg);
	if (m == NULL)
		return;
	CHECK(tl_model_n_layers(m) == 3, "layer count %d", tl_model_n_layers(m));
	CHECK(tl_model_fit_input(m, dims, 2, 3, &in, &st) == 0, "fit [1][3]: %s", st.msg);
	CHECK(tl_model_fit_input(m, dims, 1, 4, &in, &st) < 0 && st.code == TL_ERR_INPUT,
		  "4 values accepted for 3 inputs");
	tl_status_clear(&st);
	tl_model_fit_input(m, NULL, 1, 3, &in, &st);
	r = tl_runner_new(m, 1 << 20, &st);
	CHECK(tl_runner_forward(r, &in, x, 2, &st) == 0, "forward: %s", st.msg);
	y = tl_runner_output(r, -1, &os);
	/*
	 * hidden = [1,0,-1]·[[1,2],[3,4],[5,6]] + [0.5,-0.5] = [-3.5, -4.5];
	 * out = sigmoid(-3.5 + 4.5) = sigmoid(1).  Zeros: hidden = [0.5,-0.5],
	 * out = sigmoid(0.5 + 0.5) = sigmoid(1) as well.
	 */
	CHECK_NEAR(y[0], 1.0 / (1.0 + exp(-1.0)), 1e-6);
	CHECK_NEAR(y[1], 1.0 / (1.0 + exp(-1.0)), 1e-6);
	y = tl_runner_output(r, 1, &os);
	CHECK_NEAR(y[0], -3.5, 1e-6);
	CHECK_NEAR(y[1], -4.5, 1e-6);
	tl_runner_free(r);
	tl_model_free(m);
}

static void
test_bad_files(void)
{
	static const struct
	{
		const char *file;
		tl_code		code;
	}			cases[] =
	{
		{"bad/empty.h5", TL_ERR_FORMAT},
		{"bad/random.bin", TL_ERR_FORMAT},
		{"bad/truncated.h5", TL_ERR_FORMAT},
		{"bad/not_keras.h5", TL_ERR_FORMAT},
		{"bad/bad_json.h5", TL_ERR_FORMAT},
		{"bad/missing_weight.h5", TL_ERR_MODEL},
		{"bad/wrong_shape.h5", TL_ERR_MODEL},
		{"bad/int_weights.h5", TL_ERR_MODEL},
		{"bad/unsupported_layer.h5", TL_ERR_UNSUPPORTED},
		{"bad/zip_no_config.keras", TL_ERR_FORMAT},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		tl_status	st;
		tl_model   *m = load_fixture(cases[i].file, &st);

		CHECK(m == NULL && st.code == cases[i].code,
			  "%s: code %d (%s), expected %d", cases[i].file, st.code, st.msg, cases[i].code);
		tl_model_free(m);
	}
}

/*
 * Every prefix of a real HDF5 file up to past its superblock is refused as
 * truncated; each is read from a buffer of exactly its size, so that the
 * sanitizers see a read past the end (once: superblock bytes 13-14 read
 * after checking only 12).
 */
static void
test_truncated_superblock(void)
{
	size_t		len;
	char	   *buf = read_file("tiny_dense.h5", &len);

	if (buf == NULL)
		return;
	for (size_t n = 8; n <= 96 && n < len; n++)
	{
		char	   *head = malloc(n);
		tl_status	st = {0};
		tl_limits	lim = {1 << 20, 1 << 20};
		tl_model   *m;

		memcpy(head, buf, n);
		m = tl_model_load(head, n, &lim, &st);
		CHECK(m == NULL && st.code == TL_ERR_FORMAT,
			  "the first %zu bytes of an HDF5 file: code %d (%s)", n, st.code, st.msg);
		tl_model_free(m);
		free(head);
	}
	free(buf);
}

static void
test_limits(void)
{
	size_t		len;
	char	   *buf = read_file("tiny_dense.h5", &len);
	tl_status	st = {0};
	tl_limits	lim = {len - 1, 1 << 20};

	if (buf == NULL)
		return;
	CHECK(tl_model_load(buf, len, &lim, &st) == NULL && st.code == TL_ERR_LIMIT,
		  "file size limit not enforced");
	tl_status_clear(&st);
	lim.max_file_bytes = len;
	lim.max_weight_bytes = 8;	/* the first kernel alone is 24 bytes */
	CHECK(tl_model_load(buf, len, &lim, &st) == NULL && st.code == TL_ERR_LIMIT,
		  "weight budget not enforced: %s", st.msg);
	free(buf);
}

int
main(int argc, char **argv)
{
	if (argc > 1)
		fixtures = argv[1];
	test_windows();
	test_fit();
	test_tiny_dense();
	test_bad_files();
	test_truncated_superblock();
	test_limits();
	return test_summary();
}
