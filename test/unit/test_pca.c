/*
 * test_pca.c — unit tests of the core's PCA (src/core/analysis/tl_pca.c).
 *
 * The expected values are derived by hand in the comments: point sets are
 * built as a mean m plus multiples of orthonormal axes, so their scatter
 * matrix, eigenvalues and eigenvectors are known exactly.
 * Prints one line per failed check and a final "N passed, N failed".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/tl_core.h"
#include "analysis/tl_pca.h"
#include "test_util.h"




/* A fitted model with its own arrays. */
typedef struct fit
{
	tl_pca_model m;
	double		store[4096];
} fit;

static int
finish(tl_pca_acc *a, fit *f, tl_status *st)
{
	int			d = a->width,
				k = a->k;

	f->m.variance = f->store;
	f->m.ratio = f->store + k;
	f->m.mean = f->store + 2 * k;
	f->m.components = f->store + 2 * k + d;
	return tl_pca_acc_finish(a, &f->m, st);
}

static tl_pca_acc *
acc_of(const float *rows, int n, int d, int k, tl_pca_method method)
{
	tl_status	st = {0};
	tl_pca_acc *a = tl_pca_acc_new(k, method, &st);

	for (int i = 0; i < n; i++)
		if (tl_pca_acc_add(a, rows + (size_t) i * d, d, &st) < 0)
			printf("FAIL add: %s\n", st.msg);
	return a;
}

static int
no_nan(const fit *f)
{
	int			d = f->m.width,
				k = f->m.k;

	for (int i = 0; i < 2 * k + d + k * d; i++)
		if (!isfinite(f->store[i]))
			return 0;
	return 1;
}

/* max |<c_i, c_j> − δ_ij| */
static double
orthonormality_error(const fit *f)
{
	int			d = f->m.width,
				k = f->m.k;
	double		worst = 0;

	for (int i = 0; i < k; i++)
		for (int j = 0; j < k; j++)
		{
			double		s = 0;

			for (int t = 0; t < d; t++)
				s += f->m.components[i * d + t] * f->m.components[j * d + t];
			s -= i == j;
			if (fabs(s) > worst)
				worst = fabs(s);
		}
	return worst;
}

/*
 * u = (0.6, 0.8), v = (−0.8, 0.6), m = (1, 2); points m ± 2u, m ± v:
 * (2.2, 3.6), (−0.2, 0.4), (0.2, 2.6), (1.8, 1.4).
 * Centred scatter = 2·4·uuᵀ + 2·1·vvᵀ; covariance (n − 1 = 3) has
 * eigenvalues 8/3 and 2/3, total 10/3, ratios 0.8 and 0.2.  Components: u
 * (largest loading 0.8 > 0) and −v = (0.8, −0.6) (v's largest is −0.8).
 */
static const float square[] = {2.2f, 3.6f, -0.2f, 0.4f, 0.2f, 2.6f, 1.8f, 1.4f};

static void
check_square(const fit *f, const char *what, double tol)
{
	float		y[2];
	const float p[2] = {2.2f, 3.6f},	/* m + 2u → (2, 0) */
				q[2] = {0.2f, 2.6f};	/* m + v → (0, −1) */

	CHECK(f->m.n == 4, "%s: n = %lld", what, (long long) f->m.n);
	CHECK_NEAR(f->m.variance[0], 8.0 / 3, tol);
	CHECK_NEAR(f->m.variance[1], 2.0 / 3, tol);
	CHECK_NEAR(f->m.ratio[0], 0.8, tol);
	CHECK_NEAR(f->m.ratio[1], 0.2, tol);
	CHECK_NEAR(f->m.total_variance, 10.0 / 3, tol);
	CHECK_NEAR(f->m.mean[0], 1.0, 1e-6);
	CHECK_NEAR(f->m.mean[1], 2.0, 1e-6);
	CHECK_NEAR(f->m.components[0], 0.6, tol);
	CHECK_NEAR(f->m.components[1], 0.8, tol);
	CHECK_NEAR(f->m.components[2], 0.8, tol);
	CHECK_NEAR(f->m.components[3], -0.6, tol);
	tl_pca_model_project(&f->m, p, y);
	CHECK_NEAR(y[0], 2.0, 1e-5);
	CHECK_NEAR(y[1], 0.0, 1e-5);
	tl_pca_model_project(&f->m, q, y);
	CHECK_NEAR(y[0], 0.0, 1e-5);
	CHECK_NEAR(y[1], -1.0, 1e-5);
}

static void
test_square(void)
{
	tl_status	st = {0};
	tl_pca_method methods[] = {TL_PCA_AUTO, TL_PCA_EXACT, TL_PCA_RANDOMIZED};

	for (int i = 0; i < 3; i++)
	{
		tl_pca_acc *a = acc_of(square, 4, 2, 2, methods[i]);
		fit			f;

		CHECK(finish(a, &f, &st) == 0, "finish: %s", st.msg);
		check_square(&f, tl_pca_method_name(methods[i]), 1e-6);
		CHECK(f.m.method == (methods[i] == TL_PCA_RANDOMIZED ? TL_PCA_RANDOMIZED : TL_PCA_EXACT),
			  "method %d", f.m.method);
		/* a 2-wide sketch of a 2-wide matrix is the matrix itself */
		CHECK(f.m.sketch == (methods[i] == TL_PCA_RANDOMIZED ? 2 : 0), "sketch %d", f.m.sketch);
		/* finishing twice gives the same answer (the state is unchanged) */
		CHECK(finish(a, &f, &st) == 0, "finish again: %s", st.msg);
		check_square(&f, "again", 1e-6);
		tl_pca_acc_free(a);
	}
}

/*
 * Partial states merge to the state of all rows, whatever their shifts:
 * one accumulator gets m ± 2u, the other m ± v (different first-block
 * means, so the shift correction of the merge is exercised), plus states
 * that saw nothing or only NULLs.
 */
static void
test_merge(void)
{
	tl_pca_method methods[] = {TL_PCA_EXACT, TL_PCA_RANDOMIZED};

	for (int i = 0; i < 2; i++)
	{
		tl_status	st = {0};
		tl_pca_acc *a = acc_of(square, 2, 2, 2, methods[i]),
				   *b = acc_of(square + 4, 2, 2, 2, methods[i]),
				   *empty = tl_pca_acc_new(2, TL_PCA_AUTO, &st),
				   *nulls = tl_pca_acc_new(2, methods[i], &st);
		fit			f;

		nulls->nulls = 3;
		b->nulls = 1;
		CHECK(tl_pca_acc_merge(empty, a, &st) == 0, "merge into empty: %s", st.msg);
		CHECK(tl_pca_acc_merge(empty, nulls, &st) == 0, "merge nulls: %s", st.msg);
		CHECK(tl_pca_acc_merge(empty, b, &st) == 0, "merge: %s", st.msg);
		CHECK(finish(empty, &f, &st) == 0, "finish: %s", st.msg);
		check_square(&f, "merged", 1e-6);
		CHECK(f.m.nulls == 4, "nulls %lld", (long long) f.m.nulls);
		tl_pca_acc_free(a);
		tl_pca_acc_free(b);
		tl_pca_acc_free(empty);
		tl_pca_acc_free(nulls);
	}
}

/*
 * Many blocks: the square 1300 times (5200 rows: 20 blocks of 256, folds
 * every 2048) around m = (1000, −2000), a large offset that the shift
 * must cancel.  Scatter = 1300·(8uuᵀ + 2vvᵀ), n − 1 = 5199.  The inputs are
 * float32: 1000 ± 1.2 is exact to 6e-5, so the tolerance is 1e-4 (a float64
 * eigensolver on the rounded inputs gives 0.6000163 for the 0.6 loading).
 */
static void
test_blocks(void)
{
	int			reps = 1300;
	float	   *rows = malloc(sizeof(float) * 8 * reps);
	const float off[2] = {999.0f, -2002.0f};

	for (int r = 0; r < reps; r++)
		for (int j = 0; j < 8; j++)
			rows[r * 8 + j] = square[j] + off[j % 2];
	for (int i = 0; i < 2; i++)
	{
		tl_status	st = {0};
		tl_pca_acc *a = acc_of(rows, 4 * reps, 2, 2, i ? TL_PCA_RANDOMIZED : TL_PCA_EXACT);
		fit			f;

		CHECK(finish(a, &f, &st) == 0, "finish: %s", st.msg);
		CHECK(f.m.n == 4 * reps, "n %lld", (long long) f.m.n);
		CHECK_NEAR(f.m.variance[0], reps * 8.0 / (4 * reps - 1), 1e-4);
		CHECK_NEAR(f.m.variance[1], reps * 2.0 / (4 * reps - 1), 1e-4);
		CHECK_NEAR(f.m.ratio[0], 0.8, 1e-5);
		CHECK_NEAR(f.m.mean[0], 1000.0, 1e-4);
		CHECK_NEAR(f.m.mean[1], -2000.0, 1e-4);
		CHECK_NEAR(f.m.components[0], 0.6, 1e-4);
		CHECK_NEAR(f.m.components[3], -0.6, 1e-4);
		tl_pca_acc_free(a);
	}
	free(rows);
}

/* Edge cases: defined results, no NaN. */
static void
test_edges(void)
{
	tl_status	st = {0};
	fit			f;
	tl_pca_acc *a;

	/* one row: its own mean, no variance, the unit vectors as components */
	{
		const float one[3] = {1.0f, -2.0f, 3.0f};

		a = acc_of(one, 1, 3, 2, TL_PCA_EXACT);
		CHECK(finish(a, &f, &st) == 0, "finish: %s", st.msg);
		CHECK(no_nan(&f), "NaN with one row");
		CHECK_NEAR(f.m.mean[1], -2.0, 0);
		CHECK_NEAR(f.m.variance[0], 0, 0);
		CHECK_NEAR(f.m.ratio[0], 0, 0);
		CHECK_NEAR(f.m.components[0], 1, 0);
		CHECK_NEAR(f.m.components[3 + 1], 1, 0);
		tl_pca_acc_free(a);
	}

	/*
	 * A constant third column (7): the square's eigenvalues 8/3 and 2/3,
	 * then 0 with component e3 (the only direction left).
	 */
	{
		float		rows[12];

		for (int i = 0; i < 4; i++)
		{
			rows[i * 3] = square[i * 2];
			rows[i * 3 + 1] = square[i * 2 + 1];
			rows[i * 3 + 2] = 7.0f;
		}
		for (int i = 0; i < 2; i++)
		{
			a = acc_of(rows, 4, 3, 3, i ? TL_PCA_RANDOMIZED : TL_PCA_EXACT);
			CHECK(finish(a, &f, &st) == 0, "finish: %s", st.msg);
			CHECK(no_nan(&f), "NaN with a constant column");
			CHECK_NEAR(f.m.variance[0], 8.0 / 3, 1e-6);
			CHECK_NEAR(f.m.variance[2], 0, 1e-6);
			CHECK_NEAR(f.m.ratio[2], 0, 1e-6);
			CHECK_NEAR(f.m.components[6 + 2], 1, 1e-6);
			CHECK_NEAR(f.m.mean[2], 7, 0);
			tl_pca_acc_free(a);
		}
	}

	/* every point twice: scatter doubles, n − 1 = 7: 16/7 and 4/7 */
	{
		float		rows[16];

		memcpy(rows, square, sizeof(square));
		memcpy(rows + 8, square, sizeof(square));
		a = acc_of(rows, 8, 2, 2, TL_PCA_EXACT);
		CHECK(finish(a, &f, &st) == 0, "finish: %s", st.msg);
		CHECK_NEAR(f.m.variance[0], 16.0 / 7, 1e-6);
		CHECK_NEAR(f.m.variance[1], 4.0 / 7, 1e-6);
		tl_pca_acc_free(a);
	}

	/*
	 * Fewer rows than dimensions: m ± e with e = (1, 0, −2, 0): scatter
	 * 2·eeᵀ, n − 1 = 1, so λ1 = 2·|e|² = 10 = the total; component
	 * e/√5 signed so that −2/√5 becomes positive: (−0.4472, 0, 0.8944, 0).
	 * Components 2 and 3 have zero variance and complete an orthonormal set.
	 */
	{
		const float rows[8] = {1, 5, -1, 3, -1, 5, 3, 3};

		for (int i = 0; i < 2; i++)
		{
			a = acc_of(rows, 2, 4, 3, i ? TL_PCA_RANDOMIZED : TL_PCA_EXACT);
			CHECK(finish(a, &f, &st) == 0, "finish: %s", st.msg);
			CHECK(no_nan(&f), "NaN with fewer rows than dimensions");
			CHECK_NEAR(f.m.variance[0], 10, 1e-9);
			CHECK_NEAR(f.m.ratio[0], 1, 1e-9);
			CHECK_NEAR(f.m.variance[1], 0, 1e-9);
			CHECK_NEAR(f.m.variance[2], 0, 1e-9);
			CHECK_NEAR(f.m.components[0], -1 / sqrt(5), 1e-7);
			CHECK_NEAR(f.m.components[2], 2 / sqrt(5), 1e-7);
			CHECK(orthonormality_error(&f) < 1e-9, "not orthonormal: %g", orthonormality_error(&f));
			tl_pca_acc_free(a);
		}
	}
}

static void
test_errors(void)
{
	tl_status	st = {0};
	tl_pca_acc *a;
	const float x[3] = {1, 2, 3};
	float		bad[3] = {1, NAN, 3};

	CHECK(tl_pca_acc_new(0, TL_PCA_AUTO, &st) == NULL && st.code == TL_ERR_ARG, "k = 0 accepted");
	tl_status_clear(&st);

	a = tl_pca_acc_new(4, TL_PCA_AUTO, &st);
	CHECK(tl_pca_acc_add(a, x, 3, &st) < 0 && st.code == TL_ERR_ARG &&
		  strstr(st.msg, "k = 4") && strstr(st.msg, "3 elements"), "k > width: %s", st.msg);
	CHECK(a->width == 0, "a failed first vector leaves the width unset");
	tl_pca_acc_free(a);
	tl_status_clear(&st);

	a = tl_pca_acc_new(1, TL_PCA_AUTO, &st);
	tl_pca_acc_add(a, x, 3, &st);
	CHECK(tl_pca_acc_add(a, x, 2, &st) < 0 && st.code == TL_ERR_INPUT &&
		  strstr(st.msg, "2 elements") && strstr(st.msg, "have 3"), "length: %s", st.msg);
	tl_status_clear(&st);
	CHECK(tl_pca_acc_add(a, bad, 3, &st) < 0 && st.code == TL_ERR_NAN &&
		  strstr(st.msg, "NaN at position 2"), "NaN: %s", st.msg);
	tl_status_clear(&st);
	bad[1] = -INFINITY;
	CHECK(tl_pca_acc_add(a, bad, 3, &st) < 0 && st.code == TL_ERR_NAN &&
		  strstr(st.msg, "infinite"), "infinity: %s", st.msg);
	tl_status_clear(&st);
	{
		tl_pca_acc *b = acc_of(x, 1, 2, 1, TL_PCA_AUTO),
				   *c = acc_of(x, 1, 3, 2, TL_PCA_AUTO),
				   *e = acc_of(x, 1, 3, 1, TL_PCA_RANDOMIZED);

		CHECK(tl_pca_acc_merge(a, b, &st) < 0 && st.code == TL_ERR_INPUT, "widths merged");
		tl_status_clear(&st);
		CHECK(tl_pca_acc_merge(a, c, &st) < 0 && st.code == TL_ERR_ARG, "k merged");
		tl_status_clear(&st);
		CHECK(tl_pca_acc_merge(a, e, &st) < 0 && st.code == TL_ERR_ARG, "methods merged");
		tl_status_clear(&st);
		tl_pca_acc_free(b);
		tl_pca_acc_free(c);
		tl_pca_acc_free(e);
	}
	tl_pca_acc_free(a);

	/* too big for the state limit */
	a = tl_pca_acc_new(2, TL_PCA_EXACT, &st);
	CHECK(tl_pca_acc_set_width(a, 10000, &st) < 0 && st.code == TL_ERR_LIMIT, "limit: %s", st.msg);
	tl_pca_acc_free(a);
	tl_status_clear(&st);

	{
		tl_pca_method m;

		CHECK(tl_pca_parse_method("randomized", &m) == 0 && m == TL_PCA_RANDOMIZED, "parse");
		CHECK(tl_pca_parse_method("Exact", &m) < 0, "parse is exact-case");
		CHECK(tl_pca_sketch_width(5000, 2) == 258 && tl_pca_sketch_width(5000, 300) == 600 &&
			  tl_pca_sketch_width(100, 2) == 100, "sketch width");
	}
}

/* Deterministic data: a few strong directions plus small noise. */
static float *
low_rank(int n, int d, unsigned seed)
{
	float	   *x = malloc(sizeof(float) * n * d);
	const double sd[4] = {10, 5, 2, 1};
	double		basis[4][512];

	for (int c = 0; c < 4; c++)
		for (int j = 0; j < d; j++)
			basis[c][j] = sin((c + 1) * (j + 1) * 0.37 + c);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < d; j++)
		{
			double		v = 0;

			for (int c = 0; c < 4; c++)
				v += sd[c] * sin(i * (c + 1.3) + c) * basis[c][j] / sqrt(d);
			seed = seed * 1103515245u + 12345u;
			x[i * d + j] = (float) (v + 0.01 * (((seed >> 8) & 0xffff) / 65536.0 - 0.5));
		}
	return x;
}

/* The one-pass sketch agrees with the exact fit when the spectrum decays. */
static void
test_randomized_accuracy(void)
{
	int			n = 1500,
				d = 400,
				k = 3;
	float	   *x = low_rank(n, d, 7);
	tl_status	st = {0};
	tl_pca_acc *e = acc_of(x, n, d, k, TL_PCA_EXACT),
			   *r = acc_of(x, n, d, k, TL_PCA_RANDOMIZED);
	static fit	fe,
				fr;

	CHECK(finish(e, &fe, &st) == 0 && finish(r, &fr, &st) == 0, "finish: %s", st.msg);
	CHECK(fr.m.sketch == 259, "sketch %d", fr.m.sketch);
	for (int i = 0; i < k; i++)
	{
		double		dot = 0;

		for (int j = 0; j < d; j++)
			dot += fe.m.components[i * d + j] * fr.m.components[i * d + j];
		CHECK(dot > 0.9999, "component %d: cosine %.6f", i + 1, dot);
		CHECK_NEAR(fr.m.ratio[i], fe.m.ratio[i], 1e-4);
	}
	CHECK_NEAR(fr.m.total_variance, fe.m.total_variance, 1e-6 * fe.m.total_variance);
	tl_pca_acc_free(e);
	tl_pca_acc_free(r);
	free(x);
}

/* Long work calls the interrupt hook between BLAS calls. */
static int	interrupts;

static void
count_interrupt(void)
{
	interrupts++;
}

static void
test_interrupts(void)
{
	int			n = 2000,
				d = 64;
	float	   *x = low_rank(n, d, 3);
	tl_status	st = {0};
	fit			f;

	tl_set_interrupt_hook(count_interrupt);
	for (int i = 0; i < 2; i++)
	{
		tl_pca_acc *a;

		interrupts = 0;
		a = acc_of(x, n, d, 2, i ? TL_PCA_RANDOMIZED : TL_PCA_EXACT);
		/* 2000 rows = 7 full blocks of 256 flushed while adding */
		CHECK(interrupts >= 7, "%d interrupt checks while adding", interrupts);
		interrupts = 0;
		finish(a, &f, &st);
		CHECK(interrupts >= 2, "%d interrupt checks while solving", interrupts);
		tl_pca_acc_free(a);
	}
	tl_set_interrupt_hook(NULL);
	free(x);
}

/* An allocator that fails after a budget, and counts what is left. */
static int	budget,
			live;

static void *
fail_alloc(size_t size, void *arg)
{
	void	   *p;

	if (budget-- <= 0)
		return NULL;
	p = malloc(size ? size : 1);
	live += p != NULL;
	return p;
}

static void *
fail_realloc(void *ptr, size_t size, void *arg)
{
	return realloc(ptr, size ? size : 1);
}

static void
fail_free(void *ptr, void *arg)
{
	live--;
	free(ptr);
}

static void
test_out_of_memory(void)
{
	static const tl_allocator failing = {fail_alloc, fail_realloc, fail_free, NULL};
	int			clean = 0,
				tries = 0;

	tl_set_allocator(&failing);
	for (int b = 0; b < 40; b++)
		for (int m = 1; m <= 2; m++)
		{
			tl_status	st = {0};
			tl_pca_acc *a,
					   *c;
			fit			f;

			budget = b;
			live = 0;
			tries++;
			a = tl_pca_acc_new(2, m, &st);
			c = tl_pca_acc_new(2, m, &st);
			if (a && c)
			{
				for (int i = 0; i < 4 && st.code == TL_OK; i++)
					tl_pca_acc_add(a, square + 2 * i, 2, &st);
				if (st.code == TL_OK)
					tl_pca_acc_add(c, square, 2, &st);
				if (st.code == TL_OK)
					tl_pca_acc_merge(a, c, &st);
				if (st.code == TL_OK)
					finish(a, &f, &st);
			}
			tl_pca_acc_free(a);
			tl_pca_acc_free(c);
			CHECK(st.code == TL_OK || st.code == TL_ERR_NOMEM, "budget %d: %s", b, st.msg);
			clean += live == 0;
		}
	tl_set_allocator(NULL);
	CHECK(clean == tries, "%d of %d failing runs leaked", tries - clean, tries);
}

int
main(void)
{
	test_square();
	test_merge();
	test_blocks();
	test_edges();
	test_errors();
	test_randomized_accuracy();
	test_interrupts();
	test_out_of_memory();
	return test_summary();
}
