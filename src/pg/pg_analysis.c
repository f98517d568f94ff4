/*
 * pg_analysis.c — runs: tl_evaluate (a model over a query, into tl_result),
 * tl_failure_clusters and the Procrustes alignment of tl_analyze.
 */
#include "tl_pg.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"

#include "analysis/tl_cluster.h"
#include "nn/tl_loss.h"
#include "analysis/tl_perception.h"
#include "analysis/tl_procrustes.h"

/* ---- tl_evaluate ------------------------------------------------------------ */
typedef struct evaluate_state
{
	int32		run;
	tl_perception *plan;
	int			has_loss;
	tl_loss_kind loss;
	tl_output_kind kind;
	SPIPlanPtr	insert;
	const char *schema;
	/*
	 * Called through a 0.3.0 declaration (9 arguments): tl_run and tl_result
	 * have 0.3.0's columns.  Through 0.2.0's (7), until ALTER EXTENSION
	 * UPDATE, the rows are written as 0.2.0 has them.
	 */
	bool		columns_03;
} evaluate_state;

static int32
label_of(const tl_batch *b, int i, bool *isnull)
{
	Oid			t = TupleDescAttr(b->tupdesc, 2)->atttypid;
	Datum		d = b->extra[i * b->n_extra];

	*isnull = b->extra_null[i * b->n_extra];
	if (*isnull)
		return 0;
	switch (t)
	{
		case INT2OID:
			return DatumGetInt16(d);
		case INT4OID:
			return DatumGetInt32(d);
		case INT8OID:
			if (DatumGetInt64(d) < PG_INT32_MIN || DatumGetInt64(d) > PG_INT32_MAX)
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("label of sample %s is out of range for integer", b->ids[i])));
			return (int32) DatumGetInt64(d);
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("the query's third column (the label) must be an integer, not %s",
							format_type_be(t))));
	}
	return 0;
}

static void
emit_results(tl_call_model *cm, const tl_batch *b, void *arg)
{
	evaluate_state *es = (evaluate_state *) arg;
	int			width = tl_perception_width(es->plan);
	tl_shape	os;
	const float *y = tl_runner_output(cm->runner, -1, &os);
	int			per = (int) tl_shape_count(&os);
	float	   *v = palloc(sizeof(float) * width * b->n);
	tl_status	st = {0};
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext, "tensorlens result row",
												  ALLOCSET_DEFAULT_SIZES);

	if (tl_perception_compute(es->plan, cm->runner, b->n, v, &st) < 0)
		tl_pg_raise(&st, cm->entry->name);
	if (es->insert == NULL)
	{
		Oid			types[8] = {INT4OID, TEXTOID, INT4OID, FLOAT4ARRAYOID, INT4OID, FLOAT4OID, FLOAT4ARRAYOID, JSONBOID};

		/* a sample already inserted is a duplicate id: reported below, by name */
		es->insert = SPI_prepare(psprintf("INSERT INTO %s.tl_result (run, sample_id, label, output, prediction, loss, perception%s) "
										  "VALUES ($1, $2, $3, $4, $5, $6, $7%s) ON CONFLICT (run, sample_id) DO NOTHING",
										  es->schema, es->columns_03 ? ", metadata" : "", es->columns_03 ? ", $8" : ""),
								 es->columns_03 ? 8 : 7, types);
		if (es->insert == NULL)
			elog(ERROR, "tensorlens: preparing the result insert failed");
	}
	for (int i = 0; i < b->n; i++)
	{
		Datum		values[8];
		char		nulls[8] = "        ";
		bool		label_null,
					metadata_null;
		int32		label = label_of(b, i, &label_null);
		const float *yi = y + (int64) per * i;
		MemoryContext old = MemoryContextSwitchTo(row_cxt);

		values[0] = Int32GetDatum(es->run);
		values[1] = CStringGetTextDatum(b->ids[i]);
		values[2] = Int32GetDatum(label);
		values[3] = PointerGetDatum(tl_floats_to_array(yi, per));
		values[4] = Int32GetDatum(tl_output_predict(es->kind, yi, per));
		values[5] = (Datum) 0;
		values[6] = PointerGetDatum(tl_floats_to_array(v + (int64) width * i, width));
		if (es->kind == TL_OUTPUT_REGRESSION)
			nulls[4] = 'n';
		/* the columns after the label (extra column 0) */
		values[7] = tl_pg_batch_metadata(b, i, 1, &metadata_null);
		if (metadata_null)
			nulls[7] = 'n';
		if (label_null)
			nulls[2] = nulls[5] = 'n';
		else if (!es->has_loss)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model \"%s\" records no training loss, so the loss of labelled sample %s is unknown",
							cm->entry->name, b->ids[i]),
					 errhint("Pass the loss it was trained with, e.g. tl_evaluate(..., loss => 'binary_crossentropy'); "
							 "kinds: binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy, mse, "
							 "binary_crossentropy_from_logits, categorical_crossentropy_from_logits.")));
		else
		{
			double		loss;

			if (tl_loss(es->loss, yi, per, label, &loss, &st) < 0)
				ereport(ERROR,
						(errcode(tl_pg_sqlstate(st.code)),
						 errmsg("sample %s: %s", b->ids[i], st.msg)));
			values[5] = Float4GetDatum((float4) loss);
		}
		if (SPI_execute_plan(es->insert, values, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "tensorlens: inserting the result of sample %s failed", b->ids[i]);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("sample_id \"%s\" appears more than once in the query of tl_evaluate", b->ids[i]),
					 errhint("The first column must identify each sample once (a key of the samples' table).")));
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_cxt);
	}
	MemoryContextDelete(row_cxt);
	pfree(v);
}

/*
 * What can be checked of the query before a run id is taken (a sequence
 * value is never given back): it parses, and returns (sample_id, input,
 * label) with an integer label.  The input is checked with the first rows.
 */
static void
evaluate_check_query(const char *query)
{
	SPIPlanPtr	plan;
	CachedPlanSource *src;
	TupleDesc	td;

	SPI_connect();
	plan = tl_batch_prepare(query, 0, NULL, "sample_id, input, label");
	src = list_length(SPI_plan_get_plan_sources(plan)) == 1 ?
		(CachedPlanSource *) linitial(SPI_plan_get_plan_sources(plan)) : NULL;
	td = src ? src->resultDesc : NULL;
	if (td == NULL || td->natts < 3)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the query of tl_evaluate must return (sample_id, input, label), not %d column(s)",
						td ? td->natts : 0)));
	if (TupleDescAttr(td, 2)->atttypid != INT2OID && TupleDescAttr(td, 2)->atttypid != INT4OID &&
		TupleDescAttr(td, 2)->atttypid != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the query's third column (the label) must be an integer, not %s",
						format_type_be(TupleDescAttr(td, 2)->atttypid)),
				 errhint("Labels are class indexes 0, 1, ...; NULL for an unlabelled sample.")));
	SPI_finish();
}

/*
 * tl_evaluate(model, query, dataset, subset, epoch, loss, class_names, output_kind, map):
 * one run: the model over the rows (sample_id, input, label) of query;
 * fills tl_result with output, prediction, loss and perception vector, then
 * tl_analyze places the samples.  Returns the run id.  Everything happens
 * in the caller's transaction: if it fails or is killed, no run is left.
 */
PG_FUNCTION_INFO_V1(pg_tl_evaluate);
Datum
pg_tl_evaluate(PG_FUNCTION_ARGS)
{
	evaluate_state es = {0};
	tl_call_model *cm;
	char	   *query;
	tl_status	st = {0};
	Datum		args[9];
	char		nulls[9] = "         ";
	Oid			types[9] = {TEXTOID, INT4OID, TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTARRAYOID, TEXTOID, TEXTOID};
	char	   *map = PG_NARGS() > 8 && !PG_ARGISNULL(8) ? text_to_cstring(PG_GETARG_TEXT_PP(8)) : "pca";
	bool		isnull;
	int			progress;

	for (int i = 0; i < 3; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("tl_evaluate: model, query and dataset must not be NULL")));
	if (strcmp(map, "pca") != 0 && strcmp(map, "umap") != 0 && strcmp(map, "tsne") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown map \"%s\"", map),
				 errhint("The maps are pca, umap and tsne.")));
	es.columns_03 = PG_NARGS() >= 9;
	cm = tl_call_model_get(fcinfo, PG_GETARG_TEXT_PP(0));
	query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	es.schema = tl_pg_schema_of(fcinfo);
	if (!PG_ARGISNULL(5))
	{
		char	   *kind = text_to_cstring(PG_GETARG_TEXT_PP(5));

		if (tl_loss_parse(kind, &es.loss) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown loss kind \"%s\"", kind)));
		es.has_loss = 1;
	}
	else
		es.has_loss = tl_loss_from_training_config(tl_model_training_config_json(cm->entry->model),
												   &es.loss, &st) == 0;
	/* what the outputs mean: given, or derived from the model and the loss */
	if (PG_NARGS() > 7 && !PG_ARGISNULL(7))
		es.kind = tl_pg_output_kind(text_to_cstring(PG_GETARG_TEXT_PP(7)));
	else if (tl_model_output_kind(cm->entry->model, es.has_loss ? &es.loss : NULL, &es.kind, &st) < 0)
		tl_pg_raise(&st, cm->entry->name);
	if (!es.has_loss && es.kind != TL_OUTPUT_REGRESSION)
	{
		tl_shape	os = tl_model_output_shape(cm->entry->model);

		static const char *const loss_names[] = {
			[TL_LOSS_BINARY_CE] = "binary_crossentropy",
			[TL_LOSS_BINARY_CE_LOGITS] = "binary_crossentropy_from_logits",
			[TL_LOSS_CATEGORICAL_CE] = "categorical_crossentropy",
			[TL_LOSS_CATEGORICAL_CE_LOGITS] = "categorical_crossentropy_from_logits",
			[TL_LOSS_MSE] = "mse"};

		es.loss = tl_output_default_loss(es.kind, (int) tl_shape_count(&os));
		es.has_loss = 1;
		/* a loss the file does not record is said, never assumed silently */
		ereport(NOTICE,
				(errmsg("model \"%s\" records no training loss: losses are %s, the loss of its %s output",
						cm->entry->name, loss_names[es.loss], tl_output_kind_name(es.kind)),
				 errhint("Pass the loss it was trained with to choose another: tl_evaluate(..., loss => '...').")));
	}
	{
		MemoryContext old = MemoryContextSwitchTo(cm->cxt);

		es.plan = tl_perception_new(cm->entry->model, NULL, 0, TL_POOL_AUTO, tl_guc_perception_max_width, &st);
		MemoryContextSwitchTo(old);
		if (es.plan == NULL)
			tl_pg_raise(&st, cm->entry->name);
	}

	evaluate_check_query(query);
	SPI_connect();
	args[0] = CStringGetTextDatum(cm->entry->name);
	args[1] = Int32GetDatum(cm->entry->revision);
	args[2] = PointerGetDatum(PG_GETARG_TEXT_PP(2));
	args[3] = PG_ARGISNULL(3) ? (Datum) 0 : PointerGetDatum(PG_GETARG_TEXT_PP(3));
	args[4] = PG_ARGISNULL(4) ? (Datum) 0 : Int32GetDatum(PG_GETARG_INT32(4));
	args[5] = PointerGetDatum(PG_GETARG_TEXT_PP(1));
	args[6] = PG_ARGISNULL(6) ? (Datum) 0 : PG_GETARG_DATUM(6);
	args[7] = CStringGetTextDatum(tl_output_kind_name(es.kind));
	args[8] = CStringGetTextDatum(map);
	for (int i = 3; i < 7; i++)
		if (i != 5 && PG_ARGISNULL(i))
			nulls[i] = 'n';
	if (SPI_execute_with_args(psprintf("INSERT INTO %s.tl_run (model, revision, dataset, subset, epoch, status, input_query, class_names%s) "
									   "VALUES ($1, $2, $3, $4, $5, 'running', $6, $7%s) RETURNING id", es.schema,
									   es.columns_03 ? ", output_kind, map" : "", es.columns_03 ? ", $8, $9" : ""),
							  es.columns_03 ? 9 : 7, types, args, nulls, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "tensorlens: creating the run failed");
	es.run = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();

	progress = tl_progress_begin("tl_evaluate", es.run);
	tl_batch_query(cm, query, 0, 3, "sample_id, input, label", emit_results, &es);

	SPI_connect();
	if (SPI_execute_with_args(psprintf("SELECT %s.tl_analyze($1)", es.schema), 1,
							  (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(es.run)}, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "tensorlens: analysing run %d failed", es.run);
	SPI_finish();
	tl_progress_end(progress);
	PG_RETURN_INT32(es.run);
}

/*
 * A run's placed samples, read through a cursor in byte order of sample_id
 * (the order k-means' seeding sees them in): coordinates (z where the map
 * has one), failed, labelled, loss.
 */
typedef struct cluster_rows
{
	int			n,
				cap,
				d;				/* 3 when the first row has z, else 2 */
	char	  **ids;
	float	   *x;				/* n × 3 as read, packed to n × d after */
	float	   *loss;
	bool	   *failed,
			   *labelled;
	MemoryContext cxt;
} cluster_rows;

/* tl_pg_row_fn: one row (sample_id, x, y, z, failed, loss, labelled). */
static void
add_cluster_row(HeapTuple row, TupleDesc desc, void *arg)
{
	cluster_rows *cr = arg;
	bool		isnull;
	Datum		v;

	if (cr->n == cr->cap)
	{
		cr->cap = cr->cap ? 2 * cr->cap : 1024;
		cr->ids = repalloc_huge(cr->ids, sizeof(char *) * (Size) cr->cap);
		cr->x = repalloc_huge(cr->x, sizeof(float) * 3 * (Size) cr->cap);
		cr->loss = repalloc_huge(cr->loss, sizeof(float) * (Size) cr->cap);
		cr->failed = repalloc_huge(cr->failed, sizeof(bool) * (Size) cr->cap);
		cr->labelled = repalloc_huge(cr->labelled, sizeof(bool) * (Size) cr->cap);
	}
	cr->ids[cr->n] = MemoryContextStrdup(cr->cxt, SPI_getvalue(row, desc, 1));
	for (int j = 0; j < 3; j++)
	{
		v = SPI_getbinval(row, desc, j + 2, &isnull);
		cr->x[(int64) cr->n * 3 + j] = isnull ? 0.0f : DatumGetFloat4(v);
		if (j == 2 && cr->n == 0)
			cr->d = isnull ? 2 : 3;
	}
	cr->failed[cr->n] = DatumGetBool(SPI_getbinval(row, desc, 5, &isnull));
	v = SPI_getbinval(row, desc, 6, &isnull);
	cr->loss[cr->n] = isnull ? NAN : DatumGetFloat4(v);
	cr->labelled[cr->n] = DatumGetBool(SPI_getbinval(row, desc, 7, &isnull));
	cr->n++;
}

static void
read_cluster_rows(const char *schema, int32 run, cluster_rows *cr)
{
	cr->ids = MemoryContextAlloc(cr->cxt, sizeof(char *));
	cr->x = MemoryContextAlloc(cr->cxt, sizeof(float) * 3);
	cr->loss = MemoryContextAlloc(cr->cxt, sizeof(float));
	cr->failed = MemoryContextAlloc(cr->cxt, sizeof(bool));
	cr->labelled = MemoryContextAlloc(cr->cxt, sizeof(bool));
	/*
	 * failed = a labelled sample predicted otherwise (an unlabelled one is
	 * never a failure); int4eq, since "=" would be looked up
	 */
	tl_pg_each_row(psprintf("SELECT sample_id, x, y, z, label IS NOT NULL AND NOT "
							"COALESCE(pg_catalog.int4eq(prediction, label), false) AS failed, loss, "
							"label IS NOT NULL AS labelled "
							"FROM %s.tl_result WHERE run OPERATOR(pg_catalog.=) $1 AND x IS NOT NULL AND y IS NOT NULL "
							"ORDER BY sample_id COLLATE pg_catalog.\"C\"", schema),
				   1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(run)}, add_cluster_row, cr);
	if (cr->d == 2)
		for (int i = 0; i < cr->n; i++)
		{
			cr->x[(int64) i * 2] = cr->x[(int64) i * 3];
			cr->x[(int64) i * 2 + 1] = cr->x[(int64) i * 3 + 1];
		}
}

/*
 * tl_failure_clusters(run, clusters) → k-means (k-means++ seeding, fixed
 * seed) on the run's coordinates; per cluster its size, failures, error
 * rate, mean loss, centre and worst samples, highest mean loss first.
 */
PG_FUNCTION_INFO_V1(pg_tl_failure_clusters);
Datum
pg_tl_failure_clusters(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		run = PG_GETARG_INT32(0);
	int32		k = PG_GETARG_INT32(1);
	const char *schema = tl_pg_schema_of(fcinfo);
	float	   *centroids;
	int32	   *assign;
	tl_cluster_summary *summary;
	tl_status	st = {0};
	MemoryContext cxt = CurrentMemoryContext;
	cluster_rows cr = {0, 0, 2, NULL, NULL, NULL, NULL, NULL, cxt};

	if (k < 1 || k > 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the number of clusters must be between 1 and 1000, not %d", k)));
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	tl_pg_check_run(schema, run);
	read_cluster_rows(schema, run, &cr);
	SPI_finish();
	if (cr.n < k)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("run %d has %d placed samples, fewer than the %d clusters asked for", run, cr.n, k),
				 errhint("A run is placed by tl_analyze once it has perception vectors.")));
	assign = MemoryContextAllocHuge(cxt, sizeof(int32) * (Size) cr.n);
	centroids = MemoryContextAlloc(cxt, sizeof(float) * k * cr.d);
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);
		int			rc = tl_kmeans(cr.x, cr.n, cr.d, k, 100, UINT64_C(20261129), assign, centroids, &st);

		MemoryContextSwitchTo(old);
		if (rc < 0)
			tl_pg_raise(&st, NULL);
	}
	summary = MemoryContextAlloc(cxt, sizeof(tl_cluster_summary) * k);
	tl_cluster_summarise(assign, cr.n, k, cr.labelled, cr.failed, cr.loss, summary);
	for (int c = 0; c < k; c++)
	{
		const tl_cluster_summary *cs = &summary[c];
		Datum		values[8];
		bool		nulls[8] = {0};
		Datum		worst[TL_CLUSTER_WORST];

		for (int w = 0; w < cs->n_worst; w++)
			worst[w] = CStringGetTextDatum(cr.ids[cs->worst[w]]);
		values[0] = Int32GetDatum(c + 1);
		values[1] = Int32GetDatum(cs->size);
		values[2] = Int32GetDatum(cs->failures);
		/* the error rate among the labelled samples; none labelled: unknown */
		values[3] = Float4GetDatum(cs->labelled ? (float) cs->failures / cs->labelled : 0.0f);
		nulls[3] = cs->labelled == 0;
		values[4] = Float4GetDatum(cs->with_loss ? (float) (cs->loss_sum / cs->with_loss) : 0.0f);
		nulls[4] = cs->with_loss == 0;
		values[5] = Float4GetDatum(centroids[c * cr.d]);
		values[6] = Float4GetDatum(centroids[c * cr.d + 1]);
		values[7] = PointerGetDatum(construct_array(worst, cs->n_worst, TEXTOID, -1, false, TYPALIGN_INT));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * tl_procrustes(m float8[]) → float8[]: for M = AᵀB (d × d, d <= 3) the
 * rotation/reflection R minimising |A R − B| (used by tl_analyze to keep a
 * run's picture aligned with the previous epoch's).
 */
PG_FUNCTION_INFO_V1(pg_tl_procrustes);
Datum
pg_tl_procrustes(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	int			n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	int			d = n == 9 ? 3 : n == 4 ? 2 : n == 1 ? 1 : 0;
	double		m[9],
				r[9];
	Datum		out[9];
	tl_status	st = {0};

	if (ARR_ELEMTYPE(a) != FLOAT8OID || ARR_HASNULL(a) || d == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tl_procrustes needs a 1x1, 2x2 or 3x3 double precision matrix without NULLs")));
	memcpy(m, ARR_DATA_PTR(a), sizeof(double) * n);
	for (int i = 0; i < n; i++)
		if (!isfinite(m[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("tl_procrustes: the matrix has a non-finite value")));
	if (tl_procrustes(m, d, r, &st) < 0)
		tl_pg_raise(&st, NULL);
	for (int i = 0; i < n; i++)
		out[i] = Float8GetDatum(r[i]);
	PG_RETURN_ARRAYTYPE_P(construct_md_array(out, NULL, 2, (int[]) {d, d}, (int[]) {1, 1},
											 FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * tl_procrustes_align(run, reference) → boolean: lays the placed samples of
 * a run onto those of a reference run (rotation or reflection and shift,
 * fitted on the samples both placed; a missing y or z counts as 0 and
 * stays missing).  False, and nothing changed, when they share fewer than
 * TL_ALIGN_MIN_POINTS placed samples.
 */
PG_FUNCTION_INFO_V1(pg_tl_procrustes_align);
Datum
pg_tl_procrustes_align(PG_FUNCTION_ARGS)
{
	int32		run = PG_GETARG_INT32(0);
	int32		ref = PG_GETARG_INT32(1);
	const char *schema = tl_pg_schema_of(fcinfo);
	MemoryContext cxt = CurrentMemoryContext;
	SPITupleTable *tt;
	int			n;
	double	   *a,
			   *b;
	tl_alignment al;
	tl_status	st = {0};
	Datum	   *ids,
			   *xyz[3];
	bool	   *nulls[3];
	Datum		args[5];

	SPI_connect();
	tl_pg_check_run(schema, run);
	tl_pg_check_run(schema, ref);
	if (SPI_execute_with_args(psprintf("SELECT a.x, a.y, a.z, b.x, b.y, b.z FROM %s.tl_result a "
									   "JOIN %s.tl_result b ON b.sample_id OPERATOR(pg_catalog.=) a.sample_id "
									   "WHERE a.run OPERATOR(pg_catalog.=) $1 AND b.run OPERATOR(pg_catalog.=) $2 "
									   "AND a.x IS NOT NULL AND b.x IS NOT NULL", schema, schema), 2,
							  (Oid[]) {INT4OID, INT4OID}, (Datum[]) {Int32GetDatum(run), Int32GetDatum(ref)},
							  NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "tensorlens: reading runs %d and %d failed", run, ref);
	tt = SPI_tuptable;
	n = (int) SPI_processed;
	if (n < TL_ALIGN_MIN_POINTS)
	{
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	a = MemoryContextAlloc(cxt, sizeof(double) * 3 * n);
	b = MemoryContextAlloc(cxt, sizeof(double) * 3 * n);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < 6; j++)
		{
			bool		isnull;
			Datum		v = SPI_getbinval(tt->vals[i], tt->tupdesc, j + 1, &isnull);

			(j < 3 ? a : b)[i * 3 + j % 3] = isnull ? 0.0 : DatumGetFloat4(v);
		}
	if (tl_procrustes_fit(a, b, n, &al, &st) < 0)
		tl_pg_raise(&st, NULL);

	/* every placed sample of the run moves, shared or not */
	if (SPI_execute_with_args(psprintf("SELECT sample_id, x, y, z FROM %s.tl_result "
									   "WHERE run OPERATOR(pg_catalog.=) $1 AND x IS NOT NULL", schema), 1,
							  (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(run)}, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "tensorlens: reading run %d failed", run);
	tt = SPI_tuptable;
	n = (int) SPI_processed;
	ids = MemoryContextAlloc(cxt, sizeof(Datum) * n);
	for (int j = 0; j < 3; j++)
	{
		xyz[j] = MemoryContextAlloc(cxt, sizeof(Datum) * n);
		nulls[j] = MemoryContextAlloc(cxt, sizeof(bool) * n);
	}
	for (int i = 0; i < n; i++)
	{
		double		p[3],
					q[3];
		bool		idnull;

		ids[i] = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &idnull);
		for (int j = 0; j < 3; j++)
		{
			Datum		v = SPI_getbinval(tt->vals[i], tt->tupdesc, j + 2, &nulls[j][i]);

			p[j] = nulls[j][i] ? 0.0 : DatumGetFloat4(v);
		}
		tl_alignment_apply(&al, p, q);
		for (int j = 0; j < 3; j++)
			xyz[j][i] = Float4GetDatum((float) q[j]);
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	args[0] = Int32GetDatum(run);
	args[1] = PointerGetDatum(construct_array(ids, n, TEXTOID, -1, false, TYPALIGN_INT));
	for (int j = 0; j < 3; j++)
	{
		int			dims[1] = {n},
					lbs[1] = {1};

		args[j + 2] = PointerGetDatum(construct_md_array(xyz[j], nulls[j], 1, dims, lbs, FLOAT4OID,
														 4, true, TYPALIGN_INT));
	}
	/* one statement, joined on the primary key (run, sample_id) */
	if (SPI_execute_with_args(psprintf("UPDATE %s.tl_result t SET x = u.x, y = u.y, z = u.z "
									   "FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4), "
									   "pg_catalog.unnest($5)) AS u(sample_id, x, y, z) "
									   "WHERE t.run OPERATOR(pg_catalog.=) $1 "
									   "AND t.sample_id OPERATOR(pg_catalog.=) u.sample_id", schema), 5,
							  (Oid[]) {INT4OID, TEXTARRAYOID, FLOAT4ARRAYOID, FLOAT4ARRAYOID, FLOAT4ARRAYOID},
							  args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "tensorlens: updating run %d failed", run);
	SPI_finish();
	PG_RETURN_BOOL(true);
}
