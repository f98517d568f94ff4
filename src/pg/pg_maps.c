/*
 * pg_maps.c — tl_embed_umap and tl_embed_tsne: a non-linear map of a
 * table's vector column written into coordinate columns of the same rows
 * (the core's tl_map_embed does the work; doc/maps.md).
 *
 * Rows are read with a cursor, put in a canonical order (by vector, then
 * by physical position) so that the map depends on the rows' contents and
 * not on where they happen to lie, mapped, and written back one row at a
 * time by (tableoid, ctid).  Everything runs as the caller: row-level
 * security and column privileges apply to the read and to the update.
 */
#include "tl_pg.h"

#include <math.h>

#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/itemptr.h"
#include "utils/fmgrprotos.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "analysis/tl_map.h"

#define FETCH_ROWS 10000

/* the rows read: where each lives, its vector, whether it is fixed, its start */
typedef struct map_rows
{
	int			n;
	int			cap;
	int			width;
	int			other_width;	/* the widest or narrowest vector unlike the first; 0: none */
	int			dims;
	Oid		   *rel;
	ItemPointerData *tid;
	float	   *x;				/* n × width */
	float	   *y;				/* n × dims */
	unsigned char *start;
	unsigned char *fixed;
} map_rows;

static void
grow(map_rows *r)
{
	int			cap = r->cap ? r->cap * 2 : 1024;

	if (cap > TL_MAP_MAX_POINTS)
		cap = TL_MAP_MAX_POINTS;
	if (r->n >= cap)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a map takes at most %d rows", TL_MAP_MAX_POINTS)));
	r->rel = repalloc_huge(r->rel, sizeof(Oid) * cap);
	r->tid = repalloc_huge(r->tid, sizeof(ItemPointerData) * cap);
	r->x = repalloc_huge(r->x, sizeof(float) * (Size) cap * r->width);
	r->y = repalloc_huge(r->y, sizeof(float) * (Size) cap * r->dims);
	r->start = repalloc_huge(r->start, cap);
	r->fixed = repalloc_huge(r->fixed, cap);
	r->cap = cap;
}

/* one fetched row: (tableoid, ctid, vector, fixed, out_1, …, out_dims) */
static void
add_row(map_rows *r, HeapTuple t, TupleDesc td, bool warm_start, const char *vec_column)
{
	bool		isnull,
				all = true;
	int			w;
	float	   *v;
	Datum		d = SPI_getbinval(t, td, 3, &isnull);

	if (isnull)
		return;					/* rows without a vector are not placed */
	v = tl_array_to_floats(DatumGetArrayTypeP(d), vec_column, &w);
	if (r->width == 0)
	{
		r->width = w;
		r->rel = palloc(sizeof(Oid));
		r->tid = palloc(sizeof(ItemPointerData));
		r->x = palloc(sizeof(float));
		r->y = palloc(sizeof(float));
		r->start = palloc(1);
		r->fixed = palloc(1);
	}
	if (w != r->width)
	{
		/* remembered, and reported after the read in terms that do not depend on its order */
		if (r->other_width == 0 || abs(w - r->width) > abs(r->other_width - r->width))
			r->other_width = w;
		pfree(v);
		return;
	}
	if (r->n == r->cap)
		grow(r);
	r->rel[r->n] = DatumGetObjectId(SPI_getbinval(t, td, 1, &isnull));
	r->tid[r->n] = *(ItemPointer) DatumGetPointer(SPI_getbinval(t, td, 2, &isnull));
	memcpy(r->x + (int64) r->n * r->width, v, sizeof(float) * w);
	pfree(v);
	r->fixed[r->n] = DatumGetBool(SPI_getbinval(t, td, 4, &isnull)) && !isnull;
	for (int j = 0; j < r->dims; j++)
	{
		double		c = DatumGetFloat8(SPI_getbinval(t, td, 5 + j, &isnull));

		if (isnull || !isfinite(c))
			all = false;
		r->y[(int64) r->n * r->dims + j] = isnull ? 0.0f : (float) c;
	}
	if (r->fixed[r->n] && !all)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a row matching fixed has no coordinates to keep"),
				 errdetail("Fixed rows keep the finite coordinates they have in the output columns."),
				 errhint("Map those rows first, or leave them out of fixed.")));
	r->start[r->n] = r->fixed[r->n] || (warm_start && all);
	r->n++;
}

/* canonical order: by vector (element by element), then by table and position */
static int
by_content(const void *a, const void *b, void *arg)
{
	const map_rows *r = arg;
	int			i = *(const int *) a,
				j = *(const int *) b;
	const float *xi = r->x + (int64) i * r->width,
			   *xj = r->x + (int64) j * r->width;

	for (int c = 0; c < r->width; c++)
		if (xi[c] != xj[c])
			return xi[c] < xj[c] ? -1 : 1;
	if (r->rel[i] != r->rel[j])
		return r->rel[i] < r->rel[j] ? -1 : 1;
	return ItemPointerCompare(&r->tid[i], &r->tid[j]);
}

static void
sort_rows(map_rows *r)
{
	int		   *order = palloc_extended(sizeof(int) * (Size) Max(r->n, 1), MCXT_ALLOC_HUGE);
	map_rows	s = *r;

	for (int i = 0; i < r->n; i++)
		order[i] = i;
	qsort_arg(order, r->n, sizeof(int), by_content, r);
	s.rel = palloc_extended(sizeof(Oid) * (Size) Max(r->n, 1), MCXT_ALLOC_HUGE);
	s.tid = palloc_extended(sizeof(ItemPointerData) * (Size) Max(r->n, 1), MCXT_ALLOC_HUGE);
	s.x = palloc_extended(sizeof(float) * (Size) Max(r->n, 1) * r->width, MCXT_ALLOC_HUGE);
	s.y = palloc_extended(sizeof(float) * (Size) Max(r->n, 1) * r->dims, MCXT_ALLOC_HUGE);
	s.start = palloc(Max(r->n, 1));
	s.fixed = palloc(Max(r->n, 1));
	for (int i = 0; i < r->n; i++)
	{
		int			o = order[i];

		s.rel[i] = r->rel[o];
		s.tid[i] = r->tid[o];
		memcpy(s.x + (int64) i * r->width, r->x + (int64) o * r->width, sizeof(float) * r->width);
		memcpy(s.y + (int64) i * r->dims, r->y + (int64) o * r->dims, sizeof(float) * r->dims);
		s.start[i] = r->start[o];
		s.fixed[i] = r->fixed[o];
	}
	pfree(r->rel);
	pfree(r->tid);
	pfree(r->x);
	pfree(r->y);
	pfree(r->start);
	pfree(r->fixed);
	pfree(order);
	*r = s;
}

/* out_columns as quoted names; their count is the map's dimensions */
static char **
out_columns(ArrayType *a, int *dims)
{
	Datum	   *names;
	bool	   *nulls;
	int			n;
	char	  **out;

	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("out_columns must be a one-dimensional array of column names")));
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &names, &nulls, &n);
	if (n < 2 || n > 3)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a map has 2 or 3 dimensions: out_columns must name 2 or 3 columns, not %d", n),
				 errhint("For example '{x,y}' or '{x,y,z}'.")));
	out = palloc(sizeof(char *) * n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("out_columns must not contain NULL")));
		out[i] = pstrdup(quote_identifier(TextDatumGetCString(names[i])));
	}
	*dims = n;
	return out;
}

static void
read_rows(const char *rel, const char *vec, char **cols, const char *filter, const char *fixed,
		  bool warm_start, const char *vec_name, map_rows *r)
{
	StringInfoData q;
	Portal		cur;
	SPIPlanPtr	plan;

	initStringInfo(&q);
	appendStringInfo(&q, "SELECT tableoid, ctid, %s::pg_catalog.float4[], (%s)::pg_catalog.bool",
					 vec, fixed ? fixed : "false");
	for (int j = 0; j < r->dims; j++)
		appendStringInfo(&q, ", %s::pg_catalog.float8", cols[j]);
	appendStringInfo(&q, " FROM %s WHERE (%s)", rel, filter ? filter : "true");
	plan = SPI_prepare(q.data, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "tensorlens: preparing the map's query failed: %s", SPI_result_code_string(SPI_result));
	cur = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(cur, true, FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
			add_row(r, SPI_tuptable->vals[i], SPI_tuptable->tupdesc, warm_start, vec_name);
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(cur);
	if (r->other_width)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("the vectors in column %s have different lengths: %d and %d",
						vec_name, Min(r->width, r->other_width), Max(r->width, r->other_width)),
				 errhint("A map needs vectors of one length; filter the rows to those of one kind.")));
}

static int64
write_rows(const char *rel, char **cols, const map_rows *r)
{
	StringInfoData q;
	Oid			types[5] = {OIDOID, TIDOID, FLOAT4OID, FLOAT4OID, FLOAT4OID};
	SPIPlanPtr	plan;
	int64		written = 0;

	initStringInfo(&q);
	appendStringInfo(&q, "UPDATE %s SET (%s", rel, cols[0]);
	for (int j = 1; j < r->dims; j++)
		appendStringInfo(&q, ", %s", cols[j]);
	appendStringInfoString(&q, ") = ROW($3");
	for (int j = 1; j < r->dims; j++)
		appendStringInfo(&q, ", $%d", j + 3);
	appendStringInfoString(&q, ") WHERE tableoid OPERATOR(pg_catalog.=) $1 AND ctid OPERATOR(pg_catalog.=) $2");
	plan = SPI_prepare(q.data, 2 + r->dims, types);
	if (plan == NULL)
		elog(ERROR, "tensorlens: preparing the map's update failed: %s", SPI_result_code_string(SPI_result));
	for (int i = 0; i < r->n; i++)
	{
		Datum		v[5];

		if (r->fixed[i])
			continue;
		v[0] = ObjectIdGetDatum(r->rel[i]);
		v[1] = PointerGetDatum(&r->tid[i]);
		for (int j = 0; j < r->dims; j++)
			v[2 + j] = Float4GetDatum(r->y[(int64) i * r->dims + j]);
		if (SPI_execute_plan(plan, v, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "tensorlens: writing a row's coordinates failed");
		if (SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("a row of %s changed while it was being mapped", rel),
					 errhint("Run the map again.")));
		written++;
		if ((i & 1023) == 1023)
			CHECK_FOR_INTERRUPTS();
	}
	return written;
}

/*
 * The shared body: arguments (tbl, vec_column, out_columns, filter, then
 * the method's own, then warm_start, fixed, iterations at the positions
 * given).
 */
static Datum
embed(FunctionCallInfo fcinfo, tl_map_options *o, int warm_arg, int fixed_arg, int iter_arg)
{
	Oid			relid;
	char		kind;
	char	   *rel,
			   *vec,
			   *vec_name,
			  **cols;
	char	   *filter = NULL,
			   *fixed = NULL;
	bool		warm_start;
	map_rows	r = {0};
	tl_status	st = {0};
	int64		written;
	int			n_fixed = 0;
	const char *fn = o->method == TL_MAP_UMAP ? "tl_embed_umap" : "tl_embed_tsne";

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: tbl, vec_column and out_columns must not be NULL", fn)));
	relid = PG_GETARG_OID(0);
	kind = get_rel_relkind(relid);
	if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s: \"%s\" is not a table", fn, kind ? get_rel_name(relid) : "?"),
				 errdetail("A map writes its coordinates into the rows of a table.")));
	rel = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
	vec_name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	vec = psprintf("%s.%s", rel, quote_identifier(vec_name));
	cols = out_columns(PG_GETARG_ARRAYTYPE_P(2), &r.dims);
	o->dims = r.dims;
	if (!PG_ARGISNULL(3))
		filter = text_to_cstring(PG_GETARG_TEXT_PP(3));
	warm_start = !PG_ARGISNULL(warm_arg) && PG_GETARG_BOOL(warm_arg);
	if (!PG_ARGISNULL(fixed_arg))
		fixed = text_to_cstring(PG_GETARG_TEXT_PP(fixed_arg));
	o->iterations = PG_ARGISNULL(iter_arg) ? 0 : PG_GETARG_INT32(iter_arg);

	SPI_connect();
	read_rows(rel, vec, cols, filter, fixed, warm_start, vec_name, &r);
	if (r.n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("%s: no vectors to map in %s (column %s)", fn, rel, vec_name),
				 errdetail("No row matches the filter, or every vector is NULL.")));
	for (int i = 0; i < r.n; i++)
		n_fixed += r.fixed[i];
	if (n_fixed == r.n)
	{
		SPI_finish();
		PG_RETURN_INT64(0);
	}
	sort_rows(&r);
	o->knn_exact_max = tl_guc_knn_exact_max;
	if (tl_map_embed(r.x, r.n, r.width, o, r.y, r.start, n_fixed ? r.fixed : NULL, &st) < 0)
		ereport(ERROR,
				(errcode(tl_pg_sqlstate(st.code)),
				 errmsg("%s: %s", fn, st.msg)));
	written = write_rows(rel, cols, &r);
	SPI_finish();
	PG_RETURN_INT64(written);
}

/*
 * tl_embed_umap(tbl, vec_column, out_columns, filter, n_neighbors,
 * min_dist, seed, warm_start, fixed, iterations) → rows written
 */
PG_FUNCTION_INFO_V1(pg_tl_embed_umap);
Datum
pg_tl_embed_umap(PG_FUNCTION_ARGS)
{
	tl_map_options o = {0};

	o.method = TL_MAP_UMAP;
	o.n_neighbors = PG_ARGISNULL(4) ? 15 : PG_GETARG_INT32(4);
	o.min_dist = PG_ARGISNULL(5) ? 0.1 : PG_GETARG_FLOAT8(5);
	o.seed = PG_ARGISNULL(6) ? 0 : (uint64) PG_GETARG_INT64(6);
	return embed(fcinfo, &o, 7, 8, 9);
}

/*
 * tl_embed_tsne(tbl, vec_column, out_columns, filter, perplexity,
 * warm_start, fixed, iterations) → rows written
 */
PG_FUNCTION_INFO_V1(pg_tl_embed_tsne);
Datum
pg_tl_embed_tsne(PG_FUNCTION_ARGS)
{
	tl_map_options o = {0};

	o.method = TL_MAP_TSNE;
	o.perplexity = PG_ARGISNULL(4) ? 30.0 : PG_GETARG_FLOAT8(4);
	return embed(fcinfo, &o, 5, 6, 7);
}
