/*
 * test_util.h — what the core's unit test programs share: the pass/fail
 * counters with CHECK/CHECK_NEAR, reading a whole file, the fixture
 * directory (each program's first argument) and loading a fixture.  Each
 * program prints one line per failed check and a final "N passed, N failed".
 */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

#include "base/tl_core.h"

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

/* The fixture directory: the program's first argument. */
static const char *fixtures __attribute__((unused)) = "test/fixtures";

static inline char *
read_file(const char *name, size_t *len)
{
	char		path[1024];
	char	   *buf;

	buf = snprintf(path, sizeof(path), "%s/%s", fixtures, name) < (int) sizeof(path) ?
		read_whole_file(path, len) : NULL;
	if (buf == NULL)
	{
		printf("FAIL cannot open fixture %s\n", path);
		failed++;
	}
	return buf;
}

/*
 * Loads the model file at path (NULL if it cannot be read; st cleared
 * first): in this process, or (isolated) in a parser process with opts.
 */
static inline tl_model *
load_model_file(const char *path, int isolated, const tl_isolate_opts *opts, tl_status *st)
{
	size_t		len;
	char	   *buf = read_whole_file(path, &len);
	tl_limits	lim = {64 << 20, 64 << 20};
	tl_model   *m;

	tl_status_clear(st);
	if (buf == NULL)
		return NULL;
	m = isolated ? tl_model_load_isolated(buf, len, &lim, opts, st) : tl_model_load(buf, len, &lim, st);
	free(buf);
	return m;
}

/* The same for a fixture; a fixture that cannot be read fails a check. */
static inline tl_model *
load_fixture_how(const char *name, int isolated, const tl_isolate_opts *opts, tl_status *st)
{
	char		path[1024];
	tl_model   *m = NULL;

	if (snprintf(path, sizeof(path), "%s/%s", fixtures, name) < (int) sizeof(path))
		m = load_model_file(path, isolated, opts, st);
	if (m == NULL && st->code == TL_OK)
	{
		printf("FAIL cannot open fixture %s/%s\n", fixtures, name);
		failed++;
	}
	return m;
}

static inline tl_model *
load_fixture(const char *name, tl_status *st)
{
	return load_fixture_how(name, 0, NULL, st);
}

static inline tl_model *
load_fixture_isolated(const char *name, const tl_isolate_opts *opts, tl_status *st)
{
	return load_fixture_how(name, 1, opts, st);
}

/* The closing line of every program; its exit status. */
static inline int
test_summary(void)
{
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

/* A uniform draw in (0, 1) from a 64-bit LCG state: planted cases without libc's rand. */
static inline double
test_uniform(uint64_t *state)
{
	*state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
	return ((*state >> 11) + 0.5) / 9007199254740992.0;
}

/* A standard normal draw (Box-Muller) from the same state. */
static inline double
test_gauss(uint64_t *state)
{
	double		u = test_uniform(state);

	return sqrt(-2 * log(u)) * cos(6.283185307179586 * test_uniform(state));
}

#endif							/* TEST_UTIL_H */
