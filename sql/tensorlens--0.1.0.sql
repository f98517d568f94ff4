-- tensorlens: model perception analysis in SQL.
-- Version 0.1.0 as released (sql/parts of commit 1839670), frozen: never edit
-- it; later versions are reached with the upgrade scripts.
\echo Use "CREATE EXTENSION tensorlens" to load this file. \quit
-- ---------------------------------------------------------------------------
-- The model store: every imported revision of every model, as bytes plus
-- what was read from them.  Dumped by pg_dump with the user's data.
-- ---------------------------------------------------------------------------
CREATE TABLE @extschema@.tl_model (
    name            text        NOT NULL
                    CONSTRAINT tl_model_name_check
                    CHECK (name <> '' AND pg_catalog.strpos(name, '@') = 0
                           AND pg_catalog.length(name) <= 200),
    revision        integer     NOT NULL CHECK (revision > 0),
    format          text        NOT NULL,
    keras_version   text        NOT NULL,
    -- generated, so the cache key can never disagree with the bytes
    sha256          bytea       NOT NULL
                    GENERATED ALWAYS AS (pg_catalog.sha256(data)) STORED,
    data            bytea       NOT NULL,
    config          jsonb       NOT NULL,
    training_config jsonb,
    input_shape     integer[]   NOT NULL,
    output_shape    integer[]   NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by      name        NOT NULL DEFAULT CURRENT_USER,
    PRIMARY KEY (name, revision)
);
COMMENT ON TABLE @extschema@.tl_model IS
    'Keras models stored by tl_model_import/tl_model_load; "name" means the newest revision, "name@N" revision N.';
-- model files are already dense: do not spend CPU trying to compress them
ALTER TABLE @extschema@.tl_model ALTER COLUMN data SET STORAGE EXTERNAL;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.tl_model', '');

CREATE FUNCTION @extschema@.tl_model_inspect(
    data bytea,
    OUT format text, OUT keras_version text, OUT config jsonb,
    OUT training_config jsonb, OUT input_shape integer[], OUT output_shape integer[])
RETURNS record
AS 'MODULE_PATHNAME', 'pg_tl_model_inspect'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_model_inspect(bytea) IS
    'Parses a Keras .h5/.keras file (weights included) and reports what it holds, without storing it.';

CREATE FUNCTION @extschema@.tl_model_import(name text, data bytea)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    info record;
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
    -- parse before storing: a file that cannot be run is refused here
    info := @extschema@.tl_model_inspect(data);
    -- one importer per name at a time, so revisions count 1, 2, 3...
    PERFORM pg_advisory_xact_lock(hashtextextended('tensorlens.tl_model:' || name, 0));
    SELECT coalesce(max(m.revision), 0) + 1 INTO rev
      FROM @extschema@.tl_model m WHERE m.name = name;
    INSERT INTO @extschema@.tl_model
           (name, revision, format, keras_version, data, config,
            training_config, input_shape, output_shape)
    VALUES (name, rev, info.format, info.keras_version, data, info.config,
            info.training_config, info.input_shape, info.output_shape);
    RETURN rev;
END
$$;
COMMENT ON FUNCTION @extschema@.tl_model_import(text, bytea) IS
    'Stores a Keras model (.h5 or .keras bytes) as a new revision of name; returns the revision.';

CREATE FUNCTION @extschema@.tl_read_model_file(path text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'pg_tl_read_model_file'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.tl_read_model_file(text) IS
    'Reads a server file; needs superuser or pg_read_server_files, as COPY FROM a file does.';

CREATE FUNCTION @extschema@.tl_model_load(name text, path text)
RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$ SELECT @extschema@.tl_model_import($1, @extschema@.tl_read_model_file($2)) $$;
COMMENT ON FUNCTION @extschema@.tl_model_load(text, text) IS
    'Imports a model from a file on the database server (needs pg_read_server_files).';

CREATE FUNCTION @extschema@.tl_layers(model text)
RETURNS TABLE (idx integer, name text, kind text, output_shape integer[], params bigint)
AS 'MODULE_PATHNAME', 'pg_tl_layers'
LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_layers(text) IS
    'The layers of a model as Keras summarises them; output_shape leaves out the batch dimension (NULL = any length).';
-- ---------------------------------------------------------------------------
-- Running models
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_infer(model text, input anyarray)
RETURNS real[]
AS 'MODULE_PATHNAME', 'pg_tl_infer'
LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_infer(text, anyarray) IS
    'The model''s output for one sample: token ids (integer[]/bigint[]) for models that start with an Embedding, real[]/float8[] otherwise.';

CREATE FUNCTION @extschema@.tl_infer_batch(model text, query text, batch_size integer DEFAULT NULL)
RETURNS TABLE (id text, output real[])
AS 'MODULE_PATHNAME', 'pg_tl_infer_batch'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.tl_infer_batch(text, text, integer) IS
    'Runs the model over the rows (id, input) of a query, in batches; returns each id (as text) with its output.';

CREATE FUNCTION @extschema@.tl_multi_hot(ids integer[], width integer)
RETURNS real[]
AS 'MODULE_PATHNAME', 'pg_tl_multi_hot'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_multi_hot(integer[], integer) IS
    'A width-long vector with 1 at every listed id (the multi-hot encoding of Keras'' IMDB examples).';
-- ---------------------------------------------------------------------------
-- Perception: activations, perception vectors, losses, vocabularies
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_activations(model text, input anyarray, layer text)
RETURNS real[]
AS 'MODULE_PATHNAME', 'pg_tl_activations'
LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_activations(text, anyarray, text) IS
    'The output of one layer (names as tl_layers lists them) for one sample, flattened row-major.';

CREATE FUNCTION @extschema@.tl_perception(model text, input anyarray,
                                          layers text[] DEFAULT NULL, pooling text DEFAULT 'avg')
RETURNS real[]
AS 'MODULE_PATHNAME', 'pg_tl_perception'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_perception(text, anyarray, text[], text) IS
    'The perception vector of a sample: each chosen layer pooled over time/space to one value per feature (avg or max), each block L2-normalised, concatenated. Default layers: every layer with learned features except the output layer.';

CREATE FUNCTION @extschema@.tl_perception_batch(model text, query text, layers text[] DEFAULT NULL,
                                                pooling text DEFAULT 'avg', batch_size integer DEFAULT NULL)
RETURNS TABLE (id text, output real[], perception real[])
AS 'MODULE_PATHNAME', 'pg_tl_perception_batch'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.tl_perception_batch(text, text, text[], text, integer) IS
    'Runs the model over the rows (id, input) of a query in batches; returns each id with its output and perception vector.';

CREATE FUNCTION @extschema@.tl_perception_layers(model text, layers text[] DEFAULT NULL)
RETURNS TABLE (layer text, kind text, first_index integer, width integer)
AS 'MODULE_PATHNAME', 'pg_tl_perception_layers'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_perception_layers(text, text[]) IS
    'Which layers make up a perception vector, where each block starts (1-based) and how wide it is.';

CREATE FUNCTION @extschema@.tl_loss(output real[], label integer, kind text)
RETURNS real
AS 'MODULE_PATHNAME', 'pg_tl_loss_kind'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_loss(real[], integer, text) IS
    'Per-sample loss as Keras computes it (binary_crossentropy, categorical_crossentropy / sparse_categorical_crossentropy with the label as class index, mse, and *_from_logits); probabilities clipped to [1e-7, 1-1e-7].';

CREATE FUNCTION @extschema@.tl_loss(model text, output real[], label integer)
RETURNS real
AS 'MODULE_PATHNAME', 'pg_tl_loss_model'
LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_loss(text, real[], integer) IS
    'Per-sample loss with the loss the model was trained with (from its training_config).';

CREATE FUNCTION @extschema@.tl_predict_class(output real[])
RETURNS integer
AS 'MODULE_PATHNAME', 'pg_tl_predict_class'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_predict_class(real[]) IS
    'The predicted class: the argmax, or output > 0.5 for a single (sigmoid) unit.';

-- Vocabularies: Keras word indexes, ids already shifted by index_from
CREATE TABLE @extschema@.tl_vocab (
    vocab text    NOT NULL,
    word  text    NOT NULL,
    id    integer NOT NULL CHECK (id >= 0),
    PRIMARY KEY (vocab, word)
);
CREATE UNIQUE INDEX tl_vocab_id ON @extschema@.tl_vocab (vocab, id);
COMMENT ON TABLE @extschema@.tl_vocab IS
    'Word indexes for tl_tokenize/tl_detokenize; id = Keras rank + index_from (0 pad, 1 start, 2 out-of-vocabulary).';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.tl_vocab', '');

CREATE FUNCTION @extschema@.tl_vocab_import(name text, word_index jsonb, index_from integer DEFAULT 3)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    n bigint;
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

CREATE FUNCTION @extschema@.tl_tokenize(vocab text, doc text, maxlen integer DEFAULT NULL,
                                        num_words integer DEFAULT NULL)
RETURNS integer[]
AS 'MODULE_PATHNAME', 'pg_tl_tokenize'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_tokenize(text, text, integer, integer) IS
    'Keras IMDB tokenisation: text_to_word_sequence defaults (lower-case, filters, split on spaces), start token 1, out-of-vocabulary 2 (also ids >= num_words), then pad_sequences defaults to maxlen.';

CREATE FUNCTION @extschema@.tl_detokenize(vocab text, ids integer[])
RETURNS text[]
AS 'MODULE_PATHNAME', 'pg_tl_detokenize'
LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_detokenize(text, integer[]) IS
    'The words of token ids; <pad>, <start> and <oov> for the reserved ids 0, 1, 2 and for ids the vocabulary lacks.';
