/*
 * tl_fusion.c — running layers from token ids (doc/performance.md).
 *
 * A layer that reads an Embedding (through aliases such as Dropout) may run
 * from the ids instead of the embedding vectors, the way its ops table says
 * (tl_layer_ops.token_path): from a per-token table the model holds
 * (tl_model_prepare_fusion), from one the runner builds once the samples run
 * so far have cost as many rows as the table has, or from the embedding
 * rows the ids pick.  The Embedding's output is then not written unless
 * someone reads it.  Results equal the plain path's up to float rounding.
 */
#include <string.h>

#include "nn/tl_runner_int.h"

/* The largest token table a runner builds, in floats (16 MiB). */
#define TOKEN_TABLE_MAX (4 * 1024 * 1024)

/*
 * The Embedding that layer i reads as its single input, through aliasing
 * layers, or 0.  An Embedding that makes a mask is none: its readers honour
 * the mask on the plain path.
 */
static int
source_of(const tl_model *m, int i)
{
	const tl_layer *l = &m->layers[i];
	int			src = i > 0 && l->n_in == 1 ? l->in[0] : 0;

	while (src > 0 && m->layers[src].ops->aliases_input)
		src = m->layers[src].in[0];
	return tl_layer_is(&m->layers[src], TL_LAYER_TOKENS) && m->layers[src].mask == 0 ? src : 0;
}

void
tl_fusion_sources(tl_runner *r)
{
	const tl_model *m = r->m;

	for (int i = 0; i < m->n_layers; i++)
	{
		const tl_layer *l = &m->layers[i];
		int			src = source_of(m, i);

		r->token_src[i] = -1;
		r->emb_src[i] = src > 0 ? src : -1;
		if (r->emb_src[i] >= 0 && tl_layer_token_path(l) == TL_TOKENS_ANY_TABLE &&
			l->ops->token_table_bytes(l, &m->layers[src]) <= sizeof(float) * TOKEN_TABLE_MAX)
			r->token_src[i] = src;
	}
}

/*
 * Whether layer i runs from a token table it may build (1): the model's,
 * or the runner's own, built once the samples run so far have cost as many
 * rows (output positions) as the table has (one per token id); or runs as
 * usual (0); -1 on failure.
 */
static int
use_token_table(tl_runner *r, int i, int override, tl_status *st)
{
	const tl_layer *l = &r->m->layers[i];
	int			e = r->token_src[i];
	const tl_shape *os = &r->shapes[i];

	if (e < 0 || override == e || !r->fusion)
		return 0;
	if (l->fused)
		return 1;
	if (r->token_table[i] == NULL)
	{
		if (r->samples * (r->sizes[i] / os->d[os->nd - 1]) < r->m->layers[e].u.emb.input_dim)
			return 0;
		r->token_table[i] = l->ops->token_table(l, &r->m->layers[e], st);
		if (r->token_table[i] == NULL)
			return -1;
	}
	return 1;
}

int
tl_fusion_modes(tl_runner *r, int override, tl_status *st)
{
	const tl_model *m = r->m;

	for (int i = 1; i < m->n_layers; i++)
	{
		const tl_layer *l = &m->layers[i];
		int			e = r->emb_src[i];
		int			tok;
		tl_token_path path;

		r->mode[i] = TL_RUN_PLAIN;
		if (r->alias[i] != i || i == override)
			continue;
		tok = e >= 0 && override != e && r->fusion && !r->backward;
		switch (use_token_table(r, i, override, st))
		{
			case 1:
				r->mode[i] = TL_RUN_TOKENS;
				continue;
			case 0:
				break;
			default:
				return -1;
		}
		path = tl_layer_token_path(l);
		if (tok && ((path == TL_TOKENS_TABLE && l->fused) || path == TL_TOKENS_ROWS))
			r->mode[i] = TL_RUN_TOKENS;
	}
	return 0;
}

void
tl_fusion_settle(tl_runner *r)
{
	const tl_model *m = r->m;

	/* a layer that reads the rows of a computed Embedding reads its output as usual */
	for (int i = 1; i < m->n_layers; i++)
		if (r->mode[i] == TL_RUN_TOKENS && tl_layer_token_path(&m->layers[i]) == TL_TOKENS_ROWS &&
			r->need[r->alias[r->emb_src[i]]])
			r->mode[i] = TL_RUN_PLAIN;
}

/* Ids read by layer i from token ids (its Embedding's input), checked. */
static const float *
token_ids(tl_runner *r, int i, int n, const tl_shape **shape, tl_status *st)
{
	const tl_layer *e = &r->m->layers[r->emb_src[i]];
	const float *ids = r->ptr[e->in[0]];

	*shape = &r->shapes[e->in[0]];
	/* the Embedding checked them when it ran; else check them here */
	if (r->mode[r->emb_src[i]] == TL_RUN_SKIP &&
		tl_embedding_check_ids(e, ids, *shape, n, st) < 0)
		return NULL;
	return ids;
}

int
tl_fusion_forward(tl_runner *r, tl_exec *ex, const tl_shape *in_shape, int n, tl_status *st)
{
	int			i = ex->layer;
	const tl_layer *l = &r->m->layers[i];
	const tl_shape *ids_shape;
	const float *ids = token_ids(r, i, n, &ids_shape, st);

	if (ids == NULL)
		return -1;
	return l->ops->forward_tokens(l, ex, &r->m->layers[r->emb_src[i]],
								  l->fused ? l->fused : r->token_table[i], ids, ids_shape,
								  in_shape, r->buf[i], &r->shapes[i], n, st);
}

void
tl_runner_set_fusion(tl_runner *r, int on)
{
	r->fusion = on != 0;
}

int
tl_runner_fused(const tl_runner *r, int layer)
{
	if (layer < 0)
		layer = r->m->output;
	return layer > 0 && layer < r->n_layers && r->mode[layer] == TL_RUN_TOKENS;
}

int64_t
tl_model_prepare_fusion(tl_model *m, size_t max_bytes, tl_status *st)
{
	size_t		total = 0;
	int64_t		added = 0;

	for (int i = 1; i < m->n_layers; i++)
		total += m->layers[i].fused_bytes;
	for (int i = 1; i < m->n_layers; i++)
	{
		tl_layer   *l = &m->layers[i];
		int			src = source_of(m, i);
		const tl_layer *e = &m->layers[src];
		tl_token_path path = tl_layer_token_path(l);
		size_t		bytes;
		float	   *t;

		if (l->fused || src == 0 ||
			(path != TL_TOKENS_TABLE && path != TL_TOKENS_ANY_TABLE))
			continue;
		bytes = l->ops->token_table_bytes(l, e);
		if (total + bytes > max_bytes)
			continue;
		t = l->ops->token_table(l, e, st);
		if (t == NULL)
			return -1;
		l->fused = t;
		l->fused_bytes = bytes;
		total += bytes;
		added += (int64_t) bytes;
	}
	return added;
}
