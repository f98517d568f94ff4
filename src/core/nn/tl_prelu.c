/*
 * tl_prelu.c — PReLU: y = x for x >= 0, alpha * x below, with a learned
 * alpha of the input's shape except the shared axes, which have size 1.
 * Backward: dx = dy, or alpha * dy below zero.
 */
#include "nn/tl_layer.h"

static int
prelu_bind(tl_layer *l, const tl_shape *in, int n_in, tl_status *st)
{
	(void) n_in;
	/* alpha has the input's shape with 1 on the shared axes */
	return tl_weight_broadcasts(l, 0, &in[0], "alpha", st);
}

/* The alpha of element i of a sample of shape s. */
static float
alpha_at(const tl_layer *l, const tl_shape *s, int64_t i)
{
	const tl_shape *a = &l->w[0].shape;
	int64_t		ai = 0,
				stride = 1;

	for (int k = s->nd - 1; k >= 0; k--)
	{
		int64_t		pos = i % s->d[k];

		i /= s->d[k];
		if (a->d[k] > 1)
			ai += pos * stride;
		stride *= a->d[k];
	}
	return l->w[0].data[ai];
}

static int
prelu_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
			  const tl_shape *in_shape, float *out, const tl_shape *out_shape,
			  int n, tl_status *st)
{
	int64_t		count = tl_shape_count(&in_shape[0]);

	(void) ex;
	(void) out_shape;
	(void) st;
	for (int64_t i = 0; i < count * n; i++)
	{
		float		x = in[0][i];

		out[i] = x >= 0.0f ? x : alpha_at(l, &in_shape[0], i % count) * x;
	}
	return 0;
}

static int
prelu_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
			   const tl_shape *in_shape, const float *out,
			   const tl_shape *out_shape, const float *dout,
			   float *const *din, int n, tl_status *st)
{
	int64_t		count = tl_shape_count(&in_shape[0]);

	(void) ex;
	(void) out;
	(void) out_shape;
	(void) st;
	for (int64_t i = 0; i < count * n; i++)
		din[0][i] += in[0][i] >= 0.0f ? dout[i] : alpha_at(l, &in_shape[0], i % count) * dout[i];
	return 0;
}

const tl_layer_ops tl_ops_prelu = {
	.family = "prelu",
	.shape = tl_shape_same,
	.n_weights = tl_one_weight,
	.bind = prelu_bind,
	.forward = prelu_forward,
	.backward = prelu_backward,
	.flags = TL_LAYER_POSITIONWISE,
};
