/*
 * pg_metadata.c — a sample's metadata: the columns of an evaluation query
 * after (sample_id, input, label), kept as one jsonb object keyed by column
 * name, so that insights can relate failures to the data's own attributes.
 */
#include "tl_pg.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

/* One value as JSON: numbers and booleans as themselves, JSON as JSON, the rest as text. */
static void
append_json_value(StringInfo out, Datum v, Oid type)
{
	Oid			output;
	bool		varlena;
	char	   *str;

	switch (type)
	{
		case BOOLOID:
			appendStringInfoString(out, DatumGetBool(v) ? "true" : "false");
			return;
		case INT2OID:
			appendStringInfo(out, "%d", (int) DatumGetInt16(v));
			return;
		case INT4OID:
			appendStringInfo(out, "%d", DatumGetInt32(v));
			return;
		case INT8OID:
			appendStringInfo(out, INT64_FORMAT, DatumGetInt64(v));
			return;
		case FLOAT4OID:
		case FLOAT8OID:
			{
				double		d = type == FLOAT4OID ? DatumGetFloat4(v) : DatumGetFloat8(v);

				/* JSON has no NaN or Infinity: those stay text */
				if (isfinite(d))
				{
					appendStringInfo(out, "%.17g", d);
					return;
				}
				break;
			}
		case JSONBOID:
			appendStringInfoString(out, JsonbToCString(NULL, &DatumGetJsonbP(v)->root, VARSIZE(DatumGetPointer(v))));
			return;
		case JSONOID:
			appendStringInfoString(out, TextDatumGetCString(v));
			return;
	}
	getTypeOutputInfo(type, &output, &varlena);
	str = OidOutputFunctionCall(output, v);
	if (type == NUMERICOID && strcmp(str, "NaN") != 0 && strstr(str, "Infinity") == NULL)
		appendStringInfoString(out, str);
	else
		escape_json(out, str);
	pfree(str);
}

Datum
tl_pg_batch_metadata(const tl_batch *b, int row, int first, bool *isnull)
{
	StringInfoData s;
	int			kept = 0;

	*isnull = true;
	if (b->n_extra <= first)
		return (Datum) 0;
	initStringInfo(&s);
	appendStringInfoChar(&s, '{');
	for (int c = first; c < b->n_extra; c++)
	{
		Form_pg_attribute att = TupleDescAttr(b->tupdesc, c + 2);

		if (b->extra_null[row * b->n_extra + c])
			continue;			/* a missing value is an absent key */
		if (kept++ > 0)
			appendStringInfoString(&s, ", ");
		escape_json(&s, NameStr(att->attname));
		appendStringInfoString(&s, ": ");
		append_json_value(&s, b->extra[row * b->n_extra + c], att->atttypid);
	}
	appendStringInfoChar(&s, '}');
	*isnull = false;
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data));
}
