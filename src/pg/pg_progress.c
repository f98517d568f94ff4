/*
 * pg_progress.c — progress of long work (tl_evaluate, tl_analyze, the batch
 * functions, table-wide saliency, the report): NOTICE lines in the session
 * every tensorlens.progress_interval, and the view tl_progress for everyone
 * else.
 *
 * Where other sessions read it: PostgreSQL's own per-backend progress slot
 * (the shared memory behind pg_stat_progress_vacuum and friends: a command
 * type, a target and 20 int64 values, written under the slot's change
 * counter).  tensorlens claims the slot with a command type of its own,
 * TL_PROGRESS_COMMAND, outside PostgreSQL's enum, so that no
 * pg_stat_progress_* view shows it, and packs its numbers and two short
 * texts (function, phase) into the 20 values.  That needs no
 * shared_preload_libraries and no shared memory of our own: the slot exists
 * in every backend, and tl_progress reads every backend's slot through
 * pgstat_fetch_stat_local_beentry, with the permissions pg_stat_activity
 * applies.  A slot another command holds (a nested ANALYZE, COPY, ...) is
 * left alone.
 *
 * In the backend a small stack holds the work in progress (tl_evaluate
 * calls tl_analyze, which may run table-wide saliency ...): the slot shows
 * the outermost function with the innermost phase.  Entries die with their
 * (sub)transaction: an error anywhere leaves nothing behind.
 */
#include "tl_pg.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/acl.h"
#include "utils/backend_progress.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

int			tl_guc_progress_interval_ms = 10000;

/* 'T' 'L' : a command type PostgreSQL does not use */
#define TL_PROGRESS_COMMAND ((ProgressCommandType) 0x544C)
#define TL_PROGRESS_MAGIC INT64CONST(0x746C70726F677231)	/* "tlprogr1" */
#define MAX_DEPTH 8
#define FUNCTION_BYTES 32		/* 4 slot values */
#define PHASE_BYTES 64			/* 8 slot values */

/* slot layout */
enum
{
	P_MAGIC, P_RUN, P_DONE, P_TOTAL, P_ESTIMATED, P_STARTED, P_PHASE_STARTED, P_UPDATED,
	P_FUNCTION,					/* 4 values */
	P_PHASE = P_FUNCTION + FUNCTION_BYTES / 8,	/* 8 values */
	P_COUNT = P_PHASE + PHASE_BYTES / 8
};
StaticAssertDecl(P_COUNT == PGSTAT_NUM_PROGRESS_PARAM, "the slot has 20 values");

typedef struct progress_entry
{
	int			id;
	char		function[FUNCTION_BYTES];
	int32		run;			/* -1: none */
	char		phase[PHASE_BYTES];
	int64		done;
	int64		total;			/* -1: unknown */
	bool		estimated;		/* total is the planner's estimate */
	TimestampTz started;
	TimestampTz phase_started;
	SubTransactionId subid;
} progress_entry;

static progress_entry stack[MAX_DEPTH];
static int	depth;
static int	next_id = 1;
static TimestampTz last_notice;
static bool noticed;			/* a NOTICE was sent for the outermost work */

/* ---- the backend's slot ---------------------------------------------------- */
/* Copies src into dst (size bytes with the terminator), cut at a character boundary. */
static void
clip_copy(char *dst, const char *src, int size)
{
	int			len = pg_mbcliplen(src, strlen(src), size - 1);

	memcpy(dst, src, len);
	dst[len] = '\0';
}

static void
pack_text(int64 *vals, const char *s, int bytes)
{
	char		buf[PHASE_BYTES] = {0};

	strlcpy(buf, s, bytes);
	memcpy(vals, buf, bytes);
}

static void
unpack_text(const int64 *vals, char *s, int bytes)
{
	memcpy(s, vals, bytes);
	s[bytes - 1] = '\0';
}

static void
publish(TimestampTz now)
{
	static const int index[P_COUNT] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
	int64		vals[P_COUNT];
	const progress_entry *outer = &stack[0],
			   *inner = &stack[depth - 1];
	char		phase[PHASE_BYTES],
				both[FUNCTION_BYTES + PHASE_BYTES + 2];
	int32		run = -1;

	if (MyBEEntry == NULL || !pgstat_track_activities)
		return;
	if (MyBEEntry->st_progress_command != TL_PROGRESS_COMMAND)
	{
		/* never take the slot from a command of PostgreSQL's own */
		if (MyBEEntry->st_progress_command != PROGRESS_COMMAND_INVALID)
			return;
		pgstat_progress_start_command(TL_PROGRESS_COMMAND, InvalidOid);
	}
	for (int i = depth - 1; i >= 0 && run < 0; i--)
		run = stack[i].run;
	if (depth > 1 && strcmp(inner->function, outer->function) != 0)
	{
		snprintf(both, sizeof(both), "%s: %s", inner->function, inner->phase);
		clip_copy(phase, both, sizeof(phase));
	}
	else
		strlcpy(phase, inner->phase, sizeof(phase));
	vals[P_MAGIC] = TL_PROGRESS_MAGIC;
	vals[P_RUN] = run;
	vals[P_DONE] = inner->done;
	vals[P_TOTAL] = inner->total;
	vals[P_ESTIMATED] = inner->estimated;
	vals[P_STARTED] = outer->started;
	vals[P_PHASE_STARTED] = inner->phase_started;
	vals[P_UPDATED] = now;
	pack_text(vals + P_FUNCTION, outer->function, FUNCTION_BYTES);
	pack_text(vals + P_PHASE, phase, PHASE_BYTES);
	pgstat_progress_update_multi_param(P_COUNT, index, vals);
}

static void
release_slot(void)
{
	if (MyBEEntry != NULL && MyBEEntry->st_progress_command == TL_PROGRESS_COMMAND)
		pgstat_progress_end_command();
}

/* ---- NOTICE lines -------------------------------------------------------------- */
static double
seconds_between(TimestampTz a, TimestampTz b)
{
	return (double) (b - a) / USECS_PER_SEC;
}

static void
describe(const progress_entry *e, StringInfo s)
{
	appendStringInfoString(s, e->function);
	if (e->run >= 0)
		appendStringInfo(s, " (run %d)", e->run);
	if (e->phase[0])
		appendStringInfo(s, ": %s", e->phase);
	appendStringInfo(s, " " INT64_FORMAT, e->done);
	if (e->total >= 0)
		appendStringInfo(s, " of %s" INT64_FORMAT " (%d%%)", e->estimated ? "about " : "",
						 e->total, e->total > 0 ? (int) Min(100, 100 * e->done / e->total) : 100);
}

static void
notice_progress(const progress_entry *e, TimestampTz now)
{
	StringInfoData msg;
	double		elapsed = seconds_between(e->phase_started, now);

	initStringInfo(&msg);
	describe(e, &msg);
	if (e->total > e->done && e->done > 0)
		ereport(NOTICE,
				(errmsg("%s", msg.data),
				 errdetail("%.1f s in this phase, about %.0f s left.", elapsed,
						   elapsed * (e->total - e->done) / e->done)));
	else
		ereport(NOTICE,
				(errmsg("%s", msg.data),
				 errdetail("%.1f s in this phase.", elapsed)));
	pfree(msg.data);
}

static void
progress_changed(void)
{
	TimestampTz now;

	if (depth == 0)
		return;
	now = GetCurrentTimestamp();
	publish(now);
	if (tl_guc_progress_interval_ms > 0 &&
		TimestampDifferenceExceeds(last_notice, now, tl_guc_progress_interval_ms))
	{
		last_notice = now;
		noticed = true;
		notice_progress(&stack[depth - 1], now);
	}
}

/* ---- the C interface ------------------------------------------------------------- */
int
tl_progress_begin(const char *function, int32 run)
{
	progress_entry *e;
	TimestampTz now = GetCurrentTimestamp();

	if (depth == MAX_DEPTH)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("progress reports nest at most %d deep", MAX_DEPTH),
				 errhint("End the reports begun with tl_progress_end().")));
	e = &stack[depth++];
	memset(e, 0, sizeof(*e));
	e->id = next_id++;
	clip_copy(e->function, function, sizeof(e->function));
	e->run = run;
	e->total = -1;
	e->started = e->phase_started = now;
	e->subid = GetCurrentSubTransactionId();
	if (depth == 1)
	{
		last_notice = now;
		noticed = false;
	}
	publish(now);
	return e->id;
}

void
tl_progress_phase(const char *phase, int64 total, bool estimated)
{
	progress_entry *e;

	if (depth == 0)
		return;
	e = &stack[depth - 1];
	clip_copy(e->phase, phase, sizeof(e->phase));
	e->done = 0;
	e->total = total;
	e->estimated = estimated && total >= 0;
	e->phase_started = GetCurrentTimestamp();
	progress_changed();
}

void
tl_progress_set(int64 done)
{
	if (depth == 0)
		return;
	stack[depth - 1].done = done;
	progress_changed();
}

void
tl_progress_add(int64 n)
{
	if (depth > 0)
		tl_progress_set(stack[depth - 1].done + n);
}

/* The phase is over: what was done is the total (an estimate no longer). */
void
tl_progress_phase_done(void)
{
	if (depth == 0)
		return;
	stack[depth - 1].total = stack[depth - 1].done;
	stack[depth - 1].estimated = false;
	progress_changed();
}

void
tl_progress_end(int id)
{
	int			i;

	for (i = depth - 1; i >= 0 && stack[i].id != id; i--)
		;
	if (i < 0)
		return;					/* ended with its transaction already */
	if (i == 0 && noticed && tl_guc_progress_interval_ms > 0)
	{
		StringInfoData msg;

		initStringInfo(&msg);
		describe(&stack[0], &msg);
		ereport(NOTICE,
				(errmsg("%s, finished", msg.data),
				 errdetail("%.1f s in all.", seconds_between(stack[0].started, GetCurrentTimestamp()))));
		pfree(msg.data);
	}
	memmove(&stack[i], &stack[i + 1], sizeof(progress_entry) * (depth - i - 1));
	depth--;
	if (depth == 0)
		release_slot();
	else
		publish(GetCurrentTimestamp());
}

static void
end_per_row(void *arg)
{
	tl_progress_end(*(int *) arg);
}

void
tl_progress_per_row(tl_call_model *cm, const char *function)
{
	if (cm->progress_id == 0)
	{
		MemoryContextCallback *cb = MemoryContextAlloc(cm->cxt, sizeof(*cb));

		cm->progress_id = tl_progress_begin(function, -1);
		tl_progress_phase("samples", -1, false);
		cb->func = end_per_row;
		cb->arg = &cm->progress_id;
		MemoryContextRegisterResetCallback(cm->cxt, cb);
	}
	/* a report that ended with its (sub)transaction is not counted in */
	if (depth > 0 && stack[depth - 1].id == cm->progress_id)
		tl_progress_add(1);
}

/* Work begun in a transaction or subtransaction that ends is over. */
static void
progress_xact_callback(XactEvent event, void *arg)
{
	if (depth > 0 && (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
					  event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
					  event == XACT_EVENT_PREPARE))
	{
		depth = 0;
		release_slot();
	}
}

static void
progress_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB || depth == 0)
		return;
	while (depth > 0 && stack[depth - 1].subid >= mySubid)
		depth--;
	/* the abort also ended the slot's command (AbortSubTransaction) */
	if (depth > 0)
		publish(GetCurrentTimestamp());
	else
		release_slot();
}

void
tl_progress_init(void)
{
	DefineCustomIntVariable("tensorlens.progress_interval",
							"Time between NOTICE lines reporting the progress of long work; 0 turns them off.",
							"The view tl_progress shows the progress from other sessions at any time.",
							&tl_guc_progress_interval_ms, 10000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	RegisterXactCallback(progress_xact_callback, NULL);
	RegisterSubXactCallback(progress_subxact_callback, NULL);
}

/* ---- SQL ----------------------------------------------------------------------- */
static char *
text_arg(FunctionCallInfo fcinfo, int i, const char *what)
{
	char	   *s;

	if (PG_ARGISNULL(i))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what)));
	s = text_to_cstring(PG_GETARG_TEXT_PP(i));
	if (s[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", what)));
	return s;
}

static void
require_begun(const char *fn)
{
	if (depth == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s: no progress report was begun in this transaction", fn),
				 errhint("Call tl_progress_begin(function, run) first.")));
}

/* tl_progress_begin(function text, run integer DEFAULT NULL) → integer */
PG_FUNCTION_INFO_V1(pg_tl_progress_begin);
Datum
pg_tl_progress_begin(PG_FUNCTION_ARGS)
{
	char	   *function = text_arg(fcinfo, 0, "function");
	int32		run = PG_ARGISNULL(1) ? -1 : PG_GETARG_INT32(1);

	if (!PG_ARGISNULL(1) && run < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("run must not be negative, not %d", run)));
	PG_RETURN_INT32(tl_progress_begin(function, run));
}

/* tl_progress_step(phase text, done bigint, total bigint DEFAULT NULL) → void */
PG_FUNCTION_INFO_V1(pg_tl_progress_step);
Datum
pg_tl_progress_step(PG_FUNCTION_ARGS)
{
	char	   *phase = text_arg(fcinfo, 0, "phase");
	int64		done = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
	int64		total = PG_ARGISNULL(2) ? -1 : PG_GETARG_INT64(2);
	progress_entry *e;
	char		clipped[PHASE_BYTES];

	require_begun("tl_progress_step");
	if (done < 0 || (!PG_ARGISNULL(2) && total < 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("done and total must not be negative (done " INT64_FORMAT ", total " INT64_FORMAT ")",
						done, total)));
	e = &stack[depth - 1];
	clip_copy(clipped, phase, sizeof(clipped));
	if (strcmp(e->phase, clipped) != 0 || e->total != total)
		tl_progress_phase(phase, total, false);
	tl_progress_set(done);
	PG_RETURN_VOID();
}

/* tl_progress_end() → void: ends the innermost report */
PG_FUNCTION_INFO_V1(pg_tl_progress_end);
Datum
pg_tl_progress_end(PG_FUNCTION_ARGS)
{
	require_begun("tl_progress_end");
	tl_progress_end(stack[depth - 1].id);
	PG_RETURN_VOID();
}

/*
 * tl_progress_status() → the work in progress in every backend the caller
 * may see (its own roles', or all with pg_read_all_stats), as for
 * pg_stat_activity.  Always current: the transaction's snapshot of the
 * backends' status is dropped first (as pg_stat_clear_snapshot() does).
 */
PG_FUNCTION_INFO_V1(pg_tl_progress_status);
Datum
pg_tl_progress_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			n;
	TimestampTz now = GetCurrentTimestamp();

	InitMaterializedSRF(fcinfo, 0);
	pgstat_clear_backend_activity_snapshot();
	n = pgstat_fetch_stat_numbackends();
	for (int b = 1; b <= n; b++)
	{
		LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(b);
		PgBackendStatus *be;
		const int64 *p;
		Datum		values[11];
		bool		nulls[11] = {0};
		char		function[FUNCTION_BYTES],
					phase[PHASE_BYTES];
		int64		done,
					total;

		if (local == NULL)
			continue;
		be = &local->backendStatus;
		p = be->st_progress_param;
		if (be->st_progress_command != TL_PROGRESS_COMMAND || p[P_MAGIC] != TL_PROGRESS_MAGIC)
			continue;
		if (!has_privs_of_role(GetUserId(), be->st_userid) &&
			!has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS))
			continue;
		unpack_text(p + P_FUNCTION, function, FUNCTION_BYTES);
		unpack_text(p + P_PHASE, phase, PHASE_BYTES);
		done = p[P_DONE];
		total = p[P_TOTAL];
		values[0] = Int32GetDatum(be->st_procpid);
		values[1] = CStringGetTextDatum(function);
		values[2] = Int32GetDatum((int32) p[P_RUN]);
		nulls[2] = p[P_RUN] < 0;
		values[3] = CStringGetTextDatum(phase);
		values[4] = Int64GetDatum(done);
		values[5] = Int64GetDatum(total);
		nulls[5] = total < 0;
		values[6] = BoolGetDatum(p[P_ESTIMATED] != 0);
		nulls[6] = total < 0;
		values[7] = TimestampTzGetDatum(p[P_STARTED]);
		values[8] = TimestampTzGetDatum(p[P_PHASE_STARTED]);
		values[9] = TimestampTzGetDatum(p[P_UPDATED]);
		/* the phase's rate so far, carried on to its total */
		if (total >= done && done > 0)
			values[10] = TimestampTzGetDatum(p[P_PHASE_STARTED] +
											 (TimestampTz) ((double) (now - p[P_PHASE_STARTED]) * total / done));
		else
			nulls[10] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
