/*
 * tl_output.c — the meaning of a model's output (tl_output.h).
 */
#include <math.h>
#include <string.h>

#include "nn/tl_activation.h"
#include "nn/tl_layer.h"
#include "nn/tl_model_int.h"
#include "nn/tl_output.h"

static const char *const kind_names[TL_OUTPUT_KINDS] = {
	[TL_OUTPUT_SOFTMAX] = "softmax",
	[TL_OUTPUT_SIGMOID] = "sigmoid",
	[TL_OUTPUT_SOFTMAX_LOGITS] = "softmax_logits",
	[TL_OUTPUT_SIGMOID_LOGITS] = "sigmoid_logits",
	[TL_OUTPUT_LINEAR_PROBABILITY] = "linear_probability",
	[TL_OUTPUT_REGRESSION] = "regression",
};

const char *
tl_output_kind_name(tl_output_kind kind)
{
	return (unsigned) kind < TL_OUTPUT_KINDS ? kind_names[kind] : "unknown";
}

int
tl_output_kind_parse(const char *name, tl_output_kind *kind)
{
	for (int i = 0; i < TL_OUTPUT_KINDS; i++)
		if (strcmp(name, kind_names[i]) == 0)
		{
			*kind = (tl_output_kind) i;
			return 0;
		}
	return -1;
}

tl_output_kind
tl_output_kind_derive(int final_activation, int units, int has_loss, tl_loss_kind loss)
{
	switch ((tl_act_fn) final_activation)
	{
		case TL_ACT_SOFTMAX:
			return units > 1 ? TL_OUTPUT_SOFTMAX : TL_OUTPUT_REGRESSION;
		case TL_ACT_SIGMOID:
		case TL_ACT_HARD_SIGMOID_K2:
		case TL_ACT_HARD_SIGMOID_K3:
			return TL_OUTPUT_SIGMOID;
		case TL_ACT_LINEAR:
			break;
		default:
			return TL_OUTPUT_REGRESSION;
	}
	if (!has_loss)
		return units == 1 ? TL_OUTPUT_SIGMOID_LOGITS : TL_OUTPUT_SOFTMAX_LOGITS;
	switch (loss)
	{
		case TL_LOSS_BINARY_CE_LOGITS:
			return TL_OUTPUT_SIGMOID_LOGITS;
		case TL_LOSS_CATEGORICAL_CE_LOGITS:
			return units == 1 ? TL_OUTPUT_SIGMOID_LOGITS : TL_OUTPUT_SOFTMAX_LOGITS;
		case TL_LOSS_BINARY_CE:
		case TL_LOSS_CATEGORICAL_CE:
			return TL_OUTPUT_LINEAR_PROBABILITY;
		case TL_LOSS_MSE:
			return TL_OUTPUT_REGRESSION;
	}
	return TL_OUTPUT_REGRESSION;
}

int
tl_model_output_kind(const tl_model *m, const tl_loss_kind *loss, tl_output_kind *kind,
					 tl_status *st)
{
	const tl_layer *out = &m->layers[m->output];
	int64_t		units = tl_shape_count(&out->out);
	tl_loss_kind trained;
	int			has_loss = 1;
	tl_status	ignored = {0};

	if (loss)
		trained = *loss;
	else
		has_loss = tl_loss_from_training_config(m->training_json, &trained, &ignored) == 0;
	if (units < 1)
		return tl_fail(st, TL_ERR_MODEL, "the model's output has no fixed size; its kind cannot be told");
	/* an output layer is a softmax head if its activation, fused or an
	 * Activation/Softmax layer, is softmax */
	*kind = tl_output_kind_derive(out->act.fn, (int) units, has_loss, trained);
	return 0;
}

int
tl_output_classes(tl_output_kind kind, int units)
{
	if (kind == TL_OUTPUT_REGRESSION || units < 1)
		return 0;
	return units == 1 ? 2 : units;
}

static double
clip_probability(double p)
{
	return p < TL_LOSS_EPSILON ? TL_LOSS_EPSILON : p > 1.0 - TL_LOSS_EPSILON ? 1.0 - TL_LOSS_EPSILON : p;
}

int
tl_output_class_probs(tl_output_kind kind, const float *y, int units, double *p, tl_status *st)
{
	double		sum = 0;

	if (kind == TL_OUTPUT_REGRESSION)
		return tl_fail(st, TL_ERR_ARG, "a regression output has no classes");
	if (units < 1)
		return tl_fail(st, TL_ERR_INPUT, "the output is empty");
	if (tl_output_check_finite(y, units, st) < 0)
		return -1;
	if (units == 1)
	{
		double		p1 = y[0];

		switch (kind)
		{
			case TL_OUTPUT_SIGMOID_LOGITS:
			case TL_OUTPUT_SOFTMAX_LOGITS:
				p1 = 1.0 / (1.0 + exp(-p1));
				break;
			case TL_OUTPUT_LINEAR_PROBABILITY:
				p1 = clip_probability(p1);
				break;
			default:
				p1 = p1 < 0 ? 0 : p1 > 1 ? 1 : p1;
				break;
		}
		p[0] = 1.0 - p1;
		p[1] = p1;
		return 0;
	}
	switch (kind)
	{
		case TL_OUTPUT_SOFTMAX_LOGITS:
			{
				double		mx = y[0];

				for (int j = 1; j < units; j++)
					mx = y[j] > mx ? y[j] : mx;
				for (int j = 0; j < units; j++)
					sum += p[j] = exp(y[j] - mx);
				break;
			}
		case TL_OUTPUT_SIGMOID_LOGITS:
			for (int j = 0; j < units; j++)
				sum += p[j] = 1.0 / (1.0 + exp(-(double) y[j]));
			break;
		case TL_OUTPUT_LINEAR_PROBABILITY:
			/* Keras' categorical cross-entropy: divide by the sum, then clip */
			for (int j = 0; j < units; j++)
				sum += y[j];
			if (!(sum > 0))
				return tl_fail(st, TL_ERR_INPUT,
							   "a linear output read as probabilities must have a positive sum, not %g", sum);
			for (int j = 0; j < units; j++)
				p[j] = clip_probability(y[j] / sum);
			sum = 0;
			for (int j = 0; j < units; j++)
				sum += p[j];
			break;
		default:				/* softmax, independent sigmoids */
			for (int j = 0; j < units; j++)
				sum += p[j] = y[j] < 0 ? 0 : y[j] > 1 ? 1 : y[j];
			break;
	}
	for (int j = 0; j < units; j++)
		p[j] = sum > 0 ? p[j] / sum : 1.0 / units;
	return 0;
}

int
tl_output_predict(tl_output_kind kind, const float *y, int units)
{
	int			best = 0;

	if (kind == TL_OUTPUT_REGRESSION || units < 1)
		return -1;
	if (units == 1)
		return kind == TL_OUTPUT_SIGMOID_LOGITS || kind == TL_OUTPUT_SOFTMAX_LOGITS ? y[0] > 0.0f : y[0] > 0.5f;
	/* every multi-unit kind is monotone in each unit: argmax of the outputs */
	for (int j = 1; j < units; j++)
		if (y[j] > y[best])
			best = j;
	return best;
}

tl_loss_kind
tl_output_default_loss(tl_output_kind kind, int units)
{
	switch (kind)
	{
		case TL_OUTPUT_SOFTMAX:
			return TL_LOSS_CATEGORICAL_CE;
		case TL_OUTPUT_SOFTMAX_LOGITS:
			return units == 1 ? TL_LOSS_BINARY_CE_LOGITS : TL_LOSS_CATEGORICAL_CE_LOGITS;
		case TL_OUTPUT_SIGMOID_LOGITS:
			return TL_LOSS_BINARY_CE_LOGITS;
		case TL_OUTPUT_SIGMOID:
			return TL_LOSS_BINARY_CE;
		case TL_OUTPUT_LINEAR_PROBABILITY:
			return units == 1 ? TL_LOSS_BINARY_CE : TL_LOSS_CATEGORICAL_CE;
		case TL_OUTPUT_REGRESSION:
			break;
	}
	return TL_LOSS_MSE;
}
