/*
 * pg_perception.c — what a model sees in a sample: any layer's activations
 * (tl_activations) and the pooled, normalised perception vector
 * (tl_perception, and tl_perception_batch over the rows of a query).
 */
#include "tl_pg.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "analysis/tl_perception.h"

int
tl_pg_layer_index(const tl_cached_model *e, const char *layer)
{
	int			i = tl_model_find_layer(e->model, layer);
	StringInfoData names;

	if (i >= 0)
		return i;
	initStringInfo(&names);
	for (int k = 0; k < tl_model_n_layers(e->model); k++)
	{
		tl_layer_info li;

		tl_model_layer_info(e->model, k, &li);
		appendStringInfo(&names, "%s%s", k ? ", " : "", li.name);
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("model \"%s\" has no layer \"%s\"", e->name, layer),
			 errdetail("Its layers are: %s.", names.data)));
	return -1;
}

PG_FUNCTION_INFO_V1(pg_tl_activations);
Datum
pg_tl_activations(PG_FUNCTION_ARGS)
{
	tl_call_model *cm = tl_call_model_get(fcinfo, PG_GETARG_TEXT_PP(0));
	ArrayType  *input = PG_GETARG_ARRAYTYPE_P(1);
	int			layer = tl_pg_layer_index(cm->entry, text_to_cstring(PG_GETARG_TEXT_PP(2)));
	tl_shape	shape,
				out_shape;
	float	   *x = tl_array_to_input(input, cm->entry->model, cm->entry->name, &shape);
	const float *y;

	tl_call_forward(cm, &shape, x, 1);
	y = tl_runner_output(cm->runner, layer, &out_shape);
	PG_RETURN_ARRAYTYPE_P(tl_floats_to_array(y, tl_shape_count(&out_shape)));
}

static void
free_perception(void *plan)
{
	tl_perception_free((tl_perception *) plan);
}

/*
 * The perception plan for (layers, pooling) at this call site, built once
 * per query execution (and again if the arguments change between rows).
 */
static tl_perception *
perception_plan(tl_call_model *cm, ArrayType *layers, const char *pooling)
{
	StringInfoData key;
	int		   *idx = NULL;
	int			n = 0;
	int			use_max;
	tl_status	st = {0};
	MemoryContext old;
	tl_perception *p;

	if (strcmp(pooling, "auto") == 0)
		use_max = TL_POOL_AUTO;
	else if (strcmp(pooling, "avg") == 0 || strcmp(pooling, "mean") == 0)
		use_max = 0;
	else if (strcmp(pooling, "max") == 0)
		use_max = 1;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pooling must be 'auto', 'avg' or 'max', not '%s'", pooling)));

	initStringInfo(&key);
	appendStringInfo(&key, "%s|%d|", pooling, tl_guc_perception_max_width);
	if (layers)
	{
		Datum	   *names;
		bool	   *nulls;

		deconstruct_array(layers, TEXTOID, -1, false, TYPALIGN_INT, &names, &nulls, &n);
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("layers must name at least one layer (or be NULL for the default)")));
		idx = palloc(sizeof(int) * n);
		for (int i = 0; i < n; i++)
		{
			char	   *name;

			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("layers must not contain NULL")));
			name = TextDatumGetCString(names[i]);
			idx[i] = tl_pg_layer_index(cm->entry, name);
			appendStringInfo(&key, "%d,", idx[i]);
		}
	}
	if (cm->plan && cm->plan_free == free_perception && strcmp(cm->plan_key, key.data) == 0)
		return (tl_perception *) cm->plan;

	old = MemoryContextSwitchTo(cm->cxt);
	if (cm->plan)
		cm->plan_free(cm->plan);
	cm->plan = NULL;
	p = tl_perception_new(cm->entry->model, idx, n, use_max, tl_guc_perception_max_width, &st);
	MemoryContextSwitchTo(old);
	if (p == NULL)
		tl_pg_raise(&st, cm->entry->name);
	cm->plan = p;
	cm->plan_free = free_perception;
	if (cm->plan_key)
		pfree(cm->plan_key);
	cm->plan_key = MemoryContextStrdup(cm->cxt, key.data);
	return p;
}

PG_FUNCTION_INFO_V1(pg_tl_perception);
Datum
pg_tl_perception(PG_FUNCTION_ARGS)
{
	tl_call_model *cm;
	ArrayType  *input;
	tl_perception *p;
	tl_shape	shape;
	float	   *x,
			   *v;
	tl_status	st = {0};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	cm = tl_call_model_get(fcinfo, PG_GETARG_TEXT_PP(0));
	input = PG_GETARG_ARRAYTYPE_P(1);
	p = perception_plan(cm, PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2),
						PG_ARGISNULL(3) ? "auto" : text_to_cstring(PG_GETARG_TEXT_PP(3)));
	x = tl_array_to_input(input, cm->entry->model, cm->entry->name, &shape);
	tl_call_forward(cm, &shape, x, 1);
	v = palloc(sizeof(float) * tl_perception_width(p));
	if (tl_perception_compute(p, cm->runner, 1, v, &st) < 0)
		tl_pg_raise(&st, cm->entry->name);
	PG_RETURN_ARRAYTYPE_P(tl_floats_to_array(v, tl_perception_width(p)));
}

typedef struct perception_emit
{
	ReturnSetInfo *rsinfo;
	tl_perception *plan;
} perception_emit;

/* Emits (id, output, perception) for every sample of a batch. */
static void
emit_perception(tl_call_model *cm, const tl_batch *b, void *arg)
{
	perception_emit *pe = (perception_emit *) arg;
	int			width = tl_perception_width(pe->plan);
	tl_shape	os;
	const float *y = tl_runner_output(cm->runner, -1, &os);
	int64		per = tl_shape_count(&os);
	float	   *v = palloc(sizeof(float) * width * b->n);
	tl_status	st = {0};
	MemoryContext row_cxt;

	if (tl_perception_compute(pe->plan, cm->runner, b->n, v, &st) < 0)
		tl_pg_raise(&st, cm->entry->name);
	row_cxt = AllocSetContextCreate(CurrentMemoryContext, "tensorlens perception row",
									ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < b->n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		MemoryContext old = MemoryContextSwitchTo(row_cxt);

		values[0] = CStringGetTextDatum(b->ids[i]);
		values[1] = PointerGetDatum(tl_floats_to_array(y + per * i, per));
		values[2] = PointerGetDatum(tl_floats_to_array(v + (int64) width * i, width));
		tuplestore_putvalues(pe->rsinfo->setResult, pe->rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_cxt);
	}
	MemoryContextDelete(row_cxt);
	pfree(v);
}

PG_FUNCTION_INFO_V1(pg_tl_perception_batch);
Datum
pg_tl_perception_batch(PG_FUNCTION_ARGS)
{
	perception_emit pe;
	tl_call_model *cm;
	int			progress;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model and query must not be NULL")));
	InitMaterializedSRF(fcinfo, 0);
	pe.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	cm = tl_call_model_get(fcinfo, PG_GETARG_TEXT_PP(0));
	pe.plan = perception_plan(cm, PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2),
							  PG_ARGISNULL(3) ? "auto" : text_to_cstring(PG_GETARG_TEXT_PP(3)));
	progress = tl_progress_begin("tl_perception_batch", -1);
	tl_batch_query(cm, text_to_cstring(PG_GETARG_TEXT_PP(1)),
				   PG_ARGISNULL(4) ? 0 : PG_GETARG_INT32(4), 2, "id, input",
				   emit_perception, &pe);
	tl_progress_end(progress);
	return (Datum) 0;
}

/*
 * tl_run_perception(run, sample_ids) → (sample_id, output, perception): the
 * run's model over the rows of its input query for the samples listed
 * (default layers and pooling), the query run as the run's creator
 * (pg_run_as.c).  tl_analyze fills in missing perception vectors with it.
 */
PG_FUNCTION_INFO_V1(pg_tl_run_perception);
Datum
pg_tl_run_perception(PG_FUNCTION_ARGS)
{
	perception_emit pe;
	tl_call_model *cm;
	tl_run_as	ra;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tl_run_perception: run and sample_ids must not be NULL")));
	InitMaterializedSRF(fcinfo, 0);
	pe.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	tl_run_as_init(&ra, fcinfo->flinfo->fn_oid, PG_GETARG_INT32(0));
	if (ra.input_query == NULL)
		return (Datum) 0;		/* nothing to compute perception vectors from */
	cm = tl_call_model_get(fcinfo, cstring_to_text(ra.model));
	pe.plan = perception_plan(cm, NULL, "auto");
	tl_batch_run_query(cm, &ra, PG_GETARG_DATUM(1), emit_perception, &pe);
	return (Datum) 0;
}

/* tl_perception_layers(model) → the layers a default perception vector uses. */
PG_FUNCTION_INFO_V1(pg_tl_perception_layers);
Datum
pg_tl_perception_layers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	tl_call_model *cm;
	tl_perception *p;
	int			offset = 1;

	InitMaterializedSRF(fcinfo, 0);
	cm = tl_call_model_get(fcinfo, PG_GETARG_TEXT_PP(0));
	p = perception_plan(cm, PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1), "auto");
	for (int b = 0; b < tl_perception_n_blocks(p); b++)
	{
		int			layer,
					width;
		tl_layer_info li;
		Datum		values[4];
		bool		nulls[4] = {0};

		tl_perception_block(p, b, &layer, &width);
		tl_model_layer_info(cm->entry->model, layer, &li);
		values[0] = CStringGetTextDatum(li.name);
		values[1] = CStringGetTextDatum(li.class_name);
		values[2] = Int32GetDatum(offset);
		values[3] = Int32GetDatum(width);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		offset += width;
	}
	return (Datum) 0;
}
