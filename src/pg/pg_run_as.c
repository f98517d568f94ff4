/*
 * pg_run_as.c — running a run's stored SQL as the run's creator.
 *
 * tl_run.input_query is SQL its creator wrote; tl_analyze (and so analysis
 * at commit) and tl_html_report run it, and the report runs its preview
 * query against the creator's data too.  Whoever triggers that — a
 * teammate, an administrator — that SQL must never run with their rights.
 * PostgreSQL runs index expressions and REFRESH MATERIALIZED VIEW the same
 * way, and this is modelled on it:
 *
 * - the user id becomes the creator's, as a SECURITY_RESTRICTED_OPERATION
 *   with SECURITY_LOCAL_USERID_CHANGE: inside, SET ROLE, RESET ROLE,
 *   set_config('role'|'session_authorization'), SET SESSION AUTHORIZATION
 *   and temporary tables are refused, so the SQL cannot get back to the
 *   rights of the session;
 * - a new GUC nest level with the run's recorded search_path, rolled back
 *   (AtEOXact_GUC(false)) when leaving: whatever the SQL sets, even with
 *   set_config(..., false), is discarded;
 * - only a role with the creator's privileges (the creator, a member that
 *   inherits from it, a superuser) may have it run: for anyone else — a
 *   BYPASSRLS role that sees the run — running the creator's SQL, or its own
 *   SQL as the creator, would be a change of identity they do not have.
 *
 * The batch loop (pg_batch.c) enters around the preparation, opening and
 * every fetch of its cursor (functions of the query run at fetch time) and
 * leaves around each model pass, so the identity holds for every row.
 */
#include "tl_pg.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"

bool
tl_run_as_prepare(tl_run_as *ra, Oid fn_oid, int32 run)
{
	const char *schema = quote_identifier(get_namespace_name(get_func_namespace(fn_oid)));
	MemoryContext cxt = CurrentMemoryContext;
	SPITupleTable *tt;
	bool		isnull;

	memset(ra, 0, sizeof(*ra));
	ra->run = run;
	/* the caller's rights: a run it cannot see "does not exist" */
	SPI_connect();
	if (SPI_execute_with_args(psprintf("SELECT created_by::pg_catalog.text, search_path, input_query, "
									   "model OPERATOR(pg_catalog.||) COALESCE('@' OPERATOR(pg_catalog.||) revision, '') "
									   "FROM %s.tl_run WHERE id OPERATOR(pg_catalog.=) $1", schema),
							  1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(run)}, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "tensorlens: reading tl_run failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("run %d does not exist", run)));
	tt = SPI_tuptable;
	ra->creator_name = MemoryContextStrdup(cxt, SPI_getvalue(tt->vals[0], tt->tupdesc, 1));
	ra->search_path = MemoryContextStrdup(cxt, SPI_getvalue(tt->vals[0], tt->tupdesc, 2));
	SPI_getbinval(tt->vals[0], tt->tupdesc, 3, &isnull);
	ra->input_query = isnull ? NULL : MemoryContextStrdup(cxt, SPI_getvalue(tt->vals[0], tt->tupdesc, 3));
	ra->model = MemoryContextStrdup(cxt, SPI_getvalue(tt->vals[0], tt->tupdesc, 4));
	SPI_finish();

	ra->creator = get_role_oid(ra->creator_name, true);
	return OidIsValid(ra->creator) && has_privs_of_role(GetUserId(), ra->creator);
}

void
tl_run_as_init(tl_run_as *ra, Oid fn_oid, int32 run)
{
	if (tl_run_as_prepare(ra, fn_oid, run))
		return;
	if (!OidIsValid(ra->creator))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("run %d was created by role \"%s\", which no longer exists: its SQL is not run", run, ra->creator_name)));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to run SQL of run %d as its creator \"%s\"", run, ra->creator_name),
			 errdetail("The SQL of a run (its input query; a report's preview query) runs as the role that created the run; "
					   "only that role, roles with its privileges and superusers may have it run."),
			 errhint("Ask \"%s\" to analyse the run, or call tl_html_report without a preview query and with heatmaps => 0.",
					 ra->creator_name)));
}

void
tl_run_as_enter(tl_run_as *ra)
{
	if (ra == NULL || ra->inside)
		return;
	GetUserIdAndSecContext(&ra->saved_user, &ra->saved_context);
	SetUserIdAndSecContext(ra->creator, ra->saved_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	ra->inside = true;
	ra->nest_level = NewGUCNestLevel();
	(void) set_config_option("search_path", ra->search_path, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

void
tl_run_as_leave(tl_run_as *ra)
{
	if (ra == NULL || !ra->inside)
		return;
	/* discards every setting made since enter, SET and set_config(.., false) too */
	AtEOXact_GUC(false, ra->nest_level);
	SetUserIdAndSecContext(ra->saved_user, ra->saved_context);
	ra->inside = false;
}

/* A query given to tl_run_rows (a report's preview) returns (sample_id, value). */
static void
check_two_columns(const char *query)
{
	SPIPlanPtr	plan = tl_batch_prepare(query, 0, NULL, "sample_id, value");
	CachedPlanSource *source = linitial(SPI_plan_get_plan_sources(plan));
	int			ncols = source->resultDesc ? source->resultDesc->natts : 0;

	if (ncols != 2)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the query must return two columns (sample_id, value), not %d", ncols),
				 errhint("A report's preview query returns (sample_id, preview text), "
						 "for example 'SELECT id, left(text, 200) FROM reviews'.")));
	SPI_freeplan(plan);
}

/*
 * tl_run_rows(run, sample_ids, query) → (sample_id, value): the first two
 * columns of query (default: the run's input_query), as text, for the
 * samples listed — run as the run's creator under its search_path.  The
 * report reads its hover previews and heat-map inputs this way.
 */
PG_FUNCTION_INFO_V1(pg_tl_run_rows);
Datum
pg_tl_run_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	tl_run_as	ra;
	const char *query;
	char	   *sql;
	Datum		ids;
	SPITupleTable *volatile tt = NULL;
	volatile uint64 rows = 0;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tl_run_rows: run and sample_ids must not be NULL")));
	InitMaterializedSRF(fcinfo, 0);
	tl_run_as_init(&ra, fcinfo->flinfo->fn_oid, PG_GETARG_INT32(0));
	query = PG_ARGISNULL(2) ? ra.input_query : text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (query == NULL)
		return (Datum) 0;		/* a run without a query has no rows to show */
	ids = PG_GETARG_DATUM(1);
	/* the wrapper names everything it uses: it runs under the run's search_path */
	sql = psprintf("SELECT q.sample_id::pg_catalog.text, q.value::pg_catalog.text FROM (%s) q(sample_id, value) "
				   "WHERE q.sample_id::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1)", query);
	SPI_connect();
	PG_TRY();
	{
		tl_run_as_enter(&ra);
		if (!PG_ARGISNULL(2))
			check_two_columns(query);
		if (SPI_execute_with_args(sql, 1, (Oid[]) {TEXTARRAYOID}, &ids, NULL, false, 0) != SPI_OK_SELECT)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("the query of run %d must be a SELECT returning (sample_id, value)", ra.run)));
		tt = SPI_tuptable;
		rows = SPI_processed;
	}
	PG_FINALLY();
	{
		tl_run_as_leave(&ra);
	}
	PG_END_TRY();
	for (uint64 r = 0; r < rows; r++)
	{
		Datum		values[2];
		bool		nulls[2];

		values[0] = SPI_getbinval(tt->vals[r], tt->tupdesc, 1, &nulls[0]);
		values[1] = SPI_getbinval(tt->vals[r], tt->tupdesc, 2, &nulls[1]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
