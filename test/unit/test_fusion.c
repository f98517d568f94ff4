/*
 * test_fusion.c — unit tests of running from token ids (nn/tl_fusion.c).
 *
 * Usage: test_fusion FIXTURE_DIR (and TL_DATA_DIR for the shared models).
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
#include "nn/tl_model_int.h"

/*
 * Fusion (doc/performance.md): with the per-token tables and the output
 * alone kept, layers reading an Embedding run from the token ids and the
 * Embedding is skipped; the outputs match the plain path's to 1e-5.  On
 * the fixture always, on the shared IMDB models when TL_DATA_DIR is set.
 */
static void
fusion_case(const char *dir, const char *name, int steps, int fused_layer_expected,
			int has_table)
{
	char		path[1024];
	tl_status	st;
	tl_model   *m;
	tl_shape	in;
	size_t		len;
	char	   *buf;
	tl_limits	lim = {64 << 20, 64 << 20};
	const char *saved = fixtures;
	int			n = 5,
				vocab;
	float	   *x,
			   *plain;
	int64_t		per;
	tl_runner  *r;
	const float *y;
	tl_shape	os;
	int			fused = 0;
	double		worst = 0;

	snprintf(path, sizeof(path), "%s", dir);
	fixtures = path;
	buf = read_file(name, &len);
	fixtures = saved;
	if (buf == NULL)
		return;
	tl_status_clear(&st);
	m = tl_model_load(buf, len, &lim, &st);
	free(buf);
	CHECK(m != NULL, "%s: %s", name, st.msg);
	if (m == NULL)
		return;
	in = tl_model_input_shape(m);
	if (in.d[0] < 0)
		in.d[0] = steps;
	vocab = tl_model_vocab_size(m);
	x = malloc(sizeof(float) * n * in.d[0]);
	for (int b = 0; b < n; b++)
		for (int t = 0; t < in.d[0]; t++)	/* a run of padding, then words */
			x[b * in.d[0] + t] = t < in.d[0] / 3 ? 0.0f : (float) ((t * 131 + b * 17 + t * t) % vocab);

	/* plain: fusion off, every output kept */
	r = tl_runner_new(m, 64 << 20, &st);
	tl_runner_set_fusion(r, 0);
	CHECK(tl_runner_forward(r, &in, x, n, &st) == 0, "%s plain: %s", name, st.msg);
	y = tl_runner_output(r, -1, &os);
	per = tl_shape_count(&os);
	plain = malloc(sizeof(float) * n * per);
	memcpy(plain, y, sizeof(float) * n * per);
	for (int i = 1; i < tl_model_n_layers(m); i++)
		fused |= tl_runner_fused(r, i);
	CHECK(!fused, "%s: a layer ran fused with fusion off", name);
	tl_runner_free(r);

	CHECK((tl_model_prepare_fusion(m, 64 << 20, &st) > 0) == has_table,
		  "%s: token table built: %d, expected %d (%s)", name, !has_table, has_table, st.msg);
	CHECK(tl_model_prepare_fusion(m, 64 << 20, &st) == 0, "%s: tables built twice", name);
	for (int keep_all = 0; keep_all <= 1; keep_all++)
	{
		r = tl_runner_new(m, 64 << 20, &st);
		if (!keep_all)
			tl_runner_keep(r, NULL, 0, &st);
		CHECK(tl_runner_forward(r, &in, x, n, &st) == 0, "%s fused: %s", name, st.msg);
		y = tl_runner_output(r, -1, NULL);
		worst = 0;
		for (int64_t i = 0; i < n * per; i++)
			worst = fmax(worst, fabs(y[i] - plain[i]) / fmax(fabs(plain[i]), 1e-3));
		CHECK(worst <= 1e-5, "%s (keep %s): fused and plain outputs differ by %g (relative)",
			  name, keep_all ? "all" : "output", worst);
		/* from a table always; a pooling from the ids when the Embedding is not read */
		CHECK(tl_runner_fused(r, fused_layer_expected) == (has_table || !keep_all),
			  "%s (keep %s): layer %d fused: %d", name, keep_all ? "all" : "output",
			  fused_layer_expected, tl_runner_fused(r, fused_layer_expected));
		if (!keep_all)
		{
			/* the Embedding (layer 1 here) was skipped; bad ids are still refused */
			CHECK(tl_runner_output(r, 1, NULL) == NULL || tl_model_n_layers(m) < 3,
				  "%s: the Embedding was computed though nobody reads it", name);
			float		saved_id = x[3];

			x[3] = (float) vocab;
			tl_status_clear(&st);
			CHECK(tl_runner_forward(r, &in, x, n, &st) < 0 && st.code == TL_ERR_RANGE,
				  "%s: an id out of range passed the fused path", name);
			x[3] = saved_id;
		}
		tl_runner_free(r);
	}
	free(plain);
	free(x);
	tl_model_free(m);
}

static void
test_fusion(void)
{
	const char *data = getenv("TL_DATA_DIR");
	char		dir[1024];

	fusion_case(fixtures, "layers/embedding_conv1d_gmp.h5", 0, 2, 1);
	if (data == NULL || *data == '\0')
		return;
	snprintf(dir, sizeof(dir), "%s/models/imdb", data);
	if (access(dir, R_OK) != 0)
		return;
	fusion_case(dir, "imdb_conv1d__datadonk23.h5", 0, 2, 1);
	fusion_case(dir, "imdb_embed_gap_dense__kolerabi.h5", 0, 2, 0);
	fusion_case(dir, "imdb_embed_lstm__anushree1001.h5", 300, 2, 1);
	fusion_case(dir, "imdb_embed_bigru__anushree1001.h5", 120, 2, 1);
	fusion_case(dir, "imdb_embed_simplernn__anushree1001.h5", 80, 2, 1);
}

int
main(int argc, char **argv)
{
	if (argc > 1)
		fixtures = argv[1];
	test_fusion();
	return test_summary();
}
