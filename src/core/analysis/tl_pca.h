/*
 * tl_pca.h — principal component analysis of a stream of vectors.
 *
 * An accumulator takes vectors one at a time, in blocks of rows handed to
 * BLAS, and can be merged with another accumulator fed with other rows (the
 * partial states of a parallel or distributed aggregate).  Finishing it
 * solves for the leading k components.
 *
 * Two methods:
 *  exact       keeps n, Σ(x−c) and the upper triangle of Σ(x−c)(x−c)ᵀ in
 *              double precision (c: the mean of the first block, a shift
 *              that avoids cancellation in XᵀX − n·μμᵀ) and solves the
 *              symmetric eigenproblem with LAPACK dsyevr.  The state holds
 *              width·(width+1)/2 doubles.
 *  randomized  keeps n, Σ(x−c), Σ(x−c)² per column and the sketch
 *              Y = Σ(x−c)(x−c)ᵀ·Ω for a fixed-seed test matrix Ω of
 *              width × sketch orthonormal columns (Halko–Martinsson–Tropp
 *              range finder).  Y is linear in the rows, so partial sketches
 *              add up; the fit is the Nyström approximation
 *              Y (ΩᵀY)⁻¹ Yᵀ of the covariance (Tropp, Yurtsever, Udell,
 *              Cevher 2017, numerically stable form).  One pass, no power
 *              iterations: accurate when the spectrum decays.
 * TL_PCA_AUTO picks exact up to TL_PCA_EXACT_MAX_WIDTH, randomized above.
 *
 * Explained variances use n − 1 (as scikit-learn does; 0 for one vector);
 * ratios are relative to the total variance (the trace of the covariance,
 * exact in both methods).  Each component's largest-magnitude loading is
 * positive (the first such loading on ties).  Components beyond the rank
 * of the data have zero variance; with no variance at all the components
 * are the first k unit vectors.
 */
#ifndef TL_PCA_H
#define TL_PCA_H

#include "base/tl_core.h"

typedef enum tl_pca_method
{
	TL_PCA_AUTO = 0,
	TL_PCA_EXACT = 1,
	TL_PCA_RANDOMIZED = 2
} tl_pca_method;

#define TL_PCA_EXACT_MAX_WIDTH 2048
#define TL_PCA_MAX_WIDTH (1 << 20)
/* a state must stay well below the 1 GB limit of a serialized bytea */
#define TL_PCA_MAX_STATE_BYTES ((size_t) 512 << 20)
/* rows per BLAS call, and rows summed in float32 before folding to double */
#define TL_PCA_BLOCK_ROWS 256
#define TL_PCA_FOLD_ROWS 2048
/* randomized: sketch columns = min(width, k + max(k, TL_PCA_OVERSAMPLE)) */
#define TL_PCA_OVERSAMPLE 256
#define TL_PCA_SEED UINT64_C(0x7e45071e45c0ffee)

/* Parses "auto", "exact" or "randomized"; -1 if none of them. */
int			tl_pca_parse_method(const char *s, tl_pca_method *m);
const char *tl_pca_method_name(tl_pca_method m);

/*
 * The accumulator.  Fields above "working memory" are the state that
 * merges and serializes; they describe the n rows flushed so far (buffered
 * rows are not in them until tl_pca_acc_flush).
 */
typedef struct tl_pca_acc
{
	int			k;
	tl_pca_method requested;	/* as asked */
	tl_pca_method method;		/* as asked, AUTO resolved with the width */
	int			width;			/* 0 until the first vector */
	int			sketch;			/* randomized: columns of Ω; exact: 0 */
	int64_t		n;				/* rows in the state */
	int64_t		nulls;			/* NULL vectors skipped (counted by the caller) */
	double	   *shift;			/* c; valid when n > 0 */
	double	   *sum;			/* Σ (x − c) */
	double	   *scatter;		/* exact: Σ (x − c)(x − c)ᵀ, packed upper */
	double	   *sumsq;			/* randomized: Σ (x − c)² per column */
	double	   *sketch_y;		/* randomized: Σ (x − c)(x − c)ᵀ Ω, column-major */
	/* working memory */
	float	   *rows;			/* buffered rows, row-major */
	int			nrows;
	float	   *gram;			/* exact: float32 block sums, width², upper */
	int			gram_rows;		/* rows summed in gram since the last fold */
	double	   *omega;			/* randomized: Ω, width × sketch */
	double	   *block;			/* randomized: shifted rows, then Z·Ω */
} tl_pca_acc;

/* A fitted PCA; the caller owns the arrays (the SQL type's storage). */
typedef struct tl_pca_model
{
	int			width;
	int			k;
	tl_pca_method method;		/* exact or randomized */
	int			sketch;
	int64_t		n;
	int64_t		nulls;
	double		total_variance;
	double	   *variance;		/* [k], explained variance, descending */
	double	   *ratio;			/* [k], variance / total_variance */
	double	   *mean;			/* [width] */
	double	   *components;		/* [k][width], row-major */
} tl_pca_model;

/* Sketch columns the randomized method uses for this width and k. */
int			tl_pca_sketch_width(int width, int k);

/* A new, empty accumulator (1 <= k; the width comes with the first vector). */
tl_pca_acc *tl_pca_acc_new(int k, tl_pca_method method, tl_status *st);
void		tl_pca_acc_free(tl_pca_acc *a);

/*
 * Fixes the width, resolves TL_PCA_AUTO and allocates the state (done by the
 * first tl_pca_acc_add; deserialization calls it directly).
 */
int			tl_pca_acc_set_width(tl_pca_acc *a, int width, tl_status *st);

/* Adds one vector of len values (copied; NaN and infinities refused). */
int			tl_pca_acc_add(tl_pca_acc *a, const float *x, int len, tl_status *st);

/* Brings the buffered rows into the state (before merge and serialization). */
void		tl_pca_acc_flush(tl_pca_acc *a);

/* Adds b's rows to a; b is flushed first. */
int			tl_pca_acc_merge(tl_pca_acc *a, tl_pca_acc *b, tl_status *st);

/* Number of doubles in scatter (exact) or sketch_y (randomized). */
size_t		tl_pca_acc_matrix_len(const tl_pca_acc *a);

/*
 * Solves for the components (flushing first) into out, whose arrays the
 * caller has sized for a->width and a->k.  a must hold at least one row.
 */
int			tl_pca_acc_finish(tl_pca_acc *a, tl_pca_model *out, tl_status *st);

/* out[j] = Σ_i (x[i] − mean[i]) · components[j][i], in double. */
void		tl_pca_model_project(const tl_pca_model *m, const float *x, float *out);

#endif							/* TL_PCA_H */
