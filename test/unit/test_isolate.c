/*
 * test_isolate.c — unit tests of loading in a parser process and of the
 * flat stream it sends back (format/tl_isolate.c, format/tl_model_flat.c),
 * including libhdf5's own crashes contained (test/fuzz/hdf5_crashes).
 *
 * Usage: test_isolate FIXTURE_DIR.
 */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "base/tl_core.h"
#include "test_util.h"
#include "format/tl_format.h"

/* ---- isolated loading and the flat stream ------------------------------- */
static void
crash_hook(void)
{
	raise(SIGSEGV);
}

static void
hang_hook(void)
{
	sleep(30);
}

/*
 * What a parser process may still do (tl_isolate.c: confine): each way out
 * that works ends the child with its own status, which the parent reports.
 */
static int	inherited_fd = -1;
static char escape_path[1024];

static void
escape_hook(void)
{
	struct stat sb;
	char	   *argv[] = {"/bin/true", NULL};

	if (open("/etc/passwd", O_RDONLY) >= 0)
		_exit(20);
	if (open(escape_path, O_RDONLY) >= 0)
		_exit(21);
	if (openat(AT_FDCWD, "tiny_dense.h5", O_RDONLY) >= 0)
		_exit(22);
	if (open("new_file", O_WRONLY | O_CREAT, 0600) >= 0)
		_exit(23);
	if (stat("/etc/passwd", &sb) == 0)
		_exit(24);
	if (socket(AF_INET, SOCK_STREAM, 0) >= 0)
		_exit(25);
	if (fcntl(inherited_fd, F_GETFD) >= 0)
		_exit(26);
	if (chdir("/") == 0)
		_exit(27);
	/* had it run, /bin/true would end the child with an empty stream */
	execv(argv[0], argv);
}

static void
noop_exit_hook(void)
{
}

/* Runs 2 samples of zeros through m and returns output[0]. */
static float
first_output(const tl_model *m)
{
	tl_status	st = {0};
	tl_runner  *r = tl_runner_new(m, 1 << 24, &st);
	tl_shape	in = tl_model_input_shape(m);
	float	   *x = calloc(2 * (size_t) tl_shape_count(&in), sizeof(float));
	float		y = NAN;

	if (r && x && tl_runner_forward(r, &in, x, 2, &st) == 0)
		y = tl_runner_output(r, -1, NULL)[0];
	tl_runner_free(r);
	free(x);
	return y;
}

static void
test_isolated(void)
{
	tl_status	st,
				st2;
	tl_isolate_opts crash = {0, 0, crash_hook},
				hang = {300, 0, hang_hook},
				capped = {10000, 256 << 20, NULL};
	tl_model   *a = load_fixture("tiny_dense.h5", &st);
	tl_model   *b = load_fixture_isolated("tiny_dense.h5", &capped, &st2);

	CHECK(a && b, "isolated load of tiny_dense.h5: %s", st2.msg);
	if (a && b)
	{
		CHECK(strcmp(tl_model_config_json(a), tl_model_config_json(b)) == 0, "config differs");
		CHECK(strcmp(tl_model_keras_version(a), tl_model_keras_version(b)) == 0, "version differs");
		CHECK(tl_model_n_layers(a) == tl_model_n_layers(b), "layer count differs");
		CHECK(first_output(a) == first_output(b), "outputs differ: %g vs %g",
			  first_output(a), first_output(b));
	}
	tl_model_free(a);
	tl_model_free(b);

	/* a failure in the child arrives as the same status */
	load_fixture("bad/wrong_shape.h5", &st);
	b = load_fixture_isolated("bad/wrong_shape.h5", NULL, &st2);
	CHECK(b == NULL && st2.code == st.code && strcmp(st.msg, st2.msg) == 0,
		  "isolated failure: %d %s / %d %s", st.code, st.msg, st2.code, st2.msg);

	/* a crash of the parser is a clean format error */
	b = load_fixture_isolated("tiny_dense.h5", &crash, &st);
	CHECK(b == NULL && st.code == TL_ERR_FORMAT && strstr(st.msg, "signal 11") != NULL,
		  "crash: %d %s", st.code, st.msg);
	/* a parser that does not finish in time is killed */
	b = load_fixture_isolated("tiny_dense.h5", &hang, &st);
	CHECK(b == NULL && st.code == TL_ERR_LIMIT && strstr(st.msg, "longer than") != NULL,
		  "hang: %d %s", st.code, st.msg);
}

/* A growing memory buffer as a tl_flat_writer. */
typedef struct membuf
{
	char	   *p;
	size_t		n,
				cap;
} membuf;

static int
mem_write(void *arg, const void *p, size_t n)
{
	membuf	   *mb = arg;

	if (mb->n + n > mb->cap)
	{
		mb->cap = (mb->n + n) * 2;
		mb->p = realloc(mb->p, mb->cap);
	}
	memcpy(mb->p + mb->n, p, n);
	mb->n += n;
	return 0;
}

static void
test_flat(void)
{
	static const char *const files[] = {
		"tiny_dense.h5", "layers/bidirectional_concat_lstm.h5",
		"layers/batchnorm_conv.h5", "layers/keras3_zip_functional.keras",
	};
	tl_limits	lim = {64 << 20, 64 << 20};

	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++)
	{
		tl_status	st;
		tl_model   *a = load_fixture(files[f], &st),
				   *b;
		membuf		mb = {0};
		int			accepted = 0;

		CHECK(a != NULL, "%s: %s", files[f], st.msg);
		if (a == NULL)
			continue;
		tl_flat_write_model(a, mem_write, &mb);
		tl_status_clear(&st);
		b = tl_flat_read(mb.p, mb.n, &lim, &st);
		CHECK(b != NULL, "%s: flat read: %s", files[f], st.msg);
		if (b)
			CHECK(first_output(a) == first_output(b) && !isnan(first_output(a)),
				  "%s: outputs differ after the round trip", files[f]);
		tl_model_free(b);
		/* every truncation is refused */
		for (size_t n = 0; n < mb.n; n += 1 + n / 64)
		{
			tl_status_clear(&st);
			b = tl_flat_read(mb.p, n, &lim, &st);
			accepted += (b != NULL || st.code == TL_OK);
			tl_model_free(b);
		}
		CHECK(accepted == 0, "%s: %d truncated streams accepted", files[f], accepted);
		free(mb.p);
		tl_model_free(a);
	}
}

/*
 * Files that crash libhdf5 itself (found by fuzzing; not fixable here) must
 * come back from the isolated loader as a clean failure.
 */
static void
test_hdf5_crashes(void)
{
	char		dir[1024];
	DIR		   *d;
	struct dirent *e;
	tl_isolate_opts hdf5_opts = {10000, 0, NULL};

	snprintf(dir, sizeof(dir), "%s/../fuzz/hdf5_crashes", fixtures);
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL)
	{
		char		name[1100];
		tl_status	st;
		tl_model   *m;

		if (e->d_name[0] == '.')
			continue;
		snprintf(name, sizeof(name), "../fuzz/hdf5_crashes/%s", e->d_name);
		m = load_fixture_isolated(name, &hdf5_opts, &st);
		CHECK(m == NULL && st.code != TL_OK, "%s: no failure", e->d_name);
		tl_model_free(m);
	}
	closedir(d);
}

/*
 * The parser process can open no file, by any name, has no descriptor of
 * its parent's but its pipe, cannot execute or connect — and still parses.
 */
static void
test_confined(void)
{
	tl_status	st;
	tl_isolate_opts escape = {10000, 0, escape_hook},
				plain = {10000, 0, noop_exit_hook};
	tl_model   *m;

	snprintf(escape_path, sizeof(escape_path), "%s/tiny_dense.h5", fixtures);
	inherited_fd = open(escape_path, O_RDONLY);
	CHECK(inherited_fd >= 0, "the test opens %s", escape_path);
	m = load_fixture_isolated("tiny_dense.h5", &escape, &st);
	CHECK(m != NULL, "a confined parser got out: %s", st.msg);
	tl_model_free(m);
	m = load_fixture_isolated("layers/keras3_zip_functional.keras", &plain, &st);
	CHECK(m != NULL, "a confined parser reads a .keras archive: %s", st.msg);
	tl_model_free(m);
	close(inherited_fd);
}

/*
 * Model files that would make libhdf5 read other files (make_hostile.py:
 * outside_the_file) are refused by the reader itself, in and out of the
 * parser process, naming what is refused.
 */
static void
test_outside_the_file(void)
{
	static const char *const files[][2] = {
		{"x_external_storage_relative.h5", "keeps its data in external files"},
		{"x_external_storage_absolute.h5", "keeps its data in external files"},
		{"x_virtual_dataset.h5", "is a virtual dataset"},
		{"x_external_link.h5", "external (another file's) link"},
		{"x_filter_lzf.h5", "needs HDF5 filter 32000"},
		{"x_keras_external_storage.keras", "must hold its own data"},
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
	{
		char		name[256];
		tl_status	st;
		tl_model   *m;

		snprintf(name, sizeof(name), "hostile/%s", files[i][0]);
		m = load_fixture(name, &st);
		CHECK(m == NULL && st.code == TL_ERR_UNSUPPORTED && strstr(st.msg, files[i][1]) != NULL,
			  "%s: %d %s", files[i][0], st.code, st.msg);
		tl_model_free(m);
		m = load_fixture_isolated(name, NULL, &st);
		CHECK(m == NULL && st.code == TL_ERR_UNSUPPORTED && strstr(st.msg, files[i][1]) != NULL,
			  "%s isolated: %d %s", files[i][0], st.code, st.msg);
		tl_model_free(m);
	}
}

int
main(int argc, char **argv)
{
	if (argc > 1)
		fixtures = argv[1];
	test_isolated();
	test_confined();
	test_outside_the_file();
	test_flat();
	test_hdf5_crashes();
	return test_summary();
}
