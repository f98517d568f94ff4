/*
 * onnx_ops_shape.c — ONNX shape operators (Flatten, Reshape, Transpose,
 * Squeeze/Unsqueeze, Concat, Pad), embeddings, Gather and Slice as layers
 * (onnx_ops.h).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "format/onnx_ops.h"

/* ---- shapes ------------------------------------------------------------------------ */

/* A Reshape (an alias) of x's data to new ONNX dims (batch at axis b), internal order std. */
static int
emit_reshape(onnx_ctx *cx, onnx_value *x, int in, int rank, int b, const int64_t *dims,
			 tl_status *st)
{
	json_t	   *target = json_array();
	int			unknown = 0,
				li;
	onnx_value *out;

	for (int a = 0; a < rank; a++)
	{
		if (a == b)
			continue;
		unknown += dims[a] < 0;
		json_array_append_new(target, json_integer(dims[a] < 0 ? -1 : dims[a]));
	}
	if (rank == 1)
		json_array_append_new(target, json_integer(1));
	if (unknown > 1)
	{
		json_decref(target);
		return onnx_unsupported(cx, st, "a shape with several axes of unknown length is not supported");
	}
	li = onnx_emit(cx, "Reshape", NULL, json_pack("{s:o}", "target_shape", target), &in, 1, st);
	if (li < 0 || (out = onnx_output_like(cx, 0, x, li, st)) == NULL)
		return -1;
	out->rank = rank;
	out->batch_axis = b;
	memcpy(out->dims, dims, sizeof(int64_t) * rank);
	out->dims[b] = -1;
	onnx_std_order(out, -1, out->order);
	return 0;
}

int
onnx_map_flatten(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = onnx_dyn_in(cx, 0, st);
	int			axis,
				order[ONNX_MAX_RANK],
				in;
	int64_t		dims[2] = {-1, 1};

	if (x == NULL)
		return -1;
	axis = onnx_axis(onnx_attr_int(cx->node, "axis", 1), x->rank);
	if (axis != 1 || x->batch_axis != 0)
		return onnx_unsupported(cx, st, "only Flatten that keeps the batch axis (axis = 1) is supported");
	onnx_std_order(x, -1, order);
	if ((in = onnx_in_order(cx, x, order, st)) < 0)
		return -1;
	for (int a = 1; a < x->rank; a++)
		dims[1] = x->dims[a] < 0 || dims[1] < 0 ? -1 : dims[1] * x->dims[a];
	return emit_reshape(cx, x, in, 2, 0, dims, st);
}

/*
 * Reshape of a computed value: the batch axis b stays where it is, the
 * axes before it stay as they are, the rest of each sample is reshaped
 * (read in ONNX order).
 */
int
onnx_map_reshape(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = onnx_dyn_in(cx, 0, st),
			   *s = onnx_const_in(cx, 1, 1, st);
	int64_t		dims[ONNX_MAX_RANK],
				known = 1,
				per = 1;
	int			order[ONNX_MAX_RANK],
				in,
				wild = -1,
				b;

	if (x == NULL || s == NULL)
		return -1;
	b = x->batch_axis;
	if (!s->is_int || s->count <= b || s->count > TL_MAX_DIMS + 1)
		return onnx_unsupported(cx, st, "the target shape must be a constant list of up to 7 sizes that keeps the batch axis");
	for (int a = 0; a < x->rank; a++)
		if (a != b)
			per = x->dims[a] < 0 || per < 0 ? -1 : per * x->dims[a];
	for (int a = 0; a < s->count; a++)
	{
		int64_t		t = s->i[a];

		if (t == 0 && !onnx_attr_int(cx->node, "allowzero", 0))
			t = a == b ? ONNX_BATCH : (a < x->rank ? x->dims[a] : -2);
		if (a == b)
		{
			/* the batch: given as such, or the one wildcard beside fixed sizes */
			if (t != ONNX_BATCH && t != -1)
				return onnx_unsupported(cx, st, "the target shape does not keep the batch axis where it is");
			dims[a] = -1;
			continue;
		}
		if (a < b && (t != x->dims[a] || t < 1))
			return onnx_unsupported(cx, st, "the target shape changes the axes before the batch axis");
		if (t == -1 || t == ONNX_UNKNOWN)
		{
			if (wild >= 0)
				return onnx_unsupported(cx, st, "a target shape with several unknown sizes is not supported");
			wild = a;
			dims[a] = -1;
		}
		else if (t < 1 || t > (1 << 30))
			return onnx_fail_node(cx, st, TL_ERR_MODEL, "invalid target size %lld", (long long) t);
		else
			known *= (dims[a] = t);
	}
	if (s->i[b] == -1 && (wild >= 0 || (per > 0 && per != known)))
		return onnx_unsupported(cx, st, "the target shape does not keep the batch axis as it is");
	if (wild >= 0 && per > 0)
	{
		if (per % known != 0)
			return onnx_fail_node(cx, st, TL_ERR_MODEL, "cannot reshape %lld values per sample", (long long) per);
		dims[wild] = per / known;
	}
	else if (wild < 0 && per > 0 && per != known)
		return onnx_fail_node(cx, st, TL_ERR_MODEL, "cannot reshape %lld values per sample into %lld",
							  (long long) per, (long long) known);
	onnx_std_order(x, -1, order);
	if ((in = onnx_in_order(cx, x, order, st)) < 0)
		return -1;
	return emit_reshape(cx, x, in, (int) s->count, b, dims, st);
}

int
onnx_map_transpose(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = onnx_dyn_in(cx, 0, st),
			   *out;
	int			np,
				perm[ONNX_MAX_RANK],
				inv[ONNX_MAX_RANK];
	const int64_t *p;

	if (x == NULL)
		return -1;
	p = onnx_attr_ints(cx->node, "perm", &np);
	if (p && np != x->rank)
		return onnx_fail_node(cx, st, TL_ERR_MODEL, "perm has %d entries for rank %d", np, x->rank);
	memset(inv, -1, sizeof(inv));
	for (int j = 0; j < x->rank; j++)
	{
		perm[j] = p ? onnx_axis(p[j], x->rank) : x->rank - 1 - j;
		if (perm[j] < 0 || inv[perm[j]] >= 0)
			return onnx_fail_node(cx, st, TL_ERR_MODEL, "perm is not a permutation");
		inv[perm[j]] = j;
	}
	/* the data stay where they are: only the names of the axes change */
	if ((out = onnx_output_like(cx, 0, x, x->layer, st)) == NULL)
		return -1;
	for (int j = 0; j < x->rank; j++)
		out->dims[j] = x->dims[perm[j]];
	out->batch_axis = inv[x->batch_axis];
	for (int k = 0; k < x->rank - 1; k++)
		out->order[k] = inv[x->order[k]];
	return 0;
}

int
onnx_map_squeeze(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = onnx_dyn_in(cx, 0, st),
			   *ax = onnx_input(cx, 1),
			   *out;
	int			unsq = strcmp(cx->node->op_type, "Unsqueeze") == 0;
	int			newpos[ONNX_MAX_RANK] = {0};
	int			na,
				rank,
				order[ONNX_MAX_RANK],
				n = 0;
	const int64_t *axes = onnx_attr_ints(cx->node, "axes", &na);
	char		mark[ONNX_MAX_RANK] = {0};
	int64_t		dims[ONNX_MAX_RANK];
	json_t	   *target;
	int			li,
				unknown = 0;

	if (x == NULL)
		return -1;
	if (ax)
	{
		if (!ax->is_const || !ax->is_int || ax->count > ONNX_MAX_RANK)
			return onnx_unsupported(cx, st, "axes must be a constant");
		na = (int) ax->count;
		axes = ax->i;
	}
	if (!unsq && na == 0)
	{
		for (int a = 0; a < x->rank; a++)
			if (x->dims[a] == 1)
				mark[a] = 1;
	}
	rank = unsq ? x->rank + na : x->rank;
	if (rank > TL_MAX_DIMS + 1)
		return onnx_unsupported(cx, st, "the result has too many axes");
	for (int k = 0; k < na; k++)
	{
		int			a = onnx_axis(axes[k], rank);

		if (a < 0 || mark[a])
			return onnx_fail_node(cx, st, TL_ERR_MODEL, "invalid axes");
		mark[a] = 1;
	}
	/* where each old axis goes, and the new dims */
	if (unsq)
	{
		for (int a = 0, j = 0; a < rank; a++)
		{
			if (mark[a])
				dims[a] = 1;
			else
			{
				newpos[j] = a;
				dims[a] = x->dims[j++];
			}
		}
	}
	else
	{
		for (int a = 0, j = 0; a < x->rank; a++)
		{
			if (mark[a])
			{
				if (a == x->batch_axis)
					return onnx_unsupported(cx, st, "squeezing the batch axis is not supported");
				if (x->dims[a] != 1)
					return onnx_fail_node(cx, st, TL_ERR_MODEL, "axis %d does not have size 1", a);
				newpos[a] = -1;
			}
			else
			{
				newpos[a] = j;
				dims[j++] = x->dims[a];
			}
		}
		rank = 0;
		for (int a = 0; a < x->rank; a++)
			rank += !mark[a];
	}
	if (newpos[x->batch_axis] < 0 && !unsq)
		return onnx_unsupported(cx, st, "squeezing the batch axis is not supported");
	/* internal order: the old axes as they were, the new ones after */
	for (int k = 0; k < x->rank - 1; k++)
		if (unsq || newpos[x->order[k]] >= 0)
			order[n++] = newpos[x->order[k]];
	for (int a = 0; unsq && a < rank; a++)
		if (mark[a])
			order[n++] = a;
	target = json_array();
	for (int k = 0; k < n; k++)
	{
		unknown += dims[order[k]] < 0;
		json_array_append_new(target, json_integer(dims[order[k]] < 0 ? -1 : dims[order[k]]));
	}
	if (n == 0)
		json_array_append_new(target, json_integer(1));
	if (unknown > 1)
	{
		json_decref(target);
		return onnx_unsupported(cx, st, "a shape with several axes of unknown length is not supported");
	}
	li = onnx_emit(cx, "Reshape", NULL, json_pack("{s:o}", "target_shape", target), &x->layer, 1, st);
	if (li < 0 || (out = onnx_output_like(cx, 0, x, li, st)) == NULL)
		return -1;
	out->rank = rank;
	memcpy(out->dims, dims, sizeof(dims));
	out->batch_axis = newpos[x->batch_axis];
	memcpy(out->order, order, sizeof(order));
	return 0;
}

int
onnx_map_concat(onnx_ctx *cx, tl_status *st)
{
	const Onnx__NodeProto *n = cx->node;
	onnx_value *x = onnx_dyn_in(cx, 0, st),
			   *out;
	int			axis,
				ins[64],
				li;
	int64_t		total = 0;

	if (x == NULL)
		return -1;
	axis = onnx_axis(onnx_attr_int(n, "axis", 0), x->rank);
	if (axis < 0 || axis == x->batch_axis || n->n_input > 64 || n->n_input < 1)
		return onnx_unsupported(cx, st, "only concatenation along a per-sample axis of up to 64 inputs is supported");
	for (size_t k = 0; k < n->n_input; k++)
	{
		onnx_value *v = onnx_dyn_in(cx, (int) k, st);

		if (v == NULL)
			return -1;
		if (v->rank != x->rank || v->batch_axis != x->batch_axis)
			return onnx_fail_node(cx, st, TL_ERR_MODEL, "inputs of different ranks");
		for (int a = 0; a < x->rank; a++)
			if (a != axis && v->dims[a] != x->dims[a])
				return onnx_fail_node(cx, st, TL_ERR_MODEL, "input shapes do not match");
		total = v->dims[axis] < 0 || total < 0 ? -1 : total + v->dims[axis];
		if ((ins[k] = onnx_in_order(cx, v, x->order, st)) < 0)
			return -1;
	}
	if (n->n_input == 1)
		return onnx_output_like(cx, 0, x, x->layer, st) ? 0 : -1;
	li = onnx_emit(cx, "Concatenate", NULL,
				   json_pack("{s:i}", "axis", onnx_internal_axis(x, axis) + 1), ins, (int) n->n_input, st);
	if (li < 0 || (out = onnx_output_like(cx, 0, x, li, st)) == NULL)
		return -1;
	out->dims[axis] = total;
	return 0;
}

int
onnx_map_pad(onnx_ctx *cx, tl_status *st)
{
	const Onnx__NodeProto *n = cx->node;
	onnx_value *x = onnx_dyn_in(cx, 0, st),
			   *pv = onnx_input(cx, 1),
			   *cv = onnx_input(cx, 2);
	char		buf[16];
	int64_t		pads[2 * ONNX_MAX_RANK],
				len[2];
	int			np;
	float		value = onnx_attr_float(n, "value", 0.0f);
	onnx_window w = {0};
	int			li;

	if (x == NULL)
		return -1;
	if (strcmp(onnx_attr_string(n, "mode", "constant", buf, sizeof(buf)), "constant") != 0)
		return onnx_unsupported(cx, st, "only constant padding is supported");
	if (pv)
	{
		if (!pv->is_const || !pv->is_int || pv->count > 2 * ONNX_MAX_RANK)
			return onnx_unsupported(cx, st, "pads must be a constant");
		np = (int) pv->count;
		if (np > 0)
			memcpy(pads, pv->i, sizeof(int64_t) * np);
	}
	else
	{
		const int64_t *p = onnx_attr_ints(n, "pads", &np);

		if (np > 2 * ONNX_MAX_RANK)
			return onnx_unsupported(cx, st, "too many pads");
		if (np > 0)
			memcpy(pads, p, sizeof(int64_t) * np);
	}
	if (cv)
	{
		if (!cv->is_const || cv->count != 1)
			return onnx_unsupported(cx, st, "the padding value must be a scalar constant");
		value = cv->is_int ? (float) cv->i[0] : cv->f[0];
	}
	w.rank = x->rank - 2;
	if (np != 2 * x->rank || (w.rank != 1 && w.rank != 2) || x->batch_axis != 0 ||
		pads[0] || pads[1] || pads[x->rank] || pads[x->rank + 1])
		return onnx_unsupported(cx, st, "only padding the 1 or 2 spatial axes of (batch, channels, ...) inputs is supported");
	for (int a = 0; a < w.rank; a++)
	{
		if (pads[2 + a] < 0 || pads[x->rank + 2 + a] < 0 ||
			pads[2 + a] > 65536 || pads[x->rank + 2 + a] > 65536)
			return onnx_unsupported(cx, st, "negative or huge pads are not supported");
		w.pb[a] = (int) pads[2 + a];
		w.pa[a] = (int) pads[x->rank + 2 + a];
		w.k[a] = w.s[a] = w.d[a] = 1;
	}
	w.padding = "valid";
	if ((li = onnx_window_input(cx, x, &w, value, len, st)) < 0)
		return -1;
	return onnx_window_output(cx, x, &w, len, (int) x->dims[1], li, 0, st);
}

static int
map_embedding(onnx_ctx *cx, tl_status *st)
{
	onnx_value *table = onnx_input(cx, 0),
			   *ids = onnx_dyn_in(cx, 1, st),
			   *out;
	int			dims[2],
				li;

	if (ids == NULL)
		return -1;
	if (table == NULL || !table->is_const || table->rank != 2 ||
		onnx_axis(onnx_attr_int(cx->node, "axis", 0), 2) != 0 || !ids->is_int)
		return onnx_unsupported(cx, st, "only Gather of rows of a constant table by token ids (an embedding) is supported");
	if (ids->rank + 1 > TL_MAX_DIMS + 1)
		return onnx_unsupported(cx, st, "the ids have too many axes");
	dims[0] = (int) table->dims[0];
	dims[1] = (int) table->dims[1];
	li = onnx_emit(cx, "Embedding", NULL,
				   json_pack("{s:i,s:i}", "input_dim", dims[0], "output_dim", dims[1]), &ids->layer, 1, st);
	if (li < 0 || onnx_add_weight(cx, li, onnx_floats_of(table), 2, dims, st) < 0 ||
		(out = onnx_output_like(cx, 0, ids, li, st)) == NULL)
		return -1;
	out->is_int = 0;
	out->dims[out->rank] = dims[1];
	out->order[out->rank - 1] = out->rank;
	out->rank++;
	return 0;
}

/*
 * Take: the entries idx[0..n) of x's ONNX axis a (n = 0: one entry, the
 * axis dropped, as Gather by a scalar does).  A size-1 axis taken whole
 * is only renamed.
 */
static int
emit_take(onnx_ctx *cx, onnx_value *x, int a, const int64_t *idx, int n, int drop,
		  tl_status *st)
{
	json_t	   *list = json_array();
	int			li = x->layer,
				count = drop ? 1 : n;
	onnx_value *out;

	if (a < 0 || a == x->batch_axis)
	{
		json_decref(list);
		return onnx_unsupported(cx, st, "taking entries along the batch axis is not supported");
	}
	for (int k = 0; k < count; k++)
	{
		int64_t		i = idx[k] < 0 && x->dims[a] > 0 ? idx[k] + x->dims[a] : idx[k];

		if (i < 0 || (x->dims[a] >= 0 && i >= x->dims[a]))
		{
			json_decref(list);
			return onnx_unsupported(cx, st, "an index is outside the axis (or counts from the end of an axis of unknown length)");
		}
		json_array_append_new(list, json_integer(i));
	}
	if (!(x->dims[a] == 1 && count == 1))
		li = onnx_emit(cx, "Take", NULL, json_pack("{s:i,s:o}", "axis", onnx_internal_axis(x, a) + 1,
												   "indices", list), &x->layer, 1, st);
	else
		json_decref(list);
	if (li < 0 || (out = onnx_output_like(cx, 0, x, li, st)) == NULL)
		return -1;
	out->dims[a] = count;
	if (drop)
	{
		int			in = li,
					k = 0;
		int64_t		dims[ONNX_MAX_RANK];
		json_t	   *target = json_array();
		int			unknown = 0;

		/* drop the axis: the same data, one axis fewer */
		for (int j = 0; j < x->rank - 1; j++)
			if (x->order[j] != a)
			{
				int			o = x->order[j] > a ? x->order[j] - 1 : x->order[j];

				out->order[k++] = o;
				unknown += x->dims[x->order[j]] < 0;
				json_array_append_new(target, json_integer(x->dims[x->order[j]] < 0 ? -1 : x->dims[x->order[j]]));
			}
		if (k == 0)
			json_array_append_new(target, json_integer(1));
		for (int j = 0, r = 0; j < x->rank; j++)
			if (j != a)
				dims[r++] = j == x->batch_axis ? -1 : x->dims[j];
		if (unknown > 1)
		{
			json_decref(target);
			return onnx_unsupported(cx, st, "a shape with several axes of unknown length is not supported");
		}
		li = onnx_emit(cx, "Reshape", "squeeze", json_pack("{s:o}", "target_shape", target), &in, 1, st);
		if (li < 0)
			return -1;
		cx->layers[out->layer].values--;
		cx->layers[li].values++;
		out->layer = li;
		out->rank = x->rank - 1;
		out->batch_axis = x->batch_axis > a ? x->batch_axis - 1 : x->batch_axis;
		memcpy(out->dims, dims, sizeof(dims));
	}
	return 0;
}

int
onnx_map_gather(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = onnx_input(cx, 0),
			   *idx = onnx_input(cx, 1);

	if (x != NULL && x->is_const)
		return map_embedding(cx, st);
	if (x == NULL || idx == NULL || !idx->is_const || !idx->is_int || idx->rank > 1 ||
		idx->count < 1 || idx->count > 65536)
		return onnx_unsupported(cx, st, "only Gather by constant indices (a list or one index) is supported");
	return emit_take(cx, x, onnx_axis(onnx_attr_int(cx->node, "axis", 0), x->rank), idx->i,
					 (int) idx->count, idx->rank == 0, st);
}

/* Slice of a computed value: one Take per sliced axis. */
int
onnx_map_slice(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = onnx_dyn_in(cx, 0, st),
			   *v[4];
	int64_t		idx[65536 / 8];
	int			n = -1;

	if (x == NULL)
		return -1;
	for (int k = 0; k < 4; k++)
	{
		v[k] = onnx_input(cx, k + 1);
		if ((v[k] == NULL && k < 2) || (v[k] && (!v[k]->is_const || !v[k]->is_int || v[k]->rank != 1)))
			return onnx_unsupported(cx, st, "starts, ends, axes and steps must be constant lists (opset 10 or later)");
		if (v[k] && n >= 0 && v[k]->count != n)
			return onnx_fail_node(cx, st, TL_ERR_MODEL, "starts, ends, axes and steps disagree");
		if (v[k])
			n = (int) v[k]->count;
	}
	if (n != 1)
		return onnx_unsupported(cx, st, "only slicing one axis is supported");
	{
		int			a = onnx_axis(v[2] ? v[2]->i[0] : 0, x->rank);
		int64_t		d = a >= 0 ? x->dims[a] : -1,
					b = v[0]->i[0],
					e = v[1]->i[0],
					step = v[3] ? v[3]->i[0] : 1;
		int			count = 0;

		if (a < 0 || d < 1 || step == 0)
			return onnx_unsupported(cx, st, "slicing an axis of unknown length is not supported");
		b = b < 0 ? b + d : b;
		e = e < 0 ? e + d : e;
		if (step > 0)
		{
			b = b < 0 ? 0 : b > d ? d : b;
			e = e < 0 ? 0 : e > d ? d : e;
			for (int64_t i = b; i < e && count < (int) (sizeof(idx) / sizeof(idx[0])); i += step)
				idx[count++] = i;
		}
		else
		{
			b = b < 0 ? -1 : b > d - 1 ? d - 1 : b;
			e = e < -1 ? -1 : e > d - 1 ? d - 1 : e;
			for (int64_t i = b; i > e && count < (int) (sizeof(idx) / sizeof(idx[0])); i += step)
				idx[count++] = i;
		}
		if (count == 0)
			return onnx_unsupported(cx, st, "an empty slice is not supported");
		if (count == d && step == 1)
			return onnx_output_like(cx, 0, x, x->layer, st) ? 0 : -1;
		return emit_take(cx, x, a, idx, count, 0, st);
	}
}

