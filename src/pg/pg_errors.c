/*
 * pg_errors.c — core failures as PostgreSQL errors.
 */
#include "tl_pg.h"

int
tl_pg_sqlstate(tl_code code)
{
	switch (code)
	{
		case TL_OK:
			break;
		case TL_ERR_FORMAT:
			return ERRCODE_INVALID_BINARY_REPRESENTATION;
		case TL_ERR_MODEL:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case TL_ERR_UNSUPPORTED:
			return ERRCODE_FEATURE_NOT_SUPPORTED;
		case TL_ERR_INPUT:
			return ERRCODE_ARRAY_SUBSCRIPT_ERROR;
		case TL_ERR_RANGE:
			return ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE;
		case TL_ERR_NAN:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case TL_ERR_ARG:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case TL_ERR_NOT_FOUND:
			return ERRCODE_UNDEFINED_OBJECT;
		case TL_ERR_LIMIT:
			return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		case TL_ERR_NOMEM:
			return ERRCODE_OUT_OF_MEMORY;
	}
	return ERRCODE_INTERNAL_ERROR;
}

void
tl_pg_raise(const tl_status *st, const char *model)
{
	if (model)
		ereport(ERROR,
				(errcode(tl_pg_sqlstate(st->code)),
				 errmsg("model \"%s\": %s", model, st->msg)));
	ereport(ERROR,
			(errcode(tl_pg_sqlstate(st->code)),
			 errmsg("%s", st->msg)));
}
