/*
 * pg_model_store.c — what the model store needs from C: inspecting a model
 * file before it is stored, reading a server file with the privileges
 * PostgreSQL demands for that, and listing a model's layers.
 * (tl_model_import and tl_model_load themselves are SQL.)
 */
#include "tl_pg.h"

#include <sys/stat.h>

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

static Datum
jsonb_from_cstring(const char *s)
{
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(s));
}

/*
 * tl_model_inspect(data bytea) → (format, keras_version, config, training_config,
 * input_shape, output_shape): parses the file fully (weights included), so
 * a file that cannot be run is refused before it is stored.
 */
PG_FUNCTION_INFO_V1(pg_tl_model_inspect);
Datum
pg_tl_model_inspect(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	TupleDesc	td;
	Datum		values[6];
	bool		nulls[6] = {0};
	MemoryContext cxt,
				old;
	tl_model   *m;
	tl_shape	in,
				out;
	const char *train;

	if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "tl_model_inspect must return a record");
	cxt = AllocSetContextCreate(CurrentMemoryContext, "tensorlens inspect", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	m = tl_pg_model_load(VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data), NULL);
	MemoryContextSwitchTo(old);

	in = tl_model_input_shape(m);
	out = tl_model_output_shape(m);
	values[0] = CStringGetTextDatum(tl_model_format(m));
	values[1] = CStringGetTextDatum(tl_model_keras_version(m));
	values[2] = jsonb_from_cstring(tl_model_config_json(m));
	train = tl_model_training_config_json(m);
	if (train)
		values[3] = jsonb_from_cstring(train);
	else
		nulls[3] = true;
	values[4] = PointerGetDatum(tl_shape_to_array(&in));
	values[5] = PointerGetDatum(tl_shape_to_array(&out));
	MemoryContextDelete(cxt);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(td, values, nulls)));
}

/*
 * tl_read_model_file(path text) → bytea.  Reading an arbitrary server file
 * needs what COPY FROM a file needs: superuser or pg_read_server_files.
 */
PG_FUNCTION_INFO_V1(pg_tl_read_model_file);
Datum
pg_tl_read_model_file(PG_FUNCTION_ARGS)
{
	char	   *path = text_to_cstring(PG_GETARG_TEXT_PP(0));
	size_t		limit = (size_t) tl_guc_max_model_size_mb * 1024 * 1024;
	struct stat sb;
	FILE	   *f;
	bytea	   *result;
	size_t		got;

	if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read server file \"%s\"", path),
				 errdetail("Only roles with privileges of the \"pg_read_server_files\" role may read server files."),
				 errhint("Send the bytes instead: tl_model_import(name, data bytea).")));
	if (stat(path, &sb) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", path)));
	if (!S_ISREG(sb.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a regular file", path)));
	if ((size_t) sb.st_size > limit)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("file \"%s\" is %lld bytes, above tensorlens.max_model_size (%d MB)",
						path, (long long) sb.st_size, tl_guc_max_model_size_mb)));
	f = AllocateFile(path, PG_BINARY_R);
	if (f == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for reading: %m", path)));
	result = (bytea *) palloc_extended(VARHDRSZ + sb.st_size, MCXT_ALLOC_HUGE);
	got = fread(VARDATA(result), 1, sb.st_size, f);
	if (ferror(f) || got != (size_t) sb.st_size)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", path)));
	FreeFile(f);
	SET_VARSIZE(result, VARHDRSZ + got);
	PG_RETURN_BYTEA_P(result);
}

/* tl_layers(model) → (idx, name, kind, output_shape, params), Keras' summary. */
PG_FUNCTION_INFO_V1(pg_tl_layers);
Datum
pg_tl_layers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *spec = text_to_cstring(PG_GETARG_TEXT_PP(0));
	tl_cached_model *e;

	InitMaterializedSRF(fcinfo, 0);
	e = tl_model_get(fcinfo->flinfo->fn_oid, spec);
	for (int i = 0; i < tl_model_n_layers(e->model); i++)
	{
		tl_layer_info li;
		Datum		values[5];
		bool		nulls[5] = {0};

		tl_model_layer_info(e->model, i, &li);
		values[0] = Int32GetDatum(i);
		values[1] = CStringGetTextDatum(li.name);
		values[2] = CStringGetTextDatum(li.class_name);
		values[3] = PointerGetDatum(tl_shape_to_array(&li.out_shape));
		values[4] = Int64GetDatum(li.params);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
