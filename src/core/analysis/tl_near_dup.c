/*
 * tl_near_dup.c — near-duplicate sets (tl_near_dup.h): shingles of token
 * sequences, the ones of multi-hot vectors, MinHash with LSH banding
 * (Broder 1997; Indyk and Motwani 1998) and the exact Jaccard verdict.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/tl_near_dup.h"
#include "base/tl_random.h"

/* MinHash values per set; the bands split them into rows of r. */
#define MINHASHES 128
/* A pair at the threshold is a candidate in at least one band this often. */
#define CANDIDATE_PROBABILITY 0.99

void
tl_ndup_pairs_free(tl_ndup_pairs *ps)
{
	tl_free(ps->p);
	ps->p = NULL;
	ps->n = ps->cap = 0;
}

int
tl_ndup_pairs_push(tl_ndup_pairs *ps, int32_t a, int32_t b, float d, tl_status *st)
{
	if (ps->n == ps->cap)
	{
		int64_t		cap = ps->cap ? ps->cap * 2 : 256;
		tl_ndup_pair *p = tl_realloc(ps->p, sizeof(tl_ndup_pair) * (size_t) cap);

		if (p == NULL)
			return tl_fail(st, TL_ERR_NOMEM, "out of memory for %lld near-duplicate pairs", (long long) cap);
		ps->p = p;
		ps->cap = cap;
	}
	ps->p[ps->n].a = a;
	ps->p[ps->n].b = b;
	ps->p[ps->n].distance = d;
	ps->n++;
	return 0;
}

static uint64_t
hash64(uint64_t x, uint64_t seed)
{
	uint64_t	state = x ^ seed;

	return tl_random_next(&state);
}

static int
by_u32(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *) a,
				y = *(const uint32_t *) b;

	return x < y ? -1 : x > y;
}

/* Sorts out[0 … m) and drops repeats; returns the count left. */
static int
sort_unique(uint32_t *out, int m)
{
	int			u = 0;

	qsort(out, m, sizeof(uint32_t), by_u32);
	for (int i = 0; i < m; i++)
		if (u == 0 || out[u - 1] != out[i])
			out[u++] = out[i];
	return u;
}

int
tl_ndup_token_shingles(const float *ids, int len, uint32_t *out)
{
	int			m = 0,
				t = 0;
	uint64_t	window[TL_NDUP_GRAM] = {0};

	for (int i = 0; i < len; i++)
	{
		uint64_t	h = 0;

		if (ids[i] == 0)
			continue;			/* padding */
		memmove(window, window + 1, sizeof(uint64_t) * (TL_NDUP_GRAM - 1));
		window[TL_NDUP_GRAM - 1] = (uint64_t) ids[i];
		if (++t < TL_NDUP_GRAM)
			continue;
		for (int g = 0; g < TL_NDUP_GRAM; g++)
			h = hash64(window[g], h + (uint64_t) g);
		out[m++] = (uint32_t) h;
	}
	if (t > 0 && t < TL_NDUP_GRAM)
	{
		/* fewer tokens than a shingle: the sequence is one */
		uint64_t	h = 0;

		for (int g = TL_NDUP_GRAM - t; g < TL_NDUP_GRAM; g++)
			h = hash64(window[g], h + (uint64_t) g);
		out[m++] = (uint32_t) h;
	}
	return sort_unique(out, m);
}

int
tl_ndup_nonzero(const float *x, int len, uint32_t *out)
{
	int			m = 0;

	for (int i = 0; i < len; i++)
		if (x[i] != 0)
			out[m++] = (uint32_t) i;
	return m;
}

int
tl_ndup_is_multi_hot(const float *x, int64_t len)
{
	int64_t		ones = 0;

	for (int64_t i = 0; i < len; i++)
	{
		if (x[i] != 0 && x[i] != 1)
			return 0;
		ones += x[i] == 1;
	}
	return len > 0 && ones * 4 <= len;
}

double
tl_ndup_jaccard(const tl_ndup_sets *s, int i, int j)
{
	const uint32_t *a = s->elem + s->offset[i],
			   *b = s->elem + s->offset[j];
	int64_t		na = s->offset[i + 1] - s->offset[i],
				nb = s->offset[j + 1] - s->offset[j],
				p = 0,
				q = 0,
				both = 0;

	while (p < na && q < nb)
	{
		if (a[p] == b[q])
		{
			both++;
			p++;
			q++;
		}
		else if (a[p] < b[q])
			p++;
		else
			q++;
	}
	return na + nb - both > 0 ? (double) both / (double) (na + nb - both) : 0;
}

/* The most rows per band (fewest false candidates) that still finds a pair at t. */
static int
rows_per_band(double t)
{
	for (int r = 8; r > 1; r--)
		if (1 - pow(1 - pow(t, r), MINHASHES / r) >= CANDIDATE_PROBABILITY)
			return r;
	return 1;
}

/* The MINHASHES minimum hashes of each set (an empty set: all UINT32_MAX). */
static void
minhashes(const tl_ndup_sets *s, uint32_t *mh)
{
	for (int i = 0; i < s->n; i++)
	{
		uint32_t   *m = mh + (int64_t) i * MINHASHES;

		for (int k = 0; k < MINHASHES; k++)
			m[k] = UINT32_MAX;
		for (int64_t e = s->offset[i]; e < s->offset[i + 1]; e++)
			for (int k = 0; k < MINHASHES; k++)
			{
				uint32_t	h = (uint32_t) hash64(s->elem[e], (uint64_t) k * UINT64_C(0x9e3779b97f4a7c15));

				if (h < m[k])
					m[k] = h;
			}
		if ((i & 255) == 0)
			tl_check_interrupt();
	}
}

typedef struct keyed
{
	uint64_t	key;
	int32_t		i;
} keyed;

static int
by_key(const void *a, const void *b)
{
	const keyed *x = a,
			   *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->i - y->i;
}

/* Whether items i and j share one of the bands before `band` (already a candidate). */
static int
seen_before(const uint64_t *keys, int bands, int i, int j, int band)
{
	for (int k = 0; k < band; k++)
		if (keys[(int64_t) i * bands + k] == keys[(int64_t) j * bands + k])
			return 1;
	return 0;
}

/* The pairs of one bucket (items sorted, equal key) at or above t. */
static int
bucket_pairs(const tl_ndup_sets *s, int n_a, double t, const keyed *run, int m,
			 const uint64_t *keys, int bands, int band, tl_ndup_pairs *out, tl_status *st)
{
	for (int p = 0; p < m; p++)
	{
		for (int q = p + 1; q < m; q++)
		{
			int			i = run[p].i,
						j = run[q].i;
			double		jac;

			if (n_a < s->n && (i >= n_a || j < n_a))
				continue;		/* leakage: across the two runs only */
			if (seen_before(keys, bands, i, j, band))
				continue;
			jac = tl_ndup_jaccard(s, i, j);
			if (jac >= t && tl_ndup_pairs_push(out, i, j, (float) (1 - jac), st) < 0)
				return -1;
		}
		if ((p & 255) == 255)
			tl_check_interrupt();
	}
	return 0;
}

int
tl_ndup_set_pairs(const tl_ndup_sets *s, int n_a, double min_jaccard,
				  tl_ndup_pairs *out, tl_status *st)
{
	int			r,
				bands,
				rc = 0;
	uint32_t   *mh;
	uint64_t   *keys;
	keyed	   *order;

	if (!(min_jaccard > 0 && min_jaccard <= 1))
		return tl_fail(st, TL_ERR_ARG, "the Jaccard threshold must be in (0, 1], not %g", min_jaccard);
	if (n_a < 0 || n_a > s->n)
		return tl_fail(st, TL_ERR_ARG, "the first run's items (%d) must be between 0 and %d", n_a, s->n);
	if (s->n < 2)
		return 0;
	r = rows_per_band(min_jaccard);
	bands = MINHASHES / r;
	mh = tl_malloc(sizeof(uint32_t) * MINHASHES * (size_t) s->n);
	keys = tl_malloc(sizeof(uint64_t) * (size_t) bands * s->n);
	order = tl_malloc(sizeof(keyed) * (size_t) s->n);
	if (mh == NULL || keys == NULL || order == NULL)
	{
		rc = tl_fail(st, TL_ERR_NOMEM, "out of memory for the MinHash signatures of %d samples", s->n);
		goto done;
	}
	minhashes(s, mh);
	for (int i = 0; i < s->n; i++)
		for (int b = 0; b < bands; b++)
		{
			uint64_t	h = (uint64_t) b;

			for (int k = 0; k < r; k++)
				h = hash64(mh[(int64_t) i * MINHASHES + b * r + k], h);
			keys[(int64_t) i * bands + b] = h;
		}
	for (int b = 0; b < bands && rc == 0; b++)
	{
		int			m = 0;

		for (int i = 0; i < s->n; i++)
			if (s->offset[i + 1] > s->offset[i])	/* an empty set matches nothing */
			{
				order[m].key = keys[(int64_t) i * bands + b];
				order[m++].i = i;
			}
		qsort(order, m, sizeof(keyed), by_key);
		for (int p = 0; p < m && rc == 0;)
		{
			int			q = p + 1;

			while (q < m && order[q].key == order[p].key)
				q++;
			if (q - p > 1)
				rc = bucket_pairs(s, n_a, min_jaccard, order + p, q - p, keys, bands, b, out, st);
			p = q;
		}
		tl_check_interrupt();
	}
done:
	tl_free(mh);
	tl_free(keys);
	tl_free(order);
	return rc;
}
