/*
 * tl_pca.c — PCA by covariance accumulation (exact) or a one-pass
 * randomized sketch; see tl_pca.h for the methods and conventions.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "base/tl_random.h"
#include "analysis/tl_pca.h"

/* LAPACK (Fortran symbols; the trailing arguments are the hidden lengths
 * of the character arguments, as gfortran passes them). */
extern void dsyevr_(const char *jobz, const char *range, const char *uplo,
					const int *n, double *a, const int *lda,
					const double *vl, const double *vu, const int *il, const int *iu,
					const double *abstol, int *m, double *w, double *z, const int *ldz,
					int *isuppz, double *work, const int *lwork, int *iwork,
					const int *liwork, int *info, size_t, size_t, size_t);
extern void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau,
					double *work, const int *lwork, int *info);
extern void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda,
					const double *tau, double *work, const int *lwork, int *info);
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info,
					size_t);
extern void dgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n,
					double *a, const int *lda, double *s, double *u, const int *ldu,
					double *vt, const int *ldvt, double *work, const int *lwork,
					int *info, size_t, size_t);

int
tl_pca_parse_method(const char *s, tl_pca_method *m)
{
	if (strcmp(s, "auto") == 0)
		*m = TL_PCA_AUTO;
	else if (strcmp(s, "exact") == 0)
		*m = TL_PCA_EXACT;
	else if (strcmp(s, "randomized") == 0)
		*m = TL_PCA_RANDOMIZED;
	else
		return -1;
	return 0;
}

const char *
tl_pca_method_name(tl_pca_method m)
{
	switch (m)
	{
		case TL_PCA_AUTO:
			return "auto";
		case TL_PCA_EXACT:
			return "exact";
		case TL_PCA_RANDOMIZED:
			return "randomized";
	}
	return "?";
}

int
tl_pca_sketch_width(int width, int k)
{
	int			l = k + (k > TL_PCA_OVERSAMPLE ? k : TL_PCA_OVERSAMPLE);

	return l < width ? l : width;
}

static inline size_t
packed_len(int d)
{
	return (size_t) d * ((size_t) d + 1) / 2;
}

size_t
tl_pca_acc_matrix_len(const tl_pca_acc *a)
{
	if (a->width == 0)
		return 0;
	if (a->method == TL_PCA_EXACT)
		return packed_len(a->width);
	return (size_t) a->width * a->sketch;
}

tl_pca_acc *
tl_pca_acc_new(int k, tl_pca_method method, tl_status *st)
{
	tl_pca_acc *a;

	if (k < 1)
	{
		tl_fail(st, TL_ERR_ARG, "k must be at least 1, not %d", k);
		return NULL;
	}
	if (method != TL_PCA_AUTO && method != TL_PCA_EXACT && method != TL_PCA_RANDOMIZED)
	{
		tl_fail(st, TL_ERR_ARG, "unknown PCA method %d", (int) method);
		return NULL;
	}
	a = tl_calloc(1, sizeof(tl_pca_acc));
	if (a == NULL)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory for a PCA accumulator");
		return NULL;
	}
	a->k = k;
	a->requested = a->method = method;
	return a;
}

/* ---- the test matrix Ω ------------------------------------------------ */

/* uniform in (0, 1) */
static double
unit_open(uint64_t *s)
{
	return ((double) (tl_random_next(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/*
 * Fills a->omega with orthonormal columns spanning a Gaussian random
 * subspace.  The seed is fixed, so every partial state of one aggregate
 * (workers, shards) sketches with the same Ω and the sketches add up.
 */
static int
make_omega(tl_pca_acc *a, tl_status *st)
{
	int			d = a->width,
				l = a->sketch,
				lwork = -1,
				info = 0;
	size_t		total = (size_t) d * l;
	uint64_t	s = TL_PCA_SEED;
	double		q1 = 0.0,
				q2 = 0.0,
				dummy = 0.0,
			   *tau,
			   *work;

	for (size_t i = 0; i < total; i += 2)
	{
		double		r = sqrt(-2.0 * log(unit_open(&s))),
					t = 2.0 * M_PI * unit_open(&s);

		a->omega[i] = r * cos(t);
		if (i + 1 < total)
			a->omega[i + 1] = r * sin(t);
	}
	tl_check_interrupt();
	/* workspace queries */
	dgeqrf_(&d, &l, a->omega, &d, &dummy, &q1, &lwork, &info);
	dorgqr_(&d, &l, &l, a->omega, &d, &dummy, &q2, &lwork, &info);
	lwork = (int) (q1 > q2 ? q1 : q2);
	tau = tl_malloc(sizeof(double) * l);
	work = tl_malloc(sizeof(double) * lwork);
	if (tau == NULL || work == NULL)
	{
		tl_free(tau);
		tl_free(work);
		return tl_fail(st, TL_ERR_NOMEM, "out of memory for the PCA sketch");
	}
	dgeqrf_(&d, &l, a->omega, &d, tau, work, &lwork, &info);
	if (info == 0)
		dorgqr_(&d, &l, &l, a->omega, &d, tau, work, &lwork, &info);
	tl_free(tau);
	tl_free(work);
	if (info != 0)
		return tl_fail(st, TL_ERR_INPUT, "the PCA sketch could not be orthonormalised (LAPACK info %d)", info);
	tl_check_interrupt();
	return 0;
}

/* ---- accumulation ------------------------------------------------------ */

static void
free_state(tl_pca_acc *a)
{
	tl_free(a->shift);
	tl_free(a->sum);
	tl_free(a->scatter);
	tl_free(a->sumsq);
	tl_free(a->sketch_y);
	tl_free(a->rows);
	tl_free(a->gram);
	tl_free(a->omega);
	tl_free(a->block);
	a->shift = a->sum = a->scatter = a->sumsq = a->sketch_y = a->omega = a->block = NULL;
	a->rows = a->gram = NULL;
	a->width = a->sketch = 0;
}

void
tl_pca_acc_free(tl_pca_acc *a)
{
	if (a == NULL)
		return;
	free_state(a);
	tl_free(a);
}

int
tl_pca_acc_set_width(tl_pca_acc *a, int width, tl_status *st)
{
	size_t		d = (size_t) width,
				bytes;
	tl_pca_method method = a->method;
	int			sketch;

	if (width < 1 || width > TL_PCA_MAX_WIDTH)
		return tl_fail(st, TL_ERR_LIMIT, "vectors must have 1 to %d elements, not %d",
					   TL_PCA_MAX_WIDTH, width);
	if (a->k > width)
		return tl_fail(st, TL_ERR_ARG,
					   "k = %d components requested, but the vectors have only %d elements (k must be at most the width)",
					   a->k, width);
	if (method == TL_PCA_AUTO)
		method = width > TL_PCA_EXACT_MAX_WIDTH ? TL_PCA_RANDOMIZED : TL_PCA_EXACT;
	sketch = method == TL_PCA_RANDOMIZED ? tl_pca_sketch_width(width, a->k) : 0;

	/* everything the accumulator will hold, checked before allocating */
	bytes = sizeof(float) * TL_PCA_BLOCK_ROWS * d + 2 * sizeof(double) * d;
	if (method == TL_PCA_EXACT)
		bytes += sizeof(double) * packed_len(width) + sizeof(float) * d * d;
	else
		bytes += sizeof(double) * (d + 2 * d * sketch + (size_t) TL_PCA_BLOCK_ROWS * (d + sketch));
	if (bytes > TL_PCA_MAX_STATE_BYTES)
		return tl_fail(st, TL_ERR_LIMIT,
					   "the %s method for %d-element vectors (k = %d) needs %zu MB of state, more than the limit of %zu MB",
					   tl_pca_method_name(method), width, a->k, bytes >> 20,
					   TL_PCA_MAX_STATE_BYTES >> 20);

	a->method = method;
	a->width = width;
	a->sketch = sketch;
	a->shift = tl_calloc(d, sizeof(double));
	a->sum = tl_calloc(d, sizeof(double));
	a->rows = tl_malloc(sizeof(float) * TL_PCA_BLOCK_ROWS * d);
	if (method == TL_PCA_EXACT)
	{
		a->scatter = tl_calloc(packed_len(width), sizeof(double));
		a->gram = tl_calloc(d * d, sizeof(float));
	}
	else
	{
		a->sumsq = tl_calloc(d, sizeof(double));
		a->sketch_y = tl_calloc(d * sketch, sizeof(double));
		a->omega = tl_malloc(sizeof(double) * d * sketch);
		a->block = tl_malloc(sizeof(double) * TL_PCA_BLOCK_ROWS * (d + sketch));
	}
	if (a->shift == NULL || a->sum == NULL || a->rows == NULL ||
		(method == TL_PCA_EXACT && (a->scatter == NULL || a->gram == NULL)) ||
		(method == TL_PCA_RANDOMIZED &&
		 (a->sumsq == NULL || a->sketch_y == NULL || a->omega == NULL || a->block == NULL)))
	{
		free_state(a);
		return tl_fail(st, TL_ERR_NOMEM, "out of memory for a PCA of %d-element vectors", width);
	}
	if (method == TL_PCA_RANDOMIZED && make_omega(a, st) < 0)
	{
		free_state(a);
		return -1;
	}
	return 0;
}

/* Adds the float32 block sums to the double scatter matrix. */
static void
fold(tl_pca_acc *a)
{
	size_t		d = a->width;
	double	   *ap = a->scatter;

	for (size_t j = 0; j < d; j++)
	{
		const float *g = a->gram + j * d;

		for (size_t i = 0; i <= j; i++)
			ap[i] += g[i];
		ap += j + 1;
	}
	a->gram_rows = 0;
}

static void
first_block_mean(tl_pca_acc *a)
{
	int			m = a->nrows,
				d = a->width;
	double	   *restrict c = a->shift;

	memset(c, 0, sizeof(double) * d);
	for (int r = 0; r < m; r++)
	{
		const float *restrict x = a->rows + (size_t) r * d;

		for (int j = 0; j < d; j++)
			c[j] += x[j];
	}
	for (int j = 0; j < d; j++)
		c[j] /= m;
}

/* float32 products of the shifted block (BLAS), summed in double by fold */
static void
add_block_exact(tl_pca_acc *a)
{
	int			m = a->nrows,
				d = a->width;
	const double *restrict c = a->shift;
	double	   *restrict sum = a->sum;

	for (int r = 0; r < m; r++)
	{
		float	   *restrict x = a->rows + (size_t) r * d;

		for (int j = 0; j < d; j++)
		{
			double		z = x[j] - c[j];

			sum[j] += z;
			x[j] = (float) z;
		}
	}
	cblas_ssyrk(CblasColMajor, CblasUpper, CblasNoTrans, d, m, 1.0f,
				a->rows, d, a->gram_rows > 0 ? 1.0f : 0.0f, a->gram, d);
	a->gram_rows += m;
	if (a->gram_rows >= TL_PCA_FOLD_ROWS)
		fold(a);
}

/* the shifted block Z in double, T = Z·Ω (m × l), then Y += Zᵀ·T */
static void
add_block_randomized(tl_pca_acc *a)
{
	int			m = a->nrows,
				d = a->width,
				l = a->sketch;
	const double *restrict c = a->shift;
	double	   *restrict sum = a->sum,
			   *restrict sq = a->sumsq,
			   *z = a->block,
			   *t = a->block + (size_t) m * d;

	for (int r = 0; r < m; r++)
	{
		const float *restrict x = a->rows + (size_t) r * d;
		double	   *restrict zr = z + (size_t) r * d;

		for (int j = 0; j < d; j++)
		{
			zr[j] = x[j] - c[j];
			sum[j] += zr[j];
			sq[j] += zr[j] * zr[j];
		}
	}
	cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, m, l, d, 1.0,
				z, d, a->omega, d, 0.0, t, m);
	tl_check_interrupt();
	cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, d, l, m, 1.0,
				z, d, t, m, 1.0, a->sketch_y, d);
}

/*
 * Block of buffered rows → state.  The first block's mean becomes the shift
 * c, so the sums are of centred-ish values.
 */
static void
flush_block(tl_pca_acc *a)
{
	if (a->nrows == 0)
		return;
	tl_check_interrupt();
	if (a->n == 0)
		first_block_mean(a);
	if (a->method == TL_PCA_EXACT)
		add_block_exact(a);
	else
		add_block_randomized(a);
	a->n += a->nrows;
	a->nrows = 0;
}

void
tl_pca_acc_flush(tl_pca_acc *a)
{
	flush_block(a);
	if (a->gram_rows > 0)
		fold(a);
}

int
tl_pca_acc_add(tl_pca_acc *a, const float *x, int len, tl_status *st)
{
	float	   *restrict dst;
	int			bad = 0;

	if (a->width == 0 && tl_pca_acc_set_width(a, len, st) < 0)
		return -1;
	if (len != a->width)
		return tl_fail(st, TL_ERR_INPUT,
					   "a vector has %d elements, but the vectors before it have %d (all must have the same length)",
					   len, a->width);
	dst = a->rows + (size_t) a->nrows * len;
	/* v − v is 0 for finite v, NaN otherwise: a check that vectorises */
	for (int j = 0; j < len; j++)
	{
		dst[j] = x[j];
		bad |= x[j] - x[j] != 0.0f;
	}
	if (bad)
	{
		for (int j = 0; j < len; j++)
			if (!isfinite(x[j]))
				return tl_fail(st, TL_ERR_NAN,
							   "a vector has %s at position %d (every element must be a finite number)",
							   isnan(x[j]) ? "NaN" : "an infinite value", j + 1);
	}
	if (++a->nrows == TL_PCA_BLOCK_ROWS)
		flush_block(a);
	return 0;
}

/* ---- merging ------------------------------------------------------------ */

int
tl_pca_acc_merge(tl_pca_acc *a, tl_pca_acc *b, tl_status *st)
{
	int			d;
	size_t		len;
	double	   *delta;

	if (a->k != b->k)
		return tl_fail(st, TL_ERR_ARG, "cannot merge PCA states with k = %d and k = %d", a->k, b->k);
	a->nulls += b->nulls;
	if (b->width == 0)
		return 0;
	if (a->width == 0)
	{
		if (a->method != TL_PCA_AUTO && a->method != b->method)
			return tl_fail(st, TL_ERR_ARG, "cannot merge %s and %s PCA states",
						   tl_pca_method_name(a->method), tl_pca_method_name(b->method));
		a->method = b->method;
		if (tl_pca_acc_set_width(a, b->width, st) < 0)
			return -1;
	}
	if (a->width != b->width)
		return tl_fail(st, TL_ERR_INPUT,
					   "cannot merge PCA states of %d-element and %d-element vectors",
					   a->width, b->width);
	if (a->method != b->method)
		return tl_fail(st, TL_ERR_ARG, "cannot merge %s and %s PCA states",
					   tl_pca_method_name(a->method), tl_pca_method_name(b->method));
	tl_pca_acc_flush(a);
	tl_pca_acc_flush(b);
	if (b->n == 0)
		return 0;
	d = a->width;
	len = tl_pca_acc_matrix_len(a);
	if (a->n == 0)
	{
		memcpy(a->shift, b->shift, sizeof(double) * d);
		memcpy(a->sum, b->sum, sizeof(double) * d);
		if (a->method == TL_PCA_EXACT)
			memcpy(a->scatter, b->scatter, sizeof(double) * len);
		else
		{
			memcpy(a->sumsq, b->sumsq, sizeof(double) * d);
			memcpy(a->sketch_y, b->sketch_y, sizeof(double) * len);
		}
		a->n = b->n;
		return 0;
	}

	/*
	 * Re-express b's sums about a's shift: with δ = c_b − c_a,
	 * Σ(x−c_a)(x−c_a)ᵀ = Σ(x−c_b)(x−c_b)ᵀ + S_b δᵀ + δ S_bᵀ + n_b δδᵀ.
	 */
	delta = tl_malloc(sizeof(double) * (d + 2 * (size_t) a->sketch));
	if (delta == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory merging PCA states");
	for (int j = 0; j < d; j++)
		delta[j] = b->shift[j] - a->shift[j];
	if (a->method == TL_PCA_EXACT)
	{
		cblas_daxpy((int) len, 1.0, b->scatter, 1, a->scatter, 1);
		cblas_dspr2(CblasColMajor, CblasUpper, d, 1.0, b->sum, 1, delta, 1, a->scatter);
		cblas_dspr(CblasColMajor, CblasUpper, d, (double) b->n, delta, 1, a->scatter);
	}
	else
	{
		int			l = a->sketch;
		double	   *u = delta + d,	/* Ωᵀδ */
				   *v = u + l;		/* Ωᵀ S_b + n_b Ωᵀδ */

		cblas_dgemv(CblasColMajor, CblasTrans, d, l, 1.0, a->omega, d, delta, 1, 0.0, u, 1);
		cblas_dgemv(CblasColMajor, CblasTrans, d, l, 1.0, a->omega, d, b->sum, 1, 0.0, v, 1);
		cblas_daxpy(l, (double) b->n, u, 1, v, 1);
		cblas_daxpy((int) len, 1.0, b->sketch_y, 1, a->sketch_y, 1);
		cblas_dger(CblasColMajor, d, l, 1.0, b->sum, 1, u, 1, a->sketch_y, d);
		cblas_dger(CblasColMajor, d, l, 1.0, delta, 1, v, 1, a->sketch_y, d);
		for (int j = 0; j < d; j++)
			a->sumsq[j] += b->sumsq[j] + delta[j] * (2.0 * b->sum[j] + b->n * delta[j]);
	}
	for (int j = 0; j < d; j++)
		a->sum[j] += b->sum[j] + b->n * delta[j];
	a->n += b->n;
	tl_free(delta);
	return 0;
}

/* ---- solving ------------------------------------------------------------ */

/* The k largest eigenpairs of the d × d symmetric cov (upper triangle used,
 * destroyed): values descending into w, vectors as rows of comp. */
static int
top_eigen(double *cov, int d, int k, double *w, double *comp, tl_status *st)
{
	int			il = d - k + 1,
				iu = d,
				m = 0,
				info = 0,
				lwork = -1,
				liwork = -1,
				iwq = 0;
	double		zero = 0.0,
				wq = 0.0,
			   *ev = tl_malloc(sizeof(double) * d),
			   *z = tl_malloc(sizeof(double) * (size_t) d * k),
			   *work = NULL;
	int		   *isuppz = tl_malloc(sizeof(int) * 2 * (size_t) k),
			   *iwork = NULL;
	int			rc = -1;

	if (ev == NULL || z == NULL || isuppz == NULL)
		goto nomem;
	dsyevr_("V", "I", "U", &d, cov, &d, &zero, &zero, &il, &iu, &zero, &m, ev, z, &d,
			isuppz, &wq, &lwork, &iwq, &liwork, &info, 1, 1, 1);
	lwork = (int) wq;
	liwork = iwq;
	work = tl_malloc(sizeof(double) * lwork);
	iwork = tl_malloc(sizeof(int) * liwork);
	if (work == NULL || iwork == NULL)
		goto nomem;
	tl_check_interrupt();
	dsyevr_("V", "I", "U", &d, cov, &d, &zero, &zero, &il, &iu, &zero, &m, ev, z, &d,
			isuppz, work, &lwork, iwork, &liwork, &info, 1, 1, 1);
	tl_check_interrupt();
	if (info != 0 || m != k)
	{
		tl_fail(st, TL_ERR_INPUT,
				"the covariance matrix could not be diagonalised (LAPACK dsyevr info %d, %d of %d eigenvalues)",
				info, m, k);
		goto done;
	}
	/* ascending → descending */
	for (int i = 0; i < k; i++)
	{
		w[i] = ev[k - 1 - i];
		memcpy(comp + (size_t) i * d, z + (size_t) (k - 1 - i) * d, sizeof(double) * d);
	}
	rc = 0;
	goto done;
nomem:
	tl_fail(st, TL_ERR_NOMEM, "out of memory for the eigenproblem of width %d", d);
done:
	tl_free(ev);
	tl_free(z);
	tl_free(work);
	tl_free(isuppz);
	tl_free(iwork);
	return rc;
}

static int
solve_exact(tl_pca_acc *a, double *w, double *comp, tl_status *st)
{
	size_t		d = a->width;
	double	   *cov = tl_malloc(sizeof(double) * d * d);
	const double *ap = a->scatter;
	double		inv_n = 1.0 / (double) a->n;
	int			rc;

	if (cov == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory for the %zu x %zu covariance matrix", d, d);
	/* centred scatter, upper triangle: Σ(x−c)(x−c)ᵀ − S Sᵀ / n */
	for (size_t j = 0; j < d; j++)
	{
		for (size_t i = 0; i <= j; i++)
			cov[i + j * d] = ap[i] - a->sum[i] * a->sum[j] * inv_n;
		ap += j + 1;
	}
	rc = top_eigen(cov, (int) d, a->k, w, comp, st);
	tl_free(cov);
	return rc;
}

/*
 * Nyström approximation from the sketch, after Tropp et al. (2017),
 * Algorithm 3: Yν = AΩ + νΩ, B = ΩᵀYν = RᵀR, E = Yν R⁻¹ = U Σ Vᵀ,
 * eigenvalues Σ² − ν, eigenvectors U.  The shift ν keeps B positive
 * definite in floating point.
 */
static int
solve_randomized(tl_pca_acc *a, double *w, double *comp, tl_status *st)
{
	int			d = a->width,
				l = a->sketch,
				info = 0,
				lwork = -1,
				one = 1;
	size_t		len = (size_t) d * l;
	double	   *y = tl_malloc(sizeof(double) * len),
			   *u = tl_malloc(sizeof(double) * len),
			   *b = tl_malloc(sizeof(double) * (size_t) l * l),
			   *s = tl_malloc(sizeof(double) * l),
			   *work = NULL,
				wq = 0.0,
				added = 0.0,
				nu;
	int			rc = -1;

	if (y == NULL || u == NULL || b == NULL || s == NULL)
		goto nomem;
	/* AΩ for the centred scatter A = Σ(x−c)(x−c)ᵀ − S Sᵀ / n */
	memcpy(y, a->sketch_y, sizeof(double) * len);
	cblas_dgemv(CblasColMajor, CblasTrans, d, l, 1.0, a->omega, d, a->sum, 1, 0.0, s, 1);
	cblas_dger(CblasColMajor, d, l, -1.0 / (double) a->n, a->sum, 1, s, 1, y, d);
	nu = sqrt((double) d) * DBL_EPSILON * cblas_dnrm2((int) len, y, 1);
	if (!(nu > 0))
		nu = DBL_MIN;
	for (int attempt = 0;; attempt++)
	{
		cblas_daxpy((int) len, nu - added, a->omega, 1, y, 1);
		added = nu;
		cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, l, l, d, 1.0,
					a->omega, d, y, d, 0.0, b, l);
		for (int j = 0; j < l; j++)
			for (int i = 0; i < j; i++)
				b[i + (size_t) j * l] = 0.5 * (b[i + (size_t) j * l] + b[j + (size_t) i * l]);
		dpotrf_("U", &l, b, &l, &info, 1);
		if (info == 0)
			break;
		if (attempt == 3)
		{
			tl_fail(st, TL_ERR_INPUT, "the PCA sketch is numerically singular (LAPACK dpotrf info %d)", info);
			goto done;
		}
		nu *= 1000.0;
		tl_check_interrupt();
	}
	tl_check_interrupt();
	cblas_dtrsm(CblasColMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit,
				d, l, 1.0, b, l, y, d);
	tl_check_interrupt();
	dgesvd_("S", "N", &d, &l, y, &d, s, u, &d, NULL, &one, &wq, &lwork, &info, 1, 1);
	lwork = (int) wq;
	work = tl_malloc(sizeof(double) * lwork);
	if (work == NULL)
		goto nomem;
	dgesvd_("S", "N", &d, &l, y, &d, s, u, &d, NULL, &one, work, &lwork, &info, 1, 1);
	tl_check_interrupt();
	if (info != 0)
	{
		tl_fail(st, TL_ERR_INPUT, "the PCA sketch could not be decomposed (LAPACK dgesvd info %d)", info);
		goto done;
	}
	for (int i = 0; i < a->k; i++)
	{
		w[i] = s[i] * s[i] - nu;
		memcpy(comp + (size_t) i * d, u + (size_t) i * d, sizeof(double) * d);
	}
	rc = 0;
	goto done;
nomem:
	tl_fail(st, TL_ERR_NOMEM, "out of memory for the PCA sketch of width %d", d);
done:
	tl_free(y);
	tl_free(u);
	tl_free(b);
	tl_free(s);
	tl_free(work);
	return rc;
}

int
tl_pca_acc_finish(tl_pca_acc *a, tl_pca_model *out, tl_status *st)
{
	int			d = a->width,
				k = a->k;
	double		total = 0.0,
				dof;

	tl_pca_acc_flush(a);
	if (a->n == 0)
		return tl_fail(st, TL_ERR_ARG, "a PCA needs at least one vector");
	out->width = d;
	out->k = k;
	out->method = a->method;
	out->sketch = a->sketch;
	out->n = a->n;
	out->nulls = a->nulls;
	for (int j = 0; j < d; j++)
	{
		double		sj = a->sum[j];
		double		ss;

		out->mean[j] = a->shift[j] + sj / (double) a->n;
		if (a->method == TL_PCA_EXACT)
			ss = a->scatter[(size_t) j * (j + 1) / 2 + j];
		else
			ss = a->sumsq[j];
		/* rounding can leave a constant column slightly negative */
		ss -= sj * sj / (double) a->n;
		total += ss > 0 ? ss : 0;
	}
	dof = a->n > 1 ? (double) (a->n - 1) : 0.0;

	if (dof == 0 || total <= 0)
	{
		/* no variance: every direction is a component; take the axes */
		memset(out->components, 0, sizeof(double) * (size_t) k * d);
		for (int i = 0; i < k; i++)
		{
			out->variance[i] = out->ratio[i] = 0.0;
			out->components[(size_t) i * d + i] = 1.0;
		}
		out->total_variance = 0.0;
		return 0;
	}
	if ((a->method == TL_PCA_EXACT ? solve_exact(a, out->variance, out->components, st) :
		 solve_randomized(a, out->variance, out->components, st)) < 0)
		return -1;

	out->total_variance = total / dof;
	for (int i = 0; i < k; i++)
	{
		double	   *v = out->components + (size_t) i * d;
		int			big = 0;

		/* eigenvalues of a PSD matrix: negatives are rounding */
		out->variance[i] = out->variance[i] > 0 ? out->variance[i] / dof : 0.0;
		out->ratio[i] = out->variance[i] / out->total_variance;
		for (int j = 1; j < d; j++)
			if (fabs(v[j]) > fabs(v[big]))
				big = j;
		if (v[big] < 0)
			for (int j = 0; j < d; j++)
				v[j] = -v[j];
	}
	return 0;
}

void
tl_pca_model_project(const tl_pca_model *m, const float *x, float *out)
{
	for (int i = 0; i < m->k; i++)
	{
		const double *c = m->components + (size_t) i * m->width;
		double		s = 0.0;

		for (int j = 0; j < m->width; j++)
			s += ((double) x[j] - m->mean[j]) * c[j];
		out[i] = (float) s;
	}
}
