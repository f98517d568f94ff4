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
 *
 * And it can read nothing but the bytes it was given (confine()): before
 * parsing, it closes every descriptor it inherited except its pipe (the
 * backend's data files, its client's socket), moves to an empty directory
 * (one it makes and removes, so relative names resolve nowhere) and, on
 * Linux, installs a seccomp filter under which opening, creating, linking,
 * executing, connecting and looking up files by name fail with EACCES.  So
 * even a bug in libhdf5 that followed an external link or storage the
 * reader's checks (keras_h5.c) missed cannot read a server file.
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
#include <stdlib.h>
#ifdef __linux__
#include <stddef.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

#include "format/tl_format.h"

#define READ_CHUNK (256 * 1024)
/* the child's exit status when it cannot confine itself */
#define CONFINE_FAILED 4

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

#ifdef __linux__
#if defined(__x86_64__)
#define SECCOMP_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SECCOMP_ARCH AUDIT_ARCH_AARCH64
#endif
#endif

#ifdef SECCOMP_ARCH
#define DENY_IF(nr) \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES)
/* fstat() is fstatat(fd, "", AT_EMPTY_PATH): allow that form only */
#define DENY_UNLESS_EMPTY_PATH(nr, flags_arg) \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 4), \
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[flags_arg])), \
	BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, AT_EMPTY_PATH, 0, 1), \
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), \
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES)

/*
 * Every system call that names a file, executes, or reaches another
 * process or the network fails with EACCES; the rest (memory, the pipe,
 * time, exit) is allowed.  Returns 0 when installed.
 */
static int
deny_file_access(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SECCOMP_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#ifdef __x86_64__
		/* the x32 ABI numbers the same calls differently */
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
#endif
#ifdef __NR_open
		DENY_IF(__NR_open),
#endif
#ifdef __NR_creat
		DENY_IF(__NR_creat),
#endif
		DENY_IF(__NR_openat),
#ifdef __NR_openat2
		DENY_IF(__NR_openat2),
#endif
		DENY_IF(__NR_open_by_handle_at),
		DENY_IF(__NR_name_to_handle_at),
		DENY_IF(__NR_execve),
		DENY_IF(__NR_execveat),
		DENY_IF(__NR_socket),
		DENY_IF(__NR_connect),
		DENY_IF(__NR_ptrace),
		DENY_IF(__NR_process_vm_readv),
		DENY_IF(__NR_process_vm_writev),
		DENY_IF(__NR_chdir),
		DENY_IF(__NR_chroot),
		DENY_IF(__NR_truncate),
		DENY_IF(__NR_linkat),
		DENY_IF(__NR_symlinkat),
		DENY_IF(__NR_unlinkat),
		DENY_IF(__NR_renameat),
#ifdef __NR_renameat2
		DENY_IF(__NR_renameat2),
#endif
		DENY_IF(__NR_mkdirat),
		DENY_IF(__NR_mknodat),
		DENY_IF(__NR_fchmodat),
		DENY_IF(__NR_fchownat),
		DENY_IF(__NR_faccessat),
#ifdef __NR_faccessat2
		DENY_IF(__NR_faccessat2),
#endif
		DENY_IF(__NR_readlinkat),
		DENY_IF(__NR_inotify_add_watch),
		DENY_IF(__NR_getxattr),
		DENY_IF(__NR_lgetxattr),
		DENY_IF(__NR_listxattr),
		DENY_IF(__NR_llistxattr),
#ifdef __NR_link
		DENY_IF(__NR_link),
		DENY_IF(__NR_symlink),
		DENY_IF(__NR_unlink),
		DENY_IF(__NR_rename),
		DENY_IF(__NR_mkdir),
		DENY_IF(__NR_rmdir),
		DENY_IF(__NR_mknod),
		DENY_IF(__NR_chmod),
		DENY_IF(__NR_chown),
		DENY_IF(__NR_lchown),
		DENY_IF(__NR_access),
		DENY_IF(__NR_readlink),
		DENY_IF(__NR_stat),
		DENY_IF(__NR_lstat),
		DENY_IF(__NR_utime),
		DENY_IF(__NR_utimes),
		DENY_IF(__NR_uselib),
#endif
#ifdef __NR_newfstatat
		DENY_UNLESS_EMPTY_PATH(__NR_newfstatat, 3),
#endif
#ifdef __NR_statx
		DENY_UNLESS_EMPTY_PATH(__NR_statx, 2),
#endif
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {(unsigned short) (sizeof(f) / sizeof(f[0])), f};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}
#endif

/*
 * After this the child reads only what it holds: its descriptors are the
 * pipe (and stderr, for crash reports), its directory is an empty one that
 * no longer exists, and — with seccomp — no file can be named at all.
 */
static int
confine(int keep_fd)
{
	char		dir[] = "/tmp/tensorlens-parser-XXXXXX";
	long		max_fd = sysconf(_SC_OPEN_MAX);
	int			null;

	/* the pipe above the standard descriptors, which are replaced */
	if (keep_fd <= 2 && (keep_fd = fcntl(keep_fd, F_DUPFD, 3)) < 0)
		_exit(CONFINE_FAILED);
	null = open("/dev/null", O_RDWR);
	if (null >= 0)
	{
		dup2(null, 0);
		dup2(null, 1);
		if (null > 2)
			close(null);
	}
	for (int fd = 3; fd < keep_fd; fd++)
		close(fd);
#ifdef __linux__
	if (close_range((unsigned) keep_fd + 1, ~0U, 0) < 0)
#endif
		for (long fd = keep_fd + 1; fd < (max_fd > 0 && max_fd < 65536 ? max_fd : 65536); fd++)
			close((int) fd);
	/* an empty directory, removed once inside: relative names find nothing */
	if (mkdtemp(dir) != NULL && chdir(dir) == 0)
		rmdir(dir);
	else if (chdir("/") < 0)
		_exit(CONFINE_FAILED);
#ifdef SECCOMP_ARCH
	if (deny_file_access() < 0)
		_exit(CONFINE_FAILED);
#endif
	return keep_fd;
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
	fd = confine(fd);
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
	else if (WIFEXITED(status) && WEXITSTATUS(status) == CONFINE_FAILED)
		tl_fail(st, TL_ERR_UNSUPPORTED,
				"the model parser process could not shut itself off from the server's files "
				"(seccomp unavailable?); no model file is parsed without that");
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
