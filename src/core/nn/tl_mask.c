/*
 * tl_mask.c — Keras masks: which steps of a sequence are padding.
 *
 * Embedding(mask_zero=True) and Masking make a mask (one value per step: 1
 * real, 0 padding); layers that keep it (Keras supports_masking: Dropout,
 * activations, Dense, normalisation, merges, recurrent layers returning
 * sequences) pass it on; the others drop it, as Keras drops it with a
 * warning.  A model records, per layer, which layer made the mask its output
 * carries (tl_model_find_masks); a layer that honours the mask (recurrent
 * layers, GlobalAveragePooling1D) asks the runner for it while it runs
 * (tl_exec_mask), which recomputes it from the maker's input: the token ids
 * or the values Masking compares.
 */
#include <string.h>

#include "nn/tl_runner_int.h"

tl_mask_rule
tl_mask_keep(const tl_layer *l)
{
	(void) l;
	return TL_MASK_KEEP;
}

int
tl_model_find_masks(tl_model *m, tl_status *st)
{
	for (int i = 1; i < m->n_layers; i++)
	{
		tl_layer   *l = &m->layers[i];
		tl_mask_rule rule = l->ops->mask_rule ? l->ops->mask_rule(l) : TL_MASK_DROP;

		l->mask = 0;
		if (rule == TL_MASK_MAKE)
			l->mask = i;
		else if (rule == TL_MASK_KEEP)
			for (int k = 0; k < l->n_in; k++)
			{
				int			mk = m->layers[l->in[k]].mask;

				/* Keras would AND them; two makers meet rarely enough to refuse */
				if (mk && l->mask && mk != l->mask)
					return tl_fail(st, TL_ERR_UNSUPPORTED,
								   "layer \"%s\" (%s) merges the masks of \"%s\" and \"%s\"; one mask per layer is supported",
								   l->name, l->class_name, m->layers[l->mask].name,
								   m->layers[mk].name);
				if (mk)
					l->mask = mk;
			}
	}
	return 0;
}

int
tl_exec_mask(tl_exec *ex, int input, int64_t steps, int n, const float **mask,
			 tl_status *st)
{
	tl_runner  *r = ex->r;
	const tl_model *m = r->m;
	const tl_layer *l = &m->layers[ex->layer];
	const tl_layer *maker;
	const tl_shape *ms;
	int			mk,
				src;
	int64_t		have;
	size_t		need;

	*mask = NULL;
	if (input < 0 || input >= l->n_in || input >= 4 ||
		(mk = m->layers[l->in[input]].mask) == 0)
		return 0;
	maker = &m->layers[mk];
	src = maker->in[0];
	ms = &r->shapes[mk];
	have = tl_shape_count(ms) / ms->d[ms->nd - 1];
	if (have != steps)
		return tl_fail(st, TL_ERR_UNSUPPORTED,
					   "layer \"%s\" (%s): the mask made by \"%s\" has %lld steps, the input %lld",
					   l->name, l->class_name, maker->name, (long long) have, (long long) steps);
	if (r->ptr[src] == NULL)
		return tl_fail(st, TL_ERR_ARG,
					   "layer \"%s\": the input of \"%s\", which makes its mask, was not computed",
					   l->name, maker->name);
	need = (size_t) (steps * n);
	if (need > r->mask_n[input])
	{
		float	   *p = tl_realloc(r->mask[input], sizeof(float) * need);

		if (p == NULL)
			return tl_fail(st, TL_ERR_NOMEM, "out of memory (mask of %zu steps)", need);
		r->mask[input] = p;
		r->mask_n[input] = need;
	}
	maker->ops->make_mask(maker, r->ptr[src], &r->shapes[src], n, r->mask[input]);
	*mask = r->mask[input];
	return 0;
}
