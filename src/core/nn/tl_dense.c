/*
 * tl_dense.c — Dense: y = act(x W + b) on the last axis, one sgemm per batch;
 * backward dx = dz W^T, one sgemm as well.
 */
#include <string.h>
#include <cblas.h>

#include "nn/tl_layer.h"

static int
dense_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	if (tl_cfg_int(cfg, "units", 0, &l->u.dense.units, l, st) < 0 ||
		tl_cfg_bool(cfg, "use_bias", 1, &l->u.dense.use_bias, l, st) < 0 ||
		tl_cfg_activation(cfg, "activation", "linear", cx, &l->act, l, st) < 0)
		return -1;
	if (l->u.dense.units < 1)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (Dense): units must be >= 1", l->name);
	return 0;
}

static int
dense_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
			tl_status *st)
{
	(void) n_in;
	if (in[0].nd < 1 || in[0].d[in[0].nd - 1] < 1)
		return tl_fail(st, TL_ERR_MODEL,
					   "layer \"%s\" (Dense): the last input dimension must be known",
					   l->name);
	*out = in[0];
	out->d[out->nd - 1] = l->u.dense.units;
	return 0;
}

static int
dense_n_weights(const tl_layer *l)
{
	return l->u.dense.use_bias ? 2 : 1;
}

static int
dense_bind(tl_layer *l, const tl_shape *in, int n_in, tl_status *st)
{
	int			k[2] = {in[0].d[in[0].nd - 1], l->u.dense.units};

	(void) n_in;
	if (tl_expect_weight(l, 0, "kernel", 2, k, st) < 0)
		return -1;
	if (l->u.dense.use_bias && tl_expect_weight(l, 1, "bias", 1, &k[1], st) < 0)
		return -1;
	return 0;
}

static int
dense_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
			  const tl_shape *in_shape, float *out, const tl_shape *out_shape,
			  int n, tl_status *st)
{
	int			k = in_shape[0].d[in_shape[0].nd - 1];
	int			units = l->u.dense.units;
	int64_t		rows = n * (tl_shape_count(&in_shape[0]) / k);
	float	   *pre = tl_exec_preact(ex);

	(void) out_shape;
	(void) st;
	if (l->u.dense.use_bias)
	{
		/* start from the bias so sgemm accumulates onto it (beta = 1) */
		for (int64_t r = 0; r < rows; r++)
			for (int j = 0; j < units; j++)
				out[r * units + j] = l->w[1].data[j];
	}
	if (rows == 1)				/* one sample: sgemv, without sgemm's set-up per call */
		cblas_sgemv(CblasRowMajor, CblasTrans, k, units, 1.0f, l->w[0].data, units,
					in[0], 1, l->u.dense.use_bias ? 1.0f : 0.0f, out, 1);
	else
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) rows, units, k,
					1.0f, in[0], k, l->w[0].data, units,
					l->u.dense.use_bias ? 1.0f : 0.0f, out, units);
	if (pre)
		memcpy(pre, out, sizeof(float) * rows * units);
	tl_act_apply(&l->act, out, rows, units, 1);
	return 0;
}

static int
dense_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
			   const tl_shape *in_shape, const float *out,
			   const tl_shape *out_shape, const float *dout,
			   float *const *din, int n, tl_status *st)
{
	int			k = in_shape[0].d[in_shape[0].nd - 1];
	int			units = l->u.dense.units;
	int64_t		rows = n * (tl_shape_count(&in_shape[0]) / k);
	const float *dz = tl_exec_act_grad(ex, l, out, dout, rows, units, st);

	(void) in;
	(void) out_shape;
	if (dz == NULL)
		return -1;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) rows, k, units,
				1.0f, dz, units, l->w[0].data, units, 1.0f, din[0], k);
	return 0;
}

const tl_layer_ops tl_ops_dense = {
	.family = "dense",
	.configure = dense_configure,
	.shape = dense_shape,
	.n_weights = dense_n_weights,
	.bind = dense_bind,
	.forward = dense_forward,
	.backward = dense_backward,
	.flags = TL_LAYER_LEARNED,
	.mask_rule = tl_mask_keep,
};
