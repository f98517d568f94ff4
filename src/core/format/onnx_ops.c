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

#include "format/onnx_ops.h"

typedef int (*onnx_mapper) (onnx_ctx *cx, tl_status *st);

int
onnx_unsupported(onnx_ctx *cx, tl_status *st, const char *what)
{
	return onnx_fail_node(cx, st, TL_ERR_UNSUPPORTED, "%s", what);
}

/* Input k, which must depend on the model input. */
onnx_value *
onnx_dyn_in(onnx_ctx *cx, int k, tl_status *st)
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
onnx_value *
onnx_const_in(onnx_ctx *cx, int k, int max_rank, tl_status *st)
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

float *
onnx_floats_of(const onnx_value *v)
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
int
onnx_map_identity(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = onnx_dyn_in(cx, 0, st);

	if (x == NULL)
		return -1;
	if (strcmp(cx->node->op_type, "Cast") == 0)
	{
		int64_t		to = onnx_attr_int(cx->node, "to", 0);
		int			to_float = to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
			to == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;

		if (to_float == x->is_int)
			return onnx_unsupported(cx, st, "casts between token ids and real numbers are not supported");
	}
	return onnx_output_like(cx, 0, x, x->layer, st) ? 0 : -1;
}

/* ---- activations ---------------------------------------------------------------- */
int
onnx_map_activation(onnx_ctx *cx, tl_status *st)
{
	const Onnx__NodeProto *n = cx->node;
	const char *op = n->op_type;
	onnx_value *x = onnx_dyn_in(cx, 0, st);
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
			return onnx_unsupported(cx, st, "only the exact (erf) GELU is supported");
		name = "gelu";
	}
	else if (strcmp(op, "Selu") == 0)
	{
		if (fabsf(onnx_attr_float(n, "alpha", 1.67326319f) - 1.67326319f) > 1e-6f ||
			fabsf(onnx_attr_float(n, "gamma", 1.05070102f) - 1.05070102f) > 1e-6f)
			return onnx_unsupported(cx, st, "only the standard SELU constants are supported");
		name = "selu";
	}
	else if (strcmp(op, "HardSigmoid") == 0)
	{
		if (fabsf(onnx_attr_float(n, "alpha", 0.2f) - 0.2f) > 1e-7f ||
			fabsf(onnx_attr_float(n, "beta", 0.5f) - 0.5f) > 1e-7f)
			return onnx_unsupported(cx, st, "only alpha 0.2, beta 0.5 are supported");
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
			return onnx_unsupported(cx, st, "min and max must be scalar constants");
		if (lo)
			vlo = lo->is_int ? (float) lo->i[0] : lo->f[0];
		if (hi)
			vhi = hi->is_int ? (float) hi->i[0] : hi->f[0];
		if (vlo != 0.0f)
			return onnx_unsupported(cx, st, "only Clip with min 0 (ReLU, ReLU6) is supported");
		cfg = vhi < FLT_MAX ? json_pack("{s:f}", "max_value", vhi) : json_pack("{}");
		return emit_same(cx, x, "ReLU", cfg, st);
	}
	return onnx_unsupported(cx, st, "this activation is not supported");
}

int
onnx_map_softmax(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = onnx_dyn_in(cx, 0, st);
	int			axis;

	if (x == NULL)
		return -1;
	axis = onnx_axis(onnx_attr_int(cx->node, "axis", cx->opset >= 13 ? -1 : 1), x->rank);
	/* before opset 13 the input is seen as 2-D at axis: the same only for the last axis */
	if (cx->opset < 13 && axis != x->rank - 1)
		return onnx_unsupported(cx, st, "Softmax over several axes (opset < 13, axis not last) is not supported");
	if (axis < 0 || axis == x->batch_axis)
		return onnx_unsupported(cx, st, "Softmax must run along a per-sample axis");
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
		return onnx_unsupported(cx, st, "the constant has more axes than the computed input");
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
		return onnx_unsupported(cx, st, "a constant that varies along the batch axis is not supported");
	for (int k = 0; k < n; k++)
	{
		int64_t		d = cd[x->order[k]];

		if (d != 1 && d != x->dims[x->order[k]])
			return onnx_unsupported(cx, st, "the constant does not broadcast over the computed input");
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

int
onnx_map_binary(onnx_ctx *cx, tl_status *st)
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
		return onnx_unsupported(cx, st, "two inputs are needed");
	if (!a->is_const && !b->is_const)
	{
		int			order[ONNX_MAX_RANK],
					ins[2];
		const char *cls = add ? "Add" : sub ? "Subtract" : mul ? "Multiply" : NULL;
		int			li;

		if (cls == NULL)
			return onnx_unsupported(cx, st, "this op on two computed inputs is not supported");
		if (a->rank != b->rank || a->batch_axis != b->batch_axis)
			return onnx_unsupported(cx, st, "broadcasting between computed inputs is not supported");
		for (int k = 0; k < a->rank; k++)
			if (a->dims[k] != b->dims[k])
				return onnx_unsupported(cx, st, "broadcasting between computed inputs is not supported");
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
			return onnx_unsupported(cx, st, "a constant divided by or raised to a computed value is not supported");
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
		return st->code ? -1 : onnx_unsupported(cx, st, "the weight does not match the input's last axis");
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

int
onnx_map_gemm(onnx_ctx *cx, tl_status *st)
{
	const Onnx__NodeProto *n = cx->node;
	onnx_value *x = onnx_dyn_in(cx, 0, st),
			   *w = onnx_const_in(cx, 1, 2, st),
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
		return onnx_unsupported(cx, st, "only Gemm of a (batch, features) input by a constant matrix (transA = 0) is supported");
	k = (int) w->dims[tb ? 1 : 0];
	units = (int) w->dims[tb ? 0 : 1];
	if (c != NULL && (!c->is_const || c->count != units || (c->rank == 2 && c->dims[0] != 1)))
	{
		if (!(c->is_const && c->count == 1))
			return onnx_unsupported(cx, st, "C must be a constant vector of the output width");
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

int
onnx_map_matmul(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = onnx_dyn_in(cx, 0, st),
			   *w;

	if (x == NULL)
		return -1;
	w = onnx_input(cx, 1);
	if (w == NULL || !w->is_const || w->rank != 2)
		return onnx_unsupported(cx, st, "only MatMul by a constant matrix is supported");
	return emit_dense(cx, x, onnx_floats_of(w), (int) w->dims[0], (int) w->dims[1], NULL, st);
}

/* ---- the table ----------------------------------------------------------------- */
static const struct
{
	const char *op;
	onnx_mapper map;
}			mappers[] =
{
	{"Identity", onnx_map_identity}, {"Dropout", onnx_map_identity}, {"Cast", onnx_map_identity},
	{"Relu", onnx_map_activation}, {"Sigmoid", onnx_map_activation}, {"Tanh", onnx_map_activation},
	{"Softplus", onnx_map_activation}, {"Softsign", onnx_map_activation}, {"Exp", onnx_map_activation},
	{"Gelu", onnx_map_activation}, {"Selu", onnx_map_activation}, {"HardSigmoid", onnx_map_activation},
	{"LeakyRelu", onnx_map_activation}, {"Elu", onnx_map_activation}, {"Clip", onnx_map_activation},
	{"Softmax", onnx_map_softmax},
	{"Add", onnx_map_binary}, {"Sub", onnx_map_binary}, {"Mul", onnx_map_binary}, {"Div", onnx_map_binary},
	{"Pow", onnx_map_binary},
	{"Gemm", onnx_map_gemm}, {"MatMul", onnx_map_matmul},
	{"Conv", onnx_map_conv}, {"MaxPool", onnx_map_pool}, {"AveragePool", onnx_map_pool},
	{"GlobalAveragePool", onnx_map_global_pool}, {"GlobalMaxPool", onnx_map_global_pool},
	{"ReduceMean", onnx_map_reduce}, {"ReduceMax", onnx_map_reduce},
	{"BatchNormalization", onnx_map_batchnorm}, {"LayerNormalization", onnx_map_layernorm},
	{"Flatten", onnx_map_flatten}, {"Reshape", onnx_map_reshape}, {"Transpose", onnx_map_transpose},
	{"Squeeze", onnx_map_squeeze}, {"Unsqueeze", onnx_map_squeeze}, {"Concat", onnx_map_concat},
	{"Pad", onnx_map_pad}, {"Gather", onnx_map_gather}, {"Slice", onnx_map_slice},
	{"LSTM", onnx_map_rnn}, {"GRU", onnx_map_rnn},
	{"MultiHeadSelfAttention", onnx_map_attention},
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
