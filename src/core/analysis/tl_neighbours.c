/*
 * tl_neighbours.c — exact k-NN: blocks of query rows against all rows with
 * sgemm, then a bounded insertion sort per row.  Memory: one block of
 * distances (TL_KNN_BLOCK rows × n floats, fewer rows when n is large so
 * that the block stays near TL_KNN_BLOCK_FLOATS); time O(n² d) in BLAS.
 */
#include <float.h>
#include <cblas.h>

#include "analysis/tl_neighbours.h"

#define TL_KNN_BLOCK 256
#define TL_KNN_BLOCK_FLOATS (1 << 22)

int
tl_knn(const float *x, int n, int d, int k, int32_t *idx, tl_status *st)
{
	float	   *norms,
			   *dots,
			   *best;
	int			block = n > TL_KNN_BLOCK_FLOATS / TL_KNN_BLOCK ? TL_KNN_BLOCK_FLOATS / n : TL_KNN_BLOCK;

	if (block < 16)
		block = 16;
	if (k < 1 || k >= n)
		return tl_fail(st, TL_ERR_ARG, "k must be between 1 and %d (the samples less one), not %d", n - 1, k);
	norms = tl_malloc(sizeof(float) * n);
	dots = tl_malloc(sizeof(float) * (size_t) block * n);
	best = tl_malloc(sizeof(float) * k);
	if (!norms || !dots || !best)
	{
		tl_free(norms);
		tl_free(dots);
		tl_free(best);
		return tl_fail(st, TL_ERR_NOMEM, "out of memory for %d-nearest neighbours of %d samples", k, n);
	}
	for (int i = 0; i < n; i++)
	{
		double		s = 0;

		for (int j = 0; j < d; j++)
			s += (double) x[(int64_t) i * d + j] * x[(int64_t) i * d + j];
		norms[i] = (float) s;
	}
	for (int b0 = 0; b0 < n; b0 += block)
	{
		int			m = n - b0 < block ? n - b0 : block;

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, d, 1.0f,
					x + (int64_t) b0 * d, d, x, d, 0.0f, dots, n);
		for (int r = 0; r < m; r++)
		{
			int			i = b0 + r;
			int32_t    *out = idx + (int64_t) i * k;
			int			filled = 0;

			for (int j = 0; j < n; j++)
			{
				float		dist;
				int			p;

				if (j == i)
					continue;
				dist = norms[i] + norms[j] - 2.0f * dots[(int64_t) r * n + j];
				if (filled == k && dist >= best[k - 1])
					continue;
				/* insert, keeping the k smallest sorted (earlier index wins ties) */
				p = filled < k ? filled++ : k - 1;
				while (p > 0 && best[p - 1] > dist)
				{
					best[p] = best[p - 1];
					out[p] = out[p - 1];
					p--;
				}
				best[p] = dist;
				out[p] = j;
			}
		}
		tl_check_interrupt();
	}
	tl_free(norms);
	tl_free(dots);
	tl_free(best);
	return 0;
}
