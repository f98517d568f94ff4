/*
 * test_util.h — what the core's unit test programs share: the pass/fail
 * counters with CHECK/CHECK_NEAR, and reading a whole file.  Each program
 * prints one line per failed check and a final "N passed, N failed".
 */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

static int	passed,
			failed;

#define CHECK(cond, ...) do { \
	if (cond) passed++; \
	else { failed++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } \
} while (0)

#define CHECK_NEAR(a, b, tol) CHECK(fabs((double) (a) - (double) (b)) <= (tol), \
	"%s = %.9g, expected %.9g (tol %g)", #a, (double) (a), (double) (b), (double) (tol))

/* The whole file in a malloc'd buffer, its size in *len; NULL if it cannot
 * be opened. */
static inline char *
read_whole_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	long		n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n > 0 ? n : 1);
	if (n < 0 || fread(buf, 1, n, f) != (size_t) n)
		n = 0;
	fclose(f);
	*len = (size_t) n;
	return buf;
}

/* A uniform draw in (0, 1) from a 64-bit LCG state: planted cases without libc's rand. */
static inline double
test_uniform(uint64_t *state)
{
	*state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
	return ((*state >> 11) + 0.5) / 9007199254740992.0;
}

#endif							/* TEST_UTIL_H */
