/*
 * test_core.c — unit tests of the tensorlens core, outside PostgreSQL.
 *
 * Usage: test_core FIXTURE_DIR.  Every expected number here is derived by
 * hand (in the comment beside it) or is a property (e.g. softmax sums to 1).
 * Prints one line per failed check and a final "N passed, N failed".
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
#include "nn/tl_activation.h"
#include "nn/tl_conv2d_kernel.h"
#include "nn/tl_runner_int.h"
#include "nn/tl_model_int.h"

static const char *fixtures;

static char *
read_file(const char *name, size_t *len)
{
	char		path[1024];
	char	   *buf;

	snprintf(path, sizeof(path), "%s/%s", fixtures, name);
	buf = read_whole_file(path, len);
	if (buf == NULL)
	{
		printf("FAIL cannot open fixture %s\n", path);
		failed++;
	}
	return buf;
}

static tl_model *
load(const char *name, tl_status *st)
{
	size_t		len;
	char	   *buf = read_file(name, &len);
	tl_limits	lim = {64 << 20, 64 << 20};
	tl_model   *m;

	tl_status_clear(st);
	if (buf == NULL)
		return NULL;
	m = tl_model_load(buf, len, &lim, st);
	free(buf);
	return m;
}

static void
test_activations(void)
{
	tl_act		a;
	float		v[3] = {1.0f, 2.0f, 3.0f};

	tl_act_parse("sigmoid", 2, &a);
	CHECK_NEAR(tl_act_scalar(&a, 0.0f), 0.5, 1e-7);
	CHECK_NEAR(tl_act_scalar(&a, -100.0f), 0.0, 1e-30);	/* no overflow */
	/* Keras 2 hard_sigmoid: 0.2 * 1 + 0.5 = 0.7; Keras 3: 1/6 + 0.5 */
	tl_act_parse("hard_sigmoid", 2, &a);
	CHECK_NEAR(tl_act_scalar(&a, 1.0f), 0.7, 1e-7);
	CHECK_NEAR(tl_act_scalar(&a, 3.0f), 1.0, 0);
	tl_act_parse("hard_sigmoid", 3, &a);
	CHECK_NEAR(tl_act_scalar(&a, 1.0f), 0.5 + 1.0 / 6.0, 1e-7);
	tl_act_parse("elu", 2, &a);
	CHECK_NEAR(tl_act_scalar(&a, -1.0f), exp(-1.0) - 1.0, 1e-7);
	tl_act_parse("selu", 2, &a);
	CHECK_NEAR(tl_act_scalar(&a, 1.0f), 1.0507009873554805, 1e-6);
	tl_act_parse("softplus", 2, &a);
	CHECK_NEAR(tl_act_scalar(&a, 0.0f), log(2.0), 1e-7);
	CHECK_NEAR(tl_act_scalar(&a, 100.0f), 100.0, 1e-5);	/* no overflow */
	tl_act_parse("softsign", 2, &a);
	CHECK_NEAR(tl_act_scalar(&a, 1.0f), 0.5, 1e-7);
	tl_act_parse("swish", 2, &a);
	CHECK_NEAR(tl_act_scalar(&a, 1.0f), 1.0 / (1.0 + exp(-1.0)), 1e-7);
	tl_act_parse("gelu", 2, &a);
	/* exact GELU(1) = 0.5 (1 + erf(1/sqrt 2)) */
	CHECK_NEAR(tl_act_scalar(&a, 1.0f), 0.5 * (1.0 + erf(1.0 / sqrt(2.0))), 1e-6);
	tl_act_parse("exponential", 2, &a);
	CHECK_NEAR(tl_act_scalar(&a, 1.0f), exp(1.0), 1e-6);
	CHECK(tl_act_parse("no_such_activation", 2, &a) < 0, "unknown activation accepted");

	/* softmax of (1, 2, 3) = e^k / (e + e^2 + e^3) */
	tl_act_parse("softmax", 2, &a);
	tl_act_apply(&a, v, 1, 3, 1);
	CHECK_NEAR(v[0] + v[1] + v[2], 1.0, 1e-6);
	CHECK_NEAR(v[2], exp(3.0) / (exp(1.0) + exp(2.0) + exp(3.0)), 1e-6);

	/* Keras ReLU layer(max_value 1.4, threshold 0.2, negative_slope 0.2) */
	memset(&a, 0, sizeof(a));
	a.fn = TL_ACT_RELU;
	a.max_value = 1.4f;
	a.threshold = 0.2f;
	a.alpha = 0.2f;
	CHECK_NEAR(tl_act_scalar(&a, 2.0f), 1.4, 1e-7);
	CHECK_NEAR(tl_act_scalar(&a, 0.5f), 0.5, 1e-7);
	CHECK_NEAR(tl_act_scalar(&a, -1.0f), 0.2 * (-1.0 - 0.2), 1e-7);
}

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
	tl_model   *m = load("tiny_dense.h5", &st);
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
		tl_model   *m = load(cases[i].file, &st);

		CHECK(m == NULL && st.code == cases[i].code,
			  "%s: code %d (%s), expected %d", cases[i].file, st.code, st.msg, cases[i].code);
		tl_model_free(m);
	}
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

/* ---- isolated loading and the flat stream ------------------------------- */
static void
crash_hook(void)
{
	raise(SIGSEGV);
}

static void
hang_hook(void)
{
	sleep(30);
}

/* Runs 2 samples of zeros through m and returns output[0]. */
static float
first_output(const tl_model *m)
{
	tl_status	st = {0};
	tl_runner  *r = tl_runner_new(m, 1 << 24, &st);
	tl_shape	in = tl_model_input_shape(m);
	float	   *x = calloc(2 * (size_t) tl_shape_count(&in), sizeof(float));
	float		y = NAN;

	if (r && x && tl_runner_forward(r, &in, x, 2, &st) == 0)
		y = tl_runner_output(r, -1, NULL)[0];
	tl_runner_free(r);
	free(x);
	return y;
}

static tl_model *
load_isolated(const char *name, const tl_isolate_opts *opts, tl_status *st)
{
	size_t		len;
	char	   *buf = read_file(name, &len);
	tl_limits	lim = {64 << 20, 64 << 20};
	tl_model   *m;

	tl_status_clear(st);
	if (buf == NULL)
		return NULL;
	m = tl_model_load_isolated(buf, len, &lim, opts, st);
	free(buf);
	return m;
}

static void
test_isolated(void)
{
	tl_status	st,
				st2;
	tl_isolate_opts crash = {0, 0, crash_hook},
				hang = {300, 0, hang_hook},
				capped = {10000, 256 << 20, NULL};
	tl_model   *a = load("tiny_dense.h5", &st);
	tl_model   *b = load_isolated("tiny_dense.h5", &capped, &st2);

	CHECK(a && b, "isolated load of tiny_dense.h5: %s", st2.msg);
	if (a && b)
	{
		CHECK(strcmp(tl_model_config_json(a), tl_model_config_json(b)) == 0, "config differs");
		CHECK(strcmp(tl_model_keras_version(a), tl_model_keras_version(b)) == 0, "version differs");
		CHECK(tl_model_n_layers(a) == tl_model_n_layers(b), "layer count differs");
		CHECK(first_output(a) == first_output(b), "outputs differ: %g vs %g",
			  first_output(a), first_output(b));
	}
	tl_model_free(a);
	tl_model_free(b);

	/* a failure in the child arrives as the same status */
	load("bad/wrong_shape.h5", &st);
	b = load_isolated("bad/wrong_shape.h5", NULL, &st2);
	CHECK(b == NULL && st2.code == st.code && strcmp(st.msg, st2.msg) == 0,
		  "isolated failure: %d %s / %d %s", st.code, st.msg, st2.code, st2.msg);

	/* a crash of the parser is a clean format error */
	b = load_isolated("tiny_dense.h5", &crash, &st);
	CHECK(b == NULL && st.code == TL_ERR_FORMAT && strstr(st.msg, "signal 11") != NULL,
		  "crash: %d %s", st.code, st.msg);
	/* a parser that does not finish in time is killed */
	b = load_isolated("tiny_dense.h5", &hang, &st);
	CHECK(b == NULL && st.code == TL_ERR_LIMIT && strstr(st.msg, "longer than") != NULL,
		  "hang: %d %s", st.code, st.msg);
}

/* A growing memory buffer as a tl_flat_writer. */
typedef struct membuf
{
	char	   *p;
	size_t		n,
				cap;
} membuf;

static int
mem_write(void *arg, const void *p, size_t n)
{
	membuf	   *mb = arg;

	if (mb->n + n > mb->cap)
	{
		mb->cap = (mb->n + n) * 2;
		mb->p = realloc(mb->p, mb->cap);
	}
	memcpy(mb->p + mb->n, p, n);
	mb->n += n;
	return 0;
}

static void
test_flat(void)
{
	static const char *const files[] = {
		"tiny_dense.h5", "layers/bidirectional_concat_lstm.h5",
		"layers/batchnorm_conv.h5", "layers/keras3_zip_functional.keras",
	};
	tl_limits	lim = {64 << 20, 64 << 20};

	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++)
	{
		tl_status	st;
		tl_model   *a = load(files[f], &st),
				   *b;
		membuf		mb = {0};
		int			accepted = 0;

		CHECK(a != NULL, "%s: %s", files[f], st.msg);
		if (a == NULL)
			continue;
		tl_flat_write_model(a, mem_write, &mb);
		tl_status_clear(&st);
		b = tl_flat_read(mb.p, mb.n, &lim, &st);
		CHECK(b != NULL, "%s: flat read: %s", files[f], st.msg);
		if (b)
			CHECK(first_output(a) == first_output(b) && !isnan(first_output(a)),
				  "%s: outputs differ after the round trip", files[f]);
		tl_model_free(b);
		/* every truncation is refused */
		for (size_t n = 0; n < mb.n; n += 1 + n / 64)
		{
			tl_status_clear(&st);
			b = tl_flat_read(mb.p, n, &lim, &st);
			accepted += (b != NULL || st.code == TL_OK);
			tl_model_free(b);
		}
		CHECK(accepted == 0, "%s: %d truncated streams accepted", files[f], accepted);
		free(mb.p);
		tl_model_free(a);
	}
}

/*
 * Files that crash libhdf5 itself (found by fuzzing; not fixable here) must
 * come back from the isolated loader as a clean failure.
 */
static void
test_hdf5_crashes(void)
{
	char		dir[1024];
	DIR		   *d;
	struct dirent *e;
	tl_isolate_opts hdf5_opts = {10000, 0, NULL};

	snprintf(dir, sizeof(dir), "%s/../fuzz/hdf5_crashes", fixtures);
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL)
	{
		char		name[1100];
		tl_status	st;
		tl_model   *m;

		if (e->d_name[0] == '.')
			continue;
		snprintf(name, sizeof(name), "../fuzz/hdf5_crashes/%s", e->d_name);
		m = load_isolated(name, &hdf5_opts, &st);
		CHECK(m == NULL && st.code != TL_OK, "%s: no failure", e->d_name);
		tl_model_free(m);
	}
	closedir(d);
}

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

/*
 * The direct Conv2D kernel (stride 1, dilation 1) against the definition,
 * summed in double here: 'valid' and 'same' windows, one and many input
 * channels, filter counts below, at and across its 16-filter blocks, row
 * widths that end in every tile size, with and without bias and ReLU.
 */
static void
test_conv2d_direct(void)
{
	static const int cases[][8] = {
		/* h, w, c, f, kh, kw, same, bias */
		{28, 28, 1, 16, 3, 3, 0, 1}, {13, 13, 16, 32, 3, 3, 0, 1}, {7, 9, 3, 20, 3, 3, 1, 1},
		{5, 8, 17, 33, 1, 1, 0, 0}, {6, 11, 2, 5, 2, 5, 1, 1}, {4, 4, 4, 1, 4, 4, 1, 0},
		{3, 3, 1, 2, 3, 3, 1, 1}, {10, 7, 5, 64, 3, 2, 0, 1}};
	tl_status	st = {0};
	tl_model   *m = load("tiny_dense.h5", &st);
	tl_runner  *r = m ? tl_runner_new(m, 1 << 24, &st) : NULL;
	tl_exec		ex = {r, 0};
	double		worst = 0;

	CHECK(r != NULL, "no runner for the scratch: %s", st.msg);
	if (r == NULL)
		return;
	for (size_t t = 0; t < sizeof(cases) / sizeof(cases[0]); t++)
	{
		const int  *cs = cases[t];
		int			h = cs[0], w = cs[1], c = cs[2], f = cs[3], kh = cs[4], kw = cs[5];
		int			same = cs[6], n = 3;
		int			oh = same ? h : h - kh + 1, ow = same ? w : w - kw + 1;
		int			ph = same ? (kh - 1) / 2 : 0, pw = same ? (kw - 1) / 2 : 0;
		tl_layer	l = {0};
		float	   *x = malloc(sizeof(float) * n * h * w * c),
				   *k = malloc(sizeof(float) * kh * kw * c * f),
				   *b = malloc(sizeof(float) * f),
				   *y = malloc(sizeof(float) * n * oh * ow * f);
		uint64_t	seed = 12345 + t;

		for (int i = 0; i < n * h * w * c; i++)
			x[i] = (float) ((seed = seed * 6364136223846793005ULL + 1442695040888963407ULL) >> 40) / (1 << 23) - 1.0f;
		for (int i = 0; i < kh * kw * c * f; i++)
			k[i] = (float) ((seed = seed * 6364136223846793005ULL + 1442695040888963407ULL) >> 40) / (1 << 23) - 1.0f;
		for (int i = 0; i < f; i++)
			b[i] = cs[7] ? (float) i / f - 0.5f : 0.0f;
		l.u.conv.rank = 2;
		l.u.conv.filters = f;
		l.u.conv.k[0] = kh;
		l.u.conv.k[1] = kw;
		l.u.conv.s[0] = l.u.conv.s[1] = l.u.conv.d[0] = l.u.conv.d[1] = 1;
		l.u.conv.use_bias = cs[7];
		l.w[0].data = k;
		l.w[1].data = b;
		CHECK(tl_conv2d_direct_applies(&l), "case %zu: the direct kernel applies", t);
		l.aux = tl_conv2d_pack(&l, c, &st);
		CHECK(l.aux != NULL, "case %zu: packing: %s", t, st.msg);
		for (int relu = 0; relu <= 1; relu++)
		{
			CHECK(tl_conv2d_direct(&l, &ex, x, y, n, h, w, c, oh, ow, ph, pw, relu, &st) == 0,
				  "case %zu: %s", t, st.msg);
			for (int s = 0; s < n; s++)
				for (int oy = 0; oy < oh; oy++)
					for (int ox = 0; ox < ow; ox++)
						for (int q = 0; q < f; q++)
						{
							double		want = cs[7] ? b[q] : 0.0,
										got = y[(((int64_t) s * oh + oy) * ow + ox) * f + q];

							for (int i = 0; i < kh; i++)
								for (int j = 0; j < kw; j++)
								{
									int			iy = oy - ph + i, ix = ox - pw + j;

									if (iy < 0 || iy >= h || ix < 0 || ix >= w)
										continue;
									for (int ch = 0; ch < c; ch++)
										want += (double) x[(((int64_t) s * h + iy) * w + ix) * c + ch] *
											k[((i * kw + j) * c + ch) * f + q];
								}
							if (relu && want < 0)
								want = 0;
							if (fabs(got - want) > worst)
								worst = fabs(got - want);
						}
		}
		free(x);
		free(k);
		free(b);
		free(y);
		tl_free(l.aux);
	}
	CHECK(worst < 1e-4, "direct Conv2D differs from the definition by %g", worst);
	{
		/* one filter of a large kernel: padded blocks would be 16x the kernel; im2col stays */
		tl_layer	big = {0};

		big.u.conv.rank = 2;
		big.u.conv.filters = 1;
		big.u.conv.k[0] = big.u.conv.k[1] = 64;
		big.u.conv.s[0] = big.u.conv.s[1] = big.u.conv.d[0] = big.u.conv.d[1] = 1;
		tl_status_clear(&st);
		CHECK(tl_conv2d_pack(&big, 64, &st) == NULL && st.code == TL_OK,
			  "a 64x64x64 kernel of one filter is not packed, and that is no error");
	}
	printf("direct Conv2D: %zu shapes, worst absolute difference %.2g\n",
		   sizeof(cases) / sizeof(cases[0]), worst);
	tl_runner_free(r);
	tl_model_free(m);
}

int
main(int argc, char **argv)
{
	fixtures = argc > 1 ? argv[1] : "test/fixtures";
	test_activations();
	test_windows();
	test_fit();
	test_tiny_dense();
	test_bad_files();
	test_limits();
	test_isolated();
	test_flat();
	test_hdf5_crashes();
	test_fusion();
	test_conv2d_direct();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
