/*
 * pg_infer.c — running models from SQL: tl_infer (one sample per call) and
 * tl_infer_batch (the rows of a query, in batches).
 */
#include "tl_pg.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(pg_tl_infer);
Datum
pg_tl_infer(PG_FUNCTION_ARGS)
{
	tl_call_model *cm = tl_call_model_get(fcinfo, PG_GETARG_TEXT_PP(0));
	ArrayType  *input = PG_GETARG_ARRAYTYPE_P(1);
	tl_shape	shape,
				out_shape;
	float	   *x = tl_array_to_input(input, cm->entry->model, cm->entry->name, &shape);
	const float *y;
	tl_status	st = {0};

	/* only the output is read: layers nobody reads may be skipped */
	tl_runner_keep(tl_call_runner(cm), NULL, 0, &st);
	tl_call_forward(cm, &shape, x, 1);
	y = tl_runner_output(cm->runner, -1, &out_shape);
	pfree(x);
	PG_RETURN_ARRAYTYPE_P(tl_floats_to_array(y, tl_shape_count(&out_shape)));
}

/* Emits (id, output) for every sample of a batch. */
static void
emit_outputs(tl_call_model *cm, const tl_batch *b, void *arg)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) arg;
	tl_shape	os;
	const float *y = tl_runner_output(cm->runner, -1, &os);
	int64		per = tl_shape_count(&os);
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext, "tensorlens output row",
												  ALLOCSET_DEFAULT_SIZES);

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
}

PG_FUNCTION_INFO_V1(pg_tl_infer_batch);
Datum
pg_tl_infer_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	tl_call_model *cm;
	tl_status	st = {0};
	int			progress;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model and query must not be NULL")));
	InitMaterializedSRF(fcinfo, 0);
	cm = tl_call_model_get(fcinfo, PG_GETARG_TEXT_PP(0));
	tl_runner_keep(tl_call_runner(cm), NULL, 0, &st);
	progress = tl_progress_begin("tl_infer_batch", -1);
	tl_batch_query(cm, text_to_cstring(PG_GETARG_TEXT_PP(1)),
				   PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2), 2, "id, input",
				   emit_outputs, rsinfo);
	tl_progress_end(progress);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pg_tl_multi_hot);
Datum
pg_tl_multi_hot(PG_FUNCTION_ARGS)
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
