/*
 * tl_depthwise.c — DepthwiseConv2D and SeparableConv1D/2D (channels last).
 *
 * A depthwise convolution filters each input channel c on its own with
 * depth_multiplier kernels: output channel c*M + m, kernel (kh, kw, C, M).
 * A separable convolution is a depthwise one (no bias) followed by a 1x1
 * convolution (pointwise kernel (1, [1,] C*M, filters)), then bias and
 * activation.  1-D layers run as height 1.  Direct loops: these layers
 * have few channels per kernel.  Backward: the pointwise product by sgemm,
 * then the depthwise taps scattered back onto the input.
 */
#include <string.h>
#include <cblas.h>

#include "nn/tl_layer.h"

static int
dw_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	int			rank = strstr(l->class_name, "1D") ? 1 : 2;

	l->u.dw.rank = rank;
	l->u.dw.separable = strncmp(l->class_name, "Separable", 9) == 0;
	if (tl_cfg_window(cfg, rank, 0, l->u.dw.k, l->u.dw.s, l->u.dw.d, &l->u.dw.pad, l, st) < 0 ||
		tl_cfg_int(cfg, "depth_multiplier", 1, &l->u.dw.mult, l, st) < 0 ||
		tl_cfg_int(cfg, "filters", 0, &l->u.dw.filters, l, st) < 0 ||
		tl_cfg_bool(cfg, "use_bias", 1, &l->u.dw.use_bias, l, st) < 0 ||
		tl_cfg_activation(cfg, "activation", "linear", cx, &l->act, l, st) < 0)
		return -1;
	if (l->u.dw.mult < 1 || l->u.dw.mult > 65536 ||
		(l->u.dw.separable && (l->u.dw.filters < 1 || l->u.dw.filters > (1 << 20))))
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (%s): depth_multiplier and filters must be >= 1",
					   l->name, l->class_name);
	return 0;
}

/* Output height and width for an input of h x w (0 when too small). */
static void
dw_out(const tl_layer *l, int h, int w, int *oh, int *ow)
{
	*oh = tl_window_out(h, l->u.dw.k[0], l->u.dw.s[0], l->u.dw.d[0], l->u.dw.pad);
	*ow = tl_window_out(w, l->u.dw.k[1], l->u.dw.s[1], l->u.dw.d[1], l->u.dw.pad);
}

static int
dw_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
		 tl_status *st)
{
	int			h,
				w,
				c,
				oh,
				ow;

	(void) n_in;
	if (tl_window_dims(l, l->u.dw.rank, &in[0], &h, &w, &c, st) < 0)
		return -1;
	if (h < 1 || w < 1 || c < 1)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (%s): the input's dimensions must be known",
					   l->name, l->class_name);
	dw_out(l, h, w, &oh, &ow);
	if (oh < 1 || ow < 1)
		return tl_fail(st, TL_ERR_INPUT, "layer \"%s\" (%s): the input is smaller than the kernel",
					   l->name, l->class_name);
	*out = in[0];
	if (l->u.dw.rank == 2)
		out->d[0] = oh;
	out->d[l->u.dw.rank - 1] = ow;
	out->d[l->u.dw.rank] = l->u.dw.separable ? l->u.dw.filters : c * l->u.dw.mult;
	return 0;
}

static int
dw_n_weights(const tl_layer *l)
{
	return 1 + l->u.dw.separable + l->u.dw.use_bias;
}

static int
dw_bind(tl_layer *l, const tl_shape *in, int n_in, tl_status *st)
{
	int			h,
				w,
				c,
				dims[4],
				nd = 0,
				pw[4],
				np = 0;
	int			units;

	(void) n_in;
	if (tl_window_dims(l, l->u.dw.rank, &in[0], &h, &w, &c, st) < 0)
		return -1;
	units = l->u.dw.separable ? l->u.dw.filters : c * l->u.dw.mult;
	if (l->u.dw.rank == 2)
		dims[nd++] = l->u.dw.k[0];
	dims[nd++] = l->u.dw.k[1];
	dims[nd++] = c;
	dims[nd++] = l->u.dw.mult;
	for (int k = 0; k < l->u.dw.rank; k++)
		pw[np++] = 1;
	pw[np++] = c * l->u.dw.mult;
	pw[np++] = l->u.dw.filters;
	if (tl_expect_weight(l, 0, "depthwise_kernel", nd, dims, st) < 0 ||
		(l->u.dw.separable && tl_expect_weight(l, 1, "pointwise_kernel", np, pw, st) < 0) ||
		(l->u.dw.use_bias && tl_expect_weight(l, 1 + l->u.dw.separable, "bias", 1, &units, st) < 0))
		return -1;
	return 0;
}

/*
 * The depthwise taps for one sample: dir 0 adds them to y (oh, ow, C*M)
 * from x (h, w, C); dir 1 adds the gradient dy's share to dx.
 */
static void
dw_taps(const tl_layer *l, const float *x, float *dx, int h, int w, int C,
		float *y, const float *dy, int oh, int ow, int dir)
{
	int			M = l->u.dw.mult;
	int			p0 = tl_window_pad_before(h, l->u.dw.k[0], l->u.dw.s[0], l->u.dw.d[0], l->u.dw.pad);
	int			p1 = tl_window_pad_before(w, l->u.dw.k[1], l->u.dw.s[1], l->u.dw.d[1], l->u.dw.pad);
	const float *K = l->w[0].data;

	for (int i = 0; i < oh; i++)
		for (int j = 0; j < ow; j++)
			for (int ki = 0; ki < l->u.dw.k[0]; ki++)
			{
				int			r = i * l->u.dw.s[0] + ki * l->u.dw.d[0] - p0;

				if (r < 0 || r >= h)
					continue;
				for (int kj = 0; kj < l->u.dw.k[1]; kj++)
				{
					int			q = j * l->u.dw.s[1] + kj * l->u.dw.d[1] - p1;
					const float *kk = K + ((int64_t) ki * l->u.dw.k[1] + kj) * C * M;
					int64_t		xo = ((int64_t) r * w + q) * C,
								yo = ((int64_t) i * ow + j) * C * M;

					if (q < 0 || q >= w)
						continue;
					for (int c = 0; c < C; c++)
						for (int m = 0; m < M; m++)
						{
							if (dir == 0)
								y[yo + c * M + m] += x[xo + c] * kk[c * M + m];
							else
								dx[xo + c] += dy[yo + c * M + m] * kk[c * M + m];
						}
				}
			}
}

static int
dw_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
		   const tl_shape *in_shape, float *out, const tl_shape *out_shape,
		   int n, tl_status *st)
{
	int			h,
				w,
				C,
				oh,
				ow;
	int			CM,
				units = out_shape->d[out_shape->nd - 1];
	float	   *mid;
	int64_t		rows;

	if (tl_window_dims(l, l->u.dw.rank, &in_shape[0], &h, &w, &C, st) < 0)
		return -1;
	dw_out(l, h, w, &oh, &ow);
	CM = C * l->u.dw.mult;
	rows = (int64_t) n * oh * ow;
	mid = l->u.dw.separable ? tl_scratch(ex, (size_t) (rows * CM), st) : out;
	if (mid == NULL)
		return -1;
	memset(mid, 0, sizeof(float) * rows * CM);
	for (int b = 0; b < n; b++)
		dw_taps(l, in[0] + (int64_t) b * h * w * C, NULL, h, w, C,
				mid + (int64_t) b * oh * ow * CM, NULL, oh, ow, 0);
	if (l->u.dw.separable)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) rows, units, CM,
					1.0f, mid, CM, l->w[1].data, units, 0.0f, out, units);
	tl_exec_bias_act(ex, l, l->u.dw.use_bias ? l->w[1 + l->u.dw.separable].data : NULL,
					 out, rows, units);
	return 0;
}

static int
dw_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
			const tl_shape *in_shape, const float *out,
			const tl_shape *out_shape, const float *dout,
			float *const *din, int n, tl_status *st)
{
	int			h,
				w,
				C,
				oh,
				ow;
	int			CM,
				units = out_shape->d[out_shape->nd - 1];
	int64_t		rows;
	const float *dz;
	float	   *dmid = NULL;

	if (tl_window_dims(l, l->u.dw.rank, &in_shape[0], &h, &w, &C, st) < 0)
		return -1;
	dw_out(l, h, w, &oh, &ow);
	CM = C * l->u.dw.mult;
	rows = (int64_t) n * oh * ow;
	dz = tl_exec_act_grad(ex, l, out, dout, rows, units, st);
	if (dz == NULL)
		return -1;
	if (l->u.dw.separable)
	{
		dmid = tl_scratch(ex, (size_t) (rows * CM), st);
		if (dmid == NULL)
			return -1;
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) rows, CM, units,
					1.0f, dz, units, l->w[1].data, units, 0.0f, dmid, CM);
		dz = dmid;
	}
	for (int b = 0; b < n; b++)
		dw_taps(l, NULL, din[0] + (int64_t) b * h * w * C, h, w, C,
				NULL, dz + (int64_t) b * oh * ow * CM, oh, ow, 1);
	return 0;
}

/* The window, for Grad-CAM (as a convolution's). */
static int
dw_window(const tl_layer *l, tl_window *win)
{
	win->rank = l->u.dw.rank;
	for (int a = 0; a < 2; a++)
	{
		win->k[a] = l->u.dw.k[a];
		win->s[a] = l->u.dw.s[a];
		win->d[a] = l->u.dw.d[a];
	}
	win->pad = l->u.dw.pad;
	return 1;
}

const tl_layer_ops tl_ops_depthwise = {
	.family = "depthwise_conv",
	.configure = dw_configure,
	.shape = dw_shape,
	.n_weights = dw_n_weights,
	.bind = dw_bind,
	.forward = dw_forward,
	.backward = dw_backward,
	.flags = TL_LAYER_LEARNED,
	.window = dw_window,
};
