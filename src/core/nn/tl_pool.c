/*
 * tl_pool.c — Max/AveragePooling 1D/2D and the global poolings.
 *
 * 'same' padding follows TensorFlow: padded positions are ignored, so an
 * average near the border divides by the number of real inputs.  Backward:
 * an average shares its gradient among its real inputs; a max passes it to
 * the first input (in scan order) holding the maximum (see tied_max).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "nn/tl_layer.h"

/*
 * Whether v ties with the maximum m of its pool.  Ties are common: the
 * padding of a token sequence gives every padded position the same values
 * up to float rounding (sgemm may sum rows in different orders).  Values
 * within 2^-17 of m (relative) count as tied and the first of them takes
 * the gradient, as TensorFlow's max pooling gives it to the first exact
 * maximum — rather than whichever rounding happened to favour.
 */
static inline int
tied_max(float v, float m)
{
	return v >= m - fabsf(m) * 7.62939453125e-6f;
}

#define TIE_BLOCK 256			/* channels per block of the max backward */

static int
pool_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	const char *cls = l->class_name;
	int			rank = strstr(cls, "1D") ? 1 : 2;
	json_t	   *strides = json_object_get(cfg, "strides");

	(void) cx;
	l->u.pool.rank = rank;
	l->u.pool.is_max = strncmp(cls, "Max", 3) == 0;
	if (tl_cfg_channels_last(cfg, l, st) < 0 ||
		tl_cfg_ints(cfg, "pool_size", rank, 2, l->u.pool.k, l, st) < 0 ||
		tl_cfg_padding(cfg, 0, &l->u.pool.pad, l, st) < 0)
		return -1;
	/* strides default to the pool size */
	if (strides == NULL || json_is_null(strides))
		memcpy(l->u.pool.s, l->u.pool.k, sizeof(l->u.pool.s));
	else if (tl_cfg_ints(cfg, "strides", rank, 1, l->u.pool.s, l, st) < 0)
		return -1;
	if (rank == 1)
	{
		l->u.pool.k[1] = l->u.pool.k[0];
		l->u.pool.s[1] = l->u.pool.s[0];
		l->u.pool.k[0] = l->u.pool.s[0] = 1;
	}
	return 0;
}

static int
pool_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
		   tl_status *st)
{
	int			h = 0,
				w = 0,
				c = 0,
				oh,
				ow;

	(void) n_in;
	if (tl_window_dims(l, l->u.pool.rank, &in[0], &h, &w, &c, st) < 0)
		return -1;
	oh = h < 0 ? -1 : tl_window_out(h, l->u.pool.k[0], l->u.pool.s[0], 1, l->u.pool.pad);
	ow = w < 0 ? -1 : tl_window_out(w, l->u.pool.k[1], l->u.pool.s[1], 1, l->u.pool.pad);
	if (oh == 0 || ow == 0)
		return tl_fail(st, TL_ERR_INPUT,
					   "layer \"%s\" (%s): the input is smaller than the pool",
					   l->name, l->class_name);
	*out = in[0];
	if (l->u.pool.rank == 1)
		out->d[0] = ow;
	else
	{
		out->d[0] = oh;
		out->d[1] = ow;
	}
	return 0;
}

/*
 * Runs the windows of n samples: the forward (out given) computes out from
 * x; the backward (y, the forward's output, dout and dx given) adds each
 * window's share of dout onto dx.
 */
static int
pool_windows(const tl_layer *l, const float *x, const tl_shape *in_shape,
			 float *out, const float *y, const float *dout, float *dx, int n,
			 tl_status *st)
{
	int			h = 0,
				w = 0,
				c = 0;
	int			kh = l->u.pool.k[0],
				kw = l->u.pool.k[1];
	int			sh = l->u.pool.s[0],
				sw = l->u.pool.s[1];
	int			oh,
				ow,
				ph,
				pw;

	if (tl_window_dims(l, l->u.pool.rank, in_shape, &h, &w, &c, st) < 0)
		return -1;
	oh = tl_window_out(h, kh, sh, 1, l->u.pool.pad);
	ow = tl_window_out(w, kw, sw, 1, l->u.pool.pad);
	ph = tl_window_pad_before(h, kh, sh, 1, l->u.pool.pad);
	pw = tl_window_pad_before(w, kw, sw, 1, l->u.pool.pad);
	for (int b = 0; b < n; b++)
	{
		const float *src = x + (int64_t) b * h * w * c;
		float	   *dsrc = dx ? dx + (int64_t) b * h * w * c : NULL;

		for (int yo = 0; yo < oh; yo++)
			for (int xo = 0; xo < ow; xo++)
			{
				int64_t		at = ((int64_t) b * oh * ow + (int64_t) yo * ow + xo) * c;
				int			y0 = yo * sh - ph,
							x0 = xo * sw - pw;
				int			i0 = y0 < 0 ? 0 : y0,
							i1 = y0 + kh > h ? h : y0 + kh;
				int			j0 = x0 < 0 ? 0 : x0,
							j1 = x0 + kw > w ? w : x0 + kw;
				int			cnt = (i1 - i0) * (j1 - j0);

				if (out)
				{
					float	   *o = out + at;

					for (int k = 0; k < c; k++)
						o[k] = l->u.pool.is_max ? -FLT_MAX : 0.0f;
					for (int i = i0; i < i1; i++)
						for (int j = j0; j < j1; j++)
						{
							const float *p = src + ((int64_t) i * w + j) * c;

							if (l->u.pool.is_max)
							{
								for (int k = 0; k < c; k++)
									o[k] = p[k] > o[k] ? p[k] : o[k];
							}
							else
								for (int k = 0; k < c; k++)
									o[k] += p[k];
						}
					if (!l->u.pool.is_max)
						for (int k = 0; k < c; k++)
							o[k] /= cnt;
				}
				else if (l->u.pool.is_max)
				{
					/* channels innermost, in blocks of the taken flags */
					for (int k0 = 0; k0 < c; k0 += TIE_BLOCK)
					{
						int			kn = c - k0 < TIE_BLOCK ? c - k0 : TIE_BLOCK;
						char		taken[TIE_BLOCK] = {0};

						for (int i = i0; i < i1; i++)
							for (int j = j0; j < j1; j++)
							{
								const float *p = src + ((int64_t) i * w + j) * c + k0;
								float	   *d = dsrc + ((int64_t) i * w + j) * c + k0;

								for (int k = 0; k < kn; k++)
									if (!taken[k] && tied_max(p[k], y[at + k0 + k]))
									{
										d[k] += dout[at + k0 + k];
										taken[k] = 1;
									}
							}
					}
				}
				else
					for (int i = i0; i < i1; i++)
						for (int j = j0; j < j1; j++)
						{
							float	   *d = dsrc + ((int64_t) i * w + j) * c;

							for (int k = 0; k < c; k++)
								d[k] += dout[at + k] / cnt;
						}
			}
	}
	return 0;
}

static int
pool_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
			 const tl_shape *in_shape, float *out, const tl_shape *out_shape,
			 int n, tl_status *st)
{
	(void) ex;
	(void) out_shape;
	return pool_windows(l, in[0], &in_shape[0], out, NULL, NULL, NULL, n, st);
}

static int
pool_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
			  const tl_shape *in_shape, const float *out,
			  const tl_shape *out_shape, const float *dout,
			  float *const *din, int n, tl_status *st)
{
	(void) ex;
	(void) out_shape;
	return pool_windows(l, in[0], &in_shape[0], NULL, out, dout, din[0], n, st);
}

static int
pool_window(const tl_layer *l, tl_window *w)
{
	w->rank = l->u.pool.rank;
	for (int a = 0; a < 2; a++)
	{
		w->k[a] = l->u.pool.k[a];
		w->s[a] = l->u.pool.s[a];
		w->d[a] = 1;
	}
	w->pad = l->u.pool.pad;
	return 1;
}

const tl_layer_ops tl_ops_pool = {
	.family = "pool",
	.configure = pool_configure,
	.shape = pool_shape,
	.forward = pool_forward,
	.backward = pool_backward,
	.window = pool_window,
};

/* ---- GlobalAverage/GlobalMax Pooling 1D/2D ---------------------------------- */
static int
gpool_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	(void) cx;
	l->u.gpool.rank = strstr(l->class_name, "1D") ? 1 : 2;
	l->u.gpool.is_max = strncmp(l->class_name, "GlobalMax", 9) == 0;
	if (tl_cfg_channels_last(cfg, l, st) < 0 ||
		tl_cfg_bool(cfg, "keepdims", 0, &l->u.gpool.keepdims, l, st) < 0)
		return -1;
	return 0;
}

static int
gpool_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
			tl_status *st)
{
	int			rank = l->u.gpool.rank;

	(void) n_in;
	if (in[0].nd != rank + 1)
		return tl_fail(st, TL_ERR_MODEL,
					   "layer \"%s\" (%s): expected an input of rank %d, got %d",
					   l->name, l->class_name, rank + 2, in[0].nd + 1);
	out->nd = 0;
	if (l->u.gpool.keepdims)
		for (int i = 0; i < rank; i++)
			out->d[out->nd++] = 1;
	out->d[out->nd++] = in[0].d[rank];
	return 0;
}

/*
 * GlobalAveragePooling1D honours a Keras mask: the mean of the real steps
 * (0 when there are none, where Keras divides by zero).  The other global
 * poolings drop it, as Keras does: a max pools the padding too.
 */
static int
gpool_mask(const tl_layer *l, tl_exec *ex, int64_t steps, int n, const float **mask,
		   tl_status *st)
{
	*mask = NULL;
	if (l->u.gpool.is_max || l->u.gpool.rank != 1)
		return 0;
	return tl_exec_mask(ex, 0, steps, n, mask, st);
}

static double
real_steps(const float *mask, int64_t steps)
{
	double		real = 0;

	for (int64_t t = 0; t < steps; t++)
		real += mask[t] != 0.0f;
	return real;
}

static int
gpool_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
			  const tl_shape *in_shape, float *out, const tl_shape *out_shape,
			  int n, tl_status *st)
{
	int			c = in_shape[0].d[in_shape[0].nd - 1];
	int64_t		steps = tl_shape_count(&in_shape[0]) / c;
	const float *mask;

	(void) out_shape;
	if (gpool_mask(l, ex, steps, n, &mask, st) < 0)
		return -1;
	for (int b = 0; b < n; b++)
	{
		const float *src = in[0] + b * steps * c;
		float	   *o = out + (int64_t) b * c;
		const float *mb = mask ? mask + b * steps : NULL;
		double		real = mb ? real_steps(mb, steps) : (double) steps;

		if (l->u.gpool.is_max)
		{
			memcpy(o, src, sizeof(float) * c);
			for (int64_t t = 1; t < steps; t++)
				for (int k = 0; k < c; k++)
					o[k] = src[t * c + k] > o[k] ? src[t * c + k] : o[k];
		}
		else
		{
			/* accumulate in double: 5000-step averages lose bits in float */
			double		acc[512];

			for (int k0 = 0; k0 < c; k0 += 512)
			{
				int			kn = c - k0 < 512 ? c - k0 : 512;

				memset(acc, 0, sizeof(double) * kn);
				for (int64_t t = 0; t < steps; t++)
					if (mb == NULL || mb[t] != 0.0f)
						for (int k = 0; k < kn; k++)
							acc[k] += src[t * c + k0 + k];
				for (int k = 0; k < kn; k++)
					o[k0 + k] = real > 0 ? (float) (acc[k] / real) : 0.0f;
			}
		}
	}
	return 0;
}

static int
gpool_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
			   const tl_shape *in_shape, const float *out,
			   const tl_shape *out_shape, const float *dout,
			   float *const *din, int n, tl_status *st)
{
	int			c = in_shape[0].d[in_shape[0].nd - 1];
	int64_t		steps = tl_shape_count(&in_shape[0]) / c;
	const float *mask;

	(void) out_shape;
	if (gpool_mask(l, ex, steps, n, &mask, st) < 0)
		return -1;
	for (int b = 0; b < n; b++)
	{
		const float *src = in[0] + b * steps * c;
		const float *o = out + (int64_t) b * c;
		const float *d = dout + (int64_t) b * c;
		float	   *dx = din[0] + b * steps * c;
		const float *mb = mask ? mask + b * steps : NULL;
		double		real = mb ? real_steps(mb, steps) : (double) steps;

		for (int k = 0; k < c; k++)
		{
			if (l->u.gpool.is_max)
			{
				for (int64_t t = 0; t < steps; t++)
					if (tied_max(src[t * c + k], o[k]))
					{
						dx[t * c + k] += d[k];
						break;
					}
			}
			else if (real > 0)
				for (int64_t t = 0; t < steps; t++)
					if (mb == NULL || mb[t] != 0.0f)
						dx[t * c + k] += (float) (d[k] / real);
		}
	}
	return 0;
}

/*
 * GlobalAveragePooling1D of an Embedding's output, from the token ids: the
 * mean of the embedding rows they pick, without the (steps x dim)
 * embedding output being written and read back.  A run of equal ids (the
 * padding of a token sequence) adds its row once, times the run's length:
 * in double, as gpool_forward accumulates, k * row is exact, so the result
 * differs from the plain path's only by the order of the double additions.
 */
static int
tl_gpool_forward_embedding(const tl_layer *l, const tl_layer *emb,
						   const float *ids, const tl_shape *ids_shape,
						   float *out, int n, tl_status *st)
{
	int			c = emb->u.emb.output_dim;
	int64_t		steps = tl_shape_count(ids_shape);
	const float *table = emb->w[0].data;

	(void) l;
	(void) st;
	for (int b = 0; b < n; b++)
	{
		const float *id = ids + b * steps;
		float	   *o = out + (int64_t) b * c;
		double		acc[512];

		for (int k0 = 0; k0 < c; k0 += 512)
		{
			int			kn = c - k0 < 512 ? c - k0 : 512;

			memset(acc, 0, sizeof(double) * kn);
			for (int64_t t = 0; t < steps;)
			{
				const float *row = table + (int64_t) id[t] * c + k0;
				float		v = id[t];
				int64_t		e = t + 1,
							run;
				float		vblk[16];

				/* the rows ahead: the gathers are cache misses, not arithmetic */
				if (t + 8 < steps)
					__builtin_prefetch(table + (int64_t) id[t + 8] * c + k0);
				/* the end of the run, 16 ids at a time where it is long (ids are
				 * whole numbers: equal exactly when their bits are) */
				if (e + 16 <= steps && id[e] == v)
				{
					for (int j = 0; j < 16; j++)
						vblk[j] = v;
					while (e + 16 <= steps && memcmp(id + e, vblk, sizeof(vblk)) == 0)
						e += 16;
				}
				while (e < steps && id[e] == v)
					e++;
				run = e - t;
				if (run == 1)
					for (int k = 0; k < kn; k++)
						acc[k] += row[k];
				else
					for (int k = 0; k < kn; k++)
						acc[k] += (double) run * row[k];
				t += run;
			}
			for (int k = 0; k < kn; k++)
				o[k0 + k] = (float) (acc[k] / steps);
		}
	}
	return 0;
}

/* GlobalAveragePooling1D reading an Embedding: from the rows the ids pick. */
static tl_token_path
gpool_token_path(const tl_layer *l)
{
	return l->u.gpool.rank == 1 && !l->u.gpool.is_max ? TL_TOKENS_ROWS : TL_TOKENS_NONE;
}

static int
gpool_forward_from_tokens(const tl_layer *l, tl_exec *ex, const tl_layer *emb,
						  const float *table, const float *ids, const tl_shape *ids_shape,
						  const tl_shape *in_shape, float *out, const tl_shape *out_shape,
						  int n, tl_status *st)
{
	return tl_gpool_forward_embedding(l, emb, ids, ids_shape, out, n, st);
}

const tl_layer_ops tl_ops_global_pool = {
	.family = "global_pool",
	.flags = TL_LAYER_GLOBAL_POOL,
	.configure = gpool_configure,
	.shape = gpool_shape,
	.forward = gpool_forward,
	.backward = gpool_backward,
	.token_path = gpool_token_path,
	.forward_tokens = gpool_forward_from_tokens,
};
