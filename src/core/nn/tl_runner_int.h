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
	int64_t		bytes_per_sample;
	int			n_last;			/* samples of the last forward */
	int			override;		/* layer whose output the caller gave, or -1 */
	int64_t		samples;		/* samples run so far */
	int		   *token_src;		/* per Conv1D reading an Embedding: it, or -1 */
	float	  **token_table;	/* its tl_conv_token_table, once worth it */
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
#define TL_RUN_CONV_TOKENS 2	/* Conv1D from its token table */
#define TL_RUN_GAP_TOKENS 3		/* GlobalAveragePooling1D from the embedding rows */
#define TL_RUN_RNN_TOKENS 4		/* recurrent layer from its token table */

/*
 * A non-linear activation applied inside a layer's own kernel (Dense,
 * Conv): its pre-activation is kept for the backward pass.  An Activation
 * layer's pre-activation is simply its input.
 */
static inline int
tl_fused_act(const tl_layer *l)
{
	return l->act.fn != TL_ACT_LINEAR && l->ops != &tl_ops_activation;
}

/* Which layers' outputs carry a gradient (tl_backward.c). */
void		tl_backward_plan(tl_runner *r);

#endif							/* TL_RUNNER_INT_H */
