/*
 * pg_vocab.c — tl_tokenize and tl_detokenize over a stored vocabulary.
 *
 * The vocabulary (tl_vocab rows of one name) is read once per query
 * execution into a hash table kept at the call site, so tokenising a whole
 * table costs one read of the vocabulary, and a vocabulary changed by an
 * earlier statement is always seen.
 */
#include "tl_pg.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "format/tl_tokenize.h"

typedef struct vocab_cache
{
	char	   *name;
	tl_vocab   *vocab;
	char	  **words;			/* words[id], for detokenising */
	int32		max_id;
	/* tl_tokenize(vocab, doc, model): what the model's Embedding takes */
	char	   *model;
	int32		model_maxlen;	/* 0: any length */
	int32		model_num_words;
} vocab_cache;

static vocab_cache *
vocab_get(FunctionCallInfo fcinfo, const char *name)
{
	vocab_cache *vc = (vocab_cache *) fcinfo->flinfo->fn_extra;
	MemoryContext cxt = fcinfo->flinfo->fn_mcxt;
	char	   *schema = get_namespace_name(get_func_namespace(fcinfo->flinfo->fn_oid));
	Datum		arg = CStringGetTextDatum(name);
	Oid			argtype = TEXTOID;
	tl_status	st = {0};
	MemoryContext old;

	if (vc && strcmp(vc->name, name) == 0)
		return vc;
	if (vc == NULL)
		vc = MemoryContextAllocZero(cxt, sizeof(vocab_cache));
	else
	{
		old = MemoryContextSwitchTo(cxt);
		tl_vocab_free(vc->vocab);
		MemoryContextSwitchTo(old);
		pfree(vc->name);
		if (vc->words)
			pfree(vc->words);
		vc->name = NULL;
		vc->vocab = NULL;
		vc->words = NULL;
		vc->max_id = 0;
	}
	fcinfo->flinfo->fn_extra = vc;

	SPI_connect();
	if (SPI_execute_with_args(psprintf("SELECT word, id FROM %s.tl_vocab WHERE vocab OPERATOR(pg_catalog.=) $1",
									   quote_identifier(schema)),
							  1, &argtype, &arg, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "tensorlens: reading the vocabulary failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("vocabulary \"%s\" does not exist", name),
				 errhint("Import one with tl_vocab_import(name, word_index jsonb).")));
	old = MemoryContextSwitchTo(cxt);
	vc->vocab = tl_vocab_new((int) SPI_processed, &st);
	MemoryContextSwitchTo(old);
	if (vc->vocab == NULL)
		tl_pg_raise(&st, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		text	   *word = DatumGetTextPP(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		int32		id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		int			rc;

		old = MemoryContextSwitchTo(cxt);
		rc = tl_vocab_add(vc->vocab, VARDATA_ANY(word), VARSIZE_ANY_EXHDR(word), id, &st);
		MemoryContextSwitchTo(old);
		if (rc < 0)
			tl_pg_raise(&st, NULL);
		if (id > vc->max_id)
			vc->max_id = id;
	}
	if (vc->max_id > 50000000)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("vocabulary \"%s\" has ids up to %d; at most 50000000 are supported", name, vc->max_id)));
	/* id → word, for tl_detokenize */
	vc->words = MemoryContextAllocExtended(cxt, sizeof(char *) * ((Size) vc->max_id + 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int32		id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));

		vc->words[id] = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	}
	SPI_finish();
	vc->name = MemoryContextStrdup(cxt, name);
	return vc;
}

/*
 * The sequence length and vocabulary size a model that starts with an
 * Embedding takes: tl_tokenize(vocab, doc, model) tokenises for it, so that
 * no id reaches the Embedding out of its range (Keras' num_words).
 */
static void
model_token_input(FunctionCallInfo fcinfo, vocab_cache *vc, const char *spec)
{
	tl_cached_model *e;
	tl_shape	fixed;

	if (vc->model && strcmp(vc->model, spec) == 0)
		return;
	e = tl_model_get(fcinfo->flinfo->fn_oid, spec);
	if (!tl_model_takes_tokens(e->model))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" does not start with an Embedding: it takes numbers, not token ids", spec),
				 errhint("For a multi-hot model pass tl_multi_hot(tl_tokenize(vocab, doc, NULL, num_words), num_words).")));
	fixed = tl_model_input_shape(e->model);
	vc->model_maxlen = fixed.nd == 1 && fixed.d[0] > 0 ? (int32) fixed.d[0] : 0;
	vc->model_num_words = tl_model_vocab_size(e->model);
	if (vc->model)
		pfree(vc->model);
	vc->model = MemoryContextStrdup(fcinfo->flinfo->fn_mcxt, spec);
}

/*
 * tl_tokenize(vocab, doc, maxlen DEFAULT NULL, num_words DEFAULT NULL) → int[]
 * tl_tokenize(vocab, doc, model) → int[]: maxlen and num_words of the model
 */
PG_FUNCTION_INFO_V1(pg_tl_tokenize);
Datum
pg_tl_tokenize(PG_FUNCTION_ARGS)
{
	/* a NULL model (or maxlen, the old third argument): no length, all ids */
	bool		for_model = PG_NARGS() == 3 && !PG_ARGISNULL(2);
	text	   *doc;
	vocab_cache *vc;
	int32	   *ids;
	int			n;
	bool		plain = PG_NARGS() == 4;
	int			maxlen = !plain || PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
	int			num_words = !plain || PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3);
	tl_status	st = {0};
	Datum	   *elems;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tl_tokenize: the vocabulary name and the document must not be NULL")));
	if (plain && !PG_ARGISNULL(2) && maxlen < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("maxlen must be at least 1 (or NULL for no padding), not %d", maxlen)));
	if (plain && !PG_ARGISNULL(3) && num_words < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("num_words must be at least 1 (or NULL for the whole vocabulary), not %d", num_words)));
	doc = PG_GETARG_TEXT_PP(1);
	vc = vocab_get(fcinfo, text_to_cstring(PG_GETARG_TEXT_PP(0)));
	if (for_model)
	{
		model_token_input(fcinfo, vc, text_to_cstring(PG_GETARG_TEXT_PP(2)));
		maxlen = vc->model_maxlen;
		num_words = vc->model_num_words;
	}
	if (tl_tokenize(vc->vocab, VARDATA_ANY(doc), VARSIZE_ANY_EXHDR(doc), num_words, &ids, &n, &st) < 0)
		tl_pg_raise(&st, NULL);
	if (n <= 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the document has no words"),
				 errdetail("After lower-casing and removing Keras' filter characters nothing is left.")));
	if (maxlen > 0)
	{
		/* pad_sequences defaults: pre-padding and pre-truncation with 0 */
		int64	   *wide = palloc(sizeof(int64) * n);
		float	   *fitted = palloc(sizeof(float) * maxlen);

		for (int i = 0; i < n; i++)
			wide[i] = ids[i];
		tl_fit_tokens(wide, n, fitted, maxlen);
		elems = palloc(sizeof(Datum) * maxlen);
		for (int i = 0; i < maxlen; i++)
			elems[i] = Int32GetDatum((int32) fitted[i]);
		n = maxlen;
	}
	else
	{
		elems = palloc(sizeof(Datum) * n);
		for (int i = 0; i < n; i++)
			elems[i] = Int32GetDatum(ids[i]);
	}
	tl_free(ids);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, INT4OID, 4, true, TYPALIGN_INT));
}

/*
 * tl_detokenize(vocab, ids int[]) → text[]: each id's word; the reserved
 * ids read "<pad>" (0), "<start>" (1), "<oov>" (2), and an id the
 * vocabulary does not hold reads "<oov>".
 */
PG_FUNCTION_INFO_V1(pg_tl_detokenize);
Datum
pg_tl_detokenize(PG_FUNCTION_ARGS)
{
	static const char *const reserved[] = {"<pad>", "<start>", "<oov>"};
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(1);
	vocab_cache *vc = vocab_get(fcinfo, text_to_cstring(PG_GETARG_TEXT_PP(0)));
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (ARR_ELEMTYPE(a) != INT4OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("ids must be an integer[]")));
	deconstruct_array(a, INT4OID, 4, true, TYPALIGN_INT, &elems, &nulls, &n);
	if (n == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(TEXTOID));
	for (int i = 0; i < n; i++)
	{
		int32		id = DatumGetInt32(elems[i]);

		if (nulls[i])
			continue;
		if (id < 0)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("token id %d at position %d is negative", id, i + 1)));
		if (id <= vc->max_id && vc->words[id])
			elems[i] = CStringGetTextDatum(vc->words[id]);
		else
			elems[i] = CStringGetTextDatum(reserved[id < 3 ? id : 2]);
	}
	PG_RETURN_ARRAYTYPE_P(construct_md_array(elems, nulls, 1, &n, (int[]) {1}, TEXTOID, -1, false, TYPALIGN_INT));
}
