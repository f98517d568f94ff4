/*
 * test_activation.c — unit tests of the activation functions (nn/tl_activation.c).
 *
 * Usage: test_activation.  Every expected number is derived by hand (in the
 * comment beside it) or is a property (softmax sums to 1).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "test_util.h"
#include "nn/tl_activation.h"

static void
test_activations(void)
{
	tl_act		a;
	float		v[3] = {1.0f, 2.0f, 3.0f};

	tl_act_parse("sigmoid", 2, &a);
	CHECK_NEAR(tl_act_scalar(&a, 0.0f), 0.5, 1e-7);
	CHECK_NEAR(tl_act_scalar(&a, -100.0f), 0.0, 1e-30);	/* no overflow */
	/* Keras 2 hard_sigmoid: 0.2 * 1 + 0.5 = 0.7; Keras 3: 1/6 + 0.5 */
	tl_act_parse("hard_sigmoid", 2, &a);
	CHECK_NEAR(tl_act_scalar(&a, 1.0f), 0.7, 1e-7);
	CHECK_NEAR(tl_act_scalar(&a, 3.0f), 1.0, 0);
	tl_act_parse("hard_sigmoid", 3, &a);
	CHECK_NEAR(tl_act_scalar(&a, 1.0f), 0.5 + 1.0 / 6.0, 1e-7);
	tl_act_parse("elu", 2, &a);
	CHECK_NEAR(tl_act_scalar(&a, -1.0f), exp(-1.0) - 1.0, 1e-7);
	tl_act_parse("selu", 2, &a);
	CHECK_NEAR(tl_act_scalar(&a, 1.0f), 1.0507009873554805, 1e-6);
	tl_act_parse("softplus", 2, &a);
	CHECK_NEAR(tl_act_scalar(&a, 0.0f), log(2.0), 1e-7);
	CHECK_NEAR(tl_act_scalar(&a, 100.0f), 100.0, 1e-5);	/* no overflow */
	tl_act_parse("softsign", 2, &a);
	CHECK_NEAR(tl_act_scalar(&a, 1.0f), 0.5, 1e-7);
	tl_act_parse("swish", 2, &a);
	CHECK_NEAR(tl_act_scalar(&a, 1.0f), 1.0 / (1.0 + exp(-1.0)), 1e-7);
	tl_act_parse("gelu", 2, &a);
	/* exact GELU(1) = 0.5 (1 + erf(1/sqrt 2)) */
	CHECK_NEAR(tl_act_scalar(&a, 1.0f), 0.5 * (1.0 + erf(1.0 / sqrt(2.0))), 1e-6);
	tl_act_parse("exponential", 2, &a);
	CHECK_NEAR(tl_act_scalar(&a, 1.0f), exp(1.0), 1e-6);
	CHECK(tl_act_parse("no_such_activation", 2, &a) < 0, "unknown activation accepted");

	/* softmax of (1, 2, 3) = e^k / (e + e^2 + e^3) */
	tl_act_parse("softmax", 2, &a);
	tl_act_apply(&a, v, 1, 3, 1);
	CHECK_NEAR(v[0] + v[1] + v[2], 1.0, 1e-6);
	CHECK_NEAR(v[2], exp(3.0) / (exp(1.0) + exp(2.0) + exp(3.0)), 1e-6);

	/* Keras ReLU layer(max_value 1.4, threshold 0.2, negative_slope 0.2) */
	memset(&a, 0, sizeof(a));
	a.fn = TL_ACT_RELU;
	a.max_value = 1.4f;
	a.threshold = 0.2f;
	a.alpha = 0.2f;
	CHECK_NEAR(tl_act_scalar(&a, 2.0f), 1.4, 1e-7);
	CHECK_NEAR(tl_act_scalar(&a, 0.5f), 0.5, 1e-7);
	CHECK_NEAR(tl_act_scalar(&a, -1.0f), 0.2 * (-1.0 - 0.2), 1e-7);
}

int
main(int argc, char **argv)
{
	if (argc > 1)
		fixtures = argv[1];
	test_activations();
	return test_summary();
}
