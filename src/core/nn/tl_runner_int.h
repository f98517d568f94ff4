/*
 * tl_runner_int.h — the runner's state, shared by the forward pass
 * (tl_runner.c) and the backward pass (tl_backward.c).
 */
#ifndef TL_RUNNER_INT_H
#define TL_RUNNER_INT_H

#include "nn/tl_model_int.h"

struct tl_exec
{
	tl_runner  *r;
	int			layer;			/* the layer being run */
};

struct tl_runner
{
	const tl_model *m;
	int			n_layers;		/* kept: freeing must not touch the model */
	size_t		max_bytes;
	int			planned;
	tl_shape	in_shape;
	tl_shape   *shapes;			/* per layer, for the planned input */
	int64_t    *sizes;			/* per-sample floats per layer */
	int		   *alias;			/* layer whose buffer this layer uses */
	float	  **buf;			/* owned output buffers */
	int			allocated;		/* samples the buffers hold */
	const float **ptr;			/* outputs of the last forward */
	float	   *scratch;
	size_t		scratch_n;
	float	   *mask[4];		/* masks of the current layer's inputs (tl_exec_mask) */
	size_t		mask_n[4];
	int64_t		bytes_per_sample;
	int			n_last;			/* samples of the last forward */
	int			override;		/* layer whose output the caller gave, or -1 */
	int64_t		samples;		/* samples run so far */
	int		   *token_src;		/* per layer that may build its token table: its Embedding, or -1 */
	float	  **token_table;	/* that table, once worth it (tl_fusion.c) */
	int		   *emb_src;		/* per layer reading an Embedding (through aliases): it, or -1 */
	int			fusion;			/* fused paths allowed (tl_runner_set_fusion) */
	int			keep_all;		/* the caller may read every layer's output */
	char	   *keep;			/* per layer: the caller reads its output */
	char	   *mode;			/* per layer, last forward: TL_RUN_* */
	char	   *need;			/* per layer: its output is computed */

	/* the backward pass (tl_backward.c) */
	int			backward;		/* buffers are planned for it */
	char	   *carries;		/* per layer: its output has a gradient */
	char	   *needed;			/* per layer: on a path to the output */
	float	  **grad;			/* per buffer owner that carries a gradient */
	float	  **pre;			/* per layer with a fused activation */
	float	   *dz;				/* gradient w.r.t. a fused pre-activation */
	size_t		dz_n;
	int			before_act;		/* layer whose activation the target precedes */
	int			grads_valid;	/* a backward ran since the last forward */
};

/* How a layer ran in the last forward. */
#define TL_RUN_SKIP 0			/* not computed: nobody reads it */
#define TL_RUN_PLAIN 1
#define TL_RUN_TOKENS 2			/* from the token ids (tl_fusion.c) */

/*
 * A non-linear activation applied inside a layer's own kernel (Dense,
 * Conv): its pre-activation is kept for the backward pass.  An Activation
 * layer's pre-activation is simply its input.
 */
static inline int
tl_fused_act(const tl_layer *l)
{
	return l->act.fn != TL_ACT_LINEAR && !tl_layer_is(l, TL_LAYER_ACTIVATION);
}

/*
 * tl_fusion.c: running layers from token ids.  tl_fusion_sources finds,
 * for a new runner, the Embedding each layer reads (emb_src, token_src);
 * tl_fusion_modes marks the layers that run from token ids in this forward
 * (the others TL_RUN_PLAIN); once the runner knows which outputs are
 * needed, tl_fusion_settle takes back what is not worth it;
 * tl_fusion_forward runs layer ex->layer from the ids.
 */
void		tl_fusion_sources(tl_runner *r);
int			tl_fusion_modes(tl_runner *r, int override, tl_status *st);
void		tl_fusion_settle(tl_runner *r);
int			tl_fusion_forward(tl_runner *r, tl_exec *ex, const tl_shape *in_shape, int n,
							  tl_status *st);

/* Which layers' outputs carry a gradient (tl_backward.c). */
void		tl_backward_plan(tl_runner *r);

#endif							/* TL_RUNNER_INT_H */
