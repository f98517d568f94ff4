/*
 * test_maps_util.h — what the map unit tests (test_umap.c, test_tsne.c)
 * share: planted blobs, the checks that they stay apart in a map, an
 * interrupt hook that counts its calls, and the checks every map passes
 * (separated blobs, determinism, fixed points).
 */
#ifndef TEST_MAPS_UTIL_H
#define TEST_MAPS_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/tl_random.h"
#include "analysis/tl_map.h"
#include "test_util.h"

/* a standard normal value (Box–Muller on the fixed-seed generator) */
static double
normal(uint64_t *s)
{
	double		u = ((double) (tl_random_next(s) >> 11) + 0.5) / 9007199254740992.0,
				v = ((double) (tl_random_next(s) >> 11) + 0.5) / 9007199254740992.0;

	return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/*
 * n_blobs blobs of per points each in width dimensions: centre b at 10·e_b
 * (unit vectors 10 apart ·√2), spread 0.5 per coordinate; point i of blob b
 * is row b·per + i.
 */
static float *
make_blobs(int n_blobs, int per, int width, uint64_t seed)
{
	float	   *x = malloc(sizeof(float) * n_blobs * per * width);

	for (int b = 0; b < n_blobs; b++)
		for (int i = 0; i < per; i++)
			for (int j = 0; j < width; j++)
				x[(b * per + i) * width + j] = (float) ((j == b ? 10.0 : 0.0) + 0.5 * normal(&seed));
	return x;
}

/*
 * Blobs stay separated in the map y (n × dims): every point's nearest
 * other point is of its own blob, and the blobs' bounding circles (centre
 * of mass, farthest member) do not overlap.  Returns the number of
 * violations.
 */
static int
blobs_separated(const float *y, int n_blobs, int per, int dims)
{
	int			bad = 0,
				n = n_blobs * per;
	double		c[16][3] = {{0}},
				r[16] = {0};

	for (int i = 0; i < n; i++)
	{
		int			best = -1;
		double		bd = INFINITY;

		for (int o = 0; o < n; o++)
		{
			double		d = 0;

			if (o == i)
				continue;
			for (int j = 0; j < dims; j++)
				d += (y[i * dims + j] - y[o * dims + j]) * (y[i * dims + j] - y[o * dims + j]);
			if (d < bd)
			{
				bd = d;
				best = o;
			}
		}
		bad += best / per != i / per;
		for (int j = 0; j < dims; j++)
			c[i / per][j] += y[i * dims + j] / per;
	}
	for (int i = 0; i < n; i++)
	{
		double		d = 0;

		for (int j = 0; j < dims; j++)
			d += (y[i * dims + j] - c[i / per][j]) * (y[i * dims + j] - c[i / per][j]);
		r[i / per] = fmax(r[i / per], sqrt(d));
	}
	for (int a = 0; a < n_blobs; a++)
		for (int b = a + 1; b < n_blobs; b++)
		{
			double		d = 0;

			for (int j = 0; j < dims; j++)
				d += (c[a][j] - c[b][j]) * (c[a][j] - c[b][j]);
			bad += sqrt(d) <= r[a] + r[b];
		}
	return bad;
}

static int	interrupt_calls;

static void
count_interrupt(void)
{
	interrupt_calls++;
}

/*
 * A map of planted blobs in 2-D or 3-D: the blobs stay separated, the
 * optimisation checks for interrupts at least min_interrupts times, and the
 * same input gives the same map bit for bit (and, when other_seed is set,
 * another seed another map).
 */
static void
check_blobs(tl_map_options o, int min_interrupts, bool other_seed)
{
	int			n_blobs = 4,
				per = 50,
				n = n_blobs * per,
				width = 12,
				dims = o.dims;
	float	   *x = make_blobs(n_blobs, per, width, 42),
			   *y1 = malloc(sizeof(float) * n * dims),
			   *y2 = malloc(sizeof(float) * n * dims);
	tl_status	st = {0};

	interrupt_calls = 0;
	tl_set_interrupt_hook(count_interrupt);
	CHECK(tl_map_embed(x, n, width, &o, y1, NULL, NULL, &st) == 0, "map: %s", st.msg);
	CHECK(interrupt_calls >= min_interrupts, "the optimisation checks for interrupts every epoch/iteration (%d calls)",
		  interrupt_calls);
	tl_set_interrupt_hook(NULL);
	CHECK(blobs_separated(y1, n_blobs, per, dims) == 0, "%d-D: well-separated blobs stay separated", dims);
	CHECK(tl_map_embed(x, n, width, &o, y2, NULL, NULL, &st) == 0, "map again: %s", st.msg);
	CHECK(memcmp(y1, y2, sizeof(float) * n * dims) == 0, "%d-D: the same input gives the same map bit for bit", dims);
	if (other_seed)
	{
		o.seed++;
		CHECK(tl_map_embed(x, n, width, &o, y2, NULL, NULL, &st) == 0, "map, another seed: %s", st.msg);
		CHECK(memcmp(y1, y2, sizeof(float) * n * dims) != 0, "another seed gives another map");
	}
	free(x);
	free(y1);
	free(y2);
}

/*
 * Placing new points into a map: a map of every other point of three
 * blobs, then all of them with those fixed.  The old points keep their
 * coordinates exactly; each new point lands nearest to points of its own
 * blob.
 */
static void
check_fixed_points(tl_map_options o)
{
	int			n_blobs = 3,
				per = 60,
				n = n_blobs * per,
				width = 8,
				dims = o.dims,
				moved = 0,
				wrong = 0;
	float	   *x = make_blobs(n_blobs, per, width, 3),
			   *y = calloc(n * dims, sizeof(float)),
			   *before = malloc(sizeof(float) * n * dims),
			   *xo = malloc(sizeof(float) * n * width),
			   *yo = malloc(sizeof(float) * n * dims);
	unsigned char *start = calloc(n, 1);
	tl_status	st = {0};

	for (int i = 0; i < n; i += 2)
	{
		start[i] = 1;
		memcpy(xo + (i / 2) * width, x + i * width, sizeof(float) * width);
	}
	CHECK(tl_map_embed(xo, n / 2, width, &o, yo, NULL, NULL, &st) == 0, "old map: %s", st.msg);
	for (int i = 0; i < n; i += 2)
		memcpy(y + i * dims, yo + (i / 2) * dims, sizeof(float) * dims);
	memcpy(before, y, sizeof(float) * n * dims);
	CHECK(tl_map_embed(x, n, width, &o, y, start, start, &st) == 0, "placing: %s", st.msg);
	for (int i = 0; i < n; i++)
	{
		int			best = -1;
		double		bd = INFINITY;

		if (start[i])
		{
			moved += memcmp(y + i * dims, before + i * dims, sizeof(float) * dims) != 0;
			continue;
		}
		for (int k = 0; k < n; k += 2)
		{
			double		d = 0;

			for (int j = 0; j < dims; j++)
				d += (y[i * dims + j] - y[k * dims + j]) * (y[i * dims + j] - y[k * dims + j]);
			if (d < bd)
			{
				bd = d;
				best = k;
			}
		}
		wrong += best / per != i / per;
	}
	CHECK(moved == 0, "fixed points do not move (%d moved)", moved);
	CHECK(wrong == 0, "new points land among their own blob (%d did not)", wrong);
	free(x);
	free(y);
	free(before);
	free(xo);
	free(yo);
	free(start);
}

#endif							/* TEST_MAPS_UTIL_H */
