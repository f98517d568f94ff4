/*
 * bench/row_bench.c — the core alone: thread CPU time of tl_runner_forward
 * on one sample per call (what a per-row tl_infer runs) against batches of
 * bs samples (tl_infer_batch), on the same n samples, the two sides
 * alternating batch by batch, one BLAS thread.  The inputs are random token
 * ids in [0, vocab), T per sample; fusion is prepared as the server does
 * (64 MB).  Prints each round, the median, min and max of µs per sample and
 * of the per-row overhead, and how far the two sides' outputs differ.
 *
 *   make build/row_bench      (the objects `make` built for the server)
 *   build/row_bench MODEL.h5 T [n=5000] [bs=64] [rounds=7] [vocab=5000] [only]
 *
 * only = "row" or "batch" runs that side alone (to profile it under perf).
 */
#include <math.h>
#include <string.h>
#include <cblas.h>

#include "bench_core.h"

static void
report(const char *what, double *v, int n)
{
	qsort(v, n, sizeof(double), cmp_double);
	printf("%-14s median %8.2f µs  min %8.2f  max %8.2f\n", what, v[n / 2], v[0], v[n - 1]);
}

int
main(int argc, char **argv)
{
	tl_status	st = {0};
	tl_model   *m;
	tl_runner  *r;
	tl_shape	in;
	int			T,
				n,
				bs,
				rounds,
				vocab;
	float	   *x;
	double	   *row,
			   *bat,
			   *diff;
	uint64_t	s = 1;
	float	   *y1;
	double		maxdiff = 0;
	int			do_row,
				do_batch;

	if (argc < 3)
	{
		fprintf(stderr, "usage: %s MODEL T [n] [bs] [rounds] [vocab]\n", argv[0]);
		return 2;
	}
	T = atoi(argv[2]);
	n = argc > 3 ? atoi(argv[3]) : 5000;
	bs = argc > 4 ? atoi(argv[4]) : 64;
	rounds = argc > 5 ? atoi(argv[5]) : 7;
	vocab = argc > 6 ? atoi(argv[6]) : 5000;
	do_row = argc <= 7 || strcmp(argv[7], "batch") != 0;
	do_batch = argc <= 7 || strcmp(argv[7], "row") != 0;
	openblas_set_num_threads(1);
	m = load_model_file(argv[1]);
	if (m == NULL)
		return 1;
	if (tl_model_prepare_fusion(m, 64 << 20, &st) < 0 ||
		tl_model_fit_input(m, NULL, 1, T, &in, &st) < 0)
	{
		fprintf(stderr, "%s\n", st.msg);
		return 1;
	}
	x = malloc(sizeof(float) * (size_t) n * T);
	y1 = malloc(sizeof(float) * n);
	for (int64_t i = 0; i < (int64_t) n * T; i++)
	{
		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		x[i] = (float) ((s >> 33) % vocab);
	}
	r = tl_runner_new(m, (size_t) 1 << 30, &st);
	if (r == NULL || tl_runner_keep(r, NULL, 0, &st) < 0)
	{
		fprintf(stderr, "%s\n", st.msg);
		return 1;
	}
	row = malloc(sizeof(double) * rounds);
	bat = malloc(sizeof(double) * rounds);
	diff = malloc(sizeof(double) * rounds);
	for (int k = -1; k < rounds; k++)	/* round -1 warms the buffers */
	{
		double		trow = 0,
					tbat = 0;

		/* the two sides alternate batch by batch over the same rows: a
		 * change of the machine's speed (a shared VM) falls on both */
		for (int i = 0; i < n; i += bs)
		{
			int			b = n - i < bs ? n - i : bs;
			double		t0 = thread_cpu(),
						t1,
						t2;

			for (int j = 0; do_row && j < b; j++)
			{
				if (tl_runner_forward(r, &in, x + (int64_t) (i + j) * T, 1, &st) < 0)
					return fprintf(stderr, "%s\n", st.msg), 1;
				y1[i + j] = tl_runner_output(r, -1, NULL)[0];
			}
			t1 = thread_cpu();
			if (do_batch && tl_runner_forward(r, &in, x + (int64_t) i * T, b, &st) < 0)
				return fprintf(stderr, "%s\n", st.msg), 1;
			t2 = thread_cpu();
			for (int j = 0; do_row && do_batch && j < b; j++)
			{
				double		d = fabs(y1[i + j] - tl_runner_output(r, -1, NULL)[j]);

				maxdiff = d > maxdiff ? d : maxdiff;
			}
			trow += t1 - t0;
			tbat += t2 - t1;
		}
		if (k < 0)
			continue;
		row[k] = 1e6 * trow / n;
		bat[k] = 1e6 * tbat / n;
		diff[k] = row[k] - bat[k];
		printf("round %d: per row %.2f µs, batched (bs %d) %.2f µs, overhead %.2f µs\n",
			   k, row[k], bs, bat[k], diff[k]);
	}
	report("per row", row, rounds);
	report("batched", bat, rounds);
	report("overhead", diff, rounds);
	printf("max |per row - batched| of the first output: %.3g\n", maxdiff);
	tl_runner_free(r);
	tl_model_free(m);
	free(x);
	free(y1);
	return 0;
}
