/*
 * tl_quantile.c — a linearly interpolated quantile (tl_quantile.h).
 */
#include <math.h>
#include <stdlib.h>

#include "analysis/tl_quantile.h"

static int
by_value(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

int
tl_quantile(const float *v, int n, double q, double *out, tl_status *st)
{
	double	   *s;
	double		pos;
	int			lo;

	if (n < 1)
		return tl_fail(st, TL_ERR_ARG, "a quantile needs at least one value");
	if (!(q >= 0 && q <= 1))
		return tl_fail(st, TL_ERR_ARG, "the quantile must be between 0 and 1, not %g", q);
	s = tl_malloc(sizeof(double) * (size_t) n);
	if (s == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory for a quantile of %d values", n);
	for (int i = 0; i < n; i++)
	{
		if (isnan(v[i]))
		{
			tl_free(s);
			return tl_fail(st, TL_ERR_ARG, "value %d of a quantile is NaN", i);
		}
		s[i] = v[i];
	}
	qsort(s, (size_t) n, sizeof(double), by_value);
	pos = q * (n - 1);
	lo = (int) floor(pos);
	*out = lo + 1 < n ? s[lo] + (pos - lo) * (s[lo + 1] - s[lo]) : s[lo];
	tl_free(s);
	tl_check_interrupt();
	return 0;
}
