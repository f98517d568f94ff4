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
 * Many findings are tested at once; tl_bh_adjust gives Benjamini–Hochberg
 * adjusted p-values (q-values): keeping those with q <= alpha controls the
 * false discovery rate at alpha (Benjamini and Hochberg 1995), and when no
 * finding is real, the chance of reporting any at all is at most alpha.
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

/* Benjamini–Hochberg adjusted p-values q[m] of p[m] (NaN stays NaN and is not counted). */
int			tl_bh_adjust(const double *p, int m, double *q, tl_status *st);

#endif							/* TL_INSIGHTS_STATS_H */
