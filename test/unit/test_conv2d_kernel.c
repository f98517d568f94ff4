/*
 * test_conv2d_kernel.c — unit tests of the direct Conv2D kernel
 * (nn/tl_conv2d_kernel.c): against the definition, and the packing rule.
 *
 * Usage: test_conv2d_kernel FIXTURE_DIR.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/tl_core.h"
#include "test_util.h"
#include "nn/tl_conv2d_kernel.h"
#include "nn/tl_runner_int.h"
#include "format/tl_format.h"

/*
 * The direct Conv2D kernel (stride 1, dilation 1) against the definition,
 * summed in double here: 'valid' and 'same' windows, one and many input
 * channels, filter counts below, at and across its 16-filter blocks, row
 * widths that end in every tile size, with and without bias and ReLU.
 */
static void
test_conv2d_direct(void)
{
	static const int cases[][8] = {
		/* h, w, c, f, kh, kw, same, bias */
		{28, 28, 1, 16, 3, 3, 0, 1}, {13, 13, 16, 32, 3, 3, 0, 1}, {7, 9, 3, 20, 3, 3, 1, 1},
		{5, 8, 17, 33, 1, 1, 0, 0}, {6, 11, 2, 5, 2, 5, 1, 1}, {4, 4, 4, 1, 4, 4, 1, 0},
		{3, 3, 1, 2, 3, 3, 1, 1}, {10, 7, 5, 64, 3, 2, 0, 1}};
	tl_status	st = {0};
	tl_model   *m = load_fixture("tiny_dense.h5", &st);
	tl_runner  *r = m ? tl_runner_new(m, 1 << 24, &st) : NULL;
	tl_exec		ex = {r, 0};
	double		worst = 0;

	CHECK(r != NULL, "no runner for the scratch: %s", st.msg);
	if (r == NULL)
		return;
	for (size_t t = 0; t < sizeof(cases) / sizeof(cases[0]); t++)
	{
		const int  *cs = cases[t];
		int			h = cs[0], w = cs[1], c = cs[2], f = cs[3], kh = cs[4], kw = cs[5];
		int			same = cs[6], n = 3;
		int			oh = same ? h : h - kh + 1, ow = same ? w : w - kw + 1;
		int			ph = same ? (kh - 1) / 2 : 0, pw = same ? (kw - 1) / 2 : 0;
		tl_layer	l = {0};
		float	   *x = malloc(sizeof(float) * n * h * w * c),
				   *k = malloc(sizeof(float) * kh * kw * c * f),
				   *b = malloc(sizeof(float) * f),
				   *y = malloc(sizeof(float) * n * oh * ow * f);
		uint64_t	seed = 12345 + t;

		for (int i = 0; i < n * h * w * c; i++)
			x[i] = (float) ((seed = seed * 6364136223846793005ULL + 1442695040888963407ULL) >> 40) / (1 << 23) - 1.0f;
		for (int i = 0; i < kh * kw * c * f; i++)
			k[i] = (float) ((seed = seed * 6364136223846793005ULL + 1442695040888963407ULL) >> 40) / (1 << 23) - 1.0f;
		for (int i = 0; i < f; i++)
			b[i] = cs[7] ? (float) i / f - 0.5f : 0.0f;
		l.u.conv.rank = 2;
		l.u.conv.filters = f;
		l.u.conv.k[0] = kh;
		l.u.conv.k[1] = kw;
		l.u.conv.s[0] = l.u.conv.s[1] = l.u.conv.d[0] = l.u.conv.d[1] = 1;
		l.u.conv.use_bias = cs[7];
		l.w[0].data = k;
		l.w[1].data = b;
		CHECK(tl_conv2d_direct_applies(&l), "case %zu: the direct kernel applies", t);
		l.aux = tl_conv2d_pack(&l, c, &st);
		CHECK(l.aux != NULL, "case %zu: packing: %s", t, st.msg);
		for (int relu = 0; relu <= 1; relu++)
		{
			CHECK(tl_conv2d_direct(&l, &ex, x, y, n, h, w, c, oh, ow, ph, pw, relu, &st) == 0,
				  "case %zu: %s", t, st.msg);
			for (int s = 0; s < n; s++)
				for (int oy = 0; oy < oh; oy++)
					for (int ox = 0; ox < ow; ox++)
						for (int q = 0; q < f; q++)
						{
							double		want = cs[7] ? b[q] : 0.0,
										got = y[(((int64_t) s * oh + oy) * ow + ox) * f + q];

							for (int i = 0; i < kh; i++)
								for (int j = 0; j < kw; j++)
								{
									int			iy = oy - ph + i, ix = ox - pw + j;

									if (iy < 0 || iy >= h || ix < 0 || ix >= w)
										continue;
									for (int ch = 0; ch < c; ch++)
										want += (double) x[(((int64_t) s * h + iy) * w + ix) * c + ch] *
											k[((i * kw + j) * c + ch) * f + q];
								}
							if (relu && want < 0)
								want = 0;
							if (fabs(got - want) > worst)
								worst = fabs(got - want);
						}
		}
		free(x);
		free(k);
		free(b);
		free(y);
		tl_free(l.aux);
	}
	CHECK(worst < 1e-4, "direct Conv2D differs from the definition by %g", worst);
	{
		/* one filter of a large kernel: padded blocks would be 16x the kernel; im2col stays */
		tl_layer	big = {0};

		big.u.conv.rank = 2;
		big.u.conv.filters = 1;
		big.u.conv.k[0] = big.u.conv.k[1] = 64;
		big.u.conv.s[0] = big.u.conv.s[1] = big.u.conv.d[0] = big.u.conv.d[1] = 1;
		tl_status_clear(&st);
		CHECK(tl_conv2d_pack(&big, 64, &st) == NULL && st.code == TL_OK,
			  "a 64x64x64 kernel of one filter is not packed, and that is no error");
	}
	printf("direct Conv2D: %zu shapes, worst absolute difference %.2g\n",
		   sizeof(cases) / sizeof(cases[0]), worst);
	tl_runner_free(r);
	tl_model_free(m);
}

int
main(int argc, char **argv)
{
	if (argc > 1)
		fixtures = argv[1];
	test_conv2d_direct();
	return test_summary();
}
