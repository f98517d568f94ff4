/*
 * pg_arrays.c — SQL arrays in and out of the core's float buffers.
 */
#include "tl_pg.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

static int
first_null(ArrayType *a, int n)
{
	bits8	   *bitmap = ARR_NULLBITMAP(a);

	for (int i = 0; i < n; i++)
		if (bitmap && !(bitmap[i / 8] & (1 << (i % 8))))
			return i + 1;
	return 0;
}

static void
reject_nulls(ArrayType *a, int n, const char *what)
{
	if (ARR_HASNULL(a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s has a NULL element at position %d", what, first_null(a, n)),
				 errhint("Every element must be a number.")));
}

/* Refuses arrays longer than tensorlens.max_input_length before any copy. */
static void
check_length(int n, const char *what)
{
	if (n > tl_guc_max_input_length)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s has %d elements, above tensorlens.max_input_length (%d)",
						what, n, tl_guc_max_input_length)));
}

/* Reads element i of an integer array of type et as int64. */
static inline int64
int_elem(const char *data, Oid et, int i)
{
	switch (et)
	{
		case INT2OID:
			return ((const int16 *) data)[i];
		case INT4OID:
			return ((const int32 *) data)[i];
		default:
			return ((const int64 *) data)[i];
	}
}

/* The elements as floats, into out (or a new array); NaN/inf are errors. */
static float *
floats_into(ArrayType *a, int n, const char *what, float *out)
{
	Oid			et = ARR_ELEMTYPE(a);
	const char *data = ARR_DATA_PTR(a);

	if (out == NULL)
		out = palloc(sizeof(float) * (n ? n : 1));
	if (et == FLOAT4OID)
	{
		const float4 *v = (const float4 *) data;
		bool		finite = true;

		memcpy(out, v, sizeof(float) * n);
		for (int i = 0; i < n; i++)
			finite &= !isnan(v[i]) && !isinf(v[i]);
		if (finite)
			return out;
	}
	for (int i = 0; i < n; i++)
	{
		double		v = et == FLOAT4OID ? ((const float4 *) data)[i] : ((const float8 *) data)[i];

		if (isnan(v) || isinf(v))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s has %s at position %d", what,
							isnan(v) ? "NaN" : "an infinite value", i + 1),
					 errhint("Every element must be a finite number.")));
		if (et == FLOAT8OID && fabs(v) > 3.4e38)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("%s has a value out of range for real at position %d", what, i + 1)));
		out[i] = (float) v;
	}
	return out;
}

static float *
floats_of(ArrayType *a, int n, const char *what)
{
	return floats_into(a, n, what, NULL);
}

float *
tl_array_to_floats(ArrayType *a, const char *what, int *n)
{
	Oid			et = ARR_ELEMTYPE(a);

	if (et != FLOAT4OID && et != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must be real[] or double precision[], not %s", what,
						format_type_be(get_array_type(et)))));
	*n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	check_length(*n, what);
	reject_nulls(a, *n, what);
	return floats_of(a, *n, what);
}

float *
tl_array_to_input(ArrayType *a, const tl_model *m, const char *model, tl_shape *shape)
{
	return tl_array_to_input_into(a, m, model, shape, NULL, NULL);
}

/*
 * As tl_array_to_input; when the input's shape turns out to be *want, the
 * values go to dst (a batch's next slot) instead of a new allocation.
 */
float *
tl_array_to_input_into(ArrayType *a, const tl_model *m, const char *model,
					   tl_shape *shape, const tl_shape *want, float *dst)
{
	Oid			et = ARR_ELEMTYPE(a);
	int			ndim = ARR_NDIM(a);
	int			n = ArrayGetNItems(ndim, ARR_DIMS(a));
	tl_status	st = {0};
	float	   *x;

	check_length(n, "the input array");
	if (tl_model_takes_tokens(m))
	{
		tl_shape	fixed = tl_model_input_shape(m);
		int			vocab = tl_model_vocab_size(m);
		const char *data = ARR_DATA_PTR(a);
		int64		bad = -1;

		if (et != INT2OID && et != INT4OID && et != INT8OID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("model \"%s\" takes token ids: pass an integer[] or bigint[], not %s",
							model, format_type_be(get_array_type(et)))));
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("model \"%s\": the token array is empty", model)));
		reject_nulls(a, n, "the token array");
		/* every id is checked, also those that truncation drops */
		if (et == INT4OID)
		{
			const int32 *v = (const int32 *) data;
			int32		worst = 0;

			for (int i = 0; i < n; i++)
				worst |= (v[i] < 0) | (v[i] >= vocab);
			if (worst)
				bad = 0;
		}
		else
			bad = 0;
		if (bad == 0)
			for (int i = 0; i < n; i++)
			{
				int64		id = int_elem(data, et, i);

				if (id < 0 || id >= vocab)
					ereport(ERROR,
							(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							 errmsg("model \"%s\": token id %lld at position %d is out of range",
									model, (long long) id, i + 1),
							 errdetail("The model's Embedding accepts ids 0 to %d.", vocab - 1),
							 errhint("Tokenise for the model: tl_tokenize(vocab, doc, model => '%s'), "
									 "or pass num_words => %d: ids from %d up become 2 (out of vocabulary), as Keras' num_words does.",
									 model, vocab, vocab)));
			}
		if (fixed.nd == 1 && fixed.d[0] > 0)
		{
			/* a fixed sequence length: fit it the way pad_sequences does */
			int			len = fixed.d[0];
			int			skip = n > len ? n - len : 0;
			int			pad = n < len ? len - n : 0;
			int			axes = 0;

			/* one sequence: a 2-D array of ids is not 100 tokens of one */
			for (int i = 0; i < ndim; i++)
				axes += ARR_DIMS(a)[i] > 1;
			if (axes > 1)
				ereport(ERROR,
						(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
						 errmsg("model \"%s\" takes one sequence of token ids; the input has %d dimensions longer than 1",
								model, axes),
						 errhint("Pass a one-dimensional integer[] per sample (tl_infer_batch runs many).")));

			*shape = fixed;
			x = dst && want && tl_shape_equal(want, shape) ? dst : palloc(sizeof(float) * len);
			memset(x, 0, sizeof(float) * pad);
			if (et == INT4OID)
			{
				const int32 *v = (const int32 *) data + skip;

				for (int i = 0; i < len - pad; i++)
					x[pad + i] = (float) v[i];
			}
			else
				for (int i = 0; i < len - pad; i++)
					x[pad + i] = (float) int_elem(data, et, skip + i);
			return x;
		}
		if (tl_model_fit_input(m, ARR_DIMS(a), ndim, n, shape, &st) < 0)
			tl_pg_raise(&st, model);
		x = dst && want && tl_shape_equal(want, shape) ? dst : palloc(sizeof(float) * n);
		for (int i = 0; i < n; i++)
			x[i] = (float) int_elem(data, et, i);
		return x;
	}

	if (et != FLOAT4OID && et != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("model \"%s\" takes real numbers: pass a real[] or double precision[], not %s",
						model, format_type_be(get_array_type(et))),
				 errhint("Cast the array, e.g. input::real[].")));
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("model \"%s\": the input array is empty", model)));
	reject_nulls(a, n, "the input array");
	if (tl_model_fit_input(m, ARR_DIMS(a), ndim, n, shape, &st) < 0)
		tl_pg_raise(&st, model);
	return floats_into(a, n, "the input array", dst && want && tl_shape_equal(want, shape) ? dst : NULL);
}

ArrayType *
tl_floats_to_array(const float *v, int64 n)
{
	ArrayType  *r;
	Size		nbytes;

	if (n <= 0)
		return construct_empty_array(FLOAT4OID);
	if ((Size) n > (MaxAllocSize - ARR_OVERHEAD_NONULLS(1)) / sizeof(float4))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("result of %lld values is too large for an array", (long long) n)));
	/* build the array in place: one allocation, one memcpy */
	nbytes = ARR_OVERHEAD_NONULLS(1) + sizeof(float4) * n;
	r = (ArrayType *) palloc0(nbytes);
	SET_VARSIZE(r, nbytes);
	r->ndim = 1;
	r->dataoffset = 0;
	r->elemtype = FLOAT4OID;
	ARR_DIMS(r)[0] = (int) n;
	ARR_LBOUND(r)[0] = 1;
	memcpy(ARR_DATA_PTR(r), v, sizeof(float4) * n);
	return r;
}

ArrayType *
tl_shape_to_array(const tl_shape *s)
{
	Datum		d[TL_MAX_DIMS];
	bool		nulls[TL_MAX_DIMS];
	int			dims[1] = {s->nd};
	int			lbs[1] = {1};

	if (s->nd == 0)
		return construct_empty_array(INT4OID);
	for (int i = 0; i < s->nd; i++)
	{
		nulls[i] = s->d[i] < 0;
		d[i] = Int32GetDatum(s->d[i]);
	}
	return construct_md_array(d, nulls, 1, dims, lbs, INT4OID, 4, true, TYPALIGN_INT);
}
