/*
 * test_maps_util.h — what the map unit tests (test_umap.c, test_tsne.c)
 * share: planted blobs, the checks that they stay apart in a map, and an
 * interrupt hook that counts its calls.
 */
#ifndef TEST_MAPS_UTIL_H
#define TEST_MAPS_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/tl_random.h"

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

#endif							/* TEST_MAPS_UTIL_H */
