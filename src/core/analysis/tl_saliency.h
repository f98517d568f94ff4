/*
 * tl_saliency.h — which parts of one input drive a model's score for a
 * class: gradient attributions, integrated gradients, occlusion, Grad-CAM,
 * and faithfulness metrics to compare them (tl_saliency.c,
 * tl_faithfulness.c).
 *
 * The score of a class is taken before the model's final activation (the
 * logit): for a single output unit (sigmoid or linear) class 1 scores z and
 * class 0 scores -z; with several units class k scores z_k (before the
 * softmax).  Attributions are per token position of the fitted sequence for
 * token models (the Embedding's output is the differentiated input) and per
 * input element otherwise.
 */
#ifndef TL_SALIENCY_H
#define TL_SALIENCY_H

#include "base/tl_core.h"

typedef enum tl_sal_method
{
	TL_SAL_GRADIENT,			/* |d score / d input| (L2 over an embedding) */
	TL_SAL_GRAD_INPUT,			/* gradient x input, summed over an embedding */
	TL_SAL_INTEGRATED_GRADIENTS,	/* from a zero baseline */
	TL_SAL_OCCLUSION,			/* score drop when a position is blanked */
	TL_SAL_GRAD_CAM,			/* Grad-CAM on a convolution, mapped back */
	TL_SAL_LAYER_CAM,			/* LayerCAM: per-position gradient weights */
	TL_SAL_RANDOM				/* seeded random scores: a baseline ranking */
} tl_sal_method;

#define TL_SAL_MAX_STEPS 1024	/* integrated gradients */
#define TL_OOV_ID 2				/* Keras IMDB: the out-of-vocabulary id */

typedef struct tl_sal_opts
{
	tl_sal_method method;
	int			target;			/* the class (see above) */
	int			steps;			/* integrated gradients: 1..TL_SAL_MAX_STEPS */
	int			layer;			/* Grad-CAM: a convolution, -1 = the last one */
	uint64_t	seed;			/* random */
} tl_sal_opts;

/* Parses a method name ("grad_input"...); fails listing the names. */
int			tl_sal_method_parse(const char *name, tl_sal_method *out,
								tl_status *st);

/*
 * Which output unit and sign give class `target`'s score for an output of
 * `units` units (see above).
 */
int			tl_sal_target(int units, int target, int *unit, float *sign,
						  tl_status *st);

/*
 * Attributes the score of o->target for one sample x (shape `in`, token ids
 * as floats for token models) with method o->method; writes one score per
 * element of x.  r must be a runner of m; it is prepared for backward
 * passes and its buffers are reused from call to call.
 *
 * Token models: gradient = L2 norm of the gradient at each position's
 * embedding vector; grad_input = sum over the embedding of gradient times
 * embedding; integrated_gradients = the same with the gradient averaged
 * over `steps` midpoints on the straight path from all-zero embeddings;
 * occlusion = score drop when the token is replaced by TL_OOV_ID (padding
 * positions and OOV tokens score 0); grad_cam/layer_cam = the class
 * activation map of a convolution, each position taking the mean of the
 * map over the windows whose receptive field covers it.  Models taking
 * real numbers: the same per element, occlusion setting a position (all
 * channels of one element of the leading axes) to 0.
 */
int			tl_saliency(const tl_model *m, tl_runner *r, const tl_shape *in,
						const float *x, const tl_sal_opts *o, float *scores,
						tl_status *st);

/*
 * Integrated gradients and their completeness: the attributions (written
 * to scores unless NULL) sum to about score(x) - score(baseline).
 */
typedef struct tl_ig_result
{
	double		score;			/* the class score of x */
	double		baseline;		/* ... of the all-zero baseline */
	double		sum;			/* the sum of the attributions */
} tl_ig_result;

int			tl_integrated_gradients(const tl_model *m, tl_runner *r,
									const tl_shape *in, const float *x,
									const tl_sal_opts *o, float *scores,
									tl_ig_result *res, tl_status *st);

/* ---- faithfulness (tl_faithfulness.c) ---------------------------------- */
#define TL_FAITH_BINS 5			/* the top 1, 5, 10, 20 and 50 % of tokens */
#define TL_FAITH_CURVE 11		/* deletion curve: 0, 10, ..., 100 % erased */

extern const double tl_faith_bins[TL_FAITH_BINS];

/*
 * ERASER-style faithfulness of a ranking of a token sequence's positions.
 * The real (non-padding) tokens are ranked by score, highest first; erasing
 * a token replaces it by the padding id 0 in place, so every variant keeps
 * the sequence's length and they all run as batches.  Scores are the class
 * score (the logit, see above).
 */
typedef struct tl_faithfulness
{
	int			n_tokens;		/* real tokens ranked */
	double		score;			/* the class score of the sequence */
	double		empty;			/* ... with every token erased */
	/* score - score with the top k % erased, mean over the bins (AOPC) */
	double		comprehensiveness;
	/* score - score with all but the top k % erased, mean over the bins */
	double		sufficiency;
	/* area under the score as the top 0..100 % are erased (x in [0, 1]) */
	double		deletion_auc;
	double		comprehensiveness_at[TL_FAITH_BINS];
	double		sufficiency_at[TL_FAITH_BINS];
} tl_faithfulness;

int			tl_faithfulness_eval(const tl_model *m, tl_runner *r,
								 const tl_shape *in, const float *x,
								 const float *scores, int target,
								 tl_faithfulness *f, tl_status *st);

/* ---- shared by tl_saliency.c and tl_faithfulness.c --------------------- */

/*
 * Runs n samples (batch-major; any number, in batches of the runner's
 * capacity) forward and writes each one's class score (unit, sign from
 * tl_sal_target) to out.
 */
int			tl_sal_scores(tl_runner *r, const tl_shape *in, const float *x,
						  int n, int unit, float sign, double *out,
						  tl_status *st);

#endif							/* TL_SALIENCY_H */
