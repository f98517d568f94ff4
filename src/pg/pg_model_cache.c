/*
 * pg_model_cache.c — parsed models cached per backend.
 *
 * A model is named "name" (its newest revision) or "name@3".  Each query
 * execution resolves the name once against tl_model (so it sees the
 * revisions its snapshot sees) and then finds the parsed model in the
 * backend cache by (name, revision, sha256 of the bytes).  The sha256 is a
 * generated column of tl_model, so a cached parse can never be served for
 * bytes other than the ones it was made from — a new revision, or a row
 * deleted and imported again, is a new key.  Least recently used entries
 * are dropped beyond tensorlens.model_cache_size.
 */
#include "tl_pg.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

static tl_cached_model *cache_head = NULL;
static uint64 cache_clock = 0;
static uint64 cache_epoch = 0;	/* bumped whenever an entry is dropped */
static MemoryContext cache_cxt = NULL;

/*
 * The schema-qualified name of tl_model: the schema of the calling function,
 * since the extension is not relocatable and keeps all its objects in one.
 */
static char *
model_table(Oid fn_oid)
{
	char	   *schema = get_namespace_name(get_func_namespace(fn_oid));

	return psprintf("%s.tl_model", quote_identifier(schema));
}

/*
 * Whether tl_model has the columns of the compiled form.  Not while the
 * catalog is still at version 0.1.0, which this library also serves until
 * ALTER EXTENSION tensorlens UPDATE: models are then parsed from the file.
 */
static bool
model_has_compiled(Oid fn_oid)
{
	Oid			relid = get_relname_relid("tl_model", get_func_namespace(fn_oid));

	return OidIsValid(relid) &&
		get_attnum(relid, "compiled") != InvalidAttrNumber &&
		get_attnum(relid, "compiled_for") != InvalidAttrNumber;
}

static void
parse_spec(const char *spec, char **name, int32 *revision)
{
	const char *at = strrchr(spec, '@');

	*revision = -1;
	if (at && at[1] != '\0' && strspn(at + 1, "0123456789") == strlen(at + 1) &&
		strlen(at + 1) <= 9)
	{
		*name = pnstrdup(spec, at - spec);
		*revision = (int32) atoi(at + 1);
	}
	else
		*name = pstrdup(spec);
}

static void
drop_entry(tl_cached_model *e)
{
	tl_cached_model **p;

	for (p = &cache_head; *p; p = &(*p)->next)
		if (*p == e)
		{
			*p = e->next;
			break;
		}
	MemoryContextDelete(e->cxt);
	cache_epoch++;
}

static void
enforce_cache_size(tl_cached_model *keep)
{
	size_t		limit = (size_t) tl_guc_model_cache_size_mb * 1024 * 1024;

	for (;;)
	{
		size_t		total = 0;
		tl_cached_model *lru = NULL;

		for (tl_cached_model *e = cache_head; e; e = e->next)
		{
			total += e->bytes;
			if (e != keep && (lru == NULL || e->last_used < lru->last_used))
				lru = e;
		}
		if (total <= limit || lru == NULL)
			return;
		drop_entry(lru);
	}
}

/*
 * A new cache entry for a model row: from its compiled form when that was
 * made from these very bytes, else by parsing the file (in a parser
 * process).  data is fetched only when needed.
 */
static tl_cached_model *
load_entry(const char *name, int32 revision, const uint8 *sha, bytea *compiled,
		   bytea *(*fetch_data) (void *arg), void *arg)
{
	MemoryContext cxt,
				old;
	tl_cached_model *e;
	tl_model   *volatile m = NULL;

	if (cache_cxt == NULL)
		cache_cxt = AllocSetContextCreate(TopMemoryContext, "tensorlens model cache",
										  ALLOCSET_SMALL_SIZES);
	cxt = AllocSetContextCreate(cache_cxt, "tensorlens model", ALLOCSET_DEFAULT_SIZES);
	if (compiled)
	{
		old = MemoryContextSwitchTo(cxt);
		m = tl_pg_model_from_compiled(VARDATA_ANY(compiled), VARSIZE_ANY_EXHDR(compiled));
		MemoryContextSwitchTo(old);
	}
	if (m == NULL)
	{
		/*
		 * Fetched before switching: SPI leaves CurrentMemoryContext at its
		 * own procedure context, which must not receive the model.
		 */
		bytea	   *data = fetch_data(arg);

		old = MemoryContextSwitchTo(cxt);
		PG_TRY();
		{
			m = tl_pg_model_load(VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data), name);
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(old);
			MemoryContextDelete(cxt);
			PG_RE_THROW();
		}
		PG_END_TRY();
		MemoryContextSwitchTo(old);
	}
	e = MemoryContextAllocZero(cxt, sizeof(tl_cached_model));
	e->name = MemoryContextStrdup(cxt, name);
	e->revision = revision;
	memcpy(e->sha256, sha, 32);
	e->cxt = cxt;
	e->model = m;
	e->bytes = MemoryContextMemAllocated(cxt, true);
	e->last_used = ++cache_clock;
	e->next = cache_head;
	cache_head = e;
	enforce_cache_size(e);
	return e;
}

typedef struct model_row
{
	const char *table;
	Datum		name;
	int32		revision;
} model_row;

/* The file bytes of a model row (called inside the caller's SPI connection). */
static bytea *
fetch_model_data(void *arg)
{
	model_row  *row = (model_row *) arg;
	bool		isnull;

	if (SPI_execute_with_args(psprintf("SELECT data FROM %s WHERE name OPERATOR(pg_catalog.=) $1 AND revision OPERATOR(pg_catalog.=) $2", row->table),
							  2, (Oid[]) {TEXTOID, INT4OID},
							  (Datum[]) {row->name, Int32GetDatum(row->revision)},
							  NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "tensorlens: model revision %d vanished", row->revision);
	return DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

tl_cached_model *
tl_model_get(Oid fn_oid, const char *spec)
{
	char	   *name;
	int32		revision;
	char	   *table = model_table(fn_oid);
	Datum		args[2];
	Oid			types[2] = {TEXTOID, INT4OID};
	bool		isnull;
	uint8		sha[32];
	bytea	   *sha_datum;
	tl_cached_model *hit = NULL;
	int			rc;

	parse_spec(spec, &name, &revision);
	args[0] = CStringGetTextDatum(name);
	args[1] = Int32GetDatum(revision);

	SPI_connect();
	rc = SPI_execute_with_args(psprintf("SELECT revision, sha256 FROM %s WHERE name OPERATOR(pg_catalog.=) $1 "
										"AND ($2 OPERATOR(pg_catalog.<) 0 OR revision OPERATOR(pg_catalog.=) $2) "
										"ORDER BY revision DESC LIMIT 1", table),
							   2, types, args, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "tensorlens: model lookup failed (%d)", rc);
	if (SPI_processed == 0)
	{
		if (revision >= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model \"%s\" has no revision %d", name, revision),
					 errhint("SELECT name, revision FROM tl_model lists the stored models.")));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", name),
				 errhint("Import it with tl_model_import(name, bytes) or tl_model_load(name, path).")));
	}
	revision = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	sha_datum = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (isnull || VARSIZE_ANY_EXHDR(sha_datum) != 32)
		elog(ERROR, "tensorlens: tl_model row without a sha256");
	memcpy(sha, VARDATA_ANY(sha_datum), 32);

	for (tl_cached_model *e = cache_head; e; e = e->next)
		if (e->revision == revision && memcmp(e->sha256, sha, 32) == 0 &&
			strcmp(e->name, name) == 0)
		{
			hit = e;
			break;
		}
	if (hit == NULL)
	{
		model_row	row = {table, args[0], revision};
		bytea	   *compiled = NULL;

		/* the compiled form counts only if it was made from these bytes */
		if (model_has_compiled(fn_oid))
		{
			rc = SPI_execute_with_args(psprintf("SELECT compiled FROM %s WHERE name OPERATOR(pg_catalog.=) $1 "
												"AND revision OPERATOR(pg_catalog.=) $2 "
												"AND compiled_for OPERATOR(pg_catalog.=) sha256", table),
									   2, types, (Datum[]) {args[0], Int32GetDatum(revision)},
									   NULL, true, 1);
			if (rc != SPI_OK_SELECT)
				elog(ERROR, "tensorlens: reading model \"%s\" failed", name);
			if (SPI_processed == 1)
			{
				Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

				if (!isnull)
					compiled = DatumGetByteaPP(d);
			}
		}
		hit = load_entry(name, revision, sha, compiled, fetch_model_data, &row);
	}
	hit->last_used = ++cache_clock;
	SPI_finish();
	return hit;
}

static bool
entry_alive(tl_cached_model *entry)
{
	for (tl_cached_model *e = cache_head; e; e = e->next)
		if (e == entry)
			return true;
	return false;
}

tl_call_model *
tl_call_model_get(FunctionCallInfo fcinfo, text *spec_text)
{
	tl_call_model *cm = (tl_call_model *) fcinfo->flinfo->fn_extra;
	char	   *spec = text_to_cstring(spec_text);
	tl_cached_model *entry;

	if (cm == NULL)
	{
		cm = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(tl_call_model));
		cm->cxt = fcinfo->flinfo->fn_mcxt;
		fcinfo->flinfo->fn_extra = cm;
	}
	if (cm->spec && strcmp(cm->spec, spec) == 0 &&
		(cm->cache_epoch == cache_epoch || entry_alive(cm->entry)))
	{
		cm->cache_epoch = cache_epoch;
		cm->entry->last_used = ++cache_clock;
		pfree(spec);
		return cm;
	}
	entry = tl_model_get(fcinfo->flinfo->fn_oid, spec);
	if (cm->entry != entry)
	{
		/* runner and plan belong to the previous model */
		MemoryContext old = MemoryContextSwitchTo(cm->cxt);

		tl_runner_free(cm->runner);
		if (cm->plan)
			cm->plan_free(cm->plan);
		MemoryContextSwitchTo(old);
		cm->runner = NULL;
		cm->plan = NULL;
		if (cm->plan_key)
			pfree(cm->plan_key);
		cm->plan_key = NULL;
	}
	if (cm->spec)
		pfree(cm->spec);
	cm->spec = MemoryContextStrdup(cm->cxt, spec);
	cm->entry = entry;
	cm->cache_epoch = cache_epoch;
	pfree(spec);
	return cm;
}

tl_runner *
tl_call_runner(tl_call_model *cm)
{
	if (cm->runner == NULL)
	{
		tl_status	st = {0};
		MemoryContext old = MemoryContextSwitchTo(cm->cxt);

		cm->runner = tl_runner_new(cm->entry->model,
								   (size_t) tl_guc_max_batch_memory_mb * 1024 * 1024, &st);
		MemoryContextSwitchTo(old);
		if (cm->runner == NULL)
			tl_pg_raise(&st, cm->entry->name);
	}
	return cm->runner;
}

/*
 * Runs n samples.  With tensorlens.fusion on, the model's per-token tables
 * are built on first use (within tensorlens.fusion_max_memory), in the
 * cached model's memory context: once per model revision and backend, and
 * counted in the cache's size.
 */
void
tl_call_forward(tl_call_model *cm, const tl_shape *in, const float *x, int n)
{
	tl_runner  *r = tl_call_runner(cm);
	tl_status	st = {0};
	MemoryContext old;
	int			rc;

	tl_runner_set_fusion(r, tl_guc_fusion);
	if (tl_guc_fusion)
	{
		int64		added;

		old = MemoryContextSwitchTo(cm->entry->cxt);
		added = tl_model_prepare_fusion(cm->entry->model,
										(size_t) tl_guc_fusion_max_memory_mb * 1024 * 1024, &st);
		MemoryContextSwitchTo(old);
		if (added < 0)
			tl_pg_raise(&st, cm->entry->name);
		cm->entry->bytes += (size_t) added;
	}
	old = MemoryContextSwitchTo(cm->cxt);
	rc = tl_runner_forward(r, in, x, n, &st);

	MemoryContextSwitchTo(old);
	if (rc < 0)
		tl_pg_raise(&st, cm->entry->name);
}

/* tl_model_cache() → the models parsed in this backend, most recently used first. */
PG_FUNCTION_INFO_V1(pg_tl_model_cache);
Datum
pg_tl_model_cache(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (tl_cached_model *e = cache_head; e; e = e->next)
	{
		Datum		values[4];
		bool		nulls[4] = {0};

		values[0] = CStringGetTextDatum(e->name);
		values[1] = Int32GetDatum(e->revision);
		values[2] = Int64GetDatum((int64) e->bytes);
		values[3] = Int64GetDatum((int64) e->last_used);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* tl_model_cache_clear() → drops every parsed model of this backend. */
PG_FUNCTION_INFO_V1(pg_tl_model_cache_clear);
Datum
pg_tl_model_cache_clear(PG_FUNCTION_ARGS)
{
	int32		n = 0;

	while (cache_head)
	{
		drop_entry(cache_head);
		n++;
	}
	PG_RETURN_INT32(n);
}
