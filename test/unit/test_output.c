/*
 * test_output.c — output semantics (nn/tl_output.h): every head kind derived
 * from activation and loss (from_logits both ways), class distributions and
 * predictions against values derived by hand.
 */
#include <string.h>

#include "nn/tl_activation.h"
#include "nn/tl_output.h"
#include "test_util.h"

static void
test_derive(void)
{
	/* softmax / sigmoid activations say it all, whatever the loss */
	CHECK(tl_output_kind_derive(TL_ACT_SOFTMAX, 10, 1, TL_LOSS_CATEGORICAL_CE) == TL_OUTPUT_SOFTMAX, "softmax head");
	CHECK(tl_output_kind_derive(TL_ACT_SIGMOID, 1, 1, TL_LOSS_BINARY_CE) == TL_OUTPUT_SIGMOID, "one sigmoid unit");
	CHECK(tl_output_kind_derive(TL_ACT_SIGMOID, 5, 0, TL_LOSS_MSE) == TL_OUTPUT_SIGMOID, "independent sigmoids");
	/* a linear head: from_logits both ways */
	CHECK(tl_output_kind_derive(TL_ACT_LINEAR, 1, 1, TL_LOSS_BINARY_CE_LOGITS) == TL_OUTPUT_SIGMOID_LOGITS,
		  "linear + binary_crossentropy(from_logits=True) = logit");
	CHECK(tl_output_kind_derive(TL_ACT_LINEAR, 1, 1, TL_LOSS_BINARY_CE) == TL_OUTPUT_LINEAR_PROBABILITY,
		  "linear + binary_crossentropy(from_logits=False) = clipped probability (the IMDB Conv1D)");
	CHECK(tl_output_kind_derive(TL_ACT_LINEAR, 10, 1, TL_LOSS_CATEGORICAL_CE_LOGITS) == TL_OUTPUT_SOFTMAX_LOGITS,
		  "linear + categorical(from_logits=True) = logits");
	CHECK(tl_output_kind_derive(TL_ACT_LINEAR, 10, 1, TL_LOSS_CATEGORICAL_CE) == TL_OUTPUT_LINEAR_PROBABILITY,
		  "linear + categorical(from_logits=False) = probabilities Keras renormalises");
	CHECK(tl_output_kind_derive(TL_ACT_LINEAR, 1, 1, TL_LOSS_MSE) == TL_OUTPUT_REGRESSION, "mse = regression");
	CHECK(tl_output_kind_derive(TL_ACT_LINEAR, 1, 0, TL_LOSS_MSE) == TL_OUTPUT_SIGMOID_LOGITS, "no loss: logit");
	CHECK(tl_output_kind_derive(TL_ACT_LINEAR, 3, 0, TL_LOSS_MSE) == TL_OUTPUT_SOFTMAX_LOGITS, "no loss: logits");
	CHECK(tl_output_kind_derive(TL_ACT_RELU, 1, 1, TL_LOSS_BINARY_CE) == TL_OUTPUT_REGRESSION, "relu head");
	CHECK(tl_output_kind_derive(TL_ACT_TANH, 2, 0, TL_LOSS_MSE) == TL_OUTPUT_REGRESSION, "tanh head");
	for (int k = 0; k < TL_OUTPUT_KINDS; k++)
	{
		tl_output_kind back;

		CHECK(tl_output_kind_parse(tl_output_kind_name((tl_output_kind) k), &back) == 0 && back == (tl_output_kind) k,
			  "kind %d round-trips through its name", k);
	}
	{
		tl_output_kind back;

		CHECK(tl_output_kind_parse("probability", &back) < 0, "unknown kind refused");
	}
}

static void
test_probs(void)
{
	double		p[3];
	tl_status	st = {0};
	float		z = 0.8f,
				big = 1.8f,
				neg = -2.1f,
				logits[3] = {1, 2, 3},
				soft[3] = {0.2f, 0.5f, 0.3f},
				multi[3] = {0.9f, 0.6f, 0.0f},
				lin[3] = {2, 1, 1},
				nan = NAN;

	CHECK(tl_output_class_probs(TL_OUTPUT_SIGMOID, &z, 1, p, &st) == 0, "sigmoid");
	CHECK_NEAR(p[1], 0.8, 1e-7);
	CHECK_NEAR(p[0], 0.2, 1e-7);
	CHECK(tl_output_class_probs(TL_OUTPUT_SIGMOID_LOGITS, &z, 1, p, &st) == 0, "logit");
	CHECK_NEAR(p[1], 1.0 / (1.0 + exp(-0.8)), 1e-7);
	/* a linear probability head is clipped as Keras' binary cross-entropy reads it */
	CHECK(tl_output_class_probs(TL_OUTPUT_LINEAR_PROBABILITY, &big, 1, p, &st) == 0, "clipped high");
	CHECK_NEAR(p[1], 1 - 1e-7, 1e-12);
	CHECK(tl_output_class_probs(TL_OUTPUT_LINEAR_PROBABILITY, &neg, 1, p, &st) == 0, "clipped low");
	CHECK_NEAR(p[1], 1e-7, 1e-12);
	CHECK(tl_output_class_probs(TL_OUTPUT_SOFTMAX_LOGITS, logits, 3, p, &st) == 0, "softmax of logits");
	{
		double		s = exp(1) + exp(2) + exp(3);

		CHECK_NEAR(p[0], exp(1) / s, 1e-12);
		CHECK_NEAR(p[2], exp(3) / s, 1e-12);
	}
	CHECK(tl_output_class_probs(TL_OUTPUT_SOFTMAX, soft, 3, p, &st) == 0, "softmax");
	CHECK_NEAR(p[1], 0.5, 1e-7);
	/* independent labels: normalised to a distribution over the classes */
	CHECK(tl_output_class_probs(TL_OUTPUT_SIGMOID, multi, 3, p, &st) == 0, "multi-label");
	CHECK_NEAR(p[0], 0.9 / 1.5, 1e-7);
	CHECK_NEAR(p[2], 0.0, 1e-12);
	CHECK(tl_output_class_probs(TL_OUTPUT_SIGMOID_LOGITS, logits, 3, p, &st) == 0, "multi-label logits");
	{
		double		s1 = 1 / (1 + exp(-1.0)),
					s2 = 1 / (1 + exp(-2.0)),
					s3 = 1 / (1 + exp(-3.0));

		CHECK_NEAR(p[1], s2 / (s1 + s2 + s3), 1e-12);
	}
	CHECK(tl_output_class_probs(TL_OUTPUT_LINEAR_PROBABILITY, lin, 3, p, &st) == 0, "linear probabilities");
	CHECK_NEAR(p[0], 0.5, 1e-12);
	CHECK(tl_output_class_probs(TL_OUTPUT_REGRESSION, &z, 1, p, &st) < 0 && st.code == TL_ERR_ARG, "regression has no classes");
	tl_status_clear(&st);
	CHECK(tl_output_class_probs(TL_OUTPUT_SOFTMAX, &nan, 1, p, &st) < 0 && st.code == TL_ERR_NAN, "NaN refused");
	CHECK(tl_output_classes(TL_OUTPUT_SIGMOID, 1) == 2 && tl_output_classes(TL_OUTPUT_SOFTMAX, 7) == 7 &&
		  tl_output_classes(TL_OUTPUT_REGRESSION, 1) == 0, "class counts");
}

static void
test_predict(void)
{
	float		z = 0.3f,
				m[3] = {0.1f, 0.7f, 0.2f};

	/* one logit of 0.3 is p = 0.57: class 1; one probability of 0.3: class 0 */
	CHECK(tl_output_predict(TL_OUTPUT_SIGMOID_LOGITS, &z, 1) == 1, "logit 0.3 -> 1");
	CHECK(tl_output_predict(TL_OUTPUT_SIGMOID, &z, 1) == 0, "p 0.3 -> 0");
	CHECK(tl_output_predict(TL_OUTPUT_LINEAR_PROBABILITY, &z, 1) == 0, "linear p 0.3 -> 0");
	CHECK(tl_output_predict(TL_OUTPUT_SOFTMAX, m, 3) == 1, "argmax");
	CHECK(tl_output_predict(TL_OUTPUT_REGRESSION, m, 3) == -1, "regression: none");
	CHECK(tl_output_default_loss(TL_OUTPUT_SIGMOID_LOGITS, 1) == TL_LOSS_BINARY_CE_LOGITS &&
		  tl_output_default_loss(TL_OUTPUT_SOFTMAX, 10) == TL_LOSS_CATEGORICAL_CE &&
		  tl_output_default_loss(TL_OUTPUT_LINEAR_PROBABILITY, 1) == TL_LOSS_BINARY_CE, "default losses");
}

int
main(void)
{
	test_derive();
	test_probs();
	test_predict();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
