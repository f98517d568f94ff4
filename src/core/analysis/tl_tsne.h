/*
 * tl_tsne.h — Barnes–Hut t-SNE (van der Maaten 2014, "Accelerating t-SNE
 * using Tree-Based Algorithms", JMLR 15), written from the paper:
 *
 *  1. input similarities on the 3·perplexity nearest neighbours only:
 *     p_j|i = exp(−β_i d²_ij) / Σ, β_i by bisection so that the entropy of
 *     p_·|i is log(perplexity); P = (P_cond + P_condᵀ) / Σ;
 *  2. gradient descent on KL(P‖Q) with Student-t similarities
 *     q_ij ∝ 1/(1 + |y_i − y_j|²): the attractive part exactly over the
 *     sparse P, the repulsive part with a quadtree (2-D) or octree (3-D)
 *     whose cells are summarised by their centre of mass when
 *     cell width / distance < θ;
 *  3. the schedule of the paper and of scikit-learn 1.2: early exaggeration
 *     12 for 250 iterations at momentum 0.5, then momentum 0.8 to 1000
 *     iterations; per-coordinate gains (+0.2 / ×0.8, at least 0.01);
 *     learning rate max(n / exaggeration / 4, 50) unless given.
 *
 * Deterministic: one thread, the tree's sums in a fixed order.  Memory:
 * P in compressed rows (12 bytes per entry, at most 2 · n · 3·perplexity
 * entries), the tree (< 2n cells of 64 bytes), five n × dims arrays of
 * doubles.
 */
#ifndef TL_TSNE_H
#define TL_TSNE_H

#include "analysis/tl_map.h"

typedef struct tl_tsne_params
{
	int			dims;			/* 2 or 3 */
	double		perplexity;		/* > 0; the graph has min(n − 1, 3·perplexity) neighbours */
	int			n_iter;			/* 1000 */
	int			exaggeration_iter;	/* 250; 0 for a warm start */
	double		exaggeration;	/* 12 */
	double		learning_rate;	/* 0: automatic */
	double		theta;			/* 0.5 */
	/*
	 * A warm start's pull back to the starting positions: after every
	 * iteration each anchored point moves this fraction of the way back
	 * (0: none); t-SNE maps keep expanding, and would drift otherwise.
	 */
	double		anchor_weight;
} tl_tsne_params;

void		tl_tsne_defaults(tl_tsne_params *p);

/* The neighbours t-SNE reads for a perplexity: min(n − 1, floor(3·perplexity)). */
int			tl_tsne_neighbours(double perplexity, int n);

/*
 * One point's conditional probabilities p[k] from the distances d[k] to
 * its neighbours (ascending): exp(−β d²) normalised, β by bisection until
 * the entropy is log_perplexity (natural logarithm) within 1e-5.
 */
void		tl_tsne_conditional(const float *d, int k, double log_perplexity, float *p);

/*
 * The symmetric input similarities of the graph (step 1), summing to 1.
 */
int			tl_tsne_affinities(const tl_map_graph *g, double perplexity, tl_sym_graph *P,
							   tl_status *st);

/*
 * Optimises the layout y (n × dims, in: the start, out: the map) for the
 * similarities P.  fixed (NULL or n flags) marks points that keep their
 * position; they still attract and repel the others.  anchored (NULL or n
 * flags): the points pulled back to their start (anchor_weight).
 */
int			tl_tsne_optimize(const tl_sym_graph *P, const tl_tsne_params *p,
							 const unsigned char *fixed, const unsigned char *anchored,
							 float *y, tl_status *st);

#endif							/* TL_TSNE_H */
