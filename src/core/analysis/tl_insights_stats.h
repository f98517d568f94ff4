/*
 * tl_insights_stats.h — the significance tests behind insights.
 *
 * A finding is a set of samples S (a cluster, the samples with a metadata
 * value).  "S fails more than expected" is tested against the null that
 * failures fall on samples independently of S, given each class's own
 * failure count: within class j (N_j samples, E_j failures, n_j of them in
 * S) the failures in S are hypergeometric, and the classes are independent.
 * With one class that is Fisher's exact test (one-sided).  The sum over
 * classes is computed exactly by convolution while S has at most
 * TL_EXACT_MAX_DRAWN samples, by the normal approximation (continuity-
 * corrected) beyond.  Conditioning on the classes keeps a hard class from
 * being reported as a region: a region is reported when it fails more than
 * its own classes explain.
 *
 * Many findings are tested at once; tl_p_adjust corrects for that: Holm's
 * step-down adjustment (what insights use: the chance that any finding of
 * a call is false stays below alpha, however many are real) or
 * Benjamini–Hochberg's (the expected share of false findings among those
 * kept stays below alpha: more findings, some of them false).
 */
#ifndef TL_INSIGHTS_STATS_H
#define TL_INSIGHTS_STATS_H

#include "base/tl_core.h"

#define TL_EXACT_MAX_DRAWN 5000

typedef struct tl_stratum
{
	int64_t		total;			/* N_j: samples of the class */
	int64_t		events;			/* E_j: failures among them */
	int64_t		drawn;			/* n_j: samples of the class in S */
} tl_stratum;

/* P(X >= k) for X hypergeometric: n drawn from N holding K events. */
double		tl_hypergeom_sf(int64_t k, int64_t total, int64_t events, int64_t drawn);

/*
 * P(Σ X_j >= observed) for independent hypergeometric X_j (one per
 * stratum); *expected = E[Σ X_j].  Strata must satisfy
 * 0 <= events, drawn <= total.  Returns NaN (and fails st) otherwise.
 */
double		tl_excess_sf(const tl_stratum *s, int ns, int64_t observed, double *expected,
						 tl_status *st);

/* P(X >= k) for X binomial(n, p). */
double		tl_binomial_sf(int64_t k, int64_t n, double p);

/*
 * One-sided Wilcoxon–Mann–Whitney test that the n1 values of a group rank
 * above the n2 others: rank_sum = the sum of the group's (mid-)ranks among
 * all n1 + n2, tie_sum = Σ (t³ − t) over groups of t tied values.  Normal
 * approximation with continuity correction: P(R >= rank_sum).
 */
double		tl_rank_sum_sf(double rank_sum, int64_t n1, int64_t n2, double tie_sum);

typedef enum tl_p_adjust_method
{
	TL_P_HOLM,					/* family-wise error rate (Holm 1979) */
	TL_P_BH						/* false discovery rate (Benjamini–Hochberg 1995) */
} tl_p_adjust_method;

/* Parses "holm" or "bh"; -1 if neither. */
int			tl_p_adjust_parse(const char *s, tl_p_adjust_method *m);

/*
 * Adjusted p-values q[m] of p[m] (NaN stays NaN and is not counted):
 * keeping q <= alpha bounds, for Holm, the chance of any false finding by
 * alpha; for BH, the expected share of false findings among those kept.
 */
int			tl_p_adjust(const double *p, int m, tl_p_adjust_method method, double *q, tl_status *st);

#endif							/* TL_INSIGHTS_STATS_H */
