/*
 * pg_output.c — what a model's output means (nn/tl_output.h) in SQL:
 * tl_output_kind(model), tl_class_probs(output, kind),
 * tl_predict_class(output, kind).
 */
#include "tl_pg.h"

#include "utils/builtins.h"

#include "nn/tl_output.h"

tl_output_kind
tl_pg_output_kind(const char *name)
{
	tl_output_kind kind;

	if (tl_output_kind_parse(name, &kind) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown output kind \"%s\"", name),
				 errhint("Use softmax, sigmoid, softmax_logits, sigmoid_logits, linear_probability or regression.")));
	return kind;
}

/* tl_output_kind(model text) → text: derived from the final activation and the training config */
PG_FUNCTION_INFO_V1(pg_tl_output_kind);
Datum
pg_tl_output_kind(PG_FUNCTION_ARGS)
{
	tl_call_model *cm = tl_call_model_get(fcinfo, PG_GETARG_TEXT_PP(0));
	tl_output_kind kind;
	tl_status	st = {0};

	if (tl_model_output_kind(cm->entry->model, NULL, &kind, &st) < 0)
		tl_pg_raise(&st, cm->entry->name);
	PG_RETURN_TEXT_P(cstring_to_text(tl_output_kind_name(kind)));
}

float *
tl_pg_output_values(ArrayType *a, int *n)
{
	float	   *y = tl_array_to_floats(a, "the output", n);

	if (*n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("the output is empty")));
	return y;
}

/* tl_class_probs(output real[], kind text) → real[]: the class distribution; NULL for regression */
PG_FUNCTION_INFO_V1(pg_tl_class_probs);
Datum
pg_tl_class_probs(PG_FUNCTION_ARGS)
{
	int			n;
	float	   *y = tl_pg_output_values(PG_GETARG_ARRAYTYPE_P(0), &n);
	tl_output_kind kind = tl_pg_output_kind(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	int			c = tl_output_classes(kind, n);
	double	   *p;
	float	   *out;
	tl_status	st = {0};

	if (kind == TL_OUTPUT_REGRESSION)
		PG_RETURN_NULL();
	p = palloc(sizeof(double) * c);
	out = palloc(sizeof(float) * c);
	if (tl_output_class_probs(kind, y, n, p, &st) < 0)
		tl_pg_raise(&st, NULL);
	for (int j = 0; j < c; j++)
		out[j] = (float) p[j];
	PG_RETURN_ARRAYTYPE_P(tl_floats_to_array(out, c));
}

/* tl_predict_class(output real[], kind text) → int; NULL for regression */
PG_FUNCTION_INFO_V1(pg_tl_predict_class_kind);
Datum
pg_tl_predict_class_kind(PG_FUNCTION_ARGS)
{
	int			n;
	float	   *y = tl_pg_output_values(PG_GETARG_ARRAYTYPE_P(0), &n);
	tl_output_kind kind = tl_pg_output_kind(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	int			c;

	c = tl_output_predict(kind, y, n);
	if (c < 0)
		PG_RETURN_NULL();
	PG_RETURN_INT32(c);
}
