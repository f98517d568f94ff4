/*
 * onnx_patterns.c — operators that exporters write as several nodes,
 * recognised and mapped as one.
 *
 * torch.onnx.export writes the exact GELU as x * (1 + erf(x / sqrt 2)) * 0.5
 * (Div, Erf, Add, Mul, Mul) and, below opset 17, LayerNormalization as
 * ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add.  Where a
 * chain matches — each intermediate value read by the next node only — its
 * last node is mapped as Gelu or LayerNormalization of the chain's input
 * and the others are skipped (cx->rw).  A chain that does not match is
 * mapped node by node, as any other graph (and an Erf alone is refused).
 *
 * nn.MultiheadAttention (self-attention, no mask) exports as an input
 * projection (MatMul + Add), three Slices into Q, K, V, Reshapes and
 * Transposes that merge the batch with the heads, Div by sqrt(head width),
 * MatMul, Softmax, MatMul, and back through Transpose, Reshape and the
 * output projection (Gemm).  The batch merged with the heads cannot be
 * followed axis by axis, so the whole block, anchored at its Softmax, is
 * mapped as one MultiHeadSelfAttention layer; the shape arithmetic beside
 * it is then unused and dropped.
 */
#include <math.h>
#include <string.h>

#include "format/onnx_int.h"

/* The node reading value `name` when exactly one node does, else -1. */
static int
sole_reader(onnx_ctx *cx, const char *name)
{
	const Onnx__GraphProto *g = cx->g;
	onnx_value *v = onnx_find(cx, name);
	int			found = -1;

	if (v == NULL || v->readers != 1 || v->is_output)
		return -1;
	for (size_t i = 0; i < g->n_node && found < 0; i++)
		for (size_t k = 0; k < g->node[i]->n_input; k++)
			if (strcmp(g->node[i]->input[k], name) == 0)
				found = (int) i;
	return found;
}

/*
 * The inputs the patterns read of a node of kind op: two for the binary
 * ops and Reshape (data, shape), one otherwise.  A node with fewer (a
 * malformed file) matches no pattern, so that input[k] is always there.
 */
static size_t
pattern_inputs(const char *op)
{
	static const char *const binary[] = {"Add", "Sub", "Mul", "Div", "Pow", "MatMul", "Reshape", "Gemm"};

	for (size_t k = 0; k < sizeof(binary) / sizeof(binary[0]); k++)
		if (strcmp(op, binary[k]) == 0)
			return 2;
	return 1;
}

static int
is_op(onnx_ctx *cx, int i, const char *op)
{
	return i >= 0 && cx->g->node[i]->op_type && strcmp(cx->g->node[i]->op_type, op) == 0 &&
		!cx->rw[i].skip && !cx->rw[i].op &&
		cx->g->node[i]->n_output >= 1 && cx->g->node[i]->n_input >= pattern_inputs(op);
}

/* The value of a one-element float constant (an initializer or a Constant node). */
static int
scalar(onnx_ctx *cx, const char *name, double *out)
{
	onnx_value *v = onnx_find(cx, name);
	const Onnx__NodeProto *p;
	const Onnx__AttributeProto *a;
	onnx_value	tmp = {0};
	size_t		budget = 64;
	int			ok;

	if (v == NULL)
		return 0;
	if (v->is_const)
	{
		if (v->count != 1)
			return 0;
		*out = v->is_int ? (double) v->i[0] : v->f[0];
		return 1;
	}
	if (v->producer < 0)
		return 0;
	p = cx->g->node[v->producer];
	if (p->op_type == NULL || strcmp(p->op_type, "Constant") != 0 ||
		(a = onnx_attr(p, "value")) == NULL || a->t == NULL)
		return 0;
	{
		tl_status	st = {0};

		ok = onnx_read_tensor(a->t, &budget, &tmp, &st) == 0 && tmp.count == 1;
	}
	if (ok)
		*out = tmp.is_int ? (double) tmp.i[0] : tmp.f[0];
	tl_free(tmp.i);
	tl_free(tmp.f);
	return ok;
}

/* The input of binary node i other than `name` (its position in *pos), or NULL. */
static const char *
other_input(onnx_ctx *cx, int i, const char *name)
{
	const Onnx__NodeProto *n = cx->g->node[i];

	if (n->n_input != 2)
		return NULL;
	if (strcmp(n->input[0], name) == 0)
		return n->input[1];
	if (strcmp(n->input[1], name) == 0)
		return n->input[0];
	return NULL;
}

static int
near(double a, double b)
{
	return fabs(a - b) <= 1e-5 * fabs(b);
}

static void
rewrite(onnx_ctx *cx, int last, const char *op, const char *const *inputs, int n_in,
		const int *skip, int n_skip)
{
	onnx_rewrite *rw = &cx->rw[last];

	for (int k = 0; k < n_skip; k++)
		cx->rw[skip[k]].skip = 1;
	rw->op = op;
	for (int k = 0; k < n_in; k++)
		rw->input[k] = (char *) inputs[k];
	rw->n_input = n_in;
}

/* Erf at node e: x / sqrt2 → erf → + 1 → * x → * 0.5 */
static void
match_gelu(onnx_ctx *cx, int e)
{
	const Onnx__NodeProto *ne = cx->g->node[e];
	onnx_value *u = ne->n_input == 1 ? onnx_find(cx, ne->input[0]) : NULL;
	int			d,
				a,
				m1,
				m2;
	const char *x,
			   *c;
	double		v;

	if (u == NULL || u->readers != 1 || (d = u->producer) < 0)
		return;
	if (is_op(cx, d, "Div") && scalar(cx, cx->g->node[d]->input[1], &v) && near(v, M_SQRT2))
		x = cx->g->node[d]->input[0];
	else if (is_op(cx, d, "Mul") && cx->g->node[d]->n_input == 2 &&
			 ((scalar(cx, cx->g->node[d]->input[1], &v) && near(v, M_SQRT1_2) &&
			   (x = cx->g->node[d]->input[0]) != NULL) ||
			  (scalar(cx, cx->g->node[d]->input[0], &v) && near(v, M_SQRT1_2) &&
			   (x = cx->g->node[d]->input[1]) != NULL)))
		;
	else
		return;
	a = sole_reader(cx, ne->output[0]);
	if (!is_op(cx, a, "Add") || (c = other_input(cx, a, ne->output[0])) == NULL ||
		!scalar(cx, c, &v) || v != 1.0)
		return;
	m1 = sole_reader(cx, cx->g->node[a]->output[0]);
	if (!is_op(cx, m1, "Mul") || (c = other_input(cx, m1, cx->g->node[a]->output[0])) == NULL ||
		strcmp(c, x) != 0)
		return;
	m2 = sole_reader(cx, cx->g->node[m1]->output[0]);
	if (!is_op(cx, m2, "Mul") || (c = other_input(cx, m2, cx->g->node[m1]->output[0])) == NULL ||
		!scalar(cx, c, &v) || v != 0.5)
		return;
	{
		int			skip[4] = {d, e, a, m1};

		rewrite(cx, m2, "Gelu", &x, 1, skip, 4);
	}
}

/* The single axis of a ReduceMean over the last axis (attribute or input). */
static int
reduces_last(onnx_ctx *cx, int r)
{
	int			na;
	const int64_t *axes = onnx_attr_ints(cx->g->node[r], "axes", &na);
	onnx_value *av = cx->g->node[r]->n_input > 1 ? onnx_find(cx, cx->g->node[r]->input[1]) : NULL;

	if (av && av->is_const && av->is_int && av->count == 1)
		return av->i[0] == -1;
	return na == 1 && axes[0] == -1 && onnx_attr_int(cx->g->node[r], "keepdims", 1) == 1;
}

/*
 * ReduceMean at node r1: mean → x - mean → ^2 → mean → + eps → sqrt →
 * (x - mean) / that → * gamma → + beta
 */
static void
match_layernorm(onnx_ctx *cx, int r1)
{
	const Onnx__GraphProto *g = cx->g;
	const char *x = g->node[r1]->n_input >= 1 ? g->node[r1]->input[0] : NULL;
	int			s = -1,
				p = -1,
				r2,
				ad,
				sq,
				dv = -1,
				mu,
				ad2;
	const char *c,
			   *gamma,
			   *beta,
			   *sub_out;
	double		v,
				eps;
	onnx_value *sv;

	if (x == NULL || !reduces_last(cx, r1))
		return;
	s = sole_reader(cx, g->node[r1]->output[0]);
	if (!is_op(cx, s, "Sub") || strcmp(g->node[s]->input[0], x) != 0)
		return;
	sub_out = g->node[s]->output[0];
	sv = onnx_find(cx, sub_out);
	if (sv == NULL || sv->readers != 2 || sv->is_output)
		return;
	/* the two readers of x - mean: Pow(·, 2) and Div(·, sqrt) */
	for (size_t i = 0; i < g->n_node; i++)
		for (size_t k = 0; k < g->node[i]->n_input; k++)
			if (strcmp(g->node[i]->input[k], sub_out) == 0)
			{
				if (is_op(cx, (int) i, "Pow") && k == 0)
					p = (int) i;
				else if (is_op(cx, (int) i, "Div") && k == 0)
					dv = (int) i;
			}
	if (p < 0 || dv < 0 || !scalar(cx, g->node[p]->input[1], &v) || v != 2.0)
		return;
	r2 = sole_reader(cx, g->node[p]->output[0]);
	if (!is_op(cx, r2, "ReduceMean") || !reduces_last(cx, r2))
		return;
	ad = sole_reader(cx, g->node[r2]->output[0]);
	if (!is_op(cx, ad, "Add") || (c = other_input(cx, ad, g->node[r2]->output[0])) == NULL ||
		!scalar(cx, c, &eps) || eps < 0)
		return;
	sq = sole_reader(cx, g->node[ad]->output[0]);
	if (!is_op(cx, sq, "Sqrt") || sole_reader(cx, g->node[sq]->output[0]) != dv ||
		strcmp(g->node[dv]->input[1], g->node[sq]->output[0]) != 0)
		return;
	mu = sole_reader(cx, g->node[dv]->output[0]);
	if (!is_op(cx, mu, "Mul") || (gamma = other_input(cx, mu, g->node[dv]->output[0])) == NULL)
		return;
	ad2 = sole_reader(cx, g->node[mu]->output[0]);
	if (!is_op(cx, ad2, "Add") || (beta = other_input(cx, ad2, g->node[mu]->output[0])) == NULL)
		return;
	{
		int			skip[8] = {r1, s, p, r2, ad, sq, dv, mu};
		const char *in[3] = {x, gamma, beta};
		onnx_rewrite *rw = &cx->rw[ad2];

		rewrite(cx, ad2, "LayerNormalization", in, 3, skip, 8);
		onnx__attribute_proto__init(&rw->attr);
		rw->attr.name = (char *) "epsilon";
		rw->attr.has_f = 1;
		rw->attr.f = (float) eps;
		rw->attrs[0] = &rw->attr;
		rw->n_attr = 1;
	}
}

/* The node producing value `name` when its op is `op` (and it is not rewritten), else -1. */
static int
made_by(onnx_ctx *cx, const char *name, const char *op)
{
	onnx_value *v = onnx_find(cx, name);

	return v && v->producer >= 0 && is_op(cx, v->producer, op) ? v->producer : -1;
}

/* The one node reading `name` whose op is `op` (others may be shape arithmetic), or -1. */
static int
reader_by(onnx_ctx *cx, const char *name, const char *op)
{
	const Onnx__GraphProto *g = cx->g;
	int			found = -1;

	for (size_t i = 0; i < g->n_node; i++)
		for (size_t k = 0; k < g->node[i]->n_input; k++)
			if (strcmp(g->node[i]->input[k], name) == 0 && is_op(cx, (int) i, op))
			{
				if (found >= 0 && found != (int) i)
					return -1;
				found = (int) i;
			}
	return found;
}

static int
perm_is(onnx_ctx *cx, int i, int a, int b, int c)
{
	int			n;
	const int64_t *p = onnx_attr_ints(cx->g->node[i], "perm", &n);

	return n == 3 && p[0] == a && p[1] == b && p[2] == c;
}

/* Slice ← Reshape ← Transpose(perm) chain ending at node t: the Slice, or -1. */
static int
head_chain(onnx_ctx *cx, int t, int a, int b, int c, int *chain)
{
	int			r,
				s;

	if (t < 0 || !perm_is(cx, t, a, b, c) ||
		(r = made_by(cx, cx->g->node[t]->input[0], "Reshape")) < 0 ||
		(s = made_by(cx, cx->g->node[r]->input[0], "Slice")) < 0)
		return -1;
	chain[0] = t;
	chain[1] = r;
	chain[2] = s;
	return s;
}

/* Softmax at node sm: the self-attention block around it. */
static void
match_attention(onnx_ctx *cx, int sm)
{
	const Onnx__GraphProto *g = cx->g;
	int			m1,
				m2,
				dv,
				qc[3],
				kc[3],
				vc[3],
				add,
				mm,
				xt,
				t4,
				r3,
				gm,
				r4,
				t5,
				last;
	const char *qkv,
			   *x,
			   *w_in,
			   *b_in;
	double		scale;
	long		d;
	onnx_value *w;

	if (g->node[sm]->n_input != 1 || onnx_attr_int(g->node[sm], "axis", -1) != -1 ||
		(m1 = made_by(cx, g->node[sm]->input[0], "MatMul")) < 0 ||
		(m2 = sole_reader(cx, g->node[sm]->output[0])) < 0 || !is_op(cx, m2, "MatMul") ||
		strcmp(g->node[m2]->input[0], g->node[sm]->output[0]) != 0)
		return;
	/* Q / sqrt(d), K^T, V: each a Transpose of a Reshape of a Slice of one projection */
	if ((dv = made_by(cx, g->node[m1]->input[0], "Div")) < 0 ||
		!scalar(cx, g->node[dv]->input[1], &scale) || scale <= 0 ||
		head_chain(cx, made_by(cx, g->node[dv]->input[0], "Transpose"), 1, 0, 2, qc) < 0 ||
		head_chain(cx, made_by(cx, g->node[m1]->input[1], "Transpose"), 1, 2, 0, kc) < 0 ||
		head_chain(cx, made_by(cx, g->node[m2]->input[1], "Transpose"), 1, 0, 2, vc) < 0)
		return;
	qkv = g->node[qc[2]]->input[0];
	if (strcmp(g->node[kc[2]]->input[0], qkv) != 0 || strcmp(g->node[vc[2]]->input[0], qkv) != 0 ||
		!(qc[2] < kc[2] && kc[2] < vc[2]))
		return;
	/* the projection: Add(bias, MatMul(x^T or x, W)) */
	if ((add = made_by(cx, qkv, "Add")) < 0)
		return;
	if ((mm = made_by(cx, g->node[add]->input[1], "MatMul")) >= 0)
		b_in = g->node[add]->input[0];
	else if ((mm = made_by(cx, g->node[add]->input[0], "MatMul")) >= 0)
		b_in = g->node[add]->input[1];
	else
		return;
	w_in = g->node[mm]->input[1];
	w = onnx_find(cx, w_in);
	if (w == NULL || !w->is_const || w->rank != 2 || w->dims[1] != 3 * w->dims[0])
		return;
	d = lround(scale * scale);
	if (d < 1 || fabs(scale - sqrt((double) d)) > 1e-3 * scale || w->dims[0] % d != 0)
		return;
	x = g->node[mm]->input[0];
	xt = made_by(cx, x, "Transpose");
	if (xt >= 0 && perm_is(cx, xt, 1, 0, 2))
		x = g->node[xt]->input[0];
	else
		xt = -1;
	/* back: Transpose, Reshape, Gemm (the output projection), Reshape, [Transpose] */
	if ((t4 = sole_reader(cx, g->node[m2]->output[0])) < 0 || !is_op(cx, t4, "Transpose") ||
		!perm_is(cx, t4, 1, 0, 2) ||
		(r3 = reader_by(cx, g->node[t4]->output[0], "Reshape")) < 0 ||
		(gm = reader_by(cx, g->node[r3]->output[0], "Gemm")) < 0 ||
		onnx_attr_int(g->node[gm], "transB", 0) != 1 || g->node[gm]->n_input != 3 ||
		(r4 = reader_by(cx, g->node[gm]->output[0], "Reshape")) < 0)
		return;
	t5 = reader_by(cx, g->node[r4]->output[0], "Transpose");
	if (t5 >= 0 && !perm_is(cx, t5, 1, 0, 2))
		t5 = -1;
	if (t5 < 0 && xt >= 0)
	{
		/* the block's input is the projection's own: a sequence-first model */
		x = g->node[mm]->input[0];
		xt = -1;
	}
	if (xt < 0 && t5 >= 0)
		return;
	last = t5 >= 0 ? t5 : r4;
	{
		int			skip[20],
					ns = 0;
		const char *in[5] = {x, w_in, b_in, g->node[gm]->input[1], g->node[gm]->input[2]};
		onnx_rewrite *rw = &cx->rw[last];
		int			chain[] = {mm, add, qc[0], qc[1], qc[2], kc[0], kc[1], kc[2], vc[0], vc[1], vc[2],
		dv, m1, sm, m2, t4, r3, gm, r4};

		for (size_t k = 0; k < sizeof(chain) / sizeof(chain[0]); k++)
			if (chain[k] != last)
				skip[ns++] = chain[k];
		if (xt >= 0)
			skip[ns++] = xt;
		rewrite(cx, last, "MultiHeadSelfAttention", in, 5, skip, ns);
		onnx__attribute_proto__init(&rw->attr);
		rw->attr.name = (char *) "num_heads";
		rw->attr.has_i = 1;
		rw->attr.i = w->dims[0] / d;
		rw->attrs[0] = &rw->attr;
		rw->n_attr = 1;
	}
}

void
onnx_match_patterns(onnx_ctx *cx)
{
	for (size_t i = 0; i < cx->g->n_node; i++)
	{
		/* is_op also checks the entry node has the input and output read */
		if (is_op(cx, (int) i, "Erf"))
			match_gelu(cx, (int) i);
		else if (is_op(cx, (int) i, "ReduceMean"))
			match_layernorm(cx, (int) i);
		else if (is_op(cx, (int) i, "Softmax"))
			match_attention(cx, (int) i);
	}
}
