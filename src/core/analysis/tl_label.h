/*
 * tl_label.h — scoring samples as likely mislabelled.
 */
#ifndef TL_LABEL_H
#define TL_LABEL_H

#include "base/tl_core.h"

typedef struct tl_label_scores
{
	float		self_confidence;	/* p(given label) */
	float		margin;			/* p(label) − max other p, in [−1, 1] */
	float		neighbour_disagreement; /* share of neighbours labelled otherwise, or NaN */
	int			confident_class;	/* confident learning's class, or −1 */
	int			issue;			/* confident learning flags it */
	int			suggested;		/* the class it more likely belongs to */
	float		score;			/* combined, higher = more suspect */
} tl_label_scores;

/*
 * probs: n × c probabilities; labels: n given labels in [0, c); nbr: n × k
 * neighbour indices or NULL.  Fills out[n].
 *
 * Confident learning (Northcutt, Jiang, Chuang, JAIR 2021): the threshold
 * of class j is the mean p_j over the samples labelled j; a sample's
 * confident class is the class j with the largest p_j among those with
 * p_j >= t_j; it is an issue when that class is not its label (an
 * off-diagonal entry of the confident joint).
 *
 * score = mean of (1 − self_confidence), (1 − margin)/2 and the neighbour
 * disagreement (the last left out without neighbours), + 0.25 when
 * confident learning flags the sample: each term is in [0, 1].
 */
int			tl_label_scores_compute(const float *probs, const int32_t *labels, int n, int c,
									const int32_t *nbr, int k, tl_label_scores *out,
									tl_status *st);

/* Turns outputs into probabilities: kept if they already are, else sigmoid/softmax. */
void		tl_outputs_to_probs(const float *y, int n, int c, float *probs);

#endif							/* TL_LABEL_H */
