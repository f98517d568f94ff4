/*
 * bench/plain_bench.c — the IMDB Conv1D model on the plain path (fusion
 * off) in the core: thread CPU time of tl_runner_forward over n random
 * reviews in batches of bs, against single-thread sgemm 2048² in the same
 * process, the two alternating round by round (a shared VM's changes of
 * speed fall on both).  Prints each round's GFLOP/s per CPU second and
 * its share of the peak, and the median and range of the shares.
 *
 *   make build/plain_bench
 *   build/plain_bench MODEL.h5 [n=2000] [bs=128] [rounds=7] [T=500] [vocab=2000]
 *
 * The FLOP count is bench/perf.py's (its two convolutions and the Dense).
 */
#include <cblas.h>

#include "bench_core.h"

/* GFLOP/s per CPU second of sgemm m x n x k, best of reps calls */
static double
sgemm_rate(int m, int n, int k, int reps)
{
	float	   *a = malloc(sizeof(float) * (size_t) m * k),
			   *b = malloc(sizeof(float) * (size_t) k * n),
			   *c = malloc(sizeof(float) * (size_t) m * n);
	double		best = 1e30;

	for (size_t i = 0; i < (size_t) m * k; i++)
		a[i] = (float) ((i * 7919) % 1000) / 1000.0f - 0.5f;
	for (size_t i = 0; i < (size_t) k * n; i++)
		b[i] = (float) ((i * 104729) % 1000) / 1000.0f - 0.5f;
	for (int r = 0; r < reps; r++)
	{
		double		t = thread_cpu();

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k,
					1.0f, a, k, b, n, 0.0f, c, n);
		t = thread_cpu() - t;
		best = t < best ? t : best;
	}
	free(a);
	free(b);
	free(c);
	return 2.0 * m * n * k / best / 1e9;
}

int
main(int argc, char **argv)
{
	tl_status	st = {0};
	tl_model   *m;
	tl_runner  *r;
	tl_shape	in;
	int			n = argc > 2 ? atoi(argv[2]) : 2000,
				bs = argc > 3 ? atoi(argv[3]) : 128,
				rounds = argc > 4 ? atoi(argv[4]) : 7,
				T = argc > 5 ? atoi(argv[5]) : 500,
				vocab = argc > 6 ? atoi(argv[6]) : 2000;
	double		flop = 2.0 * (494 * 7 * 128 * 32 + 92 * 7 * 32 * 32 + 32);
	double	   *share;
	float	   *x;
	uint64_t	s = 1;

	if (argc < 2)
		return fprintf(stderr, "usage: %s MODEL [n] [bs] [rounds] [T] [vocab]\n", argv[0]), 2;
	openblas_set_num_threads(1);
	if ((m = load_model_file(argv[1])) == NULL)
		return 1;
	if (tl_model_fit_input(m, NULL, 1, T, &in, &st) < 0)
		return fprintf(stderr, "%s\n", st.msg), 1;
	r = tl_runner_new(m, (size_t) 1 << 30, &st);
	if (r == NULL || tl_runner_keep(r, NULL, 0, &st) < 0)
		return fprintf(stderr, "%s\n", st.msg), 1;
	tl_runner_set_fusion(r, 0);
	x = malloc(sizeof(float) * (size_t) n * T);
	for (int64_t i = 0; i < (int64_t) n * T; i++)
	{
		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		x[i] = (float) ((s >> 33) % vocab);
	}
	share = malloc(sizeof(double) * rounds);
	for (int k = -1; k < rounds; k++)	/* round -1 warms the buffers */
	{
		double		t = thread_cpu(),
					peak,
					rate;

		for (int i = 0; i < n; i += bs)
			if (tl_runner_forward(r, &in, x + (int64_t) i * T, n - i < bs ? n - i : bs, &st) < 0)
				return fprintf(stderr, "%s\n", st.msg), 1;
		t = thread_cpu() - t;
		peak = sgemm_rate(2048, 2048, 2048, 3);
		rate = flop * n / t / 1e9;
		if (k < 0)
			continue;
		share[k] = 100 * rate / peak;
		printf("round %d: %.1f µs/review, %.1f GFLOP/s per CPU s, peak %.1f, %.1f %%\n",
			   k, 1e6 * t / n, rate, peak, share[k]);
	}
	qsort(share, rounds, sizeof(double), cmp_double);
	printf("share of peak: median %.1f %%, min %.1f, max %.1f\n",
		   share[rounds / 2], share[0], share[rounds - 1]);
	return 0;
}
