/*
 * tl_recurrent.c — SimpleRNN, LSTM, GRU and Bidirectional.
 *
 * The input projection x·W (+ input bias) of every time step is one sgemm
 * over all samples and steps; each step then adds h·U (one sgemm for the
 * batch) and applies the gates.  Keras gate orders: LSTM i, f, c, o;
 * GRU z, r, h.  GRU comes in two forms: reset_after=False applies the reset
 * gate before the recurrent product (one bias vector), reset_after=True
 * after it (a bias for the input and one for the recurrent product).
 * With go_backwards the sequence is read from the end and a returned
 * sequence comes out in reading order, as in Keras.
 */
#include <string.h>
#include <cblas.h>

#include "nn/tl_layer.h"

/* Units per block of the vectorised LSTM gates. */
#define LSTM_BLOCK 1024

/* Scratch budget per chunk of samples, in floats (16 MiB). */
#define RNN_SCRATCH (4 * 1024 * 1024)

static int
gates_of(tl_cell cell)
{
	return cell == TL_CELL_LSTM ? 4 : cell == TL_CELL_GRU ? 3 : 1;
}

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
		int			gu = gates_of(r->cell) * r->units;
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

/*
 * Step records, kept for the backward pass: per sample and time step (in
 * time order, not reading order) the cell's pre-activations, then h and c
 * after the step.  Pre-activations: SimpleRNN a; LSTM i, f, c, o; GRU z, r,
 * h, and with reset_after also the recurrent product of the candidate.
 */
static int
rec_pre(const tl_rnn_cfg *r)
{
	return r->cell == TL_CELL_GRU && r->reset_after ? 4 * r->units
		: gates_of(r->cell) * r->units;
}

static int
rec_stride(const tl_rnn_cfg *r)
{
	return rec_pre(r) + 2 * r->units;
}

/*
 * One LSTM step for m samples: the pre-activations (xw's row of step t plus
 * the recurrent product rec) are completed in xw, then the gates are
 * applied as vectors over blocks of samples (tl_act_apply vectorises) and
 * c and h updated.
 */
static void
lstm_gates(const tl_rnn_cfg *r, float *xw, int xs, int T, int t,
		   const float *rec, float *h, float *c, int m)
{
	int			u = r->units;
	int			gu = 4 * u;
	float		g[4][LSTM_BLOCK];

	for (int i = 0; i < m; i++)
	{
		float	   *xt = xw + ((int64_t) i * T + t) * xs;
		const float *ri = rec + (int64_t) i * gu;

		for (int k = 0; k < gu; k++)
			xt[k] += ri[k];
	}
	if (u <= LSTM_BLOCK)
	{
		/* whole samples per block */
		int			per = LSTM_BLOCK / u;

		for (int i0 = 0; i0 < m; i0 += per)
		{
			int			mi = m - i0 < per ? m - i0 : per;
			int			len = mi * u;

			for (int i = 0; i < mi; i++)
			{
				const float *xt = xw + ((int64_t) (i0 + i) * T + t) * xs;

				for (int q = 0; q < 4; q++)
					memcpy(g[q] + i * u, xt + q * u, sizeof(float) * u);
			}
			tl_act_apply(&r->rec_act, g[0], 1, len, 1);
			tl_act_apply(&r->rec_act, g[1], 1, len, 1);
			tl_act_apply(&r->act, g[2], 1, len, 1);
			tl_act_apply(&r->rec_act, g[3], 1, len, 1);
			for (int k = 0; k < len; k++)
			{
				float	   *ck = c + (int64_t) i0 * u + k;

				*ck = g[1][k] * *ck + g[0][k] * g[2][k];
				g[2][k] = *ck;
			}
			tl_act_apply(&r->act, g[2], 1, len, 1);
			for (int k = 0; k < len; k++)
				h[(int64_t) i0 * u + k] = g[3][k] * g[2][k];
		}
		return;
	}
	for (int i = 0; i < m; i++)
	{
		const float *xt = xw + ((int64_t) i * T + t) * xs;
		float	   *hi = h + (int64_t) i * u;
		float	   *ci = c + (int64_t) i * u;

		for (int k0 = 0; k0 < u; k0 += LSTM_BLOCK)
		{
			int			kn = u - k0 < LSTM_BLOCK ? u - k0 : LSTM_BLOCK;

			for (int q = 0; q < 4; q++)
				memcpy(g[q], xt + q * u + k0, sizeof(float) * kn);
			tl_act_apply(&r->rec_act, g[0], 1, kn, 1);
			tl_act_apply(&r->rec_act, g[1], 1, kn, 1);
			tl_act_apply(&r->act, g[2], 1, kn, 1);
			tl_act_apply(&r->rec_act, g[3], 1, kn, 1);
			for (int k = 0; k < kn; k++)
			{
				ci[k0 + k] = g[1][k] * ci[k0 + k] + g[0][k] * g[2][k];
				g[2][k] = ci[k0 + k];
			}
			tl_act_apply(&r->act, g[2], 1, kn, 1);
			for (int k = 0; k < kn; k++)
				hi[k0 + k] = g[3][k] * g[2][k];
		}
	}
}

/*
 * rec (m x cols, row stride ld) = beta rec + a (m x k) U (k x cols, row
 * stride ld).  One sample (per-row calls) is a matrix-vector product:
 * sgemv skips the packing and buffer set-up an sgemm pays on every call,
 * which for one row of a recurrent step costs more than the product.
 */
static void
rec_product(int m, int cols, int k, const float *a, const float *U, int ld,
			float beta, float *rec)
{
	if (m == 1)
		cblas_sgemv(CblasRowMajor, CblasTrans, k, cols, 1.0f, U, ld, a, 1, beta, rec, 1);
	else
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, cols, k,
					1.0f, a, k, U, ld, beta, rec, ld);
}

/*
 * Runs one direction over m samples of T steps: out (unless NULL) receives
 * (m, T, u) when returning sequences, else (m, u).  With recs (m * T *
 * rec_stride floats) the step records are kept and work holds m*(gu + 3u)
 * floats; without, work holds m*(T*gu + gu + 3u).
 */
static void
rnn_direction(const tl_layer *l, const tl_rnn_cfg *r, const float *x, int m,
			  int T, int in_dim, float *out, float *work, float *recs,
			  const float *xtab)
{
	int			u = r->units;
	int			gu = gates_of(r->cell) * u;
	int			xs = recs ? rec_stride(r) : gu; /* row stride of xw */
	const float *W = l->w[r->w].data;
	const float *U = l->w[r->w + 1].data;
	const float *b = r->use_bias ? l->w[r->w + 2].data : NULL;
	const float *b_rec = (b && r->reset_after) ? b + gu : NULL;
	float	   *xw = recs ? recs : work;
	float	   *rec = recs ? work : xw + (int64_t) m * T * gu;
	float	   *h = rec + (int64_t) m * gu;
	float	   *c = h + (int64_t) m * u;
	float	   *rh = c + (int64_t) m * u;

	if (xtab)
	{
		/* x holds token ids: each step's projection is a row of E W + b */
		for (int64_t row = 0; row < (int64_t) m * T; row++)
			memcpy(xw + row * xs, xtab + (int64_t) x[row] * gu, sizeof(float) * gu);
	}
	else
	{
		/* input projection of all steps at once, onto the input bias */
		for (int64_t row = 0; row < (int64_t) m * T; row++)
		{
			if (b)
				memcpy(xw + row * xs, b, sizeof(float) * gu);
			else
				memset(xw + row * xs, 0, sizeof(float) * gu);
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m * T, gu, in_dim,
					1.0f, x, in_dim, W, gu, 1.0f, xw, xs);
	}
	memset(h, 0, sizeof(float) * m * u);
	memset(c, 0, sizeof(float) * m * u);

	for (int s = 0; s < T; s++)
	{
		int			t = r->go_backwards ? T - 1 - s : s;

		/* recurrent product h·U (GRU without reset_after: z and r only) */
		for (int i = 0; i < m; i++)
		{
			if (b_rec)
				memcpy(rec + (int64_t) i * gu, b_rec, sizeof(float) * gu);
			else
				memset(rec + (int64_t) i * gu, 0, sizeof(float) * gu);
		}
		rec_product(m, (r->cell == TL_CELL_GRU && !r->reset_after) ? 2 * u : gu, u,
					h, U, gu, 1.0f, rec);

		if (r->cell == TL_CELL_GRU && !r->reset_after)
		{
			/* candidate uses (r * h)·U_h, so r is needed first */
			for (int i = 0; i < m; i++)
			{
				float	   *xt = xw + ((int64_t) i * T + t) * xs;
				const float *ri = rec + (int64_t) i * gu;

				for (int k = 0; k < u; k++)
				{
					xt[u + k] += ri[u + k];
					rh[(int64_t) i * u + k] = tl_act_scalar(&r->rec_act, xt[u + k]) *
						h[(int64_t) i * u + k];
				}
			}
			rec_product(m, u, u, rh, U + 2 * u, gu, 0.0f, rec + 2 * u);
		}

		if (r->cell == TL_CELL_LSTM)
			lstm_gates(r, xw, xs, T, t, rec, h, c, m);

		/* the pre-activations replace xw's row of this step (used only here) */
		for (int i = 0; i < m; i++)
		{
			float	   *xt = xw + ((int64_t) i * T + t) * xs;
			const float *ri = rec + (int64_t) i * gu;
			float	   *hi = h + (int64_t) i * u;
			float	   *ci = c + (int64_t) i * u;

			switch (r->cell)
			{
				case TL_CELL_SIMPLE:
					for (int k = 0; k < u; k++)
					{
						xt[k] += ri[k];
						hi[k] = tl_act_scalar(&r->act, xt[k]);
					}
					break;
				case TL_CELL_LSTM:
					break;		/* done above, for all samples at once */
				case TL_CELL_GRU:
					for (int k = 0; k < u; k++)
					{
						float		z,
									hh;

						xt[k] += ri[k];
						z = tl_act_scalar(&r->rec_act, xt[k]);
						if (r->reset_after)
						{
							float		rg;

							xt[u + k] += ri[u + k];
							rg = tl_act_scalar(&r->rec_act, xt[u + k]);
							xt[2 * u + k] += rg * ri[2 * u + k];
							if (recs)
								xt[3 * u + k] = ri[2 * u + k];
						}
						else
							xt[2 * u + k] += ri[2 * u + k];
						hh = tl_act_scalar(&r->act, xt[2 * u + k]);
						hi[k] = z * hi[k] + (1.0f - z) * hh;
					}
					break;
			}
			if (recs)
			{
				memcpy(xt + rec_pre(r), hi, sizeof(float) * u);
				memcpy(xt + rec_pre(r) + u, ci, sizeof(float) * u);
			}
			if (out && r->return_sequences)
				memcpy(out + ((int64_t) i * T + s) * u, hi, sizeof(float) * u);
		}
		tl_check_interrupt();
	}
	if (out && !r->return_sequences)
		memcpy(out, h, sizeof(float) * m * u);
}

/* h of sample i after reading step s, from the step records. */
static const float *
rec_h(const tl_rnn_cfg *r, const float *recs, int i, int T, int s)
{
	int			t = r->go_backwards ? T - 1 - s : s;

	return recs + ((int64_t) i * T + t) * rec_stride(r) + rec_pre(r);
}

/*
 * Backpropagation through time for one direction, from its step records.
 * dO is the gradient of the direction's output: (m, T, u) in reading order
 * when returning sequences, else (m, u).  Each step's pre-activations are
 * replaced by their gradient, and at the end dx += dP·W^T for all steps in
 * one sgemm.  work holds 4 * m * u floats.
 */
static void
rnn_direction_backward(const tl_layer *l, const tl_rnn_cfg *r, int m, int T,
					   int in_dim, float *recs, const float *dO, float *dx,
					   float *work)
{
	int			u = r->units;
	int			gu = gates_of(r->cell) * u;
	int			rs = rec_stride(r);
	int			np = rec_pre(r);
	const float *W = l->w[r->w].data;
	const float *U = l->w[r->w + 1].data;
	float	   *dh = work;
	float	   *dh2 = dh + (int64_t) m * u;
	float	   *dc = dh2 + (int64_t) m * u;
	float	   *drh = dc + (int64_t) m * u;

	memset(dh, 0, sizeof(float) * m * u);
	memset(dc, 0, sizeof(float) * m * u);
	for (int s = T - 1; s >= 0; s--)
	{
		int			t = r->go_backwards ? T - 1 - s : s;
		float	   *P0 = recs + (int64_t) t * rs;	/* sample 0; stride T * rs */
		int64_t		ps = (int64_t) T * rs;

		for (int i = 0; i < m; i++)
			for (int k = 0; k < u; k++)
			{
				if (r->return_sequences)
					dh[(int64_t) i * u + k] += dO[((int64_t) i * T + s) * u + k];
				else if (s == T - 1)
					dh[(int64_t) i * u + k] += dO[(int64_t) i * u + k];
			}

		if (r->cell == TL_CELL_GRU && !r->reset_after)
		{
			/* the candidate's gradient first: it feeds (r * h)·U_h */
			for (int i = 0; i < m; i++)
			{
				float	   *P = P0 + i * ps;
				const float *hp = s > 0 ? rec_h(r, recs, i, T, s - 1) : NULL;

				for (int k = 0; k < u; k++)
				{
					float		g = dh[(int64_t) i * u + k];
					float		z = tl_act_scalar(&r->rec_act, P[k]);
					float		hh = tl_act_scalar(&r->act, P[2 * u + k]);
					float		hprev = hp ? hp[k] : 0.0f;

					dh2[(int64_t) i * u + k] = g * z;
					P[2 * u + k] = g * (1.0f - z) * tl_act_deriv(&r->act, P[2 * u + k]);
					P[k] = g * (hprev - hh) * tl_act_deriv(&r->rec_act, P[k]);
				}
			}
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, u, u,
						1.0f, P0 + 2 * u, (int) ps, U + 2 * u, gu, 0.0f, drh, u);
			for (int i = 0; i < m; i++)
			{
				float	   *P = P0 + i * ps;
				const float *hp = s > 0 ? rec_h(r, recs, i, T, s - 1) : NULL;

				for (int k = 0; k < u; k++)
				{
					float		rg = tl_act_scalar(&r->rec_act, P[u + k]);
					float		d = drh[(int64_t) i * u + k];

					dh2[(int64_t) i * u + k] += d * rg;
					P[u + k] = (hp ? d * hp[k] : 0.0f) * tl_act_deriv(&r->rec_act, P[u + k]);
				}
			}
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, u, 2 * u,
						1.0f, P0, (int) ps, U, gu, 1.0f, dh2, u);
		}
		else
		{
			for (int i = 0; i < m; i++)
			{
				float	   *P = P0 + i * ps;
				const float *hp = s > 0 ? rec_h(r, recs, i, T, s - 1) : NULL;
				float	   *hd = dh + (int64_t) i * u;
				float	   *cd = dc + (int64_t) i * u;
				float	   *hd2 = dh2 + (int64_t) i * u;

				for (int k = 0; k < u; k++)
				{
					float		g = hd[k];

					switch (r->cell)
					{
						case TL_CELL_SIMPLE:
							P[k] = g * tl_act_deriv(&r->act, P[k]);
							hd2[k] = 0.0f;
							break;
						case TL_CELL_LSTM:
							{
								const float *cc = P + np + u;
								float		cprev = hp ? hp[u + k] : 0.0f;
								float		ig = tl_act_scalar(&r->rec_act, P[k]);
								float		fg = tl_act_scalar(&r->rec_act, P[u + k]);
								float		cg = tl_act_scalar(&r->act, P[2 * u + k]);
								float		og = tl_act_scalar(&r->rec_act, P[3 * u + k]);
								float		dct = cd[k] + g * og * tl_act_deriv(&r->act, cc[k]);

								P[3 * u + k] = g * tl_act_scalar(&r->act, cc[k]) *
									tl_act_deriv(&r->rec_act, P[3 * u + k]);
								P[k] = dct * cg * tl_act_deriv(&r->rec_act, P[k]);
								P[u + k] = dct * cprev * tl_act_deriv(&r->rec_act, P[u + k]);
								P[2 * u + k] = dct * ig * tl_act_deriv(&r->act, P[2 * u + k]);
								cd[k] = dct * fg;
								hd2[k] = 0.0f;
							}
							break;
						case TL_CELL_GRU:
							{
								/* reset_after: pre-activations z, r, h, then U_h h + b */
								float		z = tl_act_scalar(&r->rec_act, P[k]);
								float		rg = tl_act_scalar(&r->rec_act, P[u + k]);
								float		hh = tl_act_scalar(&r->act, P[2 * u + k]);
								float		hprev = hp ? hp[k] : 0.0f;
								float		dph = g * (1.0f - z) * tl_act_deriv(&r->act, P[2 * u + k]);

								P[k] = g * (hprev - hh) * tl_act_deriv(&r->rec_act, P[k]);
								P[u + k] = dph * P[3 * u + k] * tl_act_deriv(&r->rec_act, P[u + k]);
								P[2 * u + k] = dph;
								P[3 * u + k] = dph * rg;
								hd2[k] = g * z;
							}
							break;
					}
				}
			}
			if (r->cell == TL_CELL_GRU)
			{
				/* z and r through U_zr, the candidate through U_h */
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, u, 2 * u,
							1.0f, P0, (int) ps, U, gu, 1.0f, dh2, u);
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, u, u,
							1.0f, P0 + 3 * u, (int) ps, U + 2 * u, gu, 1.0f, dh2, u);
			}
			else
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, u, gu,
							1.0f, P0, (int) ps, U, gu, 1.0f, dh2, u);
		}
		memcpy(dh, dh2, sizeof(float) * m * u);
		tl_check_interrupt();
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m * T, in_dim, gu,
				1.0f, recs, rs, W, gu, 1.0f, dx, in_dim);
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
		int64_t		gu = gates_of(r->cell) * r->units;

		if (backward)
			per_sample += (int64_t) T * rec_stride(r) + gu + 4 * r->units;
		else if ((int64_t) T * gu + gu + 3 * r->units > per_sample)
			per_sample = (int64_t) T * gu + gu + 3 * r->units;
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
		const float *tab, const float *tab1, float *out, const tl_shape *out_shape, int n,
		tl_status *st)
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

		if (!bi)
			rnn_direction(l, &l->u.rnn.dir[0], x, m, T, in_dim, o, work, NULL, tab);
		else
		{
			const tl_rnn_cfg *f = &l->u.rnn.dir[0],
					   *bw = &l->u.rnn.dir[1];
			int			seq = f->return_sequences;
			int64_t		steps = seq ? T : 1;
			float	   *of = work + chunk * per_sample - steps * m * (f->units + bw->units);
			float	   *ob = of + steps * m * f->units;

			rnn_direction(l, f, x, m, T, in_dim, of, work, NULL, tab);
			rnn_direction(l, bw, x, m, T, in_dim, ob, work, NULL, tab1);
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
	return rnn_run(l, ex, in[0], in_shape[0].d[0], in_shape[0].d[1], NULL, NULL,
				   out, out_shape, n, st);
}

int
tl_rnn_forward_tokens(const tl_layer *l, tl_exec *ex, const float *table,
					  const float *ids, const tl_shape *ids_shape, float *out,
					  const tl_shape *out_shape, int n, tl_status *st)
{
	int64_t		gu0 = gates_of(l->u.rnn.dir[0].cell) * l->u.rnn.dir[0].units;
	int64_t		gu1 = l->u.rnn.bidirectional ?
		gates_of(l->u.rnn.dir[1].cell) * l->u.rnn.dir[1].units : 0;
	int64_t		vocab = (int64_t) (l->fused_bytes / sizeof(float)) / (gu0 + gu1);

	/* the second direction's table follows the first's */
	return rnn_run(l, ex, ids, (int) tl_shape_count(ids_shape), 0, table,
				   table + vocab * gu0, out, out_shape, n, st);
}

float *
tl_rnn_token_table(const tl_layer *l, const tl_layer *emb, size_t *bytes,
				   tl_status *st)
{
	int			vocab = emb->u.emb.input_dim,
				dim = emb->u.emb.output_dim;
	int64_t		total = 0;
	float	   *table,
			   *t;

	for (int d = 0; d <= l->u.rnn.bidirectional; d++)
		total += (int64_t) vocab * gates_of(l->u.rnn.dir[d].cell) * l->u.rnn.dir[d].units;
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
		int			gu = gates_of(r->cell) * r->units;
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

	(void) out;
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
		float	   *recs_b = recs_f + (int64_t) m * T * rec_stride(f);
		float	   *cell = bi ? recs_b + (int64_t) m * T * rec_stride(bw) : recs_b;

		if (!bi)
		{
			rnn_direction(l, f, x, m, T, in_dim, NULL, cell, recs_f, NULL);
			rnn_direction_backward(l, f, m, T, in_dim, recs_f, dO, dx, cell);
		}
		else
		{
			int			seq = f->return_sequences;
			int64_t		steps = seq ? T : 1;
			/* the cell work area fits either direction */
			int64_t		cw = (int64_t) m * (gates_of(f->cell) * f->units + 4 * f->units +
											gates_of(bw->cell) * bw->units + 4 * bw->units);
			float	   *dof = cell + cw;
			float	   *dob = dof + steps * m * f->units;

			rnn_direction(l, f, x, m, T, in_dim, NULL, cell, recs_f, NULL);
			rnn_direction(l, bw, x, m, T, in_dim, NULL, cell, recs_b, NULL);
			for (int i = 0; i < m; i++)
				for (int64_t t = 0; t < steps; t++)
				{
					/* output position t holds f's step t and bw's step T-1-t */
					int64_t		sb = seq ? steps - 1 - t : 0;
					const float *g = dO + (int64_t) i * out_len + t * (out_len / steps);
					float	   *gf = dof + ((int64_t) i * steps + t) * f->units;
					float	   *gb = dob + ((int64_t) i * steps + sb) * bw->units;
					const float *pf = rec_h(f, recs_f, i, T, seq ? (int) t : T - 1);
					const float *pb = rec_h(bw, recs_b, i, T, seq ? (int) sb : T - 1);

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
			rnn_direction_backward(l, f, m, T, in_dim, recs_f, dof, dx, cell);
			rnn_direction_backward(l, bw, m, T, in_dim, recs_b, dob, dx, cell);
		}
	}
	return 0;
}

const tl_layer_ops tl_ops_rnn = {"recurrent", rnn_configure, rnn_shape, rnn_n_weights, rnn_bind, rnn_forward, 0, rnn_backward};
