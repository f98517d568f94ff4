/*
 * tl_conv2d_kernel.c — Conv2D with stride 1 and dilation 1 as a direct
 * convolution, channels-last, without im2col.
 *
 * im2col + sgemm spends most of its time outside the multiply for the
 * small images and few channels of image CNNs: the patch matrix is 9 times
 * the input, written and read back, and OpenBLAS packs it again; with one
 * input channel the GEMM has K = 9.  Here each sample's output is computed
 * in tiles of TILE_R neighbouring pixels of a row by F_BLOCK filters, held
 * in registers: for every tap and input channel one broadcast of each
 * pixel's value and one load of the F_BLOCK weights (packed per filter
 * block, contiguous and zero-padded to whole blocks) feed TILE_R * F_BLOCK
 * multiply-adds (the packing is done once, when the model's weights are
 * bound).  One sample's input, output and a filter block's weights
 * fit the L1/L2 caches.  Bias and a plain ReLU are applied as the tile is
 * stored.  'same' padding copies each sample into a zero-bordered buffer
 * first.  The sums are the same as im2col's, in another order.
 */
#include <string.h>

#include "nn/tl_conv2d_kernel.h"
#include "nn/tl_simd.h"

typedef int v8i __attribute__((vector_size(32)));

#define VF 2					/* vectors per filter block */
#define F_BLOCK (8 * VF)
#define TILE_R 6				/* pixels per tile: 12 accumulators */

int
tl_conv2d_direct_applies(const tl_layer *l)
{
	return l->u.conv.rank == 2 && l->u.conv.s[0] == 1 && l->u.conv.s[1] == 1 &&
		l->u.conv.d[0] == 1 && l->u.conv.d[1] == 1;
}

/*
 * R pixels (one output row, from xp on, pixel stride c) x one filter block:
 * sums over the kh x kw taps and c channels, plus the bias; ReLU if asked;
 * stores the first `valid` filters of each pixel at o (pixel stride f).
 */
#define DEFINE_TILE(NAME, R) \
static inline __attribute__((always_inline)) void \
NAME(const float *xp, int64_t row, const float *wb, const float *bias, \
	 int kh, int kw, int c, float *o, int f, int valid, int relu) \
{ \
	v8			acc[R][VF]; \
	\
	for (int r = 0; r < R; r++) \
		for (int v = 0; v < VF; v++) \
			acc[r][v] = *(const v8u *) (bias + 8 * v); \
	for (int i = 0; i < kh; i++) \
		for (int j = 0; j < kw; j++) \
		{ \
			const float *xt = xp + i * row + (int64_t) j * c; \
			const float *wt = wb + (int64_t) (i * kw + j) * c * F_BLOCK; \
			\
			for (int ch = 0; ch < c; ch++, wt += F_BLOCK) \
			{ \
				v8			w[VF]; \
				\
				for (int v = 0; v < VF; v++) \
					w[v] = *(const v8u *) (wt + 8 * v); \
				for (int r = 0; r < R; r++) \
				{ \
					float		s = xt[(int64_t) r * c + ch]; \
					\
					for (int v = 0; v < VF; v++) \
						acc[r][v] += s * w[v]; \
				} \
			} \
		} \
	for (int r = 0; r < R; r++) \
	{ \
		float	   *or = o + (int64_t) r * f; \
		\
		if (relu) \
			for (int v = 0; v < VF; v++) \
				acc[r][v] = (v8) ((v8i) acc[r][v] & (acc[r][v] > (v8) {0})); \
		if (valid == F_BLOCK) \
			for (int v = 0; v < VF; v++) \
				*(v8u *) (or + 8 * v) = acc[r][v]; \
		else \
			memcpy(or, acc[r], sizeof(float) * valid); \
	} \
}
DEFINE_TILE(tile6, TILE_R)
DEFINE_TILE(tile2, 2)
DEFINE_TILE(tile1, 1)

/* One sample: h x w x c (already padded) -> oh x ow x f. */
TL_CLONES
static void
conv_sample(const float *x, int w, int c, const float *wpack, const float *bpack,
			int kh, int kw, int f, int oh, int ow, float *out, int relu)
{
	int64_t		row = (int64_t) w * c;
	int64_t		block = (int64_t) kh * kw * c * F_BLOCK;

	for (int f0 = 0; f0 < f; f0 += F_BLOCK)
	{
		const float *wb = wpack + (f0 / F_BLOCK) * block;
		const float *bias = bpack + f0;
		int			valid = f - f0 < F_BLOCK ? f - f0 : F_BLOCK;

		for (int y = 0; y < oh; y++)
		{
			const float *xr = x + y * row;
			float	   *orow = out + (int64_t) y * ow * f + f0;
			int			x0 = 0;

			for (; x0 + TILE_R <= ow; x0 += TILE_R)
				tile6(xr + (int64_t) x0 * c, row, wb, bias, kh, kw, c, orow + (int64_t) x0 * f, f, valid, relu);
			for (; x0 + 2 <= ow; x0 += 2)
				tile2(xr + (int64_t) x0 * c, row, wb, bias, kh, kw, c, orow + (int64_t) x0 * f, f, valid, relu);
			for (; x0 < ow; x0++)
				tile1(xr + (int64_t) x0 * c, row, wb, bias, kh, kw, c, orow + (int64_t) x0 * f, f, valid, relu);
		}
	}
}

float *
tl_conv2d_pack(const tl_layer *l, int c, tl_status *st)
{
	int			kh = l->u.conv.k[0],
				kw = l->u.conv.k[1],
				f = l->u.conv.filters;
	int			blocks = (f + F_BLOCK - 1) / F_BLOCK;
	int64_t		kc = (int64_t) kh * kw * c;
	int64_t		floats = (int64_t) blocks * (kc + 1) * F_BLOCK;
	float	   *pack;

	/*
	 * Few filters pad each block with zeros (one filter: 16 times the
	 * kernel): beyond twice the kernel and 1 MiB, the layer keeps im2col.
	 */
	if (floats > 2 * (kc + 1) * f && floats > (1 << 18))
		return NULL;
	pack = tl_calloc((size_t) floats, sizeof(float));
	if (pack == NULL)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory (packed kernel of layer \"%s\")", l->name);
		return NULL;
	}
	/* kernel (kh, kw, c, f) -> [block][kh][kw][c][F_BLOCK], then the bias */
	for (int64_t k = 0; k < kc; k++)
		for (int j = 0; j < f; j++)
			pack[((int64_t) (j / F_BLOCK) * kc + k) * F_BLOCK + j % F_BLOCK] = l->w[0].data[k * f + j];
	if (l->u.conv.use_bias)
		memcpy(pack + (int64_t) blocks * kc * F_BLOCK, l->w[1].data, sizeof(float) * f);
	return pack;
}

int
tl_conv2d_direct(const tl_layer *l, tl_exec *ex, const float *x, float *out, int n,
				 int h, int w, int c, int oh, int ow, int ph, int pw, int relu,
				 tl_status *st)
{
	int			kh = l->u.conv.k[0],
				kw = l->u.conv.k[1],
				f = l->u.conv.filters;
	int			blocks = (f + F_BLOCK - 1) / F_BLOCK;
	int			hp = oh + kh - 1,
				wp = ow + kw - 1;	/* the padded input the windows read */
	int			padded = hp != h || wp != w;
	const float *wpack = l->aux,
			   *bpack = wpack + (int64_t) blocks * kh * kw * c * F_BLOCK;
	float	   *xpad = NULL;

	if (padded)
	{
		xpad = tl_scratch(ex, (size_t) hp * wp * c, st);
		if (xpad == NULL)
			return -1;
		memset(xpad, 0, sizeof(float) * hp * wp * c);
	}
	for (int b = 0; b < n; b++)
	{
		const float *xs = x + (int64_t) b * h * w * c;

		if (padded)
		{
			for (int y = 0; y < h; y++)
				memcpy(xpad + ((int64_t) (y + ph) * wp + pw) * c, xs + (int64_t) y * w * c,
					   sizeof(float) * w * c);
			xs = xpad;
		}
		conv_sample(xs, padded ? wp : w, c, wpack, bpack, kh, kw, f, oh, ow,
					out + (int64_t) b * oh * ow * f, relu);
		if ((b & 63) == 63)
			tl_check_interrupt();
	}
	return 0;
}
