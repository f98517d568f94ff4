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
                                          layers text[] DEFAULT NULL, pooling text DEFAULT 'auto')
RETURNS real[]
AS 'MODULE_PATHNAME', 'pg_tl_perception'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_perception(text, anyarray, text[], text) IS
    'The perception vector of a sample: each chosen layer pooled over time/space to one value per feature, each block L2-normalised, concatenated. Pooling auto (the default, as runs use) is max for a model that reduces its positions by global max pooling only, else avg. Default layers: every layer with learned features except the output layer.';

CREATE FUNCTION @extschema@.tl_perception_batch(model text, query text, layers text[] DEFAULT NULL,
                                                pooling text DEFAULT 'auto', batch_size integer DEFAULT NULL)
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

CREATE FUNCTION @extschema@.tl_tokenize(vocab text, doc text, maxlen integer DEFAULT NULL,
                                        num_words integer DEFAULT NULL)
RETURNS integer[]
AS 'MODULE_PATHNAME', 'pg_tl_tokenize'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_tokenize(text, text, integer, integer) IS
    'Keras IMDB tokenisation: text_to_word_sequence defaults (lower-case, filters, split on spaces), start token 1, out-of-vocabulary 2 (also ids >= num_words), then pad_sequences defaults to maxlen.';

-- the same for a model that starts with an Embedding: num_words = its
-- input_dim (ids above become 2, out of vocabulary) and maxlen = its input
-- length, so that the ids always fit the model
CREATE FUNCTION @extschema@.tl_tokenize(vocab text, doc text, model text)
RETURNS integer[]
AS 'MODULE_PATHNAME', 'pg_tl_tokenize'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_tokenize(text, text, text) IS
    'tl_tokenize for a model: num_words = the input_dim of its Embedding (larger ids become 2, out of vocabulary) and maxlen = its input length (pad_sequences defaults), so every id fits the model.';

CREATE FUNCTION @extschema@.tl_detokenize(vocab text, ids integer[])
RETURNS text[]
AS 'MODULE_PATHNAME', 'pg_tl_detokenize'
LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_detokenize(text, integer[]) IS
    'The words of token ids; <pad>, <start> and <oov> for the reserved ids 0, 1, 2 and for ids the vocabulary lacks.';
