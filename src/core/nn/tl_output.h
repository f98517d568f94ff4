/*
 * tl_output.h — what a model's output means: one definition, derived once
 * from the final activation and the training configuration (loss,
 * from_logits), read by losses, predictions, confidences and every label
 * function.
 */
#ifndef TL_OUTPUT_H
#define TL_OUTPUT_H

#include "base/tl_core.h"
#include "nn/tl_loss.h"

typedef enum tl_output_kind
{
	TL_OUTPUT_SOFTMAX,			/* probabilities over the classes */
	TL_OUTPUT_SIGMOID,			/* one unit: p(class 1); several: independent labels */
	TL_OUTPUT_SOFTMAX_LOGITS,	/* logits: softmax gives the probabilities */
	TL_OUTPUT_SIGMOID_LOGITS,	/* logits: sigmoid gives the probabilities */
	TL_OUTPUT_LINEAR_PROBABILITY,	/* a linear head trained as a probability:
									 * Keras clips it to [eps, 1 - eps] */
	TL_OUTPUT_REGRESSION		/* no classes */
} tl_output_kind;

#define TL_OUTPUT_KINDS 6

/* "softmax", "sigmoid", "softmax_logits", "sigmoid_logits", "linear_probability", "regression" */
const char *tl_output_kind_name(tl_output_kind kind);
int			tl_output_kind_parse(const char *name, tl_output_kind *kind);	/* -1 if unknown */

/*
 * The kind of an output of `units` values whose last activation is `final`,
 * trained with `loss` (has_loss = 0: the file records none).  A softmax or
 * sigmoid activation says it all; a linear one is read through the loss:
 * *_from_logits = logits, binary/categorical cross-entropy on a linear output
 * = a probability Keras clips, mse = regression; without a loss, logits.
 * Any other activation (relu, tanh...) is a regression output.
 */
tl_output_kind tl_output_kind_derive(int final_activation, int units, int has_loss,
									 tl_loss_kind loss);

/* The kind of a loaded model's output; loss (or NULL) overrides the training config's. */
int			tl_model_output_kind(const tl_model *m, const tl_loss_kind *loss,
								 tl_output_kind *kind, tl_status *st);

/* Classes an output of `units` values of this kind has: 2 for one unit, 0 for regression. */
int			tl_output_classes(tl_output_kind kind, int units);

/*
 * The class distribution p[0..classes) of one output y[0..units): softmax
 * of logits, sigmoid of a logit, a clipped probability; several independent
 * sigmoid probabilities are normalised to sum to 1.  Fails on a regression
 * kind and on NaN/infinite outputs.
 */
int			tl_output_class_probs(tl_output_kind kind, const float *y, int units,
								  double *p, tl_status *st);

/* The predicted class (argmax of the distribution); -1 for regression. */
int			tl_output_predict(tl_output_kind kind, const float *y, int units);

/* The loss Keras would use for this kind (for runs whose model records none). */
tl_loss_kind tl_output_default_loss(tl_output_kind kind, int units);

#endif							/* TL_OUTPUT_H */
