/*
 * tl_quantile.h — a quantile of a set of values, interpolated linearly
 * between order statistics: PostgreSQL's percentile_cont and numpy's
 * default, so that a threshold computed here equals the one SQL gives.
 */
#ifndef TL_QUANTILE_H
#define TL_QUANTILE_H

#include "base/tl_core.h"

/*
 * *out = the q-quantile (0 <= q <= 1) of v[0..n-1]: the value at position
 * q·(n−1) of the sorted values, interpolated.  Sorts a copy; NaN values
 * are an error, as is n < 1.
 */
int			tl_quantile(const float *v, int n, double q, double *out, tl_status *st);

#endif
