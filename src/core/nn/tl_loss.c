/*
 * tl_loss.c — Keras losses for one sample, in double precision.
 *
 * Probabilities are clipped to [1e-7, 1 - 1e-7] as Keras does, so a
 * confident wrong answer costs a large finite loss (-log(2e-7) ≈ 15.42 for
 * binary cross-entropy) instead of infinity.  Labels are class indices; for
 * binary cross-entropy with one unit the label is 0 or 1, with several
 * units it is one-hot encoded and the per-unit losses averaged (Keras'
 * mean over the last axis).
 */
#include <math.h>
#include <string.h>
#include <jansson.h>

#include "nn/tl_loss.h"

static const struct
{
	const char *name;
	tl_loss_kind kind;
}			loss_names[] =
{
	{"binary_crossentropy", TL_LOSS_BINARY_CE},
	{"BinaryCrossentropy", TL_LOSS_BINARY_CE},
	{"binary_crossentropy_from_logits", TL_LOSS_BINARY_CE_LOGITS},
	{"categorical_crossentropy", TL_LOSS_CATEGORICAL_CE},
	{"CategoricalCrossentropy", TL_LOSS_CATEGORICAL_CE},
	{"sparse_categorical_crossentropy", TL_LOSS_CATEGORICAL_CE},
	{"SparseCategoricalCrossentropy", TL_LOSS_CATEGORICAL_CE},
	{"categorical_crossentropy_from_logits", TL_LOSS_CATEGORICAL_CE_LOGITS},
	{"mse", TL_LOSS_MSE},
	{"mean_squared_error", TL_LOSS_MSE},
	{"MeanSquaredError", TL_LOSS_MSE},
};

int
tl_loss_parse(const char *name, tl_loss_kind *kind)
{
	for (size_t i = 0; i < sizeof(loss_names) / sizeof(loss_names[0]); i++)
		if (strcmp(name, loss_names[i].name) == 0)
		{
			*kind = loss_names[i].kind;
			return 0;
		}
	return -1;
}

int
tl_loss_from_training_config(const char *json, tl_loss_kind *kind, tl_status *st)
{
	json_error_t err;
	json_t	   *root = json ? json_loads(json, 0, &err) : NULL;
	json_t	   *loss = json_object_get(root, "loss");
	const char *name = NULL;
	int			from_logits = 0,
				rc;

	if (json_is_string(loss))
		name = json_string_value(loss);
	else if (json_is_object(loss))
	{
		json_t	   *cfg = json_object_get(loss, "config");

		name = json_string_value(json_object_get(loss, "class_name"));
		from_logits = json_is_true(json_object_get(cfg, "from_logits"));
	}
	if (name == NULL)
		rc = tl_fail(st, TL_ERR_NOT_FOUND,
					 "the model file records no loss (no training_config with a single loss)");
	else if (tl_loss_parse(name, kind) < 0)
		rc = tl_fail(st, TL_ERR_UNSUPPORTED,
					 "the model was trained with loss \"%s\", which tl_loss does not compute", name);
	else
	{
		if (from_logits && *kind == TL_LOSS_BINARY_CE)
			*kind = TL_LOSS_BINARY_CE_LOGITS;
		else if (from_logits && *kind == TL_LOSS_CATEGORICAL_CE)
			*kind = TL_LOSS_CATEGORICAL_CE_LOGITS;
		rc = 0;
	}
	json_decref(root);
	return rc;
}

int
tl_output_check_finite(const float *y, int n, tl_status *st)
{
	for (int i = 0; i < n; i++)
		if (!isfinite(y[i]))
			return tl_fail(st, TL_ERR_NAN, "the output has %s at position %d",
						   isnan(y[i]) ? "NaN" : "an infinite value", i + 1);
	return 0;
}

static double
clip(double p)
{
	return p < TL_LOSS_EPSILON ? TL_LOSS_EPSILON :
		p > 1.0 - TL_LOSS_EPSILON ? 1.0 - TL_LOSS_EPSILON : p;
}

/* log(sigmoid(z)) without overflow */
static double
log_sigmoid(double z)
{
	return z >= 0 ? -log1p(exp(-z)) : z - log1p(exp(z));
}

int
tl_loss(tl_loss_kind kind, const float *y, int n, int label, double *loss,
		tl_status *st)
{
	double		total = 0;

	if (n < 1)
		return tl_fail(st, TL_ERR_INPUT, "the output is empty");
	if (tl_output_check_finite(y, n, st) < 0)
		return -1;
	if (n == 1 && kind != TL_LOSS_MSE && kind != TL_LOSS_BINARY_CE &&
		kind != TL_LOSS_BINARY_CE_LOGITS)
		return tl_fail(st, TL_ERR_ARG,
					   "categorical cross-entropy needs one output per class; this output has 1 value");
	/* one-unit mse is a regression on the label's value; otherwise classes */
	if (!(kind == TL_LOSS_MSE && n == 1) && (label < 0 || label >= (n == 1 ? 2 : n)))
		return tl_fail(st, TL_ERR_RANGE,
					   "label %d is out of range: the output has %d %s, so labels are 0 to %d",
					   label, n, n == 1 ? "unit (binary)" : "classes", n == 1 ? 1 : n - 1);

	switch (kind)
	{
		case TL_LOSS_BINARY_CE:
		case TL_LOSS_BINARY_CE_LOGITS:
			for (int i = 0; i < n; i++)
			{
				double		t = n == 1 ? label : (i == label);

				if (kind == TL_LOSS_BINARY_CE)
				{
					/* Keras: clip, then log(p + eps) and log(1 - p + eps) */
					double		p = clip(y[i]);

					total -= t * log(p + TL_LOSS_EPSILON) +
						(1 - t) * log(1 - p + TL_LOSS_EPSILON);
				}
				else
					total -= t * log_sigmoid(y[i]) + (1 - t) * log_sigmoid(-y[i]);
			}
			*loss = total / n;
			return 0;
		case TL_LOSS_CATEGORICAL_CE:
			{
				/* Keras renormalises the outputs to sum to 1 before clipping */
				double		sum = 0;

				for (int i = 0; i < n; i++)
					sum += y[i];
				if (!(sum > 0))
					return tl_fail(st, TL_ERR_INPUT,
								   "categorical cross-entropy needs probabilities; these outputs sum to %g", sum);
				*loss = -log(clip(y[label] / sum));
				return 0;
			}
		case TL_LOSS_CATEGORICAL_CE_LOGITS:
			{
				double		mx = y[0],
							sum = 0;

				for (int i = 1; i < n; i++)
					mx = y[i] > mx ? y[i] : mx;
				for (int i = 0; i < n; i++)
					sum += exp(y[i] - mx);
				*loss = log(sum) - (y[label] - mx);
				return 0;
			}
		case TL_LOSS_MSE:
			for (int i = 0; i < n; i++)
			{
				double		t = n == 1 ? label : (i == label);

				total += (y[i] - t) * (y[i] - t);
			}
			*loss = total / n;
			return 0;
	}
	return tl_fail(st, TL_ERR_ARG, "unknown loss kind");
}

int
tl_predict_class(const float *y, int n)
{
	int			best = 0;

	if (n == 1)
		return y[0] > 0.5f;
	for (int i = 1; i < n; i++)
		if (y[i] > y[best])
			best = i;
	return best;
}
