/*
 * tl_merge.c — merging layers of Functional models: Concatenate, Add,
 * Subtract, Multiply, Average, Maximum, Minimum.  Backward: Maximum and
 * Minimum pass the gradient to the first input holding the extreme (the
 * one the forward kept); Multiply to each input times the others.
 */
#include <string.h>

#include "nn/tl_layer.h"

static int
merge_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	static const struct
	{
		const char *cls;
		tl_merge	op;
	}			ops[] =
	{
		{"Concatenate", TL_MERGE_CONCAT}, {"Add", TL_MERGE_ADD},
		{"Subtract", TL_MERGE_SUB}, {"Multiply", TL_MERGE_MUL},
		{"Average", TL_MERGE_AVG}, {"Maximum", TL_MERGE_MAX},
		{"Minimum", TL_MERGE_MIN},
	};

	(void) cx;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(l->class_name, ops[i].cls) == 0)
			l->u.merge.op = ops[i].op;
	return tl_cfg_int(cfg, "axis", -1, &l->u.merge.axis, l, st);
}

static int
merge_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
			tl_status *st)
{
	int			axis = -1;

	if (n_in < 2 || (l->u.merge.op == TL_MERGE_SUB && n_in != 2))
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (%s): needs %s inputs, has %d",
					   l->name, l->class_name,
					   l->u.merge.op == TL_MERGE_SUB ? "exactly 2" : "at least 2", n_in);
	if (l->u.merge.op == TL_MERGE_CONCAT &&
		tl_keras_axis(l->u.merge.axis, in[0].nd, &axis, l, st) < 0)
		return -1;
	*out = in[0];
	for (int i = 1; i < n_in; i++)
	{
		if (in[i].nd != in[0].nd)
			goto mismatch;
		for (int k = 0; k < in[0].nd; k++)
		{
			if (k == axis)
				out->d[k] = (out->d[k] < 0 || in[i].d[k] < 0) ? -1 : out->d[k] + in[i].d[k];
			else if (in[i].d[k] != in[0].d[k])
				goto mismatch;
		}
	}
	return 0;
mismatch:
	return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (%s): input shapes do not match",
				   l->name, l->class_name);
}

/* Concatenate: the axis, how many blocks precede it (batch included) and the
 * length of one output block from the axis on. */
static int
concat_extent(const tl_layer *l, const tl_shape *in_shape, const tl_shape *out_shape,
			  int n, int *axis, int64_t *outer, int64_t *out_row, tl_status *st)
{
	if (tl_keras_axis(l->u.merge.axis, in_shape[0].nd, axis, l, st) < 0)
		return -1;
	*outer = n;
	*out_row = 1;
	for (int k = 0; k < *axis; k++)
		*outer *= in_shape[0].d[k];
	for (int k = *axis; k < out_shape->nd; k++)
		*out_row *= out_shape->d[k];
	return 0;
}

static int
merge_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
			  const tl_shape *in_shape, float *out, const tl_shape *out_shape,
			  int n, tl_status *st)
{
	int			n_in = l->n_in;

	(void) ex;
	if (l->u.merge.op == TL_MERGE_CONCAT)
	{
		int			axis;
		int64_t		outer,
					out_row;

		if (concat_extent(l, in_shape, out_shape, n, &axis, &outer, &out_row, st) < 0)
			return -1;
		for (int64_t o = 0; o < outer; o++)
		{
			float	   *dst = out + o * out_row;

			for (int i = 0; i < n_in; i++)
			{
				int64_t		row = 1;

				for (int k = axis; k < in_shape[i].nd; k++)
					row *= in_shape[i].d[k];
				memcpy(dst, in[i] + o * row, sizeof(float) * row);
				dst += row;
			}
		}
		return 0;
	}
	else
	{
		int64_t		total = n * tl_shape_count(out_shape);

		memcpy(out, in[0], sizeof(float) * total);
		for (int i = 1; i < n_in; i++)
		{
			const float *x = in[i];

			for (int64_t k = 0; k < total; k++)
			{
				switch (l->u.merge.op)
				{
					case TL_MERGE_ADD:
					case TL_MERGE_AVG:
						out[k] += x[k];
						break;
					case TL_MERGE_SUB:
						out[k] -= x[k];
						break;
					case TL_MERGE_MUL:
						out[k] *= x[k];
						break;
					case TL_MERGE_MAX:
						out[k] = x[k] > out[k] ? x[k] : out[k];
						break;
					case TL_MERGE_MIN:
						out[k] = x[k] < out[k] ? x[k] : out[k];
						break;
					case TL_MERGE_CONCAT:
						break;
				}
			}
		}
		if (l->u.merge.op == TL_MERGE_AVG)
			for (int64_t k = 0; k < total; k++)
				out[k] /= n_in;
	}
	return 0;
}

static int
merge_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
			   const tl_shape *in_shape, const float *out,
			   const tl_shape *out_shape, const float *dout,
			   float *const *din, int n, tl_status *st)
{
	int			n_in = l->n_in;
	int64_t		total = n * tl_shape_count(out_shape);

	(void) ex;
	if (l->u.merge.op == TL_MERGE_CONCAT)
	{
		int			axis;
		int64_t		outer,
					out_row;

		if (concat_extent(l, in_shape, out_shape, n, &axis, &outer, &out_row, st) < 0)
			return -1;
		for (int64_t o = 0; o < outer; o++)
		{
			const float *src = dout + o * out_row;

			for (int i = 0; i < n_in; i++)
			{
				int64_t		row = 1;

				for (int k = axis; k < in_shape[i].nd; k++)
					row *= in_shape[i].d[k];
				if (din[i])
					for (int64_t j = 0; j < row; j++)
						din[i][o * row + j] += src[j];
				src += row;
			}
		}
		return 0;
	}
	for (int64_t k = 0; k < total; k++)
	{
		float		d = dout[k];

		switch (l->u.merge.op)
		{
			case TL_MERGE_ADD:
			case TL_MERGE_AVG:
				if (l->u.merge.op == TL_MERGE_AVG)
					d /= n_in;
				for (int i = 0; i < n_in; i++)
					if (din[i])
						din[i][k] += d;
				break;
			case TL_MERGE_SUB:
				if (din[0])
					din[0][k] += d;
				if (din[1])
					din[1][k] -= d;
				break;
			case TL_MERGE_MUL:
				for (int i = 0; i < n_in; i++)
				{
					float		p = d;

					if (din[i] == NULL)
						continue;
					for (int j = 0; j < n_in; j++)
						if (j != i)
							p *= in[j][k];
					din[i][k] += p;
				}
				break;
			case TL_MERGE_MAX:
			case TL_MERGE_MIN:
				for (int i = 0; i < n_in; i++)
					if (in[i][k] == out[k])
					{
						if (din[i])
							din[i][k] += d;
						break;
					}
				break;
			case TL_MERGE_CONCAT:
				break;
		}
	}
	return 0;
}

/* Keras merges keep the mask, but for a concatenation along another axis than the last */
static tl_mask_rule
merge_mask_rule(const tl_layer *l)
{
	return l->u.merge.op != TL_MERGE_CONCAT || l->u.merge.axis == -1 ?
		TL_MASK_KEEP : TL_MASK_DROP;
}

const tl_layer_ops tl_ops_merge = {
	.family = "merge",
	.configure = merge_configure,
	.shape = merge_shape,
	.forward = merge_forward,
	.backward = merge_backward,
	.mask_rule = merge_mask_rule,
};
