/*
 * tl_procrustes.h — orthogonal Procrustes alignment of two placements of
 * the same samples (tl_analyze: a run onto the previous epoch's).
 */
#ifndef TL_PROCRUSTES_H
#define TL_PROCRUSTES_H

#include "base/tl_core.h"

/*
 * The orthogonal matrix R (d × d, row-major, reflections allowed) that best
 * maps centred points A onto centred points B, given M = Aᵀ B (d × d,
 * row-major): R = U Vᵀ from the SVD M = U Σ Vᵀ (Schönemann 1966).
 */
int			tl_procrustes(const double *m, int d, double *r, tl_status *st);

/* Fewer shared points than this leave a run as it was placed. */
#define TL_ALIGN_MIN_POINTS 4

/* p -> (p - mean_a) R + mean_b, in three dimensions (z = 0 in two). */
typedef struct tl_alignment
{
	double		mean_a[3],
				mean_b[3];
	double		r[9];			/* row-major */
} tl_alignment;

/*
 * The alignment laying the n points a (n × 3, row-major) onto the n points
 * b (the same samples, same order) as closely as a rotation or reflection
 * and a shift can.
 */
int			tl_procrustes_fit(const double *a, const double *b, int n, tl_alignment *al,
							  tl_status *st);
/* out = the aligned point p (3 values). */
void		tl_alignment_apply(const tl_alignment *al, const double *p, double *out);

#endif							/* TL_PROCRUSTES_H */
