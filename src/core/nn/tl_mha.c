/*
 * tl_mha.c — Keras MultiHeadAttention (attention over the last axis):
 * Q = xq Wq + bq, K = xk Wk + bk, V = xv Wv + bv, split into H heads;
 * per head softmax(Q K^T / sqrt(key_dim)) with masked pairs (a masked query
 * or value step, as Keras builds the mask from its inputs' masks) pushed
 * to -1e9, times V; the heads' outputs concatenated times Wo, plus bo.
 * Inputs [query, value] or [query, value, key] (key defaults to value).
 * Weights as Keras stores them: query, key, value kernels (d, H, dim) and
 * biases (H, dim), the output kernel (H, value_dim, d_out) and bias.
 * Backward through each product and the softmax.
 */
#include <math.h>
#include <string.h>
#include <cblas.h>

#include "nn/tl_layer.h"

static int
mha_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	json_t	   *axes = json_object_get(cfg, "attention_axes");
	json_t	   *os = json_object_get(cfg, "output_shape");

	(void) cx;
	if (tl_cfg_int(cfg, "num_heads", 0, &l->u.mha.heads, l, st) < 0 ||
		tl_cfg_int(cfg, "key_dim", 0, &l->u.mha.kd, l, st) < 0 ||
		tl_cfg_int(cfg, "value_dim", l->u.mha.kd, &l->u.mha.vd, l, st) < 0 ||
		tl_cfg_bool(cfg, "use_bias", 1, &l->u.mha.use_bias, l, st) < 0)
		return -1;
	if (l->u.mha.heads < 1 || l->u.mha.kd < 1 || l->u.mha.vd < 1 ||
		l->u.mha.heads > 4096 || l->u.mha.kd > 65536 || l->u.mha.vd > 65536)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (MultiHeadAttention): num_heads, key_dim and value_dim must be >= 1",
					   l->name);
	if ((axes && !json_is_null(axes)) || (os && !json_is_null(os)))
		return tl_fail(st, TL_ERR_UNSUPPORTED,
					   "layer \"%s\" (MultiHeadAttention): attention_axes and output_shape are not supported",
					   l->name);
	return 0;
}

typedef struct mdims
{
	int			tq,
				tv,
				dq,
				dv,
				dk,
				h,
				kd,
				vd;
} mdims;

static mdims
dims_of(const tl_layer *l, const tl_shape *in, int n_in)
{
	mdims		m = {in[0].d[0], in[1].d[0], in[0].d[1], in[1].d[1],
	in[n_in == 3 ? 2 : 1].d[1], l->u.mha.heads, l->u.mha.kd, l->u.mha.vd};

	return m;
}

static int
mha_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
		  tl_status *st)
{
	if (n_in != 2 && n_in != 3)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (MultiHeadAttention): expected a query and a value (and a key), got %d inputs",
					   l->name, n_in);
	for (int k = 0; k < n_in; k++)
		if (in[k].nd != 2 || in[k].d[0] < 1 || in[k].d[1] < 1)
			return tl_fail(st, TL_ERR_UNSUPPORTED,
						   "layer \"%s\" (MultiHeadAttention): inputs of shape (batch, steps, features) are supported",
						   l->name);
	if (n_in == 3 && in[2].d[0] != in[1].d[0])
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (MultiHeadAttention): key and value differ in steps", l->name);
	*out = in[0];
	return 0;
}

static int
mha_n_weights(const tl_layer *l)
{
	return l->u.mha.use_bias ? 8 : 4;
}

static int
mha_bind(tl_layer *l, const tl_shape *in, int n_in, tl_status *st)
{
	mdims		m = dims_of(l, in, n_in);
	int			b = l->u.mha.use_bias;
	int			wq[3] = {m.dq, m.h, m.kd},
				wk[3] = {m.dk, m.h, m.kd},
				wv[3] = {m.dv, m.h, m.vd},
				wo[3] = {m.h, m.vd, m.dq},
				bk[2] = {m.h, m.kd},
				bv[2] = {m.h, m.vd};

	if (tl_expect_weight(l, 0, "query kernel", 3, wq, st) < 0 ||
		(b && tl_expect_weight(l, 1, "query bias", 2, bk, st) < 0) ||
		tl_expect_weight(l, 1 + b, "key kernel", 3, wk, st) < 0 ||
		(b && tl_expect_weight(l, 3, "key bias", 2, bk, st) < 0) ||
		tl_expect_weight(l, 2 + 2 * b, "value kernel", 3, wv, st) < 0 ||
		(b && tl_expect_weight(l, 5, "value bias", 2, bv, st) < 0) ||
		tl_expect_weight(l, 3 + 3 * b, "output kernel", 3, wo, st) < 0 ||
		(b && tl_expect_weight(l, 7, "output bias", 1, &m.dq, st) < 0))
		return -1;
	return 0;
}

/* y (rows x cols) = x (rows x k) W (k x cols) + bias */
static void
project(const float *x, int rows, int k, const float *W, const float *bias, int cols, float *y)
{
	for (int r = 0; r < rows; r++)
	{
		if (bias)
			memcpy(y + (int64_t) r * cols, bias, sizeof(float) * cols);
		else
			memset(y + (int64_t) r * cols, 0, sizeof(float) * cols);
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, cols, k,
				1.0f, x, k, W, cols, 1.0f, y, cols);
}

static const float *
weight(const tl_layer *l, int which)	/* 0 q, 1 k, 2 v, 3 out; +4: bias */
{
	int			b = l->u.mha.use_bias;

	if (which >= 4)
		return b ? l->w[2 * (which - 4) + 1].data : NULL;
	return l->w[which * (1 + b)].data;
}

/* Per sample: Q, K, V, the heads' outputs O, the weights of every head. */
typedef struct mbuf
{
	float	   *q,
			   *k,
			   *v,
			   *o,
			   *w;
} mbuf;

static size_t
sample_floats(const mdims *m)
{
	return (size_t) m->h * ((size_t) m->tq * m->kd + (size_t) m->tv * m->kd +
							(size_t) m->tv * m->vd + (size_t) m->tq * m->vd +
							(size_t) m->tq * m->tv);
}

static void
carve(const mdims *m, float *base, mbuf *b)
{
	b->q = base;
	b->k = b->q + (int64_t) m->tq * m->h * m->kd;
	b->v = b->k + (int64_t) m->tv * m->h * m->kd;
	b->o = b->v + (int64_t) m->tv * m->h * m->vd;
	b->w = b->o + (int64_t) m->tq * m->h * m->vd;
}

/* One sample's forward up to O (heads concatenated), keeping the weights. */
static void
attend(const tl_layer *l, const mdims *m, const float *xq, const float *xv, const float *xk,
	   const float *qm, const float *vm, mbuf *b)
{
	int			hk = m->h * m->kd,
				hv = m->h * m->vd;
	float		scale = 1.0f / sqrtf((float) m->kd);

	project(xq, m->tq, m->dq, weight(l, 0), weight(l, 4), hk, b->q);
	project(xk, m->tv, m->dk, weight(l, 1), weight(l, 5), hk, b->k);
	project(xv, m->tv, m->dv, weight(l, 2), weight(l, 6), hv, b->v);
	for (int h = 0; h < m->h; h++)
	{
		float	   *w = b->w + (int64_t) h * m->tq * m->tv;

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m->tq, m->tv, m->kd,
					scale, b->q + h * m->kd, hk, b->k + h * m->kd, hk, 0.0f, w, m->tv);
		for (int i = 0; i < m->tq; i++)
		{
			float	   *row = w + (int64_t) i * m->tv;
			float		mx = -INFINITY;
			double		sum = 0;

			for (int j = 0; j < m->tv; j++)
			{
				if ((qm && qm[i] == 0.0f) || (vm && vm[j] == 0.0f))
					row[j] -= 1e9f;
				mx = fmaxf(mx, row[j]);
			}
			for (int j = 0; j < m->tv; j++)
			{
				row[j] = expf(row[j] - mx);
				sum += row[j];
			}
			for (int j = 0; j < m->tv; j++)
				row[j] = (float) (row[j] / sum);
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m->tq, m->vd, m->tv,
					1.0f, w, m->tv, b->v + h * m->vd, hv, 0.0f, b->o + h * m->vd, hv);
	}
}

static int
masks(tl_exec *ex, const mdims *m, int n, const float **qm, const float **vm, tl_status *st)
{
	return tl_exec_mask(ex, 0, m->tq, n, qm, st) < 0 ||
		tl_exec_mask(ex, 1, m->tv, n, vm, st) < 0 ? -1 : 0;
}

static int
mha_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
			const tl_shape *in_shape, float *out, const tl_shape *out_shape,
			int n, tl_status *st)
{
	mdims		m = dims_of(l, in_shape, l->n_in);
	const float *xk = in[l->n_in == 3 ? 2 : 1];
	const float *qm,
			   *vm;
	float	   *base;
	mbuf		b;

	(void) out_shape;
	if (masks(ex, &m, n, &qm, &vm, st) < 0 || (base = tl_scratch(ex, sample_floats(&m), st)) == NULL)
		return -1;
	carve(&m, base, &b);
	for (int s = 0; s < n; s++)
	{
		attend(l, &m, in[0] + (int64_t) s * m.tq * m.dq, in[1] + (int64_t) s * m.tv * m.dv,
			   xk + (int64_t) s * m.tv * m.dk, qm ? qm + (int64_t) s * m.tq : NULL,
			   vm ? vm + (int64_t) s * m.tv : NULL, &b);
		project(b.o, m.tq, m.h * m.vd, weight(l, 3), weight(l, 7), m.dq,
				out + (int64_t) s * m.tq * m.dq);
		tl_check_interrupt();
	}
	return 0;
}

/*
 * Per sample, with dO = dout Wo^T: per head dV += W^T dO, dW = dO V^T,
 * dS = W (dW - rowsum(dW W)) / sqrt(key_dim), dQ = dS K, dK = dS^T Q; then
 * the inputs' gradients through the three projections.
 */
static int
mha_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
			 const tl_shape *in_shape, const float *out,
			 const tl_shape *out_shape, const float *dout,
			 float *const *din, int n, tl_status *st)
{
	mdims		m = dims_of(l, in_shape, l->n_in);
	int			ki = l->n_in == 3 ? 2 : 1,
				hk = m.h * m.kd,
				hv = m.h * m.vd;
	float		scale = 1.0f / sqrtf((float) m.kd);
	const float *qm,
			   *vm;
	float	   *base;
	mbuf		b,
				d;

	(void) out;
	(void) out_shape;
	if (masks(ex, &m, n, &qm, &vm, st) < 0 ||
		(base = tl_scratch(ex, 2 * sample_floats(&m), st)) == NULL)
		return -1;
	carve(&m, base, &b);
	carve(&m, base + sample_floats(&m), &d);
	for (int s = 0; s < n; s++)
	{
		const float *xq = in[0] + (int64_t) s * m.tq * m.dq,
				   *xv = in[1] + (int64_t) s * m.tv * m.dv,
				   *xk = in[ki] + (int64_t) s * m.tv * m.dk;

		attend(l, &m, xq, xv, xk, qm ? qm + (int64_t) s * m.tq : NULL,
			   vm ? vm + (int64_t) s * m.tv : NULL, &b);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m.tq, hv, m.dq,
					1.0f, dout + (int64_t) s * m.tq * m.dq, m.dq, weight(l, 3), m.dq, 0.0f, d.o, hv);
		memset(d.v, 0, sizeof(float) * m.tv * hv);
		for (int h = 0; h < m.h; h++)
		{
			float	   *w = b.w + (int64_t) h * m.tq * m.tv,
					   *dw = d.w + (int64_t) h * m.tq * m.tv;

			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m.tv, m.vd, m.tq,
						1.0f, w, m.tv, d.o + h * m.vd, hv, 0.0f, d.v + h * m.vd, hv);
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m.tq, m.tv, m.vd,
						1.0f, d.o + h * m.vd, hv, b.v + h * m.vd, hv, 0.0f, dw, m.tv);
			for (int i = 0; i < m.tq; i++)
			{
				float	   *wr = w + (int64_t) i * m.tv,
						   *dr = dw + (int64_t) i * m.tv;
				double		dot = 0;

				for (int j = 0; j < m.tv; j++)
					dot += (double) dr[j] * wr[j];
				for (int j = 0; j < m.tv; j++)
					dr[j] = (float) (wr[j] * (dr[j] - dot)) * scale;
			}
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m.tq, m.kd, m.tv,
						1.0f, dw, m.tv, b.k + h * m.kd, hk, 0.0f, d.q + h * m.kd, hk);
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m.tv, m.kd, m.tq,
						1.0f, dw, m.tv, b.q + h * m.kd, hk, 0.0f, d.k + h * m.kd, hk);
		}
		if (din[0])
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m.tq, m.dq, hk,
						1.0f, d.q, hk, weight(l, 0), hk, 1.0f, din[0] + (int64_t) s * m.tq * m.dq, m.dq);
		if (din[ki])
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m.tv, m.dk, hk,
						1.0f, d.k, hk, weight(l, 1), hk, 1.0f, din[ki] + (int64_t) s * m.tv * m.dk, m.dk);
		if (din[1])
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m.tv, m.dv, hv,
						1.0f, d.v, hv, weight(l, 2), hv, 1.0f, din[1] + (int64_t) s * m.tv * m.dv, m.dv);
		tl_check_interrupt();
	}
	return 0;
}

const tl_layer_ops tl_ops_mha = {
	.family = "multi_head_attention",
	.configure = mha_configure,
	.shape = mha_shape,
	.n_weights = mha_n_weights,
	.bind = mha_bind,
	.forward = mha_forward,
	.backward = mha_backward,
	.flags = TL_LAYER_LEARNED,
	.mask_rule = tl_mask_keep,
};
