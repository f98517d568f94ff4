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
