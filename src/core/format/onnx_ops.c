/*
 * onnx_ops.c — ONNX operators as layers of the runtime's families.
 *
 * Each mapper reads its node's inputs from the value table, emits layers
 * (onnx_emit: a Keras-style config, weights converted to the family's
 * layout, e.g. a Conv kernel (F, C, kh, kw) as (kh, kw, C, F)) and defines
 * the node's outputs.  Element-wise activations and constant bias or
 * scale that follow a Conv or Gemm/MatMul whose output nobody else reads
 * are folded into it.  Anything else is refused with the op and the node
 * named (TL_ERR_UNSUPPORTED).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "format/onnx_int.h"

typedef int (*onnx_mapper) (onnx_ctx *cx, tl_status *st);

static int
unsupported(onnx_ctx *cx, tl_status *st, const char *what)
{
	return onnx_fail_node(cx, st, TL_ERR_UNSUPPORTED, "%s", what);
}

/* Input k, which must depend on the model input. */
static onnx_value *
dyn_in(onnx_ctx *cx, int k, tl_status *st)
{
	onnx_value *v = onnx_input(cx, k);

	if (v == NULL || v->is_const)
	{
		onnx_fail_node(cx, st, TL_ERR_UNSUPPORTED,
					   "input %d must be computed from the model input (constant or missing here)", k + 1);
		return NULL;
	}
	return v;
}

/* Input k, which must be a constant (of at most max_rank axes). */
static onnx_value *
const_in(onnx_ctx *cx, int k, int max_rank, tl_status *st)
{
	onnx_value *v = onnx_input(cx, k);

	if (v == NULL || !v->is_const || v->rank > max_rank)
	{
		onnx_fail_node(cx, st, TL_ERR_UNSUPPORTED, "input %d must be a constant of rank at most %d",
					   k + 1, max_rank);
		return NULL;
	}
	return v;
}

static float *
floats_of(const onnx_value *v)
{
	float	   *f = tl_malloc(sizeof(float) * (v->count ? v->count : 1));

	for (int64_t k = 0; f && k < v->count; k++)
		f[k] = v->is_int ? (float) v->i[k] : v->f[k];
	return f;
}

static const char *
class_of(onnx_ctx *cx, int li)
{
	return json_string_value(json_object_get(cx->layers[li].entry, "class_name"));
}

static json_t *
config_of(onnx_ctx *cx, int li)
{
	return json_object_get(cx->layers[li].entry, "config");
}

/*
 * The Conv or Dense layer holding v when its output may be changed in
 * place (nobody else reads it), else -1.
 */
static int
fusable(onnx_ctx *cx, const onnx_value *v)
{
	const char *cls;

	if (v->uses != 1 || v->is_output || v->alt_layer >= 0 || cx->layers[v->layer].values != 1)
		return -1;
	cls = class_of(cx, v->layer);
	if (strcmp(cls, "Dense") != 0 && strcmp(cls, "Conv1D") != 0 && strcmp(cls, "Conv2D") != 0)
		return -1;
	return v->layer;
}

/* A dynamic output in a layer that took over its input's place. */
static int
output_in_place(onnx_ctx *cx, const onnx_value *x, int li, tl_status *st)
{
	cx->layers[li].values--;
	return onnx_output_like(cx, 0, x, li, st) ? 0 : -1;
}

/* Emits a one-input layer reading x in its current order; output like x. */
static int
emit_same(onnx_ctx *cx, onnx_value *x, const char *cls, json_t *cfg, tl_status *st)
{
	int			li = onnx_emit(cx, cls, NULL, cfg, &x->layer, 1, st);

	return li < 0 || onnx_output_like(cx, 0, x, li, st) == NULL ? -1 : 0;
}

/* ---- pass-through ------------------------------------------------------------ */
static int
map_identity(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = dyn_in(cx, 0, st);

	if (x == NULL)
		return -1;
	if (strcmp(cx->node->op_type, "Cast") == 0)
	{
		int64_t		to = onnx_attr_int(cx->node, "to", 0);
		int			to_float = to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
			to == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;

		if (to_float == x->is_int)
			return unsupported(cx, st, "casts between token ids and real numbers are not supported");
	}
	return onnx_output_like(cx, 0, x, x->layer, st) ? 0 : -1;
}

/* ---- activations ---------------------------------------------------------------- */
static int
map_activation(onnx_ctx *cx, tl_status *st)
{
	const Onnx__NodeProto *n = cx->node;
	const char *op = n->op_type;
	onnx_value *x = dyn_in(cx, 0, st);
	const char *name = NULL;
	json_t	   *cfg;
	const char *cls = "Activation";
	int			li;

	if (x == NULL)
		return -1;
	if (strcmp(op, "Relu") == 0)
		name = "relu";
	else if (strcmp(op, "Sigmoid") == 0)
		name = "sigmoid";
	else if (strcmp(op, "Tanh") == 0)
		name = "tanh";
	else if (strcmp(op, "Softplus") == 0)
		name = "softplus";
	else if (strcmp(op, "Softsign") == 0)
		name = "softsign";
	else if (strcmp(op, "Exp") == 0)
		name = "exponential";
	else if (strcmp(op, "Gelu") == 0)
	{
		char		buf[16];

		if (strcmp(onnx_attr_string(n, "approximate", "none", buf, sizeof(buf)), "none") != 0)
			return unsupported(cx, st, "only the exact (erf) GELU is supported");
		name = "gelu";
	}
	else if (strcmp(op, "Selu") == 0)
	{
		if (fabsf(onnx_attr_float(n, "alpha", 1.67326319f) - 1.67326319f) > 1e-6f ||
			fabsf(onnx_attr_float(n, "gamma", 1.05070102f) - 1.05070102f) > 1e-6f)
			return unsupported(cx, st, "only the standard SELU constants are supported");
		name = "selu";
	}
	else if (strcmp(op, "HardSigmoid") == 0)
	{
		if (fabsf(onnx_attr_float(n, "alpha", 0.2f) - 0.2f) > 1e-7f ||
			fabsf(onnx_attr_float(n, "beta", 0.5f) - 0.5f) > 1e-7f)
			return unsupported(cx, st, "only alpha 0.2, beta 0.5 are supported");
		name = "hard_sigmoid";
	}
	if (name != NULL)
	{
		if ((li = fusable(cx, x)) >= 0 &&
			json_object_get(config_of(cx, li), "activation") == NULL)
		{
			json_object_set_new(config_of(cx, li), "activation", json_string(name));
			return output_in_place(cx, x, li, st);
		}
		return emit_same(cx, x, cls, json_pack("{s:s}", "activation", name), st);
	}
	if (strcmp(op, "LeakyRelu") == 0)
		return emit_same(cx, x, "LeakyReLU",
						 json_pack("{s:f}", "alpha", onnx_attr_float(n, "alpha", 0.01f)), st);
	if (strcmp(op, "Elu") == 0)
		return emit_same(cx, x, "ELU", json_pack("{s:f}", "alpha", onnx_attr_float(n, "alpha", 1.0f)), st);
	if (strcmp(op, "Clip") == 0)
	{
		/* opset < 11: attributes; later: optional constant inputs */
		onnx_value *lo = onnx_input(cx, 1),
				   *hi = onnx_input(cx, 2);
		float		vlo = onnx_attr_float(n, "min", -FLT_MAX),
					vhi = onnx_attr_float(n, "max", FLT_MAX);

		if ((lo && (!lo->is_const || lo->count != 1)) || (hi && (!hi->is_const || hi->count != 1)))
			return unsupported(cx, st, "min and max must be scalar constants");
		if (lo)
			vlo = lo->is_int ? (float) lo->i[0] : lo->f[0];
		if (hi)
			vhi = hi->is_int ? (float) hi->i[0] : hi->f[0];
		if (vlo != 0.0f)
			return unsupported(cx, st, "only Clip with min 0 (ReLU, ReLU6) is supported");
		cfg = vhi < FLT_MAX ? json_pack("{s:f}", "max_value", vhi) : json_pack("{}");
		return emit_same(cx, x, "ReLU", cfg, st);
	}
	return unsupported(cx, st, "this activation is not supported");
}

static int
map_softmax(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = dyn_in(cx, 0, st);
	int			axis;

	if (x == NULL)
		return -1;
	axis = onnx_axis(onnx_attr_int(cx->node, "axis", cx->opset >= 13 ? -1 : 1), x->rank);
	/* before opset 13 the input is seen as 2-D at axis: the same only for the last axis */
	if (cx->opset < 13 && axis != x->rank - 1)
		return unsupported(cx, st, "Softmax over several axes (opset < 13, axis not last) is not supported");
	if (axis < 0 || axis == x->batch_axis)
		return unsupported(cx, st, "Softmax must run along a per-sample axis");
	return emit_same(cx, x, "Softmax", json_pack("{s:i}", "axis", onnx_internal_axis(x, axis) + 1), st);
}

/* ---- arithmetic -------------------------------------------------------------- */

/*
 * The per-channel vector of constant c when it broadcasts over x along one
 * axis only (x's ONNX axis `axis`, of size len): scalars too.  NULL if not.
 */
static int
channel_const(const onnx_value *x, const onnx_value *c, int axis, int64_t len)
{
	if (c->rank > x->rank)
		return 0;
	if (c->count == 1)
		return 1;
	for (int a = 0; a < c->rank; a++)
	{
		int			xa = x->rank - c->rank + a;

		if (c->dims[a] != 1 && !(xa == axis && c->dims[a] == len))
			return 0;
	}
	return c->count == len;
}

/* Folds (x + c) or (x * c) into the Conv/Dense layer li holding x. */
static int
fold_into_layer(onnx_ctx *cx, onnx_value *x, onnx_value *c, int li, int mul,
				int negate, int invert, tl_status *st)
{
	const char *cls = class_of(cx, li);
	onnx_layer *l = &cx->layers[li];
	int			dense = strcmp(cls, "Dense") == 0;
	int			axis = dense ? x->rank - 1 : 1;
	int64_t		units = x->dims[axis];
	json_t	   *cfg = config_of(cx, li);
	int			has_bias = json_is_true(json_object_get(cfg, "use_bias"));

	if (units < 1 || !channel_const(x, c, axis, units) ||
		json_object_get(cfg, "activation") != NULL)
		return 0;
	if (!has_bias && !mul)
	{
		float	   *zero = tl_calloc(units, sizeof(float));
		int			d = (int) units;

		if (onnx_add_weight(cx, li, zero, 1, &d, st) < 0)
			return -1;
		json_object_set_new(cfg, "use_bias", json_true());
		has_bias = 1;
	}
	for (int64_t u = 0; u < units; u++)
	{
		double		v = c->count == 1 ? (c->is_int ? (double) c->i[0] : c->f[0]) :
			(c->is_int ? (double) c->i[u] : c->f[u]);

		if (negate)
			v = -v;
		if (invert)
			v = 1.0 / v;
		if (mul)
		{
			/* kernel is (..., units) row-major: every units-th value */
			tl_weight  *k = &l->w[0];

			for (int64_t j = u; j < k->n; j += units)
				k->data[j] = (float) (k->data[j] * v);
			if (has_bias)
				l->w[1].data[u] = (float) (l->w[1].data[u] * v);
		}
		else
			l->w[1].data[u] = (float) (l->w[1].data[u] + v);
	}
	return output_in_place(cx, x, li, st) < 0 ? -1 : 1;
}

/* x (op) c with a constant c: a ConstantOp holding c in x's internal order. */
static int
emit_const_op(onnx_ctx *cx, onnx_value *x, onnx_value *c, const char *op, tl_status *st)
{
	int			n = x->rank - 1;
	int64_t		cd[ONNX_MAX_RANK],
				cstride[ONNX_MAX_RANK],
				wd[ONNX_MAX_RANK],
				idx[ONNX_MAX_RANK] = {0};
	int			dims[TL_MAX_DIMS];
	int64_t		total = 1;
	float	   *w;
	int			li;

	if (c->rank > x->rank || n < 1)
		return unsupported(cx, st, "the constant has more axes than the computed input");
	/* c's dims aligned right to x's rank */
	for (int a = 0; a < x->rank; a++)
	{
		int			ca = a - (x->rank - c->rank);

		cd[a] = ca >= 0 ? c->dims[ca] : 1;
	}
	for (int a = x->rank - 1, p = 1; a >= 0; a--)
	{
		cstride[a] = cd[a] == 1 ? 0 : p;
		p *= (int) cd[a];
	}
	if (cd[x->batch_axis] != 1)
		return unsupported(cx, st, "a constant that varies along the batch axis is not supported");
	for (int k = 0; k < n; k++)
	{
		int64_t		d = cd[x->order[k]];

		if (d != 1 && d != x->dims[x->order[k]])
			return unsupported(cx, st, "the constant does not broadcast over the computed input");
		dims[k] = (int) d;
		wd[k] = d;
		total *= d;
	}
	w = tl_malloc(sizeof(float) * total);
	if (w == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	for (int64_t o = 0; o < total; o++)
	{
		int64_t		src = 0;

		for (int k = 0; k < n; k++)
			src += idx[k] * cstride[x->order[k]];
		w[o] = c->is_int ? (float) c->i[src] : c->f[src];
		onnx_next_index(idx, wd, n);
	}
	li = onnx_emit(cx, "ConstantOp", NULL, json_pack("{s:s}", "op", op), &x->layer, 1, st);
	if (li < 0)
	{
		tl_free(w);
		return -1;
	}
	if (onnx_add_weight(cx, li, w, n, dims, st) < 0)
		return -1;
	return onnx_output_like(cx, 0, x, li, st) ? 0 : -1;
}

static int
map_binary(onnx_ctx *cx, tl_status *st)
{
	const char *op = cx->node->op_type;
	onnx_value *a = onnx_input(cx, 0),
			   *b = onnx_input(cx, 1);
	int			add = strcmp(op, "Add") == 0,
				sub = strcmp(op, "Sub") == 0,
				mul = strcmp(op, "Mul") == 0,
				div = strcmp(op, "Div") == 0,
				pow_ = strcmp(op, "Pow") == 0;

	if (a == NULL || b == NULL)
		return unsupported(cx, st, "two inputs are needed");
	if (!a->is_const && !b->is_const)
	{
		int			order[ONNX_MAX_RANK],
					ins[2];
		const char *cls = add ? "Add" : sub ? "Subtract" : mul ? "Multiply" : NULL;
		int			li;

		if (cls == NULL)
			return unsupported(cx, st, "this op on two computed inputs is not supported");
		if (a->rank != b->rank || a->batch_axis != b->batch_axis)
			return unsupported(cx, st, "broadcasting between computed inputs is not supported");
		for (int k = 0; k < a->rank; k++)
			if (a->dims[k] != b->dims[k])
				return unsupported(cx, st, "broadcasting between computed inputs is not supported");
		memcpy(order, a->order, sizeof(order));
		ins[0] = a->layer;
		if ((ins[1] = onnx_in_order(cx, b, order, st)) < 0)
			return -1;
		li = onnx_emit(cx, cls, NULL, json_pack("{}"), ins, 2, st);
		return li < 0 || onnx_output_like(cx, 0, a, li, st) == NULL ? -1 : 0;
	}
	if (a->is_const)
	{
		onnx_value *t = a;

		if (div || pow_)
			return unsupported(cx, st, "a constant divided by or raised to a computed value is not supported");
		a = b;
		b = t;
		if (sub)
			return emit_const_op(cx, a, b, "rsub", st);
	}
	if ((add || sub || mul || div) && fusable(cx, a) >= 0)
	{
		int			r = fold_into_layer(cx, a, b, a->layer, mul || div, sub, div, st);

		if (r != 0)
			return r < 0 ? -1 : 0;
	}
	return emit_const_op(cx, a, b, add ? "add" : sub ? "sub" : mul ? "mul" : div ? "div" : "pow", st);
}

/* ---- dense ---------------------------------------------------------------------- */

/* A Dense layer on x's last ONNX axis: kernel (k, units) row-major, bias or NULL. */
static int
emit_dense(onnx_ctx *cx, onnx_value *x, float *kernel, int k, int units, float *bias,
		   tl_status *st)
{
	int			order[ONNX_MAX_RANK],
				in,
				li,
				kd[2] = {k, units};
	onnx_value *out;

	onnx_std_order(x, x->rank - 1, order);
	if (x->batch_axis == x->rank - 1 || x->dims[x->rank - 1] != k ||
		(in = onnx_in_order(cx, x, order, st)) < 0)
	{
		tl_free(kernel);
		tl_free(bias);
		return st->code ? -1 : unsupported(cx, st, "the weight does not match the input's last axis");
	}
	li = onnx_emit(cx, "Dense", NULL,
				   json_pack("{s:i,s:b}", "units", units, "use_bias", bias != NULL), &in, 1, st);
	if (li < 0 || onnx_add_weight(cx, li, kernel, 2, kd, st) < 0)
	{
		if (li < 0)
			tl_free(kernel);
		tl_free(bias);
		return -1;
	}
	if (bias && onnx_add_weight(cx, li, bias, 1, &units, st) < 0)
		return -1;
	if ((out = onnx_output_like(cx, 0, x, li, st)) == NULL)
		return -1;
	memcpy(out->order, order, sizeof(order));
	out->dims[x->rank - 1] = units;
	return 0;
}

static int
map_gemm(onnx_ctx *cx, tl_status *st)
{
	const Onnx__NodeProto *n = cx->node;
	onnx_value *x = dyn_in(cx, 0, st),
			   *w = const_in(cx, 1, 2, st),
			   *c = onnx_input(cx, 2);
	float		alpha = onnx_attr_float(n, "alpha", 1.0f),
				beta = onnx_attr_float(n, "beta", 1.0f);
	int			tb = (int) onnx_attr_int(n, "transB", 0);
	int			k,
				units;
	float	   *kernel,
			   *bias = NULL;

	if (x == NULL || w == NULL)
		return -1;
	if (onnx_attr_int(n, "transA", 0) != 0 || x->rank != 2 || x->batch_axis != 0 || w->rank != 2)
		return unsupported(cx, st, "only Gemm of a (batch, features) input by a constant matrix (transA = 0) is supported");
	k = (int) w->dims[tb ? 1 : 0];
	units = (int) w->dims[tb ? 0 : 1];
	if (c != NULL && (!c->is_const || c->count != units || (c->rank == 2 && c->dims[0] != 1)))
	{
		if (!(c->is_const && c->count == 1))
			return unsupported(cx, st, "C must be a constant vector of the output width");
	}
	kernel = tl_malloc(sizeof(float) * (size_t) k * units);
	if (c)
		bias = tl_malloc(sizeof(float) * units);
	if (kernel == NULL || (c && bias == NULL))
	{
		tl_free(kernel);
		tl_free(bias);
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	}
	for (int i = 0; i < k; i++)
		for (int j = 0; j < units; j++)
		{
			int64_t		src = tb ? (int64_t) j * k + i : (int64_t) i * units + j;

			kernel[(int64_t) i * units + j] = alpha * (w->is_int ? (float) w->i[src] : w->f[src]);
		}
	for (int j = 0; bias && j < units; j++)
	{
		int64_t		src = c->count == 1 ? 0 : j;

		bias[j] = beta * (c->is_int ? (float) c->i[src] : c->f[src]);
	}
	return emit_dense(cx, x, kernel, k, units, bias, st);
}

static int
map_matmul(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = dyn_in(cx, 0, st),
			   *w;

	if (x == NULL)
		return -1;
	w = onnx_input(cx, 1);
	if (w == NULL || !w->is_const || w->rank != 2)
		return unsupported(cx, st, "only MatMul by a constant matrix is supported");
	return emit_dense(cx, x, floats_of(w), (int) w->dims[0], (int) w->dims[1], NULL, st);
}

/* ---- windows: convolution and pooling ----------------------------------------------- */
typedef struct window
{
	int			rank;			/* spatial axes: 1 or 2 */
	int			k[2], s[2], d[2];
	int			pb[2], pa[2];	/* explicit padding before, after */
	const char *padding;		/* "valid" or "same" once pb/pa are absorbed */
} window;

/*
 * Reads kernel_shape (or the weight's), strides, dilations, pads, auto_pad.
 * Symmetric padding of a stride-1 window becomes "same" when same_ok (not
 * for an average that counts the padding).
 */
static int
read_window(onnx_ctx *cx, const onnx_value *x, const int64_t *kshape, int nk, int same_ok,
			window *w, tl_status *st)
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
		return unsupported(cx, st, "only 1-D and 2-D windows over (batch, channels, ...) inputs are supported");
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
		return unsupported(cx, st, "auto_pad SAME_LOWER is not supported");
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
has_explicit_padding(const window *w)
{
	for (int a = 0; a < w->rank; a++)
		if (w->pb[a] || w->pa[a])
			return 1;
	return 0;
}

/* x channels last (its layer), padded explicitly when the window asks for it. */
static int
window_input(onnx_ctx *cx, onnx_value *x, const window *w, float pad_value, int64_t *len,
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
static int
window_output(onnx_ctx *cx, onnx_value *x, const window *w, const int64_t *len, int channels,
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
				return unsupported(cx, st, "ceil_mode = 1 where it changes the output size is not supported");
		}
	}
	if (ceil_mode)
		for (int a = 0; a < w->rank; a++)
			if (len[a] < 0)
				return unsupported(cx, st, "ceil_mode = 1 on an axis of unknown length is not supported");
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

static int
map_conv(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = dyn_in(cx, 0, st),
			   *wt = const_in(cx, 1, 4, st),
			   *b = onnx_input(cx, 2);
	int			group = (int) onnx_attr_int(cx->node, "group", 1);
	int64_t		kshape[2],
				len[2];
	window		w;
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
		return unsupported(cx, st, "only 1-D and 2-D convolutions are supported");
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
		return unsupported(cx, st, "the bias must be a constant of one value per filter");
	if ((in = window_input(cx, x, &w, 0.0f, len, st)) < 0)
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
		(b && onnx_add_weight(cx, li, floats_of(b), 1, &f, st) < 0))
		return -1;
	return window_output(cx, x, &w, len, f, li, 0, st);
}

static int
map_pool(onnx_ctx *cx, tl_status *st)
{
	const Onnx__NodeProto *n = cx->node;
	onnx_value *x = dyn_in(cx, 0, st);
	int			is_max = strcmp(n->op_type, "MaxPool") == 0;
	int			nk,
				in,
				li;
	const int64_t *k = onnx_attr_ints(n, "kernel_shape", &nk);
	int64_t		len[2];
	window		w;
	json_t	   *cfg;

	if (x == NULL)
		return -1;
	if (read_window(cx, x, k, nk, is_max || !onnx_attr_int(n, "count_include_pad", 0), &w, st) < 0)
		return -1;
	for (int a = 0; a < w.rank; a++)
		if (w.d[a] != 1)
			return unsupported(cx, st, "dilated pooling is not supported");
	if (!is_max && has_explicit_padding(&w) && !onnx_attr_int(n, "count_include_pad", 0))
	{
		/* padding left out of the average: TensorFlow's "same" when it pads alike */
		int			same = 1;

		for (int a = 0; a < w.rank; a++)
		{
			int64_t		l = x->dims[2 + a];
			int			total;

			if (l < 0)
				return unsupported(cx, st, "padded AveragePool with count_include_pad = 0 on an axis of unknown length is not supported");
			total = (int) (((l + w.s[a] - 1) / w.s[a] - 1) * w.s[a] + w.k[a] - l);
			total = total < 0 ? 0 : total;
			same &= w.pb[a] == total / 2 && w.pa[a] == total - total / 2;
		}
		if (!same)
			return unsupported(cx, st, "AveragePool with asymmetric padding and count_include_pad = 0 is not supported");
		w.padding = "same";
		memset(w.pb, 0, sizeof(w.pb));
		memset(w.pa, 0, sizeof(w.pa));
	}
	if ((in = window_input(cx, x, &w, is_max ? -FLT_MAX : 0.0f, len, st)) < 0)
		return -1;
	cfg = json_pack("{s:o,s:o,s:s}", "pool_size", ints_json(w.k, w.rank),
					"strides", ints_json(w.s, w.rank), "padding", w.padding);
	li = onnx_emit(cx, is_max ? (w.rank == 1 ? "MaxPooling1D" : "MaxPooling2D") :
				   (w.rank == 1 ? "AveragePooling1D" : "AveragePooling2D"), NULL, cfg, &in, 1, st);
	if (li < 0)
		return -1;
	return window_output(cx, x, &w, len, (int) x->dims[1], li,
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

static int
map_global_pool(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = dyn_in(cx, 0, st);
	int			reduced[2] = {2, 3};

	if (x == NULL)
		return -1;
	if ((x->rank != 3 && x->rank != 4) || x->batch_axis != 0)
		return unsupported(cx, st, "only 1-D and 2-D global pooling of (batch, channels, ...) inputs is supported");
	return emit_global_pool(cx, x, reduced, x->rank - 2, 1,
							strcmp(cx->node->op_type, "GlobalMaxPool") == 0, 1, st);
}

static int
map_reduce(onnx_ctx *cx, tl_status *st)
{
	const Onnx__NodeProto *n = cx->node;
	onnx_value *x = dyn_in(cx, 0, st);
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
			return unsupported(cx, st, "axes must be a constant");
		na = (int) ax->count;
		axes = ax->i;
	}
	if (na == 0)
		return unsupported(cx, st, "reducing over every axis, the batch included, is not supported");
	for (int k = 0; k < na; k++)
	{
		int			a = onnx_axis(axes[k], x->rank);

		if (a < 0 || a == x->batch_axis)
			return unsupported(cx, st, "reducing over the batch axis is not supported");
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
		return unsupported(cx, st, "only reductions that keep exactly one axis besides the batch (over 1 or 2 axes) are supported");
	return emit_global_pool(cx, x, reduced, nr, c, is_max,
							(int) onnx_attr_int(n, "keepdims", 1), st);
}

static int
map_batchnorm(onnx_ctx *cx, tl_status *st)
{
	const Onnx__NodeProto *n = cx->node;
	onnx_value *x = dyn_in(cx, 0, st);
	onnx_value *p[4];
	int			c,
				li;

	if (x == NULL)
		return -1;
	if (onnx_attr_int(n, "training_mode", 0) != 0 || x->rank < 2 || x->batch_axis != 0)
		return unsupported(cx, st, "only inference-mode BatchNormalization of (batch, channels, ...) inputs is supported");
	c = (int) x->dims[1];
	for (int k = 0; k < 4; k++)
		if ((p[k] = const_in(cx, k + 1, 1, st)) == NULL || p[k]->count != c)
			return st->code ? -1 : onnx_fail_node(cx, st, TL_ERR_MODEL, "parameter %d does not have one value per channel", k + 1);
	li = onnx_emit(cx, "BatchNormalization", NULL,
				   json_pack("{s:i,s:f,s:b,s:b}", "axis", onnx_internal_axis(x, 1) + 1,
							 "epsilon", onnx_attr_float(n, "epsilon", 1e-5f), "center", 1, "scale", 1),
				   &x->layer, 1, st);
	if (li < 0)
		return -1;
	for (int k = 0; k < 4; k++)
		if (onnx_add_weight(cx, li, floats_of(p[k]), 1, &c, st) < 0)
			return -1;
	return onnx_output_like(cx, 0, x, li, st) ? 0 : -1;
}

static int
map_layernorm(onnx_ctx *cx, tl_status *st)
{
	const Onnx__NodeProto *n = cx->node;
	onnx_value *x = dyn_in(cx, 0, st),
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
		return unsupported(cx, st, "only normalisation over trailing axes after the batch axis is supported");
	for (size_t k = 1; k < n->n_output; k++)
		if (n->output[k][0] && onnx_find(cx, n->output[k])->uses > 0)
			return unsupported(cx, st, "the Mean and InvStdDev outputs are not supported");
	axes = json_array();
	for (int a = axis; a < x->rank; a++)
	{
		if (x->dims[a] < 1)
		{
			json_decref(axes);
			return unsupported(cx, st, "the normalised axes must have a known size");
		}
		dims[nd++] = (int) x->dims[a];
		count *= x->dims[a];
		json_array_append_new(axes, json_integer(a));
	}
	if (gamma == NULL || !gamma->is_const || gamma->count != count ||
		(beta && (!beta->is_const || beta->count != count)))
	{
		json_decref(axes);
		return unsupported(cx, st, "Scale and B must be constants of the normalised shape");
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
	if (li < 0 || onnx_add_weight(cx, li, floats_of(gamma), nd, dims, st) < 0 ||
		(beta && onnx_add_weight(cx, li, floats_of(beta), nd, dims, st) < 0))
		return -1;
	{
		onnx_value *out = onnx_output_like(cx, 0, x, li, st);

		if (out == NULL)
			return -1;
		memcpy(out->order, order, sizeof(order));
	}
	return 0;
}

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
		return unsupported(cx, st, "a shape with several axes of unknown length is not supported");
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

static int
map_flatten(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = dyn_in(cx, 0, st);
	int			axis,
				order[ONNX_MAX_RANK],
				in;
	int64_t		dims[2] = {-1, 1};

	if (x == NULL)
		return -1;
	axis = onnx_axis(onnx_attr_int(cx->node, "axis", 1), x->rank);
	if (axis != 1 || x->batch_axis != 0)
		return unsupported(cx, st, "only Flatten that keeps the batch axis (axis = 1) is supported");
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
static int
map_reshape(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = dyn_in(cx, 0, st),
			   *s = const_in(cx, 1, 1, st);
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
		return unsupported(cx, st, "the target shape must be a constant list of up to 7 sizes that keeps the batch axis");
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
				return unsupported(cx, st, "the target shape does not keep the batch axis where it is");
			dims[a] = -1;
			continue;
		}
		if (a < b && (t != x->dims[a] || t < 1))
			return unsupported(cx, st, "the target shape changes the axes before the batch axis");
		if (t == -1 || t == ONNX_UNKNOWN)
		{
			if (wild >= 0)
				return unsupported(cx, st, "a target shape with several unknown sizes is not supported");
			wild = a;
			dims[a] = -1;
		}
		else if (t < 1 || t > (1 << 30))
			return onnx_fail_node(cx, st, TL_ERR_MODEL, "invalid target size %lld", (long long) t);
		else
			known *= (dims[a] = t);
	}
	if (s->i[b] == -1 && (wild >= 0 || (per > 0 && per != known)))
		return unsupported(cx, st, "the target shape does not keep the batch axis as it is");
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

static int
map_transpose(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = dyn_in(cx, 0, st),
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

static int
map_squeeze(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = dyn_in(cx, 0, st),
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
			return unsupported(cx, st, "axes must be a constant");
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
		return unsupported(cx, st, "the result has too many axes");
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
					return unsupported(cx, st, "squeezing the batch axis is not supported");
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
		return unsupported(cx, st, "squeezing the batch axis is not supported");
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
		return unsupported(cx, st, "a shape with several axes of unknown length is not supported");
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

static int
map_concat(onnx_ctx *cx, tl_status *st)
{
	const Onnx__NodeProto *n = cx->node;
	onnx_value *x = dyn_in(cx, 0, st),
			   *out;
	int			axis,
				ins[64],
				li;
	int64_t		total = 0;

	if (x == NULL)
		return -1;
	axis = onnx_axis(onnx_attr_int(n, "axis", 0), x->rank);
	if (axis < 0 || axis == x->batch_axis || n->n_input > 64 || n->n_input < 1)
		return unsupported(cx, st, "only concatenation along a per-sample axis of up to 64 inputs is supported");
	for (size_t k = 0; k < n->n_input; k++)
	{
		onnx_value *v = dyn_in(cx, (int) k, st);

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

static int
map_pad(onnx_ctx *cx, tl_status *st)
{
	const Onnx__NodeProto *n = cx->node;
	onnx_value *x = dyn_in(cx, 0, st),
			   *pv = onnx_input(cx, 1),
			   *cv = onnx_input(cx, 2);
	char		buf[16];
	int64_t		pads[2 * ONNX_MAX_RANK],
				len[2];
	int			np;
	float		value = onnx_attr_float(n, "value", 0.0f);
	window		w = {0};
	int			li;

	if (x == NULL)
		return -1;
	if (strcmp(onnx_attr_string(n, "mode", "constant", buf, sizeof(buf)), "constant") != 0)
		return unsupported(cx, st, "only constant padding is supported");
	if (pv)
	{
		if (!pv->is_const || !pv->is_int || pv->count > 2 * ONNX_MAX_RANK)
			return unsupported(cx, st, "pads must be a constant");
		np = (int) pv->count;
		if (np > 0)
			memcpy(pads, pv->i, sizeof(int64_t) * np);
	}
	else
	{
		const int64_t *p = onnx_attr_ints(n, "pads", &np);

		if (np > 2 * ONNX_MAX_RANK)
			return unsupported(cx, st, "too many pads");
		if (np > 0)
			memcpy(pads, p, sizeof(int64_t) * np);
	}
	if (cv)
	{
		if (!cv->is_const || cv->count != 1)
			return unsupported(cx, st, "the padding value must be a scalar constant");
		value = cv->is_int ? (float) cv->i[0] : cv->f[0];
	}
	w.rank = x->rank - 2;
	if (np != 2 * x->rank || (w.rank != 1 && w.rank != 2) || x->batch_axis != 0 ||
		pads[0] || pads[1] || pads[x->rank] || pads[x->rank + 1])
		return unsupported(cx, st, "only padding the 1 or 2 spatial axes of (batch, channels, ...) inputs is supported");
	for (int a = 0; a < w.rank; a++)
	{
		if (pads[2 + a] < 0 || pads[x->rank + 2 + a] < 0 ||
			pads[2 + a] > 65536 || pads[x->rank + 2 + a] > 65536)
			return unsupported(cx, st, "negative or huge pads are not supported");
		w.pb[a] = (int) pads[2 + a];
		w.pa[a] = (int) pads[x->rank + 2 + a];
		w.k[a] = w.s[a] = w.d[a] = 1;
	}
	w.padding = "valid";
	if ((li = window_input(cx, x, &w, value, len, st)) < 0)
		return -1;
	return window_output(cx, x, &w, len, (int) x->dims[1], li, 0, st);
}

static int
map_embedding(onnx_ctx *cx, tl_status *st)
{
	onnx_value *table = onnx_input(cx, 0),
			   *ids = dyn_in(cx, 1, st),
			   *out;
	int			dims[2],
				li;

	if (ids == NULL)
		return -1;
	if (table == NULL || !table->is_const || table->rank != 2 ||
		onnx_axis(onnx_attr_int(cx->node, "axis", 0), 2) != 0 || !ids->is_int)
		return unsupported(cx, st, "only Gather of rows of a constant table by token ids (an embedding) is supported");
	if (ids->rank + 1 > TL_MAX_DIMS + 1)
		return unsupported(cx, st, "the ids have too many axes");
	dims[0] = (int) table->dims[0];
	dims[1] = (int) table->dims[1];
	li = onnx_emit(cx, "Embedding", NULL,
				   json_pack("{s:i,s:i}", "input_dim", dims[0], "output_dim", dims[1]), &ids->layer, 1, st);
	if (li < 0 || onnx_add_weight(cx, li, floats_of(table), 2, dims, st) < 0 ||
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
		return unsupported(cx, st, "taking entries along the batch axis is not supported");
	}
	for (int k = 0; k < count; k++)
	{
		int64_t		i = idx[k] < 0 && x->dims[a] > 0 ? idx[k] + x->dims[a] : idx[k];

		if (i < 0 || (x->dims[a] >= 0 && i >= x->dims[a]))
		{
			json_decref(list);
			return unsupported(cx, st, "an index is outside the axis (or counts from the end of an axis of unknown length)");
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
			return unsupported(cx, st, "a shape with several axes of unknown length is not supported");
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

static int
map_gather(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = onnx_input(cx, 0),
			   *idx = onnx_input(cx, 1);

	if (x != NULL && x->is_const)
		return map_embedding(cx, st);
	if (x == NULL || idx == NULL || !idx->is_const || !idx->is_int || idx->rank > 1 ||
		idx->count < 1 || idx->count > 65536)
		return unsupported(cx, st, "only Gather by constant indices (a list or one index) is supported");
	return emit_take(cx, x, onnx_axis(onnx_attr_int(cx->node, "axis", 0), x->rank), idx->i,
					 (int) idx->count, idx->rank == 0, st);
}

/* Slice of a computed value: one Take per sliced axis. */
static int
map_slice(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = dyn_in(cx, 0, st),
			   *v[4];
	int64_t		idx[65536 / 8];
	int			n = -1;

	if (x == NULL)
		return -1;
	for (int k = 0; k < 4; k++)
	{
		v[k] = onnx_input(cx, k + 1);
		if ((v[k] == NULL && k < 2) || (v[k] && (!v[k]->is_const || !v[k]->is_int || v[k]->rank != 1)))
			return unsupported(cx, st, "starts, ends, axes and steps must be constant lists (opset 10 or later)");
		if (v[k] && n >= 0 && v[k]->count != n)
			return onnx_fail_node(cx, st, TL_ERR_MODEL, "starts, ends, axes and steps disagree");
		if (v[k])
			n = (int) v[k]->count;
	}
	if (n != 1)
		return unsupported(cx, st, "only slicing one axis is supported");
	{
		int			a = onnx_axis(v[2] ? v[2]->i[0] : 0, x->rank);
		int64_t		d = a >= 0 ? x->dims[a] : -1,
					b = v[0]->i[0],
					e = v[1]->i[0],
					step = v[3] ? v[3]->i[0] : 1;
		int			count = 0;

		if (a < 0 || d < 1 || step == 0)
			return unsupported(cx, st, "slicing an axis of unknown length is not supported");
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
			return unsupported(cx, st, "an empty slice is not supported");
		if (count == d && step == 1)
			return onnx_output_like(cx, 0, x, x->layer, st) ? 0 : -1;
		return emit_take(cx, x, a, idx, count, 0, st);
	}
}

/* ---- recurrent layers ---------------------------------------------------------------- */

/* Whether the node's activations attribute is absent or the defaults. */
static int
default_activations(onnx_ctx *cx, int lstm)
{
	const Onnx__AttributeProto *a = onnx_attr(cx->node, "activations");
	static const char *const want[3] = {"Sigmoid", "Tanh", "Tanh"};
	int			per = lstm ? 3 : 2;

	if (a == NULL)
		return 1;
	for (size_t k = 0; k < a->n_strings; k++)
	{
		const char *w = want[k % per];

		if (a->strings[k].len != strlen(w) || memcmp(a->strings[k].data, w, strlen(w)) != 0)
			return 0;
	}
	return 1;
}

/*
 * The weights of direction d as Keras holds them: kernel (input, G*H),
 * recurrent kernel (H, G*H), bias ((G*H) or (2, G*H) with reset_after),
 * gates reordered from ONNX's (LSTM i o f c) to Keras's (i f c o).
 */
static int
rnn_weights(onnx_ctx *cx, int li, const onnx_value *w, const onnx_value *r, const onnx_value *b,
			int d, int lstm, int reset_after, int in_dim, int h, tl_status *st)
{
	int			g = lstm ? 4 : 3,
				gh = g * h;
	static const int lstm_src[4] = {0, 2, 3, 1};	/* Keras gate k is ONNX gate lstm_src[k] */
	float	   *kern = tl_malloc(sizeof(float) * (size_t) in_dim * gh),
			   *rec = tl_malloc(sizeof(float) * (size_t) h * gh),
			   *bias = tl_calloc((size_t) (reset_after ? 2 : 1) * gh, sizeof(float));
	int			kd[2] = {in_dim, gh},
				rd[2] = {h, gh},
				bd[2] = {2, gh};

	if (kern == NULL || rec == NULL || bias == NULL)
	{
		tl_free(kern);
		tl_free(rec);
		tl_free(bias);
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	}
	for (int k = 0; k < g; k++)
	{
		int			src = lstm ? lstm_src[k] : k;

		for (int u = 0; u < h; u++)
		{
			int64_t		row = ((int64_t) d * gh + (int64_t) src * h + u);

			for (int i = 0; i < in_dim; i++)
				kern[(int64_t) i * gh + k * h + u] = w->f[row * in_dim + i];
			for (int i = 0; i < h; i++)
				rec[(int64_t) i * gh + k * h + u] = r->f[row * h + i];
			if (b)
			{
				float		wb = b->f[(int64_t) d * 2 * gh + (int64_t) src * h + u],
							rb = b->f[(int64_t) d * 2 * gh + gh + (int64_t) src * h + u];

				if (reset_after)
				{
					bias[k * h + u] = wb;
					bias[gh + k * h + u] = rb;
				}
				else
					bias[k * h + u] = wb + rb;
			}
		}
	}
	if (onnx_add_weight(cx, li, kern, 2, kd, st) < 0 ||
		onnx_add_weight(cx, li, rec, 2, rd, st) < 0)
	{
		tl_free(bias);
		return -1;
	}
	return reset_after ? onnx_add_weight(cx, li, bias, 2, bd, st) :
		onnx_add_weight(cx, li, bias, 1, &gh, st);
}

/*
 * LSTM and GRU: X (steps, batch, input) → Y (steps, directions, batch,
 * hidden) when the sequence is read, else Y_h (directions, batch, hidden):
 * a Keras LSTM/GRU (or Bidirectional with merge "concat") whose output is
 * then renamed to the ONNX axes.  Initial states must be absent or zeros.
 */
static int
map_rnn(onnx_ctx *cx, tl_status *st)
{
	const Onnx__NodeProto *n = cx->node;
	int			lstm = strcmp(n->op_type, "LSTM") == 0;
	onnx_value *x = dyn_in(cx, 0, st),
			   *w = const_in(cx, 1, 3, st),
			   *r = const_in(cx, 2, 3, st),
			   *b = onnx_input(cx, 3),
			   *y_v = n->n_output > 0 && n->output[0][0] ? onnx_find(cx, n->output[0]) : NULL,
			   *yh_v = n->n_output > 1 && n->output[1][0] ? onnx_find(cx, n->output[1]) : NULL;
	char		buf[32];
	const char *dir = onnx_attr_string(n, "direction", "forward", buf, sizeof(buf));
	int			bi = strcmp(dir, "bidirectional") == 0,
				reverse = strcmp(dir, "reverse") == 0,
				nd = bi ? 2 : 1;
	int			h = (int) onnx_attr_int(n, "hidden_size", 0),
				reset_after = !lstm && onnx_attr_int(n, "linear_before_reset", 0) != 0,
				seq,
				in,
				li,
				in_dim,
				order[2];
	json_t	   *cell,
			   *cfg;
	onnx_value *out;

	if (x == NULL || w == NULL || r == NULL)
		return -1;
	seq = y_v != NULL && y_v->uses > 0;
	if (n->n_output > 2 && n->output[2][0] && onnx_find(cx, n->output[2])->uses > 0)
		return unsupported(cx, st, "the final cell state output (Y_c) is not supported");
	if (seq && yh_v != NULL && yh_v->uses > 0)
		return unsupported(cx, st, "using both Y and Y_h is not supported (use one of them)");
	if (x->rank != 3 || x->batch_axis != 1 || onnx_attr_int(n, "layout", 0) != 0)
		return unsupported(cx, st, "X must be (steps, batch, features)");
	if ((n->n_input > 4 && n->input[4][0]) || (n->n_input > 7 && n->input[7][0]))
		return unsupported(cx, st, "sequence_lens and peepholes are not supported");
	for (int k = 5; k < (int) n->n_input && k < 7; k++)
	{
		onnx_value *s0 = onnx_input(cx, k);

		if (s0 != NULL && !s0->batch_zeros)
			return unsupported(cx, st, "initial states other than zeros are not supported");
	}
	if (!default_activations(cx, lstm) || onnx_attr(n, "clip") ||
		onnx_attr_int(n, "input_forget", 0) != 0)
		return unsupported(cx, st, "only the default activations, no clip and no input_forget are supported");
	if (!bi && !reverse && strcmp(dir, "forward") != 0)
		return onnx_fail_node(cx, st, TL_ERR_MODEL, "unknown direction \"%s\"", dir);
	if (reverse && seq)
		return unsupported(cx, st, "the outputs Y of a reverse-only recurrent layer are not supported");
	in_dim = (int) x->dims[2];
	if (h < 1 || in_dim < 1 || w->rank != 3 || w->dims[0] != nd || w->dims[1] != (lstm ? 4 : 3) * h ||
		w->dims[2] != in_dim || r->rank != 3 || r->dims[0] != nd || r->dims[2] != h ||
		r->dims[1] != w->dims[1] || w->is_int || r->is_int ||
		(b && (!b->is_const || b->is_int || b->count != (int64_t) nd * 2 * w->dims[1])))
		return onnx_fail_node(cx, st, TL_ERR_MODEL, "W, R and B do not match hidden_size %d and the input", h);
	order[0] = 0;
	order[1] = 2;
	if ((in = onnx_in_order(cx, x, order, st)) < 0)
		return -1;
	cell = json_pack("{s:i,s:b,s:b,s:b,s:s,s:s}", "units", h, "use_bias", 1,
					 "return_sequences", seq, "go_backwards", reverse,
					 "activation", "tanh", "recurrent_activation", "sigmoid");
	if (!lstm && cell)
		json_object_set_new(cell, "reset_after", json_boolean(reset_after));
	if (bi)
		cfg = json_pack("{s:{s:s,s:o},s:s}", "layer", "class_name", lstm ? "LSTM" : "GRU",
						"config", cell, "merge_mode", "concat");
	else
		cfg = cell;
	li = onnx_emit(cx, bi ? "Bidirectional" : (lstm ? "LSTM" : "GRU"), NULL, cfg, &in, 1, st);
	if (li < 0)
		return -1;
	for (int d = 0; d < nd; d++)
		if (rnn_weights(cx, li, w, r, b, d, lstm, reset_after, in_dim, h, st) < 0)
			return -1;
	/* the output, renamed: Y (steps, dirs, batch, hidden) or Y_h (dirs, batch, hidden) */
	{
		json_t	   *target = seq ? json_pack("[i,i,i]", -1, nd, h) : json_pack("[i,i]", nd, h);
		int			rs;

		if (seq && x->dims[0] > 0)
			json_array_set_new(target, 0, json_integer(x->dims[0]));
		rs = onnx_emit(cx, "Reshape", "directions", json_pack("{s:o}", "target_shape", target), &li, 1, st);
		if (rs < 0)
			return -1;
		if (seq)
		{
			if ((out = onnx_output_like(cx, 0, x, rs, st)) == NULL)
				return -1;
			out->rank = 4;
			out->batch_axis = 2;
			out->dims[0] = x->dims[0];
			out->dims[1] = nd;
			out->dims[2] = -1;
			out->dims[3] = h;
			out->order[0] = 0;
			out->order[1] = 1;
			out->order[2] = 3;
		}
		else
		{
			if ((out = onnx_output_like(cx, 1, x, rs, st)) == NULL)
				return -1;
			out->rank = 3;
			out->batch_axis = 1;
			out->dims[0] = nd;
			out->dims[1] = -1;
			out->dims[2] = h;
			out->order[0] = 0;
			out->order[1] = 2;
		}
	}
	return 0;
}

/*
 * The self-attention block recognised by onnx_patterns.c: inputs x, W_in
 * (E, 3E, applied as x W_in), b_in, W_out (E, E, applied transposed, as
 * Gemm with transB does), b_out; attribute num_heads.
 */
static int
map_attention(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = dyn_in(cx, 0, st),
			   *p[4],
			   *out;
	int			order[ONNX_MAX_RANK],
				in,
				li,
				e,
				heads = (int) onnx_attr_int(cx->node, "num_heads", 1);
	int			dims[4][2];
	float	   *wout;

	if (x == NULL)
		return -1;
	e = (int) x->dims[x->rank - 1];
	if (x->rank != 3 || x->batch_axis == 2 || e < 1)
		return unsupported(cx, st, "self-attention over a (batch, steps, features) input is supported");
	for (int k = 0; k < 4; k++)
		if ((p[k] = const_in(cx, k + 1, 2, st)) == NULL || p[k]->is_int)
			return st->code ? -1 : unsupported(cx, st, "the projections must be float constants");
	if (p[0]->count != (int64_t) 3 * e * e || p[1]->count != 3 * e || p[2]->count != (int64_t) e * e ||
		p[3]->count != e)
		return onnx_fail_node(cx, st, TL_ERR_MODEL, "the attention projections do not match %d features", e);
	onnx_std_order(x, x->rank - 1, order);
	if ((in = onnx_in_order(cx, x, order, st)) < 0)
		return -1;
	li = onnx_emit(cx, "MultiHeadSelfAttention", NULL, json_pack("{s:i}", "num_heads", heads), &in, 1, st);
	if (li < 0)
		return -1;
	dims[0][0] = e;
	dims[0][1] = 3 * e;
	dims[1][0] = 3 * e;
	dims[2][0] = dims[2][1] = e;
	dims[3][0] = e;
	wout = tl_malloc(sizeof(float) * e * e);
	if (wout == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	for (int i = 0; i < e; i++)
		for (int j = 0; j < e; j++)
			wout[(int64_t) i * e + j] = p[2]->f[(int64_t) j * e + i];
	if (onnx_add_weight(cx, li, floats_of(p[0]), 2, dims[0], st) < 0 ||
		onnx_add_weight(cx, li, floats_of(p[1]), 1, dims[1], st) < 0)
	{
		tl_free(wout);
		return -1;
	}
	if (onnx_add_weight(cx, li, wout, 2, dims[2], st) < 0 ||
		onnx_add_weight(cx, li, floats_of(p[3]), 1, dims[3], st) < 0)
		return -1;
	if ((out = onnx_output_like(cx, 0, x, li, st)) == NULL)
		return -1;
	memcpy(out->order, order, sizeof(order));
	return 0;
}

/* ---- the table ----------------------------------------------------------------- */
static const struct
{
	const char *op;
	onnx_mapper map;
}			mappers[] =
{
	{"Identity", map_identity}, {"Dropout", map_identity}, {"Cast", map_identity},
	{"Relu", map_activation}, {"Sigmoid", map_activation}, {"Tanh", map_activation},
	{"Softplus", map_activation}, {"Softsign", map_activation}, {"Exp", map_activation},
	{"Gelu", map_activation}, {"Selu", map_activation}, {"HardSigmoid", map_activation},
	{"LeakyRelu", map_activation}, {"Elu", map_activation}, {"Clip", map_activation},
	{"Softmax", map_softmax},
	{"Add", map_binary}, {"Sub", map_binary}, {"Mul", map_binary}, {"Div", map_binary},
	{"Pow", map_binary},
	{"Gemm", map_gemm}, {"MatMul", map_matmul},
	{"Conv", map_conv}, {"MaxPool", map_pool}, {"AveragePool", map_pool},
	{"GlobalAveragePool", map_global_pool}, {"GlobalMaxPool", map_global_pool},
	{"ReduceMean", map_reduce}, {"ReduceMax", map_reduce},
	{"BatchNormalization", map_batchnorm}, {"LayerNormalization", map_layernorm},
	{"Flatten", map_flatten}, {"Reshape", map_reshape}, {"Transpose", map_transpose},
	{"Squeeze", map_squeeze}, {"Unsqueeze", map_squeeze}, {"Concat", map_concat},
	{"Pad", map_pad}, {"Gather", map_gather}, {"Slice", map_slice},
	{"LSTM", map_rnn}, {"GRU", map_rnn},
	{"MultiHeadSelfAttention", map_attention},
};

int
onnx_map_node(onnx_ctx *cx, const Onnx__NodeProto *n, tl_status *st)
{
	for (size_t k = 0; k < sizeof(mappers) / sizeof(mappers[0]); k++)
		if (strcmp(n->op_type, mappers[k].op) == 0)
			return mappers[k].map(cx, st);
	return onnx_fail_node(cx, st, TL_ERR_UNSUPPORTED,
						  "operator %s is not supported (doc/onnx.md lists the supported ones)",
						  n->op_type);
}
