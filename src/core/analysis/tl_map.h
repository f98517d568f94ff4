/*
 * tl_map.h — what the non-linear population maps (UMAP: tl_umap.h, t-SNE:
 * tl_tsne.h) share: the k-nearest-neighbour graph they start from, the
 * space it is found in, the initial layout and the placement of points
 * that have no starting position.
 *
 * Vectors are first reduced to their leading TL_MAP_PCA_DIMS principal
 * components (all of them when narrower): Euclidean distances there are
 * the distances of the vectors up to the discarded variance, the
 * neighbour search costs O(n² · 50) instead of O(n² · width), and the
 * first 2 or 3 components are the maps' initial layout.  Not whitened:
 * whitening would give the weakest directions the weight of the strongest.
 *
 * The graph is the one input the maps take from outside: tl_map_graph_build
 * builds it with analysis/tl_knn.h (exact up to exact_max points, NN-descent
 * above); a stored graph of the same form can take its place.
 */
#ifndef TL_MAP_H
#define TL_MAP_H

#include "base/tl_core.h"

#define TL_MAP_PCA_DIMS 50
/* refuse sizes whose index arithmetic or memory would not fit */
#define TL_MAP_MAX_POINTS 20000000

/*
 * For each of n points its k nearest other points, nearest first (ties by
 * index), and the Euclidean distances to them, computed in double from
 * the reduced vectors.
 */
typedef struct tl_map_graph
{
	int			n;
	int			k;
	int32_t    *idx;			/* n × k */
	float	   *dist;			/* n × k */
} tl_map_graph;

/* The graph of the n × d rows of x (1 <= k < n): exact up to exact_max rows. */
int			tl_map_graph_build(const float *x, int n, int d, int k, int exact_max,
							   tl_map_graph *g, tl_status *st);
void		tl_map_graph_free(tl_map_graph *g);

/*
 * A symmetric weighted graph in compressed rows: row i's neighbours are
 * col[start[i] .. start[i+1]), ascending, with weights w; every pair is
 * stored in both rows.
 */
typedef struct tl_sym_graph
{
	int			n;
	int64_t    *start;			/* n + 1 */
	int32_t    *col;
	float	   *w;
} tl_sym_graph;

typedef enum tl_sym_rule
{
	TL_SYM_SUM,					/* w_ij + w_ji (t-SNE's P + Pᵀ) */
	TL_SYM_FUZZY_UNION			/* w_ij + w_ji − w_ij·w_ji (UMAP) */
} tl_sym_rule;

/*
 * Symmetrises the directed weights w (n × k, one per edge of g; an absent
 * reverse edge counts as 0).  Memory: 16 bytes per directed edge while it
 * works, 12 per stored entry after.
 */
int			tl_map_symmetrize(const tl_map_graph *g, const float *w, tl_sym_rule rule,
							  tl_sym_graph *out, tl_status *st);
void		tl_sym_graph_free(tl_sym_graph *s);

/*
 * The rows of x (n × width) on their leading min(width, n, TL_MAP_PCA_DIMS)
 * principal components: *out (n × *d, tl_malloc'd, the caller frees it).
 * Rows are projected in the order given; the fit does not depend on it
 * beyond rounding, so callers that want bit-identical maps pass the rows
 * in a canonical order.
 */
int			tl_map_reduce(const float *x, int n, int width, float **out, int *d,
						  tl_status *st);

/*
 * The initial layout: the first dims columns of the reduced rows (zeros
 * where the space has fewer), column j shifted and scaled to [0, extent]
 * (extent > 0) or, with extent < 0, scaled so that column 0 has standard
 * deviation -extent (t-SNE's convention).
 */
void		tl_map_initial(const float *reduced, int n, int d, int dims, double extent,
						   float *y);

/*
 * Places the points without a position (placed[i] == 0) at the
 * distance-weighted mean of their placed neighbours, in passes until every
 * point reachable through the graph is placed; any left (a component with
 * no placed point) go to the mean of all placed points.  Marks them placed.
 * Needs at least one placed point.
 */
void		tl_map_place(const tl_map_graph *g, int dims, float *y, unsigned char *placed);

/* ---- the whole map -------------------------------------------------------- */

typedef enum tl_map_method
{
	TL_MAP_UMAP = 1,
	TL_MAP_TSNE = 2
} tl_map_method;

typedef struct tl_map_options
{
	tl_map_method method;
	int			dims;			/* 2 or 3 */
	int			n_neighbors;	/* UMAP: 2 .. n (the point itself included) */
	double		min_dist;		/* UMAP: 0 <= min_dist < 1 (spread 1) */
	double		perplexity;		/* t-SNE: 0 < perplexity < n */
	int			iterations;		/* UMAP epochs / t-SNE iterations; 0: the defaults */
	uint64_t	seed;			/* UMAP's negative samples */
	int			knn_exact_max;	/* the neighbour graph is exact up to this many rows (0: always) */
} tl_map_options;

/* Parses "umap" or "tsne"; -1 if neither. */
int			tl_map_parse_method(const char *s, tl_map_method *m);

/*
 * Maps the n rows of x (n × width) to y (n × dims).  start (NULL, or n
 * flags) marks rows whose y already holds a position to start from (a
 * warm start from a previous map); fixed (NULL or n flags, a subset of
 * start) marks rows that keep it (placing rows into an existing map).
 * With no start at all the map starts from the leading principal
 * components; otherwise rows without a start are first placed among
 * their neighbours (tl_map_place), and the optimisation is gentler:
 *   UMAP   a third of the epochs, the learning rate starting at 1/4, as
 *          for new points in the reference implementation;
 *   t-SNE  no early exaggeration, momentum 0.8, 750 iterations;
 * and, for a warm start, rows that had a position are pulled back towards
 * it (anchor_weight in tl_umap.h / tl_tsne.h) so that the map does not
 * drift from the previous one.
 * The result depends only on the rows, their order and the options: the
 * same input gives the same map, bit for bit.
 */
int			tl_map_embed(const float *x, int n, int width, const tl_map_options *o,
						 float *y, const unsigned char *start, const unsigned char *fixed,
						 tl_status *st);

#endif							/* TL_MAP_H */
