/*
 * pg_analysis.c — runs: tl_evaluate (a model over a query, into tl_result),
 * tl_label_issues (mislabel search), tl_failure_clusters and the Procrustes
 * helper of tl_analyze.
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

#include "analysis/tl_cluster.h"
#include "analysis/tl_label.h"
#include "nn/tl_loss.h"
#include "analysis/tl_neighbours.h"
#include "analysis/tl_pca.h"
#include "analysis/tl_perception.h"

/* Components of the space label-issue neighbours are found in. */
#define LABEL_ISSUE_COMPONENTS 32

const char *
tl_pg_schema_of(FunctionCallInfo fcinfo)
{
	return quote_identifier(get_namespace_name(get_func_namespace(fcinfo->flinfo->fn_oid)));
}

/* ---- tl_evaluate ------------------------------------------------------------ */
typedef struct evaluate_state
{
	int32		run;
	tl_perception *plan;
	int			has_loss;
	tl_loss_kind loss;
	SPIPlanPtr	insert;
	const char *schema;
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

		es->insert = SPI_prepare(psprintf("INSERT INTO %s.tl_result (run, sample_id, label, output, prediction, loss, perception, metadata) "
										  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", es->schema), 8, types);
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
		values[4] = Int32GetDatum(tl_predict_class(yi, per));
		values[5] = (Datum) 0;
		values[6] = PointerGetDatum(tl_floats_to_array(v + (int64) width * i, width));
		/* the columns after the label (extra column 0) */
		values[7] = tl_pg_batch_metadata(b, i, 1, &metadata_null);
		if (metadata_null)
			nulls[7] = 'n';
		if (label_null)
			nulls[2] = nulls[5] = 'n';
		else if (!es->has_loss)
			nulls[5] = 'n';
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
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_cxt);
	}
	MemoryContextDelete(row_cxt);
	pfree(v);
}

/*
 * tl_evaluate(model, query, dataset, subset, epoch, loss, class_names):
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
	Datum		args[7];
	char		nulls[7] = "       ";
	Oid			types[7] = {TEXTOID, INT4OID, TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTARRAYOID};
	bool		isnull;

	for (int i = 0; i < 3; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("tl_evaluate: model, query and dataset must not be NULL")));
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
	{
		MemoryContext old = MemoryContextSwitchTo(cm->cxt);

		es.plan = tl_perception_new(cm->entry->model, NULL, 0, 0, tl_guc_perception_max_width, &st);
		MemoryContextSwitchTo(old);
		if (es.plan == NULL)
			tl_pg_raise(&st, cm->entry->name);
	}

	SPI_connect();
	args[0] = CStringGetTextDatum(cm->entry->name);
	args[1] = Int32GetDatum(cm->entry->revision);
	args[2] = PointerGetDatum(PG_GETARG_TEXT_PP(2));
	args[3] = PG_ARGISNULL(3) ? (Datum) 0 : PointerGetDatum(PG_GETARG_TEXT_PP(3));
	args[4] = PG_ARGISNULL(4) ? (Datum) 0 : Int32GetDatum(PG_GETARG_INT32(4));
	args[5] = PointerGetDatum(PG_GETARG_TEXT_PP(1));
	args[6] = PG_ARGISNULL(6) ? (Datum) 0 : PG_GETARG_DATUM(6);
	for (int i = 3; i < 7; i++)
		if (i != 5 && PG_ARGISNULL(i))
			nulls[i] = 'n';
	if (SPI_execute_with_args(psprintf("INSERT INTO %s.tl_run (model, revision, dataset, subset, epoch, status, input_query, class_names) "
									   "VALUES ($1, $2, $3, $4, $5, 'running', $6, $7) RETURNING id", es.schema),
							  7, types, args, nulls, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "tensorlens: creating the run failed");
	es.run = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();

	tl_batch_query(cm, query, 0, 3, "sample_id, input, label", emit_results, &es);

	SPI_connect();
	if (SPI_execute_with_args(psprintf("SELECT %s.tl_analyze($1)", es.schema), 1,
							  (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(es.run)}, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "tensorlens: analysing run %d failed", es.run);
	SPI_finish();
	PG_RETURN_INT32(es.run);
}

/* ---- reading a run ------------------------------------------------------------ */
typedef struct run_data
{
	int			n;				/* labelled samples */
	int			c;				/* outputs per sample */
	char	  **ids;
	int32	   *labels;
	int32	   *predictions;
	float	   *loss;			/* NaN when NULL */
	float	   *outputs;		/* n × c */
	float	   *reduced;		/* n × d, or NULL without perception vectors */
	int			d;
} run_data;

void
tl_pg_check_run(const char *schema, int32 run)
{
	if (SPI_execute_with_args(psprintf("SELECT 1 FROM %s.tl_run WHERE id OPERATOR(pg_catalog.=) $1", schema), 1,
							  (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(run)}, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "tensorlens: reading tl_run failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("run %d does not exist", run)));
}

/*
 * Reads the labelled results of a run with outputs; perception vectors are
 * reduced to LABEL_ISSUE_COMPONENTS principal components (fitted here, on
 * this run) so that neighbours are found in a small dense space.
 * Allocates in the current (caller's) memory context; call inside SPI.
 */
static void
read_run(const char *schema, int32 run, run_data *rd, MemoryContext cxt)
{
	SPITupleTable *tt;
	uint64		rows;
	tl_pca_acc *acc = NULL;
	tl_status	st = {0};
	MemoryContext old;

	tl_pg_check_run(schema, run);
	if (SPI_execute_with_args(psprintf("SELECT sample_id, label, output, perception, prediction, loss "
									   "FROM %s.tl_result WHERE run OPERATOR(pg_catalog.=) $1 AND label IS NOT NULL AND output IS NOT NULL "
									   "ORDER BY sample_id", schema), 1,
							  (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(run)}, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "tensorlens: reading the results of run %d failed", run);
	tt = SPI_tuptable;
	rows = SPI_processed;
	if (rows < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("run %d has %llu labelled results with outputs; at least 2 are needed",
						run, (unsigned long long) rows)));
	if (rows > 1000000)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("run %d has %llu results; label issues are computed for up to 1000000",
						run, (unsigned long long) rows)));
	old = MemoryContextSwitchTo(cxt);
	rd->n = (int) rows;
	rd->ids = palloc(sizeof(char *) * rd->n);
	rd->labels = palloc(sizeof(int32) * rd->n);
	rd->predictions = palloc(sizeof(int32) * rd->n);
	rd->loss = palloc(sizeof(float) * rd->n);
	MemoryContextSwitchTo(old);
	for (int i = 0; i < rd->n; i++)
	{
		HeapTuple	t = tt->vals[i];
		bool		isnull;
		int			n;
		float	   *y = tl_array_to_floats(DatumGetArrayTypeP(SPI_getbinval(t, tt->tupdesc, 3, &isnull)),
										   "the output", &n);
		Datum		pv = SPI_getbinval(t, tt->tupdesc, 4, &isnull);

		if (i == 0)
		{
			rd->c = n;
			old = MemoryContextSwitchTo(cxt);
			rd->outputs = palloc_extended(sizeof(float) * rd->n * n, MCXT_ALLOC_HUGE);
			MemoryContextSwitchTo(old);
		}
		if (n != rd->c || n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("run %d mixes outputs of %d and %d values", run, rd->c, n)));
		memcpy(rd->outputs + (int64) i * n, y, sizeof(float) * n);
		rd->ids[i] = MemoryContextStrdup(cxt, SPI_getvalue(t, tt->tupdesc, 1));
		rd->labels[i] = DatumGetInt32(SPI_getbinval(t, tt->tupdesc, 2, &isnull));
		rd->predictions[i] = DatumGetInt32(SPI_getbinval(t, tt->tupdesc, 5, &isnull));
		if (isnull)
			rd->predictions[i] = tl_predict_class(y, n);
		rd->loss[i] = DatumGetFloat4(SPI_getbinval(t, tt->tupdesc, 6, &isnull));
		if (isnull)
			rd->loss[i] = NAN;
		SPI_getbinval(t, tt->tupdesc, 4, &isnull);
		if (!isnull)
		{
			int			w;
			float	   *p = tl_array_to_floats(DatumGetArrayTypeP(pv), "a perception vector", &w);

			if (acc == NULL)
			{
				old = MemoryContextSwitchTo(cxt);
				acc = tl_pca_acc_new(Min(LABEL_ISSUE_COMPONENTS, w), TL_PCA_AUTO, &st);
				MemoryContextSwitchTo(old);
				if (acc == NULL)
					tl_pg_raise(&st, NULL);
			}
			old = MemoryContextSwitchTo(cxt);
			if (tl_pca_acc_add(acc, p, w, &st) < 0)
				tl_pg_raise(&st, NULL);
			MemoryContextSwitchTo(old);
		}
		CHECK_FOR_INTERRUPTS();
	}
	rd->reduced = NULL;
	if (acc && acc->n + acc->nrows == rd->n)
	{
		/* every sample has a perception vector: project them all */
		tl_pca_model pm;

		old = MemoryContextSwitchTo(cxt);
		tl_pg_pca_finish(acc, &pm);
		rd->d = pm.k;
		rd->reduced = palloc_extended(sizeof(float) * rd->n * rd->d, MCXT_ALLOC_HUGE);
		MemoryContextSwitchTo(old);
		for (int i = 0; i < rd->n; i++)
		{
			bool		pnull;
			int			w;
			float	   *p = tl_array_to_floats(DatumGetArrayTypeP(SPI_getbinval(tt->vals[i], tt->tupdesc, 4, &pnull)),
											   "a perception vector", &w);

			tl_pca_model_project(&pm, p, rd->reduced + (int64) i * rd->d);
		}
	}
}

static int
by_score_desc(const void *a, const void *b, void *arg)
{
	const tl_label_scores *sc = (const tl_label_scores *) arg;
	int			i = *(const int *) a,
				j = *(const int *) b;

	if (sc[i].score != sc[j].score)
		return sc[i].score > sc[j].score ? -1 : 1;
	return i - j;
}

/*
 * tl_label_issues(run, k) → the run's labelled samples ranked most suspect
 * first: confident learning, normalised margin and the disagreement of the
 * k nearest neighbours in perception space (see tl_label.h for the score).
 */
PG_FUNCTION_INFO_V1(pg_tl_label_issues);
Datum
pg_tl_label_issues(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		run = PG_GETARG_INT32(0);
	int32		k = PG_GETARG_INT32(1);
	run_data	rd = {0};
	int			c;
	float	   *probs;
	int32	   *nbr = NULL;
	int		   *order;
	tl_label_scores *sc;
	tl_status	st = {0};
	MemoryContext cxt = CurrentMemoryContext;

	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k (neighbours) must be at least 1, not %d", k)));
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	read_run(tl_pg_schema_of(fcinfo), run, &rd, cxt);
	SPI_finish();
	if (k >= rd.n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k (neighbours) must be below the %d labelled samples of run %d, not %d", rd.n, run, k)));

	c = rd.c == 1 ? 2 : rd.c;
	probs = palloc_extended(sizeof(float) * rd.n * c, MCXT_ALLOC_HUGE);
	tl_outputs_to_probs(rd.outputs, rd.n, rd.c, probs);
	if (rd.reduced)
	{
		nbr = palloc_extended(sizeof(int32) * rd.n * k, MCXT_ALLOC_HUGE);
		if (tl_knn(rd.reduced, rd.n, rd.d, k, nbr, &st) < 0)
			tl_pg_raise(&st, NULL);
	}
	sc = palloc_extended(sizeof(tl_label_scores) * rd.n, MCXT_ALLOC_HUGE);
	if (tl_label_scores_compute(probs, rd.labels, rd.n, c, nbr, k, sc, &st) < 0)
		ereport(ERROR,
				(errcode(tl_pg_sqlstate(st.code)),
				 errmsg("run %d: %s", run, st.msg)));

	/* most suspect first; ties by sample id (the read order) */
	order = palloc(sizeof(int) * rd.n);
	for (int i = 0; i < rd.n; i++)
		order[i] = i;
	qsort_arg(order, rd.n, sizeof(int), by_score_desc, sc);
	for (int r = 0; r < rd.n; r++)
	{
		int			i = order[r];
		Datum		values[11];
		bool		nulls[11] = {0};

		values[0] = Int32GetDatum(r + 1);
		values[1] = CStringGetTextDatum(rd.ids[i]);
		values[2] = Int32GetDatum(rd.labels[i]);
		values[3] = Int32GetDatum(sc[i].suggested);
		values[4] = Float4GetDatum(sc[i].score);
		values[5] = Float4GetDatum(sc[i].self_confidence);
		values[6] = Float4GetDatum(sc[i].margin);
		values[7] = Float4GetDatum(sc[i].neighbour_disagreement);
		nulls[7] = isnan(sc[i].neighbour_disagreement);
		values[8] = BoolGetDatum(sc[i].issue);
		values[9] = Int32GetDatum(rd.predictions[i]);
		values[10] = Float4GetDatum(rd.loss[i]);
		nulls[10] = isnan(rd.loss[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
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
	SPITupleTable *tt;
	int			n,
				d = 0;
	float	   *x,
			   *centroids;
	int32	   *assign;
	tl_status	st = {0};
	MemoryContext cxt = CurrentMemoryContext;

	if (k < 1 || k > 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the number of clusters must be between 1 and 1000, not %d", k)));
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	tl_pg_check_run(schema, run);
	/* failed = prediction IS DISTINCT FROM label, which would look up "=" */
	if (SPI_execute_with_args(psprintf("SELECT sample_id, x, y, z, NOT (prediction IS NULL AND label IS NULL "
									   "OR COALESCE(pg_catalog.int4eq(prediction, label), false)) AS failed, loss "
									   "FROM %s.tl_result WHERE run OPERATOR(pg_catalog.=) $1 AND x IS NOT NULL AND y IS NOT NULL "
									   "ORDER BY sample_id", schema), 1,
							  (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(run)}, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "tensorlens: reading run %d failed", run);
	tt = SPI_tuptable;
	n = (int) SPI_processed;
	if (n < k)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("run %d has %d placed samples, fewer than the %d clusters asked for", run, n, k),
				 errhint("A run is placed by tl_analyze once it has perception vectors.")));
	{
		bool		znull;

		SPI_getbinval(tt->vals[0], tt->tupdesc, 4, &znull);
		d = znull ? 2 : 3;
	}
	x = MemoryContextAlloc(cxt, sizeof(float) * n * d);
	assign = MemoryContextAlloc(cxt, sizeof(int32) * n);
	centroids = MemoryContextAlloc(cxt, sizeof(float) * k * d);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < d; j++)
		{
			bool		isnull;
			Datum		v = SPI_getbinval(tt->vals[i], tt->tupdesc, j + 2, &isnull);

			x[i * d + j] = isnull ? 0.0f : DatumGetFloat4(v);
		}
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);
		int			rc = tl_kmeans(x, n, d, k, 100, UINT64_C(20261129), assign, centroids, &st);

		MemoryContextSwitchTo(old);
		if (rc < 0)
			tl_pg_raise(&st, NULL);
	}
	for (int c = 0; c < k; c++)
	{
		Datum		values[8];
		bool		nulls[8] = {0};
		int			size = 0,
					failures = 0,
					with_loss = 0;
		double		loss = 0;
		Datum		worst[5];
		int			n_worst = 0;
		float		worst_loss[5];

		for (int i = 0; i < n; i++)
		{
			bool		isnull;
			float		l;

			if (assign[i] != c)
				continue;
			size++;
			failures += DatumGetBool(SPI_getbinval(tt->vals[i], tt->tupdesc, 5, &isnull));
			l = DatumGetFloat4(SPI_getbinval(tt->vals[i], tt->tupdesc, 6, &isnull));
			if (isnull)
				continue;
			loss += l;
			with_loss++;
			/* keep the five highest losses, highest first */
			if (n_worst < 5 || l > worst_loss[n_worst - 1])
			{
				int			p = n_worst < 5 ? n_worst++ : 4;

				while (p > 0 && worst_loss[p - 1] < l)
				{
					worst_loss[p] = worst_loss[p - 1];
					worst[p] = worst[p - 1];
					p--;
				}
				worst_loss[p] = l;
				worst[p] = CStringGetTextDatum(SPI_getvalue(tt->vals[i], tt->tupdesc, 1));
			}
		}
		values[0] = Int32GetDatum(c + 1);
		values[1] = Int32GetDatum(size);
		values[2] = Int32GetDatum(failures);
		values[3] = Float4GetDatum(size ? (float) failures / size : 0.0f);
		values[4] = Float4GetDatum(with_loss ? (float) (loss / with_loss) : 0.0f);
		nulls[4] = with_loss == 0;
		values[5] = Float4GetDatum(centroids[c * d]);
		values[6] = Float4GetDatum(centroids[c * d + 1]);
		values[7] = PointerGetDatum(construct_array(worst, n_worst, TEXTOID, -1, false, TYPALIGN_INT));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
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
