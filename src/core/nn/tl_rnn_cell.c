/*
 * tl_rnn_cell.c — one direction of a recurrent layer over a sequence: the
 * SimpleRNN, LSTM and GRU steps forward, keeping step records when asked,
 * and backpropagation through time from those records.
 */
#include <string.h>
#include <cblas.h>

#include "nn/tl_recurrent.h"
#include "nn/tl_simd.h"

/* Units per block of the vectorised LSTM gates. */
#define LSTM_BLOCK 1024

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
		: tl_rnn_gates(r->cell) * r->units;
}

int
tl_rnn_rec_stride(const tl_rnn_cfg *r)
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

/* Largest recurrent matrix (k x cols floats) the one-sample kernel takes:
 * 256 KiB, an L2's worth; beyond it the product is bound by memory and
 * sgemv's per-call cost does not matter. */
#define ONE_SAMPLE_MAX (64 * 1024)

/*
 * rec (cols) = base + a (k) U (k x cols, row stride ld) for one sample;
 * base may be rec itself, NULL for zeros.  64 columns at a time in 8 vector
 * accumulators (two FMAs per cycle).  Per-row calls run one such small
 * product per time step (32 x 128, 300 times, for the IMDB LSTM): without
 * sgemv's per-call checks and dispatch.
 */
static void TL_CLONES
matvec_one(int k, int cols, const float *a, const float *U, int ld,
		   const float *base, float *rec)
{
	int			c0 = 0;

	for (; c0 + 64 <= cols; c0 += 64)
	{
		v8			s[8] = {{0}};

		for (int j = 0; j < k; j++)
		{
			const float *row = U + (int64_t) j * ld + c0;

			for (int q = 0; q < 8; q++)
				s[q] += a[j] * *(const v8u *) (row + 8 * q);
		}
		for (int q = 0; q < 8; q++)
			*(v8u *) (rec + c0 + 8 * q) = base ? *(const v8u *) (base + c0 + 8 * q) + s[q] : s[q];
	}
	for (; c0 + 8 <= cols; c0 += 8)
	{
		v8			s = {0};

		for (int j = 0; j < k; j++)
			s += a[j] * *(const v8u *) (U + (int64_t) j * ld + c0);
		*(v8u *) (rec + c0) = base ? *(const v8u *) (base + c0) + s : s;
	}
	for (; c0 < cols; c0++)
	{
		float		s = 0.0f;

		for (int j = 0; j < k; j++)
			s += a[j] * U[(int64_t) j * ld + c0];
		rec[c0] = base ? base[c0] + s : s;
	}
}

/*
 * rec (m x cols, row stride ld) = beta rec + a (m x k) U (k x cols, row
 * stride ld), beta 0 or 1.  One sample (per-row calls) skips the packing and buffer
 * set-up an sgemm pays on every call, which for one row of a recurrent step
 * costs more than the product: a small matrix goes to matvec_one, a large
 * one to sgemv.
 */
static void
rec_product(int m, int cols, int k, const float *a, const float *U, int ld,
			float beta, float *rec)
{
	if (m == 1 && (int64_t) k * cols <= ONE_SAMPLE_MAX)
		matvec_one(k, cols, a, U, ld, beta == 0.0f ? NULL : rec, rec);
	else if (m == 1)
		cblas_sgemv(CblasRowMajor, CblasTrans, k, cols, 1.0f, U, ld, a, 1, beta, rec, 1);
	else
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, cols, k,
					1.0f, a, k, U, ld, beta, rec, ld);
}

/* Steps ahead whose token-table row one sample's steps prefetch. */
#define ROW_AHEAD 4

/*
 * One LSTM step for one sample, without step records: the pre-activations
 * xt (the step's input projection, read only) + h U are completed in a
 * buffer of 4u floats, each gate activated in one call (i and f together)
 * and c and h updated.  The batched lstm_gates does the same arithmetic
 * (the same activations; the sums in another order) through blocks of
 * samples, whose copies and five calls per block a lone sample would pay
 * at every step: with them (and the token-table rows all copied first, and
 * sgemv) a per-row call of the IMDB LSTM cost 23 µs more than a batched
 * sample in the core, now 15 µs less (bench/row_bench.c, 300 random ids).
 */
static void
lstm_step_one(const tl_rnn_cfg *r, const float *U, const float *xt,
			  float *restrict h, float *restrict c, float *restrict g)
{
	int			u = r->units;
	/* one pointer per gate: with -fwrapv, g[u + k] would not vectorise */
	const float *gi = g,
			   *gf = g + u,
			   *go = g + 3 * u;
	float	   *gc = g + 2 * u;

	matvec_one(u, 4 * u, h, U, 4 * u, xt, g);
	tl_act_apply(&r->rec_act, g, 1, 2 * u, 1);
	tl_act_apply(&r->act, gc, 1, u, 1);
	tl_act_apply(&r->rec_act, g + 3 * u, 1, u, 1);
	for (int k = 0; k < u; k++)
	{
		c[k] = gf[k] * c[k] + gi[k] * gc[k];
		gc[k] = c[k];
	}
	tl_act_apply(&r->act, gc, 1, u, 1);
	for (int k = 0; k < u; k++)
		h[k] = go[k] * gc[k];
}

/*
 * One GRU step for one sample, without step records, in rec (3u floats):
 * the recurrent products, then z and r activated together, the candidate,
 * h.  Each activation is one vector call where the batched step makes one
 * scalar call per unit (27 µs more per row than batched for the IMDB GRU,
 * bench/row_bench.c).  Keras' reset_after (the default) adds the recurrent
 * bias b_rec and applies r to the candidate's recurrent product; without
 * it r applies to h before its product.
 */
static void
gru_step_one(const tl_rnn_cfg *r, const float *U, const float *b_rec, const float *xt,
			 float *restrict h, float *restrict rh, float *restrict rec)
{
	int			u = r->units;
	const float *z = rec,
			   *rg = rec + u;
	float	   *hh = rec + 2 * u;

	matvec_one(u, r->reset_after ? 3 * u : 2 * u, h, U, 3 * u, b_rec, rec);
	for (int k = 0; k < 2 * u; k++)
		rec[k] += xt[k];
	tl_act_apply(&r->rec_act, rec, 1, 2 * u, 1);
	if (r->reset_after)
		for (int k = 0; k < u; k++)
			hh[k] = xt[2 * u + k] + rg[k] * hh[k];
	else
	{
		for (int k = 0; k < u; k++)
			rh[k] = rg[k] * h[k];
		matvec_one(u, u, rh, U + 2 * u, 3 * u, xt + 2 * u, hh);
	}
	tl_act_apply(&r->act, hh, 1, u, 1);
	for (int k = 0; k < u; k++)
		h[k] = z[k] * h[k] + (1.0f - z[k]) * hh[k];
}

/* One SimpleRNN step for one sample, without step records: h = act(xt + h U). */
static void
simple_step_one(const tl_rnn_cfg *r, const float *U, const float *xt, float *restrict h,
				float *restrict rec)
{
	int			u = r->units;

	matvec_one(u, u, h, U, u, xt, rec);
	tl_act_apply(&r->act, rec, 1, u, 1);
	memcpy(h, rec, sizeof(float) * u);
}

/*
 * Runs one direction over m samples of T steps: out (unless NULL) receives
 * (m, T, u) when returning sequences, else (m, u).  With recs (m * T *
 * tl_rnn_rec_stride floats) the step records are kept and work holds m*(gu + 5u)
 * floats; without, work holds m*(T*gu + gu + 5u).  Under a mask, a masked
 * step's state is put back as it was before the step.
 * (long function: one time loop for the three cells, whose step shares the
 * buffers and the h·U sgemm.)
 */
void
tl_rnn_direction(const tl_layer *l, const tl_rnn_cfg *r, const float *x, int m,
			  int T, int in_dim, float *out, float *work, float *recs,
			  const float *xtab, const tl_rnn_mask *mk)
{
	int			u = r->units;
	int			gu = tl_rnn_gates(r->cell) * u;
	int			xs = recs ? tl_rnn_rec_stride(r) : gu; /* row stride of xw */
	const float *W = l->w[r->w].data;
	const float *U = l->w[r->w + 1].data;
	const float *b = r->use_bias ? l->w[r->w + 2].data : NULL;
	const float *b_rec = (b && r->reset_after) ? b + gu : NULL;
	float	   *xw = recs ? recs : work;
	float	   *rec = recs ? work : xw + (int64_t) m * T * gu;
	float	   *h = rec + (int64_t) m * gu;
	float	   *c = h + (int64_t) m * u;
	float	   *rh = c + (int64_t) m * u;
	float	   *h_was = rh + (int64_t) m * u;
	float	   *c_was = h_was + (int64_t) m * u;
	const float *mask = mk ? mk->mask : NULL;
	/* one sample's steps: lstm_step_one, gru_step_one, simple_step_one */
	int			one = m == 1 && !recs && (int64_t) u * gu <= ONE_SAMPLE_MAX;

	if (xtab)
	{
		/* x holds token ids: each step's projection is a row of E W + b
		 * (read in place by one sample's LSTM steps) */
		for (int64_t row = 0; row < (int64_t) m * T && !one; row++)
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

		if (mask)
		{
			memcpy(h_was, h, sizeof(float) * m * u);
			memcpy(c_was, c, sizeof(float) * m * u);
		}
		if (one && xtab && s + ROW_AHEAD < T)
		{
			/* a random row of a table of megabytes: fetched ahead, as the
			 * copy of all rows at once would have overlapped the misses */
			int			ta = r->go_backwards ? T - 1 - s - ROW_AHEAD : s + ROW_AHEAD;
			const char *p = (const char *) (xtab + (int64_t) x[ta] * gu);

			for (int64_t off = 0; off < (int64_t) sizeof(float) * gu; off += 64)
				__builtin_prefetch(p + off);
		}
		if (one)
		{
			const float *xt = xtab ? xtab + (int64_t) x[t] * gu : xw + (int64_t) t * xs;

			if (r->cell == TL_CELL_LSTM)
				lstm_step_one(r, U, xt, h, c, rec);
			else if (r->cell == TL_CELL_GRU)
				gru_step_one(r, U, b_rec, xt, h, rh, rec);
			else
				simple_step_one(r, U, xt, h, rec);
		}
		/* recurrent product h·U (GRU without reset_after: z and r only) */
		for (int i = 0; i < m && !one; i++)
		{
			if (b_rec)
				memcpy(rec + (int64_t) i * gu, b_rec, sizeof(float) * gu);
			else
				memset(rec + (int64_t) i * gu, 0, sizeof(float) * gu);
		}
		if (!one)
			rec_product(m, (r->cell == TL_CELL_GRU && !r->reset_after) ? 2 * u : gu, u,
						h, U, gu, 1.0f, rec);

		if (r->cell == TL_CELL_GRU && !r->reset_after && !one)
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

		if (r->cell == TL_CELL_LSTM && !one)
			lstm_gates(r, xw, xs, T, t, rec, h, c, m);

		/* the pre-activations replace xw's row of this step (used only here) */
		for (int i = 0; i < m; i++)
		{
			float	   *xt = xw + ((int64_t) i * T + t) * xs;
			const float *ri = rec + (int64_t) i * gu;
			float	   *hi = h + (int64_t) i * u;
			float	   *ci = c + (int64_t) i * u;

			/* one sample: stepped above */
			if (!one)
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
			if (mask && mask[(int64_t) i * T + t] == 0.0f)
			{
				/* a masked step: the state stays */
				memcpy(hi, h_was + (int64_t) i * u, sizeof(float) * u);
				memcpy(ci, c_was + (int64_t) i * u, sizeof(float) * u);
			}
			if (recs)
			{
				memcpy(xt + rec_pre(r), hi, sizeof(float) * u);
				memcpy(xt + rec_pre(r) + u, ci, sizeof(float) * u);
			}
			if (out && r->return_sequences)
			{
				if (mask && mk->zeros && mask[(int64_t) i * T + t] == 0.0f)
					memset(out + ((int64_t) i * T + s) * u, 0, sizeof(float) * u);
				else
					memcpy(out + ((int64_t) i * T + s) * u, hi, sizeof(float) * u);
			}
		}
		tl_check_interrupt();
	}
	if (out && !r->return_sequences)
		memcpy(out, h, sizeof(float) * m * u);
}

/* h of sample i after reading step s, from the step records. */
const float *
tl_rnn_rec_h(const tl_rnn_cfg *r, const float *recs, int i, int T, int s)
{
	int			t = r->go_backwards ? T - 1 - s : s;

	return recs + ((int64_t) i * T + t) * tl_rnn_rec_stride(r) + rec_pre(r);
}

/*
 * Backpropagation through time for one direction, from its step records.
 * dO is the gradient of the direction's output: (m, T, u) in reading order
 * when returning sequences, else (m, u).  Each step's pre-activations are
 * replaced by their gradient, and at the end dx += dP·W^T for all steps in
 * one sgemm.  work holds 4 * m * u floats.  A masked step passes the
 * gradient of its state through unchanged and has none of its own.
 * (long function: the reverse of tl_rnn_direction's loop, three cells'
 * gate derivatives sharing its buffers.)
 */
void
tl_rnn_direction_backward(const tl_layer *l, const tl_rnn_cfg *r, int m, int T,
					   int in_dim, float *recs, const float *dO, float *dx,
					   float *work, const tl_rnn_mask *mk)
{
	int			u = r->units;
	int			gu = tl_rnn_gates(r->cell) * u;
	int			rs = tl_rnn_rec_stride(r);
	int			np = rec_pre(r);
	const float *W = l->w[r->w].data;
	const float *U = l->w[r->w + 1].data;
	float	   *dh = work;
	float	   *dh2 = dh + (int64_t) m * u;
	float	   *dc = dh2 + (int64_t) m * u;
	float	   *drh = dc + (int64_t) m * u;
	const float *mask = mk ? mk->mask : NULL;

	memset(dh, 0, sizeof(float) * m * u);
	memset(dc, 0, sizeof(float) * m * u);
	for (int s = T - 1; s >= 0; s--)
	{
		int			t = r->go_backwards ? T - 1 - s : s;
		float	   *P0 = recs + (int64_t) t * rs;	/* sample 0; stride T * rs */
		int64_t		ps = (int64_t) T * rs;

		for (int i = 0; i < m; i++)
		{
			int			skip = mask && mask[(int64_t) i * T + t] == 0.0f;

			for (int k = 0; k < u; k++)
			{
				if (r->return_sequences && !(skip && mk->zeros))
					dh[(int64_t) i * u + k] += dO[((int64_t) i * T + s) * u + k];
				else if (!r->return_sequences && s == T - 1)
					dh[(int64_t) i * u + k] += dO[(int64_t) i * u + k];
			}
		}

		if (r->cell == TL_CELL_GRU && !r->reset_after)
		{
			/* the candidate's gradient first: it feeds (r * h)·U_h */
			for (int i = 0; i < m; i++)
			{
				float	   *P = P0 + i * ps;
				const float *hp = s > 0 ? tl_rnn_rec_h(r, recs, i, T, s - 1) : NULL;

				if (mask && mask[(int64_t) i * T + t] == 0.0f)
				{
					/* masked: the state's gradient passes, the step has none */
					memcpy(dh2 + (int64_t) i * u, dh + (int64_t) i * u, sizeof(float) * u);
					memset(P, 0, sizeof(float) * np);
					continue;
				}
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
				const float *hp = s > 0 ? tl_rnn_rec_h(r, recs, i, T, s - 1) : NULL;

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
				const float *hp = s > 0 ? tl_rnn_rec_h(r, recs, i, T, s - 1) : NULL;
				float	   *hd = dh + (int64_t) i * u;
				float	   *cd = dc + (int64_t) i * u;
				float	   *hd2 = dh2 + (int64_t) i * u;

				if (mask && mask[(int64_t) i * T + t] == 0.0f)
				{
					memcpy(hd2, hd, sizeof(float) * u);
					memset(P, 0, sizeof(float) * np);
					continue;
				}
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
