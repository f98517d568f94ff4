/*
 * pg_batch.c — running a model over the rows of a query, in batches.
 *
 * The query returns (id, input[, more columns]).  Rows are converted and
 * packed into batches sized to tensorlens.max_batch_memory (and the caller's
 * batch size), so Dense and convolution layers run as matrix-matrix
 * products.  Variable-length models start a new batch when the input length
 * changes.  After each forward pass the caller's emit function reads the
 * outputs it needs from the runner.
 */
#include "tl_pg.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"

/* Default rows per batch: enough for GEMM efficiency, small in memory. */
#define DEFAULT_BATCH 256

static void
check_query_columns(TupleDesc td, int min_cols, const char *columns)
{
	Oid			et = td->natts >= 2 ? get_element_type(SPI_gettypeid(td, 2)) : InvalidOid;

	if (td->natts < min_cols ||
		!(et == INT2OID || et == INT4OID || et == INT8OID || et == FLOAT4OID || et == FLOAT8OID))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the query must return (%s) with input an integer[], bigint[], real[] or double precision[] array",
						columns),
				 errdetail("It returns %d column(s)%s%s.", td->natts,
						   td->natts >= 2 ? "; the second is " : "",
						   td->natts >= 2 ? format_type_be(SPI_gettypeid(td, 2)) : "")));
}

SPIPlanPtr
tl_batch_prepare(const char *query, int nargs, Oid *argtypes, const char *columns)
{
	SPIPlanPtr	plan = SPI_prepare(query, nargs, argtypes);

	if (plan == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("the query cannot be prepared: %s", SPI_result_code_string(SPI_result))));
	if (!SPI_is_cursor_plan(plan))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("the query must be a SELECT returning (%s)", columns)));
	return plan;
}

/* The planner's estimate of the rows a cursor returns (progress reports). */
static int64
estimated_rows(Portal portal)
{
	PlannedStmt *ps = portal->stmts ? linitial_node(PlannedStmt, portal->stmts) : NULL;

	return ps && ps->planTree ? (int64) ps->planTree->plan_rows : -1;
}

/* forward = false: the batch's inputs are emitted without running the model. */
static void
flush(tl_call_model *cm, tl_batch *b, bool forward, tl_batch_emit emit, void *arg)
{
	if (b->n == 0)
		return;
	if (forward)
		tl_call_forward(cm, &b->shape, b->x, b->n);
	emit(cm, b, arg);
	tl_progress_add(b->n);
	b->n = 0;
}

/*
 * The loop of tl_batch_query and tl_batch_run_query: query has $1 = ids
 * when ids is not 0; with ra, its preparation, opening and every fetch
 * (and the conversion of the rows fetched, whose types' functions run
 * then) happen as the run's creator, and each model pass and emit as the
 * caller.  (long function: one cursor loop whose state — contexts, portal,
 * batch — spans the query; the per-row work is in the helpers above)
 */
static void
batch_loop(tl_call_model *cm, const char *query, Datum ids, tl_run_as *ra, int requested,
		   int min_cols, const char *columns, bool forward, tl_batch_emit emit, void *arg)
{
	MemoryContext batch_cxt,
				buf_cxt,
				row_cxt,
				old;
	SPIPlanPtr	plan;
	Portal		portal;
	tl_batch	b = {0};
	MemoryContext caller_cxt = CurrentMemoryContext;

	if (requested < 0 || requested > 65536)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be between 1 and 65536 (or NULL for automatic), not %d", requested)));
	/* per batch: ids and extra columns; per input shape: the arrays (reused) */
	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "tensorlens batch",
									  ALLOCSET_DEFAULT_SIZES);
	buf_cxt = AllocSetContextCreate(CurrentMemoryContext, "tensorlens batch buffers",
									ALLOCSET_DEFAULT_SIZES);
	row_cxt = AllocSetContextCreate(CurrentMemoryContext, "tensorlens row",
									ALLOCSET_DEFAULT_SIZES);
	SPI_connect();
	PG_TRY();
	{
		tl_run_as_enter(ra);
		plan = tl_batch_prepare(query, ids ? 1 : 0, (Oid[]) {TEXTARRAYOID}, columns);
		portal = SPI_cursor_open(NULL, plan, ids ? &ids : NULL, NULL, true);
		tl_progress_phase("rows", estimated_rows(portal), true);

		for (;;)
		{
			SPITupleTable *tt;
			uint64		fetched;

			tl_run_as_enter(ra);
			SPI_cursor_fetch(portal, true, b.cap > 0 ? b.cap : DEFAULT_BATCH);
			/* the emit function may run SPI statements: keep the fetch's own count */
			fetched = SPI_processed;
			tt = SPI_tuptable;
			if (fetched == 0)
				break;
			check_query_columns(tt->tupdesc, min_cols, columns);
			/* a copy: the last batch is emitted after the fetches are freed */
			if (b.tupdesc == NULL)
			{
				old = MemoryContextSwitchTo(caller_cxt);
				b.tupdesc = CreateTupleDescCopy(tt->tupdesc);
				MemoryContextSwitchTo(old);
			}
			for (uint64 r = 0; r < fetched; r++)
			{
				bool		isnull;
				Datum		d = SPI_getbinval(tt->vals[r], tt->tupdesc, 2, &isnull);
				tl_shape	shape;
				char	   *id;
				float	   *x;

				old = MemoryContextSwitchTo(row_cxt);
				id = SPI_getvalue(tt->vals[r], tt->tupdesc, 1);
				if (isnull)
					ereport(ERROR,
							(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							 errmsg("the input of row %s is NULL", id ? id : "with NULL id")));
				/* straight into the batch's next slot when the shape matches */
				x = tl_array_to_input_into(DatumGetArrayTypeP(d), cm->entry->model, cm->entry->name,
										   &shape, b.x ? &b.shape : NULL,
										   b.x && b.n < b.cap ? b.x + b.per_sample * b.n : NULL);
				MemoryContextSwitchTo(old);
				if (b.n > 0 && !tl_shape_equal(&shape, &b.shape))
				{
					/* variable-length models: a new length starts a new batch */
					tl_run_as_leave(ra);
					flush(cm, &b, forward, emit, arg);
					MemoryContextReset(batch_cxt);
					tl_run_as_enter(ra);
				}
				if (b.x == NULL || !tl_shape_equal(&shape, &b.shape) ||
					b.n_extra != tt->tupdesc->natts - 2)
				{
					tl_status	st = {0};
					int			cap = tl_runner_batch_capacity(tl_call_runner(cm), &shape, &st);

					if (cap < 0)
						tl_pg_raise(&st, cm->entry->name);
					MemoryContextReset(buf_cxt);
					b.cap = Min(cap, requested > 0 ? requested : DEFAULT_BATCH);
					b.shape = shape;
					b.per_sample = tl_shape_count(&shape);
					b.n_extra = tt->tupdesc->natts - 2;
					b.ids = MemoryContextAlloc(buf_cxt, sizeof(char *) * b.cap);
					b.x = MemoryContextAllocExtended(buf_cxt, sizeof(float) * b.per_sample * b.cap,
													 MCXT_ALLOC_HUGE);
					b.extra = MemoryContextAlloc(buf_cxt, sizeof(Datum) * Max(b.n_extra, 1) * b.cap);
					b.extra_null = MemoryContextAlloc(buf_cxt, sizeof(bool) * Max(b.n_extra, 1) * b.cap);
				}
				if (x != b.x + b.per_sample * b.n)
					memcpy(b.x + b.per_sample * b.n, x, sizeof(float) * b.per_sample);
				b.ids[b.n] = MemoryContextStrdup(batch_cxt, id ? id : "");
				for (int c = 0; c < b.n_extra; c++)
				{
					Form_pg_attribute att = TupleDescAttr(tt->tupdesc, c + 2);
					Datum		v = SPI_getbinval(tt->vals[r], tt->tupdesc, c + 3,
												  &b.extra_null[b.n * b.n_extra + c]);

					old = MemoryContextSwitchTo(batch_cxt);
					b.extra[b.n * b.n_extra + c] = b.extra_null[b.n * b.n_extra + c] ? (Datum) 0 :
						datumCopy(v, att->attbyval, att->attlen);
					MemoryContextSwitchTo(old);
				}
				b.n++;
				MemoryContextReset(row_cxt);
				if (b.n == b.cap)
				{
					tl_run_as_leave(ra);
					flush(cm, &b, forward, emit, arg);
					MemoryContextReset(batch_cxt);
					tl_run_as_enter(ra);
				}
			}
			SPI_freetuptable(tt);
			tl_run_as_leave(ra);
			CHECK_FOR_INTERRUPTS();
		}
		SPI_cursor_close(portal);
		tl_run_as_leave(ra);
		flush(cm, &b, forward, emit, arg);
		tl_progress_phase_done();
	}
	PG_FINALLY();
	{
		tl_run_as_leave(ra);
	}
	PG_END_TRY();
	SPI_finish();
	MemoryContextDelete(batch_cxt);
	MemoryContextDelete(buf_cxt);
	MemoryContextDelete(row_cxt);
}

void
tl_batch_query(tl_call_model *cm, const char *query, int requested, int min_cols,
			   const char *columns, tl_batch_emit emit, void *arg)
{
	batch_loop(cm, query, (Datum) 0, NULL, requested, min_cols, columns, true, emit, arg);
}

static void
run_query(tl_call_model *cm, tl_run_as *ra, Datum ids, bool forward, tl_batch_emit emit, void *arg)
{
	/* the wrapper names everything it uses: it runs under the run's search_path */
	char	   *query = psprintf("SELECT q.* FROM (%s) q(sample_id) "
								 "WHERE q.sample_id::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1)",
								 ra->input_query);

	batch_loop(cm, query, ids, ra, 0, 2, "sample_id, input", forward, emit, arg);
}

void
tl_batch_run_query(tl_call_model *cm, tl_run_as *ra, Datum ids, tl_batch_emit emit, void *arg)
{
	run_query(cm, ra, ids, true, emit, arg);
}

void
tl_batch_run_inputs(tl_call_model *cm, tl_run_as *ra, Datum ids, tl_batch_emit emit, void *arg)
{
	run_query(cm, ra, ids, false, emit, arg);
}
