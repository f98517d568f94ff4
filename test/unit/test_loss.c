/*
 * test_loss.c — unit tests of per-sample losses (nn/tl_loss.c).
 *
 * Usage: test_loss.  Expected values from Keras' formulas by hand
 * (probabilities clipped to [1e-7, 1 - 1e-7], log(p + 1e-7) for binary
 * cross-entropy).
 */
#include <math.h>
#include <stdio.h>

#include "test_util.h"
#include "nn/tl_loss.h"

static double
loss_of(tl_loss_kind k, const float *y, int n, int label)
{
	double		l = NAN;
	tl_status	st = {0};

	if (tl_loss(k, y, n, label, &l, &st) < 0)
		printf("  (%s)\n", st.msg);
	return l;
}

static void
test_values(void)
{
	const float p8 = 0.8f,
				one = 1.0f,
				zero = 0.0f,
				three[3] = {0.2f, 0.7f, 0.1f},
				logits[3] = {1, 2, 3};
	double		eps = TL_LOSS_EPSILON;

	/* binary: -log(0.8 + eps), -log(1 - 0.8 + eps) */
	CHECK_NEAR(loss_of(TL_LOSS_BINARY_CE, &p8, 1, 1), -log(0.8f + eps), 1e-9);
	CHECK_NEAR(loss_of(TL_LOSS_BINARY_CE, &p8, 1, 0), -log(1 - 0.8f + eps), 1e-9);
	/* a confident wrong answer: p clipped to 1 - eps, -log(eps + eps) */
	CHECK_NEAR(loss_of(TL_LOSS_BINARY_CE, &one, 1, 0), -log(2 * eps), 1e-6);
	/* from logits: logit 0 costs log 2 either way */
	CHECK_NEAR(loss_of(TL_LOSS_BINARY_CE_LOGITS, &zero, 1, 1), log(2.0), 1e-12);
	/* categorical: -log(0.7) */
	CHECK_NEAR(loss_of(TL_LOSS_CATEGORICAL_CE, three, 3, 1), -log(0.7f), 1e-7);
	/* from logits: log(e + e^2 + e^3) - 3 */
	CHECK_NEAR(loss_of(TL_LOSS_CATEGORICAL_CE_LOGITS, logits, 3, 2),
			   log(exp(1.0) + exp(2.0) + exp(3.0)) - 3, 1e-9);
	/* mse against one-hot (0, 1, 0): (0.04 + 0.09 + 0.01) / 3 */
	CHECK_NEAR(loss_of(TL_LOSS_MSE, three, 3, 1), 0.14 / 3, 1e-7);
	/* one-unit mse regresses on the label: (0.8 - 3)^2 */
	CHECK_NEAR(loss_of(TL_LOSS_MSE, &p8, 1, 3), (0.8f - 3.0) * (0.8f - 3.0), 1e-6);
	CHECK(tl_predict_class(three, 3) == 1 && tl_predict_class(&p8, 1) == 1 &&
		  tl_predict_class(&zero, 1) == 0, "predicted classes");
}

static void
test_names(void)
{
	tl_loss_kind k;
	tl_status	st = {0};

	CHECK(tl_loss_parse("binary_crossentropy", &k) == 0 && k == TL_LOSS_BINARY_CE, "binary_crossentropy");
	CHECK(tl_loss_parse("SparseCategoricalCrossentropy", &k) == 0 && k == TL_LOSS_CATEGORICAL_CE,
		  "SparseCategoricalCrossentropy");
	CHECK(tl_loss_parse("hinge", &k) < 0, "hinge accepted");
	/* Keras 2 and Keras 3 training configs */
	CHECK(tl_loss_from_training_config("{\"loss\": \"mse\"}", &k, &st) == 0 && k == TL_LOSS_MSE,
		  "Keras 2 config: %s", st.msg);
	CHECK(tl_loss_from_training_config("{\"loss\": {\"class_name\": \"BinaryCrossentropy\", "
									   "\"config\": {\"from_logits\": true}}}", &k, &st) == 0 &&
		  k == TL_LOSS_BINARY_CE_LOGITS, "Keras 3 config: %s", st.msg);
	CHECK(tl_loss_from_training_config("{\"optimizer\": \"adam\"}", &k, &st) < 0 &&
		  st.code == TL_ERR_NOT_FOUND, "a config without a loss: code %d", st.code);
}

static void
test_errors(void)
{
	const float nan = NAN,
				two[2] = {0.5f, 0.5f};
	double		l;
	tl_status	st = {0};

	CHECK(tl_loss(TL_LOSS_BINARY_CE, &nan, 1, 1, &l, &st) < 0 && st.code == TL_ERR_NAN, "NaN output");
	tl_status_clear(&st);
	CHECK(tl_loss(TL_LOSS_CATEGORICAL_CE, two, 2, 2, &l, &st) < 0 && st.code == TL_ERR_RANGE, "label 2 of 2");
	tl_status_clear(&st);
	CHECK(tl_loss(TL_LOSS_CATEGORICAL_CE, two, 1, 0, &l, &st) < 0 && st.code == TL_ERR_ARG,
		  "categorical on one unit");
}

int
main(void)
{
	test_values();
	test_names();
	test_errors();
	return test_summary();
}
