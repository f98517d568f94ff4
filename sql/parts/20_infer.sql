-- ---------------------------------------------------------------------------
-- Running models
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_infer(model text, input anyarray)
RETURNS real[]
AS 'MODULE_PATHNAME', 'pg_tl_infer'
LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_infer(text, anyarray) IS
    'The model''s output for one sample: token ids (integer[]/bigint[]) for models that start with an Embedding, real[]/float8[] otherwise.';

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
