/*
 * tl_conv_transpose.c — Conv1DTranspose and Conv2DTranspose (channels
 * last): the gradient of a convolution with respect to its input, as
 * TensorFlow computes it.  Input position p adds x[p] K[tap]^T to output
 * position p*s + tap*d - pad; the kernel is (kh, kw, filters, channels).
 * Keras sizes the output as L*s + max(k_eff - s, 0) (valid) or L*s (same),
 * where same pads max(k_eff - s, 0) / 2 before.  Backward: the same taps
 * read the other way.  1-D layers run as height 1.
 */
#include <string.h>

#include "nn/tl_layer.h"

static int
ct_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	int			rank = strstr(l->class_name, "1D") ? 1 : 2;
	json_t	   *op = json_object_get(cfg, "output_padding");

	l->u.dw.rank = rank;
	l->u.dw.transpose = 1;
	if (tl_cfg_window(cfg, rank, 0, l->u.dw.k, l->u.dw.s, l->u.dw.d, &l->u.dw.pad, l, st) < 0 ||
		tl_cfg_int(cfg, "filters", 0, &l->u.dw.filters, l, st) < 0 ||
		tl_cfg_bool(cfg, "use_bias", 1, &l->u.dw.use_bias, l, st) < 0 ||
		tl_cfg_activation(cfg, "activation", "linear", cx, &l->act, l, st) < 0)
		return -1;
	if (op != NULL && !json_is_null(op))
		return tl_fail(st, TL_ERR_UNSUPPORTED, "layer \"%s\" (%s): output_padding is not supported",
					   l->name, l->class_name);
	if (l->u.dw.filters < 1 || l->u.dw.filters > (1 << 20))
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (%s): filters must be >= 1",
					   l->name, l->class_name);
	return 0;
}

/* Output length along axis a for an input of len, and the padding before it. */
static int64_t
ct_len(const tl_layer *l, int a, int64_t len, int *before)
{
	int			keff = (l->u.dw.k[a] - 1) * l->u.dw.d[a] + 1,
				s = l->u.dw.s[a],
				extra = keff > s ? keff - s : 0;

	*before = l->u.dw.pad == TL_PAD_VALID ? 0 : extra / 2;
	return l->u.dw.pad == TL_PAD_VALID ? len * s + extra : len * s;
}

static int
ct_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
		 tl_status *st)
{
	int			h,
				w,
				c,
				p;
	int64_t		oh,
				ow;

	(void) n_in;
	if (tl_window_dims(l, l->u.dw.rank, &in[0], &h, &w, &c, st) < 0)
		return -1;
	if (h < 1 || w < 1 || c < 1)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (%s): the input's dimensions must be known",
					   l->name, l->class_name);
	oh = ct_len(l, 0, h, &p);
	ow = ct_len(l, 1, w, &p);
	if (oh > (1 << 30) || ow > (1 << 30))
		return tl_fail(st, TL_ERR_LIMIT, "layer \"%s\" (%s): the output would be too large",
					   l->name, l->class_name);
	*out = in[0];
	if (l->u.dw.rank == 2)
		out->d[0] = (int) oh;
	out->d[l->u.dw.rank - 1] = (int) ow;
	out->d[l->u.dw.rank] = l->u.dw.filters;
	return 0;
}

static int
ct_n_weights(const tl_layer *l)
{
	return 1 + l->u.dw.use_bias;
}

static int
ct_bind(tl_layer *l, const tl_shape *in, int n_in, tl_status *st)
{
	int			h,
				w,
				c,
				dims[4],
				nd = 0;

	(void) n_in;
	if (tl_window_dims(l, l->u.dw.rank, &in[0], &h, &w, &c, st) < 0)
		return -1;
	if (l->u.dw.rank == 2)
		dims[nd++] = l->u.dw.k[0];
	dims[nd++] = l->u.dw.k[1];
	dims[nd++] = l->u.dw.filters;
	dims[nd++] = c;
	if (tl_expect_weight(l, 0, "kernel", nd, dims, st) < 0 ||
		(l->u.dw.use_bias && tl_expect_weight(l, 1, "bias", 1, &l->u.dw.filters, st) < 0))
		return -1;
	return 0;
}

/*
 * The taps of one sample: dir 0 adds x's contributions to y (oh, ow, F);
 * dir 1 adds dy's share to dx (h, w, C).
 */
static void
ct_taps(const tl_layer *l, const float *x, float *dx, int h, int w, int C,
		float *y, const float *dy, int oh, int ow, int dir)
{
	int			F = l->u.dw.filters,
				p0,
				p1;
	const float *K = l->w[0].data;

	ct_len(l, 0, h, &p0);
	ct_len(l, 1, w, &p1);
	for (int i = 0; i < h; i++)
		for (int j = 0; j < w; j++)
			for (int ki = 0; ki < l->u.dw.k[0]; ki++)
			{
				int			r = i * l->u.dw.s[0] + ki * l->u.dw.d[0] - p0;

				if (r < 0 || r >= oh)
					continue;
				for (int kj = 0; kj < l->u.dw.k[1]; kj++)
				{
					int			q = j * l->u.dw.s[1] + kj * l->u.dw.d[1] - p1;
					const float *kk = K + ((int64_t) ki * l->u.dw.k[1] + kj) * F * C;
					int64_t		xo = ((int64_t) i * w + j) * C,
								yo = ((int64_t) r * ow + q) * F;

					if (q < 0 || q >= ow)
						continue;
					for (int f = 0; f < F; f++)
					{
						const float *kf = kk + (int64_t) f * C;

						if (dir == 0)
						{
							float		acc = 0;

							for (int c = 0; c < C; c++)
								acc += x[xo + c] * kf[c];
							y[yo + f] += acc;
						}
						else
							for (int c = 0; c < C; c++)
								dx[xo + c] += dy[yo + f] * kf[c];
					}
				}
			}
}

static void
ct_dims(const tl_layer *l, const tl_shape *in, const tl_shape *out, int *h, int *w,
		int *c, int *oh, int *ow)
{
	*h = l->u.dw.rank == 2 ? in->d[0] : 1;
	*w = in->d[l->u.dw.rank - 1];
	*c = in->d[l->u.dw.rank];
	*oh = l->u.dw.rank == 2 ? out->d[0] : 1;
	*ow = out->d[l->u.dw.rank - 1];
}

static int
ct_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
		   const tl_shape *in_shape, float *out, const tl_shape *out_shape,
		   int n, tl_status *st)
{
	int			h,
				w,
				C,
				oh,
				ow,
				F = l->u.dw.filters;
	int64_t		rows;

	(void) st;
	ct_dims(l, &in_shape[0], out_shape, &h, &w, &C, &oh, &ow);
	rows = (int64_t) n * oh * ow;
	memset(out, 0, sizeof(float) * rows * F);
	for (int b = 0; b < n; b++)
	{
		ct_taps(l, in[0] + (int64_t) b * h * w * C, NULL, h, w, C,
				out + (int64_t) b * oh * ow * F, NULL, oh, ow, 0);
		tl_check_interrupt();
	}
	tl_exec_bias_act(ex, l, l->u.dw.use_bias ? l->w[1].data : NULL, out, rows, F);
	return 0;
}

static int
ct_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
			const tl_shape *in_shape, const float *out,
			const tl_shape *out_shape, const float *dout,
			float *const *din, int n, tl_status *st)
{
	int			h,
				w,
				C,
				oh,
				ow,
				F = l->u.dw.filters;
	const float *dz;

	(void) in;
	ct_dims(l, &in_shape[0], out_shape, &h, &w, &C, &oh, &ow);
	dz = tl_exec_act_grad(ex, l, out, dout, (int64_t) n * oh * ow, F, st);
	if (dz == NULL)
		return -1;
	for (int b = 0; b < n; b++)
		ct_taps(l, NULL, din[0] + (int64_t) b * h * w * C, h, w, C,
				NULL, dz + (int64_t) b * oh * ow * F, oh, ow, 1);
	return 0;
}

const tl_layer_ops tl_ops_conv_transpose = {
	.family = "conv_transpose",
	.configure = ct_configure,
	.shape = ct_shape,
	.n_weights = ct_n_weights,
	.bind = ct_bind,
	.forward = ct_forward,
	.backward = ct_backward,
	.flags = TL_LAYER_LEARNED,
};
