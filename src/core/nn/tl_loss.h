/*
 * tl_loss.h — per-sample losses the way Keras computes them.
 */
#ifndef TL_LOSS_H
#define TL_LOSS_H

#include "base/tl_core.h"

typedef enum tl_loss_kind
{
	TL_LOSS_BINARY_CE,
	TL_LOSS_BINARY_CE_LOGITS,
	TL_LOSS_CATEGORICAL_CE,
	TL_LOSS_CATEGORICAL_CE_LOGITS,
	TL_LOSS_MSE
} tl_loss_kind;

/* Keras' epsilon: probabilities are clipped to [eps, 1 - eps]. */
#define TL_LOSS_EPSILON 1e-7

/* Parses a loss name (Keras function or class name); -1 if unknown. */
int			tl_loss_parse(const char *name, tl_loss_kind *kind);

/*
 * The loss named in a model's training_config JSON (Keras 2: "loss":
 * "binary_crossentropy"; Keras 3: {"class_name": "BinaryCrossentropy",
 * "config": {"from_logits": ...}}).  Fails with TL_ERR_NOT_FOUND when the
 * config names none, TL_ERR_UNSUPPORTED for a loss not handled here.
 */
int			tl_loss_from_training_config(const char *json, tl_loss_kind *kind,
										 tl_status *st);

/* Loss of one output vector y[0..n) for an integer label; NaN-free. */
int			tl_loss(tl_loss_kind kind, const float *y, int n, int label,
					double *loss, tl_status *st);

/* Fails (TL_ERR_NAN, naming the position) on a NaN or infinite output value. */
int			tl_output_check_finite(const float *y, int n, tl_status *st);

/* argmax, or (y > 0.5) for a single unit. */
int			tl_predict_class(const float *y, int n);

#endif							/* TL_LOSS_H */
