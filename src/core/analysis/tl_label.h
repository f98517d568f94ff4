/*
 * tl_label.h — scoring samples as likely mislabelled.
 */
#ifndef TL_LABEL_H
#define TL_LABEL_H

#include "base/tl_core.h"

typedef struct tl_label_scores
{
	float		self_confidence;	/* p(given label) under the model(s) */
	float		margin;			/* p(label) − max other p, in [−1, 1] */
	float		neighbour_disagreement; /* share of neighbours labelled otherwise, or NaN */
	int			confident_class;	/* confident learning's class, or −1 */
	int			issue;			/* confident learning flags it */
	int			suggested;		/* the class it more likely belongs to */
	float		score;			/* 1 − p̃(label): higher = more suspect */
} tl_label_scores;

/* One neighbour graph: n × k indices into the samples, −1 = no neighbour. */
typedef struct tl_label_graph
{
	const int32_t *nbr;
	int			k;
} tl_label_graph;

/*
 * probs: n × c class distributions (one model, or several averaged);
 * labels: n given labels in [0, c); graphs: n_graphs neighbour graphs
 * (the runs' perception spaces), possibly none.  Fills out[n] and, when
 * not NULL, *beta (the neighbour weight chosen).
 *
 * The score is 1 − p̃(label) with p̃ ∝ p · q^w (a product of experts):
 * p is the models' distribution and q the labels of the sample's
 * neighbours, each counted with that neighbour's own self-confidence
 * (Laplace-smoothed; averaged over the graphs; uniform without
 * neighbours, so a sample without a perception vector keeps its own
 * model term).  w = β/α for the temperature α and weight β that maximise
 * the likelihood of the given labels under p^α · q^β over the samples
 * confident learning does not flag (a trimmed likelihood: the flagged
 * ones are the suspects, not evidence); w = 0 unless the neighbours
 * improve that likelihood significantly over the calibrated model alone
 * (a likelihood-ratio test), so neighbours that add nothing leave the
 * ranking to self-confidence.
 *
 * Confident learning (Northcutt, Jiang, Chuang, JAIR 2021): the threshold
 * of class j is the mean p_j over the samples labelled j; a sample's
 * confident class is the class j with the largest p_j among those with
 * p_j >= t_j; it is an issue when that class is not its label.
 */
int			tl_label_scores_compute(const double *probs, const int32_t *labels, int n, int c,
									const tl_label_graph *graphs, int n_graphs,
									tl_label_scores *out, double *beta, tl_status *st);

/*
 * Combines the class distributions of several models over the same n
 * samples (probs[r]: n × c; present[r][i] = 0 when model r has no output
 * for sample i, or present[r] NULL) into out (n × c): a weighted average,
 * model r weighted by the log-odds of its agreement with the given labels,
 * log(a / (1 − a)) — the optimal weights of a vote of independent
 * classifiers (Nitzan and Paroush 1982) — so the model that agrees more
 * with the labels counts more.  weights (or NULL) receives them.
 */
int			tl_label_combine(const double *const *probs, const uint8_t *const *present, int n_runs,
							 const int32_t *labels, int n, int c, double *out, double *weights,
							 tl_status *st);

#endif							/* TL_LABEL_H */
