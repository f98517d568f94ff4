/*
 * pg_insights.c — what tl_insights is made of: clusters in perception space
 * (tl_perception_clusters) and the significance tests that keep noise out
 * of the findings (tl_excess_test, tl_p_adjust, tl_rank_sum_test, tl_binomial_test).  The
 * findings themselves are assembled in SQL (sql/parts/66_insights.sql).
 */
#include "tl_pg.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "analysis/tl_cluster_auto.h"
#include "analysis/tl_insights_stats.h"
#include "analysis/tl_pca.h"

/* Leading principal components the clusters are found in. */
#define CLUSTER_COMPONENTS 16
#define CLUSTER_MAX_SAMPLES 1000000

/*
 * The perception vectors of the runs, projected onto their own
 * CLUSTER_COMPONENTS leading principal components: read twice through a
 * cursor (the components, then the projections), so that a million 112-wide
 * vectors never sit in memory at once (they took 550 MB as one result).
 */
typedef struct cluster_points
{
	tl_pca_acc *acc;			/* pass 1 */
	tl_pca_model pm;			/* pass 2 */
	int			width;
	int			n;				/* rows counted in pass 1 */
	int			placed;			/* rows projected in pass 2 */
	float	   *x;				/* n × pm.k */
	int32	   *runs;
	char	  **ids;
	MemoryContext cxt;
} cluster_points;

static float *
perception_of(HeapTuple row, TupleDesc desc, cluster_points *cp)
{
	bool		isnull;
	int			w;
	float	   *p = tl_array_to_floats(DatumGetArrayTypeP(SPI_getbinval(row, desc, 3, &isnull)),
									   "a perception vector", &w);

	if (cp->width == 0)
		cp->width = w;
	if (w != cp->width)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("perception vectors of %d and %d values cannot be clustered together", cp->width, w),
				 errhint("Runs compared with each other must be runs of one model.")));
	return p;
}

/* tl_pg_row_fn, pass 1: one vector into the principal components. */
static void
accumulate_perception(HeapTuple row, TupleDesc desc, void *arg)
{
	cluster_points *cp = arg;
	float	   *p = perception_of(row, desc, cp);
	tl_status	st = {0};
	MemoryContext old;
	int			rc;

	if (++cp->n > CLUSTER_MAX_SAMPLES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("more than %d perception vectors; clusters are found among up to %d",
						CLUSTER_MAX_SAMPLES, CLUSTER_MAX_SAMPLES)));
	/* the accumulator allocates its state at the first vector: not per chunk */
	old = MemoryContextSwitchTo(cp->cxt);
	if (cp->acc == NULL)
		cp->acc = tl_pca_acc_new(Min(CLUSTER_COMPONENTS, cp->width), TL_PCA_AUTO, &st);
	rc = cp->acc ? tl_pca_acc_add(cp->acc, p, cp->width, &st) : -1;
	MemoryContextSwitchTo(old);
	if (rc < 0)
		tl_pg_raise(&st, NULL);
}

/* tl_pg_row_fn, pass 2: one vector projected, its run and id kept. */
static void
project_perception(HeapTuple row, TupleDesc desc, void *arg)
{
	cluster_points *cp = arg;
	float	   *p = perception_of(row, desc, cp);
	bool		isnull;

	if (cp->placed == cp->n)
		elog(ERROR, "tensorlens: the perception vectors changed between two reads");
	tl_pca_model_project(&cp->pm, p, cp->x + (int64) cp->placed * cp->pm.k);
	cp->runs[cp->placed] = DatumGetInt32(SPI_getbinval(row, desc, 1, &isnull));
	cp->ids[cp->placed++] = MemoryContextStrdup(cp->cxt, SPI_getvalue(row, desc, 2));
}

/* Both passes over the rows of the runs (an int4[]) with a perception vector. */
static void
read_cluster_points(const char *schema, Datum runs, cluster_points *cp)
{
	const char *query = psprintf("SELECT run, sample_id, perception FROM %s.tl_result "
								 "WHERE run OPERATOR(pg_catalog.=) ANY ($1) AND perception IS NOT NULL "
								 "ORDER BY run, sample_id", schema);

	tl_pg_each_row(query, 1, (Oid[]) {INT4ARRAYOID}, &runs, accumulate_perception, cp);
	if (cp->n == 0)
		return;
	tl_pg_pca_finish(cp->acc, &cp->pm);
	cp->x = MemoryContextAllocHuge(cp->cxt, sizeof(float) * (Size) cp->n * cp->pm.k);
	cp->runs = MemoryContextAllocHuge(cp->cxt, sizeof(int32) * (Size) cp->n);
	cp->ids = MemoryContextAllocHuge(cp->cxt, sizeof(char *) * (Size) cp->n);
	tl_pg_each_row(query, 1, (Oid[]) {INT4ARRAYOID}, &runs, project_perception, cp);
	if (cp->placed != cp->n)
		elog(ERROR, "tensorlens: the perception vectors changed between two reads");
}

/*
 * tl_perception_clusters(run, other_run DEFAULT NULL) → TABLE(run,
 * sample_id, cluster): the samples with a perception vector of the run (or
 * of both runs, in one space) clustered by tl_kmeans_auto on the leading
 * principal components of their perception vectors; clusters are numbered
 * from 1 by decreasing size.
 */
PG_FUNCTION_INFO_V1(pg_tl_perception_clusters);
Datum
pg_tl_perception_clusters(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *schema = tl_pg_schema_of(fcinfo);
	Datum		runs[2];
	int			n_runs = 1;
	cluster_points cp = {0};
	int32	   *assign;
	tl_cluster_choice choice;
	tl_status	st = {0};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tl_perception_clusters: run must not be NULL")));
	runs[0] = PG_GETARG_DATUM(0);
	if (!PG_ARGISNULL(1) && PG_GETARG_INT32(1) != PG_GETARG_INT32(0))
		runs[n_runs++] = PG_GETARG_DATUM(1);
	InitMaterializedSRF(fcinfo, 0);
	cp.cxt = CurrentMemoryContext;
	SPI_connect();
	for (int r = 0; r < n_runs; r++)
		tl_pg_check_run(schema, DatumGetInt32(runs[r]));
	read_cluster_points(schema, PointerGetDatum(construct_array(runs, n_runs, INT4OID, 4, true, TYPALIGN_INT)), &cp);
	SPI_finish();
	if (cp.n == 0)
		return (Datum) 0;
	assign = palloc(sizeof(int32) * cp.n);
	if (tl_kmeans_auto(cp.x, cp.n, cp.pm.k, 0, assign, &choice, &st) < 0)
		tl_pg_raise(&st, NULL);
	for (int i = 0; i < cp.n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {0};

		values[0] = Int32GetDatum(cp.runs[i]);
		values[1] = CStringGetTextDatum(cp.ids[i]);
		values[2] = Int32GetDatum(assign[i] + 1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* An int8[] without NULLs as int64 values. */
static int64 *
int8_array(ArrayType *a, const char *what, int *n)
{
	if (ARR_ELEMTYPE(a) != INT8OID || ARR_NDIM(a) > 1 || array_contains_nulls(a))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional bigint[] without NULLs", what)));
	*n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	return (int64 *) ARR_DATA_PTR(a);
}

/*
 * tl_excess_test(total bigint[], events bigint[], drawn bigint[], observed
 * bigint, OUT p, OUT expected): per stratum (class) j, total[j] samples of
 * which events[j] failed and drawn[j] are in the finding; p = P(failures in
 * the finding >= observed) under independence within each stratum
 * (tl_insights_stats.h), expected = the mean of that count.
 */
PG_FUNCTION_INFO_V1(pg_tl_excess_test);
Datum
pg_tl_excess_test(PG_FUNCTION_ARGS)
{
	int			nt,
				ne,
				nd;
	int64	   *total = int8_array(PG_GETARG_ARRAYTYPE_P(0), "total", &nt);
	int64	   *events = int8_array(PG_GETARG_ARRAYTYPE_P(1), "events", &ne);
	int64	   *drawn = int8_array(PG_GETARG_ARRAYTYPE_P(2), "drawn", &nd);
	tl_stratum *s;
	TupleDesc	td;
	Datum		values[2];
	bool		nulls[2] = {0};
	double		expected;
	tl_status	st = {0};

	if (nt != ne || nt != nd || nt == 0)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("total, events and drawn must have one value per stratum, not %d, %d and %d", nt, ne, nd)));
	s = palloc(sizeof(tl_stratum) * nt);
	for (int j = 0; j < nt; j++)
	{
		s[j].total = total[j];
		s[j].events = events[j];
		s[j].drawn = drawn[j];
	}
	values[0] = Float8GetDatum(tl_excess_sf(s, nt, PG_GETARG_INT64(3), &expected, &st));
	if (st.code != TL_OK)
		tl_pg_raise(&st, NULL);
	values[1] = Float8GetDatum(expected);
	if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "tensorlens: tl_excess_test must return a record");
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(td), values, nulls)));
}

/*
 * tl_p_adjust(p float8[], method text) → float8[]: adjusted p-values
 * ('holm' or 'bh'), NULLs kept.
 */
PG_FUNCTION_INFO_V1(pg_tl_p_adjust);
Datum
pg_tl_p_adjust(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	tl_p_adjust_method method;
	Datum	   *elems;
	bool	   *isnull;
	int			m;
	double	   *p,
			   *q;
	tl_status	st = {0};

	if (tl_p_adjust_parse(name, &method) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown p-value adjustment \"%s\"", name),
				 errhint("Use 'holm' (family-wise error rate) or 'bh' (false discovery rate).")));
	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("the p-values must be a one-dimensional array")));
	deconstruct_array(a, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &isnull, &m);
	p = palloc(sizeof(double) * Max(m, 1));
	q = palloc(sizeof(double) * Max(m, 1));
	for (int i = 0; i < m; i++)
	{
		p[i] = isnull[i] ? NAN : DatumGetFloat8(elems[i]);
		/* NULL means "not tested"; NaN is not a p-value */
		if (!isnull[i] && isnan(p[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("p-value %d is NaN, not between 0 and 1", i + 1),
					 errhint("Pass NULL for a hypothesis that was not tested.")));
	}
	if (tl_p_adjust(p, m, method, q, &st) < 0)
		tl_pg_raise(&st, NULL);
	for (int i = 0; i < m; i++)
		elems[i] = Float8GetDatum(isnan(q[i]) ? 0 : q[i]);
	PG_RETURN_ARRAYTYPE_P(construct_md_array(elems, isnull, ARR_NDIM(a), ARR_DIMS(a), ARR_LBOUND(a),
											 FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* tl_rank_sum_test(rank_sum, n1, n2, tie_sum) → float8: one-sided Wilcoxon–Mann–Whitney p. */
PG_FUNCTION_INFO_V1(pg_tl_rank_sum_test);
Datum
pg_tl_rank_sum_test(PG_FUNCTION_ARGS)
{
	int64		n1 = PG_GETARG_INT64(1),
				n2 = PG_GETARG_INT64(2);

	if (n1 < 0 || n2 < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("group sizes must not be negative, not %lld and %lld", (long long) n1, (long long) n2)));
	if (!isfinite(PG_GETARG_FLOAT8(0)) || !isfinite(PG_GETARG_FLOAT8(3)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the rank sum and the tie sum must be finite numbers")));
	PG_RETURN_FLOAT8(tl_rank_sum_sf(PG_GETARG_FLOAT8(0), n1, n2, PG_GETARG_FLOAT8(3)));
}

/* tl_binomial_test(k, n, p) → float8: P(X >= k) for X binomial(n, p). */
PG_FUNCTION_INFO_V1(pg_tl_binomial_test);
Datum
pg_tl_binomial_test(PG_FUNCTION_ARGS)
{
	int64		n = PG_GETARG_INT64(1);
	double		p = PG_GETARG_FLOAT8(2);

	if (n < 0 || !(p >= 0 && p <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the binomial test needs n >= 0 and 0 <= p <= 1, not n = %lld and p = %g", (long long) n, p)));
	PG_RETURN_FLOAT8(tl_binomial_sf(PG_GETARG_INT64(0), n, p));
}
