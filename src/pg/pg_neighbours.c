/*
 * pg_neighbours.c — the run's neighbour graph (tl_neighbour) and similarity
 * search: the points of a run in its neighbour space, tl_neighbour_edges
 * (what tl_neighbours stores) and tl_similar.
 *
 * The neighbour space of a run is the projection of its perception vectors
 * on their leading principal components (at most TL_NEIGHBOUR_COMPONENTS),
 * kept in tl_run.neighbour_space; distances are Euclidean there.
 */
#include "tl_pg.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "analysis/tl_knn.h"

int			tl_guc_knn_exact_max = 50000;

const char *
tl_pg_schema_of(FunctionCallInfo fcinfo)
{
	return quote_identifier(get_namespace_name(get_func_namespace(fcinfo->flinfo->fn_oid)));
}

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

#define FETCH_ROWS 65536

void
tl_pg_each_row(const char *query, int nargs, Oid *types, Datum *values, tl_pg_row_fn fn, void *arg)
{
	Portal		cur = SPI_cursor_open_with_args(NULL, query, nargs, types, values, NULL, true, 0);
	MemoryContext rows = AllocSetContextCreate(CurrentMemoryContext, "tensorlens rows", ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		MemoryContext old;

		SPI_cursor_fetch(cur, true, FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		old = MemoryContextSwitchTo(rows);
		for (uint64 r = 0; r < SPI_processed; r++)
			fn(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, arg);
		MemoryContextSwitchTo(old);
		MemoryContextReset(rows);
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(cur);
	MemoryContextDelete(rows);
}

/* tl_pg_row_fn: one projected vector and its id into the points (kept in cxt). */
typedef struct points_reader
{
	tl_points  *pts;
	MemoryContext cxt;
	int			cap;
} points_reader;

static void
add_point(HeapTuple row, TupleDesc desc, void *arg)
{
	points_reader *pr = arg;
	tl_points  *pts = pr->pts;
	bool		isnull;
	int			d;
	float	   *v = tl_array_to_floats(DatumGetArrayTypeP(SPI_getbinval(row, desc, 2, &isnull)),
									   "a projected perception vector", &d);

	if (pts->n == pr->cap)
	{
		pr->cap = pr->cap ? pr->cap * 2 : FETCH_ROWS;
		pts->d = d;
		pts->ids = pts->ids ? repalloc_huge(pts->ids, sizeof(char *) * pr->cap)
			: MemoryContextAllocHuge(pr->cxt, sizeof(char *) * pr->cap);
		pts->x = pts->x ? repalloc_huge(pts->x, sizeof(float) * (Size) pr->cap * d)
			: MemoryContextAllocHuge(pr->cxt, sizeof(float) * (Size) pr->cap * d);
	}
	memcpy(pts->x + (int64) pts->n * pts->d, v, sizeof(float) * pts->d);
	pts->ids[pts->n++] = MemoryContextStrdup(pr->cxt, SPI_getvalue(row, desc, 1));
}

/*
 * The samples of run with a perception vector, projected into the
 * neighbour space of space_run, sorted by sample_id (byte order).  Call
 * inside SPI; allocates in cxt.
 */
void
tl_pg_run_points(const char *schema, int32 run, int32 space_run, tl_points *pts, MemoryContext cxt)
{
	points_reader pr = {pts, cxt, 0};
	bool		isnull;

	tl_pg_check_run(schema, run);
	if (SPI_execute_with_args(psprintf("SELECT neighbour_space IS NULL FROM %s.tl_run WHERE id OPERATOR(pg_catalog.=) $1", schema),
							  1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(space_run)}, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "tensorlens: reading tl_run failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("run %d does not exist", space_run)));
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("run %d has no neighbour space", space_run),
				 errhint("tl_analyze(%d) places a run with perception vectors and stores its neighbours.", space_run)));
	pts->n = 0;
	pts->d = 0;
	pts->ids = NULL;
	pts->x = NULL;
	tl_pg_each_row(psprintf("SELECT t.sample_id, %s.tl_pca_project(s.neighbour_space, t.perception) "
							"FROM %s.tl_result t, %s.tl_run s "
							"WHERE t.run OPERATOR(pg_catalog.=) $1 AND s.id OPERATOR(pg_catalog.=) $2 AND t.perception IS NOT NULL "
							"ORDER BY t.sample_id COLLATE pg_catalog.\"C\"", schema, schema, schema),
				   2, (Oid[]) {INT4OID, INT4OID}, (Datum[]) {Int32GetDatum(run), Int32GetDatum(space_run)},
				   add_point, &pr);
	if (pts->ids == NULL)
		pts->ids = MemoryContextAlloc(cxt, sizeof(char *));
}

static int
cmp_id(const void *key, const void *elem)
{
	return strcmp((const char *) key, *(char *const *) elem);
}

void
tl_pg_check_k(int32 k)
{
	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k (neighbours) must be at least 1, not %d", k)));
}

int
tl_pg_find_id(char **ids, int n, const char *id)
{
	char	  **p = bsearch(id, ids, n, sizeof(char *), cmp_id);

	return p ? (int) (p - ids) : -1;
}

/*
 * tl_neighbour_edges(run, k) → TABLE(sample_id, rank, neighbour_id,
 * distance): the k nearest neighbours of every sample of the run with a
 * perception vector, in the run's neighbour space; exact up to
 * tensorlens.knn_exact_max samples, NN-descent above.  Fewer samples than
 * k + 1: k = samples − 1.
 */
PG_FUNCTION_INFO_V1(pg_tl_neighbour_edges);
Datum
pg_tl_neighbour_edges(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		run = PG_GETARG_INT32(0);
	int32		k = PG_GETARG_INT32(1);
	tl_points	pts;
	int32	   *idx;
	float	   *dist;
	Datum	   *names;
	tl_status	st = {0};
	MemoryContext cxt = CurrentMemoryContext;

	tl_pg_check_k(k);
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	tl_pg_run_points(tl_pg_schema_of(fcinfo), run, run, &pts, cxt);
	SPI_finish();
	if (pts.n < 2)
		return (Datum) 0;
	k = Min(k, pts.n - 1);
	idx = MemoryContextAllocHuge(cxt, sizeof(int32) * (Size) pts.n * k);
	dist = MemoryContextAllocHuge(cxt, sizeof(float) * (Size) pts.n * k);
	if (tl_knn_graph(pts.x, pts.n, pts.d, k, tl_guc_knn_exact_max, idx, dist, &st) < 0)
		tl_pg_raise(&st, NULL);
	pfree(pts.x);
	/* each id as text once: k rows name every sample (10 million at a million samples) */
	names = MemoryContextAllocHuge(cxt, sizeof(Datum) * (Size) pts.n);
	for (int i = 0; i < pts.n; i++)
		names[i] = CStringGetTextDatum(pts.ids[i]);
	for (int i = 0; i < pts.n; i++)
	{
		for (int r = 0; r < k; r++)
		{
			Datum		values[4];
			bool		nulls[4] = {0};

			values[0] = names[i];
			values[1] = Int32GetDatum(r + 1);
			values[2] = names[idx[(int64) i * k + r]];
			values[3] = Float4GetDatum(dist[(int64) i * k + r]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	return (Datum) 0;
}

/*
 * tl_similar(run, vector, k, exclude) → TABLE(rank, sample_id, distance):
 * the k samples of the run nearest to vector (a perception vector of the
 * run's width) in the run's neighbour space, exactly; exclude (or NULL)
 * names a sample left out (the query sample itself).
 */
PG_FUNCTION_INFO_V1(pg_tl_similar_vector);
Datum
pg_tl_similar_vector(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		run;
	int32		k;
	const char *schema = tl_pg_schema_of(fcinfo);
	const char *exclude = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	tl_points	pts;
	float	   *q;
	int			d,
				skip,
				kk;
	int32	   *idx;
	float	   *dist;
	bool		isnull;
	tl_status	st = {0};
	MemoryContext cxt = CurrentMemoryContext;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tl_similar: run, the vector (or sample) and k must not be NULL")));
	run = PG_GETARG_INT32(0);
	k = PG_GETARG_INT32(2);
	tl_pg_check_k(k);
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	tl_pg_run_points(schema, run, run, &pts, cxt);
	if (SPI_execute_with_args(psprintf("SELECT %s.tl_pca_project(neighbour_space, $2) FROM %s.tl_run WHERE id OPERATOR(pg_catalog.=) $1",
									   schema, schema), 2, (Oid[]) {INT4OID, FLOAT4ARRAYOID},
							  (Datum[]) {Int32GetDatum(run), PG_GETARG_DATUM(1)}, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "tensorlens: projecting the vector failed");
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		q = tl_array_to_floats(DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)),
							   "the vector", &d);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	skip = exclude ? tl_pg_find_id(pts.ids, pts.n, exclude) : -1;
	if (k > pts.n - (skip >= 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k (neighbours) must be at most %d, the other samples of run %d with perception vectors, not %d",
						pts.n - (skip >= 0), run, k)));
	kk = k + (skip >= 0);
	idx = palloc(sizeof(int32) * kk);
	dist = palloc(sizeof(float) * kk);
	if (tl_knn_exact(pts.x, pts.n, q, 1, pts.d, kk, 0, idx, dist, &st) < 0)
		tl_pg_raise(&st, NULL);
	for (int r = 0, rank = 0; r < kk && rank < k; r++)
	{
		Datum		values[3];
		bool		nulls[3] = {0};

		if (idx[r] == skip)
			continue;
		values[0] = Int32GetDatum(++rank);
		values[1] = CStringGetTextDatum(pts.ids[idx[r]]);
		values[2] = Float4GetDatum(dist[r]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
