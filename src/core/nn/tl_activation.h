/*
 * tl_activation.h — Keras activation functions, element-wise or along an axis.
 */
#ifndef TL_ACTIVATION_H
#define TL_ACTIVATION_H

#include <stdint.h>

typedef enum tl_act_fn
{
	TL_ACT_LINEAR,
	TL_ACT_RELU,				/* general Keras relu: slope, max_value, threshold */
	TL_ACT_SIGMOID,
	TL_ACT_HARD_SIGMOID_K2,		/* Keras 2: clip(0.2 x + 0.5, 0, 1) */
	TL_ACT_HARD_SIGMOID_K3,		/* Keras 3: clip(x / 6 + 0.5, 0, 1) */
	TL_ACT_TANH,
	TL_ACT_SOFTMAX,
	TL_ACT_ELU,
	TL_ACT_SELU,
	TL_ACT_SOFTPLUS,
	TL_ACT_SOFTSIGN,
	TL_ACT_SWISH,
	TL_ACT_GELU,
	TL_ACT_EXPONENTIAL,
	TL_ACT_THRESHOLDED,			/* x > theta ? x : 0 */
	TL_ACT_MISH,				/* x tanh(softplus(x)) */
	TL_ACT_HARD_SILU,			/* x relu6(x + 3) / 6 (Keras 3 hard_silu, hard_swish) */
	TL_ACT_LOG_SOFTMAX			/* x - logsumexp(x) along the axis, like softmax */
} tl_act_fn;

/* Whether a runs along an axis (softmax, log_softmax) rather than element-wise. */
#define tl_act_along_axis(a) ((a)->fn == TL_ACT_SOFTMAX || (a)->fn == TL_ACT_LOG_SOFTMAX)

typedef struct tl_act
{
	tl_act_fn	fn;
	float		alpha;			/* relu slope below threshold; elu alpha */
	float		max_value;		/* relu cap; <0 = none */
	float		threshold;		/* relu threshold; thresholded-relu theta */
	int			axis;			/* softmax: per-sample axis, -1 = last */
} tl_act;

/* Fills a for a Keras activation name; -1 if the name is unknown. */
int			tl_act_parse(const char *name, int keras_major, tl_act *a);

/*
 * Applies a in place to x viewed as [outer][len][inner]; softmax and
 * log_softmax run along the middle axis, everything else is element-wise.
 */
void		tl_act_apply(const tl_act *a, float *x, int64_t outer, int64_t len,
						 int64_t inner);

/* Element-wise helpers used by recurrent cells. */
float		tl_act_scalar(const tl_act *a, float x);
/* The derivative of an element-wise activation at pre-activation x. */
float		tl_act_deriv(const tl_act *a, float x);

/*
 * The backward pass of tl_act_apply: dx += J^T dy, with x the
 * pre-activation and y = act(x) (softmax and log_softmax use y, the others
 * x), all viewed
 * as [outer][len][inner].
 */
void		tl_act_backward(const tl_act *a, const float *x, const float *y,
							const float *dy, float *dx, int64_t outer,
							int64_t len, int64_t inner);

#endif							/* TL_ACTIVATION_H */
