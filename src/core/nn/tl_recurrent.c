/*
 * tl_recurrent.c — SimpleRNN, LSTM, GRU and Bidirectional.
 *
 * The input projection x·W (+ input bias) of every time step is one sgemm
 * over all samples and steps; each step then adds h·U (one sgemm for the
 * batch; for a lone sample a small vector kernel, tl_rnn_cell.c) and
 * applies the gates.  Keras gate orders: LSTM i, f, c, o;
 * GRU z, r, h.  GRU comes in two forms: reset_after=False applies the reset
 * gate before the recurrent product (one bias vector), reset_after=True
 * after it (a bias for the input and one for the recurrent product).
 * With go_backwards the sequence is read from the end and a returned
 * sequence comes out in reading order, as in Keras.  This file holds the
 * layer (config, shapes, batching into chunks, Bidirectional's merge, the
 * token path); tl_rnn_cell.c runs one direction over a sequence.
 */
#include <string.h>
#include <cblas.h>

#include "nn/tl_recurrent.h"

/* Scratch budget per chunk of samples, in floats (16 MiB). */
#define RNN_SCRATCH (4 * 1024 * 1024)

static int
rnn_cfg_read(tl_layer *l, json_t *cfg, const char *cls, const tl_cfgctx *cx,
			 tl_rnn_cfg *r, tl_status *st)
{
	int			flag;

	if (strcmp(cls, "SimpleRNN") == 0)
		r->cell = TL_CELL_SIMPLE;
	else if (strcmp(cls, "LSTM") == 0)
		r->cell = TL_CELL_LSTM;
	else if (strcmp(cls, "GRU") == 0)
		r->cell = TL_CELL_GRU;
	else
		return tl_fail(st, TL_ERR_UNSUPPORTED,
					   "layer \"%s\" (%s): wrapped layer class %s is not supported (SimpleRNN, LSTM, GRU are)",
					   l->name, l->class_name, cls);
	if (tl_cfg_int(cfg, "units", 0, &r->units, l, st) < 0 ||
		tl_cfg_bool(cfg, "use_bias", 1, &r->use_bias, l, st) < 0 ||
		tl_cfg_bool(cfg, "return_sequences", 0, &r->return_sequences, l, st) < 0 ||
		tl_cfg_bool(cfg, "go_backwards", 0, &r->go_backwards, l, st) < 0 ||
		tl_cfg_bool(cfg, "reset_after", cx->keras_major >= 3, &r->reset_after, l, st) < 0 ||
		tl_cfg_activation(cfg, "activation", "tanh", cx, &r->act, l, st) < 0 ||
		tl_cfg_activation(cfg, "recurrent_activation", "sigmoid", cx, &r->rec_act, l, st) < 0)
		return -1;
	if (r->units < 1)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (%s): units must be >= 1", l->name, l->class_name);
	if (r->cell != TL_CELL_GRU)
		r->reset_after = 0;
	if (tl_cfg_bool(cfg, "return_state", 0, &flag, l, st) < 0)
		return -1;
	if (flag)
		return tl_fail(st, TL_ERR_UNSUPPORTED, "layer \"%s\" (%s): return_state=True is not supported",
					   l->name, l->class_name);
	if (tl_cfg_bool(cfg, "stateful", 0, &flag, l, st) < 0)
		return -1;
	if (flag)
		return tl_fail(st, TL_ERR_UNSUPPORTED, "layer \"%s\" (%s): stateful=True is not supported",
					   l->name, l->class_name);
	if (tl_cfg_bool(cfg, "time_major", 0, &flag, l, st) < 0)
		return -1;
	if (flag)
		return tl_fail(st, TL_ERR_UNSUPPORTED, "layer \"%s\" (%s): time_major=True is not supported",
					   l->name, l->class_name);
	return 0;
}

static int
rnn_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	json_t	   *inner,
			   *icfg;
	const char *mode;

	if (strcmp(l->class_name, "Bidirectional") != 0)
		return rnn_cfg_read(l, cfg, l->class_name, cx, &l->u.rnn.dir[0], st);

	l->u.rnn.bidirectional = 1;
	inner = json_object_get(cfg, "layer");
	icfg = json_object_get(inner, "config");
	if (!json_is_object(icfg))
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (Bidirectional): config has no wrapped layer",
					   l->name);
	if (rnn_cfg_read(l, icfg, tl_cfg_str(inner, "class_name", "?"), cx, &l->u.rnn.dir[0], st) < 0)
		return -1;
	/* Keras builds the backward layer as a copy reading the other way. */
	l->u.rnn.dir[1] = l->u.rnn.dir[0];
	l->u.rnn.dir[1].go_backwards = !l->u.rnn.dir[0].go_backwards;
	inner = json_object_get(cfg, "backward_layer");
	icfg = json_object_get(inner, "config");
	if (json_is_object(icfg) &&
		rnn_cfg_read(l, icfg, tl_cfg_str(inner, "class_name", "?"), cx, &l->u.rnn.dir[1], st) < 0)
		return -1;
	if (l->u.rnn.dir[1].return_sequences != l->u.rnn.dir[0].return_sequences)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (Bidirectional): both directions must agree on return_sequences",
					   l->name);
	mode = tl_cfg_str(cfg, "merge_mode", NULL);
	if (mode == NULL)
		return tl_fail(st, TL_ERR_UNSUPPORTED, "layer \"%s\" (Bidirectional): merge_mode=None is not supported",
					   l->name);
	if (strcmp(mode, "concat") == 0)
		l->u.rnn.merge = TL_MERGE_CONCAT;
	else if (strcmp(mode, "sum") == 0)
		l->u.rnn.merge = TL_MERGE_ADD;
	else if (strcmp(mode, "mul") == 0)
		l->u.rnn.merge = TL_MERGE_MUL;
	else if (strcmp(mode, "ave") == 0)
		l->u.rnn.merge = TL_MERGE_AVG;
	else
		return tl_fail(st, TL_ERR_UNSUPPORTED, "layer \"%s\" (Bidirectional): merge_mode \"%s\" is not supported",
					   l->name, mode);
	if (l->u.rnn.merge != TL_MERGE_CONCAT && l->u.rnn.dir[0].units != l->u.rnn.dir[1].units)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (Bidirectional): merge_mode \"%s\" needs equal units",
					   l->name, mode);
	return 0;
}

static int
rnn_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
		  tl_status *st)
{
	const tl_rnn_cfg *r = &l->u.rnn.dir[0];
	int			units = r->units;

	(void) n_in;
	if (in[0].nd != 2 || in[0].d[1] < 1)
		return tl_fail(st, TL_ERR_MODEL,
					   "layer \"%s\" (%s): expected an input of shape (batch, steps, features)",
					   l->name, l->class_name);
	if (l->u.rnn.bidirectional && l->u.rnn.merge == TL_MERGE_CONCAT)
		units += l->u.rnn.dir[1].units;
	out->nd = r->return_sequences ? 2 : 1;
	if (r->return_sequences)
		out->d[0] = in[0].d[0];
	out->d[out->nd - 1] = units;
	return 0;
}

static int
rnn_n_weights(const tl_layer *l)
{
	int			n = 2 + l->u.rnn.dir[0].use_bias;

	if (l->u.rnn.bidirectional)
		n += 2 + l->u.rnn.dir[1].use_bias;
	return n;
}

static int
rnn_bind(tl_layer *l, const tl_shape *in, int n_in, tl_status *st)
{
	int			w = 0;

	(void) n_in;
	for (int d = 0; d <= l->u.rnn.bidirectional; d++)
	{
		tl_rnn_cfg *r = &l->u.rnn.dir[d];
		int			gu = tl_rnn_gates(r->cell) * r->units;
		int			k[2] = {in[0].d[1], gu};
		int			rk[2] = {r->units, gu};
		int			b2[2] = {2, gu};

		r->w = w;
		if (tl_expect_weight(l, w++, "kernel", 2, k, st) < 0 ||
			tl_expect_weight(l, w++, "recurrent_kernel", 2, rk, st) < 0)
			return -1;
		if (r->use_bias &&
			(r->reset_after ? tl_expect_weight(l, w, "bias", 2, b2, st)
			 : tl_expect_weight(l, w, "bias", 1, &gu, st)) < 0)
			return -1;
		w += r->use_bias;
	}
	return 0;
}

/* Scratch for as many samples at a time (*chunk, at least 1, at most n) as
 * RNN_SCRATCH floats hold. */
static float *
rnn_chunk_scratch(tl_exec *ex, int64_t per_sample, int n, int64_t *chunk, tl_status *st)
{
	*chunk = RNN_SCRATCH / per_sample;
	if (*chunk < 1)
		*chunk = 1;
	if (*chunk > n)
		*chunk = n;
	return tl_scratch(ex, (size_t) (*chunk * per_sample), st);
}

/* Floats of scratch per sample: forward, or backward with step records. */
static int64_t
rnn_scratch_per_sample(const tl_layer *l, int T, int backward)
{
	int			bi = l->u.rnn.bidirectional;
	int64_t		steps = l->u.rnn.dir[0].return_sequences ? T : 1;
	int64_t		per_sample = 0;

	for (int d = 0; d <= bi; d++)
	{
		const tl_rnn_cfg *r = &l->u.rnn.dir[d];
		int64_t		gu = tl_rnn_gates(r->cell) * r->units;

		if (backward)
			per_sample += (int64_t) T * tl_rnn_rec_stride(r) + gu + 5 * r->units;
		else if ((int64_t) T * gu + gu + 5 * r->units > per_sample)
			per_sample = (int64_t) T * gu + gu + 5 * r->units;
	}
	/* the two directions' outputs (forward) or their gradients (backward) */
	if (bi)
		per_sample += steps * (l->u.rnn.dir[0].units + l->u.rnn.dir[1].units);
	return per_sample;
}

/*
 * The forward over n samples of T steps: from x (n, T, in_dim), or with
 * tab from token ids x (n, T) and the per-token tables (one per direction,
 * one after the other).
 */
static int
rnn_run(const tl_layer *l, tl_exec *ex, const float *x0, int T, int in_dim,
		const float *tab, const float *tab1, const float *mask,
		float *out, const tl_shape *out_shape, int n, tl_status *st)
{
	int			bi = l->u.rnn.bidirectional;
	int64_t		out_len = tl_shape_count(out_shape);
	int64_t		per_sample = rnn_scratch_per_sample(l, T, 0);
	int64_t		chunk;
	float	   *work;

	work = rnn_chunk_scratch(ex, per_sample, n, &chunk, st);
	if (work == NULL)
		return -1;

	for (int b0 = 0; b0 < n; b0 += (int) chunk)
	{
		int			m = n - b0 < chunk ? n - b0 : (int) chunk;
		const float *x = x0 + (int64_t) b0 * T * (tab ? 1 : in_dim);
		float	   *o = out + b0 * out_len;
		tl_rnn_mask mk = {mask ? mask + (int64_t) b0 * T : NULL, bi && l->u.rnn.dir[0].return_sequences};

		if (!bi)
			tl_rnn_direction(l, &l->u.rnn.dir[0], x, m, T, in_dim, o, work, NULL, tab, &mk);
		else
		{
			const tl_rnn_cfg *f = &l->u.rnn.dir[0],
					   *bw = &l->u.rnn.dir[1];
			int			seq = f->return_sequences;
			int64_t		steps = seq ? T : 1;
			float	   *of = work + chunk * per_sample - steps * m * (f->units + bw->units);
			float	   *ob = of + steps * m * f->units;

			tl_rnn_direction(l, f, x, m, T, in_dim, of, work, NULL, tab, &mk);
			tl_rnn_direction(l, bw, x, m, T, in_dim, ob, work, NULL, tab1, &mk);
			for (int i = 0; i < m; i++)
				for (int64_t t = 0; t < steps; t++)
				{
					/* the backward sequence is re-reversed to line up in time */
					const float *pf = of + ((int64_t) i * steps + t) * f->units;
					const float *pb = ob + ((int64_t) i * steps + (seq ? steps - 1 - t : 0)) * bw->units;
					float	   *po = o + (int64_t) i * out_len + t * (out_len / steps);

					if (l->u.rnn.merge == TL_MERGE_CONCAT)
					{
						memcpy(po, pf, sizeof(float) * f->units);
						memcpy(po + f->units, pb, sizeof(float) * bw->units);
					}
					else
						for (int k = 0; k < f->units; k++)
							po[k] = l->u.rnn.merge == TL_MERGE_ADD ? pf[k] + pb[k] :
								l->u.rnn.merge == TL_MERGE_MUL ? pf[k] * pb[k] :
								(pf[k] + pb[k]) * 0.5f;
				}
		}
	}
	return 0;
}

static int
rnn_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
			const tl_shape *in_shape, float *out, const tl_shape *out_shape,
			int n, tl_status *st)
{
	const float *mask;

	if (tl_exec_mask(ex, 0, in_shape[0].d[0], n, &mask, st) < 0)
		return -1;
	return rnn_run(l, ex, in[0], in_shape[0].d[0], in_shape[0].d[1], NULL, NULL, mask,
				   out, out_shape, n, st);
}

static int
tl_rnn_forward_tokens(const tl_layer *l, tl_exec *ex, const float *table,
					  const float *ids, const tl_shape *ids_shape, float *out,
					  const tl_shape *out_shape, int n, tl_status *st)
{
	int64_t		gu0 = tl_rnn_gates(l->u.rnn.dir[0].cell) * l->u.rnn.dir[0].units;
	int64_t		gu1 = l->u.rnn.bidirectional ?
		tl_rnn_gates(l->u.rnn.dir[1].cell) * l->u.rnn.dir[1].units : 0;
	int64_t		vocab = (int64_t) (l->fused_bytes / sizeof(float)) / (gu0 + gu1);

	/* the second direction's table follows the first's */
	return rnn_run(l, ex, ids, (int) tl_shape_count(ids_shape), 0, table,
				   table + vocab * gu0, NULL, out, out_shape, n, st);
}

static float *
tl_rnn_token_table(const tl_layer *l, const tl_layer *emb, size_t *bytes,
				   tl_status *st)
{
	int			vocab = emb->u.emb.input_dim,
				dim = emb->u.emb.output_dim;
	int64_t		total = 0;
	float	   *table,
			   *t;

	for (int d = 0; d <= l->u.rnn.bidirectional; d++)
		total += (int64_t) vocab * tl_rnn_gates(l->u.rnn.dir[d].cell) * l->u.rnn.dir[d].units;
	table = tl_malloc(sizeof(float) * (size_t) total);
	if (table == NULL)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory (token table of layer \"%s\")", l->name);
		return NULL;
	}
	t = table;
	for (int d = 0; d <= l->u.rnn.bidirectional; d++)
	{
		const tl_rnn_cfg *r = &l->u.rnn.dir[d];
		int			gu = tl_rnn_gates(r->cell) * r->units;
		const float *b = r->use_bias ? l->w[r->w + 2].data : NULL;

		/* E W + b, as the plain path computes x W onto the input bias */
		for (int v = 0; v < vocab; v++)
		{
			if (b)
				memcpy(t + (int64_t) v * gu, b, sizeof(float) * gu);
			else
				memset(t + (int64_t) v * gu, 0, sizeof(float) * gu);
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, vocab, gu, dim,
					1.0f, emb->w[0].data, dim, l->w[r->w].data, gu, 1.0f, t, gu);
		t += (int64_t) vocab * gu;
	}
	*bytes = sizeof(float) * (size_t) total;
	return table;
}

/*
 * Backward: each chunk of samples is run forward again keeping the step
 * records (the forward keeps none), then backpropagated through time.  A
 * Bidirectional layer first splits the gradient of its merged output into
 * the two directions' output gradients (undoing the re-reversal).
 */
static int
rnn_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
			 const tl_shape *in_shape, const float *out,
			 const tl_shape *out_shape, const float *dout,
			 float *const *din, int n, tl_status *st)
{
	int			T = in_shape[0].d[0],
				in_dim = in_shape[0].d[1];
	int			bi = l->u.rnn.bidirectional;
	int64_t		out_len = tl_shape_count(out_shape);
	int64_t		per_sample = rnn_scratch_per_sample(l, T, 1);
	int64_t		chunk;
	float	   *work;
	const float *mask;

	(void) out;
	if (tl_exec_mask(ex, 0, T, n, &mask, st) < 0)
		return -1;
	work = rnn_chunk_scratch(ex, per_sample, n, &chunk, st);
	if (work == NULL)
		return -1;

	for (int b0 = 0; b0 < n; b0 += (int) chunk)
	{
		int			m = n - b0 < chunk ? n - b0 : (int) chunk;
		const float *x = in[0] + (int64_t) b0 * T * in_dim;
		float	   *dx = din[0] + (int64_t) b0 * T * in_dim;
		const float *dO = dout + b0 * out_len;
		const tl_rnn_cfg *f = &l->u.rnn.dir[0],
				   *bw = &l->u.rnn.dir[1];
		float	   *recs_f = work;
		float	   *recs_b = recs_f + (int64_t) m * T * tl_rnn_rec_stride(f);
		float	   *cell = bi ? recs_b + (int64_t) m * T * tl_rnn_rec_stride(bw) : recs_b;
		tl_rnn_mask mk = {mask ? mask + (int64_t) b0 * T : NULL, bi && f->return_sequences};

		if (!bi)
		{
			tl_rnn_direction(l, f, x, m, T, in_dim, NULL, cell, recs_f, NULL, &mk);
			tl_rnn_direction_backward(l, f, m, T, in_dim, recs_f, dO, dx, cell, &mk);
		}
		else
		{
			int			seq = f->return_sequences;
			int64_t		steps = seq ? T : 1;
			/* the cell work area fits either direction */
			int64_t		cw = (int64_t) m * (tl_rnn_gates(f->cell) * f->units + 5 * f->units +
											tl_rnn_gates(bw->cell) * bw->units + 5 * bw->units);
			float	   *dof = cell + cw;
			float	   *dob = dof + steps * m * f->units;

			tl_rnn_direction(l, f, x, m, T, in_dim, NULL, cell, recs_f, NULL, &mk);
			tl_rnn_direction(l, bw, x, m, T, in_dim, NULL, cell, recs_b, NULL, &mk);
			for (int i = 0; i < m; i++)
				for (int64_t t = 0; t < steps; t++)
				{
					/* output position t holds f's step t and bw's step T-1-t */
					int64_t		sb = seq ? steps - 1 - t : 0;
					const float *g = dO + (int64_t) i * out_len + t * (out_len / steps);
					float	   *gf = dof + ((int64_t) i * steps + t) * f->units;
					float	   *gb = dob + ((int64_t) i * steps + sb) * bw->units;
					const float *pf = tl_rnn_rec_h(f, recs_f, i, T, seq ? (int) t : T - 1);
					const float *pb = tl_rnn_rec_h(bw, recs_b, i, T, seq ? (int) sb : T - 1);

					for (int k = 0; k < f->units; k++)
						switch (l->u.rnn.merge)
						{
							case TL_MERGE_CONCAT:
								gf[k] = g[k];
								break;
							case TL_MERGE_ADD:
								gf[k] = gb[k] = g[k];
								break;
							case TL_MERGE_MUL:
								gf[k] = g[k] * pb[k];
								gb[k] = g[k] * pf[k];
								break;
							default:	/* average */
								gf[k] = gb[k] = 0.5f * g[k];
								break;
						}
					if (l->u.rnn.merge == TL_MERGE_CONCAT)
						memcpy(gb, g + f->units, sizeof(float) * bw->units);
				}
			tl_rnn_direction_backward(l, f, m, T, in_dim, recs_f, dof, dx, cell, &mk);
			tl_rnn_direction_backward(l, bw, m, T, in_dim, recs_b, dob, dx, cell, &mk);
		}
	}
	return 0;
}

/* A returned sequence keeps the mask of the input; a last state has none. */
static tl_mask_rule
rnn_mask_rule(const tl_layer *l)
{
	return l->u.rnn.dir[0].return_sequences ? TL_MASK_KEEP : TL_MASK_DROP;
}

/*
 * A recurrent layer reading an Embedding takes each step's input
 * projection x W + b from a table of E W + b (vocab x gates*units per
 * direction) that the model holds.
 */
static tl_token_path
rnn_token_path(const tl_layer *l)
{
	return TL_TOKENS_TABLE;
}

static size_t
rnn_token_table_bytes(const tl_layer *l, const tl_layer *emb)
{
	size_t		bytes = 0;

	for (int d = 0; d <= l->u.rnn.bidirectional; d++)
		bytes += sizeof(float) * (size_t) emb->u.emb.input_dim *
			tl_rnn_gates(l->u.rnn.dir[d].cell) * l->u.rnn.dir[d].units;
	return bytes;
}

static float *
rnn_token_table(const tl_layer *l, const tl_layer *emb, tl_status *st)
{
	size_t		bytes;

	return tl_rnn_token_table(l, emb, &bytes, st);
}

static int
rnn_forward_from_tokens(const tl_layer *l, tl_exec *ex, const tl_layer *emb,
						const float *table, const float *ids, const tl_shape *ids_shape,
						const tl_shape *in_shape, float *out, const tl_shape *out_shape,
						int n, tl_status *st)
{
	return tl_rnn_forward_tokens(l, ex, table, ids, ids_shape, out, out_shape, n, st);
}

const tl_layer_ops tl_ops_rnn = {
	.family = "recurrent",
	.configure = rnn_configure,
	.shape = rnn_shape,
	.n_weights = rnn_n_weights,
	.bind = rnn_bind,
	.forward = rnn_forward,
	.backward = rnn_backward,
	.flags = TL_LAYER_LEARNED,
	.mask_rule = rnn_mask_rule,
	.token_path = rnn_token_path,
	.token_table_bytes = rnn_token_table_bytes,
	.token_table = rnn_token_table,
	.forward_tokens = rnn_forward_from_tokens,
};
