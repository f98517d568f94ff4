/*
 * tl_faithfulness.c — how faithful a ranking of a token sequence's
 * positions is to the model (ERASER: DeYoung et al., 2020; the deletion
 * curve of Petsiuk et al., 2018).
 *
 * Comprehensiveness: erasing the top-ranked tokens should lower the class
 * score a lot; sufficiency: keeping only them should lower it little.  Both
 * are averaged over the top 1, 5, 10, 20 and 50 % (AOPC).  The deletion
 * curve erases the top 0, 10, ..., 100 % and its area should be small.  The
 * distinct variants (the curve shares its 10, 20 and 50 % points with the
 * bins: at most 18) go through the model as one batch.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/tl_saliency.h"

const double tl_faith_bins[TL_FAITH_BINS] = {0.01, 0.05, 0.10, 0.20, 0.50};

/* at most: the sequence, per bin two, the curve's points */
#define MAX_VARIANTS (1 + 2 * TL_FAITH_BINS + TL_FAITH_CURVE)

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

/* Tokens in a fraction of n (rounded up; a non-zero fraction takes one). */
static int
top_k(double frac, int n)
{
	int			k = (int) ceil(frac * n - 1e-9);

	return frac > 0 && k < 1 ? 1 : k > n ? n : k;
}

/* The variants to run: x with the tokens ranked [from, to) erased. */
typedef struct variants
{
	int			n;
	int			from[MAX_VARIANTS],
				to[MAX_VARIANTS];
} variants;

/* Index of the variant erasing ranks [from, to), added if new. */
static int
variant(variants *v, int from, int to)
{
	for (int i = 0; i < v->n; i++)
		if (v->from[i] == from && v->to[i] == to)
			return i;
	v->from[v->n] = from;
	v->to[v->n] = to;
	return v->n++;
}

int
tl_faithfulness_eval(const tl_model *m, tl_runner *r, const tl_shape *in,
					 const float *x, const float *scores, int target,
					 tl_faithfulness *f, tl_status *st)
{
	int64_t		len = tl_shape_count(in);
	tl_shape	os = tl_model_output_shape(m);
	int			unit,
				n = 0;
	float		sign;
	ranked	   *rk = NULL;
	float	   *batch = NULL;
	variants	v = {0};
	int			comp[TL_FAITH_BINS],
				suff[TL_FAITH_BINS],
				curve[TL_FAITH_CURVE];
	double		z[MAX_VARIANTS];
	int			rc = -1;

	if (!tl_model_takes_tokens(m))
		return tl_fail(st, TL_ERR_UNSUPPORTED, "faithfulness is measured on token models");
	if (tl_sal_target((int) tl_shape_count(&os), target, &unit, &sign, st) < 0)
		return -1;
	rk = tl_malloc(sizeof(ranked) * (len ? len : 1));
	batch = tl_malloc(sizeof(float) * len * MAX_VARIANTS);
	if (!rk || !batch)
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

	/* per bin: without the top k %, with only them; the curve's points */
	variant(&v, 0, 0);
	for (int b = 0; b < TL_FAITH_BINS; b++)
	{
		int			k = top_k(tl_faith_bins[b], n);

		comp[b] = variant(&v, 0, k);
		suff[b] = variant(&v, k, n);
	}
	for (int j = 0; j < TL_FAITH_CURVE; j++)
		curve[j] = variant(&v, 0, top_k((double) j / (TL_FAITH_CURVE - 1), n));
	for (int i = 0; i < v.n; i++)
	{
		float	   *dst = batch + i * len;

		memcpy(dst, x, sizeof(float) * len);
		for (int j = v.from[i]; j < v.to[i]; j++)
			dst[rk[j].pos] = 0.0f;
	}
	tl_runner_enable_backward(r);	/* keeps the logits of a fused activation */
	if (tl_sal_scores(r, in, batch, v.n, unit, sign, z, st) < 0)
		goto done;

	f->n_tokens = n;
	f->score = z[0];
	f->empty = z[curve[TL_FAITH_CURVE - 1]];
	f->comprehensiveness = f->sufficiency = f->deletion_auc = 0;
	for (int b = 0; b < TL_FAITH_BINS; b++)
	{
		f->comprehensiveness_at[b] = z[0] - z[comp[b]];
		f->sufficiency_at[b] = z[0] - z[suff[b]];
		f->comprehensiveness += f->comprehensiveness_at[b] / TL_FAITH_BINS;
		f->sufficiency += f->sufficiency_at[b] / TL_FAITH_BINS;
	}
	/* trapezoids over erased fractions 0, 0.1, ..., 1 */
	for (int j = 0; j + 1 < TL_FAITH_CURVE; j++)
		f->deletion_auc += (z[curve[j]] + z[curve[j + 1]]) / (2.0 * (TL_FAITH_CURVE - 1));
	rc = 0;
done:
	tl_free(rk);
	tl_free(batch);
	return rc;
}
