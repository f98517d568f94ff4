/*
 * pg_saliency.c — sample analysis from SQL: pg_tl_token_saliency,
 * pg_tl_pixel_saliency, pg_tl_ig_completeness and pg_tl_saliency_eval.  The methods
 * and metrics are in the core (tl_saliency.c, tl_faithfulness.c); this
 * file reads the arguments, runs them on the call site's runner and builds
 * the results.
 *
 * The functions are not strict because `layer` may be NULL (the last
 * convolution); any other NULL argument gives no rows / a NULL result, as
 * a strict function would.
 */
#include "tl_pg.h"
#include "analysis/tl_saliency.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/builtins.h"

/* Argument positions shared by the functions. */
#define ARG_MODEL	0
#define ARG_INPUT	1
#define ARG_TARGET	2
#define ARG_METHOD	3
#define ARG_STEPS	4
#define ARG_LAYER	5
#define ARG_SEED	6
#define ARG_IG_STEPS 3			/* pg_tl_ig_completeness(model, input, target, steps) */

static bool
null_args(FunctionCallInfo fcinfo)
{
	for (int i = 0; i < PG_NARGS(); i++)
		if (i != ARG_LAYER && PG_ARGISNULL(i))
			return true;
	return false;
}

static void
require_kind(tl_call_model *cm, bool tokens, const char *fn)
{
	if (tl_model_takes_tokens(cm->entry->model) != tokens)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" %s: %s needs a model that %s",
						cm->entry->name,
						tokens ? "does not take token ids (no Embedding reads its input)"
						: "takes token ids",
						fn, tokens ? "starts with an Embedding" : "takes real numbers"),
				 errhint("Use %s for this model.",
						 tokens ? "tl_pixel_saliency" : "tl_token_saliency")));
}

/* The method options from arguments 2..6 (pg_tl_ig_completeness: 2..3). */
static void
read_opts(FunctionCallInfo fcinfo, tl_call_model *cm, bool with_method,
		  tl_sal_opts *o)
{
	tl_status	st = {0};

	memset(o, 0, sizeof(*o));
	o->method = TL_SAL_INTEGRATED_GRADIENTS;
	o->target = PG_GETARG_INT32(ARG_TARGET);
	o->layer = -1;
	if (!with_method)
	{
		o->steps = PG_GETARG_INT32(ARG_IG_STEPS);
		return;
	}
	o->steps = PG_GETARG_INT32(ARG_STEPS);
	o->seed = (uint64_t) PG_GETARG_INT64(ARG_SEED);
	if (tl_sal_method_parse(text_to_cstring(PG_GETARG_TEXT_PP(ARG_METHOD)), &o->method, &st) < 0)
		tl_pg_raise(&st, NULL);
	if (!PG_ARGISNULL(ARG_LAYER))
	{
		char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(ARG_LAYER));

		o->layer = tl_model_find_layer(cm->entry->model, name);
		if (o->layer < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model \"%s\" has no layer \"%s\"", cm->entry->name, name),
					 errhint("tl_layers('%s') lists the layers.", cm->entry->name)));
	}
}

/*
 * Core calls run on the call site's runner with its memory context current,
 * so the runner's buffers grow there and serve the next row.
 */
static tl_runner *
core_begin(tl_call_model *cm, MemoryContext *old)
{
	tl_runner  *r = tl_call_runner(cm);

	*old = MemoryContextSwitchTo(cm->cxt);
	return r;
}

static void
core_end(tl_call_model *cm, MemoryContext old, int rc, const tl_status *st)
{
	MemoryContextSwitchTo(old);
	if (rc < 0)
		tl_pg_raise(st, cm->entry->name);
}

/* Saliency scores of the input argument: one per fitted input element. */
static float *
saliency_of(FunctionCallInfo fcinfo, tl_call_model *cm, tl_shape *shape,
			float **x)
{
	tl_sal_opts o;
	tl_status	st = {0};
	MemoryContext old;
	tl_runner  *r;
	float	   *scores;
	int			rc;

	read_opts(fcinfo, cm, true, &o);
	*x = tl_array_to_input(PG_GETARG_ARRAYTYPE_P(ARG_INPUT), cm->entry->model,
						   cm->entry->name, shape);
	scores = palloc(sizeof(float) * tl_shape_count(shape));
	r = core_begin(cm, &old);
	rc = tl_saliency(cm->entry->model, r, shape, *x, &o, scores, &st);
	core_end(cm, old, rc, &st);
	return scores;
}

PG_FUNCTION_INFO_V1(pg_tl_token_saliency);
Datum
pg_tl_token_saliency(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	tl_call_model *cm;
	tl_shape	shape;
	float	   *x,
			   *scores;

	InitMaterializedSRF(fcinfo, 0);
	if (null_args(fcinfo))
		return (Datum) 0;
	cm = tl_call_model_get(fcinfo, PG_GETARG_TEXT_PP(ARG_MODEL));
	require_kind(cm, true, "tl_token_saliency");
	scores = saliency_of(fcinfo, cm, &shape, &x);
	tl_progress_per_row(cm, "tl_token_saliency");
	for (int64 p = 0; p < tl_shape_count(&shape); p++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int32GetDatum((int32) p + 1);
		values[1] = Int32GetDatum((int32) x[p]);
		values[2] = Float4GetDatum(scores[p]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pg_tl_pixel_saliency);
Datum
pg_tl_pixel_saliency(PG_FUNCTION_ARGS)
{
	ArrayType  *input,
			   *result;
	tl_call_model *cm;
	tl_shape	shape;
	float	   *x,
			   *scores;
	int			ndim;
	Size		nbytes;
	int64		n;

	if (null_args(fcinfo))
		PG_RETURN_NULL();
	cm = tl_call_model_get(fcinfo, PG_GETARG_TEXT_PP(ARG_MODEL));
	require_kind(cm, false, "tl_pixel_saliency");
	input = PG_GETARG_ARRAYTYPE_P(ARG_INPUT);
	scores = saliency_of(fcinfo, cm, &shape, &x);
	tl_progress_per_row(cm, "tl_pixel_saliency");

	/* shaped like the input: its dimensions and lower bounds */
	ndim = ARR_NDIM(input);
	n = tl_shape_count(&shape);
	nbytes = ARR_OVERHEAD_NONULLS(ndim) + sizeof(float4) * n;
	result = (ArrayType *) palloc0(nbytes);
	SET_VARSIZE(result, nbytes);
	result->ndim = ndim;
	result->dataoffset = 0;
	result->elemtype = FLOAT4OID;
	memcpy(ARR_DIMS(result), ARR_DIMS(input), sizeof(int) * ndim);
	memcpy(ARR_LBOUND(result), ARR_LBOUND(input), sizeof(int) * ndim);
	memcpy(ARR_DATA_PTR(result), scores, sizeof(float4) * n);
	PG_RETURN_ARRAYTYPE_P(result);
}

static Datum
real_array(const double *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * n);

	for (int i = 0; i < n; i++)
		d[i] = Float4GetDatum((float4) v[i]);
	return PointerGetDatum(construct_array(d, n, FLOAT4OID, 4, true, TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(pg_tl_ig_completeness);
Datum
pg_tl_ig_completeness(PG_FUNCTION_ARGS)
{
	TupleDesc	td;
	tl_call_model *cm;
	tl_sal_opts o;
	tl_shape	shape;
	tl_ig_result ig = {0};
	tl_status	st = {0};
	MemoryContext old;
	tl_runner  *r;
	int			rc;
	float	   *x;
	double		delta;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	if (null_args(fcinfo))
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "tl_ig_completeness: return type must be a row type");
	cm = tl_call_model_get(fcinfo, PG_GETARG_TEXT_PP(ARG_MODEL));
	read_opts(fcinfo, cm, false, &o);
	x = tl_array_to_input(PG_GETARG_ARRAYTYPE_P(ARG_INPUT), cm->entry->model,
						  cm->entry->name, &shape);
	r = core_begin(cm, &old);
	rc = tl_integrated_gradients(cm->entry->model, r, &shape, x, &o, NULL, &ig, &st);
	core_end(cm, old, rc, &st);
	delta = ig.score - ig.baseline;
	values[0] = Float4GetDatum((float4) ig.score);
	values[1] = Float4GetDatum((float4) ig.baseline);
	values[2] = Float4GetDatum((float4) ig.sum);
	/* relative to the score difference the attributions should add up to */
	values[3] = Float4GetDatum((float4) (fabs(ig.sum - delta) / fabs(delta)));
	nulls[3] = delta == 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(td), values, nulls)));
}

PG_FUNCTION_INFO_V1(pg_tl_saliency_eval);
Datum
pg_tl_saliency_eval(PG_FUNCTION_ARGS)
{
	TupleDesc	td;
	tl_call_model *cm;
	tl_shape	shape;
	tl_faithfulness f;
	tl_status	st = {0};
	MemoryContext old;
	tl_runner  *r;
	int			rc;
	float	   *x,
			   *scores;
	Datum		values[8];
	bool		nulls[8] = {false};

	if (null_args(fcinfo))
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "tl_saliency_eval: return type must be a row type");
	cm = tl_call_model_get(fcinfo, PG_GETARG_TEXT_PP(ARG_MODEL));
	require_kind(cm, true, "tl_saliency_eval");
	scores = saliency_of(fcinfo, cm, &shape, &x);
	r = core_begin(cm, &old);
	rc = tl_faithfulness_eval(cm->entry->model, r, &shape, x, scores,
							  PG_GETARG_INT32(ARG_TARGET), &f, &st);
	core_end(cm, old, rc, &st);
	values[0] = Int32GetDatum(f.n_tokens);
	values[1] = Float4GetDatum((float4) f.score);
	values[2] = Float4GetDatum((float4) f.empty);
	values[3] = Float4GetDatum((float4) f.comprehensiveness);
	values[4] = Float4GetDatum((float4) f.sufficiency);
	values[5] = Float4GetDatum((float4) f.deletion_auc);
	values[6] = real_array(f.comprehensiveness_at, TL_FAITH_BINS);
	values[7] = real_array(f.sufficiency_at, TL_FAITH_BINS);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(td), values, nulls)));
}
