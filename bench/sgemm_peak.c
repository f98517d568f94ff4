/*
 * bench/sgemm_peak.c — the single-thread sgemm rate of this machine's
 * OpenBLAS, the yardstick for the kernels' GFLOP/s (bench/run_all.sh).
 *
 *   cc -O2 -o sgemm_peak bench/sgemm_peak.c $(pkg-config --cflags --libs openblas)
 *   OPENBLAS_NUM_THREADS=1 ./sgemm_peak
 *
 * Prints one line per shape: "sgemm M N K gflops G cpu_gflops C" (best of
 * several repetitions, by wall time and by the process's CPU time, which a
 * busy shared machine inflates less), and the OpenBLAS kernel in use.  Shapes: 2048²,
 * the IMDB Conv1D's first layer as the plain path runs it (one review's 500
 * rows of 128 values against 7 taps x 32 filters side by side), and two
 * earlier forms of it: im2col (2340 patches of 7 x 128 values against 32
 * filters per block) and one product per tap (M x 128 x 32).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <cblas.h>

extern char *openblas_get_corename(void);
extern char *openblas_get_config(void);

static double
clock_s(clockid_t which)
{
	struct timespec ts;

	clock_gettime(which, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void
shape(const char *what, int m, int n, int k, int reps)
{
	float	   *a = malloc(sizeof(float) * (size_t) m * k);
	float	   *b = malloc(sizeof(float) * (size_t) k * n);
	float	   *c = malloc(sizeof(float) * (size_t) m * n);
	double		best = 1e30,
				best_cpu = 1e30;

	for (size_t i = 0; i < (size_t) m * k; i++)
		a[i] = (float) ((i * 7919) % 1000) / 1000.0f - 0.5f;
	for (size_t i = 0; i < (size_t) k * n; i++)
		b[i] = (float) ((i * 104729) % 1000) / 1000.0f - 0.5f;
	for (int round = 0; round < 5; round++)
	{
		double		t = clock_s(CLOCK_MONOTONIC),
					tc = clock_s(CLOCK_PROCESS_CPUTIME_ID);

		for (int r = 0; r < reps; r++)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k,
						1.0f, a, k, b, n, 0.0f, c, n);
		t = (clock_s(CLOCK_MONOTONIC) - t) / reps;
		tc = (clock_s(CLOCK_PROCESS_CPUTIME_ID) - tc) / reps;
		if (t < best)
			best = t;
		if (tc < best_cpu)
			best_cpu = tc;
	}
	printf("sgemm %d %d %d gflops %.1f cpu_gflops %.1f  (%s)\n", m, n, k,
		   2.0 * m * n * k / best / 1e9, 2.0 * m * n * k / best_cpu / 1e9, what);
	free(a);
	free(b);
	free(c);
}

int
main(void)
{
	openblas_set_num_threads(1);
	printf("openblas %s core %s\n", openblas_get_config(), openblas_get_corename());
	shape("square 2048", 2048, 2048, 2048, 2);
	shape("Conv1D im2col block", 2340, 32, 896, 40);
	shape("Conv1D per-tap block", 4096, 32, 128, 100);
	shape("Conv1D all taps, one review", 500, 224, 128, 200);
	return 0;
}
