/*
 * tl_insights_stats.c — hypergeometric and binomial tails, their sum over
 * strata, the rank-sum test and the Holm and Benjamini–Hochberg
 * adjustments (tl_insights_stats.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/tl_insights_stats.h"

static double
log_choose(int64_t n, int64_t k)
{
	return lgamma((double) n + 1) - lgamma((double) k + 1) - lgamma((double) (n - k) + 1);
}

static double
hypergeom_log_pmf(int64_t x, int64_t total, int64_t events, int64_t drawn)
{
	return log_choose(events, x) + log_choose(total - events, drawn - x) - log_choose(total, drawn);
}

/* Sums pmf(x) for x = from, from + step, ... while in [lo, hi]; stops once terms are negligible. */
static double
sum_pmf(double (*log_pmf) (int64_t, const void *), const void *arg, int64_t from, int64_t lo,
		int64_t hi, int step)
{
	double		sum = 0;

	for (int64_t x = from; x >= lo && x <= hi; x += step)
	{
		double		t = exp(log_pmf(x, arg));

		sum += t;
		/* past the mode the terms only shrink: stop when they no longer count */
		if (t < sum * 1e-17)
			break;
	}
	return sum;
}

typedef struct hyper_args
{
	int64_t		total,
				events,
				drawn;
} hyper_args;

static double
hyper_log_pmf(int64_t x, const void *arg)
{
	const hyper_args *h = arg;

	return hypergeom_log_pmf(x, h->total, h->events, h->drawn);
}

double
tl_hypergeom_sf(int64_t k, int64_t total, int64_t events, int64_t drawn)
{
	hyper_args	h = {total, events, drawn};
	int64_t		lo = drawn - (total - events) > 0 ? drawn - (total - events) : 0;
	int64_t		hi = drawn < events ? drawn : events;
	double		mean = total > 0 ? (double) drawn * events / total : 0;

	if (k <= lo)
		return 1.0;
	if (k > hi)
		return 0.0;
	/* sum the shorter tail: above the mean the upper one, else 1 − the lower one */
	if (k > mean)
		return fmin(1.0, sum_pmf(hyper_log_pmf, &h, k, lo, hi, 1));
	return fmax(0.0, 1.0 - sum_pmf(hyper_log_pmf, &h, k - 1, lo, hi, -1));
}

typedef struct binom_args
{
	int64_t		n;
	double		p;
} binom_args;

static double
binom_log_pmf(int64_t x, const void *arg)
{
	const binom_args *b = arg;

	return log_choose(b->n, x) + x * log(b->p) + (b->n - x) * log1p(-b->p);
}

double
tl_binomial_sf(int64_t k, int64_t n, double p)
{
	binom_args	b = {n, p};

	if (k <= 0)
		return 1.0;
	if (k > n || p <= 0)
		return 0.0;
	if (p >= 1)
		return 1.0;
	if (k > n * p)
		return fmin(1.0, sum_pmf(binom_log_pmf, &b, k, 0, n, 1));
	return fmax(0.0, 1.0 - sum_pmf(binom_log_pmf, &b, k - 1, 0, n, -1));
}

/* Upper tail of the standard normal. */
static double
normal_sf(double z)
{
	return 0.5 * erfc(z / sqrt(2.0));
}

double
tl_excess_sf(const tl_stratum *s, int ns, int64_t observed, double *expected, tl_status *st)
{
	int64_t		drawn = 0;
	double		mean = 0,
				var = 0;
	double	   *pmf,
			   *next;
	double		tail = 0;

	*expected = NAN;
	for (int j = 0; j < ns; j++)
	{
		if (s[j].total < 0 || s[j].events < 0 || s[j].drawn < 0 ||
			s[j].events > s[j].total || s[j].drawn > s[j].total)
		{
			tl_fail(st, TL_ERR_ARG, "stratum %d: %lld events and %lld drawn do not fit in %lld samples",
					j + 1, (long long) s[j].events, (long long) s[j].drawn, (long long) s[j].total);
			return NAN;
		}
		drawn += s[j].drawn;
		if (s[j].total > 0)
		{
			double		p = (double) s[j].events / s[j].total;

			mean += s[j].drawn * p;
			if (s[j].total > 1)
				var += s[j].drawn * p * (1 - p) * (s[j].total - s[j].drawn) / (s[j].total - 1);
		}
	}
	*expected = mean;
	if (observed <= 0)
		return 1.0;
	if (observed > drawn)
		return 0.0;
	if (ns == 1)
		return tl_hypergeom_sf(observed, s[0].total, s[0].events, s[0].drawn);
	if (drawn > TL_EXACT_MAX_DRAWN)
		return var > 0 ? normal_sf((observed - 0.5 - mean) / sqrt(var)) : (observed <= mean ? 1.0 : 0.0);

	/* exact: the distribution of the sum, one stratum at a time */
	pmf = tl_malloc(sizeof(double) * (drawn + 1));
	next = tl_malloc(sizeof(double) * (drawn + 1));
	if (!pmf || !next)
	{
		tl_free(pmf);
		tl_free(next);
		tl_fail(st, TL_ERR_NOMEM, "out of memory for an exact test over %lld samples", (long long) drawn);
		return NAN;
	}
	memset(pmf, 0, sizeof(double) * (drawn + 1));
	pmf[0] = 1;
	{
		int64_t		reach = 0;	/* pmf is zero above reach */

		for (int j = 0; j < ns; j++)
		{
			int64_t		lo = s[j].drawn - (s[j].total - s[j].events) > 0 ? s[j].drawn - (s[j].total - s[j].events) : 0;
			int64_t		hi = s[j].drawn < s[j].events ? s[j].drawn : s[j].events;

			if (s[j].drawn == 0)
				continue;
			memset(next, 0, sizeof(double) * (drawn + 1));
			for (int64_t x = lo; x <= hi; x++)
			{
				double		px = exp(hypergeom_log_pmf(x, s[j].total, s[j].events, s[j].drawn));

				if (px == 0)
					continue;
				for (int64_t t = 0; t <= reach; t++)
					next[t + x] += pmf[t] * px;
			}
			reach += hi;
			memcpy(pmf, next, sizeof(double) * (drawn + 1));
			tl_check_interrupt();
		}
	}
	for (int64_t t = observed; t <= drawn; t++)
		tail += pmf[t];
	tl_free(pmf);
	tl_free(next);
	return fmin(1.0, fmax(0.0, tail));
}

double
tl_rank_sum_sf(double rank_sum, int64_t n1, int64_t n2, double tie_sum)
{
	double		n = (double) n1 + n2;
	double		mean = n1 * (n + 1) / 2.0;
	double		var = (double) n1 * n2 / 12.0 * ((n + 1) - tie_sum / (n * (n - 1)));

	if (n1 < 1 || n2 < 1)
		return 1.0;
	if (!(var > 0))
		return rank_sum > mean ? 0.0 : 1.0;
	return normal_sf((rank_sum - 0.5 - mean) / sqrt(var));
}

typedef struct ranked_p
{
	double		p;
	int			i;
} ranked_p;

static int
by_p(const void *a, const void *b)
{
	const ranked_p *x = a,
			   *y = b;

	if (x->p != y->p)
		return x->p < y->p ? -1 : 1;
	return x->i - y->i;
}

int
tl_p_adjust_parse(const char *s, tl_p_adjust_method *m)
{
	if (strcmp(s, "holm") == 0)
		*m = TL_P_HOLM;
	else if (strcmp(s, "bh") == 0)
		*m = TL_P_BH;
	else
		return -1;
	return 0;
}

int
tl_p_adjust(const double *p, int m, tl_p_adjust_method method, double *q, tl_status *st)
{
	ranked_p   *r = tl_malloc(sizeof(ranked_p) * (m > 0 ? m : 1));
	int			valid = 0;

	if (!r)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory for %d p-values", m);
	for (int i = 0; i < m; i++)
	{
		if (isnan(p[i]))
		{
			q[i] = NAN;
			continue;
		}
		if (p[i] < 0 || p[i] > 1)
		{
			tl_free(r);
			return tl_fail(st, TL_ERR_ARG, "p-value %d is %g, not between 0 and 1", i + 1, p[i]);
		}
		r[valid].p = p[i];
		r[valid].i = i;
		valid++;
	}
	qsort(r, valid, sizeof(ranked_p), by_p);
	if (method == TL_P_HOLM)
	{
		/* q_(j) = max over i <= j of min(1, (m − i + 1) p_(i)) */
		double		running = 0;

		for (int j = 0; j < valid; j++)
		{
			double		v = fmin(1.0, r[j].p * (valid - j));

			if (v > running)
				running = v;
			q[r[j].i] = running;
		}
	}
	else
	{
		/* q_(j) = min over i >= j of p_(i) · m / i */
		double		running = 1.0;

		for (int j = valid - 1; j >= 0; j--)
		{
			double		v = r[j].p * valid / (j + 1);

			if (v < running)
				running = v;
			q[r[j].i] = running;
		}
	}
	tl_free(r);
	return 0;
}
