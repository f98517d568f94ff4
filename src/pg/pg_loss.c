/*
 * pg_loss.c — tl_loss and tl_predict_class.
 */
#include "tl_pg.h"

#include "utils/builtins.h"

#include "nn/tl_loss.h"

static float4
loss_of(tl_loss_kind kind, ArrayType *output, int32 label, const char *model)
{
	int			n;
	float	   *y = tl_pg_output_values(output, &n);
	double		loss;
	tl_status	st = {0};

	if (tl_loss(kind, y, n, label, &loss, &st) < 0)
		tl_pg_raise(&st, model);
	return (float4) loss;
}

/* tl_loss(output real[], label int, kind text) */
PG_FUNCTION_INFO_V1(pg_tl_loss_kind);
Datum
pg_tl_loss_kind(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(2));
	tl_loss_kind kind;

	if (tl_loss_parse(name, &kind) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown loss kind \"%s\"", name),
				 errhint("Use binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy, mse, "
						 "binary_crossentropy_from_logits or categorical_crossentropy_from_logits.")));
	PG_RETURN_FLOAT4(loss_of(kind, PG_GETARG_ARRAYTYPE_P(0), PG_GETARG_INT32(1), NULL));
}

/* tl_loss(model text, output real[], label int): the loss the model was trained with */
PG_FUNCTION_INFO_V1(pg_tl_loss_model);
Datum
pg_tl_loss_model(PG_FUNCTION_ARGS)
{
	tl_call_model *cm = tl_call_model_get(fcinfo, PG_GETARG_TEXT_PP(0));
	tl_loss_kind kind;
	tl_status	st = {0};

	if (tl_loss_from_training_config(tl_model_training_config_json(cm->entry->model), &kind, &st) < 0)
		ereport(ERROR,
				(errcode(tl_pg_sqlstate(st.code)),
				 errmsg("model \"%s\": %s", cm->entry->name, st.msg),
				 errhint("Pass the loss kind: tl_loss(output, label, 'binary_crossentropy').")));
	PG_RETURN_FLOAT4(loss_of(kind, PG_GETARG_ARRAYTYPE_P(1), PG_GETARG_INT32(2), cm->entry->name));
}

PG_FUNCTION_INFO_V1(pg_tl_predict_class);
Datum
pg_tl_predict_class(PG_FUNCTION_ARGS)
{
	int			n;
	float	   *y = tl_pg_output_values(PG_GETARG_ARRAYTYPE_P(0), &n);

	PG_RETURN_INT32(tl_predict_class(y, n));
}
