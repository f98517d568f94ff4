/*
 * tl_const_op.c — ConstantOp: y = x (op) C with a constant C that
 * broadcasts over the sample (numpy rules on the per-sample axes: each of
 * C's axes is 1 or the input's size).  ONNX graphs use it for arithmetic
 * with constants that no neighbouring layer absorbs: input normalisation,
 * positional embeddings, scaling.  Config: "op" ∈ add, sub (x - C),
 * rsub (C - x), mul, div (x / C), pow (x ^ C); one weight, C, of the
 * input's rank.  Backward: the derivative of the op in x, times dout.
 */
#include <math.h>
#include <string.h>

#include "nn/tl_layer.h"

enum
{
	TL_CONST_ADD, TL_CONST_SUB, TL_CONST_RSUB, TL_CONST_MUL, TL_CONST_DIV, TL_CONST_POW
};

static const char *const op_names[] = {"add", "sub", "rsub", "mul", "div", "pow"};

static int
cop_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	const char *op = tl_cfg_str(cfg, "op", "");

	(void) cx;
	for (int k = 0; k < (int) (sizeof(op_names) / sizeof(op_names[0])); k++)
		if (strcmp(op, op_names[k]) == 0)
		{
			l->u.cop.op = k;
			return 0;
		}
	return tl_fail(st, TL_ERR_MODEL,
				   "layer \"%s\" (ConstantOp): op \"%s\" is not one of add, sub, rsub, mul, div, pow",
				   l->name, op);
}

static int
cop_bind(tl_layer *l, const tl_shape *in, int n_in, tl_status *st)
{
	(void) n_in;
	return tl_weight_broadcasts(l, 0, &in[0], "the constant", st);
}

/*
 * Offsets into C for one sample's values, in order (idx[k] for value k);
 * C repeats per sample.  Fills cidx (n = per-sample count).
 */
static void
const_index(const tl_layer *l, const tl_shape *s, int64_t *cidx, int64_t n)
{
	const tl_shape *c = &l->w[0].shape;
	int64_t		stride[TL_MAX_DIMS];
	int			idx[TL_MAX_DIMS] = {0};

	for (int k = c->nd - 1, p = 1; k >= 0; p *= c->d[k], k--)
		stride[k] = c->d[k] == 1 ? 0 : p;
	for (int64_t o = 0; o < n; o++)
	{
		int64_t		off = 0;

		for (int k = 0; k < s->nd; k++)
			off += idx[k] * stride[k];
		cidx[o] = off;
		for (int k = s->nd - 1; k >= 0; k--)
		{
			if (++idx[k] < s->d[k])
				break;
			idx[k] = 0;
		}
	}
}

static inline float
apply(int op, float x, float c)
{
	switch (op)
	{
		case TL_CONST_ADD:
			return x + c;
		case TL_CONST_SUB:
			return x - c;
		case TL_CONST_RSUB:
			return c - x;
		case TL_CONST_MUL:
			return x * c;
		case TL_CONST_DIV:
			return x / c;
		default:
			return c == 2.0f ? x * x : powf(x, c);
	}
}

static inline float
deriv(int op, float x, float c)
{
	switch (op)
	{
		case TL_CONST_ADD:
		case TL_CONST_SUB:
			return 1.0f;
		case TL_CONST_RSUB:
			return -1.0f;
		case TL_CONST_MUL:
			return c;
		case TL_CONST_DIV:
			return 1.0f / c;
		default:
			return c == 2.0f ? 2.0f * x : c * powf(x, c - 1.0f);
	}
}

/*
 * n samples: the forward writes y = x (op) C; given dy, the backward adds
 * dy * d(x (op) C)/dx onto dx.
 */
static int
cop_run(const tl_layer *l, tl_exec *ex, const tl_shape *in_shape, const float *x0,
		float *y0, const float *dy0, float *dx0, int n, tl_status *st)
{
	int64_t		per = tl_shape_count(in_shape);
	const float *c = l->w[0].data;
	int64_t    *cidx;

	cidx = (int64_t *) tl_scratch(ex, (size_t) per * 2, st);
	if (cidx == NULL)
		return -1;
	const_index(l, in_shape, cidx, per);
	for (int b = 0; b < n; b++)
	{
		const float *x = x0 + (int64_t) b * per;

		if (dy0 == NULL)
			for (int64_t k = 0; k < per; k++)
				y0[(int64_t) b * per + k] = apply(l->u.cop.op, x[k], c[cidx[k]]);
		else
			for (int64_t k = 0; k < per; k++)
				dx0[(int64_t) b * per + k] += dy0[(int64_t) b * per + k] *
					deriv(l->u.cop.op, x[k], c[cidx[k]]);
	}
	return 0;
}

static int
cop_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
			const tl_shape *in_shape, float *out, const tl_shape *out_shape,
			int n, tl_status *st)
{
	(void) out_shape;
	return cop_run(l, ex, &in_shape[0], in[0], out, NULL, NULL, n, st);
}

static int
cop_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
			 const tl_shape *in_shape, const float *out,
			 const tl_shape *out_shape, const float *dout,
			 float *const *din, int n, tl_status *st)
{
	(void) out;
	(void) out_shape;
	return cop_run(l, ex, &in_shape[0], in[0], NULL, dout, din[0], n, st);
}

const tl_layer_ops tl_ops_const_op = {
	.family = "const_op",
	.configure = cop_configure,
	.shape = tl_shape_same,
	.n_weights = tl_one_weight,
	.bind = cop_bind,
	.forward = cop_forward,
	.backward = cop_backward,
};
