/*
 * tl_faithfulness.c — how faithful a ranking of a token sequence's
 * positions is to the model (ERASER: DeYoung et al., 2020; the deletion
 * curve of Petsiuk et al., 2018).
 *
 * Comprehensiveness: erasing the top-ranked tokens should lower the class
 * score a lot; sufficiency: keeping only them should lower it little.  Both
 * are averaged over the top 1, 5, 10, 20 and 50 % (AOPC).  The deletion
 * curve erases the top 0, 5, ..., 100 % and its area should be small.  All
 * variants (1 + 5 + 5 + 21) go through the model in one batch.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tl_saliency.h"

const double tl_faith_bins[TL_FAITH_BINS] = {0.01, 0.05, 0.10, 0.20, 0.50};

#define N_VARIANTS (1 + 2 * TL_FAITH_BINS + TL_FAITH_CURVE)

typedef struct ranked
{
	float		score;
	int			pos;
} ranked;

/* Highest score first; ties by position, so the ranking is deterministic. */
static int
by_score(const void *a, const void *b)
{
	const ranked *x = a,
			   *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->pos - y->pos;
}

/* Tokens to take for a fraction of n: at least one, at most n. */
static int
top_k(double frac, int n)
{
	int			k = (int) ceil(frac * n - 1e-9);

	return k < 1 ? 1 : k > n ? n : k;
}

/* Writes x with the tokens ranked [from, to) erased (set to padding). */
static void
erase(float *dst, const float *x, int64_t len, const ranked *rk, int from, int to)
{
	memcpy(dst, x, sizeof(float) * len);
	for (int i = from; i < to; i++)
		dst[rk[i].pos] = 0.0f;
}

int
tl_faithfulness_eval(const tl_model *m, tl_runner *r, const tl_shape *in,
					 const float *x, const float *scores, int target,
					 tl_faithfulness *f, tl_status *st)
{
	int64_t		len = tl_shape_count(in);
	tl_shape	os = tl_model_output_shape(m);
	int			unit,
				n = 0,
				v = 0;
	float		sign;
	ranked	   *rk = NULL;
	float	   *variants = NULL;
	double		z[N_VARIANTS];
	int			rc = -1;

	if (!tl_model_takes_tokens(m))
		return tl_fail(st, TL_ERR_UNSUPPORTED, "faithfulness is measured on token models");
	if (tl_sal_target((int) tl_shape_count(&os), target, &unit, &sign, st) < 0)
		return -1;
	rk = tl_malloc(sizeof(ranked) * (len ? len : 1));
	variants = tl_malloc(sizeof(float) * len * N_VARIANTS);
	if (!rk || !variants)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (int64_t p = 0; p < len; p++)
		if (x[p] != 0)
		{
			rk[n].score = scores[p];
			rk[n].pos = (int) p;
			n++;
		}
	if (n == 0)
	{
		tl_fail(st, TL_ERR_INPUT, "the sequence holds only padding: there is nothing to erase");
		goto done;
	}
	qsort(rk, n, sizeof(ranked), by_score);

	/* the sequence, then per bin: without the top k %, with only them */
	erase(variants + v++ * len, x, len, rk, 0, 0);
	for (int b = 0; b < TL_FAITH_BINS; b++)
	{
		int			k = top_k(tl_faith_bins[b], n);

		erase(variants + v++ * len, x, len, rk, 0, k);
		erase(variants + v++ * len, x, len, rk, k, n);
	}
	for (int j = 0; j < TL_FAITH_CURVE; j++)
		erase(variants + v++ * len, x, len, rk, 0,
			  (int) lround((double) j * n / (TL_FAITH_CURVE - 1)));
	tl_runner_enable_backward(r);	/* keeps the logits of a fused activation */
	if (tl_sal_scores(r, in, variants, N_VARIANTS, unit, sign, z, st) < 0)
		goto done;

	f->n_tokens = n;
	f->score = z[0];
	f->empty = z[N_VARIANTS - 1];
	f->comprehensiveness = f->sufficiency = f->deletion_auc = 0;
	for (int b = 0; b < TL_FAITH_BINS; b++)
	{
		f->comprehensiveness_at[b] = z[0] - z[1 + 2 * b];
		f->sufficiency_at[b] = z[0] - z[2 + 2 * b];
		f->comprehensiveness += f->comprehensiveness_at[b] / TL_FAITH_BINS;
		f->sufficiency += f->sufficiency_at[b] / TL_FAITH_BINS;
	}
	/* trapezoids over erased fractions 0, 1/20, ..., 1 */
	for (int j = 0; j + 1 < TL_FAITH_CURVE; j++)
		f->deletion_auc += (z[1 + 2 * TL_FAITH_BINS + j] + z[2 + 2 * TL_FAITH_BINS + j]) /
			(2.0 * (TL_FAITH_CURVE - 1));
	rc = 0;
done:
	tl_free(rk);
	tl_free(variants);
	return rc;
}
