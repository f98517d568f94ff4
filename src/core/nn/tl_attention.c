/*
 * tl_attention.c — MultiHeadSelfAttention: the self-attention block of a
 * Transformer encoder (PyTorch's nn.MultiheadAttention with query = key =
 * value, no mask), on a per-sample (steps, E) input.
 *
 *   [Q K V] = X W_in + b_in                 W_in (E, 3E), b_in (3E)
 *   per head h (width d = E / heads):  O_h = softmax(Q_h K_h^T / sqrt d) V_h
 *   Y = [O_1 ... O_H] W_out + b_out         W_out (E, E), b_out (E)
 *
 * Config: "num_heads".  The projections are one sgemm each over the whole
 * batch; the per-head products are sgemms on strided views.  Backward:
 * the attention probabilities are recomputed from the input, then
 * dV = P^T dO, dS = P * (dP - rowsum(dP * P)) with dP = dO V^T, and
 * dQ = dS K / sqrt d, dK = dS^T Q / sqrt d, dX = d[Q K V] W_in^T.
 */
#include <math.h>
#include <string.h>
#include <cblas.h>

#include "nn/tl_layer.h"

static int
mha_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	(void) cx;
	if (tl_cfg_int(cfg, "num_heads", 1, &l->u.self_mha.heads, l, st) < 0)
		return -1;
	if (l->u.self_mha.heads < 1 || l->u.self_mha.heads > 4096)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (MultiHeadSelfAttention): num_heads must be 1..4096",
					   l->name);
	return 0;
}

static int
mha_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
		  tl_status *st)
{
	int			e = in[0].d[in[0].nd - 1];

	(void) n_in;
	if (in[0].nd != 2 || e < 1 || e % l->u.self_mha.heads != 0)
		return tl_fail(st, TL_ERR_MODEL,
					   "layer \"%s\" (MultiHeadSelfAttention): expected an input (steps, features) with features a multiple of %d",
					   l->name, l->u.self_mha.heads);
	*out = in[0];
	return 0;
}

static int
mha_n_weights(const tl_layer *l)
{
	(void) l;
	return 4;
}

static int
mha_bind(tl_layer *l, const tl_shape *in, int n_in, tl_status *st)
{
	int			e = in[0].d[1];
	int			win[2] = {e, 3 * e},
				bin = 3 * e,
				wout[2] = {e, e};

	(void) n_in;
	if (tl_expect_weight(l, 0, "in_kernel", 2, win, st) < 0 ||
		tl_expect_weight(l, 1, "in_bias", 1, &bin, st) < 0 ||
		tl_expect_weight(l, 2, "out_kernel", 2, wout, st) < 0 ||
		tl_expect_weight(l, 3, "out_bias", 1, &e, st) < 0)
		return -1;
	return 0;
}

/* rows x cols = a (rows x k) b (k x cols) + bias per column, row-major. */
static void
affine(const float *a, const float *b, const float *bias, float *c, int64_t rows,
	   int k, int cols)
{
	for (int64_t r = 0; r < rows; r++)
		memcpy(c + r * cols, bias, sizeof(float) * cols);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) rows, cols, k,
				1.0f, a, k, b, cols, 1.0f, c, cols);
}

/* P = softmax(scale Q K^T) for one sample and head (Q, K rows of stride 3E). */
static void
head_probs(const float *q, const float *k, int steps, int d, int stride, float scale,
		   float *p)
{
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, steps, steps, d,
				scale, q, stride, k, stride, 0.0f, p, steps);
	for (int i = 0; i < steps; i++)
	{
		float	   *row = p + (int64_t) i * steps;
		float		m = row[0],
					sum = 0.0f;

		for (int j = 1; j < steps; j++)
			m = row[j] > m ? row[j] : m;
		for (int j = 0; j < steps; j++)
		{
			row[j] = expf(row[j] - m);
			sum += row[j];
		}
		for (int j = 0; j < steps; j++)
			row[j] /= sum;
	}
}

static int
mha_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
			const tl_shape *in_shape, float *out, const tl_shape *out_shape,
			int n, tl_status *st)
{
	int			steps = in_shape[0].d[0],
				e = in_shape[0].d[1],
				heads = l->u.self_mha.heads,
				d = e / heads;
	int64_t		rows = (int64_t) n * steps;
	float		scale = 1.0f / sqrtf((float) d);
	float	   *qkv,
			   *o,
			   *p;

	(void) out_shape;
	qkv = tl_scratch(ex, (size_t) (rows * 4 * e + (int64_t) steps * steps), st);
	if (qkv == NULL)
		return -1;
	o = qkv + rows * 3 * e;
	p = o + rows * e;
	affine(in[0], l->w[0].data, l->w[1].data, qkv, rows, e, 3 * e);
	for (int b = 0; b < n; b++)
	{
		for (int h = 0; h < heads; h++)
		{
			const float *q = qkv + (int64_t) b * steps * 3 * e + h * d;

			head_probs(q, q + e, steps, d, 3 * e, scale, p);
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, steps, d, steps,
						1.0f, p, steps, q + 2 * e, 3 * e, 0.0f,
						o + (int64_t) b * steps * e + h * d, e);
		}
		tl_check_interrupt();
	}
	affine(o, l->w[2].data, l->w[3].data, out, rows, e, e);
	return 0;
}

static int
mha_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
			 const tl_shape *in_shape, const float *out,
			 const tl_shape *out_shape, const float *dout,
			 float *const *din, int n, tl_status *st)
{
	int			steps = in_shape[0].d[0],
				e = in_shape[0].d[1],
				heads = l->u.self_mha.heads,
				d = e / heads;
	int64_t		rows = (int64_t) n * steps,
				ss = (int64_t) steps * steps;
	float		scale = 1.0f / sqrtf((float) d);
	float	   *qkv,
			   *dqkv,
			   *dout_o,
			   *p,
			   *dp;

	(void) out;
	(void) out_shape;
	qkv = tl_scratch(ex, (size_t) (rows * 7 * e + 2 * ss), st);
	if (qkv == NULL)
		return -1;
	dqkv = qkv + rows * 3 * e;
	dout_o = dqkv + rows * 3 * e;
	p = dout_o + rows * e;
	dp = p + ss;
	affine(in[0], l->w[0].data, l->w[1].data, qkv, rows, e, 3 * e);
	memset(dqkv, 0, sizeof(float) * rows * 3 * e);
	/* dO = dY W_out^T */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) rows, e, e,
				1.0f, dout, e, l->w[2].data, e, 0.0f, dout_o, e);
	for (int b = 0; b < n; b++)
	{
		for (int h = 0; h < heads; h++)
		{
			int64_t		base = (int64_t) b * steps * 3 * e + h * d;
			const float *q = qkv + base,
					   *k = q + e,
					   *v = q + 2 * e;
			float	   *dq = dqkv + base,
					   *dk = dq + e,
					   *dv = dq + 2 * e;
			const float *dout_h = dout_o + (int64_t) b * steps * e + h * d;

			head_probs(q, k, steps, d, 3 * e, scale, p);
			/* dV = P^T dO, dP = dO V^T */
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, steps, d, steps,
						1.0f, p, steps, dout_h, e, 1.0f, dv, 3 * e);
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, steps, steps, d,
						1.0f, dout_h, e, v, 3 * e, 0.0f, dp, steps);
			/* through the softmax: dS = P * (dP - rowsum(dP * P)) */
			for (int i = 0; i < steps; i++)
			{
				float	   *pr = p + (int64_t) i * steps,
						   *dr = dp + (int64_t) i * steps;
				float		dot = 0.0f;

				for (int j = 0; j < steps; j++)
					dot += dr[j] * pr[j];
				for (int j = 0; j < steps; j++)
					dr[j] = pr[j] * (dr[j] - dot);
			}
			/* dQ = scale dS K, dK = scale dS^T Q */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, steps, d, steps,
						scale, dp, steps, k, 3 * e, 1.0f, dq, 3 * e);
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, steps, d, steps,
						scale, dp, steps, q, 3 * e, 1.0f, dk, 3 * e);
		}
		tl_check_interrupt();
	}
	/* dX += d[Q K V] W_in^T */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) rows, e, 3 * e,
				1.0f, dqkv, 3 * e, l->w[0].data, 3 * e, 1.0f, din[0], e);
	return 0;
}

const tl_layer_ops tl_ops_attention = {
	.family = "attention",
	.configure = mha_configure,
	.shape = mha_shape,
	.n_weights = mha_n_weights,
	.bind = mha_bind,
	.forward = mha_forward,
	.backward = mha_backward,
};
