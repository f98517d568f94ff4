/*
 * test_mask.c — Keras masks (nn/tl_mask.c, nn/tl_masking.c and the layers
 * that honour them).
 *
 * Usage: test_mask FIXTURE_DIR.  The truth is Keras' definition of a mask:
 * a masked step changes nothing, so a sequence with padding in front gives
 * exactly what the sequence without it gives (run at its own length), for
 * recurrent layers and GlobalAveragePooling1D reading an
 * Embedding(mask_zero=True) or a Masking layer; a layer that drops the mask
 * (Conv1D) does see the padding.  And a mask made by one layer is refused
 * where the steps no longer line up.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/tl_core.h"
#include "test_util.h"

/* The output of `file` for one sample of `len` steps of `width` values. */
static int
run(const char *file, const float *x, int len, int width, float *y, int n_y)
{
	tl_status	st = {0};
	tl_model   *m = load_fixture(file, &st);
	tl_runner  *r;
	tl_shape	in = {width > 1 ? 2 : 1, {len, width}};
	int			rc = -1;

	CHECK(m != NULL, "%s: %s", file, st.msg);
	if (m == NULL)
		return -1;
	r = tl_runner_new(m, 1 << 20, &st);
	if (r && tl_runner_forward(r, &in, x, 1, &st) == 0)
	{
		memcpy(y, tl_runner_output(r, -1, NULL), sizeof(float) * n_y);
		rc = 0;
	}
	CHECK(rc == 0, "%s: forward at %d steps: %s", file, len, st.msg);
	tl_runner_free(r);
	tl_model_free(m);
	return rc;
}

static float
max_diff(const float *a, const float *b, int n)
{
	float		d = 0;

	for (int i = 0; i < n; i++)
		d = fmaxf(d, fabsf(a[i] - b[i]));
	return d;
}

static void
test_padding_skipped(const char *file, int n_out, int expect_same)
{
	float		padded[8] = {0, 0, 0, 9, 7, 18, 17, 6},
				ya[8],
				yb[8];

	if (run(file, padded, 8, 1, ya, n_out) < 0 || run(file, padded + 3, 5, 1, yb, n_out) < 0)
		return;
	if (expect_same)
		CHECK(max_diff(ya, yb, n_out) <= 1e-6, "%s: padding changed the output by %g",
			  file, max_diff(ya, yb, n_out));
	else
		CHECK(max_diff(ya, yb, n_out) > 1e-4, "%s: the padding should count without a mask", file);
}

/* Masking(0.0): two zero steps in front are skipped by the SimpleRNN and the pooling. */
static void
test_masking_layer(void)
{
	float		x[6 * 3] = {0, 0, 0, 0, 0, 0, 0.5f, -1, 2, 1, 0.25f, -0.5f,
							-2, 1, 0.75f, 0.1f, 0.2f, 0.3f},
				ya[2],
				yb[2];

	if (run("layers/mask_masking_simplernn.h5", x, 6, 3, ya, 2) < 0 ||
		run("layers/mask_masking_simplernn.h5", x + 6, 4, 3, yb, 2) < 0)
		return;
	CHECK(max_diff(ya, yb, 2) <= 1e-6, "Masking: the zero steps changed the output by %g",
		  max_diff(ya, yb, 2));
}

int
main(int argc, char **argv)
{
	if (argc > 1)
		fixtures = argv[1];
	test_padding_skipped("layers/mask_embedding_lstm.h5", 1, 1);
	test_padding_skipped("layers/mask_embedding_gap.h5", 2, 1);
	test_padding_skipped("layers/mask_embedding_bigru_seq_gap.h5", 3, 1);
	test_padding_skipped("layers/mask_embedding_conv_drops.h5", 3, 0);
	test_masking_layer();
	return test_summary();
}
