/*
 * test_onnx.c — ONNX import checked against independent truths, outside
 * PostgreSQL.
 *
 * Usage: test_onnx FIXTURE_DIR [ONNX_TESTDATA_DIR] [--list]
 *
 * 1. The PyTorch fixtures (test/fixtures/make_onnx_fixtures.py): every
 *    model of onnx.tsv run on its samples, all in one batch, against
 *    torch's outputs (1e-4, relative to |y| where |y| > 1).
 *    The backward pass (onnx_backward.tsv): the gradient of sum(seed * y)
 *    with respect to the input (models taking real numbers) or to the
 *    Embedding's output (token models), from tl_runner_backward, against
 *    torch autograd on the same model (1e-4 of the largest |gradient|).
 * 2. The ONNX project's backend test data (Debian libonnx-testdata,
 *    default /usr/share/libonnx-testdata/data): each test folder of node/
 *    and pytorch-converted/ holds model.onnx and test_data_set_N/ with
 *    input_K.pb and output_K.pb (serialised TensorProtos; the outputs
 *    written by the ONNX reference backend).  The runtime takes one
 *    computed input whose axis 0 is the batch: the other graph inputs are
 *    turned into initializers holding the test's values (the first input
 *    that imports is the computed one).  Whole tensors are compared.  A
 *    test whose model the importer refuses as unsupported (TL_ERR_UNSUPPORTED)
 *    is counted as such and named with --list (with the reason the first
 *    input could not be the computed one); only output_0 is compared, the
 *    graph's other outputs are dropped; a test that imports and
 *    then computes a wrong value, or fails otherwise, is a failure.
 *    Prints "onnx node tests: P passed, U unsupported" and the ops of the
 *    passing tests.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/tl_core.h"
#include "test_util.h"
#include "nn/tl_model_int.h"
#include "format/onnx_int.h"

static const tl_limits lim = {256 << 20, 256 << 20};
static int	list_unsupported;

static double
rel_err(const float *got, const float *want, int64_t n)
{
	double		worst = 0;

	for (int64_t k = 0; k < n; k++)
	{
		double		e = fabs((double) got[k] - want[k]) / fmax(1.0, fabs(want[k]));

		if (isnan(e) || (isnan(got[k]) != isnan(want[k])))
			return INFINITY;
		if (isnan(got[k]) && isnan(want[k]))
			continue;
		if (e > worst)
			worst = e;
	}
	return worst;
}

/* Runs n samples of per-sample shape in through m; the output or NULL. */
static float *
run(tl_model *m, const tl_shape *in, const float *x, int n, tl_shape *out_shape,
	tl_status *st)
{
	tl_runner  *r = tl_runner_new(m, (size_t) 1 << 30, st);
	const float *y;
	float	   *copy = NULL;

	if (r == NULL)
		return NULL;
	if (tl_runner_forward(r, in, x, n, st) == 0)
	{
		int64_t		total;

		y = tl_runner_output(r, -1, out_shape);
		total = tl_shape_count(out_shape) * n;
		copy = malloc(sizeof(float) * (total ? total : 1));
		memcpy(copy, y, sizeof(float) * total);
	}
	tl_runner_free(r);
	return copy;
}

/* ---- 1. the PyTorch fixtures ---------------------------------------------- */

/* Parses "{a,b,...}" into floats; returns the count. */
static int
parse_array(const char *s, float *out, int max)
{
	int			n = 0;

	if (*s == '{')
		s++;
	while (*s && *s != '}' && n < max)
	{
		char	   *end;

		out[n++] = strtof(s, &end);
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

static void
test_fixtures(const char *dir)
{
	char		path[1024],
				line[1 << 16],
				current[128] = "";
	FILE	   *f;
	static float xs[64][4096],
				ys[64][512];
	int			n = 0,
				nx = 0,
				ny = 0,
				cases = 0;
	tl_shape	in = {0};

	snprintf(path, sizeof(path), "%s/onnx.tsv", dir);
	f = fopen(path, "r");
	CHECK(f != NULL, "cannot open %s", path);
	if (f == NULL)
		return;
	for (;;)
	{
		char	   *ok = fgets(line, sizeof(line), f);
		char	   *name = ok ? strtok(line, "\t") : NULL;

		if (n > 0 && (name == NULL || strcmp(name, current) != 0))
		{
			/* run the previous case's samples as one batch */
			tl_status	st = {0};
			size_t		len;
			char	   *buf;
			tl_model   *m;
			float	   *flat = malloc(sizeof(float) * nx * n),
					   *y;
			tl_shape	os;

			snprintf(path, sizeof(path), "%s/onnx/%s.onnx", dir, current);
			buf = read_whole_file(path, &len);
			m = buf ? tl_model_load(buf, len, &lim, &st) : NULL;
			CHECK(m != NULL, "%s: %s", current, st.msg);
			for (int b = 0; m && b < n; b++)
				memcpy(flat + (int64_t) b * nx, xs[b], sizeof(float) * nx);
			y = m ? run(m, &in, flat, n, &os, &st) : NULL;
			if (m)
				CHECK(y != NULL, "%s: %s", current, st.msg);
			for (int b = 0; y && b < n; b++)
			{
				double		e = rel_err(y + (int64_t) b * ny, ys[b], ny);

				CHECK(tl_shape_count(&os) == ny && e <= 1e-4,
					  "%s sample %d: output of %lld values, error %g vs torch",
					  current, b, (long long) tl_shape_count(&os), e);
			}
			cases++;
			free(y);
			free(flat);
			free(buf);
			tl_model_free(m);
			n = 0;
		}
		if (name == NULL)
			break;
		snprintf(current, sizeof(current), "%s", name);
		{
			char	   *x = strtok(NULL, "\t"),
					   *dims = strtok(NULL, "\t"),
					   *want = strtok(NULL, "\t\n");
			float		d[TL_MAX_DIMS];

			nx = parse_array(x, xs[n], 4096);
			in.nd = parse_array(dims, d, TL_MAX_DIMS);
			for (int k = 0; k < in.nd; k++)
				in.d[k] = (int) d[k];
			ny = parse_array(want, ys[n], 512);
			n++;
		}
	}
	fclose(f);
	CHECK(cases >= 9, "only %d fixture cases", cases);
}

static void
test_backward(const char *dir)
{
	char		path[1024],
				line[1 << 16];
	FILE	   *f;
	static float x[4096],
				seed[512],
				want[8192];
	int			rows = 0;

	snprintf(path, sizeof(path), "%s/onnx_backward.tsv", dir);
	f = fopen(path, "r");
	CHECK(f != NULL, "cannot open %s", path);
	while (f && fgets(line, sizeof(line), f))
	{
		char	   *name = strtok(line, "\t"),
				   *xs = strtok(NULL, "\t"),
				   *dims = strtok(NULL, "\t"),
				   *ss = strtok(NULL, "\t"),
				   *gs = strtok(NULL, "\t\n");
		float		d[TL_MAX_DIMS];
		tl_shape	in = {0};
		tl_status	st = {0};
		size_t		len;
		char	   *buf;
		tl_model   *m;
		tl_runner  *r = NULL;
		int			ng,
					layer = 0;

		if (gs == NULL)
			continue;
		parse_array(xs, x, 4096);
		in.nd = parse_array(dims, d, TL_MAX_DIMS);
		for (int k = 0; k < in.nd; k++)
			in.d[k] = (int) d[k];
		parse_array(ss, seed, 512);
		ng = parse_array(gs, want, 8192);
		snprintf(path, sizeof(path), "%s/onnx/%s.onnx", dir, name);
		buf = read_whole_file(path, &len);
		m = buf ? tl_model_load(buf, len, &lim, &st) : NULL;
		CHECK(m != NULL, "%s: %s", name, st.msg);
		for (int i = 0; m && i < tl_model_n_layers(m); i++)
		{
			tl_layer_info li;

			tl_model_layer_info(m, i, &li);
			if (strcmp(li.class_name, "Embedding") == 0)
				layer = i;
		}
		if (m && (r = tl_runner_new(m, (size_t) 1 << 28, &st)) != NULL)
		{
			tl_shape	gs_shape;
			const float *g;
			double		worst = 0,
						scale = 0;

			tl_runner_enable_backward(r);
			if (tl_runner_forward(r, &in, x, 1, &st) == 0 &&
				tl_runner_backward(r, seed, 0, 1, &st) == 0 &&
				(g = tl_runner_grad(r, layer, &gs_shape)) != NULL &&
				tl_shape_count(&gs_shape) == ng)
			{
				for (int k = 0; k < ng; k++)
					scale = fmax(scale, fabs(want[k]));
				for (int k = 0; k < ng; k++)
					worst = fmax(worst, fabs(g[k] - want[k]) / fmax(scale, 1e-12));
				CHECK(worst <= 1e-4, "%s: backward differs from torch autograd by %g (relative to max |g|)",
					  name, worst);
			}
			else
				CHECK(0, "%s: no gradient (%s)", name, st.msg);
			rows++;
		}
		tl_runner_free(r);
		tl_model_free(m);
		free(buf);
	}
	if (f)
		fclose(f);
	CHECK(rows >= 17, "only %d backward cases", rows);
}

/* ---- 2. the ONNX backend test data ----------------------------------------------- */
static Onnx__TensorProto *
read_pb(const char *path)
{
	size_t		len;
	char	   *buf = read_whole_file(path, &len);
	Onnx__TensorProto *t;

	if (buf == NULL)
		return NULL;
	t = onnx__tensor_proto__unpack(NULL, len, (const uint8_t *) buf);
	free(buf);
	return t;
}

typedef struct tally
{
	int			passed, unsupported, failed;
	char		ops[8192];		/* "Op " of passing tests, each once */
} tally;

static void
note_op(tally *t, const char *op)
{
	char		key[80];

	snprintf(key, sizeof(key), " %s ", op);
	if (strstr(t->ops, key) == NULL && strlen(t->ops) + strlen(key) + 1 < sizeof(t->ops))
	{
		if (t->ops[0] == '\0')
			strcat(t->ops, " ");
		strcat(t->ops, key + 1);
	}
}

/*
 * Imports the model with graph input `dynamic` computed and the others as
 * initializers from inputs[]; NULL with st set when it cannot.
 */
static tl_model *
import_with(Onnx__ModelProto *mp, Onnx__TensorProto **inputs, int n_inputs, int dynamic,
			tl_status *st)
{
	Onnx__GraphProto *g = mp->graph;
	size_t		n_init = g->n_initializer,
				n_in = g->n_input;
	Onnx__TensorProto **init = g->initializer;
	Onnx__ValueInfoProto **gin = g->input;
	Onnx__TensorProto *extra[64];
	char	   *saved[64];
	Onnx__ValueInfoProto *keep[1];
	size_t		n_out = g->n_output;
	Onnx__TensorProto **all = malloc(sizeof(void *) * (n_init + n_inputs + 1));
	int			k = 0;
	size_t		len;
	uint8_t    *buf;
	tl_model   *m;

	for (int i = 0; i < n_inputs && i < (int) n_in; i++)
		if (i != dynamic)
		{
			extra[k] = inputs[i];
			saved[k] = extra[k]->name;
			extra[k]->name = gin[i]->name;
			k++;
		}
	if (n_init)
		memcpy(all, init, sizeof(void *) * n_init);
	if (k)
		memcpy(all + n_init, extra, sizeof(void *) * k);
	keep[0] = gin[dynamic];
	g->initializer = all;
	g->n_initializer = n_init + k;
	g->input = keep;
	g->n_input = 1;
	g->n_output = n_out ? 1 : 0;	/* output_0 is what is compared */
	len = onnx__model_proto__get_packed_size(mp);
	buf = malloc(len ? len : 1);
	onnx__model_proto__pack(mp, buf);
	g->initializer = init;
	g->n_initializer = n_init;
	g->input = gin;
	g->n_input = n_in;
	g->n_output = n_out;
	for (int i = 0; i < k; i++)
		extra[i]->name = saved[i];
	free(all);
	tl_status_clear(st);
	m = tl_model_load(buf, len, &lim, st);
	free(buf);
	return m;
}

/* The values of a TensorProto as malloc'd floats (via the importer's reader). */
static float *
tensor_floats(const Onnx__TensorProto *t, onnx_value *v, tl_status *st)
{
	size_t		budget = (size_t) 1 << 30;
	float	   *f = NULL;

	memset(v, 0, sizeof(*v));
	if (onnx_read_tensor(t, &budget, v, st) == 0)
	{
		f = malloc(sizeof(float) * (v->count ? v->count : 1));
		for (int64_t k = 0; k < v->count; k++)
			f[k] = v->is_int ? (float) v->i[k] : v->f[k];
	}
	tl_free(v->i);
	tl_free(v->f);
	v->i = NULL;
	v->f = NULL;
	return f;
}

/* 1 passed, 0 unsupported, -1 failed. */
static int
run_test_dir(const char *dir, char *why, size_t why_len, const char **op)
{
	char		path[1200];
	size_t		len;
	char	   *buf;
	Onnx__ModelProto *mp;
	Onnx__TensorProto *inputs[16] = {0},
			   *want_t;
	int			n_inputs = 0,
				result = 0;
	tl_status	st = {0};

	snprintf(path, sizeof(path), "%s/model.onnx", dir);
	buf = read_whole_file(path, &len);
	mp = buf ? onnx__model_proto__unpack(NULL, len, (const uint8_t *) buf) : NULL;
	free(buf);
	if (mp == NULL || mp->graph == NULL)
	{
		snprintf(why, why_len, "model.onnx unreadable");
		return -1;
	}
	*op = mp->graph->n_node ? strdup(mp->graph->node[0]->op_type) : strdup("?");
	for (size_t k = 0; k < mp->graph->n_input; k++)
	{
		const Onnx__TypeProto *tp = mp->graph->input[k]->type;

		if (tp == NULL || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
		{
			snprintf(why, why_len, "input %zu is not a tensor (sequences, maps, optionals)", k);
			onnx__model_proto__free_unpacked(mp, NULL);
			return 0;
		}
	}
	for (; n_inputs < 16; n_inputs++)
	{
		snprintf(path, sizeof(path), "%s/test_data_set_0/input_%d.pb", dir, n_inputs);
		if ((inputs[n_inputs] = read_pb(path)) == NULL)
			break;
	}
	snprintf(path, sizeof(path), "%s/test_data_set_0/output_0.pb", dir);
	want_t = read_pb(path);
	snprintf(why, why_len, "no usable input");
	for (int d = 0; d < n_inputs && d < (int) mp->graph->n_input && result == 0; d++)
	{
		tl_model   *m = import_with(mp, inputs, n_inputs, d, &st);
		onnx_value xv,
					yv;
		float	   *x,
				   *want,
				   *y = NULL;
		tl_shape	in,
					os;
		int64_t		n;

		if (m == NULL)
		{
			if (d == 0)
				snprintf(why, why_len, "%s", st.msg);
			if (st.code != TL_ERR_UNSUPPORTED)
				result = -1;
			continue;
		}
		x = tensor_floats(inputs[d], &xv, &st);
		want = want_t ? tensor_floats(want_t, &yv, &st) : NULL;
		if (x == NULL || want == NULL || xv.rank < 1)
		{
			snprintf(why, why_len, "test data unreadable");
			result = -1;
		}
		else
		{
			n = xv.dims[0];
			in.nd = xv.rank - 1;
			for (int k = 1; k < xv.rank; k++)
				in.d[k - 1] = (int) xv.dims[k];
			if (in.nd == 0)
			{
				in.nd = 1;
				in.d[0] = 1;
			}
			if (n < 1 || tl_model_fit_input(m, in.d, in.nd, tl_shape_count(&in), &in, &st) < 0)
			{
				snprintf(why, why_len, "input does not fit: %s", st.msg);
				result = -1;
			}
			else if ((y = run(m, &in, x, (int) n, &os, &st)) == NULL)
			{
				snprintf(why, why_len, "run: %s", st.msg);
				result = -1;
			}
			else if (tl_shape_count(&os) * n != yv.count)
			{
				snprintf(why, why_len, "output has %lld values, expected %lld",
						 (long long) (tl_shape_count(&os) * n), (long long) yv.count);
				result = -1;
			}
			else
			{
				double		e = rel_err(y, want, yv.count);

				snprintf(why, why_len, "max error %g", e);
				result = e <= 1e-4 ? 1 : -1;
			}
		}
		free(y);
		free(x);
		free(want);
		tl_model_free(m);
	}
	for (int k = 0; k < n_inputs; k++)
		onnx__tensor_proto__free_unpacked(inputs[k], NULL);
	if (want_t)
		onnx__tensor_proto__free_unpacked(want_t, NULL);
	onnx__model_proto__free_unpacked(mp, NULL);
	return result;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static void
test_backend_data(const char *root, const char *sub)
{
	char		path[1024];
	DIR		   *d;
	struct dirent *e;
	char	   *names[2048];
	int			n = 0;
	tally		t = {0};

	snprintf(path, sizeof(path), "%s/%s", root, sub);
	d = opendir(path);
	if (d == NULL)
	{
		printf("SKIPPED onnx %s tests: %s not found (Debian libonnx-testdata)\n", sub, path);
		return;
	}
	while ((e = readdir(d)) != NULL && n < 2048)
		if (e->d_name[0] != '.')
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(char *), cmp_str);
	for (int i = 0; i < n; i++)
	{
		char		dir[1100],
					why[TL_MSG_LEN + 64];
		const char *op = NULL;
		int			r;

		snprintf(dir, sizeof(dir), "%s/%s", path, names[i]);
		r = run_test_dir(dir, why, sizeof(why), &op);
		if (r > 0)
		{
			t.passed++;
			note_op(&t, op);
			if (list_unsupported)
				printf("pass %s/%s\n", sub, names[i]);
		}
		else if (r == 0)
		{
			t.unsupported++;
			if (list_unsupported)
				printf("unsupported %s/%s: %s\n", sub, names[i], why);
		}
		else
		{
			t.failed++;
			printf("FAIL onnx %s/%s (%s): %s\n", sub, names[i], op ? op : "?", why);
		}
		free((void *) op);
		free(names[i]);
	}
	passed += t.passed;
	failed += t.failed;
	printf("onnx %s tests: %d passed, %d unsupported, %d failed\n", sub, t.passed, t.unsupported, t.failed);
	printf("onnx %s ops passing:%s\n", sub, t.ops);
}

int
main(int argc, char **argv)
{
	const char *testdata = "/usr/share/libonnx-testdata/data";

	if (argc < 2)
	{
		fprintf(stderr, "usage: test_onnx FIXTURE_DIR [ONNX_TESTDATA_DIR] [--list]\n");
		return 2;
	}
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--list") == 0)
			list_unsupported = 1;
		else
			testdata = argv[i];
	test_fixtures(argv[1]);
	test_backward(argv[1]);
	test_backend_data(testdata, "node");
	test_backend_data(testdata, "pytorch-converted");
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
