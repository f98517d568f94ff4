-- ---------------------------------------------------------------------------
-- What a model's output means (src/core/nn/tl_output.h): one definition,
-- derived from the final activation and the training loss, read by
-- tl_evaluate, tl_analyze, the views and every label function.
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_output_kind(model text)
RETURNS text
AS 'MODULE_PATHNAME', 'pg_tl_output_kind'
LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_output_kind(text) IS
    'What the model''s output is, from its final activation and training loss (from_logits): softmax, sigmoid, softmax_logits, sigmoid_logits, linear_probability or regression.';

CREATE FUNCTION @extschema@.tl_class_probs(output real[], output_kind text)
RETURNS real[]
AS 'MODULE_PATHNAME', 'pg_tl_class_probs'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_class_probs(real[], text) IS
    'The class distribution an output of that kind means (one unit: {p(0), p(1)}); NULL for regression.';

CREATE FUNCTION @extschema@.tl_predict_class(output real[], output_kind text)
RETURNS integer
AS 'MODULE_PATHNAME', 'pg_tl_predict_class_kind'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_predict_class(real[], text) IS
    'The most probable class of an output of that kind (one logit: > 0; one probability: > 0.5); NULL for regression.';
