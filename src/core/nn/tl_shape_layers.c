/*
 * tl_shape_layers.c — layers that only move data around: InputLayer, the
 * inference-time identities (Dropout and friends), Flatten, Reshape, Permute.
 * All but Permute alias their input, and so share its gradient buffer too;
 * Permute's backward moves the gradient back to where each value came from.
 */
#include <string.h>

#include "nn/tl_layer.h"

/* ---- InputLayer: its shape is set by the graph builder ---------------- */
static int
input_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
			tl_status *st)
{
	(void) in;
	(void) n_in;
	(void) st;
	*out = l->out;
	return 0;
}

const tl_layer_ops tl_ops_input = {
	.family = "input",
	.shape = input_shape,
	.aliases_input = 1,
	.flags = TL_LAYER_INPUT,
};

/* ---- Dropout, SpatialDropout*, GaussianNoise...: identity at inference - */
int
tl_shape_same(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
			  tl_status *st)
{
	(void) l;
	(void) n_in;
	(void) st;
	*out = in[0];
	return 0;
}

int
tl_shape_same_last_known(const tl_layer *l, const tl_shape *in, int n_in,
						 tl_shape *out, tl_status *st)
{
	(void) n_in;
	if (in[0].nd < 1 || in[0].d[in[0].nd - 1] < 1)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (%s): the last input dimension must be known",
					   l->name, l->class_name);
	*out = in[0];
	return 0;
}

const tl_layer_ops tl_ops_identity = {
	.family = "identity",
	.shape = tl_shape_same,
	.aliases_input = 1,
	.flags = TL_LAYER_POSITIONWISE,
	.mask_rule = tl_mask_keep,
};

/* ---- Flatten ------------------------------------------------------------ */
static int
flatten_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	(void) cx;
	return tl_cfg_channels_last(cfg, l, st);
}

static int
flatten_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
			  tl_status *st)
{
	(void) l;
	(void) n_in;
	(void) st;
	out->nd = 1;
	out->d[0] = (int) tl_shape_count(&in[0]);
	return 0;
}

const tl_layer_ops tl_ops_flatten = {
	.family = "flatten",
	.configure = flatten_configure,
	.shape = flatten_shape,
	.aliases_input = 1,
};

/* ---- Reshape -------------------------------------------------------------- */
static int
reshape_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	json_t	   *t = json_object_get(cfg, "target_shape");
	tl_shape   *s = &l->u.reshape.target;
	int			n_unknown = 0;

	(void) cx;
	if (!json_is_array(t) || json_array_size(t) < 1 || json_array_size(t) > TL_MAX_DIMS)
		return tl_fail(st, TL_ERR_MODEL,
					   "layer \"%s\" (Reshape): target_shape must be a list of 1 to %d integers",
					   l->name, TL_MAX_DIMS);
	s->nd = (int) json_array_size(t);
	for (int i = 0; i < s->nd; i++)
	{
		json_t	   *e = json_array_get(t, i);

		if (!json_is_integer(e) || json_integer_value(e) == 0 ||
			json_integer_value(e) < -1 || json_integer_value(e) > (1 << 30))
			return tl_fail(st, TL_ERR_MODEL,
						   "layer \"%s\" (Reshape): target_shape entries must be positive integers or -1",
						   l->name);
		s->d[i] = (int) json_integer_value(e);
		n_unknown += (s->d[i] == -1);
	}
	if (n_unknown > 1)
		return tl_fail(st, TL_ERR_MODEL,
					   "layer \"%s\" (Reshape): at most one target_shape entry may be -1",
					   l->name);
	/* with the wildcard left out the product must stay a sample's size */
	return tl_shape_check(s, l->name, st);
}

static int
reshape_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
			  tl_status *st)
{
	int64_t		total = tl_shape_count(&in[0]);
	int64_t		known = 1;
	int			wild = -1;

	(void) n_in;
	*out = l->u.reshape.target;
	for (int i = 0; i < out->nd; i++)
	{
		if (out->d[i] == -1)
			wild = i;
		else
			known *= out->d[i];
	}
	if (total < 0)
		return 0;				/* resolved when the input length is known */
	if (wild >= 0)
	{
		if (total % known != 0)
			goto mismatch;
		out->d[wild] = (int) (total / known);
	}
	else if (known != total)
		goto mismatch;
	return 0;
mismatch:
	return tl_fail(st, TL_ERR_INPUT,
				   "layer \"%s\" (Reshape): cannot reshape %lld values into target_shape",
				   l->name, (long long) total);
}

const tl_layer_ops tl_ops_reshape = {
	.family = "reshape",
	.configure = reshape_configure,
	.shape = reshape_shape,
	.aliases_input = 1,
};

/* ---- Permute -------------------------------------------------------------- */
static int
permute_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	json_t	   *d = json_object_get(cfg, "dims");
	int			n = (int) json_array_size(d);
	int			seen[TL_MAX_DIMS] = {0};

	(void) cx;
	if (!json_is_array(d) || n < 1 || n > TL_MAX_DIMS)
		goto bad;
	for (int i = 0; i < n; i++)
	{
		json_t	   *e = json_array_get(d, i);
		int			v = json_is_integer(e) ? (int) json_integer_value(e) : 0;

		/* Keras numbers the per-sample axes from 1. */
		if (v < 1 || v > n || seen[v - 1])
			goto bad;
		seen[v - 1] = 1;
		l->u.permute.perm[i] = v - 1;
	}
	l->u.permute.n = n;
	return 0;
bad:
	return tl_fail(st, TL_ERR_MODEL,
				   "layer \"%s\" (Permute): dims must be a permutation of 1..n",
				   l->name);
}

static int
permute_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
			  tl_status *st)
{
	int			n = l->u.permute.n;

	(void) n_in;
	if (in[0].nd != n)
		return tl_fail(st, TL_ERR_MODEL,
					   "layer \"%s\" (Permute): dims has %d entries but the input has rank %d",
					   l->name, n, in[0].nd + 1);
	out->nd = n;
	for (int i = 0; i < n; i++)
		out->d[i] = in[0].d[l->u.permute.perm[i]];
	return 0;
}

/*
 * Walks the output of n samples in order with the matching input offset:
 * the forward copies x into y; given dy, the backward adds it onto dx.
 */
static void
permute_walk(const tl_layer *l, const tl_shape *is, const tl_shape *os,
			 const float *x, float *y, const float *dy, float *dx, int n)
{
	int			nd = is->nd;
	int64_t		in_stride[TL_MAX_DIMS];
	int64_t		size = tl_shape_count(is);
	int			idx[TL_MAX_DIMS];

	in_stride[nd - 1] = 1;
	for (int i = nd - 2; i >= 0; i--)
		in_stride[i] = in_stride[i + 1] * is->d[i + 1];
	for (int b = 0; b < n; b++)
	{
		int64_t		base = b * size;

		memset(idx, 0, sizeof(idx));
		for (int64_t o = 0; o < size; o++)
		{
			int64_t		off = 0;

			for (int i = 0; i < nd; i++)
				off += idx[i] * in_stride[l->u.permute.perm[i]];
			if (dy)
				dx[base + off] += dy[base + o];
			else
				y[base + o] = x[base + off];
			/* advance the output multi-index (row-major) */
			for (int i = nd - 1; i >= 0; i--)
			{
				if (++idx[i] < os->d[i])
					break;
				idx[i] = 0;
			}
		}
	}
}

static int
permute_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
				const tl_shape *in_shape, float *out, const tl_shape *out_shape,
				int n, tl_status *st)
{
	(void) ex;
	(void) st;
	permute_walk(l, &in_shape[0], out_shape, in[0], out, NULL, NULL, n);
	return 0;
}

static int
permute_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
				 const tl_shape *in_shape, const float *out,
				 const tl_shape *out_shape, const float *dout,
				 float *const *din, int n, tl_status *st)
{
	(void) ex;
	(void) in;
	(void) out;
	(void) st;
	permute_walk(l, &in_shape[0], out_shape, NULL, NULL, dout, din[0], n);
	return 0;
}

const tl_layer_ops tl_ops_permute = {
	.family = "permute",
	.configure = permute_configure,
	.shape = permute_shape,
	.forward = permute_forward,
	.backward = permute_backward,
};
