/*
 * tl_conv.c — Conv1D and Conv2D (channels_last) as im2col + sgemm.
 *
 * Conv1D is run as a Conv2D of height 1.  Patches for a block of output
 * positions (across samples) are packed into the runner's scratch area and
 * multiplied by the kernel, which Keras stores as (kh, kw, in, filters):
 * row-major that is already the (kh*kw*in) x filters matrix sgemm wants.
 */
#include <string.h>
#include <cblas.h>

#include "tl_layer.h"

/* Scratch for packed patches, in floats (8 MiB). */
#define PATCH_SCRATCH (2 * 1024 * 1024)

static int
conv_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	int			rank = strcmp(l->class_name, "Conv1D") == 0 ? 1 : 2;
	int			groups;

	l->u.conv.rank = rank;
	if (tl_cfg_channels_last(cfg, l, st) < 0 ||
		tl_cfg_int(cfg, "filters", 0, &l->u.conv.filters, l, st) < 0 ||
		tl_cfg_ints(cfg, "kernel_size", rank, 1, l->u.conv.k, l, st) < 0 ||
		tl_cfg_ints(cfg, "strides", rank, 1, l->u.conv.s, l, st) < 0 ||
		tl_cfg_ints(cfg, "dilation_rate", rank, 1, l->u.conv.d, l, st) < 0 ||
		tl_cfg_padding(cfg, rank == 1, &l->u.conv.pad, l, st) < 0 ||
		tl_cfg_bool(cfg, "use_bias", 1, &l->u.conv.use_bias, l, st) < 0 ||
		tl_cfg_int(cfg, "groups", 1, &groups, l, st) < 0 ||
		tl_cfg_activation(cfg, "activation", "linear", cx, &l->act, l, st) < 0)
		return -1;
	if (groups != 1)
		return tl_fail(st, TL_ERR_UNSUPPORTED,
					   "layer \"%s\" (%s): groups=%d is not supported (only 1)",
					   l->name, l->class_name, groups);
	if (l->u.conv.filters < 1)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (%s): filters must be >= 1",
					   l->name, l->class_name);
	if (rank == 1)
	{
		/* store 1-D parameters as the width of a height-1 2-D conv */
		l->u.conv.k[1] = l->u.conv.k[0];
		l->u.conv.s[1] = l->u.conv.s[0];
		l->u.conv.d[1] = l->u.conv.d[0];
		l->u.conv.k[0] = l->u.conv.s[0] = l->u.conv.d[0] = 1;
	}
	return 0;
}

/* Views a per-sample shape as (h, w, c). */
static int
hwc(const tl_layer *l, const tl_shape *s, int *h, int *w, int *c, tl_status *st)
{
	int			rank = l->u.conv.rank;

	if (s->nd != rank + 1)
		return tl_fail(st, TL_ERR_MODEL,
					   "layer \"%s\" (%s): expected an input of rank %d, got %d",
					   l->name, l->class_name, rank + 2, s->nd + 1);
	*h = rank == 1 ? 1 : s->d[0];
	*w = s->d[rank - 1];
	*c = s->d[rank];
	return 0;
}

static int
conv_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
		   tl_status *st)
{
	int			h = 0,
				w = 0,
				c = 0,
				oh,
				ow;

	(void) n_in;
	if (hwc(l, &in[0], &h, &w, &c, st) < 0)
		return -1;
	if (c < 1)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (%s): the channel dimension must be known",
					   l->name, l->class_name);
	oh = h < 0 ? -1 : tl_window_out(h, l->u.conv.k[0], l->u.conv.s[0], l->u.conv.d[0], l->u.conv.pad);
	ow = w < 0 ? -1 : tl_window_out(w, l->u.conv.k[1], l->u.conv.s[1], l->u.conv.d[1], l->u.conv.pad);
	if (oh == 0 || ow == 0)
		return tl_fail(st, TL_ERR_INPUT,
					   "layer \"%s\" (%s): the input is smaller than the kernel",
					   l->name, l->class_name);
	out->nd = l->u.conv.rank + 1;
	if (l->u.conv.rank == 1)
		out->d[0] = ow;
	else
	{
		out->d[0] = oh;
		out->d[1] = ow;
	}
	out->d[out->nd - 1] = l->u.conv.filters;
	return 0;
}

static int
conv_n_weights(const tl_layer *l)
{
	return l->u.conv.use_bias ? 2 : 1;
}

static int
conv_bind(tl_layer *l, const tl_shape *in, int n_in, tl_status *st)
{
	int			h = 0,
				w = 0,
				c = 0,
				dims[4],
				nd = 0;

	(void) n_in;
	if (hwc(l, &in[0], &h, &w, &c, st) < 0)
		return -1;
	if (l->u.conv.rank == 2)
		dims[nd++] = l->u.conv.k[0];
	dims[nd++] = l->u.conv.k[1];
	dims[nd++] = c;
	dims[nd++] = l->u.conv.filters;
	if (tl_expect_weight(l, 0, "kernel", nd, dims, st) < 0)
		return -1;
	if (l->u.conv.use_bias &&
		tl_expect_weight(l, 1, "bias", 1, &l->u.conv.filters, st) < 0)
		return -1;
	return 0;
}

static int
conv_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
			 const tl_shape *in_shape, float *out, const tl_shape *out_shape,
			 int n, tl_status *st)
{
	int			h = 0,
				w = 0,
				c = 0,
				f = l->u.conv.filters;
	int			kh = l->u.conv.k[0],
				kw = l->u.conv.k[1];
	int			sh = l->u.conv.s[0],
				sw = l->u.conv.s[1];
	int			dh = l->u.conv.d[0],
				dw = l->u.conv.d[1];
	int			oh,
				ow,
				ph,
				pw;
	int64_t		kc,
				positions,
				total,
				chunk;
	float	   *patches;

	(void) out_shape;
	if (hwc(l, &in_shape[0], &h, &w, &c, st) < 0)
		return -1;
	oh = tl_window_out(h, kh, sh, dh, l->u.conv.pad);
	ow = tl_window_out(w, kw, sw, dw, l->u.conv.pad);
	ph = tl_window_pad_before(h, kh, sh, dh, l->u.conv.pad);
	pw = tl_window_pad_before(w, kw, sw, dw, l->u.conv.pad);
	kc = (int64_t) kh * kw * c;
	positions = (int64_t) oh * ow;
	total = positions * n;
	chunk = PATCH_SCRATCH / kc;
	if (chunk < 1)
		chunk = 1;
	if (chunk > total)
		chunk = total;
	patches = tl_scratch(ex, (size_t) (chunk * kc), st);
	if (patches == NULL)
		return -1;

	for (int64_t g0 = 0; g0 < total; g0 += chunk)
	{
		int64_t		rows = total - g0 < chunk ? total - g0 : chunk;
		float	   *o = out + g0 * f;

		for (int64_t r = 0; r < rows; r++)
		{
			int64_t		g = g0 + r;
			int64_t		b = g / positions,
						p = g % positions;
			int			y = (int) (p / ow),
						x = (int) (p % ow);
			const float *src = in[0] + b * (int64_t) h * w * c;
			float	   *dst = patches + r * kc;

			for (int i = 0; i < kh; i++)
			{
				int			iy = y * sh - ph + i * dh;

				for (int j = 0; j < kw; j++)
				{
					int			ix = x * sw - pw + j * dw;

					if (iy < 0 || iy >= h || ix < 0 || ix >= w)
						memset(dst, 0, sizeof(float) * c);
					else
						memcpy(dst, src + ((int64_t) iy * w + ix) * c, sizeof(float) * c);
					dst += c;
				}
			}
		}
		if (l->u.conv.use_bias)
			for (int64_t r = 0; r < rows; r++)
				memcpy(o + r * f, l->w[1].data, sizeof(float) * f);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) rows, f, (int) kc,
					1.0f, patches, (int) kc, l->w[0].data, f,
					l->u.conv.use_bias ? 1.0f : 0.0f, o, f);
		tl_act_apply(&l->act, o, rows, f, 1);
		tl_check_interrupt();
	}
	return 0;
}

const tl_layer_ops tl_ops_conv = {"conv", conv_configure, conv_shape, conv_n_weights, conv_bind, conv_forward, 0};
