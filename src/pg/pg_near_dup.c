/*
 * pg_near_dup.c — the input-space stage of tl_near_duplicates: the rows of
 * a run's input query, fetched as the run's creator (pg_run_as.c) and
 * converted to its model's input without running the model (pg_batch.c),
 * become sets (token ids: word 3-grams; multi-hot vectors: their ones) or
 * dense inputs, whose near-duplicate pairs the core finds
 * (analysis/tl_near_dup.h).  A run without an input query keeps the
 * perception-space pairs alone (doc/data_issues.md); so does one whose
 * query the caller may not have run, said in a NOTICE.
 */
#include "tl_pg.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "analysis/tl_near_dup.h"

/*
 * Sets at least this similar (Jaccard) are near-duplicates.  Word 3-grams:
 * unrelated shared reviews share at most 0.06, a review with one sentence
 * of several replaced keeps 0.5 or more; a multi-hot vocabulary: unrelated
 * reviews share up to 0.29 (doc/data_issues.md).
 */
#define TOKEN_MIN_JACCARD 0.4
#define MULTI_HOT_MIN_JACCARD 0.5

typedef enum input_kind
{
	INPUT_UNKNOWN,
	INPUT_TOKENS,
	INPUT_MULTI_HOT,
	INPUT_DENSE
} input_kind;

/* The inputs of one or two runs (items 0 … n_a − 1 the first). */
typedef struct input_rows
{
	MemoryContext cxt;
	input_kind	kind;
	tl_shape	shape;			/* dense: every input's */
	int			n,
				cap,
				first;			/* where the run being read starts */
	char	  **ids;
	float	   *x;				/* dense: n × per-sample values */
	int64	   *offset;			/* sets: n + 1 */
	uint32	   *elem;
	int64		cap_elem;
	const char *skip;			/* why the stage stopped ("": needs no NOTICE);
								 * NULL while it holds */
} input_rows;

static input_kind
kind_of(tl_call_model *cm, const tl_batch *b, const float *x)
{
	if (tl_model_takes_tokens(cm->entry->model))
		return INPUT_TOKENS;
	if (b->shape.nd == 1 && tl_ndup_is_multi_hot(x, b->per_sample))
		return INPUT_MULTI_HOT;
	return INPUT_DENSE;
}

/* Room for one more row of per values. */
static void
make_room(input_rows *rows, int64 per)
{
	if (rows->n == rows->cap)
	{
		rows->cap = rows->cap ? rows->cap * 2 : 256;
		rows->ids = rows->ids ? repalloc_huge(rows->ids, sizeof(char *) * rows->cap)
			: MemoryContextAllocHuge(rows->cxt, sizeof(char *) * rows->cap);
		if (rows->kind == INPUT_DENSE)
			rows->x = rows->x ? repalloc_huge(rows->x, sizeof(float) * per * rows->cap)
				: MemoryContextAllocHuge(rows->cxt, sizeof(float) * per * rows->cap);
		else
			rows->offset = rows->offset ? repalloc_huge(rows->offset, sizeof(int64) * (rows->cap + 1))
				: MemoryContextAllocZero(rows->cxt, sizeof(int64) * (rows->cap + 1));
	}
	if (rows->kind != INPUT_DENSE && rows->offset[rows->n] + per > rows->cap_elem)
	{
		rows->cap_elem = Max(rows->cap_elem * 2, rows->offset[rows->n] + per);
		rows->elem = rows->elem ? repalloc_huge(rows->elem, sizeof(uint32) * rows->cap_elem)
			: MemoryContextAllocHuge(rows->cxt, sizeof(uint32) * rows->cap_elem);
	}
}

/* tl_batch_emit: each input of the batch as a set or a dense row. */
static void
add_rows(tl_call_model *cm, const tl_batch *b, void *arg)
{
	input_rows *rows = arg;

	for (int r = 0; r < b->n && rows->skip == NULL; r++)
	{
		const float *x = b->x + b->per_sample * r;

		if (rows->n == rows->first)
		{
			input_kind	k = kind_of(cm, b, x);

			if (rows->kind != INPUT_UNKNOWN && (k != rows->kind ||
												(k == INPUT_DENSE && !tl_shape_equal(&b->shape, &rows->shape))))
			{
				rows->skip = "the two runs' inputs are not of the same kind and shape";
				return;
			}
			rows->kind = k;
			rows->shape = b->shape;
		}
		if (rows->kind == INPUT_DENSE && !tl_shape_equal(&b->shape, &rows->shape))
		{
			rows->skip = "the inputs are not all of the same shape";
			return;
		}
		make_room(rows, b->per_sample);
		rows->ids[rows->n] = MemoryContextStrdup(rows->cxt, b->ids[r]);
		if (rows->kind == INPUT_DENSE)
			memcpy(rows->x + b->per_sample * rows->n, x, sizeof(float) * b->per_sample);
		else
		{
			uint32	   *out = rows->elem + rows->offset[rows->n];
			int			m = rows->kind == INPUT_TOKENS ? tl_ndup_token_shingles(x, (int) b->per_sample, out)
				: tl_ndup_nonzero(x, (int) b->per_sample, out);

			rows->offset[rows->n + 1] = rows->offset[rows->n] + m;
		}
		rows->n++;
	}
}

/* Adds the inputs of run's samples to rows; false (rows->skip says why) when they cannot be read. */
static bool
read_run_inputs(FunctionCallInfo fcinfo, const char *schema, int32 run, input_rows *rows)
{
	tl_run_as	ra;
	tl_call_model *cm;
	Datum		ids;
	bool		isnull;

	if (!tl_run_as_prepare(&ra, fcinfo->flinfo->fn_oid, run))
	{
		rows->skip = "its input query runs as the run's creator, whose privileges the caller lacks";
		return false;
	}
	if (ra.input_query == NULL)
	{
		/* a pipeline's run: perception space, as documented (no NOTICE: the usual case) */
		rows->skip = "";
		return false;
	}
	SPI_connect();
	if (SPI_execute_with_args(psprintf("SELECT pg_catalog.array_agg(sample_id) FROM %s.tl_result WHERE run OPERATOR(pg_catalog.=) $1", schema),
							  1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(run)}, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "tensorlens: reading the results of run %d failed", run);
	ids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	ids = isnull ? (Datum) 0 : SPI_datumTransfer(ids, false, -1);
	SPI_finish();
	if (ids == (Datum) 0)
		return true;			/* no samples */
	cm = tl_call_model_get(fcinfo, cstring_to_text(ra.model));
	rows->first = rows->n;
	tl_batch_run_inputs(cm, &ra, ids, add_rows, rows);
	return rows->skip == NULL;
}

/* The pairs of rows (n_a: the first run's items) by the core. */
static void
find_pairs(input_rows *rows, int n_a, tl_ndup_pairs *ps)
{
	tl_status	st = {0};

	if (rows->kind == INPUT_DENSE)
	{
		tl_ndup_geometry g;
		double		used;

		tl_ndup_geometry_of(&rows->shape, &g);
		if (tl_ndup_dense_pairs(rows->x, rows->n, n_a, &g, 0, tl_guc_knn_exact_max, ps, &used, &st) < 0)
			tl_pg_raise(&st, NULL);
	}
	else
	{
		tl_ndup_sets s = {rows->n, rows->offset, rows->elem};

		if (tl_ndup_set_pairs(&s, n_a, rows->kind == INPUT_TOKENS ? TOKEN_MIN_JACCARD : MULTI_HOT_MIN_JACCARD,
							  ps, &st) < 0)
			tl_pg_raise(&st, NULL);
	}
}

static int
by_item_then_distance(const void *x, const void *y)
{
	const tl_ndup_pair *p = x,
			   *q = y;

	if (p->a != q->a)
		return p->a - q->a;
	return p->distance < q->distance ? -1 : p->distance > q->distance;
}

int
tl_pg_input_duplicates(FunctionCallInfo fcinfo, const char *schema, int32 run, int32 other,
					   tl_pg_dup_pair **out)
{
	input_rows	rows = {0};
	tl_ndup_pairs ps = {0};
	int			n_a = 0,
				found = 0;
	tl_pg_dup_pair *pairs;

	rows.cxt = CurrentMemoryContext;
	for (int r = 0; r < (other == run ? 1 : 2); r++)
	{
		int32		which = r == 0 ? run : other;

		if (!read_run_inputs(fcinfo, schema, which, &rows))
		{
			if (rows.skip[0] != '\0')
				ereport(NOTICE,
						(errmsg("near-duplicates: the input space of run %d is not searched (%s), the perception space only",
								which, rows.skip)));
			return 0;
		}
		if (r == 0)
			n_a = rows.n;
	}
	if (n_a < 1 || rows.n - (other == run ? 0 : n_a) < (other == run ? 2 : 1))
		return 0;
	find_pairs(&rows, other == run ? rows.n : n_a, &ps);
	if (other != run)
		qsort(ps.p, ps.n, sizeof(tl_ndup_pair), by_item_then_distance);
	pairs = palloc(sizeof(tl_pg_dup_pair) * Max(ps.n, 1));
	for (int64 p = 0; p < ps.n; p++)
	{
		tl_ndup_pair *q = &ps.p[p];
		bool		swap = other == run && strcmp(rows.ids[q->a], rows.ids[q->b]) > 0;

		/* leakage: the nearest sample of other_run for each of run's */
		if (other != run && found > 0 && strcmp(pairs[found - 1].a, rows.ids[q->a]) == 0)
		{
			if (q->distance < pairs[found - 1].input)
			{
				pairs[found - 1].b = rows.ids[q->b];
				pairs[found - 1].input = q->distance;
			}
			continue;
		}
		pairs[found].a = rows.ids[swap ? q->b : q->a];
		pairs[found].b = rows.ids[swap ? q->a : q->b];
		pairs[found].perception = NAN;
		pairs[found].input = q->distance;
		found++;
	}
	tl_ndup_pairs_free(&ps);
	*out = pairs;
	return found;
}

static int
by_ids(const void *x, const void *y)
{
	const tl_pg_dup_pair *p = x,
			   *q = y;
	int			c = strcmp(p->a, q->a);

	return c != 0 ? c : strcmp(p->b, q->b);
}

/* Perception distance first (pairs without one last), then input distance, then ids. */
static int
by_distances(const void *x, const void *y)
{
	const tl_pg_dup_pair *p = x,
			   *q = y;

	if (isnan(p->perception) != isnan(q->perception))
		return isnan(p->perception) ? 1 : -1;
	if (!isnan(p->perception) && p->perception != q->perception)
		return p->perception < q->perception ? -1 : 1;
	if (isnan(p->input) != isnan(q->input))
		return isnan(p->input) ? 1 : -1;
	if (!isnan(p->input) && p->input != q->input)
		return p->input < q->input ? -1 : 1;
	return by_ids(p, q);
}

void
tl_pg_emit_duplicates(ReturnSetInfo *rsinfo, int32 other, tl_pg_dup_pair *pairs, int n)
{
	int			m = 0;

	qsort(pairs, n, sizeof(tl_pg_dup_pair), by_ids);
	for (int i = 0; i < n; i++)
	{
		if (m > 0 && by_ids(&pairs[m - 1], &pairs[i]) == 0)
		{
			/* the same pair from the other space */
			if (isnan(pairs[m - 1].perception))
				pairs[m - 1].perception = pairs[i].perception;
			if (isnan(pairs[m - 1].input))
				pairs[m - 1].input = pairs[i].input;
			continue;
		}
		pairs[m++] = pairs[i];
	}
	qsort(pairs, m, sizeof(tl_pg_dup_pair), by_distances);
	for (int i = 0; i < m; i++)
	{
		Datum		values[6];
		bool		nulls[6] = {0};
		bool		in_perception = !isnan(pairs[i].perception),
					in_input = !isnan(pairs[i].input);

		values[0] = CStringGetTextDatum(pairs[i].a);
		values[1] = Int32GetDatum(other);
		values[2] = CStringGetTextDatum(pairs[i].b);
		values[3] = Float4GetDatum(pairs[i].perception);
		nulls[3] = !in_perception;
		values[4] = Float4GetDatum(pairs[i].input);
		nulls[4] = !in_input;
		values[5] = CStringGetTextDatum(in_perception && in_input ? "both" : in_perception ? "perception" : "input");
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}
