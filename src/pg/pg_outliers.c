/*
 * pg_outliers.c — tl_outliers: atypical samples of a run, within the run
 * (its stored neighbour graph) or against a reference run.
 */
#include "tl_pg.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "analysis/tl_quantile.h"

/* The neighbour whose distance makes the outlier score (Sun et al. 2022 use the k-th). */
#define OUTLIER_K 10
/* Against a reference: flagged beyond the distance 95 % of the reference's own samples stay within. */
#define OUTLIER_REFERENCE_QUANTILE 0.95

/*
 * The scores of a run within itself, read through a cursor from its stored
 * graph: per sample (in byte order of sample_id) the nearest neighbour
 * (rank 1) and the distance at rank k (the score).
 */
typedef struct outlier_scores
{
	int			k;
	int			n,
				cap;
	char	  **ids;
	char	  **nearest;
	float	   *score;
	MemoryContext cxt;
} outlier_scores;

/* tl_pg_row_fn: one edge (sample_id, rank, neighbour_id, distance) of rank 1 or k. */
static void
add_outlier_edge(HeapTuple row, TupleDesc desc, void *arg)
{
	outlier_scores *os = arg;
	char	   *id = SPI_getvalue(row, desc, 1);
	bool		isnull;
	int			rank = DatumGetInt32(SPI_getbinval(row, desc, 2, &isnull));

	if (os->n == 0 || strcmp(os->ids[os->n - 1], id) != 0)
	{
		if (os->n == os->cap)
		{
			os->cap = os->cap ? 2 * os->cap : 1024;
			os->ids = repalloc_huge(os->ids, sizeof(char *) * (Size) os->cap);
			os->nearest = repalloc_huge(os->nearest, sizeof(char *) * (Size) os->cap);
			os->score = repalloc_huge(os->score, sizeof(float) * (Size) os->cap);
		}
		os->ids[os->n] = MemoryContextStrdup(os->cxt, id);
		os->nearest[os->n] = NULL;
		os->score[os->n++] = 0;
	}
	if (rank == 1)
		os->nearest[os->n - 1] = MemoryContextStrdup(os->cxt, SPI_getvalue(row, desc, 3));
	if (rank == os->k)
		os->score[os->n - 1] = DatumGetFloat4(SPI_getbinval(row, desc, 4, &isnull));
}

/*
 * Within the run: the scores from its graph, flagged above Q3 + 3 IQR of
 * them (the quantiles computed here as percentile_cont would).  Call
 * inside SPI.
 */
static void
outliers_within(const char *schema, int32 run, outlier_scores *os, double *threshold)
{
	bool		isnull;
	double		q1,
				q3;
	tl_status	st = {0};

	/* every sample stores the same ranks 1..k: count one sample's (an index scan) */
	if (SPI_execute_with_args(psprintf("SELECT pg_catalog.count(*)::integer FROM %s.tl_neighbour WHERE run OPERATOR(pg_catalog.=) $1 "
									   "AND sample_id OPERATOR(pg_catalog.=) (SELECT sample_id FROM %s.tl_neighbour "
									   "WHERE run OPERATOR(pg_catalog.=) $1 LIMIT 1)", schema, schema),
							  1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(run)}, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "tensorlens: reading tl_neighbour failed");
	os->k = Min(os->k, DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	os->ids = MemoryContextAlloc(os->cxt, sizeof(char *));
	os->nearest = MemoryContextAlloc(os->cxt, sizeof(char *));
	os->score = MemoryContextAlloc(os->cxt, sizeof(float));
	if (os->k > 0)
		tl_pg_each_row(psprintf("SELECT sample_id, rank, neighbour_id, distance FROM %s.tl_neighbour "
								"WHERE run OPERATOR(pg_catalog.=) $1 AND rank OPERATOR(pg_catalog.=) ANY (ARRAY[1, $2]) "
								"ORDER BY sample_id COLLATE pg_catalog.\"C\", rank", schema),
					   2, (Oid[]) {INT4OID, INT4OID}, (Datum[]) {Int32GetDatum(run), Int32GetDatum(os->k)},
					   add_outlier_edge, os);
	if (os->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("run %d has no neighbour graph", run),
				 errhint("tl_analyze(%d) stores it once the run has perception vectors.", run)));
	if (tl_quantile(os->score, os->n, 0.25, &q1, &st) < 0 ||
		tl_quantile(os->score, os->n, 0.75, &q3, &st) < 0)
		tl_pg_raise(&st, NULL);
	*threshold = q3 + 3 * (q3 - q1);
}

/* Label and prediction of each sample of ids (sorted, byte order), NULL where none. */
typedef struct outlier_labels
{
	char	  **ids;
	int			n,
				at;
	Datum	   *label,
			   *prediction;
	bool	   *label_null,
			   *prediction_null;
} outlier_labels;

/* tl_pg_row_fn: one result (sample_id, label, prediction), rows in the order of ids. */
static void
add_outlier_label(HeapTuple row, TupleDesc desc, void *arg)
{
	outlier_labels *ol = arg;
	char	   *id = SPI_getvalue(row, desc, 1);

	while (ol->at < ol->n && strcmp(ol->ids[ol->at], id) < 0)
		ol->at++;
	if (ol->at < ol->n && strcmp(ol->ids[ol->at], id) == 0)
	{
		ol->label[ol->at] = SPI_getbinval(row, desc, 2, &ol->label_null[ol->at]);
		ol->prediction[ol->at] = SPI_getbinval(row, desc, 3, &ol->prediction_null[ol->at]);
	}
}

static void
read_outlier_labels(const char *schema, int32 run, outlier_labels *ol, MemoryContext cxt)
{
	ol->at = 0;
	ol->label = MemoryContextAllocHuge(cxt, sizeof(Datum) * (Size) Max(ol->n, 1));
	ol->prediction = MemoryContextAllocHuge(cxt, sizeof(Datum) * (Size) Max(ol->n, 1));
	ol->label_null = MemoryContextAllocHuge(cxt, sizeof(bool) * (Size) Max(ol->n, 1));
	ol->prediction_null = MemoryContextAllocHuge(cxt, sizeof(bool) * (Size) Max(ol->n, 1));
	memset(ol->label_null, true, sizeof(bool) * ol->n);
	memset(ol->prediction_null, true, sizeof(bool) * ol->n);
	tl_pg_each_row(psprintf("SELECT sample_id, label, prediction FROM %s.tl_result WHERE run OPERATOR(pg_catalog.=) $1 "
							"AND perception IS NOT NULL ORDER BY sample_id COLLATE pg_catalog.\"C\"", schema),
				   1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(run)}, add_outlier_label, ol);
}

/*
 * tl_outliers(run, reference_run) → TABLE(rank, sample_id, score, outlier,
 * nearest_id, label, prediction), most atypical first.  Within a run: the
 * distance to the k-th stored neighbour, flagged above Q3 + 3 IQR of the
 * run's scores (Tukey's far-out fence).  Against a reference: the distance
 * to the k-th nearest reference sample in the reference's neighbour space
 * (Sun, Ming, Zhu, Li, ICML 2022), flagged beyond the 95th percentile of the
 * reference's own scores.
 */
PG_FUNCTION_INFO_V1(pg_tl_outliers);
Datum
pg_tl_outliers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *schema = tl_pg_schema_of(fcinfo);
	int32		run,
				ref;
	int			n = 0,
				k = OUTLIER_K;
	char	  **ids;
	char	  **nearest;
	float	   *score;
	double		threshold;
	int		   *order;
	outlier_labels ol;
	MemoryContext cxt = CurrentMemoryContext;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;		/* no run, no rows (as a strict function) */
	run = PG_GETARG_INT32(0);
	ref = PG_ARGISNULL(1) ? run : PG_GETARG_INT32(1);
	SPI_connect();
	tl_pg_check_run(schema, run);
	tl_pg_check_run(schema, ref);
	if (ref == run)
	{
		outlier_scores os = {OUTLIER_K, 0, 0, NULL, NULL, NULL, cxt};

		outliers_within(schema, run, &os, &threshold);
		n = os.n;
		ids = os.ids;
		nearest = os.nearest;
		score = os.score;
	}
	else
	{
		tl_points	a,
					b;
		int32	   *idx;
		float	   *dist;

		tl_pg_against_reference(schema, run, ref, &k, &a, &b, &idx, &dist, cxt);
		/* the reference's own k-th distances (its graph leaves each sample out) */
		tl_pg_require_graph(schema, ref, Min(k, b.n - 1), OUTLIER_REFERENCE_QUANTILE, &threshold);
		n = a.n;
		ids = a.ids;
		nearest = MemoryContextAlloc(cxt, sizeof(char *) * Max(n, 1));
		score = MemoryContextAlloc(cxt, sizeof(float) * Max(n, 1));
		for (int i = 0; i < n; i++)
		{
			score[i] = dist[(int64) i * k + k - 1];
			nearest[i] = b.ids[idx[(int64) i * k]];
		}
	}
	/* labels and predictions of the samples ranked */
	ol.ids = ids;
	ol.n = n;
	read_outlier_labels(schema, run, &ol, cxt);
	SPI_finish();
	order = tl_pg_order_by_score(score, n);
	for (int r = 0; r < n; r++)
	{
		int			i = order[r];
		Datum		values[7];
		bool		nulls[7] = {0};

		values[0] = Int32GetDatum(r + 1);
		values[1] = CStringGetTextDatum(ids[i]);
		values[2] = Float4GetDatum(score[i]);
		values[3] = BoolGetDatum(score[i] > threshold);
		/* NULL only when the stored graph lost its rank-1 rows */
		nulls[4] = nearest[i] == NULL;
		values[4] = nulls[4] ? (Datum) 0 : CStringGetTextDatum(nearest[i]);
		values[5] = ol.label[i];
		nulls[5] = ol.label_null[i];
		values[6] = ol.prediction[i];
		nulls[6] = ol.prediction_null[i];
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		if ((r & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	return (Datum) 0;
}
