/*
 * tl_attention_dot.c — Keras Attention (dot-product, Luong style): per
 * sample, scores = scale * Q K^T (Tq x Tv; scale is the learned scalar with
 * use_scale, else 1), a value mask pushing masked steps to -1e9 as Keras
 * does, weights = softmax over the value steps, output = weights V, zeroed
 * at masked query steps.  Inputs [query, value] or [query, value, key]
 * (key defaults to value).  Backward: through the product, the softmax and
 * the scores to Q, K and V.
 */
#include <math.h>
#include <string.h>
#include <cblas.h>

#include "nn/tl_layer.h"

static int
att_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	const char *mode = tl_cfg_str(cfg, "score_mode", "dot");
	json_t	   *causal = json_object_get(cfg, "causal");

	(void) cx;
	if (strcmp(mode, "dot") != 0)
		return tl_fail(st, TL_ERR_UNSUPPORTED, "layer \"%s\" (Attention): score_mode \"%s\" is not supported (dot is)",
					   l->name, mode);
	if (json_is_true(causal))
		return tl_fail(st, TL_ERR_UNSUPPORTED, "layer \"%s\" (Attention): causal is not supported", l->name);
	return tl_cfg_bool(cfg, "use_scale", 0, &l->u.att.use_scale, l, st);
}

static int
att_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
		  tl_status *st)
{
	const tl_shape *q = &in[0],
			   *v = &in[1],
			   *k = n_in == 3 ? &in[2] : &in[1];

	if (n_in != 2 && n_in != 3)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (Attention): expected 2 or 3 inputs, got %d",
					   l->name, n_in);
	if (q->nd != 2 || v->nd != 2 || k->nd != 2 || q->d[1] != k->d[1] || k->d[0] != v->d[0] ||
		q->d[1] < 1 || v->d[1] < 1)
		return tl_fail(st, TL_ERR_MODEL,
					   "layer \"%s\" (Attention): expected query (Tq, d), value (Tv, dv) and key (Tv, d)",
					   l->name);
	out->nd = 2;
	out->d[0] = q->d[0];
	out->d[1] = v->d[1];
	return 0;
}

static int
att_n_weights(const tl_layer *l)
{
	return l->u.att.use_scale;
}

static int
att_bind(tl_layer *l, const tl_shape *in, int n_in, tl_status *st)
{
	(void) in;
	(void) n_in;
	if (l->u.att.use_scale && l->w[0].n != 1)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (Attention): scale must be one number", l->name);
	return 0;
}

typedef struct att_dims
{
	int			tq,
				tv,
				d,
				dv;
} att_dims;

static att_dims
dims_of(const tl_shape *in, int n_in)
{
	att_dims	a = {in[0].d[0], in[1].d[0], in[0].d[1], in[1].d[1]};

	(void) n_in;
	return a;
}

/* The attention weights of one sample into w (tq x tv). */
static void
att_weights(const tl_layer *l, const att_dims *a, const float *q, const float *k,
			const float *vmask, float *w)
{
	float		scale = l->u.att.use_scale ? l->w[0].data[0] : 1.0f;

	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, a->tq, a->tv, a->d,
				scale, q, a->d, k, a->d, 0.0f, w, a->tv);
	for (int i = 0; i < a->tq; i++)
	{
		float	   *row = w + (int64_t) i * a->tv;
		float		mx = -INFINITY;
		double		sum = 0;

		for (int j = 0; j < a->tv; j++)
		{
			if (vmask && vmask[j] == 0.0f)
				row[j] -= 1e9f;
			mx = fmaxf(mx, row[j]);
		}
		for (int j = 0; j < a->tv; j++)
		{
			row[j] = expf(row[j] - mx);
			sum += row[j];
		}
		for (int j = 0; j < a->tv; j++)
			row[j] = (float) (row[j] / sum);
	}
}

/* The masks of the query and value, and `floats` of scratch. */
static int
att_prepare(tl_exec *ex, const att_dims *a, int n, size_t floats, const float **qm,
			const float **vm, float **w, tl_status *st)
{
	if (tl_exec_mask(ex, 0, a->tq, n, qm, st) < 0 || tl_exec_mask(ex, 1, a->tv, n, vm, st) < 0)
		return -1;
	*w = tl_scratch(ex, floats, st);
	return *w ? 0 : -1;
}

static int
att_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
			const tl_shape *in_shape, float *out, const tl_shape *out_shape,
			int n, tl_status *st)
{
	att_dims	a = dims_of(in_shape, l->n_in);
	const float *key = in[l->n_in == 3 ? 2 : 1];
	const float *qm,
			   *vm;
	float	   *w;

	(void) out_shape;
	if (att_prepare(ex, &a, n, (size_t) a.tq * a.tv, &qm, &vm, &w, st) < 0)
		return -1;
	for (int b = 0; b < n; b++)
	{
		float	   *o = out + (int64_t) b * a.tq * a.dv;

		att_weights(l, &a, in[0] + (int64_t) b * a.tq * a.d, key + (int64_t) b * a.tv * a.d,
					vm ? vm + (int64_t) b * a.tv : NULL, w);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, a.tq, a.dv, a.tv,
					1.0f, w, a.tv, in[1] + (int64_t) b * a.tv * a.dv, a.dv, 0.0f, o, a.dv);
		for (int i = 0; qm && i < a.tq; i++)
			if (qm[(int64_t) b * a.tq + i] == 0.0f)
				memset(o + (int64_t) i * a.dv, 0, sizeof(float) * a.dv);
	}
	return 0;
}

/*
 * With O = W V, W = softmax(S), S = scale Q K^T: dV = W^T dO, dW = dO V^T,
 * dS = W (dW - rowsum(dW W)), dQ = scale dS K, dK = scale dS^T Q.  A
 * masked query step's output is zero: its dO counts for nothing.
 */
static int
att_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
			 const tl_shape *in_shape, const float *out,
			 const tl_shape *out_shape, const float *dout,
			 float *const *din, int n, tl_status *st)
{
	att_dims	a = dims_of(in_shape, l->n_in);
	int			ki = l->n_in == 3 ? 2 : 1;
	float		scale = l->u.att.use_scale ? l->w[0].data[0] : 1.0f;
	const float *qm,
			   *vm;
	float	   *w,
			   *dw;

	(void) out;
	(void) out_shape;
	/* w, dw (tq x tv) and the masked dO (tq x dv) */
	if (att_prepare(ex, &a, n, (size_t) a.tq * (2 * a.tv + a.dv), &qm, &vm, &w, st) < 0)
		return -1;
	dw = w + (int64_t) a.tq * a.tv;
	for (int b = 0; b < n; b++)
	{
		const float *q = in[0] + (int64_t) b * a.tq * a.d,
				   *v = in[1] + (int64_t) b * a.tv * a.dv,
				   *k = in[ki] + (int64_t) b * a.tv * a.d;
		float	   *dO = dw + (int64_t) a.tq * a.tv;

		memcpy(dO, dout + (int64_t) b * a.tq * a.dv, sizeof(float) * a.tq * a.dv);
		for (int i = 0; qm && i < a.tq; i++)
			if (qm[(int64_t) b * a.tq + i] == 0.0f)
				memset(dO + (int64_t) i * a.dv, 0, sizeof(float) * a.dv);
		att_weights(l, &a, q, k, vm ? vm + (int64_t) b * a.tv : NULL, w);
		if (din[1])
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, a.tv, a.dv, a.tq,
						1.0f, w, a.tv, dO, a.dv, 1.0f, din[1] + (int64_t) b * a.tv * a.dv, a.dv);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, a.tq, a.tv, a.dv,
					1.0f, dO, a.dv, v, a.dv, 0.0f, dw, a.tv);
		for (int i = 0; i < a.tq; i++)
		{
			float	   *wr = w + (int64_t) i * a.tv,
					   *dr = dw + (int64_t) i * a.tv;
			double		dot = 0;

			for (int j = 0; j < a.tv; j++)
				dot += (double) dr[j] * wr[j];
			for (int j = 0; j < a.tv; j++)
				dr[j] = (float) (wr[j] * (dr[j] - dot));
		}
		if (din[0])
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, a.tq, a.d, a.tv,
						scale, dw, a.tv, k, a.d, 1.0f, din[0] + (int64_t) b * a.tq * a.d, a.d);
		if (din[ki])
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, a.tv, a.d, a.tq,
						scale, dw, a.tv, q, a.d, 1.0f, din[ki] + (int64_t) b * a.tv * a.d, a.d);
	}
	return 0;
}

/* The output carries the query's mask (refused if the value's differs). */
static tl_mask_rule
att_mask_rule(const tl_layer *l)
{
	(void) l;
	return TL_MASK_KEEP;
}

const tl_layer_ops tl_ops_attention_dot = {
	.family = "attention",
	.configure = att_configure,
	.shape = att_shape,
	.n_weights = att_n_weights,
	.bind = att_bind,
	.forward = att_forward,
	.backward = att_backward,
	.mask_rule = att_mask_rule,
};
