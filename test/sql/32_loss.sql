-- Losses and predicted classes, against hand-computed values (5 decimals; the loss is a real).
-- binary cross-entropy, one sigmoid unit: -log(p + 1e-7) / -log(1 - p + 1e-7)
SELECT round(tl_loss('{0.8}', 1, 'binary_crossentropy')::float8::numeric, 5) AS bce_right,   -- -ln 0.8000001
       round(tl_loss('{0.8}', 0, 'binary_crossentropy')::float8::numeric, 5) AS bce_wrong;   -- -ln 0.2000001
-- clamped extremes: p is clipped to 1 - 1e-7, so -ln(2e-7) = 15.424948, finite
SELECT round(tl_loss('{1}', 0, 'binary_crossentropy')::float8::numeric, 4) AS confident_wrong,
       round(tl_loss('{0}', 1, 'binary_crossentropy')::float8::numeric, 4) AS confident_wrong_too,
       round(tl_loss('{1}', 1, 'binary_crossentropy')::float8::numeric, 5) AS confident_right;
-- two units, one-hot target, averaged over units: (-ln 0.7000001) * 2 / 2
SELECT round(tl_loss('{0.3,0.7}', 1, 'binary_crossentropy')::float8::numeric, 5) AS bce_two_units;
-- categorical: -ln(p_label) after renormalising to sum 1; -ln(1e-7) when p = 0
SELECT round(tl_loss('{0.2,0.3,0.5}', 2, 'categorical_crossentropy')::float8::numeric, 5) AS cce,
       round(tl_loss('{1,1,2}', 2, 'categorical_crossentropy')::float8::numeric, 5) AS cce_renormalised,
       round(tl_loss('{0.2,0.3,0.5}', 2, 'sparse_categorical_crossentropy')::float8::numeric, 5) AS sparse_alias,
       round(tl_loss('{0,1,0}', 0, 'categorical_crossentropy')::float8::numeric, 4) AS cce_clamped;
-- mse: one-hot target for several units, the label value for one unit
SELECT tl_loss('{0.5,0.5}', 1, 'mse') AS mse_two, round(tl_loss('{0.9}', 1, 'mse')::float8::numeric, 5) AS mse_one;
-- from logits: ln 2 at logit 0; log-sum-exp for categorical
SELECT round(tl_loss('{0}', 1, 'binary_crossentropy_from_logits')::float8::numeric, 5) AS bce_logit,
       round(tl_loss('{1,2,3}', 2, 'categorical_crossentropy_from_logits')::float8::numeric, 5) AS cce_logits;
SELECT round((ln(exp(1) + exp(2) + exp(3)) - 3)::float8::numeric, 5) AS cce_logits_by_hand;

-- classes: argmax, or > 0.5 for one unit
SELECT tl_predict_class('{0.7}') AS one_unit, tl_predict_class('{0.5}') AS at_half,
       tl_predict_class('{0.2,0.5,0.3}') AS argmax;

-- bad input
SELECT expect_error($$SELECT tl_loss('{0.2,0.3,0.5}', 3, 'categorical_crossentropy')$$);
SELECT expect_error($$SELECT tl_loss('{0.2,0.3,0.5}', -1, 'categorical_crossentropy')$$);
SELECT expect_error($$SELECT tl_loss('{0.8}', 2, 'binary_crossentropy')$$);
SELECT expect_error($$SELECT tl_loss('{0.8}', 1, 'hinge')$$);
SELECT expect_error($$SELECT tl_loss('{0.8}', 1, 'categorical_crossentropy')$$);
SELECT expect_error($$SELECT tl_loss('{NaN}', 1, 'binary_crossentropy')$$);
SELECT expect_error($$SELECT tl_loss('{}', 1, 'binary_crossentropy')$$);
SELECT expect_error($$SELECT tl_loss('{0,0,0}', 1, 'categorical_crossentropy')$$);
SELECT expect_error($$SELECT tl_predict_class('{}')$$);
-- a model saved without training_config: the kind must be given
SELECT expect_error($$SELECT tl_loss('tiny', '{0.8}', 1)$$);

\getenv prep TL_PREP
\if :{?prep}
-- the loss recorded in the model file (binary_crossentropy for the IMDB CNN)
SELECT training_config->>'loss' AS trained_with FROM tl_model WHERE name = 'imdb_conv1d__datadonk23';
SELECT bool_and(tl_loss('imdb_conv1d__datadonk23', o.output, r.label)
                = tl_loss(o.output, r.label, 'binary_crossentropy')) AS same_loss,
       round(avg(tl_loss('imdb_conv1d__datadonk23', o.output, r.label))::numeric, 2) > 0 AS positive
  FROM imdb_out o JOIN imdb_ref r USING (model, id)
 WHERE o.model = 'imdb_conv1d__datadonk23' AND r.id < 100;
\else
\echo NOTICE: shared data absent (set TL_DATA_DIR or put ../shared/data beside the repo): model loss test skipped
\endif
