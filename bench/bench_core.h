/*
 * bench/bench_core.h — what the core's benchmarks (row_bench.c,
 * plain_bench.c) share: thread CPU time, a double comparison for qsort, and
 * a model loaded from a file.
 */
#ifndef BENCH_CORE_H
#define BENCH_CORE_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "base/tl_core.h"

static double
thread_cpu(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

/* The model in file `path` (256 MB limits), or NULL with the reason printed. */
static tl_model *
load_model_file(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	tl_status	st = {0};
	tl_limits	lim = {256 << 20, 256 << 20};
	tl_model   *m;
	char	   *buf;
	long		len;

	if (f == NULL)
		return perror(path), NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(len);
	if (buf == NULL || fread(buf, 1, len, f) != (size_t) len)
	{
		perror(path);
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	m = tl_model_load(buf, len, &lim, &st);	/* buf stays: the program's life */
	if (m == NULL)
		fprintf(stderr, "%s: %s\n", path, st.msg);
	return m;
}

#endif							/* BENCH_CORE_H */
