/*
 * onnx_graph.c — an ONNX graph as the runtime's layer graph.
 *
 * The nodes are visited in the order the file lists them (ONNX requires a
 * topological order; a node reading a value no earlier node made — a
 * cycle — is refused), skipping those no graph output depends on.  Each is
 * folded into constants when its inputs are constants (onnx_fold.c) or
 * mapped onto layers (onnx_ops.c).  The layers are written as a Keras
 * Functional config with their weights beside it: the model is then built
 * by the same code as a Keras file's (tl_model_build), and the parser
 * process sends it back in the same compiled form, config and weights.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/tl_hash.h"
#include "format/onnx_int.h"

/* ---- names ------------------------------------------------------------- */
/* The slot of name in the value hash (its value index + 1, or 0 if free). */
static int *
value_slot(onnx_ctx *cx, const char *name)
{
	uint64_t	h = tl_hash_string(name);

	for (int k = 0;; k++)
	{
		int		   *s = &cx->slots[(h + (uint64_t) k) % (uint64_t) cx->n_slots];

		if (*s == 0 || strcmp(cx->values[*s - 1].name, name) == 0)
			return s;
	}
}

/* The value called name, added (undefined) if new; NULL when out of memory. */
static onnx_value *
value_get(onnx_ctx *cx, const char *name, tl_status *st)
{
	int		   *s;

	if (cx->n_values + 1 > cx->n_slots / 2)
	{
		int			n = cx->n_slots ? cx->n_slots * 2 : 1024;
		int		   *slots = tl_calloc(n, sizeof(int));

		if (slots == NULL)
			goto nomem;
		tl_free(cx->slots);
		cx->slots = slots;
		cx->n_slots = n;
		for (int i = 0; i < cx->n_values; i++)
			*value_slot(cx, cx->values[i].name) = i + 1;
	}
	s = value_slot(cx, name);
	if (*s)
		return &cx->values[*s - 1];
	if (cx->n_values == cx->cap_values)
	{
		int			cap = cx->cap_values ? cx->cap_values * 2 : 256;
		onnx_value *v = tl_realloc(cx->values, sizeof(onnx_value) * cap);

		if (v == NULL)
			goto nomem;
		cx->values = v;
		cx->cap_values = cap;
	}
	memset(&cx->values[cx->n_values], 0, sizeof(onnx_value));
	cx->values[cx->n_values].name = name;
	cx->values[cx->n_values].layer = -1;
	cx->values[cx->n_values].alt_layer = -1;
	cx->values[cx->n_values].producer = -1;
	*s = ++cx->n_values;
	return &cx->values[cx->n_values - 1];
nomem:
	tl_fail(st, TL_ERR_NOMEM, "out of memory");
	return NULL;
}

onnx_value *
onnx_find(onnx_ctx *cx, const char *name)
{
	int		   *s;

	if (cx->n_slots == 0)
		return NULL;
	s = value_slot(cx, name);
	return *s ? &cx->values[*s - 1] : NULL;
}

int
onnx_fail_node(onnx_ctx *cx, tl_status *st, tl_code code, const char *fmt,...)
{
	char		msg[TL_MSG_LEN];
	va_list		ap;
	const Onnx__NodeProto *n = cx->node;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n == NULL)
		return tl_fail(st, code, "ONNX graph: %s", msg);
	return tl_fail(st, code, "ONNX node \"%s\" (%s): %s",
				   n->name && n->name[0] ? n->name : (n->n_output ? n->output[0] : "?"),
				   n->op_type ? n->op_type : "?", msg);
}

onnx_value *
onnx_input(onnx_ctx *cx, int k)
{
	const Onnx__NodeProto *n = cx->node;

	if (k >= (int) n->n_input || n->input[k][0] == '\0')
		return NULL;
	return onnx_find(cx, n->input[k]);
}

onnx_value *
onnx_define(onnx_ctx *cx, const char *name, tl_status *st)
{
	onnx_value *v = value_get(cx, name, st);

	if (v == NULL)
		return NULL;
	if (v->is_const || v->layer >= 0)
	{
		onnx_fail_node(cx, st, TL_ERR_MODEL, "value \"%s\" is produced twice", name);
		return NULL;
	}
	return v;
}

int
onnx_axis(int64_t a, int rank)
{
	if (a < 0)
		a += rank;
	return a >= 0 && a < rank ? (int) a : -1;
}

void
onnx_std_order(const onnx_value *v, int last, int *order)
{
	int			k = 0;

	for (int a = 0; a < v->rank; a++)
		if (a != v->batch_axis && a != last)
			order[k++] = a;
	if (last >= 0 && last != v->batch_axis)
		order[k++] = last;
}

int
onnx_internal_axis(const onnx_value *v, int a)
{
	for (int k = 0; k < v->rank - 1; k++)
		if (v->order[k] == a)
			return k;
	return -1;
}

onnx_value *
onnx_output_like(onnx_ctx *cx, int k, const onnx_value *like, int li, tl_status *st)
{
	onnx_value *out = onnx_define(cx, cx->node->output[k], st);

	if (out == NULL)
		return NULL;
	out->is_const = 0;
	out->is_int = like->is_int;
	out->rank = like->rank;
	memcpy(out->dims, like->dims, sizeof(out->dims));
	out->batch_axis = like->batch_axis;
	memcpy(out->order, like->order, sizeof(out->order));
	out->layer = li;
	out->alt_layer = -1;
	cx->layers[li].values++;
	return out;
}

/* ---- emitting layers ------------------------------------------------------ */
static int
layer_named(const onnx_ctx *cx, const char *name)
{
	for (int i = cx->n_layers - 1; i >= 0; i--)
		if (strcmp(cx->layers[i].name, name) == 0)
			return 1;
	return 0;
}

int
onnx_emit(onnx_ctx *cx, const char *cls, const char *suffix, json_t *config,
		  const int *inputs, int n_in, tl_status *st)
{
	const Onnx__NodeProto *n = cx->node;
	const char *base = n == NULL ? cx->input_name :
		(n->name && n->name[0] ? n->name : n->output[0]);
	char		name[256];
	json_t	   *entry = NULL,
			   *inbound;
	onnx_layer *l;

	if (config == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	if (cx->n_layers >= TL_MAX_LAYERS)
	{
		json_decref(config);
		return onnx_fail_node(cx, st, TL_ERR_LIMIT, "the model needs more than %d layers",
							  TL_MAX_LAYERS);
	}
	snprintf(name, sizeof(name), "%.200s%s%s", base, suffix ? "/" : "", suffix ? suffix : "");
	for (int k = 2; layer_named(cx, name); k++)
		snprintf(name, sizeof(name), "%.200s%s%s_%d", base, suffix ? "/" : "",
				 suffix ? suffix : "", k);
	if (cx->n_layers == cx->cap_layers)
	{
		int			cap = cx->cap_layers ? cx->cap_layers * 2 : 64;
		onnx_layer *ls = tl_realloc(cx->layers, sizeof(onnx_layer) * cap);

		if (ls == NULL)
		{
			json_decref(config);
			return tl_fail(st, TL_ERR_NOMEM, "out of memory");
		}
		cx->layers = ls;
		cx->cap_layers = cap;
	}
	l = &cx->layers[cx->n_layers];
	memset(l, 0, sizeof(*l));
	inbound = json_array();
	for (int k = 0; inbound && k < n_in; k++)
		json_array_append_new(inbound, json_pack("[s,i,i,{}]", cx->layers[inputs[k]].name, 0, 0));
	json_object_set_new(config, "name", json_string(name));
	entry = json_pack("{s:s,s:s,s:o,s:[o]}", "class_name", cls, "name", name,
					  "config", config, "inbound_nodes", inbound);
	l->name = tl_strdup(name);
	if (entry == NULL || l->name == NULL)
	{
		json_decref(entry);
		tl_free(l->name);
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	}
	if (n_in == 0)
		json_array_clear(json_object_get(entry, "inbound_nodes"));
	l->entry = entry;
	return cx->n_layers++;
}

int
onnx_add_weight(onnx_ctx *cx, int li, float *data, int nd, const int *dims,
				tl_status *st)
{
	onnx_layer *l = &cx->layers[li];
	tl_weight  *w;

	if (data == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	if (l->n_w >= TL_MAX_WEIGHTS || nd > TL_MAX_DIMS)
	{
		tl_free(data);
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\": too many weights", l->name);
	}
	w = &l->w[l->n_w++];
	w->shape.nd = nd;
	w->n = 1;
	for (int k = 0; k < nd; k++)
	{
		w->shape.d[k] = dims[k];
		w->n *= dims[k];
	}
	w->data = data;
	return 0;
}

/* Whether going from order a to order b moves only size-1 axes. */
static int
same_memory(const onnx_value *v, const int *a, const int *b)
{
	int			i = 0,
				j = 0,
				n = v->rank - 1;

	for (;;)
	{
		while (i < n && v->dims[a[i]] == 1)
			i++;
		while (j < n && v->dims[b[j]] == 1)
			j++;
		if (i == n || j == n)
			return i == n && j == n;
		if (a[i++] != b[j++])
			return 0;
	}
}

int
onnx_in_order(onnx_ctx *cx, onnx_value *v, const int *order, tl_status *st)
{
	int			n = v->rank - 1;
	int			unknown = 0;
	json_t	   *cfg,
			   *list;
	int			li;

	if (memcmp(v->order, order, sizeof(int) * n) == 0)
		return v->layer;
	if (v->alt_layer >= 0 && memcmp(v->alt_order, order, sizeof(int) * n) == 0)
		return v->alt_layer;
	for (int k = 0; k < n; k++)
		unknown += v->dims[order[k]] < 0;
	list = json_array();
	if (same_memory(v, v->order, order) && unknown <= 1)
	{
		/* size-1 axes move: the same values in the same place */
		for (int k = 0; k < n; k++)
			json_array_append_new(list, json_integer(v->dims[order[k]] < 0 ? -1 : v->dims[order[k]]));
		cfg = json_pack("{s:o}", "target_shape", list);
		li = onnx_emit(cx, "Reshape", "reshape", cfg, &v->layer, 1, st);
	}
	else
	{
		for (int k = 0; k < n; k++)
			json_array_append_new(list, json_integer(onnx_internal_axis(v, order[k]) + 1));
		cfg = json_pack("{s:o}", "dims", list);
		li = onnx_emit(cx, "Permute", "permute", cfg, &v->layer, 1, st);
	}
	if (li < 0)
		return -1;
	v->alt_layer = li;
	memcpy(v->alt_order, order, sizeof(int) * n);
	return li;
}

/* ---- the graph ---------------------------------------------------------------- */
static void
ctx_free(onnx_ctx *cx)
{
	for (int i = 0; i < cx->n_values; i++)
	{
		tl_free(cx->values[i].i);
		tl_free(cx->values[i].f);
	}
	for (int i = 0; i < cx->n_layers; i++)
	{
		tl_free(cx->layers[i].name);
		json_decref(cx->layers[i].entry);
		for (int k = 0; k < cx->layers[i].n_w; k++)
			tl_free(cx->layers[i].w[k].data);
	}
	tl_free(cx->values);
	tl_free(cx->slots);
	tl_free(cx->rw);
	tl_free(cx->layers);
}

static int64_t
default_opset(const Onnx__ModelProto *mp)
{
	for (size_t k = 0; k < mp->n_opset_import; k++)
	{
		const Onnx__OperatorSetIdProto *o = mp->opset_import[k];

		if (o->domain == NULL || o->domain[0] == '\0' || strcmp(o->domain, "ai.onnx") == 0)
			return o->has_version ? o->version : 1;
	}
	return 1;
}

/* The model input: the one graph input that is not an initializer. */
static int
add_input(onnx_ctx *cx, tl_status *st)
{
	const Onnx__GraphProto *g = cx->g;
	const Onnx__ValueInfoProto *in = NULL;
	const Onnx__TypeProto__Tensor *tt;
	onnx_value *v;
	json_t	   *shape;
	int			li;

	for (size_t k = 0; k < g->n_input; k++)
	{
		onnx_value *e = onnx_find(cx, g->input[k]->name ? g->input[k]->name : "");

		if (e && e->is_const)
			continue;			/* an initializer listed as an input (IR < 4) */
		if (e == NULL || e->uses == 0)
			continue;			/* declared but never read */
		if (in != NULL)
			return tl_fail(st, TL_ERR_UNSUPPORTED,
						   "the ONNX model has several inputs (\"%s\", \"%s\"); models with one input are supported",
						   in->name, g->input[k]->name);
		in = g->input[k];
	}
	if (in == NULL)
		return tl_fail(st, TL_ERR_UNSUPPORTED,
					   "the ONNX graph's output depends on no input (a constant model is not supported)");
	tt = in->type && in->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ?
		in->type->tensor_type : NULL;
	if (tt == NULL || tt->shape == NULL)
		return tl_fail(st, TL_ERR_UNSUPPORTED, "ONNX input \"%s\" is not a tensor of known rank", in->name);
	v = onnx_find(cx, in->name);
	cx->input_name = in->name;
	v->rank = (int) tt->shape->n_dim;
	if (v->rank < 2 || v->rank > TL_MAX_DIMS + 1)
		return tl_fail(st, TL_ERR_UNSUPPORTED,
					   "ONNX input \"%s\" has rank %d; expected a batch axis and 1 to %d more",
					   in->name, v->rank, TL_MAX_DIMS);
	switch (tt->elem_type)
	{
		case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
		case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
			break;
		case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
		case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
			v->is_int = 1;		/* token ids */
			break;
		default:
			return tl_fail(st, TL_ERR_UNSUPPORTED,
						   "ONNX input \"%s\" has element type %d; float inputs and int64 token ids are supported",
						   in->name, (int) tt->elem_type);
	}
	shape = json_array();
	json_array_append_new(shape, json_null());
	v->dims[0] = -1;
	for (int a = 1; a < v->rank; a++)
	{
		const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[a];
		int64_t		n = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ?
			d->dim_value : -1;

		if (n == 0 || n > (1 << 30))
		{
			json_decref(shape);
			return tl_fail(st, n == 0 ? TL_ERR_UNSUPPORTED : TL_ERR_MODEL,
						   "ONNX input \"%s\" has dimension %lld (empty or huge tensors are not supported)",
						   in->name, (long long) n);
		}
		v->dims[a] = n < 0 ? -1 : n;
		v->order[a - 1] = a;
		json_array_append_new(shape, n < 0 ? json_null() : json_integer(n));
	}
	v->batch_axis = 0;
	li = onnx_emit(cx, "InputLayer", NULL, json_pack("{s:o}", "batch_input_shape", shape), NULL, 0, st);
	if (li < 0)
		return -1;
	v->layer = li;
	cx->layers[li].values = 1;
	return 0;
}

/* Node i as it is mapped: rewritten by a pattern, or NULL when skipped. */
static const Onnx__NodeProto *
effective_node(onnx_ctx *cx, int i, Onnx__NodeProto *tmp)
{
	const onnx_rewrite *rw = cx->rw ? &cx->rw[i] : NULL;

	if (rw == NULL || rw->op == NULL)
		return rw && rw->skip ? NULL : cx->g->node[i];
	*tmp = *cx->g->node[i];
	tmp->op_type = (char *) rw->op;
	tmp->input = (char **) rw->input;
	tmp->n_input = rw->n_input;
	tmp->attribute = (Onnx__AttributeProto **) rw->attrs;
	tmp->n_attribute = rw->n_attr;
	return tmp;
}

/*
 * Registers initializers and every name the nodes use, marks the nodes an
 * output depends on (needed[]) and counts how often each value is read by them.
 */
static int
scan(onnx_ctx *cx, char *needed, tl_status *st)
{
	const Onnx__GraphProto *g = cx->g;
	int			n = (int) g->n_node;

	for (size_t k = 0; k < g->n_initializer; k++)
	{
		const Onnx__TensorProto *t = g->initializer[k];
		onnx_value *v;

		if (t->name == NULL || (v = value_get(cx, t->name, st)) == NULL)
			return t->name ? -1 : tl_fail(st, TL_ERR_MODEL, "an ONNX initializer has no name");
		if (v->is_const)
			return tl_fail(st, TL_ERR_MODEL, "two ONNX initializers are named \"%s\"", t->name);
		if (onnx_read_tensor(t, &cx->budget, v, st) < 0)
			return -1;
	}
	for (int i = 0; i < n; i++)
	{
		const Onnx__NodeProto *nd = g->node[i];

		for (size_t k = 0; k < nd->n_output; k++)
		{
			onnx_value *v = value_get(cx, nd->output[k], st);

			if (v == NULL)
				return -1;
			if (v->producer >= 0 || v->is_const)
			{
				cx->node = nd;
				return onnx_fail_node(cx, st, TL_ERR_MODEL, "value \"%s\" is produced twice",
									  nd->output[k]);
			}
			v->producer = i;
		}
		for (size_t k = 0; k < nd->n_input; k++)
		{
			onnx_value *v = value_get(cx, nd->input[k], st);

			if (v == NULL)
				return -1;
			v->readers++;
		}
	}
	if (g->n_output != 1 || g->output[0]->name == NULL)
		return tl_fail(st, TL_ERR_UNSUPPORTED,
					   "the ONNX graph has %zu outputs; models with one output are supported",
					   g->n_output);
	{
		onnx_value *o = value_get(cx, g->output[0]->name, st);

		if (o == NULL)
			return -1;
		o->is_output = 1;
		o->uses = 1;
	}
	onnx_match_patterns(cx);
	/* backwards from the output: which nodes it depends on */
	for (int i = n - 1; i >= 0; i--)
	{
		Onnx__NodeProto tmp;
		const Onnx__NodeProto *nd = effective_node(cx, i, &tmp);

		if (nd == NULL)
			continue;

		for (size_t k = 0; k < nd->n_output && !needed[i]; k++)
			needed[i] = onnx_find(cx, nd->output[k])->uses > 0;
		for (size_t k = 0; needed[i] && k < nd->n_input; k++)
			if (nd->input[k][0])
				onnx_find(cx, nd->input[k])->uses++;
	}
	return 0;
}

/*
 * Slicing, reshaping or casting a batch of zeros (exporters cut one
 * layer's initial state out of a stacked one) gives zeros again: 1 when
 * node n was such a node, 0 if not, -1.
 */
static int
zeros_pass_through(onnx_ctx *cx, const Onnx__NodeProto *n, tl_status *st)
{
	static const char *const ops[] = {"Slice", "Gather", "Squeeze", "Unsqueeze", "Identity", "Cast", "Reshape"};
	onnx_value *x = n->n_input > 0 && n->input[0][0] ? onnx_find(cx, n->input[0]) : NULL,
			   *v;

	if (x == NULL || !x->batch_zeros || n->n_output < 1)
		return 0;
	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
		if (strcmp(n->op_type, ops[k]) == 0)
		{
			if ((v = onnx_define(cx, n->output[0], st)) == NULL)
				return -1;
			v->is_const = 1;
			v->batch_zeros = 1;
			return 1;
		}
	return 0;
}

static int
map_nodes(onnx_ctx *cx, const char *needed, tl_status *st)
{
	const Onnx__GraphProto *g = cx->g;

	for (size_t i = 0; i < g->n_node; i++)
	{
		Onnx__NodeProto tmp;
		const Onnx__NodeProto *n = effective_node(cx, (int) i, &tmp);
		int			r;

		if (!needed[i] || n == NULL)
			continue;
		cx->node = n;
		if (n->op_type == NULL)
			return onnx_fail_node(cx, st, TL_ERR_MODEL, "the node has no op_type");
		if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0)
			return onnx_fail_node(cx, st, TL_ERR_UNSUPPORTED,
								  "operators of domain \"%s\" are not supported (only the default ONNX domain)",
								  n->domain);
		if ((r = zeros_pass_through(cx, n, st)) != 0)
		{
			if (r < 0)
				return -1;
			continue;
		}
		for (size_t k = 0; k < n->n_input; k++)
		{
			onnx_value *v = onnx_input(cx, (int) k);

			if (n->input[k][0] && (v == NULL || (!v->is_const && v->layer < 0)))
				return onnx_fail_node(cx, st, TL_ERR_MODEL,
									  "input \"%s\" is not produced by an earlier node "
									  "(the graph has a cycle or is not in topological order)",
									  n->input[k]);
			if (v && v->batch_zeros && strcmp(n->op_type, "LSTM") != 0 && strcmp(n->op_type, "GRU") != 0)
				return onnx_fail_node(cx, st, TL_ERR_UNSUPPORTED,
									  "a batch-sized constant (\"%s\") is supported only as the initial state of an LSTM or GRU",
									  n->input[k]);
		}
		r = onnx_fold(cx, n, st);
		if (r == 0)
			r = onnx_map_node(cx, n, st);
		if (r < 0)
			return -1;
		tl_check_interrupt();
	}
	cx->node = NULL;
	return 0;
}

/* Writes the Functional config; the output's layer is out. */
static char *
config_json(onnx_ctx *cx, int out, tl_status *st)
{
	json_t	   *layers = json_array(),
			   *root;
	char	   *s;

	for (int i = 0; layers && i < cx->n_layers; i++)
		json_array_append(layers, cx->layers[i].entry);
	root = json_pack("{s:s,s:{s:s,s:o,s:[[s,i,i]],s:[[s,i,i]]}}",
					 "class_name", "Functional", "config", "name",
					 cx->g->name ? cx->g->name : "onnx", "layers", layers,
					 "input_layers", cx->layers[0].name, 0, 0,
					 "output_layers", cx->layers[out].name, 0, 0);
	s = root ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	if (s == NULL)
		tl_fail(st, TL_ERR_NOMEM, "out of memory");
	return s;
}

/* Moves the weights of the emitted layers into the built model's layers. */
static int
attach_weights(onnx_ctx *cx, tl_model *m, tl_status *st)
{
	for (int i = 0; i < m->n_layers; i++)
	{
		tl_layer   *l = &m->layers[i];
		onnx_layer *src = NULL;
		int			want = l->ops->n_weights ? l->ops->n_weights(l) : 0;

		for (int k = 0; k < cx->n_layers && src == NULL; k++)
			if (strcmp(cx->layers[k].name, l->name) == 0)
				src = &cx->layers[k];
		if (src == NULL || src->n_w != want)
			return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" has %d weights, expected %d",
						   l->name, src ? src->n_w : 0, want);
		for (int k = 0; k < src->n_w; k++)
		{
			l->w[k] = src->w[k];
			m->weight_bytes += sizeof(float) * (size_t) src->w[k].n;
			src->w[k].data = NULL;
		}
		l->n_w = src->n_w;
		src->n_w = 0;
	}
	return 0;
}

tl_model *
tl_onnx_load(const void *data, size_t len, const tl_limits *lim, tl_status *st)
{
	Onnx__ModelProto *mp = onnx_unpack(data, len, st);
	onnx_ctx	cx = {0};
	tl_model   *m = NULL;
	char	   *needed = NULL;
	onnx_value *out;
	int			out_layer,
				order[ONNX_MAX_RANK];

	if (mp == NULL)
		return NULL;
	cx.g = mp->graph;
	cx.opset = default_opset(mp);
	cx.budget = lim->max_weight_bytes;
	if (cx.g->n_node > (size_t) 4 * TL_MAX_LAYERS)
	{
		tl_fail(st, TL_ERR_LIMIT, "the ONNX graph has %zu nodes (at most %d supported)",
				cx.g->n_node, 4 * TL_MAX_LAYERS);
		goto fail;
	}
	needed = tl_calloc(cx.g->n_node + 1, 1);
	cx.rw = tl_calloc(cx.g->n_node + 1, sizeof(onnx_rewrite));
	if (needed == NULL || cx.rw == NULL)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (scan(&cx, needed, st) < 0 || add_input(&cx, st) < 0 || map_nodes(&cx, needed, st) < 0)
		goto fail;
	out = onnx_find(&cx, cx.g->output[0]->name);
	if (out == NULL || out->is_const || out->layer < 0)
	{
		tl_fail(st, TL_ERR_UNSUPPORTED, "the ONNX graph output \"%s\" does not depend on its input "
				"(a constant model is not supported)", cx.g->output[0]->name);
		goto fail;
	}
	/* the output in ONNX order, batch first, as the exporter's caller sees it */
	if (out->batch_axis != 0)
	{
		tl_fail(st, TL_ERR_UNSUPPORTED, "the ONNX graph output \"%s\" does not have the batch as its first axis",
				out->name);
		goto fail;
	}
	onnx_std_order(out, -1, order);
	if ((out_layer = onnx_in_order(&cx, out, order, st)) < 0)
		goto fail;
	if (out_layer == 0)
	{
		tl_fail(st, TL_ERR_UNSUPPORTED, "the ONNX graph computes nothing: its output is its input");
		goto fail;
	}
	m = tl_calloc(1, sizeof(tl_model));
	if (m == NULL)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory");
		goto fail;
	}
	m->format = "onnx";
	m->keras_version = tl_strdup("");
	m->config_json = config_json(&cx, out_layer, st);
	if (m->keras_version == NULL || m->config_json == NULL)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (tl_model_build(m, st) < 0 || attach_weights(&cx, m, st) < 0 ||
		tl_model_bind_weights(m, st) < 0)
		goto fail;
	ctx_free(&cx);
	tl_free(needed);
	onnx_unpack_free(mp);
	return m;
fail:
	tl_model_free(m);
	ctx_free(&cx);
	tl_free(needed);
	onnx_unpack_free(mp);
	return NULL;
}
