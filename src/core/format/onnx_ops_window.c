/*
 * onnx_ops_window.c — ONNX convolution, pooling, reductions and normalisation
 * as layers (onnx_ops.h).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "format/onnx_ops.h"

/* ---- windows: convolution and pooling ----------------------------------------------- */

/*
 * Reads kernel_shape (or the weight's), strides, dilations, pads, auto_pad.
 * Symmetric padding of a stride-1 window becomes "same" when same_ok (not
 * for an average that counts the padding).
 */
static int
read_window(onnx_ctx *cx, const onnx_value *x, const int64_t *kshape, int nk, int same_ok,
			onnx_window *w, tl_status *st)
{
	const Onnx__NodeProto *n = cx->node;
	int			ns,
				nd,
				np;
	const int64_t *s = onnx_attr_ints(n, "strides", &ns),
			   *d = onnx_attr_ints(n, "dilations", &nd),
			   *p = onnx_attr_ints(n, "pads", &np);
	char		buf[32];
	const char *autopad = onnx_attr_string(n, "auto_pad", "NOTSET", buf, sizeof(buf));

	w->rank = x->rank - 2;
	if ((w->rank != 1 && w->rank != 2) || x->batch_axis != 0)
		return onnx_unsupported(cx, st, "only 1-D and 2-D windows over (batch, channels, ...) inputs are supported");
	if (nk != w->rank || (ns && ns != w->rank) || (nd && nd != w->rank) || (np && np != 2 * w->rank))
		return onnx_fail_node(cx, st, TL_ERR_MODEL, "kernel_shape, strides, dilations and pads disagree");
	for (int a = 0; a < w->rank; a++)
	{
		w->k[a] = (int) kshape[a];
		w->s[a] = ns ? (int) s[a] : 1;
		w->d[a] = nd ? (int) d[a] : 1;
		w->pb[a] = np ? (int) p[a] : 0;
		w->pa[a] = np ? (int) p[a + w->rank] : 0;
		if (w->k[a] < 1 || w->k[a] > 65536 || w->s[a] < 1 || w->s[a] > 65536 ||
			w->d[a] < 1 || w->d[a] > 65536 || w->pb[a] < 0 || w->pa[a] < 0 ||
			w->pb[a] > 65536 || w->pa[a] > 65536)
			return onnx_fail_node(cx, st, TL_ERR_MODEL, "kernel, stride, dilation or padding out of range");
	}
	w->padding = "valid";
	if (strcmp(autopad, "SAME_UPPER") == 0)
	{
		w->padding = "same";
		memset(w->pb, 0, sizeof(w->pb));
		memset(w->pa, 0, sizeof(w->pa));
	}
	else if (strcmp(autopad, "SAME_LOWER") == 0)
		return onnx_unsupported(cx, st, "auto_pad SAME_LOWER is not supported");
	else if (strcmp(autopad, "VALID") == 0)
	{
		memset(w->pb, 0, sizeof(w->pb));
		memset(w->pa, 0, sizeof(w->pa));
	}
	else
	{
		/* symmetric padding of a stride-1 window: TensorFlow's "same" */
		int			same = 1,
					none = 1;

		for (int a = 0; a < w->rank; a++)
		{
			int			span = (w->k[a] - 1) * w->d[a];

			none &= w->pb[a] == 0 && w->pa[a] == 0;
			same &= w->s[a] == 1 && span % 2 == 0 && w->pb[a] == span / 2 && w->pa[a] == span / 2;
		}
		if (!none && same && same_ok)
		{
			w->padding = "same";
			memset(w->pb, 0, sizeof(w->pb));
			memset(w->pa, 0, sizeof(w->pa));
		}
	}
	return 0;
}

static int
has_explicit_padding(const onnx_window *w)
{
	for (int a = 0; a < w->rank; a++)
		if (w->pb[a] || w->pa[a])
			return 1;
	return 0;
}

/* x channels last (its layer), padded explicitly when the window asks for it. */
int
onnx_window_input(onnx_ctx *cx, onnx_value *x, const onnx_window *w, float pad_value, int64_t *len,
			 tl_status *st)
{
	int			order[ONNX_MAX_RANK],
				in;
	json_t	   *pads;

	onnx_std_order(x, 1, order);
	if ((in = onnx_in_order(cx, x, order, st)) < 0)
		return -1;
	for (int a = 0; a < w->rank; a++)
		len[a] = x->dims[2 + a] < 0 ? -1 : x->dims[2 + a] + w->pb[a] + w->pa[a];
	if (!has_explicit_padding(w))
		return in;
	if (w->rank == 1)
		pads = json_pack("[i,i]", w->pb[0], w->pa[0]);
	else
		pads = json_pack("[[i,i],[i,i]]", w->pb[0], w->pa[0], w->pb[1], w->pa[1]);
	return onnx_emit(cx, w->rank == 1 ? "ZeroPadding1D" : "ZeroPadding2D", "pad",
					 json_pack("{s:o,s:f}", "padding", pads, "pad_value", pad_value), &in, 1, st);
}

/* Defines the window op's output: channels last, `channels` wide. */
int
onnx_window_output(onnx_ctx *cx, onnx_value *x, const onnx_window *w, const int64_t *len, int channels,
			  int li, int ceil_mode, tl_status *st)
{
	onnx_value *out = onnx_output_like(cx, 0, x, li, st);

	if (out == NULL)
		return -1;
	onnx_std_order(x, 1, out->order);
	out->dims[1] = channels;
	for (int a = 0; a < w->rank; a++)
	{
		int			span = (w->k[a] - 1) * w->d[a] + 1;

		if (len[a] < 0)
			out->dims[2 + a] = -1;
		else if (strcmp(w->padding, "same") == 0)
			out->dims[2 + a] = (len[a] + w->s[a] - 1) / w->s[a];
		else if (len[a] < span)
			return onnx_fail_node(cx, st, TL_ERR_MODEL, "the input is smaller than the window");
		else
		{
			out->dims[2 + a] = (len[a] - span) / w->s[a] + 1;
			if (ceil_mode && (len[a] - span) % w->s[a] != 0)
				return onnx_unsupported(cx, st, "ceil_mode = 1 where it changes the output size is not supported");
		}
	}
	if (ceil_mode)
		for (int a = 0; a < w->rank; a++)
			if (len[a] < 0)
				return onnx_unsupported(cx, st, "ceil_mode = 1 on an axis of unknown length is not supported");
	return 0;
}

static json_t *
ints_json(const int *v, int n)
{
	json_t	   *a = json_array();

	for (int k = 0; k < n; k++)
		json_array_append_new(a, json_integer(v[k]));
	return a;
}

int
onnx_map_conv(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = onnx_dyn_in(cx, 0, st),
			   *wt = onnx_const_in(cx, 1, 4, st),
			   *b = onnx_input(cx, 2);
	int			group = (int) onnx_attr_int(cx->node, "group", 1);
	int64_t		kshape[2],
				len[2];
	onnx_window w;
	int			f,
				cg,
				c,
				in,
				li,
				kdims[4],
				nkd = 0;
	int64_t		taps;
	float	   *kernel;
	json_t	   *cfg;

	if (x == NULL || wt == NULL)
		return -1;
	if (wt->rank != x->rank || wt->rank < 3)
		return onnx_unsupported(cx, st, "only 1-D and 2-D convolutions are supported");
	for (int a = 0; a < wt->rank - 2; a++)
		kshape[a] = wt->dims[2 + a];
	if (read_window(cx, x, kshape, wt->rank - 2, 1, &w, st) < 0)
		return -1;
	f = (int) wt->dims[0];
	cg = (int) wt->dims[1];
	c = (int) x->dims[1];
	if (group < 1 || f % group != 0 || c != cg * group)
		return onnx_fail_node(cx, st, TL_ERR_MODEL, "the weight (%d, %d, ...) does not fit %d input channels in %d groups",
							  f, cg, c, group);
	if (b && (!b->is_const || b->count != f))
		return onnx_unsupported(cx, st, "the bias must be a constant of one value per filter");
	if ((in = onnx_window_input(cx, x, &w, 0.0f, len, st)) < 0)
		return -1;
	/* kernel (kh, kw, C, F); groups as a block-diagonal full kernel */
	taps = w.rank == 2 ? (int64_t) w.k[0] * w.k[1] : w.k[0];
	kernel = tl_calloc((size_t) (taps * c), sizeof(float) * f);
	if (kernel == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	for (int o = 0; o < f; o++)
	{
		int			g = o / (f / group);

		for (int i = 0; i < cg; i++)
			for (int64_t t = 0; t < taps; t++)
			{
				int64_t		src = ((int64_t) o * cg + i) * taps + t;

				kernel[(t * c + g * cg + i) * f + o] = wt->is_int ? (float) wt->i[src] : wt->f[src];
			}
	}
	for (int a = 0; a < w.rank; a++)
		kdims[nkd++] = w.k[a];
	kdims[nkd++] = c;
	kdims[nkd++] = f;
	cfg = json_pack("{s:i,s:o,s:o,s:o,s:s,s:b}", "filters", f,
					"kernel_size", ints_json(w.k, w.rank), "strides", ints_json(w.s, w.rank),
					"dilation_rate", ints_json(w.d, w.rank), "padding", w.padding,
					"use_bias", b != NULL);
	li = onnx_emit(cx, w.rank == 1 ? "Conv1D" : "Conv2D", NULL, cfg, &in, 1, st);
	if (li < 0)
	{
		tl_free(kernel);
		return -1;
	}
	if (onnx_add_weight(cx, li, kernel, nkd, kdims, st) < 0 ||
		(b && onnx_add_weight(cx, li, onnx_floats_of(b), 1, &f, st) < 0))
		return -1;
	return onnx_window_output(cx, x, &w, len, f, li, 0, st);
}

int
onnx_map_pool(onnx_ctx *cx, tl_status *st)
{
	const Onnx__NodeProto *n = cx->node;
	onnx_value *x = onnx_dyn_in(cx, 0, st);
	int			is_max = strcmp(n->op_type, "MaxPool") == 0;
	int			nk,
				in,
				li;
	const int64_t *k = onnx_attr_ints(n, "kernel_shape", &nk);
	int64_t		len[2];
	onnx_window w;
	json_t	   *cfg;

	if (x == NULL)
		return -1;
	if (read_window(cx, x, k, nk, is_max || !onnx_attr_int(n, "count_include_pad", 0), &w, st) < 0)
		return -1;
	for (int a = 0; a < w.rank; a++)
		if (w.d[a] != 1)
			return onnx_unsupported(cx, st, "dilated pooling is not supported");
	if (!is_max && has_explicit_padding(&w) && !onnx_attr_int(n, "count_include_pad", 0))
	{
		/* padding left out of the average: TensorFlow's "same" when it pads alike */
		int			same = 1;

		for (int a = 0; a < w.rank; a++)
		{
			int64_t		l = x->dims[2 + a];
			int			total;

			if (l < 0)
				return onnx_unsupported(cx, st, "padded AveragePool with count_include_pad = 0 on an axis of unknown length is not supported");
			total = (int) (((l + w.s[a] - 1) / w.s[a] - 1) * w.s[a] + w.k[a] - l);
			total = total < 0 ? 0 : total;
			same &= w.pb[a] == total / 2 && w.pa[a] == total - total / 2;
		}
		if (!same)
			return onnx_unsupported(cx, st, "AveragePool with asymmetric padding and count_include_pad = 0 is not supported");
		w.padding = "same";
		memset(w.pb, 0, sizeof(w.pb));
		memset(w.pa, 0, sizeof(w.pa));
	}
	if ((in = onnx_window_input(cx, x, &w, is_max ? -FLT_MAX : 0.0f, len, st)) < 0)
		return -1;
	cfg = json_pack("{s:o,s:o,s:s}", "pool_size", ints_json(w.k, w.rank),
					"strides", ints_json(w.s, w.rank), "padding", w.padding);
	li = onnx_emit(cx, is_max ? (w.rank == 1 ? "MaxPooling1D" : "MaxPooling2D") :
				   (w.rank == 1 ? "AveragePooling1D" : "AveragePooling2D"), NULL, cfg, &in, 1, st);
	if (li < 0)
		return -1;
	return onnx_window_output(cx, x, &w, len, (int) x->dims[1], li,
						 (int) onnx_attr_int(n, "ceil_mode", 0), st);
}

/*
 * A global pooling over the ONNX axes in `reduced` (1 or 2 of them) of x,
 * keeping channel axis c: the layer reads x with c last.
 */
static int
emit_global_pool(onnx_ctx *cx, onnx_value *x, const int *reduced, int nr, int c, int is_max,
				 int keepdims, tl_status *st)
{
	int			order[ONNX_MAX_RANK],
				in,
				li;
	char		cls[32];
	onnx_value *out;

	for (int k = 0; k < nr; k++)
		order[k] = reduced[k];
	order[nr] = c;
	if ((in = onnx_in_order(cx, x, order, st)) < 0)
		return -1;
	snprintf(cls, sizeof(cls), "Global%sPooling%dD", is_max ? "Max" : "Average", nr);
	li = onnx_emit(cx, cls, NULL, json_pack("{s:b}", "keepdims", keepdims), &in, 1, st);
	if (li < 0 || (out = onnx_output_like(cx, 0, x, li, st)) == NULL)
		return -1;
	if (keepdims)
	{
		for (int k = 0; k < nr; k++)
			out->dims[reduced[k]] = 1;
		memcpy(out->order, order, sizeof(order));
		return 0;
	}
	/* drop the reduced axes: the batch and c remain */
	out->rank = 2;
	out->batch_axis = x->batch_axis < c ? 0 : 1;
	out->dims[out->batch_axis] = -1;
	out->dims[1 - out->batch_axis] = x->dims[c];
	out->order[0] = 1 - out->batch_axis;
	return 0;
}

int
onnx_map_global_pool(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = onnx_dyn_in(cx, 0, st);
	int			reduced[2] = {2, 3};

	if (x == NULL)
		return -1;
	if ((x->rank != 3 && x->rank != 4) || x->batch_axis != 0)
		return onnx_unsupported(cx, st, "only 1-D and 2-D global pooling of (batch, channels, ...) inputs is supported");
	return emit_global_pool(cx, x, reduced, x->rank - 2, 1,
							strcmp(cx->node->op_type, "GlobalMaxPool") == 0, 1, st);
}

int
onnx_map_reduce(onnx_ctx *cx, tl_status *st)
{
	const Onnx__NodeProto *n = cx->node;
	onnx_value *x = onnx_dyn_in(cx, 0, st);
	int			na,
				is_max = strcmp(n->op_type, "ReduceMax") == 0;
	const int64_t *axes = onnx_attr_ints(n, "axes", &na);
	char		mark[ONNX_MAX_RANK] = {0};
	int			reduced[ONNX_MAX_RANK],
				nr = 0,
				c = -1,
				kept = 0;
	onnx_value *ax = onnx_input(cx, 1);

	if (x == NULL)
		return -1;
	if (ax != NULL)
	{
		if (!ax->is_const || ax->count > ONNX_MAX_RANK)
			return onnx_unsupported(cx, st, "axes must be a constant");
		na = (int) ax->count;
		axes = ax->i;
	}
	if (na == 0)
		return onnx_unsupported(cx, st, "reducing over every axis, the batch included, is not supported");
	for (int k = 0; k < na; k++)
	{
		int			a = onnx_axis(axes[k], x->rank);

		if (a < 0 || a == x->batch_axis)
			return onnx_unsupported(cx, st, "reducing over the batch axis is not supported");
		mark[a] = 1;
	}
	for (int a = 0; a < x->rank; a++)
	{
		if (mark[a])
			reduced[nr++] = a;
		else if (a != x->batch_axis)
		{
			c = a;
			kept++;
		}
	}
	if (kept != 1 || nr > 2)
		return onnx_unsupported(cx, st, "only reductions that keep exactly one axis besides the batch (over 1 or 2 axes) are supported");
	return emit_global_pool(cx, x, reduced, nr, c, is_max,
							(int) onnx_attr_int(n, "keepdims", 1), st);
}

int
onnx_map_batchnorm(onnx_ctx *cx, tl_status *st)
{
	const Onnx__NodeProto *n = cx->node;
	onnx_value *x = onnx_dyn_in(cx, 0, st);
	onnx_value *p[4];
	int			c,
				li;

	if (x == NULL)
		return -1;
	if (onnx_attr_int(n, "training_mode", 0) != 0 || x->rank < 2 || x->batch_axis != 0)
		return onnx_unsupported(cx, st, "only inference-mode BatchNormalization of (batch, channels, ...) inputs is supported");
	c = (int) x->dims[1];
	for (int k = 0; k < 4; k++)
		if ((p[k] = onnx_const_in(cx, k + 1, 1, st)) == NULL || p[k]->count != c)
			return st->code ? -1 : onnx_fail_node(cx, st, TL_ERR_MODEL, "parameter %d does not have one value per channel", k + 1);
	li = onnx_emit(cx, "BatchNormalization", NULL,
				   json_pack("{s:i,s:f,s:b,s:b}", "axis", onnx_internal_axis(x, 1) + 1,
							 "epsilon", onnx_attr_float(n, "epsilon", 1e-5f), "center", 1, "scale", 1),
				   &x->layer, 1, st);
	if (li < 0)
		return -1;
	for (int k = 0; k < 4; k++)
		if (onnx_add_weight(cx, li, onnx_floats_of(p[k]), 1, &c, st) < 0)
			return -1;
	return onnx_output_like(cx, 0, x, li, st) ? 0 : -1;
}

int
onnx_map_layernorm(onnx_ctx *cx, tl_status *st)
{
	const Onnx__NodeProto *n = cx->node;
	onnx_value *x = onnx_dyn_in(cx, 0, st),
			   *gamma = onnx_input(cx, 1),
			   *beta = onnx_input(cx, 2);
	int			axis,
				order[ONNX_MAX_RANK],
				in,
				li,
				dims[TL_MAX_DIMS],
				nd = 0;
	int64_t		count = 1;
	json_t	   *axes;

	if (x == NULL)
		return -1;
	axis = onnx_axis(onnx_attr_int(n, "axis", -1), x->rank);
	if (axis < 0 || x->batch_axis >= axis)
		return onnx_unsupported(cx, st, "only normalisation over trailing axes after the batch axis is supported");
	for (size_t k = 1; k < n->n_output; k++)
		if (n->output[k][0] && onnx_find(cx, n->output[k])->uses > 0)
			return onnx_unsupported(cx, st, "the Mean and InvStdDev outputs are not supported");
	axes = json_array();
	for (int a = axis; a < x->rank; a++)
	{
		if (x->dims[a] < 1)
		{
			json_decref(axes);
			return onnx_unsupported(cx, st, "the normalised axes must have a known size");
		}
		dims[nd++] = (int) x->dims[a];
		count *= x->dims[a];
		json_array_append_new(axes, json_integer(a));
	}
	if (gamma == NULL || !gamma->is_const || gamma->count != count ||
		(beta && (!beta->is_const || beta->count != count)))
	{
		json_decref(axes);
		return onnx_unsupported(cx, st, "Scale and B must be constants of the normalised shape");
	}
	onnx_std_order(x, -1, order);
	if ((in = onnx_in_order(cx, x, order, st)) < 0)
	{
		json_decref(axes);
		return -1;
	}
	li = onnx_emit(cx, "LayerNormalization", NULL,
				   json_pack("{s:o,s:f,s:b,s:b}", "axis", axes,
							 "epsilon", onnx_attr_float(n, "epsilon", 1e-5f),
							 "scale", 1, "center", beta != NULL), &in, 1, st);
	if (li < 0 || onnx_add_weight(cx, li, onnx_floats_of(gamma), nd, dims, st) < 0 ||
		(beta && onnx_add_weight(cx, li, onnx_floats_of(beta), nd, dims, st) < 0))
		return -1;
	{
		onnx_value *out = onnx_output_like(cx, 0, x, li, st);

		if (out == NULL)
			return -1;
		memcpy(out->order, order, sizeof(order));
	}
	return 0;
}

