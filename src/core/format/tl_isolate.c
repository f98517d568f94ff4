/*
 * tl_isolate.c — parsing a model file in a forked child process.
 *
 * libhdf5 1.10 has known crash bugs in its superblock, object header and
 * B-tree parsers; a hostile .h5 could take down whatever process parses it
 * (inside the server: a backend, and with it every session, as the
 * postmaster restarts after a crash).  So the file is parsed by a child
 * forked without exec, which inherits the bytes and sends back the parsed
 * model as a flat stream (tl_model_flat.c) through a pipe.  The parent only
 * runs that stream's checked reader, the JSON config parser and the shape
 * checks, which are fuzzed.
 *
 * The child owns nothing of its parent: it restores default signal handling
 * (a crash kills it, not a handler that would touch shared state), switches
 * the core to malloc, drops core dumps (the server's working directory is
 * its data directory), offers itself to the OOM killer first, caps its
 * address space and run time if asked, dies with its parent, calls no BLAS
 * (OpenBLAS threads do not survive fork) and leaves with _exit (no atexit
 * handlers).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE				/* pipe2, F_SETPIPE_SZ */
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "format/tl_format.h"

#define READ_CHUNK (256 * 1024)

struct tl_isolate
{
	pid_t		pid;			/* 0 once reaped */
	int			fd;				/* read end of the pipe, -1 once closed */
	tl_limits	lim;
	int			timeout_ms;
	struct timespec start;
	char	   *buf;			/* the stream so far */
	size_t		len,
				cap,
				max_len;
	int			done;
	tl_status	err;			/* a failure seen while reading */
};

/* ---- the child ---------------------------------------------------------- */
typedef struct pipe_writer
{
	int			fd;
	size_t		n;
	char		buf[64 * 1024];
} pipe_writer;

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0)
	{
		ssize_t		w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t) w;
	}
	return 0;
}

static int
pipe_write(void *arg, const void *p, size_t n)
{
	pipe_writer *pw = arg;

	if (pw->n + n > sizeof(pw->buf))
	{
		if (write_all(pw->fd, pw->buf, pw->n) < 0)
			return -1;
		pw->n = 0;
		if (n > sizeof(pw->buf))
			return write_all(pw->fd, p, n);
	}
	memcpy(pw->buf + pw->n, p, n);
	pw->n += n;
	return 0;
}

/*
 * Caps the child's address space at what it uses now plus extra.  Not
 * under sanitizers: their runtimes reserve terabytes of shadow memory.
 */
static void
cap_address_space(size_t extra)
{
#if !defined(__SANITIZE_ADDRESS__) && !defined(TL_SANITIZE)
	FILE	   *f = fopen("/proc/self/statm", "r");
	unsigned long pages = 0;
	struct rlimit as;

	if (f == NULL)
		return;
	if (fscanf(f, "%lu", &pages) == 1 && pages > 0)
	{
		as.rlim_cur = as.rlim_max = (rlim_t) pages * (rlim_t) sysconf(_SC_PAGESIZE) + extra;
		setrlimit(RLIMIT_AS, &as);
	}
	fclose(f);
#else
	(void) extra;
#endif
}

static void
child_setup(pid_t parent, const tl_isolate_opts *opts)
{
	struct rlimit no_core = {0, 0};
	sigset_t	all;
	FILE	   *f;

#ifdef __linux__
	prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
	if (getppid() != parent)
		_exit(3);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	setrlimit(RLIMIT_CORE, &no_core);
	f = fopen("/proc/self/oom_score_adj", "w");
	if (f)
	{
		fputs("1000", f);
		fclose(f);
	}
	if (opts->max_child_bytes > 0)
		cap_address_space(opts->max_child_bytes);
	/* its own deadline too, in case its parent is gone (SIGALRM kills) */
	if (opts->timeout_ms > 0)
		alarm((unsigned) (opts->timeout_ms / 1000 + 2));
	tl_set_allocator(NULL);
	tl_set_interrupt_hook(NULL);
}

static void
child_main(int fd, pid_t parent, const void *data, size_t len,
		   const tl_limits *lim, const tl_isolate_opts *opts)
{
	static pipe_writer pw;
	tl_status	st = {0};
	tl_model   *m;
	int			rc;

	child_setup(parent, opts);
	if (opts->child_hook)
		opts->child_hook();
	pw.fd = fd;
	m = tl_model_load(data, len, lim, &st);
	rc = m ? tl_flat_write_model(m, pipe_write, &pw) :
		tl_flat_write_status(&st, pipe_write, &pw);
	if (rc == 0)
		rc = write_all(fd, pw.buf, pw.n);
	_exit(rc == 0 ? 0 : 2);
}

/* ---- the parent --------------------------------------------------------- */
static const tl_isolate_opts no_opts = {0, 0, NULL};

tl_isolate *
tl_isolate_start(const void *data, size_t len, const tl_limits *lim,
				 const tl_isolate_opts *opts, tl_status *st)
{
	tl_isolate *iso;
	int			p[2];
	pid_t		parent = getpid();

	if (opts == NULL)
		opts = &no_opts;
	iso = tl_calloc(1, sizeof(tl_isolate));
	if (iso == NULL)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory");
		return NULL;
	}
	iso->fd = -1;
	iso->lim = *lim;
	iso->timeout_ms = opts->timeout_ms;
	/* the stream holds the weights and at most three strings of the file */
	iso->max_len = lim->max_weight_bytes + 3 * lim->max_file_bytes +
		(size_t) TL_MAX_LAYERS * (4 + TL_MAX_WEIGHTS * (4 + 4 * TL_MAX_DIMS + 8)) + 64;
	clock_gettime(CLOCK_MONOTONIC, &iso->start);
	if (pipe2(p, O_CLOEXEC) < 0)
	{
		tl_fail(st, TL_ERR_NOMEM, "cannot create a pipe for the model parser: %s", strerror(errno));
		tl_free(iso);
		return NULL;
	}
#ifdef F_SETPIPE_SZ
	fcntl(p[1], F_SETPIPE_SZ, 1024 * 1024);	/* fewer wake-ups; best effort */
#endif
	/* the library's start-up, done once here, is inherited by every child */
	tl_h5_init();
	fflush(NULL);				/* the child must not flush our stdio buffers */
	iso->pid = fork();
	if (iso->pid == 0)
	{
		close(p[0]);
		child_main(p[1], parent, data, len, lim, opts);
	}
	close(p[1]);
	if (iso->pid < 0)
	{
		tl_fail(st, TL_ERR_NOMEM, "cannot start the model parser process: %s", strerror(errno));
		close(p[0]);
		tl_free(iso);
		return NULL;
	}
	iso->fd = p[0];
	fcntl(iso->fd, F_SETFL, fcntl(iso->fd, F_GETFL) | O_NONBLOCK);
	return iso;
}

static int
elapsed_ms(const tl_isolate *iso)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int) ((now.tv_sec - iso->start.tv_sec) * 1000 +
				  (now.tv_nsec - iso->start.tv_nsec) / 1000000);
}

/* Reads what the pipe holds; sets done at end of stream or on failure. */
static void
drain(tl_isolate *iso)
{
	for (;;)
	{
		ssize_t		r;

		if (iso->cap - iso->len < READ_CHUNK)
		{
			size_t		cap = iso->cap ? iso->cap * 2 : 4 * READ_CHUNK;
			char	   *b;

			b = tl_realloc(iso->buf, cap);
			if (b == NULL)
			{
				tl_fail(&iso->err, TL_ERR_NOMEM, "out of memory reading the parsed model");
				iso->done = 1;
				return;
			}
			iso->buf = b;
			iso->cap = cap;
		}
		r = read(iso->fd, iso->buf + iso->len, READ_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0)
		{
			iso->done = 1;		/* end of stream (or a broken pipe) */
			return;
		}
		iso->len += (size_t) r;
		if (iso->len > iso->max_len)
		{
			tl_fail(&iso->err, TL_ERR_LIMIT,
					"the parsed model is larger than the limits allow (tensorlens.max_model_size)");
			iso->done = 1;
			return;
		}
	}
}

int
tl_isolate_poll(tl_isolate *iso, int wait_ms)
{
	struct pollfd pfd;

	if (iso->done)
		return 1;
	if (iso->timeout_ms > 0)
	{
		int			left = iso->timeout_ms - elapsed_ms(iso);

		if (left <= 0)
		{
			tl_fail(&iso->err, TL_ERR_LIMIT,
					"parsing the model file took longer than %d ms (tensorlens.model_parse_timeout)",
					iso->timeout_ms);
			iso->done = 1;
			return 1;
		}
		if (wait_ms > left)
			wait_ms = left;
	}
	pfd.fd = iso->fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (poll(&pfd, 1, wait_ms) > 0)
		drain(iso);
	return iso->done;
}

/* Kills the child unless it has already exited; returns its wait status. */
static int
reap(tl_isolate *iso, int kill_it)
{
	int			status = 0;

	if (iso->fd >= 0)
	{
		close(iso->fd);
		iso->fd = -1;
	}
	if (iso->pid > 0)
	{
		if (kill_it)
			kill(iso->pid, SIGKILL);
		while (waitpid(iso->pid, &status, 0) < 0 && errno == EINTR)
			;
		iso->pid = 0;
	}
	return status;
}

static void
free_isolate(tl_isolate *iso)
{
	tl_free(iso->buf);
	tl_free(iso);
}

tl_model *
tl_isolate_finish(tl_isolate *iso, tl_status *st)
{
	tl_model   *m = NULL;
	int			failed = iso->err.code != TL_OK;
	int			status = reap(iso, failed);

	if (failed)
		tl_fail(st, iso->err.code, "%s", iso->err.msg);
	else if (WIFSIGNALED(status))
		tl_fail(st, TL_ERR_FORMAT,
				"the model file crashed the parser (signal %d); it is corrupt or hostile",
				WTERMSIG(status));
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		tl_fail(st, TL_ERR_FORMAT, "the model parser process failed (exit status %d)",
				WEXITSTATUS(status));
	else
		m = tl_flat_read(iso->buf, iso->len, &iso->lim, st);
	free_isolate(iso);
	return m;
}

void
tl_isolate_abort(tl_isolate *iso)
{
	if (iso == NULL)
		return;
	reap(iso, 1);
	free_isolate(iso);
}

tl_model *
tl_model_load_isolated(const void *data, size_t len, const tl_limits *lim,
					   const tl_isolate_opts *opts, tl_status *st)
{
	tl_isolate *iso = tl_isolate_start(data, len, lim, opts, st);

	if (iso == NULL)
		return NULL;
	while (!tl_isolate_poll(iso, 1000))
		;
	return tl_isolate_finish(iso, st);
}
