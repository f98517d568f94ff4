/*
 * test_label.c — unit tests of the label-issue scores (analysis/tl_label.c).
 *
 * Usage: test_label.  Every expected number is worked out by hand in the
 * comment beside it from the definitions in tl_label.h.
 */
#include <math.h>
#include <stdio.h>

#include "test_util.h"
#include "analysis/tl_label.h"

/*
 * Two classes, four samples.  Thresholds: class 0 = mean p0 of the samples
 * labelled 0 = (0.9 + 0.6) / 2 = 0.75; class 1 = mean p1 of those labelled
 * 1 = (0.8 + 0.2) / 2 = 0.5.  Sample 2 (labelled 1) has p0 = 0.8 >= 0.75:
 * confidently class 0, an issue.
 */
static const float probs[8] = {0.9f, 0.1f, 0.2f, 0.8f, 0.8f, 0.2f, 0.6f, 0.4f};
static const int32_t labels[4] = {0, 1, 1, 0};

static void
test_scores(void)
{
	tl_label_scores s[4];
	tl_status	st = {0};

	CHECK(tl_label_scores_compute(probs, labels, 4, 2, NULL, 0, s, &st) == 0, "%s", st.msg);
	/* sample 0: self 0.9, margin 0.8, score ((1-0.9) + (1-0.8)/2) / 2 = 0.1 */
	CHECK_NEAR(s[0].self_confidence, 0.9, 1e-6);
	CHECK_NEAR(s[0].margin, 0.8, 1e-6);
	CHECK(s[0].confident_class == 0 && !s[0].issue && s[0].suggested == 1, "sample 0 flags");
	CHECK_NEAR(s[0].score, 0.1, 1e-6);
	CHECK(isnan(s[0].neighbour_disagreement), "no neighbours, yet a disagreement");
	/* sample 2: self 0.2, margin -0.6, ((0.8) + (1.6)/2) / 2 + 0.25 = 1.05 */
	CHECK(s[2].confident_class == 0 && s[2].issue && s[2].suggested == 0, "sample 2 flags");
	CHECK_NEAR(s[2].margin, -0.6, 1e-6);
	CHECK_NEAR(s[2].score, 1.05, 1e-6);
	/* sample 3: p0 0.6 < 0.75 and p1 0.4 < 0.5: no confident class;
	 * score ((0.4) + (0.8)/2) / 2 = 0.4 */
	CHECK(s[3].confident_class == -1 && !s[3].issue, "sample 3 flags");
	CHECK_NEAR(s[3].score, 0.4, 1e-6);
}

static void
test_neighbours(void)
{
	/* one neighbour each: 0 -> 3, 1 -> 2, 2 -> 0, 3 -> 0; only sample 2's
	 * neighbour is labelled otherwise: (0.8 + 0.8 + 1) / 3 + 0.25 */
	const int32_t nbr[4] = {3, 2, 0, 0};
	tl_label_scores s[4];
	tl_status	st = {0};

	CHECK(tl_label_scores_compute(probs, labels, 4, 2, nbr, 1, s, &st) == 0, "%s", st.msg);
	CHECK_NEAR(s[2].neighbour_disagreement, 1.0, 0);
	CHECK_NEAR(s[0].neighbour_disagreement, 0.0, 0);
	CHECK_NEAR(s[2].score, 2.6 / 3 + 0.25, 1e-6);
	CHECK_NEAR(s[0].score, 0.2 / 3, 1e-6);
}

static void
test_probs(void)
{
	/* one unit: probabilities kept (p0 = 1 - y), logits through a sigmoid */
	const float p1[2] = {0.3f, 0.9f},
				l1[2] = {2.0f, 0.0f},
				l3[3] = {1, 2, 3};
	float		out[6];

	tl_outputs_to_probs(p1, 2, 1, out);
	CHECK_NEAR(out[0], 0.7, 1e-6);
	CHECK_NEAR(out[3], 0.9, 1e-6);
	tl_outputs_to_probs(l1, 2, 1, out);
	CHECK_NEAR(out[1], 1 / (1 + exp(-2.0)), 1e-6);
	CHECK_NEAR(out[3], 0.5, 1e-6);
	/* three logits: softmax e^k / (e + e^2 + e^3) */
	tl_outputs_to_probs(l3, 1, 3, out);
	CHECK_NEAR(out[2], exp(3.0) / (exp(1.0) + exp(2.0) + exp(3.0)), 1e-6);
}

static void
test_errors(void)
{
	const int32_t bad[4] = {0, 1, 2, 0},
				one[4] = {1, 1, 1, 1};
	tl_label_scores s[4];
	tl_status	st = {0};

	CHECK(tl_label_scores_compute(probs, bad, 4, 2, NULL, 0, s, &st) < 0 && st.code == TL_ERR_RANGE,
		  "label 2 of 2 classes accepted");
	tl_status_clear(&st);
	CHECK(tl_label_scores_compute(probs, one, 4, 2, NULL, 0, s, &st) < 0 && st.code == TL_ERR_ARG,
		  "a single class accepted");
}

int
main(void)
{
	test_scores();
	test_neighbours();
	test_probs();
	test_errors();
	return test_summary();
}
