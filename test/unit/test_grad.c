/*
 * test_grad.c — the backward pass against finite differences.
 *
 * Usage: test_grad FIXTURE_DIR.  Every model under layers/ and grad/ (one
 * small model per layer type and option, see make_fixtures.py and
 * make_grad_fixtures.py) gets a batch of two random samples and a random
 * seed vector s; the target is sum(s * y), with y the output and, in a second
 * round, the logits (before the final activation).  The gradient that
 * tl_runner_backward computes with respect to the input (a model taking real
 * numbers), the Embedding output (a token model) and the output of every
 * layer in between is compared with central differences of the target:
 *
 *   the forward runs in float, the target is summed in double, and the
 *   steps are h = 2^-7 and 2^-10 (times max(1, |v|)), with the step
 *   actually taken, (float)(v + h) - v, as the divisor.  A perturbation that
 *   crosses a kink (ReLU, max pooling, hard_sigmoid) spoils a central
 *   difference, so the two one-sided differences at the smaller step count
 *   too; and at a kink itself (ReLU outputs of exactly zero tie in a max
 *   pool) the backward pass returns a subgradient, which lies between the
 *   one-sided derivatives.  So a value's error is 0 between the one-sided
 *   differences, else its distance to the closest of the four estimates; a
 *   wrong gradient misses them all.
 *   Error = max |backward - fd| / max |central fd at 2^-7| over the layer.
 *
 * One check per model, layer and target kind, at 1e-3.  Prints one line per
 * model and "N passed, N failed".
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/tl_core.h"
#include "test_util.h"
#include "analysis/tl_saliency.h"

#define TOL 1e-3
#define NS 2					/* samples per batch */

static double worst;
static int	n_layer_checks;


static uint64_t rng_state;

static double
uniform(void)
{
	/* splitmix64: deterministic on every machine */
	uint64_t	z = (rng_state += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	z ^= z >> 31;
	return (double) (z >> 11) / 9007199254740992.0;
}

static float
gaussian(void)
{
	double		u = uniform() + 1e-12,
				v = uniform();

	return (float) (sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* The model's target for the last forward: sum of seed * (output or logits). */
static double
target(tl_runner *r, const float *seed, int pre)
{
	tl_shape	s;
	const float *y = pre ? tl_runner_logits(r, &s) : tl_runner_output(r, -1, &s);
	double		t = 0;

	for (int64_t i = 0; i < NS * tl_shape_count(&s); i++)
		t += (double) seed[i] * y[i];
	return t;
}

/*
 * Runs the batch with layer `layer`'s output replaced by v (layer 0: v is
 * the input itself) and returns the target.
 */
static double
perturbed(tl_runner *r, const tl_shape *in, const float *x, int layer,
		  const float *v, const float *seed, int pre, tl_status *st)
{
	int			rc = layer == 0 ? tl_runner_forward(r, in, v, NS, st)
		: tl_runner_forward_with(r, in, x, layer, v, NS, st);

	return rc < 0 ? NAN : target(r, seed, pre);
}

/* Relative error of the backward pass at one layer (see the file comment). */
static double
check_layer(tl_runner *r, const tl_shape *in, const float *x, int layer,
			const float *grad, const float *value, int64_t count,
			const float *seed, int pre, tl_status *st)
{
	float	   *v = malloc(sizeof(float) * count);
	double		max_fd = 0,
				max_err = 0;

	double		f0 = perturbed(r, in, x, layer, value, seed, pre, st);

	memcpy(v, value, sizeof(float) * count);
	for (int64_t e = 0; e < count; e++)
	{
		double		best = INFINITY;

		for (int k = 0; k < 2; k++)
		{
			double		h = ldexp(1.0, k == 0 ? -7 : -10) * fmax(1.0, fabs(value[e]));
			float		up = (float) (value[e] + h),
						down = (float) (value[e] - h);
			double		fp,
						fm,
						fd[3];

			v[e] = up;
			fp = perturbed(r, in, x, layer, v, seed, pre, st);
			v[e] = down;
			fm = perturbed(r, in, x, layer, v, seed, pre, st);
			v[e] = value[e];
			fd[0] = (fp - fm) / ((double) up - (double) down);
			fd[1] = (fp - f0) / ((double) up - value[e]);
			fd[2] = (f0 - fm) / (value[e] - (double) down);
			if (k == 0)
				max_fd = fmax(max_fd, fabs(fd[0]));
			for (int j = 0; j < (k == 0 ? 1 : 3); j++)
				best = fmin(best, fabs(fd[j] - grad[e]));
			if (k == 1 && grad[e] >= fmin(fd[1], fd[2]) && grad[e] <= fmax(fd[1], fd[2]))
				best = 0;
		}
		max_err = fmax(max_err, best);
	}
	free(v);
	return max_err / fmax(max_fd, 1e-6);
}

static void
check_model(const char *dir, const char *file)
{
	char		path[1024];
	tl_status	st;
	tl_model   *m;
	tl_runner  *r;
	tl_shape	in,
				os;
	int64_t		n_in,
				n_out;
	float	   *x,
			   *seed;
	double		model_worst = 0;
	int			checks = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	m = load_model_file(path, 0, NULL, &st);
	CHECK(m != NULL, "%s does not load: %s", file, st.msg);
	if (m == NULL)
		return;
	in = tl_model_input_shape(m);
	n_in = tl_shape_count(&in);
	rng_state = 0;
	for (const char *c = file; *c; c++)
		rng_state = rng_state * 31 + (unsigned char) *c;

	x = malloc(sizeof(float) * NS * n_in);
	for (int64_t i = 0; i < NS * n_in; i++)
		x[i] = tl_model_takes_tokens(m)
			? (float) (int) (uniform() * tl_model_vocab_size(m))
			: gaussian();
	r = tl_runner_new(m, 16 << 20, &st);
	tl_runner_enable_backward(r);
	CHECK(tl_runner_forward(r, &in, x, NS, &st) == 0, "%s: forward: %s", file, st.msg);
	tl_runner_output(r, -1, &os);
	n_out = tl_shape_count(&os);
	seed = malloc(sizeof(float) * NS * n_out);
	for (int64_t i = 0; i < NS * n_out; i++)
		seed[i] = gaussian();

	for (int pre = 0; pre <= 1; pre++)
	{
		for (int layer = 0; layer < tl_model_n_layers(m); layer++)
		{
			tl_shape	gs;
			const float *g;
			float	   *grad,
					   *value;
			int64_t		count;
			double		err;
			tl_layer_info info;

			tl_status_clear(&st);
			if (tl_runner_forward(r, &in, x, NS, &st) < 0 ||
				tl_runner_backward(r, seed, pre, NS, &st) < 0)
			{
				CHECK(0, "%s: backward: %s", file, st.msg);
				break;
			}
			g = tl_runner_grad(r, layer, &gs);
			tl_model_layer_info(m, layer, &info);

			/*
			 * Not checked here: the output (the seed itself) and aliasing
			 * layers (Flatten, Dropout...), which share their producer's
			 * gradient buffer and are checked there.
			 */
			if (g == NULL || g == tl_runner_grad(r, tl_model_output_layer(m), NULL) ||
				(layer > 0 && g == tl_runner_grad(r, info.inputs[0], NULL)))
				continue;
			count = NS * tl_shape_count(&gs);
			grad = malloc(sizeof(float) * count);
			value = malloc(sizeof(float) * count);
			memcpy(grad, g, sizeof(float) * count);
			memcpy(value, layer == 0 ? x : tl_runner_output(r, layer, NULL), sizeof(float) * count);
			err = check_layer(r, &in, x, layer, grad, value, count, seed, pre, &st);
			CHECK(err <= TOL, "%s: layer %d \"%s\" (%s), %s: relative error %.3g",
				  file, layer, info.name, info.class_name, pre ? "logits" : "output", err);
			model_worst = fmax(model_worst, err);
			checks++;
			free(grad);
			free(value);
		}
	}
	printf("  %-44s %2d gradients, worst relative error %.1e\n", file, checks, model_worst);
	worst = fmax(worst, model_worst);
	n_layer_checks += checks;
	free(x);
	free(seed);
	tl_runner_free(r);
	tl_model_free(m);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static void
check_dir(const char *fixtures, const char *sub)
{
	char		dir[900];
	DIR		   *d;
	struct dirent *e;
	char	   *names[512];
	int			n = 0;

	snprintf(dir, sizeof(dir), "%s/%s", fixtures, sub);
	d = opendir(dir);
	CHECK(d != NULL, "cannot open %s", dir);
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL && n < 512)
		if (strstr(e->d_name, ".h5") || strstr(e->d_name, ".keras"))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(char *), cmp_names);
	for (int i = 0; i < n; i++)
	{
		check_model(dir, names[i]);
		free(names[i]);
	}
}

/* A single sample's gradient does not depend on the batch it is in. */
static void
test_batch_independence(const char *fixtures)
{
	char		path[1024];
	tl_status	st;
	tl_model   *m;
	tl_runner  *r;
	tl_shape	in;
	float		x[3 * 15],
				seed[3 * 3],
				g3[3 * 15];
	const float *g;

	snprintf(path, sizeof(path), "%s/layers/bidirectional_sum_gru.h5", fixtures);
	m = load_model_file(path, 0, NULL, &st);
	CHECK(m != NULL, "bidirectional_sum_gru.h5: %s", st.msg);
	if (m == NULL)
		return;
	in = tl_model_input_shape(m);
	rng_state = 7;
	for (int i = 0; i < 45; i++)
		x[i] = gaussian();
	for (int i = 0; i < 9; i++)
		seed[i] = gaussian();
	r = tl_runner_new(m, 16 << 20, &st);
	CHECK(tl_runner_forward(r, &in, x, 3, &st) == 0 &&
		  tl_runner_backward(r, seed, 0, 3, &st) < 0 && st.code == TL_ERR_ARG,
		  "backward without tl_runner_enable_backward accepted");
	tl_status_clear(&st);
	tl_runner_enable_backward(r);
	tl_runner_forward(r, &in, x, 3, &st);
	CHECK(tl_runner_backward(r, seed, 0, 2, &st) < 0 && st.code == TL_ERR_ARG,
		  "backward over another batch size accepted");
	tl_status_clear(&st);
	CHECK(tl_runner_backward(r, seed, 0, 3, &st) == 0, "backward: %s", st.msg);
	memcpy(g3, tl_runner_grad(r, 0, NULL), sizeof(g3));
	for (int b = 0; b < 3; b++)
	{
		float		diff = 0;

		tl_runner_forward(r, &in, x + 15 * b, 1, &st);
		tl_runner_backward(r, seed + 3 * b, 0, 1, &st);
		g = tl_runner_grad(r, 0, NULL);
		for (int i = 0; i < 15; i++)
			diff = fmaxf(diff, fabsf(g[i] - g3[15 * b + i]));
		CHECK(diff <= 1e-6, "sample %d: batch and single gradients differ by %g", b, diff);
	}
	tl_runner_free(r);
	tl_model_free(m);
}

/*
 * A Conv1D reading an Embedding switches from GEMM to its token table once
 * enough samples have run: both give the same outputs and gradients.
 */
static void
test_token_table(const char *fixtures)
{
	char		path[1024];
	tl_status	st;
	tl_model   *m;
	tl_runner  *r;
	tl_shape	in;
	float		x[8 * 4],
				seed[4] = {1, -1, 0.5f, 2},
				y0[4],
				g0[4 * 32];
	float		dy = 0,
				dg = 0;

	snprintf(path, sizeof(path), "%s/layers/embedding_conv1d_gmp.h5", fixtures);
	m = load_model_file(path, 0, NULL, &st);
	CHECK(m != NULL, "embedding_conv1d_gmp.h5: %s", st.msg);
	if (m == NULL)
		return;
	in = tl_model_input_shape(m);
	for (int i = 0; i < 32; i++)
		x[i] = (float) ((i * 7) % 20);
	r = tl_runner_new(m, 16 << 20, &st);
	tl_runner_enable_backward(r);
	/* first batch: GEMM (no sample run yet); 4 x 6 positions pay for 20 ids */
	tl_runner_forward(r, &in, x, 4, &st);
	tl_runner_backward(r, seed, 0, 4, &st);
	memcpy(y0, tl_runner_output(r, -1, NULL), sizeof(y0));
	memcpy(g0, tl_runner_grad(r, 1, NULL), sizeof(g0));
	CHECK(tl_runner_forward(r, &in, x, 4, &st) == 0 &&
		  tl_runner_backward(r, seed, 0, 4, &st) == 0, "second batch: %s", st.msg);
	for (int i = 0; i < 4; i++)
		dy = fmaxf(dy, fabsf(tl_runner_output(r, -1, NULL)[i] - y0[i]));
	for (int i = 0; i < 4 * 32; i++)
		dg = fmaxf(dg, fabsf(tl_runner_grad(r, 1, NULL)[i] - g0[i]));
	CHECK(dy <= 1e-6 && dg <= 1e-6, "token table and GEMM differ: outputs %g, gradients %g", dy, dg);
	tl_runner_free(r);
	tl_model_free(m);
}

/*
 * The saliency methods in the core (the SQL tests check them further): on a
 * token model and an image model, every method writes finite scores, the
 * class-0 scores of a sigmoid unit mirror class 1's, and integrated
 * gradients add up to score(x) - score(baseline); errors are reported.
 */
static void
test_saliency(const char *fixtures)
{
	static const char *const files[] = {"layers/embedding_conv1d_gmp.h5", "layers/conv2d_same_s2.h5"};
	static const tl_sal_method methods[] = {TL_SAL_GRADIENT, TL_SAL_GRAD_INPUT,
		TL_SAL_INTEGRATED_GRADIENTS, TL_SAL_OCCLUSION, TL_SAL_GRAD_CAM, TL_SAL_LAYER_CAM,
	TL_SAL_RANDOM};

	for (int f = 0; f < 2; f++)
	{
		char		path[1024];
		tl_status	st;
		tl_model   *m;
		tl_runner  *r;
		tl_shape	in;
		int64_t		n;
		float	   *x,
				   *s1,
				   *s0;
		tl_sal_opts o = {TL_SAL_GRAD_INPUT, 1, 16, -1, 3};
		tl_ig_result ig;
		tl_faithfulness fa;

		snprintf(path, sizeof(path), "%s/%s", fixtures, files[f]);
		m = load_model_file(path, 0, NULL, &st);
		CHECK(m != NULL, "%s: %s", files[f], st.msg);
		if (m == NULL)
			continue;
		in = tl_model_input_shape(m);
		n = tl_shape_count(&in);
		x = malloc(sizeof(float) * n);
		s1 = malloc(sizeof(float) * n);
		s0 = malloc(sizeof(float) * n);
		rng_state = 11;
		for (int64_t i = 0; i < n; i++)
			x[i] = f == 0 ? (float) (i < 2 ? 0 : 3 + (int) (uniform() * 17)) : gaussian();
		r = tl_runner_new(m, 16 << 20, &st);
		for (size_t k = 0; k < sizeof(methods) / sizeof(methods[0]); k++)
		{
			int			finite = 1;

			o.method = methods[k];
			o.target = 1;
			tl_status_clear(&st);
			CHECK(tl_saliency(m, r, &in, x, &o, s1, &st) == 0, "%s method %zu: %s", files[f], k, st.msg);
			for (int64_t i = 0; i < n; i++)
				finite &= isfinite(s1[i]);
			CHECK(finite, "%s method %d: scores not finite", files[f], (int) k);
			if (f == 0 && (methods[k] == TL_SAL_GRAD_INPUT || methods[k] == TL_SAL_OCCLUSION))
			{
				float		d = 0;

				o.target = 0;
				tl_saliency(m, r, &in, x, &o, s0, &st);
				for (int64_t i = 0; i < n; i++)
					d = fmaxf(d, fabsf(s0[i] + s1[i]));
				CHECK(d <= 1e-6, "%s method %d: class 0 is not minus class 1 (%g)", files[f], (int) k, d);
			}
		}
		o.steps = 64;
		o.target = 1;
		CHECK(tl_integrated_gradients(m, r, &in, x, &o, NULL, &ig, &st) == 0 &&
			  fabs(ig.sum - (ig.score - ig.baseline)) <= 0.02 * fabs(ig.score - ig.baseline) + 1e-6,
			  "%s: integrated gradients sum to %g, score %g - baseline %g", files[f],
			  ig.sum, ig.score, ig.baseline);
		if (f == 0)
			CHECK(tl_faithfulness_eval(m, r, &in, x, s1, 1, &fa, &st) == 0 && fa.n_tokens == n - 2,
				  "faithfulness: %s", st.msg);
		/* errors: the class, the steps, a layer that is not a convolution */
		o.method = TL_SAL_GRAD_INPUT;
		o.target = f == 0 ? 2 : 48;
		tl_status_clear(&st);
		CHECK(tl_saliency(m, r, &in, x, &o, s1, &st) < 0 && st.code == TL_ERR_RANGE, "target accepted");
		o.target = 0;
		o.steps = 0;
		tl_status_clear(&st);
		CHECK(tl_saliency(m, r, &in, x, &o, s1, &st) < 0 && st.code == TL_ERR_ARG, "steps 0 accepted");
		o.steps = 8;
		o.method = TL_SAL_GRAD_CAM;
		o.layer = tl_model_output_layer(m);
		tl_status_clear(&st);
		CHECK(tl_saliency(m, r, &in, x, &o, s1, &st) < 0 && st.code == TL_ERR_ARG, "grad_cam on a dense layer accepted");
		tl_runner_free(r);
		tl_model_free(m);
		free(x);
		free(s1);
		free(s0);
	}
}

int
main(int argc, char **argv)
{
	const char *fixtures = argc > 1 ? argv[1] : "test/fixtures";

	printf("gradient checks (backward vs central differences, tolerance %g):\n", TOL);
	check_dir(fixtures, "layers");
	check_dir(fixtures, "grad");
	printf("%d layer gradients checked, worst relative error %.2e\n", n_layer_checks, worst);
	test_batch_independence(fixtures);
	test_token_table(fixtures);
	test_saliency(fixtures);
	return test_summary();
}
