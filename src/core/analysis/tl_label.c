/*
 * tl_label.c — label-issue scores (tl_label.h): the models' class
 * distribution combined with the labels of the nearest neighbours in
 * perception space, the neighbours' weight fitted on the data.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/tl_label.h"

#define BETA_STEPS 10			/* β = 0, 0.1, ..., 1 */
#define ALPHA_STEPS 8			/* α = 2^(s/4), s = −8 … 8: 0.25 … 4 */
#define FIT_SAMPLES 20000		/* the fit reads every ⌈n / this⌉-th sample */
#define LIKELIHOOD_RATIO_1DF 6.63	/* χ² with 1 degree of freedom, p = 0.01 */

/* Confident learning: per-class thresholds, each sample's confident class. */
static int
confident_learning(const double *probs, const int32_t *labels, int n, int c,
				   tl_label_scores *out, tl_status *st)
{
	double	   *threshold = tl_calloc(c, sizeof(double));
	int64_t    *count = tl_calloc(c, sizeof(int64_t));
	int			present = 0,
				flagged = 0;

	if (threshold == NULL || count == NULL)
	{
		tl_free(threshold);
		tl_free(count);
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	}
	for (int i = 0; i < n; i++)
	{
		threshold[labels[i]] += probs[(int64_t) i * c + labels[i]];
		count[labels[i]]++;
	}
	for (int j = 0; j < c; j++)
	{
		present += count[j] > 0;
		threshold[j] = count[j] > 0 ? threshold[j] / count[j] : 2.0;
	}
	tl_free(count);
	if (present < 2)
	{
		tl_free(threshold);
		return tl_fail(st, TL_ERR_ARG,
					   "all labelled samples have the same label; finding label issues needs at least two classes");
	}
	for (int i = 0; i < n; i++)
	{
		const double *p = probs + (int64_t) i * c;
		int			confident = -1;

		for (int j = 0; j < c; j++)
			if (p[j] >= threshold[j] && (confident < 0 || p[j] > p[confident]))
				confident = j;
		out[i].confident_class = confident;
		out[i].issue = confident >= 0 && confident != labels[i];
		flagged += out[i].issue;
	}
	tl_free(threshold);
	return flagged;
}

/*
 * log q: the neighbours' labels, each weighted by that neighbour's
 * self-confidence (a neighbour whose own label the model doubts counts
 * less), Laplace-smoothed, averaged over the graphs.  Also the share of
 * neighbours labelled otherwise (NaN without neighbours).
 */
static void
neighbour_log_distribution(const double *probs, const int32_t *labels, int c,
						   const tl_label_graph *graphs, int n_graphs, int i,
						   double *logq, double *tmp, float *disagreement)
{
	int			counted = 0,
				differ = 0,
				used = 0;

	for (int j = 0; j < c; j++)
		logq[j] = 0;
	for (int g = 0; g < n_graphs; g++)
	{
		const int32_t *nb = graphs[g].nbr + (int64_t) i * graphs[g].k;
		double		total = 1.0;
		int			any = 0;

		for (int j = 0; j < c; j++)
			tmp[j] = 1.0 / c;
		for (int m = 0; m < graphs[g].k; m++)
		{
			int32_t		u = nb[m];

			if (u < 0)
				continue;
			tmp[labels[u]] += probs[(int64_t) u * c + labels[u]];
			total += probs[(int64_t) u * c + labels[u]];
			differ += labels[u] != labels[i];
			counted++;
			any = 1;
		}
		if (!any)
			continue;
		for (int j = 0; j < c; j++)
			logq[j] += tmp[j] / total;
		used++;
	}
	for (int j = 0; j < c; j++)
		logq[j] = used ? log(logq[j] / used) : 0.0;
	*disagreement = counted ? (float) differ / counted : NAN;
}

static double
log_term(const double *p, const double *logq, int j, double alpha, double beta)
{
	return alpha * log(p[j] > 1e-300 ? p[j] : 1e-300) + beta * logq[j];
}

/* log p̃(label) for p̃ ∝ p^α · q^β */
static double
combined_log_likelihood(const double *p, const double *logq, int c, int label,
						double alpha, double beta)
{
	double		mx = -INFINITY,
				sum = 0;

	for (int j = 0; j < c; j++)
		mx = fmax(mx, log_term(p, logq, j, alpha, beta));
	for (int j = 0; j < c; j++)
		sum += exp(log_term(p, logq, j, alpha, beta) - mx);
	return log_term(p, logq, label, alpha, beta) - mx - log(sum);
}

static int
by_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : x > y;
}

/*
 * The neighbours' weight: (α, β) maximising the likelihood of the given
 * labels under p̃ ∝ p^α · q^β over every step-th sample, trimmed of the
 * share confident learning flags (the suspects are not evidence).  The
 * temperature α calibrates the model first, so that β measures what the
 * neighbours add to a calibrated model rather than repairing its scale;
 * the weight returned, β/α, orders the samples as p^α · q^β does (exactly
 * so for two classes).  It is 0 unless the neighbours raise the
 * log-likelihood significantly over the model alone (calibrated too):
 * twice the gain must pass χ²(1) at p = 0.01, so that neighbours that add
 * nothing cannot move the ranking by the fit's noise.
 */
static double
fit_neighbour_weight(const double *probs, const double *logq, const int32_t *labels,
					 int n, int c, int flagged, double *ll)
{
	int			step = n / FIT_SAMPLES + 1,
				m = 0,
				trim;
	double		best = -INFINITY,
				best_alone = -INFINITY,
				weight = 0;

	for (int i = 0; i < n; i += step)
		m++;
	trim = (int) ((int64_t) flagged * m / (n > 0 ? n : 1));
	for (int a = -ALPHA_STEPS; a <= ALPHA_STEPS; a++)
	{
		double		alpha = pow(2.0, a / 4.0);

		for (int s = 0; s <= BETA_STEPS; s++)
		{
			double		beta = (double) s / BETA_STEPS,
						mean = 0;
			int			k = 0;

			for (int i = 0; i < n; i += step)
				ll[k++] = combined_log_likelihood(probs + (int64_t) i * c, logq + (int64_t) i * c,
												  c, labels[i], alpha, beta);
			qsort(ll, m, sizeof(double), by_double);
			for (int i = trim; i < m; i++)
				mean += ll[i];
			mean /= (m - trim > 0 ? m - trim : 1);
			if (s == 0 && mean > best_alone)
				best_alone = mean;
			if (mean > best + 1e-12)
			{
				best = mean;
				weight = beta / alpha;
			}
		}
		tl_check_interrupt();
	}
	/* the neighbours only when they improve the fit significantly (likelihood ratio) */
	if (2 * (best - best_alone) * (m - trim) < LIKELIHOOD_RATIO_1DF)
		return 0;
	return weight;
}

int
tl_label_scores_compute(const double *probs, const int32_t *labels, int n, int c,
						const tl_label_graph *graphs, int n_graphs,
						tl_label_scores *out, double *beta_out, tl_status *st)
{
	double	   *logq,
			   *ll,
			   *tmp,
			   *pt;
	int			flagged;
	double		beta = 0;

	for (int i = 0; i < n; i++)
		if (labels[i] < 0 || labels[i] >= c)
			return tl_fail(st, TL_ERR_RANGE, "label %d of sample %d is outside the %d classes of the output",
						   labels[i], i + 1, c);
	flagged = confident_learning(probs, labels, n, c, out, st);
	if (flagged < 0)
		return -1;
	logq = tl_malloc(sizeof(double) * (size_t) n * c);
	ll = tl_malloc(sizeof(double) * (size_t) n);
	tmp = tl_malloc(sizeof(double) * (size_t) c * 2);
	if (!logq || !ll || !tmp)
	{
		tl_free(logq);
		tl_free(ll);
		tl_free(tmp);
		return tl_fail(st, TL_ERR_NOMEM, "out of memory for the label scores of %d samples", n);
	}
	pt = tmp + c;
	for (int i = 0; i < n; i++)
		neighbour_log_distribution(probs, labels, c, graphs, n_graphs, i,
								   logq + (int64_t) i * c, tmp, &out[i].neighbour_disagreement);

	if (n_graphs > 0)
		beta = fit_neighbour_weight(probs, logq, labels, n, c, flagged, ll);

	for (int i = 0; i < n; i++)
	{
		const double *p = probs + (int64_t) i * c;
		const double *lq = logq + (int64_t) i * c;
		int			label = labels[i],
					other = -1;
		double		mx = -INFINITY,
					sum = 0,
					rest = 0;

		for (int j = 0; j < c; j++)
		{
			pt[j] = log_term(p, lq, j, 1.0, beta);
			mx = pt[j] > mx ? pt[j] : mx;
			if (j != label && (other < 0 || p[j] > p[other]))
				other = j;
		}
		for (int j = 0; j < c; j++)
			sum += pt[j] = exp(pt[j] - mx);
		/* 1 − p̃(label) as the sum of the others: exact near 0 */
		for (int j = 0; j < c; j++)
			if (j != label)
				rest += pt[j] / sum;
		out[i].self_confidence = (float) p[label];
		out[i].margin = (float) (p[label] - p[other]);
		out[i].score = (float) rest;
		out[i].suggested = out[i].issue ? out[i].confident_class : other;
	}
	if (beta_out)
		*beta_out = beta;
	tl_free(logq);
	tl_free(ll);
	tl_free(tmp);
	return 0;
}

int
tl_label_combine(const double *const *probs, const uint8_t *const *present, int n_runs,
				 const int32_t *labels, int n, int c, double *out, double *weights, tl_status *st)
{
	double	   *w = tl_malloc(sizeof(double) * (n_runs > 0 ? n_runs : 1));

	if (w == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	for (int r = 0; r < n_runs; r++)
	{
		int64_t		agree = 0,
					seen = 0;
		double		a;

		for (int i = 0; i < n; i++)
		{
			const double *p = probs[r] + (int64_t) i * c;
			int			best = 0;

			if (present[r] && !present[r][i])
				continue;
			for (int j = 1; j < c; j++)
				best = p[j] > p[best] ? j : best;
			agree += best == labels[i];
			seen++;
		}
		/* a model no better than chance keeps a token weight */
		a = seen ? (agree + 0.5) / (seen + 1.0) : 0.5;
		w[r] = a > 0.5 ? log(a / (1 - a)) : 1e-3;
	}
	for (int i = 0; i < n; i++)
	{
		double		total = 0;
		double	   *o = out + (int64_t) i * c;

		for (int j = 0; j < c; j++)
			o[j] = 0;
		for (int r = 0; r < n_runs; r++)
		{
			if (present[r] && !present[r][i])
				continue;
			for (int j = 0; j < c; j++)
				o[j] += w[r] * probs[r][(int64_t) i * c + j];
			total += w[r];
		}
		for (int j = 0; j < c; j++)
			o[j] = total > 0 ? o[j] / total : 1.0 / c;
	}
	if (weights)
		memcpy(weights, w, sizeof(double) * n_runs);
	tl_free(w);
	return 0;
}
