/*
 * onnx_fold.c — nodes evaluated at import: those whose inputs are all
 * constants, and Shape.
 *
 * An exporter with a dynamic batch axis writes x.view(x.size(0), -1) as
 * Shape → Gather → Unsqueeze → Concat → Reshape.  Shape of a dynamic value
 * folds to a constant in which the batch size is the symbol ONNX_BATCH and
 * a length known only at run time ONNX_UNKNOWN; the integer ops below carry
 * them through (arithmetic on them gives ONNX_UNKNOWN), and the layer
 * mapping (Reshape) accepts the batch symbol where the batch axis goes.
 */
#include <math.h>
#include <string.h>

#include "format/onnx_int.h"

int
onnx_const_alloc(onnx_ctx *cx, onnx_value *v, int is_int, int64_t count,
				 tl_status *st)
{
	size_t		bytes = (size_t) (count ? count : 1) * (is_int ? 8 : 4);

	if (count < 0 || count > ((int64_t) 1 << 34) || bytes > cx->budget)
		return onnx_fail_node(cx, st, TL_ERR_LIMIT,
							  "a constant of %lld values goes past the weight limit (tensorlens.max_model_size)",
							  (long long) count);
	v->is_const = 1;
	v->is_int = is_int;
	v->count = count;
	if (is_int)
		v->i = tl_malloc(bytes);
	else
		v->f = tl_malloc(bytes);
	if (v->i == NULL && v->f == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	cx->budget -= bytes;
	return 0;
}

void
onnx_next_index(int64_t *idx, const int64_t *dims, int rank)
{
	for (int a = rank - 1; a >= 0; a--)
	{
		if (++idx[a] < dims[a])
			return;
		idx[a] = 0;
	}
}

static int
special(int64_t x)
{
	return x == ONNX_BATCH || x == ONNX_UNKNOWN;
}

static double
elem_d(const onnx_value *v, int64_t k)
{
	return v->is_int ? (double) v->i[k] : (double) v->f[k];
}

static int64_t
elem_i(const onnx_value *v, int64_t k)
{
	return v->is_int ? v->i[k] : (int64_t) v->f[k];
}

/* A new constant output k of the node, shaped rank/dims. */
static onnx_value *
new_const(onnx_ctx *cx, int k, int is_int, int rank, const int64_t *dims, tl_status *st)
{
	onnx_value *v = onnx_define(cx, cx->node->output[k], st);
	int64_t		count = 1;

	if (v == NULL)
		return NULL;
	if (rank > ONNX_MAX_RANK)
	{
		onnx_fail_node(cx, st, TL_ERR_UNSUPPORTED, "a constant of rank %d (at most %d supported)",
					   rank, ONNX_MAX_RANK);
		return NULL;
	}
	v->rank = rank;
	for (int a = 0; a < rank; a++)
	{
		v->dims[a] = dims[a];
		count *= dims[a];
		if (count > ((int64_t) 1 << 34))
		{
			onnx_fail_node(cx, st, TL_ERR_LIMIT, "a constant is too large");
			return NULL;
		}
	}
	return onnx_const_alloc(cx, v, is_int, count, st) < 0 ? NULL : v;
}

static int
copy_const(onnx_ctx *cx, const onnx_value *a, int rank, const int64_t *dims, tl_status *st)
{
	onnx_value *v = new_const(cx, 0, a->is_int, rank, dims, st);

	if (v == NULL)
		return -1;
	if (v->count != a->count)
		return onnx_fail_node(cx, st, TL_ERR_MODEL, "cannot reshape %lld values to %lld",
							  (long long) a->count, (long long) v->count);
	if (a->is_int)
		memcpy(v->i, a->i, sizeof(int64_t) * a->count);
	else
		memcpy(v->f, a->f, sizeof(float) * a->count);
	return 1;
}

/* The int64 values of optional input k (a 1-D constant), or of an attribute. */
static int
ints_of(onnx_ctx *cx, int k, const char *attr, int64_t *out, int *n, tl_status *st)
{
	onnx_value *v = onnx_input(cx, k);

	*n = 0;
	if (v == NULL)
	{
		const int64_t *a = onnx_attr_ints(cx->node, attr, n);

		if (*n > ONNX_MAX_RANK * 2)
			return onnx_fail_node(cx, st, TL_ERR_UNSUPPORTED, "attribute %s has too many entries", attr);
		if (*n > 0)
			memcpy(out, a, sizeof(int64_t) * *n);
		return 0;
	}
	if (!v->is_const || v->count > ONNX_MAX_RANK * 2)
		return onnx_fail_node(cx, st, TL_ERR_UNSUPPORTED, "input %d must be a short constant list", k + 1);
	*n = (int) v->count;
	for (int j = 0; j < *n; j++)
		out[j] = elem_i(v, j);
	return 0;
}

/* ---- the ops ---------------------------------------------------------------- */
static int
fold_constant(onnx_ctx *cx, tl_status *st)
{
	const Onnx__NodeProto *n = cx->node;
	const Onnx__AttributeProto *a;
	onnx_value *v;
	int64_t		one = 1;

	if ((a = onnx_attr(n, "value")) != NULL && a->t != NULL)
	{
		v = onnx_define(cx, n->output[0], st);
		return v == NULL || onnx_read_tensor(a->t, &cx->budget, v, st) < 0 ? -1 : 1;
	}
	if ((a = onnx_attr(n, "value_float")) != NULL || (a = onnx_attr(n, "value_int")) != NULL)
	{
		int			is_int = a->has_i;

		v = new_const(cx, 0, is_int, 0, &one, st);
		if (v == NULL)
			return -1;
		if (is_int)
			v->i[0] = a->i;
		else
			v->f[0] = a->f;
		return 1;
	}
	if ((a = onnx_attr(n, "value_floats")) != NULL || (a = onnx_attr(n, "value_ints")) != NULL)
	{
		int			is_int = strcmp(a->name, "value_ints") == 0;
		int64_t		cnt = (int64_t) (is_int ? a->n_ints : a->n_floats);

		v = new_const(cx, 0, is_int, 1, &cnt, st);
		if (v == NULL)
			return -1;
		for (int64_t k = 0; k < cnt; k++)
			if (is_int)
				v->i[k] = a->ints[k];
			else
				v->f[k] = a->floats[k];
		return 1;
	}
	return onnx_fail_node(cx, st, TL_ERR_UNSUPPORTED, "only tensor, float and int constants are supported");
}

static int
fold_shape(onnx_ctx *cx, const onnx_value *x, tl_status *st)
{
	int64_t		r = x->rank;
	int			start = onnx_axis(onnx_attr_int(cx->node, "start", 0), x->rank),
				end = (int) onnx_attr_int(cx->node, "end", x->rank);
	onnx_value *v;

	if (end < 0)
		end += x->rank;
	if (end > x->rank)
		end = x->rank;
	if (start < 0)
		start = 0;
	r = end > start ? end - start : 0;
	v = new_const(cx, 0, 1, 1, &r, st);
	if (v == NULL)
		return -1;
	for (int a = start; a < end; a++)
		v->i[a - start] = x->is_const ? x->dims[a] :
			a == x->batch_axis ? ONNX_BATCH : x->dims[a] < 0 ? ONNX_UNKNOWN : x->dims[a];
	return 1;
}

static int
fold_gather(onnx_ctx *cx, const onnx_value *d, const onnx_value *idx, tl_status *st)
{
	int			axis = onnx_axis(onnx_attr_int(cx->node, "axis", 0), d->rank);
	int64_t		dims[ONNX_MAX_RANK * 2],
				outer = 1,
				inner = 1;
	int			r = 0;
	onnx_value *v;

	if (axis < 0 || d->rank + idx->rank - 1 > ONNX_MAX_RANK)
		return onnx_fail_node(cx, st, TL_ERR_MODEL, "axis out of range");
	for (int a = 0; a < axis; a++)
		outer *= (dims[r++] = d->dims[a]);
	for (int a = 0; a < idx->rank; a++)
		dims[r++] = idx->dims[a];
	for (int a = axis + 1; a < d->rank; a++)
		inner *= (dims[r++] = d->dims[a]);
	if ((v = new_const(cx, 0, d->is_int, r, dims, st)) == NULL)
		return -1;
	for (int64_t o = 0; o < outer; o++)
		for (int64_t j = 0; j < idx->count; j++)
		{
			int64_t		k = elem_i(idx, j);

			if (k < 0)
				k += d->dims[axis];
			if (k < 0 || k >= d->dims[axis])
				return onnx_fail_node(cx, st, TL_ERR_MODEL, "index %lld is out of range",
									  (long long) elem_i(idx, j));
			for (int64_t i = 0; i < inner; i++)
			{
				int64_t		src = (o * d->dims[axis] + k) * inner + i,
							dst = (o * idx->count + j) * inner + i;

				if (d->is_int)
					v->i[dst] = d->i[src];
				else
					v->f[dst] = d->f[src];
			}
		}
	return 1;
}

static int
fold_unsqueeze(onnx_ctx *cx, const onnx_value *x, int squeeze, tl_status *st)
{
	int64_t		axes[ONNX_MAX_RANK * 2],
				dims[ONNX_MAX_RANK];
	int			n,
				r = 0,
				out_rank = squeeze ? x->rank : x->rank;
	char		mark[ONNX_MAX_RANK * 2] = {0};

	if (ints_of(cx, 1, "axes", axes, &n, st) < 0)
		return -1;
	out_rank = squeeze ? x->rank - n : x->rank + n;
	if (squeeze && n == 0)
	{
		for (int a = 0; a < x->rank; a++)
			if (x->dims[a] != 1)
				dims[r++] = x->dims[a];
		return copy_const(cx, x, r, dims, st);
	}
	if (out_rank < 0 || out_rank > ONNX_MAX_RANK)
		return onnx_fail_node(cx, st, TL_ERR_UNSUPPORTED, "rank out of range");
	for (int k = 0; k < n; k++)
	{
		int			a = onnx_axis(axes[k], squeeze ? x->rank : out_rank);

		if (a < 0 || mark[a])
			return onnx_fail_node(cx, st, TL_ERR_MODEL, "invalid axes");
		mark[a] = 1;
	}
	for (int a = 0, j = 0; a < (squeeze ? x->rank : out_rank); a++)
	{
		if (squeeze)
		{
			if (!mark[a])
				dims[r++] = x->dims[a];
		}
		else
			dims[r++] = mark[a] ? 1 : x->dims[j++];
	}
	return copy_const(cx, x, r, dims, st);
}

static int
fold_concat(onnx_ctx *cx, tl_status *st)
{
	const Onnx__NodeProto *n = cx->node;
	onnx_value *first = onnx_input(cx, 0);
	int			axis = first ? onnx_axis(onnx_attr_int(n, "axis", 0), first->rank) : -1;
	int64_t		dims[ONNX_MAX_RANK],
				outer = 1,
				inner_out;
	int			is_int = first ? first->is_int : 0;
	onnx_value *v;
	int64_t		off = 0;

	if (axis < 0)
		return onnx_fail_node(cx, st, TL_ERR_MODEL, "axis out of range");
	memcpy(dims, first->dims, sizeof(dims));
	dims[axis] = 0;
	for (size_t k = 0; k < n->n_input; k++)
	{
		onnx_value *x = onnx_input(cx, (int) k);

		if (x == NULL || x->rank != first->rank)
			return onnx_fail_node(cx, st, TL_ERR_MODEL, "inputs of different ranks");
		dims[axis] += x->dims[axis];
		is_int &= x->is_int;
	}
	for (int a = 0; a < axis; a++)
		outer *= dims[a];
	if ((v = new_const(cx, 0, is_int, first->rank, dims, st)) == NULL)
		return -1;
	inner_out = outer ? v->count / outer : 0;
	for (size_t k = 0; k < n->n_input; k++)
	{
		onnx_value *x = onnx_input(cx, (int) k);
		int64_t		row = outer ? x->count / outer : 0;

		for (int64_t o = 0; o < outer; o++)
			for (int64_t j = 0; j < row; j++)
			{
				int64_t		dst = o * inner_out + off + j;

				if (is_int)
					v->i[dst] = x->i[o * row + j];
				else
					v->f[dst] = (float) elem_d(x, o * row + j);
			}
		off += row;
	}
	return 1;
}

static int
fold_slice(onnx_ctx *cx, const onnx_value *x, tl_status *st)
{
	int64_t		starts[16],
				ends[16],
				axes[16],
				steps[16],
				lo[ONNX_MAX_RANK],
				step[ONNX_MAX_RANK],
				dims[ONNX_MAX_RANK];
	int			ns,
				ne,
				na,
				nst;
	onnx_value *v;
	int64_t		idx[ONNX_MAX_RANK] = {0};

	if (ints_of(cx, 1, "starts", starts, &ns, st) < 0 || ints_of(cx, 2, "ends", ends, &ne, st) < 0 ||
		ints_of(cx, 3, "axes", axes, &na, st) < 0 || ints_of(cx, 4, "steps", steps, &nst, st) < 0)
		return -1;
	if (ns != ne || (na && na != ns) || (nst && nst != ns) || x->rank < 1)
		return onnx_fail_node(cx, st, TL_ERR_MODEL, "starts, ends, axes and steps disagree");
	for (int a = 0; a < x->rank; a++)
	{
		lo[a] = 0;
		step[a] = 1;
		dims[a] = x->dims[a];
	}
	for (int k = 0; k < ns; k++)
	{
		int			a = onnx_axis(na ? axes[k] : k, x->rank);
		int64_t		d,
					s = nst ? steps[k] : 1,
					b = starts[k],
					e = ends[k];

		if (a < 0 || s == 0)
			return onnx_fail_node(cx, st, TL_ERR_MODEL, "invalid axis or step");
		d = x->dims[a];
		b = b < 0 ? b + d : b;
		e = e < 0 ? e + d : e;
		if (s > 0)
		{
			b = b < 0 ? 0 : b > d ? d : b;
			e = e < 0 ? 0 : e > d ? d : e;
			dims[a] = e > b ? (e - b + s - 1) / s : 0;
		}
		else
		{
			b = b < 0 ? -1 : b > d - 1 ? d - 1 : b;
			e = e < -1 ? -1 : e > d - 1 ? d - 1 : e;
			dims[a] = b > e ? (b - e - s - 1) / -s : 0;
		}
		lo[a] = b;
		step[a] = s;
	}
	if ((v = new_const(cx, 0, x->is_int, x->rank, dims, st)) == NULL)
		return -1;
	for (int64_t o = 0; o < v->count; o++)
	{
		int64_t		src = 0;

		for (int a = 0; a < x->rank; a++)
			src = src * x->dims[a] + lo[a] + idx[a] * step[a];
		if (x->is_int)
			v->i[o] = x->i[src];
		else
			v->f[o] = x->f[src];
		onnx_next_index(idx, dims, x->rank);
	}
	return 1;
}

static int
fold_transpose(onnx_ctx *cx, const onnx_value *x, tl_status *st)
{
	int			np;
	const int64_t *perm = onnx_attr_ints(cx->node, "perm", &np);
	int			p[ONNX_MAX_RANK];
	int64_t		dims[ONNX_MAX_RANK],
				stride[ONNX_MAX_RANK],
				idx[ONNX_MAX_RANK] = {0};
	onnx_value *v;

	for (int a = 0; a < x->rank; a++)
	{
		p[a] = perm ? (np == x->rank ? onnx_axis(perm[a], x->rank) : -1) : x->rank - 1 - a;
		if (p[a] < 0)
			return onnx_fail_node(cx, st, TL_ERR_MODEL, "invalid perm");
		dims[a] = x->dims[p[a]];
	}
	stride[x->rank - 1] = 1;
	for (int a = x->rank - 2; a >= 0; a--)
		stride[a] = stride[a + 1] * x->dims[a + 1];
	if ((v = new_const(cx, 0, x->is_int, x->rank, dims, st)) == NULL)
		return -1;
	for (int64_t o = 0; o < v->count; o++)
	{
		int64_t		src = 0;

		for (int a = 0; a < x->rank; a++)
			src += idx[a] * stride[p[a]];
		if (x->is_int)
			v->i[o] = x->i[src];
		else
			v->f[o] = x->f[src];
		onnx_next_index(idx, dims, x->rank);
	}
	return 1;
}

static int
fold_reshape(onnx_ctx *cx, const onnx_value *x, const onnx_value *shape, tl_status *st)
{
	int64_t		dims[ONNX_MAX_RANK],
				known = 1;
	int			wild = -1;

	if (shape->count > ONNX_MAX_RANK)
		return onnx_fail_node(cx, st, TL_ERR_UNSUPPORTED, "rank out of range");
	for (int a = 0; a < shape->count; a++)
	{
		dims[a] = elem_i(shape, a);
		if (dims[a] == 0 && !onnx_attr_int(cx->node, "allowzero", 0))
			dims[a] = a < x->rank ? x->dims[a] : 0;
		if (dims[a] == -1 && wild < 0)
			wild = a;
		else if (dims[a] < 0)
			return onnx_fail_node(cx, st, TL_ERR_MODEL, "invalid shape");
		else
			known *= dims[a];
	}
	if (wild >= 0)
		dims[wild] = known ? x->count / known : 0;
	return copy_const(cx, x, (int) shape->count, dims, st);
}

/*
 * ConstantOfShape of a shape holding the batch size: zeros of that size are
 * an RNN's initial state (exporters write h0 so); marked, not stored.
 */
static int
batch_zeros(onnx_ctx *cx, const Onnx__AttributeProto *a, tl_status *st)
{
	onnx_value	fill = {0};
	size_t		budget = 64;
	int			zero = 1;
	onnx_value *v;

	if (a && a->t)
	{
		if (onnx_read_tensor(a->t, &budget, &fill, st) < 0)
			return -1;
		zero = fill.count == 1 && (fill.is_int ? fill.i[0] == 0 : fill.f[0] == 0.0f);
		tl_free(fill.i);
		tl_free(fill.f);
	}
	if (!zero)
		return onnx_fail_node(cx, st, TL_ERR_UNSUPPORTED,
							  "a batch-sized constant other than zeros is not supported");
	if ((v = onnx_define(cx, cx->node->output[0], st)) == NULL)
		return -1;
	v->is_const = 1;
	v->batch_zeros = 1;
	return 1;
}

static int
fold_constant_of_shape(onnx_ctx *cx, const onnx_value *shape, tl_status *st)
{
	const Onnx__AttributeProto *a = onnx_attr(cx->node, "value");
	onnx_value	fill = {0};
	size_t		budget = 64;
	int64_t		dims[ONNX_MAX_RANK];
	onnx_value *v;
	int			rc = 1;

	if (shape->count > ONNX_MAX_RANK)
		return onnx_fail_node(cx, st, TL_ERR_UNSUPPORTED, "rank out of range");
	for (int k = 0; k < shape->count; k++)
	{
		dims[k] = elem_i(shape, k);
		if (special(dims[k]))
			return batch_zeros(cx, a, st);
		if (dims[k] < 0)
			return onnx_fail_node(cx, st, TL_ERR_MODEL, "negative dimension");
	}
	if (a && a->t && onnx_read_tensor(a->t, &budget, &fill, st) < 0)
		return -1;
	if (a && a->t && fill.count != 1)
		rc = onnx_fail_node(cx, st, TL_ERR_MODEL, "value must hold one element");
	else if ((v = new_const(cx, 0, a && a->t ? fill.is_int : 0, (int) shape->count, dims, st)) == NULL)
		rc = -1;
	else
		for (int64_t k = 0; k < v->count; k++)
			if (v->is_int)
				v->i[k] = fill.i[0];
			else
				v->f[k] = fill.f ? fill.f[0] : 0.0f;
	tl_free(fill.i);
	tl_free(fill.f);
	return rc;
}

static int
fold_cast(onnx_ctx *cx, const onnx_value *x, tl_status *st)
{
	int64_t		to = onnx_attr_int(cx->node, "to", 1);
	int			is_int = !(to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
						   to == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE ||
						   to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16);
	onnx_value *v = new_const(cx, 0, is_int, x->rank, x->dims, st);

	if (v == NULL)
		return -1;
	for (int64_t k = 0; k < x->count; k++)
		if (is_int)
			v->i[k] = x->is_int ? x->i[k] : (int64_t) x->f[k];
		else
			v->f[k] = (float) elem_d(x, k);
	return 1;
}

typedef enum
{
	OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_POW, OP_MAX, OP_MIN, OP_EQUAL
} binop;

static double
apply_d(binop op, double a, double b)
{
	switch (op)
	{
		case OP_ADD:
			return a + b;
		case OP_SUB:
			return a - b;
		case OP_MUL:
			return a * b;
		case OP_DIV:
			return a / b;
		case OP_POW:
			return pow(a, b);
		case OP_MAX:
			return a > b ? a : b;
		case OP_MIN:
			return a < b ? a : b;
		default:
			return a == b;
	}
}

static int64_t
apply_i(binop op, int64_t a, int64_t b)
{
	if (special(a) || special(b))
		return op == OP_EQUAL ? 0 : ONNX_UNKNOWN;
	switch (op)
	{
		case OP_ADD:
			return a + b;
		case OP_SUB:
			return a - b;
		case OP_MUL:
			return a * b;
		case OP_DIV:
			return b == 0 ? 0 : a / b;
		case OP_POW:
			return (int64_t) pow((double) a, (double) b);
		case OP_MAX:
			return a > b ? a : b;
		case OP_MIN:
			return a < b ? a : b;
		default:
			return a == b;
	}
}

static int
fold_binary(onnx_ctx *cx, binop op, const onnx_value *a, const onnx_value *b, tl_status *st)
{
	int			r = a->rank > b->rank ? a->rank : b->rank;
	int64_t		dims[ONNX_MAX_RANK],
				sa[ONNX_MAX_RANK],
				sb[ONNX_MAX_RANK],
				idx[ONNX_MAX_RANK] = {0},
				pa = 1,
				pb = 1;
	int			is_int = a->is_int && b->is_int;
	onnx_value *v;

	/* numpy broadcasting: align right, size-1 axes stretch */
	for (int k = r - 1, ia = a->rank - 1, ib = b->rank - 1; k >= 0; k--, ia--, ib--)
	{
		int64_t		da = ia >= 0 ? a->dims[ia] : 1,
					db = ib >= 0 ? b->dims[ib] : 1;

		if (da != db && da != 1 && db != 1)
			return onnx_fail_node(cx, st, TL_ERR_MODEL, "shapes cannot be broadcast");
		dims[k] = da > db ? da : db;
		sa[k] = da == 1 ? 0 : pa;
		sb[k] = db == 1 ? 0 : pb;
		pa *= da;
		pb *= db;
	}
	if ((v = new_const(cx, 0, is_int || op == OP_EQUAL, r, dims, st)) == NULL)
		return -1;
	for (int64_t o = 0; o < v->count; o++)
	{
		int64_t		oa = 0,
					ob = 0;

		for (int k = 0; k < r; k++)
		{
			oa += idx[k] * sa[k];
			ob += idx[k] * sb[k];
		}
		if (is_int)
			v->i[o] = apply_i(op, a->i[oa], b->i[ob]);
		else if (op == OP_EQUAL)
			v->i[o] = (int64_t) apply_d(op, elem_d(a, oa), elem_d(b, ob));
		else
			v->f[o] = (float) apply_d(op, elem_d(a, oa), elem_d(b, ob));
		onnx_next_index(idx, dims, r);
	}
	return 1;
}

static int
fold_unary(onnx_ctx *cx, const onnx_value *x, const char *op, tl_status *st)
{
	onnx_value *v = new_const(cx, 0, x->is_int && strcmp(op, "Sqrt") != 0, x->rank, x->dims, st);

	if (v == NULL)
		return -1;
	for (int64_t k = 0; k < x->count; k++)
	{
		if (v->is_int)
			v->i[k] = special(x->i[k]) ? ONNX_UNKNOWN :
				strcmp(op, "Neg") == 0 ? -x->i[k] : x->i[k] < 0 ? -x->i[k] : x->i[k];
		else
		{
			double		d = elem_d(x, k);

			v->f[k] = (float) (strcmp(op, "Neg") == 0 ? -d : strcmp(op, "Abs") == 0 ? fabs(d) :
							   strcmp(op, "Sqrt") == 0 ? sqrt(d) : d);
		}
	}
	return 1;
}

int
onnx_fold(onnx_ctx *cx, const Onnx__NodeProto *n, tl_status *st)
{
	const char *op = n->op_type;
	onnx_value *x = onnx_input(cx, 0),
			   *y = onnx_input(cx, 1);
	static const struct
	{
		const char *name;
		binop		op;
	}			binops[] =
	{
		{"Add", OP_ADD}, {"Sub", OP_SUB}, {"Mul", OP_MUL}, {"Div", OP_DIV},
		{"Pow", OP_POW}, {"Max", OP_MAX}, {"Min", OP_MIN}, {"Equal", OP_EQUAL},
	};

	if (n->n_output < 1)
		return onnx_fail_node(cx, st, TL_ERR_MODEL, "the node has no output");
	if (strcmp(op, "Constant") == 0)
		return fold_constant(cx, st);
	if (strcmp(op, "Shape") == 0 && x)
		return fold_shape(cx, x, st);
	for (size_t k = 0; k < n->n_input; k++)
	{
		onnx_value *v = onnx_input(cx, (int) k);

		if (v && !v->is_const)
			return 0;
	}
	if (x == NULL)
		return 0;
	if (strcmp(op, "Identity") == 0 || strcmp(op, "Dropout") == 0)
		return copy_const(cx, x, x->rank, x->dims, st);
	if (strcmp(op, "Gather") == 0 && y)
		return fold_gather(cx, x, y, st);
	if (strcmp(op, "Unsqueeze") == 0 || strcmp(op, "Squeeze") == 0)
		return fold_unsqueeze(cx, x, op[0] == 'S', st);
	if (strcmp(op, "Concat") == 0)
		return fold_concat(cx, st);
	if (strcmp(op, "Slice") == 0)
		return fold_slice(cx, x, st);
	if (strcmp(op, "Transpose") == 0)
		return fold_transpose(cx, x, st);
	if (strcmp(op, "Reshape") == 0 && y)
		return fold_reshape(cx, x, y, st);
	if (strcmp(op, "ConstantOfShape") == 0)
		return fold_constant_of_shape(cx, x, st);
	if (strcmp(op, "Cast") == 0)
		return fold_cast(cx, x, st);
	if (strcmp(op, "Neg") == 0 || strcmp(op, "Abs") == 0 || strcmp(op, "Sqrt") == 0)
		return fold_unary(cx, x, op, st);
	for (size_t k = 0; y && k < sizeof(binops) / sizeof(binops[0]); k++)
		if (strcmp(op, binops[k].name) == 0)
			return fold_binary(cx, binops[k].op, x, y, st);
	return 0;
}
