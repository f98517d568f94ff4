-- tensorlens 0.1.0 -> 0.2.0 (ALTER EXTENSION tensorlens UPDATE): what changes
-- in the objects of 0.1.0 (sql/parts/10_, 20_, 30_).  0.2.0 adds compiled
-- models in the store, the model cache functions, PCA (issue 4), saliency
-- (issue 5), runs and results with analysis at commit (issue 6), pictures
-- and the report (issue 7), usage grants and row-level security (issue 9):
-- the Makefile appends those parts (sql/parts/40_ onwards) and the report
-- template to this file, making sql/tensorlens--0.1.0--0.2.0.sql.  Frozen
-- once 0.2.0 is released; until then every change to parts 10_-30_ must be
-- mirrored here (test/sql/63_upgrade.sql fails otherwise).  See
-- doc/security.md, "Upgrades".
\echo Use "ALTER EXTENSION tensorlens UPDATE TO '0.2.0'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- The model store: the model as parsed at import (sql/parts/10_model_store.sql)
-- ---------------------------------------------------------------------------
ALTER TABLE @extschema@.tl_model ADD COLUMN compiled bytea, ADD COLUMN compiled_for bytea;
ALTER TABLE @extschema@.tl_model ALTER COLUMN compiled SET STORAGE EXTERNAL;

-- a new OUT column: the function is made again
DROP FUNCTION @extschema@.tl_model_inspect(bytea);
CREATE FUNCTION @extschema@.tl_model_inspect(
    data bytea,
    OUT format text, OUT keras_version text, OUT config jsonb,
    OUT training_config jsonb, OUT input_shape integer[], OUT output_shape integer[],
    OUT compiled bytea)
RETURNS record
AS 'MODULE_PATHNAME', 'pg_tl_model_inspect'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_model_inspect(bytea) IS
    'Parses a Keras .h5/.keras file (weights included) and reports what it holds, without storing it.';

CREATE OR REPLACE FUNCTION @extschema@.tl_model_import(name text, data bytea)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    rev  integer;
BEGIN
    IF name IS NULL OR data IS NULL THEN
        RAISE EXCEPTION 'tl_model_import: name and data must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF name = '' OR strpos(name, '@') > 0 OR length(name) > 200 THEN
        RAISE EXCEPTION 'invalid model name "%"', name
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'A model name has 1 to 200 characters and no "@" ("name@3" means revision 3).';
    END IF;
    -- the trigger tl_model_parse parses the file and numbers the revision
    INSERT INTO @extschema@.tl_model AS m (name, data) VALUES (name, data) RETURNING m.revision INTO rev;
    RETURN rev;
END
$$;
COMMENT ON FUNCTION @extschema@.tl_model_import(text, bytea) IS
    'Stores a Keras model (.h5 or .keras bytes) as a new revision of name; returns the revision.';

-- Every row comes from its bytes: whoever inserts (tl_model_import, or an
-- INSERT of (name, data)), the file is parsed — a file that cannot be run
-- is refused — and the revision, format, config, shapes and compiled form
-- are what the extension makes of it, never what the inserter says.  Only
-- the store's owner and superusers (pg_dump's restore) may insert a row
-- with its revision given, as it is.
CREATE FUNCTION @extschema@.tl_model_parse()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    info record;
    rev  integer;
BEGIN
    IF NEW.revision IS NOT NULL
       AND pg_has_role((SELECT c.relowner FROM pg_class c WHERE c.oid = TG_RELID), 'USAGE') THEN
        RETURN NEW;
    END IF;
    IF NEW.name IS NULL OR NEW.data IS NULL THEN
        RAISE EXCEPTION 'a model needs a name and data' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- parse before storing: a file that cannot be run is refused here
    info := @extschema@.tl_model_inspect(NEW.data);
    -- one importer per name at a time, so revisions count 1, 2, 3...
    PERFORM pg_advisory_xact_lock(hashtextextended('tensorlens.tl_model:' || NEW.name, 0));
    SELECT coalesce(max(m.revision), 0) INTO rev FROM @extschema@.tl_model m WHERE m.name = NEW.name;
    IF rev >= 2147483647 THEN
        RAISE EXCEPTION 'model "%" has no revision numbers left', NEW.name
            USING ERRCODE = 'program_limit_exceeded', HINT = 'Import it under another name.';
    END IF;
    NEW.revision := rev + 1;
    NEW.format := info.format;
    NEW.keras_version := info.keras_version;
    NEW.config := info.config;
    NEW.training_config := info.training_config;
    NEW.input_shape := info.input_shape;
    NEW.output_shape := info.output_shape;
    NEW.compiled := info.compiled;
    NEW.compiled_for := sha256(NEW.data);
    NEW.created_by := CURRENT_USER;
    NEW.created_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER tl_model_parse
    BEFORE INSERT ON @extschema@.tl_model
    FOR EACH ROW EXECUTE FUNCTION @extschema@.tl_model_parse();

CREATE FUNCTION @extschema@.tl_model_cache()
RETURNS TABLE (name text, revision integer, bytes bigint, last_used bigint)
AS 'MODULE_PATHNAME', 'pg_tl_model_cache'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.tl_model_cache() IS
    'The models parsed and cached in this backend (bounded by tensorlens.model_cache_size), most recently used first by last_used.';

CREATE FUNCTION @extschema@.tl_model_cache_clear()
RETURNS integer
AS 'MODULE_PATHNAME', 'pg_tl_model_cache_clear'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.tl_model_cache_clear() IS
    'Drops every model cached in this backend; returns how many. The next use loads them again.';

-- Models imported under 0.1.0 get their compiled form now, so that backends
-- need not parse their files (they would: the loader falls back to the file
-- without one).  A model the parser now refuses keeps none, with a warning.
DO $tl_upgrade$
DECLARE
    m record;
BEGIN
    FOR m IN SELECT t.name, t.revision FROM @extschema@.tl_model t
              WHERE t.compiled IS NULL ORDER BY t.name, t.revision LOOP
        BEGIN
            UPDATE @extschema@.tl_model t
               SET compiled = (@extschema@.tl_model_inspect(t.data)).compiled, compiled_for = t.sha256
             WHERE t.name = m.name AND t.revision = m.revision;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'tensorlens: model %@% is not compiled (%); it is parsed from its file when used',
                m.name, m.revision, SQLERRM;
        END;
    END LOOP;
END
$tl_upgrade$;


-- ---------------------------------------------------------------------------
-- Made after 0.2.0 in parts 20_ and 30_ (the first-hour fixes: text inputs,
-- tokenising for a model, duplicate ranks), mirrored here until the 0.2.0 ->
-- 0.3.0 script exists, so that an upgraded catalog equals a fresh one
-- (test/sql/63_upgrade.sql).  Parts 40_ onwards are appended as they are.
-- ---------------------------------------------------------------------------
-- text is not an input: say how to make one (instead of "could not
-- determine polymorphic type")
CREATE FUNCTION @extschema@.tl_infer(model text, input text)
RETURNS real[]
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'tl_infer takes the model''s input as an array (token ids or numbers), not text'
        USING ERRCODE = 'datatype_mismatch',
              HINT = format('Tokenise text for the model: tl_infer(%L, tl_tokenize(vocab, text, model => %L)); '
                            'write an array literal with its type: ''{1,14,22}''::integer[] or ''{0.5,0.1}''::real[].',
                            model, model);
END
$$;
COMMENT ON FUNCTION @extschema@.tl_infer(text, text) IS
    'An error that says how to pass text to tl_infer: tokenise it (tl_tokenize(vocab, text, model => ...)) or cast an array literal.';

-- the same for a model that starts with an Embedding: num_words = its
-- input_dim (ids above become 2, out of vocabulary) and maxlen = its input
-- length, so that the ids always fit the model
CREATE FUNCTION @extschema@.tl_tokenize(vocab text, doc text, model text)
RETURNS integer[]
AS 'MODULE_PATHNAME', 'pg_tl_tokenize'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_tokenize(text, text, text) IS
    'tl_tokenize for a model: num_words = the input_dim of its Embedding (larger ids become 2, out of vocabulary) and maxlen = its input length (pad_sequences defaults), so every id fits the model.';

CREATE OR REPLACE FUNCTION @extschema@.tl_vocab_import(name text, word_index jsonb, index_from integer DEFAULT 3)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    n bigint;
    dup_rank  text;
    dup_words text;
BEGIN
    IF name IS NULL OR word_index IS NULL OR index_from IS NULL THEN
        RAISE EXCEPTION 'tl_vocab_import: name, word_index and index_from must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF jsonb_typeof(word_index) <> 'object' THEN
        RAISE EXCEPTION 'word_index must be a JSON object mapping words to ranks, not a JSON %',
            jsonb_typeof(word_index) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF index_from < 0 THEN
        RAISE EXCEPTION 'index_from must not be negative (Keras uses 3)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_each(word_index) e
                WHERE jsonb_typeof(e.value) <> 'number'
                   OR e.value::text !~ '^[0-9]+$' OR e.value::text::numeric > 2000000000) THEN
        RAISE EXCEPTION 'word_index ranks must be non-negative integers'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- a rank given to two words would make two words one id
    SELECT e.value::text, string_agg(e.key, ', ' ORDER BY e.key) INTO dup_rank, dup_words
      FROM jsonb_each(word_index) e GROUP BY e.value::text HAVING count(*) > 1
     ORDER BY e.value::text::bigint LIMIT 1;
    IF dup_rank IS NOT NULL THEN
        RAISE EXCEPTION 'word_index gives rank % to more than one word: %', dup_rank, dup_words
            USING ERRCODE = 'unique_violation',
                  HINT = 'A Keras word_index gives every word its own rank (1 for the most frequent word).';
    END IF;
    -- importing a vocabulary again replaces it
    DELETE FROM @extschema@.tl_vocab v WHERE v.vocab = name;
    INSERT INTO @extschema@.tl_vocab (vocab, word, id)
    SELECT name, e.key, e.value::text::integer + index_from FROM jsonb_each(word_index) e;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.tl_vocab_import(text, jsonb, integer) IS
    'Stores a Keras word_index (word → rank) as vocabulary name, ids = rank + index_from; returns the word count.';
