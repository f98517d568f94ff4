/*
 * onnx_ops_recurrent.c — ONNX LSTM and GRU, and PyTorch's self-attention
 * block, as layers (onnx_ops.h).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "format/onnx_ops.h"

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
int
onnx_map_rnn(onnx_ctx *cx, tl_status *st)
{
	const Onnx__NodeProto *n = cx->node;
	int			lstm = strcmp(n->op_type, "LSTM") == 0;
	onnx_value *x = onnx_dyn_in(cx, 0, st),
			   *w = onnx_const_in(cx, 1, 3, st),
			   *r = onnx_const_in(cx, 2, 3, st),
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
		return onnx_unsupported(cx, st, "the final cell state output (Y_c) is not supported");
	if (seq && yh_v != NULL && yh_v->uses > 0)
		return onnx_unsupported(cx, st, "using both Y and Y_h is not supported (use one of them)");
	if (x->rank != 3 || x->batch_axis != 1 || onnx_attr_int(n, "layout", 0) != 0)
		return onnx_unsupported(cx, st, "X must be (steps, batch, features)");
	if ((n->n_input > 4 && n->input[4][0]) || (n->n_input > 7 && n->input[7][0]))
		return onnx_unsupported(cx, st, "sequence_lens and peepholes are not supported");
	for (int k = 5; k < (int) n->n_input && k < 7; k++)
	{
		onnx_value *s0 = onnx_input(cx, k);

		if (s0 != NULL && !s0->batch_zeros)
			return onnx_unsupported(cx, st, "initial states other than zeros are not supported");
	}
	if (!default_activations(cx, lstm) || onnx_attr(n, "clip") ||
		onnx_attr_int(n, "input_forget", 0) != 0)
		return onnx_unsupported(cx, st, "only the default activations, no clip and no input_forget are supported");
	if (!bi && !reverse && strcmp(dir, "forward") != 0)
		return onnx_fail_node(cx, st, TL_ERR_MODEL, "unknown direction \"%s\"", dir);
	if (reverse && seq)
		return onnx_unsupported(cx, st, "the outputs Y of a reverse-only recurrent layer are not supported");
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
int
onnx_map_attention(onnx_ctx *cx, tl_status *st)
{
	onnx_value *x = onnx_dyn_in(cx, 0, st),
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
		return onnx_unsupported(cx, st, "self-attention over a (batch, steps, features) input is supported");
	for (int k = 0; k < 4; k++)
		if ((p[k] = onnx_const_in(cx, k + 1, 2, st)) == NULL || p[k]->is_int)
			return st->code ? -1 : onnx_unsupported(cx, st, "the projections must be float constants");
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
	if (onnx_add_weight(cx, li, onnx_floats_of(p[0]), 2, dims[0], st) < 0 ||
		onnx_add_weight(cx, li, onnx_floats_of(p[1]), 1, dims[1], st) < 0)
	{
		tl_free(wout);
		return -1;
	}
	if (onnx_add_weight(cx, li, wout, 2, dims[2], st) < 0 ||
		onnx_add_weight(cx, li, onnx_floats_of(p[3]), 1, dims[3], st) < 0)
		return -1;
	if ((out = onnx_output_like(cx, 0, x, li, st)) == NULL)
		return -1;
	memcpy(out->order, order, sizeof(order));
	return 0;
}

