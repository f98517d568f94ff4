/*
 * pg_model_load.c — parsing model bytes inside a backend.
 *
 * The bytes come from users, so libhdf5 and friends never run in the
 * backend itself: the core forks a parser process (tl_isolate.c) and
 * rebuilds the model from what it sends back.  Here the wait for it is
 * made interruptible, and the child is killed on any error (cancel,
 * statement_timeout), so no parser outlives its query; a backend that
 * exits takes its parser with it (PR_SET_PDEATHSIG, or the child's alarm).
 *
 * That costs a fork per cold load, so a model is parsed this way once, at
 * import, and stored also in its compiled form — the flat stream the parser
 * sends back (tl_model_flat.c) — which later backends read directly: no
 * libhdf5, no fork, only a checked copy of the weights.
 */
#include "tl_pg.h"

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "format/tl_format.h"

tl_model *
tl_pg_model_load(const void *data, size_t len, const char *name)
{
	tl_status	st = {0};
	tl_limits	lim = tl_pg_limits();
	tl_isolate_opts opts = {0};
	tl_isolate *iso;
	tl_model   *m;

	opts.timeout_ms = tl_guc_model_parse_timeout_ms;
	/* room for the file, its weights as floats, and libhdf5's own needs */
	opts.max_child_bytes = 3 * lim.max_file_bytes + (size_t) 1024 * 1024 * 1024;
	iso = tl_isolate_start(data, len, &lim, &opts, &st);
	if (iso == NULL)
		tl_pg_raise(&st, name);
	PG_TRY();
	{
		while (!tl_isolate_poll(iso, 100))
			CHECK_FOR_INTERRUPTS();
	}
	PG_CATCH();
	{
		tl_isolate_abort(iso);
		PG_RE_THROW();
	}
	PG_END_TRY();
	m = tl_isolate_finish(iso, &st);
	if (m == NULL)
		tl_pg_raise(&st, name);
	return m;
}

static int
append_flat(void *arg, const void *p, size_t n)
{
	StringInfo	buf = (StringInfo) arg;

	if (n > (size_t) (MaxAllocHugeSize - buf->len - 1))
		return -1;
	appendBinaryStringInfo(buf, p, (int) n);
	return 0;
}

bytea *
tl_pg_model_compile(const tl_model *m)
{
	StringInfoData buf;
	bytea	   *result;

	/* a StringInfo grows past 1 GB only with the huge flag; models stay far below */
	initStringInfo(&buf);
	appendStringInfoSpaces(&buf, VARHDRSZ);
	if (tl_flat_write_model(m, append_flat, &buf) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the compiled model is too large to store")));
	result = (bytea *) buf.data;
	SET_VARSIZE(result, buf.len);
	return result;
}

tl_model *
tl_pg_model_from_compiled(const void *flat, size_t len)
{
	tl_status	st = {0};
	tl_limits	lim = tl_pg_limits();

	/* the reader checks every length; anything odd means: parse the file instead */
	return tl_flat_read(flat, len, &lim, &st);
}
