/*
 * pg_pca.c — the tl_pca type and the tl_pca_fit aggregate: type I/O, the
 * aggregate's transition, combine, serial, deserial and final functions,
 * projection and accessors.  The maths is in src/core/analysis/tl_pca.c.
 */
#include "tl_pg.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "analysis/tl_pca.h"

/*
 * The stored form: a header, then variance[k], ratio[k], mean[width] and
 * components[k][width] as doubles.  Nothing else: the size is the data.
 */
typedef struct TlPca
{
	int32		vl_len_;
	int32		version;
	int32		width;
	int32		k;
	int32		method;			/* TL_PCA_EXACT or TL_PCA_RANDOMIZED */
	int32		sketch;
	int64		n;
	int64		nulls;
	double		total_variance;
	double		data[FLEXIBLE_ARRAY_MEMBER];
} TlPca;

#define TL_PCA_VERSION 1
/* version of the aggregate's serialized state */
#define TL_PCA_STATE_VERSION 1

#define DatumGetTlPcaP(d) ((TlPca *) PG_DETOAST_DATUM(d))

static Size
pca_size(int width, int k)
{
	return offsetof(TlPca, data) +
		sizeof(double) * (2 * (Size) k + width + (Size) k * width);
}

/* The core's view of a stored PCA (pointers into p). */
static tl_pca_model
model_of(TlPca *p)
{
	tl_pca_model m;

	m.width = p->width;
	m.k = p->k;
	m.method = p->method;
	m.sketch = p->sketch;
	m.n = p->n;
	m.nulls = p->nulls;
	m.total_variance = p->total_variance;
	m.variance = p->data;
	m.ratio = p->data + p->k;
	m.mean = p->data + 2 * (Size) p->k;
	m.components = m.mean + p->width;
	return m;
}

static TlPca *
pca_alloc(int width, int k)
{
	Size		size;
	TlPca	   *p;

	if (width < 1 || width > TL_PCA_MAX_WIDTH || k < 1 || k > width)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid tl_pca: width %d and k %d", width, k),
				 errdetail("The width must be 1 to %d and k 1 to the width.", TL_PCA_MAX_WIDTH)));
	size = pca_size(width, k);
	if (size > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a tl_pca of width %d with %d components is too large (%zu bytes)",
						width, k, size)));
	p = palloc0(size);
	SET_VARSIZE(p, size);
	p->version = TL_PCA_VERSION;
	p->width = width;
	p->k = k;
	return p;
}

/* Checks what type input and receive read (anything may come in). */
static void
pca_validate(TlPca *p)
{
	Size		count = 2 * (Size) p->k + p->width + (Size) p->k * p->width;

	if (p->method != TL_PCA_EXACT && p->method != TL_PCA_RANDOMIZED)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid tl_pca: unknown method %d", p->method)));
	if (p->n < 1 || p->nulls < 0 || p->sketch < 0 || p->sketch > p->width ||
		(p->method == TL_PCA_EXACT) != (p->sketch == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid tl_pca: n = " INT64_FORMAT ", nulls = " INT64_FORMAT ", sketch = %d",
						p->n, p->nulls, p->sketch),
				 errdetail("n must be at least 1, nulls at least 0, and the sketch 0 for the exact method, 1 to the width for the randomized one.")));
	if (!isfinite(p->total_variance) || p->total_variance < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid tl_pca: total variance must be a finite number >= 0")));
	for (Size i = 0; i < count; i++)
		if (!isfinite(p->data[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid tl_pca: every number must be finite")));
	for (int i = 0; i < p->k; i++)
		if (p->data[i] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid tl_pca: explained variance %d is negative", i + 1)));
}

/* ---- text I/O: a JSON object ----------------------------------------- */

static void
append_double(StringInfo s, double v)
{
	char		buf[DOUBLE_SHORTEST_DECIMAL_LEN];

	/* shortest form that reads back to the same double */
	double_to_shortest_decimal_buf(v, buf);
	appendStringInfoString(s, buf);
}

static void
append_doubles(StringInfo s, const char *key, const double *v, int n)
{
	appendStringInfo(s, ", \"%s\": [", key);
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(s, ", ");
		append_double(s, v[i]);
	}
	appendStringInfoChar(s, ']');
}

PG_FUNCTION_INFO_V1(pg_tl_pca_out);
Datum
pg_tl_pca_out(PG_FUNCTION_ARGS)
{
	TlPca	   *p = DatumGetTlPcaP(PG_GETARG_DATUM(0));
	tl_pca_model m = model_of(p);
	StringInfoData s;

	initStringInfo(&s);
	/* the summary first, so that the start of it reads as one */
	appendStringInfo(&s, "{\"width\": %d, \"k\": %d, \"n\": " INT64_FORMAT ", \"nulls\": " INT64_FORMAT
					 ", \"method\": \"%s\", \"sketch\": %d",
					 m.width, m.k, m.n, m.nulls, tl_pca_method_name(m.method), m.sketch);
	append_doubles(&s, "explained_variance_ratio", m.ratio, m.k);
	append_doubles(&s, "explained_variance", m.variance, m.k);
	appendStringInfoString(&s, ", \"total_variance\": ");
	append_double(&s, m.total_variance);
	append_doubles(&s, "mean", m.mean, m.width);
	appendStringInfoString(&s, ", \"components\": [");
	for (int i = 0; i < m.k; i++)
	{
		appendStringInfoString(&s, i > 0 ? ", [" : "[");
		for (int j = 0; j < m.width; j++)
		{
			if (j > 0)
				appendStringInfoString(&s, ", ");
			append_double(&s, m.components[(Size) i * m.width + j]);
		}
		appendStringInfoChar(&s, ']');
	}
	appendStringInfoString(&s, "]}");
	PG_RETURN_CSTRING(s.data);
}

static void
bad_text(const char *what) pg_attribute_noreturn();
static void
bad_text(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type tl_pca: %s", what),
			 errhint("The text form is the JSON object tl_pca's output writes.")));
}

static JsonbValue *
json_key(Jsonb *jb, const char *key, enum jbvType type)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&jb->root, key, strlen(key), NULL);

	if (v == NULL || v->type != type)
		bad_text(psprintf("\"%s\" is missing or not a%s", key,
						  type == jbvNumeric ? " number" : type == jbvString ? " string" : "n array"));
	return v;
}

static double
json_double(JsonbValue *v)
{
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
}

static int64
json_int(Jsonb *jb, const char *key)
{
	return DatumGetInt64(DirectFunctionCall1(numeric_int8,
											 NumericGetDatum(json_key(jb, key, jbvNumeric)->val.numeric)));
}

/* Reads an array of n numbers, or (rows > 0) of rows arrays of n numbers. */
static void
json_doubles(JsonbValue *arr, const char *key, double *out, int n, int rows)
{
	JsonbContainer *c = arr->val.binary.data;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			want = rows > 0 ? rows : n,
				i = 0;

	if (!JsonContainerIsArray(c) || JsonContainerSize(c) != (uint32) want)
		bad_text(psprintf("\"%s\" must be an array of %d %s", key, want,
						  rows > 0 ? "arrays" : "numbers"));
	it = JsonbIteratorInit(c);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (rows > 0)
		{
			if (v.type != jbvBinary)
				bad_text(psprintf("\"%s\" must be an array of arrays", key));
			json_doubles(&v, key, out + (Size) i * n, n, 0);
		}
		else
		{
			if (v.type != jbvNumeric)
				bad_text(psprintf("\"%s\" must hold numbers only", key));
			out[i] = json_double(&v);
		}
		i++;
	}
}

PG_FUNCTION_INFO_V1(pg_tl_pca_in);
Datum
pg_tl_pca_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(str)));
	int64		width,
				k;
	JsonbValue *method;
	TlPca	   *p;
	tl_pca_model m;
	tl_pca_method meth;

	if (!JB_ROOT_IS_OBJECT(jb))
		bad_text("not a JSON object");
	width = json_int(jb, "width");
	k = json_int(jb, "k");
	if (width < 1 || width > TL_PCA_MAX_WIDTH || k < 1 || k > width)
		bad_text(psprintf("width " INT64_FORMAT " and k " INT64_FORMAT " (the width must be 1 to %d, k 1 to the width)",
						  width, k, TL_PCA_MAX_WIDTH));
	p = pca_alloc((int) width, (int) k);
	p->n = json_int(jb, "n");
	p->nulls = json_int(jb, "nulls");
	p->sketch = (int32) Min(Max(json_int(jb, "sketch"), -1), PG_INT32_MAX);
	method = json_key(jb, "method", jbvString);
	if (tl_pca_parse_method(pnstrdup(method->val.string.val, method->val.string.len), &meth) < 0 ||
		meth == TL_PCA_AUTO)
		bad_text("\"method\" must be \"exact\" or \"randomized\"");
	p->method = meth;
	p->total_variance = json_double(json_key(jb, "total_variance", jbvNumeric));
	m = model_of(p);
	json_doubles(json_key(jb, "explained_variance_ratio", jbvBinary), "explained_variance_ratio",
				 m.ratio, m.k, 0);
	json_doubles(json_key(jb, "explained_variance", jbvBinary), "explained_variance",
				 m.variance, m.k, 0);
	json_doubles(json_key(jb, "mean", jbvBinary), "mean", m.mean, m.width, 0);
	json_doubles(json_key(jb, "components", jbvBinary), "components", m.components, m.width, m.k);
	pca_validate(p);
	PG_RETURN_POINTER(p);
}

/* ---- binary I/O ---------------------------------------------------------- */

PG_FUNCTION_INFO_V1(pg_tl_pca_send);
Datum
pg_tl_pca_send(PG_FUNCTION_ARGS)
{
	TlPca	   *p = DatumGetTlPcaP(PG_GETARG_DATUM(0));
	Size		count = 2 * (Size) p->k + p->width + (Size) p->k * p->width;
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, TL_PCA_VERSION);
	pq_sendint32(&buf, p->width);
	pq_sendint32(&buf, p->k);
	pq_sendint32(&buf, p->method);
	pq_sendint32(&buf, p->sketch);
	pq_sendint64(&buf, p->n);
	pq_sendint64(&buf, p->nulls);
	pq_sendfloat8(&buf, p->total_variance);
	for (Size i = 0; i < count; i++)
		pq_sendfloat8(&buf, p->data[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(pg_tl_pca_recv);
Datum
pg_tl_pca_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		version = pq_getmsgint(buf, 4),
				width,
				k;
	TlPca	   *p;
	Size		count;

	if (version != TL_PCA_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("unsupported tl_pca binary format version %d (expected %d)",
						version, TL_PCA_VERSION)));
	width = pq_getmsgint(buf, 4);
	k = pq_getmsgint(buf, 4);
	p = pca_alloc(width, k);
	p->method = pq_getmsgint(buf, 4);
	p->sketch = pq_getmsgint(buf, 4);
	p->n = pq_getmsgint64(buf);
	p->nulls = pq_getmsgint64(buf);
	p->total_variance = pq_getmsgfloat8(buf);
	count = 2 * (Size) k + width + (Size) k * width;
	/* the whole payload must be there before reading it value by value */
	if ((Size) (buf->len - buf->cursor) != count * sizeof(double))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("tl_pca binary data has %d bytes of values, expected %zu",
						buf->len - buf->cursor, count * sizeof(double))));
	for (Size i = 0; i < count; i++)
		p->data[i] = pq_getmsgfloat8(buf);
	pca_validate(p);
	PG_RETURN_POINTER(p);
}

/*
 * Solves an accumulator into pm, its arrays palloc'd in the current memory
 * context (for glue that reduces vectors without the SQL type).
 */
void
tl_pg_pca_finish(tl_pca_acc *acc, tl_pca_model *pm)
{
	tl_status	st = {0};

	memset(pm, 0, sizeof(*pm));
	pm->variance = palloc(sizeof(double) * acc->k);
	pm->ratio = palloc(sizeof(double) * acc->k);
	pm->mean = palloc(sizeof(double) * acc->width);
	pm->components = palloc_extended(sizeof(double) * acc->k * acc->width, MCXT_ALLOC_HUGE);
	if (tl_pca_acc_finish(acc, pm, &st) < 0)
		tl_pg_raise(&st, NULL);
}

/* ---- the aggregate ------------------------------------------------------- */

static void
pca_raise(const char *fn, const tl_status *st) pg_attribute_noreturn();
static void
pca_raise(const char *fn, const tl_status *st)
{
	ereport(ERROR,
			(errcode(tl_pg_sqlstate(st->code)),
			 errmsg("%s: %s", fn, st->msg)));
}

static MemoryContext
agg_context(FunctionCallInfo fcinfo, const char *fn)
{
	MemoryContext cxt;

	if (!AggCheckCallContext(fcinfo, &cxt))
		elog(ERROR, "%s called in non-aggregate context", fn);
	return cxt;
}

/*
 * tl_pca_fit(vec, k [, method]) transition: NULL vectors are counted and
 * skipped; k and the method must not change from row to row.
 */
PG_FUNCTION_INFO_V1(pg_tl_pca_fit_trans);
Datum
pg_tl_pca_fit_trans(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = agg_context(fcinfo, "tl_pca_fit_trans"),
				old;
	tl_pca_acc *acc = PG_ARGISNULL(0) ? NULL : (tl_pca_acc *) PG_GETARG_POINTER(0);
	tl_pca_method method = TL_PCA_AUTO;
	tl_status	st = {0};
	int32		k;
	ArrayType  *a;
	int			n,
				rc;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tl_pca_fit: k must not be NULL")));
	k = PG_GETARG_INT32(2);
	if (PG_NARGS() > 3)
	{
		char	   *name;

		if (PG_ARGISNULL(3))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("tl_pca_fit: method must not be NULL"),
					 errhint("Use 'auto', 'exact' or 'randomized'.")));
		name = text_to_cstring(PG_GETARG_TEXT_PP(3));
		if (tl_pca_parse_method(name, &method) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("tl_pca_fit: unknown method \"%s\"", name),
					 errhint("Use 'auto', 'exact' or 'randomized'.")));
	}
	if (acc == NULL)
	{
		old = MemoryContextSwitchTo(cxt);
		acc = tl_pca_acc_new(k, method, &st);
		MemoryContextSwitchTo(old);
		if (acc == NULL)
			pca_raise("tl_pca_fit", &st);
	}
	else if (acc->k != k || acc->requested != method)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tl_pca_fit: k and method must be the same for every row"),
				 errdetail("The first row asked for k = %d, method %s; this one for k = %d, method %s.",
						   acc->k, tl_pca_method_name(acc->requested),
						   k, tl_pca_method_name(method))));

	if (PG_ARGISNULL(1))
	{
		acc->nulls++;
		PG_RETURN_POINTER(acc);
	}
	a = PG_GETARG_ARRAYTYPE_P(1);
	n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("tl_pca_fit: a vector is empty"),
				 errhint("Skip it, or pass NULL (NULL vectors are counted and skipped).")));
	if (ARR_HASNULL(a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tl_pca_fit: a vector has a NULL element"),
				 errhint("Every element must be a number; a whole NULL vector is skipped.")));
	old = MemoryContextSwitchTo(cxt);
	rc = tl_pca_acc_add(acc, (const float *) ARR_DATA_PTR(a), n, &st);
	MemoryContextSwitchTo(old);
	if (rc < 0)
		pca_raise("tl_pca_fit", &st);
	PG_RETURN_POINTER(acc);
}

PG_FUNCTION_INFO_V1(pg_tl_pca_fit_combine);
Datum
pg_tl_pca_fit_combine(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = agg_context(fcinfo, "tl_pca_fit_combine"),
				old;
	tl_pca_acc *a = PG_ARGISNULL(0) ? NULL : (tl_pca_acc *) PG_GETARG_POINTER(0),
			   *b = PG_ARGISNULL(1) ? NULL : (tl_pca_acc *) PG_GETARG_POINTER(1);
	tl_status	st = {0};
	int			rc = 0;

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	old = MemoryContextSwitchTo(cxt);
	/* b may live in a shorter-lived context: merge it into a new state */
	if (a == NULL)
		a = tl_pca_acc_new(b->k, b->requested, &st);
	if (a != NULL)
		rc = tl_pca_acc_merge(a, b, &st);
	MemoryContextSwitchTo(old);
	if (a == NULL || rc < 0)
		pca_raise("tl_pca_fit", &st);
	PG_RETURN_POINTER(a);
}

static void
send_doubles(StringInfo buf, const double *v, Size n)
{
	enlargeStringInfo(buf, n * sizeof(double));
	for (Size i = 0; i < n; i++)
	{
		union
		{
			double		d;
			uint64		u;
		}			x;

		x.d = v[i];
		pq_writeint64(buf, x.u);
	}
}

static void
get_doubles(StringInfo buf, double *v, Size n)
{
	if ((Size) (buf->len - buf->cursor) < n * sizeof(double))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("tl_pca_fit state is truncated")));
	for (Size i = 0; i < n; i++)
		v[i] = pq_getmsgfloat8(buf);
}

/*
 * The state of a partial aggregate: the parameters, the counts and the
 * flushed sums (the buffered rows are flushed first).
 */
PG_FUNCTION_INFO_V1(pg_tl_pca_fit_serialize);
Datum
pg_tl_pca_fit_serialize(PG_FUNCTION_ARGS)
{
	tl_pca_acc *acc = (tl_pca_acc *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	agg_context(fcinfo, "tl_pca_fit_serialize");
	tl_pca_acc_flush(acc);
	pq_begintypsend(&buf);
	pq_sendint32(&buf, TL_PCA_STATE_VERSION);
	pq_sendint32(&buf, acc->k);
	pq_sendint32(&buf, acc->requested);
	pq_sendint32(&buf, acc->method);
	pq_sendint32(&buf, acc->width);
	pq_sendint64(&buf, acc->n);
	pq_sendint64(&buf, acc->nulls);
	if (acc->n > 0)
	{
		send_doubles(&buf, acc->shift, acc->width);
		send_doubles(&buf, acc->sum, acc->width);
		if (acc->method == TL_PCA_EXACT)
			send_doubles(&buf, acc->scatter, tl_pca_acc_matrix_len(acc));
		else
		{
			send_doubles(&buf, acc->sumsq, acc->width);
			send_doubles(&buf, acc->sketch_y, tl_pca_acc_matrix_len(acc));
		}
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(pg_tl_pca_fit_deserialize);
Datum
pg_tl_pca_fit_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;
	tl_status	st = {0};
	tl_pca_acc *acc;
	int32		version,
				k,
				requested,
				method,
				width;

	agg_context(fcinfo, "tl_pca_fit_deserialize");
	buf.data = VARDATA_ANY(b);
	buf.len = VARSIZE_ANY_EXHDR(b);
	buf.maxlen = buf.len;
	buf.cursor = 0;
	version = pq_getmsgint(&buf, 4);
	if (version != TL_PCA_STATE_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("tl_pca_fit state version %d, expected %d", version, TL_PCA_STATE_VERSION)));
	k = pq_getmsgint(&buf, 4);
	requested = pq_getmsgint(&buf, 4);
	method = pq_getmsgint(&buf, 4);
	width = pq_getmsgint(&buf, 4);
	/* the method is resolved once the width is known */
	if (requested < TL_PCA_AUTO || requested > TL_PCA_RANDOMIZED ||
		(width > 0 ? method != TL_PCA_EXACT && method != TL_PCA_RANDOMIZED : method != requested))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("tl_pca_fit state has an invalid method %d", method)));
	acc = tl_pca_acc_new(k, requested, &st);
	if (acc == NULL)
		pca_raise("tl_pca_fit", &st);
	acc->method = method;
	if (width > 0 && tl_pca_acc_set_width(acc, width, &st) < 0)
		pca_raise("tl_pca_fit", &st);
	acc->n = pq_getmsgint64(&buf);
	acc->nulls = pq_getmsgint64(&buf);
	if (acc->n > 0)
	{
		if (width == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("tl_pca_fit state has rows but no width")));
		get_doubles(&buf, acc->shift, width);
		get_doubles(&buf, acc->sum, width);
		if (acc->method == TL_PCA_EXACT)
			get_doubles(&buf, acc->scatter, tl_pca_acc_matrix_len(acc));
		else
		{
			get_doubles(&buf, acc->sumsq, width);
			get_doubles(&buf, acc->sketch_y, tl_pca_acc_matrix_len(acc));
		}
	}
	pq_getmsgend(&buf);
	PG_RETURN_POINTER(acc);
}

PG_FUNCTION_INFO_V1(pg_tl_pca_fit_final);
Datum
pg_tl_pca_fit_final(PG_FUNCTION_ARGS)
{
	tl_pca_acc *acc = PG_ARGISNULL(0) ? NULL : (tl_pca_acc *) PG_GETARG_POINTER(0);
	tl_status	st = {0};
	TlPca	   *p;
	tl_pca_model m;

	agg_context(fcinfo, "tl_pca_fit_final");
	/* no rows, or only NULL vectors: no PCA (as avg() of nothing is NULL) */
	if (acc == NULL || acc->width == 0 || acc->n + acc->nrows == 0)
		PG_RETURN_NULL();
	p = pca_alloc(acc->width, acc->k);
	m = model_of(p);
	if (tl_pca_acc_finish(acc, &m, &st) < 0)
		pca_raise("tl_pca_fit", &st);
	p->method = m.method;
	p->sketch = m.sketch;
	p->n = m.n;
	p->nulls = m.nulls;
	p->total_variance = m.total_variance;
	PG_RETURN_POINTER(p);
}

/* ---- projection and accessors ------------------------------------------- */

/*
 * The PCA argument of pg_tl_pca_project, detoasted once per call site: a PCA
 * read from a table comes in toasted on every row, and its toasted bytes
 * (an external pointer or compressed data) identify the value.
 */
typedef struct pca_cache
{
	struct varlena *raw;
	TlPca	   *pca;
} pca_cache;

static TlPca *
cached_pca(FunctionCallInfo fcinfo, Datum d)
{
	struct varlena *raw = (struct varlena *) DatumGetPointer(d);
	pca_cache  *c = fcinfo->flinfo->fn_extra;
	MemoryContext old;

	if (!VARATT_IS_EXTERNAL_ONDISK(raw) && !VARATT_IS_COMPRESSED(raw))
		return DatumGetTlPcaP(d);
	if (c != NULL && VARSIZE_ANY(c->raw) == VARSIZE_ANY(raw) &&
		memcmp(c->raw, raw, VARSIZE_ANY(raw)) == 0)
		return c->pca;
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	if (c == NULL)
		c = fcinfo->flinfo->fn_extra = palloc0(sizeof(pca_cache));
	else
	{
		pfree(c->raw);
		pfree(c->pca);
	}
	c->raw = palloc(VARSIZE_ANY(raw));
	memcpy(c->raw, raw, VARSIZE_ANY(raw));
	c->pca = (TlPca *) PG_DETOAST_DATUM_COPY(d);
	MemoryContextSwitchTo(old);
	return c->pca;
}

PG_FUNCTION_INFO_V1(pg_tl_pca_project);
Datum
pg_tl_pca_project(PG_FUNCTION_ARGS)
{
	TlPca	   *p = cached_pca(fcinfo, PG_GETARG_DATUM(0));
	tl_pca_model m = model_of(p);
	int			n;
	float	   *x = tl_array_to_floats(PG_GETARG_ARRAYTYPE_P(1), "tl_pca_project: the vector", &n);
	float	   *y;

	if (n != m.width)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("tl_pca_project: the vector has %d elements, but the PCA was fitted on %d-element vectors",
						n, m.width)));
	y = palloc(sizeof(float) * m.k);
	tl_pca_model_project(&m, x, y);
	PG_RETURN_ARRAYTYPE_P(tl_floats_to_array(y, m.k));
}

/* doubles as a real[] of one or two dimensions */
static ArrayType *
real_array(const double *v, int ndim, int d0, int d1)
{
	Size		n = ndim == 1 ? (Size) d0 : (Size) d0 * d1,
				bytes = ARR_OVERHEAD_NONULLS(ndim) + sizeof(float4) * n;
	ArrayType  *a = palloc0(bytes);
	float4	   *f;

	SET_VARSIZE(a, bytes);
	a->ndim = ndim;
	a->elemtype = FLOAT4OID;
	ARR_DIMS(a)[0] = d0;
	ARR_LBOUND(a)[0] = 1;
	if (ndim == 2)
	{
		ARR_DIMS(a)[1] = d1;
		ARR_LBOUND(a)[1] = 1;
	}
	f = (float4 *) ARR_DATA_PTR(a);
	for (Size i = 0; i < n; i++)
		f[i] = (float4) v[i];
	return a;
}

PG_FUNCTION_INFO_V1(pg_tl_pca_explained_variance_ratio);
Datum
pg_tl_pca_explained_variance_ratio(PG_FUNCTION_ARGS)
{
	TlPca	   *p = DatumGetTlPcaP(PG_GETARG_DATUM(0));

	PG_RETURN_ARRAYTYPE_P(real_array(model_of(p).ratio, 1, p->k, 0));
}

PG_FUNCTION_INFO_V1(pg_tl_pca_explained_variance);
Datum
pg_tl_pca_explained_variance(PG_FUNCTION_ARGS)
{
	TlPca	   *p = DatumGetTlPcaP(PG_GETARG_DATUM(0));

	PG_RETURN_ARRAYTYPE_P(real_array(model_of(p).variance, 1, p->k, 0));
}

PG_FUNCTION_INFO_V1(pg_tl_pca_mean);
Datum
pg_tl_pca_mean(PG_FUNCTION_ARGS)
{
	TlPca	   *p = DatumGetTlPcaP(PG_GETARG_DATUM(0));

	PG_RETURN_ARRAYTYPE_P(real_array(model_of(p).mean, 1, p->width, 0));
}

PG_FUNCTION_INFO_V1(pg_tl_pca_components);
Datum
pg_tl_pca_components(PG_FUNCTION_ARGS)
{
	TlPca	   *p = DatumGetTlPcaP(PG_GETARG_DATUM(0));

	PG_RETURN_ARRAYTYPE_P(real_array(model_of(p).components, 2, p->k, p->width));
}

PG_FUNCTION_INFO_V1(pg_tl_pca_n);
Datum
pg_tl_pca_n(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(DatumGetTlPcaP(PG_GETARG_DATUM(0))->n);
}

PG_FUNCTION_INFO_V1(pg_tl_pca_nulls);
Datum
pg_tl_pca_nulls(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(DatumGetTlPcaP(PG_GETARG_DATUM(0))->nulls);
}
