/*
 * pg_infer.c — running models from SQL: tl_infer (one sample per call) and
 * tl_infer_batch (the rows of a query, in batches).
 */
#include "tl_pg.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

/* Default rows per batch: enough for GEMM efficiency, small in memory. */
#define DEFAULT_BATCH 256

PG_FUNCTION_INFO_V1(tl_infer);
Datum
tl_infer(PG_FUNCTION_ARGS)
{
	tl_call_model *cm = tl_call_model_get(fcinfo, PG_GETARG_TEXT_PP(0));
	ArrayType  *input = PG_GETARG_ARRAYTYPE_P(1);
	tl_shape	shape,
				out_shape;
	float	   *x = tl_array_to_input(input, cm->entry->model, cm->entry->name, &shape);
	const float *y;

	tl_call_forward(cm, &shape, x, 1);
	y = tl_runner_output(cm->runner, -1, &out_shape);
	pfree(x);
	PG_RETURN_ARRAYTYPE_P(tl_floats_to_array(y, tl_shape_count(&out_shape)));
}

static bool
same_shape(const tl_shape *a, const tl_shape *b)
{
	if (a->nd != b->nd)
		return false;
	for (int i = 0; i < a->nd; i++)
		if (a->d[i] != b->d[i])
			return false;
	return true;
}

/* One batch being filled: ids as text, inputs packed sample after sample. */
typedef struct batch
{
	tl_shape	shape;
	int64		per_sample;
	int			cap;
	int			n;
	char	  **ids;
	float	   *x;
} batch;

static void
flush(tl_call_model *cm, batch *b, ReturnSetInfo *rsinfo)
{
	tl_shape	os;
	const float *y;
	int64		per;
	MemoryContext row_cxt;

	if (b->n == 0)
		return;
	row_cxt = AllocSetContextCreate(CurrentMemoryContext, "tensorlens output row",
									ALLOCSET_DEFAULT_SIZES);
	tl_call_forward(cm, &b->shape, b->x, b->n);
	y = tl_runner_output(cm->runner, -1, &os);
	per = tl_shape_count(&os);
	for (int i = 0; i < b->n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};
		MemoryContext old = MemoryContextSwitchTo(row_cxt);

		values[0] = CStringGetTextDatum(b->ids[i]);
		values[1] = PointerGetDatum(tl_floats_to_array(y + per * i, per));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_cxt);
	}
	MemoryContextDelete(row_cxt);
	b->n = 0;
}

static void
check_query_columns(TupleDesc td)
{
	Oid			et = td->natts >= 2 ? get_element_type(SPI_gettypeid(td, 2)) : InvalidOid;

	if (td->natts < 2 ||
		!(et == INT2OID || et == INT4OID || et == INT8OID || et == FLOAT4OID || et == FLOAT8OID))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the query must return (id, input) with input an integer[], bigint[], real[] or double precision[] array"),
				 errdetail("It returns %d column(s)%s%s.", td->natts,
						   td->natts >= 2 ? "; the second is " : "",
						   td->natts >= 2 ? format_type_be(SPI_gettypeid(td, 2)) : "")));
}

PG_FUNCTION_INFO_V1(tl_infer_batch);
Datum
tl_infer_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	tl_call_model *cm;
	char	   *query;
	int			requested = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
	SPIPlanPtr	plan;
	Portal		portal;
	MemoryContext batch_cxt,
				row_cxt,
				old;
	batch		b = {0};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model and query must not be NULL")));
	if (requested < 0 || requested > 65536)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be between 1 and 65536 (or NULL for automatic), not %d", requested)));
	InitMaterializedSRF(fcinfo, 0);
	cm = tl_call_model_get(fcinfo, PG_GETARG_TEXT_PP(0));
	query = text_to_cstring(PG_GETARG_TEXT_PP(1));

	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "tensorlens batch",
									  ALLOCSET_DEFAULT_SIZES);
	row_cxt = AllocSetContextCreate(CurrentMemoryContext, "tensorlens row",
									ALLOCSET_DEFAULT_SIZES);
	SPI_connect();
	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("the query cannot be prepared: %s", SPI_result_code_string(SPI_result))));
	if (!SPI_is_cursor_plan(plan))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("the query must be a SELECT returning (id, input)")));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);

	for (;;)
	{
		SPITupleTable *tt;

		SPI_cursor_fetch(portal, true, b.cap > 0 ? b.cap : DEFAULT_BATCH);
		if (SPI_processed == 0)
			break;
		tt = SPI_tuptable;
		check_query_columns(tt->tupdesc);
		for (uint64 r = 0; r < SPI_processed; r++)
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
			x = tl_array_to_input(DatumGetArrayTypeP(d), cm->entry->model, cm->entry->name, &shape);
			MemoryContextSwitchTo(old);
			if (b.n > 0 && !same_shape(&shape, &b.shape))
			{
				/* variable-length models: a new length starts a new batch */
				flush(cm, &b, rsinfo);
				MemoryContextReset(batch_cxt);
			}
			if (b.n == 0)
			{
				tl_status	st = {0};
				int			cap = tl_runner_batch_capacity(tl_call_runner(cm), &shape, &st);

				if (cap < 0)
					tl_pg_raise(&st, cm->entry->name);
				b.cap = Min(cap, requested > 0 ? requested : DEFAULT_BATCH);
				b.shape = shape;
				b.per_sample = tl_shape_count(&shape);
				b.ids = MemoryContextAlloc(batch_cxt, sizeof(char *) * b.cap);
				b.x = MemoryContextAllocExtended(batch_cxt, sizeof(float) * b.per_sample * b.cap,
												 MCXT_ALLOC_HUGE);
			}
			memcpy(b.x + b.per_sample * b.n, x, sizeof(float) * b.per_sample);
			b.ids[b.n++] = MemoryContextStrdup(batch_cxt, id ? id : "");
			MemoryContextReset(row_cxt);
			if (b.n == b.cap)
			{
				flush(cm, &b, rsinfo);
				MemoryContextReset(batch_cxt);
			}
		}
		SPI_freetuptable(tt);
		CHECK_FOR_INTERRUPTS();
	}
	flush(cm, &b, rsinfo);
	SPI_cursor_close(portal);
	SPI_finish();
	MemoryContextDelete(batch_cxt);
	MemoryContextDelete(row_cxt);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(tl_multi_hot);
Datum
tl_multi_hot(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	int32		width = PG_GETARG_INT32(1);
	int			n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	Oid			et = ARR_ELEMTYPE(a);
	const char *data = ARR_DATA_PTR(a);
	float	   *v;
	ArrayType  *r;

	if (width < 1 || width > 100000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("width must be between 1 and 100000000, not %d", width)));
	if (width > tl_guc_max_input_length)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("width %d is above tensorlens.max_input_length (%d)",
						width, tl_guc_max_input_length)));
	if (et != INT4OID && et != INT8OID && et != INT2OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("ids must be an integer array")));
	if (ARR_HASNULL(a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("ids must not contain NULL")));
	v = palloc0(sizeof(float) * width);
	for (int i = 0; i < n; i++)
	{
		int64		id = et == INT2OID ? ((const int16 *) data)[i] :
			et == INT4OID ? ((const int32 *) data)[i] : ((const int64 *) data)[i];

		if (id < 0 || id >= width)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("id %lld at position %d is outside 0..%d", (long long) id, i + 1, width - 1)));
		v[id] = 1.0f;
	}
	r = tl_floats_to_array(v, width);
	pfree(v);
	PG_RETURN_ARRAYTYPE_P(r);
}
