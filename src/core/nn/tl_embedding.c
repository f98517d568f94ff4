/*
 * tl_embedding.c — Embedding: token id → learned vector (a row gather).
 *
 * Token ids arrive as floats (exact for ids below 2^24); each is checked to
 * be a whole number inside [0, input_dim) before it is used as an index.
 */
#include <math.h>
#include <string.h>

#include "nn/tl_layer.h"

static int
emb_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	(void) cx;
	if (tl_cfg_int(cfg, "input_dim", 0, &l->u.emb.input_dim, l, st) < 0 ||
		tl_cfg_int(cfg, "output_dim", 0, &l->u.emb.output_dim, l, st) < 0 ||
		tl_cfg_bool(cfg, "mask_zero", 0, &l->u.emb.mask_zero, l, st) < 0)
		return -1;
	if (l->u.emb.input_dim < 1 || l->u.emb.output_dim < 1 ||
		l->u.emb.input_dim > (1 << 24))
		return tl_fail(st, TL_ERR_MODEL,
					   "layer \"%s\" (Embedding): input_dim must be 1..16777216 and output_dim >= 1",
					   l->name);
	return 0;
}

/* mask_zero=True: id 0 is padding, which the layers that honour masks skip */
static tl_mask_rule
emb_mask_rule(const tl_layer *l)
{
	return l->u.emb.mask_zero ? TL_MASK_MAKE : TL_MASK_DROP;
}

static void
emb_make_mask(const tl_layer *l, const float *ids, const tl_shape *in_shape, int n,
			  float *mask)
{
	int64_t		count = tl_shape_count(in_shape) * n;

	(void) l;
	for (int64_t i = 0; i < count; i++)
		mask[i] = ids[i] != 0.0f;
}

static int
emb_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
		  tl_status *st)
{
	(void) n_in;
	if (in[0].nd + 1 > TL_MAX_DIMS)
		return tl_fail(st, TL_ERR_UNSUPPORTED, "layer \"%s\" (Embedding): input rank too high", l->name);
	*out = in[0];
	out->d[out->nd++] = l->u.emb.output_dim;
	return 0;
}

static int
emb_bind(tl_layer *l, const tl_shape *in, int n_in, tl_status *st)
{
	int			dims[2] = {l->u.emb.input_dim, l->u.emb.output_dim};

	(void) in;
	(void) n_in;
	return tl_expect_weight(l, 0, "embeddings", 2, dims, st);
}

/*
 * Whether every id is a whole number in [0, input_dim): one branch-free
 * pass (it vectorises), then a second one only to name the first bad id.
 */
int
tl_embedding_check_ids(const tl_layer *l, const float *ids, const tl_shape *ids_shape,
					   int n, tl_status *st)
{
	int64_t		per = tl_shape_count(ids_shape);
	int64_t		count = n * per;
	float		lim = (float) l->u.emb.input_dim;
	int32_t		bad = 0;

	for (int64_t i = 0; i < count; i++)
	{
		float		v = ids[i];
		/* out of range (or NaN) becomes 0, which differs from v */
		int32_t		k = (int32_t) (v >= 0.0f && v < lim ? v : 0.5f);

		bad |= (float) k != v;
	}
	if (!bad)
		return 0;
	for (int64_t i = 0; i < count; i++)
	{
		float		v = ids[i];

		if (!(v >= 0 && v < lim) || v != floorf(v))
			return tl_fail(st, TL_ERR_RANGE,
						   "token id %g at position %lld is out of range: Embedding \"%s\" accepts ids 0 to %d",
						   (double) v, (long long) (i % per) + 1, l->name, l->u.emb.input_dim - 1);
	}
	return 0;
}

static int
emb_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
			const tl_shape *in_shape, float *out, const tl_shape *out_shape,
			int n, tl_status *st)
{
	int64_t		count = n * tl_shape_count(&in_shape[0]);
	int			dim = l->u.emb.output_dim;
	const float *table = l->w[0].data;

	(void) ex;
	(void) out_shape;
	if (tl_embedding_check_ids(l, in[0], &in_shape[0], n, st) < 0)
		return -1;
	for (int64_t i = 0; i < count; i++)
		memcpy(out + i * dim, table + (int64_t) in[0][i] * dim, sizeof(float) * dim);
	return 0;
}

const tl_layer_ops tl_ops_embedding = {
	.family = "embedding",
	.configure = emb_configure,
	.shape = emb_shape,
	.n_weights = tl_one_weight,
	.bind = emb_bind,
	.forward = emb_forward,
	.flags = TL_LAYER_TOKENS | TL_LAYER_LEARNED,
	.mask_rule = emb_mask_rule,
	.make_mask = emb_make_mask,
};
