/*
 * tl_perception.c — perception vectors.
 *
 * For each chosen layer the output is reduced over time/space to one value
 * per feature (the last, channel axis): the mean by default — global average
 * pooling, which weighs a whole review or image, not one position — or the
 * max.  Each layer's block is then L2-normalised so that wide layers do not
 * drown narrow ones, and the blocks are concatenated in layer order.
 *
 * Width limit: when the blocks together are wider than max_width, block b
 * of width w_b is projected to max(1, floor(w_b * max_width / total))
 * values by a dense ±1/sqrt(d) matrix (Achlioptas) drawn from a splitmix64
 * generator seeded by a hash of the layer's name: the same model gives the
 * same projection in every backend, on every run.  Projected blocks are
 * normalised again.
 */
#include <math.h>
#include <string.h>

#include "base/tl_hash.h"
#include "base/tl_random.h"
#include "analysis/tl_perception.h"
#include "nn/tl_model_int.h"

typedef struct block
{
	int			layer;
	int			channels;		/* features before projection */
	int			width;			/* values in the vector */
	float	   *proj;			/* width x channels, or NULL */
} block;

struct tl_perception
{
	int			use_max;
	int			n_blocks;
	int			width;
	block	   *blocks;
	double	   *acc;			/* pooling accumulator (max channels) */
	int			max_channels;
};

int
tl_layer_has_features(const tl_model *m, int i)
{
	return tl_layer_is(&m->layers[i], TL_LAYER_LEARNED);
}

/* The learned layer that produces the output (through feature-less layers). */
static int
head_layer(const tl_model *m)
{
	int			i = m->output;

	while (i > 0 && !tl_layer_has_features(m, i) && m->layers[i].n_in == 1)
		i = m->layers[i].in[0];
	return i;
}

static int
make_projection(block *b, const char *name, tl_status *st)
{
	uint64_t	seed = tl_hash_string(name);
	float		scale = 1.0f / sqrtf((float) b->width);
	uint64_t	bits = 0;

	b->proj = tl_malloc(sizeof(float) * (size_t) b->width * b->channels);
	if (b->proj == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory for the perception projection");
	for (int64_t k = 0; k < (int64_t) b->width * b->channels; k++)
	{
		if (k % 64 == 0)
			bits = tl_random_next(&seed);
		b->proj[k] = (bits >> (k % 64)) & 1 ? scale : -scale;
	}
	return 0;
}

int
tl_perception_pools_max(const tl_model *m)
{
	int			by_max = 0;

	for (int i = 0; i < m->n_layers; i++)
		if (tl_layer_is(&m->layers[i], TL_LAYER_GLOBAL_POOL))
		{
			if (!m->layers[i].u.gpool.is_max)
				return 0;
			by_max = 1;
		}
	return by_max;
}

tl_perception *
tl_perception_new(const tl_model *m, const int *layers, int n_layers,
				  int use_max, int max_width, tl_status *st)
{
	tl_perception *p = tl_calloc(1, sizeof(tl_perception));
	int			head = head_layer(m);
	int64_t		total = 0;

	if (p == NULL)
		goto nomem;
	p->use_max = use_max == TL_POOL_AUTO ? tl_perception_pools_max(m) : use_max;
	p->blocks = tl_calloc(m->n_layers, sizeof(block));
	if (p->blocks == NULL)
		goto nomem;
	for (int i = 0; i < (layers ? n_layers : m->n_layers); i++)
	{
		int			li = layers ? layers[i] : i;
		const tl_shape *s;
		block	   *b;

		if (li < 0 || li >= m->n_layers)
		{
			tl_fail(st, TL_ERR_ARG, "layer index %d is out of range", li);
			goto fail;
		}
		if (!layers && (!tl_layer_has_features(m, li) || li == head))
			continue;
		for (int k = 0; k < p->n_blocks; k++)
			if (p->blocks[k].layer == li)
			{
				tl_fail(st, TL_ERR_ARG, "layer \"%s\" is listed twice", m->layers[li].name);
				goto fail;
			}
		if (p->n_blocks == m->n_layers)
			break;
		s = &m->layers[li].out;
		b = &p->blocks[p->n_blocks++];
		b->layer = li;
		b->channels = s->nd > 0 ? s->d[s->nd - 1] : 1;
		if (b->channels < 1)
		{
			tl_fail(st, TL_ERR_UNSUPPORTED,
					"layer \"%s\" has no fixed number of features (its last dimension varies)",
					m->layers[li].name);
			goto fail;
		}
		b->width = b->channels;
		total += b->channels;
		if (b->channels > p->max_channels)
			p->max_channels = b->channels;
	}
	if (p->n_blocks == 0)
	{
		tl_fail(st, TL_ERR_ARG, "the model has no layer with learned features before its output layer");
		goto fail;
	}
	for (int k = 0; k < p->n_blocks; k++)
	{
		block	   *b = &p->blocks[k];

		if (total > max_width)
		{
			b->width = (int) ((int64_t) b->channels * max_width / total);
			if (b->width < 1)
				b->width = 1;
			if (make_projection(b, m->layers[b->layer].name, st) < 0)
				goto fail;
		}
		p->width += b->width;
	}
	p->acc = tl_malloc(sizeof(double) * p->max_channels);
	if (p->acc == NULL)
		goto nomem;
	return p;
nomem:
	tl_fail(st, TL_ERR_NOMEM, "out of memory");
fail:
	tl_perception_free(p);
	return NULL;
}

void
tl_perception_free(tl_perception *p)
{
	if (p == NULL)
		return;
	for (int k = 0; p->blocks && k < p->n_blocks; k++)
		tl_free(p->blocks[k].proj);
	tl_free(p->blocks);
	tl_free(p->acc);
	tl_free(p);
}

int
tl_perception_width(const tl_perception *p)
{
	return p->width;
}

int
tl_perception_n_blocks(const tl_perception *p)
{
	return p->n_blocks;
}

void
tl_perception_block(const tl_perception *p, int b, int *layer, int *width)
{
	*layer = p->blocks[b].layer;
	*width = p->blocks[b].width;
}

static void
normalise(float *v, int n)
{
	double		ss = 0;

	for (int i = 0; i < n; i++)
		ss += (double) v[i] * v[i];
	/* an all-zero block (e.g. dead ReLUs) stays zero rather than NaN */
	if (ss > 0)
	{
		float		inv = (float) (1.0 / sqrt(ss));

		for (int i = 0; i < n; i++)
			v[i] *= inv;
	}
}

int
tl_perception_compute(const tl_perception *p, const tl_runner *r, int n,
					  float *out, tl_status *st)
{
	for (int k = 0; k < p->n_blocks; k++)
	{
		const block *b = &p->blocks[k];
		tl_shape	s;
		const float *y = tl_runner_output(r, b->layer, &s);
		int			c = s.nd > 0 ? s.d[s.nd - 1] : 1;
		int64_t		steps = tl_shape_count(&s) / c;
		int			offset = 0;

		if (c != b->channels)
			return tl_fail(st, TL_ERR_INPUT, "layer output has %d features, planned %d", c, b->channels);
		for (int j = 0; j < k; j++)
			offset += p->blocks[j].width;
		for (int i = 0; i < n; i++)
		{
			const float *x = y + (int64_t) i * steps * c;
			float	   *v = out + (int64_t) i * p->width + offset;

			/* one loop per pooling, branch-free inside (they vectorise) */
			double	   *acc = p->acc;

			if (p->use_max)
			{
				for (int ch = 0; ch < c; ch++)
					acc[ch] = x[ch];
				for (int64_t t = 0; t < steps; t++)
					for (int ch = 0; ch < c; ch++)
					{
						double		val = x[t * c + ch];

						acc[ch] = val > acc[ch] ? val : acc[ch];
					}
			}
			else
			{
				for (int ch = 0; ch < c; ch++)
					acc[ch] = 0.0;
				for (int64_t t = 0; t < steps; t++)
					for (int ch = 0; ch < c; ch++)
						acc[ch] += x[t * c + ch];
			}
			if (b->proj == NULL)
			{
				for (int ch = 0; ch < c; ch++)
					v[ch] = (float) (p->use_max ? p->acc[ch] : p->acc[ch] / steps);
			}
			else
			{
				for (int d = 0; d < b->width; d++)
				{
					double		sum = 0;

					for (int ch = 0; ch < c; ch++)
						sum += b->proj[(int64_t) d * c + ch] *
							(p->use_max ? p->acc[ch] : p->acc[ch] / steps);
					v[d] = (float) sum;
				}
			}
			normalise(v, b->width);
		}
	}
	return 0;
}
