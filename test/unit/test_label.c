/*
 * test_label.c — label-issue scores (analysis/tl_label.h) on planted cases:
 * labels flipped by this test, a model that knows some of the truth and
 * neighbours that know more; AUROC computed here.
 */
#include <string.h>

#include "analysis/tl_label.h"
#include "test_util.h"

static uint64_t rng_state = 7;

static double
uniform(void)
{
	return test_uniform(&rng_state);
}

/* AUROC of score (higher = positive) against truth, ties counted half */
static double
auroc(const float *score, const int *truth, int n)
{
	double		wins = 0;
	long		pos = 0,
				neg = 0;

	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			if (truth[i] && !truth[j])
				wins += score[i] > score[j] ? 1 : score[i] == score[j] ? 0.5 : 0;
	for (int i = 0; i < n; i++)
		truth[i] ? pos++ : neg++;
	return wins / ((double) pos * neg);
}

typedef struct planted
{
	int			n,
				c,
				k;
	double	   *probs;
	int32_t    *labels;
	int		   *flipped;
	int32_t    *nbr;
} planted;

/*
 * n samples of c classes; 5 % of the labels flipped; the model gives the
 * true class a probability drawn around `skill`; each sample's k neighbours
 * share its true class with probability `purity`.
 */
static planted
plant(int n, int c, int k, double skill, double purity)
{
	planted		p = {.n = n, .c = c, .k = k};
	int		   *truth = malloc(sizeof(int) * n);

	p.probs = malloc(sizeof(double) * n * c);
	p.labels = malloc(sizeof(int32_t) * n);
	p.flipped = calloc(n, sizeof(int));
	p.nbr = malloc(sizeof(int32_t) * n * k);
	for (int i = 0; i < n; i++)
	{
		double		own = skill + (1 - skill) * (uniform() - 0.5) * 1.6,
					rest = 0;

		truth[i] = i % c;
		own = own < 0.02 ? 0.02 : own > 0.999 ? 0.999 : own;
		for (int j = 0; j < c; j++)
			rest += p.probs[i * c + j] = j == truth[i] ? 0 : uniform();
		for (int j = 0; j < c; j++)
			p.probs[i * c + j] = j == truth[i] ? own : (1 - own) * p.probs[i * c + j] / rest;
		p.labels[i] = truth[i];
		if (uniform() < 0.05)
		{
			p.flipped[i] = 1;
			p.labels[i] = (truth[i] + 1 + (int) (uniform() * (c - 1))) % c;
		}
	}
	for (int i = 0; i < n; i++)
		for (int m = 0; m < k; m++)
		{
			int			u;

			do
			{
				u = (int) (uniform() * n);
				if (uniform() < purity)
					u = (u - u % c) + truth[i] < n ? (u - u % c) + truth[i] : truth[i];
			} while (u == i);
			p.nbr[i * k + m] = u;
		}
	free(truth);
	return p;
}

static void
release(planted *p)
{
	free(p->probs);
	free(p->labels);
	free(p->flipped);
	free(p->nbr);
}

static void
compare(const char *what, int c, double skill, double purity, int expect_better)
{
	planted		p = plant(3000, c, 10, skill, purity);
	tl_label_scores *sc = malloc(sizeof(tl_label_scores) * p.n);
	float	   *score = malloc(sizeof(float) * p.n),
			   *self = malloc(sizeof(float) * p.n);
	tl_label_graph g = {p.nbr, p.k};
	tl_status	st = {0};
	double		beta = -1,
				a_score,
				a_self;

	CHECK(tl_label_scores_compute(p.probs, p.labels, p.n, p.c, &g, 1, sc, &beta, &st) == 0, "%s: %s", what, st.msg);
	for (int i = 0; i < p.n; i++)
	{
		score[i] = sc[i].score;
		self[i] = (float) (1 - p.probs[i * c + p.labels[i]]);
	}
	a_score = auroc(score, p.flipped, p.n);
	a_self = auroc(self, p.flipped, p.n);
	printf("%s: AUROC %.4f, self-confidence %.4f, neighbour weight %.2f\n", what, a_score, a_self, beta);
	if (expect_better)
		CHECK(a_score > a_self + 0.01, "%s: informative neighbours must help (%.4f vs %.4f)", what, a_score, a_self);
	else
		CHECK(a_score >= a_self - 0.005, "%s: uninformative neighbours must not hurt (%.4f vs %.4f)", what, a_score, a_self);
	free(sc);
	free(score);
	free(self);
	release(&p);
}

static void
test_edges(void)
{
	double		probs[8] = {0.9, 0.1, 0.8, 0.2, 0.3, 0.7, 0.6, 0.4};
	int32_t		same[4] = {0, 0, 0, 0},
				labels[4] = {0, 1, 1, 0},
				bad[4] = {0, 2, 1, 0},
				nbr[4] = {-1, 0, 3, 2};
	tl_label_scores sc[4];
	tl_label_graph g = {nbr, 1};
	tl_status	st = {0};

	CHECK(tl_label_scores_compute(probs, same, 4, 2, NULL, 0, sc, NULL, &st) < 0 && st.code == TL_ERR_ARG,
		  "one class refused");
	tl_status_clear(&st);
	CHECK(tl_label_scores_compute(probs, bad, 4, 2, NULL, 0, sc, NULL, &st) < 0 && st.code == TL_ERR_RANGE,
		  "label outside the classes refused");
	/* without neighbours the score is 1 - p(label) exactly */
	CHECK(tl_label_scores_compute(probs, labels, 4, 2, NULL, 0, sc, NULL, &st) == 0, "no graph");
	CHECK_NEAR(sc[1].score, 0.8, 1e-6);
	CHECK_NEAR(sc[1].self_confidence, 0.2, 1e-6);
	CHECK_NEAR(sc[1].margin, -0.6, 1e-6);
	CHECK(isnan(sc[1].neighbour_disagreement), "no neighbours: NaN");
	/* sample 0 has no neighbour (-1): only its own term, whatever the others do */
	CHECK(tl_label_scores_compute(probs, labels, 4, 2, &g, 1, sc, NULL, &st) == 0, "with graph");
	CHECK_NEAR(sc[0].score, 0.1, 1e-6);
	CHECK(isnan(sc[0].neighbour_disagreement) && sc[1].neighbour_disagreement == 1.0f, "disagreement shares");
	/* confident learning: thresholds 0.75 (class 0: mean of 0.9, 0.6) and 0.45 (class 1: of 0.2, 0.7) */
	CHECK(sc[1].issue && sc[1].confident_class == 0 && sc[1].suggested == 0, "sample 1 flagged, class 0 suggested");
	CHECK(!sc[0].issue && !sc[2].issue && !sc[3].issue && sc[3].confident_class == -1, "the others not flagged");
}

static void
test_combine(void)
{
	/* 10 samples labelled 0..1; model A agrees on 9 (a = 9.5/11), model B on 6 (a = 6.5/11) */
	double		pa[20],
				pb[20],
				out[20],
				w[2];
	int32_t		labels[10];
	uint8_t		b_has[10];
	const double *probs[2] = {pa, pb};
	const uint8_t *present[2] = {NULL, b_has};
	tl_status	st = {0};

	for (int i = 0; i < 10; i++)
	{
		labels[i] = i % 2;
		pa[i * 2 + labels[i]] = i == 0 ? 0.2 : 0.8;
		pa[i * 2 + 1 - labels[i]] = 1 - pa[i * 2 + labels[i]];
		pb[i * 2 + labels[i]] = i < 4 ? 0.3 : 0.6;
		pb[i * 2 + 1 - labels[i]] = 1 - pb[i * 2 + labels[i]];
		b_has[i] = i != 9;
	}
	CHECK(tl_label_combine(probs, present, 2, labels, 10, 2, out, w, &st) == 0, "combine: %s", st.msg);
	/* B has 9 samples, agrees on 5: a = 5.5/10 */
	CHECK_NEAR(w[0], log((9.5 / 11) / (1.5 / 11)), 1e-12);
	CHECK_NEAR(w[1], log(0.55 / 0.45), 1e-12);
	CHECK_NEAR(out[5 * 2 + 1], (w[0] * 0.8 + w[1] * 0.6) / (w[0] + w[1]), 1e-12);
	CHECK_NEAR(out[9 * 2 + 1], 0.8, 1e-12);		/* only A has sample 9 */
	CHECK_NEAR(out[0] + out[1], 1.0, 1e-12);
}

static const double *sort_key;

static int
by_key(const void *a, const void *b)
{
	double		x = sort_key[*(const int *) a],
				y = sort_key[*(const int *) b];

	return x < y ? -1 : x > y;
}

/*
 * A calibrated binary model (the true class drawn with the model's
 * probability) reported at temperature 2 (its log-odds halved: it is
 * underconfident), whose neighbours are the samples it scores alike: they
 * repeat what the model says.  Their labels sharpen its likelihood as a
 * temperature would; the fit must give that to the temperature, not to the
 * neighbours, and keep the model's own ranking.
 */
static void
test_redundant_neighbours(void)
{
	planted		p = plant(3000, 2, 10, 0.6, 0.0);
	tl_label_scores *sc = malloc(sizeof(tl_label_scores) * p.n);
	float	   *score = malloc(sizeof(float) * p.n),
			   *self = malloc(sizeof(float) * p.n);
	double	   *p1 = malloc(sizeof(double) * p.n);
	int		   *order = malloc(sizeof(int) * p.n);
	tl_label_graph g = {p.nbr, p.k};
	tl_status	st = {0};
	double		weight = -1;

	for (int i = 0; i < p.n; i++)
	{
		double		z = 2 * sqrt(-2 * log(1 - uniform())) * cos(2 * M_PI * uniform());
		int			truth = uniform() < 1 / (1 + exp(-z));

		p.flipped[i] = uniform() < 0.05;
		p.labels[i] = p.flipped[i] ? 1 - truth : truth;
		p1[i] = p.probs[i * 2 + 1] = 1 / (1 + exp(-z / 2));
		p.probs[i * 2] = 1 - p1[i];
		order[i] = i;
	}
	sort_key = p1;
	qsort(order, p.n, sizeof(int), by_key);
	for (int r = 0; r < p.n; r++)
		for (int m = 0; m < p.k; m++)
		{
			int			o = r - p.k / 2 + m + (m >= p.k / 2);

			o = o < 0 ? -o : o >= p.n ? 2 * p.n - 2 - o : o;
			p.nbr[order[r] * p.k + m] = order[o];
		}
	CHECK(tl_label_scores_compute(p.probs, p.labels, p.n, 2, &g, 1, sc, &weight, &st) == 0, "redundant: %s", st.msg);
	for (int i = 0; i < p.n; i++)
	{
		score[i] = sc[i].score;
		self[i] = (float) (1 - p.probs[i * 2 + p.labels[i]]);
	}
	printf("binary, underconfident model, redundant neighbours: AUROC %.4f, self-confidence %.4f, neighbour weight %.2f\n",
		   auroc(score, p.flipped, p.n), auroc(self, p.flipped, p.n), weight);
	CHECK(weight == 0, "neighbours that repeat a calibrated model get no weight: %.2f", weight);
	free(sc);
	free(score);
	free(self);
	free(p1);
	free(order);
	release(&p);
}

int
main(void)
{
	test_edges();
	test_combine();
	/* a weak model, neighbours that know the truth: the neighbours must help */
	compare("binary, weak model, pure neighbours", 2, 0.6, 0.8, 1);
	compare("10 classes, weak model, pure neighbours", 10, 0.2, 0.8, 1);
	/* a strong model, neighbours at random: the score must stay with the model */
	compare("binary, strong model, random neighbours", 2, 0.9, 0.0, 0);
	compare("10 classes, strong model, random neighbours", 10, 0.85, 0.0, 0);
	test_redundant_neighbours();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
