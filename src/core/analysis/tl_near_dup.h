/*
 * tl_near_dup.h — near-duplicates in input space (doc/data_issues.md).
 *
 * Two representations of a sample's input, two searches:
 *
 * - sets (token ids: word 3-grams, padding 0 left out; a multi-hot vector:
 *   the indices of its ones): MinHash signatures, LSH banding for the
 *   candidates, exact Jaccard of the sets for the verdict;
 * - dense inputs (images, signals, feature vectors): a small signature
 *   (the input pooled to at most 7 × 7 cells per channel around its centre
 *   of mass, L2-normalised: a shift of a pixel barely moves it) whose k
 *   nearest neighbours are the candidates, verified by the relative
 *   distance of the inputs at the best of the shifts of up to one pixel.
 *
 * A pair is (a, b, distance): 1 − Jaccard for sets, the verified relative
 * distance for dense inputs.  Items 0 … n_a − 1 are one run; with n_a < n
 * the items from n_a on are another run and only pairs across are kept
 * (leakage), a < n_a <= b.
 */
#ifndef TL_NEAR_DUP_H
#define TL_NEAR_DUP_H

#include "base/tl_core.h"

typedef struct tl_ndup_pair
{
	int32_t		a,
				b;
	float		distance;
} tl_ndup_pair;

/* Pairs found, in a tl_malloc'd array. */
typedef struct tl_ndup_pairs
{
	tl_ndup_pair *p;
	int64_t		n,
				cap;
} tl_ndup_pairs;

void		tl_ndup_pairs_free(tl_ndup_pairs *ps);
/* Appends (a, b, distance); -1 (TL_ERR_NOMEM) when out of memory. */
int			tl_ndup_pairs_push(tl_ndup_pairs *ps, int32_t a, int32_t b, float distance,
							   tl_status *st);

/* ---- sets ---- */

/* Word n-grams of token ids as shingles. */
#define TL_NDUP_GRAM 3

/*
 * The shingles of a token sequence (ids as floats, 0 = padding, left out)
 * into out (room for len), sorted and unique; returns how many.  A sequence
 * shorter than TL_NDUP_GRAM is one shingle.
 */
int			tl_ndup_token_shingles(const float *ids, int len, uint32_t *out);

/* The indices of the non-zero values of x into out (room for len); returns how many. */
int			tl_ndup_nonzero(const float *x, int len, uint32_t *out);

/* Whether x is a multi-hot vector: every value 0 or 1, at most a quarter of them 1. */
int			tl_ndup_is_multi_hot(const float *x, int64_t len);

/* n sets: item i is elem[offset[i] … offset[i + 1]), sorted and unique. */
typedef struct tl_ndup_sets
{
	int			n;
	const int64_t *offset;
	const uint32_t *elem;
} tl_ndup_sets;

/* Exact Jaccard similarity of items i and j (two empty sets: 0). */
double		tl_ndup_jaccard(const tl_ndup_sets *s, int i, int j);

/*
 * Pairs of items whose Jaccard similarity is at least min_jaccard, each
 * once (a < b), appended to out; MinHash with LSH bands chosen so that a
 * pair at min_jaccard is a candidate with probability >= 0.99.
 */
int			tl_ndup_set_pairs(const tl_ndup_sets *s, int n_a, double min_jaccard,
							  tl_ndup_pairs *out, tl_status *st);

/* ---- dense inputs ---- */

/* How a dense input is laid out: rows × columns × channels. */
typedef struct tl_ndup_geometry
{
	int			h,
				w,
				c;
	int			channels_first;	/* c × h × w (ONNX) instead of h × w × c */
	int			spatial;		/* pixels or positions: centred, shifted */
} tl_ndup_geometry;

/*
 * The geometry of a per-sample input shape: (h, w, c) or (c, h, w) when the
 * first dimension is at most 4 and the last above 4 — an image; (length, c)
 * — a signal; anything else is a flat vector (no shifts).
 */
void		tl_ndup_geometry_of(const tl_shape *shape, tl_ndup_geometry *g);

/* Values per signature of geometry g. */
int			tl_ndup_signature_size(const tl_ndup_geometry *g);

/* The signature of one input (tl_ndup_signature_size floats). */
void		tl_ndup_signature(const float *x, const tl_ndup_geometry *g, float *sig);

/*
 * The relative distance of two inputs, |a − b| / sqrt((|a|² + |b|²) / 2)
 * over their overlap, at the best shift of up to one pixel (one position)
 * along each spatial axis; 0 for two zero inputs.
 */
double		tl_ndup_shift_distance(const float *a, const float *b, const tl_ndup_geometry *g);

/* Default: a pair within this share of the median nearest verified distance. */
#define TL_NDUP_DENSE_SHARE 0.35
/* Candidates per sample from the signatures. */
#define TL_NDUP_DENSE_K 10

/*
 * Pairs of the n dense inputs x (n × per_sample) within the threshold:
 * threshold <= 0 takes TL_NDUP_DENSE_SHARE × the median over the items of
 * the reference (the other run when n_a < n, else this one) of their
 * nearest verified distance within it; *used gets the threshold applied.
 * exact_max: signatures' k-NN exact up to this many items, NN-descent above.
 */
int			tl_ndup_dense_pairs(const float *x, int n, int n_a, const tl_ndup_geometry *g,
								double threshold, int exact_max, tl_ndup_pairs *out,
								double *used, tl_status *st);

#endif							/* TL_NEAR_DUP_H */
