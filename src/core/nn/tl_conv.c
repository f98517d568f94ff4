/*
 * tl_conv.c — Conv1D and Conv2D (channels_last) as im2col + sgemm.
 *
 * Conv1D is run as a Conv2D of height 1.  Patches for a block of output
 * positions (across samples) are packed into the runner's scratch area and
 * multiplied by the kernel, which Keras stores as (kh, kw, in, filters):
 * row-major that is already the (kh*kw*in) x filters matrix sgemm wants.
 * The backward pass runs the same blocks in reverse: the patches' gradient
 * dz W^T by sgemm, then scattered back onto the input (col2im) — for the
 * output positions whose gradient is not all zero only: after ReLU and max
 * pooling most are, and their rows would cost a GEMM row each for nothing.
 */
#include <string.h>
#include <cblas.h>

#include "nn/tl_conv2d_kernel.h"
#include "nn/tl_layer.h"
#include "nn/tl_simd.h"

/* Scratch for packed patches, in floats (8 MiB). */
#define PATCH_SCRATCH (2 * 1024 * 1024)
/* Products one block of the Conv1D's taps writes, in floats (512 KiB): one
 * IMDB review's 500 rows x 7 taps x 32 filters. */
#define TAPS_Z_FLOATS (128 * 1024)

static int
conv_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	int			rank = strcmp(l->class_name, "Conv1D") == 0 ? 1 : 2;
	int			groups;

	l->u.conv.rank = rank;
	if (tl_cfg_channels_last(cfg, l, st) < 0 ||
		tl_cfg_int(cfg, "filters", 0, &l->u.conv.filters, l, st) < 0 ||
		tl_cfg_ints(cfg, "kernel_size", rank, 1, l->u.conv.k, l, st) < 0 ||
		tl_cfg_ints(cfg, "strides", rank, 1, l->u.conv.s, l, st) < 0 ||
		tl_cfg_ints(cfg, "dilation_rate", rank, 1, l->u.conv.d, l, st) < 0 ||
		tl_cfg_padding(cfg, rank == 1, &l->u.conv.pad, l, st) < 0 ||
		tl_cfg_bool(cfg, "use_bias", 1, &l->u.conv.use_bias, l, st) < 0 ||
		tl_cfg_int(cfg, "groups", 1, &groups, l, st) < 0 ||
		tl_cfg_activation(cfg, "activation", "linear", cx, &l->act, l, st) < 0)
		return -1;
	if (groups != 1)
		return tl_fail(st, TL_ERR_UNSUPPORTED,
					   "layer \"%s\" (%s): groups=%d is not supported (only 1)",
					   l->name, l->class_name, groups);
	if (l->u.conv.filters < 1)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (%s): filters must be >= 1",
					   l->name, l->class_name);
	if (rank == 1)
	{
		/* store 1-D parameters as the width of a height-1 2-D conv */
		l->u.conv.k[1] = l->u.conv.k[0];
		l->u.conv.s[1] = l->u.conv.s[0];
		l->u.conv.d[1] = l->u.conv.d[0];
		l->u.conv.k[0] = l->u.conv.s[0] = l->u.conv.d[0] = 1;
	}
	return 0;
}

static int
conv_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
		   tl_status *st)
{
	int			h = 0,
				w = 0,
				c = 0,
				oh,
				ow;

	(void) n_in;
	if (tl_window_dims(l, l->u.conv.rank, &in[0], &h, &w, &c, st) < 0)
		return -1;
	if (c < 1)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (%s): the channel dimension must be known",
					   l->name, l->class_name);
	oh = h < 0 ? -1 : tl_window_out(h, l->u.conv.k[0], l->u.conv.s[0], l->u.conv.d[0], l->u.conv.pad);
	ow = w < 0 ? -1 : tl_window_out(w, l->u.conv.k[1], l->u.conv.s[1], l->u.conv.d[1], l->u.conv.pad);
	if (oh == 0 || ow == 0)
		return tl_fail(st, TL_ERR_INPUT,
					   "layer \"%s\" (%s): the input is smaller than the kernel",
					   l->name, l->class_name);
	out->nd = l->u.conv.rank + 1;
	if (l->u.conv.rank == 1)
		out->d[0] = ow;
	else
	{
		out->d[0] = oh;
		out->d[1] = ow;
	}
	out->d[out->nd - 1] = l->u.conv.filters;
	return 0;
}

static int
conv_n_weights(const tl_layer *l)
{
	return l->u.conv.use_bias ? 2 : 1;
}

/*
 * The kernel of a Conv1D with stride 1 as one matrix for
 * conv1d_taps_forward: c rows of taps * f columns, tap j's filters in
 * columns j*f .. j*f+f-1 (the stored kernel is taps x c x f).
 */
static float *
conv1d_taps_pack(const tl_layer *l, int c, tl_status *st)
{
	int			taps = l->u.conv.k[1],
				f = l->u.conv.filters;
	float	   *p = tl_malloc(sizeof(float) * (size_t) taps * c * f);

	if (p == NULL)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory (packed kernel of layer \"%s\")", l->name);
		return NULL;
	}
	for (int j = 0; j < taps; j++)
		for (int i = 0; i < c; i++)
			memcpy(p + ((int64_t) i * taps + j) * f, l->w[0].data + ((int64_t) j * c + i) * f,
				   sizeof(float) * f);
	return p;
}

static int
conv_bind(tl_layer *l, const tl_shape *in, int n_in, tl_status *st)
{
	int			h = 0,
				w = 0,
				c = 0,
				dims[4],
				nd = 0;

	(void) n_in;
	if (tl_window_dims(l, l->u.conv.rank, &in[0], &h, &w, &c, st) < 0)
		return -1;
	if (l->u.conv.rank == 2)
		dims[nd++] = l->u.conv.k[0];
	dims[nd++] = l->u.conv.k[1];
	dims[nd++] = c;
	dims[nd++] = l->u.conv.filters;
	if (tl_expect_weight(l, 0, "kernel", nd, dims, st) < 0)
		return -1;
	if (l->u.conv.use_bias &&
		tl_expect_weight(l, 1, "bias", 1, &l->u.conv.filters, st) < 0)
		return -1;
	if (tl_conv2d_direct_applies(l))
	{
		tl_free(l->aux);
		l->aux = tl_conv2d_pack(l, c, st);
		if (l->aux == NULL && st->code != TL_OK)
			return -1;
	}
	else if (l->u.conv.rank == 1 && l->u.conv.s[1] == 1 && l->u.conv.k[1] > 1)
	{
		tl_free(l->aux);
		if ((l->aux = conv1d_taps_pack(l, c, st)) == NULL)
			return -1;
	}
	return 0;
}

/* Where the windows of a convolution fall, for one input shape. */
typedef struct conv_geom
{
	int			h, w, c, oh, ow, ph, pw;
	int64_t		kc;				/* patch length: kh * kw * c */
	int64_t		positions;		/* output positions per sample */
	int64_t		chunk;			/* patches per block */
} conv_geom;

static int
conv_geometry(const tl_layer *l, const tl_shape *in, int n, conv_geom *g,
			  tl_status *st)
{
	if (tl_window_dims(l, l->u.conv.rank, in, &g->h, &g->w, &g->c, st) < 0)
		return -1;
	g->oh = tl_window_out(g->h, l->u.conv.k[0], l->u.conv.s[0], l->u.conv.d[0], l->u.conv.pad);
	g->ow = tl_window_out(g->w, l->u.conv.k[1], l->u.conv.s[1], l->u.conv.d[1], l->u.conv.pad);
	g->ph = tl_window_pad_before(g->h, l->u.conv.k[0], l->u.conv.s[0], l->u.conv.d[0], l->u.conv.pad);
	g->pw = tl_window_pad_before(g->w, l->u.conv.k[1], l->u.conv.s[1], l->u.conv.d[1], l->u.conv.pad);
	g->kc = (int64_t) l->u.conv.k[0] * l->u.conv.k[1] * g->c;
	g->positions = (int64_t) g->oh * g->ow;
	g->chunk = PATCH_SCRATCH / g->kc;
	if (g->chunk < 1)
		g->chunk = 1;
	if (g->chunk > g->positions * n)
		g->chunk = g->positions * n;
	return 0;
}

/*
 * Packs the patches of `rows` output positions (counted across samples:
 * at[r], or g0 + r when at is NULL) of x into `patches`; or, given dx,
 * scatters them back: adds each patch row onto the positions of dx it was
 * read from.
 */
static void
im2col(const tl_layer *l, const conv_geom *g, const float *x, float *dx,
	   float *patches, const int64_t *at, int64_t g0, int64_t rows)
{
	int			kh = l->u.conv.k[0],
				kw = l->u.conv.k[1];
	int			c = g->c;
	int64_t		sample = (int64_t) g->h * g->w * c;

	for (int64_t r = 0; r < rows; r++)
	{
		int64_t		gi = at ? at[r] : g0 + r;
		int64_t		b = gi / g->positions,
					p = gi % g->positions;
		int			y = (int) (p / g->ow),
					xo = (int) (p % g->ow);
		float	   *patch = patches + r * g->kc;

		for (int i = 0; i < kh; i++)
		{
			int			iy = y * l->u.conv.s[0] - g->ph + i * l->u.conv.d[0];

			for (int j = 0; j < kw; j++, patch += c)
			{
				int			ix = xo * l->u.conv.s[1] - g->pw + j * l->u.conv.d[1];
				int64_t		src = b * sample + ((int64_t) iy * g->w + ix) * c;

				if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
				{
					if (dx == NULL)
						memset(patch, 0, sizeof(float) * c);
				}
				else if (dx == NULL)
				{
					if (c < 16)	/* few channels: no memcpy call per tap */
						for (int k = 0; k < c; k++)
							patch[k] = x[src + k];
					else
						memcpy(patch, x + src, sizeof(float) * c);
				}
				else
					for (int k = 0; k < c; k++)
						dx[src + k] += patch[k];
			}
		}
	}
}

/*
 * out (rows x f) = bias + sum_j z[r + j*d][j*f ..], z being rows + (taps-1)*d
 * rows of taps * f; leaves z all zeros, so that the next block's sgemm can
 * add onto it (beta = 1): with beta = 0 OpenBLAS first clears the whole of
 * z in a pass of its own, where here each value is cleared as it is read.
 */
static void TL_VECTOR_CLONES
conv1d_taps_sum(float *z, const float *bias, float *out, int64_t rows,
				int f, int taps, int d)
{
	int64_t		ld = (int64_t) taps * f,
				span = (int64_t) (taps - 1) * d;

	for (int64_t r = 0; r < rows; r++)
	{
		float	   *o = out + r * f;

		for (int k = 0; k < f; k++)
			o[k] = bias ? bias[k] : 0.0f;
		for (int j = 0; j < taps; j++)
		{
			float	   *zj = z + (r + (int64_t) j * d) * ld + (int64_t) j * f;

			for (int k = 0; k < f; k++)
			{
				o[k] += zj[k];
				zj[k] = 0.0f;
			}
		}
	}
	/* the values no output row reads: tap j's columns of the first j*d and
	 * the last span - j*d rows */
	for (int j = 0; j < taps; j++)
	{
		for (int64_t r = 0; r < (int64_t) j * d; r++)
			memset(z + r * ld + (int64_t) j * f, 0, sizeof(float) * f);
		for (int64_t r = rows + (int64_t) j * d; r < rows + span; r++)
			memset(z + r * ld + (int64_t) j * f, 0, sizeof(float) * f);
	}
}

/*
 * Conv1D with stride 1 and 'valid' padding, without im2col: one sgemm per
 * block of a sample's input rows against all taps' filters side by side
 * (conv1d_taps_pack), z = x [W_0 .. W_taps-1] (onto zeros), reading the rows in place;
 * output row r is then the bias plus z[r + j*d]'s tap-j columns.  One
 * product with N = taps * f instead of one per tap with N = f: OpenBLAS
 * packs each input row once, not once per tap, and the wider N runs
 * nearer its peak (IMDB Conv1D, N = 224 vs 32: doc/performance.md).
 */
static int
conv1d_taps_forward(const tl_layer *l, tl_exec *ex, const float *x, float *out,
					int n, const conv_geom *g, tl_status *st)
{
	int			f = l->u.conv.filters,
				taps = l->u.conv.k[1],
				d = l->u.conv.d[1],
				c = g->c,
				w = g->w,
				ow = g->ow;
	int			span = (taps - 1) * d;
	int64_t		block = TAPS_Z_FLOATS / ((int64_t) taps * f) - span;
	const float *bias = l->u.conv.use_bias ? l->w[1].data : NULL;
	float	   *z;

	if (block < 1)
		block = 1;
	if (block > ow)
		block = ow;
	z = tl_scratch(ex, (size_t) ((block + span) * taps * f), st);
	if (z == NULL)
		return -1;
	memset(z, 0, sizeof(float) * (size_t) ((block + span) * taps * f));
	for (int b = 0; b < n; b++)
	{
		const float *xb = x + (int64_t) b * w * c;

		for (int64_t r0 = 0; r0 < ow; r0 += block)
		{
			int64_t		rows = ow - r0 < block ? ow - r0 : block;

			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) (rows + span),
						taps * f, c, 1.0f, xb + r0 * c, c, l->aux, taps * f,
						1.0f, z, taps * f);
			conv1d_taps_sum(z, bias, out + ((int64_t) b * ow + r0) * f, rows, f, taps, d);
		}
		tl_check_interrupt();
	}
	return 0;
}

static int
conv_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
			 const tl_shape *in_shape, float *out, const tl_shape *out_shape,
			 int n, tl_status *st)
{
	int			f = l->u.conv.filters;
	float	   *pre = tl_exec_preact(ex);
	conv_geom	g;
	int64_t		total;
	float	   *patches;

	(void) out_shape;
	if (conv_geometry(l, &in_shape[0], n, &g, st) < 0)
		return -1;
	total = g.positions * n;
	if (l->u.conv.rank == 1 && l->u.conv.s[1] == 1 && g.pw == 0 &&
		g.ow == g.w - (l->u.conv.k[1] - 1) * l->u.conv.d[1] && l->u.conv.k[1] > 1 && l->aux)
	{
		if (conv1d_taps_forward(l, ex, in[0], out, n, &g, st) < 0)
			return -1;
		if (pre)
			memcpy(pre, out, sizeof(float) * total * f);
		tl_act_apply(&l->act, out, total, f, 1);
		return 0;
	}
	if (tl_conv2d_direct_applies(l) && l->aux)
	{
		/* a plain ReLU is applied as the output is stored */
		int			relu = pre == NULL && l->act.fn == TL_ACT_RELU && l->act.alpha == 0.0f &&
			l->act.max_value < 0.0f && l->act.threshold == 0.0f;

		if (tl_conv2d_direct(l, ex, in[0], out, n, g.h, g.w, g.c, g.oh, g.ow, g.ph, g.pw, relu, st) < 0)
			return -1;
		if (pre)
			memcpy(pre, out, sizeof(float) * total * f);
		if (!relu)
			tl_act_apply(&l->act, out, total, f, 1);
		return 0;
	}
	patches = tl_scratch(ex, (size_t) (g.chunk * g.kc), st);
	if (patches == NULL)
		return -1;

	for (int64_t g0 = 0; g0 < total; g0 += g.chunk)
	{
		int64_t		rows = total - g0 < g.chunk ? total - g0 : g.chunk;
		float	   *o = out + g0 * f;

		im2col(l, &g, in[0], NULL, patches, NULL, g0, rows);
		if (l->u.conv.use_bias)
			for (int64_t r = 0; r < rows; r++)
				memcpy(o + r * f, l->w[1].data, sizeof(float) * f);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) rows, f, (int) g.kc,
					1.0f, patches, (int) g.kc, l->w[0].data, f,
					l->u.conv.use_bias ? 1.0f : 0.0f, o, f);
		if (pre)
			memcpy(pre + g0 * f, o, sizeof(float) * rows * f);
		tl_act_apply(&l->act, o, rows, f, 1);
		tl_check_interrupt();
	}
	return 0;
}

static int
conv_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
			  const tl_shape *in_shape, const float *out,
			  const tl_shape *out_shape, const float *dout,
			  float *const *din, int n, tl_status *st)
{
	int			f = l->u.conv.filters;
	conv_geom	g;
	int64_t		total,
				idx_off;
	const float *dz;
	float	   *dpatches,
			   *dzc;
	int64_t    *at;

	(void) in;
	(void) out_shape;
	if (conv_geometry(l, &in_shape[0], n, &g, st) < 0)
		return -1;
	total = g.positions * n;
	dz = tl_exec_act_grad(ex, l, out, dout, total, f, st);
	/* scratch: patch gradients, the gathered rows of dz, their positions */
	idx_off = (g.chunk * (g.kc + f) + 1) & ~(int64_t) 1;	/* 8-byte aligned */
	dpatches = dz ? tl_scratch(ex, (size_t) (idx_off + 2 * g.chunk), st) : NULL;
	if (dpatches == NULL)
		return -1;
	dzc = dpatches + g.chunk * g.kc;
	at = (int64_t *) (dpatches + idx_off);
	for (int64_t g0 = 0; g0 < total;)
	{
		int64_t		rows = 0;

		for (; g0 < total && rows < g.chunk; g0++)
		{
			const float *d = dz + g0 * f;
			int			nonzero = 0;

			for (int k = 0; k < f; k++)
				nonzero |= d[k] != 0.0f;
			if (!nonzero)
				continue;
			memcpy(dzc + rows * f, d, sizeof(float) * f);
			at[rows++] = g0;
		}
		if (rows == 0)
			break;
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) rows, (int) g.kc, f,
					1.0f, dzc, f, l->w[0].data, f, 0.0f, dpatches, (int) g.kc);
		im2col(l, &g, NULL, din[0], dpatches, at, 0, rows);
		tl_check_interrupt();
	}
	return 0;
}

static float *
tl_conv_token_table(const tl_layer *conv, const tl_layer *emb, tl_status *st)
{
	int			vocab = emb->u.emb.input_dim,
				dim = emb->u.emb.output_dim;
	int			taps = conv->u.conv.k[1],
				f = conv->u.conv.filters;
	float	   *table = tl_malloc(sizeof(float) * vocab * taps * f);

	if (table == NULL)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory (token table of layer \"%s\")", conv->name);
		return NULL;
	}
	/* row v of tap j: E[v] W_j, W_j = rows j*dim .. of the (taps*dim) x f kernel */
	for (int j = 0; j < taps; j++)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, vocab, f, dim,
					1.0f, emb->w[0].data, dim, conv->w[0].data + (int64_t) j * dim * f, f,
					0.0f, table + (int64_t) j * f, taps * f);
	return table;
}

/*
 * The forward from the token table: each output position is the bias plus
 * one table row per tap.  A window whose ids are those of the window before
 * (a run of padding) repeats its output exactly, without the sums.
 */
static void TL_VECTOR_CLONES
conv_tokens_rows(const float *table, const float *ids, const float *bias,
				 float *out, int n, int w, int ow, int taps, int f,
				 int stride, int dil, int pw)
{
	for (int b = 0; b < n; b++)
	{
		const float *id = ids + (int64_t) b * w;

		for (int x = 0; x < ow; x++)
		{
			float	   *o = out + ((int64_t) b * ow + x) * f;
			int			x0 = x * stride - pw;

			if (x > 0 && stride == 1 && x0 - 1 >= 0 && x0 - 1 + (taps - 1) * dil + dil < w)
			{
				/* ids of this window = the previous window's? */
				int			same = 1;

				for (int j = 0; j < taps; j++)
					same &= id[x0 + j * dil] == id[x0 - 1 + j * dil];
				if (same)
				{
					memcpy(o, o - f, sizeof(float) * f);
					continue;
				}
			}
			if (bias)
				memcpy(o, bias, sizeof(float) * f);
			else
				memset(o, 0, sizeof(float) * f);
			for (int j = 0; j < taps; j++)
			{
				int			ix = x0 + j * dil;
				const float *row;

				if (ix < 0 || ix >= w)
					continue;	/* zero padding adds nothing */
				row = table + ((int64_t) id[ix] * taps + j) * f;
				for (int k = 0; k < f; k++)
					o[k] += row[k];
			}
		}
	}
}

static int
tl_conv_forward_tokens(const tl_layer *l, tl_exec *ex, const float *table,
					   const float *ids, const tl_shape *in_shape, float *out,
					   int n, tl_status *st)
{
	int			f = l->u.conv.filters;
	float	   *pre = tl_exec_preact(ex);
	conv_geom	g = {0};

	if (conv_geometry(l, in_shape, n, &g, st) < 0)
		return -1;
	conv_tokens_rows(table, ids, l->u.conv.use_bias ? l->w[1].data : NULL, out, n,
					 g.w, g.ow, l->u.conv.k[1], f, l->u.conv.s[1], l->u.conv.d[1], g.pw);
	if (pre)
		memcpy(pre, out, sizeof(float) * g.positions * n * f);
	tl_act_apply(&l->act, out, g.positions * n, f, 1);
	return 0;
}

static int
conv_window(const tl_layer *l, tl_window *w)
{
	w->rank = l->u.conv.rank;
	for (int a = 0; a < 2; a++)
	{
		w->k[a] = l->u.conv.k[a];
		w->s[a] = l->u.conv.s[a];
		w->d[a] = l->u.conv.d[a];
	}
	w->pad = l->u.conv.pad;
	return 1;
}

/* A Conv1D reading an Embedding runs from its token table (see above). */
static tl_token_path
conv_token_path(const tl_layer *l)
{
	return l->u.conv.rank == 1 ? TL_TOKENS_ANY_TABLE : TL_TOKENS_NONE;
}

static size_t
conv_token_table_bytes(const tl_layer *l, const tl_layer *emb)
{
	return sizeof(float) * (size_t) emb->u.emb.input_dim * l->u.conv.k[1] * l->u.conv.filters;
}

static int
conv_forward_from_tokens(const tl_layer *l, tl_exec *ex, const tl_layer *emb,
						 const float *table, const float *ids, const tl_shape *ids_shape,
						 const tl_shape *in_shape, float *out, const tl_shape *out_shape,
						 int n, tl_status *st)
{
	return tl_conv_forward_tokens(l, ex, table, ids, in_shape, out, n, st);
}

const tl_layer_ops tl_ops_conv = {
	.family = "conv",
	.configure = conv_configure,
	.shape = conv_shape,
	.n_weights = conv_n_weights,
	.bind = conv_bind,
	.forward = conv_forward,
	.backward = conv_backward,
	.flags = TL_LAYER_LEARNED,
	.window = conv_window,
	.token_path = conv_token_path,
	.token_table_bytes = conv_token_table_bytes,
	.token_table = tl_conv_token_table,
	.forward_tokens = conv_forward_from_tokens,
};
