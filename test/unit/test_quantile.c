/*
 * test_quantile.c — tl_quantile (analysis/tl_quantile.h) against values
 * derived by hand with PostgreSQL's percentile_cont rule (position
 * q·(n−1) of the sorted values, interpolated), and its errors.
 */
#include <math.h>

#include "analysis/tl_quantile.h"
#include "test_util.h"

int
main(void)
{
	/* sorted: 1 2 3 4; q = 0.25 -> position 0.75 -> 1.75; 0.75 -> 2.25 -> 3.25 */
	const float four[] = {4, 1, 3, 2};
	const float one[] = {7};
	const float with_nan[] = {1, NAN, 2};
	double		out = 0;
	tl_status	st = {0};

	CHECK(tl_quantile(four, 4, 0.25, &out, &st) == 0, "%s", st.msg);
	CHECK_NEAR(out, 1.75, 1e-12);
	CHECK(tl_quantile(four, 4, 0.75, &out, &st) == 0, "%s", st.msg);
	CHECK_NEAR(out, 3.25, 1e-12);
	CHECK(tl_quantile(four, 4, 0.5, &out, &st) == 0, "%s", st.msg);
	CHECK_NEAR(out, 2.5, 1e-12);
	CHECK(tl_quantile(four, 4, 0, &out, &st) == 0 && out == 1, "q = 0 is the least value, not %g", out);
	CHECK(tl_quantile(four, 4, 1, &out, &st) == 0 && out == 4, "q = 1 is the largest value, not %g", out);
	CHECK(tl_quantile(one, 1, 0.95, &out, &st) == 0 && out == 7, "one value is every quantile, not %g", out);
	CHECK(tl_quantile(four, 0, 0.5, &out, &st) < 0 && st.code == TL_ERR_ARG, "no values: an error");
	CHECK(tl_quantile(four, 4, 1.5, &out, &st) < 0 && st.code == TL_ERR_ARG, "q above 1: an error");
	CHECK(tl_quantile(four, 4, NAN, &out, &st) < 0 && st.code == TL_ERR_ARG, "q NaN: an error");
	CHECK(tl_quantile(with_nan, 3, 0.5, &out, &st) < 0 && st.code == TL_ERR_ARG, "a NaN value: an error");
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
