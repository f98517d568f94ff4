/*
 * pg_model_load.c — parsing model bytes inside a backend.
 *
 * The bytes come from users, so libhdf5 and friends never run in the
 * backend itself: the core forks a parser process (tl_isolate.c) and
 * rebuilds the model from what it sends back.  Here the wait for it is
 * made interruptible, and the child is killed on any error (cancel,
 * statement_timeout), so no parser outlives its query; a backend that
 * exits takes its parser with it (PR_SET_PDEATHSIG, or the child's alarm).
 */
#include "tl_pg.h"

#include "miscadmin.h"

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
