/*
 * pg_data_issues.c — data issues of a run: tl_label_issues (likely
 * mislabelled samples, alone or with runs of other models over the same
 * samples) and tl_near_duplicates (within a run, or leakage into another
 * run); what tl_outliers (pg_outliers.c) shares with them.
 */
#include "tl_pg.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "analysis/tl_knn.h"
#include "analysis/tl_label.h"

/* ---- a run's labelled results ------------------------------------------ */
typedef struct run_labels
{
	int			n;
	char	  **ids;			/* sorted (byte order) */
	int32	   *labels;
	int32	   *predictions;	/* -1 when NULL */
	float	   *loss;			/* NaN when NULL */
	int			c;				/* classes */
	double	   *probs;			/* n × c */
} run_labels;

/*
 * Whether schema.table has column: a 0.2.0 catalog still in use with this
 * library (before ALTER EXTENSION UPDATE) has no tl_run.output_kind and no
 * tl_neighbour.
 */
static bool
table_has_column(const char *schema, const char *table, const char *column)
{
	if (SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1) "
							  "AND attname::pg_catalog.text OPERATOR(pg_catalog.=) $2 AND NOT attisdropped", 2, (Oid[]) {TEXTOID, TEXTOID},
							  (Datum[]) {CStringGetTextDatum(psprintf("%s.%s", schema, table)), CStringGetTextDatum(column)},
							  NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "tensorlens: reading the catalog failed");
	return SPI_processed == 1;
}

/* What the outputs of run mean: tl_run.output_kind, or derived from its model on a 0.2.0 catalog. */
static tl_output_kind
run_output_kind(const char *schema, Oid fn_oid, int32 run)
{
	bool		has_column = table_has_column(schema, "tl_run", "output_kind");
	bool		isnull;
	Datum		d;

	tl_pg_check_run(schema, run);
	if (SPI_execute_with_args(psprintf(has_column ? "SELECT output_kind FROM %s.tl_run WHERE id OPERATOR(pg_catalog.=) $1"
									   : "SELECT model OPERATOR(pg_catalog.||) COALESCE('@' OPERATOR(pg_catalog.||) revision, '') "
									   "FROM %s.tl_run WHERE id OPERATOR(pg_catalog.=) $1", schema),
							  1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(run)}, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "tensorlens: reading tl_run failed");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!has_column)
	{
		tl_cached_model *e = tl_model_get(fn_oid, TextDatumGetCString(d));
		tl_output_kind kind;
		tl_status	st = {0};

		if (tl_model_output_kind(e->model, NULL, &kind, &st) < 0)
			tl_pg_raise(&st, e->name);
		return kind;
	}
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("run %d does not say what its outputs are (tl_run.output_kind is NULL)", run),
				 errhint("tl_analyze(%d) derives it from the model; or set it: softmax, sigmoid, softmax_logits, sigmoid_logits, linear_probability.", run)));
	return tl_pg_output_kind(TextDatumGetCString(d));
}

/*
 * The labelled results with outputs of run (only those whose sample_id is
 * in `only` when given), as class distributions.  Call inside SPI.
 */
static void
read_labels(const char *schema, Oid fn_oid, int32 run, run_labels *rl, MemoryContext cxt)
{
	tl_output_kind kind = run_output_kind(schema, fn_oid, run);
	SPITupleTable *tt;
	tl_status	st = {0};
	int			units = 0;

	if (kind == TL_OUTPUT_REGRESSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("run %d has regression outputs (output_kind regression): label issues need classes", run)));
	if (SPI_execute_with_args(psprintf("SELECT sample_id, label, output, prediction, loss FROM %s.tl_result "
									   "WHERE run OPERATOR(pg_catalog.=) $1 AND label IS NOT NULL AND output IS NOT NULL "
									   "ORDER BY sample_id COLLATE pg_catalog.\"C\"", schema), 1,
							  (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(run)}, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "tensorlens: reading the results of run %d failed", run);
	tt = SPI_tuptable;
	rl->n = (int) SPI_processed;
	rl->ids = MemoryContextAlloc(cxt, sizeof(char *) * Max(rl->n, 1));
	rl->labels = MemoryContextAlloc(cxt, sizeof(int32) * Max(rl->n, 1));
	rl->predictions = MemoryContextAlloc(cxt, sizeof(int32) * Max(rl->n, 1));
	rl->loss = MemoryContextAlloc(cxt, sizeof(float) * Max(rl->n, 1));
	rl->probs = NULL;
	rl->c = 0;
	for (int i = 0; i < rl->n; i++)
	{
		HeapTuple	t = tt->vals[i];
		bool		isnull;
		int			m;
		float	   *y = tl_array_to_floats(DatumGetArrayTypeP(SPI_getbinval(t, tt->tupdesc, 3, &isnull)),
										   "the output", &m);

		if (i == 0)
		{
			units = m;
			rl->c = tl_output_classes(kind, m);
			if (rl->c < 2)
				ereport(ERROR,
						(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
						 errmsg("run %d has empty outputs", run)));
			rl->probs = MemoryContextAllocHuge(cxt, sizeof(double) * (Size) rl->n * rl->c);
		}
		if (m != units)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("run %d mixes outputs of %d and %d values", run, units, m)));
		rl->ids[i] = MemoryContextStrdup(cxt, SPI_getvalue(t, tt->tupdesc, 1));
		if (tl_output_class_probs(kind, y, m, rl->probs + (int64) i * rl->c, &st) < 0)
			ereport(ERROR,
					(errcode(tl_pg_sqlstate(st.code)),
					 errmsg("run %d, sample %s: %s", run, rl->ids[i], st.msg)));
		rl->labels[i] = DatumGetInt32(SPI_getbinval(t, tt->tupdesc, 2, &isnull));
		if (rl->labels[i] < 0 || rl->labels[i] >= rl->c)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("run %d, sample %s: label %d is outside the %d classes of the output",
							run, rl->ids[i], rl->labels[i], rl->c)));
		rl->predictions[i] = DatumGetInt32(SPI_getbinval(t, tt->tupdesc, 4, &isnull));
		if (isnull)
			rl->predictions[i] = tl_output_predict(kind, y, m);
		rl->loss[i] = DatumGetFloat4(SPI_getbinval(t, tt->tupdesc, 5, &isnull));
		if (isnull)
			rl->loss[i] = NAN;
		pfree(y);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_freetuptable(tt);
}

typedef struct graph_reader
{
	char	  **ids;
	int			n,
				k;
	int32	   *nbr;
} graph_reader;

/* tl_pg_row_fn: one stored edge (sample_id, rank, neighbour_id) into the index table. */
static void
add_edge(HeapTuple row, TupleDesc desc, void *arg)
{
	graph_reader *gr = arg;
	bool		isnull;
	int			i = tl_pg_find_id(gr->ids, gr->n, SPI_getvalue(row, desc, 1));
	int			rank = DatumGetInt32(SPI_getbinval(row, desc, 2, &isnull));

	if (i >= 0 && rank >= 1 && rank <= gr->k)
		gr->nbr[(int64) i * gr->k + rank - 1] = tl_pg_find_id(gr->ids, gr->n, SPI_getvalue(row, desc, 3));
}

/*
 * The first k neighbours of each of ids (n, sorted) in the stored graph of
 * run, as indices into ids (-1: none, or a neighbour not among ids).  Fails
 * when the graph is stored with fewer than k neighbours (and the run has
 * more samples than that); NULL when the run has no graph (or the catalog
 * has no tl_neighbour yet).
 */
static int32 *
read_graph(const char *schema, int32 run, char **ids, int n, int k, MemoryContext cxt)
{
	graph_reader gr;
	int32	   *nbr;
	int			stored = 0,
				with_vectors = 0;
	bool		isnull;

	if (!table_has_column(schema, "tl_neighbour", "run"))
		return NULL;
	if (SPI_execute_with_args(psprintf("SELECT coalesce(pg_catalog.max(rank), 0), pg_catalog.count(DISTINCT sample_id) FROM %s.tl_neighbour "
									   "WHERE run OPERATOR(pg_catalog.=) $1", schema), 1,
							  (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(run)}, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "tensorlens: reading tl_neighbour failed");
	stored = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	with_vectors = (int) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (stored == 0)
		return NULL;
	if (stored < k && stored < with_vectors - 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("run %d stores %d neighbours per sample, fewer than the %d asked for", run, stored, k),
				 errhint("SELECT tl_neighbours(%d, %d) stores more.", run, k)));
	nbr = MemoryContextAllocHuge(cxt, sizeof(int32) * (Size) n * k);
	for (int64 i = 0; i < (int64) n * k; i++)
		nbr[i] = -1;
	gr.ids = ids;
	gr.n = n;
	gr.k = k;
	gr.nbr = nbr;
	tl_pg_each_row(psprintf("SELECT sample_id, rank, neighbour_id FROM %s.tl_neighbour "
							"WHERE run OPERATOR(pg_catalog.=) $1 AND rank OPERATOR(pg_catalog.<=) $2", schema),
				   2, (Oid[]) {INT4OID, INT4OID}, (Datum[]) {Int32GetDatum(run), Int32GetDatum(k)},
				   add_edge, &gr);
	return nbr;
}

static int
by_score_desc(const void *a, const void *b, void *arg)
{
	const float *score = (const float *) arg;
	int			i = *(const int *) a,
				j = *(const int *) b;

	if (score[i] != score[j])
		return score[i] > score[j] ? -1 : 1;
	return i - j;
}

/* Sample indices ordered by score, highest first (ties: sample_id order). */
int *
tl_pg_order_by_score(const float *score, int n)
{
	int		   *order = palloc(sizeof(int) * Max(n, 1));

	for (int i = 0; i < n; i++)
		order[i] = i;
	qsort_arg(order, n, sizeof(int), by_score_desc, (void *) score);
	return order;
}

/*
 * tl_label_issues(run, k, with_runs) → the labelled samples of run, most
 * likely mislabelled first (tl_label.h): the class distribution of the
 * run's model combined with the labels of its k nearest neighbours; with
 * with_runs (runs of other models over the same samples), the models'
 * distributions averaged, each weighted by its agreement with the labels.
 */
PG_FUNCTION_INFO_V1(pg_tl_label_issues);
/* (long function: argument checks, reading the runs, the scores and the
 * rows out share one SPI connection and the arrays read; the maths is in
 * the core, tl_label.c.) */
Datum
pg_tl_label_issues(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *schema = tl_pg_schema_of(fcinfo);
	int32		run,
				k;
	int			n_runs = 1;
	int32	   *runs;
	run_labels	rl;
	double	  **probs;			/* per run, aligned to rl's samples */
	uint8	  **present;
	double	   *combined;
	float	   *per_run;		/* n × n_runs self-confidences, NaN = absent */
	tl_label_graph graph = {NULL, 0};
	tl_label_scores *sc;
	float	   *score;
	int		   *order;
	tl_status	st = {0};
	MemoryContext cxt = CurrentMemoryContext;

	/* a NULL run or k: no rows, as the strict 0.2.0 function answered */
	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return (Datum) 0;
	run = PG_GETARG_INT32(0);
	k = PG_GETARG_INT32(1);
	tl_pg_check_k(k);
	/* (0.2.0's declaration has no with_runs) */
	if (PG_NARGS() > 2 && !PG_ARGISNULL(2))
	{
		ArrayType  *a = PG_GETARG_ARRAYTYPE_P(2);
		Datum	   *el;
		bool	   *nulls;
		int			m;

		deconstruct_array(a, INT4OID, 4, true, TYPALIGN_INT, &el, &nulls, &m);
		runs = palloc(sizeof(int32) * (m + 1));
		runs[0] = run;
		for (int i = 0; i < m; i++)
		{
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("with_runs must not contain NULL")));
			runs[n_runs] = DatumGetInt32(el[i]);
			for (int j = 0; j < n_runs; j++)
				if (runs[j] == runs[n_runs])
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("run %d appears twice among the runs to combine", runs[j])));
			n_runs++;
		}
	}
	else
		runs = &run;

	SPI_connect();
	read_labels(schema, fcinfo->flinfo->fn_oid, run, &rl, cxt);
	if (rl.n < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("run %d has %d labelled results with outputs; at least 2 are needed", run, rl.n),
				 errhint("Label issues compare the given labels (tl_result.label) with the model's outputs.")));
	if (k >= rl.n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k (neighbours) must be below the %d labelled samples of run %d, not %d", rl.n, run, k)));
	probs = MemoryContextAlloc(cxt, sizeof(double *) * n_runs);
	present = MemoryContextAlloc(cxt, sizeof(uint8 *) * n_runs);
	per_run = MemoryContextAllocHuge(cxt, sizeof(float) * (Size) rl.n * n_runs);
	probs[0] = rl.probs;
	present[0] = NULL;
	for (int i = 0; i < rl.n; i++)
		per_run[(int64) i * n_runs] = (float) rl.probs[(int64) i * rl.c + rl.labels[i]];
	for (int r = 1; r < n_runs; r++)
	{
		run_labels	other;
		double	   *aligned = MemoryContextAllocHuge(cxt, sizeof(double) * (Size) rl.n * rl.c);
		uint8	   *has = MemoryContextAllocZero(cxt, rl.n);

		read_labels(schema, fcinfo->flinfo->fn_oid, runs[r], &other, cxt);
		if (other.c != rl.c)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("run %d has %d classes, run %d has %d: only runs with the same classes combine",
							run, rl.c, runs[r], other.c)));
		/* the other run's distribution of each of this run's samples */
		for (int i = 0; i < rl.n; i++)
		{
			int			j = tl_pg_find_id(other.ids, other.n, rl.ids[i]);

			per_run[(int64) i * n_runs + r] = NAN;
			if (j < 0)
				continue;
			memcpy(aligned + (int64) i * rl.c, other.probs + (int64) j * rl.c, sizeof(double) * rl.c);
			has[i] = 1;
			per_run[(int64) i * n_runs + r] = (float) other.probs[(int64) j * rl.c + rl.labels[i]];
		}
		probs[r] = aligned;
		present[r] = has;
	}
	/*
	 * One run: its neighbours are the second opinion.  Several: the other
	 * models are, and the neighbour term stays out (measured in
	 * doc/data_issues.md: on 1,500 reviews it cost the Conv1D + multi-hot
	 * pair more than it gained the others).
	 */
	if (n_runs == 1)
	{
		graph.nbr = read_graph(schema, run, rl.ids, rl.n, k, cxt);
		graph.k = k;
	}
	SPI_finish();
	combined = MemoryContextAllocHuge(cxt, sizeof(double) * (Size) rl.n * rl.c);
	if (tl_label_combine((const double *const *) probs, (const uint8 *const *) present, n_runs,
						 rl.labels, rl.n, rl.c, combined, NULL, &st) < 0)
		tl_pg_raise(&st, NULL);
	sc = MemoryContextAllocHuge(cxt, sizeof(tl_label_scores) * (Size) rl.n);
	if (tl_label_scores_compute(combined, rl.labels, rl.n, rl.c, &graph, graph.nbr ? 1 : 0, sc, NULL, &st) < 0)
		ereport(ERROR,
				(errcode(tl_pg_sqlstate(st.code)),
				 errmsg("run %d: %s", run, st.msg)));
	score = palloc(sizeof(float) * rl.n);
	for (int i = 0; i < rl.n; i++)
		score[i] = sc[i].score;
	order = tl_pg_order_by_score(score, rl.n);
	for (int r = 0; r < rl.n; r++)
	{
		int			i = order[r];
		Datum		values[12];
		bool		nulls[12] = {0};
		Datum	   *sv = palloc(sizeof(Datum) * n_runs);
		bool	   *sn = palloc(sizeof(bool) * n_runs);

		for (int j = 0; j < n_runs; j++)
		{
			float		v = per_run[(int64) i * n_runs + j];

			sn[j] = isnan(v);
			sv[j] = Float4GetDatum(sn[j] ? 0 : v);
		}
		values[0] = Int32GetDatum(r + 1);
		values[1] = CStringGetTextDatum(rl.ids[i]);
		values[2] = Int32GetDatum(rl.labels[i]);
		values[3] = Int32GetDatum(sc[i].suggested);
		values[4] = Float4GetDatum(sc[i].score);
		values[5] = Float4GetDatum(sc[i].self_confidence);
		values[6] = Float4GetDatum(sc[i].margin);
		values[7] = Float4GetDatum(sc[i].neighbour_disagreement);
		nulls[7] = isnan(sc[i].neighbour_disagreement);
		values[8] = BoolGetDatum(sc[i].issue);
		values[9] = Int32GetDatum(rl.predictions[i]);
		nulls[9] = rl.predictions[i] < 0;
		values[10] = Float4GetDatum(rl.loss[i]);
		nulls[10] = isnan(rl.loss[i]);
		values[11] = PointerGetDatum(construct_md_array(sv, sn, 1, &n_runs, (int[]) {1}, FLOAT4OID, 4,
														true, TYPALIGN_INT));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		pfree(sv);
		pfree(sn);
	}
	return (Datum) 0;
}

/* ---- near-duplicates and outliers -------------------------------------- */

/* A quantile of the distances at one rank of a run's stored graph (NULL: none stored). */
static bool
graph_quantile(const char *schema, int32 run, int rank, double q, double *out)
{
	bool		isnull;
	Datum		d;

	if (SPI_execute_with_args(psprintf("SELECT pg_catalog.percentile_cont($3) WITHIN GROUP (ORDER BY distance) FROM %s.tl_neighbour "
									   "WHERE run OPERATOR(pg_catalog.=) $1 AND rank OPERATOR(pg_catalog.=) $2", schema), 3,
							  (Oid[]) {INT4OID, INT4OID, FLOAT8OID},
							  (Datum[]) {Int32GetDatum(run), Int32GetDatum(rank), Float8GetDatum(q)},
							  NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "tensorlens: reading tl_neighbour failed");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return false;
	*out = DatumGetFloat8(d);
	return true;
}

void
tl_pg_require_graph(const char *schema, int32 run, int rank, double q, double *out)
{
	if (!graph_quantile(schema, run, rank, q, out))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("run %d has no neighbour graph", run),
				 errhint("tl_analyze(%d) stores it once the run has perception vectors.", run)));
}

/*
 * The samples of run (a) and of ref (b), both in ref's neighbour space, and
 * for each of a its k nearest samples of b, exactly (idx, dist: a.n × k).
 * Call inside SPI; k is lowered to the samples of ref.
 */
void
tl_pg_against_reference(const char *schema, int32 run, int32 ref, int *k, tl_points *a, tl_points *b,
				  int32 **idx, float **dist, MemoryContext cxt)
{
	tl_status	st = {0};

	tl_pg_run_points(schema, run, ref, a, cxt);
	tl_pg_run_points(schema, ref, ref, b, cxt);
	*k = Min(*k, b->n);
	if (*k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("run %d has no samples with perception vectors", ref)));
	*idx = MemoryContextAllocHuge(cxt, sizeof(int32) * (Size) Max(a->n, 1) * *k);
	*dist = MemoryContextAllocHuge(cxt, sizeof(float) * (Size) Max(a->n, 1) * *k);
	if (a->n > 0 && tl_knn_exact(b->x, b->n, a->x, a->n, a->d, *k, 0, *idx, *dist, &st) < 0)
		tl_pg_raise(&st, NULL);
}

/*
 * The default near-duplicate threshold of a run: a quarter of the median
 * distance from a sample to its nearest neighbour.  Samples that close are
 * four times closer than typical neighbours (doc/data_issues.md
 * measures planted copies against it).
 */
#define DUPLICATE_SHARE_OF_MEDIAN 0.25

/*
 * tl_near_duplicates(run, other_run, threshold) → TABLE(sample_id,
 * duplicate_run, duplicate_id, distance, input_distance, method): pairs
 * within a run (each once, sample_id < duplicate_id), or each sample of run
 * with its nearest sample of other_run — in perception space (the stored
 * graph; other_run's neighbour space, within the threshold) and in input
 * space (pg_near_dup.c, its own default thresholds), merged.
 */
PG_FUNCTION_INFO_V1(pg_tl_near_duplicates);
/* (long function: arguments, the threshold, the pairs of the graph or of
 * the reference, then the input space, all in one SPI connection) */
Datum
pg_tl_near_duplicates(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *schema = tl_pg_schema_of(fcinfo);
	int32		run,
				other;
	double		threshold;
	tl_pg_dup_pair *pairs,
			   *in_input = NULL;
	int			n = 0,
				n_input = 0;
	MemoryContext cxt = CurrentMemoryContext;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;		/* no run, no rows (as a strict function) */
	run = PG_GETARG_INT32(0);
	other = PG_ARGISNULL(1) ? run : PG_GETARG_INT32(1);
	if (!PG_ARGISNULL(2) && !(PG_GETARG_FLOAT4(2) >= 0 && isfinite(PG_GETARG_FLOAT4(2))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the threshold must be a distance of 0 or more, not %g", PG_GETARG_FLOAT4(2))));
	SPI_connect();
	tl_pg_check_run(schema, run);
	tl_pg_check_run(schema, other);
	if (PG_ARGISNULL(2))
	{
		tl_pg_require_graph(schema, other, 1, 0.5, &threshold);
		threshold *= DUPLICATE_SHARE_OF_MEDIAN;
	}
	else
		threshold = PG_GETARG_FLOAT4(2);

	if (other == run)
	{
		SPITupleTable *tt;

		if (SPI_execute_with_args(psprintf("SELECT least(sample_id COLLATE pg_catalog.\"C\", neighbour_id COLLATE pg_catalog.\"C\"), "
										   "greatest(sample_id COLLATE pg_catalog.\"C\", neighbour_id COLLATE pg_catalog.\"C\"), pg_catalog.min(distance) "
										   "FROM %s.tl_neighbour WHERE run OPERATOR(pg_catalog.=) $1 "
										   "AND distance OPERATOR(pg_catalog.<=) $2 GROUP BY 1, 2", schema), 2,
								  (Oid[]) {INT4OID, FLOAT4OID},
								  (Datum[]) {Int32GetDatum(run), Float4GetDatum((float4) threshold)},
								  NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "tensorlens: reading tl_neighbour failed");
		tt = SPI_tuptable;
		pairs = MemoryContextAlloc(cxt, sizeof(tl_pg_dup_pair) * Max(SPI_processed, 1));
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;

			pairs[n].a = MemoryContextStrdup(cxt, SPI_getvalue(tt->vals[r], tt->tupdesc, 1));
			pairs[n].b = MemoryContextStrdup(cxt, SPI_getvalue(tt->vals[r], tt->tupdesc, 2));
			pairs[n].perception = DatumGetFloat4(SPI_getbinval(tt->vals[r], tt->tupdesc, 3, &isnull));
			pairs[n++].input = NAN;
		}
	}
	else
	{
		tl_points	a,
					b;
		int32	   *idx;
		float	   *dist;
		int			k = 1;

		tl_pg_against_reference(schema, run, other, &k, &a, &b, &idx, &dist, cxt);
		pairs = MemoryContextAlloc(cxt, sizeof(tl_pg_dup_pair) * Max(a.n, 1));
		for (int i = 0; i < a.n; i++)
		{
			if (dist[i] > threshold)
				continue;
			pairs[n].a = a.ids[i];
			pairs[n].b = b.ids[idx[i]];
			pairs[n].perception = dist[i];
			pairs[n++].input = NAN;
		}
	}
	{
		/* the pairs outlive the SPI connection */
		MemoryContext old = MemoryContextSwitchTo(cxt);

		n_input = tl_pg_input_duplicates(fcinfo, schema, run, other, &in_input);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	if (n_input > 0)
	{
		pairs = repalloc(pairs, sizeof(tl_pg_dup_pair) * (n + n_input));
		memcpy(pairs + n, in_input, sizeof(tl_pg_dup_pair) * n_input);
		n += n_input;
	}
	tl_pg_emit_duplicates(rsinfo, other, pairs, n);
	return (Datum) 0;
}
