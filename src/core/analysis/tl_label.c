/*
 * tl_label.c — label-issue scores: confident learning, normalised margin and
 * the disagreement of the nearest neighbours in perception space (the "dot
 * in the other label's cluster" of population exploration).
 */
#include <math.h>

#include "analysis/tl_label.h"

void
tl_outputs_to_probs(const float *y, int n, int c, float *probs)
{
	int			are_probs = 1;

	/* outputs already probabilities (sigmoid/softmax heads) are used as they are */
	for (int i = 0; i < n && are_probs; i++)
	{
		double		sum = 0;

		for (int j = 0; j < c; j++)
		{
			if (!(y[(int64_t) i * c + j] >= 0 && y[(int64_t) i * c + j] <= 1))
				are_probs = 0;
			sum += y[(int64_t) i * c + j];
		}
		if (c > 1 && fabs(sum - 1.0) > 1e-3)
			are_probs = 0;
	}
	for (int i = 0; i < n; i++)
	{
		const float *yi = y + (int64_t) i * c;
		float	   *pi = probs + (int64_t) i * (c == 1 ? 2 : c);

		if (c == 1)
		{
			/* one unit: p(1) = output, or sigmoid(logit) */
			double		p1 = are_probs ? yi[0] : 1.0 / (1.0 + exp(-(double) yi[0]));

			pi[0] = (float) (1.0 - p1);
			pi[1] = (float) p1;
		}
		else if (are_probs)
			for (int j = 0; j < c; j++)
				pi[j] = yi[j];
		else
		{
			double		mx = yi[0],
						sum = 0;

			for (int j = 1; j < c; j++)
				mx = yi[j] > mx ? yi[j] : mx;
			for (int j = 0; j < c; j++)
				sum += exp(yi[j] - mx);
			for (int j = 0; j < c; j++)
				pi[j] = (float) (exp(yi[j] - mx) / sum);
		}
	}
}

int
tl_label_scores_compute(const float *probs, const int32_t *labels, int n, int c,
						const int32_t *nbr, int k, tl_label_scores *out, tl_status *st)
{
	double	   *threshold = tl_calloc(c, sizeof(double));
	int64_t    *count = tl_calloc(c, sizeof(int64_t));
	int			classes_present = 0;

	if (threshold == NULL || count == NULL)
	{
		tl_free(threshold);
		tl_free(count);
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	}
	for (int i = 0; i < n; i++)
	{
		if (labels[i] < 0 || labels[i] >= c)
		{
			tl_free(threshold);
			tl_free(count);
			return tl_fail(st, TL_ERR_RANGE, "label %d of sample %d is outside the %d classes of the output",
						   labels[i], i + 1, c);
		}
		threshold[labels[i]] += probs[(int64_t) i * c + labels[i]];
		count[labels[i]]++;
	}
	for (int j = 0; j < c; j++)
	{
		if (count[j] > 0)
			classes_present++;
		threshold[j] = count[j] > 0 ? threshold[j] / count[j] : 1.0;
	}
	tl_free(count);
	if (classes_present < 2)
	{
		tl_free(threshold);
		return tl_fail(st, TL_ERR_ARG,
					   "all labelled samples have the same label; finding label issues needs at least two classes");
	}

	for (int i = 0; i < n; i++)
	{
		const float *p = probs + (int64_t) i * c;
		int			label = labels[i];
		float		other = 0.0f;
		int			best_other = label == 0 ? 1 : 0,
					confident = -1;
		tl_label_scores *o = &out[i];
		double		score,
					terms = 2;

		for (int j = 0; j < c; j++)
		{
			if (j != label && p[j] > other)
			{
				other = p[j];
				best_other = j;
			}
			if (p[j] >= threshold[j] && (confident < 0 || p[j] > p[confident]))
				confident = j;
		}
		if (other == 0.0f)
			best_other = label == 0 ? 1 : 0;
		o->self_confidence = p[label];
		o->margin = p[label] - other;
		o->confident_class = confident;
		o->issue = confident >= 0 && confident != label;
		o->suggested = o->issue ? confident : best_other;
		score = (1.0 - o->self_confidence) + (1.0 - o->margin) / 2.0;
		if (nbr)
		{
			int			differ = 0;

			for (int m = 0; m < k; m++)
				differ += labels[nbr[(int64_t) i * k + m]] != label;
			o->neighbour_disagreement = (float) differ / k;
			score += o->neighbour_disagreement;
			terms++;
		}
		else
			o->neighbour_disagreement = NAN;
		o->score = (float) (score / terms + (o->issue ? 0.25 : 0.0));
	}
	tl_free(threshold);
	return 0;
}
