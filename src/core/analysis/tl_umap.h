/*
 * tl_umap.h — UMAP (McInnes, Healy and Melville 2018, "UMAP: Uniform
 * Manifold Approximation and Projection for Dimension Reduction",
 * arXiv:1802.03426), written from the paper:
 *
 *  1. each point's fuzzy neighbourhood: ρ_i = distance to its nearest
 *     neighbour, σ_i by bisection so that Σ_j exp(−(d_ij − ρ_i)/σ_i) =
 *     log2(n_neighbors) over its n_neighbors − 1 nearest others (the point
 *     itself counts as a neighbour, as in the paper's k);
 *  2. the fuzzy union of the directed memberships: w = a + b − a·b;
 *  3. a low-dimensional layout optimised by stochastic gradient descent
 *     on the fuzzy cross-entropy: every edge is sampled in proportion to
 *     its weight (attraction), each sample followed by negative_sample_rate
 *     uniformly drawn points (repulsion), the learning rate falling
 *     linearly to 0; the curve 1/(1 + a·d^2b) with a, b fitted to min_dist
 *     and spread.
 *
 * Deterministic: one thread, edges in a fixed order, negative samples from
 * a splitmix64 stream seeded with `seed`.  Memory: O(n · n_neighbors):
 * about 56 bytes per directed edge (at most 2 · n · (n_neighbors − 1)).
 */
#ifndef TL_UMAP_H
#define TL_UMAP_H

#include "analysis/tl_map.h"

typedef struct tl_umap_params
{
	int			dims;			/* 2 or 3 */
	int			n_neighbors;	/* including the point itself: graph k + 1 */
	double		min_dist;		/* > 0 … < spread */
	double		spread;			/* > 0 */
	int			n_epochs;		/* 0: 500 up to 10,000 points, 200 above */
	int			negative_sample_rate;
	double		learning_rate;	/* the initial step (1 in the paper) */
	uint64_t	seed;
	/*
	 * A warm start's pull back to the starting positions: every epoch each
	 * point with an anchor moves anchor_weight · learning rate of the way
	 * back to it (0: none).  Without it the repulsion between clusters
	 * keeps pushing them apart epoch after epoch, and a map started from
	 * the previous epoch's would drift away from it.
	 */
	double		anchor_weight;
} tl_umap_params;

/* The defaults of the paper's reference implementation. */
void		tl_umap_defaults(tl_umap_params *p);

/*
 * a and b of 1/(1 + a·x^2b) fitted (least squares, Gauss–Newton with
 * step halving) to 1 for x < min_dist, exp(−(x − min_dist)/spread) above,
 * on 300 points of [0, 3·spread].
 */
int			tl_umap_fit_ab(double spread, double min_dist, double *a, double *b,
						   tl_status *st);

/*
 * The fuzzy simplicial set of the graph (steps 1 and 2): the fuzzy union
 * of every point's memberships, as a symmetric graph.
 */
int			tl_umap_fuzzy_graph(const tl_map_graph *g, tl_sym_graph *s, tl_status *st);

/*
 * Optimises the layout y (n × dims, row-major, in: the starting positions,
 * out: the map) of the graph's points.  fixed (NULL, or n flags) marks
 * points that keep their position: they attract and repel the others but
 * never move (placing new points into an existing map).  anchored (NULL,
 * or n flags) marks the points pulled back to where they started
 * (anchor_weight).  The graph must have k = n_neighbors − 1.
 */
int			tl_umap_optimize(const tl_map_graph *g, const tl_umap_params *p,
							 const unsigned char *fixed, const unsigned char *anchored,
							 float *y, tl_status *st);

#endif							/* TL_UMAP_H */
